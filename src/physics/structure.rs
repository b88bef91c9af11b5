//! Structure-factor lookup on the HKL grid: nearest neighbour and the reference's tricubic
//! interpolation.

use super::real::{Dual, Real};
use crate::io::hkl::HklGrid;
use crate::physics::vec3::V3;

/// Position of (h, k, l) in the padded layout of [`HklGrid::values`] (a float, so that tensors
/// can compute it too).
pub fn grid_position<T: Real>(g: &HklGrid, h: T, k: T, l: T) -> T {
    let (k1, l1) = ((g.k_max - g.k_min + 2) as f64, (g.l_max - g.l_min + 2) as f64);
    ((h - g.h_min as f64) * k1 + (k - g.k_min as f64)) * l1 + (l - g.l_min as f64)
}

/// Whether a whole index lies outside the grid along one axis (min..=max).
pub fn outside_range<T: Real>(x: &T, min: i32, max: i32) -> T::Mask {
    T::either(x.less_than(min as f64), x.greater_than(max as f64))
}

/// The reference's test for an incomplete 4 x 4 x 4 neighbourhood along one axis of `range`
/// values starting at `min`.
pub fn neighbourhood_incomplete<T: Real>(x: &T, min: i32, max: i32) -> T::Mask {
    let range = (max - min + 1) as f64;
    T::either((x.clone() - min as f64 + 3.0).greater_than(range), (x.clone() - 2.0).less_than(min as f64))
}

/// Lagrange weights of the four grid points floor(x) - 1 .. floor(x) + 2 for offset
/// u = x - floor(x).
pub fn tricubic_weights<T: Real>(u: T) -> [T; 4] {
    let um1 = u.clone() - 1.0;
    let um2 = u.clone() - 2.0;
    let up1 = u.clone() + 1.0;
    [
        u.clone() * um1.clone() * um2.clone() * (-1.0 / 6.0),
        up1.clone() * um1.clone() * um2.clone() * 0.5,
        up1.clone() * u.clone() * um2 * (-0.5),
        up1 * u * um1 * (1.0 / 6.0),
    ]
}

/// Host lookup of structure factors (the fused kernel's), with derivatives.
pub struct HostLookup<'a> {
    pub grid: &'a HklGrid,
    pub values: &'a [f64],
    pub default_f: f64,
    pub interpolate: bool,
}

impl HostLookup<'_> {
    #[inline]
    fn nearest(&self, h0: V3) -> (f64, Option<usize>) {
        let g = self.grid;
        if outside_range(&h0[0], g.h_min, g.h_max) || outside_range(&h0[1], g.k_min, g.k_max) || outside_range(&h0[2], g.l_min, g.l_max) {
            (self.default_f, None)
        } else {
            let i = grid_position(g, h0[0], h0[1], h0[2]) as usize;
            (self.values[i], Some(i))
        }
    }

    #[inline]
    fn incomplete(&self, hkl: V3) -> bool {
        let g = self.grid;
        neighbourhood_incomplete(&hkl[0], g.h_min, g.h_max) || neighbourhood_incomplete(&hkl[1], g.k_min, g.k_max) || neighbourhood_incomplete(&hkl[2], g.l_min, g.l_max)
    }

    /// F at fractional indices `hkl` whose nearest whole indices are `h0`.
    #[inline]
    pub fn value(&self, hkl: V3, h0: V3) -> f64 {
        if !self.interpolate || self.incomplete(hkl) {
            return self.nearest(h0).0;
        }
        let fl: V3 = hkl.map(f64::floor);
        let w: [[f64; 4]; 3] = std::array::from_fn(|i| tricubic_weights(hkl[i] - fl[i]));
        let base = grid_position(self.grid, fl[0] - 1.0, fl[1] - 1.0, fl[2] - 1.0) as usize;
        let (k1, l1) = self.strides();
        let mut acc = 0.0;
        for i in 0..4 {
            for j in 0..4 {
                let wij = w[0][i] * w[1][j];
                let row = base + i * k1 * l1 + j * l1;
                for k in 0..4 {
                    acc += self.values[row + k] * wij * w[2][k];
                }
            }
        }
        acc
    }

    #[inline]
    fn strides(&self) -> (usize, usize) {
        let g = self.grid;
        ((g.k_max - g.k_min + 2) as usize, (g.l_max - g.l_min + 2) as usize)
    }

    /// F and dF/dhkl.
    #[inline]
    pub fn value_grad(&self, hkl: V3, h0: V3) -> (f64, V3) {
        if !self.interpolate || self.incomplete(hkl) {
            return (self.nearest(h0).0, [0.0; 3]);
        }
        let fl: V3 = hkl.map(f64::floor);
        let w: [[Dual<1>; 4]; 3] = std::array::from_fn(|i| tricubic_weights(Dual::var(hkl[i] - fl[i], 0)));
        let base = grid_position(self.grid, fl[0] - 1.0, fl[1] - 1.0, fl[2] - 1.0) as usize;
        let (k1, l1) = self.strides();
        let (mut acc, mut grad) = (0.0, [0.0; 3]);
        for i in 0..4 {
            for j in 0..4 {
                let row = base + i * k1 * l1 + j * l1;
                for k in 0..4 {
                    let v = self.values[row + k];
                    let (a, b, c) = (w[0][i], w[1][j], w[2][k]);
                    acc += v * a.v * b.v * c.v;
                    grad[0] += v * a.d[0] * b.v * c.v;
                    grad[1] += v * a.v * b.d[0] * c.v;
                    grad[2] += v * a.v * b.v * c.d[0];
                }
            }
        }
        (acc, grad)
    }

    #[inline]
    /// Calls `visit(index, dF/dvalue)` for every grid value F depends on at `hkl`.
    pub fn for_each_weight(&self, hkl: V3, h0: V3, mut visit: impl FnMut(usize, f64)) {
        if !self.interpolate || self.incomplete(hkl) {
            if let (_, Some(i)) = self.nearest(h0) {
                visit(i, 1.0);
            }
            return;
        }
        let fl: V3 = hkl.map(f64::floor);
        let w: [[f64; 4]; 3] = std::array::from_fn(|i| tricubic_weights(hkl[i] - fl[i]));
        let base = grid_position(self.grid, fl[0] - 1.0, fl[1] - 1.0, fl[2] - 1.0) as usize;
        let (k1, l1) = self.strides();
        for i in 0..4 {
            for j in 0..4 {
                let row = base + i * k1 * l1 + j * l1;
                for k in 0..4 {
                    visit(row + k, w[0][i] * w[1][j] * w[2][k]);
                }
            }
        }
    }
}
