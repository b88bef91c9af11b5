//! The physical terms of the intensity formula, each written once against [`Real`] so that the
//! fused CPU kernel (f64), its backward pass ([`real::Dual`]) and the batched tensor path (burn
//! tensors, differentiated by autodiff) evaluate the same definition. Branches are masks
//! ([`Real::choose`]), so gradients flow through removable singularities.

pub mod constants;
pub mod lattice;
pub mod polarization;
pub mod real;
pub mod structure;

pub use lattice::{lattice_factor, sinc3_of_sq, sincg, ShapeSpec};
pub use polarization::polarization;
pub use real::{Dual, Real};

use burn::tensor::Tensor;

use constants::{AVOGADRO, R_E_SQR, WATER_F, WATER_MW};

/// Photons per unit fluence scattered into a pixel's solid angle (before the solid-angle,
/// polarization and absorption factors) by a water layer `water_size` (m) thick: the
/// background adds this times the fluence inside the fluence-scaled sum, so it grows as the
/// square of the fluence, as in the reference.
pub fn water_background_per_fluence(water_size: f64) -> f64 {
    WATER_F * WATER_F * R_E_SQR * water_size.powi(3) * 1e6 * AVOGADRO / WATER_MW
}

// Note: scalar factors are applied with `*`, never `/`: burn's backward of a division by a
// host scalar rounds the reciprocal to single precision.

/// A 3-vector field: three tensors of the same shape holding x, y and z.
#[derive(Clone, Debug)]
pub struct Vec3T<const D: usize> {
    pub x: Tensor<D>,
    pub y: Tensor<D>,
    pub z: Tensor<D>,
}

impl<const D: usize> Vec3T<D> {
    pub fn new(x: Tensor<D>, y: Tensor<D>, z: Tensor<D>) -> Self {
        Self { x, y, z }
    }
    pub fn dot(&self, o: &Self) -> Tensor<D> {
        self.x.clone() * o.x.clone() + self.y.clone() * o.y.clone() + self.z.clone() * o.z.clone()
    }
    pub fn cross(&self, o: &Self) -> Self {
        Self {
            x: self.y.clone() * o.z.clone() - self.z.clone() * o.y.clone(),
            y: self.z.clone() * o.x.clone() - self.x.clone() * o.z.clone(),
            z: self.x.clone() * o.y.clone() - self.y.clone() * o.x.clone(),
        }
    }
    pub fn add(&self, o: &Self) -> Self {
        Self { x: self.x.clone() + o.x.clone(), y: self.y.clone() + o.y.clone(), z: self.z.clone() + o.z.clone() }
    }
    pub fn sub(&self, o: &Self) -> Self {
        Self { x: self.x.clone() - o.x.clone(), y: self.y.clone() - o.y.clone(), z: self.z.clone() - o.z.clone() }
    }
    pub fn mul(&self, s: &Tensor<D>) -> Self {
        Self { x: self.x.clone() * s.clone(), y: self.y.clone() * s.clone(), z: self.z.clone() * s.clone() }
    }
    pub fn div(&self, s: &Tensor<D>) -> Self {
        Self { x: self.x.clone() / s.clone(), y: self.y.clone() / s.clone(), z: self.z.clone() / s.clone() }
    }
    pub fn norm(&self) -> Tensor<D> {
        self.dot(self).sqrt()
    }
    /// The components as an array, for the generic terms.
    pub fn arr(&self) -> [Tensor<D>; 3] {
        [self.x.clone(), self.y.clone(), self.z.clone()]
    }
    pub fn map<const D2: usize>(&self, f: impl Fn(Tensor<D>) -> Tensor<D2>) -> Vec3T<D2> {
        Vec3T { x: f(self.x.clone()), y: f(self.y.clone()), z: f(self.z.clone()) }
    }
}

/// The nearest whole index as the reference rounds it, `ceil(h - 1/2)`, for host values. A
/// cast instead of `f64::ceil`, which is a library call on baseline x86-64 and a measurable
/// share of the fused kernel's time. Exact for |h| < 2^52; indices are far smaller.
#[inline(always)]
pub fn nearest_index(h: f64) -> f64 {
    let x = h - 0.5;
    let t = x as i64 as f64;
    if t < x {
        t + 1.0
    } else {
        t
    }
}

/// Whether `n` is a whole number from 1 to 16 (the range where the lattice factor uses its
/// Chebyshev recurrence).
#[inline(always)]
pub fn small_whole(n: f64) -> bool {
    (1.0..=16.0).contains(&n) && n == n as i64 as f64
}

/// Fractional part of a Miller index relative to the nearest integer, `h - ceil(h - 1/2)`, in
/// (-1/2, 1/2]. Rounding as the reference does; the gradient of the result is that of `h`.
pub fn frac_index<const D: usize>(h: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let h0 = (h.clone() - 0.5).ceil().detach();
    (h - h0.clone(), h0)
}

