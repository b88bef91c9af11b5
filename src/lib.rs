//! nanobragg: a differentiable re-implementation of nanoBragg on burn.
//!
//! Layers, each depending only on those below it:
//! `cli` (flags) -> `config` (resolved experiment) -> `render` (chunked batches) ->
//! `physics` (tensor functions), beside `crystal`, `beam` and the host vector math in `vec3`;
//! `io` reads and writes files; `rng` reproduces the reference program's random numbers.

pub mod cli;
pub mod device;
pub mod error;
pub mod experiment;
pub mod fused;
pub mod geometry;
pub mod io;
pub mod model;
pub mod output;
pub mod physics;
pub mod refine;
pub mod progress;
pub mod render;
pub mod rng;
pub mod settings;
pub mod trace;
pub mod vec3;
pub mod workers;
