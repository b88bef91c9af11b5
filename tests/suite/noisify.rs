//! `nanobragg noisify`: parity with the reference noisify (every golden case through
//! compare_suite.py, noise images bit-identical), bad input, and the chain from a render.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn in_ci() -> bool {
    std::env::var("CI").map(|v| !v.is_empty() && v != "false" && v != "0").unwrap_or(false)
}

/// The noisify golden folder: $NB_GOLDEN_NOISIFY_DIR, else ../shared/golden-noisify.
fn golden_noisify_dir() -> Option<PathBuf> {
    let p = match std::env::var_os("NB_GOLDEN_NOISIFY_DIR") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden-noisify"),
    };
    if p.join("index.json").exists() && p.join("compare_suite.py").exists() {
        return Some(p);
    }
    if in_ci() {
        panic!("noisify golden folder {} is missing (CI=true: parity must run)", p.display());
    }
    eprintln!("NOTE: noisify golden folder {} not found: skipping the noisify C-parity comparison (set NB_GOLDEN_NOISIFY_DIR)", p.display());
    None
}

#[test]
fn golden_noisify_cases_match_the_c_reference() {
    let Some(golden) = golden_noisify_dir() else { return };
    let index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden.join("index.json")).unwrap()).unwrap();
    let n_cases = index["cases"].as_array().unwrap().len();
    assert!(n_cases > 0);
    let out = match Command::new("python3").arg(golden.join("compare_suite.py")).arg("--bin").arg(bin()).arg("--cases").arg(&golden).output() {
        Ok(o) => o,
        Err(e) => {
            assert!(!in_ci(), "python3 is needed for the noisify parity check: {e}");
            eprintln!("NOTE: python3 not runnable ({e}): skipping the noisify C-parity comparison");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let last = text.lines().last().unwrap_or("");
    let counts: Vec<usize> = last.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    assert!(last.ends_with("failed") && counts.len() == 2, "no summary line: {last}");
    assert_eq!(counts[1], 0, "noisify parity failures: {last}");
    assert_eq!(counts[0], n_cases, "every case of index.json must run: {last}");
    assert!(out.status.success());
}

/// Runs noisify in a fresh folder holding `files`; returns the output and the folder's files
/// afterwards (besides the inputs).
fn noisify_in(args: &[&str], files: &[(&str, Vec<u8>)]) -> (std::process::Output, Vec<String>) {
    let dir = scratch("noisify");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let mut a = vec!["noisify".to_string()];
    a.extend(args.iter().map(|s| s.to_string()));
    let out = run_args(&dir, &a);
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !files.iter().any(|(f, _)| f == n))
        .collect();
    left.sort();
    let _ = std::fs::remove_dir_all(&dir);
    (out, left)
}

fn floats(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn image(n: usize) -> Vec<u8> {
    floats(&(0..n).map(|i| (i % 13) as f32 * 2.5).collect::<Vec<_>>())
}

/// A refused run: non-zero exit, one stderr line containing `what`, no file written.
fn refused(args: &[&str], files: &[(&str, Vec<u8>)], what: &str) {
    let (out, left) = noisify_in(args, files);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail; stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line expected: {err}");
    assert!(err.contains(what), "{args:?}: '{what}' not in: {err}");
    assert!(left.is_empty(), "{args:?} left files behind: {left:?}");
}

#[test]
fn bad_input_is_refused_with_one_line_and_no_output() {
    let good = || vec![("in.bin", image(64))];
    refused(&["-floatfile", "missing.bin", "-seed", "1"], &[], "missing.bin");
    refused(&["-floatfile", "in.bin"], &[("in.bin", vec![])], "in.bin");
    refused(&["-floatfile", "in.bin"], &[("in.bin", vec![0; 6])], "in.bin");
    // short and long against the size given
    refused(&["-floatfile", "in.bin", "-detpixels", "9"], &good(), "in.bin");
    refused(&["-floatfile", "in.bin", "-detpixels", "7"], &good(), "in.bin");
    refused(&["-floatfile", "in.bin", "-detpixels_x", "5"], &good(), "in.bin");
    refused(&["-floatfile", "in.bin", "-psf", "gauss", "-psf_fwhm", "-50"], &good(), "-psf_fwhm");
    refused(&["-floatfile", "in.bin", "-gain", "-2"], &good(), "-gain");
    refused(&["-floatfile", "in.bin", "-psf", "lorentz"], &good(), "lorentz");
    refused(&["-floatfile", "in.bin", "-nosie"], &good(), "-nosie");
    refused(&["-floatfile", "in.bin", "-seed"], &good(), "-seed");
    refused(&["-floatfile", "in.bin", "-bits", "24"], &good(), "-bits");
    refused(&["-floatfile", "in.bin", "-header", "nothere.img"], &good(), "nothere.img");
    refused(&["-floatfile", "in.bin", "-header", "in.bin"], &good(), "in.bin");
    refused(&["-floatfile", "nan.bin"], &[("nan.bin", floats(&[1.0, f32::NAN, 2.0, 3.0]))], "nan.bin");
    refused(&["-seed", "3"], &[], "input");
}

#[test]
fn help_lists_every_flag_with_defaults() {
    let (out, _) = noisify_in(&["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["-floatfile", "-psf_fwhm", "-psf_radius", "-calib_seed", "-readnoise", "-bits", "-header", "-nonoise"] {
        assert!(text.contains(name), "{name} missing from help");
    }
    assert!(text.contains("[default: 0.03]") && text.contains("um"));
}

#[test]
fn outputs_defaults_and_seed_reproducibility() {
    let files = vec![("in.bin", image(256))];
    let dir = scratch("noisify_out");
    std::fs::write(dir.join("in.bin"), &files[0].1).unwrap();
    let run = |args: &str| {
        let out = run_in(&dir, &format!("noisify {args}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run("in.bin -bits 32 -nopgm");
    assert!(text.contains("seed: -") && text.contains("from the clock"), "{text}");
    let first = std::fs::read(dir.join("noiseimage.img")).unwrap();
    assert_eq!(first.len(), 512 + 4 * 256);
    assert!(String::from_utf8_lossy(&first[..512]).contains("TYPE=long_integer;"));
    let seed: String = text.split("-seed ").nth(1).unwrap().chars().take_while(|c| c.is_ascii_digit()).collect();
    run(&format!("in.bin -bits 32 -nopgm -seed {seed}"));
    assert_eq!(std::fs::read(dir.join("noiseimage.img")).unwrap()[512..], first[512..]);
    run("-floatfile in.bin -seed 4");
    assert!(dir.join("image.pgm").exists() && dir.join("intimage.img").exists());
    // a copied 16-bit header over 32-bit pixels says so
    run("-floatfile in.bin -seed 4 -header intimage.img -bits 32 -noisefile n32.img");
    let n32 = std::fs::read(dir.join("n32.img")).unwrap();
    let head = String::from_utf8_lossy(&n32[..512]).into_owned();
    assert_eq!(n32.len(), 512 + 4 * 256);
    assert!(head.contains("TYPE=long_integer;") && !head.contains("unsigned_short") && head.contains("SIZE1=16;"), "{head}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".tmp")).collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// nanobragg's own noise image and noisify's (no calibration error) on nanobragg's float image
/// are the same pixels for the same seed: one noise stream, one Poisson routine.
#[test]
fn render_then_noisify_reproduces_the_render_noise_image() {
    let dir = scratch("noisify_chain");
    let out = run_in(&dir, "-cell 60 60 60 90 90 90 -default_F 200 -N 4 -lambda 1 -distance 80 -pixel 0.1 -detpixels 48 -floatfile f.bin -noisefile nb.img -seed 7 -noprogress");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run_in(&dir, "noisify -floatfile f.bin -calibration 0 -seed 7 -noisefile nz.img -nopgm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let nb = std::fs::read(dir.join("nb.img")).unwrap();
    let nz = std::fs::read(dir.join("nz.img")).unwrap();
    assert_eq!(nb.len(), nz.len());
    assert!(nb[512..].iter().any(|&b| b != 0));
    assert_eq!(nb[512..], nz[512..]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One render with noisify's detector flags writes the noise image `nanobragg noisify` makes
/// from its float image with the same flags (pixel for pixel), on three geometries: a Gaussian
/// PSF with gain and readout noise; a rectangular tilted detector with a fiber PSF of fixed
/// radius, flicker and another offset; and -gain alone, which keeps noisify's 3% calibration
/// error.
#[test]
fn a_render_with_the_detector_flags_writes_noisifys_noise_image() {
    let dir = scratch("render_response");
    let cases = [
        ("-cell 70 80 90 90 90 90 -default_F 100 -N 6 -lambda 1 -distance 80 -pixel 0.1 -detpixels 64 -oversample 2", 64, 0.1, 40.0, "-psf gauss -psf_fwhm 150 -gain 2 -readout_noise 3 -calib_seed 5"),
        ("-cell 60 60 60 90 90 90 -default_F 50 -N 5 -lambda 1.2 -distance 60 -pixel 0.172 -detpixels_f 48 -detpixels_s 40 -detector_rotx 4 -twotheta 8 -oversample 1", 48, 0.172, 10.0, "-psf fiber -psf_fwhm 200 -psf_radius 3 -flicker 0.05 -calibration 0.01"),
        ("-mosflm -cell 50 60 70 90 95 90 -misset 10 20 30 -default_F 80 -N 4 -lambda 0.9 -distance 50 -pixel 0.2 -detpixels 40 -oversample 1", 40, 0.2, 40.0, "-gain 1"),
    ];
    for (k, (geometry, fast, pixel, adc, response)) in cases.iter().enumerate() {
        let out = run_in(&dir, &format!("{geometry} {response} -adc {adc} -seed {} -floatfile f{k}.bin -noisefile a{k}.img -nopgm -noprogress", 11 + k));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.contains("detector response (as noisify)"), "{said}{}", String::from_utf8_lossy(&out.stderr));
        let chain = run_in(&dir, &format!("noisify -floatfile f{k}.bin -detpixels_x {fast} -pixel {pixel} {response} -adc {adc} -seed {} -noisefile b{k}.img -intfile i{k}.img -nopgm", 11 + k));
        assert!(chain.status.success(), "{}", String::from_utf8_lossy(&chain.stderr));
        let (ours, theirs) = (smv_pixels(&dir.join(format!("a{k}.img"))), smv_pixels(&dir.join(format!("b{k}.img"))));
        assert_eq!(ours.len(), theirs.len());
        assert!(ours == theirs, "case {k}: the render's noise image differs from noisify's");
        // the response is more than Poisson noise: the plain render's noise image differs
        let plain = run_in(&dir, &format!("{geometry} -adc {adc} -seed {} -noisefile p{k}.img -nopgm -noprogress", 11 + k));
        assert!(plain.status.success());
        assert!(smv_pixels(&dir.join(format!("p{k}.img"))) != ours, "case {k}");
    }
    // the run file keeps the response and replays it
    let toml = String::from_utf8_lossy(&run_in(&dir, &format!("{} {} -seed 11 --print-config", cases[0].0, cases[0].4)).stdout).to_string();
    for key in ["psf = \"gauss\"", "psf_fwhm = 150.0", "gain = 2.0", "readout_noise = 3.0", "calib_seed = 5"] {
        assert!(toml.contains(key), "{key}: {toml}");
    }
    // bad values: one line naming the flag, nothing written
    for (flags, needle) in [
        ("-psf blob", "-psf: unknown PSF type 'blob' (use gauss or fiber)"),
        ("-gain -1", "-gain"),
        ("-psf_fwhm -3", "-psf_fwhm"),
        ("-calibration -0.1", "-calibration"),
        ("-gain 1 -seed 5000000000", "-seed: 5000000000 does not fit"),
        ("-calib_seed 9999999999", "-calib_seed"),
    ] {
        let out = run_in(&dir, &format!("{} {flags} -noisefile bad.img -floatfile bad.bin", cases[0].0));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.lines().count() == 1 && err.contains(needle), "{flags}: {err}");
        assert!(!dir.join("bad.img").exists() && !dir.join("bad.bin").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
