//! The batch plan (TOML): the base simulation, a rotation series and/or stills with per-shot
//! variations, the output folder and the formats to write. Every key is checked here, before
//! any work, so that a bad plan fails with one line naming it.

use serde::Deserialize;

use crate::error::{Error, Result};

pub use crate::config::FlagWords as Flags;

/// The plan file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Base simulation as C flags.
    #[serde(default)]
    pub flags: Option<Flags>,
    /// Base simulation from a DIALS experiment list (as the flag `-expt`; `flags` add to it).
    #[serde(default)]
    pub expt: Option<String>,
    /// Seed of every shot's random numbers (shot i's own seed derives from it and i).
    #[serde(default)]
    pub seed: Option<i64>,
    /// Output folder (created when missing).
    pub out: String,
    /// Files to write per shot: float, smv, noise, cbf, nexus.
    pub formats: Vec<String>,
    #[serde(default)]
    pub rotation: Option<Rotation>,
    #[serde(default)]
    pub stills: Option<Stills>,
}

/// A rotation series: frame k (from 0) starts at `start + k width` and turns by `width`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Spindle angle of the first frame's start (degrees).
    pub start: f64,
    /// Oscillation of each frame (degrees).
    pub width: f64,
    pub count: i64,
}

/// Stills in random orientations, each with its own optional variations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stills {
    pub count: i64,
    /// Spectrum files (photon energy in eV and weight per line); still k (from 0) uses
    /// `spectra[k % len]`.
    #[serde(default)]
    pub spectra: Vec<String>,
    /// Standard deviation of each still's mean photon energy (eV), Gaussian.
    #[serde(default)]
    pub energy_jitter_ev: Option<f64>,
    /// Range of the crystal's edge length (micrometres), drawn uniformly per still; the
    /// numbers of cells follow from it (N = ceil(size / cell)).
    #[serde(default)]
    pub crystal_size_um: Option<[f64; 2]>,
    /// Relative standard deviation of each still's fluence (log-normal: the fluence is
    /// multiplied by exp(s g - s^2/2), g a standard normal deviate, so its mean is kept).
    #[serde(default)]
    pub fluence_jitter: Option<f64>,
}

/// A checked plan.
#[derive(Debug, Clone)]
pub struct Checked {
    pub flags: Vec<String>,
    pub seed: i64,
    pub out: String,
    pub formats: Vec<Format>,
    pub rotation: Option<Rotation>,
    pub stills: Option<Stills>,
}

impl Checked {
    /// Shots of the rotation series.
    pub fn rotation_count(&self) -> usize {
        self.rotation.as_ref().map_or(0, |r| r.count as usize)
    }

    pub fn total(&self) -> usize {
        self.rotation_count() + self.stills.as_ref().map_or(0, |s| s.count as usize)
    }
}

/// Parse and check a plan's text (`path` names it in messages).
pub fn parse(path: &str, text: &str) -> Result<Checked> {
    let plan: Plan = toml::from_str(text).map_err(|e| Error::new(format!("{path}: {}", e.message().lines().next().unwrap_or("malformed plan"))))?;
    let err = |msg: String| Error::new(format!("{path}: {msg}"));
    // an experiment list is the flag -expt; flags given with it override what they name
    let flags: Vec<String> = match (&plan.flags, &plan.expt) {
        (None, None) => return Err(err("no base simulation: give flags = \"-cell ... \" (C flags) or expt = \"file.expt\"".into())),
        (f, e) => e.iter().flat_map(|e| ["-expt".to_string(), e.clone()]).chain(f.iter().flat_map(Flags::words)).collect(),
    };
    if flags.is_empty() {
        return Err(err("flags: no simulation flags given".into()));
    }
    if plan.out.trim().is_empty() {
        return Err(err("out: no output folder given".into()));
    }
    if plan.formats.is_empty() {
        return Err(err("formats: no format given (float, smv, noise, cbf, nexus)".into()));
    }
    let mut formats = Vec::new();
    for name in &plan.formats {
        let f = Format::parse(name).map_err(|e| err(format!("formats: {e}")))?;
        if formats.contains(&f) {
            return Err(err(format!("formats: {name} is listed twice")));
        }
        formats.push(f);
    }
    if let Some(r) = &plan.rotation {
        check_count(r.count, "rotation.count").map_err(err)?;
        if !r.start.is_finite() || !(r.width.is_finite() && r.width > 0.0) {
            return Err(err(format!("rotation: start must be a number and width positive (degrees), got start {} width {}", r.start, r.width)));
        }
    }
    if let Some(s) = &plan.stills {
        check_stills(s).map_err(err)?;
    }
    let checked = Checked { flags, seed: plan.seed.unwrap_or(1), out: plan.out.clone(), formats, rotation: plan.rotation, stills: plan.stills };
    if checked.total() == 0 {
        return Err(err("no shots: give a [rotation] and/or [stills] table with a positive count".into()));
    }
    Ok(checked)
}

fn check_count(n: i64, key: &str) -> std::result::Result<(), String> {
    if n < 0 {
        return Err(format!("{key}: must not be negative, got {n}"));
    }
    if n > 99_999 {
        return Err(format!("{key}: at most 99999 shots fit the five-digit file numbers, got {n}"));
    }
    Ok(())
}

fn check_stills(s: &Stills) -> std::result::Result<(), String> {
    check_count(s.count, "stills.count")?;
    if let Some(e) = s.energy_jitter_ev {
        if !(e.is_finite() && e >= 0.0) {
            return Err(format!("stills.energy_jitter_ev: must be a non-negative number of eV, got {e}"));
        }
        if !s.spectra.is_empty() {
            return Err("stills: give spectra or energy_jitter_ev, not both".into());
        }
    }
    if let Some([lo, hi]) = s.crystal_size_um {
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
            return Err(format!("stills.crystal_size_um: expected [min, max] with 0 < min <= max (micrometres), got [{lo}, {hi}]"));
        }
    }
    if let Some(f) = s.fluence_jitter {
        if !(f.is_finite() && f >= 0.0) {
            return Err(format!("stills.fluence_jitter: must be a non-negative relative spread, got {f}"));
        }
    }
    Ok(())
}

/// An output format of a batch shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Raw float32 image (photons per pixel), as `-floatfile`.
    Float,
    /// SMV integer image, as `-intfile`.
    Smv,
    /// SMV image with Poisson noise, as `-noisefile`.
    Noise,
    Cbf,
    Nexus,
    /// JSON record of the shot's own settings (orientation, energy, size, fluence, seeds,
    /// brightest pixel, overloads), so that the truth behind each image is known, and the run
    /// file that renders the shot again (`--config`).
    Settings,
    /// DIALS experiment list of the shot's truth, naming its CBF, NeXus or SMV image.
    Expt,
}

impl Format {
    const ALL: [Format; 7] = [Format::Float, Format::Smv, Format::Noise, Format::Cbf, Format::Nexus, Format::Settings, Format::Expt];

    pub fn name(self) -> &'static str {
        match self {
            Format::Float => "float",
            Format::Smv => "smv",
            Format::Noise => "noise",
            Format::Cbf => "cbf",
            Format::Nexus => "nexus",
            Format::Settings => "settings",
            Format::Expt => "expt",
        }
    }

    /// File extension (after `shot_NNNNN.`).
    pub fn ext(self) -> &'static str {
        match self {
            Format::Float => "bin",
            Format::Smv => "img",
            Format::Noise => "noise.img",
            Format::Cbf => "cbf",
            Format::Nexus => "h5",
            Format::Settings => "json",
            Format::Expt => "expt",
        }
    }

    /// A format by name; an unknown name, or one whose writer this build does not have yet,
    /// is an error.
    pub fn parse(name: &str) -> Result<Format> {
        let f = Format::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            Error::new(format!("unknown format '{name}' (known: {})", known.join(", ")))
        })?;
        if f == Format::Nexus && !cfg!(feature = "nexus") {
            return Err(Error::new(format!("{name}: this build has no NeXus writer (built without the `nexus` feature)")));
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "flags = \"-cell 70 80 90 90 90 90 -default_F 100\"\nout = \"o\"\nformats = [\"float\"]\n";

    #[test]
    fn a_plan_counts_rotation_frames_then_stills() {
        let p = parse("p.toml", &format!("{BASE}seed = 5\n[rotation]\nstart = 1\nwidth = 0.5\ncount = 4\n[stills]\ncount = 8\n")).unwrap();
        assert_eq!((p.rotation_count(), p.total(), p.seed), (4, 12, 5));
        let p = parse("p.toml", "flags = [\"-cell\", \"70\", \"80\", \"90\", \"90\", \"90\", \"90\"]\nout = \"o\"\nformats = [\"smv\", \"noise\"]\n[stills]\ncount = 2\n").unwrap();
        assert_eq!(p.flags.len(), 7);
    }

    #[test]
    fn bad_plans_are_refused_with_the_key_named() {
        for (extra, needle) in [
            ("[stills]\ncount = -1\n", "stills.count: must not be negative"),
            ("[stills]\ncount = 1\ncolour = 3\n", "unknown field `colour`"),
            ("[rotation]\nstart = 0\nwidth = 0\ncount = 1\n", "width positive"),
            ("[stills]\ncount = 1\ncrystal_size_um = [2, 1]\n", "crystal_size_um"),
            ("[stills]\ncount = 1\nenergy_jitter_ev = 1\nspectra = [\"a\"]\n", "not both"),
            ("", "no shots"),
        ] {
            let e = parse("p.toml", &format!("{BASE}{extra}")).unwrap_err();
            assert!(e.0.starts_with("p.toml: ") && e.0.contains(needle), "{extra}: {e}");
        }
        let p = parse("p.toml", "out = \"o\"\nformats = [\"float\"]\nexpt = \"a.expt\"\nflags = \"-N 3\"\n[stills]\ncount = 1\n").unwrap();
        assert_eq!(p.flags, ["-expt", "a.expt", "-N", "3"]);
        let e = parse("p.toml", &format!("{}[stills]\ncount = 1\n", BASE.replace("\"float\"", "\"tiff\""))).unwrap_err();
        assert!(e.0.contains("formats: unknown format 'tiff'"), "{e}");
    }
}
