//! The PSF as a linear image-space operator in f64 with a fixed radius, with its adjoint, for
//! gradients through the detector blur (the C-exact stage in `psf` chooses radii per pixel
//! from the intensities and skips non-positive pixels, which is not linear).
//!
//! A = K + t/N · 1 1ᵀ: K spreads every pixel over the kernel disk (light leaving the image is
//! lost) and t, the light beyond the radius, is spread evenly over the N pixels, as in `psf`.

use super::psf::{Kernel, Psf};

/// The linear PSF operator on a `width` x `height` image.
#[derive(Clone, Debug)]
pub struct LinearPsf {
    kernel: Kernel,
    /// Fraction of a pixel's light beyond the radius.
    tail: f64,
    width: usize,
    height: usize,
}

impl LinearPsf {
    /// The operator of `psf` with kernel radius `radius` (>= 1 pixel).
    pub fn new(psf: &Psf, radius: usize, width: usize, height: usize) -> Self {
        let radius = radius.max(1);
        LinearPsf { kernel: psf.kernel(radius), tail: psf.light_beyond(1.0, radius), width, height }
    }

    fn pixels(&self) -> usize {
        self.width * self.height
    }

    /// y = A x.
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        assert_eq!(x.len(), self.pixels(), "image size");
        let mut y = vec![0.0; x.len()];
        self.each_pair(|i, j, k| y[j] += x[i] * k);
        let even = self.tail * x.iter().sum::<f64>() / x.len().max(1) as f64;
        y.iter_mut().for_each(|v| *v += even);
        y
    }

    /// x = Aᵀ y.
    pub fn adjoint(&self, y: &[f64]) -> Vec<f64> {
        assert_eq!(y.len(), self.pixels(), "image size");
        let mut x = vec![0.0; y.len()];
        self.each_pair(|i, j, k| x[i] += y[j] * k);
        let even = self.tail * y.iter().sum::<f64>() / y.len().max(1) as f64;
        x.iter_mut().for_each(|v| *v += even);
        x
    }

    /// Calls `f(source, target, weight)` for every source pixel and every in-image target of
    /// its kernel disk.
    fn each_pair(&self, mut f: impl FnMut(usize, usize, f64)) {
        let r = self.kernel.radius as i64;
        let (w, h) = (self.width as i64, self.height as i64);
        for y0 in 0..h {
            for x0 in 0..w {
                let i = (y0 * w + x0) as usize;
                for dy in (-r).max(-y0)..=r.min(h - 1 - y0) {
                    for dx in (-r).max(-x0)..=r.min(w - 1 - x0) {
                        let k = self.kernel.at(dx, dy);
                        if k != 0.0 {
                            f(i, ((y0 + dy) * w + x0 + dx) as usize, k);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::psf::PsfKind;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, mut s: u64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    #[test]
    fn adjoint_identity_holds() {
        for (kind, fwhm, r, w, h) in [(PsfKind::Gaussian, 2.5, 5, 23, 17), (PsfKind::Fiber, 1.0, 7, 16, 30)] {
            let a = LinearPsf::new(&Psf { kind, fwhm_pixels: fwhm, radius: Some(r) }, r, w, h);
            let x = values(w * h, 0x9e3779b97f4a7c15);
            let y = values(w * h, 0x1234567887654321);
            let ax = a.forward(&x);
            let aty = a.adjoint(&y);
            let lhs: f64 = y.iter().zip(&ax).map(|(p, q)| p * q).sum();
            let rhs: f64 = aty.iter().zip(&x).map(|(p, q)| p * q).sum();
            let scale: f64 = y.iter().map(|v| v.abs()).sum::<f64>() * x.iter().map(|v| v.abs()).fold(0.0, f64::max);
            assert!((lhs - rhs).abs() <= 1e-12 * scale, "{kind:?}: {lhs} vs {rhs}");
        }
    }

    #[test]
    fn forward_matches_the_exact_stage_for_a_fixed_radius() {
        let (w, h) = (20, 20);
        let mut img = vec![0.0f32; w * h];
        img[10 * w + 9] = 300.0;
        img[4 * w + 5] = 20.0;
        let psf = Psf { kind: PsfKind::Gaussian, fwhm_pixels: 1.8, radius: Some(4) };
        let exact = psf.apply(&img, w, h).image;
        let lin = LinearPsf::new(&psf, 4, w, h).forward(&img.iter().map(|&v| v as f64).collect::<Vec<_>>());
        for (e, l) in exact.iter().zip(&lin) {
            assert!((*e as f64 - l).abs() <= 1e-4 * (1.0 + l.abs()), "{e} vs {l}");
        }
    }
}
