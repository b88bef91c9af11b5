//! nanobragg: a differentiable re-implementation of nanoBragg on burn.
//!
//! Layers, top to bottom; a module uses only modules of its own layer or below, and no two
//! files import each other, directly or through others (`tools/structure.py` checks it):
//! - `cli`: the command line, a leaf: the subcommands, the nonBragg and noisify programs' flags,
//!   help text, progress on stderr;
//! - `batch` (many images from a plan, on one process or under MPI) and `refine` (losses,
//!   gradients, optimisers), both on top of
//! - `simulation`: the one facade, a render as a library call (settings in, images out);
//! - `engine`: the renderer and its choice of engine (the fused CPU kernel, the batched tensor
//!   reference, the GPU lattice-sum kernel), devices, work planning, processes under MPI, the
//!   independent per-pixel trace, and nonBragg's amorphous scattering;
//! - `model`: named parameters mapped onto the geometry tensors;
//! - `experiment`: the resolved experiment (detector, panels, beam, crystal, structure factors,
//!   sampling);
//! - `io`: file formats in and out, the image products of a run (SMV, noise, PGM, CBF,
//!   NeXus, DIALS experiment lists), and the memory a run can hold (`io::limits`);
//! - `response`: image-space stages after the sum (forward and adjoint) and the detector
//!   response of the reference's noisify (PSF, counting noise, gain, calibration, readout);
//! - `physics`: every physical term once, constants, host vector math and the reference
//!   program's random streams; `config`: the typed configuration (settings grouped by concept in
//!   SI units, the flag language that fills it, run files); `error`: the one-line error and its
//!   kind.

/// `eprintln!` as one write (see `io::stderr_line`): every stderr line of the program goes
/// through it so that lines of MPI ranks never interleave.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::io::stderr_line(&format!($($arg)*))
    };
}

pub mod batch;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod experiment;
pub mod io;
pub mod model;
pub mod physics;
pub mod refine;
pub mod response;
pub mod simulation;
