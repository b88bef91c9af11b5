//! `nanobragg noisify`: the command line of the reference's noisify program (exact single-dash
//! names), its SMV/PGM outputs and its printed summary, over `response::noisify`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::table::{closest, Flag};
use crate::bail;
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::io::smv::{smv_header_text, smv_line, smv_preamble_of, smv_trailer};
use crate::response::noisify::{noisify, IntBits, NoisifyResult, NoisifySettings, Seeds, DEFAULT_FLUENCE, R_E_SQUARED};
use crate::response::psf::{Psf, PsfKind, PsfOutcome};

const fn f(names: &'static [&'static str], value: &'static str, help: &'static str, default: &'static str) -> Flag {
    Flag { names, value, help, default }
}

/// Every flag, in the order of the help text.
pub const FLAGS: &[Flag] = &[
    f(&["-floatfile", "-floatimage", "-bin"], "FILE", "input: float32 image in photons/pixel (a bare FILE argument works too)", "required"),
    f(&["-detpixels"], "n", "image size, fast and slow (pixels)", "from the file size"),
    f(&["-detpixels_x"], "n", "fast size (pixels); slow = pixels / fast", ""),
    f(&["-detpixels_y"], "n", "slow size (pixels); fast = pixels / slow", ""),
    f(&["-header"], "FILE", "copy the SMV header of FILE (its SIZE1/SIZE2 give the size, its geometry the summary)", ""),
    f(&["-scale"], "x", "multiplies every input value", "1"),
    f(&["-fluence"], "photons/m^2", "photons = fluence * r_e^2 * scale * input", "1.25932e+29 (r_e^2*fluence = 1)"),
    f(&["-flicker"], "fraction", "source flicker: relative rms of a per-pixel intensity factor", "0"),
    f(&["-calibration"], "fraction", "per-pixel calibration error (relative rms)", "0.03"),
    f(&["-calib_seed"], "N", "seed of the calibration error (drawn only when -flicker is 0)", "1"),
    f(&["-seed"], "N", "seed of the Poisson, flicker and readout noise", "the clock (printed)"),
    f(&["-gain"], "ADU/photon", "quantum gain", "1"),
    f(&["-adc"], "ADU", "offset added to every pixel", "40"),
    f(&["-readout", "-readout_noise", "-readnoise"], "ADU", "Gaussian readout noise (rms) added after the gain", "0"),
    f(&["-psf"], "gauss|fiber", "point-spread function applied to the photon counts", "none"),
    f(&["-psf_fwhm", "-psf_width"], "um", "PSF full width at half maximum", "46"),
    f(&["-psf_sigma"], "um", "PSF width as a Gaussian sigma (FWHM = 2.3548 sigma)", ""),
    f(&["-psf_radius"], "pixels", "PSF kernel radius (0: automatic, per pixel)", "0"),
    f(&["-bits"], "16|32", "integer pixel size of the SMV images", "16"),
    f(&["-intfile", "-intimage"], "FILE", "noiseless SMV image (always written)", "intimage.img"),
    f(&["-noisefile", "-noiseimage"], "FILE", "SMV image with noise", "noiseimage.img"),
    f(&["-pgmfile", "-pgmimage"], "FILE", "PGM preview of the noiseless image", "image.pgm"),
    f(&["-nonoise"], "", "no noise image; the PSF then blurs the noiseless image", ""),
    f(&["-nopgm"], "", "no PGM preview", ""),
    f(&["-pixel"], "mm", "pixel size (header; the PSF width is converted to pixels with it)", "0.1"),
    f(&["-distance"], "mm", "sample-detector distance (header only)", "100"),
    f(&["-lambda"], "A", "wavelength (header only)", "1"),
    f(&["-Xbeam"], "mm", "beam centre along fast (header only)", "image centre"),
    f(&["-Ybeam"], "mm", "beam centre along slow (header BEAM_CENTER_Y = detsize - Ybeam)", "image centre"),
    f(&["-phi"], "deg", "rotation start (header only)", "0"),
    f(&["-osc"], "deg", "rotation range (header only)", "1"),
    f(&["-detsize", "-detsize_x", "-detsize_y"], "mm", "accepted for compatibility; no effect (the size is pixel x pixels)", ""),
    f(&["-badpix_seed", "-hotpix_seed"], "N", "accepted for compatibility; no effect", ""),
    f(&["-h", "-help", "--help"], "", "this text", ""),
];

/// What the user typed, in the command line's units; `None` is "not given".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NoisifyOptions {
    pub input: Option<String>,
    pub header: Option<String>,
    pub detpixels_x: Option<usize>,
    pub detpixels_y: Option<usize>,
    pub scale: Option<f64>,
    pub fluence: Option<f64>,
    pub flicker: Option<f64>,
    pub calibration: Option<f64>,
    pub calib_seed: Option<i32>,
    pub seed: Option<i32>,
    pub gain: Option<f64>,
    pub adc: Option<f64>,
    pub readout: Option<f64>,
    pub psf: Option<PsfKind>,
    /// PSF FWHM in metres, held in single precision as the reference holds it.
    pub psf_fwhm_m: Option<f32>,
    pub psf_radius: Option<usize>,
    pub bits: Option<IntBits>,
    pub intfile: Option<String>,
    pub noisefile: Option<String>,
    pub pgmfile: Option<String>,
    pub nonoise: bool,
    pub nopgm: bool,
    pub pixel_mm: Option<f64>,
    pub distance_mm: Option<f64>,
    pub lambda: Option<f64>,
    pub xbeam_mm: Option<f64>,
    pub ybeam_mm: Option<f64>,
    pub phi: Option<f64>,
    pub osc: Option<f64>,
    /// Flags read and ignored, as notes for the user.
    pub ignored: Vec<String>,
    pub help: bool,
}

fn number(flag: &str, s: &str) -> Result<f64> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Error::new(format!("noisify: {flag}: expected a number, got '{s}'"))),
    }
}

/// A C `int` (the reference reads these with atoi).
fn integer(flag: &str, s: &str) -> Result<i32> {
    match s.trim().parse::<i32>() {
        Ok(v) => Ok(v),
        Err(_) => Err(Error::new(format!("noisify: {flag}: expected an integer, got '{s}'"))),
    }
}

fn not_negative(flag: &str, v: f64) -> Result<f64> {
    if v < 0.0 {
        bail!("noisify: {flag}: must not be negative, got {}", fmt_g(v));
    }
    Ok(v)
}

fn pixel_count(flag: &str, s: &str) -> Result<usize> {
    let n = integer(flag, s)?;
    if n < 1 {
        bail!("noisify: {flag}: number of pixels must be at least 1, got {n}");
    }
    Ok(n as usize)
}

/// The value after the flag at `*i` (advancing `*i` to it).
fn take<'a>(argv: &'a [String], i: &mut usize, flag: &str, what: &str) -> Result<&'a str> {
    *i += 1;
    match argv.get(*i) {
        Some(v) => Ok(v.as_str()),
        None => Err(Error::new(format!("noisify: {flag}: missing {what}"))),
    }
}

/// A file name: a value that looks like an option is a forgotten name.
fn file_name(flag: &str, v: &str) -> Result<String> {
    if v.starts_with('-') && v.len() > 1 {
        bail!("noisify: {flag}: missing file name (got the option '{v}')");
    }
    Ok(v.to_string())
}

/// Parses noisify's flags (everything after `noisify`). Names are matched exactly.
pub fn parse(argv: &[String]) -> Result<NoisifyOptions> {
    let mut o = NoisifyOptions::default();
    let mut i = 0;
    while i < argv.len() {
        let flag = argv[i].as_str();
        let mut value = |what: &str| take(argv, &mut i, flag, what);
        let file = |v: &str| file_name(flag, v);
        match flag {
            "-h" | "-help" | "--help" => o.help = true,
            "-floatfile" | "-floatimage" | "-bin" => o.input = Some(file(value("file name")?)?),
            "-detpixels" => {
                let n = pixel_count(flag, value("value")?)?;
                o.detpixels_x = Some(n);
                o.detpixels_y = Some(n);
            }
            "-detpixels_x" => o.detpixels_x = Some(pixel_count(flag, value("value")?)?),
            "-detpixels_y" => o.detpixels_y = Some(pixel_count(flag, value("value")?)?),
            "-header" => o.header = Some(file(value("file name")?)?),
            "-scale" => o.scale = Some(not_negative(flag, number(flag, value("value")?)?)?),
            "-fluence" => o.fluence = Some(not_negative(flag, number(flag, value("value")?)?)?),
            "-flicker" => o.flicker = Some(not_negative(flag, number(flag, value("value")?)?)?),
            "-calibration" => o.calibration = Some(not_negative(flag, number(flag, value("value")?)?)?),
            "-calib_seed" => o.calib_seed = Some(integer(flag, value("value")?)?),
            "-seed" => o.seed = Some(integer(flag, value("value")?)?),
            "-gain" => o.gain = Some(not_negative(flag, number(flag, value("value")?)?)?),
            "-adc" => o.adc = Some(number(flag, value("value")?)?),
            "-readout" | "-readout_noise" | "-readnoise" => o.readout = Some(not_negative(flag, number(flag, value("value")?)?)?),
            "-psf" => {
                let v = value("PSF type (gauss or fiber)")?;
                o.psf = Some(match v {
                    "gauss" | "gaussian" => PsfKind::Gaussian,
                    "fiber" | "fibre" => PsfKind::Fiber,
                    _ => bail!("noisify: -psf: unknown PSF type '{v}' (use gauss or fiber)"),
                });
            }
            "-psf_fwhm" | "-psf_width" => {
                let um = not_negative(flag, number(flag, value("value")?)?)?;
                o.psf_fwhm_m = Some((um / 1e6) as f32);
            }
            "-psf_sigma" => {
                let um = not_negative(flag, number(flag, value("value")?)?)?;
                o.psf_fwhm_m = Some((um * (8.0 * std::f64::consts::LN_2).sqrt() / 1e6) as f32);
            }
            "-psf_radius" => {
                let r = not_negative(flag, number(flag, value("value")?)?)?;
                if r > i32::MAX as f64 {
                    bail!("noisify: -psf_radius: {} pixels is too large", fmt_g(r));
                }
                // the reference keeps the whole pixels of the number it reads
                o.psf_radius = Some(r as usize);
            }
            "-bits" => {
                let v = value("value")?;
                o.bits = Some(match integer(flag, v)? {
                    16 => IntBits::Sixteen,
                    32 => IntBits::ThirtyTwo,
                    _ => bail!("noisify: -bits: expected 16 or 32, got '{v}'"),
                });
            }
            "-intfile" | "-intimage" => o.intfile = Some(file(value("file name")?)?),
            "-noisefile" | "-noiseimage" => o.noisefile = Some(file(value("file name")?)?),
            "-pgmfile" | "-pgmimage" => o.pgmfile = Some(file(value("file name")?)?),
            "-nonoise" => o.nonoise = true,
            "-nopgm" => o.nopgm = true,
            "-pixel" => {
                let v = number(flag, value("value")?)?;
                if v <= 0.0 {
                    bail!("noisify: -pixel: must be positive, got {}", fmt_g(v));
                }
                o.pixel_mm = Some(v);
            }
            "-distance" => o.distance_mm = Some(number(flag, value("value")?)?),
            "-lambda" => o.lambda = Some(number(flag, value("value")?)?),
            "-Xbeam" => o.xbeam_mm = Some(number(flag, value("value")?)?),
            "-Ybeam" => o.ybeam_mm = Some(number(flag, value("value")?)?),
            "-phi" => o.phi = Some(number(flag, value("value")?)?),
            "-osc" => o.osc = Some(number(flag, value("value")?)?),
            "-detsize" | "-detsize_x" | "-detsize_y" => {
                number(flag, value("value")?)?;
                o.ignored.push(format!("{flag} has no effect: the image size is the pixel size times the number of pixels"));
            }
            "-badpix_seed" | "-hotpix_seed" => {
                integer(flag, value("value")?)?;
                o.ignored.push(format!("{flag} has no effect"));
            }
            _ if flag.starts_with('-') && flag.len() > 1 => {
                let names = FLAGS.iter().flat_map(|f| f.names.iter().copied());
                let hint = closest(flag, names).map(|n| format!(": did you mean {n}?")).unwrap_or_default();
                bail!("noisify: unknown option '{flag}'{hint} (see nanobragg noisify --help)");
            }
            // a bare argument is the input image, as the reference takes floatimage.bin
            _ => o.input = Some(flag.to_string()),
        }
        i += 1;
    }
    Ok(o)
}

/// The help text, made from [`FLAGS`].
pub fn help() -> String {
    let mut s = String::from(
        "nanobragg noisify: detector response of a float image (photons/pixel) -> SMV images with noise\n\n\
         usage: nanobragg noisify -floatfile FILE [flags]      (or: nanobragg noisify FILE [flags])\n\n\
         Photons = fluence*r_e^2*scale*input; then per pixel flicker, calibration error and Poisson\n\
         counting, the PSF over the whole image, gain, ADC offset and readout noise, clipped to the\n\
         pixel type. The noiseless image (photons*gain+offset) is always written.\n\nflags:\n",
    );
    for fl in FLAGS {
        let names = fl.names.join(", ");
        let left = if fl.value.is_empty() { names } else { format!("{names} {}", fl.value) };
        let default = if fl.default.is_empty() { String::new() } else { format!(" [default: {}]", fl.default) };
        s.push_str(&format!("  {left:<44} {}{default}\n", fl.help));
    }
    s
}

/// The SMV header named by `-header`: its bytes and the numbers noisify takes from it.
#[derive(Clone, Debug)]
pub struct HeaderTemplate {
    pub bytes: Vec<u8>,
    pub width: usize,
    pub height: usize,
    pub pixel_mm: Option<f64>,
    pub distance_mm: Option<f64>,
    pub beam_center_x_mm: Option<f64>,
    pub beam_center_y_mm: Option<f64>,
}

/// Value of the last `KEY=value;` whose key is exactly `key` (not a longer key ending in it,
/// as the reference's search allows: its DISTANCE can be CLOSE_DISTANCE).
fn exact_key_value(text: &str, key: &str) -> Option<f64> {
    let mut found = None;
    for part in text.split(['\n', ';', '{', '}']) {
        if let Some((k, v)) = part.split_once('=') {
            if k.trim() == key {
                found = Some(crate::io::c_atof(v.as_bytes()));
            }
        }
    }
    found
}

/// Reads the header of an SMV file (only the header: a header-only file is fine).
pub fn read_header(path: &str) -> Result<HeaderTemplate> {
    let bytes = crate::io::read_all(Path::new(path))?;
    const MAGIC: &[u8] = b"{\nHEADER_BYTES=";
    if !bytes.starts_with(MAGIC) {
        bail!("{path}: not an SMV image (it must start with \"{{\" and HEADER_BYTES=)");
    }
    let hb = crate::io::c_atof(&bytes[MAGIC.len()..]);
    if !(hb.is_finite() && hb >= MAGIC.len() as f64 && hb <= bytes.len() as f64) {
        bail!("{path}: SMV HEADER_BYTES={} is not a size between {} and the file length {}", fmt_g(hb), MAGIC.len(), bytes.len());
    }
    let bytes = bytes[..hb as usize].to_vec();
    let end = bytes.iter().position(|&b| b == b'}' || b == 0).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let size = |k: &str| exact_key_value(&text, k).filter(|v| *v >= 1.0 && *v <= i32::MAX as f64 && v.fract() == 0.0).map(|v| v as usize);
    let (width, height) = match (size("SIZE1"), size("SIZE2")) {
        (Some(w), Some(h)) => (w, h),
        _ => match size("DETECTOR_DIMENSIONS") {
            Some(d) => (d, d),
            None => bail!("{path}: SMV header lacks a positive SIZE1/SIZE2 (image width and height)"),
        },
    };
    Ok(HeaderTemplate {
        bytes,
        width,
        height,
        pixel_mm: exact_key_value(&text, "PIXEL_SIZE"),
        distance_mm: exact_key_value(&text, "DISTANCE"),
        beam_center_x_mm: exact_key_value(&text, "BEAM_CENTER_X"),
        beam_center_y_mm: exact_key_value(&text, "BEAM_CENTER_Y"),
    })
}

/// The template's header for our pixels: BYTE_ORDER little_endian and TYPE of `bits` (the
/// reference copies the header unchanged, so a 32-bit image kept TYPE=unsigned_short), padded to
/// the template's length.
pub fn adapt_header(template: &HeaderTemplate, bits: IntBits, path: &str) -> Result<Vec<u8>> {
    let raw = &template.bytes;
    let close = raw.iter().position(|&b| b == b'}').unwrap_or(raw.len());
    let text = String::from_utf8_lossy(&raw[..close]).into_owned();
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let mut set = |key: &str, value: &str, required: bool| {
        let mut seen = false;
        for l in lines.iter_mut() {
            if l.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
                *l = smv_line(key, value);
                seen = true;
            }
        }
        if !seen && required {
            let at = lines.len().min(3).max(1);
            lines.insert(at, smv_line(key, value));
        }
    };
    set("BYTE_ORDER", "little_endian", false);
    set("TYPE", bits.smv_type(), bits == IntBits::ThirtyTwo);
    let mut out = lines.join("\n").into_bytes();
    out.extend_from_slice(&raw[close.min(raw.len())..]);
    if out.len() > raw.len() {
        // the edited text is longer: take the difference out of the padding at the end
        let extra = out.len() - raw.len();
        let tail = &out[out.len() - extra..];
        if !tail.iter().all(|&b| b == b' ' || b == 0 || b == b'\n') || close == raw.len() {
            bail!("{path}: no room in the {}-byte SMV header to set TYPE/BYTE_ORDER", raw.len());
        }
        out.truncate(raw.len());
    } else {
        out.resize(raw.len(), b' ');
    }
    Ok(out)
}

/// The header noisify writes when no `-header` is given.
pub fn own_header(g: &Geometry, bits: IntBits) -> Vec<u8> {
    let mut lines = smv_preamble_of(bits.smv_type());
    lines.extend([
        smv_line("SIZE1", &g.width.to_string()),
        smv_line("SIZE2", &g.height.to_string()),
        smv_line("PIXEL_SIZE", &fmt_g(g.pixel * 1000.0)),
        smv_line("DISTANCE", &fmt_g(g.distance * 1000.0)),
        smv_line("WAVELENGTH", &fmt_g(g.lambda)),
        smv_line("BEAM_CENTER_X", &fmt_g(g.xbeam * 1000.0)),
        smv_line("BEAM_CENTER_Y", &fmt_g((g.detsize_y - g.ybeam) * 1000.0)),
        smv_line("PHI", &fmt_g(g.phi)),
        smv_line("OSC_START", &fmt_g(g.phi)),
        smv_line("OSC_RANGE", &fmt_g(g.osc)),
    ]);
    lines.extend(smv_trailer());
    smv_header_text(&lines)
}

/// The detector as noisify describes it (metres, Angstrom, degrees).
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    pub width: usize,
    pub height: usize,
    pub pixel: f64,
    pub distance: f64,
    pub detsize_x: f64,
    pub detsize_y: f64,
    pub xbeam: f64,
    pub ybeam: f64,
    pub lambda: f64,
    pub phi: f64,
    pub osc: f64,
}

/// The most square factorisation of `pixels` (fast <= slow), as the reference guesses it.
pub fn guess_shape(pixels: usize) -> (usize, usize) {
    let mut x = (pixels as f64).sqrt() as usize;
    while x > 1 && pixels % x != 0 {
        x -= 1;
    }
    let x = x.max(1);
    (x, pixels / x)
}

/// The image shape from the flags, the header and the file's pixel count; the file must hold
/// exactly that many pixels.
fn image_shape(o: &NoisifyOptions, header: Option<&HeaderTemplate>, input: &str, pixels: usize) -> Result<((usize, usize), bool)> {
    let mut guessed = false;
    let (w, h) = if let Some(t) = header {
        for (given, from_header, flag, key) in [(o.detpixels_x, t.width, "-detpixels_x", "SIZE1"), (o.detpixels_y, t.height, "-detpixels_y", "SIZE2")] {
            if let Some(n) = given.filter(|&n| n != from_header) {
                bail!("noisify: {flag} {n} disagrees with the -header file's {key}={from_header}");
            }
        }
        (t.width, t.height)
    } else {
        match (o.detpixels_x, o.detpixels_y) {
            (Some(x), Some(y)) => (x, y),
            (Some(x), None) => (x, pixels / x),
            (None, Some(y)) => (pixels / y, y),
            (None, None) => {
                guessed = true;
                guess_shape(pixels)
            }
        }
    };
    if w.checked_mul(h) != Some(pixels) {
        bail!("{input}: holds {pixels} float pixels, but the image is {w} x {h} = {} pixels", w as u128 * h as u128);
    }
    Ok(((w, h), guessed))
}

/// Reads the float image: whole 4-byte floats, at least one, all finite.
fn read_input(path: &str) -> Result<Vec<f32>> {
    let bytes = crate::io::read_all(Path::new(path))?;
    if bytes.is_empty() {
        bail!("{path}: empty float image");
    }
    if bytes.len() % 4 != 0 {
        bail!("{path}: {} bytes is not a whole number of 4-byte floats", bytes.len());
    }
    let data: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        bail!("{path}: pixel {i} is {} (not a finite number)", data[i]);
    }
    Ok(data)
}

/// Writes every file under a temporary name beside it, then renames them all into place; on a
/// failure no temporary is left and no file of this run is renamed after it.
fn write_all(files: &[(String, Vec<u8>)]) -> Result<()> {
    let temp_of = |name: &str| -> PathBuf {
        let p = Path::new(name);
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let base = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        dir.join(format!(".{base}.tmp{}", std::process::id()))
    };
    let mut written: Vec<(PathBuf, &str)> = Vec::new();
    let cleanup = |written: &[(PathBuf, &str)]| {
        for (t, _) in written {
            let _ = std::fs::remove_file(t);
        }
    };
    for (name, bytes) in files {
        if Path::new(name).file_name().is_none() {
            cleanup(&written);
            bail!("{name}: not a file path");
        }
        let tmp = temp_of(name);
        if let Err(e) = std::fs::write(&tmp, bytes) {
            let _ = std::fs::remove_file(&tmp);
            cleanup(&written);
            bail!("{name}: cannot write file: {e}");
        }
        written.push((tmp, name));
    }
    for (k, (tmp, name)) in written.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, name) {
            cleanup(&written[k..]);
            bail!("{name}: cannot write file: {e}");
        }
    }
    Ok(())
}

fn smv_file(header: &[u8], pixels: &crate::response::noisify::IntImage) -> Vec<u8> {
    let mut v = header.to_vec();
    v.extend_from_slice(&pixels.to_le_bytes());
    v
}

/// The clock as the reference seeds from it (seconds since 1970).
fn clock_seed() -> i32 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(1);
    // a C int, as -seed reads
    (secs % i32::MAX as u64) as i32
}

fn print_psf(out: &mut impl Write, r: &PsfOutcome, auto: bool) {
    if auto {
        let _ = writeln!(out, "  maximum input photon/pixel: {}", fmt_g(r.max_input));
        let _ = writeln!(out, "  auto-selected psf_radius = {} pixels", r.kernel_radius);
    }
    let _ = writeln!(out, "adding back {} lost photons", fmt_g(r.lost_photons));
}

/// The input image and what comes with it, read and checked.
struct Inputs {
    input: String,
    header: Option<HeaderTemplate>,
    data: Vec<f32>,
    width: usize,
    height: usize,
    /// Whether the image size was guessed from the pixel count.
    guessed: bool,
    bits: IntBits,
    /// The -header file's header, adapted to the integer size of the outputs.
    template: Option<Vec<u8>>,
}

/// Reads the input image and the -header file, and works out the image size.
fn read_inputs(o: &NoisifyOptions) -> Result<Inputs> {
    let Some(input) = o.input.clone() else {
        bail!("noisify: no input image: give -floatfile FILE (see nanobragg noisify --help)");
    };
    let header = o.header.as_deref().map(read_header).transpose()?;
    let data = read_input(&input)?;
    let ((width, height), guessed) = image_shape(o, header.as_ref(), &input, data.len())?;
    let bits = o.bits.unwrap_or(IntBits::Sixteen);
    let template = match (&header, &o.header) {
        (Some(t), Some(p)) => Some(adapt_header(t, bits, p)?),
        _ => None,
    };
    Ok(Inputs { input, header, data, width, height, guessed, bits, template })
}

/// The geometry for the header and the summary: the flags, then what the -header file says
/// (the reference reads the header last); with the notes for the user.
fn geometry(o: &NoisifyOptions, header: Option<&HeaderTemplate>, width: usize, height: usize) -> (Geometry, Vec<String>) {
    let mut pixel = o.pixel_mm.map_or(0.1e-3, |v| v / 1000.0);
    let mut distance = o.distance_mm.map_or(100.0e-3, |v| v / 1000.0);
    let mut xbeam = o.xbeam_mm.map(|v| v / 1000.0);
    let mut ybeam = o.ybeam_mm.map(|v| v / 1000.0);
    let mut notes = o.ignored.clone();
    if let Some(t) = header {
        if let Some(p) = t.pixel_mm.filter(|p| *p > 0.0) {
            if o.pixel_mm.is_some_and(|mm| mm != p) {
                notes.push(format!("-pixel: the -header file's PIXEL_SIZE={} is used", fmt_g(p)));
            }
            pixel = p / 1000.0;
        }
        if let Some(d) = t.distance_mm {
            distance = d / 1000.0;
        }
        if let Some(x) = t.beam_center_x_mm {
            xbeam = Some(x / 1000.0);
        }
        if let Some(y) = t.beam_center_y_mm {
            ybeam = Some(pixel * height as f64 - y / 1000.0);
        }
    }
    let (detsize_x, detsize_y) = (pixel * width as f64, pixel * height as f64);
    let g = Geometry {
        width,
        height,
        pixel,
        distance,
        detsize_x,
        detsize_y,
        xbeam: xbeam.unwrap_or(detsize_x / 2.0),
        ybeam: ybeam.unwrap_or(detsize_y / 2.0),
        lambda: o.lambda.unwrap_or(1.0),
        phi: o.phi.unwrap_or(0.0),
        osc: o.osc.unwrap_or(1.0),
    };
    (g, notes)
}

/// The PSF's full width at half maximum (m), in the reference's single precision.
fn psf_fwhm_m(o: &NoisifyOptions) -> f32 {
    o.psf_fwhm_m.unwrap_or(46e-6)
}

/// The seed the user gave, or the clock's; and whether it came from the clock.
fn user_seed(o: &NoisifyOptions) -> (i32, bool) {
    match o.seed {
        Some(s) => (s, false),
        None => (clock_seed(), true),
    }
}

/// The noise model's settings from the flags (-nonoise turns every noise source off).
fn noise_settings(o: &NoisifyOptions, pixel: f64, bits: IntBits, user_seed: i32) -> NoisifySettings {
    let noise = !o.nonoise;
    let psf = o.psf.map(|kind| Psf { kind, fwhm_pixels: psf_fwhm_m(o) as f64 / pixel, radius: o.psf_radius.filter(|&r| r > 0) });
    NoisifySettings {
        scale: o.scale.unwrap_or(1.0),
        fluence: o.fluence.unwrap_or(DEFAULT_FLUENCE),
        flicker: if noise { o.flicker.unwrap_or(0.0) } else { 0.0 },
        calibration: if noise { o.calibration.unwrap_or(0.03) } else { 0.0 },
        readout_adu: if noise { o.readout.unwrap_or(0.0) } else { 0.0 },
        gain: o.gain.unwrap_or(1.0),
        adc_offset: o.adc.unwrap_or(40.0),
        psf,
        bits,
        noise,
        seeds: Seeds::from_user(user_seed, o.calib_seed),
    }
}

/// Prints the banner, the notes (on stderr) and the summary of the input, geometry and settings.
fn print_summary(out: &mut impl Write, o: &NoisifyOptions, inp: &Inputs, g: &Geometry, notes: &[String], s: &NoisifySettings, seed: (i32, bool)) {
    let (width, height, input) = (inp.width, inp.height, &inp.input);
    let _ = writeln!(out, "noisify - add noise to pixels (nanobragg re-implementation of James Holton's noisify)");
    for n in notes {
        crate::say!("noisify: note: {n}");
    }
    if let Some(h) = &o.header {
        let _ = writeln!(out, "taking header from {h}");
    }
    if inp.guessed {
        let _ = writeln!(out, "WARNING: guessing xy pixel dimensions: {width}x{height} (give -detpixels_x/-detpixels_y)");
    }
    let _ = writeln!(out, "importing {} pixel intensities: {input}", inp.data.len());
    let _ = writeln!(
        out,
        "  distance={} detsize={}x{}  pixel={} meters ({width}x{height} pixels)",
        fmt_g(g.distance),
        fmt_g(g.detsize_x),
        fmt_g(g.detsize_y),
        fmt_g(g.pixel)
    );
    let _ = writeln!(out, "  Xbeam={} Ybeam={}", fmt_g(g.xbeam), fmt_g(g.ybeam));
    if let Some(p) = &s.psf {
        let kind = if p.kind == PsfKind::Gaussian { "Gaussian" } else { "fiber" };
        let radius = p.radius.map_or("automatic rendering radius".to_string(), |r| format!("rendering radius: {r}"));
        let _ = writeln!(out, "  {kind} PSF fwhm = {} um with {radius}", fmt_g(psf_fwhm_m(o) as f64 * 1e6));
    }
    let (user_seed, from_clock) = seed;
    let clock = if from_clock { format!(" (from the clock: -seed {user_seed} repeats this image)") } else { String::new() };
    let _ = writeln!(out, "  seed: {}{clock}", s.seeds.noise);
    let _ = writeln!(out, "  calibration noise seed: {}", s.seeds.calibration);
    let _ = writeln!(out, "  calibration_noise = {} %", fmt_g(s.calibration * 100.0));
    let _ = writeln!(out, "  input file scale = {}", fmt_g(s.scale));
    let _ = writeln!(out, "  readout_noise = {} ADU", fmt_g(s.readout_adu));
    let _ = writeln!(out, "  flicker_noise = {} %", fmt_g(s.flicker * 100.0));
    let _ = writeln!(out, "  quantum_gain = {} ADU/photon", fmt_g(s.gain));
    let _ = writeln!(out, "  adc_offset = {} ADU", fmt_g(s.adc_offset));
    let _ = writeln!(out);
}

/// Whether the PSF kernel radius is chosen per pixel (the summary then reports it).
fn auto_psf_radius(s: &NoisifySettings) -> bool {
    s.psf.is_some_and(|p| p.radius.is_none())
}

/// Runs the noise model and prints what it found in the input and what the PSF did to the
/// noiseless image.
fn run_noisify(out: &mut impl Write, o: &NoisifyOptions, inp: &Inputs, g: &Geometry, s: &NoisifySettings) -> NoisifyResult {
    let r: NoisifyResult = noisify(&inp.data, inp.width, inp.height, s);
    if r.negative_inputs > 0 {
        let _ = writeln!(out, "WARNING: {} negative intensities in {} (they count as 0 photons)", r.negative_inputs, inp.input);
    }
    let _ = writeln!(
        out,
        "maximum value in input file: {} ( {} on photon scale)",
        fmt_g(r.max_input),
        fmt_g(r.max_input * s.scale * s.fluence * R_E_SQUARED)
    );
    if let Some(p) = &r.noiseless_psf {
        let _ = writeln!(out, "  applying PSF to noiseless image width = {} pixels", fmt_g(psf_fwhm_m(o) as f64 / g.pixel));
        print_psf(out, p, auto_psf_radius(s));
    }
    r
}

/// The output files (name and bytes), in the order they are written, printing a line for each
/// (and the noise image's photon counts).
fn output_files(out: &mut impl Write, o: &NoisifyOptions, inp: &Inputs, g: &Geometry, s: &NoisifySettings, r: &NoisifyResult) -> Vec<(String, Vec<u8>)> {
    let (bits, width, height) = (inp.bits, inp.width, inp.height);
    let intfile = o.intfile.clone().unwrap_or_else(|| "intimage.img".into());
    let noisefile = o.noisefile.clone().unwrap_or_else(|| "noiseimage.img".into());
    let pgmfile = o.pgmfile.clone().unwrap_or_else(|| "image.pgm".into());
    let header_bytes = |b: IntBits| inp.template.clone().unwrap_or_else(|| own_header(g, b));
    let mut files = vec![(intfile.clone(), smv_file(&header_bytes(bits), &r.noiseless))];
    let _ = writeln!(out, "writing {intfile} as {} {}-byte integers", r.noiseless.len(), bits.bytes());
    if !o.nopgm {
        let mut pgm = format!("P5\n{width} {height}\n# pixels scaled by 1\n255\n").into_bytes();
        pgm.extend_from_slice(&r.pgm);
        files.push((pgmfile.clone(), pgm));
        let _ = writeln!(out, "writing {pgmfile} as 1-byte integers");
    }
    if let Some(n) = &r.noise {
        if let Some(p) = &n.psf {
            let _ = writeln!(out, "{:.0} photons on noise image before PSF", n.photons_before_psf);
            let _ = writeln!(out, "  applying PSF width = {} um", fmt_g(psf_fwhm_m(o) as f64 * 1e6));
            print_psf(out, p, auto_psf_radius(s));
        }
        let _ = writeln!(out, "{:.0} photons on noise image ({} overloads)", n.photons, n.overloads);
        files.push((noisefile.clone(), smv_file(&header_bytes(bits), &n.image)));
        let _ = writeln!(out, "writing {noisefile} as {}-byte integers", bits.bytes());
    }
    files
}

/// `nanobragg noisify <flags>`.
pub fn command(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    if o.help || args.is_empty() {
        print!("{}", help());
        return Ok(());
    }
    let inp = read_inputs(&o)?;
    let (g, notes) = geometry(&o, inp.header.as_ref(), inp.width, inp.height);
    let seed = user_seed(&o);
    let settings = noise_settings(&o, g.pixel, inp.bits, seed.0);

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    print_summary(&mut out, &o, &inp, &g, &notes, &settings, seed);
    let r = run_noisify(&mut out, &o, &inp, &g, &settings);
    let files = output_files(&mut out, &o, &inp, &g, &settings, &r);
    let _ = out.flush();
    write_all(&files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn every_listed_flag_parses_and_nothing_else_does() {
        for fl in FLAGS {
            for name in fl.names {
                let value = match fl.value {
                    "" => vec![],
                    "gauss|fiber" => vec!["fiber"],
                    "16|32" => vec!["32"],
                    "FILE" => vec!["x.bin"],
                    _ => vec!["2"],
                };
                let mut a = vec![name.to_string()];
                a.extend(value.iter().map(|v| v.to_string()));
                assert!(parse(&a).is_ok(), "{name}: {:?}", parse(&a));
            }
        }
        let e = parse(&args("-seeds 3")).unwrap_err().0;
        assert!(e.contains("unknown option '-seeds'") && e.contains("-seed"), "{e}");
        // substrings of names are not names
        assert!(parse(&args("-psf_rad 3")).is_err());
        assert!(parse(&args("-readout_noi 3")).is_err());
    }

    #[test]
    fn values_are_checked() {
        for bad in ["-gain -1", "-psf_fwhm -5", "-psf blur", "-bits 8", "-seed x", "-detpixels 0", "-pixel 0", "-flicker -0.1", "-scale"] {
            let e = parse(&args(bad)).unwrap_err().0;
            assert!(e.starts_with("noisify: -"), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
        let o = parse(&args("floatimage.bin -psf gauss -psf_width 150 -psf_radius 2.7 -detpixels 64 -detpixels_x 32")).unwrap();
        assert_eq!(o.input.as_deref(), Some("floatimage.bin"));
        assert_eq!(o.psf, Some(PsfKind::Gaussian));
        assert_eq!(o.psf_fwhm_m, Some((150.0f64 / 1e6) as f32));
        assert_eq!(o.psf_radius, Some(2));
        assert_eq!((o.detpixels_x, o.detpixels_y), (Some(32), Some(64)));
    }

    #[test]
    fn shape_guess_is_the_most_square_factorisation() {
        assert_eq!(guess_shape(16384), (128, 128));
        assert_eq!(guess_shape(192 * 128), (128, 192));
        assert_eq!(guess_shape(7), (1, 7));
        assert_eq!(guess_shape(1), (1, 1));
    }

    #[test]
    fn file_size_must_match_the_shape_exactly() {
        let o = NoisifyOptions { detpixels_x: Some(10), detpixels_y: Some(10), ..Default::default() };
        assert!(image_shape(&o, None, "f.bin", 100).is_ok());
        assert!(image_shape(&o, None, "f.bin", 99).unwrap_err().0.contains("f.bin"));
        let o = NoisifyOptions { detpixels_x: Some(7), ..Default::default() };
        assert!(image_shape(&o, None, "f.bin", 100).is_err());
    }

    #[test]
    fn copied_header_gets_the_type_of_32_bit_pixels() {
        let g = Geometry { width: 4, height: 2, pixel: 1e-4, distance: 0.1, detsize_x: 4e-4, detsize_y: 2e-4, xbeam: 2e-4, ybeam: 1e-4, lambda: 1.0, phi: 0.0, osc: 1.0 };
        let own = own_header(&g, IntBits::Sixteen);
        assert_eq!(own.len(), 512);
        let t = HeaderTemplate { bytes: own.clone(), width: 4, height: 2, pixel_mm: Some(0.1), distance_mm: Some(100.0), beam_center_x_mm: None, beam_center_y_mm: None };
        let h = adapt_header(&t, IntBits::ThirtyTwo, "h.img").unwrap();
        assert_eq!(h.len(), 512);
        let text = String::from_utf8_lossy(&h);
        assert!(text.contains("\nTYPE=long_integer;\n") && !text.contains("unsigned_short"), "{text}");
        assert_eq!(h, own_header(&g, IntBits::ThirtyTwo));
        // 16 bits: unchanged
        assert_eq!(adapt_header(&t, IntBits::Sixteen, "h.img").unwrap(), own);
    }

    #[test]
    fn exact_keys_only() {
        let text = "{\nDISTANCE=100;\nCLOSE_DISTANCE=250;\n";
        assert_eq!(exact_key_value(text, "DISTANCE"), Some(100.0));
        assert_eq!(exact_key_value(text, "SIZE1"), None);
    }
}
