//! Lattice transforms: the interference function of a crystal of Na x Nb x Nc cells for the
//! four spot shapes, as functions of the fractional Miller indices f = h - round(h).

use std::f64::consts::PI;

use super::constants::{GAUSS_WIDTH, ROUND_NORM, SINC3_SERIES_BELOW, SINCG_SERIES_BELOW, TOPHAT_RADIUS_SQ};
use super::real::{Dual, Real};
use crate::config::Shape;
use crate::physics::vec3::V3;

/// sin(n pi f) / sin(pi f), evaluated on the fractional index so single precision stays
/// accurate far from the origin. Squared, it equals the unreduced form for whole n; for real n
/// it is the smooth continuation. Limit n at f = 0 (series below [`SINCG_SERIES_BELOW`]).
#[inline(always)]
pub fn sincg<T: Real>(f: T, n: T) -> T {
    let x = f * PI;
    let small = x.clone().abs().less_than(SINCG_SERIES_BELOW);
    T::choose(
        small.clone(),
        || n.clone() * ((n.clone() * n.clone() - 1.0) * (x.clone() * x.clone()) * (-1.0 / 6.0) + 1.0),
        || T::sin_ratio(x.clone().fill(small.clone(), 1.0), n.clone()),
    )
}

/// Fourier transform of a sphere as a function of x^2 (smooth at 0): 3 (sin x - x cos x) / x^3,
/// with its Taylor series below [`SINC3_SERIES_BELOW`].
pub fn sinc3_of_sq<T: Real>(x2: T) -> T {
    let small = x2.less_than(SINC3_SERIES_BELOW);
    T::choose(
        small.clone(),
        || x2.clone() * x2.clone() * (1.0 / 280.0) - x2.clone() * 0.1 + 1.0,
        || {
            let x2s = x2.clone().fill(small.clone(), 1.0);
            let x = x2s.clone().sqrt();
            (x.clone().sin() - x.clone() * x.clone().cos()) * 3.0 / (x2s * x)
        },
    )
}

/// What the spot shape needs besides the indices and the crystal size.
#[derive(Debug, Clone, Copy)]
pub struct ShapeSpec {
    pub shape: Shape,
    pub fudge: f64,
    /// Reciprocal vectors (1/Angstrom) that turn fractional indices into a reciprocal-space distance
    /// for the gauss and tophat shapes (constants: these shapes give no cell gradient).
    pub stars: [V3; 3],
}

/// F_latt for fractional indices `f` and crystal size `n` (cells along a, b, c).
#[inline(always)]
pub fn lattice_factor<T: Real>(spec: &ShapeSpec, f: [T; 3], n: [T; 3]) -> T {
    let nnn = n[0].clone() * n[1].clone() * n[2].clone();
    match spec.shape {
        Shape::Square => {
            let [f0, f1, f2] = f;
            let [n0, n1, n2] = n;
            sincg(f0, n0) * sincg(f1, n1) * sincg(f2, n2)
        }
        Shape::Round => {
            let sq = |i: usize| f[i].clone() * f[i].clone() * n[i].clone() * n[i].clone();
            let hrad = sq(0) + sq(1) + sq(2);
            sinc3_of_sq(hrad * (PI * PI * spec.fudge)) * nnn * ROUND_NORM
        }
        Shape::Gauss | Shape::Tophat => {
            let s = &spec.stars;
            let comp = |j: usize| f[0].clone() * s[0][j] + f[1].clone() * s[1][j] + f[2].clone() * s[2][j];
            let (dx, dy, dz) = (comp(0), comp(1), comp(2));
            let rad = (dx.clone() * dx + dy.clone() * dy + dz.clone() * dz) * (nnn.clone() * nnn.clone());
            if spec.shape == Shape::Gauss {
                (rad * (-spec.fudge / GAUSS_WIDTH)).exp() * nnn
            } else {
                let inside = (rad * spec.fudge).less_than(TOPHAT_RADIUS_SQ);
                T::choose(inside, || nnn.clone(), || nnn.clone() * 0.0)
            }
        }
    }
}

/// [`lattice_factor`] with its partial derivatives: (value, d/df, d/dn).
#[inline]
pub fn lattice_factor_grad(spec: &ShapeSpec, f: V3, n: V3) -> (f64, V3, V3) {
    if spec.shape == Shape::Square {
        // the product of three one-axis factors: each with its own two derivatives
        let s: [Dual<2>; 3] = std::array::from_fn(|i| sincg(Dual::var(f[i], 0), Dual::var(n[i], 1)));
        let v = s[0].v * s[1].v * s[2].v;
        let others = [s[1].v * s[2].v, s[0].v * s[2].v, s[0].v * s[1].v];
        return (v, std::array::from_fn(|i| s[i].d[0] * others[i]), std::array::from_fn(|i| s[i].d[1] * others[i]));
    }
    let r: Dual<6> = lattice_factor(spec, std::array::from_fn(|i| Dual::var(f[i], i)), std::array::from_fn(|i| Dual::var(n[i], 3 + i)));
    (r.v, [r.d[0], r.d[1], r.d[2]], [r.d[3], r.d[4], r.d[5]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sincg_limit_and_direct_formula() {
        assert_eq!(sincg(0.0, 5.0), 5.0);
        let direct = (5.0 * PI * 0.1234f64).sin() / (PI * 0.1234f64).sin();
        assert!((sincg(0.1234, 5.0) - direct).abs() < 1e-12);
        let direct = (5.5 * PI * 0.3f64).sin() / (PI * 0.3f64).sin();
        assert!((sincg(0.3, 5.5) - direct).abs() < 1e-12);
    }

    #[test]
    fn sinc3_series_joins_closed_form() {
        let exact = |x2: f64| {
            let x = x2.sqrt();
            3.0 * (x.sin() - x * x.cos()) / (x * x * x)
        };
        assert_eq!(sinc3_of_sq(0.0), 1.0);
        assert!((sinc3_of_sq(0.999e-6) - exact(0.999e-6)).abs() < 1e-9);
        assert!((sinc3_of_sq(4.0) - exact(4.0)).abs() < 1e-14);
    }

    #[test]
    fn shape_gradients_match_finite_differences() {
        let stars = [[0.011, 0.001, 0.0], [0.0, 0.009, 0.002], [0.0005, 0.0, 0.013]];
        for shape in [Shape::Square, Shape::Round, Shape::Gauss] {
            let spec = ShapeSpec { shape, fudge: 1.0, stars };
            // small indices: spot shapes are only non-negligible near the lattice point
            for (f, n) in [([0.03, -0.07, 0.11], [5.0, 4.0, 6.5]), ([0.0, 0.2, -0.31], [3.0, 3.0, 3.0]), ([1e-6, 0.0, 0.0], [7.0, 2.0, 4.0])] {
                let (v, df, dn) = lattice_factor_grad(&spec, f, n);
                assert!((v - lattice_factor(&spec, f, n)).abs() <= 1e-12 * v.abs().max(1e-300));
                for i in 0..6 {
                    let h = 1e-6;
                    let bump = |s: f64| {
                        let (mut f2, mut n2) = (f, n);
                        if i < 3 {
                            f2[i] += s
                        } else {
                            n2[i - 3] += s
                        }
                        lattice_factor(&spec, f2, n2)
                    };
                    let fd = (bump(h) - bump(-h)) / (2.0 * h);
                    let an = if i < 3 { df[i] } else { dn[i - 3] };
                    assert!((an - fd).abs() <= 1e-6 * an.abs().max(fd.abs()) + 1e-8 * v.abs(), "{shape:?} {f:?} input {i}: {an} vs {fd}");
                }
            }
        }
    }
}
