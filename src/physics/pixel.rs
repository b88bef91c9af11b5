//! The per-sub-pixel terms, each written once over [`Real`]: the solid angle a sub-pixel
//! subtends, the fraction of the photons a sensor layer captures, and the scattering vector
//! towards it with the resolution cut. The fused kernel
//! evaluates them on f64 (forward) and on `Dual` numbers (their partial derivatives in the
//! backward pass); the tensor path on burn tensors. The GPU kernel's float32 copies
//! (`engine::gpu::kernel::sub_pixel`) follow the same formulas.

use super::Real;

/// Solid angle (sr) of a sub-pixel whose edge `pixel` is seen at distance `air` on a detector
/// plane `close` from the sample: `pixel² / air² · close / air`, the last factor the obliquity
/// (the cosine of the angle to the plane's normal). A point pixel (`-point_pixel`) counts
/// `1 / air²` alone.
#[inline]
pub fn solid_angle<R: Real>(pixel: R, close: R, air: R, point_pixel: bool) -> R {
    if point_pixel {
        (air.clone() * air).rdiv(1.0)
    } else {
        pixel.clone() * pixel / (air.clone() * air.clone()) * close / air
    }
}

/// Fraction of the photons of a ray that layer `t` of a sensor absorbs: `exp(-t k / par) -
/// exp(-(t + 1) k / par)`, with `k` the layer thickness over the attenuation depth and `par`
/// the cosine between the ray and the sensor normal (the path through a layer is its
/// thickness over `par`).
#[inline]
pub fn capture_fraction<R: Real>(par: R, k: f64, t: usize) -> R {
    par.clone().rdiv(-(t as f64) * k).exp() - par.rdiv(-((t + 1) as f64) * k).exp()
}

/// Scattering vector (1/m) of a photon of wavelength `lambda` (m) arriving along the unit
/// vector `inc` and leaving along the unit vector `d`: `(d - inc) / lambda`.
#[inline]
pub fn scattering_vector<R: Real>(d: &[R; 3], inc: &[R; 3], lambda: R) -> [R; 3] {
    std::array::from_fn(|i| (d[i].clone() - inc[i].clone()) / lambda.clone())
}

/// Where the scattering vector `q` reaches beyond the resolution limit `dmin` (m):
/// `|q| / 2 · dmin > 1/2`, i.e. d-spacing `1 / |q|` below `dmin`. A cut, taken on the value
/// only (|q| has no derivative at q = 0); callers apply it when `dmin > 0`.
#[inline]
pub fn beyond_resolution<R: Real>(q: &[R; 3], dmin: f64) -> R::Mask {
    let [x, y, z] = q.clone().map(R::detach);
    ((x.clone() * x + y.clone() * y + z.clone() * z).sqrt() * 0.5 * dmin).greater_than(0.5)
}
