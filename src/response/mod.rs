//! Image-space stages: operators applied to the summed image of every engine, after the
//! lattice sum, and the detector response (what a detector does to the photons that reach it:
//! point spread, counting noise, gain, calibration error, readout noise, digitisation). Linear
//! stages have a forward and an adjoint, so that a loss differentiated with respect to the staged
//! image passes back to the rendered one (gradients, the continuation strategy).
//!
//! A linear stage works on the values of the rendered pixels (the evaluator's pixel list, every
//! panel's in order) and knows the panels' grids itself.
//!
//! - `stage`: what a linear stage is (`ImageStage`) and stages in a chain (`Pipeline`);
//! - `blur`: the Gaussian blur of the continuation strategy's coarse stages;
//! - `psf`: the point-spread function (Gaussian and fiber kernels, automatic radius, spreading),
//!   C-exact;
//! - `psf_linear`: the same blur as a linear f64 operator with a fixed radius and its adjoint;
//! - `noisify`: the whole response of the reference's noisify program, stage by stage.

mod blur;
pub mod noisify;
pub mod psf;
pub mod psf_linear;
mod stage;

pub use blur::Blur;
pub use stage::{ImageStage, Pipeline};
