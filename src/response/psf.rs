//! Detector point-spread function (noisify's `-psf`): Gaussian and fiber kernels integrated over
//! whole pixels, the automatic per-pixel radius, and the spreading of each pixel's light in the
//! reference's arithmetic (single-precision accumulation in a fixed order), with the light that
//! falls beyond the radius spread evenly over the image.
//!
//! Light that lands outside the image is lost (the reference also wraps light one column past
//! the right edge into the next row; that is not reproduced, see specs/noisify.md).

use std::f64::consts::{LN_2, PI};

/// ln 16, the Gaussian's exponent per squared FWHM (4 ln 2 is exact in binary).
const LN16: f64 = 4.0 * LN_2;
/// The fiber function's width g per unit FWHM: g = FWHM / (2 sqrt(2^(2/3) - 1)).
pub const FIBER_G_PER_FWHM: f64 = 0.652383013252053;
/// The automatic radius leaves beyond it less light than a tenth of the pixel's photon noise.
const NOISE_FRACTION_LOST: f64 = 10.0;

extern "C" {
    // The C library's error function: the reference's kernel values come from it, and the
    // noise images depend on every bit of them.
    fn erf(x: f64) -> f64;
}

fn c_erf(x: f64) -> f64 {
    // SAFETY: erf is a pure function of a double in the C maths library that std links.
    unsafe { erf(x) }
}

/// Shape of the point-spread function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsfKind {
    /// Normalised 2-D Gaussian.
    Gaussian,
    /// Fiber-optic taper response g / 2pi (g² + r²)^-3/2, whose tails fall as 1/r³.
    Fiber,
}

/// A point-spread function in pixel units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Psf {
    pub kind: PsfKind,
    /// Full width at half maximum, in pixels (> 0).
    pub fwhm_pixels: f64,
    /// Kernel radius in pixels; `None` chooses it per pixel from that pixel's intensity.
    pub radius: Option<usize>,
}

/// What a PSF application did, beside the blurred image.
#[derive(Clone, Debug, PartialEq)]
pub struct PsfOutcome {
    pub image: Vec<f32>,
    /// Largest input value (photons).
    pub max_input: f64,
    /// Largest radius any pixel used (pixels).
    pub kernel_radius: usize,
    /// Photons that fell beyond the radius, added back evenly over the whole image.
    pub lost_photons: f64,
}

impl Psf {
    /// Fiber width parameter g, in pixels.
    pub fn fiber_g(&self) -> f64 {
        self.fwhm_pixels * FIBER_G_PER_FWHM
    }

    /// The fraction of a point's light that falls on the pixel offset by (dx, dy) from it
    /// (the kernel integrated over that pixel).
    pub fn pixel_weight(&self, dx: i64, dy: i64) -> f64 {
        let (x, y) = (dx as f64, dy as f64);
        match self.kind {
            PsfKind::Gaussian => {
                let f = self.fwhm_pixels;
                corner_sum(x / f, y / f, 1.0 / f, gauss_cdf2)
            }
            PsfKind::Fiber => {
                let g = self.fiber_g();
                corner_sum(x, y, 1.0, |x, y| fiber_cdf2(x, y, g))
            }
        }
    }

    /// The radius the reference picks for a pixel holding `intensity` photons: the light
    /// beyond it is about a tenth of the pixel's photon noise, sqrt(I)/10. At least 1.
    /// (For the Gaussian below 0.01 photons the reference's formula takes the square root of
    /// a negative number and the pixel's light vanishes; here such pixels get radius 1.)
    pub fn auto_radius(&self, intensity: f32, max_radius: usize) -> usize {
        let i = intensity as f64;
        let lost = i.sqrt() / NOISE_FRACTION_LOST;
        let r = match self.kind {
            PsfKind::Gaussian => {
                let a = -(lost / i).ln() / LN16;
                let a = if a > 0.0 { a } else { 0.0 };
                1.0 + (a.sqrt() * self.fwhm_pixels).ceil()
            }
            PsfKind::Fiber => 1.0 + (self.fiber_g() * (i / lost)).ceil(),
        };
        // the reference converts to int and then caps; capping first avoids the overflow
        let r = if r.is_nan() { 1.0 } else { r.min(max_radius as f64) };
        (r as usize).clamp(1, max_radius.max(1))
    }

    /// Photons of a point of `intensity` that fall beyond `radius` pixels (the reference's
    /// closed forms: I exp(-ln16 R²/fwhm²) for the Gaussian, I g / sqrt(g² + R²) for the fiber).
    pub fn light_beyond(&self, intensity: f32, radius: usize) -> f64 {
        let i = intensity as f64;
        match self.kind {
            PsfKind::Gaussian => {
                let mut rsq = radius as f64;
                rsq /= self.fwhm_pixels;
                rsq *= rsq;
                i * (-LN16 * rsq).exp()
            }
            PsfKind::Fiber => {
                let g = self.fiber_g();
                let r2 = (radius as i64 * radius as i64) as f64;
                i * g / (g * g + r2).sqrt()
            }
        }
    }

    /// The kernel of radius `radius`: (2R+1)² weights, row dy, column dx, zero outside the
    /// disk dx² + dy² <= R².
    pub fn kernel(&self, radius: usize) -> Kernel {
        let r = radius as i64;
        let size = 2 * radius + 1;
        let mut weights = vec![0.0; size * size];
        for dy in -r..=r {
            for dx in -r..=r {
                if dx * dx + dy * dy > r * r {
                    continue;
                }
                weights[((dy + r) as usize) * size + (dx + r) as usize] = self.pixel_weight(dx, dy);
            }
        }
        Kernel { radius, weights }
    }

    /// Blurs `image` (`width` x `height`, fast index fastest) as the reference does: every
    /// pixel with a positive value spreads value x kernel over its disk (single-precision sums,
    /// pixels in order, dx outer and dy inner), the light beyond each pixel's radius is summed
    /// and added back evenly to every pixel at the end.
    pub fn apply(&self, image: &[f32], width: usize, height: usize) -> PsfOutcome {
        let n = image.len();
        debug_assert_eq!(n, width * height);
        let max_input = image.iter().fold(0.0f64, |m, &v| if m < v as f64 { v as f64 } else { m });
        let max_radius = width.max(height);
        let mut out = vec![0.0f32; n];
        if n == 0 || !(self.fwhm_pixels > 0.0) || (self.radius.is_none() && max_input <= 0.0) {
            return PsfOutcome { image: out, max_input, kernel_radius: 0, lost_photons: 0.0 };
        }
        let radius_of = |v: f32| match self.radius {
            Some(r) => r.clamp(1, max_radius.max(1)),
            None => self.auto_radius(v, max_radius),
        };
        let kernel_radius = image.iter().filter(|&&v| v > 0.0).map(|&v| radius_of(v)).max().unwrap_or(1);
        let kernel = self.kernel(kernel_radius);
        let kr = kernel_radius as i64;
        let size = kernel.size() as i64;
        let (w, h) = (width as i64, height as i64);
        let mut lost_total = 0.0f64;
        for (i, &v) in image.iter().enumerate() {
            if !(v > 0.0) {
                continue;
            }
            let r = radius_of(v);
            lost_total += self.light_beyond(v, r);
            let r = r as i64;
            let (x0, y0) = ((i % width) as i64, (i / width) as i64);
            let value = v as f64;
            // only in-image targets get light; the ranges skip the rest without changing the
            // order of the sums
            for dx in (-r).max(-x0)..=r.min(w - 1 - x0) {
                for dy in (-r).max(-y0)..=r.min(h - 1 - y0) {
                    let weight = kernel.weights[((kr + dy) * size + kr + dx) as usize];
                    if weight == 0.0 || dx * dx + dy * dy > r * r {
                        continue;
                    }
                    let j = ((y0 + dy) * w + x0 + dx) as usize;
                    out[j] = (out[j] as f64 + value * weight) as f32;
                }
            }
        }
        let even = lost_total / n as f64;
        for o in out.iter_mut() {
            *o = (*o as f64 + even) as f32;
        }
        PsfOutcome { image: out, max_input, kernel_radius, lost_photons: lost_total }
    }
}

/// Kernel weights on a (2R+1)² grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub radius: usize,
    /// Row-major, row = dy + R, column = dx + R.
    pub weights: Vec<f64>,
}

impl Kernel {
    /// Side of the grid, 2R + 1.
    pub fn size(&self) -> usize {
        2 * self.radius + 1
    }

    /// Weight at offset (dx, dy), zero outside the grid.
    pub fn at(&self, dx: i64, dy: i64) -> f64 {
        let r = self.radius as i64;
        if dx.abs() > r || dy.abs() > r {
            return 0.0;
        }
        self.weights[((dy + r) * self.size() as i64 + dx + r) as usize]
    }

    /// Sum of all weights.
    pub fn sum(&self) -> f64 {
        self.weights.iter().sum()
    }
}

/// Integral of a 2-D distribution over the square of side `pix` centred on (x, y), from its
/// cumulative function F: F(++) - F(+-) - F(-+) + F(--), in that order.
fn corner_sum(x: f64, y: f64, pix: f64, cdf: impl Fn(f64, f64) -> f64) -> f64 {
    let h = pix / 2.0;
    cdf(x + h, y + h) - cdf(x + h, y - h) - cdf(x - h, y + h) + cdf(x - h, y - h)
}

/// The unit-FWHM normalised Gaussian integrated from the origin to (x, y).
fn gauss_cdf2(x: f64, y: f64) -> f64 {
    let sqrt_ln2 = LN_2.sqrt();
    let sqrt_ln16 = LN16.sqrt();
    // sqrt(ln16 / ln2) is exactly 2
    0.125 * (c_erf(2.0 * x * sqrt_ln2) * c_erf(y * sqrt_ln16) * 2.0)
}

/// The fiber function g/2pi (g² + r²)^-3/2 integrated from the origin to (x, y).
fn fiber_cdf2(x: f64, y: f64, g: f64) -> f64 {
    ((x * y) / (g * (g * g + x * x + y * y).sqrt())).atan() / 2.0 / PI
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psf(kind: PsfKind, fwhm: f64, radius: Option<usize>) -> Psf {
        Psf { kind, fwhm_pixels: fwhm, radius }
    }

    #[test]
    fn kernels_hold_all_light_within_the_radius_plus_the_tail() {
        for (kind, fwhm, r, tol) in [
            (PsfKind::Gaussian, 1.5, 6, 1e-9),
            (PsfKind::Gaussian, 3.0, 12, 1e-9),
            // the disk of whole pixels differs from the circle of the closed-form tail: the
            // fiber's slow 1/r³ tail makes that visible at the 1e-3 level
            (PsfKind::Fiber, 1.0, 20, 3e-3),
            (PsfKind::Fiber, 0.6, 48, 2e-3),
        ] {
            let p = psf(kind, fwhm, Some(r));
            let k = p.kernel(r);
            let total = k.sum() + p.light_beyond(1.0, r);
            assert!((total - 1.0).abs() < tol, "{kind:?} fwhm {fwhm} R {r}: {total}");
        }
    }

    #[test]
    fn gaussian_kernel_is_symmetric_and_peaks_at_the_centre() {
        let p = psf(PsfKind::Gaussian, 2.0, Some(4));
        let k = p.kernel(4);
        assert_eq!(k.at(1, 2), k.at(-1, -2));
        assert_eq!(k.at(1, 2), k.at(2, 1));
        assert!(k.at(0, 0) > k.at(1, 0) && k.at(1, 0) > k.at(1, 1));
        assert_eq!(k.at(4, 4), 0.0, "outside the disk");
    }

    #[test]
    fn auto_radius_of_faint_gaussian_pixels_keeps_their_light() {
        let p = psf(PsfKind::Gaussian, 2.0, None);
        assert_eq!(p.auto_radius(0.005, 64), 1);
        let img = vec![0.005f32; 16 * 16];
        let out = p.apply(&img, 16, 16);
        let s_in: f64 = img.iter().map(|&v| v as f64).sum();
        let s_out: f64 = out.image.iter().map(|&v| v as f64).sum();
        // the light beyond the image edge is lost; the interior keeps most of it
        assert!(s_out > 0.5 * s_in, "{s_out} of {s_in}");
        assert!(out.image[8 * 16 + 8] > 0.004);
    }

    #[test]
    fn no_light_wraps_past_the_right_edge() {
        // a bright pixel in the last column: the reference puts light into column 0 of the
        // next row; here that column gets only the evenly spread tail
        let (w, h) = (16, 16);
        let mut img = vec![0.0f32; w * h];
        img[5 * w + (w - 1)] = 1e4;
        let p = psf(PsfKind::Gaussian, 2.0, Some(4));
        let out = p.apply(&img, w, h);
        let even = (out.lost_photons / (w * h) as f64) as f32;
        assert!((out.image[6 * w] - even).abs() <= even * 1e-5 + 1e-6, "{} vs {even}", out.image[6 * w]);
        assert!(out.image[5 * w + w - 2] > 1e3);
    }

    #[test]
    fn automatic_radius_grows_with_intensity_and_is_capped() {
        let g = psf(PsfKind::Gaussian, 1.5, None);
        assert!(g.auto_radius(10.0, 100) <= g.auto_radius(1e4, 100));
        let f = psf(PsfKind::Fiber, 0.6, None);
        assert_eq!(f.auto_radius(143.135, 128), 48);
        assert_eq!(f.auto_radius(1e12, 128), 128);
    }

    #[test]
    fn blur_conserves_light_away_from_the_edges() {
        let (w, h) = (40, 40);
        let mut img = vec![0.0f32; w * h];
        img[20 * w + 20] = 500.0;
        img[18 * w + 22] = 80.0;
        for kind in [PsfKind::Gaussian, PsfKind::Fiber] {
            let out = psf(kind, 1.2, None).apply(&img, w, h);
            let s: f64 = out.image.iter().map(|&v| v as f64).sum();
            assert!((s - 580.0).abs() < 0.05 * 580.0, "{kind:?}: {s}");
        }
    }
}
