//! The resolved description of one experiment: every default filled in, every unit converted
//! to SI (metres, radians), every derived vector computed, exactly as the reference program
//! does before it starts its pixel loop. [`build`] makes it from the parsed flags
//! (the typed [`Config`](crate::config::Config)); `render`, `geometry`, `model` and `trace` read it.
//!
//! `types` holds the data. The builder works through `inputs` (headers and flags as given),
//! `detector` (pixel grid, convention, sensor, placement), `crystal` (cell, orientation,
//! mosaic domains, size), `sampling` (step counts, oversampling), `structure` (structure
//! factors) and `sources` (fluence, divergence and dispersion, source files).

mod amorphous;
mod build;
pub mod crystal;
mod detector;
mod files;
mod inputs;
pub mod lab;
mod panels;
mod sampling;
pub mod sources;
mod structure;
mod types;
mod units;

pub use build::{build, build_from};
pub use files::InputFiles;
use units::{deg, mm};
pub use types::{
    AmorphousLayer, Beam, Crystal, CrystalSetup, Detector, DetectorSetup, Experiment, Notes, Sampling, Source, Structure, AVOGADRO,
    DEFAULT_FLUENCE, RTD, R_E_SQR,
};
