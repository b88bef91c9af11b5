//! Run files: `--print-config` of a command line, replayed with `--config`, renders the same
//! bytes, for every golden case.

use crate::common::*;
use serde_json::Value;

fn stdout_of(dir: &std::path::Path, args: &[String]) -> String {
    let out = run_args(dir, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn replaying_a_printed_run_file_renders_the_same_image() {
    let Some(golden) = golden_dir() else { return };
    let index: Value = serde_json::from_str(&std::fs::read_to_string(golden.join("index.json")).unwrap()).unwrap();
    let cases = index["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let dir = scratch(&format!("replay_{name}"));
        for inp in case["inputs"].as_array().unwrap() {
            let f = inp.as_str().unwrap();
            std::fs::copy(golden.join("inputs").join(f), dir.join(f)).unwrap();
        }
        let args = golden_args(case);
        let with = |extra: &[&str]| -> Vec<String> { args.iter().cloned().chain(extra.iter().map(|s| s.to_string())).collect() };
        let toml = stdout_of(&dir, &with(&["--print-config"]));
        std::fs::write(dir.join("r.toml"), &toml).unwrap();
        stdout_of(&dir, &with(&["-floatfile", "direct.bin", "-noprogress"]));
        let replay: Vec<String> = ["--config", "r.toml", "-floatfile", "x.bin", "-noprogress"].iter().map(|s| s.to_string()).collect();
        stdout_of(&dir, &replay);
        let (a, b) = (std::fs::read(dir.join("direct.bin")).unwrap(), std::fs::read(dir.join("x.bin")).unwrap());
        assert!(a == b, "{name}: the replayed image differs\n{toml}");
        // printing the replayed settings gives the same file
        let again = stdout_of(&dir, &["--config".to_string(), "r.toml".to_string(), "--print-config".to_string()]);
        assert_eq!(again, toml, "{name}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A run file printed by the command line before the typed configuration (main at 6cdfc98),
/// for flags whose units the configuration converts (mm, degrees, mrad, %, um, Angstrom).
const RUN_FILE_BEFORE_THE_TYPED_CONFIGURATION: &str = r#"# nanobragg run file: flag names without the dash; replay with nanobragg --config FILE
cell = [70.1, 80.0, 90.0, 75.0, 85.0, 95.5]
misset = [10.5, 20.0, 0.0000001]
Na = 5
Nb = 5
Nc = 7
round_xtal = true
fudge = 0.7
mosaic = 0.3
mosaic_domains = 4
mosaic_seed = 9
phi = 1.0
osc = 2.0
phisteps = 3
default_F = 100.0
distance = 90.0
pixel = 0.15
detpixels_f = 64
detpixels_s = 64
Xbeam = 5.1
Ybeam = 4.9
twotheta = 3.0
detector_rotx = 1.0
detector_abs = 200.0
detector_thick = 300.0
detector_thicksteps = 2
lambda = 1.1
dispersion = 0.2
dispsteps = 3
hdivrange = 0.3
vdivrange = 0.3
hdivsteps = 3
vdivsteps = 3
polar = 0.5
flux = 1000000000000.0
exposure = 2.0
beamsize = 0.05
oversample = 2
dmin = 3.0
water = 50.0
floatfile = "f.bin"
nonoise = true
nopgm = true
noprogress = true
xds = true
pivot = "sample"
"#;

#[test]
fn a_run_file_printed_before_the_typed_configuration_replays_and_reprints_unchanged() {
    let dir = scratch("runfile_before");
    std::fs::write(dir.join("old.toml"), RUN_FILE_BEFORE_THE_TYPED_CONFIGURATION).unwrap();
    let flags = "-cell 70.1 80 90 75 85 95.5 -misset 10.5 20 1e-7 -N 5 -Nc 7 -round_xtal -fudge 0.7 -mosaic 0.3 -mosaic_domains 4 -mosaic_seed 9 -phi 1 -osc 2 -phisteps 3 -default_F 100 -lambda 1.1 -dispersion 0.2 -dispsteps 3 -divergence 0.3 -divsteps 3 -polar 0.5 -distance 90 -pixel 0.15 -detpixels 64 -Xbeam 5.1 -Ybeam 4.9 -detector_rotx 1 -twotheta 3 -detector_thick 300 -detector_abs 200 -thicksteps 2 -oversample 2 -dmin 3 -water 50 -beamsize 0.05 -flux 1e12 -exposure 2 -xds -nopgm -nonoise -noprogress";
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(stdout_of(&dir, &args("--config old.toml --print-config")), RUN_FILE_BEFORE_THE_TYPED_CONFIGURATION);
    assert_eq!(stdout_of(&dir, &args(&format!("{flags} -floatfile f.bin --print-config"))), RUN_FILE_BEFORE_THE_TYPED_CONFIGURATION);
    stdout_of(&dir, &args("--config old.toml"));
    stdout_of(&dir, &args(&format!("{flags} -floatfile direct.bin")));
    assert!(std::fs::read(dir.join("f.bin")).unwrap() == std::fs::read(dir.join("direct.bin")).unwrap(), "the old run file renders another image");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flags_override_the_run_file_and_bad_files_are_one_line_errors() {
    let dir = scratch("runfile");
    std::fs::write(dir.join("r.toml"), "cell = [70, 80, 90, 90, 90, 90]\ndefault_F = 100\nN = 5\ndetpixels = 16\ndistance = 80\n").unwrap();
    let toml = stdout_of(&dir, &"--config r.toml -distance 120 -Nc 3 --print-config".split(' ').map(String::from).collect::<Vec<_>>());
    assert!(toml.contains("distance = 120.0") && toml.contains("Nc = 3") && toml.contains("Na = 5"), "{toml}");
    for (file, text, needle) in [
        ("typo.toml", "distanc = 80\n", "did you mean distance?"),
        ("short.toml", "cell = [70, 80]\n", "-cell"),
        ("syntax.toml", "cell = [70,\n", "syntax.toml line"),
        ("zero.toml", "beam_vector = [0, 0, 0]\n", "-beam_vector"),
    ] {
        std::fs::write(dir.join(file), text).unwrap();
        let out = run_in(&dir, &format!("--config {file} -floatfile out.bin"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {err}");
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(err.contains(file) && err.contains(needle), "{file}: {err}");
        assert!(!dir.join("out.bin").exists());
    }
    let out = run_in(&dir, "--config missing.toml");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
    // the subcommands read run files too
    let toml = stdout_of(&dir, &"grad --config r.toml -Na 2 --print-config".split(' ').map(String::from).collect::<Vec<_>>());
    assert!(toml.contains("Na = 2") && toml.contains("distance = 80.0"), "{toml}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value after `key` on the stdout line that holds it (e.g. "-seed 17 repeats").
fn number_after(text: &str, key: &str) -> String {
    let at = text.find(key).unwrap_or_else(|| panic!("no '{key}' in {text}"));
    text[at + key.len()..].split_whitespace().next().unwrap().trim_end_matches(')').to_string()
}

#[test]
fn clock_drawn_seeds_are_reported_and_recorded() {
    let dir = scratch("clock_seeds");
    let base = "-cell 70 80 90 90 90 90 -default_F 100 -N 5 -detpixels 24 -distance 80 -noprogress -misset random";
    let args = |extra: &str| -> Vec<String> { format!("{base} {extra}").split_whitespace().map(String::from).collect() };
    // a render draws its orientation and noise from the clock and says how to repeat them
    let first = stdout_of(&dir, &args("-floatfile a.bin -noisefile a.img"));
    let (misset_seed, seed) = (number_after(&first, "-misset_seed "), number_after(&first, "-seed "));
    stdout_of(&dir, &args(&format!("-misset_seed {misset_seed} -seed {seed} -floatfile b.bin -noisefile b.img")));
    assert!(std::fs::read(dir.join("a.bin")).unwrap() == std::fs::read(dir.join("b.bin")).unwrap(), "the reported -misset_seed does not repeat the orientation");
    assert!(std::fs::read(dir.join("a.img")).unwrap() == std::fs::read(dir.join("b.img")).unwrap(), "the reported -seed does not repeat the noise");
    // a printed run file holds both seeds, so replaying it later repeats the run
    let toml = stdout_of(&dir, &args("-noisefile c.img --print-config"));
    assert!(toml.contains("misset = \"random\"") && toml.contains("misset_seed = ") && toml.contains("\nseed = "), "{toml}");
    std::fs::write(dir.join("r.toml"), &toml).unwrap();
    let replay = |name: &str| stdout_of(&dir, &["--config", "r.toml", "-floatfile", name].map(String::from));
    // the run file names the noise image c.img, so each replay rewrites it
    replay("c.bin");
    let noise = std::fs::read(dir.join("c.img")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    replay("d.bin");
    assert!(std::fs::read(dir.join("c.bin")).unwrap() == std::fs::read(dir.join("d.bin")).unwrap(), "{toml}");
    assert!(std::fs::read(dir.join("c.img")).unwrap() == noise, "{toml}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_render_writes_only_the_files_it_names() {
    let dir = scratch("only_named");
    // F(000) differs from -default_F, so the direct beam's pixels tell the two apart
    std::fs::write(dir.join("f.hkl"), "0 0 0 50\n1 2 3 50\n0 0 2 80\n-1 1 1 20\n").unwrap();
    let base = "-cell 70 80 90 90 90 90 -default_F 10 -N 5 -detpixels 24 -distance 80 -noprogress";
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    stdout_of(&dir, &format!("{base} -hkl f.hkl -intfile i.img").split_whitespace().map(String::from).collect::<Vec<_>>());
    assert_eq!(listing(), ["f.hkl", "i.img"]);
    // nothing named: nothing written, and the run says so
    let out = run_in(&dir, &format!("{base} -hkl f.hkl"));
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no output file named"));
    assert_eq!(listing(), ["f.hkl", "i.img"]);
    // the cache is written when named and read back only when named
    stdout_of(&dir, &format!("{base} -hkl f.hkl -dump cache.bin -floatfile h.bin").split_whitespace().map(String::from).collect::<Vec<_>>());
    assert!(dir.join("cache.bin").is_file());
    stdout_of(&dir, &format!("{base} -dump cache.bin -floatfile c.bin").split_whitespace().map(String::from).collect::<Vec<_>>());
    assert!(std::fs::read(dir.join("h.bin")).unwrap() == std::fs::read(dir.join("c.bin")).unwrap(), "the cache renders a different image");
    // the cache is checked against the HKL file it was made from: changed, it is refused
    assert!(dir.join("cache.bin.source").is_file());
    std::fs::write(dir.join("f.hkl"), "0 0 0 60\n").unwrap();
    let stale = run_in(&dir, &format!("{base} -dump cache.bin -floatfile e.bin"));
    let err = String::from_utf8_lossy(&stale.stderr);
    assert!(!stale.status.success() && err.contains("-dump cache.bin: the cache was made from") && err.contains("which has changed since"), "{err}");
    assert!(!dir.join("e.bin").exists());
    // gone, the cache stands in for it (that is what a cache is for)
    std::fs::remove_file(dir.join("f.hkl")).unwrap();
    let gone = stdout_of(&dir, &format!("{base} -dump cache.bin -floatfile e.bin").split_whitespace().map(String::from).collect::<Vec<_>>());
    assert!(gone.contains("is gone; the cache is used as it was written"), "{gone}");
    assert!(std::fs::read(dir.join("e.bin")).unwrap() == std::fs::read(dir.join("h.bin")).unwrap());
    std::fs::remove_file(dir.join("e.bin")).unwrap();
    // a cache nobody names is not read: the image is -default_F's alone
    std::fs::rename(dir.join("cache.bin"), dir.join("Fdump.bin")).unwrap();
    stdout_of(&dir, &format!("{base} -floatfile d.bin").split_whitespace().map(String::from).collect::<Vec<_>>());
    assert!(std::fs::read(dir.join("d.bin")).unwrap() != std::fs::read(dir.join("h.bin")).unwrap());
    assert_eq!(read_f32(&dir.join("d.bin")), render("-cell 70 80 90 90 90 90 -default_F 10 -N 5 -detpixels 24 -distance 80"));
    let _ = std::fs::remove_dir_all(&dir);
}
