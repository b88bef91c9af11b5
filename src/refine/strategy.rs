//! The default refinement strategy: coarse-to-fine continuation. Sharp Bragg spots make the
//! likelihood a landscape of narrow basins (a spot predicted next to its observed position
//! overlaps nothing, so nothing pulls it over). Blurring the model and the target alike with a
//! Gaussian of a few pixels widens every basin; each stage starts from the previous optimum
//! with a narrower blur, and the last stage refines the user's loss on the unblurred images.
//!
//! A coarse stage can also lead astray (a blurred landscape has its own false minima), so the
//! default never ends worse than a plain fit: after the coarse-to-fine path it runs a plain fit
//! from the same start and reports whichever of the two ends at the lower loss.

use super::optimize::{refine, Optimizer, Restraint};
use super::{Evaluator, Objective};
use crate::response::Blur;
use crate::model::{Param, Values};

/// Blur widths (pixels) of the continuation stages before the final, unblurred one.
pub const STAGES_PX: [f64; 2] = [3.0, 1.5];
/// Most optimiser steps of each continuation stage.
pub const STAGE_STEPS: usize = 20;

/// Refinement strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Coarse-to-fine continuation, then the final refinement (default).
    Continuation,
    /// The final refinement alone.
    Plain,
}

impl Strategy {
    /// The name `--strategy` takes.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Continuation => "continuation",
            Strategy::Plain => "plain",
        }
    }

    pub fn parse(s: &str) -> crate::error::Result<Strategy> {
        match s {
            "continuation" => Ok(Strategy::Continuation),
            "plain" => Ok(Strategy::Plain),
            _ => Err(crate::error::Error::new(format!("--strategy: expected continuation or plain, got '{s}'"))),
        }
    }
}

/// Where a refinement stands after one iteration (for progress lines).
pub struct Progress<'a> {
    /// The stage: "coarse 3 px", "coarse 1.5 px", "fine" (the final fit after them) or "plain".
    pub stage: &'a str,
    /// Iterations so far over every stage, from 1.
    pub iteration: usize,
    /// The user's loss (restraints included) at `values`, whatever the stage minimises, so
    /// that losses compare across stages.
    pub loss: f64,
    pub values: &'a Values,
}

/// What one stage did.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRecord {
    pub name: String,
    pub iterations: usize,
    /// The user's loss at the stage's start and end.
    pub start_loss: f64,
    pub loss: f64,
    /// The stage's own objective at its start and after every iteration (for a coarse stage,
    /// the blurred images' loss).
    pub objective_history: Vec<f64>,
    /// Whether the stage is a coarse (blurred) one.
    pub coarse: bool,
}

/// Result of [`refine_with_strategy`].
pub struct StrategyResult {
    pub values: Values,
    /// The user's loss at `values`, restraints included.
    pub loss: f64,
    /// Optimiser steps over every stage.
    pub iterations: usize,
    /// The user's loss at the start and after every iteration of every stage, in the order run
    /// (`iterations + 1` values).
    pub history: Vec<f64>,
    /// The stages in the order run.
    pub stages: Vec<StageRecord>,
    /// The stage whose end is reported ("fine" or "plain").
    pub reported: String,
}

impl StrategyResult {
    /// The blurred-image loss histories of the coarse stages.
    pub fn coarse_histories(&self) -> Vec<Vec<f64>> {
        self.stages.iter().filter(|s| s.coarse).map(|s| s.objective_history.clone()).collect()
    }
}

/// The user's loss at `v`: the objective plus the restraints.
fn total_loss(ev: &Evaluator, v: &Values, obj: &Objective, restraints: &[Restraint]) -> f64 {
    ev.value(v, obj) + restraints.iter().map(|r| r.term(v[r.param]).0).sum::<f64>()
}

/// The continuation stage of blur width `sigma_px` for `ev`'s pixels and a target given at
/// them.
pub fn smoothed(ev: &Evaluator, target: &[f64], sigma_px: f64) -> Objective {
    let grids = ev.exp.panels().zip(&ev.offsets).map(|(d, &o)| (o, d.fpixels, d.spixels)).collect();
    let blur = Blur::on_panels(grids, &ev.pixels, sigma_px);
    Objective::Staged { target: blur.apply(target), stages: crate::response::Pipeline::new(vec![std::sync::Arc::new(blur)]), loss: super::Loss::Gaussian }
}

/// The stages of one refinement, run one after another, and what they did.
struct Run<'a, 'e, R: FnMut(&Progress)> {
    ev: &'a Evaluator<'e>,
    names: &'a [Param],
    obj: &'a Objective,
    restraints: &'a [Restraint],
    optimizer: Optimizer,
    report: R,
    history: Vec<f64>,
    stages: Vec<StageRecord>,
    iterations: usize,
}

impl<R: FnMut(&Progress)> Run<'_, '_, R> {
    /// Run stage `name` from `from` (the user's loss there `from_loss`) for at most `steps`
    /// iterations, minimising `coarse` (a blurred objective) or, when None, the user's own;
    /// returns the end point and the user's loss there.
    fn stage(&mut self, name: String, from: &Values, from_loss: f64, coarse: Option<&Objective>, steps: usize) -> (Values, f64) {
        let (ev, obj, restraints) = (self.ev, self.obj, self.restraints);
        let done = self.iterations;
        let (history, report) = (&mut self.history, &mut self.report);
        let r = refine(ev, from, self.names, coarse.unwrap_or(obj), restraints, steps, self.optimizer, |it, f, v| {
            // a coarse stage's own loss is of blurred images: report the user's
            let f = if coarse.is_some() { total_loss(ev, v, obj, restraints) } else { f };
            history.push(f);
            report(&Progress { stage: &name, iteration: done + it, loss: f, values: v });
        });
        self.iterations += r.iterations;
        let loss = match (coarse, r.iterations) {
            (_, 0) => from_loss,
            (Some(_), _) => total_loss(ev, &r.values, obj, restraints),
            (None, _) => r.loss,
        };
        self.stages.push(StageRecord { name, iterations: r.iterations, start_loss: from_loss, loss, objective_history: r.history, coarse: coarse.is_some() });
        (r.values, loss)
    }
}

/// Refine with `strategy`. Continuation needs the whole image at once, so it runs on the fused
/// kernel's path (the CPU in float64); elsewhere, and for a weighted-sum objective, a plain
/// fit runs alone. Continuation runs the coarse stages, the fine stage from their end, then a
/// plain fit from `start`, and reports the lower of the fine and plain ends (the fine one on a
/// tie). `report` is called after every iteration of every stage.
#[allow(clippy::too_many_arguments)]
pub fn refine_with_strategy(
    ev: &Evaluator,
    start: &Values,
    names: &[Param],
    obj: &Objective,
    restraints: &[Restraint],
    max_steps: usize,
    optimizer: Optimizer,
    strategy: Strategy,
    report: impl FnMut(&Progress),
) -> StrategyResult {
    let start_loss = total_loss(ev, start, obj, restraints);
    let mut run = Run { ev, names, obj, restraints, optimizer, report, history: vec![start_loss], stages: vec![], iterations: 0 };
    let continuation = matches!((strategy, obj, ev.uses_fused()), (Strategy::Continuation, Objective::Fit { .. }, true));
    let (values, loss, reported) = match obj {
        Objective::Fit { target, .. } if continuation => {
            let (mut values, mut loss) = (start.clone(), start_loss);
            for sigma in STAGES_PX {
                // a coarse stage only has to bring the model into the final basin
                (values, loss) = run.stage(format!("coarse {sigma} px"), &values, loss, Some(&smoothed(ev, target, sigma)), max_steps.min(STAGE_STEPS));
            }
            let fine = run.stage("fine".into(), &values, loss, None, max_steps);
            let plain = run.stage("plain".into(), start, start_loss, None, max_steps);
            if plain.1 < fine.1 { (plain.0, plain.1, "plain") } else { (fine.0, fine.1, "fine") }
        }
        _ => {
            let (values, loss) = run.stage("plain".into(), start, start_loss, None, max_steps);
            (values, loss, "plain")
        }
    };
    StrategyResult { values, loss, iterations: run.iterations, history: run.history, stages: run.stages, reported: reported.into() }
}
