//! Joint refinement of several images (`nanobragg refine --plan FILE`): parameters shared by
//! every image (detector, cell, ...) and parameters of each image (orientation, ...), one loss
//! summed over the images, one optimiser over all of them, and error bars from the joint
//! Fisher information. Structure factors in a resolution range can be shared parameters too
//! ([`super::shared_f`]). Under MPI the images are spread over the processes.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::optimize::{minimize, scales, Minimum, Optimizer, Restraint};
use super::shared_f::{SharedF, StructureFactorPlan};
use super::strategy::{StageRecord, Strategy, CRYSTAL_SIZE, CRYSTAL_STAGES, CRYSTAL_STAGE_STEPS};
use super::{parse_names, Evaluator, Loss, Objective, VectorKind};
use crate::engine::comm::Comm;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::{Param, Values};

/// The plan file (TOML).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Simulation flags common to every image: one string of words or a list of words, as in a
    /// batch plan.
    pub flags: crate::config::FlagWords,
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
    /// Structure factors refined jointly, restrained toward their starting values.
    #[serde(default)]
    pub structure_factors: Option<StructureFactorPlan>,
    pub image: Vec<PlanImage>,
}

/// One image of a plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanImage {
    pub target: String,
    /// This image's own flags (e.g. `-phi 3 -osc 1`), after the common ones.
    #[serde(default)]
    pub flags: crate::config::FlagWords,
}

impl Plan {
    /// Read and check a plan file.
    pub fn read(path: &str) -> Result<Plan> {
        Plan::parse(path, &Plan::read_text(path)?)
    }

    /// A plan file's text.
    pub fn read_text(path: &str) -> Result<String> {
        std::fs::read_to_string(crate::io::osname::path(&path)).map_err(|e| Error::file(format!("{path}: cannot read plan: {e}")))
    }

    /// Parse and check a plan's text (`path` names it in messages).
    pub fn parse(path: &str, text: &str) -> Result<Plan> {
        let plan: Plan = toml::from_str(text).map_err(|e| Error::new(format!("{path}: {}", e.message().lines().next().unwrap_or("malformed plan"))))?;
        if plan.image.is_empty() {
            return Err(Error::new(format!("{path}: the plan has no [[image]]")));
        }
        if plan.shared.is_empty() && plan.per_image.is_empty() && plan.structure_factors.is_none() {
            return Err(Error::new(format!("{path}: the plan refines nothing (give shared, per_image and/or structure_factors)")));
        }
        Ok(plan)
    }
}

/// One image of a joint refinement.
pub struct JointImage<'a> {
    pub target: String,
    pub ev: Evaluator<'a>,
    /// The image's objective; None where another process refines this image (its target is
    /// read and its model evaluated there only).
    pub obj: Option<Objective>,
    pub start: Values,
}

/// Result of a joint refinement.
pub struct JointResult {
    pub shared: Values,
    /// Every image's values (shared and own).
    pub images: Vec<Values>,
    pub loss: f64,
    /// Optimiser steps over every stage.
    pub iterations: usize,
    /// The loss (summed over the images, restraints included) at the start and after every
    /// iteration of every stage (`iterations + 1` values), as in single-image refinement.
    pub history: Vec<f64>,
    /// The stages in the order run (see [`super::strategy`]).
    pub stages: Vec<StageRecord>,
    /// The stage whose end is reported ("fine" or "plain").
    pub reported: String,
    /// Standard errors of the shared parameters and of each image's own (None when the joint
    /// Fisher information is unavailable or singular). With shared structure factors these are
    /// the errors at the refined structure factors (which the matrix leaves out).
    pub sigma: Option<(Vec<f64>, Vec<Vec<f64>>)>,
    /// The refined structure factors, in the order of [`Layout::structure`].
    pub structure_factors: Option<Vec<f64>>,
}

/// The parameter layout of a joint refinement: the shared names, the shared structure factors,
/// then each image's own names.
pub struct Layout {
    pub shared: Vec<Param>,
    pub per_image: Vec<Param>,
    pub restraints: Vec<Restraint>,
    pub loss: Loss,
    /// Structure factors refined jointly (set from the plan once the experiments are built).
    pub structure: Option<SharedF>,
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
        Ok(Layout { shared, per_image, restraints, loss, structure: None })
    }

    /// Whether a restraint on the `j`-th name of image `i`'s slots counts there: once for a
    /// shared parameter (at the first image), once per image for a per-image one.
    fn restraint_counts(&self, i: usize, j: usize) -> bool {
        j >= self.shared.len() || i == 0
    }

    fn nf(&self) -> usize {
        self.structure.as_ref().map_or(0, |s| s.len())
    }

    fn len(&self, images: usize) -> usize {
        self.shared.len() + self.nf() + images * self.per_image.len()
    }

    /// Image `i`'s names and the positions of their values in the joint vector.
    fn slots(&self, i: usize) -> (Vec<Param>, Vec<usize>) {
        let ns = self.shared.len();
        let own0 = ns + self.nf() + i * self.per_image.len();
        let names: Vec<Param> = self.shared.iter().chain(&self.per_image).copied().collect();
        let pos = (0..ns).chain((0..self.per_image.len()).map(|k| own0 + k)).collect();
        (names, pos)
    }
}

/// Build each image's experiment from the plan (common flags, then the image's own).
pub fn experiments(plan: &Plan, path: &str) -> Result<Vec<(Experiment, crate::experiment::Notes)>> {
    plan.image
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let args: Vec<String> = plan.flags.words().into_iter().chain(img.flags.words()).collect();
            let built = crate::config::parse(&args).and_then(|o| crate::experiment::build(&o)).and_then(|(e, n)| super::check_refinable(&e).map(|_| (e, n)));
            built.map_err(|e| Error::new(format!("{path}: {}: {e}", image_label(i, &img.target))))
        })
        .collect()
}

/// How messages name image `i` (from 0) of a plan: `[[image]] 2 (target t.bin)`.
pub fn image_label(i: usize, target: &str) -> String {
    format!("[[image]] {} (target {target})", i + 1)
}

/// Which process refines image `i`: round-robin over the processes.
pub fn owner(i: usize, comm: &Comm) -> usize {
    i % comm.size()
}

/// Refine the layout's parameters over all images, with the strategy of single-image
/// refinement (see [`super::strategy`]: coarse stages, the fine stage, a plain fit from the
/// start, the lower of the fine and plain ends reported) when every image is on the fused path.
/// Under MPI every process runs this with the same plan; each evaluates its own images and the
/// per-image contributions are gathered and summed in image order on every process, so every
/// process takes the same steps, and the result does not depend on the number of processes.
/// `report` is called after every iteration with (stage, iteration over every stage, loss).
pub fn refine_joint(comm: &Comm, images: &[JointImage], layout: &Layout, max_steps: usize, strategy: Strategy, mut report: impl FnMut(&str, usize, f64)) -> JointResult {
    let start: Vec<Values> = images.iter().map(|img| img.start.clone()).collect();
    let f_start: Option<Vec<f64>> = layout.structure.as_ref().map(|s| s.start.clone());
    let objs: Vec<Option<&Objective>> = images.iter().map(|img| img.obj.as_ref()).collect();
    let mut iterations = 0;
    let mut stages: Vec<StageRecord> = Vec::new();
    let mut history = Vec::new();
    let local_fit = images.iter().all(|img| img.obj.as_ref().is_none_or(|o| matches!(o, Objective::Fit { .. }) && img.ev.uses_fused()));
    let continuation = strategy == Strategy::Continuation && comm.all_ok(local_fit);
    // the crystal sizes no one refines: per-image stand-ins in the crystal-size stages
    let named: Vec<Param> = layout.shared.iter().chain(&layout.per_image).copied().collect();
    let extra: Vec<Param> = CRYSTAL_SIZE.into_iter().filter(|p| !named.contains(p)).collect();
    let small_layout = Layout {
        shared: layout.shared.clone(),
        per_image: layout.per_image.iter().chain(&extra).copied().collect(),
        restraints: layout.restraints.clone(),
        loss: layout.loss,
        structure: layout.structure.clone(),
    };
    // the images' values with the stand-in sizes back at their starting values
    let restored = |v: &[Values]| -> Vec<Values> {
        v.iter()
            .zip(&start)
            .map(|(v, s0)| {
                let mut v = v.clone();
                extra.iter().for_each(|p| v[*p] = s0[*p]);
                v
            })
            .collect()
    };
    // the loss at the images' values (no step)
    let loss_at = |v: &[Values], f: Option<&[f64]>| joint_stage(comm, images, &objs, v, f, layout, 0, |_, _, _, _| {}).2.loss;
    // one stage from (values, f); a crystal-size stage (`small`) reports the user's loss
    let mut run = |name: &str, small: bool, from: &[Values], f_from: Option<&[f64]>, from_loss: f64, steps: usize, history: &mut Vec<f64>| {
        let done = iterations;
        let lay = if small { &small_layout } else { layout };
        let (v, f, m) = joint_stage(comm, images, &objs, from, f_from, lay, steps, |it, loss, v, f| {
            let loss = if small { loss_at(&restored(v), f) } else { loss };
            history.push(loss);
            report(name, done + it, loss);
        });
        iterations += m.iterations;
        let v = if small { restored(&v) } else { v };
        let loss = match (small, m.iterations) {
            (_, 0) => from_loss,
            (true, _) => *history.last().expect("a crystal-size stage records every iteration"),
            (false, _) => m.loss,
        };
        stages.push(StageRecord { name: name.into(), iterations: m.iterations, start_loss: from_loss, loss, objective_history: m.history, coarse: small });
        (v, f, loss)
    };
    let (image_values, fs, loss, reported) = if continuation {
        let start_loss = loss_at(&start, f_start.as_deref());
        history.push(start_loss);
        let (mut values, mut fs, mut loss) = (start.clone(), f_start.clone(), start_loss);
        for (label, fraction) in CRYSTAL_STAGES {
            let small: Vec<Values> = values
                .iter()
                .zip(&start)
                .map(|(v, s0)| {
                    let mut v = v.clone();
                    extra.iter().for_each(|p| v[*p] = s0[*p] * fraction);
                    v
                })
                .collect();
            (values, fs, loss) = run(&format!("crystal {label}"), true, &small, fs.as_deref(), loss, max_steps.min(CRYSTAL_STAGE_STEPS), &mut history);
        }
        let fine = run("fine", false, &values, fs.as_deref(), loss, max_steps, &mut history);
        let plain = run("plain", false, &start, f_start.as_deref(), start_loss, max_steps, &mut history);
        if plain.2 < fine.2 { (plain.0, plain.1, plain.2, "plain") } else { (fine.0, fine.1, fine.2, "fine") }
    } else {
        let (v, f, m) = joint_stage(comm, images, &objs, &start, f_start.as_deref(), layout, max_steps, |it, loss, _, _| report("plain", it, loss));
        history = m.history.clone();
        iterations = m.iterations;
        stages.push(StageRecord { name: "plain".into(), iterations: m.iterations, start_loss: m.history[0], loss: m.loss, objective_history: m.history, coarse: false });
        (v, f, m.loss, "plain")
    };
    let sigma = joint_sigma(comm, images, layout, &image_values, fs.as_deref());
    JointResult { shared: image_values[0].clone(), images: image_values, loss, iterations, history, stages, reported: reported.into(), sigma, structure_factors: fs }
}

/// One joint minimisation of `objs` (one per image, None on other processes) from `start` (one
/// per image) and the structure factors `f_start`. `report` gets (iteration, loss, the images'
/// values, the structure factors) after every iteration. Returns the images' values, the
/// structure factors and the minimum.
#[allow(clippy::too_many_arguments)]
fn joint_stage(comm: &Comm, images: &[JointImage], objs: &[Option<&Objective>], start: &[Values], f_start: Option<&[f64]>, layout: &Layout, max_steps: usize, mut report: impl FnMut(usize, f64, &[Values], Option<&[f64]>)) -> (Vec<Values>, Option<Vec<f64>>, Minimum) {
    let n = layout.len(images.len());
    let (ns, nf, np) = (layout.shared.len(), layout.nf(), layout.per_image.len());
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
    if let (Some(sf), Some(f0)) = (&layout.structure, f_start) {
        x0[ns..ns + nf].copy_from_slice(f0);
        s[ns..ns + nf].iter_mut().for_each(|v| *v = sf.sigma);
    }
    let values_of = |i: usize, x: &[f64]| -> Values {
        let (names, pos) = layout.slots(i);
        let mut v = start[i].clone();
        for (p, &k) in names.iter().zip(&pos) {
            v[*p] = x0[k] + s[k] * x[k];
        }
        v
    };
    let f_of = |x: &[f64]| -> Vec<f64> { (ns..ns + nf).map(|k| x0[k] + s[k] * x[k]).collect() };
    // one image's contribution: [loss, d/d shared, d/d F, d/d own], restraints included
    let width = 1 + ns + nf + np;
    let per_rank = images.len().div_ceil(comm.size());
    let eval = |x: &[f64]| -> (f64, Vec<f64>) {
        let grid = layout.structure.as_ref().map(|sf| sf.grid(&f_of(x)));
        let mut local = vec![0.0; per_rank * width];
        for i in (comm.rank()..images.len()).step_by(comm.size()) {
            let c = &mut local[(i / comm.size()) * width..][..width];
            image_contribution(&images[i], objs[i].expect("an image of this process has its objective"), i, &values_of(i, x), grid.clone(), layout, c);
        }
        let all = comm.all_gather(&local);
        let mut f = 0.0;
        let mut g = vec![0.0; n];
        for i in 0..images.len() {
            let c = &all[(owner(i, comm) * per_rank + i / comm.size()) * width..][..width];
            if c[0] == f64::INFINITY {
                return (f64::INFINITY, vec![0.0; n]);
            }
            f += c[0];
            g[..ns + nf].iter_mut().zip(&c[1..1 + ns + nf]).for_each(|(a, b)| *a += b);
            g[ns + nf + i * np..][..np].iter_mut().zip(&c[1 + ns + nf..]).for_each(|(a, b)| *a += b);
        }
        if let Some(sf) = &layout.structure {
            let (t, dt) = sf.restraint(&f_of(x));
            f += t;
            g[ns..ns + nf].iter_mut().zip(dt).for_each(|(a, b)| *a += b);
        }
        (f, g.iter().zip(&s).map(|(gk, sk)| gk * sk).collect())
    };
    let m = minimize(n, eval, max_steps, Optimizer::Lbfgs, |it, f, x| {
        let v: Vec<Values> = (0..images.len()).map(|i| values_of(i, x)).collect();
        let fx = layout.structure.as_ref().map(|_| f_of(x));
        report(it, f, &v, fx.as_deref())
    });
    let fs = layout.structure.as_ref().map(|_| f_of(&m.x));
    ((0..images.len()).map(|i| values_of(i, &m.x)).collect(), fs, m)
}

/// Image `i`'s loss and gradient at `v` (and the structure factors `grid`, when refined) into
/// `c` = [loss, d/d shared, d/d F, d/d own], with the restraints that count at this image; an
/// infinite loss where a value is not physical.
fn image_contribution(img: &JointImage, obj: &Objective, i: usize, v: &Values, grid: Option<Vec<f64>>, layout: &Layout, c: &mut [f64]) {
    let (names, _) = layout.slots(i);
    let (ns, nf) = (layout.shared.len(), layout.nf());
    if !names.iter().all(|&p| p.admissible(v[p])) {
        c[0] = f64::INFINITY;
        return;
    }
    let vector = layout.structure.as_ref().map(|_| VectorKind::StructureFactors);
    let g = img.ev.gradients_with_structure_factors(v, &names, vector, obj, grid.as_deref());
    // slot of name j in c
    let at = |j: usize| if j < ns { 1 + j } else { 1 + nf + j };
    c[0] = g.value;
    for (j, gj) in g.scalars.iter().enumerate() {
        c[at(j)] += gj;
    }
    if let (Some(sf), Some(gf)) = (&layout.structure, &g.structure_factors) {
        for (k, &idx) in sf.indices.iter().enumerate() {
            c[1 + ns + k] += gf[idx];
        }
    }
    for r in &layout.restraints {
        if let Some(j) = names.iter().position(|&p| p == r.param) {
            if layout.restraint_counts(i, j) {
                let (t, dt) = r.term(v[r.param]);
                c[0] += t;
                c[at(j)] += dt;
            }
        }
    }
}

/// Standard errors from the joint Fisher information of the named parameters (each image's
/// block, computed by its process and gathered, added at its slots; restraint precisions on the
/// diagonal), at the refined structure factors.
fn joint_sigma(comm: &Comm, images: &[JointImage], layout: &Layout, values: &[Values], fs: Option<&[f64]>) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
    let (ns, np) = (layout.shared.len(), layout.per_image.len());
    let k = ns + np;
    // the scalar parameters' positions: shared, then each image's own (no structure factors)
    let n = ns + images.len() * np;
    let pos = |i: usize| -> Vec<usize> { (0..ns).chain((0..np).map(|j| ns + i * np + j)).collect() };
    let grid = layout.structure.as_ref().zip(fs).map(|(sf, f)| sf.grid(f));
    // one image's block, flattened, after a flag (1: available)
    let width = 1 + k * k;
    let per_rank = images.len().div_ceil(comm.size());
    let mut local = vec![0.0; per_rank * width];
    for i in (comm.rank()..images.len()).step_by(comm.size()) {
        let img = &images[i];
        let (names, _) = layout.slots(i);
        let obj = img.obj.as_ref().expect("an image of this process has its objective");
        if let Some(fi) = img.ev.fisher_information_with_structure_factors(&values[i], &names, obj, grid.as_deref()) {
            let c = &mut local[(i / comm.size()) * width..][..width];
            c[0] = 1.0;
            for (a, row) in fi.iter().enumerate() {
                c[1 + a * k..][..k].copy_from_slice(row);
            }
        }
    }
    let all = comm.all_gather(&local);
    let mut fisher = vec![vec![0.0; n]; n];
    for i in 0..images.len() {
        let c = &all[(owner(i, comm) * per_rank + i / comm.size()) * width..][..width];
        if c[0] != 1.0 {
            return None;
        }
        let (names, _) = layout.slots(i);
        let p = pos(i);
        for a in 0..k {
            for b in 0..k {
                fisher[p[a]][p[b]] += c[1 + a * k + b];
            }
            if let Some(r) = layout.restraints.iter().find(|r| r.param == names[a]) {
                if layout.restraint_counts(i, a) {
                    fisher[p[a]][p[a]] += 1.0 / (r.sigma * r.sigma);
                }
            }
        }
    }
    let cov = super::uncertainty::invert_spd(&fisher)?;
    let sd = |k: usize| cov[k][k].sqrt();
    let shared = (0..ns).map(sd).collect();
    let own = (0..images.len()).map(|i| pos(i)[ns..].iter().map(|&k| sd(k)).collect()).collect();
    Some((shared, own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_flags_are_read_as_a_batch_plan_reads_them() {
        let line = Plan::parse("p.toml", "flags = \"-cell 70 80 90 90 90 90 -N 3\"\nshared = [\"distance\"]\n[[image]]\ntarget = \"a.bin\"\nflags = \"-phi 1\"\n").unwrap();
        let words = Plan::parse("p.toml", "flags = [\"-cell\", \"70\", \"80\", \"90\", \"90\", \"90\", \"90\", \"-N\", \"3\"]\nshared = [\"distance\"]\n[[image]]\ntarget = \"a.bin\"\nflags = [\"-phi\", \"1\"]\n").unwrap();
        assert_eq!(line.flags.words(), words.flags.words());
        assert_eq!(line.image[0].flags.words(), ["-phi", "1"]);
        assert_eq!(words.image[0].flags.words(), ["-phi", "1"]);
        // an image without its own flags has none
        let none = Plan::parse("p.toml", "flags = \"-N 3\"\nshared = [\"distance\"]\n[[image]]\ntarget = \"a.bin\"\n").unwrap();
        assert!(none.image[0].flags.words().is_empty());
    }
}
