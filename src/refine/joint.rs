//! Joint refinement of several images (`nanobragg refine --plan FILE`): parameters shared by
//! every image (detector, cell, ...) and parameters of each image (orientation, ...), one loss
//! summed over the images, one optimiser over all of them, and error bars from the joint
//! Fisher information.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::optimize::{minimize, scales, Minimum, Optimizer, Restraint};
use super::strategy::{smoothed, Strategy, STAGES_PX, STAGE_STEPS};
use super::{parse_names, Evaluator, Loss, Objective};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::{Param, Values};

/// The plan file (TOML).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Simulation flags common to every image, as one string.
    pub flags: String,
    /// poisson (default), gaussian or mse.
    #[serde(default)]
    pub loss: Option<String>,
    /// Parameters refined once for all images.
    #[serde(default)]
    pub shared: Vec<String>,
    /// Parameters refined separately for each image.
    #[serde(default)]
    pub per_image: Vec<String>,
    /// Gaussian priors: name = [value, sigma] (on shared parameters, or on every image's own).
    #[serde(default)]
    pub restrain: BTreeMap<String, [f64; 2]>,
    /// ADC offset subtracted from SMV targets (default 40).
    #[serde(default)]
    pub adc: Option<f64>,
    /// Most optimiser steps (default 100).
    #[serde(default)]
    pub steps: Option<usize>,
    pub image: Vec<PlanImage>,
}

/// One image of a plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanImage {
    pub target: String,
    /// This image's own flags (e.g. `-phi 3 -osc 1`), after the common ones.
    #[serde(default)]
    pub flags: String,
}

impl Plan {
    /// Read and check a plan file.
    pub fn read(path: &str) -> Result<Plan> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::new(format!("{path}: cannot read plan: {e}")))?;
        let plan: Plan = toml::from_str(&text).map_err(|e| Error::new(format!("{path}: {}", e.message().lines().next().unwrap_or("malformed plan"))))?;
        if plan.image.is_empty() {
            return Err(Error::new(format!("{path}: the plan has no [[image]]")));
        }
        if plan.shared.is_empty() && plan.per_image.is_empty() {
            return Err(Error::new(format!("{path}: the plan refines nothing (give shared and/or per_image)")));
        }
        Ok(plan)
    }
}

/// One image ready for refinement.
pub struct JointImage<'a> {
    pub target: String,
    pub ev: Evaluator<'a>,
    pub obj: Objective,
    pub start: Values,
}

/// Result of a joint refinement.
pub struct JointResult {
    pub shared: Values,
    /// Every image's values (shared and own).
    pub images: Vec<Values>,
    pub loss: f64,
    pub iterations: usize,
    pub history: Vec<f64>,
    /// Loss histories of the continuation stages (blurred images).
    pub stages: Vec<Vec<f64>>,
    /// Standard errors of the shared parameters and of each image's own (None when the joint
    /// Fisher information is unavailable or singular).
    pub sigma: Option<(Vec<f64>, Vec<Vec<f64>>)>,
}

/// The parameter layout of a joint refinement: shared names, then each image's own.
pub struct Layout {
    pub shared: Vec<Param>,
    pub per_image: Vec<Param>,
    pub restraints: Vec<Restraint>,
    pub loss: Loss,
}

impl Layout {
    pub fn from_plan(plan: &Plan, path: &str) -> Result<Layout> {
        let names = |list: &[String], key: &str| -> Result<Vec<Param>> {
            if list.is_empty() {
                return Ok(vec![]);
            }
            parse_names(&list.join(","), &format!("{path}: {key}"))
        };
        let (shared, per_image) = (names(&plan.shared, "shared")?, names(&plan.per_image, "per_image")?);
        if let Some(p) = shared.iter().find(|p| per_image.contains(p)) {
            return Err(Error::new(format!("{path}: {p} is both shared and per_image")));
        }
        let restraints = plan
            .restrain
            .iter()
            .map(|(name, [value, sigma])| Restraint::parse(&format!("{name}={value},{sigma}"), &format!("{path}: restrain")))
            .collect::<Result<Vec<_>>>()?;
        let loss = Loss::parse(plan.loss.as_deref().unwrap_or("poisson")).map_err(|e| Error::new(format!("{path}: {e}")))?;
        Ok(Layout { shared, per_image, restraints, loss })
    }

    /// Whether a restraint on the `j`-th name of image `i`'s slots counts there: once for a
    /// shared parameter (at the first image), once per image for a per-image one.
    fn restraint_counts(&self, i: usize, j: usize) -> bool {
        j >= self.shared.len() || i == 0
    }

    fn len(&self, images: usize) -> usize {
        self.shared.len() + images * self.per_image.len()
    }

    /// Image `i`'s names and the positions of their values in the joint vector.
    fn slots(&self, i: usize) -> (Vec<Param>, Vec<usize>) {
        let ns = self.shared.len();
        let names: Vec<Param> = self.shared.iter().chain(&self.per_image).copied().collect();
        let pos = (0..ns).chain((0..self.per_image.len()).map(|k| ns + i * self.per_image.len() + k)).collect();
        (names, pos)
    }
}

/// Build each image's experiment from the plan (common flags, then the image's own).
pub fn experiments(plan: &Plan) -> Result<Vec<(Experiment, crate::experiment::Notes)>> {
    plan.image
        .iter()
        .map(|img| {
            let args: Vec<String> = plan.flags.split_whitespace().chain(img.flags.split_whitespace()).map(String::from).collect();
            let o = crate::cli::parse(&args)?;
            crate::experiment::build(&o)
        })
        .collect()
}

/// Refine the layout's parameters over all images, with the coarse-to-fine strategy of
/// single-image refinement (see [`super::strategy`]) when every image is on the fused path.
pub fn refine_joint(images: &[JointImage], layout: &Layout, max_steps: usize, strategy: Strategy, mut report: impl FnMut(usize, f64)) -> JointResult {
    let mut values: Vec<Values> = images.iter().map(|img| img.start.clone()).collect();
    let mut iterations = 0;
    let mut stages = Vec::new();
    let all_fit = images.iter().all(|img| matches!(img.obj, Objective::Fit { .. }) && img.ev.uses_fused());
    if strategy == Strategy::Continuation && all_fit {
        for sigma in STAGES_PX {
            let objs: Vec<Objective> = images
                .iter()
                .map(|img| {
                    let Objective::Fit { target, .. } = &img.obj else { unreachable!("checked above") };
                    smoothed(&img.ev, target, sigma)
                })
                .collect();
            let (v, m) = joint_stage(images, &objs.iter().collect::<Vec<_>>(), &values, layout, max_steps.min(STAGE_STEPS), |it, f| report(iterations + it, f));
            values = v;
            iterations += m.iterations;
            stages.push(m.history);
        }
    }
    let objs: Vec<&Objective> = images.iter().map(|img| &img.obj).collect();
    let (image_values, m) = joint_stage(images, &objs, &values, layout, max_steps, |it, f| report(iterations + it, f));
    let sigma = joint_sigma(images, layout, &image_values);
    JointResult { shared: image_values[0].clone(), images: image_values, loss: m.loss, iterations: iterations + m.iterations, history: m.history, stages, sigma }
}

/// One joint minimisation of `objs` (one per image) from `start` (one per image).
fn joint_stage(images: &[JointImage], objs: &[&Objective], start: &[Values], layout: &Layout, max_steps: usize, mut report: impl FnMut(usize, f64)) -> (Vec<Values>, Minimum) {
    let n = layout.len(images.len());
    // starting values and scales: shared ones from the first image
    let mut x0 = vec![0.0; n];
    let mut s = vec![1.0; n];
    for (i, st) in start.iter().enumerate().rev() {
        let (names, pos) = layout.slots(i);
        let sc = scales(&names, st);
        for ((p, &k), sk) in names.iter().zip(&pos).zip(sc) {
            x0[k] = st[*p];
            s[k] = sk;
        }
    }
    let values_of = |i: usize, x: &[f64]| -> Values {
        let (names, pos) = layout.slots(i);
        let mut v = start[i].clone();
        for (p, &k) in names.iter().zip(&pos) {
            v[*p] = x0[k] + s[k] * x[k];
        }
        v
    };
    let eval = |x: &[f64]| -> (f64, Vec<f64>) {
        let mut f = 0.0;
        let mut g = vec![0.0; n];
        for (i, img) in images.iter().enumerate() {
            let (names, pos) = layout.slots(i);
            let v = values_of(i, x);
            if !names.iter().all(|&p| p.admissible(v[p])) {
                return (f64::INFINITY, vec![0.0; n]);
            }
            let (fi, gi) = img.ev.value_and_grad(&v, &names, objs[i]);
            f += fi;
            for (k, gk) in pos.iter().zip(gi) {
                g[*k] += gk;
            }
            for r in &layout.restraints {
                if let Some(j) = names.iter().position(|&p| p == r.param) {
                    if layout.restraint_counts(i, j) {
                        let (t, dt) = r.term(v[r.param]);
                        f += t;
                        g[pos[j]] += dt;
                    }
                }
            }
        }
        (f, g.iter().zip(&s).map(|(gk, sk)| gk * sk).collect())
    };
    let m = minimize(n, eval, max_steps, Optimizer::Lbfgs, |it, f, _| report(it, f));
    ((0..images.len()).map(|i| values_of(i, &m.x)).collect(), m)
}

/// Standard errors from the joint Fisher information (each image's block added at its slots,
/// restraint precisions on the diagonal).
fn joint_sigma(images: &[JointImage], layout: &Layout, values: &[Values]) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
    let n = layout.len(images.len());
    let mut fisher = vec![vec![0.0; n]; n];
    for (i, img) in images.iter().enumerate() {
        let (names, pos) = layout.slots(i);
        let fi = img.ev.fisher_information(&values[i], &names, &img.obj)?;
        for a in 0..names.len() {
            for b in 0..names.len() {
                fisher[pos[a]][pos[b]] += fi[a][b];
            }
            if let Some(r) = layout.restraints.iter().find(|r| r.param == names[a]) {
                if layout.restraint_counts(i, a) {
                    fisher[pos[a]][pos[a]] += 1.0 / (r.sigma * r.sigma);
                }
            }
        }
    }
    let cov = super::uncertainty::invert_spd(&fisher)?;
    let sd = |k: usize| cov[k][k].sqrt();
    let ns = layout.shared.len();
    let shared = (0..ns).map(sd).collect();
    let own = (0..images.len()).map(|i| layout.slots(i).1[ns..].iter().map(|&k| sd(k)).collect()).collect();
    Some((shared, own))
}
