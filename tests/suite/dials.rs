//! DIALS reads our files: the CBF, NeXus and `-smv_header dials` SMV images and the
//! `-write_expt` experiment list, checked with dxtbx (tests/dials_check.py under Debian's
//! /usr/bin/python3), and a rotation series indexed by dials.import, dials.find_spots and
//! dials.index. With CI set, a missing DIALS is a failure; otherwise a skip with a note.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The Python that has dxtbx: Debian's, not a pyenv one.
const PYTHON: &str = "/usr/bin/python3";

fn in_ci() -> bool {
    std::env::var("CI").map(|v| !v.is_empty() && v != "false" && v != "0").unwrap_or(false)
}

/// Whether dxtbx and the dials commands are there; a note (or, in CI, a failure) when not.
fn dials_ready() -> bool {
    let probe = Command::new(PYTHON).args(["-c", "import dxtbx, h5py"]).output();
    let why = match probe {
        Err(e) => format!("{PYTHON} not runnable: {e}"),
        Ok(o) if !o.status.success() => format!("{PYTHON} cannot import dxtbx: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Ok(_) => match Command::new("dials.index").arg("--help").output() {
            Ok(o) if o.status.success() => return true,
            _ => "dials.index is not on the PATH".to_string(),
        },
    };
    if in_ci() {
        panic!("DIALS checks cannot run (CI is set): {why}");
    }
    eprintln!("NOTE: skipping the DIALS checks: {why} (install with: apt-get install dials)");
    false
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dials_check.py")
}

fn run_ok(dir: &Path, args: &[String]) -> String {
    let out = run_args(dir, args);
    assert!(out.status.success(), "nanobragg {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// The values our integer images hold: value x scale + adc, rounded in single precision (the
/// SMV images add -adc; CBF and NeXus images hold no offset, adc 0).
fn expected_counts(image: &[f32], scale: f64, adc: f64) -> Vec<i32> {
    image.iter().map(|&v| ((((v as f64) * scale + adc).clamp(0.0, 65535.0) + 0.5) as f32).floor() as i32).collect()
}

/// The photons of a noise image written with the default -adc 40 (its pixels minus 40); none
/// may be overloaded, so that the subtraction is exact.
fn noise_photons(path: &Path) -> Vec<i32> {
    let smv = nanobragg::io::smv::read_smv(path).unwrap();
    let photons: Vec<i32> = smv.data.iter().map(|&v| v as i32 - 40).collect();
    assert!(photons.iter().all(|&p| (0..65535 - 40).contains(&p)), "{}: pixels below the offset or overloaded", path.display());
    photons
}

fn write_i32(path: &Path, values: &[i32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn dxtbx_check(dir: &Path, truth: &str, image: &str, expected: &str) {
    let out = Command::new(PYTHON).arg(script()).args(["geometry", truth, image, expected]).current_dir(dir).output().expect("run python");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "dxtbx check of {image} failed:\n{text}");
    eprintln!("{image}: {}", text.lines().filter(|l| l.starts_with("OK")).collect::<Vec<_>>().join(" "));
}

/// A small off-centre simulation written in every format; `extra` adds geometry flags.
fn simulate(dir: &Path, extra: &str, outputs: &str) -> (Vec<f32>, f64) {
    let base = format!("-cell 40 50 60 85 95 105 -default_F 100 -N 3 -lambda 1.1 -distance 100 -pixel 0.1 -detpixels_f 120 -detpixels_s 90 -phi 10 -osc 1 -noprogress {extra}");
    let probe = run_args(dir, &words(&format!("{base} -floatfile probe.bin")));
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let max = read_f32(&dir.join("probe.bin")).iter().fold(0.0f32, |m, &v| m.max(v)) as f64;
    let scale = 50000.0 / max;
    run_ok(dir, &words(&format!("{base} -floatfile img.bin -scale {scale:?} -adc 40 {outputs}")));
    (read_f32(&dir.join("img.bin")), scale)
}

/// The number in an experiment list's first panel under `key`.
fn expt_panel(dir: &Path, file: &str, key: &str) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
    v["detector"][0]["panels"][0][key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn experiment_list_places_the_origin_at_the_first_pixel_corner() {
    // MOSFLM: the beam meets the detector Ybeam + half a pixel along fast and Xbeam + half a
    // pixel along slow from the first pixel's corner; DIALS' frame is (z, y, -x) of ours
    let d = scratch("expt_origin");
    run_ok(&d, &words("-cell 40 50 60 85 95 105 -default_F 100 -N 2 -lambda 1 -distance 100 -pixel 0.1 -detpixels 512 -Xbeam 20 -Ybeam 30 -floatfile f.bin -write_expt t.expt -noprogress"));
    let origin = expt_panel(&d, "t.expt", "origin");
    let want = [-30.05, 20.05, -100.0];
    for k in 0..3 {
        assert!((origin[k] - want[k]).abs() < 1e-9, "origin {origin:?} != {want:?}");
    }
    assert_eq!(expt_panel(&d, "t.expt", "fast_axis"), vec![1.0, 0.0, 0.0]);
    assert_eq!(expt_panel(&d, "t.expt", "slow_axis"), vec![0.0, -1.0, 0.0]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn unwritable_export_paths_fail_before_any_output() {
    let d = scratch("expt_bad");
    for flag in ["-cbffile", "-nxsfile", "-write_expt"] {
        let out = run_in(&d, &format!("-cell 40 50 60 90 90 90 -default_F 1 -N 1 -detpixels 16 -floatfile f.bin -noprogress {flag} no/such/dir/x"));
        assert!(!out.status.success(), "{flag}: an unwritable path must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{flag}: one-line error expected, got {err}");
        assert!(err.contains("no/such/dir/x"), "{flag}: the error must name the file: {err}");
        assert!(!d.join("f.bin").exists(), "{flag}: no output may be written");
    }
    // NXmx ties the beam to the lab z axis: other conventions' beams are refused up front
    let out = run_in(&d, "-xds -cell 40 50 60 90 90 90 -default_F 1 -N 1 -detpixels 16 -floatfile f.bin -noprogress -nxsfile x.nxs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("x.nxs"));
    assert!(!d.join("f.bin").exists() && !d.join("x.nxs").exists());
    // a NeXus series continues only where its scan ends
    let series = "-cell 40 50 60 90 90 90 -default_F 1 -N 1 -detpixels 16 -noprogress -osc 1 -nxsfile s.nxs -nxs_append";
    run_ok(&d, &words(&format!("{series} -phi 0 -floatfile g.bin")));
    run_ok(&d, &words(&format!("{series} -phi 1 -floatfile g.bin")));
    let out = run_in(&d, &format!("{series} -phi 5 -floatfile f.bin"));
    assert!(!out.status.success(), "a gap in the series must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("s.nxs") && err.contains("ends at 2"), "{err}");
    assert!(!d.join("f.bin").exists(), "no output may be written");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn dxtbx_reads_our_cbf_nexus_and_smv_geometry_and_pixels() {
    if !dials_ready() {
        return;
    }
    let t0 = Instant::now();
    // off-centre beam, rotation scan, in every format
    let d = scratch("dials_geom");
    let (image, scale) = simulate(&d, "-Xbeam 5.3 -Ybeam 3.7", "-cbffile a_0001.cbf -nxsfile a.nxs -write_expt a.expt");
    write_i32(&d.join("want.i32"), &expected_counts(&image, scale, 0.0));
    for image in ["a_0001.cbf", "a.nxs"] {
        dxtbx_check(&d, "a.expt", image, "want.i32");
    }
    // -adc 40 is in the SMV pixels (dxtbx takes it as the pedestal), not in CBF or NeXus ones;
    // this experiment list names the SMV image
    let (image, scale) = simulate(&d, "-Xbeam 5.3 -Ybeam 3.7", "-intfile s_0001.img -smv_header dials -write_expt s.expt");
    write_i32(&d.join("want_smv.i32"), &expected_counts(&image, scale, 40.0));
    dxtbx_check(&d, "s.expt", "s_0001.img", "want_smv.i32");
    // a rotated, shifted detector (CBF and NeXus hold any orientation)
    let r = scratch("dials_geom_rot");
    let (image, scale) = simulate(&r, "-detector_rotx 3 -detector_roty -4 -detector_rotz 7 -twotheta 12 -Xbeam 4 -Ybeam 6", "-cbffile r_0001.cbf -nxsfile r.nxs -write_expt r.expt");
    write_i32(&r.join("want.i32"), &expected_counts(&image, scale, 0.0));
    for image in ["r_0001.cbf", "r.nxs"] {
        dxtbx_check(&r, "r.expt", image, "want.i32");
    }
    // another convention's frame, written as CBF
    let x = scratch("dials_geom_xds");
    let (image, scale) = simulate(&x, "-xds -ORGX 50.5 -ORGY 40.25", "-cbffile x_0001.cbf -write_expt x.expt");
    write_i32(&x.join("want.i32"), &expected_counts(&image, scale, 0.0));
    dxtbx_check(&x, "x.expt", "x_0001.cbf", "want.i32");
    eprintln!("dxtbx geometry round trips: {:.1} s", t0.elapsed().as_secs_f64());
    for dir in [d, r, x] {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Noisy images with the default flags (so -adc 40): DIALS must read photons from the CBF and
/// NeXus pixels, or it takes the offset for signal (a fifth of the spots of a rotation series).
#[test]
fn dxtbx_reads_photons_not_the_adc_offset_from_default_flag_cbf_and_nexus() {
    if !dials_ready() {
        return;
    }
    let d = scratch("dials_photons");
    let base = "-cell 40 50 60 85 95 105 -default_F 100 -N 3 -lambda 1.1 -distance 100 -pixel 0.1 -detpixels_f 120 -detpixels_s 90 \
                -phi 10 -osc 1 -water 0.02 -seed 3 -noprogress -noisefile n.img";
    run_ok(&d, &words(&format!("{base} -cbffile p_0001.cbf -nxsfile p.nxs -write_expt p.expt")));
    let photons = noise_photons(&d.join("n.img"));
    assert!(photons.contains(&0) && photons.iter().any(|&p| p > 5), "the test needs empty and bright pixels");
    write_i32(&d.join("want.i32"), &photons);
    for image in ["p_0001.cbf", "p.nxs"] {
        dxtbx_check(&d, "p.expt", image, "want.i32");
    }
    // -adc changes the SMV images only: the CBF of an -adc 0 run is the same file (same name,
    // since the name is in its header)
    std::fs::create_dir_all(d.join("q")).unwrap();
    run_ok(&d, &words(&format!("{base} -adc 0 -cbffile q/p_0001.cbf")));
    assert!(std::fs::read(d.join("p_0001.cbf")).unwrap() == std::fs::read(d.join("q/p_0001.cbf")).unwrap(), "-adc must not reach the CBF pixels");
    let _ = std::fs::remove_dir_all(&d);
}

/// Three noisy 1024^2 frames in one NeXus series (default flags, -nxs_append) are stored at
/// least 5 times smaller than their raw 32-bit pixels, and dxtbx reads every frame exactly.
#[test]
fn a_noisy_three_frame_nexus_series_is_compressed_and_read_back_exactly() {
    if !dials_ready() {
        return;
    }
    let d = scratch("dials_nexus_size");
    let mut photons = Vec::new();
    for i in 0..3 {
        run_ok(&d, &words(&format!(
            "-cell 41 53 67 95 101 107 -misset 10 20 30 -default_F 100 -N 5 -lambda 1.0 -distance 120 -pixel 0.1 -detpixels 1024 \
             -oversample 1 -phi {i} -osc 1 -water 0.05 -seed {} -noprogress -noisefile n{i}.img -nxsfile s.nxs -nxs_append",
            i + 1
        )));
        photons.extend(noise_photons(&d.join(format!("n{i}.img"))));
    }
    let raw = photons.len() as u64 * 4;
    let size = std::fs::metadata(d.join("s.nxs")).unwrap().len();
    let mean = photons.iter().map(|&p| p as f64).sum::<f64>() / photons.len() as f64;
    eprintln!("3 x 1024^2 NeXus: {size} bytes, {:.1}x below the raw {raw} (mean {mean:.2} photons per pixel)", raw as f64 / size as f64);
    assert!(mean > 0.5, "the frames must be noisy (mean {mean} photons)");
    assert!(size * 5 <= raw, "{size} bytes is less than 5x below the raw {raw}");
    write_i32(&d.join("want.i32"), &photons);
    let out = Command::new(PYTHON).arg(script()).args(["frames", "s.nxs", "want.i32"]).current_dir(&d).output().expect("run python");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("OK") && text.contains("3 images"), "dxtbx read of s.nxs failed:\n{text}");
    let _ = std::fs::remove_dir_all(&d);
}

/// The end-to-end rotation series: the flags of frame `i` (0-based) of 20 one-degree images.
fn series_frame(i: usize) -> String {
    format!(
        "-cell 41 53 67 95 101 107 -misset 10 20 30 -default_F 100 -N 5 -lambda 1.0 -distance 120 -pixel 0.2 -detpixels 512 \
         -oversample 2 -phi {i} -osc 1 -phisteps 10 -water 0.05 -adc 0 -seed {} -noprogress -floatfile f.bin -noisefile n.img \
         -cbffile rot_{:04}.cbf -nxsfile series.nxs -nxs_append",
        i + 1,
        i + 1
    )
}

/// Runs one DIALS program in `dir`; panics with its log when it fails.
fn dials(dir: &Path, program: &str, args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {} failed:\n{text}", args.join(" "));
    t.elapsed().as_secs_f64()
}

/// Imports, finds spots (with `find_options` added to nproc=2) and indexes `images` in a folder
/// of its own; returns the comparison with the truth (JSON) and the seconds each step took.
fn index_series(dir: &Path, tag: &str, images: &[String], find_options: &[&str]) -> (serde_json::Value, [f64; 3]) {
    let work = dir.join(tag);
    std::fs::create_dir_all(&work).unwrap();
    let mut import: Vec<&str> = images.iter().map(String::as_str).collect();
    import.push("output.experiments=imported.expt");
    let t_import = dials(&work, "dials.import", &import);
    let t_find = dials(&work, "dials.find_spots", &[&["imported.expt", "nproc=2"], find_options].concat());
    let t_index = dials(&work, "dials.index", &["imported.expt", "strong.refl"]);
    let out = Command::new(PYTHON).arg(script()).args(["compare", "../truth.expt", "indexed.expt"]).current_dir(&work).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "comparison failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    (result, [t_import, t_find, t_index])
}

/// Render the 20 one-degree frames of a rotation series (`frame(i)`: the flags of frame i; the
/// first also writes the truth, `truth.expt`); asserts that no pixel overloads and returns the
/// seconds it took.
fn simulate_series(d: &Path, frame: impl Fn(usize) -> String) -> f64 {
    let t0 = Instant::now();
    let mut overloads = 0;
    for i in 0..20 {
        let mut args = frame(i);
        if i == 0 {
            args.push_str(" -write_expt truth.expt");
        }
        let text = run_ok(d, &words(&args));
        let line = text.lines().find(|l| l.contains("overloads")).expect("noise summary line");
        overloads += line.split('(').nth(1).and_then(|s| s.split_whitespace().next()).and_then(|n| n.parse::<usize>().ok()).unwrap();
    }
    assert_eq!(overloads, 0, "the series must be exposed so that nothing overloads");
    t0.elapsed().as_secs_f64()
}

/// The acceptance bounds on DIALS' indexing against the truth: cell lengths within 0.2%,
/// angles within 0.05 deg, orientation within 0.1 deg; prints the figures and step times.
fn assert_indexed(what: &str, r: &serde_json::Value, t: [f64; 3], t_sim: f64) {
    eprintln!(
        "DIALS on our {what}: cell {:?} (true {:?}), length error {:.2e}, angle error {:.4} deg, misorientation {:.4} deg; simulate {t_sim:.1} s, import {:.1} s, find_spots {:.1} s, index {:.1} s",
        r["found_cell"], r["true_cell"], r["max_length_error"].as_f64().unwrap(), r["max_angle_error_deg"].as_f64().unwrap(),
        r["misorientation_deg"].as_f64().unwrap(), t[0], t[1], t[2]
    );
    assert!(r["max_length_error"].as_f64().unwrap() < 0.002, "{what}: cell lengths off: {r}");
    assert!(r["max_angle_error_deg"].as_f64().unwrap() < 0.05, "{what}: cell angles off: {r}");
    assert!(r["misorientation_deg"].as_f64().unwrap() < 0.1, "{what}: orientation off: {r}");
}

#[test]
fn dials_indexes_our_rotation_series_to_the_true_cell_and_orientation() {
    if !dials_ready() {
        return;
    }
    let d = scratch("dials_series");
    let t_sim = simulate_series(&d, series_frame);
    let cbfs: Vec<String> = (1..=20).map(|i| format!("../rot_{i:04}.cbf")).collect();
    for (tag, images) in [("cbf", cbfs), ("nexus", vec!["../series.nxs".to_string()])] {
        let (r, t) = index_series(&d, tag, &images, &[]);
        assert_indexed(&format!("{tag} files"), &r, t, t_sim);
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Two panels of different sizes, tilted differently: the writers take any list of panels.
fn two_panel_lab() -> nanobragg::experiment::lab::LabGeometry {
    use nanobragg::experiment::lab::*;
    let panel = |name: &str, origin: [f64; 3], fast: [f64; 3], slow: [f64; 3], size: [usize; 2]| PanelGeometry {
        name: name.into(),
        origin,
        fast_axis: fast,
        slow_axis: slow,
        pixel_size: [0.1, 0.1],
        image_size: size,
        thickness: 0.45,
        mu: 3.2,
        trusted_range: [-1.0, 2147483646.0],
    };
    let (c, s) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
    LabGeometry {
        beam: BeamGeometry { wavelength: 0.9, direction: [0.0, 0.0, 1.0], polarization_normal: [0.0, 1.0, 0.0], polarization_fraction: 0.5 },
        panels: vec![
            panel("panel0", [-12.0, 8.0, -150.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [60, 40]),
            panel("panel1", [3.0, 8.5, -149.0], [c, 0.0, s], [0.0, -1.0, 0.0], [50, 40]),
        ],
        rotation_axis: [1.0, 0.0, 0.0],
        scan: Some(ScanGeometry { start: 5.0, width: 0.5, images: 1 }),
        crystal: CrystalGeometry { a: [40.0, 0.0, 0.0], b: [0.0, 50.0, 0.0], c: [0.0, 0.0, 60.0] },
    }
}

/// NeXus only: Debian's dxtbx 3.12 reads a CBF of several arrays with FormatCBFMultiTile,
/// which takes every panel's size from the first and reads only real-valued arrays, so a
/// multi-panel int32 CBF does not round-trip through it (the single-array reader takes only the
/// first panel).
#[test]
fn dxtbx_reads_a_two_panel_detector_from_our_nexus() {
    if !dials_ready() {
        return;
    }
    use nanobragg::io::export::{cbf, expt, nexus};
    let d = scratch("dials_two_panel");
    let lab = two_panel_lab();
    let images: Vec<Vec<i32>> = lab.panels.iter().enumerate().map(|(k, p)| (0..p.image_size[0] * p.image_size[1]).map(|i| (i * 7 + k * 1000) as i32 % 3001).collect()).collect();
    let refs: Vec<&[i32]> = images.iter().map(|v| v.as_slice()).collect();
    cbf::write_cbf(&d.join("m_0001.cbf"), &lab, &refs).unwrap();
    let text = std::fs::read(d.join("m_0001.cbf")).unwrap();
    let sections = text.windows(29).filter(|w| w == b"--CIF-BINARY-FORMAT-SECTION--").count();
    assert_eq!(sections, 4, "two binary sections, each opened and closed");
    nexus::write_nexus(&d.join("m.nxs"), &lab, &refs, false).unwrap();
    expt::write_expt(&d.join("m.expt"), &lab, Some(&expt::ImageFile::Nexus(d.join("m.nxs").display().to_string()))).unwrap();
    write_i32(&d.join("want.i32"), &images.concat());
    dxtbx_check(&d, "m.expt", "m.nxs", "want.i32");
    let _ = std::fs::remove_dir_all(&d);
}

/// A 4-panel detector read from an experiment list: the 2 x 2 split (panels of `h`^2 pixels,
/// `gap` pixels between them) of the single flat detector that `whole` places.
fn four_panel_list(dir: &Path, whole: &str, h: usize, gap: usize) {
    use crate::panels::{expt_of, split_list, write_json};
    let exp = experiment(&format!("{whole} -default_F 1"));
    assert_eq!(exp.detector.fpixels, 2 * h + gap);
    write_json(dir, "four.expt", &split_list(&expt_of(&exp), h, gap));
}

/// The float images of the four panels of a run with `-floatfile {stem}.bin`, in panel order.
fn panel_floats(dir: &Path, stem: &str) -> Vec<Vec<f32>> {
    (0..4).map(|k| read_f32(&dir.join(format!("{stem}_{k}.bin")))).collect()
}

#[test]
fn dxtbx_reads_a_four_panel_detector_from_an_expt_in_our_nexus_and_experiment_list() {
    if !dials_ready() {
        return;
    }
    let t0 = Instant::now();
    let d = scratch("dials_four_geom");
    // off-centre beam, tilted and swung detector, split 2 x 2 with 3-pixel gaps
    four_panel_list(&d, "-cell 40 50 60 85 95 105 -lambda 1.1 -distance 100 -pixel 0.1 -detpixels 123 -Xbeam 5.3 -Ybeam 3.7 -detector_rotx 3 -detector_roty -4 -detector_rotz 7 -twotheta 5", 60, 3);
    let base = "-expt four.expt -default_F 100 -N 3 -phi 10 -osc 1 -noprogress";
    run_ok(&d, &words(&format!("{base} -floatfile probe.bin")));
    let max = panel_floats(&d, "probe").concat().iter().fold(0.0f32, |m, &v| m.max(v)) as f64;
    let scale = 50000.0 / max;
    run_ok(&d, &words(&format!("{base} -floatfile img.bin -scale {scale:?} -adc 40 -nxsfile f.nxs -write_expt f.expt")));
    let images = panel_floats(&d, "img");
    let counts: Vec<i32> = images.iter().flat_map(|p| expected_counts(p, scale, 0.0)).collect();
    write_i32(&d.join("want.i32"), &counts);
    // our experiment list holds the four panels as the list read
    let truth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("f.expt")).unwrap()).unwrap();
    let given: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("four.expt")).unwrap()).unwrap();
    let (ours, theirs) = (truth["detector"][0]["panels"].as_array().unwrap(), given["detector"][0]["panels"].as_array().unwrap());
    assert_eq!(ours.len(), 4);
    for (k, (p, q)) in ours.iter().zip(theirs).enumerate() {
        for key in ["origin", "fast_axis", "slow_axis"] {
            for c in 0..3 {
                let (a, b) = (p[key][c].as_f64().unwrap(), q[key][c].as_f64().unwrap());
                assert!((a - b).abs() < 1e-9, "panel {k} {key}: written {a}, read {b}");
            }
        }
    }
    // dxtbx reads the NeXus file (all panels) and the experiment list naming it
    dxtbx_check(&d, "f.expt", "f.nxs", "want.i32");
    eprintln!("four-panel dxtbx round trip: {:.1} s", t0.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn dials_indexes_a_four_panel_nexus_series_to_the_true_cell_and_orientation() {
    if !dials_ready() {
        return;
    }
    let d = scratch("dials_four_series");
    // the end-to-end series' crystal and 512^2 detector, split 2 x 2 with 4-pixel (0.8 mm) gaps
    four_panel_list(&d, "-cell 41 53 67 95 101 107 -misset 10 20 30 -lambda 1.0 -distance 120 -pixel 0.2 -detpixels 512", 254, 4);
    let t_sim = simulate_series(&d, |i| {
        format!(
            "-expt four.expt -default_F 100 -N 5 -oversample 2 -phi {i} -osc 1 -phisteps 10 -water 0.05 -adc 0 -seed {} -noprogress \
             -floatfile f.bin -noisefile n.img -nxsfile series.nxs -nxs_append",
            i + 1
        )
    });
    // DIALS' defaults keep noise blobs of 3 pixels as spots (a third of the 9400 found here);
    // with them, its 3D FFT picks a cell doubled along a (64% indexed, the true cell 61% when
    // given); from 4 pixels up the true cell comes out. The single-panel series indexes with
    // the defaults, and its frames are these frames' pixels exactly.
    let (r, t) = index_series(&d, "nexus4", &["../series.nxs".to_string()], &["min_spot_size=4"]);
    assert_indexed("4-panel NeXus series", &r, t, t_sim);
    let _ = std::fs::remove_dir_all(&d);
}
