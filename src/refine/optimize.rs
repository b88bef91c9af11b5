//! Refinement: minimise a loss against a target image over chosen parameters, in coordinates
//! scaled by each parameter's typical step so no learning rate needs tuning.

use super::{Evaluator, Objective};
use crate::error::{Error, Result};
use crate::model::{Param, Values};

/// A Gaussian prior on one parameter: adds ((x - value) / sigma)^2 / 2 to the loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Restraint {
    pub param: Param,
    pub value: f64,
    pub sigma: f64,
}

impl Restraint {
    /// Parse `name=value,sigma` (`flag` names the option in errors).
    pub fn parse(text: &str, flag: &str) -> Result<Restraint> {
        let bad = || Error::new(format!("{flag}: expected name=value,sigma, got '{text}'"));
        let (name, rest) = text.split_once('=').ok_or_else(bad)?;
        let (value, sigma) = rest.split_once(',').ok_or_else(bad)?;
        let param = super::parse_names(name, flag)?[0];
        let num = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(bad);
        let (value, sigma) = (num(value)?, num(sigma)?);
        if !(sigma > 0.0) {
            return Err(Error::new(format!("{flag}: sigma must be positive, got {sigma} in '{text}'")));
        }
        Ok(Restraint { param, value, sigma })
    }

    /// The restraint's loss term and its derivative at `v`.
    pub fn term(&self, v: f64) -> (f64, f64) {
        let z = (v - self.value) / self.sigma;
        (0.5 * z * z, z / self.sigma)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    Lbfgs,
    Adam,
}

pub struct RefineResult {
    pub values: Values,
    /// Final loss, restraints included.
    pub loss: f64,
    pub iterations: usize,
    /// Loss at the start and after every iteration.
    pub history: Vec<f64>,
}

/// Scale (command-line units per optimiser unit) of each parameter.
pub fn scales(names: &[Param], values: &Values) -> Vec<f64> {
    names
        .iter()
        .map(|&n| {
            let info = n.info();
            if info.scale > 0.0 {
                info.scale
            } else {
                0.05 * values[n].abs().max(1e-30)
            }
        })
        .collect()
}

fn with_x(base: &Values, names: &[Param], s: &[f64], x0: &[f64], x: &[f64]) -> Values {
    let mut v = base.clone();
    for i in 0..names.len() {
        v[names[i]] = x0[i] + s[i] * x[i];
    }
    v
}

fn dotv(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimise `obj` (plus the restraints) over `names` starting from `start`, never leaving the
/// physical values of each parameter ([`Param::admissible`]: a step that would is shortened by
/// the line search). `report` is called after every iteration with (iteration, loss, values).
#[allow(clippy::too_many_arguments)]
pub fn refine(
    ev: &Evaluator,
    start: &Values,
    names: &[Param],
    obj: &Objective,
    restraints: &[Restraint],
    max_steps: usize,
    optimizer: Optimizer,
    mut report: impl FnMut(usize, f64, &Values),
) -> RefineResult {
    let s = scales(names, start);
    let x0: Vec<f64> = names.iter().map(|&n| start[n]).collect();
    let eval = |x: &[f64]| -> (f64, Vec<f64>) {
        let v = with_x(start, names, &s, &x0, x);
        if !names.iter().all(|&p| p.admissible(v[p])) {
            return (f64::INFINITY, vec![0.0; names.len()]);
        }
        let (mut f, mut g) = ev.value_and_grad(&v, names, obj);
        for r in restraints {
            let (t, dt) = r.term(v[r.param]);
            f += t;
            if let Some(i) = names.iter().position(|&p| p == r.param) {
                g[i] += dt;
            }
        }
        (f, g.iter().zip(&s).map(|(gi, si)| gi * si).collect())
    };
    let m = minimize(names.len(), eval, max_steps, optimizer, |it, f, x| report(it, f, &with_x(start, names, &s, &x0, x)));
    RefineResult { values: with_x(start, names, &s, &x0, &m.x), loss: m.loss, iterations: m.iterations, history: m.history }
}

/// Result of [`minimize`].
pub struct Minimum {
    /// The point, in the scaled coordinates of the objective.
    pub x: Vec<f64>,
    pub loss: f64,
    /// Steps taken (a failed line search or a step out of bounds is none).
    pub iterations: usize,
    /// Loss at the start and after every step (`iterations + 1` values).
    pub history: Vec<f64>,
}

/// The L-BFGS search direction from the gradient `g` and the (s, y, 1/s.y) history by the
/// two-loop recursion, with its slope along `g`; steepest descent (and a cleared history) where
/// that is not a descent direction.
fn lbfgs_direction(hist: &mut Vec<(Vec<f64>, Vec<f64>, f64)>, g: &[f64]) -> (Vec<f64>, f64) {
    let n = g.len();
    // two-loop recursion for the search direction
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(hist.len());
    for (sv, yv, rho) in hist.iter().rev() {
        let a = rho * dotv(sv, &q);
        for i in 0..n {
            q[i] -= a * yv[i];
        }
        alphas.push(a);
    }
    let gamma = match hist.last() {
        Some((sv, yv, _)) => dotv(sv, yv) / dotv(yv, yv),
        None => 1.0 / dotv(g, g).sqrt().max(1e-300),
    };
    for qi in q.iter_mut() {
        *qi *= gamma;
    }
    for ((sv, yv, rho), a) in hist.iter().zip(alphas.iter().rev()) {
        let b = rho * dotv(yv, &q);
        for i in 0..n {
            q[i] += sv[i] * (a - b);
        }
    }
    let mut dir: Vec<f64> = q.iter().map(|v| -v).collect();
    let mut slope = dotv(&dir, g);
    if !(slope < 0.0) {
        // not a descent direction: restart from steepest descent
        hist.clear();
        let gn = dotv(g, g).sqrt().max(1e-300);
        dir = g.iter().map(|v| -v / gn).collect();
        slope = dotv(&dir, g);
    }
    (dir, slope)
}

/// Minimise `eval` (value and gradient) over `n` coordinates scaled so that 1 is a typical
/// step, starting at 0. An infinite value marks a point outside the admissible region.
pub fn minimize(n: usize, eval: impl Fn(&[f64]) -> (f64, Vec<f64>), max_steps: usize, optimizer: Optimizer, mut report: impl FnMut(usize, f64, &[f64])) -> Minimum {
    let mut x = vec![0.0; n];
    let (mut f, mut g) = eval(&x);
    let mut history = vec![f];
    let mut iterations = 0;
    match optimizer {
        Optimizer::Lbfgs => {
            let mut hist: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
            for it in 0..max_steps {
                let (dir, slope) = lbfgs_direction(&mut hist, &g);
                // backtracking line search (Armijo), never moving more than 3 scale units
                let dn = dotv(&dir, &dir).sqrt();
                let mut step = if dn > 3.0 { 3.0 / dn } else { 1.0 };
                let mut accepted = None;
                for _ in 0..30 {
                    let xn: Vec<f64> = x.iter().zip(&dir).map(|(xi, di)| xi + step * di).collect();
                    let (fn_, gn) = eval(&xn);
                    if fn_.is_finite() && fn_ <= f + 1e-4 * step * slope {
                        accepted = Some((xn, fn_, gn));
                        break;
                    }
                    step *= 0.5;
                }
                // a failed line search takes no step: `iterations` counts the history's steps
                let Some((xn, fn_, gn)) = accepted else { break };
                iterations = it + 1;
                let sv: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
                let yv: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
                let sy = dotv(&sv, &yv);
                if sy > 1e-300 {
                    hist.push((sv.clone(), yv, 1.0 / sy));
                    if hist.len() > 10 {
                        hist.remove(0);
                    }
                }
                let df = f - fn_;
                x = xn;
                f = fn_;
                g = gn;
                history.push(f);
                report(iterations, f, &x);
                let smax = sv.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                if df.abs() <= 1e-13 * f.abs().max(1e-300) || smax < 1e-7 {
                    break;
                }
            }
        }
        Optimizer::Adam => {
            let (b1, b2, lr, eps) = (0.9, 0.999, 0.05, 1e-12);
            let mut m = vec![0.0; n];
            let mut v = vec![0.0; n];
            let mut best = (f, x.clone());
            for it in 0..max_steps {
                for i in 0..n {
                    m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                    v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                    let mh = m[i] / (1.0 - b1.powi(it as i32 + 1));
                    let vh = v[i] / (1.0 - b2.powi(it as i32 + 1));
                    x[i] -= lr * mh / (vh.sqrt() + eps);
                }
                let (fn_, gn) = eval(&x);
                if !fn_.is_finite() {
                    // left the physical region: back to the best point, with fresh moments
                    x = best.1.clone();
                    m.iter_mut().chain(v.iter_mut()).for_each(|z| *z = 0.0);
                    continue;
                }
                f = fn_;
                g = gn;
                iterations += 1;
                history.push(f);
                if f < best.0 {
                    best = (f, x.clone());
                }
                report(iterations, f, &x);
            }
            f = best.0;
            x = best.1;
        }
    }
    Minimum { x, loss: f, iterations, history }
}
