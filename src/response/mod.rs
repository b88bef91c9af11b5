//! Image-space stages: linear operators applied to the summed image, after the lattice sum,
//! each with its forward and its adjoint, so that a loss differentiated with respect to the
//! staged image passes back to the rendered one (gradients, the continuation strategy).
//!
//! A stage works on the values of the rendered pixels (the evaluator's pixel list, every
//! panel's in order) and knows the panels' grids itself.
//!
//! - `stage`: what a stage is (`ImageStage`) and stages in a chain (`Pipeline`);
//! - `blur`: the Gaussian blur of the continuation strategy's coarse stages.

mod blur;
mod stage;

pub use blur::Blur;
pub use stage::{ImageStage, Pipeline};
