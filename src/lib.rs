//! nanobragg: a differentiable re-implementation of nanoBragg on burn.
//!
//! Layers, top to bottom; a module uses only modules of its own layer or below, and the
//! module graph has no cycles:
//! - `session` (a render as a library call: settings in, image and output files out);
//! - `batch` (many images from a plan, on one process or under MPI), `refine` (losses,
//!   gradients, optimisers), `output` (image files of a run) and `export` (CBF, NeXus and
//!   DIALS experiment-list files, in DIALS' frame);
//! - `render` (chunked batches, the `fused` CPU kernel, or the `gpu` lattice-sum kernel), `model` (named parameters mapped
//!   onto the geometry with tensors) and `trace` (an independent scalar per-pixel check);
//! - `geometry`: the experiment's continuous quantities as tensors;
//! - `experiment`: the resolved experiment, built from `cli`'s options;
//! - `cli`: the C program's flags;
//! - `physics` (every physical term once), `settings` (the experiment's enums: shape, pivot,
//!   convention, misset), `device`, `io` (files), `rng` (the reference program's random
//!   numbers), `vec3` (host vector math), `error`, `progress`, `workers`, `comm` (processes under MPI),
//!   `limits` (the memory a run can hold).

pub mod batch;
pub mod cli;
pub mod comm;
pub mod device;
pub mod error;
pub mod experiment;
pub mod export;
pub mod fused;
pub mod geometry;
pub mod gpu;
pub mod io;
pub mod limits;
pub mod model;
pub mod output;
pub mod physics;
pub mod refine;
pub mod progress;
pub mod render;
pub mod rng;
pub mod session;
pub mod settings;
pub mod trace;
pub mod vec3;
pub mod workers;
