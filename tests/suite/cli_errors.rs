//! Bad input gives one line on stderr naming the input, a non-zero exit, and no output file.

use crate::common::*;

const GOOD: &str = "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 32";

fn fails(args: &str, expect_in_message: &str) {
    let dir = scratch("err");
    std::fs::write(dir.join("empty.hkl"), "").unwrap();
    std::fs::write(dir.join("bad.hkl"), "1 2 3 100\n1 2 x 4\n").unwrap();
    std::fs::write(dir.join("bad.mat"), "1 2 3\n4 5\n").unwrap();
    std::fs::write(dir.join("bad_sources.txt"), "-10 0 zero\n").unwrap();
    std::fs::write(dir.join("notsmv.img"), "hello, not an image").unwrap();
    let out = run_in(&dir, &format!("{args} -floatfile out.bin -intfile out.img"));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "'{args}' should fail");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("WARNING")).collect();
    assert_eq!(lines.len(), 1, "'{args}': expected one error line, got {err:?}");
    assert!(lines[0].contains(expect_in_message), "'{args}': {:?} does not mention {expect_in_message:?}", lines[0]);
    assert!(!dir.join("out.bin").exists() && !dir.join("out.img").exists(), "'{args}': output written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_and_numbers() {
    fails(&format!("{GOOD} -bogus 3"), "-bogus");
    fails(&format!("{GOOD} -lambda one"), "-lambda");
    fails(&format!("{GOOD} -distance"), "-distance");
    fails(&format!("{GOOD} -N 2.5"), "-N");
    fails(&format!("{GOOD} -mosaic_seeds 3"), "-mosaic_seeds");
    fails(&format!("{GOOD} stray"), "stray");
}

#[test]
fn bad_files() {
    fails(&format!("{GOOD} -hkl missing.hkl"), "missing.hkl");
    fails(&format!("{GOOD} -hkl empty.hkl"), "empty.hkl");
    fails(&format!("{GOOD} -hkl bad.hkl"), "bad.hkl");
    fails("-mat bad.mat -default_F 1 -detpixels 8", "bad.mat");
    fails("-mat nothere.mat -default_F 1 -detpixels 8", "nothere.mat");
    fails(&format!("{GOOD} -sourcefile bad_sources.txt"), "bad_sources.txt");
    fails(&format!("{GOOD} -mask notsmv.img"), "notsmv.img");
    fails(&format!("{GOOD} -img nothere.img"), "nothere.img");
}

#[test]
fn impossible_geometry() {
    fails(&format!("{GOOD} -pixel 0"), "pixel");
    fails(&format!("{GOOD} -pixel -0.1"), "pixel");
    fails(&format!("{GOOD} -lambda 0"), "wavelength");
    fails(&format!("{GOOD} -lambda -1"), "wavelength");
    fails("-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 0 -detsize 0", "pixels");
    fails(&format!("{GOOD} -roi 20 10 0 5"), "-roi");
    fails("-default_F 100 -N 5 -detpixels 8", "cell");
    fails("-cell 70 80 90 -N 5 -detpixels 8", "structure factors");
}

#[test]
fn mask_of_the_wrong_size_is_refused() {
    let Some(golden) = golden_dir() else { return };
    let dir = scratch("mask");
    std::fs::copy(golden.join("inputs/mask.img"), dir.join("mask.img")).unwrap();
    // the mask is 128 x 128; ask for 100 x 100
    let out = run_in(&dir, &format!("{GOOD} -mask mask.img -detpixels 100 -floatfile out.bin"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mask.img") && err.contains("128"), "{err}");
    assert!(!dir.join("out.bin").exists());
}

#[test]
fn help_lists_flags() {
    let dir = scratch("help");
    let out = run_in(&dir, "-h");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["-hkl", "-mosaic_seed", "-oversample_omega", "-sourcefile", "-source_weights"] {
        assert!(text.contains(flag), "help lacks {flag}");
    }
}
