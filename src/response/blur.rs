//! The continuation strategy's image-space blur: a separable Gaussian over the rendered pixels
//! of each panel, with its adjoint (the same operator: the kernel is symmetric).

/// A separable Gaussian blur of the rendered pixels on the detector grid (pixels outside the
/// rendered set count as zero). It is symmetric, so it is its own adjoint.
#[derive(Debug, Clone)]
pub struct Blur {
    /// Each panel's grid: where its pixel indices start, fast and slow pixel counts. Panels
    /// are blurred separately.
    grids: Vec<(usize, usize, usize)>,
    pixels: Vec<usize>,
    kernel: Vec<f64>,
}

impl Blur {
    pub fn new(fpixels: usize, spixels: usize, pixels: &[usize], sigma_px: f64) -> Blur {
        Blur::on_panels(vec![(0, fpixels, spixels)], pixels, sigma_px)
    }

    /// A blur over several panels' grids (start index, fast, slow pixel counts).
    pub fn on_panels(grids: Vec<(usize, usize, usize)>, pixels: &[usize], sigma_px: f64) -> Blur {
        let r = (3.0 * sigma_px).ceil() as i64;
        let raw: Vec<f64> = (-r..=r).map(|d| (-0.5 * (d as f64 / sigma_px).powi(2)).exp()).collect();
        let sum: f64 = raw.iter().sum();
        Blur { grids, pixels: pixels.to_vec(), kernel: raw.iter().map(|k| k / sum).collect() }
    }

    /// Blur values given at the rendered pixels; returns values at the same pixels.
    pub fn apply(&self, v: &[f64]) -> Vec<f64> {
        let total = self.grids.iter().map(|&(o, w, h)| o + w * h).max().unwrap_or(0);
        let r = (self.kernel.len() / 2) as i64;
        let mut img = vec![0.0; total];
        for (&i, &x) in self.pixels.iter().zip(v) {
            img[i] = x;
        }
        let kernel = &self.kernel;
        // one line of `n` values with stride `step` starting at `start`, convolved with the kernel
        // (only the taps that fall inside the line)
        let line = |src: &[f64], out: &mut [f64], start: usize, step: usize, n: usize| {
            for i in 0..n {
                let lo = (i as i64 - r).max(0) as usize;
                let hi = (i as i64 + r).min(n as i64 - 1) as usize;
                let k0 = (lo as i64 - (i as i64 - r)) as usize;
                let mut acc = 0.0;
                for (k, j) in (lo..=hi).enumerate() {
                    acc += kernel[k0 + k] * src[start + j * step];
                }
                out[start + i * step] = acc;
            }
        };
        let mut rows = vec![0.0; total];
        for &(o, w, h) in &self.grids {
            for s in 0..h {
                line(&img, &mut rows, o + s * w, 1, w);
            }
        }
        let mut img = vec![0.0; total];
        for &(o, w, h) in &self.grids {
            for f in 0..w {
                line(&rows, &mut img, o + f, w, h);
            }
        }
        self.pixels.iter().map(|&i| img[i]).collect()
    }

    /// The adjoint of [`Blur::apply`]: the kernel is symmetric and both directions see the
    /// same pixel set, so it is the blur itself.
    pub fn adjoint(&self, v: &[f64]) -> Vec<f64> {
        self.apply(v)
    }
}

impl super::stage::ImageStage for Blur {
    fn name(&self) -> &str {
        "blur"
    }
    fn forward(&self, values: &[f64]) -> Vec<f64> {
        self.apply(values)
    }
    fn adjoint(&self, values: &[f64]) -> Vec<f64> {
        Blur::adjoint(self, values)
    }
}

#[cfg(test)]
mod tests {
    use super::Blur;

    #[test]
    fn blur_is_symmetric_and_keeps_the_sum_inside() {
        let (w, h) = (9, 7);
        let pixels: Vec<usize> = (0..w * h).filter(|i| i % 5 != 0).collect();
        let b = Blur::new(w, h, &pixels, 1.3);
        let x: Vec<f64> = (0..pixels.len()).map(|i| ((i * 37) % 11) as f64 - 4.0).collect();
        let y: Vec<f64> = (0..pixels.len()).map(|i| ((i * 13) % 7) as f64 + 0.5).collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
        // <B x, y> = <x, B y>: the blur is its own adjoint, so gradients need no transpose
        assert!((dot(&b.apply(&x), &y) - dot(&x, &b.adjoint(&y))).abs() < 1e-9);
        // a point far from the edges keeps its weight
        let mut one = vec![0.0; pixels.len()];
        let centre = pixels.iter().position(|&i| i == 3 * w + 4).unwrap();
        one[centre] = 1.0;
        let spread: f64 = b.apply(&one).iter().sum();
        assert!(spread > 0.6 && spread <= 1.0 + 1e-12, "{spread}");
    }
}
