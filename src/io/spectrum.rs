//! Spectrum files: one line per energy, `energy weight` (whitespace or commas between; blank
//! lines and lines starting with `#` skipped). The first column is the photon energy in eV,
//! unless a comment line names another unit: `keV`, or `wavelength` / `lambda` / `Angstrom`
//! for wavelengths in Angstrom, as beamline spectrometers write them. A first column below 100
//! without such a line is refused as ambiguous (keV or Angstrom?). Lines of zero weight are
//! dropped; a spectrum with none left is refused.

use std::path::Path;

use crate::error::{Error, Result};
use crate::physics::constants::HC_EV_ANGSTROM;

/// A spectrum as read: photon energies (eV) with their weights, weights positive.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// (photon energy in eV, weight).
    pub lines: Vec<(f64, f64)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Ev,
    Kev,
    Angstrom,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Ev => "eV",
            Unit::Kev => "keV",
            Unit::Angstrom => "Angstrom",
        }
    }
}

impl Spectrum {
    /// Parse a spectrum file's text (`path` names it in messages).
    pub fn parse(path: &str, text: &str) -> Result<Spectrum> {
        let fail = |msg: String| Error::file(format!("{path}: {msg}"));
        // every unit the comments name, with the line that names it: two different ones are
        // refused (a file that names eV and Angstrom could mean either column)
        let mut named: Vec<(Unit, usize)> = Vec::new();
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if let Some(comment) = t.strip_prefix('#') {
                if let Some(u) = unit_named(comment) {
                    if !named.iter().any(|&(v, _)| v == u) {
                        named.push((u, i + 1));
                    }
                }
                continue;
            }
            if t.is_empty() {
                continue;
            }
            let words: Vec<&str> = t.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
            let num = |w: &str| w.parse::<f64>().ok().filter(|v| v.is_finite());
            let (Some(x), Some(w)) = (match words.as_slice() {
                [x, w] => (num(x), num(w)),
                _ => (None, None),
            }) else {
                return Err(fail(format!("line {}: expected 'energy weight', got '{t}'", i + 1)));
            };
            if !(x > 0.0) || w < 0.0 {
                return Err(fail(format!("line {}: energy must be positive and weight not negative, got '{t}'", i + 1)));
            }
            rows.push((x, w));
        }
        if let [(a, la), (b, lb), ..] = named[..] {
            return Err(fail(format!("comments name two units ({} on line {la}, {} on line {lb}): keep one", a.name(), b.name())));
        }
        let unit = match named.first() {
            Some(&(u, _)) => u,
            None if rows.iter().any(|&(x, _)| x < 100.0) => {
                return Err(fail("the first column is below 100: keV or Angstrom? Name the unit in a comment line ('# keV', '# wavelength (Angstrom)' or '# eV')".into()));
            }
            None => Unit::Ev,
        };
        let lines: Vec<(f64, f64)> = rows
            .into_iter()
            .filter(|&(_, w)| w > 0.0)
            .map(|(x, w)| match unit {
                Unit::Ev => (x, w),
                Unit::Kev => (x * 1000.0, w),
                Unit::Angstrom => (HC_EV_ANGSTROM / x, w),
            })
            .collect();
        if lines.is_empty() {
            return Err(fail("the spectrum has no line of positive weight".into()));
        }
        check_xray(&lines, &format!(" (read as {})", unit.name())).map_err(fail)?;
        Ok(Spectrum { lines })
    }

    /// A spectrum from (energy in eV, weight) pairs given inline (`what` names them in
    /// messages), checked as a file's lines are.
    pub fn from_pairs(what: &str, pairs: &[(f64, f64)]) -> Result<Spectrum> {
        for (i, &(e, w)) in pairs.iter().enumerate() {
            if !(e.is_finite() && e > 0.0) || !(w.is_finite() && w >= 0.0) {
                return Err(Error::new(format!("{what}: pair {}: energy must be positive and weight not negative, got {e} {w}", i + 1)));
            }
        }
        let lines: Vec<(f64, f64)> = pairs.iter().copied().filter(|&(_, w)| w > 0.0).collect();
        if lines.is_empty() {
            return Err(Error::new(format!("{what}: the spectrum has no line of positive weight")));
        }
        check_xray(&lines, "").map_err(|m| Error::new(format!("{what}: {m}")))?;
        Ok(Spectrum { lines })
    }

    /// Read and parse a spectrum file.
    pub fn read(path: &Path) -> Result<Spectrum> {
        let name = crate::io::osname::display(path);
        let bytes = crate::io::read_all(path)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::file(format!("{name}: not UTF-8 text")))?;
        Spectrum::parse(&name, &text)
    }

    /// The wavelength (m) of each line, in order.
    pub fn wavelengths(&self) -> impl Iterator<Item = f64> + '_ {
        self.lines.iter().map(|&(e, _)| HC_EV_ANGSTROM / e * 1e-10)
    }

    /// The weighted mean wavelength (m).
    pub fn mean_wavelength(&self) -> f64 {
        let total: f64 = self.lines.iter().map(|l| l.1).sum();
        self.wavelengths().zip(&self.lines).map(|(l, &(_, w))| l * w).sum::<f64>() / total
    }
}

/// The unit a comment names, by whole words (`devices`, `level` or the article `a` name none;
/// `A` counts as Angstrom only in brackets, as in `lambda (A)` or `[A]`, not in `[a.u.]`).
fn unit_named(comment: &str) -> Option<Unit> {
    let c = comment.to_lowercase();
    let words: Vec<&str> = c.split(|ch: char| !ch.is_alphanumeric()).collect();
    let has = |names: &[&str]| words.iter().any(|w| names.contains(w));
    let squeezed: String = c.chars().filter(|ch| !ch.is_whitespace()).collect();
    if has(&["kev"]) {
        Some(Unit::Kev)
    } else if has(&["wavelength", "wavelengths", "lambda", "angstrom", "angstroms", "\u{e5}"]) || squeezed.contains("(a)") || squeezed.contains("[a]") {
        Some(Unit::Angstrom)
    } else if has(&["ev"]) {
        Some(Unit::Ev)
    } else {
        None
    }
}

/// Photon energies a diffraction experiment can use: a line outside 10 eV to 1 MeV means a
/// column read in the wrong unit (9500 eV read as Angstrom is 1.3 eV).
fn check_xray(lines: &[(f64, f64)], how: &str) -> std::result::Result<(), String> {
    const LOWEST_EV: f64 = 10.0;
    const HIGHEST_EV: f64 = 1.0e6;
    match lines.iter().find(|&&(e, _)| !(LOWEST_EV..=HIGHEST_EV).contains(&e)) {
        Some(&(e, _)) => Err(format!("a line at {e:.6e} eV{how} is outside photon energies of 10 eV to 1 MeV: is the unit right? (name it in a comment line: '# eV', '# keV' or '# wavelength (Angstrom)')")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectrum_lines_units_and_errors() {
        let s = Spectrum::parse("s.txt", "# energy weight\n9000 1\n9010, 0\n9020 2.5\n").unwrap();
        assert_eq!(s.lines, vec![(9000.0, 1.0), (9020.0, 2.5)]);
        assert_eq!(Spectrum::parse("s.txt", "# keV intensity\n9.0 1\n9.02 2.5\n").unwrap().lines, vec![(9000.0, 1.0), (9020.0, 2.5)]);
        let a = Spectrum::parse("s.txt", "# wavelength (Angstrom) weight\n1.0 1\n").unwrap();
        assert_eq!(a.lines, vec![(HC_EV_ANGSTROM, 1.0)]);
        assert!((a.mean_wavelength() - 1e-10).abs() < 1e-24);
        assert_eq!(Spectrum::parse("s.txt", "# lambda (A), weight\n2.0 1\n").unwrap().lines, vec![(HC_EV_ANGSTROM / 2.0, 1.0)]);
        assert_eq!(Spectrum::parse("s.txt", "# E (eV) w\n50 1\n").unwrap().lines, vec![(50.0, 1.0)]);
        for header in ["# energy (eV) weight: 14 lines of a SASE-like spectrum", "# Photon energy [eV]  Intensity [a.u.]"] {
            assert_eq!(Spectrum::parse("s.txt", &format!("{header}\n9500 1\n")).unwrap().lines, vec![(9500.0, 1.0)], "{header}");
        }
        assert_eq!(Spectrum::parse("s.txt", "# \u{c5} [a.u.]\n2.0 1\n").unwrap().lines, vec![(HC_EV_ANGSTROM / 2.0, 1.0)]);
        assert_eq!(Spectrum::parse("s.txt", "# wavelength [A]\n2.0 1\n").unwrap().lines, vec![(HC_EV_ANGSTROM / 2.0, 1.0)]);
        assert_eq!(Spectrum::from_pairs("-spectrum_lines", &[(9000.0, 1.0), (9100.0, 0.0)]).unwrap().lines, vec![(9000.0, 1.0)]);
        for pairs in [&[(9000.0, 0.0)][..], &[(0.0, 1.0)], &[(9000.0, -1.0)], &[(f64::NAN, 1.0)], &[(1.3, 1.0)], &[]] {
            let e = Spectrum::from_pairs("-spectrum_lines", pairs).unwrap_err();
            assert!(e.0.starts_with("-spectrum_lines: "), "{pairs:?}: {e}");
        }
        for (text, needle) in [
            ("9000 0\n", "no line of positive weight"),
            ("", "no line of positive weight"),
            ("9000\n", "line 1"),
            ("-5 1\n", "energy must be positive"),
            ("9000 -1\n", "not negative"),
            ("9.0 1\n", "keV or Angstrom"),
            ("# written by beamline devices, level 3\n9.0 1\n", "keV or Angstrom"),
            // "a" is an article, "a.u." arbitrary units: neither is Angstrom
            ("# 14 lines of a SASE spectrum\n9.0 1\n", "keV or Angstrom"),
            ("# energy (eV)\n# wavelength (A)\n9000 1\n", "two units (eV on line 1, Angstrom on line 2)"),
            ("# wavelength (A)\n9000 1\n", "outside photon energies"),
            ("# keV\n9000 1\n", "outside photon energies"),
        ] {
            let e = Spectrum::parse("s.txt", text).unwrap_err();
            assert!(e.0.starts_with("s.txt: ") && e.0.contains(needle), "{text:?}: {e}");
            assert_eq!(e.kind(), crate::error::ErrorKind::File);
        }
    }
}
