//! The resolved description of one experiment: every default filled in, every unit converted
//! to SI (metres, radians), every derived vector computed, exactly as the reference program
//! does before it starts its pixel loop. [`build`] makes it from the parsed flags
//! ([`cli::Options`](crate::cli::Options)); `render`, `geometry`, `model` and `trace` read it.

mod build;
pub mod crystal;
pub mod sources;
mod types;

pub use build::build;
pub use types::{
    Beam, Crystal, CrystalSetup, Detector, DetectorSetup, Experiment, Notes, Sampling, Source, Structure, AVOGADRO,
    DEFAULT_FLUENCE, RTD, R_E_SQR,
};
