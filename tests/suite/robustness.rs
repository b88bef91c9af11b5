//! Nothing crashes, nothing lies: file names that are not UTF-8, counts too large for memory
//! (under an address-space limit), targets that are not finite or of the wrong shape, geometry
//! without physical meaning, whole output sets under a full disk, errors that name what the user
//! typed, and a seeded fuzz campaign over every parser.

use crate::common::*;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::{Command, Output};

const GOOD: &str = "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 32 -noprogress";

fn words(s: &str) -> Vec<OsString> {
    s.split_whitespace().map(OsString::from).collect()
}

fn raw(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// Run the binary in `dir`, under `prlimit --as=4000000000` when the tool exists.
fn run_limited(dir: &Path, args: &[OsString]) -> Output {
    let limited = Command::new("prlimit").arg("--version").output().is_ok_and(|o| o.status.success());
    let mut cmd = if limited {
        let mut c = Command::new("prlimit");
        c.arg("--as=4000000000").arg(bin());
        c
    } else {
        eprintln!("note: prlimit not found; the huge-count cases run without an address-space limit");
        Command::new(bin())
    };
    cmd.args(args).current_dir(dir).output().expect("run nanobragg")
}

fn run_os(dir: &Path, args: &[OsString]) -> Output {
    Command::new(bin()).args(args).current_dir(dir).output().expect("run nanobragg")
}

/// A refusal: exit 1 (not a panic's 101 or a signal), one error line naming `expect`.
fn refused(out: &Output, expect: &str, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{what}: exit {:?}: {err}", out.status.code());
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("WARNING")).collect();
    assert_eq!(lines.len(), 1, "{what}: expected one error line, got {err:?}");
    assert!(lines[0].starts_with("nanobragg: error: "), "{what}: {:?}", lines[0]);
    assert!(lines[0].contains(expect), "{what}: {:?} does not name {expect:?}", lines[0]);
    assert!(!err.contains("panicked") && !err.contains("unwrap"), "{what}: {err}");
    lines[0].to_string()
}

/// The names in `dir` (hidden ones too).
fn names(dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect();
    v.sort();
    v
}

// ---- class 1: crashes ---------------------------------------------------------------------

#[test]
fn file_names_that_are_not_utf8_work_or_are_refused() {
    let dir = scratch("osnames");
    // an output name: written under exactly those bytes
    let mut args = words(GOOD);
    args.extend([OsString::from("-floatfile"), raw(b"\xff\xfeout.bin"), OsString::from("-intfile"), raw(b"caf\xe9.img")]);
    let out = run_os(&dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join(OsStr::from_bytes(b"\xff\xfeout.bin")).is_file());
    assert!(dir.join(OsStr::from_bytes(b"caf\xe9.img")).is_file());
    assert!(String::from_utf8_lossy(&out.stdout).contains("writing \\xff\\xfeout.bin"));
    // an input name: read from those bytes; a missing one is a one-line error showing the bytes
    std::fs::write(dir.join(OsStr::from_bytes(b"caf\xe9.hkl")), "0 0 1 100\n1 1 1 50\n").unwrap();
    let mut args = words("-cell 70 80 90 75 85 95 -N 5 -detpixels 16 -noprogress -floatfile h.bin -hkl");
    args.push(raw(b"caf\xe9.hkl"));
    let out = run_os(&dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut args = words(GOOD);
    args.extend([OsString::from("-hkl"), raw(b"nothere\xe9.hkl")]);
    refused(&run_os(&dir, &args), "nothere\\xe9.hkl", "missing -hkl");
    // every output format under such a name, except NeXus, whose HDF5 library needs UTF-8: refused before the work
    let mut args = words(GOOD);
    args.extend([OsString::from("-floatfile"), OsString::from("f.bin"), OsString::from("-cbffile"), raw(b"c\xfe.cbf"), OsString::from("-write_expt"), raw(b"e\xfe.expt"), OsString::from("-pgmfile"), raw(b"p\xfe.pgm")]);
    let out = run_os(&dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [&b"c\xfe.cbf"[..], b"e\xfe.expt", b"p\xfe.pgm"] {
        assert!(dir.join(OsStr::from_bytes(f)).is_file(), "{}", String::from_utf8_lossy(f));
    }
    let mut args = words(GOOD);
    args.extend([OsString::from("-floatfile"), OsString::from("n.bin"), OsString::from("-nxsfile"), raw(b"n\xfe.nxs")]);
    refused(&run_os(&dir, &args), "UTF-8", "-nxsfile");
    assert!(!dir.join("n.bin").exists());
    // batch and refine options
    refused(&run_os(&dir, &[OsString::from("batch"), OsString::from("--plan"), raw(b"\xff.toml")]), "\\xff.toml", "batch --plan");
    refused(&run_os(&dir, &[OsString::from("refine"), OsString::from("--plan"), raw(b"\xff.toml")]), "\\xff.toml", "refine --plan");
    let mut args = vec![OsString::from("grad")];
    args.extend(words(GOOD));
    args.extend([OsString::from("--target"), raw(b"t\xff.bin")]);
    refused(&run_os(&dir, &args), "t\\xff.bin", "grad --target");
    // a plan under a non-UTF-8 name is read
    let plan = "flags = \"-cell 70 80 90 90 90 90 -default_F 100 -N 3 -detpixels 16 -oversample 1\"\nout = \"shots\"\nformats = [\"float\"]\n[stills]\ncount = 1\n";
    std::fs::write(dir.join(OsStr::from_bytes(b"p\xff.toml")), plan).unwrap();
    let out = run_os(&dir, &[OsString::from("batch"), OsString::from("--plan"), raw(b"p\xff.toml")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("shots/shot_00001.bin").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn huge_counts_are_refused_before_allocation_under_a_4gb_limit() {
    let dir = scratch("huge");
    let cases = [
        ("-mosaic 1 -mosaic_domains 1000000000", "-mosaic_domains"),
        ("-dispersion 1 -dispsteps 1e9", "-dispsteps"),
        ("-divergence 1 -divsteps 100000", "-divsteps"),
        ("-osc 1 -phisteps 1e9", "-phisteps"),
        ("-mosaic 1 -mosaic_domains 100000 -osc 1 -phisteps 100000", "-phisteps x -mosaic_domains"),
        ("-detpixels 60000", "-detpixels"),
        ("-detpixels_x 1000000 -detpixels_y 1000000", "-detpixels"),
        ("-detsize 1e6 -pixel 0.01", "-detsize"),
    ];
    for (extra, flag) in cases {
        let args = words(&format!("-cell 70 80 90 75 85 95 -default_F 100 -N 5 -noprogress -floatfile out.bin {extra}"));
        let line = refused(&run_limited(&dir, &args), flag, extra);
        assert!(line.contains("at most"), "{extra}: {line}");
        assert!(!dir.join("out.bin").exists());
    }
    // a structure-factor grid of 2.2e8 cells (1.7 GB, copied for the render): refused under 4 GB
    if Command::new("prlimit").arg("--version").output().is_ok_and(|o| o.status.success()) {
        std::fs::write(dir.join("wide.hkl"), "-300 -300 -300 1\n300 300 300 1\n").unwrap();
        let args = words("-cell 70 80 90 75 85 95 -N 5 -detpixels 8 -noprogress -floatfile out.bin -hkl wide.hkl");
        let line = refused(&run_limited(&dir, &args), "wide.hkl", "a 2.2e8-cell grid");
        assert!(line.contains("at most"), "{line}");
    }
    // an experiment list of two 60000 x 60000 panels: the -detpixels cap over all panels
    let exp = experiment("-cell 70 80 90 90 90 90 -default_F 1 -N 5 -detpixels 32 -distance 100");
    let mut list = crate::panels::expt_of(&exp);
    let mut panel = list["detector"][0]["panels"][0].clone();
    panel["image_size"] = serde_json::json!([60000, 60000]);
    let mut second = panel.clone();
    second["name"] = "second".into();
    list["detector"][0]["panels"] = serde_json::json!([panel, second]);
    crate::panels::write_json(&dir, "big.expt", &list);
    let args = words("-expt big.expt -default_F 1 -N 5 -noprogress -floatfile out.bin");
    let line = refused(&run_limited(&dir, &args), "big.expt", "two 60000^2 panels");
    assert!(line.contains("2 panels") && line.contains("at most"), "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- class 2: non-finite data -------------------------------------------------------------

/// A float32 image of `n` pixels, `f` of each index.
fn float_file(path: &Path, n: usize, f: impl Fn(usize) -> f32) {
    let bytes: Vec<u8> = (0..n).flat_map(|i| f(i).to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn targets_that_are_not_finite_are_refused_before_any_work() {
    let dir = scratch("nan");
    let flags = "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 16 -distance 100 -oversample 1";
    float_file(&dir.join("nan.bin"), 256, |_| f32::NAN);
    float_file(&dir.join("inf.bin"), 256, |i| if i == 100 { f32::INFINITY } else { 1.0 });
    for t in ["nan.bin", "inf.bin"] {
        let out = run_in(&dir, &format!("grad {flags} --target {t} --params distance"));
        let line = refused(&out, t, "grad");
        assert!(line.contains("not finite"), "{line}");
        let out = run_in(&dir, &format!("refine {flags} --target {t} --refine distance --steps 2 --out r.json"));
        let line = refused(&out, t, "refine");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("iteration"), "refine worked before refusing: {line}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("\"loss\": null"));
        assert!(!dir.join("r.json").exists());
    }
    // a plan: the plan, the image and its target named
    let plan = format!("flags = \"{flags}\"\nshared = [\"distance\"]\nsteps = 2\n[[image]]\ntarget = \"inf.bin\"\n");
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let line = refused(&run_in(&dir, "refine --plan plan.toml --out p.json"), "plan.toml", "plan");
    assert!(line.contains("[[image]] 1") && line.contains("inf.bin") && line.contains("not finite"), "{line}");
    assert!(!dir.join("p.json").exists());
    // pixels under the mask may hold anything: the same target with its bad pixel masked works
    let out = run_in(&dir, &format!("{flags} -floatfile m.bin -intfile mask.img -noprogress -scale 1"));
    assert!(out.status.success());
    let mut mask = std::fs::read(dir.join("mask.img")).unwrap();
    assert_eq!(mask.len(), 512 + 2 * 256);
    for (i, px) in mask[512..].chunks_exact_mut(2).enumerate() {
        px.copy_from_slice(&(if i == 100 { 0u16 } else { 1u16 }).to_le_bytes());
    }
    std::fs::write(dir.join("mask.img"), &mask).unwrap();
    let out = run_in(&dir, &format!("grad {flags} -mask mask.img --target inf.bin --params distance"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["loss"].as_f64().is_some_and(f64::is_finite), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- class 3: impossible geometry ---------------------------------------------------------

#[test]
fn geometry_without_physical_meaning_is_refused() {
    let dir = scratch("geom");
    for (args, expect) in [
        ("-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 32 -close_distance -20", "-close_distance"),
        ("-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 32 -close_distance 0", "-close_distance"),
        ("-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 32 -distance -100", "-distance"),
        ("-cell 50 50 50 10 10 170 -default_F 100 -N 5 -detpixels 32", "cannot form a lattice"),
        ("-cell 50 50 50 60 60 120 -default_F 100 -N 5 -detpixels 32", "cannot form a lattice"),
        ("-cell 70 80 90 75 85 95 -default_F 100 -N -5 -detpixels 32", "-N"),
        ("-cell 70 80 90 75 85 95 -default_F 100 -N 5 -Nb -1 -detpixels 32", "-Nb"),
        ("-cell 70 80 90 75 85 95 -default_F 100 -N 5 -xtalsize -0.1 -detpixels 32", "-xtalsize"),
    ] {
        refused(&run_in(&dir, &format!("{args} -floatfile out.bin -noprogress")), expect, args);
        assert!(!dir.join("out.bin").exists(), "{args}");
    }
    // a valid but nearly flat cell still renders
    let out = run_in(&dir, "-cell 50 50 50 10 10 19 -default_F 100 -N 2 -detpixels 16 -floatfile flat.bin -noprogress");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- class 4: atomic output sets ----------------------------------------------------------

/// Run with the file-size limit `fsize` bytes (SIGXFSZ ignored, so a write past it fails with
/// EFBIG as on a full disk); None when `sh` or `prlimit` is missing.
fn run_full_disk(dir: &Path, fsize: usize, args: &str) -> Option<Output> {
    let ok = Command::new("prlimit").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: prlimit not found; full-disk cases skipped");
        return None;
    }
    let script = format!("trap '' XFSZ; exec prlimit --fsize={fsize} {} {args}", bin());
    Some(Command::new("sh").arg("-c").arg(script).current_dir(dir).output().expect("sh"))
}

#[test]
fn output_sets_are_whole_or_absent_under_a_full_disk() {
    let dir = scratch("atomic");
    // 10 x 10 pixels: the float file (400 bytes) fits under 600, the SMV file (712) does not
    let render = "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 10 -noprogress -floatfile a.bin -intfile b.img";
    let Some(out) = run_full_disk(&dir, 600, render) else { return };
    refused(&out, "b.img", "render on a full disk");
    assert!(names(&dir).is_empty(), "render left {:?}", names(&dir));
    // refine: --residual (400 bytes and its PNG) and --out (the JSON, about 500) do not all fit under 450
    let flags = "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 10 -distance 100 -oversample 1";
    assert!(run_in(&dir, &format!("{flags} -floatfile t.bin -noprogress")).status.success());
    let before = names(&dir);
    let Some(out) = run_full_disk(&dir, 450, &format!("refine {flags} --target t.bin --refine distance --steps 1 --residual res.bin --out r.json")) else { return };
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(names(&dir), before, "refine left files");
    // batch: a shot of float (400) and SMV (712) files
    let plan = format!("flags = \"{flags}\"\nout = \"shots\"\nformats = [\"float\", \"smv\"]\n[stills]\ncount = 1\n");
    std::fs::write(dir.join("p.toml"), plan).unwrap();
    let Some(out) = run_full_disk(&dir, 600, "batch --plan p.toml") else { return };
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(names(&dir.join("shots")).is_empty(), "batch left {:?}", names(&dir.join("shots")));
    // and with room, all of them
    assert!(run_in(&dir, "batch --plan p.toml").status.success());
    assert_eq!(names(&dir.join("shots")), ["shot_00001.bin", "shot_00001.img"].map(OsString::from));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn valid_names_up_to_255_bytes_are_written() {
    let dir = scratch("longname");
    for len in [246, 250, 255] {
        let name = format!("{}.bin", "n".repeat(len - 4));
        let multibyte = format!("{}.bin", "é".repeat((len - 4) / 2));
        for n in [name, multibyte] {
            let out = run_in(&dir, &format!("{GOOD} -floatfile {n} -intfile {}", n.replace(".bin", ".img")));
            assert!(out.status.success(), "{} bytes: {}", n.len(), String::from_utf8_lossy(&out.stderr));
            assert!(dir.join(&n).is_file());
            assert!(!names(&dir).iter().any(|f| f.to_string_lossy().starts_with('.')), "temporaries left");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- class 5: errors that name what the user typed ----------------------------------------

#[test]
fn errors_name_the_flag_file_or_header_key() {
    let dir = scratch("blame");
    std::fs::write(dir.join("flat.mat"), "1 2 3\n2 4 6\n1 1 1\n").unwrap();
    std::fs::write(dir.join("zero.mat"), "0 0 0\n0 0 0\n0 0 0\n").unwrap();
    refused(&run_in(&dir, "-mat flat.mat -default_F 1 -detpixels 8 -noprogress"), "-mat flat.mat", "coplanar -mat");
    refused(&run_in(&dir, "-mat zero.mat -default_F 1 -detpixels 8 -noprogress"), "-mat zero.mat", "zero -mat");
    // an -img header: the key and the file, not a flag the user did not type
    assert!(run_in(&dir, &format!("{GOOD} -floatfile h.bin -intfile h.img")).status.success());
    let header = String::from_utf8_lossy(&std::fs::read(dir.join("h.img")).unwrap()[..512]).to_string();
    let key_value = |key: &str| header.split([';', '\n']).find(|l| l.starts_with(&format!("{key}="))).unwrap().to_string();
    for (key, bad) in [("PIXEL_SIZE", "0"), ("WAVELENGTH", "-1"), ("DISTANCE", "-100"), ("BEAM_CENTER_X", "nan")] {
        let mut bytes = std::fs::read(dir.join("h.img")).unwrap();
        let old = key_value(key);
        let new = format!("{key}={bad}");
        let text = String::from_utf8_lossy(&bytes[..512]).replace(&old, &format!("{new:<width$}", width = old.len()));
        bytes[..512].copy_from_slice(&text.as_bytes()[..512]);
        std::fs::write(dir.join("bad.img"), &bytes).unwrap();
        let line = refused(&run_in(&dir, "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -img bad.img -floatfile out.bin -noprogress"), "bad.img", key);
        assert!(line.contains(key), "{key}: {line}");
        assert!(!line.contains("-pixel") && !line.contains("-lambda") && !line.contains("-distance"), "{key}: {line}");
    }
    // overflowing intensities name the flags that set them
    let line = refused(&run_in(&dir, &format!("{GOOD} -default_F 1e21 -floatfile out.bin")), "-default_F", "-default_F 1e21");
    assert!(!line.contains("internal error"), "{line}");
    let line = refused(&run_in(&dir, &format!("{GOOD} -fluence 1e300 -floatfile out.bin")), "-fluence", "-fluence 1e300");
    assert!(!line.contains("internal error"), "{line}");
    for (extra, flag) in [("-water 1e300", "-water"), ("-mosaic 1e300 -mosaic_domains 2", "-mosaic")] {
        let line = refused(&run_in(&dir, &format!("{GOOD} {extra} -floatfile out.bin")), flag, extra);
        assert!(!line.contains("internal error"), "{line}");
    }
    assert!(!dir.join("out.bin").exists());
    // --out in a missing folder: refused before the refinement runs
    let flags = "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -detpixels 16 -distance 100 -oversample 1";
    assert!(run_in(&dir, &format!("{flags} -floatfile t.bin -noprogress")).status.success());
    let out = run_in(&dir, &format!("refine {flags} --target t.bin --refine distance --steps 3 --out missing/r.json"));
    refused(&out, "missing/r.json", "refine --out missing/");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("iteration"));
    refused(&run_in(&dir, &format!("grad {flags} --target t.bin --params distance --out missing/g.json")), "missing/g.json", "grad --out");
    // a plan error says which image
    std::fs::write(dir.join("plan.toml"), format!("flags = \"{flags}\"\nshared = [\"distance\"]\n[[image]]\ntarget = \"t.bin\"\n[[image]]\ntarget = \"t.bin\"\nflags = \"-phi x\"\n")).unwrap();
    let line = refused(&run_in(&dir, "refine --plan plan.toml"), "plan.toml", "plan with a bad image");
    assert!(line.contains("[[image]] 2") && line.contains("-phi"), "{line}");
    // the oversampling advice is a number that can be typed
    let out = run_in(&dir, &format!("{GOOD} -lambda 1e-300 -oversample 1 -floatfile tiny.bin"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("9223372036854775807"), "{text}");
    assert_ne!(out.status.code(), Some(101), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn names_beyond_255_bytes_are_refused_before_the_work() {
    let dir = scratch("toolong");
    let name = format!("{}.bin", "n".repeat(252));
    refused(&run_in(&dir, &format!("{GOOD} -floatfile {name}")), "at most 255", "a 256-byte name");
    assert!(names(&dir).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
