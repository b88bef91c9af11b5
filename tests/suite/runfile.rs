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
