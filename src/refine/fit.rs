//! Goodness of fit of a refined model to a photon-count image: the Poisson deviance and
//! Pearson's chi-squared over the rendered pixels, each against its expectation under Poisson
//! counting noise at the model's intensities, and the verdict and warnings they give.

use super::POISSON_FLOOR;

/// How many standard deviations a statistic may lie from its expectation before the fit is
/// called poor (above) or the target not photon counts (below). For a right model with
/// counting noise each statistic is close to normal over many pixels, so a correct fit crosses
/// this about once in a million.
pub const Z_LIMIT: f64 = 5.0;

/// Above this mean (photons) the moments of a pixel's deviance come from their expansion in
/// 1/m (errors below 1e-6 in the mean and 1e-5 in the variance there) instead of a sum over counts.
const EXPANSION_ABOVE: f64 = 100.0;

/// What the statistics say about a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Both statistics within [`Z_LIMIT`] standard deviations of their expectation (or below it
    /// by less than that).
    Consistent,
    /// The residuals are larger than counting noise allows: the model does not describe the
    /// image, and error bars computed as if it did are too small.
    Poor,
    /// The residuals are far smaller than counting noise: the target is not photon counts (a
    /// noise-free or rescaled image).
    BelowNoise,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Consistent => "consistent",
            Verdict::Poor => "poor",
            Verdict::BelowNoise => "below_noise",
        }
    }
}

/// The deviance and Pearson statistics of a fit, summed over its pixels, with their expectations
/// and standard deviations under Poisson noise at the model's values.
#[derive(Debug, Clone, PartialEq)]
pub struct GoodnessOfFit {
    pub pixels: usize,
    /// Fitted parameters: each lowers both expectations by about one.
    pub parameters: usize,
    pub deviance: f64,
    pub expected_deviance: f64,
    pub deviance_sd: f64,
    pub pearson: f64,
    pub expected_pearson: f64,
    pub pearson_sd: f64,
}

/// One pixel's Poisson deviance `2 [t ln(t/m) - (t - m)]` (`t ln t` taken as 0 for `t <= 0`).
pub fn deviance_term(t: f64, m: f64) -> f64 {
    let tl = if t > 0.0 { t * (t / m).ln() } else { 0.0 };
    2.0 * (tl - (t - m))
}

/// Mean and variance of one pixel's deviance when its count is Poisson with mean `m` > 0:
/// exact sums over the counts below [`EXPANSION_ABOVE`], above it `1 + 1/(6m) + 1/(6m^2)` and
/// `2 + 2/(3m) + 4/(3m^2)`. The mean tends to 0 as `m` does (an empty pixel fits an empty model exactly)
/// and peaks near 1.15 around `m` = 1.
pub fn deviance_moments(m: f64) -> (f64, f64) {
    if m >= EXPANSION_ABOVE {
        return (1.0 + 1.0 / (6.0 * m) + 1.0 / (6.0 * m * m), 2.0 + 2.0 / (3.0 * m) + 4.0 / (3.0 * m * m));
    }
    let last = (m + 12.0 * m.sqrt() + 20.0).ceil() as usize;
    let (mut p, mut s1, mut s2) = ((-m).exp(), 0.0, 0.0);
    for k in 0..=last {
        let d = deviance_term(k as f64, m);
        s1 += p * d;
        s2 += p * d * d;
        p *= m / (k + 1) as f64;
    }
    (s1, (s2 - s1 * s1).max(0.0))
}

impl GoodnessOfFit {
    /// The statistics of `model` (photons, one value per pixel) against `target` with
    /// `parameters` fitted parameters; the model is floored as in the Poisson loss. None for no
    /// pixels.
    pub fn new(model: &[f64], target: &[f64], parameters: usize) -> Option<GoodnessOfFit> {
        if model.is_empty() {
            return None;
        }
        let (mut d, mut ed, mut vd, mut x, mut vx) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&m, &t) in model.iter().zip(target) {
            let m = m.max(0.0) + POISSON_FLOOR;
            d += deviance_term(t, m);
            let (e, v) = deviance_moments(m);
            ed += e;
            vd += v;
            x += (t - m) * (t - m) / m;
            // E[(k - m)^2 / m] = 1, and its variance (m + 3m^2 - m^2) / m^2
            vx += 2.0 + 1.0 / m;
        }
        let n = model.len();
        let p = parameters as f64;
        Some(GoodnessOfFit {
            pixels: n,
            parameters,
            deviance: d,
            expected_deviance: (ed - p).max(0.0),
            deviance_sd: vd.sqrt(),
            pearson: x,
            expected_pearson: (n as f64 - p).max(0.0),
            pearson_sd: vx.sqrt(),
        })
    }

    /// Standard deviations of the deviance above its expectation.
    pub fn deviance_z(&self) -> f64 {
        (self.deviance - self.expected_deviance) / self.deviance_sd.max(1e-300)
    }

    /// Standard deviations of Pearson's chi-squared above its expectation.
    pub fn pearson_z(&self) -> f64 {
        (self.pearson - self.expected_pearson) / self.pearson_sd.max(1e-300)
    }

    fn per_pixel(&self, total: f64) -> f64 {
        total / self.pixels as f64
    }

    pub fn verdict(&self) -> Verdict {
        if self.deviance_z() > Z_LIMIT || self.pearson_z() > Z_LIMIT {
            Verdict::Poor
        } else if self.deviance_z() < -Z_LIMIT {
            Verdict::BelowNoise
        } else {
            Verdict::Consistent
        }
    }

    /// One line per statistic: value and expectation per pixel, and the distance in standard
    /// deviations.
    pub fn describe(&self) -> String {
        format!(
            "deviance {:.4} per pixel (expected {:.4}, {:+.1} sd), Pearson chi2 {:.4} per pixel (expected {:.4}, {:+.1} sd) over {} pixels",
            self.per_pixel(self.deviance),
            self.per_pixel(self.expected_deviance),
            self.deviance_z(),
            self.per_pixel(self.pearson),
            self.per_pixel(self.expected_pearson),
            self.pearson_z(),
            self.pixels
        )
    }

    /// The warning the verdict raises, if any.
    pub fn warning(&self) -> Option<String> {
        match self.verdict() {
            Verdict::Consistent => None,
            Verdict::Poor => Some(format!(
                "poor fit: {}; the residuals exceed photon-counting noise, so the model does not describe the image \
                 (a wrong fixed parameter, a false minimum, or noise other than counting) and the error bars are not reliable",
                self.describe()
            )),
            Verdict::BelowNoise => Some(format!(
                "the residuals are far below photon-counting noise: {}; the target does not look like photon counts \
                 (a noise-free or rescaled image?), and the error bars describe counting noise at the model's intensities, not this image's scatter",
                self.describe()
            )),
        }
    }

    /// The statistics as the `fit` object of the refinement JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "noise_model": "poisson",
            "pixels": self.pixels,
            "parameters": self.parameters,
            "deviance_per_pixel": self.per_pixel(self.deviance),
            "expected_deviance_per_pixel": self.per_pixel(self.expected_deviance),
            "deviance_z": self.deviance_z(),
            "pearson_chi2_per_pixel": self.per_pixel(self.pearson),
            "expected_pearson_chi2_per_pixel": self.per_pixel(self.expected_pearson),
            "pearson_z": self.pearson_z(),
            "verdict": self.verdict().name(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The moments match a direct sum at large means (where the expansion takes over) and
    /// the known limits.
    #[test]
    fn deviance_moments_are_continuous_and_have_their_limits() {
        let below = deviance_moments(EXPANSION_ABOVE * (1.0 - 1e-12));
        let above = deviance_moments(EXPANSION_ABOVE);
        assert!((below.0 - above.0).abs() < 1e-6 && (below.1 - above.1).abs() < 1e-5, "{below:?} vs {above:?}");
        let (e, v) = deviance_moments(1e-3);
        assert!(e < 0.02 && v < 0.2, "{e} {v}");
        let (e, _) = deviance_moments(1.0);
        assert!((e - 1.1468).abs() < 1e-3, "{e}");
    }

    /// Poisson counts drawn from the model give statistics within a few sd of their
    /// expectation; a model half as bright is poor; the model itself as target is below noise.
    #[test]
    fn verdicts_of_right_wrong_and_noise_free_targets() {
        // a small deterministic Poisson sampler (inversion) for the test
        let mut state = 0x9E3779B97F4A7C15u64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let model: Vec<f64> = (0..20000).map(|i| 0.05 + (i % 200) as f64).collect();
        let target: Vec<f64> = model
            .iter()
            .map(|&m| {
                let (u, mut k, mut p) = (uniform(), 0.0, (-m).exp());
                let mut c = p;
                while c < u && k < 10.0 * m + 50.0 {
                    k += 1.0;
                    p *= m / k;
                    c += p;
                }
                k
            })
            .collect();
        let right = GoodnessOfFit::new(&model, &target, 0).unwrap();
        assert_eq!(right.verdict(), Verdict::Consistent, "{}", right.describe());
        assert!(right.deviance_z().abs() < 4.0 && right.pearson_z().abs() < 4.0, "{}", right.describe());
        let half: Vec<f64> = model.iter().map(|m| 0.5 * m).collect();
        let wrong = GoodnessOfFit::new(&half, &target, 0).unwrap();
        assert_eq!(wrong.verdict(), Verdict::Poor);
        assert!(wrong.warning().unwrap().contains("not reliable"));
        let exact = GoodnessOfFit::new(&model, &model, 0).unwrap();
        assert_eq!(exact.verdict(), Verdict::BelowNoise);
        assert!(GoodnessOfFit::new(&[], &[], 0).is_none());
    }
}
