//! Every flag of a render, declared once: its names, the values it takes, its help and
//! default, how it sets the typed [`Config`] (converting the C program's units to SI) and how
//! a run file writes it back. The parser ([`super::parse`]), the help text, the typo suggestions,
//! run files and their round-trip test are all made from this table.

use super::args::{self, Args};
use super::settings::{Convention, Engine, Misset, Pivot, Precision, PsfShape, Shape, StolUnits};
use super::types::Config;
use crate::error::{Error, Result};
use crate::physics::constants::RTD;

/// Sets the flag's part of the configuration from its values (`f` is the name typed).
pub type Set = fn(&mut Config, &mut Args, &str) -> Result<()>;
/// The flag's values that rebuild the configuration's part (`None`: not written; several
/// flags that set one value, such as `-N`, leave it to the most specific one).
pub type Get = fn(&Config) -> Option<Vec<Val>>;

/// One argument of a flag, typed for run files.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    I(i64),
    F(f64),
    S(String),
}

/// One flag (with its aliases; the first name is its run-file key).
pub struct Flag {
    pub names: &'static [&'static str],
    /// The values it takes, as shown in the help ("" for a switch).
    pub value: &'static str,
    pub help: &'static str,
    /// The default where one is known ("" for none or "derived").
    pub default: &'static str,
    pub set: Set,
    pub get: Get,
}

pub struct Group {
    pub title: &'static str,
    pub flags: &'static [Flag],
}

const fn flag(names: &'static [&'static str], value: &'static str, help: &'static str, default: &'static str, set: Set, get: Get) -> Flag {
    Flag { names, value, help, default, set, get }
}

// units of the command line, per SI unit
const MM: f64 = 1000.0;
const UM: f64 = 1e6;
const MRAD: f64 = 1000.0;
const PERCENT: f64 = 100.0;
const ANGSTROM: f64 = 1e10;

/// A value typed in `per` units per SI unit, in SI (the division the reference does).
fn si(x: f64, per: f64) -> f64 {
    x / per
}
fn rad(deg: f64) -> f64 {
    deg / RTD
}

fn none(_: &Config) -> Option<Vec<Val>> {
    None
}
fn on(b: bool) -> Option<Vec<Val>> {
    b.then(Vec::new)
}
fn num(x: Option<f64>, per: f64) -> Option<Vec<Val>> {
    x.map(|v| vec![Val::F(v * per)])
}
/// The inverse of a value read as `x * unit` (dividing round-trips where multiplying by
/// 1/unit does not).
fn times(x: Option<f64>, unit: f64) -> Option<Vec<Val>> {
    x.map(|v| vec![Val::F(v / unit)])
}
fn deg(x: Option<f64>) -> Option<Vec<Val>> {
    x.map(|v| vec![Val::F(v * RTD)])
}
fn int(x: Option<i64>) -> Option<Vec<Val>> {
    x.map(|v| vec![Val::I(v)])
}
fn text(x: &Option<String>) -> Option<Vec<Val>> {
    x.as_ref().map(|s| vec![Val::S(s.clone())])
}
fn word(b: bool, w: &str) -> Option<Vec<Val>> {
    b.then(|| vec![Val::S(w.to_string())])
}
fn vector(x: Option<[f64; 3]>) -> Option<Vec<Val>> {
    x.map(|v| v.iter().map(|&c| Val::F(c)).collect())
}
fn ints(x: &[i64]) -> Option<Vec<Val>> {
    Some(x.iter().map(|&v| Val::I(v)).collect())
}

/// `-spectrum_lines E W [E W ...]`: energy (eV) and weight pairs, checked as a spectrum
/// file's lines are when the experiment is built.
fn spectrum_lines(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let mut v = Vec::new();
    while let Some(x) = a.optional_number(f)? {
        v.push(x);
    }
    if v.is_empty() || v.len() % 2 != 0 {
        return Err(Error::new(format!("{f}: expected pairs of numbers (energy in eV, weight), got {} number(s)", v.len())));
    }
    c.beam.spectrum_lines = Some(v.chunks(2).map(|p| (p[0], p[1])).collect());
    Ok(())
}

/// `-stol FILE [FILE ...]` (or `-4stol`, `-Q`): the names up to the next flag (at least one).
/// The tables of a run share one first column, so two of these flags at once are refused.
fn stol_files(c: &mut Config, a: &mut Args, f: &str, column: StolUnits) -> Result<()> {
    let bg = &mut c.background;
    if !bg.stol_files.is_empty() && bg.stol_units != column {
        return Err(Error::new(format!("{f}: the tables are already given with {}; give every table with one of -stol, -4stol, -Q", bg.stol_units.flag())));
    }
    let mut files = vec![a.s(f)?];
    while let Some(t) = a.peek().filter(|t| !t.starts_with('-')) {
        files.push(t.to_string());
        a.advance();
    }
    bg.stol_files = files;
    bg.stol_units = column;
    Ok(())
}
fn stol_files_of(c: &Config, column: StolUnits) -> Option<Vec<Val>> {
    let bg = &c.background;
    (!bg.stol_files.is_empty() && bg.stol_units == column).then(|| bg.stol_files.iter().map(|f| Val::S(f.clone())).collect())
}

/// One or more non-negative numbers up to the next flag, in `per` units per SI unit.
fn numbers(a: &mut Args, f: &str, per: f64) -> Result<Vec<f64>> {
    let mut v = vec![a.nonneg(f)?];
    while let Some(x) = a.optional_number(f)? {
        if x < 0.0 {
            return Err(Error::new(format!("{f}: must not be negative, got {x}")));
        }
        v.push(x);
    }
    Ok(v.into_iter().map(|x| si(x, per)).collect())
}
fn numbers_of(v: &[f64], per: f64) -> Option<Vec<Val>> {
    (!v.is_empty()).then(|| v.iter().map(|&x| Val::F(x * per)).collect())
}

/// The six numbers of `-cell`: lengths not negative, angles below 180 degrees (0 = default).
fn cell(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let mut v = Vec::new();
    while v.len() < 6 {
        match a.optional_number(f)? {
            Some(x) => v.push(x),
            None => break,
        }
    }
    if v.len() < 6 {
        // the C program reads six values whatever follows; fewer is a typo, not a cell
        let next = a.peek().map(|t| format!(" before '{t}'")).unwrap_or_default();
        return Err(Error::new(format!("-cell: missing values: expected 6 numbers (a b c alpha beta gamma), got {}{next}", v.len())));
    }
    for (i, &x) in v.iter().enumerate() {
        if x < 0.0 || (i >= 3 && x >= 180.0) {
            return Err(Error::new(format!(
                "-cell: {} {x} is impossible (lengths must be positive, angles between 0 and 180 degrees)",
                ["a", "b", "c", "alpha", "beta", "gamma"][i]
            )));
        }
    }
    c.crystal.cell = Some([v[0], v[1], v[2], rad(v[3]), rad(v[4]), rad(v[5])]);
    Ok(())
}

fn cell_get(c: &Config) -> Option<Vec<Val>> {
    c.crystal.cell.map(|p| p.iter().enumerate().map(|(i, &x)| Val::F(if i >= 3 { x * RTD } else { x })).collect())
}

fn misset(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let first = a.value(f, "angles or 'random'")?;
    c.crystal.misset = Some(if first == "random" {
        Misset::Random
    } else {
        let x = args::num(f, first)?;
        Misset::Angles([rad(x), rad(a.f(f)?), rad(a.f(f)?)])
    });
    Ok(())
}

fn misset_get(c: &Config) -> Option<Vec<Val>> {
    c.crystal.misset.map(|m| match m {
        Misset::Random => vec![Val::S("random".into())],
        Misset::Angles(r) => r.iter().map(|&x| Val::F(x * RTD)).collect(),
    })
}

fn shape(c: &Config, s: Shape) -> Option<Vec<Val>> {
    on(c.crystal.shape == Some(s))
}

fn convention(c: &mut Config, conv: Convention, pivot: Pivot) {
    c.detector.convention = Some(conv);
    c.detector.pivot = Some(pivot);
}

/// A custom-convention vector: a direction (not 0 0 0), or pix0's position.
fn frame_vector(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let v = if f == "-pix0_vector" { a.v3(f)? } else { a.dir3(f)? };
    let d = &mut c.detector;
    d.convention = Some(Convention::Custom);
    *match f {
        "-fdet_vector" => &mut d.fdet,
        "-sdet_vector" => &mut d.sdet,
        "-odet_vector" => &mut d.odet,
        "-beam_vector" => &mut d.beam_vector,
        "-polar_vector" => &mut d.polar_vector,
        "-spindle_axis" => &mut d.spindle_axis,
        _ => &mut d.pix0,
    } = Some(v);
    Ok(())
}

fn positive_mm(a: &mut Args, f: &str) -> Result<f64> {
    let v = a.f(f)?;
    if v <= 0.0 {
        return Err(Error::new(format!("{f}: must be positive, got {v} mm")));
    }
    Ok(si(v, MM))
}

fn detector_abs(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let t = a.value(f, "attenuation depth (um) or 'inf'")?;
    c.detector.attenuation_depth = Some(if t.starts_with("inf") {
        None
    } else {
        let v = args::num(f, t)?;
        // 0 is "no absorption", as inf
        (v != 0.0).then(|| v * 1e-6)
    });
    Ok(())
}

fn roi(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let mut r = [0i64; 4];
    for x in r.iter_mut() {
        let t = a.value(f, "four pixel limits (xmin xmax ymin ymax)")?;
        *x = args::int(f, t)?;
    }
    c.detector.roi = Some(r);
    Ok(())
}

fn pivot(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let t = a.value(f, "'sample' or 'beam'")?;
    c.detector.pivot = Some(match t {
        "sample" => Pivot::Sample,
        "beam" => Pivot::Beam,
        _ => return Err(Error::new(format!("-pivot: expected 'sample' or 'beam', got '{t}'"))),
    });
    Ok(())
}

fn energy(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let e = a.f(f)?;
    if e <= 0.0 {
        return Err(Error::new(format!("-energy: photon energy must be positive, got {e} eV")));
    }
    c.beam.lambda = Some(si(crate::physics::constants::HC_EV_ANGSTROM / e, ANGSTROM));
    Ok(())
}

fn polar(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let k = a.f(f)?;
    if !(-1.0..=1.0).contains(&k) {
        return Err(Error::new(format!("-polar: the Kahn polarization factor must be between -1 and 1, got {k}")));
    }
    c.beam.kahn_factor = Some(k);
    c.beam.nopolar = false;
    Ok(())
}

fn smv_header(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    c.outputs.smv_header_dials = match a.value(f, "'c' or 'dials'")? {
        "dials" => true,
        "c" => false,
        v => return Err(Error::new(format!("-smv_header: expected 'c' or 'dials', got '{v}'"))),
    };
    Ok(())
}

fn memory_mb(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    // a batch keeps a few dozen float64 tensors of chunk_elements values alive
    let mb = a.f(f)?;
    if !(mb >= 1.0) {
        return Err(Error::new("-memory_mb: the budget must be at least 1 MB"));
    }
    c.engine.chunk_elements = Some(((mb * 1024.0 * 1024.0) / (8.0 * 64.0)).max(1.0) as usize);
    Ok(())
}

fn psf(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let v = a.s(f)?;
    c.response.psf = Some(match v.as_str() {
        "gauss" | "gaussian" => PsfShape::Gauss,
        "fiber" | "fibre" => PsfShape::Fiber,
        _ => return Err(Error::new(format!("{f}: unknown PSF type '{v}' (use gauss or fiber)"))),
    });
    Ok(())
}

fn psf_radius(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let r = a.nonneg(f)?;
    if r > i32::MAX as f64 {
        return Err(Error::new(format!("{f}: {r} pixels is too large")));
    }
    // noisify keeps the whole pixels of the number it reads
    Ok(c.response.psf_radius = Some(r as i64))
}

/// A seed the reference holds in a C int.
fn c_int(a: &mut Args, f: &str) -> Result<i64> {
    let n = a.n(f)?;
    if i32::try_from(n).is_err() {
        return Err(Error::new(format!("{f}: {n} does not fit a 32-bit seed (-2147483648 to 2147483647)")));
    }
    Ok(n)
}

fn at_least_one(a: &mut Args, f: &str) -> Result<usize> {
    let n = a.n(f)?;
    if n < 1 {
        return Err(Error::new(format!("{f}: must be at least 1")));
    }
    Ok(n as usize)
}

fn device(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let v = a.value(f, "'cpu' or 'gpu'")?;
    let e = &mut c.engine;
    // a software Vulkan driver may stand in for a GPU only when asked
    (e.gpu, e.gpu_software) = match v {
        "gpu" => (true, e.gpu_software),
        "gpu:software" => (true, true),
        "cpu" => (false, false),
        _ => return Err(Error::new(format!("-device: expected 'cpu', 'gpu' or 'gpu:software', got '{v}'"))),
    };
    Ok(())
}

fn precision(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let v = a.value(f, "'f32' or 'f64'")?;
    c.engine.precision = Some(match v {
        "f32" | "float32" | "single" => Precision::F32,
        "f64" | "float64" | "double" => Precision::F64,
        _ => return Err(Error::new(format!("-precision: expected 'f32' or 'f64', got '{v}'"))),
    });
    Ok(())
}

fn engine(c: &mut Config, a: &mut Args, f: &str) -> Result<()> {
    let v = a.value(f, "auto, fused, tensor or gpu")?;
    c.engine.engine = Engine::parse(v).ok_or_else(|| Error::new(format!("-engine: expected auto, fused, tensor or gpu, got '{v}'")))?;
    Ok(())
}

pub static GROUPS: &[Group] = &[
    Group {
        title: "Crystal",
        flags: &[
            flag(&["-cell"], "a b c al be ga", "unit cell (Angstrom, degrees; all six numbers)", "", cell, cell_get),
            flag(&["-mat", "-matrix"], "FILE", "MOSFLM orientation matrix (a*, b*, c* columns, times lambda)", "", |c, a, f| Ok(c.crystal.matrix_file = Some(a.s(f)?)), |c| text(&c.crystal.matrix_file)),
            flag(&["-expt"], "FILE", "DIALS experiment list: beam, multi-panel detector, crystal, scan (flags override)", "", |c, a, f| Ok(c.detector.expt_file = Some(a.s(f)?)), |c| text(&c.detector.expt_file)),
            flag(&["-legacy_cell"], "", "build -cell's oblique cells as nanoBragg.c does (slightly off), to compare with its images", "exact cell", |c, _, _| Ok(c.crystal.legacy_cell = true), |c| on(c.crystal.legacy_cell)),
            flag(&["-misset"], "x y z|random", "rotations about x, y, z (degrees), or a random orientation", "none", misset, misset_get),
            flag(&["-misset_seed"], "N", "seed of -misset random", "clock", |c, a, f| Ok(c.crystal.misset_seed = Some(a.n(f)?)), |c| int(c.crystal.misset_seed)),
            flag(&["-N"], "n", "crystal size in unit cells along a, b and c", "1", |c, a, f| Ok(c.crystal.cells = [Some(a.cells(f)?); 3]), none),
            flag(&["-Na"], "n", "crystal size in unit cells along a", "1", |c, a, f| Ok(c.crystal.cells[0] = Some(a.cells(f)?)), |c| int(c.crystal.cells[0].map(|n| n as i64))),
            flag(&["-Nb"], "n", "crystal size in unit cells along b", "1", |c, a, f| Ok(c.crystal.cells[1] = Some(a.cells(f)?)), |c| int(c.crystal.cells[1].map(|n| n as i64))),
            flag(&["-Nc"], "n", "crystal size in unit cells along c", "1", |c, a, f| Ok(c.crystal.cells[2] = Some(a.cells(f)?)), |c| int(c.crystal.cells[2].map(|n| n as i64))),
            flag(&["-xtalsize", "-xtal_size", "-samplesize", "-sample_size"], "mm", "crystal size in x, y and z (N = ceil(size/cell))", "", |c, a, f| Ok(c.crystal.size = [Some(si(a.nonneg(f)?, MM)); 3]), none),
            flag(&["-sample_x", "-sample_thick", "-xtal_x", "-xtal_thick"], "mm", "crystal size along x", "", |c, a, f| Ok(c.crystal.size[0] = Some(si(a.nonneg(f)?, MM))), |c| num(c.crystal.size[0], MM)),
            flag(&["-sample_y", "-sample_width", "-width", "-xtal_y", "-xtal_width"], "mm", "crystal size along y", "", |c, a, f| Ok(c.crystal.size[1] = Some(si(a.nonneg(f)?, MM))), |c| num(c.crystal.size[1], MM)),
            flag(&["-sample_z", "-sample_height", "-height", "-xtal_z", "-xtal_height"], "mm", "crystal size along z", "", |c, a, f| Ok(c.crystal.size[2] = Some(si(a.nonneg(f)?, MM))), |c| num(c.crystal.size[2], MM)),
            flag(&["-density", "-sample_density", "-MW", "-molecular_weight"], "x", "accepted for compatibility; no effect on the image", "", |_, a, f| a.f(f).map(|_| ()), none),
            flag(&["-square_xtal"], "", "parallelepiped crystal (sinc lattice transform)", "on", |c, _, _| Ok(c.crystal.shape = Some(Shape::Square)), |c| shape(c, Shape::Square)),
            flag(&["-round_xtal"], "", "spherical crystal", "", |c, _, _| Ok(c.crystal.shape = Some(Shape::Round)), |c| shape(c, Shape::Round)),
            flag(&["-gauss_xtal"], "", "Gaussian spot shape", "", |c, _, _| Ok(c.crystal.shape = Some(Shape::Gauss)), |c| shape(c, Shape::Gauss)),
            flag(&["-tophat_spots", "-binary_spots"], "", "flat-topped spots", "", |c, _, _| Ok(c.crystal.shape = Some(Shape::Tophat)), |c| shape(c, Shape::Tophat)),
            flag(&["-fudge"], "f", "spot-size factor for round/gauss/tophat shapes", "1", |c, a, f| {
                let v = a.f(f)?;
                if v <= 0.0 {
                    return Err(Error::new(format!("-fudge: must be positive, got {v}")));
                }
                Ok(c.crystal.fudge = Some(v))
            }, |c| num(c.crystal.fudge, 1.0)),
            flag(&["-mosaic", "-mosaici", "-mosaic_spr", "-mosaic_spread"], "deg", "mosaic spread", "0", |c, a, f| Ok(c.crystal.mosaic_spread = Some(rad(a.nonneg(f)?))), |c| deg(c.crystal.mosaic_spread)),
            flag(&["-mosaic_domains", "-mosaic_dom"], "n", "number of mosaic domains", "1 (10 with a spread)", |c, a, f| Ok(c.crystal.mosaic_domains = Some(a.count(f)?)), |c| int(c.crystal.mosaic_domains)),
            flag(&["-mosaic_seed"], "N", "seed of the domain orientations", "12345678", |c, a, f| Ok(c.crystal.mosaic_seed = Some(a.n(f)?)), |c| int(c.crystal.mosaic_seed)),
            flag(&["-phi"], "deg", "rotation start", "0", |c, a, f| Ok(c.crystal.phi0 = Some(rad(a.f(f)?))), |c| deg(c.crystal.phi0)),
            flag(&["-osc"], "deg", "rotation range", "0", |c, a, f| Ok(c.crystal.osc = Some(rad(a.f(f)?))), |c| deg(c.crystal.osc)),
            flag(&["-phistep"], "deg", "rotation step", "", |c, a, f| Ok(c.crystal.phistep = Some(rad(a.f(f)?))), |c| deg(c.crystal.phistep)),
            flag(&["-phisteps"], "n", "rotation steps", "1", |c, a, f| Ok(c.crystal.phisteps = Some(a.count(f)?)), |c| int(c.crystal.phisteps)),
        ],
    },
    Group {
        title: "Structure factors",
        flags: &[
            flag(&["-hkl"], "FILE", "text file 'h k l F' per line; writes the -dump cache", "", |c, a, f| Ok(c.structure.hkl_file = Some(a.s(f)?)), |c| text(&c.structure.hkl_file)),
            flag(&["-default_F"], "F", "F of every reflection not in the file (or of all without one)", "0", |c, a, f| Ok(c.structure.default_f = Some(a.f(f)?)), |c| num(c.structure.default_f, 1.0)),
            flag(&["-dump"], "FILE", "structure-factor cache: written after reading -hkl, read when -hkl is absent", "none", |c, a, f| Ok(c.structure.dump_file = Some(a.s(f)?)), |c| text(&c.structure.dump_file)),
            flag(&["-interpolate"], "", "tricubic interpolation between reflections", "when any N <= 2", |c, _, _| Ok(c.structure.interpolate = Some(true)), |c| on(c.structure.interpolate == Some(true))),
            flag(&["-nointerpolate"], "", "no interpolation", "", |c, _, _| Ok(c.structure.interpolate = Some(false)), |c| on(c.structure.interpolate == Some(false))),
        ],
    },
    Group {
        title: "Detector",
        flags: &[
            flag(&["-distance"], "mm", "sample to beam spot along the beam (beam pivot)", "100", |c, a, f| {
                c.detector.distance = Some(positive_mm(a, f)?);
                Ok(c.detector.pivot = Some(Pivot::Beam))
            }, |c| num(c.detector.distance, MM)),
            flag(&["-close_distance"], "mm", "sample to detector plane (sample pivot)", "", |c, a, f| {
                // deviation 16 (specs/physics.md): the reference renders a detector behind the sample
                c.detector.close_distance = Some(positive_mm(a, f)?);
                Ok(c.detector.pivot = Some(Pivot::Sample))
            }, |c| num(c.detector.close_distance, MM)),
            flag(&["-pixel"], "mm", "pixel size", "0.1", |c, a, f| Ok(c.detector.pixel_size = Some(si(a.f(f)?, MM))), |c| num(c.detector.pixel_size, MM)),
            flag(&["-detpixels"], "n", "pixels along both axes", "1024", |c, a, f| Ok(c.detector.pixels = [Some(a.pixels(f)?); 2]), none),
            flag(&["-detpixels_f", "-detpixels_x"], "n", "pixels along the fast axis", "1024", |c, a, f| Ok(c.detector.pixels[0] = Some(a.pixels(f)?)), |c| int(c.detector.pixels[0])),
            flag(&["-detpixels_s", "-detpixels_y"], "n", "pixels along the slow axis", "1024", |c, a, f| Ok(c.detector.pixels[1] = Some(a.pixels(f)?)), |c| int(c.detector.pixels[1])),
            flag(&["-detsize"], "mm", "detector size along both axes", "102.4", |c, a, f| Ok(c.detector.size = [Some(si(a.f(f)?, MM)); 2]), none),
            flag(&["-detsize_f", "-detsize_x"], "mm", "detector size along the fast axis", "102.4", |c, a, f| Ok(c.detector.size[0] = Some(si(a.f(f)?, MM))), |c| num(c.detector.size[0], MM)),
            flag(&["-detsize_s", "-detsize_y"], "mm", "detector size along the slow axis", "102.4", |c, a, f| Ok(c.detector.size[1] = Some(si(a.f(f)?, MM))), |c| num(c.detector.size[1], MM)),
            flag(&["-Xbeam"], "mm", "beam centre, convention's x (beam pivot)", "centre", |c, a, f| {
                c.detector.beam_center[0] = Some(si(a.f(f)?, MM));
                Ok(c.detector.pivot = Some(Pivot::Beam))
            }, |c| num(c.detector.beam_center[0], MM)),
            flag(&["-Ybeam"], "mm", "beam centre, convention's y (beam pivot)", "centre", |c, a, f| {
                c.detector.beam_center[1] = Some(si(a.f(f)?, MM));
                Ok(c.detector.pivot = Some(Pivot::Beam))
            }, |c| num(c.detector.beam_center[1], MM)),
            flag(&["-Xclose"], "mm", "near point x (sample pivot)", "", |c, a, f| {
                c.detector.close_point[0] = Some(si(a.f(f)?, MM));
                Ok(c.detector.pivot = Some(Pivot::Sample))
            }, |c| num(c.detector.close_point[0], MM)),
            flag(&["-Yclose"], "mm", "near point y (sample pivot)", "", |c, a, f| {
                c.detector.close_point[1] = Some(si(a.f(f)?, MM));
                Ok(c.detector.pivot = Some(Pivot::Sample))
            }, |c| num(c.detector.close_point[1], MM)),
            flag(&["-ORGX"], "px", "XDS beam centre x (sample pivot)", "", |c, a, f| {
                c.detector.origin_pixels[0] = Some(a.f(f)?);
                Ok(c.detector.pivot = Some(Pivot::Sample))
            }, |c| num(c.detector.origin_pixels[0], 1.0)),
            flag(&["-ORGY"], "px", "XDS beam centre y (sample pivot)", "", |c, a, f| {
                c.detector.origin_pixels[1] = Some(a.f(f)?);
                Ok(c.detector.pivot = Some(Pivot::Sample))
            }, |c| num(c.detector.origin_pixels[1], 1.0)),
            flag(&["-pivot"], "sample|beam", "what stays fixed when the detector rotates", "convention", pivot, |c| {
                c.detector.pivot.map(|p| vec![Val::S(if p == Pivot::Beam { "beam" } else { "sample" }.into())])
            }),
            flag(&["-mosflm"], "", "MOSFLM axes and beam centre", "on", |c, _, _| Ok(convention(c, Convention::Mosflm, Pivot::Beam)), |c| on(c.detector.convention == Some(Convention::Mosflm))),
            flag(&["-xds"], "", "XDS axes and beam centre", "", |c, _, _| Ok(convention(c, Convention::Xds, Pivot::Sample)), |c| on(c.detector.convention == Some(Convention::Xds))),
            flag(&["-adxv"], "", "ADXV axes and beam centre", "", |c, _, _| Ok(convention(c, Convention::Adxv, Pivot::Beam)), |c| on(c.detector.convention == Some(Convention::Adxv))),
            flag(&["-denzo"], "", "DENZO axes and beam centre", "", |c, _, _| Ok(convention(c, Convention::Denzo, Pivot::Beam)), |c| on(c.detector.convention == Some(Convention::Denzo))),
            flag(&["-dials"], "", "DIALS axes and beam centre", "", |c, _, _| Ok(convention(c, Convention::Dials, Pivot::Beam)), |c| on(c.detector.convention == Some(Convention::Dials))),
            flag(&["-fdet_vector"], "x y z", "fast axis (custom convention; not 0 0 0)", "", frame_vector, |c| vector(c.detector.fdet)),
            flag(&["-sdet_vector"], "x y z", "slow axis (custom convention; not 0 0 0)", "", frame_vector, |c| vector(c.detector.sdet)),
            flag(&["-odet_vector"], "x y z", "detector normal (custom convention; not 0 0 0)", "", frame_vector, |c| vector(c.detector.odet)),
            flag(&["-beam_vector"], "x y z", "beam direction (custom convention; not 0 0 0)", "", frame_vector, |c| vector(c.detector.beam_vector)),
            flag(&["-polar_vector"], "x y z", "polarization axis (custom convention; not 0 0 0)", "", frame_vector, |c| vector(c.detector.polar_vector)),
            flag(&["-spindle_axis"], "x y z", "rotation axis (custom convention; not 0 0 0)", "", frame_vector, |c| vector(c.detector.spindle_axis)),
            flag(&["-twotheta_axis"], "x y z", "two-theta axis (custom convention; not 0 0 0)", "", |c, a, f| {
                c.detector.twotheta_axis = Some(a.dir3(f)?);
                Ok(c.detector.convention = Some(Convention::Custom))
            }, |c| vector(c.detector.twotheta_axis)),
            flag(&["-pix0_vector"], "x y z", "first pixel position (m); recomputed, as in nanoBragg.c", "", frame_vector, |c| vector(c.detector.pix0)),
            flag(&["-twotheta"], "deg", "detector swing about the two-theta axis (sample pivot)", "0", |c, a, f| {
                c.detector.twotheta = Some(rad(a.f(f)?));
                Ok(c.detector.pivot = Some(Pivot::Sample))
            }, |c| deg(c.detector.twotheta)),
            flag(&["-detector_rotx"], "deg", "detector rotation about x", "0", |c, a, f| Ok(c.detector.rotation[0] = Some(rad(a.f(f)?))), |c| deg(c.detector.rotation[0])),
            flag(&["-detector_roty"], "deg", "detector rotation about y", "0", |c, a, f| Ok(c.detector.rotation[1] = Some(rad(a.f(f)?))), |c| deg(c.detector.rotation[1])),
            flag(&["-detector_rotz"], "deg", "detector rotation about z", "0", |c, a, f| Ok(c.detector.rotation[2] = Some(rad(a.f(f)?))), |c| deg(c.detector.rotation[2])),
            flag(&["-curved_det"], "", "every pixel at the same distance", "off", |c, _, _| Ok(c.detector.curved = true), |c| on(c.detector.curved)),
            flag(&["-point_pixel"], "", "solid angle 1/R^2 (no obliquity)", "off", |c, _, _| Ok(c.detector.point_pixel = true), |c| on(c.detector.point_pixel)),
            flag(&["-detector_abs", "-detector_absorb"], "um|inf", "sensor attenuation depth (0 or inf: none)", "none", detector_abs, |c| {
                c.detector.attenuation_depth.map(|d| match d {
                    Some(m) => vec![Val::F(m / 1e-6)],
                    None => vec![Val::S("inf".into())],
                })
            }),
            flag(&["-detector_thick"], "um", "sensor thickness", "0", |c, a, f| Ok(c.detector.thickness = Some(a.nonneg(f)? * 1e-6)), |c| times(c.detector.thickness, 1e-6)),
            flag(&["-detector_thicksteps", "-thicksteps"], "n", "sensor layers", "1", |c, a, f| Ok(c.detector.thicksteps = Some(a.count(f)?)), |c| int(c.detector.thicksteps)),
            flag(&["-roi"], "xmin xmax ymin ymax", "render only these pixels (inclusive)", "all", roi, |c| c.detector.roi.and_then(|r| ints(&r))),
            flag(&["-mask"], "FILE", "SMV mask: pixels with 0 are skipped; must match the detector size", "", |c, a, f| Ok(c.detector.mask_file = Some(a.s(f)?)), |c| text(&c.detector.mask_file)),
            flag(&["-img"], "FILE", "read detector and beam settings from an SMV header", "", |c, a, f| Ok(c.detector.header_image = Some(a.s(f)?)), |c| text(&c.detector.header_image)),
        ],
    },
    Group {
        title: "Beam",
        flags: &[
            flag(&["-lambda", "-wave"], "A", "wavelength", "1", |c, a, f| Ok(c.beam.lambda = Some(si(a.f(f)?, ANGSTROM))), |c| num(c.beam.lambda, ANGSTROM)),
            flag(&["-energy"], "eV", "photon energy (sets the wavelength)", "", energy, none),
            flag(&["-dispersion"], "%", "spectral width", "0", |c, a, f| Ok(c.beam.dispersion = Some(si(a.nonneg(f)?, PERCENT))), |c| num(c.beam.dispersion, PERCENT)),
            flag(&["-dispsteps"], "n", "wavelength samples", "1", |c, a, f| Ok(c.beam.dispsteps = Some(a.count(f)?)), |c| int(c.beam.dispsteps)),
            flag(&["-divergence"], "mrad", "horizontal and vertical divergence", "0", |c, a, f| {
                let v = Some(si(a.nonneg(f)?, MRAD));
                Ok((c.beam.hdivrange, c.beam.vdivrange) = (v, v))
            }, none),
            flag(&["-divsteps"], "n", "divergence samples, both directions", "1", |c, a, f| {
                let n = Some(a.count(f)?);
                Ok((c.beam.hdivsteps, c.beam.vdivsteps) = (n, n))
            }, none),
            flag(&["-hdivrange"], "mrad", "horizontal divergence", "0", |c, a, f| Ok(c.beam.hdivrange = Some(si(a.nonneg(f)?, MRAD))), |c| num(c.beam.hdivrange, MRAD)),
            flag(&["-vdivrange"], "mrad", "vertical divergence", "0", |c, a, f| Ok(c.beam.vdivrange = Some(si(a.nonneg(f)?, MRAD))), |c| num(c.beam.vdivrange, MRAD)),
            flag(&["-hdivstep"], "mrad", "horizontal divergence step", "", |c, a, f| Ok(c.beam.hdivstep = Some(si(a.nonneg(f)?, MRAD))), |c| num(c.beam.hdivstep, MRAD)),
            flag(&["-vdivstep"], "mrad", "vertical divergence step", "", |c, a, f| Ok(c.beam.vdivstep = Some(si(a.nonneg(f)?, MRAD))), |c| num(c.beam.vdivstep, MRAD)),
            flag(&["-hdivsteps"], "n", "horizontal divergence samples", "1", |c, a, f| Ok(c.beam.hdivsteps = Some(a.count(f)?)), |c| int(c.beam.hdivsteps)),
            flag(&["-vdivsteps"], "n", "vertical divergence samples", "1", |c, a, f| Ok(c.beam.vdivsteps = Some(a.count(f)?)), |c| int(c.beam.vdivsteps)),
            flag(&["-square_div"], "", "keep the full divergence grid", "off", |c, _, _| Ok(c.beam.square_div = true), |c| on(c.beam.square_div)),
            flag(&["-round_div"], "", "trim the divergence grid to an ellipse", "on", |c, _, _| Ok(c.beam.square_div = false), none),
            flag(&["-sourcefile"], "FILE", "sources 'X Y Z weight lambda' (m), one a line; replaces the grid; '#' lines skipped (with a warning)", "", |c, a, f| Ok(c.beam.source_file = Some(a.s(f)?)), |c| text(&c.beam.source_file)),
            flag(&["-spectrum"], "FILE", "spectrum 'energy_eV weight' per line ('# keV' or '# wavelength' names other units): one weighted source per line along the beam", "", |c, a, f| Ok(c.beam.spectrum_file = Some(a.s(f)?)), |c| text(&c.beam.spectrum_file)),
            flag(&["-spectrum_lines"], "E W ...", "a spectrum inline: photon energy (eV) and weight pairs, one weighted source each along the beam", "", spectrum_lines, |c| {
                c.beam.spectrum_lines.as_ref().map(|l| l.iter().flat_map(|&(e, w)| [Val::F(e), Val::F(w)]).collect())
            }),
            flag(&["-source_weights"], "", "scale each source by weight/mean(weight) (nanoBragg.c ignores weights)", "off", |c, _, _| Ok(c.beam.source_weights = true), |c| on(c.beam.source_weights)),
            flag(&["-polar"], "K", "Kahn polarization factor, -1 to 1", "0", polar, |c| num(c.beam.kahn_factor, 1.0)),
            flag(&["-nopolar"], "", "no polarization correction", "off", |c, _, _| Ok(c.beam.nopolar = true), |c| on(c.beam.nopolar)),
            flag(&["-fluence"], "ph/m^2", "incident fluence", "1.26e29", |c, a, f| Ok(c.beam.fluence = Some(a.f(f)?)), |c| num(c.beam.fluence, 1.0)),
            flag(&["-flux"], "ph/s", "incident flux (with -exposure and -beamsize)", "", |c, a, f| Ok(c.beam.flux = Some(a.nonneg(f)?)), |c| num(c.beam.flux, 1.0)),
            flag(&["-exposure"], "s", "exposure time", "1", |c, a, f| Ok(c.beam.exposure = Some(a.nonneg(f)?)), |c| num(c.beam.exposure, 1.0)),
            flag(&["-beamsize"], "mm", "beam size (clips the sample)", "0.1", |c, a, f| Ok(c.beam.beamsize = Some(si(a.nonneg(f)?, MM))), |c| num(c.beam.beamsize, MM)),
        ],
    },
    Group {
        title: "Sampling and background",
        flags: &[
            flag(&["-oversample"], "n", "n x n sub-pixels", "from the crystal size", |c, a, f| Ok(c.sampling.oversample = Some(a.n(f)?)), |c| int(c.sampling.oversample)),
            flag(&["-oversample_thick"], "", "sensor absorption per sub-pixel", "off", |c, _, _| Ok(c.sampling.oversample_thick = true), |c| on(c.sampling.oversample_thick)),
            flag(&["-oversample_polar"], "", "polarization per sub-pixel", "off", |c, _, _| Ok(c.sampling.oversample_polar = true), |c| on(c.sampling.oversample_polar)),
            flag(&["-oversample_omega"], "", "solid angle per sub-pixel", "off", |c, _, _| Ok(c.sampling.oversample_omega = true), |c| on(c.sampling.oversample_omega)),
            flag(&["-dmin"], "A", "skip scattering beyond this resolution", "none", |c, a, f| Ok(c.sampling.dmin = Some(a.nonneg(f)? * 1e-10)), |c| times(c.sampling.dmin, 1e-10)),
            flag(&["-water"], "um", "water-layer background thickness", "0", |c, a, f| Ok(c.background.water_size = Some(si(a.nonneg(f)?, UM))), |c| num(c.background.water_size, UM)),
            flag(&["-stol"], "FILE ...", "amorphous scatterers (water, ice, air): tables of sin(theta)/lambda (1/A) and F, as nonBragg reads them, added to the image", "none", |c, a, f| stol_files(c, a, f, StolUnits::Stol), |c| stol_files_of(c, StolUnits::Stol)),
            flag(&["-4stol"], "FILE ...", "the same, tables whose first column is 4 sin(theta)/lambda (1/A)", "", |c, a, f| stol_files(c, a, f, StolUnits::FourStol), |c| stol_files_of(c, StolUnits::FourStol)),
            flag(&["-Q"], "FILE ...", "the same, tables whose first column is Q = 4 pi sin(theta)/lambda (1/A)", "", |c, a, f| stol_files(c, a, f, StolUnits::Q), |c| stol_files_of(c, StolUnits::Q)),
            flag(&["-stol_thick"], "mm ...", "extent of each -stol material along the beam (one value for all, or one per table)", "0.1", |c, a, f| Ok(c.background.stol_thickness = numbers(a, f, MM)?), |c| numbers_of(&c.background.stol_thickness, MM)),
            flag(&["-stol_density"], "g/cm3 ...", "density of each -stol material", "1", |c, a, f| Ok(c.background.stol_density = numbers(a, f, 1.0)?), |c| numbers_of(&c.background.stol_density, 1.0)),
            flag(&["-stol_MW"], "g/mol ...", "molecular weight of the unit whose F each -stol table gives", "18", |c, a, f| Ok(c.background.stol_molecular_weight = numbers(a, f, 1.0)?), |c| numbers_of(&c.background.stol_molecular_weight, 1.0)),
            flag(&["-coherent"], "", "accepted for compatibility; no effect", "", |_, _, _| Ok(()), none),
        ],
    },
    Group {
        title: "Detector response of the noise image (as noisify; any of these turns it on, with noisify's defaults for the rest)",
        flags: &[
            flag(&["-psf"], "gauss|fiber", "point-spread function applied to the photon counts", "none", psf, |c| {
                c.response.psf.map(|p| vec![Val::S(if p == PsfShape::Gauss { "gauss" } else { "fiber" }.into())])
            }),
            flag(&["-psf_fwhm", "-psf_width"], "um", "PSF full width at half maximum", "46", |c, a, f| Ok(c.response.psf_fwhm_um = Some(a.nonneg(f)?)), |c| num(c.response.psf_fwhm_um, 1.0)),
            flag(&["-psf_sigma"], "um", "PSF width as a Gaussian sigma (FWHM = 2.3548 sigma)", "", |c, a, f| {
                Ok(c.response.psf_fwhm_um = Some(a.nonneg(f)? * (8.0 * std::f64::consts::LN_2).sqrt()))
            }, none),
            flag(&["-psf_radius"], "pixels", "PSF kernel radius (0: chosen per pixel)", "0", psf_radius, |c| int(c.response.psf_radius)),
            flag(&["-gain"], "ADU/photon", "quantum gain", "1", |c, a, f| Ok(c.response.gain = Some(a.nonneg(f)?)), |c| num(c.response.gain, 1.0)),
            flag(&["-calibration"], "fraction", "per-pixel calibration error (relative rms)", "0.03", |c, a, f| Ok(c.response.calibration = Some(a.nonneg(f)?)), |c| num(c.response.calibration, 1.0)),
            flag(&["-calib_seed"], "N", "seed of the calibration error (drawn only when -flicker is 0)", "1", |c, a, f| Ok(c.response.calib_seed = Some(c_int(a, f)?)), |c| int(c.response.calib_seed)),
            flag(&["-readout_noise", "-readout", "-readnoise"], "ADU", "Gaussian readout noise (rms), added after the gain", "0", |c, a, f| Ok(c.response.readout = Some(a.nonneg(f)?)), |c| num(c.response.readout, 1.0)),
            flag(&["-flicker"], "fraction", "source flicker: relative rms of a per-pixel intensity factor", "0", |c, a, f| Ok(c.response.flicker = Some(a.nonneg(f)?)), |c| num(c.response.flicker, 1.0)),
        ],
    },
    Group {
        title: "Output",
        flags: &[
            flag(&["-floatfile", "-floatimage"], "FILE", "float32 image", "none", |c, a, f| Ok(c.outputs.float_file = Some(a.s(f)?)), |c| text(&c.outputs.float_file)),
            flag(&["-intfile", "-intimage"], "FILE", "SMV image, scaled by -scale plus -adc", "", |c, a, f| Ok(c.outputs.int_file = Some(a.s(f)?)), |c| text(&c.outputs.int_file)),
            flag(&["-noisefile", "-noiseimage"], "FILE", "SMV image with Poisson noise", "", |c, a, f| Ok(c.outputs.noise_file = Some(a.s(f)?)), |c| text(&c.outputs.noise_file)),
            flag(&["-pgmfile", "-pgmimage"], "FILE", "8-bit PGM preview", "", |c, a, f| Ok(c.outputs.pgm_file = Some(a.s(f)?)), |c| text(&c.outputs.pgm_file)),
            flag(&["-pngfile"], "FILE", "PNG preview: photons on a log scale, the beam centre marked in red", "", |c, a, f| Ok(c.outputs.png_file = Some(a.s(f)?)), |c| text(&c.outputs.png_file)),
            flag(&["-cbffile"], "FILE", "CBF image (imgCIF geometry, int32, byte-offset)", "", |c, a, f| Ok(c.outputs.cbf_file = Some(a.s(f)?)), |c| text(&c.outputs.cbf_file)),
            flag(&["-nxsfile"], "FILE", "NeXus NXmx HDF5 image", "", |c, a, f| Ok(c.outputs.nexus_file = Some(a.s(f)?)), |c| text(&c.outputs.nexus_file)),
            flag(&["-nxs_append"], "", "add the image to an existing -nxsfile series as its next frame", "off", |c, _, _| Ok(c.outputs.nexus_append = true), |c| on(c.outputs.nexus_append)),
            flag(&["-write_expt"], "FILE", "DIALS experiment list of the simulation", "", |c, a, f| Ok(c.outputs.expt_file = Some(a.s(f)?)), |c| text(&c.outputs.expt_file)),
            flag(&["-smv_header"], "c|dials", "SMV header keys: the C program's, or read right by dxtbx", "c", smv_header, |c| word(c.outputs.smv_header_dials, "dials")),
            flag(&["-scale"], "x", "scale of the SMV image", "55000/max", |c, a, f| Ok(c.outputs.scale = Some(a.f(f)?)), |c| num(c.outputs.scale, 1.0)),
            flag(&["-pgmscale"], "x", "scale of the PGM preview", "derived", |c, a, f| Ok(c.outputs.pgm_scale = Some(a.f(f)?)), |c| num(c.outputs.pgm_scale, 1.0)),
            flag(&["-adc"], "counts", "offset added to the SMV images", "40", |c, a, f| Ok(c.outputs.adc = Some(a.f(f)?)), |c| num(c.outputs.adc, 1.0)),
            flag(&["-seed"], "N", "noise seed (repeats a run)", "clock", |c, a, f| Ok(c.outputs.seed = Some(a.n(f)?)), |c| int(c.outputs.seed)),
            flag(&["-nonoise"], "", "no noise image", "off", |c, _, _| Ok(c.outputs.no_noise = true), |c| on(c.outputs.no_noise)),
            flag(&["-nopgm"], "", "no PGM preview", "off", |c, _, _| Ok(c.outputs.no_pgm = true), |c| on(c.outputs.no_pgm)),
            flag(&["-progress"], "", "progress meter on stderr", "when a terminal", |c, _, _| Ok(c.outputs.progress = Some(true)), |c| on(c.outputs.progress == Some(true))),
            flag(&["-noprogress"], "", "no progress meter", "", |c, _, _| Ok(c.outputs.progress = Some(false)), |c| on(c.outputs.progress == Some(false))),
            flag(&["-printout"], "", "one line per rendered pixel (or only -printout_pixel's)", "off", |c, _, _| Ok(c.outputs.printout = true), |c| {
                on(c.outputs.printout && c.outputs.printout_pixel.is_none())
            }),
            flag(&["-printout_pixel"], "f s", "full trace of pixel (fast, slow)", "", |c, a, f| {
                c.outputs.printout_pixel = Some([a.n(f)?, a.n(f)?]);
                Ok(c.outputs.printout = true)
            }, |c| c.outputs.printout_pixel.and_then(|p| ints(&p))),
            flag(&["-trace_pixel"], "s f", "full trace of pixel (slow, fast)", "", |c, a, f| Ok(c.outputs.trace_pixel = Some([a.n(f)?, a.n(f)?])), |c| {
                c.outputs.trace_pixel.and_then(|p| ints(&p))
            }),
        ],
    },
    Group {
        title: "Engine",
        flags: &[
            flag(&["-memory_mb"], "MB", "memory budget of the tensor batches", "32", memory_mb, none),
            flag(&["-chunk_elements"], "N", "values per batch tensor", "65536", |c, a, f| Ok(c.engine.chunk_elements = Some(at_least_one(a, f)?)), |c| {
                int(c.engine.chunk_elements.map(|n| n as i64))
            }),
            flag(&["-threads", "-nthreads"], "N", "worker threads", "one per core", |c, a, f| Ok(c.engine.threads = Some(at_least_one(a, f)?)), |c| {
                int(c.engine.threads.map(|n| n as i64))
            }),
            flag(&["-engine"], "auto|fused|tensor|gpu", "forward-render engine: auto picks fused on the CPU in f64, gpu on -device gpu, tensor otherwise; a choice the device cannot run is an error", "auto", engine, |c| {
                (c.engine.engine != Engine::Auto).then(|| vec![Val::S(c.engine.engine.name().into())])
            }),
            flag(&["-device"], "cpu|gpu", "render device", "cpu", device, |c| {
                c.engine.gpu.then(|| vec![Val::S(if c.engine.gpu_software { "gpu:software" } else { "gpu" }.into())])
            }),
            flag(&["-precision"], "f64|f32", "arithmetic precision (the GPU uses f32)", "f64", precision, |c| {
                c.engine.precision.map(|p| vec![Val::S(if p == Precision::F32 { "f32" } else { "f64" }.into())])
            }),
            flag(&["-h", "-help", "--help"], "", "this help", "", |_, _, _| Ok(()), none),
        ],
    },
];

/// Every declared flag, in table order.
pub fn all() -> impl Iterator<Item = &'static Flag> {
    GROUPS.iter().flat_map(|g| g.flags.iter())
}

/// The flag a name (any of its aliases) declares.
pub fn find(name: &str) -> Option<&'static Flag> {
    all().find(|f| f.names.contains(&name))
}

/// Every flag name the simulation accepts.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    all().flat_map(|f| f.names.iter().copied())
}

/// Edit distance between two names (a typo's distance to a real flag).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The valid name closest to a mistyped one, if any is close: a few edits away, or (for the
/// message only, never for parsing) the shortest name the typo begins.
pub fn closest<'a>(typed: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let names: Vec<&str> = names.into_iter().collect();
    let limit = (typed.chars().count() / 3).max(2);
    let best = names
        .iter()
        .map(|n| (levenshtein(&typed.to_lowercase(), &n.to_lowercase()), levenshtein(typed, n), *n))
        .min()
        .filter(|&(d, _, _)| d <= limit)
        .map(|(_, _, n)| n);
    best.or_else(|| {
        names.iter().filter(|n| typed.len() >= 4 && n.starts_with(typed)).min_by_key(|n| n.len()).copied()
    })
}

