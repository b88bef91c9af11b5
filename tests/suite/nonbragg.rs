//! `nanobragg nonbragg`: parity with the C program nonBragg over the golden cases (through the
//! golden folder's own compare_suite.py), bad input, and the F(stol) table.

use crate::common::*;
use nanobragg::engine::amorphous::table::{parse_points, StolTable, StolUnits};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The nonBragg golden folder: $NB_GOLDEN_NONBRAGG_DIR, else ../shared/golden-nonbragg beside
/// the crate. Missing: a failure with CI=true, otherwise a visible skip note.
fn golden_nonbragg_dir() -> Option<PathBuf> {
    let p = match std::env::var_os("NB_GOLDEN_NONBRAGG_DIR") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden-nonbragg"),
    };
    if p.join("index.json").exists() && p.join("compare_suite.py").exists() {
        return Some(p);
    }
    let in_ci = std::env::var("CI").map(|v| !v.is_empty() && v != "false" && v != "0").unwrap_or(false);
    if in_ci {
        panic!("nonBragg golden folder {} is missing (CI=true: parity must run)", p.display());
    }
    eprintln!("NOTE: nonBragg golden folder {} not found: skipping the nonBragg C-parity comparison (set NB_GOLDEN_NONBRAGG_DIR)", p.display());
    None
}

#[test]
fn golden_cases_match_the_c_nonbragg() {
    let Some(golden) = golden_nonbragg_dir() else { return };
    let index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden.join("index.json")).unwrap()).unwrap();
    let n_cases = index["cases"].as_array().unwrap().len();
    assert!(n_cases > 0);
    let out = Command::new("python3")
        .arg(golden.join("compare_suite.py"))
        .args(["--bin", bin(), "--cases"])
        .arg(&golden)
        .output()
        .expect("run python3 compare_suite.py");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let last = text.lines().last().unwrap_or("");
    assert_eq!(last, format!("{n_cases} passed, 0 failed"), "compare_suite.py: {last}");
    assert!(out.status.success());
}

const GOOD: &str = "-stol water.stol -lambda 1 -distance 50 -detpixels 24 -noprogress";
const OUTPUTS: [&str; 5] = ["floatimage.bin", "intimage.img", "noiseimage.img", "image.pgm", "output.stol"];

fn fixtures(dir: &Path) {
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    w("water.stol", b"0 2.57\n0.1 2.6\n0.2 2.8\n0.3 3.0\n0.5 3.1\n");
    w("empty.stol", b"");
    w("comments.stol", b"# stol F\n\n");
    w("malformed.stol", b"0 2.57\n0.1 two\n");
    w("onecolumn.stol", b"0 2.57\n0.1\n");
    w("nan.stol", b"0 2.57\n0.1 nan\n");
    w("down.stol", b"0 2.57\n0.2 2.6\n0.1 2.8\n");
    w("repeat.stol", b"0 2.57\n0 2.57\n0.1 2.8\n");
    w("bad_sources.txt", b"-10 0 zero\n");
}

/// Expect failure: one stderr line that names `what`, a non-zero exit, no output file.
fn fails(args: &str, what: &str) {
    let d = scratch("nonbragg_bad");
    fixtures(&d);
    let mut argv = vec!["nonbragg".to_string()];
    argv.extend(args.split_whitespace().map(String::from));
    let out = run_args(&d, &argv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args}: should fail");
    assert_eq!(err.trim_end().lines().count(), 1, "{args}: one error line, got {err:?}");
    assert!(err.contains(what), "{args}: error should name {what}: {err}");
    for f in OUTPUTS {
        assert!(!d.join(f).exists(), "{args}: {f} left behind");
    }
    let left: Vec<String> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with('.')).collect();
    assert!(left.is_empty(), "{args}: temporaries left: {left:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_tables_are_refused() {
    fails("-stol empty.stol -detpixels 8", "empty.stol");
    fails("-stol comments.stol -detpixels 8", "comments.stol");
    fails("-stol malformed.stol -detpixels 8", "malformed.stol");
    fails("-stol onecolumn.stol -detpixels 8", "onecolumn.stol");
    fails("-stol nan.stol -detpixels 8", "nan.stol");
    fails("-stol down.stol -detpixels 8", "down.stol");
    fails("-stol repeat.stol -detpixels 8", "repeat.stol");
    fails("-Q missing.stol -detpixels 8", "missing.stol");
    fails("-detpixels 8", "-stol");
}

#[test]
fn bad_flags_and_values_are_refused() {
    fails(&format!("{GOOD} -thickness -1"), "-thickness");
    fails(&format!("{GOOD} -density -1"), "-density");
    fails(&format!("{GOOD} -sample_den -0.5"), "-sample_den");
    fails(&format!("{GOOD} -hdiv 0.28"), "-hdiv");
    fails(&format!("{GOOD} -twotheta_axi 0 0 1"), "-twotheta_axi");
    fails(&format!("{GOOD} -lambda"), "-lambda");
    fails(&format!("{GOOD} -pixel abc"), "-pixel");
    fails(&format!("{GOOD} -sourcefile bad_sources.txt"), "bad_sources.txt");
    fails(&format!("{GOOD} -sourcefile none.txt"), "none.txt");
    fails(&format!("{GOOD} -img none.img"), "none.img");
    fails(&format!("{GOOD} -floatfile nofolder/x.bin"), "nofolder/x.bin");
}

#[test]
fn a_good_run_writes_every_output_and_repeats_its_noise() {
    let d = scratch("nonbragg_good");
    fixtures(&d);
    let run = |extra: &str| {
        let mut argv = vec!["nonbragg".to_string()];
        argv.extend(format!("{GOOD} {extra}").split_whitespace().map(String::from));
        let out = run_args(&d, &argv);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let log = run("-pgmscale 1");
    for f in &OUTPUTS[..4] {
        assert!(d.join(f).exists(), "{f} not written");
    }
    // no seed: the clock's is printed, and repeats the image
    let seed = log.lines().find_map(|l| l.split("repeat this noise image with -seed ").nth(1)).expect("seed printed").trim_end_matches(')').to_string();
    let first = std::fs::read(d.join("noiseimage.img")).unwrap();
    run(&format!("-seed {seed}"));
    assert_eq!(std::fs::read(d.join("noiseimage.img")).unwrap(), first);
    // the PGM holds exactly width x height pixel bytes
    let pgm = std::fs::read(d.join("image.pgm")).unwrap();
    let head = b"P5\n24 24\n";
    assert!(pgm.starts_with(head));
    let body_start = pgm.windows(4).position(|w| w == b"255\n").unwrap() + 4;
    assert_eq!(pgm.len() - body_start, 24 * 24);
    let img = read_f32(&d.join("floatimage.bin"));
    assert_eq!(img.len(), 24 * 24);
    assert!(img.iter().all(|v| v.is_finite() && *v > 0.0));
    // -nopgm and -nonoise write neither
    std::fs::remove_file(d.join("image.pgm")).unwrap();
    std::fs::remove_file(d.join("noiseimage.img")).unwrap();
    run("-nopgm -nonoise");
    assert!(!d.join("image.pgm").exists() && !d.join("noiseimage.img").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn help_lists_the_flags_with_units_and_defaults() {
    let d = scratch("nonbragg_help");
    let out = run_args(&d, &["nonbragg".to_string(), "--help".to_string()]);
    assert!(out.status.success());
    let h = String::from_utf8_lossy(&out.stdout);
    for flag in ["-stol", "-Q", "-4stol", "-img", "-stolout", "-thickness", "-density", "-MW", "-Xbeam", "-ORGX", "-twotheta_axis", "-roi", "-Fmap", "-seed"] {
        assert!(h.contains(flag), "{flag} missing from the help");
    }
    assert!(h.contains("[default: 0.1]") && h.contains("<MM>") && h.contains("<G/CM3>"));
    // and the program's own help lists the command
    let out = run_args(&d, &["--help".to_string()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nonbragg"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn table_interpolation_at_table_points_is_exact() {
    let text = "0 2.56999\n0.0505051 2.8\n0.10101 3.15\n0.151515 2.9\n0.20202 1.5\n0.252525 -0.5\n";
    let pts = parse_points(text).unwrap();
    let t = StolTable::from_points(&pts, StolUnits::Stol).unwrap();
    for &(x, f) in &pts {
        let got = t.f_at(x * 1e10);
        assert!((got - f).abs() <= 1e-14 * f.abs(), "F({x}) = {got}, want {f}");
    }
    // the first column read as Q or 4 stol lands on the same knots
    let q: Vec<(f64, f64)> = pts.iter().map(|&(x, f)| (x * 4.0 * std::f64::consts::PI, f)).collect();
    let tq = StolTable::from_points(&q, StolUnits::Q).unwrap();
    let s4: Vec<(f64, f64)> = pts.iter().map(|&(x, f)| (x * 4.0, f)).collect();
    let t4 = StolTable::from_points(&s4, StolUnits::FourStol).unwrap();
    for k in 2..t.knot_count() - 2 {
        assert!((tq.knot(k) - t.knot(k)).abs() <= 1e-12 * t.knot(k).abs().max(1.0));
        assert!((t4.knot(k) - t.knot(k)).abs() <= 1e-12 * t.knot(k).abs().max(1.0));
    }
}

#[test]
fn golden_tables_read_in_all_three_units() {
    let Some(golden) = golden_nonbragg_dir() else { return };
    let inputs = golden.join("inputs");
    let w = nanobragg::engine::amorphous::read_stol_table(&inputs.join("water.stol"), StolUnits::Stol).unwrap();
    let q = nanobragg::engine::amorphous::read_stol_table(&inputs.join("water_Q.stol"), StolUnits::Q).unwrap();
    let f = nanobragg::engine::amorphous::read_stol_table(&inputs.join("water_4stol.stol"), StolUnits::FourStol).unwrap();
    assert_eq!((w.len(), q.len(), f.len()), (10000, 10000, 10000));
    for x in [0.0, 0.1e10, 0.2345e10, 0.4999e10] {
        let a = w.f_at(x);
        assert!((q.f_at(x) - a).abs() < 1e-4 * a && (f.f_at(x) - a).abs() < 1e-4 * a, "{x}");
    }
    let ice = nanobragg::engine::amorphous::read_stol_table(&inputs.join("ice.stol"), StolUnits::Stol).unwrap();
    assert_eq!(ice.len(), 288);
}

/// With a constant table of water's forward F, nonbragg's image is nanobragg's `-water` term
/// (docs/nonbragg.md: the beam-centre conversion, the default fluence, a cube of the same size).
#[test]
fn constant_table_equals_the_water_term_of_a_render() {
    let d = scratch("nonbragg_water");
    std::fs::write(d.join("c.stol"), "0 2.57\n1 2.57\n").unwrap();
    let geometry = "-lambda 1 -distance 100 -pixel 0.1 -detpixels 64 -noprogress";
    let out = run_in(&d, &format!("-cell 79 79 38 90 90 90 -default_F 1e-20 -N 1 -water 100 -floatfile bragg.bin {geometry}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run_in(&d, &format!("nonbragg -stol c.stol -Xbeam 3.3 -Ybeam 3.3 -samplesize 0.1 -floatfile water.bin -nonoise -nopgm {geometry}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (read_f32(&d.join("bragg.bin")), read_f32(&d.join("water.bin")));
    assert_eq!(a.len(), b.len());
    let max = a.iter().fold(0.0f32, |m, v| m.max(*v));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-6 * max, "max |diff| {worst} of {max}");
    let _ = std::fs::remove_dir_all(&d);
}

/// A render's `-stol` adds, pixel for pixel, what `nanobragg nonbragg` (the C program's
/// numbers, by the golden cases above) renders for the same pixels: the float image is the
/// single-precision sum of the Bragg-only render and nonBragg's image of each material, in
/// the order given, on three geometries (several materials; divergence, dispersion, Kahn
/// polarization and a beam smaller than the sample; detector rotations and 3x3 sub-pixels).
/// nonBragg's beam centre is the pixel corner nanoBragg's is half a pixel from, with X and Y
/// swapped. The noise image with noisify's detector flags is noisify's of that sum.
#[test]
fn a_render_with_stol_adds_nonbraggs_image_and_noisify_chains_the_sum() {
    let dir = scratch("render_stol");
    std::fs::write(dir.join("water.stol"), "0 2.57\n0.1 2.6\n0.2 2.8\n0.3 3.0\n0.5 3.1\n1.0 2.0\n").unwrap();
    std::fs::write(dir.join("air.stol"), "# air\n0 7.5\n0.05 6.0\n0.1 4.2\n0.2 2.5\n0.4 1.2\n1.0 0.5\n").unwrap();
    std::fs::write(dir.join("water_q.stol"), "0 2.57\n1.2566 2.6\n2.5133 2.8\n3.7699 3.0\n6.2832 3.1\n12.566 2.0\n").unwrap();
    let crystal = "-cell 70 80 90 90 90 90 -default_F 100 -N 6 -flux 1e12 -exposure 1";
    // (render geometry, the same pixels as nonBragg flags, materials of the render, the same one by one for nonBragg)
    let cases = [
        (
            "-lambda 1 -distance 80 -pixel 0.1 -detpixels 64 -Xbeam 3.15 -Ybeam 3.25 -oversample 2",
            "-lambda 1 -distance 80 -pixel 0.1 -detpixels 64 -Xbeam 3.3 -Ybeam 3.2 -oversample 2 -flux 1e12 -exposure 1",
            "-stol water.stol air.stol -stol_thick 0.1 5 -stol_density 1 0.0012 -stol_MW 18 28.8",
            vec!["-stol water.stol -thick 0.1 -density 1 -MW 18", "-stol air.stol -thick 5 -density 0.0012 -MW 28.8"],
        ),
        (
            "-lambda 1.2 -distance 60 -pixel 0.1 -detpixels 48 -Xbeam 2.35 -Ybeam 2.45 -divergence 4 -divsteps 3 -dispersion 2 -dispsteps 3 -polar 0.6 -beamsize 0.05 -oversample 1",
            "-lambda 1.2 -distance 60 -pixel 0.1 -detpixels 48 -Xbeam 2.5 -Ybeam 2.4 -divergence 4 -divsteps 3 -dispersion 2 -dispsteps 3 -polar 0.6 -beamsize 0.05 -flux 1e12 -exposure 1",
            "-stol water.stol -stol_thick 0.2",
            vec!["-stol water.stol -thick 0.2"],
        ),
        (
            "-lambda 0.9 -distance 50 -pixel 0.1 -detpixels 40 -Xbeam 2.05 -Ybeam 1.95 -detector_rotx 3 -detector_roty 4 -detector_rotz 5 -oversample 3",
            "-lambda 0.9 -distance 50 -pixel 0.1 -detpixels 40 -Xbeam 2.0 -Ybeam 2.1 -detector_rotx 3 -detector_roty 4 -detector_rotz 5 -oversample 3 -flux 1e12 -exposure 1",
            "-stol air.stol -stol_thick 20 -stol_density 0.0012 -stol_MW 28.8",
            vec!["-stol air.stol -thick 20 -density 0.0012 -MW 28.8"],
        ),
        (
            // a table in Q = 4 pi sin(theta)/lambda, as -Q names it for both programs
            "-lambda 1 -distance 80 -pixel 0.1 -detpixels 64 -Xbeam 3.15 -Ybeam 3.25 -oversample 1",
            "-lambda 1 -distance 80 -pixel 0.1 -detpixels 64 -Xbeam 3.3 -Ybeam 3.2 -oversample 1 -flux 1e12 -exposure 1",
            "-Q water_q.stol -stol_thick 0.3",
            vec!["-Q water_q.stol -thick 0.3"],
        ),
    ];
    for (k, (geometry, same_pixels, materials, alone)) in cases.iter().enumerate() {
        let ok = |out: std::process::Output, what: &str| assert!(out.status.success(), "case {k} {what}: {}", String::from_utf8_lossy(&out.stderr));
        ok(run_in(&dir, &format!("{crystal} {geometry} {materials} -floatfile r{k}.bin -nopgm -noprogress")), "render -stol");
        ok(run_in(&dir, &format!("{crystal} {geometry} -floatfile b{k}.bin -nopgm -noprogress")), "render");
        let mut sum = read_f32(&dir.join(format!("b{k}.bin")));
        for (m, flags) in alone.iter().enumerate() {
            ok(run_in(&dir, &format!("nonbragg {flags} {same_pixels} -floatfile n{k}_{m}.bin -nopgm -nonoise -noprogress")), "nonbragg");
            let n = read_f32(&dir.join(format!("n{k}_{m}.bin")));
            assert_eq!(n.len(), sum.len());
            assert!(n.iter().sum::<f32>() > 1.0, "case {k}: the material scatters");
            sum.iter_mut().zip(&n).for_each(|(s, x)| *s += *x);
        }
        let ours = read_f32(&dir.join(format!("r{k}.bin")));
        let differ = ours.iter().zip(&sum).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differ, 0, "case {k}: {differ} pixels differ from Bragg + nonBragg");
    }
    // the detector response of the render is noisify's on the summed float image
    let (geometry, _, materials, _) = &cases[1];
    let response = "-psf gauss -psf_fwhm 150 -gain 2 -readout_noise 3 -calib_seed 5";
    let out = run_in(&dir, &format!("{crystal} {geometry} {materials} {response} -adc 40 -seed 9 -floatfile s.bin -noisefile a.img -nopgm -noprogress"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run_in(&dir, &format!("noisify -floatfile s.bin -detpixels_x 48 -pixel 0.1 {response} -adc 40 -seed 9 -noisefile c.img -nopgm"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(smv_pixels(&dir.join("a.img")) == smv_pixels(&dir.join("c.img")), "the render's noise image differs from noisify's of its float image");
    // the run file keeps the materials and replays the image
    let toml = String::from_utf8_lossy(&run_in(&dir, &format!("{crystal} {} {} --print-config", cases[0].0, cases[0].2)).stdout).to_string();
    for key in ["stol = [\"water.stol\", \"air.stol\"]", "stol_thick = [0.1, 5.0]", "stol_density = [1.0, 0.0012]", "stol_MW = [18.0, 28.8]"] {
        assert!(toml.contains(key), "{key}: {toml}");
    }
    std::fs::write(dir.join("run.toml"), &toml).unwrap();
    assert!(run_in(&dir, "--config run.toml -floatfile replay.bin -nopgm -noprogress").status.success());
    assert!(read_f32(&dir.join("replay.bin")) == read_f32(&dir.join("r0.bin")));
    // bad input: one line naming it, no output file
    std::fs::write(dir.join("empty.stol"), "").unwrap();
    std::fs::write(dir.join("down.stol"), "0 2.57\n0.2 2.6\n0.1 2.8\n").unwrap();
    let geometry = cases[0].0;
    for (flags, needle) in [
        ("-stol gone.stol", "-stol gone.stol"),
        ("-stol empty.stol", "-stol empty.stol"),
        ("-stol down.stol", "-stol down.stol"),
        ("-stol water.stol -stol_thick -1", "-stol_thick: must not be negative"),
        ("-stol water.stol -stol_thick 0.1 0.2", "background.stol_thickness: 2 values for 1 -stol tables"),
        ("-stol water.stol -stol_MW 0", "stol_molecular_weight: must be positive"),
        ("-stol_density 1", "no -stol FILE is given"),
        ("-stol", "-stol: missing file name"),
        ("-stol water.stol -Q water_q.stol", "-Q: the tables are already given with -stol"),
        ("-stol -stol_thick 1", "-stol: missing file name"),
    ] {
        let out = run_in(&dir, &format!("{crystal} {geometry} {flags} -floatfile bad.bin -noisefile bad.img -nopgm -noprogress"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.lines().count() == 1 && err.contains(needle), "{flags}: {err}");
        assert!(!dir.join("bad.bin").exists() && !dir.join("bad.img").exists(), "{flags}");
    }
    // refinement has no model of it yet: refused, not silently left out
    let out = run_in(&dir, &format!("refine {crystal} {geometry} -stol water.stol --target r0.bin --refine distance"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("-stol water.stol: the amorphous background is rendered, not refined"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
