//! Each per-sample term of `physics` is one generic definition: evaluated on f64, on `Dual`
//! numbers (value and derivative) and on burn tensors in float64 and float32, it gives the
//! same values, and the `Dual` derivative equals a central finite difference. The points include
//! both sides of every branch (series / closed form, inside / outside a shape).

use nanobragg::config::Shape;
use nanobragg::engine::device::{to_vec, Precision, Target};
use nanobragg::physics::real::Dual;
use nanobragg::physics::structure::{grid_position, tricubic_weights};
use nanobragg::physics::constants::{SINC3_SERIES_BELOW, SINCG_SERIES_BELOW};
use nanobragg::physics::{beyond_resolution, capture_fraction, lattice_factor, scattering_vector, polarization, sinc3_of_sq, sincg, solid_angle, ShapeSpec};

/// A term of one scalar input (the others fixed inside), on every number type.
struct Term1 {
    name: &'static str,
    f64: fn(f64) -> f64,
    dual: fn(Dual<1>) -> Dual<1>,
    tensor: fn(burn::tensor::Tensor<1>) -> burn::tensor::Tensor<1>,
    /// Where the term switches between its series and its closed form, if it does.
    switch: Option<f64>,
}

/// Compare a term on f64, Dual, f64 tensors and f32 tensors at `points`; the Dual derivative
/// against a central difference of the f64 form.
fn check(term: &Term1, points: &[f64]) {
    let f64_values: Vec<f64> = points.iter().map(|&x| (term.f64)(x)).collect();
    for (i, &x) in points.iter().enumerate() {
        let d = (term.dual)(Dual::var(x, 0));
        let want = f64_values[i];
        assert!((d.v - want).abs() <= 1e-14 * want.abs().max(1e-300), "{}: Dual value at {x}: {} vs {want}", term.name, d.v);
        // a step that stays on the branch of x: never across the term's series switch
        let mut h = 1e-3 * x.abs().max(1e-3);
        if let Some(sw) = term.switch {
            h = h.min(0.5 * (sw - x.abs()).abs());
        }
        let fd = ((term.f64)(x + h) - (term.f64)(x - h)) / (2.0 * h);
        let scale = fd.abs().max(d.d[0].abs()).max(1e-6);
        assert!((d.d[0] - fd).abs() <= 1e-4 * scale, "{}: derivative at {x}: Dual {} vs finite difference {fd}", term.name, d.d[0]);
    }
    // float32 is compared on the term's own scale (values near a zero of sin(n pi f) cancel)
    let magnitude = f64_values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (precision, tol) in [(Precision::F64, 1e-13), (Precision::F32, 2e-5)] {
        let dev = Target::cpu(precision);
        let t = to_vec((term.tensor)(dev.tensor(points.to_vec(), [points.len()])));
        for ((&x, &want), got) in points.iter().zip(&f64_values).zip(&t) {
            let scale = if precision == Precision::F32 { magnitude.max(1e-3) } else { want.abs().max(1e-3) };
            assert!((got - want).abs() <= tol * scale, "{}: {precision:?} tensor at {x}: {got} vs {want}", term.name);
        }
    }
}

const STARS: [[f64; 3]; 3] = [[0.011, 0.001, 0.0], [0.0, 0.009, 0.002], [0.0005, 0.0, 0.013]];

#[test]
fn every_per_sample_term_agrees_on_f64_dual_and_tensors() {
    // fractional indices on both sides of the sincg series switch (|pi f| = 1e-4)
    let fractions = [0.0, 1e-6, 3.1e-5, 3.3e-5, 0.01, 0.1234, -0.27, 0.5];
    check(&Term1 { name: "sincg", f64: |f| sincg(f, 5.0), dual: |f| sincg(f, Dual::cst(5.0)), tensor: |f| sincg(f.clone(), f.zeros_like() + 5.0), switch: Some(SINCG_SERIES_BELOW / std::f64::consts::PI) }, &fractions);
    check(&Term1 { name: "sincg(n)", f64: |n| sincg(0.137, n), dual: |n| sincg(Dual::cst(0.137), n), tensor: |n| sincg(n.zeros_like() + 0.137, n), switch: None }, &[1.0, 2.5, 5.0, 7.3, 16.0]);
    // the detector terms of a sub-pixel: solid angle along the air path (0.1 mm pixel, plane at
    // 100 mm), flat and point pixels; capture fraction of three sensor layers along the cosine
    // to the normal (k = 0.3: a layer of 0.3 attenuation depths)
    let airs = [0.1, 0.1003, 0.12, 0.25, 1.0];
    check(&Term1 { name: "solid_angle", f64: |r| solid_angle(1e-4, 0.1, r, false), dual: |r| solid_angle(Dual::cst(1e-4), Dual::cst(0.1), r, false), tensor: |r| solid_angle(r.zeros_like() + 1e-4, r.zeros_like() + 0.1, r, false), switch: None }, &airs);
    check(&Term1 { name: "solid_angle(pixel)", f64: |p| solid_angle(p, 0.1, 0.12, false), dual: |p| solid_angle(p, Dual::cst(0.1), Dual::cst(0.12), false), tensor: |p| solid_angle(p.clone(), p.zeros_like() + 0.1, p.zeros_like() + 0.12, false), switch: None }, &[5e-5, 1e-4, 1.72e-4]);
    check(&Term1 { name: "solid_angle point", f64: |r| solid_angle(1e-4, 0.1, r, true), dual: |r| solid_angle(Dual::cst(1e-4), Dual::cst(0.1), r, true), tensor: |r| solid_angle(r.zeros_like() + 1e-4, r.zeros_like() + 0.1, r, true), switch: None }, &airs);
    let cosines = [0.2, 0.5, 0.83, 0.99, 1.0];
    check(&Term1 { name: "capture_fraction t=0", f64: |c| capture_fraction(c, 0.3, 0), dual: |c| capture_fraction(c, 0.3, 0), tensor: |c| capture_fraction(c, 0.3, 0), switch: None }, &cosines);
    check(&Term1 { name: "capture_fraction t=2", f64: |c| capture_fraction(c, 0.3, 2), dual: |c| capture_fraction(c, 0.3, 2), tensor: |c| capture_fraction(c, 0.3, 2), switch: None }, &cosines);
    // the scattering vector's y component along the wavelength (Angstrom, q in 1/Angstrom), and the resolution cut on both
    // sides of d = dmin (the same mask on every number type)
    let d = [0.8, 0.36, 0.48];
    let inc = [1.0, 0.0, 0.0];
    check(&Term1 { name: "scattering_vector", f64: |l| scattering_vector(&[0.8, 0.36, 0.48], &[1.0, 0.0, 0.0], l * 1e-10)[1] * 1e-10, dual: |l| scattering_vector(&[0.8, 0.36, 0.48].map(Dual::cst), &[1.0, 0.0, 0.0].map(Dual::cst), l * 1e-10)[1] * 1e-10, tensor: |l| {
        let c = |v: f64| l.zeros_like() + v;
        scattering_vector(&[c(0.8), c(0.36), c(0.48)], &[c(1.0), c(0.0), c(0.0)], l * 1e-10)[1].clone() * 1e-10
    }, switch: None }, &[0.5, 1.0, 1.5]);
    let q = scattering_vector(&d, &inc, 1e-10);
    let spacing = 1.0 / (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
    for (dmin, cut) in [(0.9 * spacing, false), (1.1 * spacing, true)] {
        assert_eq!(beyond_resolution(&q, dmin), cut, "f64 at dmin = {dmin}");
        assert_eq!(beyond_resolution(&q.map(Dual::<1>::cst), dmin), cut, "Dual at dmin = {dmin}");
        for precision in [Precision::F64, Precision::F32] {
            let dev = Target::cpu(precision);
            let qt = q.map(|c| dev.tensor(vec![c], [1]));
            let mask = beyond_resolution(&qt, dmin).into_data().try_to_vec::<bool>().unwrap();
            assert_eq!(mask, [cut], "{precision:?} tensor at dmin = {dmin}");
        }
    }
    // a thick sensor's layers capture what the whole thickness absorbs
    let whole: f64 = (0..4).map(|t| capture_fraction(0.7, 0.25, t)).sum();
    assert!((whole - (1.0 - (-1.0f64 / 0.7).exp())).abs() < 1e-15, "{whole}");
    // x^2 on both sides of the sphere transform's series switch (1e-6); the closed form cancels
    // badly just above it (its own values are noisy there), so its points start at 0.3
    check(&Term1 { name: "sinc3_of_sq", f64: sinc3_of_sq, dual: sinc3_of_sq, tensor: sinc3_of_sq, switch: Some(SINC3_SERIES_BELOW) }, &[0.0, 1e-8, 9e-7, 0.3, 4.0, 30.0]);
    // the spot shapes along one index, the others fixed
    for shape in [Shape::Square, Shape::Round, Shape::Gauss, Shape::Tophat] {
        let spec = ShapeSpec { shape, fudge: 1.0, stars: STARS };
        let term = match shape {
            Shape::Square => Term1 {
                name: "lattice_factor square",
                f64: |f| lattice_factor(&ShapeSpec { shape: Shape::Square, fudge: 1.0, stars: STARS }, [f, 0.03, -0.02], [5.0, 4.0, 6.0]),
                dual: |f| lattice_factor(&ShapeSpec { shape: Shape::Square, fudge: 1.0, stars: STARS }, [f, Dual::cst(0.03), Dual::cst(-0.02)], [Dual::cst(5.0), Dual::cst(4.0), Dual::cst(6.0)]),
                tensor: |f| {
                    let c = |v: f64| f.zeros_like() + v;
                    lattice_factor(&ShapeSpec { shape: Shape::Square, fudge: 1.0, stars: STARS }, [f.clone(), c(0.03), c(-0.02)], [c(5.0), c(4.0), c(6.0)])
                },
                switch: Some(SINCG_SERIES_BELOW / std::f64::consts::PI),
            },
            Shape::Round => Term1 {
                name: "lattice_factor round",
                f64: |f| lattice_factor(&ShapeSpec { shape: Shape::Round, fudge: 1.0, stars: STARS }, [f, 0.03, -0.02], [5.0, 4.0, 6.0]),
                dual: |f| lattice_factor(&ShapeSpec { shape: Shape::Round, fudge: 1.0, stars: STARS }, [f, Dual::cst(0.03), Dual::cst(-0.02)], [Dual::cst(5.0), Dual::cst(4.0), Dual::cst(6.0)]),
                tensor: |f| {
                    let c = |v: f64| f.zeros_like() + v;
                    lattice_factor(&ShapeSpec { shape: Shape::Round, fudge: 1.0, stars: STARS }, [f.clone(), c(0.03), c(-0.02)], [c(5.0), c(4.0), c(6.0)])
                },
                switch: Some(SINCG_SERIES_BELOW / std::f64::consts::PI),
            },
            Shape::Gauss => Term1 {
                name: "lattice_factor gauss",
                f64: |f| lattice_factor(&ShapeSpec { shape: Shape::Gauss, fudge: 1.0, stars: STARS }, [f, 0.03, -0.02], [5.0, 4.0, 6.0]),
                dual: |f| lattice_factor(&ShapeSpec { shape: Shape::Gauss, fudge: 1.0, stars: STARS }, [f, Dual::cst(0.03), Dual::cst(-0.02)], [Dual::cst(5.0), Dual::cst(4.0), Dual::cst(6.0)]),
                tensor: |f| {
                    let c = |v: f64| f.zeros_like() + v;
                    lattice_factor(&ShapeSpec { shape: Shape::Gauss, fudge: 1.0, stars: STARS }, [f.clone(), c(0.03), c(-0.02)], [c(5.0), c(4.0), c(6.0)])
                },
                switch: Some(SINCG_SERIES_BELOW / std::f64::consts::PI),
            },
            Shape::Tophat => Term1 {
                name: "lattice_factor tophat",
                f64: |f| lattice_factor(&ShapeSpec { shape: Shape::Tophat, fudge: 1.0, stars: STARS }, [f, 0.03, -0.02], [5.0, 4.0, 6.0]),
                dual: |f| lattice_factor(&ShapeSpec { shape: Shape::Tophat, fudge: 1.0, stars: STARS }, [f, Dual::cst(0.03), Dual::cst(-0.02)], [Dual::cst(5.0), Dual::cst(4.0), Dual::cst(6.0)]),
                tensor: |f| {
                    let c = |v: f64| f.zeros_like() + v;
                    lattice_factor(&ShapeSpec { shape: Shape::Tophat, fudge: 1.0, stars: STARS }, [f.clone(), c(0.03), c(-0.02)], [c(5.0), c(4.0), c(6.0)])
                },
                switch: Some(SINCG_SERIES_BELOW / std::f64::consts::PI),
            },
        };
        // the tophat is flat inside and outside its radius: points away from its edge
        let points: &[f64] = if spec.shape == Shape::Tophat { &[0.0, 0.05, 2.0, 3.0] } else { &[0.0, 1e-6, 0.04, 0.11, -0.3] };
        check(&term, points);
    }
    // polarization as the diffracted direction sweeps through the scattering plane
    fn dir<T: nanobragg::physics::Real>(a: T, zero: T) -> [T; 3] {
        // a unit vector at angle a from the beam (x), in the x-y plane tilted 0.3 rad about x
        let (c, s) = (a.clone().cos(), a.sin());
        [c, s.clone() * 0.3f64.cos(), s * 0.3f64.sin() + zero]
    }
    fn pol<T: nanobragg::physics::Real>(a: T, zero: T) -> T {
        let k = |v: f64| zero.clone() + v;
        polarization(k(0.9), &[k(1.0), k(0.0), k(0.0)], &[k(0.0), k(0.0), k(1.0)], &[k(0.0), k(1.0), k(0.0)], &dir(a, zero.clone()))
    }
    check(&Term1 { name: "polarization", f64: |a| pol(a, 0.0), dual: |a| pol(a, Dual::cst(0.0)), tensor: |a| pol(a.clone(), a.zeros_like()), switch: None }, &[0.0, 1e-9, 0.2, 0.7, 1.3]);
    // tricubic weights and the grid position of the structure-factor lookup
    let on_f64: [fn(f64) -> f64; 4] = [|u| tricubic_weights(u)[0], |u| tricubic_weights(u)[1], |u| tricubic_weights(u)[2], |u| tricubic_weights(u)[3]];
    let on_dual: [fn(Dual<1>) -> Dual<1>; 4] = [|u| tricubic_weights(u)[0], |u| tricubic_weights(u)[1], |u| tricubic_weights(u)[2], |u| tricubic_weights(u)[3]];
    type T1 = burn::tensor::Tensor<1>;
    let on_tensor: [fn(T1) -> T1; 4] = [
        |u| tricubic_weights(u)[0].clone(),
        |u| tricubic_weights(u)[1].clone(),
        |u| tricubic_weights(u)[2].clone(),
        |u| tricubic_weights(u)[3].clone(),
    ];
    for j in 0..4 {
        check(&Term1 { name: "tricubic_weights", f64: on_f64[j], dual: on_dual[j], tensor: on_tensor[j], switch: None }, &[0.0, 0.25, 0.5, 0.9]);
    }
    let grid = nanobragg::io::hkl::HklGrid { h_min: -3, h_max: 3, k_min: -2, k_max: 4, l_min: 0, l_max: 5, values: vec![], count: 0 };
    let pos = grid_position(&grid, 1.0, -2.0, 3.0);
    assert_eq!(pos, grid_position(&grid, Dual::<1>::cst(1.0), Dual::cst(-2.0), Dual::cst(3.0)).v);
    let dev = Target::cpu(Precision::F64);
    let t = |v: f64| dev.tensor(vec![v], [1]);
    assert_eq!(to_vec(grid_position(&grid, t(1.0), t(-2.0), t(3.0))), vec![pos]);
}
