//! The default refinement strategy: coarse-to-fine continuation. Sharp Bragg spots make the
//! likelihood a landscape of narrow basins (a spot predicted next to its observed position
//! overlaps nothing, so nothing pulls it over). Blurring the model and the target alike with a
//! Gaussian of a few pixels widens every basin; each stage starts from the previous optimum
//! with a narrower blur, and the last stage refines the user's loss on the unblurred images.

use super::optimize::{refine, Optimizer, RefineResult, Restraint};
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
    pub fn parse(s: &str) -> crate::error::Result<Strategy> {
        match s {
            "continuation" => Ok(Strategy::Continuation),
            "plain" => Ok(Strategy::Plain),
            _ => Err(crate::error::Error::new(format!("--strategy: expected continuation or plain, got '{s}'"))),
        }
    }
}

/// The continuation stage of blur width `sigma_px` for `ev`'s pixels and a target given at
/// them.
pub fn smoothed(ev: &Evaluator, target: &[f64], sigma_px: f64) -> Objective {
    let grids = ev.exp.panels().zip(&ev.offsets).map(|(d, &o)| (o, d.fpixels, d.spixels)).collect();
    let blur = Blur::on_panels(grids, &ev.pixels, sigma_px);
    Objective::Staged { target: blur.apply(target), stages: crate::response::Pipeline::new(vec![std::sync::Arc::new(blur)]), loss: super::Loss::Gaussian }
}

/// Refine with `strategy`. Continuation needs the whole image at once, so it runs on the fused
/// kernel's path (the CPU in float64); elsewhere, and for a weighted-sum objective, the final
/// refinement runs alone. `iterations` counts every stage; `history` is the final stage's and
/// `stages` the continuation stages' (their losses are of the blurred images).
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
    mut report: impl FnMut(usize, f64, &Values),
) -> RefineResult {
    let mut values = start.clone();
    let mut stages = Vec::new();
    let mut iterations = 0;
    if let (Strategy::Continuation, Objective::Fit { target, .. }, true) = (strategy, obj, ev.uses_fused()) {
        for sigma in STAGES_PX {
            let smoothed = smoothed(ev, target, sigma);
            // a coarse stage only has to bring the model into the final basin
            let r = refine(ev, &values, names, &smoothed, restraints, max_steps.min(STAGE_STEPS), optimizer, |it, f, v| report(iterations + it, f, v));
            values = r.values;
            iterations += r.iterations;
            stages.push(r.history);
        }
    }
    let mut last = refine(ev, &values, names, obj, restraints, max_steps, optimizer, |it, f, v| report(iterations + it, f, v));
    last.iterations += iterations;
    last.stages = stages;
    last
}
