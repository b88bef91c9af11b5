//! Autodiff gradients against finite differences for every parameter, in float64 and float32,
//! including a pixel centred exactly on the direct beam; chunking does not change them.

use nanobragg::engine::device::{Precision, Target};
use nanobragg::model::{initial_values, Param, PARAMS};
use nanobragg::refine::gradcheck::{gradcheck, ramp_weights};
use nanobragg::refine::{Evaluator, Objective};

fn all_params() -> Vec<Param> {
    Param::ALL.to_vec()
}

/// 24 x 24 pixels with the direct beam on the centre of pixel (12, 12): MOSFLM maps
/// Xbeam = Ybeam = 1.2 mm to Fbeam = Sbeam = 1.25 mm.
const DIRECT_BEAM: &str = "-cell 40 50 60 80 95 105 -misset 5 10 15 -default_F 10 -N 4 -lambda 1 -distance 30 -pixel 0.1 -detpixels 24 -Xbeam 1.2 -Ybeam 1.2 -oversample 1 -polar 0.9 -mosaic 0.4 -mosaic_domains 3 -phi 1 -osc 0.5 -phisteps 2";

fn check_f64(args: &str, tol: f64) {
    let exp = crate::common::experiment(args);
    let rows = gradcheck(&exp, &all_params(), None, true);
    for r in &rows {
        assert!(r.autodiff.is_finite(), "{}: non-finite gradient", r.name);
        assert!(r.rel_error <= tol, "{args}\n{}: autodiff {:e} vs finite difference {:e} (rel {:e})", r.name, r.autodiff, r.finite_difference, r.rel_error);
    }
    // parameters that matter here must have non-zero gradients (the check is not vacuous)
    let nonzero = rows.iter().filter(|r| r.autodiff != 0.0).count();
    assert!(nonzero >= 20, "only {nonzero} non-zero gradients");
}

#[test]
fn every_parameter_f64_with_a_pixel_on_the_direct_beam() {
    check_f64(DIRECT_BEAM, 1e-6);
}

#[test]
fn every_parameter_f64_sample_pivot_two_theta_and_thick_sensor() {
    check_f64(
        "-cell 45 45 70 90 90 120 -misset 20 -5 33 -default_F 10 -N 3 -lambda 1.2 -distance 40 -pixel 0.15 -detpixels_x 20 -detpixels_y 16 -xds -ORGX 9 -ORGY 7 -twotheta 8 -detector_rotx 2 -detector_abs 300 -detector_thick 200 -thicksteps 2 -oversample 2 -polar 0.5 -mosaic 0.3 -mosaic_domains 2 -phi 3 -osc 1 -phisteps 2",
        1e-6,
    );
}

#[test]
fn every_parameter_f32_within_1e3() {
    let args = DIRECT_BEAM;
    let exp = crate::common::experiment(args);
    let names = all_params();
    // float64 finite differences as the reference
    let rows = gradcheck(&exp, &names, None, true);
    let ev = Evaluator::new(&exp).with_target(Target::cpu(Precision::F32));
    let obj = Objective::Weighted(ramp_weights(&exp, &ev.pixels));
    let (_, g32) = ev.value_and_grad(&initial_values(&exp), &names, &obj);
    for (r, g) in rows.iter().zip(g32) {
        let denom = r.finite_difference.abs().max(g.abs());
        let rel = if denom > 0.0 { (g - r.finite_difference).abs() / denom } else { 0.0 };
        assert!(rel <= 1e-3, "{}: f32 autodiff {g:e} vs f64 finite difference {:e} (rel {rel:e})", r.name, r.finite_difference);
    }
}

#[test]
fn gradients_do_not_depend_on_the_chunk_size() {
    let exp = crate::common::experiment(DIRECT_BEAM);
    let names = all_params();
    let mut ev = Evaluator::new(&exp);
    let obj = Objective::Weighted(ramp_weights(&exp, &ev.pixels));
    let values = initial_values(&exp);
    let (f1, g1) = ev.value_and_grad(&values, &names, &obj);
    ev.chunk_elements = Some(37);
    let (f2, g2) = ev.value_and_grad(&values, &names, &obj);
    assert!((f1 - f2).abs() <= 1e-12 * f1.abs());
    for ((a, b), n) in g1.iter().zip(&g2).zip(&names) {
        assert!((a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300), "{n}: {a:e} vs {b:e}");
    }
}

#[test]
fn gradcheck_command_passes_and_reports() {
    let dir = crate::common::scratch("gradcheck");
    let out = crate::common::run_in(&dir, &format!("gradcheck {DIRECT_BEAM} --params cell_a,misset_z,beam_x,polar"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("PASS") && text.contains("beam_x") && text.contains("polar"), "{text}");
    let bad = crate::common::run_in(&dir, &format!("gradcheck {DIRECT_BEAM} --params cell_q"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cell_q"));
}

#[test]
fn structure_factor_and_source_weight_gradients_match_finite_differences() {
    let dir = crate::common::scratch("vecgrad");
    let hkl = dir.join("f.hkl");
    let mut text = String::new();
    for h in -6i32..=6 {
        for k in -6i32..=6 {
            for l in -6i32..=6 {
                text += &format!("{h} {k} {l} {}\n", 20.0 + ((h * 31 + k * 17 + l * 7).rem_euclid(23)) as f64);
            }
        }
    }
    std::fs::write(&hkl, text).unwrap();
    let src = dir.join("s.txt");
    std::fs::write(&src, "-10 0 0 1.0 1e-10\n-10 0.01 0 0.5 1.01e-10\n-10 0 0.01 2.0 0.99e-10\n").unwrap();
    for mode in ["-nointerpolate", "-interpolate"] {
        let args = format!("-cell 30 30 30 90 90 90 -misset 3 5 7 -hkl {} -N 3 -lambda 1 -distance 50 -pixel 0.2 -detpixels 24 -oversample 1 {mode} -sourcefile {} -source_weights", hkl.display(), src.display());
        let exp = crate::common::experiment(&args);
        let ev = Evaluator::new(&exp);
        let obj = Objective::Weighted(ramp_weights(&exp, &ev.pixels));
        let values = initial_values(&exp);
        let gf = ev.vector_gradient(&values, nanobragg::refine::VectorKind::StructureFactors, &obj).unwrap();
        let gw = ev.vector_gradient(&values, nanobragg::refine::VectorKind::SourceWeights, &obj).unwrap();
        // largest structure-factor gradients are the ones the image depends on
        let mut order: Vec<usize> = (0..gf.len()).collect();
        order.sort_by(|&a, &b| gf[b].abs().partial_cmp(&gf[a].abs()).unwrap());
        assert!(gf[order[0]] != 0.0);
        for &i in order.iter().take(4) {
            let fd = {
                let h = 1e-3;
                let mut e1 = exp.clone();
                std::sync::Arc::make_mut(e1.structure.grid.as_mut().unwrap()).values[i] += h;
                let mut e2 = exp.clone();
                std::sync::Arc::make_mut(e2.structure.grid.as_mut().unwrap()).values[i] -= h;
                (Evaluator::new(&e1).value(&values, &obj) - Evaluator::new(&e2).value(&values, &obj)) / (2.0 * h)
            };
            assert!((gf[i] - fd).abs() <= 1e-6 * fd.abs().max(gf[i].abs()), "{mode} F[{i}]: {} vs {fd}", gf[i]);
        }
        for i in 0..3 {
            let h = 1e-4;
            let mut e1 = exp.clone();
            e1.beam.sources[i].weight += h;
            let mut e2 = exp.clone();
            e2.beam.sources[i].weight -= h;
            let fd = (Evaluator::new(&e1).value(&values, &obj) - Evaluator::new(&e2).value(&values, &obj)) / (2.0 * h);
            assert!((gw[i] - fd).abs() <= 1e-6 * fd.abs().max(gw[i].abs()), "{mode} weight {i}: {} vs {fd}", gw[i]);
        }
    }
}

/// Gradient checks on the golden geometries themselves (triclinic, tilted detector, mosaic),
/// restricted to a region of interest so the test stays quick; the geometry is unchanged. The
/// first is built as the reference does (-legacy_cell), the last with the exact cell.
#[test]
fn gradcheck_passes_on_golden_geometries() {
    let cases = [
        "-misset -89.968546 -31.328953 177.753396 -cell 70 80 90 75 85 95 -default_F 100 -N 5 -lambda 1.0 -detpixels 512 -roi 200 231 250 281 -legacy_cell",
        "-lambda 6.2 -N 5 -cell 100 100 100 90 90 90 -default_F 100 -distance 100 -detsize 102.4 -detpixels 1024 -Xbeam 61.2 -Ybeam 61.2 -detector_rotx 5 -detector_roty 3 -detector_rotz 2 -twotheta 15 -oversample 1 -roi 560 599 560 599",
        "-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -N 5 -lambda 1.0 -distance 100 -pixel 0.1 -detpixels 128 -oversample 1 -mosaic 0.5 -mosaic_dom 8 -phi 5 -osc 2 -phisteps 4 -roi 60 99 60 99",
    ];
    for args in cases {
        let exp = crate::common::experiment(args);
        let rows = gradcheck(&exp, &all_params(), None, true);
        for r in &rows {
            assert!(r.rel_error <= 1e-6, "{args}\n{}: {:e} vs {:e} ({:e})", r.name, r.autodiff, r.finite_difference, r.rel_error);
        }
    }
}

/// Compare two gradient vectors parameter by parameter: relative 1e-9, where gradients that
/// vanish in exact arithmetic (e.g. with respect to a parameter the image does not depend on)
/// may differ by rounding relative to the largest gradient scaled by each parameter's step.
fn assert_same_gradients(what: &str, names: &[Param], a: &[f64], b: &[f64], tol: f64) {
    let info = |n: Param| Some(n.info().scale).filter(|s| *s > 0.0).unwrap_or(1.0);
    let floor = names.iter().zip(a).map(|(&n, g)| (g * info(n)).abs()).fold(0.0, f64::max) * 1e-12;
    for ((&n, x), y) in names.iter().zip(a).zip(b) {
        let diff = (x - y).abs();
        assert!(diff <= tol * x.abs().max(y.abs()) || diff * info(n) <= floor, "{what}\n{n}: fused {x:e} vs tensor autodiff {y:e} (rel {:e})", diff / x.abs().max(y.abs()));
    }
}

#[test]
fn fused_backward_matches_tensor_autodiff() {
    let dir = crate::common::scratch("fusedgrad");
    let hkl = dir.join("f.hkl");
    let mut text = String::new();
    for h in -8i32..=8 {
        for k in -8i32..=8 {
            for l in -8i32..=8 {
                text += &format!("{h} {k} {l} {}\n", 20.0 + ((h * 31 + k * 17 + l * 7).rem_euclid(23)) as f64);
            }
        }
    }
    std::fs::write(&hkl, text).unwrap();
    let src = dir.join("s.txt");
    std::fs::write(&src, "-10 0 0 1.0 1e-10\n-10 0.01 0 0.5 1.01e-10\n-10 0 0.01 2.0 0.99e-10\n").unwrap();
    let hkl = hkl.display().to_string();
    let cases = [
        DIRECT_BEAM.to_string(),
        "-cell 45 45 70 90 90 120 -misset 20 -5 33 -default_F 10 -N 3 -lambda 1.2 -distance 40 -pixel 0.15 -detpixels_x 20 -detpixels_y 16 -xds -ORGX 9 -ORGY 7 -twotheta 8 -detector_rotx 2 -detector_abs 300 -detector_thick 200 -thicksteps 2 -oversample 2 -polar 0.5 -mosaic 0.3 -mosaic_domains 2 -phi 3 -osc 1 -phisteps 2".into(),
        "-cell 45 45 70 90 90 120 -misset 20 -5 33 -default_F 10 -N 3 -lambda 1.2 -distance 40 -pixel 0.15 -detpixels 16 -detector_abs 300 -detector_thick 200 -thicksteps 3 -oversample 2 -oversample_thick -oversample_polar -oversample_omega -water 200 -dmin 3".into(),
        format!("-cell 30 32 34 88 92 95 -misset 3 5 7 -hkl {hkl} -interpolate -N 3 -lambda 1 -distance 50 -pixel 0.2 -detpixels 20 -oversample 1 -round_xtal -detector_rotz 4 -point_pixel"),
        format!("-cell 30 32 34 88 92 95 -misset 3 5 7 -hkl {hkl} -nointerpolate -N 3 -lambda 1 -distance 50 -pixel 0.2 -detpixels 20 -sourcefile {} -source_weights -gauss_xtal -nopolar", src.display()),
        "-cell 50 60 70 90 100 110 -misset 1 2 3 -default_F 5 -N 4 -lambda 1 -distance 60 -pixel 0.2 -detpixels 20 -tophat_spots -dispersion 2 -dispsteps 3 -divergence 0.2 -divsteps 2 -dials -detector_roty 3 -pivot sample".into(),
        "-cell 40 50 60 80 95 105 -misset 5 10 15 -default_F 10 -N 4 -lambda 1 -distance 30 -pixel 0.1 -detpixels 24 -curved_det -detector_rotz 2 -twotheta 3 -Xbeam 1.3 -Ybeam 1.1 -oversample 2".into(),
    ];
    let names = all_params();
    for args in &cases {
        let exp = crate::common::experiment(args);
        let fused = Evaluator::new(&exp);
        assert!(fused.uses_fused(), "{args}");
        let tensor = Evaluator::new(&exp).with_tensor_path();
        let values = initial_values(&exp);
        let weighted = Objective::Weighted(ramp_weights(&exp, &fused.pixels));
        let target: Vec<f64> = fused.image(&values).iter().enumerate().map(|(i, m)| (m * (1.0 + 0.3 * ((i % 7) as f64 - 3.0) / 3.0)).max(0.0)).collect();
        let poisson = Objective::Fit { target, loss: nanobragg::refine::Loss::Poisson };
        for obj in [&weighted, &poisson] {
            let (f1, g1) = fused.value_and_grad(&values, &names, obj);
            let (f2, g2) = tensor.value_and_grad(&values, &names, obj);
            assert!((f1 - f2).abs() <= 1e-11 * f1.abs().max(f2.abs()), "{args}: value {f1} vs {f2}");
            assert_same_gradients(args, &names, &g1, &g2, 1e-9);
        }
        for kind in [nanobragg::refine::VectorKind::StructureFactors, nanobragg::refine::VectorKind::SourceWeights] {
            let a = fused.vector_gradient(&values, kind, &weighted);
            let b = tensor.vector_gradient(&values, kind, &weighted);
            assert_eq!(a.is_some(), b.is_some(), "{args} {kind:?}");
            if let (Some(a), Some(b)) = (a, b) {
                let big = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                assert!(big > 0.0, "{args} {kind:?}: all zero");
                for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                    assert!((x - y).abs() <= 1e-9 * x.abs().max(y.abs()) + 1e-13 * big, "{args} {kind:?}[{i}]: {x:e} vs {y:e}");
                }
            }
        }
    }
}

#[test]
fn grad_command_reports_every_parameter_and_refuses_bad_input() {
    let dir = crate::common::scratch("gradcmd");
    let sim = "-cell 40 50 60 80 95 105 -misset 5 10 15 -default_F 10 -N 4 -lambda 1 -distance 30 -pixel 0.1 -detpixels 24 -mosaic 0.4 -mosaic_domains 3";
    let out = crate::common::run_in(&dir, &format!("grad {sim} --params all --out g.json"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("g.json")).unwrap()).unwrap();
    assert_eq!(json["loss"], saved["loss"]);
    let grad = json["grad"].as_object().unwrap();
    assert_eq!(grad.len(), PARAMS.len());
    // the same numbers as the library's evaluator
    let exp = crate::common::experiment(sim);
    let ev = Evaluator::new(&exp);
    let (f, g) = ev.value_and_grad(&initial_values(&exp), &all_params(), &Objective::Weighted(ramp_weights(&exp, &ev.pixels)));
    assert!((json["loss"].as_f64().unwrap() - f).abs() <= 1e-12 * f.abs());
    for (n, gv) in all_params().iter().zip(&g) {
        let x = grad[&n.name()].as_f64().unwrap();
        assert!((x - gv).abs() <= 1e-12 * gv.abs().max(1e-300), "{n}: {x} vs {gv}");
    }
    // a target: Poisson loss by default, mse on request, gradient changes with it
    let img = crate::common::scratch("gradcmd_t").join("t.bin");
    let render = crate::common::run_in(&dir, &format!("{sim} -floatfile {}", img.display()));
    assert!(render.status.success());
    let fit = crate::common::run_in(&dir, &format!("grad {sim} -distance 30.5 --params distance,cell_a --target {} --loss mse", img.display()));
    assert!(fit.status.success(), "{}", String::from_utf8_lossy(&fit.stderr));
    let j: serde_json::Value = serde_json::from_slice(&fit.stdout).unwrap();
    assert!(j["loss"].as_f64().unwrap() > 0.0 && j["grad"]["distance"].as_f64().unwrap() != 0.0);
    for (bad, needle) in [
        (format!("grad {sim} --target missing.bin --out x.json"), "missing.bin"),
        (format!("grad {sim} -detpixels 20 --target {} --out x.json", img.display()), "t.bin"),
        (format!("grad {sim} --target {} --loss cauchy --out x.json", img.display()), "cauchy"),
        (format!("grad {sim} --params cell_q --out x.json"), "cell_q"),
    ] {
        let o = crate::common::run_in(&dir, &bad);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{bad}");
        assert_eq!(err.trim().lines().count(), 1, "{bad}: {err}");
        assert!(err.contains(needle), "{bad}: {err}");
        assert!(!dir.join("x.json").exists(), "{bad}: output written");
    }
}

/// Fused gradients of every parameter against central finite differences on a whole 1024^2
/// image (triclinic crystal, detector tilted by two-theta and three rotations, polarization).
#[test]
fn every_parameter_f64_at_1024_squared() {
    check_f64(
        "-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.1 -detpixels 1024 -oversample 1 -twotheta 5 -detector_rotx 1 -detector_roty -2 -detector_rotz 3 -phi 1 -osc 0.2 -polar 0.8",
        1e-6,
    );
}
