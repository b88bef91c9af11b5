//! Pure tensor functions of the diffraction physics. Every function is written with masks
//! (never host-side branches on tensor values) so that gradients flow through all of them,
//! including at their removable singularities.

use burn::tensor::Tensor;
use std::f64::consts::PI;

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
    pub fn map<const D2: usize>(&self, f: impl Fn(Tensor<D>) -> Tensor<D2>) -> Vec3T<D2> {
        Vec3T { x: f(self.x.clone()), y: f(self.y.clone()), z: f(self.z.clone()) }
    }
}

/// Fractional part of a Miller index relative to the nearest integer, `h - ceil(h - 1/2)`, in
/// (-1/2, 1/2]. Rounding as the reference does; the gradient of the result is that of `h`.
pub fn frac_index<const D: usize>(h: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let h0 = (h.clone() - 0.5).ceil().detach();
    (h - h0.clone(), h0)
}

/// Lattice transform of a parallelepiped crystal with `n` cells along one axis,
/// sin(n pi h) / sin(pi h), evaluated on the fractional index `f = h - round(h)` so single
/// precision stays accurate far from the origin. Squared, it equals the unreduced form for
/// integer `n`; for real `n` it is the natural smooth continuation. Limit n at f = 0.
pub fn sincg<const D: usize>(f: Tensor<D>, n: &Tensor<D>) -> Tensor<D> {
    let x = f * PI;
    let small = x.clone().abs().lower_elem(1e-4);
    let den = x.clone().sin().mask_fill(small.clone(), 1.0);
    let ratio = (x.clone() * n.clone()).sin() / den;
    // series about 0: n (1 - (n^2 - 1) x^2 / 6)
    let n2 = n.clone() * n.clone();
    let series = n.clone() * (1.0 - (n2 - 1.0) * x.clone() * x * (1.0 / 6.0));
    ratio.mask_where(small, series)
}

/// Fourier transform of a sphere as a function of x^2 (smooth at 0):
/// 3 (sin x - x cos x) / x^3, with its Taylor series near 0.
pub fn sinc3_of_sq<const D: usize>(x2: Tensor<D>) -> Tensor<D> {
    let small = x2.clone().lower_elem(1e-6);
    let x2s = x2.clone().mask_fill(small.clone(), 1.0);
    let x = x2s.clone().sqrt();
    let exact = (x.clone().sin() - x.clone() * x.clone().cos()) * 3.0 / (x2s * x);
    let series = 1.0 - x2.clone() * 0.1 + x2.clone() * x2 * (1.0 / 280.0);
    exact.mask_where(small, series)
}

/// Kahn polarization factor for incident unit vector `inc` (with its E and B unit vectors
/// `e_in`, `b_in`) and diffracted unit vector `d`:
/// 1/2 (1 + cos^2 2theta - K cos(2 psi) sin^2 2theta), with cos 2psi written from the
/// projections so that 2theta = 0 (psi undefined) is a removable point.
pub fn polarization<const D: usize>(
    kahn: &Tensor<D>,
    inc: &Vec3T<D>,
    e_in: &Vec3T<D>,
    b_in: &Vec3T<D>,
    d: &Vec3T<D>,
) -> Tensor<D> {
    let c2t = inc.dot(d);
    let c2t_sq = c2t.clone() * c2t;
    let s2t_sq = c2t_sq.clone().neg() + 1.0;
    let base = c2t_sq + 1.0;
    let e = d.dot(e_in);
    let b = d.dot(b_in);
    let r2 = e.clone() * e.clone() + b.clone() * b.clone();
    let tiny = r2.clone().lower_elem(1e-30);
    let r2s = r2.mask_fill(tiny.clone(), 1.0);
    let cos2psi = ((e.clone() * e - b.clone() * b) / r2s).mask_fill(tiny, 1.0);
    (base - cos2psi * s2t_sq * kahn.clone()) * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn t(v: Vec<f64>) -> Tensor<1> {
        let n = v.len();
        Tensor::from_data(TensorData::new(v, [n]), &crate::device::cpu())
    }
    fn v(x: Tensor<1>) -> Vec<f64> {
        crate::device::to_vec(x)
    }

    #[test]
    fn sincg_matches_direct_formula_and_limit() {
        let n = t(vec![5.0; 4]);
        let h = vec![0.0, 0.1234, 3.0, 2.3];
        let (f, _) = frac_index(t(h.clone()));
        let got = v(sincg(f, &n));
        assert_eq!(got[0], 5.0);
        let direct = (5.0 * PI * 0.1234f64).sin() / (PI * 0.1234f64).sin();
        assert!((got[1] - direct).abs() < 1e-12);
        assert_eq!(got[2].abs(), 5.0);
        let direct = (5.0 * PI * 2.3f64).sin() / (PI * 2.3f64).sin();
        assert!((got[3].abs() - direct.abs()).abs() < 1e-12);
    }

    #[test]
    fn sinc3_series_joins_exact_form() {
        let x2 = vec![0.0, 0.999e-6, 1.001e-6, 4.0];
        let got = v(sinc3_of_sq(t(x2.clone())));
        assert_eq!(got[0], 1.0);
        let exact = |x2: f64| {
            let x = x2.sqrt();
            3.0 * (x.sin() - x * x.cos()) / (x * x * x)
        };
        assert!((got[1] - exact(0.999e-6)).abs() < 1e-9);
        assert!((got[3] - exact(4.0)).abs() < 1e-14);
    }
}
