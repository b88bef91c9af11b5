//! The configuration's types: one group of settings per concept, and the check of a
//! configuration made in code.

use super::settings::{Convention, Engine, Misset, Pivot, Precision, PsfShape, Shape, StolUnits};
use crate::error::{Error, Result};

/// Every setting of one simulation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub crystal: CrystalConfig,
    pub structure: StructureConfig,
    pub detector: DetectorConfig,
    pub beam: BeamConfig,
    pub sampling: SamplingConfig,
    pub background: BackgroundConfig,
    pub response: ResponseConfig,
    pub outputs: OutputConfig,
    pub engine: EngineConfig,
}

/// The crystal: cell, orientation, size and shape, mosaicity and rotation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrystalConfig {
    /// a, b, c (Angstrom) and alpha, beta, gamma (rad); 0 takes the default (a, or 90°).
    pub cell: Option<[f64; 6]>,
    /// MOSFLM orientation matrix file (reciprocal axes times the wavelength).
    pub matrix_file: Option<String>,
    /// Build oblique cells as the reference does (slightly off), to compare with its images.
    pub legacy_cell: bool,
    pub misset: Option<Misset>,
    pub misset_seed: Option<i64>,
    /// Unit cells along a, b and c (0 is one cell, as in the reference).
    pub cells: [Option<f64>; 3],
    /// Crystal size along x, y and z (m); it sets the cell counts it is given for.
    pub size: [Option<f64>; 3],
    pub shape: Option<Shape>,
    /// Spot-size factor of the round, Gaussian and top-hat shapes.
    pub fudge: Option<f64>,
    /// Mosaic spread (rad).
    pub mosaic_spread: Option<f64>,
    pub mosaic_domains: Option<i64>,
    pub mosaic_seed: Option<i64>,
    /// Rotation start, range and step (rad), and the number of steps.
    pub phi0: Option<f64>,
    pub osc: Option<f64>,
    pub phistep: Option<f64>,
    pub phisteps: Option<i64>,
}

/// Structure factors: a reflection file, its cache, a constant, interpolation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StructureConfig {
    /// Text file of `h k l F` lines.
    pub hkl_file: Option<String>,
    /// Structure-factor cache, written from `hkl_file` and read without one.
    pub dump_file: Option<String>,
    /// F of every reflection the file does not list (or of all without a file).
    pub default_f: Option<f64>,
    /// Tricubic interpolation between reflections: on, off, or automatic (`None`).
    pub interpolate: Option<bool>,
}

/// The detector: pixel grid, placement, axes and convention, sensor and region of interest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectorConfig {
    /// DIALS experiment list: beam, multi-panel detector, crystal and scan (settings override it).
    pub expt_file: Option<String>,
    /// SMV image whose header gives detector and beam settings.
    pub header_image: Option<String>,
    /// SMV mask: pixels with value 0 are skipped.
    pub mask_file: Option<String>,
    /// Pixel size (m).
    pub pixel_size: Option<f64>,
    /// Pixel counts along the fast and slow axes.
    pub pixels: [Option<i64>; 2],
    /// Detector size along the fast and slow axes (m).
    pub size: [Option<f64>; 2],
    /// Sample to the beam spot along the beam (m), beam pivot.
    pub distance: Option<f64>,
    /// Sample to the detector plane (m), sample pivot.
    pub close_distance: Option<f64>,
    pub pivot: Option<Pivot>,
    pub convention: Option<Convention>,
    /// Beam centre in the convention's x and y (m).
    pub beam_center: [Option<f64>; 2],
    /// Point of the detector nearest the sample, x and y (m).
    pub close_point: [Option<f64>; 2],
    /// XDS beam centre (pixels).
    pub origin_pixels: [Option<f64>; 2],
    /// Axes of a custom convention (directions; not normalised here).
    pub fdet: Option<[f64; 3]>,
    pub sdet: Option<[f64; 3]>,
    pub odet: Option<[f64; 3]>,
    pub beam_vector: Option<[f64; 3]>,
    pub polar_vector: Option<[f64; 3]>,
    pub spindle_axis: Option<[f64; 3]>,
    pub twotheta_axis: Option<[f64; 3]>,
    /// First pixel's position (m); recomputed from the beam centre, as in the reference.
    pub pix0: Option<[f64; 3]>,
    /// Rotations about x, y and z (rad).
    pub rotation: [Option<f64>; 3],
    /// Swing about the two-theta axis (rad).
    pub twotheta: Option<f64>,
    /// Every pixel at the same distance.
    pub curved: bool,
    /// Solid angle 1/R² without obliquity.
    pub point_pixel: bool,
    /// Sensor attenuation depth (m); `Some(None)` asks for no absorption model.
    pub attenuation_depth: Option<Option<f64>>,
    /// Sensor thickness (m) and its layers.
    pub thickness: Option<f64>,
    pub thicksteps: Option<i64>,
    /// Inclusive pixel limits: fast min, fast max, slow min, slow max (a negative max: the edge).
    pub roi: Option<[i64; 4]>,
}

/// The beam: wavelength and spectrum, divergence, polarization and fluence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BeamConfig {
    /// Wavelength (m).
    pub lambda: Option<f64>,
    /// Spectral width (fraction of the wavelength) and its samples.
    pub dispersion: Option<f64>,
    pub dispsteps: Option<i64>,
    /// Divergence ranges and steps, horizontal and vertical (rad), and sample counts.
    pub hdivrange: Option<f64>,
    pub vdivrange: Option<f64>,
    pub hdivstep: Option<f64>,
    pub vdivstep: Option<f64>,
    pub hdivsteps: Option<i64>,
    pub vdivsteps: Option<i64>,
    /// Keep the full divergence grid (else trim it to an ellipse).
    pub square_div: bool,
    /// Sources `X Y Z weight lambda` replacing the divergence and dispersion grid.
    pub source_file: Option<String>,
    /// Scale each source by its weight over the mean weight.
    pub source_weights: bool,
    /// Spectrum (`energy weight` lines): one weighted source per line along the beam.
    pub spectrum_file: Option<String>,
    /// A spectrum given inline: (photon energy in eV, weight) pairs.
    pub spectrum_lines: Option<Vec<(f64, f64)>>,
    /// Kahn polarization factor (-1 to 1).
    pub kahn_factor: Option<f64>,
    pub nopolar: bool,
    /// Fluence (photons/m²), or flux (photons/s) with exposure (s) and beam size (m).
    pub fluence: Option<f64>,
    pub flux: Option<f64>,
    pub exposure: Option<f64>,
    pub beamsize: Option<f64>,
}

/// How finely each pixel is sampled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingConfig {
    /// Sub-pixels per pixel edge (automatic from the crystal size when `None`).
    pub oversample: Option<i64>,
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,
    /// Resolution limit (m): scattering beyond it is skipped.
    pub dmin: Option<f64>,
}

/// Scattering that is not Bragg scattering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackgroundConfig {
    /// Thickness of the water layer of the constant-F background (m).
    pub water_size: Option<f64>,
    /// Amorphous scatterers (`-stol`): tables of F against sin(theta)/lambda (1/A), one
    /// material each, rendered as nonBragg renders them and added to the image.
    pub stol_files: Vec<String>,
    /// Their first column (every table of a run in one kind, as the flag that named them).
    pub stol_units: StolUnits,
    /// Per table, or one value for every table: extent along the beam (m; nonBragg's default
    /// 0.1 mm), density (g/cm^3; default 1) and molecular weight (g/mol; default 18).
    pub stol_thickness: Vec<f64>,
    pub stol_density: Vec<f64>,
    pub stol_molecular_weight: Vec<f64>,
}

impl BackgroundConfig {
    /// Thickness (m), density (g/cm^3) and molecular weight (g/mol) of table `i`.
    pub fn stol_material(&self, i: usize) -> (f64, f64, f64) {
        let pick = |v: &[f64], default: f64| match v.len() {
            0 => default,
            1 => v[0],
            _ => v[i],
        };
        (pick(&self.stol_thickness, 1e-4), pick(&self.stol_density, 1.0), pick(&self.stol_molecular_weight, 18.0))
    }

    /// Each list has no value, one, or one per table; values finite, not negative, and the
    /// molecular weight positive.
    fn validate(&self) -> Result<()> {
        let n = self.stol_files.len();
        for (key, v) in [("background.stol_thickness", &self.stol_thickness), ("background.stol_density", &self.stol_density), ("background.stol_molecular_weight", &self.stol_molecular_weight)] {
            if !v.is_empty() && n == 0 {
                return Err(Error::new(format!("{key}: describes a -stol table, but no -stol FILE is given")));
            }
            if v.len() > 1 && v.len() != n {
                return Err(Error::new(format!("{key}: {} values for {n} -stol tables (give one for all, or one per table)", v.len())));
            }
            if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
                return Err(Error::new(format!("{key}: must be finite and not negative, got {x}")));
            }
        }
        if let Some(x) = self.stol_molecular_weight.iter().find(|&&x| x == 0.0) {
            return Err(Error::new(format!("background.stol_molecular_weight: must be positive, got {x}")));
        }
        Ok(())
    }
}

/// The detector's response applied to the noise image, as noisify applies it (its flags, units
/// and defaults). None of it given: the noise image is the reference nanoBragg's (Poisson
/// counts plus the offset, no calibration error).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseConfig {
    pub psf: Option<PsfShape>,
    /// PSF full width at half maximum (micrometres, as noisify reads it; default 46).
    pub psf_fwhm_um: Option<f64>,
    /// PSF kernel radius (whole pixels; 0 or none: chosen per pixel).
    pub psf_radius: Option<i64>,
    /// ADU per photon (default 1).
    pub gain: Option<f64>,
    /// Per-pixel calibration error, relative rms (default 0.03).
    pub calibration: Option<f64>,
    pub calib_seed: Option<i64>,
    /// Gaussian readout noise (ADU rms, default 0).
    pub readout: Option<f64>,
    /// Source flicker, relative rms (default 0).
    pub flicker: Option<f64>,
}

impl ResponseConfig {
    /// Whether any response flag is given (the noise image then goes through noisify's model).
    pub fn is_set(&self) -> bool {
        *self != ResponseConfig::default()
    }
}

/// The files written and how counts are scaled into them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputConfig {
    pub float_file: Option<String>,
    pub int_file: Option<String>,
    pub noise_file: Option<String>,
    pub pgm_file: Option<String>,
    /// PNG preview: log-scaled photons, the beam centre marked.
    pub png_file: Option<String>,
    pub cbf_file: Option<String>,
    pub nexus_file: Option<String>,
    pub expt_file: Option<String>,
    /// Add the image to an existing NeXus series as its next frame.
    pub nexus_append: bool,
    /// SMV headers whose keys dxtbx reads as we mean them.
    pub smv_header_dials: bool,
    /// Counts per photon of the SMV image, of the PGM preview, and the ADC offset (counts).
    pub scale: Option<f64>,
    pub pgm_scale: Option<f64>,
    pub adc: Option<f64>,
    /// Seed of the noise image.
    pub seed: Option<i64>,
    pub no_noise: bool,
    pub no_pgm: bool,
    /// Progress meter: on, off, or when a terminal (`None`).
    pub progress: Option<bool>,
    /// One line per pixel (or only `printout_pixel`'s): fast, slow.
    pub printout: bool,
    pub printout_pixel: Option<[i64; 2]>,
    /// Full trace of one pixel: slow, fast.
    pub trace_pixel: Option<[i64; 2]>,
}

/// What runs the render and how it is split.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineConfig {
    pub engine: Engine,
    /// Render on the GPU; `gpu_software` lets a software Vulkan driver stand in for one.
    pub gpu: bool,
    pub gpu_software: bool,
    pub precision: Option<Precision>,
    /// Values per batch tensor of the tensor path.
    pub chunk_elements: Option<usize>,
    pub threads: Option<usize>,
}

impl Config {
    /// Fix what a run would otherwise draw from the clock (the seed of `-misset random`, the
    /// noise seed of a noise image) to the clock's value now, so that this configuration, and a
    /// run file printed from it, repeats the run exactly. Values already given are kept.
    pub fn resolve_clock_seeds(&mut self) {
        // the reference's default: the current time in seconds
        let now = || {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(1)
        };
        if matches!(self.crystal.misset, Some(super::Misset::Random)) && self.crystal.misset_seed.is_none() {
            self.crystal.misset_seed = Some(now());
        }
        if self.outputs.noise_file.is_some() && !self.outputs.no_noise && self.outputs.seed.is_none() {
            self.outputs.seed = Some(now());
        }
    }

    /// Refuse values no experiment can have, naming the setting. The command line checks each
    /// flag as it reads it (with the flag's name); this catches what other callers set.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, what: &str, v: f64| Err(Error::new(format!("{key}: {what}, got {v}")));
        let finite = |key: &str, v: Option<f64>| match v {
            Some(x) if !x.is_finite() => bad(key, "must be a finite number", x),
            _ => Ok(()),
        };
        let positive = |key: &str, v: Option<f64>| match v {
            Some(x) if !(x > 0.0 && x.is_finite()) => bad(key, "must be positive", x),
            _ => Ok(()),
        };
        let nonneg = |key: &str, v: Option<f64>| match v {
            Some(x) if !(x >= 0.0 && x.is_finite()) => bad(key, "must not be negative", x),
            _ => Ok(()),
        };
        let (c, d, b) = (&self.crystal, &self.detector, &self.beam);
        if let Some(cell) = c.cell {
            for (i, &x) in cell.iter().enumerate() {
                let name = ["a", "b", "c", "alpha", "beta", "gamma"][i];
                if !(x >= 0.0 && x.is_finite()) || (i >= 3 && x >= std::f64::consts::PI) {
                    return Err(Error::new(format!("crystal.cell: {name} = {x} is impossible (lengths positive, angles between 0 and pi)")));
                }
            }
        }
        for (i, n) in c.cells.iter().enumerate() {
            nonneg(["crystal.cells[a]", "crystal.cells[b]", "crystal.cells[c]"][i], *n)?;
        }
        for s in c.size {
            nonneg("crystal.size", s)?;
        }
        positive("crystal.fudge", c.fudge)?;
        nonneg("crystal.mosaic_spread", c.mosaic_spread)?;
        for (key, v) in [("crystal.phi0", c.phi0), ("crystal.osc", c.osc), ("crystal.phistep", c.phistep)] {
            finite(key, v)?;
        }
        for (key, n) in [("crystal.mosaic_domains", c.mosaic_domains), ("crystal.phisteps", c.phisteps), ("detector.thicksteps", d.thicksteps)] {
            if let Some(n) = n.filter(|&n| n < 0) {
                return Err(Error::new(format!("{key}: must not be negative, got {n}")));
            }
        }
        if let Some(n) = d.pixels.iter().flatten().find(|&&n| n < 1) {
            return Err(Error::new(format!("detector.pixels: must be at least 1, got {n}")));
        }
        // the pixel size and the wavelength are checked where headers may also give them
        finite("detector.pixel_size", d.pixel_size)?;
        positive("detector.distance", d.distance)?;
        positive("detector.close_distance", d.close_distance)?;
        for v in d.size.iter().chain(&d.beam_center).chain(&d.close_point).chain(&d.origin_pixels).chain(&d.rotation) {
            finite("detector", *v)?;
        }
        finite("detector.twotheta", d.twotheta)?;
        nonneg("detector.thickness", d.thickness)?;
        if let Some(Some(x)) = d.attenuation_depth {
            positive("detector.attenuation_depth", Some(x))?;
        }
        for (key, v) in [("detector.fdet", d.fdet), ("detector.sdet", d.sdet), ("detector.odet", d.odet), ("detector.beam_vector", d.beam_vector), ("detector.polar_vector", d.polar_vector), ("detector.spindle_axis", d.spindle_axis), ("detector.twotheta_axis", d.twotheta_axis)] {
            if let Some(v) = v {
                if v.iter().any(|x| !x.is_finite()) || v.iter().all(|&x| x == 0.0) {
                    return Err(Error::new(format!("{key}: a direction must be finite and not the zero vector, got {v:?}")));
                }
            }
        }
        finite("beam.lambda", b.lambda)?;
        for (key, v) in [("beam.dispersion", b.dispersion), ("beam.hdivrange", b.hdivrange), ("beam.vdivrange", b.vdivrange), ("beam.hdivstep", b.hdivstep), ("beam.vdivstep", b.vdivstep), ("beam.flux", b.flux), ("beam.exposure", b.exposure), ("beam.beamsize", b.beamsize)] {
            nonneg(key, v)?;
        }
        for (key, n) in [("beam.dispsteps", b.dispsteps), ("beam.hdivsteps", b.hdivsteps), ("beam.vdivsteps", b.vdivsteps)] {
            if let Some(n) = n.filter(|&n| n < 0) {
                return Err(Error::new(format!("{key}: must not be negative, got {n}")));
            }
        }
        if let Some(k) = b.kahn_factor.filter(|k| !(-1.0..=1.0).contains(k)) {
            return bad("beam.kahn_factor", "must be between -1 and 1", k);
        }
        finite("beam.fluence", b.fluence)?;
        nonneg("sampling.dmin", self.sampling.dmin)?;
        nonneg("background.water_size", self.background.water_size)?;
        self.background.validate()?;
        finite("outputs.scale", self.outputs.scale)?;
        finite("outputs.pgm_scale", self.outputs.pgm_scale)?;
        finite("outputs.adc", self.outputs.adc)?;
        if self.engine.chunk_elements == Some(0) || self.engine.threads == Some(0) {
            return Err(Error::new("engine: chunk_elements and threads must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_impossible_values_are_named() {
        assert!(Config::default().validate().is_ok());
        let mut c = Config::default();
        c.detector.distance = Some(-0.1);
        assert!(c.validate().unwrap_err().0.starts_with("detector.distance: must be positive"));
        let mut c = Config::default();
        c.crystal.cell = Some([70.0, 70.0, 70.0, 4.0, 1.0, 1.0]);
        assert!(c.validate().unwrap_err().0.starts_with("crystal.cell: alpha"));
        let mut c = Config::default();
        c.detector.fdet = Some([0.0; 3]);
        assert!(c.validate().unwrap_err().0.contains("zero vector"));
        let mut c = Config::default();
        c.beam.kahn_factor = Some(2.0);
        assert!(c.validate().is_err());
    }
}
