//! Spectrum files of a batch's stills: one line per energy, `energy_eV weight` (blank lines
//! and lines starting with `#` are skipped). A still with a spectrum has one source per line of
//! positive weight, along the beam, weighted by that weight.

use crate::error::{Error, Result};
use crate::experiment::{Experiment, Source};

use crate::physics::constants::HC_EV_ANGSTROM as HC_EV_A;

#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// (photon energy in eV, weight), weights positive.
    pub lines: Vec<(f64, f64)>,
}

impl Spectrum {
    /// Parse a spectrum file's text (`path` names it in messages).
    pub fn parse(path: &str, text: &str) -> Result<Spectrum> {
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = t.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
            let num = |w: &str| w.parse::<f64>().ok().filter(|v| v.is_finite());
            let (e, w) = match words.as_slice() {
                [e, w] => (num(e), num(w)),
                _ => (None, None),
            };
            let (Some(e), Some(w)) = (e, w) else {
                return Err(Error::new(format!("{path}: line {}: expected 'energy_eV weight', got '{t}'", i + 1)));
            };
            if !(e > 0.0) || w < 0.0 {
                return Err(Error::new(format!("{path}: line {}: energy must be positive and weight not negative, got '{t}'", i + 1)));
            }
            if w > 0.0 {
                lines.push((e, w));
            }
        }
        if lines.is_empty() {
            return Err(Error::new(format!("{path}: the spectrum has no line of positive weight")));
        }
        Ok(Spectrum { lines })
    }

    /// Replace the experiment's single wavelength by this spectrum: one weighted source per
    /// line along the beam, the nominal wavelength the weighted mean, and the normalisation's
    /// step count adjusted to the new number of sources.
    pub fn apply(&self, exp: &mut Experiment) {
        let dir = exp.beam.sources[0].dir;
        let old = exp.beam.sources.len();
        exp.beam.sources = self.lines.iter().map(|&(e, w)| Source { dir, lambda: HC_EV_A / e * 1e-10, weight: w }).collect();
        exp.beam.use_weights = true;
        let total: f64 = self.lines.iter().map(|l| l.1).sum();
        exp.beam.lambda0 = exp.beam.sources.iter().map(|s| s.lambda * s.weight).sum::<f64>() / total;
        exp.sampling.steps = exp.sampling.steps / old * exp.beam.sources.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectrum_lines_and_errors() {
        let s = Spectrum::parse("s.txt", "# energy weight\n9000 1\n9010, 0\n9020 2.5\n").unwrap();
        assert_eq!(s.lines, vec![(9000.0, 1.0), (9020.0, 2.5)]);
        for (text, needle) in [("9000 0\n", "no line of positive weight"), ("", "no line of positive weight"), ("9000\n", "line 1"), ("-5 1\n", "energy must be positive"), ("9000 -1\n", "not negative")] {
            let e = Spectrum::parse("s.txt", text).unwrap_err();
            assert!(e.0.starts_with("s.txt: ") && e.0.contains(needle), "{text:?}: {e}");
        }
    }
}
