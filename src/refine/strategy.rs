//! The default refinement strategy: continuation from an easier problem to the user's. Sharp
//! Bragg spots make the likelihood a landscape of narrow basins: a still records only the
//! reflections its orientation and spectrum excite, so a start a fraction of a degree off
//! predicts other spots than the observed ones, and a spot predicted next to its observed
//! position overlaps nothing, so nothing pulls it over.
//!
//! The first stages therefore fit a crystal a third, then two thirds the starting size (cells
//! along each axis), with the sizes refined too. A smaller crystal has broader reflections,
//! which overlap the observed ones from further off in orientation, cell and position; each
//! stage starts from the previous one's geometry. The fine stage then refines the user's
//! parameters at the user's crystal size. Joint refinement ([`super::joint`]) runs the same
//! stages.
//!
//! The continuation can lead astray (an easier landscape has false minima of its own), so the
//! default never ends worse than a plain fit: after the continuation path it runs a plain fit
//! from the same start and reports whichever of the two ends at the lower loss.

use super::optimize::{refine, Optimizer, Restraint};
use super::{Evaluator, Objective};
use crate::model::{Param, Values};

/// The crystal-size stages of continuation: a name and the fraction of the
/// starting crystal size (cells along each axis) the stage starts from.
pub const CRYSTAL_STAGES: [(&str, f64); 2] = [("1/3", 1.0 / 3.0), ("2/3", 2.0 / 3.0)];
/// Most optimiser steps of each crystal-size stage.
pub const CRYSTAL_STAGE_STEPS: usize = 60;
/// The crystal-size parameters.
pub const CRYSTAL_SIZE: [Param; 3] = [Param::Na, Param::Nb, Param::Nc];

/// Refinement strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Continuation from an easier problem, then the final refinement, reporting the better of
    /// its end and a plain fit's (default).
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
    /// The stage: "crystal 1/3", "crystal 2/3", "fine" (the final fit after them) or "plain".
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
    /// Whether the stage is a continuation one (a crystal-size stage: the stage minimised the
    /// loss of a smaller crystal), whose own objective is not the user's.
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
    /// The own-objective loss histories of the continuation stages.
    pub fn coarse_histories(&self) -> Vec<Vec<f64>> {
        self.stages.iter().filter(|s| s.coarse).map(|s| s.objective_history.clone()).collect()
    }
}

/// The user's loss at `v`: the objective plus the restraints.
fn total_loss(ev: &Evaluator, v: &Values, obj: &Objective, restraints: &[Restraint]) -> f64 {
    ev.value(v, obj) + restraints.iter().map(|r| r.term(v[r.param]).0).sum::<f64>()
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
    /// iterations over `names`. With `restore`, the stage's crystal sizes are stand-ins (a
    /// continuation stage): its end point, and every point it reports, takes the sizes the user
    /// does not refine from `restore`, and the losses reported are the user's model's there.
    /// Returns the end point and the user's loss there.
    fn stage(&mut self, name: String, from: &Values, from_loss: f64, names: &[Param], restore: Option<&Values>, steps: usize) -> (Values, f64) {
        let (ev, obj, restraints) = (self.ev, self.obj, self.restraints);
        let user_names = self.names;
        let done = self.iterations;
        let (history, report) = (&mut self.history, &mut self.report);
        // the point as the user's model sees it
        let seen = |v: &Values| -> Values {
            let mut v = v.clone();
            if let Some(r) = restore {
                for p in CRYSTAL_SIZE.iter().filter(|p| !user_names.contains(p)) {
                    v[*p] = r[*p];
                }
            }
            v
        };
        let tracked = restore.is_some();
        let r = refine(ev, from, names, obj, restraints, steps, self.optimizer, |it, f, v| {
            // a continuation stage's own loss is another model's: report the user's
            let v = seen(v);
            let f = if tracked { total_loss(ev, &v, obj, restraints) } else { f };
            history.push(f);
            report(&Progress { stage: &name, iteration: done + it, loss: f, values: &v });
        });
        self.iterations += r.iterations;
        let end = seen(&r.values);
        let loss = match (tracked, r.iterations) {
            (_, 0) => from_loss,
            (true, _) => total_loss(ev, &end, obj, restraints),
            (false, _) => r.loss,
        };
        self.stages.push(StageRecord { name, iterations: r.iterations, start_loss: from_loss, loss, objective_history: r.history, coarse: tracked });
        (end, loss)
    }
}

/// Refine with `strategy`. Continuation runs on the fused kernel's path (the CPU in float64;
/// elsewhere, and for a weighted-sum objective, a plain fit runs alone): the crystal-size
/// stages, the fine stage from their end, then a plain fit from `start`, reporting the lower of
/// the fine and plain ends (the fine one on a tie). `report` is called after every iteration
/// of every stage.
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
    let (values, loss, reported) = if continuation {
        // a smaller crystal's broader reflections overlap the observed ones from further
        // off (in orientation and cell, not only on the detector); its sizes are refined
        // too, so that its spots' intensities can follow the target's
        let small_names: Vec<Param> = names.iter().copied().chain(CRYSTAL_SIZE.into_iter().filter(|p| !names.contains(p))).collect();
        let (mut values, mut loss) = (start.clone(), start_loss);
        for (label, fraction) in CRYSTAL_STAGES {
            let mut small = values.clone();
            for p in CRYSTAL_SIZE.iter().filter(|p| !names.contains(p)) {
                small[*p] = start[*p] * fraction;
            }
            (values, loss) = run.stage(format!("crystal {label}"), &small, loss, &small_names, Some(start), max_steps.min(CRYSTAL_STAGE_STEPS));
        }
        let fine = run.stage("fine".into(), &values, loss, names, None, max_steps);
        let plain = run.stage("plain".into(), start, start_loss, names, None, max_steps);
        if plain.1 < fine.1 { (plain.0, plain.1, "plain") } else { (fine.0, fine.1, "fine") }
    } else {
        let (values, loss) = run.stage("plain".into(), start, start_loss, names, None, max_steps);
        (values, loss, "plain")
    };
    StrategyResult { values, loss, iterations: run.iterations, history: run.history, stages: run.stages, reported: reported.into() }
}
