//! The physical terms of the intensity formula, each written once against [`Real`] so that the
//! fused CPU kernel (f64), its backward pass ([`real::Dual`]) and the batched tensor path (burn
//! tensors, differentiated by autodiff) evaluate the same definition. Branches are masks
//! ([`Real::choose`]), so gradients flow through removable singularities.

pub mod constants;
mod index;
pub mod lattice;
pub mod pixel;
pub mod polarization;
pub mod real;
pub mod rng;
pub mod structure;
mod tensor3;
pub mod vec3;
mod water;

pub use lattice::{lattice_factor, sinc3_of_sq, sincg, ShapeSpec};
pub use pixel::{beyond_resolution, capture_fraction, scattering_vector, solid_angle};
pub use polarization::polarization;
pub use real::{Dual, Real};
pub use index::{frac_index, nearest_index, small_whole};
pub use tensor3::Vec3T;
pub use water::water_background_per_fluence;
