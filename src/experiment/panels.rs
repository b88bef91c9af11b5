//! A detector of one or more flat panels read from a DIALS experiment list (`-expt`), and the
//! beam, crystal and rotation it also gives. DIALS vectors are turned into the nanoBragg frame
//! ([`super::lab::from_dials`]); the flags the user typed override what they name.

use super::detector::Frame;
use super::inputs::Expt;
use super::lab::{from_dials, to_dials};
use super::sampling::thickness_steps;
use super::{mm, Detector, DetectorSetup, Notes};
use crate::cli::Options;
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::io::expt::PanelGeometry;
use crate::config::{Convention, Pivot};
use crate::physics::vec3::*;

/// Flags that place one flat detector of the reference's kind: they cannot also place the
/// panels of an experiment list (move those with the `panel<i>_*` parameters instead).
fn placement_flags(o: &Options) -> Vec<&'static str> {
    let mut given = vec![];
    let mut check = |is: bool, name: &'static str| {
        if is {
            given.push(name);
        }
    };
    check(o.distance.is_some(), "-distance");
    check(o.close_distance.is_some(), "-close_distance");
    check(o.xbeam.is_some() || o.ybeam.is_some(), "-Xbeam/-Ybeam");
    check(o.xclose.is_some() || o.yclose.is_some(), "-Xclose/-Yclose");
    check(o.orgx.is_some() || o.orgy.is_some(), "-ORGX/-ORGY");
    check(o.detpixels_f.is_some() || o.detpixels_s.is_some(), "-detpixels");
    check(o.detsize_f.is_some() || o.detsize_s.is_some(), "-detsize");
    check(o.detector_rot.iter().any(|r| r.is_some()), "-detector_rotx/-roty/-rotz");
    check(o.twotheta.is_some(), "-twotheta");
    check(o.twotheta_axis.is_some(), "-twotheta_axis");
    check(o.pivot.is_some(), "-pivot");
    check(o.fdet_vector.is_some() || o.sdet_vector.is_some() || o.odet_vector.is_some(), "-fdet_vector/-sdet_vector/-odet_vector");
    check(o.pix0_vector.is_some(), "-pix0_vector");
    check(o.mask.is_some(), "-mask");
    check(o.img.is_some(), "-img");
    given
}

/// Refuse flags that would place a detector the experiment list already places.
pub(super) fn check_flags(o: &Options, x: &Expt) -> Result<()> {
    match placement_flags(o).first() {
        Some(flag) => Err(Error::new(format!("{flag}: cannot be combined with -expt {} (the detector comes from the experiment list)", x.file))),
        None => Ok(()),
    }
}

/// The beam direction, polarization axis and rotation axis of the list, where no flag gives
/// them (a named convention's axes give way to the list's).
pub(super) fn apply_to_frame(o: &Options, x: &Expt, frame: &mut Frame) {
    if let Some(b) = &x.list.beam {
        // DIALS gives the direction towards the source; nanoBragg the direction of travel
        let beam = from_dials(scale(b.direction, -1.0));
        if o.beam_vector.is_none() {
            frame.beam_vector = beam;
        }
        if let (Some(n), None) = (b.polarization_normal, o.polar_vector) {
            // the polarization axis lies in the plane normal to `n`, across the beam
            let (e, len) = unitize(cross(from_dials(n), frame.beam_vector));
            if len > 0.0 {
                frame.polar_vector = e;
            }
        }
    }
    if let (Some(axis), None) = (x.list.rotation_axis, o.spindle_axis) {
        frame.spindle = from_dials(axis);
    }
    frame.convention = Convention::Custom;
    frame.pivot = Pivot::Sample;
}

/// The Kahn factor of the list's polarization fraction f (2f - 1), unless -polar gives one.
pub(super) fn kahn_factor(o: &Options, x: &Expt) -> Option<f64> {
    let f = x.list.beam.as_ref()?.polarization_fraction?;
    o.polar.is_none().then_some(2.0 * f - 1.0)
}

/// The crystal's real-space vectors (Angstrom, nanoBragg frame), unless -cell or -mat give the
/// cell.
pub(super) fn cell_vectors(o: &Options, x: &Expt) -> Option<[V3; 3]> {
    if o.cell.is_some() || o.mat.is_some() {
        return None;
    }
    x.list.crystal.map(|abc| abc.map(from_dials))
}

/// Every panel of the list as a placed flat detector.
pub(super) fn panel_detectors(o: &Options, x: &Expt, frame: &Frame, notes: &mut Notes) -> Result<Vec<Detector>> {
    let dname = "detector";
    x.list
        .panels
        .iter()
        .enumerate()
        .map(|(i, p)| panel_detector(o, p, i, frame, notes).map_err(|msg| Error::new(format!("{}: {dname}.panels[{i}]{msg}", x.file))))
        .collect()
}

/// One panel: its axes and origin in the nanoBragg frame, the distances and beam position the
/// kernel and the image headers use, its sensor and region of interest. Errors are the tail of
/// a message that names the panel.
fn panel_detector(o: &Options, p: &PanelGeometry, index: usize, fr: &Frame, notes: &mut Notes) -> std::result::Result<Detector, String> {
    let pixel_size = match o.pixel {
        Some(v) => mm(v),
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
    let (thick, thickstep, thicksteps, mu) = sensor(o, p, notes);
    let (fp, sp) = (fpixels as i64, spixels as i64);
    let roi = match o.roi {
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
        curved: o.curved_det,
        point_pixel: o.point_pixel,
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
fn sensor(o: &Options, p: &PanelGeometry, notes: &mut Notes) -> (f64, f64, usize, f64) {
    let thick_in = match o.detector_abs {
        Some(None) => Some(0.0),
        _ => Some(o.detector_thick.map(|v| v * 1e-6).unwrap_or(mm(p.thickness))),
    };
    let mut mu = match o.detector_abs {
        Some(Some(v)) => 1.0 / (v * 1e-6),
        Some(None) => 0.0,
        None if p.mu > 0.0 => p.mu * 1000.0,
        None => -1.0,
    };
    let (thicksteps, thick, thickstep) = thickness_steps(o.detector_thicksteps, thick_in.filter(|&t| t > 0.0));
    if thick > 0.0 && mu <= 0.0 {
        mu = 1.0 / thick;
        notes.warnings.push(format!("WARNING: panel {}: no attenuation given; setting detector attenuation depth to {} m", p.name, fmt_g(thick)));
    }
    (thick, thickstep, thicksteps, mu)
}
