//! One arithmetic interface for the three ways a physical term is evaluated: host `f64` (the
//! fused CPU kernel), [`Dual`] numbers (its backward pass: value and partial derivatives in one
//! evaluation) and burn tensors (the batched path, differentiated by burn's autodiff). Each term
//! in [`crate::physics`] is written once against [`Real`].
//!
//! Branches are expressed with [`Real::choose`]: scalar types evaluate only the branch taken,
//! tensors evaluate both and select with a mask, so no decision is ever taken on a value read
//! back from a tensor that carries a gradient.

use std::ops::{Add, Div, Mul, Sub};

use burn::tensor::{Bool, Tensor};

pub trait Real:
    Clone
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
{
    type Mask: Clone;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    fn abs(self) -> Self;
    fn neg(self) -> Self;
    /// `k / self`.
    fn rdiv(self, k: f64) -> Self;
    /// The value without its derivative (a cut or a decision, not a differentiable quantity).
    fn detach(self) -> Self;
    /// Where `self < k`.
    fn less_than(&self, k: f64) -> Self::Mask;
    /// Where `self > k`.
    fn greater_than(&self, k: f64) -> Self::Mask;
    /// Elementwise or of two masks.
    fn either(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// `then` where the mask holds, `otherwise` elsewhere.
    fn choose(mask: Self::Mask, then: impl FnOnce() -> Self, otherwise: impl FnOnce() -> Self) -> Self;
    /// `self` with the masked elements replaced by `k` (keeps a discarded branch finite, so its
    /// zero gradient stays zero instead of 0 * inf).
    fn fill(self, mask: Self::Mask, k: f64) -> Self;
    /// sin(n x) / sin(x) for sin(x) != 0.
    #[inline]
    fn sin_ratio(x: Self, n: Self) -> Self {
        (x.clone() * n).sin() / x.sin()
    }
}

impl Real for f64 {
    type Mask = bool;
    #[inline]
    fn sin(self) -> Self {
        f64::sin(self)
    }
    #[inline]
    fn cos(self) -> Self {
        f64::cos(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline]
    fn neg(self) -> Self {
        -self
    }
    #[inline]
    fn rdiv(self, k: f64) -> Self {
        k / self
    }
    #[inline]
    fn detach(self) -> Self {
        self
    }
    #[inline]
    fn less_than(&self, k: f64) -> bool {
        *self < k
    }
    #[inline]
    fn greater_than(&self, k: f64) -> bool {
        *self > k
    }
    #[inline]
    fn either(a: bool, b: bool) -> bool {
        a || b
    }
    #[inline]
    fn choose(mask: bool, then: impl FnOnce() -> Self, otherwise: impl FnOnce() -> Self) -> Self {
        if mask {
            then()
        } else {
            otherwise()
        }
    }
    #[inline]
    fn fill(self, mask: bool, k: f64) -> Self {
        if mask {
            k
        } else {
            self
        }
    }
    /// For a whole number of cells (1..=16) the ratio is the Chebyshev polynomial U_{n-1}(cos x):
    /// one cosine and a short recurrence instead of two sines.
    #[inline(always)]
    fn sin_ratio(x: f64, n: f64) -> f64 {
        if super::small_whole(n) {
            let c2 = 2.0 * x.cos();
            let (mut u0, mut u1) = (1.0, c2);
            if n == 1.0 {
                return 1.0;
            }
            for _ in 2..n as usize {
                let u2 = c2 * u1 - u0;
                u0 = u1;
                u1 = u2;
            }
            u1
        } else {
            (x * n).sin() / x.sin()
        }
    }
}

/// A value with its partial derivatives with respect to `K` inputs (forward-mode
/// differentiation on the host).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual<const K: usize> {
    pub v: f64,
    pub d: [f64; K],
}

impl<const K: usize> Dual<K> {
    /// The `i`-th input, with value `v`.
    pub fn var(v: f64, i: usize) -> Self {
        let mut d = [0.0; K];
        d[i] = 1.0;
        Dual { v, d }
    }
    /// A constant.
    pub fn cst(v: f64) -> Self {
        Dual { v, d: [0.0; K] }
    }
    #[inline]
    fn chain(self, v: f64, dv: f64) -> Self {
        Dual { v, d: self.d.map(|x| x * dv) }
    }
}

impl<const K: usize> Add for Dual<K> {
    type Output = Self;
    #[inline]
    fn add(self, o: Self) -> Self {
        Dual { v: self.v + o.v, d: std::array::from_fn(|i| self.d[i] + o.d[i]) }
    }
}
impl<const K: usize> Sub for Dual<K> {
    type Output = Self;
    #[inline]
    fn sub(self, o: Self) -> Self {
        Dual { v: self.v - o.v, d: std::array::from_fn(|i| self.d[i] - o.d[i]) }
    }
}
impl<const K: usize> Mul for Dual<K> {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        Dual { v: self.v * o.v, d: std::array::from_fn(|i| self.d[i] * o.v + self.v * o.d[i]) }
    }
}
impl<const K: usize> Div for Dual<K> {
    type Output = Self;
    #[inline]
    fn div(self, o: Self) -> Self {
        let inv = 1.0 / o.v;
        let v = self.v * inv;
        Dual { v, d: std::array::from_fn(|i| (self.d[i] - v * o.d[i]) * inv) }
    }
}
impl<const K: usize> Add<f64> for Dual<K> {
    type Output = Self;
    #[inline]
    fn add(self, k: f64) -> Self {
        Dual { v: self.v + k, d: self.d }
    }
}
impl<const K: usize> Sub<f64> for Dual<K> {
    type Output = Self;
    #[inline]
    fn sub(self, k: f64) -> Self {
        Dual { v: self.v - k, d: self.d }
    }
}
impl<const K: usize> Mul<f64> for Dual<K> {
    type Output = Self;
    #[inline]
    fn mul(self, k: f64) -> Self {
        Dual { v: self.v * k, d: self.d.map(|x| x * k) }
    }
}

impl<const K: usize> Real for Dual<K> {
    type Mask = bool;
    #[inline]
    fn sin(self) -> Self {
        let (s, c) = self.v.sin_cos();
        self.chain(s, c)
    }
    #[inline]
    fn cos(self) -> Self {
        let (s, c) = self.v.sin_cos();
        self.chain(c, -s)
    }
    #[inline]
    fn sqrt(self) -> Self {
        let r = self.v.sqrt();
        self.chain(r, 0.5 / r)
    }
    #[inline]
    fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e)
    }
    #[inline]
    fn abs(self) -> Self {
        if self.v < 0.0 {
            self.neg()
        } else {
            self
        }
    }
    #[inline]
    fn neg(self) -> Self {
        Dual { v: -self.v, d: self.d.map(|x| -x) }
    }
    #[inline]
    fn rdiv(self, k: f64) -> Self {
        let v = k / self.v;
        // d(k/x) = -(k/x) / x dx
        self.chain(v, -v / self.v)
    }
    #[inline]
    fn detach(self) -> Self {
        Dual::cst(self.v)
    }
    #[inline]
    fn less_than(&self, k: f64) -> bool {
        self.v < k
    }
    #[inline]
    fn greater_than(&self, k: f64) -> bool {
        self.v > k
    }
    #[inline]
    fn either(a: bool, b: bool) -> bool {
        a || b
    }
    #[inline]
    fn choose(mask: bool, then: impl FnOnce() -> Self, otherwise: impl FnOnce() -> Self) -> Self {
        if mask {
            then()
        } else {
            otherwise()
        }
    }
    #[inline]
    fn fill(self, mask: bool, k: f64) -> Self {
        if mask {
            Dual::cst(k)
        } else {
            self
        }
    }
    /// sin(n x) / sin(x) with its derivatives d/dx and d/dn = x cos(n x) / sin x. For a whole
    /// number of cells (1..=16): U_{n-1}(cos x), its x-derivative and T_n(cos x) = cos(n x) by
    /// Chebyshev recurrences from one sine and cosine.
    #[inline(always)]
    fn sin_ratio(x: Self, n: Self) -> Self {
        if super::small_whole(n.v) {
            let (sx, cx) = x.v.sin_cos();
            let c2 = 2.0 * cx;
            // U_0 = 1, U_1 = 2c, U_{k+1} = 2c U_k - U_{k-1}; then T_n = c U_{n-1} - U_{n-2}
            let (mut u0, mut u1, mut du0, mut du1) = (1.0, c2, 0.0, -2.0 * sx);
            let m = n.v as usize;
            for _ in 2..m {
                let u2 = c2 * u1 - u0;
                let du2 = -2.0 * sx * u1 + c2 * du1 - du0;
                (u0, u1, du0, du1) = (u1, u2, du1, du2);
            }
            let (v, dx, t_n) = if m == 1 { (1.0, 0.0, cx) } else { (u1, du1, cx * u1 - u0) };
            let dn = x.v * t_n / sx;
            return Dual { v, d: std::array::from_fn(|i| dx * x.d[i] + dn * n.d[i]) };
        }
        let (sx, cx) = x.v.sin_cos();
        let (snx, cnx) = (x.v * n.v).sin_cos();
        let v = snx / sx;
        // d/dx = (n cos(nx) sin x - sin(nx) cos x) / sin^2 x, d/dn = x cos(nx) / sin x
        let dx = (n.v * cnx - v * cx) / sx;
        let dn = x.v * cnx / sx;
        Dual { v, d: std::array::from_fn(|i| dx * x.d[i] + dn * n.d[i]) }
    }
}

impl<const D: usize> Real for Tensor<D> {
    type Mask = Tensor<D, Bool>;
    #[inline]
    fn sin(self) -> Self {
        Tensor::sin(self)
    }
    #[inline]
    fn cos(self) -> Self {
        Tensor::cos(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        Tensor::sqrt(self)
    }
    #[inline]
    fn exp(self) -> Self {
        Tensor::exp(self)
    }
    #[inline]
    fn abs(self) -> Self {
        Tensor::abs(self)
    }
    #[inline]
    fn neg(self) -> Self {
        Tensor::neg(self)
    }
    /// As the reciprocal times k (burn's backward of a host scalar divided by a tensor is
    /// taken through `recip`).
    #[inline]
    fn rdiv(self, k: f64) -> Self {
        self.recip() * k
    }
    #[inline]
    fn detach(self) -> Self {
        Tensor::detach(self)
    }
    #[inline]
    fn less_than(&self, k: f64) -> Self::Mask {
        self.clone().lower_elem(k)
    }
    #[inline]
    fn greater_than(&self, k: f64) -> Self::Mask {
        self.clone().greater_elem(k)
    }
    #[inline]
    fn either(a: Self::Mask, b: Self::Mask) -> Self::Mask {
        a.bool_or(b)
    }
    #[inline]
    fn choose(mask: Self::Mask, then: impl FnOnce() -> Self, otherwise: impl FnOnce() -> Self) -> Self {
        otherwise().mask_where(mask, then())
    }
    #[inline]
    fn fill(self, mask: Self::Mask, k: f64) -> Self {
        self.mask_fill(mask, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dual_derivatives_match_finite_differences() {
        let f = |x: Dual<2>, y: Dual<2>| Real::sin_ratio(x, y) * (x * y).exp().sqrt() / (y.cos() + 2.0);
        let (x0, y0) = (0.37, 4.3);
        let r = f(Dual::var(x0, 0), Dual::var(y0, 1));
        let h = 1e-6;
        let val = |x: f64, y: f64| f(Dual::cst(x), Dual::cst(y)).v;
        let dx = (val(x0 + h, y0) - val(x0 - h, y0)) / (2.0 * h);
        let dy = (val(x0, y0 + h) - val(x0, y0 - h)) / (2.0 * h);
        assert!((r.d[0] - dx).abs() < 1e-7 * dx.abs().max(1.0), "{} vs {dx}", r.d[0]);
        assert!((r.d[1] - dy).abs() < 1e-7 * dy.abs().max(1.0), "{} vs {dy}", r.d[1]);
    }

    #[test]
    fn dual_chebyshev_ratio_matches_the_sine_form() {
        for n in 1..=16 {
            for &x in &[0.001, 0.3, -1.2, 1.5] {
                let fast = <Dual<2> as Real>::sin_ratio(Dual::var(x, 0), Dual::var(n as f64, 1));
                // the general form, at a non-integer n infinitesimally close to n
                let (sx, cx) = f64::sin_cos(x);
                let (snx, cnx) = f64::sin_cos(x * n as f64);
                let v = snx / sx;
                let dx = (n as f64 * cnx - v * cx) / sx;
                let dn = x * cnx / sx;
                for (a, b) in [(fast.v, v), (fast.d[0], dx), (fast.d[1], dn)] {
                    assert!((a - b).abs() < 1e-11 * b.abs().max(1.0), "n={n} x={x}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn nearest_index_is_the_references_rounding() {
        for h in [-3.5, -3.4999, -0.5, -0.2, 0.0, 0.3, 0.5, 0.5000001, 2.5, 7.49, 1e6 + 0.5, -1e6 - 0.7] {
            assert_eq!(super::super::nearest_index(h), (h - 0.5f64).ceil(), "{h}");
        }
        assert!(super::super::small_whole(5.0) && !super::super::small_whole(5.5) && !super::super::small_whole(17.0) && !super::super::small_whole(0.0));
    }

    #[test]
    fn chebyshev_ratio_equals_sine_ratio() {
        for n in 1..=16 {
            for &x in &[0.001, 0.3, 1.2, 2.9] {
                let direct = (x * n as f64).sin() / x.sin();
                let fast = <f64 as Real>::sin_ratio(x, n as f64);
                assert!((fast - direct).abs() < 1e-12 * direct.abs().max(1.0), "n={n} x={x}");
            }
        }
    }
}
