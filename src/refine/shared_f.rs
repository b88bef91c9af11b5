//! Structure factors refined jointly over the images of a plan: F(hkl) of the reflections of
//! the HKL grid in a resolution range, shared by every image, restrained toward their starting
//! values by a Gaussian prior of width `sigma` (F units). Without the restraint a reflection
//! that no image records, or that one image alone records, would be free or would absorb that
//! image's noise.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::physics::vec3::{add, norm, scale};

/// The plan's `[structure_factors]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructureFactorPlan {
    /// Highest resolution (smallest d spacing, Angstrom) of the refined reflections.
    pub d_min: f64,
    /// Lowest resolution (largest d spacing, Angstrom); no limit when absent.
    #[serde(default)]
    pub d_max: Option<f64>,
    /// Width of the restraint toward the starting values (F units).
    pub sigma: f64,
}

/// The refined structure factors: where they sit in the grid, their Miller indices and their
/// starting values.
#[derive(Debug, Clone)]
pub struct SharedF {
    /// Positions in the grid's padded layout.
    pub indices: Vec<usize>,
    pub hkl: Vec<[i32; 3]>,
    pub start: Vec<f64>,
    pub sigma: f64,
    /// The whole grid at the start (the other reflections keep these values).
    base: Vec<f64>,
}

impl SharedF {
    /// The reflections of the first image's grid with d in [d_min, d_max]; every image must use
    /// the same grid.
    pub fn select(plan: &StructureFactorPlan, exps: &[&Experiment], path: &str) -> Result<SharedF> {
        let key = |m: String| Error::new(format!("{path}: structure_factors: {m}"));
        let d_max = plan.d_max.unwrap_or(f64::INFINITY);
        if !(plan.d_min.is_finite() && plan.d_min > 0.0 && d_max > plan.d_min) {
            return Err(key(format!("expected 0 < d_min < d_max (Angstrom), got d_min {} d_max {d_max}", plan.d_min)));
        }
        if !(plan.sigma.is_finite() && plan.sigma > 0.0) {
            return Err(key(format!("sigma must be positive, got {}", plan.sigma)));
        }
        let exp = exps[0];
        let grid = exp.structure.grid.as_ref().filter(|g| g.count > 0).ok_or_else(|| key("the simulation has no HKL grid (give -hkl in the flags)".into()))?;
        if exps.iter().any(|e| e.structure.grid.as_ref().is_none_or(|g| g.values != grid.values || g.ranges() != grid.ranges() || g.h_min != grid.h_min || g.k_min != grid.k_min || g.l_min != grid.l_min)) {
            return Err(key("every image must use the same structure factors (the same -hkl file)".into()));
        }
        let c = &exp.crystal;
        let (hr, kr, lr) = grid.ranges();
        let (k1, l1) = (kr + 1, lr + 1);
        let (mut indices, mut hkl) = (vec![], vec![]);
        for h in 0..hr {
            for k in 0..kr {
                for l in 0..lr {
                    let m = [h as i32 + grid.h_min, k as i32 + grid.k_min, l as i32 + grid.l_min];
                    if m == [0, 0, 0] {
                        continue;
                    }
                    let q = add(add(scale(c.a_star, m[0] as f64), scale(c.b_star, m[1] as f64)), scale(c.c_star, m[2] as f64));
                    let d = 1.0 / norm(q);
                    if d >= plan.d_min && d <= d_max {
                        indices.push((h * k1 + k) * l1 + l);
                        hkl.push(m);
                    }
                }
            }
        }
        if indices.is_empty() {
            return Err(key(format!("no reflection of the grid lies between {} and {d_max} Angstrom", plan.d_min)));
        }
        let start = indices.iter().map(|&i| grid.values[i]).collect();
        Ok(SharedF { indices, hkl, start, sigma: plan.sigma, base: grid.values.clone() })
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The whole grid with the refined reflections at `f`.
    pub fn grid(&self, f: &[f64]) -> Vec<f64> {
        let mut g = self.base.clone();
        for (&i, &v) in self.indices.iter().zip(f) {
            g[i] = v;
        }
        g
    }

    /// The restraint's loss, sum of ((F - F0) / sigma)^2 / 2, and its gradient.
    pub fn restraint(&self, f: &[f64]) -> (f64, Vec<f64>) {
        let mut t = 0.0;
        let g = f
            .iter()
            .zip(&self.start)
            .map(|(v, v0)| {
                let z = (v - v0) / self.sigma;
                t += 0.5 * z * z;
                z / self.sigma
            })
            .collect();
        (t, g)
    }
}
