//! The Python module as a user installs it: a fresh virtual environment, `pip install numpy
//! pytest ./python` (pip's build runs maturin, which compiles the extension into this build's
//! target directory and so reuses the compiled simulator), then its pytest suite, which checks
//! the module against this build's binary. With CI set, a missing python3 or venv module is a
//! failure; otherwise a skip with a note.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn in_ci() -> bool {
    std::env::var("CI").map(|v| !v.is_empty() && v != "false" && v != "0").unwrap_or(false)
}

fn skip_or_fail(why: &str) {
    if in_ci() {
        panic!("the Python module's tests cannot run (CI is set): {why}");
    }
    eprintln!("NOTE: skipping the Python module's tests: {why}");
}

/// The target directory of this build: this test binary is `<target>/<profile>/deps/suite-*`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("target directory").to_path_buf()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn python_module_installs_and_passes_its_tests() {
    let python = std::env::var("NB_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).args(["-c", "import venv, ensurepip"]).output() {
        Err(e) => return skip_or_fail(&format!("{python} not runnable: {e}")),
        Ok(o) if !o.status.success() => return skip_or_fail(&format!("{python} has no venv/ensurepip module: {}", text(&o).trim())),
        Ok(_) => {}
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = target_dir();
    // pip's build is a release build: from a debug test run it would compile everything again
    if std::env::current_exe().ok().and_then(|e| e.ancestors().nth(2).map(|p| p.ends_with("release"))) != Some(true) {
        eprintln!("NOTE: skipping the Python module's tests: they run with cargo test --release (pip builds a release extension)");
        return;
    }
    let venv = target.join("python-test-venv");
    let _ = std::fs::remove_dir_all(&venv);
    let started = std::time::Instant::now();
    let made = Command::new(&python).args(["-m", "venv"]).arg(&venv).output().expect("run python3 -m venv");
    if !made.status.success() {
        return skip_or_fail(&format!("{python} -m venv failed: {}", text(&made).trim()));
    }
    let vpython = venv.join("bin/python");
    // the extension is compiled into this build's target directory (same profile), so only the
    // module's own crate and pyo3 compile here
    let pip = Command::new(&vpython)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "numpy", "pytest", "./python"])
        .current_dir(repo)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run pip");
    assert!(pip.status.success(), "pip install ./python failed:\n{}", text(&pip));
    let installed = started.elapsed().as_secs_f64();
    let mut pytest = Command::new(&vpython);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "python/tests"])
        .current_dir(repo)
        .env("NB_BIN", bin())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(golden) = golden_dir() {
        pytest.env("NB_GOLDEN_DIR", golden);
    }
    let out = pytest.output().expect("run pytest");
    assert!(out.status.success(), "pytest of the Python module failed:\n{}", text(&out));
    let summary = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").to_string();
    eprintln!("Python module: venv + pip install {installed:.0} s; pytest: {summary}");
    let _ = std::fs::remove_dir_all(&venv);
}
