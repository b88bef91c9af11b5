//! Incident beam: fluence, and the sources (a divergence x dispersion grid, or a user source
//! file).

use super::detector::Frame;
use super::sampling::resolve_steps;
use super::{Beam, Notes, Source, DEFAULT_FLUENCE};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::physics::vec3::*;

/// Beam size at the sample (m).
pub(super) fn beam_size(cfg: &Config) -> f64 {
    cfg.beam.beamsize.unwrap_or(1e-4)
}

/// Incident fluence (photons/m^2): -fluence, or -flux x -exposure over the beam area.
pub(super) fn fluence(cfg: &Config) -> Result<f64> {
    let mut fluence = cfg.beam.fluence.unwrap_or(DEFAULT_FLUENCE);
    let flux = cfg.beam.flux.unwrap_or(0.0);
    let exposure = cfg.beam.exposure.unwrap_or(1.0);
    let beamsize = beam_size(cfg);
    if flux != 0.0 && exposure > 0.0 && beamsize >= 0.0 {
        fluence = flux * exposure / beamsize / beamsize;
    }
    if !fluence.is_finite() || fluence < 0.0 {
        return Err(Error::new("-fluence/-flux: incident fluence must be finite and non-negative"));
    }
    Ok(fluence)
}

/// The incident beam: divergence and dispersion sampling, the sources, polarization.
/// `source_rows`: the -sourcefile's rows and skipped comment lines, read before.
pub(super) fn build_beam(cfg: &Config, lambda0: f64, fr: &Frame, fluence: f64, source_rows: Option<(Vec<crate::io::sourcefile::SourceRow>, usize)>, notes: &mut Notes) -> Result<Beam> {
    let (hdivsteps, hdivrange, hdivstep) =
        resolve_steps(cfg.beam.hdivsteps, cfg.beam.hdivrange, cfg.beam.hdivstep, 1.0);
    let (vdivsteps, vdivrange, vdivstep) =
        resolve_steps(cfg.beam.vdivsteps, cfg.beam.vdivrange, cfg.beam.vdivstep, 1.0);
    let (dispsteps, dispersion, dispstep) =
        resolve_steps(cfg.beam.dispsteps, Some(cfg.beam.dispersion.unwrap_or(0.0)), None, 1.0);
    if cfg.beam.source_file.is_none() {
        use crate::io::limits::{check, BYTES_PER_SOURCE};
        let (h, v, d) = (hdivsteps as f64, vdivsteps as f64, dispsteps as f64);
        check("-divsteps (-hdivsteps x -vdivsteps)", "divergence samples", h * v, BYTES_PER_SOURCE)?;
        check("-dispsteps", "wavelengths", d, BYTES_PER_SOURCE)?;
        check("-divsteps x -dispsteps", "sources", h * v * d, BYTES_PER_SOURCE)?;
    }
    let sources = build_sources(
        cfg,
        source_rows,
        notes,
        SourceGrid {
            beam_vector: fr.beam_vector,
            polar_vector: fr.polar_vector,
            lambda0,
            hdivsteps: hdivsteps as usize,
            hdivrange,
            hdivstep,
            vdivsteps: vdivsteps as usize,
            vdivrange,
            vdivstep,
            round_div: !cfg.beam.square_div,
            dispsteps: dispsteps as usize,
            dispersion,
            dispstep,
        },
    )?;
    if let Some(bad) = sources.iter().find(|s| !(s.dir.iter().all(|x| x.is_finite()) && s.lambda.is_finite())) {
        return Err(Error::new(format!(
            "{}: source position {:?} or wavelength {} is not a finite number",
            cfg.beam.source_file.as_deref().unwrap_or("beam"),
            bad.dir,
            bad.lambda
        )));
    }
    let divsteps = if cfg.beam.source_file.is_some() { 0 } else { sources.len() / dispsteps as usize };
    Ok(Beam {
        lambda0,
        sources,
        polar_vector: fr.polar_vector,
        kahn_factor: cfg.beam.kahn_factor.unwrap_or(0.0),
        nopolar: cfg.beam.nopolar,
        fluence,
        use_weights: cfg.beam.source_weights,
        dispersion,
        dispsteps: dispsteps as usize,
        hdivrange,
        hdivstep,
        vdivrange,
        vdivstep,
        divsteps,
    })
}

/// Distance of generated sources from the sample (m); only their direction matters.
pub const SOURCE_DISTANCE: f64 = 10.0;

pub struct SourceGrid {
    pub beam_vector: V3,
    pub polar_vector: V3,
    pub lambda0: f64,
    pub hdivsteps: usize,
    pub hdivrange: f64,
    pub hdivstep: f64,
    pub vdivsteps: usize,
    pub vdivrange: f64,
    pub vdivstep: f64,
    pub round_div: bool,
    pub dispsteps: usize,
    pub dispersion: f64,
    pub dispstep: f64,
}

/// Divergence offsets (h, v) in radians kept by the elliptical trim (or all with -square_div).
pub fn divergence_grid(g: &SourceGrid) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for ht in 0..g.hdivsteps {
        for vt in 0..g.vdivsteps {
            let hdiv = g.hdivstep * ht as f64 - g.hdivrange / 2.0;
            let vdiv = g.vdivstep * vt as f64 - g.vdivrange / 2.0;
            // even step counts have no central sample: shift the ellipse test by half a step
            let mut test = (hdiv * hdiv - g.hdivstep * g.hdivstep / 4.0 * (1 - g.hdivsteps % 2) as f64)
                / g.hdivrange
                / g.hdivrange;
            test += (vdiv * vdiv - g.vdivstep * g.vdivstep / 4.0 * (1 - g.vdivsteps % 2) as f64)
                / g.vdivrange
                / g.vdivrange;
            if g.round_div && test * 4.0 > 1.1 {
                continue;
            }
            out.push((hdiv, vdiv));
        }
    }
    out
}

/// The sources: the -sourcefile's rows (`rows`, with the count of comment lines skipped) or
/// the divergence x dispersion grid `g`.
pub fn build_sources(cfg: &Config, rows: Option<(Vec<crate::io::sourcefile::SourceRow>, usize)>, notes: &mut Notes, g: SourceGrid) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    if let (Some(path), Some((rows, comments))) = (&cfg.beam.source_file, rows) {
        if comments > 0 {
            notes.warnings.push(format!(
                "WARNING: {path} has {comments} comment line(s) starting with '#'; they are skipped, but the C program nanoBragg turns each into a phantom source at the origin with zero wavelength that enters its normalisation, so its image differs"
            ));
        }
        for r in &rows {
            let pos = [
                r.x.unwrap_or(-SOURCE_DISTANCE * g.beam_vector[0]),
                r.y.unwrap_or(-SOURCE_DISTANCE * g.beam_vector[1]),
                r.z.unwrap_or(-SOURCE_DISTANCE * g.beam_vector[2]),
            ];
            let lambda = r.lambda.unwrap_or(g.lambda0);
            if !(lambda > 0.0) {
                return Err(Error::new(format!("{path}: source wavelength must be positive, got {lambda}")));
            }
            let (dir, len) = unitize(pos);
            if len == 0.0 {
                return Err(Error::new(format!("{path}: a source sits at the sample position (0,0,0)")));
            }
            sources.push(Source { dir, lambda, weight: r.weight.unwrap_or(1.0) });
        }
        let w0 = sources[0].weight;
        if sources.iter().any(|s| s.weight != w0) && !cfg.beam.source_weights {
            notes.warnings.push(format!(
                "WARNING: {path} has non-uniform source weights; they are ignored (every source counts equally, as in the reference program). Use -source_weights to scale each source by its weight"
            ));
        }
        if cfg.beam.hdivrange.is_some() || cfg.beam.vdivrange.is_some() || cfg.beam.hdivstep.is_some() || cfg.beam.vdivstep.is_some()
            || cfg.beam.hdivsteps.is_some() || cfg.beam.vdivsteps.is_some() || cfg.beam.dispersion.is_some() || cfg.beam.dispsteps.is_some()
        {
            notes.warnings.push(format!(
                "WARNING: -sourcefile {path} given: divergence and dispersion flags are ignored"
            ));
        }
        if cfg.beam.source_weights {
            let sum: f64 = sources.iter().map(|s| s.weight).sum();
            if !(sum > 0.0) || sources.iter().any(|s| s.weight < 0.0 || !s.weight.is_finite()) {
                return Err(Error::new(format!("{path}: -source_weights needs non-negative weights with a positive sum")));
            }
        }
        return Ok(sources);
    }
    let vert = unitize(cross(g.beam_vector, g.polar_vector)).0;
    let grid = divergence_grid(&g);
    let weight = 1.0 / (grid.len() * g.dispsteps) as f64;
    for (hdiv, vdiv) in grid {
        let v = scale(g.beam_vector, -SOURCE_DISTANCE);
        let v = rotate_axis(v, g.polar_vector, vdiv);
        let v = rotate_axis(v, vert, hdiv);
        let dir = unitize(v).0;
        for d in 0..g.dispsteps {
            let lambda = g.lambda0 * (1.0 + g.dispstep * d as f64 - g.dispersion / 2.0);
            sources.push(Source { dir, lambda, weight });
        }
    }
    if sources.is_empty() {
        return Err(Error::new("beam: the divergence settings leave no source"));
    }
    Ok(sources)
}

/// The beam's sources replaced by a spectrum's lines along its direction, weights used (its
/// nominal wavelength, the spectrum's mean, was given to `build_beam`).
pub(super) fn use_spectrum(beam: &mut Beam, spectrum: &crate::io::spectrum::Spectrum) {
    let dir = beam.sources[0].dir;
    beam.sources = spectrum.wavelengths().zip(&spectrum.lines).map(|(lambda, &(_, weight))| Source { dir, lambda, weight }).collect();
    beam.use_weights = true;
}

/// The spectrum the settings give (a file or inline pairs), if any, after refusing the
/// settings a spectrum replaces.
pub(super) fn spectrum(cfg: &Config, files: &super::files::InputFiles) -> Result<Option<crate::io::spectrum::Spectrum>> {
    let b = &cfg.beam;
    let given = match (&b.spectrum_file, &b.spectrum_lines) {
        (None, None) => return Ok(None),
        (Some(p), Some(_)) => return Err(Error::new(format!("-spectrum_lines: cannot be combined with -spectrum {p} (give one spectrum)"))),
        (Some(p), None) => format!("-spectrum {p}"),
        (None, Some(_)) => "-spectrum_lines".to_string(),
    };
    let clash = [
        (b.source_file.is_some(), "-sourcefile"),
        (b.lambda.is_some(), "-lambda/-energy"),
        (b.dispersion.is_some_and(|d| d > 0.0) || b.dispsteps.is_some_and(|n| n > 1), "-dispersion/-dispsteps"),
        ([b.hdivrange, b.vdivrange].iter().any(|d| d.is_some_and(|d| d > 0.0)), "-divergence"),
    ];
    if let Some((_, flag)) = clash.iter().find(|c| c.0) {
        return Err(Error::new(format!("{flag}: cannot be combined with {given} (the spectrum gives the wavelengths)")));
    }
    let spectrum = match (&b.spectrum_file, &b.spectrum_lines) {
        (Some(p), _) => files.spectrum(p)?,
        (None, lines) => crate::io::spectrum::Spectrum::from_pairs("-spectrum_lines", lines.as_deref().unwrap_or(&[]))?,
    };
    Ok(Some(spectrum))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(h: usize, v: usize, range: f64, round: bool) -> SourceGrid {
        SourceGrid {
            beam_vector: [1.0, 0.0, 0.0],
            polar_vector: [0.0, 0.0, 1.0],
            lambda0: 1e-10,
            hdivsteps: h,
            hdivrange: range,
            hdivstep: range / (h - 1) as f64,
            vdivsteps: v,
            vdivrange: range,
            vdivstep: range / (v - 1) as f64,
            round_div: round,
            dispsteps: 1,
            dispersion: 0.0,
            dispstep: 0.0,
        }
    }

    #[test]
    fn elliptical_trim_drops_corners() {
        assert_eq!(divergence_grid(&grid(3, 3, 0.5e-3, false)).len(), 9);
        // 3x3 round: corners have test = 0.5 -> 2.0 > 1.1, dropped
        assert_eq!(divergence_grid(&grid(3, 3, 0.5e-3, true)).len(), 5);
    }
}
