//! Autodiff gradients against finite differences for every parameter, in float64 and float32,
//! including a pixel centred exactly on the direct beam; chunking does not change them.

use nanobragg::device::{set_precision, Precision};
use nanobragg::model::{initial_values, PARAMS};
use nanobragg::refine::gradcheck::{gradcheck, ramp_weights};
use nanobragg::refine::{Evaluator, Objective};

fn all_params() -> Vec<String> {
    PARAMS.iter().map(|p| p.name.to_string()).collect()
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
    let ev = Evaluator::new(&exp);
    let obj = Objective::Weighted(ramp_weights(&exp, &ev.pixels));
    set_precision(Precision::F32);
    let (_, g32) = ev.value_and_grad(&initial_values(&exp), &names, &obj);
    set_precision(Precision::F64);
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
                e1.structure.grid.as_mut().unwrap().values[i] += h;
                let mut e2 = exp.clone();
                e2.structure.grid.as_mut().unwrap().values[i] -= h;
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
/// restricted to a region of interest so the test stays quick; the geometry is unchanged.
#[test]
fn gradcheck_passes_on_golden_geometries() {
    let cases = [
        "-misset -89.968546 -31.328953 177.753396 -cell 70 80 90 75 85 95 -default_F 100 -N 5 -lambda 1.0 -detpixels 512 -roi 200 231 250 281",
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
