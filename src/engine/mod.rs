//! The engine: everything between the geometry tensors and the summed image.
//!
//! - `render`: the renderer and its choice of engine, chunked over pixels;
//! - `inputs`: the kernels' inputs and their flat layout, declared once;
//! - `fused`: the fused CPU kernel (float64), its hand-derived backward and the bridge into burn;
//! - `gpu`: the CubeCL lattice-sum kernel and its launches;
//! - `device`: CPU and GPU devices, precision and adapters;
//! - `plan`: worker threads and chunk sizes;
//! - `comm`: processes working together under MPI;
//! - `trace`: an independent scalar per-pixel check of the same physics;
//! - `amorphous`: the amorphous scattering of the C program nonBragg (a sin(theta)/lambda table
//!   of F), its pixel loop and images.

pub mod amorphous;
pub mod comm;
pub mod device;
pub mod fused;
pub mod gpu;
pub mod inputs;
pub mod plan;
pub mod render;
pub mod trace;
