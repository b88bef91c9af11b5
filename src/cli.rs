//! Command-line flags of the C program (single dash, exact names) parsed into [`Options`].
//!
//! Unlike the reference, option names are matched exactly: `-seed` never matches
//! `-mosaic_seed`, and `-misset_seed` is never read as `-misset`.

use crate::error::{Error, Result};
use crate::config::{Convention, Misset, Pivot, Shape};

pub mod batch;
pub mod noisify;
pub mod nonbragg;
pub mod refine;
pub mod progress;
pub mod runfile;
pub mod table;

/// Everything the user typed, in the C program's units as typed (mm, degrees, Angstrom, ...),
/// with `None` meaning "not given". Flags that the C program lets later flags override
/// (pivot, convention) are tracked in the order they were given.
#[derive(Debug, Clone, Default)]
pub struct Options {
    // input files
    pub hkl: Option<String>,
    pub mat: Option<String>,
    pub dump: Option<String>,
    pub img: Option<String>,
    /// DIALS experiment list (`-expt`): beam, multi-panel detector, crystal, scan.
    pub expt: Option<String>,
    pub mask: Option<String>,
    pub sourcefile: Option<String>,
    pub source_weights: bool,
    // crystal
    pub cell: Option<Vec<f64>>,
    /// Build the -cell orientation with the reference's (inexact) c* (`-legacy_cell`).
    pub legacy_cell: bool,
    pub default_f: Option<f64>,
    pub misset: Option<Misset>,
    pub na: Option<f64>,
    pub nb: Option<f64>,
    pub nc: Option<f64>,
    pub sample_x: Option<f64>,
    pub sample_y: Option<f64>,
    pub sample_z: Option<f64>,
    pub shape: Option<Shape>,
    pub fudge: Option<f64>,
    pub mosaic: Option<f64>,
    pub mosaic_domains: Option<i64>,
    pub mosaic_seed: Option<i64>,
    pub misset_seed: Option<i64>,
    pub phi: Option<f64>,
    pub osc: Option<f64>,
    pub phistep: Option<f64>,
    pub phisteps: Option<i64>,
    // detector
    pub pixel: Option<f64>,
    pub detpixels_f: Option<i64>,
    pub detpixels_s: Option<i64>,
    pub detsize_f: Option<f64>,
    pub detsize_s: Option<f64>,
    pub distance: Option<f64>,
    pub close_distance: Option<f64>,
    pub point_pixel: bool,
    pub curved_det: bool,
    pub detector_rot: [Option<f64>; 3],
    pub twotheta: Option<f64>,
    pub twotheta_axis: Option<[f64; 3]>,
    /// `Some(None)` means "inf" / 0: no absorption modelled.
    pub detector_abs: Option<Option<f64>>,
    pub detector_thick: Option<f64>,
    pub detector_thicksteps: Option<i64>,
    pub roi: Option<[i64; 4]>,
    pub pivot: Option<Pivot>,
    pub convention: Option<Convention>,
    pub fdet_vector: Option<[f64; 3]>,
    pub sdet_vector: Option<[f64; 3]>,
    pub odet_vector: Option<[f64; 3]>,
    pub beam_vector: Option<[f64; 3]>,
    pub polar_vector: Option<[f64; 3]>,
    pub spindle_axis: Option<[f64; 3]>,
    pub pix0_vector: Option<[f64; 3]>,
    pub xbeam: Option<f64>,
    pub ybeam: Option<f64>,
    pub xclose: Option<f64>,
    pub yclose: Option<f64>,
    pub orgx: Option<f64>,
    pub orgy: Option<f64>,
    // beam
    pub lambda: Option<f64>,
    pub dispersion: Option<f64>,
    pub dispsteps: Option<i64>,
    pub hdivrange: Option<f64>,
    pub vdivrange: Option<f64>,
    pub hdivstep: Option<f64>,
    pub vdivstep: Option<f64>,
    pub hdivsteps: Option<i64>,
    pub vdivsteps: Option<i64>,
    pub square_div: bool,
    pub polar: Option<f64>,
    pub nopolar: bool,
    pub fluence: Option<f64>,
    pub flux: Option<f64>,
    pub exposure: Option<f64>,
    pub beamsize: Option<f64>,
    // sampling
    pub oversample: Option<i64>,
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,
    pub dmin: Option<f64>,
    /// `Some(true)` = -interpolate, `Some(false)` = -nointerpolate, `None` = automatic.
    pub interpolate: Option<bool>,
    pub water: Option<f64>,
    // outputs
    pub floatfile: Option<String>,
    pub intfile: Option<String>,
    pub noisefile: Option<String>,
    pub pgmfile: Option<String>,
    /// CBF, NeXus (NXmx) and DIALS experiment-list outputs (`-cbffile`, `-nxsfile`, `-write_expt`).
    pub cbffile: Option<String>,
    pub nxsfile: Option<String>,
    pub write_expt: Option<String>,
    /// `-nxs_append`: add the image as the next frame of an existing `-nxsfile` series.
    pub nxs_append: bool,
    /// `-smv_header dials`: SMV headers whose keys dxtbx interprets as we mean them.
    pub smv_header_dials: bool,
    pub scale: Option<f64>,
    pub pgmscale: Option<f64>,
    pub adc: Option<f64>,
    pub seed: Option<i64>,
    pub nonoise: bool,
    pub nopgm: bool,
    pub progress: Option<bool>,
    pub printout: bool,
    pub printout_pixel: Option<[i64; 2]>,
    pub trace_pixel: Option<[i64; 2]>,
    // engine
    pub chunk_elements: Option<usize>,
    /// The engine of forward renders (`-engine auto|fused|tensor|gpu`).
    pub engine: crate::engine::render::Engine,
    /// Render on the GPU (`-device gpu`, burn-wgpu).
    pub gpu: bool,
    /// A software Vulkan driver may stand in for the GPU (`-device gpu:software`).
    pub gpu_software: bool,
    /// `-precision f32|f64` (CPU default f64; the GPU uses f32).
    pub precision: Option<crate::engine::device::Precision>,
    pub threads: Option<usize>,
    pub help: bool,
}

fn num(flag: &str, s: &str) -> Result<f64> {
    let t = s.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Error::new(format!("{flag}: expected a number, got '{s}'"))),
    }
}

fn int(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Ok(v);
    }
    // accept integral floats such as "5.0" or "1e3"
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
        _ => Err(Error::new(format!("{flag}: expected an integer, got '{s}'"))),
    }
}

struct Args<'a> {
    argv: &'a [String],
    i: usize,
}

impl<'a> Args<'a> {
    fn value(&mut self, flag: &str, what: &str) -> Result<&'a str> {
        if self.i + 1 >= self.argv.len() {
            return Err(Error::new(format!("{flag}: missing {what}")));
        }
        self.i += 1;
        Ok(self.argv[self.i].as_str())
    }
    fn f(&mut self, flag: &str) -> Result<f64> {
        let v = self.value(flag, "value")?;
        num(flag, v)
    }
    fn n(&mut self, flag: &str) -> Result<i64> {
        let v = self.value(flag, "value")?;
        int(flag, v)
    }
    /// A number that must not be negative (0 usually means "not given", as in the reference).
    fn nonneg(&mut self, flag: &str) -> Result<f64> {
        let v = self.f(flag)?;
        if v < 0.0 {
            return Err(Error::new(format!("{flag}: must not be negative, got {v}")));
        }
        Ok(v)
    }
    /// A count that must not be negative (0 means "not given").
    fn count(&mut self, flag: &str) -> Result<i64> {
        let n = self.n(flag)?;
        if n < 0 {
            return Err(Error::new(format!("{flag}: must not be negative, got {n}")));
        }
        Ok(n)
    }
    /// Unit cells along an axis: not negative (0 is the reference's isolated cell, rendered as
    /// 1; a negative count is deviation 18 of specs/physics.md).
    fn cells(&mut self, flag: &str) -> Result<f64> {
        let n = self.n(flag)?;
        if n < 0 {
            return Err(Error::new(format!("{flag}: a crystal cannot be a negative number of unit cells, got {n}")));
        }
        Ok(n as f64)
    }
    /// A pixel count: at least 1.
    fn pixels(&mut self, flag: &str) -> Result<i64> {
        let n = self.n(flag)?;
        if n < 1 {
            return Err(Error::new(format!("{flag}: number of pixels must be at least 1, got {n}")));
        }
        Ok(n)
    }
    fn s(&mut self, flag: &str) -> Result<String> {
        let v = self.value(flag, "file name")?;
        // a name that looks like an option is a forgotten file name (write ./-name for a file
        // that really starts with a dash)
        if v.starts_with('-') && v.len() > 1 {
            return Err(Error::new(format!("{flag}: missing file name (got the option '{v}')")));
        }
        Ok(v.to_string())
    }
    fn v3(&mut self, flag: &str) -> Result<[f64; 3]> {
        let mut v = [0.0; 3];
        for x in v.iter_mut() {
            let t = self.value(flag, "three numbers")?;
            *x = num(flag, t)?;
        }
        Ok(v)
    }
    /// A direction: three numbers, not all zero (a zero vector has no direction to normalise).
    fn dir3(&mut self, flag: &str) -> Result<[f64; 3]> {
        let v = self.v3(flag)?;
        if v.iter().all(|&x| x == 0.0) {
            return Err(Error::new(format!("{flag}: a direction must not be the zero vector (got 0 0 0)")));
        }
        Ok(v)
    }
    /// The next argument, if it exists and looks like a number (C: does not start with '-').
    fn optional_number(&mut self, flag: &str) -> Result<Option<f64>> {
        match self.argv.get(self.i + 1) {
            Some(t) if !t.starts_with('-') => {
                self.i += 1;
                Ok(Some(num(flag, t)?))
            }
            _ => Ok(None),
        }
    }
}

/// Parse the simulation flags (everything after the program name). Each group of flags has
/// its own function, which takes the flag's values and says whether the flag is one of its own.
pub fn parse(argv: &[String]) -> Result<Options> {
    let mut o = Options::default();
    let mut a = Args { argv, i: 0 };
    while a.i < argv.len() {
        let flag = argv[a.i].as_str();
        let known = input_flag(&mut o, &mut a, flag)?
            || crystal_flag(&mut o, &mut a, flag)?
            || detector_flag(&mut o, &mut a, flag)?
            || frame_flag(&mut o, &mut a, flag)?
            || beam_flag(&mut o, &mut a, flag)?
            || sampling_flag(&mut o, &mut a, flag)?
            || output_flag(&mut o, &mut a, flag)?
            || engine_flag(&mut o, &mut a, flag)?;
        if !known {
            if flag.starts_with('-') {
                let hint = match table::closest(flag, table::all_names()) {
                    Some(n) => format!(": did you mean {n}?"),
                    None => String::new(),
                };
                return Err(Error::new(format!("unknown option '{flag}'{hint} (see -h for the list)")));
            }
            return Err(Error::new(format!("unexpected argument '{flag}' (options start with '-')")));
        }
        a.i += 1;
    }
    Ok(o)
}

/// Help and input files.
fn input_flag(o: &mut Options, a: &mut Args, f: &str) -> Result<bool> {
    match f {
        "-h" | "--help" | "-help" => o.help = true,
        "-hkl" => o.hkl = Some(a.s(f)?),
        "-mat" | "-matrix" => o.mat = Some(a.s(f)?),
        "-dump" => o.dump = Some(a.s(f)?),
        "-img" => o.img = Some(a.s(f)?),
        "-expt" => o.expt = Some(a.s(f)?),
        "-mask" => o.mask = Some(a.s(f)?),
        "-sourcefile" => o.sourcefile = Some(a.s(f)?),
        "-source_weights" => o.source_weights = true,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Cell, orientation, size, shape, mosaicity and rotation.
fn crystal_flag(o: &mut Options, a: &mut Args, f: &str) -> Result<bool> {
    match f {
        "-cell" => {
            let mut v = Vec::new();
            while v.len() < 6 {
                match a.optional_number(f)? {
                    Some(x) => v.push(x),
                    None => break,
                }
            }
            if v.len() < 6 {
                // the C program reads six values whatever follows; fewer is a typo, not a cell
                let next = match a.argv.get(a.i + 1) {
                    Some(t) => format!(" before '{t}'"),
                    None => String::new(),
                };
                return Err(Error::new(format!(
                    "-cell: missing values: expected 6 numbers (a b c alpha beta gamma), got {}{next}",
                    v.len()
                )));
            }
            for (i, &x) in v.iter().enumerate() {
                // 0 means "default" (lengths: a, angles: 90), as in the reference
                if x < 0.0 || (i >= 3 && x >= 180.0) {
                    return Err(Error::new(format!(
                        "-cell: {} {x} is impossible (lengths must be positive, angles between 0 and 180 degrees)",
                        ["a", "b", "c", "alpha", "beta", "gamma"][i]
                    )));
                }
            }
            o.cell = Some(v);
        }
        "-legacy_cell" => o.legacy_cell = true,
        "-default_F" => o.default_f = Some(a.f(f)?),
        "-misset" => {
            let first = a.value(f, "angles or 'random'")?;
            if first.starts_with("rand") {
                o.misset = Some(Misset::Random);
            } else {
                let x = num(f, first)?;
                let y = a.f(f)?;
                let z = a.f(f)?;
                o.misset = Some(Misset::Angles([x, y, z]));
            }
        }
        "-N" => {
            let n = a.cells(f)?;
            o.na = Some(n);
            o.nb = Some(n);
            o.nc = Some(n);
        }
        "-Na" => o.na = Some(a.cells(f)?),
        "-Nb" => o.nb = Some(a.cells(f)?),
        "-Nc" => o.nc = Some(a.cells(f)?),
        "-samplesize" | "-sample_size" | "-xtalsize" | "-xtal_size" => {
            let v = a.nonneg(f)?;
            o.sample_x = Some(v);
            o.sample_y = Some(v);
            o.sample_z = Some(v);
        }
        "-sample_thick" | "-sample_x" | "-xtal_thick" | "-xtal_x" => o.sample_x = Some(a.nonneg(f)?),
        "-sample_width" | "-sample_y" | "-width" | "-xtal_width" | "-xtal_y" => {
            o.sample_y = Some(a.nonneg(f)?)
        }
        "-sample_height" | "-sample_z" | "-height" | "-xtal_height" | "-xtal_z" => {
            o.sample_z = Some(a.nonneg(f)?)
        }
        // accepted for compatibility; they do not change the image
        "-density" | "-sample_density" | "-MW" | "-molecular_weight" => {
            a.f(f)?;
        }
        "-square_xtal" => o.shape = Some(Shape::Square),
        "-round_xtal" => o.shape = Some(Shape::Round),
        "-gauss_xtal" => o.shape = Some(Shape::Gauss),
        "-tophat_spots" | "-binary_spots" => o.shape = Some(Shape::Tophat),
        "-fudge" => {
            let v = a.f(f)?;
            if v <= 0.0 {
                return Err(Error::new(format!("-fudge: must be positive, got {v}")));
            }
            o.fudge = Some(v);
        }
        "-mosaic" | "-mosaici" | "-mosaic_spr" | "-mosaic_spread" => o.mosaic = Some(a.nonneg(f)?),
        "-mosaic_dom" | "-mosaic_domains" => o.mosaic_domains = Some(a.count(f)?),
        "-mosaic_seed" => o.mosaic_seed = Some(a.n(f)?),
        "-misset_seed" => o.misset_seed = Some(a.n(f)?),
        "-phi" => o.phi = Some(a.f(f)?),
        "-osc" => o.osc = Some(a.f(f)?),
        "-phistep" => o.phistep = Some(a.f(f)?),
        "-phisteps" => o.phisteps = Some(a.count(f)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Detector size, distance, rotations, sensor and region of interest.
fn detector_flag(o: &mut Options, a: &mut Args, f: &str) -> Result<bool> {
    match f {
        "-pixel" => o.pixel = Some(a.f(f)?),
        "-detpixels" => {
            let n = a.pixels(f)?;
            o.detpixels_f = Some(n);
            o.detpixels_s = Some(n);
        }
        "-detpixels_f" | "-detpixels_x" => o.detpixels_f = Some(a.pixels(f)?),
        "-detpixels_s" | "-detpixels_y" => o.detpixels_s = Some(a.pixels(f)?),
        "-detsize" => {
            let v = a.f(f)?;
            o.detsize_f = Some(v);
            o.detsize_s = Some(v);
        }
        "-detsize_f" | "-detsize_x" => o.detsize_f = Some(a.f(f)?),
        "-detsize_s" | "-detsize_y" => o.detsize_s = Some(a.f(f)?),
        "-distance" => {
            let v = a.f(f)?;
            if v <= 0.0 {
                return Err(Error::new(format!("-distance: must be positive, got {v} mm")));
            }
            o.distance = Some(v);
            o.pivot = Some(Pivot::Beam);
        }
        "-close_distance" => {
            // deviation 16 (specs/physics.md): the reference renders a detector behind the sample
            let v = a.f(f)?;
            if v <= 0.0 {
                return Err(Error::new(format!("-close_distance: must be positive, got {v} mm")));
            }
            o.close_distance = Some(v);
            o.pivot = Some(Pivot::Sample);
        }
        "-point_pixel" => o.point_pixel = true,
        "-curved_det" => o.curved_det = true,
        "-detector_rotx" => o.detector_rot[0] = Some(a.f(f)?),
        "-detector_roty" => o.detector_rot[1] = Some(a.f(f)?),
        "-detector_rotz" => o.detector_rot[2] = Some(a.f(f)?),
        "-twotheta" => {
            o.twotheta = Some(a.f(f)?);
            o.pivot = Some(Pivot::Sample);
        }
        "-twotheta_axis" => {
            o.twotheta_axis = Some(a.dir3(f)?);
            o.convention = Some(Convention::Custom);
        }
        "-detector_abs" | "-detector_absorb" => {
            let t = a.value(f, "attenuation depth (um) or 'inf'")?;
            if t.starts_with("inf") {
                o.detector_abs = Some(None);
            } else {
                let v = num(f, t)?;
                o.detector_abs = Some(if v == 0.0 { None } else { Some(v) });
            }
        }
        "-detector_thick" => o.detector_thick = Some(a.nonneg(f)?),
        "-detector_thicksteps" | "-thicksteps" => o.detector_thicksteps = Some(a.count(f)?),
        "-roi" => {
            let mut r = [0i64; 4];
            for x in r.iter_mut() {
                let t = a.value(f, "four pixel limits (xmin xmax ymin ymax)")?;
                *x = int(f, t)?;
            }
            o.roi = Some(r);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Pivot, convention, lab-frame vectors and beam centre (each sets the pivot or
/// convention the reference ties to it).
fn frame_flag(o: &mut Options, a: &mut Args, f: &str) -> Result<bool> {
    match f {
        "-pivot" => {
            let t = a.value(f, "'sample' or 'beam'")?;
            o.pivot = Some(match t {
                "sample" => Pivot::Sample,
                "beam" => Pivot::Beam,
                _ => return Err(Error::new(format!("-pivot: expected 'sample' or 'beam', got '{t}'"))),
            });
        }
        "-mosflm" => {
            o.convention = Some(Convention::Mosflm);
            o.pivot = Some(Pivot::Beam);
        }
        "-xds" => {
            o.convention = Some(Convention::Xds);
            o.pivot = Some(Pivot::Sample);
        }
        "-adxv" => {
            o.convention = Some(Convention::Adxv);
            o.pivot = Some(Pivot::Beam);
        }
        "-denzo" => {
            o.convention = Some(Convention::Denzo);
            o.pivot = Some(Pivot::Beam);
        }
        "-dials" => {
            o.convention = Some(Convention::Dials);
            o.pivot = Some(Pivot::Beam);
        }
        "-fdet_vector" | "-sdet_vector" | "-odet_vector" | "-beam_vector" | "-polar_vector"
        | "-spindle_axis" | "-pix0_vector" => {
            // pix0 is a position (the origin is a valid one); the others are directions
            let v = if f == "-pix0_vector" { a.v3(f)? } else { a.dir3(f)? };
            o.convention = Some(Convention::Custom);
            match f {
                "-fdet_vector" => o.fdet_vector = Some(v),
                "-sdet_vector" => o.sdet_vector = Some(v),
                "-odet_vector" => o.odet_vector = Some(v),
                "-beam_vector" => o.beam_vector = Some(v),
                "-polar_vector" => o.polar_vector = Some(v),
                "-spindle_axis" => o.spindle_axis = Some(v),
                _ => o.pix0_vector = Some(v),
            }
        }
        "-Xbeam" => {
            o.xbeam = Some(a.f(f)?);
            o.pivot = Some(Pivot::Beam);
        }
        "-Ybeam" => {
            o.ybeam = Some(a.f(f)?);
            o.pivot = Some(Pivot::Beam);
        }
        "-Xclose" => {
            o.xclose = Some(a.f(f)?);
            o.pivot = Some(Pivot::Sample);
        }
        "-Yclose" => {
            o.yclose = Some(a.f(f)?);
            o.pivot = Some(Pivot::Sample);
        }
        "-ORGX" => {
            o.orgx = Some(a.f(f)?);
            o.pivot = Some(Pivot::Sample);
        }
        "-ORGY" => {
            o.orgy = Some(a.f(f)?);
            o.pivot = Some(Pivot::Sample);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Wavelength, divergence, dispersion, polarization and fluence.
fn beam_flag(o: &mut Options, a: &mut Args, f: &str) -> Result<bool> {
    match f {
        "-lambda" | "-wave" => {
            o.lambda = Some(a.f(f)?);
        }
        "-energy" => {
            let e = a.f(f)?;
            if e <= 0.0 {
                return Err(Error::new(format!("-energy: photon energy must be positive, got {e} eV")));
            }
            o.lambda = Some(crate::physics::constants::HC_EV_ANGSTROM / e);
        }
        "-dispersion" => o.dispersion = Some(a.nonneg(f)?),
        "-dispsteps" => o.dispsteps = Some(a.count(f)?),
        "-divergence" => {
            let v = a.nonneg(f)?;
            o.hdivrange = Some(v);
            o.vdivrange = Some(v);
        }
        "-hdivrange" => o.hdivrange = Some(a.nonneg(f)?),
        "-vdivrange" => o.vdivrange = Some(a.nonneg(f)?),
        "-hdivstep" => o.hdivstep = Some(a.nonneg(f)?),
        "-vdivstep" => o.vdivstep = Some(a.nonneg(f)?),
        "-hdivsteps" => o.hdivsteps = Some(a.count(f)?),
        "-vdivsteps" => o.vdivsteps = Some(a.count(f)?),
        "-divsteps" => {
            let n = a.count(f)?;
            o.hdivsteps = Some(n);
            o.vdivsteps = Some(n);
        }
        "-square_div" => o.square_div = true,
        "-round_div" => o.square_div = false,
        "-polar" => {
            let k = a.f(f)?;
            if !(-1.0..=1.0).contains(&k) {
                return Err(Error::new(format!("-polar: the Kahn polarization factor must be between -1 and 1, got {k}")));
            }
            o.polar = Some(k);
            o.nopolar = false;
        }
        "-nopolar" => o.nopolar = true,
        "-fluence" => o.fluence = Some(a.f(f)?),
        "-flux" => o.flux = Some(a.nonneg(f)?),
        "-exposure" => o.exposure = Some(a.nonneg(f)?),
        "-beamsize" => o.beamsize = Some(a.nonneg(f)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Oversampling, resolution limit, interpolation and background.
fn sampling_flag(o: &mut Options, a: &mut Args, f: &str) -> Result<bool> {
    match f {
        "-oversample" => o.oversample = Some(a.n(f)?),
        "-oversample_thick" => o.oversample_thick = true,
        "-oversample_polar" => o.oversample_polar = true,
        "-oversample_omega" => o.oversample_omega = true,
        "-dmin" => o.dmin = Some(a.nonneg(f)?),
        "-interpolate" => o.interpolate = Some(true),
        "-nointerpolate" => o.interpolate = Some(false),
        "-water" => o.water = Some(a.nonneg(f)?),
        "-coherent" => {}
        _ => return Ok(false),
    }
    Ok(true)
}

/// Output files, scaling, noise, progress and traces.
fn output_flag(o: &mut Options, a: &mut Args, f: &str) -> Result<bool> {
    match f {
        "-floatfile" | "-floatimage" => o.floatfile = Some(a.s(f)?),
        "-intfile" | "-intimage" => o.intfile = Some(a.s(f)?),
        "-noisefile" | "-noiseimage" => o.noisefile = Some(a.s(f)?),
        "-pgmfile" | "-pgmimage" => o.pgmfile = Some(a.s(f)?),
        "-cbffile" => o.cbffile = Some(a.s(f)?),
        "-nxsfile" => o.nxsfile = Some(a.s(f)?),
        "-write_expt" => o.write_expt = Some(a.s(f)?),
        "-nxs_append" => o.nxs_append = true,
        "-smv_header" => {
            o.smv_header_dials = match a.value(f, "'c' or 'dials'")? {
                "dials" => true,
                "c" => false,
                v => return Err(Error::new(format!("-smv_header: expected 'c' or 'dials', got '{v}'"))),
            }
        }
        "-scale" => o.scale = Some(a.f(f)?),
        "-pgmscale" => o.pgmscale = Some(a.f(f)?),
        "-adc" => o.adc = Some(a.f(f)?),
        "-seed" => o.seed = Some(a.n(f)?),
        "-nonoise" => o.nonoise = true,
        "-nopgm" => o.nopgm = true,
        "-noprogress" => o.progress = Some(false),
        "-progress" => o.progress = Some(true),
        "-printout" => o.printout = true,
        "-printout_pixel" => {
            let fp = a.n(f)?;
            let sp = a.n(f)?;
            o.printout_pixel = Some([fp, sp]);
            o.printout = true;
        }
        "-trace_pixel" => {
            let sp = a.n(f)?;
            let fp = a.n(f)?;
            o.trace_pixel = Some([sp, fp]);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Batch size, threads, device, precision and engine.
fn engine_flag(o: &mut Options, a: &mut Args, f: &str) -> Result<bool> {
    match f {
        "-memory_mb" => {
            // a batch keeps a few dozen float64 tensors of chunk_elements values alive
            let mb = a.f(f)?;
            if !(mb >= 1.0) {
                return Err(Error::new("-memory_mb: the budget must be at least 1 MB"));
            }
            o.chunk_elements = Some(((mb * 1024.0 * 1024.0) / (8.0 * 64.0)).max(1.0) as usize);
        }
        "-chunk_elements" => {
            let n = a.n(f)?;
            if n < 1 {
                return Err(Error::new("-chunk_elements: must be at least 1"));
            }
            o.chunk_elements = Some(n as usize);
        }
        "-device" => {
            let v = a.value(f, "'cpu' or 'gpu'")?;
            o.gpu = match v {
                "gpu" => true,
                // a software Vulkan driver may stand in for a GPU only when asked
                "gpu:software" => {
                    o.gpu_software = true;
                    true
                }
                "cpu" => {
                    o.gpu_software = false;
                    false
                }
                _ => return Err(Error::new(format!("-device: expected 'cpu', 'gpu' or 'gpu:software', got '{v}'"))),
            };
        }
        "-precision" => {
            let v = a.value(f, "'f32' or 'f64'")?;
            o.precision = Some(match v {
                "f32" | "float32" | "single" => crate::engine::device::Precision::F32,
                "f64" | "float64" | "double" => crate::engine::device::Precision::F64,
                _ => return Err(Error::new(format!("-precision: expected 'f32' or 'f64', got '{v}'"))),
            });
        }
        "-engine" => {
            let v = a.value(f, "auto, fused, tensor or gpu")?;
            o.engine = crate::engine::render::Engine::parse(v)
                .ok_or_else(|| Error::new(format!("-engine: expected auto, fused, tensor or gpu, got '{v}'")))?;
        }
        "-threads" | "-nthreads" => {
            let n = a.n(f)?;
            if n < 1 {
                return Err(Error::new(format!("{f}: must be at least 1")));
            }
            o.threads = Some(n as usize);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The subcommands of the program.
pub const COMMANDS: [&str; 8] = ["render", "grad", "gradcheck", "refine", "completions", "help", "batch", "nonbragg"];

/// A clap error as one line: what was wrong and, for a typo, the closest valid name.
pub fn clap_error(e: &clap::Error, command: &str) -> Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let get = |k| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let hint = |k| get(k).map(|s| format!(": did you mean {s}?")).unwrap_or_default();
    let text = match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = get(ContextKind::InvalidArg).unwrap_or_default();
            format!("{command}: unknown option '{arg}'{} (see {command} --help)", hint(ContextKind::SuggestedArg))
        }
        ErrorKind::InvalidSubcommand => {
            let sub = get(ContextKind::InvalidSubcommand).unwrap_or_default();
            // the closest by edits (clap's own pick can prefer refine to render for "rendr")
            let hint = table::closest(&sub, COMMANDS).map(|s| format!(": did you mean {s}?")).unwrap_or_default();
            format!("unknown command '{sub}'{hint} (see --help)")
        }
        ErrorKind::MissingRequiredArgument => {
            let missing = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v.join(" "),
                _ => "an argument".into(),
            };
            format!("{command}: missing {missing}")
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or("bad arguments");
            format!("{command}: {}", first.trim_start_matches("error: "))
        }
    };
    // the program's name already starts every error line
    Error::new(text.strip_prefix("nanobragg: ").unwrap_or(&text))
}

/// Parse with clap; `None` when clap printed the help or the version (a success).
pub fn clap_matches(cmd: clap::Command, argv: Vec<String>, command: &str) -> Result<Option<clap::ArgMatches>> {
    match cmd.try_get_matches_from(argv) {
        Ok(m) => Ok(Some(m)),
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            let _ = e.print();
            Ok(None)
        }
        Err(e) => Err(clap_error(&e, command)),
    }
}

/// Usage line of a render.
pub const USAGE: &str = "nanobragg [render] -cell a b c al be ga | -mat A.mat   -hkl F.hkl | -default_F F   [flags]";

/// Help text of a render (`-h`, `render --help`), made from the flag table.
pub fn help() -> String {
    format!(
        "nanobragg: absolute-scale diffraction images of small crystals (nanoBragg-compatible)\n\nusage: {USAGE}\n\n{}",
        table::flags_help()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn exact_names_only() {
        assert!(parse(&args("-seedy 3")).is_err());
        let o = parse(&args("-misset_seed 777 -misset random -mosaic_seed 5 -seed 9")).unwrap();
        assert_eq!(o.misset_seed, Some(777));
        assert_eq!(o.misset, Some(Misset::Random));
        assert_eq!(o.mosaic_seed, Some(5));
        assert_eq!(o.seed, Some(9));
    }

    #[test]
    fn cell_takes_six_numbers_and_pivot_follows_order() {
        let o = parse(&args("-cell 70 80 90 90 90 90 -N 5 -xds -distance 100")).unwrap();
        assert_eq!(o.cell, Some(vec![70.0, 80.0, 90.0, 90.0, 90.0, 90.0]));
        for short in ["-cell 70 80", "-cell 70 80 90 -N 5", "-cell 70 80 90 90 90"] {
            let e = parse(&args(short)).unwrap_err();
            assert!(e.0.starts_with("-cell: missing values") && e.0.contains("6 numbers"), "{short}: {e}");
        }
        assert_eq!(o.pivot, Some(Pivot::Beam));
        assert_eq!(o.convention, Some(Convention::Xds));
        let o = parse(&args("-distance 100 -twotheta 5")).unwrap();
        assert_eq!(o.pivot, Some(Pivot::Sample));
    }

    #[test]
    fn legacy_cell_is_a_switch_with_an_exact_name() {
        assert!(!parse(&args("-cell 70 80 90 75 85 95")).unwrap().legacy_cell);
        let o = parse(&args("-legacy_cell -cell 70 80 90 75 85 95 -N 5")).unwrap();
        assert!(o.legacy_cell);
        assert_eq!(o.cell, Some(vec![70.0, 80.0, 90.0, 75.0, 85.0, 95.0]));
        assert_eq!(o.na, Some(5.0));
        assert!(parse(&args("-legacy")).is_err());
        assert!(parse(&args("-legacy_cells")).is_err());
    }

    #[test]
    fn bad_numbers_and_missing_values_are_errors() {
        let e = parse(&args("-lambda abc")).unwrap_err();
        assert!(e.0.contains("-lambda"), "{e}");
        assert!(parse(&args("-distance")).is_err());
        assert!(parse(&args("-N 2.5")).is_err());
        assert!(parse(&args("-fdet_vector 1 0")).is_err());
        assert!(parse(&args("stray")).is_err());
    }

    #[test]
    fn zero_directions_are_errors_but_a_zero_pix0_is_not() {
        for flag in ["-fdet_vector", "-sdet_vector", "-odet_vector", "-beam_vector", "-polar_vector", "-spindle_axis", "-twotheta_axis"] {
            let e = parse(&args(&format!("{flag} 0 0 0"))).unwrap_err();
            assert!(e.0.starts_with(flag) && e.0.contains("zero vector"), "{e}");
            assert!(parse(&args(&format!("{flag} 0 0 -1e-3"))).is_ok(), "{flag}");
        }
        assert_eq!(parse(&args("-pix0_vector 0 0 0")).unwrap().pix0_vector, Some([0.0; 3]));
    }

    #[test]
    fn every_name_is_unique_and_parsed() {
        let names: Vec<&str> = table::all_names().collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} listed twice");
            // a switch parses alone; a flag with values complains about them, never about its name
            match parse(&[n.to_string()]) {
                Ok(_) => {}
                Err(e) => assert!(!e.0.contains("unknown option"), "{n}: {e}"),
            }
        }
    }

    #[test]
    fn every_parsed_name_is_listed() {
        // the flag names in the parser's match arms: quoted words starting with one dash
        let src = include_str!("cli.rs");
        let names: Vec<&str> = table::all_names().collect();
        for line in src.lines().filter(|l| l.contains("=>") || l.trim_start().starts_with('|')) {
            for part in line.split('"').skip(1).step_by(2) {
                let is_flag = part.starts_with('-') && part.len() > 1 && part[1..].chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if is_flag && !part[1..].starts_with(|c: char| c.is_ascii_digit()) {
                    assert!(names.contains(&part), "{part} is parsed but not in the flag table");
                }
            }
        }
    }
}
