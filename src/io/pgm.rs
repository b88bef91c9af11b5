//! Binary greyscale (PGM "P5") preview images.

use super::cfmt::fmt_g;
use super::write_atomic;
use crate::bail;
use crate::error::Result;
use std::path::Path;

/// The PGM header the reference writes, including its comment line with the scale factor.
pub fn pgm_header(width: usize, height: usize, pgm_scale: f64) -> String {
    format!(
        "P5\n{width} {height}\n# pixels scaled by {}\n255\n",
        fmt_g(pgm_scale)
    )
}

/// Writes `bytes` (one per pixel, `width * height` of them, fast index fastest) as a P5 image.
pub fn write_pgm(
    path: &Path,
    width: usize,
    height: usize,
    pgm_scale: f64,
    bytes: &[u8],
) -> Result<()> {
    if width.checked_mul(height) != Some(bytes.len()) {
        bail!(
            "{}: cannot write PGM image: {} pixels given for {width} x {height}",
            crate::io::osname::display(path),
            bytes.len()
        );
    }
    let head = pgm_header(width, height, pgm_scale);
    let mut out = Vec::with_capacity(head.len() + bytes.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(bytes);
    write_atomic(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testutil::temp_path;

    #[test]
    fn layout() {
        let p = temp_path("img.pgm");
        write_pgm(&p, 3, 2, 5.92958123, &[0, 1, 2, 253, 254, 255]).unwrap();
        let b = std::fs::read(&p).unwrap();
        let mut want = b"P5\n3 2\n# pixels scaled by 5.92958\n255\n".to_vec();
        want.extend_from_slice(&[0, 1, 2, 253, 254, 255]);
        assert_eq!(b, want);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(
            pgm_header(1, 1, 1e-7),
            "P5\n1 1\n# pixels scaled by 1e-07\n255\n"
        );
    }

    #[test]
    fn size_mismatch_is_error() {
        let p = temp_path("bad.pgm");
        let e = write_pgm(&p, 3, 2, 1.0, &[0; 5]).unwrap_err().0;
        assert!(e.contains("bad.pgm") && e.contains("5 pixels"), "{e}");
        assert!(!p.exists());
    }

    #[test]
    fn golden_pgm_reproduced() {
        let Some(dir) = crate::io::testutil::golden_dir() else {
            return;
        };
        let reference = std::fs::read(dir.join("smv_noise_pgm/image.pgm")).unwrap();
        // Header: four lines; take the scale from the comment and the pixels after it.
        let text = String::from_utf8_lossy(&reference[..64]).into_owned();
        let lines: Vec<&str> = text.splitn(5, '\n').collect();
        let scale: f64 = lines[2]
            .trim_start_matches("# pixels scaled by ")
            .parse()
            .unwrap();
        let head_len = lines[..4].iter().map(|l| l.len() + 1).sum::<usize>();
        let p = temp_path("golden.pgm");
        write_pgm(&p, 128, 128, scale, &reference[head_len..]).unwrap();
        assert!(std::fs::read(&p).unwrap() == reference);
        std::fs::remove_file(&p).unwrap();
    }
}
