//! Detector: pixel grid, region of interest, the axes and beam centre a convention sets, the
//! sensor layers, and the placement (pivot, rotations, two-theta) that fixes the origin.

use super::inputs::Inputs;
use super::sampling::thickness_steps;
use super::{Detector, DetectorSetup, Notes};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::config::{Convention, Pivot};
use crate::physics::vec3::*;

/// Pixel counts and physical size of the detector.
pub(super) struct PixelGrid {
    pub fpixels: usize,
    pub spixels: usize,
    pub detsize_f: f64,
    pub detsize_s: f64,
    /// Both pixel counts were given, so the size follows the pixel size.
    pub size_from_pixels: bool,
}

/// Pixel counts from the given counts or sizes; the mask must cover exactly this grid.
pub(super) fn pixel_grid(cfg: &Config, inp: &Inputs) -> Result<PixelGrid> {
    let (fpixels, spixels, pixel_size) = (inp.fpixels, inp.spixels, inp.pixel_size);
    let size_from_pixels = fpixels != 0 && spixels != 0;
    let mut detsize_f = inp.detsize_f;
    let mut detsize_s = inp.detsize_s;
    if fpixels != 0 {
        detsize_f = pixel_size * fpixels as f64;
    }
    if spixels != 0 {
        detsize_s = pixel_size * spixels as f64;
    }
    let fpix = (detsize_f / pixel_size - 0.5).ceil();
    let spix = (detsize_s / pixel_size - 0.5).ceil();
    if !(fpix >= 1.0) || !(spix >= 1.0) {
        return Err(Error::new(format!(
            "detector has no pixels ({fpix} x {spix}): check -detpixels, -detsize and -pixel"
        )));
    }
    // the flag (or header) the pixel counts came from
    let flag = if cfg.detector.pixels[0].is_some() || cfg.detector.pixels[1].is_some() {
        "-detpixels".to_string()
    } else if let (Some(img), true) = (&cfg.detector.header_image, cfg.detector.size[0].is_none() && cfg.detector.size[1].is_none()) {
        format!("-img {img}")
    } else {
        "-detsize/-pixel".to_string()
    };
    crate::io::limits::check(&flag, &format!("pixels ({fpix} x {spix})"), fpix * spix, crate::io::limits::BYTES_PER_PIXEL)?;
    let fpixels = fpix as usize;
    let spixels = spix as usize;
    if let (Some(m), Some((mf, ms))) = (&inp.mask, inp.mask_dims) {
        if mf as usize != fpixels || ms as usize != spixels || m.len() != fpixels * spixels {
            return Err(Error::new(format!(
                "{}: mask is {mf} x {ms} pixels but the detector is {fpixels} x {spixels}",
                cfg.detector.mask_file.as_deref().unwrap_or("mask")
            )));
        }
    }
    Ok(PixelGrid { fpixels, spixels, detsize_f, detsize_s, size_from_pixels })
}

/// Inclusive pixel limits (fast min, fast max, slow min, slow max); a negative maximum means
/// the detector's edge.
pub(super) fn roi(cfg: &Config, g: &PixelGrid) -> Result<[i64; 4]> {
    let (fp, sp) = (g.fpixels as i64, g.spixels as i64);
    let roi = match cfg.detector.roi {
        Some(r) => [r[0].max(0), if r[1] < 0 { fp } else { r[1] }, r[2].max(0), if r[3] < 0 { sp } else { r[3] }],
        None => [0, fp, 0, sp],
    };
    if roi[0] > roi[1] || roi[2] > roi[3] {
        return Err(Error::new(format!("-roi: limits {} {} {} {} are inverted", roi[0], roi[1], roi[2], roi[3])));
    }
    Ok(roi)
}

/// The lab frame of a convention: beam, detector axes before rotation, two-theta axis,
/// polarization and spindle axes, and where the beam centre and near point lie on the
/// unrotated detector (m).
#[derive(Clone, Copy)]
pub(super) struct Frame {
    pub convention: Convention,
    pub pivot: Pivot,
    pub beam_vector: V3,
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    pub twotheta_axis: V3,
    pub polar_vector: V3,
    pub spindle: V3,
    /// Beam centre in the convention's own coordinates (as written to headers).
    pub xbeam: f64,
    pub ybeam: f64,
    pub fbeam: f64,
    pub sbeam: f64,
    pub xclose: f64,
    pub yclose: f64,
    pub fclose: f64,
    pub sclose: f64,
}

/// The frame the convention (or the user's vectors) sets, with unit axes.
pub(super) fn frame(cfg: &Config, inp: &Inputs, g: &PixelGrid, notes: &mut Notes) -> Result<Frame> {
    let mut fr = convention_frame(cfg, inp, g);
    if cfg.detector.beam_center.iter().any(Option::is_some) {
        let inside = |x: f64, size: f64| (0.0..=size).contains(&x);
        if !inside(fr.fbeam, g.detsize_f) || !inside(fr.sbeam, g.detsize_s) {
            notes.warnings.push(format!(
                "WARNING: -Xbeam/-Ybeam put the beam centre ({} {} mm) off the {} x {} mm detector",
                fmt_g(fr.xbeam * 1000.0),
                fmt_g(fr.ybeam * 1000.0),
                fmt_g(g.detsize_f * 1000.0),
                fmt_g(g.detsize_s * 1000.0)
            ));
        }
    }
    if cfg.detector.pix0.is_some() {
        notes.warnings.push(
            "WARNING: -pix0_vector is accepted but, as in the reference program, the detector origin is recomputed from the beam centre and pivot".into(),
        );
    }
    unit_axes(&mut fr, notes)?;
    Ok(fr)
}

/// Axes and beam-centre mapping of each convention; a named convention replaces the user's
/// vectors and pivot, as in the reference.
fn convention_frame(cfg: &Config, inp: &Inputs, g: &PixelGrid) -> Frame {
    let (pixel_size, detsize_f, detsize_s) = (inp.pixel_size, g.detsize_f, g.detsize_s);
    let (xbeam, ybeam) = (inp.xbeam, inp.ybeam);
    let mut fclose = inp.orgx.map(|v| (v - 0.5) * pixel_size).unwrap_or(detsize_f / 2.0);
    let mut sclose = inp.orgy.map(|v| (v - 0.5) * pixel_size).unwrap_or(detsize_s / 2.0);
    let xclose = cfg.detector.close_point[0].unwrap_or(fclose);
    let yclose = cfg.detector.close_point[1].unwrap_or(sclose);
    let fbeam;
    let sbeam;
    let convention = cfg.detector.convention.unwrap_or(Convention::Mosflm);
    let mut pivot = cfg.detector.pivot.unwrap_or(Pivot::Beam);
    let mut beam_vector: V3 = cfg.detector.beam_vector.unwrap_or([1.0, 0.0, 0.0]);
    let mut fdet: V3 = cfg.detector.fdet.unwrap_or([0.0, 0.0, 1.0]);
    let mut sdet: V3 = cfg.detector.sdet.unwrap_or([0.0, -1.0, 0.0]);
    let mut odet: V3 = cfg.detector.odet.unwrap_or([1.0, 0.0, 0.0]);
    // the reference's initial two-theta axis is +y; only the named conventions replace it
    let mut twotheta_axis: V3 = cfg.detector.twotheta_axis.unwrap_or([0.0, 1.0, 0.0]);
    let mut polar_vector: V3 = cfg.detector.polar_vector.unwrap_or([0.0, 0.0, 1.0]);
    let mut spindle: V3 = cfg.detector.spindle_axis.unwrap_or([0.0, 0.0, 1.0]);
    let (xb, yb);
    match convention {
        Convention::Adxv => {
            xb = xbeam.unwrap_or((detsize_f + pixel_size) / 2.0);
            yb = ybeam.unwrap_or((detsize_s - pixel_size) / 2.0);
            beam_vector = [0.0, 0.0, 1.0];
            fdet = [1.0, 0.0, 0.0];
            sdet = [0.0, -1.0, 0.0];
            odet = [0.0, 0.0, 1.0];
            twotheta_axis = [-1.0, 0.0, 0.0];
            polar_vector = [1.0, 0.0, 0.0];
            spindle = [1.0, 0.0, 0.0];
            fbeam = xb;
            sbeam = detsize_s - yb;
            pivot = Pivot::Beam;
        }
        Convention::Mosflm | Convention::Denzo => {
            xb = xbeam.unwrap_or((detsize_s + pixel_size) / 2.0);
            yb = ybeam.unwrap_or((detsize_f + pixel_size) / 2.0);
            beam_vector = [1.0, 0.0, 0.0];
            odet = [1.0, 0.0, 0.0];
            fdet = [0.0, 0.0, 1.0];
            sdet = [0.0, -1.0, 0.0];
            twotheta_axis = [0.0, 0.0, -1.0];
            polar_vector = [0.0, 0.0, 1.0];
            spindle = [0.0, 0.0, 1.0];
            let half = if convention == Convention::Mosflm { 0.5 * pixel_size } else { 0.0 };
            fbeam = yb + half;
            sbeam = xb + half;
            pivot = Pivot::Beam;
        }
        Convention::Xds | Convention::Dials => {
            xb = xbeam.unwrap_or(xclose);
            yb = ybeam.unwrap_or(yclose);
            beam_vector = [0.0, 0.0, 1.0];
            fdet = [1.0, 0.0, 0.0];
            sdet = [0.0, 1.0, 0.0];
            odet = [0.0, 0.0, 1.0];
            if convention == Convention::Xds {
                twotheta_axis = [1.0, 0.0, 0.0];
                polar_vector = [1.0, 0.0, 0.0];
                spindle = [1.0, 0.0, 0.0];
            } else {
                twotheta_axis = [0.0, 1.0, 0.0];
                polar_vector = [0.0, 1.0, 0.0];
                spindle = [0.0, 1.0, 0.0];
            }
            fbeam = xb;
            sbeam = yb;
            pivot = Pivot::Sample;
        }
        Convention::Custom => {
            xb = xbeam.unwrap_or(xclose);
            yb = ybeam.unwrap_or(yclose);
            fbeam = xb;
            sbeam = yb;
            fclose = xb;
            sclose = yb;
        }
    }
    Frame {
        convention,
        pivot,
        beam_vector,
        fdet,
        sdet,
        odet,
        twotheta_axis,
        polar_vector,
        spindle,
        xbeam: xb,
        ybeam: yb,
        fbeam,
        sbeam,
        xclose,
        yclose,
        fclose,
        sclose,
    }
}

/// Normalise the frame's vectors (a zero odet is rebuilt from fdet x sdet); zero vectors are
/// errors.
fn unit_axes(fr: &mut Frame, notes: &mut Notes) -> Result<()> {
    fr.beam_vector = unitize(fr.beam_vector).0;
    fr.fdet = unitize(fr.fdet).0;
    fr.sdet = unitize(fr.sdet).0;
    let (od, omag) = unitize(fr.odet);
    fr.odet = od;
    if omag != 1.0 {
        notes.warnings.push("WARNING: auto-generating odet_vector".into());
        fr.odet = unitize(cross(fr.fdet, fr.sdet)).0;
    }
    fr.polar_vector = unitize(fr.polar_vector).0;
    fr.spindle = unitize(fr.spindle).0;
    for (name, v) in [("-beam_vector", fr.beam_vector), ("-fdet_vector", fr.fdet), ("-sdet_vector", fr.sdet), ("-spindle_axis", fr.spindle)] {
        if norm(v) == 0.0 {
            return Err(Error::new(format!("{name}: vector must be non-zero")));
        }
    }
    Ok(())
}

/// Sensor thickness (m), layer step (m), number of layers and attenuation coefficient (1/m).
pub(super) struct Sensor {
    pub thick: f64,
    pub thickstep: f64,
    pub thicksteps: usize,
    pub mu: f64,
}

pub(super) fn sensor(cfg: &Config, notes: &mut Notes) -> Sensor {
    let mut mu = match cfg.detector.attenuation_depth {
        Some(Some(depth)) => 1.0 / depth,
        Some(None) => 0.0,
        None => -1.0,
    };
    // -detector_abs 0 or inf means "no sensor model", whatever the order of the flags (the
    // reference zeroes the thickness only when -detector_thick came first)
    let thick_in = match cfg.detector.attenuation_depth {
        Some(None) => Some(0.0),
        _ => cfg.detector.thickness,
    };
    let (thicksteps, thick, thickstep) = thickness_steps(cfg.detector.thicksteps, thick_in);
    if thick > 0.0 && mu < 0.0 {
        mu = 1.0 / thick;
        notes.warnings.push(format!("WARNING: setting detector attenuation depth to {} m", fmt_g(mu)));
    }
    Sensor { thick, thickstep, thicksteps, mu }
}

/// What the model needs to redo the placement from parameters: the unrotated frame, the
/// rotations and the distance and beam centre as given.
fn setup_of(inp: &Inputs, g: &PixelGrid, fr: &Frame, rot: V3) -> DetectorSetup {
    DetectorSetup {
        fdet0: fr.fdet,
        sdet0: fr.sdet,
        odet0: fr.odet,
        twotheta_axis: fr.twotheta_axis,
        rot,
        distance_in: inp.close_distance.unwrap_or(inp.distance),
        close_given: inp.close_distance.is_some(),
        fbeam0: fr.fbeam,
        sbeam0: fr.sbeam,
        fclose0: fr.fclose,
        sclose0: fr.sclose,
        size_from_pixels: g.size_from_pixels,
        explicit: false,
    }
}

/// Rotate the detector (x, y, z rotations, then two-theta) about the pivot and derive the
/// origin pix0, distances and beam centre of the placed detector.
pub(super) fn place(cfg: &Config, inp: &Inputs, g: &PixelGrid, fr: &Frame, roi: [i64; 4], sensor: Sensor) -> Result<Detector> {
    let pixel_size = inp.pixel_size;
    let rot = [
        cfg.detector.rotation[0].unwrap_or(0.0),
        cfg.detector.rotation[1].unwrap_or(0.0),
        cfg.detector.rotation[2].unwrap_or(0.0),
    ];
    let detector_twotheta = cfg.detector.twotheta.unwrap_or(0.0);
    let setup = setup_of(inp, g, fr, rot);
    let (beam_vector, twotheta_axis) = (fr.beam_vector, fr.twotheta_axis);
    let (mut fdet, mut sdet, mut odet) = (fr.fdet, fr.sdet, fr.odet);
    let mut ratio = dot(beam_vector, rotate_xyz(odet, rot[0], rot[1], rot[2]));
    if ratio == 0.0 {
        ratio = f64::MIN_POSITIVE;
    }
    let mut close_distance = inp.close_distance.unwrap_or((ratio * inp.distance).abs());
    let mut distance = close_distance / ratio;
    let mut pix0 = [0.0; 3];
    if fr.pivot == Pivot::Sample {
        pix0 = add(add(scale(fdet, -fr.fclose), scale(sdet, -fr.sclose)), scale(odet, close_distance));
        pix0 = rotate_xyz(pix0, rot[0], rot[1], rot[2]);
        pix0 = rotate_axis(pix0, twotheta_axis, detector_twotheta);
    }
    fdet = rotate_axis(rotate_xyz(fdet, rot[0], rot[1], rot[2]), twotheta_axis, detector_twotheta);
    sdet = rotate_axis(rotate_xyz(sdet, rot[0], rot[1], rot[2]), twotheta_axis, detector_twotheta);
    odet = rotate_axis(rotate_xyz(odet, rot[0], rot[1], rot[2]), twotheta_axis, detector_twotheta);
    if fr.pivot == Pivot::Beam {
        pix0 = add(add(scale(fdet, -fr.fbeam), scale(sdet, -fr.sbeam)), scale(beam_vector, distance));
    }
    let fclose = -dot(pix0, fdet);
    let sclose = -dot(pix0, sdet);
    close_distance = dot(pix0, odet);
    let hit = sub(scale(beam_vector, close_distance / ratio), pix0);
    let fbeam = dot(fdet, hit);
    let sbeam = dot(sdet, hit);
    distance = close_distance / ratio;
    let dials_origin = [
        1000.0 * dot(pix0, [0.0, 0.0, 1.0]),
        1000.0 * dot(pix0, [0.0, 1.0, 0.0]),
        1000.0 * dot(pix0, [-1.0, 0.0, 0.0]),
    ];
    if !distance.is_finite() || distance.abs() > 1e6 {
        return Err(Error::new("detector geometry: the detector plane does not meet the direct beam (check -distance and the detector rotations)"));
    }
    // a plane within a nanometre of the sample (e.g. turned edge-on to the beam by
    // -detector_roty 90) makes every solid angle vanish
    if !(close_distance.abs() >= 1e-9) {
        return Err(Error::new("detector geometry: the detector plane passes through the sample (check -distance, -close_distance, -detector_rotx/-roty/-rotz and -twotheta)"));
    }
    Ok(Detector {
        fpixels: g.fpixels,
        spixels: g.spixels,
        pixel_size,
        fdet,
        sdet,
        odet,
        pix0,
        beam_vector,
        distance,
        close_distance,
        curved: cfg.detector.curved,
        point_pixel: cfg.detector.point_pixel,
        thick: sensor.thick,
        thickstep: sensor.thickstep,
        thicksteps: sensor.thicksteps,
        mu: sensor.mu,
        roi,
        convention: fr.convention,
        pivot: fr.pivot,
        xbeam: fr.xbeam,
        ybeam: fr.ybeam,
        fbeam,
        sbeam,
        xclose: fr.xclose,
        yclose: fr.yclose,
        fclose,
        sclose,
        orgx: fclose / pixel_size + 0.5,
        orgy: sclose / pixel_size + 0.5,
        dials_origin,
        detsize_f: g.detsize_f,
        detsize_s: g.detsize_s,
        twotheta: detector_twotheta,
        panel: 0,
        name: String::new(),
        setup,
    })
}
