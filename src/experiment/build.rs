//! The resolved description of one experiment: every default filled in, every unit converted
//! to SI (metres, radians), every derived vector computed, exactly as the reference program
//! does before it starts its pixel loop. `render` consumes this; `cli` produces its input.

use super::{Beam, Detector, DetectorSetup, Experiment, Notes, Sampling, DEFAULT_FLUENCE, RTD};
use crate::cli::Options;
use crate::error::{Error, Result};
use crate::settings::{Convention, Pivot, Shape};

/// Resolve step count / range / step size the way the reference does for divergence,
/// dispersion and detector thickness: any two of them fix the third. Returns (steps, range,
/// step); `range` is `None` when not given.
fn resolve_steps(steps: Option<i64>, range: Option<f64>, step: Option<f64>, unit_range: f64) -> (i64, f64, f64) {
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

fn mm(x: f64) -> f64 {
    x / 1000.0
}

/// Build the experiment from parsed options, reading every input file.
pub fn build(o: &Options) -> Result<(Experiment, Notes)> {
    let mut notes = Notes::default();
    let deg = |x: f64| x / RTD;

    // ---- defaults of the reference program (SI units) ----
    let mut pixel_size = 0.1e-3;
    let mut distance = 100.0e-3;
    let mut close_distance: Option<f64> = None;
    let mut detsize_f = 102.4e-3;
    let mut detsize_s = 102.4e-3;
    let mut fpixels: i64 = 0;
    let mut spixels: i64 = 0;
    let mut lambda0 = 1.0e-10;
    let mut xbeam: Option<f64> = None;
    let mut ybeam: Option<f64> = None;
    let mut orgx: Option<f64> = None;
    let mut orgy: Option<f64> = None;
    let mut phi0 = 0.0;
    let mut osc: Option<f64> = None;
    let mut mask: Option<Vec<u16>> = None;

    // ---- image headers (read before any flag, so flags override them) ----
    let mut apply_header = |img: &crate::io::smv::SmvImage, flip_ybeam: bool,
                            pixel_size: &mut f64, detsize_f: &mut f64, detsize_s: &mut f64,
                            fpixels: &mut i64, spixels: &mut i64| {
        *fpixels = img.width as i64;
        *spixels = img.height as i64;
        if let Some(v) = img.value_of("PIXEL_SIZE") {
            *pixel_size = mm(v);
        }
        *detsize_f = *pixel_size * *fpixels as f64;
        *detsize_s = *pixel_size * *spixels as f64;
        if let Some(v) = img.value_of("DISTANCE") {
            distance = mm(v);
        }
        if let Some(v) = img.value_of("CLOSE_DISTANCE") {
            close_distance = Some(mm(v));
        }
        if let Some(v) = img.value_of("WAVELENGTH") {
            lambda0 = v / 1e10;
        }
        if let Some(v) = img.value_of("BEAM_CENTER_X") {
            xbeam = Some(mm(v));
        }
        if let Some(v) = img.value_of("BEAM_CENTER_Y") {
            ybeam = Some(if flip_ybeam { *detsize_s - mm(v) } else { mm(v) });
        }
        if let Some(v) = img.value_of("ORGX") {
            orgx = Some(v);
        }
        if let Some(v) = img.value_of("ORGY") {
            orgy = Some(v);
        }
        if let Some(v) = img.value_of("PHI") {
            phi0 = deg(v);
        }
        if let Some(v) = img.value_of("OSC_RANGE") {
            osc = Some(deg(v));
        }
    };
    if let Some(path) = &o.mask {
        let img = crate::io::smv::read_smv(std::path::Path::new(path))?;
        apply_header(&img, true, &mut pixel_size, &mut detsize_f, &mut detsize_s, &mut fpixels, &mut spixels);
        mask = Some(img.data.clone());
    }
    let mut mask_dims = mask.as_ref().map(|_| (fpixels, spixels));
    if let Some(path) = &o.img {
        let img = crate::io::smv::read_smv(std::path::Path::new(path))?;
        apply_header(&img, false, &mut pixel_size, &mut detsize_f, &mut detsize_s, &mut fpixels, &mut spixels);
    }

    // ---- flags ----
    if let Some(v) = o.pixel {
        pixel_size = mm(v);
    }
    if let Some(v) = o.distance {
        distance = mm(v);
    }
    if let Some(v) = o.close_distance {
        close_distance = Some(mm(v));
    }
    if let Some(v) = o.detsize_f {
        detsize_f = mm(v);
    }
    if let Some(v) = o.detsize_s {
        detsize_s = mm(v);
    }
    if let Some(v) = o.detpixels_f {
        fpixels = v;
    }
    if let Some(v) = o.detpixels_s {
        spixels = v;
    }
    if let Some(v) = o.lambda {
        lambda0 = v / 1e10;
    }
    if let Some(v) = o.xbeam {
        xbeam = Some(mm(v));
    }
    if let Some(v) = o.ybeam {
        ybeam = Some(mm(v));
    }
    if let Some(v) = o.orgx {
        orgx = Some(v);
    }
    if let Some(v) = o.orgy {
        orgy = Some(v);
    }
    if let Some(v) = o.phi {
        phi0 = deg(v);
    }
    if let Some(v) = o.osc {
        osc = Some(deg(v));
    }

    // ---- validation of impossible inputs ----
    if !(pixel_size > 0.0) {
        return Err(Error::new(format!("-pixel: pixel size must be positive, got {} mm", pixel_size * 1000.0)));
    }
    if !(lambda0 > 0.0) {
        return Err(Error::new(format!("-lambda: wavelength must be positive, got {} A", lambda0 * 1e10)));
    }
    if fpixels < 0 || spixels < 0 {
        return Err(Error::new("-detpixels: number of pixels must be positive"));
    }

    // ---- detector size ----
    let fpixels_given = fpixels != 0 && spixels != 0;
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
    if fpix * spix > 4.0e9 {
        return Err(Error::new(format!("detector of {fpix} x {spix} pixels is too large")));
    }
    let fpixels = fpix as usize;
    let spixels = spix as usize;
    if let (Some(m), Some((mf, ms))) = (&mask, mask_dims.take()) {
        if mf as usize != fpixels || ms as usize != spixels || m.len() != fpixels * spixels {
            return Err(Error::new(format!(
                "{}: mask is {mf} x {ms} pixels but the detector is {fpixels} x {spixels}",
                o.mask.as_deref().unwrap_or("mask")
            )));
        }
    }

    // ---- fluence and sample clipping ----
    let mut fluence = o.fluence.unwrap_or(DEFAULT_FLUENCE);
    let flux = o.flux.unwrap_or(0.0);
    let exposure = o.exposure.unwrap_or(1.0);
    let beamsize = o.beamsize.map(mm).unwrap_or(1e-4);
    if flux != 0.0 && exposure > 0.0 && beamsize >= 0.0 {
        fluence = flux * exposure / beamsize / beamsize;
    }
    let sample_x = o.sample_x.map(mm).unwrap_or(0.0);
    let mut sample_y = o.sample_y.map(mm).unwrap_or(0.0);
    let mut sample_z = o.sample_z.map(mm).unwrap_or(0.0);
    if beamsize >= 0.0 {
        if beamsize < sample_y {
            notes.warnings.push(format!(
                "WARNING: clipping sample ({} m high) with beam ({} m)",
                crate::io::cfmt::fmt_g(sample_y),
                crate::io::cfmt::fmt_g(beamsize)
            ));
            sample_y = beamsize;
        }
        if beamsize < sample_z {
            notes.warnings.push(format!(
                "WARNING: clipping sample ({} m wide) with beam ({} m)",
                crate::io::cfmt::fmt_g(sample_z),
                crate::io::cfmt::fmt_g(beamsize)
            ));
            sample_z = beamsize;
        }
    }
    if !fluence.is_finite() || fluence < 0.0 {
        return Err(Error::new("-fluence/-flux: incident fluence must be finite and non-negative"));
    }

    // ---- beam centre defaults ----
    let mut fclose = orgx.map(|v| (v - 0.5) * pixel_size).unwrap_or(detsize_f / 2.0);
    let mut sclose = orgy.map(|v| (v - 0.5) * pixel_size).unwrap_or(detsize_s / 2.0);
    let xclose = o.xclose.map(mm).unwrap_or(fclose);
    let yclose = o.yclose.map(mm).unwrap_or(sclose);
    let mut fbeam;
    let mut sbeam;
    let roi = match o.roi {
        Some(r) => [r[0].max(0), if r[1] < 0 { fpixels as i64 } else { r[1] }, r[2].max(0), if r[3] < 0 { spixels as i64 } else { r[3] }],
        None => [0, fpixels as i64, 0, spixels as i64],
    };
    if roi[0] > roi[1] || roi[2] > roi[3] {
        return Err(Error::new(format!("-roi: limits {} {} {} {} are inverted", roi[0], roi[1], roi[2], roi[3])));
    }

    // ---- convention: axes and beam centre mapping ----
    let convention = o.convention.unwrap_or(Convention::Mosflm);
    let mut pivot = o.pivot.unwrap_or(Pivot::Beam);
    let mut beam_vector: V3 = o.beam_vector.unwrap_or([1.0, 0.0, 0.0]);
    let mut fdet: V3 = o.fdet_vector.unwrap_or([0.0, 0.0, 1.0]);
    let mut sdet: V3 = o.sdet_vector.unwrap_or([0.0, -1.0, 0.0]);
    let mut odet: V3 = o.odet_vector.unwrap_or([1.0, 0.0, 0.0]);
    // the reference's initial two-theta axis is +y; only the named conventions replace it
    let mut twotheta_axis: V3 = o.twotheta_axis.unwrap_or([0.0, 1.0, 0.0]);
    let mut polar_vector: V3 = o.polar_vector.unwrap_or([0.0, 0.0, 1.0]);
    let mut spindle: V3 = o.spindle_axis.unwrap_or([0.0, 0.0, 1.0]);
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
    if o.pix0_vector.is_some() {
        notes.warnings.push(
            "WARNING: -pix0_vector is accepted but, as in the reference program, the detector origin is recomputed from the beam centre and pivot".into(),
        );
    }

    // ---- unit vectors ----
    use crate::vec3::*;
    beam_vector = unitize(beam_vector).0;
    fdet = unitize(fdet).0;
    sdet = unitize(sdet).0;
    let (od, omag) = unitize(odet);
    odet = od;
    if omag != 1.0 {
        notes.warnings.push("WARNING: auto-generating odet_vector".into());
        odet = unitize(cross(fdet, sdet)).0;
    }
    polar_vector = unitize(polar_vector).0;
    spindle = unitize(spindle).0;
    for (name, v) in [("-beam_vector", beam_vector), ("-fdet_vector", fdet), ("-sdet_vector", sdet), ("-spindle_axis", spindle)] {
        if norm(v) == 0.0 {
            return Err(Error::new(format!("{name}: vector must be non-zero")));
        }
    }

    // ---- sampling choices ----
    let (phisteps, osc_v, phistep) = {
        let mut n = o.phisteps.unwrap_or(-1);
        let mut r = osc.unwrap_or(-1.0);
        let mut s = o.phistep.map(deg).unwrap_or(-1.0);
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
    };
    let (hdivsteps, hdivrange, hdivstep) =
        resolve_steps(o.hdivsteps, o.hdivrange.map(|v| v / 1000.0), o.hdivstep.map(|v| v / 1000.0), 1.0);
    let (vdivsteps, vdivrange, vdivstep) =
        resolve_steps(o.vdivsteps, o.vdivrange.map(|v| v / 1000.0), o.vdivstep.map(|v| v / 1000.0), 1.0);
    let (dispsteps, dispersion, dispstep) =
        resolve_steps(o.dispsteps, Some(o.dispersion.unwrap_or(0.0) / 100.0), None, 1.0);
    // detector thickness
    let mut mu = match o.detector_abs {
        Some(Some(v)) => 1.0 / (v * 1e-6),
        Some(None) => 0.0,
        None => -1.0,
    };
    // -detector_abs 0 or inf means "no sensor model", whatever the order of the flags (the
    // reference zeroes the thickness only when -detector_thick came first)
    let thick_in = match o.detector_abs {
        Some(None) => Some(0.0),
        _ => o.detector_thick.map(|v| v * 1e-6),
    };
    let (thicksteps, thick, thickstep) = {
        let mut n = o.detector_thicksteps.unwrap_or(-1);
        let mut t = thick_in.unwrap_or(0.0);
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
    };
    if thick > 0.0 && mu < 0.0 {
        mu = 1.0 / thick;
        notes.warnings.push(format!("WARNING: setting detector attenuation depth to {} m", crate::io::cfmt::fmt_g(mu)));
    }
    // mosaic domains
    let mut mosaic_spread = o.mosaic.map(deg).unwrap_or(-1.0);
    let mosaic_domains: usize = match o.mosaic_domains {
        Some(n) if n > 0 => {
            if mosaic_spread < 0.0 {
                notes.warnings.push("WARNING: no mosaic spread specified.  setting mosaic_domains = 1".into());
                mosaic_spread = 0.0;
                1
            } else if mosaic_spread == 0.0 {
                notes.warnings.push("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1".into());
                1
            } else {
                n as usize
            }
        }
        _ => {
            if mosaic_spread < 0.0 {
                mosaic_spread = 0.0;
                1
            } else if mosaic_spread == 0.0 {
                1
            } else {
                notes.warnings.push("WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains".into());
                10
            }
        }
    };

    // ---- detector placement ----
    let rot = [
        o.detector_rot[0].map(deg).unwrap_or(0.0),
        o.detector_rot[1].map(deg).unwrap_or(0.0),
        o.detector_rot[2].map(deg).unwrap_or(0.0),
    ];
    let detector_twotheta = o.twotheta.map(deg).unwrap_or(0.0);
    let setup = DetectorSetup {
        fdet0: fdet,
        sdet0: sdet,
        odet0: odet,
        twotheta_axis,
        rot,
        distance_in: close_distance.unwrap_or(distance),
        close_given: close_distance.is_some(),
        fbeam0: fbeam,
        sbeam0: sbeam,
        fclose0: fclose,
        sclose0: sclose,
        size_from_pixels: fpixels_given,
    };
    let mut ratio = dot(beam_vector, rotate_xyz(odet, rot[0], rot[1], rot[2]));
    if ratio == 0.0 {
        ratio = f64::MIN_POSITIVE;
    }
    let mut close_distance = close_distance.unwrap_or((ratio * distance).abs());
    distance = close_distance / ratio;
    let mut pix0 = [0.0; 3];
    if pivot == Pivot::Sample {
        pix0 = add(add(scale(fdet, -fclose), scale(sdet, -sclose)), scale(odet, close_distance));
        pix0 = rotate_xyz(pix0, rot[0], rot[1], rot[2]);
        pix0 = rotate_axis(pix0, twotheta_axis, detector_twotheta);
    }
    fdet = rotate_axis(rotate_xyz(fdet, rot[0], rot[1], rot[2]), twotheta_axis, detector_twotheta);
    sdet = rotate_axis(rotate_xyz(sdet, rot[0], rot[1], rot[2]), twotheta_axis, detector_twotheta);
    odet = rotate_axis(rotate_xyz(odet, rot[0], rot[1], rot[2]), twotheta_axis, detector_twotheta);
    if pivot == Pivot::Beam {
        pix0 = add(add(scale(fdet, -fbeam), scale(sdet, -sbeam)), scale(beam_vector, distance));
    }
    fclose = -dot(pix0, fdet);
    sclose = -dot(pix0, sdet);
    close_distance = dot(pix0, odet);
    let hit = sub(scale(beam_vector, close_distance / ratio), pix0);
    fbeam = dot(fdet, hit);
    sbeam = dot(sdet, hit);
    distance = close_distance / ratio;
    let orgx_out = fclose / pixel_size + 0.5;
    let orgy_out = sclose / pixel_size + 0.5;
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

    let detector = Detector {
        fpixels,
        spixels,
        pixel_size,
        fdet,
        sdet,
        odet,
        pix0,
        beam_vector,
        distance,
        close_distance,
        curved: o.curved_det,
        point_pixel: o.point_pixel,
        thick,
        thickstep,
        thicksteps,
        mu,
        roi,
        convention,
        pivot,
        xbeam: xb,
        ybeam: yb,
        fbeam,
        sbeam,
        xclose,
        yclose,
        fclose,
        sclose,
        orgx: orgx_out,
        orgy: orgy_out,
        dials_origin,
        detsize_f,
        detsize_s,
        twotheta: detector_twotheta,
        setup,
    };

    // ---- crystal ----
    let mut crystal = super::crystal::build_crystal(o, lambda0, &mut notes)?;
    crystal.phi0 = phi0;
    crystal.phistep = phistep;
    crystal.phisteps = phisteps;
    crystal.osc = osc_v;
    crystal.spindle = spindle;
    crystal.mosaic_spread = mosaic_spread;
    let mosaic_seed = o.mosaic_seed.map(|s| -s).unwrap_or(-12345678);
    crystal.mosaic_umats = super::crystal::mosaic_umats(mosaic_spread, mosaic_domains, mosaic_seed);
    crystal.setup.mosaic = super::crystal::mosaic_axes_angles(mosaic_spread, mosaic_domains, mosaic_seed);
    // size in unit cells
    let mut na = o.na.unwrap_or(1.0);
    let mut nb = o.nb.unwrap_or(1.0);
    let mut nc = o.nc.unwrap_or(1.0);
    if sample_x > 0.0 {
        na = (sample_x / norm(crystal.a)).ceil();
    }
    if sample_y > 0.0 {
        nb = (sample_y / norm(crystal.b)).ceil();
    }
    if sample_z > 0.0 {
        nc = (sample_z / norm(crystal.c)).ceil();
    }
    na = na.max(1.0);
    nb = nb.max(1.0);
    nc = nc.max(1.0);
    crystal.na = na;
    crystal.nb = nb;
    crystal.nc = nc;
    crystal.shape = o.shape.unwrap_or(Shape::Square);
    crystal.fudge = o.fudge.unwrap_or(1.0);
    let xtal = [norm(crystal.a) * na, norm(crystal.b) * nb, norm(crystal.c) * nc];
    notes.info.push(format!(
        "crystal is {} x {} x {} microns",
        crate::io::cfmt::fmt_g(xtal[0] * 1e6),
        crate::io::cfmt::fmt_g(xtal[1] * 1e6),
        crate::io::cfmt::fmt_g(xtal[2] * 1e6)
    ));
    let xtalsize_max = xtal[0].max(xtal[1]).max(xtal[2]);
    let reciprocal_pixel_size = lambda0 * distance / pixel_size;
    let mut recommended = (3.0 * xtalsize_max / reciprocal_pixel_size).ceil() as i64;
    if recommended <= 0 {
        recommended = 1;
    }
    let mut oversample = o.oversample.unwrap_or(-1);
    if oversample <= 0 {
        oversample = recommended;
        notes.info.push(format!("auto-selected {oversample}-fold oversampling"));
    }
    if oversample < recommended {
        notes.warnings.push(format!(
            "WARNING: maximum dimension of sample is {} A but reciprocal pixel size is {} A; intensity may vary significantly across a pixel (recommend -oversample {recommended})",
            crate::io::cfmt::fmt_g(xtalsize_max * 1e10),
            crate::io::cfmt::fmt_g(reciprocal_pixel_size * 1e10)
        ));
    }
    if oversample > 4096 {
        return Err(Error::new(format!("-oversample: {oversample} sub-pixels per side is too many")));
    }

    // ---- structure factors ----
    let structure = super::crystal::load_structure(o, &mut notes, na, nb, nc)?;
    if let Some(g) = &structure.grid {
        if let Some(bad) = g.values.iter().find(|v| !v.is_finite()) {
            return Err(Error::new(format!("{}: structure factor {bad} is not a finite number", structure.origin)));
        }
    }

    // ---- sources ----
    let sources = super::sources::build_sources(
        o,
        &mut notes,
        super::sources::SourceGrid {
            beam_vector,
            polar_vector,
            lambda0,
            hdivsteps: hdivsteps as usize,
            hdivrange,
            hdivstep,
            vdivsteps: vdivsteps as usize,
            vdivrange,
            vdivstep,
            round_div: !o.square_div,
            dispsteps: dispsteps as usize,
            dispersion,
            dispstep,
        },
    )?;
    if let Some(bad) = sources.iter().find(|s| !(s.dir.iter().all(|x| x.is_finite()) && s.lambda.is_finite())) {
        return Err(Error::new(format!(
            "{}: source position {:?} or wavelength {} is not a finite number",
            o.sourcefile.as_deref().unwrap_or("beam"),
            bad.dir,
            bad.lambda
        )));
    }
    let divsteps = if o.sourcefile.is_some() { 0 } else { sources.len() / dispsteps as usize };
    let steps = sources.len() * crystal.mosaic_umats.len() * phisteps * (oversample * oversample) as usize;

    let beam = Beam {
        lambda0,
        sources,
        polar_vector,
        kahn_factor: o.polar.unwrap_or(0.0),
        nopolar: o.nopolar,
        fluence,
        use_weights: o.source_weights,
        dispersion,
        dispsteps: dispsteps as usize,
        hdivrange,
        hdivstep,
        vdivrange,
        vdivstep,
        divsteps,
    };
    let sampling = Sampling {
        oversample: oversample as usize,
        oversample_thick: o.oversample_thick,
        oversample_polar: o.oversample_polar,
        oversample_omega: o.oversample_omega,
        dmin: o.dmin.map(|v| v * 1e-10).unwrap_or(0.0),
        water_size: o.water.map(|v| v / 1e6).unwrap_or(0.0),
        steps,
    };
    Ok((Experiment { detector, beam, crystal, sampling, structure, mask }, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &str) -> Options {
        crate::cli::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn custom_convention_keeps_the_reference_two_theta_axis() {
        // the reference starts with a +y two-theta axis and only the named conventions change it
        let (e, _) = build(&opts("-cell 70 80 90 -default_F 1 -detpixels 16 -spindle_axis 0 0 1 -twotheta 10")).unwrap();
        assert_eq!(e.detector.convention, Convention::Custom);
        assert_eq!(e.detector.setup.twotheta_axis, [0.0, 1.0, 0.0]);
        let (e, _) = build(&opts("-cell 70 80 90 -default_F 1 -detpixels 16 -twotheta 10")).unwrap();
        assert_eq!(e.detector.setup.twotheta_axis, [0.0, 0.0, -1.0]);
    }

    #[test]
    fn zero_or_infinite_attenuation_depth_means_no_sensor_in_either_order() {
        for args in ["-detector_thick 100 -detector_abs 0", "-detector_abs inf -detector_thick 100"] {
            let (e, _) = build(&opts(&format!("-cell 70 80 90 -default_F 1 -detpixels 16 {args}"))).unwrap();
            assert_eq!(e.detector.thick, 0.0, "{args}");
            assert_eq!(e.detector.thicksteps, 1, "{args}");
        }
    }

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
