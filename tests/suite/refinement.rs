//! Refinement recovers the parameters of an image made by the C reference program.

use crate::common::*;
use serde_json::Value;

#[test]
fn refine_recovers_geometry_from_a_c_reference_image() {
    let Some(golden) = golden_dir() else { return };
    let target = golden.join("tri_basic/float.bin");
    // truth: -cell 70 80 90 75 85 95 -misset 10 20 30 -distance 100, MOSFLM beam centre 6.45 mm,
    // built the reference's way (-legacy_cell); start: lengths +1%, missets +-0.5 deg, distance
    // +1 mm, beam centre 2 pixels off
    let dir = scratch("refine");
    let args = format!(
        "refine -legacy_cell -cell 70.7 80.8 90.9 75 85 95 -misset 10.5 20.5 29.5 -default_F 100 -N 5 -lambda 1.0 -distance 101 -pixel 0.1 -detpixels 128 -oversample 1 -Xbeam 6.65 -Ybeam 6.25 --target {} --refine cell_a,cell_b,cell_c,misset_x,misset_y,misset_z,distance,beam_x,beam_y --steps 100 --out result.json",
        target.display()
    );
    let out = run_in(&dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(json, saved);
    let p = &json["params"];
    let get = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("{k} missing"));
    for (k, truth) in [("cell_a", 70.0), ("cell_b", 80.0), ("cell_c", 90.0)] {
        assert!((get(k) / truth - 1.0).abs() < 5e-4, "{k} = {}", get(k));
    }
    for (k, truth) in [("misset_x", 10.0), ("misset_y", 20.0), ("misset_z", 30.0)] {
        assert!((get(k) - truth).abs() < 0.01, "{k} = {}", get(k));
    }
    assert!((get("distance") - 100.0).abs() < 0.05, "distance = {}", get("distance"));
    // beam centre within 0.05 pixel (0.005 mm)
    assert!((get("beam_x") - 6.45).abs() < 0.005, "beam_x = {}", get("beam_x"));
    assert!((get("beam_y") - 6.45).abs() < 0.005, "beam_y = {}", get("beam_y"));
    assert!(json["iterations"].as_u64().unwrap() > 0);
    assert!(json["loss"].as_f64().unwrap().is_finite());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refine_rejects_bad_options() {
    let dir = scratch("refine_bad");
    for (args, needle) in [
        ("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --refine cell_a", "--target"),
        ("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --target x.bin --refine cell_z", "cell_z"),
        ("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --target missing.bin --refine cell_a", "missing.bin"),
        ("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --target x.bin --refine cell_a --loss l1", "--loss"),
    ] {
        let out = run_in(&dir, args);
        assert!(!out.status.success(), "{args}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
