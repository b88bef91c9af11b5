//! `nanobragg batch --plan`: determinism (shot i is the same image whatever ran before and
//! however many processes share the work), resumability after a kill, bad input, and under MPI
//! (`mpirun -n 2` with the `mpi` feature's binary, built here into the same target folder) the
//! same bytes as one process, and joint refinement identical between 1 and 2 ranks. With CI
//! set, a missing mpirun or a failed feature build is a failure; otherwise a skip with a note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::common::{bin, experiment, run_in, scratch};

fn in_ci() -> bool {
    std::env::var("CI").map(|v| !v.is_empty() && v != "false" && v != "0").unwrap_or(false)
}

/// The acceptance plan: 4 rotation frames then 8 stills in random orientations with every
/// per-shot variation, 256 x 256 pixels, three formats.
fn plan(out: &str, seed: i64, stills: usize, oversample: usize) -> String {
    format!(
        "flags = \"-cell 70 80 90 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.1 -detpixels 256 -oversample {oversample} -threads 1\"\n\
         seed = {seed}\nout = \"{out}\"\nformats = [\"float\", \"smv\", \"noise\"]\n\
         [rotation]\nstart = 10\nwidth = 0.5\ncount = 4\n\
         [stills]\ncount = {stills}\nenergy_jitter_ev = 20\ncrystal_size_um = [0.3, 0.6]\nfluence_jitter = 0.2\n"
    )
}

/// The names in a folder (none when it does not exist yet).
fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

/// Every file of a folder by name (hidden temporaries included).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())).collect()).unwrap_or_default()
}

fn expected_names(shots: usize) -> Vec<String> {
    let mut v: Vec<String> = (1..=shots).flat_map(|n| ["bin", "img", "noise.img"].map(|e| format!("shot_{n:05}.{e}"))).collect();
    v.sort();
    v
}

fn batch(dir: &Path, plan_file: &str) -> Output {
    let out = run_in(dir, &format!("batch --plan {plan_file}"));
    assert!(out.status.success(), "batch failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn batch_shots_are_deterministic_and_resumable() {
    let dir = scratch("batch");
    std::fs::write(dir.join("p.toml"), plan("a", 7, 8, 1)).unwrap();
    let first = batch(&dir, "p.toml");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("12/12 shots") && stdout.contains("12 rendered"), "{stdout}");
    let a = files(&dir.join("a"));
    assert_eq!(a.keys().cloned().collect::<Vec<_>>(), expected_names(12));
    // every shot is a different image; each has photons
    let floats: Vec<&Vec<u8>> = (1..=12).map(|n| &a[&format!("shot_{n:05}.bin")]).collect();
    for (i, x) in floats.iter().enumerate() {
        assert_eq!(x.len(), 4 * 256 * 256);
        assert!(x.chunks_exact(4).any(|c| f32::from_le_bytes(c.try_into().unwrap()) > 1.0), "shot {} is empty", i + 1);
        for y in &floats[..i] {
            assert_ne!(x, y, "two shots are the same image");
        }
    }
    // a rerun finds everything done and changes nothing
    let again = batch(&dir, "p.toml");
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 rendered, 12 already there"));
    assert_eq!(files(&dir.join("a")), a);
    // shot i depends on the plan's seed and i only: fewer stills give the same first shots; another
    // seed gives other stills (the rotation frames have no random variation but their noise)
    std::fs::write(dir.join("q.toml"), plan("b", 7, 3, 1)).unwrap();
    batch(&dir, "q.toml");
    let b = files(&dir.join("b"));
    assert_eq!(b.len(), 21);
    assert!(b.iter().all(|(k, v)| a[k] == *v));
    std::fs::write(dir.join("r.toml"), plan("c", 8, 1, 1)).unwrap();
    batch(&dir, "r.toml");
    let c = files(&dir.join("c"));
    assert_eq!(c["shot_00001.bin"], a["shot_00001.bin"]);
    assert_ne!(c["shot_00001.noise.img"], a["shot_00001.noise.img"]);
    assert_ne!(c["shot_00005.bin"], a["shot_00005.bin"]);

    // killed part way (slower shots, so that the kill lands inside the run), then rerun: the
    // set is completed with the same files as an uninterrupted run
    std::fs::write(dir.join("slow.toml"), plan("slow", 7, 8, 4)).unwrap();
    let mut child = Command::new(bin()).args(["batch", "--plan", "slow.toml"]).current_dir(&dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    // names only while the batch runs: a temporary listed can be renamed before it is read
    while names(&dir.join("slow")).iter().filter(|k| k.starts_with("shot_")).count() < 4 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = files(&dir.join("slow"));
    let done = partial.keys().filter(|k| k.starts_with("shot_")).count();
    assert!((4..36).contains(&done), "the kill did not interrupt the run ({done} files)");
    // a temporary file of a killed writer must not survive the rerun
    std::fs::write(dir.join("slow/.shot_00012.bin.tmp99999"), b"partial").unwrap();
    let rerun = batch(&dir, "slow.toml");
    assert!(String::from_utf8_lossy(&rerun.stdout).contains("already there"));
    let resumed = files(&dir.join("slow"));
    assert_eq!(resumed.keys().cloned().collect::<Vec<_>>(), expected_names(12));
    std::fs::write(dir.join("whole.toml"), plan("whole", 7, 8, 4)).unwrap();
    batch(&dir, "whole.toml");
    assert!(resumed == files(&dir.join("whole")), "a resumed batch differs from an uninterrupted one");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One-line errors naming the input, a failure status, and no output files.
#[test]
fn batch_bad_input_is_refused() {
    let dir = scratch("batch_bad");
    std::fs::write(dir.join("flat.txt"), "9000 0\n9100 0\n").unwrap();
    std::fs::write(dir.join("afile"), "not a folder").unwrap();
    let good = plan("o", 1, 2, 1);
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing.toml", None, "missing.toml: cannot read plan"),
        ("malformed.toml", Some("flags = \"-cell 70\"\n[stills\n".into()), "malformed.toml"),
        ("unknown.toml", Some(format!("{good}colour = 3\n")), "unknown field `colour`"),
        ("negative.toml", Some(good.replace("count = 2", "count = -2")), "stills.count: must not be negative"),
        ("unwritable.toml", Some(good.replace("out = \"o\"", "out = \"afile/o\"")), "afile/o: cannot create output folder"),
        ("spectrum.toml", Some(format!("{}spectra = [\"flat.txt\"]\n", good.replace("energy_jitter_ev = 20\n", ""))), "flat.txt: the spectrum has no line of positive weight"),
        ("badflag.toml", Some(good.replace("-N 5", "-N five")), "flags: -N"),
        ("format.toml", Some(good.replace("\"noise\"", "\"tiff\"")), "unknown format 'tiff'"),
    ];
    for (name, text, needle) in cases {
        if let Some(t) = text {
            std::fs::write(dir.join(name), t).unwrap();
        }
        let out = run_in(&dir, &format!("batch --plan {name}"));
        let err = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
        assert!(!out.status.success(), "{name}");
        assert!(errors.len() == 1 && errors[0].contains(needle), "{name}: {err}");
        assert!(!dir.join("o").join("shot_00001.bin").exists(), "{name}: output written");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `mpi` feature's binary, built once into this target folder; None (a skip) when it
/// cannot be built or mpirun is missing, outside CI.
fn mpi_binary() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let r = BUILT.get_or_init(|| {
        let mpirun = Command::new("mpirun").arg("--version").output();
        if !mpirun.map(|o| o.status.success()).unwrap_or(false) {
            return Err("mpirun not found (install openmpi-bin)".into());
        }
        let out = Command::new(env!("CARGO"))
            .args(["build", "--release", "--features", "mpi", "--bin", "nanobragg-mpi"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("cargo build --features mpi failed: {}", err.lines().rev().take(5).collect::<Vec<_>>().join(" | ")));
        }
        Ok(Path::new(bin()).with_file_name("nanobragg-mpi"))
    });
    match r {
        Ok(p) => Some(p.clone()),
        Err(why) if in_ci() => panic!("MPI tests cannot run (CI is set): {why}"),
        Err(why) => {
            eprintln!("NOTE: skipping the MPI tests: {why}");
            None
        }
    }
}

/// `mpirun -n 2 <mpi binary> args` in `dir`, failing the test after a deadline instead of
/// hanging.
fn mpirun2(dir: &Path, exe: &Path, args: &[&str]) -> Output {
    let mut child = Command::new("mpirun")
        .args(["--oversubscribe", "-n", "2"])
        .arg(exe)
        .args(args)
        .current_dir(dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mpirun");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            panic!("mpirun {args:?} did not finish in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn batch_under_mpi_writes_the_same_bytes_as_one_process() {
    let Some(exe) = mpi_binary() else { return };
    let dir = scratch("batch_mpi");
    std::fs::write(dir.join("one.toml"), plan("one", 3, 8, 1)).unwrap();
    std::fs::write(dir.join("two.toml"), plan("two", 3, 8, 1)).unwrap();
    batch(&dir, "one.toml");
    let out = mpirun2(&dir, &exe, &["batch", "--plan", "two.toml"]);
    assert!(out.status.success(), "mpirun: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("on 2 processes"), "not a 2-process run: {stdout}");
    let (one, two) = (files(&dir.join("one")), files(&dir.join("two")));
    assert_eq!(two.keys().cloned().collect::<Vec<_>>(), expected_names(12));
    assert!(one == two, "2 ranks wrote different files than 1 process");
    // an input error ends both ranks with one message (no hang: mpirun2 has a deadline)
    std::fs::write(dir.join("flat.txt"), "9000 0\n").unwrap();
    std::fs::write(dir.join("bad.toml"), format!("{}spectra = [\"flat.txt\"]\n", plan("bad", 3, 2, 1).replace("energy_jitter_ev = 20\n", ""))).unwrap();
    let out = mpirun2(&dir, &exe, &["batch", "--plan", "bad.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
    assert!(errors.len() == 1 && errors[0].contains("flat.txt"), "{err}");
    // a failure on rank 1 alone (its shot 2 cannot be written: a folder has that name) ends
    // rank 0 too, with rank 1's message
    std::fs::create_dir_all(dir.join("late/shot_00002.bin")).unwrap();
    std::fs::write(dir.join("late.toml"), plan("late", 3, 8, 1)).unwrap();
    let out = mpirun2(&dir, &exe, &["batch", "--plan", "late.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
    assert!(errors.len() == 1 && errors[0].contains("shot_00002.bin"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn joint_refinement_under_mpi_equals_one_process() {
    let Some(exe) = mpi_binary() else { return };
    let dir = scratch("joint_mpi");
    let common = "-cell 60 70 80 85 95 100 -default_F 100 -N 5 -lambda 1 -pixel 0.2 -detpixels 64 -oversample 1 -distance 100";
    let missets = ["5 10 15", "40 -20 7", "-33 62 100"];
    let mut text = format!("flags = \"{} -Xbeam 6.3 -Ybeam 6.2\"\nadc = 0\nsteps = 15\nshared = [\"distance\", \"beam_x\", \"beam_y\"]\nper_image = [\"misset_x\", \"misset_z\"]\n", common.replace("-distance 100", "-distance 100.5"));
    for (k, m) in missets.iter().enumerate() {
        let out = run_in(&dir, &format!("{common} -misset {m} -noisefile s{k}.img -seed {} -adc 0 -nopgm -floatfile f{k}.bin", 5 + k));
        assert!(out.status.success());
        text += &format!("[[image]]\ntarget = \"s{k}.img\"\nflags = \"-misset {m}\"\n");
    }
    std::fs::write(dir.join("j.toml"), text).unwrap();
    let one = run_in(&dir, "refine --plan j.toml");
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    let two = mpirun2(&dir, &exe, &["refine", "--plan", "j.toml"]);
    assert!(two.status.success(), "{}", String::from_utf8_lossy(&two.stderr));
    let (a, b): (serde_json::Value, serde_json::Value) = (serde_json::from_slice(&one.stdout).unwrap(), serde_json::from_slice(&two.stdout).unwrap());
    assert_eq!(b["processes"], 2);
    let close = |x: &serde_json::Value, y: &serde_json::Value, what: &str| {
        let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
        assert!((x - y).abs() <= 1e-10 * y.abs().max(1e-300), "{what}: 1 process {x} vs 2 ranks {y}");
    };
    for n in ["distance", "beam_x", "beam_y"] {
        close(&a["params"][n], &b["params"][n], n);
        close(&a["sigma"][n], &b["sigma"][n], n);
    }
    for k in 0..missets.len() {
        for n in ["misset_x", "misset_z"] {
            close(&a["images"][k]["params"][n], &b["images"][k]["params"][n], n);
        }
    }
    assert_eq!(a["iterations"], b["iterations"]);
    let (ha, hb) = (a["history"].as_array().unwrap(), b["history"].as_array().unwrap());
    assert_eq!(ha.len(), hb.len());
    ha.iter().zip(hb).for_each(|(x, y)| close(x, y, "loss history"));
    // a target that rank 1 cannot read ends both ranks with its message, printed once
    std::fs::write(dir.join("bad.toml"), std::fs::read_to_string(dir.join("j.toml")).unwrap().replace("s1.img", "gone.img")).unwrap();
    let out = mpirun2(&dir, &exe, &["refine", "--plan", "bad.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
    assert!(!out.status.success() && errors.len() == 1 && errors[0].contains("gone.img"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A spectrum of one line at the base energy gives the still without a spectrum, to the byte;
/// a second line changes it; still k uses spectra[k mod len].
#[test]
fn batch_spectra_replace_the_wavelength() {
    let dir = scratch("batch_spectra");
    std::fs::write(dir.join("one.txt"), "# energy weight\n12398.42 3\n").unwrap();
    std::fs::write(dir.join("two.txt"), "12398.42 1\n12198.42, 1\n").unwrap();
    let base = "flags = \"-cell 70 80 90 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.1 -detpixels 96 -oversample 1\"\nseed = 4\nformats = [\"float\"]\n[stills]\ncount = 4\n";
    std::fs::write(dir.join("plain.toml"), format!("out = \"plain\"\n{base}")).unwrap();
    std::fs::write(dir.join("spec.toml"), format!("out = \"spec\"\n{base}spectra = [\"one.txt\", \"two.txt\"]\n")).unwrap();
    batch(&dir, "plain.toml");
    batch(&dir, "spec.toml");
    let (plain, spec) = (files(&dir.join("plain")), files(&dir.join("spec")));
    assert_eq!(spec.len(), 4);
    for n in [1, 3] {
        let k = format!("shot_{n:05}.bin");
        assert!(plain[&k] == spec[&k], "{k}: a one-line spectrum at the base energy changed the image");
    }
    for n in [2, 4] {
        let k = format!("shot_{n:05}.bin");
        assert!(plain[&k] != spec[&k], "{k}: a two-line spectrum left the image unchanged");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The settings record names what makes a shot: a plain render with the base flags, the
/// recorded missetting angles and the recorded noise seed writes the same two files.
#[test]
fn batch_settings_reproduce_a_still_with_one_render() {
    let dir = scratch("batch_settings");
    let flags = "-cell 70 80 90 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.1 -detpixels 96 -oversample 1";
    std::fs::write(dir.join("s.toml"), format!("flags = \"{flags}\"\nseed = 3\nout = \"s\"\nformats = [\"float\", \"noise\", \"settings\", \"cbf\"]\n[stills]\ncount = 2\n")).unwrap();
    batch(&dir, "s.toml");
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("s/shot_00002.json")).unwrap()).unwrap();
    assert_eq!(rec["shot"], 2);
    let m: Vec<String> = rec["misset_deg"].as_array().unwrap().iter().map(|v| format!("{:?}", v.as_f64().unwrap())).collect();
    let out = run_in(&dir, &format!("{flags} -misset {} -floatfile x.bin -noisefile x.img -cbffile shot_00002.cbf -seed {} -nopgm", m.join(" "), rec["noise_seed"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(dir.join("x.bin")).unwrap() == std::fs::read(dir.join("s/shot_00002.bin")).unwrap());
    assert!(std::fs::read(dir.join("x.img")).unwrap() == std::fs::read(dir.join("s/shot_00002.noise.img")).unwrap());
    // the CBF holds the noise image's photons, as -cbffile with -noisefile does
    assert!(std::fs::read(dir.join("shot_00002.cbf")).unwrap() == std::fs::read(dir.join("s/shot_00002.cbf")).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plan on a 4-panel experiment list writes one float and one noise file per panel, each
/// equal to the command line's render of the same still, and one CBF and one NeXus file that
/// hold every panel.
#[test]
fn batch_renders_every_panel_of_an_experiment_list() {
    use crate::panels::{expt_of, split_list, write_json};
    let dir = scratch("batch_panels");
    let (h, gap) = (20usize, 2usize);
    let whole = "-cell 70 80 90 90 90 90 -lambda 1 -distance 60 -pixel 0.2 -detpixels 42";
    let exp = experiment(&format!("{whole} -default_F 1"));
    write_json(&dir, "four.expt", &split_list(&expt_of(&exp), h, gap));
    let flags = "-default_F 100 -N 4 -oversample 1";
    let formats = if cfg!(feature = "nexus") { "\"float\", \"noise\", \"settings\", \"cbf\", \"nexus\"" } else { "\"float\", \"noise\", \"settings\", \"cbf\"" };
    std::fs::write(dir.join("p.toml"), format!("expt = \"four.expt\"\nflags = \"{flags}\"\nseed = 5\nout = \"s\"\nformats = [{formats}]\n[stills]\ncount = 1\n")).unwrap();
    batch(&dir, "p.toml");
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("s/shot_00001.json")).unwrap()).unwrap();
    let m: Vec<String> = rec["misset_deg"].as_array().unwrap().iter().map(|v| format!("{:?}", v.as_f64().unwrap())).collect();
    let out = run_in(&dir, &format!("-expt four.expt {flags} -misset {} -floatfile x.bin -noisefile x.img -seed {} -nopgm", m.join(" "), rec["noise_seed"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for i in 0..4 {
        let ours = std::fs::read(dir.join(format!("s/shot_00001_{i}.bin"))).unwrap();
        assert_eq!(ours.len(), h * h * 4);
        assert!(ours == std::fs::read(dir.join(format!("x_{i}.bin"))).unwrap(), "panel {i} float");
        assert!(std::fs::read(dir.join(format!("s/shot_00001.noise_{i}.img"))).unwrap() == std::fs::read(dir.join(format!("x_{i}.img"))).unwrap(), "panel {i} noise");
    }
    assert!(!dir.join("s/shot_00001.bin").exists());
    assert!(std::fs::metadata(dir.join("s/shot_00001.cbf")).unwrap().len() > 0);
    // a rerun finds every file of the shot and renders nothing
    let again = batch(&dir, "p.toml");
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 rendered, 1 already there") || String::from_utf8_lossy(&again.stdout).contains("0 rendered, 1 already there"), "{}", String::from_utf8_lossy(&again.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The plan of the record tests: stills with a spectrum, fluence and size jitter and random
/// orientations, every per-shot record and the truth experiment list.
fn record_plan(out: &str, count: usize, oversample: usize) -> String {
    format!(
        "flags = \"-cell 70 80 90 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.1 -detpixels 64 -oversample {oversample} -threads 1\"\n\
         seed = 11\nout = \"{out}\"\nformats = [\"float\", \"noise\", \"settings\", \"cbf\", \"expt\"]\n\
         [stills]\ncount = {count}\nspectra = [\"sp.txt\"]\nfluence_jitter = 0.3\ncrystal_size_um = [0.3, 3]\n"
    )
}

/// A still with a spectrum, fluence and size jitter and a random orientation is rendered from
/// its own run file: replayed on the command line it writes the same bytes; its JSON record
/// names the spectrum by hash, the brightest pixel and the overloads (and the saturation is
/// said on stderr); its experiment list is the truth and names its CBF image.
#[test]
fn a_batch_shot_replays_from_its_record_byte_for_byte() {
    use sha2::Digest;
    let dir = scratch("batch_record");
    let spectrum = "# keV\n9.00 0.5\n9.02 1\n9.04 0.7\n";
    std::fs::write(dir.join("sp.txt"), spectrum).unwrap();
    std::fs::write(dir.join("p.toml"), record_plan("s", 2, 1)).unwrap();
    let run = batch(&dir, "p.toml");
    let stderr = String::from_utf8_lossy(&run.stderr);
    for n in [1, 2] {
        let stem = format!("s/shot_{n:05}");
        let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{stem}.json"))).unwrap()).unwrap();
        // the 64-bit seed as a string, the run file by name, the spectrum by its bytes' hash
        let seed: u64 = rec["seed"].as_str().unwrap().parse().unwrap();
        assert!(seed > 0);
        assert_eq!(rec["run_file"], format!("shot_{n:05}.toml"));
        let sha: String = sha2::Sha256::digest(spectrum.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(rec["spectrum"]["sha256"], sha.as_str());
        assert_eq!((rec["spectrum"]["path"].as_str(), rec["spectrum"]["lines"].as_u64()), (Some("sp.txt"), Some(3)));
        // the brightest pixel is the float image's, and the overloads are the pixels above it
        let image = crate::common::read_f32(&dir.join(format!("{stem}.bin")));
        let (imax, vmax) = image.iter().enumerate().fold((0, 0.0f32), |m, (i, &v)| if v > m.1 { (i, v) } else { m });
        assert_eq!(rec["max_pixel_photons"].as_f64().unwrap(), vmax as f64);
        assert_eq!((rec["max_pixel"]["fast"].as_u64(), rec["max_pixel"]["slow"].as_u64()), (Some(imax as u64 % 64), Some(imax as u64 / 64)));
        assert_eq!(rec["full_scale_photons"].as_f64(), Some(65535.0 - 40.0));
        let over = image.iter().filter(|&&v| v as f64 > 65495.0).count();
        assert_eq!(rec["overloads"].as_u64(), Some(over as u64));
        let said = stderr.contains(&format!("shot {n}: {over} pixel"));
        assert_eq!(said, over > 0, "saturation of shot {n} ({over} pixels) on stderr: {stderr}");
        assert_eq!(rec["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("above the full scale")), over > 0);
        // the record renders the shot again, to the byte: float, noise and CBF (whose data
        // block is named after the file)
        std::fs::create_dir_all(dir.join("r")).unwrap();
        let out = run_in(&dir, &format!("--config {stem}.toml -floatfile x.bin -noisefile x.img -cbffile r/shot_{n:05}.cbf -nopgm"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(std::fs::read(dir.join("x.bin")).unwrap() == std::fs::read(dir.join(format!("{stem}.bin"))).unwrap(), "shot {n}: float image");
        assert!(std::fs::read(dir.join("x.img")).unwrap() == std::fs::read(dir.join(format!("{stem}.noise.img"))).unwrap(), "shot {n}: noise image");
        assert!(std::fs::read(dir.join(format!("r/shot_{n:05}.cbf"))).unwrap() == std::fs::read(dir.join(format!("{stem}.cbf"))).unwrap(), "shot {n}: CBF");
        // the experiment list is the truth: the one the command line writes for the record
        let out = run_in(&dir, &format!("--config {stem}.toml -cbffile {stem}.cbf -write_expt x.expt -nopgm"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(std::fs::read(dir.join("x.expt")).unwrap() == std::fs::read(dir.join(format!("{stem}.expt"))).unwrap(), "shot {n}: experiment list");
    }
    // the spectrum, the fluence, the size and the orientation are the shot's own
    let record = std::fs::read_to_string(dir.join("s/shot_00002.toml")).unwrap();
    for key in ["spectrum_lines = [9000.0, 0.5, 9020.0, 1.0, 9040.0, 0.7]", "\nmisset = [", "\nfluence = ", "\nsample_x = ", "\nseed = "] {
        assert!(record.contains(key), "{key}: {record}");
    }
    assert!(!record.contains("floatfile") && !record.contains("misset_seed"), "{record}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C (SIGINT) part way: one line saying how many shots are written and how to resume,
/// exit status 130, no partial shot; the rerun completes the set with an uninterrupted run's
/// bytes.
#[cfg(unix)]
#[test]
fn an_interrupted_batch_says_how_far_it_got() {
    let dir = scratch("batch_interrupt");
    std::fs::write(dir.join("sp.txt"), "9000 1\n9100 0.5\n").unwrap();
    std::fs::write(dir.join("p.toml"), record_plan("s", 12, 6)).unwrap();
    let child = Command::new(bin()).args(["batch", "--plan", "p.toml"]).current_dir(&dir).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    // names only: the batch renames files while this looks
    let written = |d: &Path| std::fs::read_dir(d).map(|rd| rd.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("shot_") && e.file_name().to_string_lossy().ends_with(".json")).count()).unwrap_or(0);
    while written(&dir.join("s")) < 2 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let line = err.lines().last().unwrap_or("");
    let done = written(&dir.join("s"));
    assert!(done < 12, "the interrupt came after the last shot");
    assert_eq!(line, format!("interrupted: {done} of 12 shots written; run the same command again to resume"), "{err}");
    // every shot on disk is whole: all five of its files
    let names = files(&dir.join("s"));
    assert_eq!(names.keys().filter(|k| k.starts_with("shot_")).count(), 6 * done, "{:?}", names.keys());
    batch(&dir, "p.toml");
    std::fs::write(dir.join("q.toml"), record_plan("whole", 12, 6)).unwrap();
    batch(&dir, "q.toml");
    let (resumed, whole) = (files(&dir.join("s")), files(&dir.join("whole")));
    let shots = |m: &BTreeMap<String, Vec<u8>>| m.iter().filter(|(k, _)| k.starts_with("shot_") && !k.ends_with(".expt")).map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>();
    assert!(shots(&resumed) == shots(&whole), "a resumed batch differs from an uninterrupted one");
    assert_eq!(resumed.len(), 12 * 6);
    let _ = std::fs::remove_dir_all(&dir);
}
