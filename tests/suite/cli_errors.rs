//! Bad input gives one line on stderr naming the input, a non-zero exit, and no output file.

use crate::common::*;

const GOOD: &str = "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 32";

/// Input files every case can name, written into the scratch folder.
fn fixtures(dir: &std::path::Path) {
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    w("empty.hkl", b"");
    w("comments.hkl", b"# only comments\n! and more\n\n");
    w("bad.hkl", b"1 2 3 100\n1 2 x 4\n");
    w("short.hkl", b"1 2 3 100\n1 2 3\n");
    w("nan.hkl", b"1 2 3 100\n1 2 4 nan\n");
    w("huge.hkl", b"1 2 3 100\n99999999 0 0 1\n");
    w("empty.mat", b"");
    w("bad.mat", b"1 2 3\n4 5\n");
    w("words.mat", b"a b c\nd e f\ng h i\n");
    w("singular.mat", b"1 2 3\n2 4 6\n1 1 1\n");
    w("empty_sources.txt", b"");
    w("bad_sources.txt", b"-10 0 zero\n");
    w("zero_lambda_sources.txt", b"-10 0 0 1 0\n");
    w("origin_sources.txt", b"0 0 0 1 1e-10\n");
    w("spectrum.txt", b"9000 1\n9100 2\n");
    w("ambiguous_spectrum.txt", b"9.0 1\n9.1 2\n");
    w("bad_spectrum.txt", b"9000 1\n9100 heavy\n");
    w("zero_spectrum.txt", b"9000 0\n");
    w("notsmv.img", b"hello, not an image");
    w("empty.img", b"");
    w("truncated.img", b"{\nHEADER_BYTES=512;\nSIZE1=32;\nSIZE2=32;\n}");
    let mut h = b"{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\nSIZE1=x;\nSIZE2=4;\n}".to_vec();
    h.resize(512 + 32, b' ');
    w("nosize.img", &h);
    w("Fdump_garbage.bin", b"garbage\x0c\x00\x00");
    w("Fdump_inverted.bin", b"5 -5 0 0 0 0\n\x0c");
    w("Fdump_truncated.bin", b"0 0 0 0 0 0\n\x0cabc");
    std::fs::create_dir_all(dir.join("a_folder")).unwrap();
}

const OUTPUTS: [&str; 4] = ["out.bin", "out.img", "noise.img", "out.pgm"];

/// Run in a folder prepared by `fixtures` (plus `setup`), expecting failure: one error line
/// naming `expect_in_message`, a non-zero exit, and none of the four outputs written.
fn fails_with(args: &str, expect_in_message: &str, setup: impl Fn(&std::path::Path)) {
    let dir = scratch("err");
    fixtures(&dir);
    setup(&dir);
    let out = run_in(&dir, &format!("{args} -floatfile out.bin -intfile out.img -noisefile noise.img -pgmfile out.pgm -noprogress"));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "'{args}' should fail");
    assert_eq!(out.status.code(), Some(1), "'{args}': exit status {:?} (a panic?): {err}", out.status.code());
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("WARNING")).collect();
    assert_eq!(lines.len(), 1, "'{args}': expected one error line, got {err:?}");
    assert!(lines[0].starts_with("nanobragg: error: "), "'{args}': {:?}", lines[0]);
    assert!(lines[0].contains(expect_in_message), "'{args}': {:?} does not mention {expect_in_message:?}", lines[0]);
    for f in OUTPUTS {
        assert!(!dir.join(f).exists(), "'{args}': {f} written");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn fails(args: &str, expect_in_message: &str) {
    fails_with(args, expect_in_message, |_| {})
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
    fails("-cell 70 80 90 90 90 90 -N 5 -detpixels 8", "structure factors");
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
    for flag in ["-hkl", "-mosaic_seed", "-oversample_omega", "-sourcefile", "-source_weights", "-legacy_cell"] {
        assert!(text.contains(flag), "help lacks {flag}");
    }
}

#[test]
fn missing_values_of_multi_value_flags() {
    // at the end of the line, and followed by another flag
    for (args, flag) in [
        ("-cell", "-cell"),
        ("-misset 1 2", "-misset"),
        ("-roi 1 2 3", "-roi"),
        ("-printout_pixel 1", "-printout_pixel"),
        ("-trace_pixel 1", "-trace_pixel"),
        ("-beam_vector 1 0", "-beam_vector"),
        ("-fdet_vector 0 0", "-fdet_vector"),
        ("-spindle_axis 1", "-spindle_axis"),
        ("-twotheta_axis 1 0", "-twotheta_axis"),
        ("-pix0_vector 1 0", "-pix0_vector"),
        ("-hkl", "-hkl"),
        ("-mat", "-mat"),
        ("-sourcefile", "-sourcefile"),
        ("-mask", "-mask"),
        ("-img", "-img"),
        ("-pivot", "-pivot"),
        ("-detector_abs", "-detector_abs"),
    ] {
        // the common flags come after the case, so the flag is followed by "-floatfile"
        fails(&format!("{GOOD} {args}"), flag);
        let dir = scratch("err_end");
        let out = run_in(&dir, &format!("{GOOD} -floatfile out.bin {args}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "'{args}' at the end: {err}");
        assert!(err.contains(flag) && err.contains("missing"), "'{args}' at the end: {err}");
        assert!(!dir.join("out.bin").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
    fails(&format!("{GOOD} -cell -N 3"), "-cell");
    fails(&format!("{GOOD} -pivot middle"), "-pivot");
}

#[test]
fn more_bad_numbers_and_flags() {
    fails(&format!("{GOOD} -lambda 1.0.0"), "-lambda");
    fails(&format!("{GOOD} -lambda nan"), "-lambda");
    fails(&format!("{GOOD} -distance inf"), "-distance");
    fails(&format!("{GOOD} -N five"), "-N");
    fails(&format!("{GOOD} -detpixels 1e40"), "-detpixels");
    fails(&format!("{GOOD} -seed x"), "-seed");
    fails(&format!("{GOOD} -misset 1 two 3"), "-misset");
    fails(&format!("{GOOD} -roi 0 10 0 1.5"), "-roi");
    fails(&format!("{GOOD} -printout_pixel a 3"), "-printout_pixel");
    fails(&format!("{GOOD} --cell 70"), "--cell");
    fails(&format!("{GOOD} -Cell 70"), "-Cell");
    fails(&format!("{GOOD} -detpix 32"), "-detpix");
    fails(&format!("{GOOD} -chunk_elements 0"), "-chunk_elements");
}

#[test]
fn unreadable_empty_and_malformed_files() {
    // a folder stands in for an unreadable file (tests may run as root, where modes do not bite)
    for flag in ["-hkl", "-mat", "-sourcefile", "-spectrum", "-img", "-mask"] {
        fails(&format!("{GOOD} {flag} a_folder"), "a_folder");
        fails(&format!("{GOOD} {flag} not_there.txt"), "not_there.txt");
    }
    fails(&format!("{GOOD} -hkl comments.hkl"), "comments.hkl");
    fails(&format!("{GOOD} -hkl short.hkl"), "short.hkl");
    fails(&format!("{GOOD} -hkl nan.hkl"), "nan.hkl");
    fails(&format!("{GOOD} -hkl huge.hkl"), "huge.hkl");
    fails("-mat empty.mat -default_F 1 -detpixels 8", "empty.mat");
    fails("-mat words.mat -default_F 1 -detpixels 8", "words.mat");
    fails("-mat singular.mat -default_F 1 -detpixels 8", "singular.mat");
    fails(&format!("{GOOD} -sourcefile empty_sources.txt"), "empty_sources.txt");
    fails(&format!("{GOOD} -sourcefile zero_lambda_sources.txt"), "zero_lambda_sources.txt");
    fails(&format!("{GOOD} -sourcefile origin_sources.txt"), "origin_sources.txt");
    fails(&format!("{GOOD} -spectrum ambiguous_spectrum.txt"), "keV or Angstrom");
    fails(&format!("{GOOD} -spectrum bad_spectrum.txt"), "bad_spectrum.txt: line 2");
    fails(&format!("{GOOD} -spectrum zero_spectrum.txt"), "no line of positive weight");
    // a spectrum gives the wavelengths: flags that give others are refused, not ignored
    for (flags, named) in [("-energy 9000", "-lambda/-energy"), ("-lambda 1", "-lambda/-energy"), ("-sourcefile spectrum.txt", "-sourcefile"), ("-dispersion 0.1 -dispsteps 3", "-dispersion"), ("-divergence 0.2", "-divergence")] {
        fails(&format!("{GOOD} -spectrum spectrum.txt {flags}"), named);
    }
    for img in ["empty.img", "truncated.img", "nosize.img", "notsmv.img"] {
        fails(&format!("{GOOD} -img {img}"), img);
        fails(&format!("{GOOD} -mask {img}"), img);
    }
}

#[test]
fn corrupt_structure_factor_dump() {
    // without -hkl the dump -dump names is read: a corrupt one is an error, with or without
    // -default_F; one in the working folder that no flag names is not read at all
    for dump in ["Fdump_garbage.bin", "Fdump_inverted.bin", "Fdump_truncated.bin"] {
        let copy = |d: &std::path::Path| {
            std::fs::copy(d.join(dump), d.join("Fdump.bin")).unwrap();
        };
        fails_with("-cell 70 80 90 90 90 90 -N 5 -detpixels 16 -dump Fdump.bin", "Fdump.bin", copy);
        fails_with("-cell 70 80 90 90 90 90 -N 5 -detpixels 16 -default_F 10 -dump Fdump.bin", "Fdump.bin", copy);
        fails(&format!("-cell 70 80 90 90 90 90 -N 5 -detpixels 16 -dump {dump}"), dump);
        fails_with("-cell 70 80 90 90 90 90 -N 5 -detpixels 16", "no structure factors", copy);
    }
    fails("-cell 70 80 90 90 90 90 -N 5 -detpixels 16 -dump absent.bin", "-dump absent.bin: no such file");
}

#[test]
fn more_impossible_geometry_and_sampling() {
    fails(&format!("{GOOD} -energy 0"), "-energy");
    fails(&format!("{GOOD} -energy -9000"), "-energy");
    fails(&format!("{GOOD} -detpixels 0"), "-detpixels");
    fails(&format!("{GOOD} -detpixels_x 0"), "-detpixels_x");
    fails(&format!("{GOOD} -detpixels_y -3"), "-detpixels_y");
    fails("-cell 70 80 90 90 90 90 -default_F 1 -N 5 -detsize 0", "pixels");
    fails("-cell 70 80 90 90 90 90 -default_F 1 -N 5 -detsize -5", "pixels");
    fails(&format!("{GOOD} -distance 0"), "-distance");
    fails(&format!("{GOOD} -distance -100"), "-distance");
    fails(&format!("{GOOD} -detector_roty 90"), "detector");
    fails(&format!("{GOOD} -twotheta 90"), "detector");
    fails(&format!("{GOOD} -detector_thicksteps -2"), "-detector_thicksteps");
    fails(&format!("{GOOD} -detector_thick -100"), "-detector_thick");
    fails(&format!("{GOOD} -phisteps -3"), "-phisteps");
    fails(&format!("{GOOD} -dispsteps -1 -dispersion 1"), "-dispsteps");
    fails(&format!("{GOOD} -divsteps -1 -divergence 1"), "-divsteps");
    fails(&format!("{GOOD} -mosaic_domains -4 -mosaic 1"), "-mosaic_domains");
    fails(&format!("{GOOD} -mosaic -1"), "-mosaic");
    fails(&format!("{GOOD} -dispersion -5"), "-dispersion");
    fails(&format!("{GOOD} -divergence -1"), "-divergence");
    fails(&format!("{GOOD} -oversample 100000"), "-oversample");
    fails(&format!("{GOOD} -water -5"), "-water");
    fails(&format!("{GOOD} -dmin -2"), "-dmin");
    fails(&format!("{GOOD} -polar 2"), "-polar");
    fails(&format!("{GOOD} -fudge 0"), "-fudge");
    fails(&format!("{GOOD} -xtalsize -1"), "-xtalsize");
    fails(&format!("{GOOD} -flux 1e12 -exposure -1"), "-exposure");
    fails(&format!("{GOOD} -flux 1e12 -beamsize 0"), "fluence");
    fails(&format!("{GOOD} -cell 70 80 90 90 90 200"), "-cell");
    // a negative length is not taken as a number of -cell (options start with '-'): it is an
    // unknown option
    fails(&format!("{GOOD} -cell 70 -80 90"), "-80");
    fails(&format!("{GOOD} -cell 70 80 90 180 90 90"), "cell");
    fails(&format!("{GOOD} -beam_vector 0 0 0"), "-beam_vector");
    fails(&format!("{GOOD} -roi 10 5 0 5"), "-roi");
    fails(&format!("{GOOD} -printout_pixel 32 0"), "-printout_pixel");
    fails(&format!("{GOOD} -trace_pixel -1 0"), "-trace_pixel");
}

#[test]
fn mask_of_the_wrong_size_made_here() {
    // make a 16 x 16 SMV image with the program itself, then use it on a 32 x 32 detector
    fails_with(&format!("{GOOD} -mask small.img -detpixels 32"), "small.img", |d| {
        let out = run_in(d, "-cell 70 80 90 90 90 90 -default_F 1 -N 5 -detpixels 16 -floatfile m.bin -intfile small.img -noprogress");
        assert!(out.status.success());
        std::fs::remove_file(d.join("m.bin")).unwrap();
    });
}

#[test]
fn unwritable_outputs_leave_nothing_behind() {
    for (flag, target) in [("-intfile", "no_such_folder/x.img"), ("-pgmfile", "a_folder"), ("-noisefile", "no_such_folder/n.img")] {
        let dir = scratch("unwritable");
        fixtures(&dir);
        let out = run_in(&dir, &format!("{GOOD} -floatfile out.bin {flag} {target} -noprogress"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag} {target}: {err}");
        assert!(err.contains(target), "{err}");
        assert!(!dir.join("out.bin").exists(), "{flag} {target}: out.bin written");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn clamped_and_edge_inputs_are_valid_and_finite() {
    // -N 0 is clamped to 1 (as in the reference): a valid input, the same image as -N 1
    let base = "-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -distance 50 -pixel 0.2 -detpixels 24 -oversample 1";
    let n0 = render(&format!("{base} -N 0"));
    let n1 = render(&format!("{base} -N 1"));
    assert_eq!(n0, n1);
    // unusual but valid settings: every pixel finite and non-negative, nothing NaN
    for extra in [
        "-N 3 -polar 1 -Xbeam 2.4 -Ybeam 2.4",
        "-N 3 -polar -1",
        "-N 3 -round_xtal -Xbeam 2.4 -Ybeam 2.4",
        "-N 3 -gauss_xtal -fudge 1e-6",
        "-N 3 -tophat_spots",
        "-N 3 -curved_det -point_pixel",
        "-N 3 -dmin 1000",
        "-N 3 -detector_abs inf -detector_thick 100",
        "-N 3 -detector_abs 50 -detector_thick 300 -detector_thicksteps 1",
        "-N 3 -water 1e-3",
        "-N 3 -mosaic 0 -mosaic_domains 5",
        "-N 3 -phisteps 0 -osc 0",
        "-N 3 -roi 0 100 0 100",
        "-N 3 -detector_rotx 90",
        "-N 3 -twotheta 30",
        "-N 3 -divergence 0 -dispersion 0",
        "-N 3 -lambda 1e-3",
        "-N 3 -lambda 1000",
    ] {
        let img = render(&format!("{base} {extra}"));
        assert!(img.iter().all(|v| v.is_finite() && *v >= 0.0), "{extra}: non-finite or negative pixel");
    }
}

#[test]
fn short_cells_are_refused() {
    // the C program reads six numbers; 70 80 must not become 70 80 70 90 90 90
    for cell in ["-cell 70", "-cell 70 80", "-cell 70 80 90", "-cell 70 80 90 90 90"] {
        fails(&format!("-default_F 100 -N 5 -detpixels 16 {cell}"), "-cell");
        fails(&format!("{cell} -default_F 100 -N 5 -detpixels 16"), "-cell");
    }
}

#[test]
fn zero_length_directions_are_refused() {
    for flag in ["-twotheta_axis", "-spindle_axis", "-beam_vector", "-polar_vector", "-fdet_vector", "-sdet_vector", "-odet_vector"] {
        fails(&format!("{GOOD} -twotheta 5 {flag} 0 0 0"), flag);
        fails(&format!("{GOOD} {flag} 0.0 -0 0e3"), flag);
    }
}

/// Run a good case with extra flags in a folder with `files`; returns stdout and stderr.
fn run_ok(extra: &str, files: &[(&str, &[u8])]) -> (String, String) {
    let dir = scratch("warn");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let out = run_in(&dir, &format!("{GOOD} {extra} -floatfile out.bin -noprogress"));
    let (o, e) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert!(out.status.success(), "{extra}: {e}");
    assert!(dir.join("out.bin").exists());
    let _ = std::fs::remove_dir_all(&dir);
    (o, e)
}

#[test]
fn source_weight_warning_appears_once() {
    let (o, e) = run_ok("-sourcefile w.txt", &[("w.txt", b"-10 0 0 1 1e-10\n-10 0.01 0 2 1e-10\n")]);
    let both = format!("{o}{e}");
    assert_eq!(both.matches("non-uniform source weights").count(), 1, "stdout {o:?} stderr {e:?}");
    assert!(!both.contains("comment line"), "{both}");
}

#[test]
fn comment_lines_in_a_source_file_warn_once() {
    let file = b"# X Y Z weight lambda\n-10 0 0 1 1e-10\n  # another\n-10 0.01 0 1 1e-10\n";
    let (o, e) = run_ok("-sourcefile c.txt", &[("c.txt", file)]);
    let both = format!("{o}{e}");
    assert_eq!(both.matches("comment line").count(), 1, "stdout {o:?} stderr {e:?}");
    let line = e.lines().find(|l| l.contains("comment line")).unwrap();
    assert!(line.starts_with("WARNING: c.txt has 2 comment line(s)") && line.contains("phantom source") && line.contains("zero wavelength"), "{line}");
    // the comments are still skipped: the same image as without them
    let plain = render_in_files("-sourcefile c.txt", &[("c.txt", b"-10 0 0 1 1e-10\n-10 0.01 0 1 1e-10\n")]);
    let commented = render_in_files("-sourcefile c.txt", &[("c.txt", file)]);
    assert_eq!(plain, commented);
}

fn render_in_files(extra: &str, files: &[(&str, &[u8])]) -> Vec<f32> {
    let dir = scratch("srcimg");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let out = run_in(&dir, &format!("{GOOD} {extra} -floatfile out.bin -noprogress"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let img = read_f32(&dir.join("out.bin"));
    let _ = std::fs::remove_dir_all(&dir);
    img
}

#[test]
fn an_engine_the_device_cannot_run_is_refused() {
    fails(&format!("{GOOD} -engine fused -precision f32"), "-engine fused");
    fails(&format!("{GOOD} -engine gpu"), "-engine gpu");
    fails(&format!("{GOOD} -engine turbo"), "-engine");
    // the named engines that can run give the automatic choice's image
    let auto = render(GOOD);
    assert_eq!(render(&format!("{GOOD} -engine fused")), auto);
    let tensor = render(&format!("{GOOD} -engine tensor"));
    let worst = auto.iter().zip(&tensor).map(|(a, b)| ((a - b).abs() / a.abs().max(1e-6)) as f64).fold(0.0, f64::max);
    assert!(worst < 1e-5, "tensor path differs from the fused kernel by {worst}");
}
