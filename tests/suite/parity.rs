//! C-reference parity: every golden case is rendered with the reference's exact arguments and
//! compared with its outputs, with the thresholds of the golden README.
//!
//! Every case gets -legacy_cell: the reference builds oblique -cell cells slightly off, and the
//! golden images carry that (see the golden README's last section).

use crate::common::*;
use serde_json::Value;
use std::path::Path;

const R_MIN: f64 = 0.99999;
const MAXREL: f64 = 1e-4;
const SUMREL: f64 = 1e-5;
const SAME_MIN: f64 = 0.999;

fn float_ok(reference: &[f32], got: &[f32]) -> Result<String, String> {
    if reference.len() != got.len() {
        return Err(format!("size {} != reference {}", got.len(), reference.len()));
    }
    if got.iter().any(|v| !v.is_finite()) {
        return Err("NaN/Inf in output".into());
    }
    let n = reference.len() as f64;
    let mr = reference.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mg = got.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy, mut maxd) = (0.0, 0.0, 0.0, 0.0f64);
    for (&a, &b) in reference.iter().zip(got) {
        let (da, db) = (a as f64 - mr, b as f64 - mg);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
        maxd = maxd.max((a as f64 - b as f64).abs());
    }
    let r = if sxx > 0.0 && syy > 0.0 { sxy / (sxx * syy).sqrt() } else if sxx == syy { 1.0 } else { 0.0 };
    let rmax = reference.iter().map(|v| v.abs() as f64).fold(0.0, f64::max);
    let rmax = if rmax == 0.0 { 1.0 } else { rmax };
    let (sr, sg) = (mr * n, mg * n);
    let ratio = if sr != 0.0 { sg / sr } else if sg == 0.0 { 1.0 } else { f64::INFINITY };
    let msg = format!("r={r:.7} maxrel={:.2e} sum={ratio:.7}", maxd / rmax);
    if r >= R_MIN && maxd / rmax <= MAXREL && (ratio - 1.0).abs() <= SUMREL {
        Ok(msg)
    } else {
        Err(msg)
    }
}

fn smv_parts(path: &Path) -> (Vec<(String, String)>, Vec<u16>) {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8_lossy(&raw[..raw.len().min(4096)]).to_string();
    let hb: usize = text.split("HEADER_BYTES=").nth(1).unwrap().split(';').next().unwrap().trim().parse().unwrap();
    let header = String::from_utf8_lossy(&raw[..hb]).replace(['{', '}'], "");
    let keys = header
        .split(';')
        .filter_map(|p| p.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect();
    let data = raw[hb..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    (keys, data)
}

fn smv_ok(reference: &Path, got: &Path) -> Result<String, String> {
    let (rk, rv) = smv_parts(reference);
    let (gk, gv) = smv_parts(got);
    let missing: Vec<&String> = rk.iter().map(|(k, _)| k).filter(|k| !gk.iter().any(|(g, _)| g == *k)).collect();
    if rv.len() != gv.len() {
        return Err(format!("pixel count {} != {}", gv.len(), rv.len()));
    }
    let same = rv.iter().zip(&gv).filter(|(a, b)| a == b).count() as f64 / rv.len() as f64;
    let maxd = rv.iter().zip(&gv).map(|(&a, &b)| (a as i32 - b as i32).abs()).max().unwrap_or(0);
    let msg = format!("identical={same:.5} maxdiff={maxd} missing={missing:?}");
    if missing.is_empty() && same >= SAME_MIN && maxd <= 1 {
        Ok(msg)
    } else {
        Err(msg)
    }
}

fn pgm_ok(reference: &Path, got: &Path) -> Result<String, String> {
    let body = |p: &Path| {
        let b = std::fs::read(p).unwrap();
        let mut n = 0;
        let mut pos = 0;
        while n < 4 && pos < b.len() {
            if b[pos] == b'\n' {
                n += 1;
            }
            pos += 1;
        }
        b[pos..].to_vec()
    };
    let (r, g) = (body(reference), body(got));
    if r.len() != g.len() || r.is_empty() {
        return Err("PGM size or header differs".into());
    }
    let same = r.iter().zip(&g).filter(|(a, b)| a == b).count() as f64 / r.len() as f64;
    if same >= SAME_MIN {
        Ok(format!("identical={same:.5}"))
    } else {
        Err(format!("identical={same:.5}"))
    }
}

fn run_case(golden: &Path, case: &Value, extra: &[&str]) -> Result<String, String> {
    let name = case["name"].as_str().unwrap();
    let dir = scratch(name);
    for inp in case["inputs"].as_array().unwrap() {
        let f = inp.as_str().unwrap();
        std::fs::copy(golden.join("inputs").join(f), dir.join(f)).map_err(|e| format!("copy {f}: {e}"))?;
    }
    let mut args = golden_args(case);
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = run_args(&dir, &args);
    if !out.status.success() {
        return Err(format!("exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
    }
    let case_dir = golden.join(name);
    let outputs = case["outputs"].as_object().unwrap();
    let got = crop_to_case(case, read_f32(&dir.join("float.bin")));
    let reference = read_f32(&case_dir.join(outputs["float"].as_str().unwrap()));
    let mut report = vec![float_ok(&reference, &got).map_err(|e| format!("float: {e}"))?];
    for (kind, file) in outputs {
        let file = file.as_str().unwrap();
        let (r, g) = (case_dir.join(file), dir.join(file));
        if kind == "float" {
            continue;
        }
        if !g.exists() {
            return Err(format!("{kind}: {file} not written"));
        }
        let res = match kind.as_str() {
            "int" | "noise" => smv_ok(&r, &g),
            "pgm" => pgm_ok(&r, &g),
            "fdump" => {
                if std::fs::read(&r).unwrap() == std::fs::read(&g).unwrap() {
                    Ok("identical".into())
                } else {
                    Err("differs".into())
                }
            }
            other => Err(format!("unknown output kind {other}")),
        };
        report.push(res.map_err(|e| format!("{kind}: {e}"))?);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report.join("; "))
}

fn all_cases(extra: &[&str]) {
    let Some(golden) = golden_dir() else { return };
    let index: Value = serde_json::from_str(&std::fs::read_to_string(golden.join("index.json")).unwrap()).unwrap();
    let cases = index["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        match run_case(&golden, case, extra) {
            Ok(msg) => eprintln!("PASS {name:28} {msg}"),
            Err(msg) => {
                eprintln!("FAIL {name:28} {msg}");
                failures.push(format!("{name}: {msg}"));
            }
        }
    }
    eprintln!("{} passed, {} failed {extra:?}", cases.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "parity failures:\n{}", failures.join("\n"));
}

/// The default engine (fused CPU kernel for forward renders).
#[test]
fn golden_cases_match_the_c_reference() {
    all_cases(&[]);
}

/// The batched tensor path, the one gradients flow through.
#[test]
fn golden_cases_match_the_c_reference_on_the_tensor_path() {
    all_cases(&["-engine", "tensor"]);
}
