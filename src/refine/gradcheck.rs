//! Autodiff gradients against central finite differences (Richardson-extrapolated), in f64.

use super::{Evaluator, Objective};
use crate::experiment::Experiment;
use crate::model::{initial_values, Param};

#[derive(Debug, Clone)]
pub struct GradRow {
    pub name: Param,
    pub autodiff: f64,
    pub finite_difference: f64,
    pub rel_error: f64,
}

/// Deterministic per-pixel weights in [0.5, 1.5) from a hash of the pixel index: a plain image
/// sum is nearly blind to parameters that only move spots around (beam centre, orientation,
/// detector rotations), a weighted sum is not.
pub fn ramp_weights(_exp: &Experiment, pixels: &[usize]) -> Vec<f64> {
    pixels
        .iter()
        .map(|&i| {
            let mut x = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^= x >> 31;
            0.5 + (x >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Gradient check of the objective for each named parameter. `h` overrides every
/// parameter's default step (in its command-line unit).
pub fn gradcheck(exp: &Experiment, names: &[Param], h: Option<f64>, weighted: bool) -> Vec<GradRow> {
    gradcheck_on(exp, names, h, weighted, None, 0)
}

/// As [`gradcheck`], with the gradient computed on `target` and the finite differences in
/// float64 on the CPU with `threads` workers (0: one per core).
pub fn gradcheck_on(exp: &Experiment, names: &[Param], h: Option<f64>, weighted: bool, target: Option<crate::engine::device::Target>, threads: usize) -> Vec<GradRow> {
    let mut ev = Evaluator::new(exp);
    ev.threads = crate::engine::plan::resolve(threads);
    let weights = if weighted { ramp_weights(exp, &ev.pixels) } else { vec![1.0; ev.pixels.len()] };
    let obj = Objective::Weighted(weights);
    let values = initial_values(exp);
    let grad = match target {
        Some(t) => Evaluator::new(exp).with_target(t).value_and_grad(&values, names, &obj).1,
        None => ev.value_and_grad(&values, names, &obj).1,
    };
    names
        .iter()
        .zip(grad)
        .map(|(&name, ad)| {
            let info = name.info();
            let p0 = values[name];
            let step = h.unwrap_or(if info.fd_step > 0.0 { info.fd_step } else { 1e-6 * p0.abs().max(1e-30) });
            let central = |hh: f64| {
                let mut vp = values.clone();
                vp[name] = p0 + hh;
                let mut vm = values.clone();
                vm[name] = p0 - hh;
                (ev.value(&vp, &obj) - ev.value(&vm, &obj)) / (2.0 * hh)
            };
            let fd = match h {
                // a user step: one Richardson-extrapolated estimate
                Some(_) => (4.0 * central(step / 2.0) - central(step)) / 3.0,
                // default: steps 8s, 2s, s/2, s/8; Richardson on neighbouring pairs; keep the
                // estimate from the pair that agrees best with its neighbour (large steps suffer
                // truncation, small ones round-off)
                None => {
                    let d: Vec<f64> = [8.0, 2.0, 0.5, 0.125].iter().map(|k| central(step * k)).collect();
                    let r: Vec<f64> = (0..3).map(|k| (16.0 * d[k + 1] - d[k]) / 15.0).collect();
                    if (r[0] - r[1]).abs() <= (r[1] - r[2]).abs() { r[1] } else { r[2] }
                }
            };
            let denom = ad.abs().max(fd.abs());
            let rel = if denom > 0.0 { (ad - fd).abs() / denom } else { 0.0 };
            GradRow { name, autodiff: ad, finite_difference: fd, rel_error: rel }
        })
        .collect()
}
