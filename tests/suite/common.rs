//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nanobragg")
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "nanobragg_it_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        tag
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the binary in `dir` with `args` (whitespace-separated).
pub fn run_in(dir: &Path, args: &str) -> Output {
    run_args(dir, &args.split_whitespace().map(String::from).collect::<Vec<_>>())
}

pub fn run_args(dir: &Path, args: &[String]) -> Output {
    Command::new(bin()).args(args).current_dir(dir).output().expect("run nanobragg")
}

pub fn read_f32(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The pixel bytes of an SMV file (after its header).
pub fn smv_pixels(path: &Path) -> Vec<u8> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8_lossy(&b[..512.min(b.len())]).to_string();
    let n: usize = text.split("HEADER_BYTES=").nth(1).unwrap().split(';').next().unwrap().trim().parse().unwrap();
    b[n..].to_vec()
}

/// Render with the given flags in a scratch directory and return the float image.
pub fn render(args: &str) -> Vec<f32> {
    let d = scratch("render");
    let out = run_in(&d, &format!("{args} -floatfile img.bin -noprogress"));
    assert!(out.status.success(), "nanobragg {args} failed: {}", String::from_utf8_lossy(&out.stderr));
    let img = read_f32(&d.join("img.bin"));
    let _ = std::fs::remove_dir_all(&d);
    img
}

/// The golden folder: $NB_GOLDEN_DIR, else ../shared/golden beside the crate.
pub fn golden_dir() -> Option<PathBuf> {
    let p = match std::env::var_os("NB_GOLDEN_DIR") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"),
    };
    if p.join("index.json").exists() {
        Some(p)
    } else {
        let in_ci = std::env::var("CI").map(|v| !v.is_empty() && v != "false" && v != "0").unwrap_or(false);
        if in_ci {
            panic!("golden reference folder {} is missing (CI=true: parity must run)", p.display());
        }
        eprintln!("NOTE: golden reference folder {} not found: skipping the C-parity comparison (set NB_GOLDEN_DIR)", p.display());
        None
    }
}

/// A golden case's arguments, plus -legacy_cell: the reference's images carry its inexact
/// construction of oblique -cell cells, which that switch reproduces.
pub fn golden_args(case: &serde_json::Value) -> Vec<String> {
    let mut args: Vec<String> = case["run_args"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    args.push("-legacy_cell".to_string());
    // the reference always writes its structure-factor cache; ours writes it when named
    if let Some(cache) = case["outputs"].get("fdump").and_then(|v| v.as_str()) {
        args.extend(["-dump".to_string(), cache.to_string()]);
    }
    args
}

/// The part of a full image a golden case keeps (its "crop" window, slow and fast ranges), or
/// the whole image.
pub fn crop_to_case(case: &serde_json::Value, image: Vec<f32>) -> Vec<f32> {
    let Some(crop) = case.get("crop") else { return image };
    let n = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
    let nf = n(&crop["full_shape"][1]);
    let (s0, s1) = (n(&crop["slow"][0]), n(&crop["slow"][1]));
    let (f0, f1) = (n(&crop["fast"][0]), n(&crop["fast"][1]));
    let image = &image;
    (s0..s1).flat_map(|s| (f0..f1).map(move |f| image[s * nf + f])).collect()
}

/// The experiment the simulation flags describe.
pub fn experiment(args: &str) -> nanobragg::experiment::Experiment {
    nanobragg::experiment::build(&options(args)).unwrap_or_else(|e| panic!("{args}: {e}")).0
}

/// The typed configuration of simulation flags.
pub fn options(args: &str) -> nanobragg::config::Config {
    nanobragg::config::parse(&args.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
}
