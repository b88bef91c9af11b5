//! `nanobragg nonbragg <flags>`: the C program nonBragg's command line (single-dash flags,
//! exact names, its defaults and outputs) over the `amorphous` library.
//!
//! Flags are read in order and a later one overrides an earlier one, as in the reference (the
//! last pivot-setting flag chooses the pivot). `-img` is read first: its header gives the
//! starting geometry, which the flags then override.

use crate::engine::amorphous::images::{self, Stats};
use crate::engine::amorphous::profile::{self, Profile};
use crate::engine::amorphous::render::{render_with_progress, Rendered, Report};
use crate::engine::amorphous::settings::Settings;
use crate::engine::amorphous::setup::{resolve, Setup};
use crate::engine::amorphous::table::{read_stol_table, StolTable, StolUnits};
use crate::bail;
use crate::error::{Error, Result};
use crate::experiment::RTD;
use crate::io::cfmt::fmt_g;
use crate::config::Pivot;
use std::io::Write;
use std::path::Path;

/// One row of the flag table: names, the values it takes, what it means (with units), the
/// default.
struct Flag {
    names: &'static [&'static str],
    value: &'static str,
    help: &'static str,
    default: &'static str,
}

const fn f(names: &'static [&'static str], value: &'static str, help: &'static str, default: &'static str) -> Flag {
    Flag { names, value, help, default }
}

/// The flags by topic (the help text is made from this table; a test checks that the parser
/// takes every name in it).
const GROUPS: &[(&str, &[Flag])] = &[
    (
        "Inputs",
        &[
            f(&["-stol"], "FILE", "table of sin(theta)/lambda (1/A) and F, one point per line (required: -stol, -Q or -4stol)", ""),
            f(&["-Q"], "FILE", "table whose first column is Q = 4 pi sin(theta)/lambda (1/A)", ""),
            f(&["-4stol"], "FILE", "table whose first column is 4 sin(theta)/lambda (1/A)", ""),
            f(&["-sourcefile"], "FILE", "sources, one per line: X Y Z (direction from the sample) weight wavelength(m)", "from divergence and dispersion"),
            f(&["-img"], "FILE", "SMV image: its header gives the starting geometry, its pixels an F profile", ""),
            f(&["-ignore"], "COUNT", "pixel value of the -img image to leave out (repeatable)", ""),
            f(&["-stolout"], "FILE", "F profile extracted from -img (stol mean_F rmsd 0 0 n)", "output.stol"),
        ],
    ),
    (
        "Sample",
        &[
            f(&["-thickness", "-thick", "-sample_thick", "-sample_x"], "MM", "sample extent along the beam", "0.1"),
            f(&["-sample_width", "-width", "-sample_y"], "MM", "sample width (clipped to -beamsize)", "0.1"),
            f(&["-sample_height", "-height", "-sample_z"], "MM", "sample height (clipped to -beamsize)", "0.1"),
            f(&["-samplesize", "-sample_size"], "MM", "thickness, width and height at once", ""),
            f(&["-density", "-sample_den", "-sample_density"], "G/CM3", "density of the material", "1"),
            f(&["-MW", "-molecular", "-molecular_weight"], "G/MOL", "molecular weight of the unit whose F the table gives", "18"),
            f(&["-molecules", "-sample_molecules"], "N", "number of molecules in the beam (replaces -density)", ""),
        ],
    ),
    (
        "Beam",
        &[
            f(&["-lambda", "-wave", "-wavelength"], "A", "wavelength", "1"),
            f(&["-energy"], "EV", "photon energy (sets the wavelength 12398.42/E A)", ""),
            f(&["-dispersion"], "PERCENT", "full spectral width delta-lambda/lambda", "0"),
            f(&["-dispsteps"], "N", "wavelengths across the dispersion", "2 with a dispersion"),
            f(&["-divergence"], "MRAD", "horizontal and vertical divergence range", "0"),
            f(&["-hdivrange", "-vdivrange"], "MRAD", "horizontal / vertical divergence range", "0"),
            f(&["-hdivstep", "-vdivstep"], "MRAD", "step between divergence sources", "the range"),
            f(&["-hdivsteps", "-vdivsteps"], "N", "sources across the horizontal / vertical range", ""),
            f(&["-divsteps"], "N", "sources across both ranges", ""),
            f(&["-round_div"], "", "keep the divergence grid's points inside an ellipse", "on"),
            f(&["-square_div"], "", "keep the whole divergence grid", ""),
            f(&["-fluence"], "PHOTONS/M2", "integrated beam fluence", "1.25932e29"),
            f(&["-flux"], "PHOTONS/S", "beam flux: fluence = flux x exposure / beamsize^2", ""),
            f(&["-exposure"], "S", "exposure time (with -flux)", "1"),
            f(&["-beamsize"], "MM", "side of the square beam", "0.1"),
            f(&["-beam_vector"], "X Y Z", "beam direction", "1 0 0"),
            f(&["-polar_vector"], "X Y Z", "axis the E-vector lies closest to", "0 0 1"),
            f(&["-polar"], "K", "Kahn polarization factor (0 unpolarized, 1 fully polarized)", "0"),
            f(&["-nopolar"], "", "no polarization factor", ""),
            f(&["-source_distance"], "MM", "distance of the generated sources (only their direction matters)", "10000"),
            f(&["-coherent"], "", "accepted, no effect (the sum is always incoherent)", ""),
        ],
    ),
    (
        "Detector",
        &[
            f(&["-distance"], "MM", "sample to beam spot distance (selects the beam pivot)", "100"),
            f(&["-close_distance"], "MM", "sample to detector plane along its normal (selects the sample pivot)", ""),
            f(&["-pixel"], "MM", "pixel size", "0.1"),
            f(&["-detsize"], "MM", "detector size, both axes", "102.4"),
            f(&["-detsize_x", "-detsize_y"], "MM", "detector size along the fast / slow axis", "102.4"),
            f(&["-detpixels"], "N", "pixels on both axes (sets the size)", "1024"),
            f(&["-detpixels_f", "-detpixels_x"], "N", "pixels along the fast axis", ""),
            f(&["-detpixels_s", "-detpixels_y"], "N", "pixels along the slow axis", ""),
            f(&["-Xbeam", "-Ybeam"], "MM", "beam spot along the fast / slow axis (selects the beam pivot)", "(size - pixel)/2, (size + pixel)/2"),
            f(&["-Xclose", "-Yclose"], "MM", "foot of the normal from the sample (selects the sample pivot)", "as the beam spot"),
            f(&["-ORGX", "-ORGY"], "PIXELS", "XDS origin: foot of the normal in pixels (selects the sample pivot)", ""),
            f(&["-pivot"], "beam|sample", "what stays fixed when the detector turns", "beam"),
            f(&["-twotheta"], "DEG", "detector swing about -twotheta_axis (selects the sample pivot)", "0"),
            f(&["-twotheta_axis"], "X Y Z", "axis of the two-theta swing (normalised)", "0 1 0"),
            f(&["-detector_rotx", "-detector_roty", "-detector_rotz"], "DEG", "detector rotation about x, y, z (applied in that order)", "0"),
            f(&["-fdet_vector"], "X Y Z", "fast axis", "0 0 1"),
            f(&["-sdet_vector"], "X Y Z", "slow axis", "0 -1 0"),
            f(&["-curved_det"], "", "spherical detector: every pixel at the same distance", ""),
            f(&["-point_pixel"], "", "solid angle 1/R^2 (no pixel area or obliquity)", ""),
            f(&["-spindle_axis"], "X Y Z", "accepted, no effect (an amorphous sample does not turn)", ""),
        ],
    ),
    (
        "Sampling",
        &[
            f(&["-oversample"], "N", "sub-pixels per pixel side", "1"),
            f(&["-roi"], "XMIN XMAX YMIN YMAX", "render only these pixels (inclusive); the rest are 0", "all"),
            f(&["-Fmap"], "", "store the interpolated F of each pixel instead of photons", ""),
        ],
    ),
    (
        "Header only (PHI, OSC_RANGE)",
        &[
            f(&["-phi"], "DEG", "start angle", "0"),
            f(&["-osc"], "DEG", "oscillation range", "0"),
            f(&["-phistep"], "DEG", "step (alone: the oscillation range)", ""),
            f(&["-phisteps"], "N", "steps (alone: a 1 degree range)", ""),
        ],
    ),
    (
        "Outputs",
        &[
            f(&["-floatfile", "-floatimage"], "FILE", "photons per pixel, little-endian float32", "floatimage.bin"),
            f(&["-intfile", "-intimage"], "FILE", "noiseless SMV image: value x scale + adc", "intimage.img"),
            f(&["-noisefile", "-noiseimage"], "FILE", "SMV image with Poisson noise (turns noise on)", "noiseimage.img"),
            f(&["-pgmfile", "-pgmimage"], "FILE", "PGM preview: value x pgmscale, 0..255", "image.pgm"),
            f(&["-nonoise"], "", "do not write the noise image", ""),
            f(&["-nopgm"], "", "do not write the PGM", ""),
            f(&["-scale"], "F", "counts per photon of the int image", "55000 / max"),
            f(&["-pgmscale"], "F", "grey levels per photon of the PGM", "250 / (5 rmsd)"),
            f(&["-adc"], "COUNTS", "offset added to the int and noise images", "40"),
            f(&["-gain"], "COUNTS/PHOTON", "counts per photon of the -img image", "1"),
            f(&["-seed"], "N", "noise seed (the run prints the one it used)", "the clock"),
            f(&["-noreject"], "", "accepted, no effect (the profile has no outlier rejection)", ""),
        ],
    ),
    (
        "Console",
        &[
            f(&["-printout"], "", "print every pixel's F, polarization, solid angle and value", ""),
            f(&["-printout_pixel"], "F S", "print only this pixel (fast, slow)", ""),
            f(&["-noprogress", "-progress"], "", "progress meter off / on (on stderr)", "on for a terminal"),
            f(&["-h", "-help", "--help"], "", "this help", ""),
        ],
    ),
];

/// Every flag name.
fn all_names() -> impl Iterator<Item = &'static str> {
    GROUPS.iter().flat_map(|g| g.1.iter()).flat_map(|f| f.names.iter().copied())
}

/// The help text.
pub fn help() -> String {
    let mut s = String::from(
        "nanobragg nonbragg: diffraction images of amorphous material (water, ice, air) from a table of\n\
         F against sin(theta)/lambda; the flags, defaults and outputs of the C program nonBragg.\n\n\
         usage: nanobragg nonbragg -stol water.stol [flags]\n\n",
    );
    for (title, flags) in GROUPS {
        s.push_str(&format!("{title}:\n"));
        for fl in *flags {
            let mut left = fl.names.join(", ");
            if !fl.value.is_empty() {
                left.push_str(&format!(" <{}>", fl.value));
            }
            let mut right = fl.help.to_string();
            if !fl.default.is_empty() {
                right.push_str(&format!(" [default: {}]", fl.default));
            }
            if left.len() <= 34 {
                s.push_str(&format!("  {left:<34} {right}\n"));
            } else {
                s.push_str(&format!("  {left}\n  {:<34} {right}\n", ""));
            }
        }
        s.push('\n');
    }
    s.push_str("Names are matched exactly; an unknown flag is an error. See docs/nonbragg.md.\n");
    s
}

/// What the command line asks for besides the render's settings.
#[derive(Clone, Debug)]
pub struct Args {
    pub settings: Settings,
    pub table: Option<(String, StolUnits)>,
    pub sourcefile: Option<String>,
    pub img: Option<String>,
    pub ignore: Vec<u16>,
    pub stolout: String,
    pub floatfile: String,
    pub intfile: String,
    pub noisefile: String,
    pub pgmfile: String,
    pub noise: bool,
    pub pgm: bool,
    pub scale: Option<f64>,
    pub pgmscale: Option<f64>,
    pub adc: f64,
    pub gain: f64,
    /// `-seed N` as given (the generator starts from -N).
    pub seed: Option<i64>,
    pub report: Report,
    pub progress: Option<bool>,
    pub help: bool,
}

impl Args {
    fn new(settings: Settings) -> Self {
        Args {
            settings,
            table: None,
            sourcefile: None,
            img: None,
            ignore: Vec::new(),
            stolout: "output.stol".into(),
            floatfile: "floatimage.bin".into(),
            intfile: "intimage.img".into(),
            noisefile: "noiseimage.img".into(),
            pgmfile: "image.pgm".into(),
            noise: true,
            pgm: true,
            scale: None,
            pgmscale: None,
            adc: 40.0,
            gain: 1.0,
            seed: None,
            report: Report::None,
            progress: None,
            help: false,
        }
    }
}

/// The flag values, one at a time, with errors that name the flag.
struct Cursor<'a> {
    argv: &'a [String],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn value(&mut self, flag: &str, what: &str) -> Result<&'a str> {
        if self.i + 1 >= self.argv.len() {
            bail!("{flag}: missing {what}");
        }
        self.i += 1;
        Ok(self.argv[self.i].as_str())
    }
    fn num(&mut self, flag: &str) -> Result<f64> {
        let v = self.value(flag, "value")?;
        match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => bail!("{flag}: expected a number, got '{v}'"),
        }
    }
    /// A number that must not be negative.
    fn nonneg(&mut self, flag: &str) -> Result<f64> {
        let x = self.num(flag)?;
        if x < 0.0 {
            bail!("{flag}: must not be negative, got {v}", v = fmt_g(x));
        }
        Ok(x)
    }
    /// A number that must be positive.
    fn pos(&mut self, flag: &str) -> Result<f64> {
        let x = self.num(flag)?;
        if x <= 0.0 {
            bail!("{flag}: must be positive, got {v}", v = fmt_g(x));
        }
        Ok(x)
    }
    fn int(&mut self, flag: &str) -> Result<i64> {
        let v = self.value(flag, "value")?;
        let t = v.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Ok(n);
        }
        match t.parse::<f64>() {
            Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(x as i64),
            _ => bail!("{flag}: expected an integer, got '{v}'"),
        }
    }
    /// A count that must not be negative (0: not given, as in the reference).
    fn count(&mut self, flag: &str) -> Result<i64> {
        let n = self.int(flag)?;
        if n < 0 {
            bail!("{flag}: must not be negative, got {n}");
        }
        Ok(n)
    }
    fn pixels(&mut self, flag: &str) -> Result<usize> {
        let n = self.int(flag)?;
        if n < 1 {
            bail!("{flag}: number of pixels must be at least 1, got {n}");
        }
        Ok(n as usize)
    }
    fn index(&mut self, flag: &str) -> Result<usize> {
        let n = self.int(flag)?;
        if n < 0 {
            bail!("{flag}: a pixel index must not be negative, got {n}");
        }
        Ok(n as usize)
    }
    fn file(&mut self, flag: &str) -> Result<String> {
        let v = self.value(flag, "file name")?;
        if v.is_empty() || (v.starts_with('-') && v.len() > 1) {
            bail!("{flag}: missing file name (got '{v}')");
        }
        Ok(v.to_string())
    }
    fn v3(&mut self, flag: &str) -> Result<[f64; 3]> {
        let mut v = [0.0; 3];
        for x in v.iter_mut() {
            let t = self.value(flag, "three numbers")?;
            *x = match t.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => x,
                _ => bail!("{flag}: expected three numbers, got '{t}'"),
            };
        }
        Ok(v)
    }
    fn dir3(&mut self, flag: &str) -> Result<[f64; 3]> {
        let v = self.v3(flag)?;
        if v.iter().all(|&x| x == 0.0) {
            bail!("{flag}: a direction must not be the zero vector (got 0 0 0)");
        }
        Ok(v)
    }
}

/// Parses the flags onto `base` (the defaults, or the geometry of an -img header).
pub fn parse(argv: &[String], base: Settings) -> Result<Args> {
    let mut a = Args::new(base);
    let mut c = Cursor { argv, i: 0 };
    while c.i < argv.len() {
        let flag = argv[c.i].as_str();
        if !flag_arm(&mut a, &mut c, flag)? {
            if flag.starts_with('-') {
                let hint = match crate::cli::table::closest(flag, all_names()) {
                    Some(n) => format!(": did you mean {n}?"),
                    None => String::new(),
                };
                bail!("nonbragg: unknown option '{flag}'{hint} (see nanobragg nonbragg --help)");
            }
            bail!("nonbragg: unexpected argument '{flag}' (options start with '-')");
        }
        c.i += 1;
    }
    Ok(a)
}

/// Millimetres per metre: lengths on the command line are in mm.
const MM: f64 = 1000.0;

/// One flag: applies it and says whether it is a flag at all.
fn flag_arm(a: &mut Args, c: &mut Cursor, fl: &str) -> Result<bool> {
    Ok(input_flag(a, c, fl)?
        || sample_flag(&mut a.settings, c, fl)?
        || beam_flag(&mut a.settings, c, fl)?
        || detector_size_flag(&mut a.settings, c, fl)?
        || detector_placement_flag(&mut a.settings, c, fl)?
        || sampling_flag(&mut a.settings, c, fl)?
        || output_flag(a, c, fl)?)
}

/// Help and the input files (F table, source list, -img and what to take from it).
fn input_flag(a: &mut Args, c: &mut Cursor, fl: &str) -> Result<bool> {
    match fl {
        "-h" | "-help" | "--help" => a.help = true,
        "-stol" => a.table = Some((c.file(fl)?, StolUnits::Stol)),
        "-Q" => a.table = Some((c.file(fl)?, StolUnits::Q)),
        "-4stol" => a.table = Some((c.file(fl)?, StolUnits::FourStol)),
        "-sourcefile" => a.sourcefile = Some(c.file(fl)?),
        "-img" => a.img = Some(c.file(fl)?),
        "-ignore" => {
            let n = c.int(fl)?;
            if !(0..=65535).contains(&n) {
                bail!("{fl}: a pixel value must be 0 to 65535, got {n}");
            }
            a.ignore.push(n as u16);
        }
        "-stolout" => a.stolout = c.file(fl)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Sample size, density, molecular weight and molecule count.
fn sample_flag(st: &mut Settings, c: &mut Cursor, fl: &str) -> Result<bool> {
    match fl {
        "-thickness" | "-thick" | "-sample_thick" | "-sample_x" => st.sample.thickness = c.nonneg(fl)? / MM,
        "-sample_width" | "-width" | "-sample_y" => st.sample.width = c.nonneg(fl)? / MM,
        "-sample_height" | "-height" | "-sample_z" => st.sample.height = c.nonneg(fl)? / MM,
        "-samplesize" | "-sample_size" => {
            let v = c.nonneg(fl)? / MM;
            (st.sample.thickness, st.sample.width, st.sample.height) = (v, v, v);
        }
        "-density" | "-sample_den" | "-sample_density" => st.sample.density = c.nonneg(fl)?,
        "-MW" | "-molecular" | "-molecular_weight" => st.sample.molecular_weight = c.pos(fl)?,
        "-molecules" | "-sample_molecules" => st.sample.molecules = Some(c.nonneg(fl)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Wavelength, dispersion, divergence, fluence, beam direction and polarization (and the
/// flags accepted without effect).
fn beam_flag(st: &mut Settings, c: &mut Cursor, fl: &str) -> Result<bool> {
    match fl {
        "-lambda" | "-wave" | "-wavelength" => st.beam.wavelength = c.pos(fl)? / 1.0e10,
        "-energy" => st.beam.wavelength = (12398.42 / c.pos(fl)?) / 1.0e10,
        "-dispersion" => st.beam.dispersion = c.nonneg(fl)? / 100.0,
        "-dispsteps" => st.beam.dispsteps = Some(c.count(fl)?),
        "-divergence" => {
            let v = c.nonneg(fl)? / 1000.0;
            (st.beam.hdiv.range, st.beam.vdiv.range) = (Some(v), Some(v));
        }
        "-hdivrange" => st.beam.hdiv.range = Some(c.nonneg(fl)? / 1000.0),
        "-vdivrange" => st.beam.vdiv.range = Some(c.nonneg(fl)? / 1000.0),
        "-hdivstep" => st.beam.hdiv.step = Some(c.nonneg(fl)? / 1000.0),
        "-vdivstep" => st.beam.vdiv.step = Some(c.nonneg(fl)? / 1000.0),
        "-hdivsteps" => st.beam.hdiv.steps = Some(c.count(fl)?),
        "-vdivsteps" => st.beam.vdiv.steps = Some(c.count(fl)?),
        "-divsteps" => {
            let n = c.count(fl)?;
            (st.beam.hdiv.steps, st.beam.vdiv.steps) = (Some(n), Some(n));
        }
        "-round_div" => st.beam.round_div = true,
        "-square_div" => st.beam.round_div = false,
        "-fluence" => st.beam.fluence = c.nonneg(fl)?,
        "-flux" => st.beam.flux = c.nonneg(fl)?,
        "-exposure" => st.beam.exposure = c.nonneg(fl)?,
        "-beamsize" => st.beam.beamsize = c.pos(fl)? / MM,
        "-beam_vector" => st.beam.direction = c.dir3(fl)?,
        "-polar_vector" => st.beam.polarization_axis = c.dir3(fl)?,
        "-polar" => {
            let k = c.num(fl)?;
            if !(-1.0..=1.0).contains(&k) {
                bail!("{fl}: the Kahn factor must be between -1 and 1, got {}", fmt_g(k));
            }
            st.beam.kahn = k;
            st.beam.polarized = true;
        }
        "-nopolar" => st.beam.polarized = false,
        "-source_distance" => st.beam.source_distance = c.pos(fl)? / MM,
        "-coherent" | "-noreject" => {}
        "-spindle_axis" => {
            c.v3(fl)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Detector distance, pixel size, size and pixel counts, and the pixel model.
fn detector_size_flag(st: &mut Settings, c: &mut Cursor, fl: &str) -> Result<bool> {
    match fl {
        "-distance" => {
            st.detector.distance = c.pos(fl)? / MM;
            st.detector.pivot = Pivot::Beam;
        }
        "-close_distance" => {
            st.detector.close_distance = Some(c.pos(fl)? / MM);
            st.detector.pivot = Pivot::Sample;
        }
        "-pixel" => st.detector.pixel = c.pos(fl)? / MM,
        "-detsize" => {
            let v = c.pos(fl)? / MM;
            (st.detector.size_x, st.detector.size_y) = (v, v);
        }
        "-detsize_x" => st.detector.size_x = c.pos(fl)? / MM,
        "-detsize_y" => st.detector.size_y = c.pos(fl)? / MM,
        "-detpixels" => {
            let n = c.pixels(fl)?;
            (st.detector.fpixels, st.detector.spixels) = (Some(n), Some(n));
        }
        "-detpixels_f" | "-detpixels_x" => st.detector.fpixels = Some(c.pixels(fl)?),
        "-detpixels_s" | "-detpixels_y" => st.detector.spixels = Some(c.pixels(fl)?),
        "-curved_det" => st.detector.curved = true,
        "-point_pixel" => st.detector.point_pixel = true,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Beam centre, pivot, two-theta, rotations and the detector axes.
fn detector_placement_flag(st: &mut Settings, c: &mut Cursor, fl: &str) -> Result<bool> {
    let d = &mut st.detector;
    match fl {
        "-Xbeam" => (d.xbeam, d.pivot) = (Some(c.num(fl)? / MM), Pivot::Beam),
        "-Ybeam" => (d.ybeam, d.pivot) = (Some(c.num(fl)? / MM), Pivot::Beam),
        "-Xclose" => (d.xclose, d.pivot) = (Some(c.num(fl)? / MM), Pivot::Sample),
        "-Yclose" => (d.yclose, d.pivot) = (Some(c.num(fl)? / MM), Pivot::Sample),
        "-ORGX" => (d.orgx, d.pivot) = (Some(c.num(fl)?), Pivot::Sample),
        "-ORGY" => (d.orgy, d.pivot) = (Some(c.num(fl)?), Pivot::Sample),
        "-pivot" => {
            d.pivot = match c.value(fl, "beam or sample")? {
                "beam" => Pivot::Beam,
                "sample" => Pivot::Sample,
                other => bail!("{fl}: expected beam or sample, got '{other}'"),
            }
        }
        "-twotheta" => (d.twotheta, d.pivot) = (c.num(fl)? / RTD, Pivot::Sample),
        "-twotheta_axis" => d.twotheta_axis = c.dir3(fl)?,
        "-detector_rotx" => d.rotation[0] = c.num(fl)? / RTD,
        "-detector_roty" => d.rotation[1] = c.num(fl)? / RTD,
        "-detector_rotz" => d.rotation[2] = c.num(fl)? / RTD,
        "-fdet_vector" => d.fast_axis = c.dir3(fl)?,
        "-sdet_vector" => d.slow_axis = c.dir3(fl)?,
        "-pix0_vector" | "-odet_vector" => bail!(
            "{fl}: not supported by nonbragg (the C program reads it and ignores it); place the detector with \
             -distance/-Xbeam/-Ybeam or -close_distance/-ORGX/-ORGY, and orient it with -fdet_vector/-sdet_vector"
        ),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Oversampling, region of interest, -Fmap, and the header's phi values.
fn sampling_flag(st: &mut Settings, c: &mut Cursor, fl: &str) -> Result<bool> {
    match fl {
        "-oversample" => st.oversample = Some(c.count(fl)? as usize),
        "-roi" => {
            let r = [c.index(fl)?, c.index(fl)?, c.index(fl)?, c.index(fl)?];
            if r[0] > r[1] || r[2] > r[3] {
                bail!("{fl}: {} {} {} {} is an empty region (give xmin xmax ymin ymax)", r[0], r[1], r[2], r[3]);
            }
            st.roi = Some(r);
        }
        "-Fmap" => st.fmap = true,
        "-phi" => st.scan.phi = c.num(fl)? / RTD,
        "-osc" => st.scan.osc = Some(c.num(fl)? / RTD),
        "-phistep" => st.scan.phistep = Some(c.num(fl)? / RTD),
        "-phisteps" => st.scan.phisteps = Some(c.count(fl)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Output files, their scales, noise and seed, and what the console shows.
fn output_flag(a: &mut Args, c: &mut Cursor, fl: &str) -> Result<bool> {
    match fl {
        "-floatfile" | "-floatimage" => a.floatfile = c.file(fl)?,
        "-intfile" | "-intimage" => a.intfile = c.file(fl)?,
        "-noisefile" | "-noiseimage" => {
            a.noisefile = c.file(fl)?;
            a.noise = true;
        }
        "-pgmfile" | "-pgmimage" => a.pgmfile = c.file(fl)?,
        "-nonoise" => a.noise = false,
        "-nopgm" => a.pgm = false,
        "-scale" => a.scale = Some(c.nonneg(fl)?),
        "-pgmscale" => a.pgmscale = Some(c.nonneg(fl)?),
        "-adc" => a.adc = c.num(fl)?,
        "-gain" => a.gain = c.pos(fl)?,
        "-seed" => {
            let n = c.int(fl)?;
            if n.abs() > i32::MAX as i64 {
                bail!("{fl}: the seed must fit in 32 bits, got {n}");
            }
            a.seed = Some(n);
        }
        "-printout" => {
            if a.report == Report::None {
                a.report = Report::All;
            }
        }
        "-printout_pixel" => a.report = Report::Pixel(c.index(fl)?, c.index(fl)?),
        "-noprogress" => a.progress = Some(false),
        "-progress" => a.progress = Some(true),
        _ => return Ok(false),
    }
    Ok(true)
}

/// The arguments with the -img header applied first (when there is one), and that image.
fn parse_with_image(argv: &[String]) -> Result<(Args, Option<crate::io::smv::SmvImage>)> {
    let first = parse(argv, Settings::default())?;
    let Some(name) = first.img.clone() else { return Ok((first, None)) };
    let img = crate::io::smv::read_smv(Path::new(&name))?;
    let mut base = Settings::default();
    profile::apply_header(&mut base, &img);
    Ok((parse(argv, base)?, Some(img)))
}

/// `nanobragg nonbragg <flags>`.
pub fn command(argv: &[String]) -> Result<()> {
    if argv.is_empty() {
        print!("{}", help());
        return Ok(());
    }
    let (mut a, img) = parse_with_image(argv)?;
    if a.help {
        print!("{}", help());
        return Ok(());
    }
    let Some((table_name, units)) = a.table.clone() else {
        bail!("nonbragg: no F table given: name one with -stol FILE (or -Q FILE, -4stol FILE); see nanobragg nonbragg --help");
    };
    let table = read_stol_table(Path::new(&table_name), units)?;
    if let Some(name) = &a.sourcefile {
        let (rows, _) = crate::io::sourcefile::read_sourcefile_counted(Path::new(name))?;
        a.settings.beam.sources = rows;
    }
    let setup = resolve(&a.settings)?;
    if let Some(img) = &img {
        if (img.width, img.height) != (setup.fpixels, setup.spixels) {
            bail!(
                "{}: the image is {} x {} pixels but the detector is {} x {} (remove the -detpixels flags)",
                a.img.as_deref().unwrap_or(""),
                img.width,
                img.height,
                setup.fpixels,
                setup.spixels
            );
        }
    }
    let (seed, seed_from_clock) = match a.seed {
        Some(n) => (n, false),
        None => (clock_seed(), true),
    };

    // every output name is checked before the render, so a bad one fails before any work
    let mut outputs = vec![a.floatfile.clone(), a.intfile.clone()];
    if a.pgm {
        outputs.push(a.pgmfile.clone());
    }
    if a.noise {
        outputs.push(a.noisefile.clone());
    }
    if img.is_some() {
        outputs.push(a.stolout.clone());
    }
    for (i, o) in outputs.iter().enumerate() {
        if outputs[..i].contains(o) {
            bail!("{o}: named for two outputs");
        }
    }
    crate::io::products::check_writable(&outputs.iter().map(String::as_str).collect::<Vec<_>>())?;

    let out = std::io::stdout();
    let mut out = out.lock();
    print_summary(&mut out, &a, &setup, &table, &table_name, seed, seed_from_clock);

    let progress_on = a.progress.unwrap_or_else(|| std::io::IsTerminal::is_terminal(&std::io::stderr())) && a.report == Report::None;
    let rendered = render_showing_progress(&setup, &table, img.is_some(), a.report, progress_on)?;
    for r in &rendered.reports {
        let _ = writeln!(out, "{:4} {:4} : stol = {} or {}", r.fpixel, r.spixel, fmt_g(r.stol), fmt_g(r.stol_from_angle));
        let _ = writeln!(out, " F={}    I = {}", fmt_g(r.f), fmt_g(r.intensity));
        let g10 = |x: f64| format!("{:>15}", crate::io::cfmt::fmt_g_prec(x, 10));
        let _ = writeln!(out, "I/steps {}", g10(r.intensity / r.steps as f64));
        let _ = writeln!(out, "polar   {}", g10(r.polar));
        let _ = writeln!(out, "omega   {}", g10(r.omega));
        let _ = writeln!(out, "pixel   {}", g10(r.value as f64));
    }
    let _ = writeln!(
        out,
        "\nsolid angle subtended by detector = {} steradian ( {}% sphere)",
        fmt_g(rendered.omega_sum),
        fmt_g(100.0 * rendered.omega_sum / 4.0 / std::f64::consts::PI)
    );
    let files = products(&a, &setup, &table, &rendered, img.as_ref(), seed, &mut out)?;
    write_all(&files)?;
    for (name, what) in files.iter().map(|f| (&f.0, &f.2)) {
        let _ = writeln!(out, "wrote {name} ({what})");
    }
    Ok(())
}

/// Renders on the worker pool while this thread draws the progress meter (the meter writes
/// to stderr and stays on one thread).
fn render_showing_progress(s: &Setup, table: &StolTable, probes: bool, report: Report, progress_on: bool) -> Result<Rendered> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let done = AtomicUsize::new(0);
    let total = s.fpixels * s.spixels;
    std::thread::scope(|sc| {
        let worker = sc.spawn(|| {
            render_with_progress(s, table, probes, report, &|d, _| {
                done.fetch_max(d, Ordering::Relaxed);
            })
        });
        let mut meter = crate::cli::progress::Meter::new(Some(progress_on));
        while !worker.is_finished() {
            meter.update(done.load(Ordering::Relaxed), total);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        meter.finish();
        worker.join().map_err(|_| Error::new("nonbragg: the render failed (a worker thread panicked)"))
    })
}

/// The noise seed when none is given: the clock, as the reference uses it (printed so the run
/// can be repeated).
fn clock_seed() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(1);
    (secs % (i32::MAX as u64)) as i64
}

fn print_summary(out: &mut impl Write, a: &Args, s: &Setup, table: &StolTable, table_name: &str, seed: i64, seed_from_clock: bool) {
    let g = fmt_g;
    let _ = writeln!(out, "nanobragg nonbragg (nonBragg-compatible amorphous scattering)");
    let _ = writeln!(out, "{}", if s.pivot == Pivot::Sample { "pivoting detector around sample" } else { "pivoting detector around direct beam spot" });
    let _ = writeln!(out, "read {table_name}: {} table points ({})", table.len(), a.table.as_ref().map_or("-stol", |t| t.1.flag()));
    for (h, v) in &s.divergence_offsets {
        let _ = writeln!(out, "divergence deviation: {} {}", g(*h), g(*v));
    }
    let _ = writeln!(out, "  created a total of {} sources:", s.sources.len());
    for src in &s.sources {
        let p = src.position;
        let _ = writeln!(out, "{} {} {}   {} {}", g(p[0]), g(p[1]), g(p[2]), g(src.weight), g(src.wavelength));
    }
    let _ = writeln!(out, "  wave={} meters +/- {}% in {} steps", g(s.wavelength), g(s.dispersion * 100.0), s.dispsteps);
    if s.polarized {
        let _ = writeln!(out, "  Kahn polarization factor: {:.6}", s.kahn);
    } else {
        let _ = writeln!(out, "  polarization effect disabled");
    }
    if s.curved {
        let _ = writeln!(out, "  curved detector: all pixels same distance from origin");
    }
    if s.point_pixel {
        let _ = writeln!(out, "  pixel obliquity effect disabled");
    }
    if s.fmap {
        let _ = writeln!(out, "  Fmap mode: plotting structure factor at every pixel");
    }
    for n in &s.notes {
        let _ = writeln!(out, "{n}");
    }
    let _ = writeln!(out, "  incident fluence: {} photons/m^2", g(s.fluence));
    let _ = writeln!(
        out,
        "  sample is {} m thick x {} m wide x {} m high, {} g/cm^3 and {} g/mol ({} molecules)",
        g(s.thickness),
        g(s.width),
        g(s.height),
        g(s.density),
        g(s.molecular_weight),
        g(s.molecules)
    );
    let _ = writeln!(
        out,
        "  distance={} detsize={}x{}  pixel={} meters ({}x{} pixels)",
        g(s.distance),
        g(s.size_x),
        g(s.size_y),
        g(s.pixel),
        s.fpixels,
        s.spixels
    );
    let v = |x: [f64; 3]| format!("{} {} {}", g(x[0]), g(x[1]), g(x[2]));
    let _ = writeln!(out, "  Xbeam={} Ybeam={}", g(s.xbeam), g(s.ybeam));
    let _ = writeln!(out, "  detector origin: {}", v(s.pix0));
    let _ = writeln!(out, "  DIRECTION_OF_DETECTOR_X-AXIS= {}", v(s.fdet));
    let _ = writeln!(out, "  DIRECTION_OF_DETECTOR_Y-AXIS= {}", v(s.sdet));
    let _ = writeln!(out, "  INCIDENT_BEAM_DIRECTION= {}", v(s.beam));
    let _ = writeln!(out, "  POLARIZATION_PLANE_NORMAL= {}", v(s.polarization_axis));
    let [x0, x1, y0, y1] = s.roi;
    let _ = writeln!(out, "  roi: {x0} <= x <= {x1} && {y0} <= y <= {y1}");
    let _ = writeln!(out, "  hdivrange={} hdivstep={}  radians", g(s.hdivrange), g(s.hdivstep));
    let _ = writeln!(out, "  vdivrange={} vdivstep={}  radians", g(s.vdivrange), g(s.vdivstep));
    if !s.from_source_list {
        let _ = writeln!(out, "  {} divergence steps", s.divsteps);
    }
    let _ = writeln!(out, "  {} sources", s.sources.len());
    let _ = writeln!(out, "  {} pixel oversample steps", s.oversample);
    if a.noise {
        let _ = writeln!(out, "\n  noise image paramters:");
        if seed_from_clock {
            let _ = writeln!(out, "  seed: {} (from the clock; repeat this noise image with -seed {seed})", -seed);
        } else {
            let _ = writeln!(out, "  seed: {}", -seed);
        }
    }
}

/// One output file: name, bytes, a description for the log.
type Product = (String, Vec<u8>, String);

/// Every output file's bytes (computed before anything is written, so a failure leaves none).
fn products(a: &Args, s: &Setup, table: &StolTable, r: &Rendered, img: Option<&crate::io::smv::SmvImage>, seed: i64, out: &mut impl Write) -> Result<Vec<Product>> {
    let g = fmt_g;
    let mut files = Vec::new();
    let mut float_bytes = Vec::with_capacity(4 * r.image.len());
    for v in &r.image {
        float_bytes.extend_from_slice(&v.to_le_bytes());
    }
    files.push((a.floatfile.clone(), float_bytes, format!("{} 4-byte floats", r.image.len())));

    if let (Some(img), Some(probes)) = (img, r.probes.as_ref()) {
        let p: Profile = profile::extract(s, table, probes, &img.data, &a.ignore, a.adc, a.gain);
        for (stol, n) in &p.skipped {
            let _ = writeln!(out, "WARNING: not enough pixels at stol= {} (n={n}): left out of the profile", g(*stol));
        }
        let text = profile::profile_text(&p);
        files.push((a.stolout.clone(), text.into_bytes(), format!("{} profile lines from {} pixels", p.rows.len(), p.valid_pixels)));
    }

    let stats: Stats = images::statistics(s, &r.image);
    let (mf, ms) = stats.max_pixel;
    let _ = writeln!(
        out,
        "max_I = {}  at {} {} (pixel {mf} {ms})",
        g(stats.max),
        g(s.pixel * (mf as f64 + 0.5)),
        g(s.pixel * (ms as f64 + 0.5))
    );
    let _ = writeln!(out, "mean= {} rms= {} rmsd= {}", g(stats.mean), g(stats.rms), g(stats.rmsd));
    let scale = images::int_scale(a.scale, &stats);
    let _ = writeln!(out, "intfile_scale = {}", g(scale));
    let header = images::header_lines(s);
    let ints = images::int_image(s, &r.image, scale, a.adc);
    files.push((a.intfile.clone(), smv_bytes(&a.intfile, &header, s, &ints)?, "2-byte integers".into()));
    if a.pgm {
        let pscale = images::pgm_scale(a.pgmscale, scale, &stats);
        let _ = writeln!(out, "pgm_scale = {}", g(pscale));
        let bytes = images::pgm_bytes(s, &r.image, pscale);
        let mut pgm = crate::io::pgm::pgm_header(s.fpixels, s.spixels, pscale).into_bytes();
        pgm.extend_from_slice(&bytes);
        files.push((a.pgmfile.clone(), pgm, "1-byte integers".into()));
    }
    if a.noise {
        let (noise, photons, overloads) = images::noise_image(s, &r.image, a.adc, -seed);
        let _ = writeln!(out, "{photons:.0} photons on noise image ({overloads} overloads)");
        files.push((a.noisefile.clone(), smv_bytes(&a.noisefile, &header, s, &noise)?, "2-byte integers with Poisson noise".into()));
    }
    Ok(files)
}

/// An SMV file's bytes (header padded to 512 bytes, little-endian pixels).
fn smv_bytes(name: &str, header: &[String], s: &Setup, data: &[u16]) -> Result<Vec<u8>> {
    let mut bytes = crate::io::smv::smv_header_text(header);
    if bytes.len() > crate::io::smv::SMV_HEADER_BYTES {
        bail!("{name}: SMV header does not fit in 512 bytes");
    }
    debug_assert_eq!(data.len(), s.fpixels * s.spixels);
    bytes.reserve(2 * data.len());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    Ok(bytes)
}

/// Writes every file through a temporary name; when one fails, the ones this run already
/// wrote are removed, so no partial set of outputs is left.
fn write_all(files: &[Product]) -> Result<()> {
    for (i, (name, bytes, _)) in files.iter().enumerate() {
        if let Err(e) = crate::io::write_atomic(Path::new(name), bytes) {
            for (done, _, _) in &files[..i] {
                let _ = std::fs::remove_file(done);
            }
            return Err(Error::new(e.0));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn every_listed_name_is_accepted() {
        for name in all_names() {
            let vals = GROUPS.iter().flat_map(|g| g.1.iter()).find(|f| f.names.contains(&name)).unwrap().value;
            let n = if vals.is_empty() { 0 } else { vals.split_whitespace().count() };
            let value = match vals {
                "FILE" => "x.txt",
                "beam|sample" => "sample",
                "X Y Z" => "1",
                _ => "1",
            };
            let mut argv = vec![name.to_string()];
            argv.extend((0..n).map(|_| value.to_string()));
            assert!(parse(&argv, Settings::default()).is_ok(), "{name} refused: {:?}", parse(&argv, Settings::default()).err());
        }
    }

    #[test]
    fn unknown_and_substring_names_are_refused() {
        for bad in ["-hdiv", "-dispstep", "-stolx", "-twotheta_axi", "-thic", "-detpixel"] {
            let e = parse(&args(&format!("{bad} 1")), Settings::default()).unwrap_err().0;
            assert!(e.contains("unknown option") && e.contains(bad) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn last_pivot_flag_wins_and_units_convert() {
        let a = parse(&args("-ORGX 40 -ORGY 90 -distance 90 -detector_roty 4 -pivot sample -pixel 0.15"), Settings::default()).unwrap();
        assert_eq!(a.settings.detector.pivot, Pivot::Sample);
        assert_eq!(a.settings.detector.distance, 90.0 / 1000.0);
        assert_eq!(a.settings.detector.pixel, 0.15 / 1000.0);
        let a = parse(&args("-twotheta 15 -Xbeam 5"), Settings::default()).unwrap();
        assert_eq!(a.settings.detector.pivot, Pivot::Beam);
        let a = parse(&args("-twotheta_axis 0 0 -1 -twotheta 15"), Settings::default()).unwrap();
        assert_eq!(a.settings.detector.twotheta_axis, [0.0, 0.0, -1.0]);
        assert_eq!(a.settings.detector.twotheta, 15.0 / RTD);
        let a = parse(&args("-energy 12398.42 -dispersion 0.5"), Settings::default()).unwrap();
        assert_eq!(a.settings.beam.wavelength, 1e-10);
        assert_eq!(a.settings.beam.dispersion, 0.005);
    }

    #[test]
    fn order_of_switches_is_kept() {
        let a = parse(&args("-noisefile n.img -nonoise"), Settings::default()).unwrap();
        assert!(!a.noise);
        let a = parse(&args("-nonoise -noisefile n.img"), Settings::default()).unwrap();
        assert!(a.noise && a.noisefile == "n.img");
        let a = parse(&args("-nopolar -polar 0.5"), Settings::default()).unwrap();
        assert!(a.settings.beam.polarized);
        let a = parse(&args("-samplesize 0.05 -thickness 0.2"), Settings::default()).unwrap();
        assert_eq!((a.settings.sample.thickness, a.settings.sample.width), (0.2 / 1000.0, 0.05 / 1000.0));
        // -curved_det is a switch wherever it stands
        let a = parse(&args("-pixel 0.1 -curved_det"), Settings::default()).unwrap();
        assert!(a.settings.detector.curved);
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        for (argv, what) in [
            ("-thickness -1", "-thickness"),
            ("-density -0.5", "-density"),
            ("-pixel 0", "-pixel"),
            ("-lambda x", "-lambda"),
            ("-detpixels 0", "-detpixels"),
            ("-roi 5 1 0 3", "-roi"),
            ("-pivot middle", "-pivot"),
            ("-beam_vector 0 0 0", "-beam_vector"),
            ("-stol", "-stol"),
            ("-pix0_vector 0 0 0", "-pix0_vector"),
            ("-polar 2", "-polar"),
        ] {
            let e = parse(&args(argv), Settings::default()).unwrap_err().0;
            assert!(e.contains(what) && !e.contains('\n'), "{argv}: {e}");
        }
    }

    #[test]
    fn help_lists_every_flag_with_units() {
        let h = help();
        for name in all_names() {
            assert!(h.contains(name), "{name} missing from the help");
        }
        assert!(h.contains("[default: floatimage.bin]") && h.contains("<MM>"));
    }
}
