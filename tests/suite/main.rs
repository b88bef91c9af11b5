//! The integration suite: one test binary (build time is real cost), several modules.

mod batch;
mod cli_errors;
mod cli_help;
mod common;
mod dials;
mod fabio;
mod gpu;
mod gradients;
mod invariants;
mod nonbragg;
mod noisify;
mod panels;
mod parity;
mod python;
mod refine_fit;
mod refinement;
mod robustness;
mod robustness_fuzz;
mod runfile;
mod structure;
mod terms;
mod trace;
