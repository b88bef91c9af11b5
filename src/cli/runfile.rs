//! Run files: a command line's resolved settings as TOML (`--print-config`), read back with
//! `--config FILE`. Keys are the flag names without their dash and values are the flag's
//! arguments, so loading turns a file back into flags: it is checked exactly as a command line
//! is, and flags typed after it override it.

use super::{parse, table, Options};
use crate::engine::device::Precision;
use crate::error::{Error, Result};
use crate::config::{Convention, Misset, Pivot, Shape};

/// One argument of a flag, typed for TOML.
#[derive(Debug, Clone)]
enum Val {
    I(i64),
    F(f64),
    S(String),
}

fn f(x: f64) -> Vec<Val> {
    vec![Val::F(x)]
}
fn i(x: i64) -> Vec<Val> {
    vec![Val::I(x)]
}
fn s(x: &str) -> Vec<Val> {
    vec![Val::S(x.to_string())]
}
fn fs(x: &[f64]) -> Vec<Val> {
    x.iter().map(|&v| Val::F(v)).collect()
}
fn is(x: &[i64]) -> Vec<Val> {
    x.iter().map(|&v| Val::I(v)).collect()
}

/// Push `--name value` when the option is set (the value converted by `$conv`).
macro_rules! opt {
    ($v:ident, $name:literal, $field:expr, $conv:expr) => {
        if let Some(x) = &$field {
            #[allow(clippy::redundant_closure_call)]
            $v.push(($name, ($conv)(x)));
        }
    };
}

/// Push a switch when it is on.
macro_rules! switch {
    ($v:ident, $name:literal, $cond:expr) => {
        if $cond {
            $v.push(($name, vec![]));
        }
    };
}

type Flags = Vec<(&'static str, Vec<Val>)>;

/// The flags that rebuild `o` exactly, in the flag table's topic order. Switches have no
/// values. Convention and pivot come last because other flags set them as a side effect.
fn flags_of(o: &Options) -> Flags {
    let mut v = Flags::new();
    crystal_flags(o, &mut v);
    detector_flags(o, &mut v);
    beam_and_sampling_flags(o, &mut v);
    output_and_engine_flags(o, &mut v);
    frame_flags(o, &mut v);
    v
}

/// Crystal and structure-factor flags.
fn crystal_flags(o: &Options, v: &mut Flags) {
    // crystal
    opt!(v, "cell", o.cell, |c: &Vec<f64>| fs(c));
    opt!(v, "mat", o.mat, |x: &String| s(x));
    opt!(v, "expt", o.expt, |x: &String| s(x));
    switch!(v, "legacy_cell", o.legacy_cell);
    opt!(v, "misset", o.misset, |m: &Misset| match m {
        Misset::Random => s("random"),
        Misset::Angles(a) => fs(a),
    });
    opt!(v, "misset_seed", o.misset_seed, |x: &i64| i(*x));
    // integral by construction (parsed as integers)
    opt!(v, "Na", o.na, |x: &f64| i(*x as i64));
    opt!(v, "Nb", o.nb, |x: &f64| i(*x as i64));
    opt!(v, "Nc", o.nc, |x: &f64| i(*x as i64));
    opt!(v, "sample_x", o.sample_x, |x: &f64| f(*x));
    opt!(v, "sample_y", o.sample_y, |x: &f64| f(*x));
    opt!(v, "sample_z", o.sample_z, |x: &f64| f(*x));
    if let Some(shape) = o.shape {
        v.push((
            match shape {
                Shape::Square => "square_xtal",
                Shape::Round => "round_xtal",
                Shape::Gauss => "gauss_xtal",
                Shape::Tophat => "tophat_spots",
            },
            vec![],
        ));
    }
    opt!(v, "fudge", o.fudge, |x: &f64| f(*x));
    opt!(v, "mosaic", o.mosaic, |x: &f64| f(*x));
    opt!(v, "mosaic_domains", o.mosaic_domains, |x: &i64| i(*x));
    opt!(v, "mosaic_seed", o.mosaic_seed, |x: &i64| i(*x));
    opt!(v, "phi", o.phi, |x: &f64| f(*x));
    opt!(v, "osc", o.osc, |x: &f64| f(*x));
    opt!(v, "phistep", o.phistep, |x: &f64| f(*x));
    opt!(v, "phisteps", o.phisteps, |x: &i64| i(*x));
    // structure factors
    opt!(v, "hkl", o.hkl, |x: &String| s(x));
    opt!(v, "default_F", o.default_f, |x: &f64| f(*x));
    opt!(v, "dump", o.dump, |x: &String| s(x));
    match o.interpolate {
        Some(true) => v.push(("interpolate", vec![])),
        Some(false) => v.push(("nointerpolate", vec![])),
        None => {}
    }
}

/// Detector flags.
fn detector_flags(o: &Options, v: &mut Flags) {
    // detector
    opt!(v, "distance", o.distance, |x: &f64| f(*x));
    opt!(v, "close_distance", o.close_distance, |x: &f64| f(*x));
    opt!(v, "pixel", o.pixel, |x: &f64| f(*x));
    opt!(v, "detpixels_f", o.detpixels_f, |x: &i64| i(*x));
    opt!(v, "detpixels_s", o.detpixels_s, |x: &i64| i(*x));
    opt!(v, "detsize_f", o.detsize_f, |x: &f64| f(*x));
    opt!(v, "detsize_s", o.detsize_s, |x: &f64| f(*x));
    opt!(v, "Xbeam", o.xbeam, |x: &f64| f(*x));
    opt!(v, "Ybeam", o.ybeam, |x: &f64| f(*x));
    opt!(v, "Xclose", o.xclose, |x: &f64| f(*x));
    opt!(v, "Yclose", o.yclose, |x: &f64| f(*x));
    opt!(v, "ORGX", o.orgx, |x: &f64| f(*x));
    opt!(v, "ORGY", o.orgy, |x: &f64| f(*x));
    opt!(v, "fdet_vector", o.fdet_vector, |x: &[f64; 3]| fs(x));
    opt!(v, "sdet_vector", o.sdet_vector, |x: &[f64; 3]| fs(x));
    opt!(v, "odet_vector", o.odet_vector, |x: &[f64; 3]| fs(x));
    opt!(v, "beam_vector", o.beam_vector, |x: &[f64; 3]| fs(x));
    opt!(v, "polar_vector", o.polar_vector, |x: &[f64; 3]| fs(x));
    opt!(v, "spindle_axis", o.spindle_axis, |x: &[f64; 3]| fs(x));
    opt!(v, "twotheta_axis", o.twotheta_axis, |x: &[f64; 3]| fs(x));
    opt!(v, "pix0_vector", o.pix0_vector, |x: &[f64; 3]| fs(x));
    opt!(v, "twotheta", o.twotheta, |x: &f64| f(*x));
    opt!(v, "detector_rotx", o.detector_rot[0], |x: &f64| f(*x));
    opt!(v, "detector_roty", o.detector_rot[1], |x: &f64| f(*x));
    opt!(v, "detector_rotz", o.detector_rot[2], |x: &f64| f(*x));
    switch!(v, "curved_det", o.curved_det);
    switch!(v, "point_pixel", o.point_pixel);
    opt!(v, "detector_abs", o.detector_abs, |x: &Option<f64>| match x {
        Some(d) => f(*d),
        None => s("inf"),
    });
    opt!(v, "detector_thick", o.detector_thick, |x: &f64| f(*x));
    opt!(v, "detector_thicksteps", o.detector_thicksteps, |x: &i64| i(*x));
    opt!(v, "roi", o.roi, |x: &[i64; 4]| is(x));
    opt!(v, "mask", o.mask, |x: &String| s(x));
    opt!(v, "img", o.img, |x: &String| s(x));
}

/// Beam and sampling flags.
fn beam_and_sampling_flags(o: &Options, v: &mut Flags) {
    // beam
    opt!(v, "lambda", o.lambda, |x: &f64| f(*x));
    opt!(v, "dispersion", o.dispersion, |x: &f64| f(*x));
    opt!(v, "dispsteps", o.dispsteps, |x: &i64| i(*x));
    opt!(v, "hdivrange", o.hdivrange, |x: &f64| f(*x));
    opt!(v, "vdivrange", o.vdivrange, |x: &f64| f(*x));
    opt!(v, "hdivstep", o.hdivstep, |x: &f64| f(*x));
    opt!(v, "vdivstep", o.vdivstep, |x: &f64| f(*x));
    opt!(v, "hdivsteps", o.hdivsteps, |x: &i64| i(*x));
    opt!(v, "vdivsteps", o.vdivsteps, |x: &i64| i(*x));
    switch!(v, "square_div", o.square_div);
    opt!(v, "sourcefile", o.sourcefile, |x: &String| s(x));
    switch!(v, "source_weights", o.source_weights);
    opt!(v, "polar", o.polar, |x: &f64| f(*x));
    switch!(v, "nopolar", o.nopolar);
    opt!(v, "fluence", o.fluence, |x: &f64| f(*x));
    opt!(v, "flux", o.flux, |x: &f64| f(*x));
    opt!(v, "exposure", o.exposure, |x: &f64| f(*x));
    opt!(v, "beamsize", o.beamsize, |x: &f64| f(*x));
    // sampling
    opt!(v, "oversample", o.oversample, |x: &i64| i(*x));
    switch!(v, "oversample_thick", o.oversample_thick);
    switch!(v, "oversample_polar", o.oversample_polar);
    switch!(v, "oversample_omega", o.oversample_omega);
    opt!(v, "dmin", o.dmin, |x: &f64| f(*x));
    opt!(v, "water", o.water, |x: &f64| f(*x));
}

/// Output and engine flags.
fn output_and_engine_flags(o: &Options, v: &mut Flags) {
    // output
    opt!(v, "floatfile", o.floatfile, |x: &String| s(x));
    opt!(v, "intfile", o.intfile, |x: &String| s(x));
    opt!(v, "noisefile", o.noisefile, |x: &String| s(x));
    opt!(v, "pgmfile", o.pgmfile, |x: &String| s(x));
    opt!(v, "cbffile", o.cbffile, |x: &String| s(x));
    opt!(v, "nxsfile", o.nxsfile, |x: &String| s(x));
    opt!(v, "write_expt", o.write_expt, |x: &String| s(x));
    switch!(v, "nxs_append", o.nxs_append);
    if o.smv_header_dials {
        v.push(("smv_header", s("dials")));
    }
    opt!(v, "scale", o.scale, |x: &f64| f(*x));
    opt!(v, "pgmscale", o.pgmscale, |x: &f64| f(*x));
    opt!(v, "adc", o.adc, |x: &f64| f(*x));
    opt!(v, "seed", o.seed, |x: &i64| i(*x));
    switch!(v, "nonoise", o.nonoise);
    switch!(v, "nopgm", o.nopgm);
    match o.progress {
        Some(true) => v.push(("progress", vec![])),
        Some(false) => v.push(("noprogress", vec![])),
        None => {}
    }
    match o.printout_pixel {
        Some([fp, sp]) => v.push(("printout_pixel", is(&[fp, sp]))),
        None => switch!(v, "printout", o.printout),
    }
    opt!(v, "trace_pixel", o.trace_pixel, |x: &[i64; 2]| is(x));
    // engine
    opt!(v, "chunk_elements", o.chunk_elements, |x: &usize| i(*x as i64));
    if o.gpu {
        v.push(("device", s(if o.gpu_software { "gpu:software" } else { "gpu" })));
    }
    if o.engine != crate::engine::render::Engine::Auto {
        v.push(("engine", s(o.engine.name())));
    }
    opt!(v, "precision", o.precision, |x: &Precision| s(match x {
        Precision::F32 => "f32",
        Precision::F64 => "f64",
    }));
    opt!(v, "threads", o.threads, |x: &usize| i(*x as i64));
}

/// Convention and pivot: side effects of the flags above, undone or confirmed.
fn frame_flags(o: &Options, v: &mut Flags) {
    // side effects of the flags above, undone or confirmed
    if let Some(c) = o.convention {
        let name = match c {
            Convention::Mosflm => Some("mosflm"),
            Convention::Xds => Some("xds"),
            Convention::Adxv => Some("adxv"),
            Convention::Denzo => Some("denzo"),
            Convention::Dials => Some("dials"),
            // set by the vector flags above, the only way to get it
            Convention::Custom => None,
        };
        if let Some(n) = name {
            v.push((n, vec![]));
        }
    }
    opt!(v, "pivot", o.pivot, |p: &Pivot| s(match p {
        Pivot::Beam => "beam",
        Pivot::Sample => "sample",
    }));
}

fn toml_value(v: &Val) -> toml::Value {
    match v {
        Val::I(x) => toml::Value::Integer(*x),
        Val::F(x) => toml::Value::Float(*x),
        Val::S(x) => toml::Value::String(x.clone()),
    }
}

/// The settings of `o` as a run file.
pub fn to_toml(o: &Options) -> String {
    let mut out = String::from("# nanobragg run file: flag names without the dash; replay with nanobragg --config FILE\n");
    for (name, vals) in flags_of(o) {
        let value = match vals.len() {
            0 => toml::Value::Boolean(true),
            1 => toml_value(&vals[0]),
            _ => toml::Value::Array(vals.iter().map(toml_value).collect()),
        };
        out.push_str(&format!("{name} = {value}\n"));
    }
    out
}

/// The command-line flags a run file stands for, in an order that does not depend on the file.
pub fn flags_from_toml(path: &str, text: &str) -> Result<Vec<String>> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let msg = e.message().lines().next().unwrap_or("invalid TOML").to_string();
        match line {
            Some(l) => Error::new(format!("{path} line {l}: {msg}")),
            None => Error::new(format!("{path}: {msg}")),
        }
    })?;
    flags_from_table(&table).map_err(|e| Error::new(format!("{path}: {e}")))
}

/// The command-line flags a table of settings stands for (a run file's, or the keyword
/// arguments of the Python module), in an order that does not depend on the table's.
pub fn flags_from_table(table: &toml::Table) -> Result<Vec<String>> {
    // every flag but help has a setting of the same name
    let names: Vec<&str> = table::all_names().filter(|n| !["-h", "-help", "--help"].contains(n)).collect();
    // flags apply in the flag table's order (a general flag such as N before Na, polar before
    // nopolar), then the conventions and pivot, which other flags set as a side effect
    let last = ["-mosflm", "-xds", "-adxv", "-denzo", "-dials", "-pivot"];
    let rank = |key: &str| {
        let flag = format!("-{key}");
        match last.iter().position(|l| *l == flag) {
            Some(p) => names.len() + p,
            None => names.iter().position(|n| *n == flag).unwrap_or(0),
        }
    };
    let mut keys: Vec<&String> = table.keys().collect();
    keys.sort_by_key(|k| rank(k));
    let mut argv = Vec::new();
    for key in keys {
        let flag = format!("-{key}");
        if !names.contains(&flag.as_str()) {
            let hint = table::closest(&flag, names.iter().copied())
                .map(|n| format!(": did you mean {}?", &n[1..]))
                .unwrap_or_default();
            return Err(Error::new(format!("unknown setting '{key}'{hint}")));
        }
        let scalar = |v: &toml::Value| -> Result<String> {
            match v {
                toml::Value::Integer(x) => Ok(x.to_string()),
                // Rust's shortest round-trip form: the same f64 comes back
                toml::Value::Float(x) => Ok(x.to_string()),
                toml::Value::String(x) => Ok(x.clone()),
                _ => Err(Error::new(format!("{key}: expected numbers, a string or true, got {v}"))),
            }
        };
        match &table[key] {
            toml::Value::Boolean(true) => argv.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                argv.push(flag);
                for item in items {
                    argv.push(scalar(item)?);
                }
            }
            v => {
                argv.push(flag);
                argv.push(scalar(v)?);
            }
        }
    }
    Ok(argv)
}

/// The options of a command line that may name a run file (`--config FILE`) and ask for the
/// resolved settings (`--print-config`): the file's settings first, then the flags. Returns the
/// options and whether to print them instead of running.
pub fn resolve(args: &[String]) -> Result<(Options, bool)> {
    let mut config = None;
    let mut print = false;
    let mut rest = Vec::new();
    let mut k = 0;
    while k < args.len() {
        let a = args[k].as_str();
        if a == "--print-config" {
            print = true;
        } else if a == "--config" {
            let v = args.get(k + 1).ok_or_else(|| Error::new("--config: missing file name"))?;
            config = Some(v.clone());
            k += 1;
        } else if let Some(v) = a.strip_prefix("--config=") {
            config = Some(v.to_string());
        } else {
            rest.push(args[k].clone());
        }
        k += 1;
    }
    let mut argv = Vec::new();
    if let Some(path) = config {
        let bytes = crate::io::read_all(&crate::io::osname::path(&path))?;
        let text = String::from_utf8(bytes).map_err(|_| Error::new(format!("{path}: not UTF-8 text")))?;
        argv = flags_from_toml(&path, &text)?;
        // check the file alone, so that its errors name it
        parse(&argv).map_err(|e| Error::new(format!("{path}: {e}")))?;
    }
    argv.extend(rest);
    Ok((parse(&argv)?, print))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn replay(line: &str) -> (Options, Options) {
        let o = parse(&args(line)).unwrap();
        let text = to_toml(&o);
        let back = parse(&flags_from_toml("r.toml", &text).unwrap()).unwrap_or_else(|e| panic!("{text}\n{e}"));
        (o, back)
    }

    #[test]
    fn every_setting_survives_a_round_trip() {
        for line in [
            "-cell 70.1 80 90 75 85 95.123456789012 -legacy_cell -misset -10.5 20 1e-7 -misset_seed 3 -N 5 -Nc 7 -xtalsize 0.1 -sample_z 0.3 -round_xtal -fudge 0.5 -mosaic 0.3 -mosaic_domains 4 -mosaic_seed -9 -phi 1 -osc 2 -phistep 0.5 -phisteps 4",
            "-mat a.mat -misset random -hkl x.hkl -default_F 3 -dump d.bin -nointerpolate -close_distance 90 -pixel 0.172 -detpixels_f 100 -detpixels_s 50 -detsize_f 20 -detsize 30 -Xclose 3 -Yclose 4 -ORGX 10 -ORGY 11 -twotheta 5 -twotheta_axis 0 1 0",
            "-distance 100 -Xbeam 1 -Ybeam 2 -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 -beam_vector 1 0 0 -polar_vector 0 0 1 -spindle_axis 0 0 -1 -pix0_vector 0 0 0 -detector_rotx 1 -detector_rotz -2 -curved_det -point_pixel -detector_abs inf -detector_thick 300 -thicksteps 3 -roi 1 2 3 4 -mask m.img -img i.img -mosflm",
            "-energy 9000 -dispersion 0.1 -dispsteps 3 -divergence 0.2 -hdivstep 0.01 -vdivsteps 4 -square_div -sourcefile s.txt -source_weights -polar 0.5 -nopolar -fluence 1e24 -flux 1e12 -exposure 2 -beamsize 0.05 -oversample 2 -oversample_thick -oversample_polar -oversample_omega -dmin 2 -water 100 -tophat_spots -interpolate",
            "-floatfile f.bin -intfile i.img -noisefile n.img -pgmfile p.pgm -scale 2 -pgmscale 3 -adc 10 -seed 5 -nonoise -nopgm -noprogress -printout_pixel 3 4 -trace_pixel 5 6 -memory_mb 64 -device gpu -engine tensor -precision f32 -threads 3 -xds -pivot beam",
            "-device gpu:software -engine gpu -distance 90",
            "-engine fused -device cpu",
            "-detector_abs 50 -gauss_xtal -progress -printout -adxv -distance 5",
            "-dials -denzo -twotheta 3 -detpixels 8",
        ] {
            let (o, back) = replay(line);
            assert_eq!(format!("{o:?}"), format!("{back:?}"), "{line}");
        }
    }

    #[test]
    fn keys_in_any_order_and_bad_files() {
        let o = parse(&flags_from_toml("r", "pivot = \"sample\"\ndistance = 90\nnopolar = true\npolar = 0.5\nNa = 3\nN = 5\n").unwrap()).unwrap();
        assert_eq!(o.pivot, Some(Pivot::Sample));
        assert!(o.nopolar);
        assert_eq!((o.na, o.nb), (Some(3.0), Some(5.0)));
        let e = flags_from_toml("r.toml", "distanc = 90\n").unwrap_err();
        assert!(e.0.contains("r.toml") && e.0.contains("'distanc'") && e.0.contains("did you mean distance?"), "{e}");
        let e = flags_from_toml("r.toml", "distance = 90\ncell = [70, \n").unwrap_err();
        assert!(e.0.starts_with("r.toml line 2"), "{e}");
        let e = flags_from_toml("r.toml", "help = true\n").unwrap_err();
        assert!(e.0.contains("unknown setting 'help'") && !e.0.contains("did you mean help"), "{e}");
        let e = flags_from_toml("r.toml", "cell = [[1]]\n").unwrap_err();
        assert!(e.0.contains("cell"), "{e}");
    }
}
