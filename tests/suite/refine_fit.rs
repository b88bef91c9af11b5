//! Honest refinement of a still with a spectrum: the default strategy reaches the optimum of a
//! refinement started at the truth, reports every stage's iterations and a goodness of fit
//! consistent with photon noise, and a fit with the wrong crystal size is flagged as poor.

use crate::common::*;
use serde_json::Value;

/// The truth: a 128^2 still of a crystal 30 cells wide, a 7-line spectrum (0.6% wide), a water
/// background of about 30 photons a pixel, Poisson noise, and no pixel above 16 bits. (The
/// continuation of earlier versions, blurring the images, ended here in a false minimum.)
const COMMON: &str = "-default_F 100 -pixel 0.344 -detpixels 128 -sourcefile spec.txt -oversample 1 -fluence 3e26 -water 3.2";
const TRUTH: &str = "-cell 78 78 38 90 90 90 -misset 10 20 30 -distance 100";
/// 0.3 deg, 0.5% and 1 mm from the truth.
const START: &str = "-cell 78.39 78.39 38.19 90 90 90 -misset 10.3 19.7 30.3 -distance 101";
const PARAMS: &str = "cell_a,cell_b,cell_c,misset_x,misset_y,misset_z,distance";

fn still(tag: &str) -> std::path::PathBuf {
    let dir = scratch(tag);
    let lines: Vec<String> = (0..7).map(|i| format!("-10 0 0 1 {:.6e}", (0.997 + 0.001 * i as f64) * 1e-10)).collect();
    std::fs::write(dir.join("spec.txt"), lines.join("\n") + "\n").unwrap();
    let out = run_in(&dir, &format!("{TRUTH} -N 30 {COMMON} -noisefile n.img -seed 3 -adc 0 -nopgm"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

fn refine(dir: &std::path::Path, model: &str, extra: &str) -> (Value, String) {
    let out = run_in(dir, &format!("refine {model} {COMMON} --target n.img --adc 0 --refine {PARAMS} {extra}"));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (serde_json::from_slice(&out.stdout).expect("JSON on stdout"), err)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn refine_default_strategy_reaches_the_truth_started_optimum_with_an_honest_report() {
    let dir = still("honest_fit");
    let (best, _) = refine(&dir, &format!("{TRUTH} -N 30"), "--strategy plain");
    let (r, err) = refine(&dir, &format!("{START} -N 30"), "");
    let loss = num(&r["loss"]);
    assert!(loss - num(&best["loss"]) <= 1.0, "default strategy: loss {loss} vs {} started at the truth", best["loss"]);
    for (name, truth) in [("cell_a", 78.0), ("cell_b", 78.0), ("cell_c", 38.0), ("misset_x", 10.0), ("misset_y", 20.0), ("misset_z", 30.0), ("distance", 100.0)] {
        let (v, s) = (num(&r["params"][name]), num(&r["sigma"][name]));
        assert!(s > 0.0 && (v - truth).abs() <= 5.0 * s, "{name}: {v} vs truth {truth}, sigma {s}");
    }
    // every stage ran, the history covers every iteration of every stage, and the reported
    // end is the better of the fine and plain ends
    let stages = r["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(names, ["crystal 1/3", "crystal 2/3", "fine", "plain"]);
    let iterations = r["iterations"].as_u64().unwrap() as usize;
    assert_eq!(stages.iter().map(|s| s["iterations"].as_u64().unwrap() as usize).sum::<usize>(), iterations);
    let history = r["history"].as_array().unwrap();
    assert_eq!(history.len(), iterations + 1);
    let (fine, plain) = (num(&stages[2]["loss"]), num(&stages[3]["loss"]));
    assert_eq!(loss, fine.min(plain));
    assert_eq!(r["strategy"]["reported"], if plain < fine { "plain" } else { "fine" });
    assert_eq!(num(&history[0]), num(&stages[0]["start_loss"]));
    assert_eq!(num(&stages[3]["start_loss"]), num(&history[0]), "the plain stage starts from the start");
    // the progress lines name their stage, one line per iteration
    for stage in &names {
        assert!(err.contains(&format!(" [{stage}]: loss ")), "no progress line of {stage}:\n{err}");
    }
    assert_eq!(err.lines().filter(|l| l.starts_with("iteration ")).count(), iterations);
    // the fit is consistent with photon noise: no warning, reliable error bars
    let fit = &r["fit"];
    assert_eq!(fit["verdict"], "consistent", "{fit}");
    assert_eq!(fit["pixels"], 128 * 128);
    let (d, ed) = (num(&fit["deviance_per_pixel"]), num(&fit["expected_deviance_per_pixel"]));
    assert!((d - ed).abs() < 0.05 && ed > 0.9 && ed < 1.1, "deviance {d} per pixel, expected {ed}");
    let x = num(&fit["pearson_chi2_per_pixel"]);
    assert!((x - 1.0).abs() < 0.05, "Pearson chi2 {x} per pixel");
    assert!(num(&fit["deviance_z"]).abs() < 5.0 && num(&fit["pearson_z"]).abs() < 5.0, "{fit}");
    assert_eq!(r["warnings"].as_array().unwrap().len(), 0, "{}", r["warnings"]);
    assert_eq!(r["sigma_reliable"], true);
    assert!(err.contains("goodness of fit (consistent)"), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("WARNING: poor fit") || l.starts_with("WARNING: the residuals")), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refine_flags_a_fit_with_the_wrong_crystal_size() {
    let dir = still("poor_fit");
    // the model's crystal is 20 cells wide, the truth's 30
    let (r, err) = refine(&dir, &format!("{TRUTH} -N 20"), "--strategy plain");
    let fit = &r["fit"];
    assert_eq!(fit["verdict"], "poor", "{fit}");
    assert!(num(&fit["deviance_z"]) > 5.0, "{fit}");
    assert!(num(&fit["deviance_per_pixel"]) > num(&fit["expected_deviance_per_pixel"]), "{fit}");
    let warnings = r["warnings"].as_array().unwrap();
    assert!(warnings.len() == 1 && warnings[0].as_str().unwrap().starts_with("poor fit:"), "{warnings:?}");
    assert_eq!(r["sigma_reliable"], false);
    let warned: Vec<&str> = err.lines().filter(|l| l.starts_with("WARNING: poor fit:")).collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(warned[0].contains("error bars are not reliable"), "{}", warned[0]);
    // a plain strategy runs its one stage
    assert_eq!(r["strategy"]["reported"], "plain");
    assert_eq!(r["history"].as_array().unwrap().len(), r["iterations"].as_u64().unwrap() as usize + 1);
    let _ = std::fs::remove_dir_all(&dir);
}
