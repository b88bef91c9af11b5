//! Run files: a command line's resolved settings as TOML (`--print-config`), read back with
//! `--config FILE`. Keys are the flag names without their dash and values are the flag's
//! arguments, so loading turns a file back into flags: it is checked exactly as a command line
//! is, and flags typed after it override it.

use super::flags::{self, Val};
use super::parse::{parse, parse_with_help};
use super::types::Config;
use crate::error::{Error, Result};

/// Conventions and the pivot go last: other flags set them as a side effect.
const LAST: [&str; 6] = ["-mosflm", "-xds", "-adxv", "-denzo", "-dials", "-pivot"];

/// The flags that rebuild `c` exactly, each as its declaration writes it, in the flag
/// table's order with the conventions and pivot last. Switches have no values.
fn flags_of(c: &Config) -> Vec<(&'static str, Vec<Val>)> {
    let (last, first): (Vec<&flags::Flag>, Vec<&flags::Flag>) = flags::all().partition(|f| LAST.contains(&f.names[0]));
    let mut late: Vec<&flags::Flag> = last;
    late.sort_by_key(|f| LAST.iter().position(|l| *l == f.names[0]));
    first.into_iter().chain(late).filter_map(|f| (f.get)(c).map(|v| (&f.names[0][1..], v))).collect()
}

fn toml_value(v: &Val) -> toml::Value {
    match v {
        Val::I(x) => toml::Value::Integer(*x),
        Val::F(x) => toml::Value::Float(*x),
        Val::S(x) => toml::Value::String(x.clone()),
    }
}

/// The settings of `c` as a run file.
pub fn to_toml(c: &Config) -> String {
    let mut out = String::from("# nanobragg run file: flag names without the dash; replay with nanobragg --config FILE\n");
    for (name, vals) in flags_of(c) {
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
            Some(l) => Error::file(format!("{path} line {l}: {msg}")),
            None => Error::file(format!("{path}: {msg}")),
        }
    })?;
    flags_from_table(&table).map_err(|e| Error::file(format!("{path}: {}", e.0)))
}

/// The command-line flags a table of settings stands for (a run file's, or the keyword
/// arguments of the Python module), in an order that does not depend on the table's.
pub fn flags_from_table(table: &toml::Table) -> Result<Vec<String>> {
    // every flag but help has a setting of the same name
    let names: Vec<&str> = flags::all_names().filter(|n| !["-h", "-help", "--help"].contains(n)).collect();
    // flags apply in the flag table's order (a general flag such as N before Na, polar before
    // nopolar), then the conventions and pivot, which other flags set as a side effect
    let rank = |key: &str| {
        let flag = format!("-{key}");
        match LAST.iter().position(|l| *l == flag) {
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
            let hint = flags::closest(&flag, names.iter().copied())
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
/// configuration, whether to print it instead of running, and whether the flags ask for help.
pub fn resolve(args: &[String]) -> Result<(Config, bool, bool)> {
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
        let text = String::from_utf8(bytes).map_err(|_| Error::file(format!("{path}: not UTF-8 text")))?;
        argv = flags_from_toml(&path, &text)?;
        // check the file alone, so that its errors name it
        parse(&argv).map_err(|e| Error::file(format!("{path}: {e}")))?;
    }
    argv.extend(rest);
    let (config, help) = parse_with_help(&argv)?;
    Ok((config, print, help))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn replay(line: &str) -> (Config, Config) {
        let o = parse(&args(line)).unwrap();
        let text = to_toml(&o);
        let back = parse(&flags_from_toml("r.toml", &text).unwrap()).unwrap_or_else(|e| panic!("{text}\n{e}"));
        (o, back)
    }

    /// Command lines that together set every setting a run file writes.
    const LINES: &[&str] = &[
            "-cell 70.1 80 90 75 85 95.123456789012 -legacy_cell -misset -10.5 20 1e-7 -misset_seed 3 -N 5 -Nc 7 -xtalsize 0.1 -sample_z 0.3 -round_xtal -fudge 0.5 -mosaic 0.3 -mosaic_domains 4 -mosaic_seed -9 -phi 1 -osc 2 -phistep 0.5 -phisteps 4",
            "-mat a.mat -expt e.expt -spectrum s.txt -misset random -hkl x.hkl -default_F 3 -dump d.bin -nointerpolate -close_distance 90 -pixel 0.172 -detpixels_f 100 -detpixels_s 50 -detsize_f 20 -detsize 30 -Xclose 3 -Yclose 4 -ORGX 10 -ORGY 11 -twotheta 5 -twotheta_axis 0 1 0",
            "-distance 100 -Xbeam 1 -Ybeam 2 -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 -beam_vector 1 0 0 -polar_vector 0 0 1 -spindle_axis 0 0 -1 -pix0_vector 0 0 0 -detector_rotx 1 -detector_rotz -2 -curved_det -point_pixel -detector_abs inf -detector_thick 300 -thicksteps 3 -roi 1 2 3 4 -mask m.img -img i.img -mosflm",
            "-energy 9000 -dispersion 0.1 -dispsteps 3 -divergence 0.2 -hdivstep 0.01 -vdivsteps 4 -square_div -sourcefile s.txt -spectrum_lines 9000 1 9100.5 2.25 -source_weights -polar 0.5 -nopolar -fluence 1e24 -flux 1e12 -exposure 2 -beamsize 0.05 -oversample 2 -oversample_thick -oversample_polar -oversample_omega -dmin 2 -water 100 -tophat_spots -interpolate",
            "-floatfile f.bin -intfile i.img -noisefile n.img -pgmfile p.pgm -pngfile p.png -scale 2 -pgmscale 3 -adc 10 -seed 5 -nonoise -nopgm -noprogress -printout_pixel 3 4 -trace_pixel 5 6 -memory_mb 64 -device gpu -engine tensor -precision f32 -threads 3 -xds -pivot beam",
            "-device gpu:software -engine gpu -distance 90 -square_xtal",
            "-dials -detector_roty 2 -vdivstep 0.02 -hdivsteps 3 -cbffile c.cbf -nxsfile n.nxs -nxs_append -write_expt w.expt -smv_header dials",
            "-engine fused -device cpu",
            "-detector_abs 50 -gauss_xtal -progress -printout -adxv -distance 5",
            "-detector_abs 0.3 -detector_thick 17.3 -dmin 1.7 -water 33.3 -mosaic 0.07 -phi 33.3 -misset 0.1 0.2 0.3 -beamsize 0.013 -divergence 0.37 -dispersion 0.3",
            "-dials -denzo -twotheta 3 -detpixels 8",
            "-psf fiber -psf_fwhm 123.4 -psf_radius 3 -gain 1.7 -calibration 0.02 -calib_seed -7 -readout_noise 2.5 -flicker 0.01",
            "-psf gauss -psf_sigma 40 -readout 1",
            "-stol water.stol air.stol -stol_thick 0.1 5.5 -stol_density 1 0.0012 -stol_MW 18 28.8",
            "-stol w.stol -stol_thick 0.37 -stol_density 0.92 -stol_MW 18.015",
            "-Q q.stol air_q.stol -stol_thick 0.2",
            "-4stol f.stol",
    ];

    #[test]
    fn every_setting_survives_a_round_trip() {
        for line in LINES {
            let (o, back) = replay(line);
            assert_eq!(o, back, "{line}");
        }
    }

    #[test]
    fn every_flag_is_written_unless_another_flag_writes_its_value() {
        let written: Vec<String> = LINES.iter().flat_map(|l| flags_of(&parse(&args(l)).unwrap())).map(|(k, _)| format!("-{k}")).collect();
        // these set values that more specific flags write
        let setters_only = ["-N", "-xtalsize", "-density", "-detpixels", "-detsize", "-energy", "-divergence", "-divsteps", "-round_div", "-coherent", "-memory_mb", "-psf_sigma", "-h"];
        let wrong: Vec<&str> = flags::all().map(|f| f.names[0]).filter(|n| written.contains(&n.to_string()) == setters_only.contains(n)).collect();
        assert!(wrong.is_empty(), "not covered by LINES, or written though another flag writes its value: {wrong:?}");
    }

    #[test]
    fn unit_conversions_round_trip_for_any_value() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let one_number = ["-distance", "-close_distance", "-pixel", "-detsize_f", "-Xbeam", "-Yclose", "-twotheta", "-detector_rotx", "-detector_abs", "-detector_thick", "-lambda", "-dispersion", "-hdivrange", "-vdivstep", "-beamsize", "-dmin", "-water", "-mosaic", "-phi", "-osc", "-phistep", "-sample_x"];
        for flag in one_number {
            for k in 0..3000 {
                let v = next() * 500.0 + 1e-3;
                let typed = if k % 2 == 0 { format!("{v}") } else { format!("{v:.prec$}", prec = k % 5) };
                let line = format!("{flag} {typed}");
                let (o, back) = replay(&line);
                assert_eq!(o, back, "{line}");
            }
        }
    }

    #[test]
    fn keys_in_any_order_and_bad_files() {
        let c = parse(&flags_from_toml("r", "pivot = \"sample\"\ndistance = 90\nnopolar = true\npolar = 0.5\nNa = 3\nN = 5\n").unwrap()).unwrap();
        assert_eq!(c.detector.pivot, Some(crate::config::settings::Pivot::Sample));
        assert!(c.beam.nopolar);
        assert_eq!(c.crystal.cells[..2], [Some(3.0), Some(5.0)]);
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
