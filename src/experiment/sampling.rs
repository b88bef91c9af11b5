//! How finely each range is sampled: the reference's rules for step counts (divergence,
//! dispersion, phi, sensor layers) and the sub-pixel oversampling.

use super::{Beam, Crystal, Detector, Notes, Sampling, RTD};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;

/// Resolve step count / range / step size the way the reference does for divergence and
/// dispersion: any two of them fix the third. Returns (steps, range, step); a missing value
/// is `None`.
pub(super) fn resolve_steps(steps: Option<i64>, range: Option<f64>, step: Option<f64>, unit_range: f64) -> (i64, f64, f64) {
    let mut n = steps.unwrap_or(-1);
    let mut r = range.unwrap_or(-1.0);
    let mut s = step.unwrap_or(-1.0);
    if n <= 0 {
        if r < 0.0 {
            if s <= 0.0 {
                n = 1;
                r = 0.0;
                s = 0.0;
            } else {
                r = s;
                n = 2;
            }
        } else if s <= 0.0 {
            s = r;
            n = 2;
        } else {
            n = (r / s).ceil() as i64;
        }
    } else if r < 0.0 {
        if s <= 0.0 {
            r = unit_range;
            s = r / n as f64;
        } else {
            r = s;
            n = 2;
        }
    } else if s <= 0.0 {
        if n <= 1 {
            n = 2;
        }
        s = r / (n - 1) as f64;
    }
    // sanity: anything degenerate means a single sample
    if r <= 0.0 || s <= 0.0 || n <= 0 {
        n = 1;
        r = 0.0;
        s = 0.0;
    }
    (n, r, s)
}

/// Phi steps, oscillation range and phi step (rad) from -phisteps, -osc and -phistep, by the
/// reference's rules for the spindle rotation.
pub(super) fn phi_steps(steps: Option<i64>, osc: Option<f64>, step: Option<f64>) -> (usize, f64, f64) {
    let mut n = steps.unwrap_or(-1);
    let mut r = osc.unwrap_or(-1.0);
    let mut s = step.unwrap_or(-1.0);
    if n < 0 {
        if r < 0.0 {
            if s <= 0.0 {
                n = 1;
                r = 0.0;
                s = 0.0;
            } else {
                r = s;
                n = 2;
            }
        } else if s <= 0.0 {
            n = 2;
            s = r / 2.0;
        } else {
            n = (r / s).ceil() as i64;
        }
    } else {
        if n == 0 {
            n = 1;
        }
        if r < 0.0 {
            if s <= 0.0 {
                r = 1.0 / RTD;
                s = r / n as f64;
            } else {
                r = s;
                n = 2;
            }
        } else if s < 0.0 {
            s = r / n as f64;
        }
    }
    if n < 1 {
        n = 1;
    }
    (n as usize, r, s)
}

/// Sensor layers, thickness and layer step (m) from -detector_thicksteps and the thickness.
pub(super) fn thickness_steps(steps: Option<i64>, thick: Option<f64>) -> (usize, f64, f64) {
    let mut n = steps.unwrap_or(-1);
    let mut t = thick.unwrap_or(0.0);
    let mut s;
    if n <= 0 {
        if t < 0.0 {
            n = 1;
            t = 0.0;
            s = 0.0;
        } else {
            n = 2;
            s = t / n as f64;
        }
    } else if t < 0.0 {
        t = 0.5e-6;
        s = t / n as f64;
    } else {
        if n <= 1 {
            n = 2;
        }
        s = t / (n - 1) as f64;
    }
    if t <= 0.0 || s <= 0.0 || n <= 0 {
        n = 1;
        t = 0.0;
        s = 0.0;
    }
    (n as usize, t, s)
}

/// The most sub-pixels per pixel side.
const MAX_OVERSAMPLE: i64 = 4096;

/// Sub-pixels per pixel side: -oversample, or enough that the crystal's largest dimension
/// cannot vary the intensity much across a sub-pixel.
pub(super) fn oversample(cfg: &Config, crystal: &Crystal, detector: &Detector, lambda0: f64, notes: &mut Notes) -> Result<usize> {
    let xtal = crystal.extent();
    let xtalsize_max = xtal[0].max(xtal[1]).max(xtal[2]);
    let reciprocal_pixel_size = lambda0 * detector.distance / detector.pixel_size;
    let advice = (3.0 * xtalsize_max / reciprocal_pixel_size).ceil();
    // advice beyond the largest allowed oversampling (or not a number) is capped there, so it
    // is always a value -oversample takes
    let beyond = !(advice <= MAX_OVERSAMPLE as f64);
    let mut recommended = if advice.is_nan() { MAX_OVERSAMPLE } else { advice.min(MAX_OVERSAMPLE as f64) as i64 };
    if recommended <= 0 {
        recommended = 1;
    }
    let mut oversample = cfg.sampling.oversample.unwrap_or(-1);
    if oversample <= 0 {
        if beyond {
            return Err(Error::new(format!(
                "-oversample: the crystal ({} A across) would need more than {MAX_OVERSAMPLE} sub-pixels per pixel side at this wavelength, distance and pixel size; give -oversample N",
                fmt_g(xtalsize_max * 1e10)
            )));
        }
        oversample = recommended;
        notes.info.push(format!("auto-selected {oversample}-fold oversampling"));
        if oversample >= 4 {
            // the cost grows with the square, and nothing else says so
            notes.warnings.push(format!(
                "WARNING: the automatic oversampling renders {} sub-pixels per pixel ({}x the work of -oversample 1); give -oversample N to choose",
                oversample * oversample,
                oversample * oversample
            ));
        }
    }
    if oversample < recommended {
        notes.warnings.push(format!(
            "WARNING: maximum dimension of sample is {} A but reciprocal pixel size is {} A; intensity may vary significantly across a pixel (recommend -oversample {}{recommended})",
            fmt_g(xtalsize_max * 1e10),
            fmt_g(reciprocal_pixel_size * 1e10),
            if beyond { "at least " } else { "" }
        ));
    }
    if oversample > MAX_OVERSAMPLE {
        return Err(Error::new(format!("-oversample: {oversample} sub-pixels per side is too many (at most {MAX_OVERSAMPLE})")));
    }
    Ok(oversample as usize)
}

/// Sampling choices and the number of samples per pixel (sources x mosaic domains x phi
/// steps x oversample^2) that normalises the intensity.
pub(super) fn build_sampling(cfg: &Config, oversample: usize, beam: &Beam, crystal: &Crystal) -> Result<Sampling> {
    let steps = [beam.sources.len(), crystal.mosaic_umats.len(), crystal.phisteps, oversample * oversample]
        .iter()
        .try_fold(1usize, |n, &k| n.checked_mul(k))
        .ok_or_else(|| Error::new("-phisteps x -mosaic_domains x sources x -oversample^2: more samples per pixel than can be counted"))?;
    Ok(Sampling {
        oversample,
        oversample_thick: cfg.sampling.oversample_thick,
        oversample_polar: cfg.sampling.oversample_polar,
        oversample_omega: cfg.sampling.oversample_omega,
        dmin: cfg.sampling.dmin.unwrap_or(0.0),
        water_size: cfg.background.water_size.unwrap_or(0.0),
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_resolution_follows_the_reference_rules() {
        // range only: two samples spanning it
        assert_eq!(resolve_steps(None, Some(0.5), None, 1.0), (2, 0.5, 0.5));
        // range and count: count-1 intervals
        assert_eq!(resolve_steps(Some(3), Some(0.5), None, 1.0), (3, 0.5, 0.25));
        // nothing: one sample
        assert_eq!(resolve_steps(None, None, None, 1.0), (1, 0.0, 0.0));
        // range and step: ceil(range/step)
        assert_eq!(resolve_steps(None, Some(0.4), Some(0.1), 1.0).0, 4);
        // zero dispersion collapses to one wavelength
        assert_eq!(resolve_steps(None, Some(0.0), None, 1.0), (1, 0.0, 0.0));
    }
}
