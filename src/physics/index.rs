//! Miller-index rounding as the reference does it, for host values and tensors.

use burn::tensor::Tensor;

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
