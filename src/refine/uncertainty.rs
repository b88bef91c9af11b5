//! Standard errors and correlations of refined parameters from the Fisher information of the
//! likelihood at the optimum, `F = Σ_p w_p ∇m_p ∇m_pᵀ` over the rendered pixels, with
//! `w = 1/m` (Poisson), `1/(t + 1)` (the Gaussian loss's variance) or `1/s²` (least squares, `s²`
//! the residual variance). The covariance is `F⁻¹`.
//!
//! The per-pixel gradients `∇m_p` are exact: the fused kernel gives each pixel's gradient with
//! respect to its inputs, and the Jacobian of the inputs with respect to the parameters comes
//! from burn's autodiff of the parameter graph (one backward pass per input).

use super::optimize::Restraint;
use super::{Evaluator, Loss, Objective, POISSON_FLOOR};
use crate::engine::fused::{FusedKernel, KernelTensors};
use crate::model::geometry::Geometry;
use crate::model::{build_params, Param, ParamTensors, Values};

/// Standard errors (command-line units) and the correlation matrix of the named parameters.
#[derive(Debug, Clone)]
pub struct Uncertainty {
    pub sigma: Vec<f64>,
    pub correlation: Vec<Vec<f64>>,
}

impl Evaluator<'_> {
    /// Jacobian of panel `panel`'s kernel inputs (flattened, rows) with respect to `names`
    /// (columns).
    fn input_jacobian(&self, panel: usize, values: &Values, names: &[Param], f: Option<&[f64]>) -> (crate::engine::fused::KernelValues, Vec<Vec<f64>>) {
        let dev = self.target.autodiff();
        let exp = self.panel(panel);
        let build = || {
            let pt = ParamTensors::new(values, names, &dev);
            let params: Geometry = build_params(exp, &pt, self.vector_params(&dev, false, false, f), &dev);
            (KernelTensors::from_params(exp, &params, &dev), pt)
        };
        let host = build().0.values();
        let k = host.to_flat().len();
        let rows = (0..k)
            .map(|i| {
                let mut unit = vec![0.0; k];
                unit[i] = 1.0;
                // the graph is consumed by each backward pass: rebuild it (it is small)
                let (inputs, pt) = build();
                let s = inputs.surrogate(&host.from_flat(&unit));
                if !s.is_tracked() {
                    return vec![0.0; names.len()];
                }
                let grads = s.backward();
                pt.gradients(names, &grads)
            })
            .collect();
        (host, rows)
    }

    /// The Fisher information matrix of the likelihood behind `obj` with respect to `names` at
    /// `values`; None for an objective that is not a likelihood (a weighted sum) or off the
    /// fused kernel's path (float32, GPU).
    pub fn fisher_information(&self, values: &Values, names: &[Param], obj: &Objective) -> Option<Vec<Vec<f64>>> {
        self.fisher_information_with_structure_factors(values, names, obj, None)
    }

    /// As [`Evaluator::fisher_information`], with the structure factors `f` (the HKL grid's
    /// padded layout) in place of the experiment's when given.
    pub fn fisher_information_with_structure_factors(&self, values: &Values, names: &[Param], obj: &Objective, f: Option<&[f64]>) -> Option<Vec<Vec<f64>>> {
        let Objective::Fit { target, loss } = obj else { return None };
        if !self.uses_fused() {
            return None;
        }
        let runs = self.panel_runs();
        let panels: Vec<(FusedKernel<'_>, Vec<Vec<f64>>)> = runs
            .iter()
            .map(|(i, _, _)| {
                let (host, jac) = self.input_jacobian(*i, values, names, f);
                (FusedKernel::from_values(self.panel(*i), host), jac)
            })
            .collect();
        let n = names.len();
        // least squares: the noise variance from the residuals at this point
        let noise_var = match loss {
            Loss::Mse => {
                let model: Vec<f64> = runs.iter().zip(&panels).flat_map(|((_, _, px), (k, _))| k.forward(px, self.threads)).collect();
                let rss: f64 = model.iter().zip(target).map(|(m, t)| (m - t) * (m - t)).sum();
                rss / (model.len().saturating_sub(n)).max(1) as f64
            }
            _ => 1.0,
        };
        let mut fisher = vec![vec![0.0; n]; n];
        for ((_, lo, px), (kernel, jac)) in runs.iter().zip(&panels) {
            let blocks = kernel.per_pixel_gradients(
                px,
                self.threads,
                || vec![0.0; n * n],
                |acc, i, m, g| {
                    let w = match loss {
                        Loss::Poisson => 1.0 / (m + POISSON_FLOOR),
                        Loss::Gaussian => 1.0 / (target[lo + i].max(0.0) + 1.0),
                        Loss::Mse => 1.0 / noise_var,
                    };
                    let mut v = vec![0.0; n];
                    for (gk, row) in g.iter().zip(jac) {
                        if *gk != 0.0 {
                            v.iter_mut().zip(row).for_each(|(vj, a)| *vj += gk * a);
                        }
                    }
                    for a in 0..n {
                        for b in 0..n {
                            acc[a * n + b] += w * v[a] * v[b];
                        }
                    }
                },
            );
            for blk in blocks {
                for a in 0..n {
                    for b in 0..n {
                        fisher[a][b] += blk[a * n + b];
                    }
                }
            }
        }
        Some(fisher)
    }

    /// Standard errors and correlations from the inverse Fisher information (plus the
    /// restraints' precision 1/sigma^2); None where it is not available or singular (a parameter
    /// neither the image nor a restraint determines).
    pub fn uncertainty(&self, values: &Values, names: &[Param], obj: &Objective, restraints: &[Restraint]) -> Option<Uncertainty> {
        let mut fisher = self.fisher_information(values, names, obj)?;
        for r in restraints {
            if let Some(i) = names.iter().position(|&p| p == r.param) {
                fisher[i][i] += 1.0 / (r.sigma * r.sigma);
            }
        }
        let cov = invert_spd(&fisher)?;
        let sigma: Vec<f64> = (0..names.len()).map(|i| cov[i][i].sqrt()).collect();
        let correlation = (0..names.len()).map(|i| (0..names.len()).map(|j| cov[i][j] / (sigma[i] * sigma[j])).collect()).collect();
        Some(Uncertainty { sigma, correlation })
    }
}

/// Inverse of a symmetric positive-definite matrix by Cholesky factorisation (after scaling to
/// unit diagonal, so parameters of very different units do not matter); None if it is not
/// positive definite.
pub fn invert_spd(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let d: Vec<f64> = (0..n).map(|i| a[i][i]).collect();
    if d.iter().any(|&x| !(x > 0.0) || !x.is_finite()) {
        return None;
    }
    let s: Vec<f64> = d.iter().map(|x| 1.0 / x.sqrt()).collect();
    let b: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| a[i][j] * s[i] * s[j]).collect()).collect();
    // b = L Lᵀ
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let v = b[i][i] - sum;
                if !(v > 1e-14) {
                    return None;
                }
                l[i][i] = v.sqrt();
            } else {
                l[i][j] = (b[i][j] - sum) / l[j][j];
            }
        }
    }
    // columns of L⁻¹ by forward substitution, then b⁻¹ = L⁻ᵀ L⁻¹
    let mut linv = vec![vec![0.0; n]; n];
    for c in 0..n {
        for i in c..n {
            let sum: f64 = (c..i).map(|k| l[i][k] * linv[k][c]).sum();
            linv[i][c] = (if i == c { 1.0 } else { 0.0 } - sum) / l[i][i];
        }
    }
    Some((0..n).map(|i| (0..n).map(|j| (0..n).map(|k| linv[k][i] * linv[k][j]).sum::<f64>() * s[i] * s[j]).collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::invert_spd;

    #[test]
    fn spd_inverse_is_an_inverse() {
        let a = vec![vec![4.0, 1.0, 0.001], vec![1.0, 3.0, 0.0002], vec![0.001, 0.0002, 1e-6]];
        let inv = invert_spd(&a).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let p: f64 = (0..3).map(|k| a[i][k] * inv[k][j]).sum();
                assert!((p - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9, "{i}{j}: {p}");
            }
        }
        assert!(invert_spd(&[vec![1.0, 2.0], vec![2.0, 1.0]]).is_none());
    }
}
