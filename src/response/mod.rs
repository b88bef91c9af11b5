//! Image-space detector response: what a detector does to the photons that reach it (point
//! spread, counting noise, gain, calibration error, readout noise, digitisation).
//!
//! - `psf`: the point-spread function (Gaussian and fiber kernels, automatic radius, spreading),
//!   C-exact;
//! - `psf_linear`: the same blur as a linear f64 operator with a fixed radius and its adjoint;
//! - `noisify`: the whole response of the reference's noisify program, stage by stage.

pub mod noisify;
pub mod psf;
pub mod psf_linear;
