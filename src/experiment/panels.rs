//! A detector of one or more flat panels read from a DIALS experiment list (`-expt`), and the
//! beam, crystal and rotation it also gives. DIALS vectors are turned into the nanoBragg frame
//! ([`super::lab::from_dials`]); the flags the user typed override what they name.

use super::detector::Frame;
use super::inputs::Expt;
use super::lab::{from_dials, to_dials};
use super::sampling::thickness_steps;
use super::{mm, Detector, DetectorSetup, Notes};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::io::expt::PanelGeometry;
use crate::config::{Convention, Pivot};
use crate::physics::vec3::*;

/// Flags that place one flat detector of the reference's kind: they cannot also place the
/// panels of an experiment list (move those with the `panel<i>_*` parameters instead).
fn placement_flags(cfg: &Config) -> Vec<&'static str> {
    let mut given = vec![];
    let mut check = |is: bool, name: &'static str| {
        if is {
            given.push(name);
        }
    };
    check(cfg.detector.distance.is_some(), "-distance");
    check(cfg.detector.close_distance.is_some(), "-close_distance");
    check(cfg.detector.beam_center[0].is_some() || cfg.detector.beam_center[1].is_some(), "-Xbeam/-Ybeam");
    check(cfg.detector.close_point[0].is_some() || cfg.detector.close_point[1].is_some(), "-Xclose/-Yclose");
    check(cfg.detector.origin_pixels[0].is_some() || cfg.detector.origin_pixels[1].is_some(), "-ORGX/-ORGY");
    check(cfg.detector.pixels[0].is_some() || cfg.detector.pixels[1].is_some(), "-detpixels");
    check(cfg.detector.size[0].is_some() || cfg.detector.size[1].is_some(), "-detsize");
    check(cfg.detector.rotation.iter().any(|r| r.is_some()), "-detector_rotx/-roty/-rotz");
    check(cfg.detector.twotheta.is_some(), "-twotheta");
    check(cfg.detector.twotheta_axis.is_some(), "-twotheta_axis");
    check(cfg.detector.pivot.is_some(), "-pivot");
    check(cfg.detector.fdet.is_some() || cfg.detector.sdet.is_some() || cfg.detector.odet.is_some(), "-fdet_vector/-sdet_vector/-odet_vector");
    check(cfg.detector.pix0.is_some(), "-pix0_vector");
    check(cfg.detector.mask_file.is_some(), "-mask");
    check(cfg.detector.header_image.is_some(), "-img");
    given
}

/// Refuse flags that would place a detector the experiment list already places.
pub(super) fn check_flags(cfg: &Config, x: &Expt) -> Result<()> {
    match placement_flags(cfg).first() {
        Some(flag) => Err(Error::new(format!("{flag}: cannot be combined with -expt {} (the detector comes from the experiment list)", x.file))),
        None => Ok(()),
    }
}

/// The beam direction, polarization axis and rotation axis of the list, where no flag gives
/// them (a named convention's axes give way to the list's).
pub(super) fn apply_to_frame(cfg: &Config, x: &Expt, frame: &mut Frame) {
    if let Some(b) = &x.list.beam {
        // DIALS gives the direction towards the source; nanoBragg the direction of travel
        let beam = from_dials(scale(b.direction, -1.0));
        if cfg.detector.beam_vector.is_none() {
            frame.beam_vector = beam;
        }
        if let (Some(n), None) = (b.polarization_normal, cfg.detector.polar_vector) {
            // the polarization axis lies in the plane normal to `n`, across the beam
            let (e, len) = unitize(cross(from_dials(n), frame.beam_vector));
            if len > 0.0 {
                frame.polar_vector = e;
            }
        }
    }
    if let (Some(axis), None) = (x.list.rotation_axis, cfg.detector.spindle_axis) {
        frame.spindle = from_dials(axis);
    }
    frame.convention = Convention::Custom;
    frame.pivot = Pivot::Sample;
}

/// The Kahn factor of the list's polarization fraction f (2f - 1), unless -polar gives one.
pub(super) fn kahn_factor(cfg: &Config, x: &Expt) -> Option<f64> {
    let f = x.list.beam.as_ref()?.polarization_fraction?;
    cfg.beam.kahn_factor.is_none().then_some(2.0 * f - 1.0)
}

/// The crystal's real-space vectors (Angstrom, nanoBragg frame), unless -cell or -mat give the
/// cell.
pub(super) fn cell_vectors(cfg: &Config, x: &Expt) -> Option<[V3; 3]> {
    if cfg.crystal.cell.is_some() || cfg.crystal.matrix_file.is_some() {
        return None;
    }
    x.list.crystal.map(|abc| abc.map(from_dials))
}

/// Every panel of the list as a placed flat detector.
pub(super) fn panel_detectors(cfg: &Config, x: &Expt, frame: &Frame, notes: &mut Notes) -> Result<Vec<Detector>> {
    let dname = "detector";
    x.list
        .panels
        .iter()
        .enumerate()
        .map(|(i, p)| panel_detector(cfg, p, i, frame, notes).map_err(|msg| Error::new(format!("{}: {dname}.panels[{i}]{msg}", x.file))))
        .collect()
}

/// One panel: its axes and origin in the nanoBragg frame, the distances and beam position the
/// kernel and the image headers use, its sensor and region of interest. Errors are the tail of
/// a message that names the panel.
fn panel_detector(cfg: &Config, p: &PanelGeometry, index: usize, fr: &Frame, notes: &mut Notes) -> std::result::Result<Detector, String> {
    let pixel_size = match cfg.detector.pixel_size {
        Some(v) => v,
        None => {
            let [pf, ps] = p.pixel_size;
            if (pf - ps).abs() > 1e-9 * pf.max(ps) {
                return Err(format!(".pixel_size: rectangular pixels ({pf} x {ps} mm) are not supported"));
            }
            mm(pf)
        }
    };
    let fdet = from_dials(p.fast_axis);
    let sdet = from_dials(p.slow_axis);
    let pix0 = from_dials(p.origin).map(mm);
    // the normal points away from the sample, as the reference's odet does
    let mut odet = unitize(cross(fdet, sdet)).0;
    let mut close = dot(pix0, odet);
    if close < 0.0 {
        odet = scale(odet, -1.0);
        close = -close;
    }
    if !(close >= 1e-9) {
        return Err(": the panel's plane passes through the sample".into());
    }
    let beam = fr.beam_vector;
    let ratio = dot(beam, odet);
    // along the beam to the panel's plane; a plane parallel to the beam never meets it
    let distance = if ratio.abs() > 1e-12 { close / ratio } else { close };
    let hit = sub(scale(beam, distance), pix0);
    let (fbeam, sbeam) = (dot(fdet, hit), dot(sdet, hit));
    let (fclose, sclose) = (-dot(pix0, fdet), -dot(pix0, sdet));
    let (fpixels, spixels) = (p.image_size[0], p.image_size[1]);
    let (thick, thickstep, thicksteps, mu) = sensor(cfg, p, notes);
    let (fp, sp) = (fpixels as i64, spixels as i64);
    let roi = match cfg.detector.roi {
        Some(r) => [r[0].max(0), if r[1] < 0 { fp } else { r[1] }, r[2].max(0), if r[3] < 0 { sp } else { r[3] }],
        None => [0, fp, 0, sp],
    };
    Ok(Detector {
        fpixels,
        spixels,
        pixel_size,
        fdet,
        sdet,
        odet,
        pix0,
        beam_vector: beam,
        distance,
        close_distance: close,
        curved: cfg.detector.curved,
        point_pixel: cfg.detector.point_pixel,
        thick,
        thickstep,
        thicksteps,
        mu,
        roi,
        convention: Convention::Custom,
        pivot: Pivot::Sample,
        xbeam: fbeam,
        ybeam: sbeam,
        fbeam,
        sbeam,
        xclose: fclose,
        yclose: sclose,
        fclose,
        sclose,
        orgx: fclose / pixel_size + 0.5,
        orgy: sclose / pixel_size + 0.5,
        dials_origin: to_dials(pix0).map(|v| v * 1000.0),
        detsize_f: pixel_size * fpixels as f64,
        detsize_s: pixel_size * spixels as f64,
        twotheta: 0.0,
        panel: index,
        name: p.name.clone(),
        setup: DetectorSetup {
            fdet0: fdet,
            sdet0: sdet,
            odet0: odet,
            twotheta_axis: fr.twotheta_axis,
            rot: [0.0; 3],
            distance_in: close,
            close_given: true,
            fbeam0: fclose,
            sbeam0: sclose,
            fclose0: fclose,
            sclose0: sclose,
            size_from_pixels: true,
            explicit: true,
        },
    })
}

/// Thickness (m), layer step (m), layers and attenuation coefficient (1/m): the panel's, or
/// -detector_thick / -detector_abs / -detector_thicksteps where given.
fn sensor(cfg: &Config, p: &PanelGeometry, notes: &mut Notes) -> (f64, f64, usize, f64) {
    let thick_in = match cfg.detector.attenuation_depth {
        Some(None) => Some(0.0),
        _ => Some(cfg.detector.thickness.unwrap_or(mm(p.thickness))),
    };
    let mut mu = match cfg.detector.attenuation_depth {
        Some(Some(depth)) => 1.0 / depth,
        Some(None) => 0.0,
        None if p.mu > 0.0 => p.mu * 1000.0,
        None => -1.0,
    };
    let (thicksteps, thick, thickstep) = thickness_steps(cfg.detector.thicksteps, thick_in.filter(|&t| t > 0.0));
    if thick > 0.0 && mu <= 0.0 {
        mu = 1.0 / thick;
        notes.warnings.push(format!("WARNING: panel {}: no attenuation given; setting detector attenuation depth to {} m", p.name, fmt_g(thick)));
    }
    (thick, thickstep, thicksteps, mu)
}
