//! SMV (ADSC) images: a brace-delimited `KEY=VALUE;` text header padded to HEADER_BYTES, then
//! unsigned 16-bit pixels, fast index varying fastest.

use super::{c_atof, read_all, write_atomic};
use crate::bail;
use crate::error::Result;
use std::path::Path;

/// Size of the header the writer produces.
pub const SMV_HEADER_BYTES: usize = 512;

/// Start every SMV file has.
const MAGIC: &[u8] = b"{\nHEADER_BYTES=";

/// An SMV image read from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct SmvImage {
    /// Header text (the first `header_bytes` bytes, up to any NUL byte).
    pub header: String,
    pub header_bytes: usize,
    /// SIZE1: pixels along the fast axis.
    pub width: usize,
    /// SIZE2: pixels along the slow axis.
    pub height: usize,
    /// Pixels in native order after honouring BYTE_ORDER; index = slow * width + fast.
    pub data: Vec<u16>,
}

/// Value lookup with the reference's rules: find the LAST occurrence of `key` anywhere in
/// `header` (searching left to right without overlap, so "DISTANCE" can land inside
/// "CLOSE_DISTANCE"), then read a number after the next '=' the way C's `atof` does (0.0 when
/// there is no '=' or no number). None when the key does not occur at all.
pub fn header_value(header: &str, key: &str) -> Option<f64> {
    if key.is_empty() {
        return None;
    }
    let mut pos = None;
    let mut from = 0;
    while let Some(i) = header[from..].find(key) {
        from += i + key.len();
        pos = Some(from);
    }
    let after = &header.as_bytes()[pos?..];
    match after.iter().position(|&b| b == b'=') {
        Some(eq) => Some(c_atof(&after[eq + 1..])),
        None => Some(0.0),
    }
}

impl SmvImage {
    /// Number stored under `key` in the header; see [`header_value`] for the matching rules.
    pub fn value_of(&self, key: &str) -> Option<f64> {
        header_value(&self.header, key)
    }

    /// Text after the last `key=` up to the next ';' or line end (e.g. for BYTE_ORDER).
    pub fn text_of(&self, key: &str) -> Option<String> {
        let pat = format!("{key}=");
        let i = self.header.rfind(&pat)? + pat.len();
        let rest = &self.header[i..];
        let end = rest.find([';', '\n']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }
}

/// Interprets a header value as a count of pixels.
fn as_size(v: Option<f64>) -> Option<usize> {
    let v = v?;
    (v.is_finite() && v >= 1.0 && v <= u32::MAX as f64).then_some(v as usize)
}

/// Reads an SMV image.
pub fn read_smv(path: &Path) -> Result<SmvImage> {
    let name = crate::io::osname::display(path);
    let bytes = read_all(path)?;
    if !bytes.starts_with(MAGIC) {
        bail!("{name}: not an SMV image (it must start with \"{{\" and HEADER_BYTES=)");
    }
    let hb = c_atof(&bytes[MAGIC.len()..]);
    if !(hb.is_finite() && hb >= MAGIC.len() as f64 && hb <= bytes.len() as f64) {
        bail!(
            "{name}: SMV HEADER_BYTES={} is not a size between {} and the file length {}",
            super::cfmt::fmt_g(hb),
            MAGIC.len(),
            bytes.len()
        );
    }
    let header_bytes = hb as usize;
    let raw = &bytes[..header_bytes];
    let text_end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let header = String::from_utf8_lossy(&raw[..text_end]).into_owned();

    // Without SIZE1, a square DETECTOR_DIMENSIONS is accepted, as the reference does.
    let (width, height) = match as_size(header_value(&header, "SIZE1")) {
        Some(w) => (Some(w), as_size(header_value(&header, "SIZE2"))),
        None => {
            let d = as_size(header_value(&header, "DETECTOR_DIMENSIONS"));
            (d, d)
        }
    };
    let (Some(width), Some(height)) = (width, height) else {
        bail!("{name}: SMV header lacks a positive SIZE1/SIZE2 (image width and height)");
    };

    // Byte order: as in the reference, anything other than little_endian is taken as big.
    let big_endian = match header.rfind("BYTE_ORDER=") {
        Some(i) => !header[i + "BYTE_ORDER=".len()..].starts_with("little_end"),
        None => false,
    };

    let Some(n) = width.checked_mul(height) else {
        bail!("{name}: SMV size {width} x {height} is too large");
    };
    let need = n.checked_mul(2).and_then(|b| b.checked_add(header_bytes));
    match need {
        Some(need) if need <= bytes.len() => {}
        _ => bail!(
            "{name}: SMV file is truncated: {} bytes, but a {}-byte header and {width} x {height} 16-bit pixels need {}",
            bytes.len(),
            header_bytes,
            need.map_or_else(|| "more".to_string(), |v| v.to_string())
        ),
    }
    let data = bytes[header_bytes..header_bytes + 2 * n]
        .chunks_exact(2)
        .map(|c| {
            let pair = [c[0], c[1]];
            if big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        })
        .collect();
    Ok(SmvImage {
        header,
        header_bytes,
        width,
        height,
        data,
    })
}

/// A header line `KEY=VALUE;`.
pub fn smv_line(key: &str, value: &str) -> String {
    format!("{key}={value};")
}

/// The four lines every header written by the reference starts with.
pub fn smv_preamble() -> Vec<String> {
    smv_preamble_of("unsigned_short")
}

/// The same four lines for pixels of SMV type `pixel_type` (noisify's `-bits 32` writes
/// `long_integer`).
pub fn smv_preamble_of(pixel_type: &str) -> Vec<String> {
    vec![
        smv_line("HEADER_BYTES", &SMV_HEADER_BYTES.to_string()),
        smv_line("DIM", "2"),
        smv_line("BYTE_ORDER", "little_endian"),
        smv_line("TYPE", pixel_type),
    ]
}

/// The two lines every header written by the reference ends with.
pub fn smv_trailer() -> [String; 2] {
    [smv_line("DETECTOR_SN", "000"), smv_line("BEAMLINE", "fake")]
}

/// Header bytes for the given lines: "{\n", each line followed by "\n", "}\x0c", then spaces up
/// to 512 bytes (nothing is added when the text is already that long). Lines are written exactly
/// as given, so a caller can reproduce the reference's `DIALS_ORIGIN=x,y,z` line, which has no
/// semicolon. The preamble (HEADER_BYTES, DIM, ...) is NOT added: include [`smv_preamble`].
pub fn smv_header_text(lines: &[String]) -> Vec<u8> {
    let mut h = Vec::with_capacity(SMV_HEADER_BYTES);
    h.extend_from_slice(b"{\n");
    for line in lines {
        h.extend_from_slice(line.as_bytes());
        h.push(b'\n');
    }
    h.extend_from_slice(b"}\x0c");
    while h.len() < SMV_HEADER_BYTES {
        h.push(b' ');
    }
    h
}

/// Writes an SMV image with the given header lines (see [`smv_header_text`]) and little-endian
/// pixels. Fails, leaving no file, when the header does not fit in 512 bytes or the data length
/// is not `width * height`.
pub fn write_smv(
    path: &Path,
    lines: &[String],
    width: usize,
    height: usize,
    data: &[u16],
) -> Result<()> {
    let name = crate::io::osname::display(path);
    if width.checked_mul(height) != Some(data.len()) {
        bail!(
            "{name}: cannot write SMV image: {} pixels given for {width} x {height}",
            data.len()
        );
    }
    for line in lines {
        if line.contains(['\n', '}']) {
            bail!(
                "{name}: cannot write SMV header line '{}': it contains a newline or '}}'",
                line.escape_debug()
            );
        }
    }
    let mut bytes = smv_header_text(lines);
    if bytes.len() > SMV_HEADER_BYTES {
        // long values (unusual geometry) overflow 512 bytes: grow the header to the next
        // multiple of 512 and say so in HEADER_BYTES, as SMV readers expect
        let Some(pos) = lines.iter().position(|l| l.starts_with("HEADER_BYTES=")) else {
            bail!(
                "{name}: SMV header text is {} bytes, more than the {SMV_HEADER_BYTES} it must fit in",
                bytes.len()
            );
        };
        let size = bytes.len().div_ceil(SMV_HEADER_BYTES) * SMV_HEADER_BYTES;
        let mut grown = lines.to_vec();
        grown[pos] = smv_line("HEADER_BYTES", &size.to_string());
        bytes = smv_header_text(&grown);
        bytes.resize(size, b' ');
    }
    bytes.reserve(2 * data.len());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testutil::{temp_file, temp_path, XorShift};

    #[test]
    fn long_header_grows_to_next_multiple_of_512() {
        let mut lines = sample_lines(3, 2);
        for i in 0..30 {
            lines.push(smv_line(&format!("LONG_KEY_{i}"), "-1.23457e+06"));
        }
        let p = temp_path("long.img");
        write_smv(&p, &lines, 3, 2, &[1, 2, 3, 4, 5, 65535]).unwrap();
        let img = read_smv(&p).unwrap();
        assert_eq!(img.header_bytes, 1024);
        assert_eq!(std::fs::read(&p).unwrap().len(), 1024 + 12);
        assert_eq!(img.data, vec![1, 2, 3, 4, 5, 65535]);
        assert_eq!(img.value_of("LONG_KEY_29"), Some(-1.23457e6));
        std::fs::remove_file(&p).unwrap();
    }

    fn sample_lines(w: usize, h: usize) -> Vec<String> {
        let mut l = smv_preamble();
        l.push(smv_line("SIZE1", &w.to_string()));
        l.push(smv_line("SIZE2", &h.to_string()));
        l.push(smv_line("PIXEL_SIZE", "0.1"));
        l.push(smv_line("DISTANCE", "100"));
        l.push("DIALS_ORIGIN=-6.5,6.5,-100".to_string());
        l.push(smv_line("XDS_ORGX", "65.5"));
        l.push(smv_line("CLOSE_DISTANCE", "99.5"));
        l
    }

    #[test]
    fn header_layout() {
        let h = smv_header_text(&["A=1;".to_string(), "B=2,3".to_string()]);
        assert_eq!(h.len(), 512);
        assert_eq!(&h[..15], b"{\nA=1;\nB=2,3\n}\x0c");
        assert!(h[15..].iter().all(|&b| b == b' '));
    }

    #[test]
    fn write_then_read() {
        let (w, h) = (5usize, 3usize);
        let data: Vec<u16> = (0..15).map(|i| (i * 4099) as u16).collect();
        let p = temp_path("img.smv");
        write_smv(&p, &sample_lines(w, h), w, h, &data).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), 512 + 30);
        assert!(bytes.starts_with(b"{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\nSIZE1=5;\n"));
        assert_eq!(&bytes[514..516], &4099u16.to_le_bytes());

        let img = read_smv(&p).unwrap();
        assert_eq!((img.width, img.height, img.header_bytes), (5, 3, 512));
        assert_eq!(img.data, data);
        assert_eq!(img.value_of("PIXEL_SIZE"), Some(0.1));
        // Last occurrence wins: DISTANCE matches inside CLOSE_DISTANCE.
        assert_eq!(img.value_of("DISTANCE"), Some(99.5));
        assert_eq!(img.value_of("ORGX"), Some(65.5));
        assert_eq!(img.value_of("DIALS_ORIGIN"), Some(-6.5));
        assert_eq!(img.value_of("NOPE"), None);
        assert_eq!(img.text_of("BYTE_ORDER").as_deref(), Some("little_endian"));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn value_of_c_semantics() {
        let h = "{\nA=12abc;\nB;\nC= -3.5e2;\nD=x;\n";
        assert_eq!(header_value(h, "A"), Some(12.0));
        // "B" occurs last in "B;" and the next '=' is C's, so the value is C's number.
        assert_eq!(header_value(h, "B"), Some(-350.0));
        assert_eq!(header_value(h, "D"), Some(0.0));
        assert_eq!(header_value("{\nKEY", "KEY"), Some(0.0));
        assert_eq!(header_value(h, ""), None);
    }

    #[test]
    fn big_endian_and_custom_header_size() {
        let mut f = b"{\nHEADER_BYTES=  64;\nBYTE_ORDER=big_endian;\nSIZE1=2;SIZE2=1;\n}".to_vec();
        f.resize(64, b' ');
        f.extend_from_slice(&[0x01, 0x02, 0xff, 0x00, 0x77]);
        let p = temp_file("be.smv", &f);
        let img = read_smv(&p).unwrap();
        assert_eq!(img.header_bytes, 64);
        assert_eq!(img.data, vec![0x0102, 0xff00]);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn read_errors() {
        let p = temp_file("notsmv.img", b"P5\n1 1\n255\n\0");
        assert!(read_smv(&p).unwrap_err().0.contains("not an SMV image"));
        std::fs::remove_file(&p).unwrap();

        let lines = sample_lines(4, 4);
        let mut bytes = smv_header_text(&lines);
        bytes.extend_from_slice(&[0u8; 31]);
        let p = temp_file("short.img", &bytes);
        let e = read_smv(&p).unwrap_err().0;
        assert!(e.contains("short.img") && e.contains("truncated"), "{e}");
        std::fs::remove_file(&p).unwrap();

        let mut bytes = smv_header_text(&smv_preamble());
        bytes.extend_from_slice(&[0u8; 8]);
        let p = temp_file("nosize.img", &bytes);
        assert!(read_smv(&p).unwrap_err().0.contains("SIZE1"));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn write_errors_leave_no_file() {
        let p = temp_path("bad.img");
        assert!(write_smv(&p, &sample_lines(2, 2), 2, 2, &[1, 2, 3]).is_err());
        let long: Vec<String> = (0..60)
            .map(|i| smv_line(&format!("KEY{i}"), "1234"))
            .collect();
        let e = write_smv(&p, &long, 1, 1, &[0]).unwrap_err().0;
        assert!(e.contains("512"), "{e}");
        assert!(!p.exists());
    }

    #[test]
    fn golden_smv_rewrites_byte_identical() {
        let Some(dir) = crate::io::testutil::golden_dir() else {
            return;
        };
        for file in [
            "smv_noise_pgm/intimage.img",
            "smv_noise_pgm/noiseimage.img",
            "inputs/mask.img",
            "inputs/header.img",
        ] {
            let src = dir.join(file);
            let img = read_smv(&src).unwrap();
            let body = img.header.split("}\x0c").next().unwrap();
            let lines: Vec<String> = body
                .strip_prefix("{\n")
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            let out = temp_path("golden_rewrite.img");
            write_smv(&out, &lines, img.width, img.height, &img.data).unwrap();
            let a = std::fs::read(&out).unwrap();
            let b = std::fs::read(&src).unwrap();
            assert!(a == b, "{file} not reproduced");
            std::fs::remove_file(&out).unwrap();
        }
        let img = read_smv(&dir.join("inputs/header.img")).unwrap();
        assert_eq!((img.width, img.height), (96, 96));
        assert_eq!(img.value_of("DISTANCE"), Some(119.708));
        assert_eq!(img.value_of("ORGY"), Some(112.423));
        assert_eq!(img.value_of("BEAM_CENTER_Y"), Some(6.5));
        assert_eq!(img.value_of("TWOTHETA"), Some(4.0));
    }

    #[test]
    fn fuzz_header_no_panic() {
        let mut rng = XorShift(0xA5A5A5A55A5A5A5A);
        let p = temp_path("fuzz.smv");
        let alphabet =
            b"0123456789=;\n {}SIZE12HEADER_BYTES=BYTE_ORDER=big_endianlittle_DETECTOR_DIMENSIONS";
        for i in 0..2000 {
            let mut bytes = if i % 2 == 0 {
                b"{\nHEADER_BYTES=".to_vec()
            } else {
                Vec::new()
            };
            bytes.extend(rng.bytes(300, alphabet));
            std::fs::write(&p, &bytes).unwrap();
            if let Ok(img) = read_smv(&p) {
                assert_eq!(img.data.len(), img.width * img.height);
                let _ = img.value_of("SIZE1");
            }
        }
        std::fs::remove_file(&p).unwrap();
    }
}
