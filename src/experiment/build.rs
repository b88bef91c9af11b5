//! The builder: flags and input files to an [`Experiment`], one concern at a time, in the
//! order the reference program resolves them (which fixes the order of warnings and of the
//! checks that reject impossible inputs).

use super::files::InputFiles;
use super::inputs::Inputs;
use super::{crystal, detector, panels, sampling, sources, structure, Experiment, Notes, Structure};
use crate::config::Config;
use crate::error::Result;

/// Build the experiment from parsed options, reading every input file.
pub fn build(cfg: &Config) -> Result<(Experiment, Notes)> {
    build_from(cfg, &InputFiles::read(cfg)?, None)
}

/// As [`build`], from input files read before (a batch reads them once for all its shots)
/// and, when given, structure factors read before instead of from -hkl or the dump file; the
/// interpolation is still chosen for this experiment's crystal.
pub fn build_from(cfg: &Config, files: &InputFiles, given: Option<&Structure>) -> Result<(Experiment, Notes)> {
    let mut notes = Notes::default();
    let mut inputs = Inputs::read(cfg, files)?;
    // a spectrum gives the wavelengths: its weighted mean is the nominal one (a -mat matrix's
    // scale, the automatic oversampling), its lines the sources
    let spectrum = sources::spectrum(cfg, files)?;
    if let Some(s) = &spectrum {
        inputs.lambda0 = s.mean_wavelength();
    }
    let grid = detector::pixel_grid(cfg, &inputs)?;
    let fluence = sources::fluence(cfg)?;
    let sample = crystal::clipped_sample(cfg, &mut notes);
    let roi = detector::roi(cfg, &grid)?;
    let mut frame = detector::frame(cfg, &inputs, &grid, &mut notes)?;
    let (detector, more_panels) = match &inputs.expt {
        None => {
            let sensor = detector::sensor(cfg, &mut notes);
            (detector::place(cfg, &inputs, &grid, &frame, roi, sensor)?, vec![])
        }
        Some(x) => {
            panels::check_flags(cfg, x)?;
            panels::apply_to_frame(cfg, x, &mut frame);
            let mut all = panels::panel_detectors(cfg, x, &frame, &mut notes)?;
            // the same total-pixel limit as -detpixels, over all the panels
            let pixels: f64 = all.iter().map(|d| d.fpixels as f64 * d.spixels as f64).sum();
            let flag = format!("-expt {}", cfg.detector.expt_file.as_deref().unwrap_or(""));
            crate::io::limits::check(&flag, &format!("pixels (in {} panels)", all.len()), pixels, crate::io::limits::BYTES_PER_PIXEL)?;
            let rest = all.split_off(1);
            (all.pop().expect("a list has at least one panel"), rest)
        }
    };
    let cell = inputs.expt.as_ref().and_then(|x| panels::cell_vectors(cfg, x));
    let matrix = cfg.crystal.matrix_file.as_deref().map(|p| files.mat(p)).transpose()?;
    let crystal = crystal::build_crystal(cfg, &inputs, frame.spindle, sample, cell, matrix, &mut notes)?;
    // the panel that needs the finest sampling sets it for all
    let finest = std::iter::once(&detector).chain(&more_panels).min_by(|a, b| (a.distance / a.pixel_size).total_cmp(&(b.distance / b.pixel_size))).expect("one panel");
    let oversample = sampling::oversample(cfg, &crystal, finest, inputs.lambda0, &mut notes)?;
    let structure = match given {
        Some(s) => structure::reuse_structure(cfg, &crystal, s),
        None => structure::load_structure(cfg, &crystal, &mut notes)?,
    };
    let source_rows = cfg.beam.source_file.as_deref().map(|p| files.sources(p)).transpose()?;
    let mut beam = sources::build_beam(cfg, inputs.lambda0, &frame, fluence, source_rows, &mut notes)?;
    if let Some(s) = &spectrum {
        sources::use_spectrum(&mut beam, s);
    }
    if let Some(k) = inputs.expt.as_ref().and_then(|x| panels::kahn_factor(cfg, x)) {
        beam.kahn_factor = k;
    }
    let panels = 1 + more_panels.len();
    if panels > 1 {
        // each panel's experiment holds its own copy of the orientations and sources
        use crate::io::limits::{check, BYTES_PER_ORIENTATION, BYTES_PER_SOURCE};
        let flag = format!("-expt {} ({panels} panels)", cfg.detector.expt_file.as_deref().unwrap_or(""));
        check(&format!("{flag} x -phisteps x -mosaic_domains"), "orientations over the panels", (crystal.phisteps * crystal.mosaic_umats.len() * panels) as f64, BYTES_PER_ORIENTATION)?;
        check(&format!("{flag} x sources"), "sources over the panels", (beam.sources.len() * panels) as f64, BYTES_PER_SOURCE)?;
    }
    let sampling = sampling::build_sampling(cfg, oversample, &beam, &crystal)?;
    let amorphous = super::amorphous::layers(cfg)?;
    Ok((Experiment { detector, more_panels, beam, crystal, sampling, structure, mask: inputs.mask, amorphous }, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Convention;

    fn opts(s: &str) -> Config {
        crate::config::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn custom_convention_keeps_the_reference_two_theta_axis() {
        // the reference starts with a +y two-theta axis and only the named conventions change it
        let (e, _) = build(&opts("-cell 70 80 90 90 90 90 -default_F 1 -detpixels 16 -spindle_axis 0 0 1 -twotheta 10")).unwrap();
        assert_eq!(e.detector.convention, Convention::Custom);
        assert_eq!(e.detector.setup.twotheta_axis, [0.0, 1.0, 0.0]);
        let (e, _) = build(&opts("-cell 70 80 90 90 90 90 -default_F 1 -detpixels 16 -twotheta 10")).unwrap();
        assert_eq!(e.detector.setup.twotheta_axis, [0.0, 0.0, -1.0]);
    }

    #[test]
    fn zero_or_infinite_attenuation_depth_means_no_sensor_in_either_order() {
        for args in ["-detector_thick 100 -detector_abs 0", "-detector_abs inf -detector_thick 100"] {
            let (e, _) = build(&opts(&format!("-cell 70 80 90 90 90 90 -default_F 1 -detpixels 16 {args}"))).unwrap();
            assert_eq!(e.detector.thick, 0.0, "{args}");
            assert_eq!(e.detector.thicksteps, 1, "{args}");
        }
    }

    #[test]
    fn a_beam_centre_off_the_detector_and_costly_automatic_oversampling_are_warned() {
        let warned = |flags: &str, needle: &str| {
            let (_, notes) = build(&opts(&format!("-cell 70 80 90 90 90 90 -default_F 1 -detpixels 16 {flags}"))).unwrap();
            notes.warnings.iter().any(|w| w.contains(needle))
        };
        assert!(warned("-Xbeam 500", "off the 1.6 x 1.6 mm detector"));
        assert!(warned("-Ybeam -1", "off the"));
        assert!(!warned("-Xbeam 0.8 -Ybeam 0.8", "off the"));
        assert!(!warned("", "off the"));
        assert!(warned("-N 60", "sub-pixels per pixel"));
        assert!(!warned("-N 60 -oversample 5", "sub-pixels per pixel"));
        assert!(!warned("-N 5", "sub-pixels per pixel"));
    }
}
