//! The amorphous-scattering pixel loop: for every pixel of the region, the sum over sub-pixels
//! and sources of sign(F) F^2 x polarization x solid angle x source weight, scaled to photons
//! by r_e^2 x fluence x molecules / steps.
//!
//! Every expression keeps the reference's order of operations: a noise image is bit-identical
//! only when the float image is (the Poisson generator draws a value-dependent number of
//! uniforms), so the float pixels must carry the reference's bits.

use super::setup::Setup;
use super::table::StolTable;
use crate::physics::constants::R_E_SQR;
use crate::physics::polarization::polarization_as_reference as polarization;
use crate::physics::vec3::{norm, rotate_axis, unitize, V3};
use rayon::prelude::*;

/// What the last sample (sub-pixel and source) of a pixel saw; `-img` turns pixel values back
/// into F with it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Probe {
    /// sin(theta)/lambda (1/m).
    pub stol: f64,
    pub polar: f64,
    /// Solid angle (sr; 1/m^2 with a point pixel).
    pub omega: f64,
}

/// The per-pixel detail `-printout` shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelReport {
    pub fpixel: usize,
    pub spixel: usize,
    /// sin(theta)/lambda of the last sample (1/Angstrom), and from the pixel's angle at the
    /// central wavelength.
    pub stol: f64,
    pub stol_from_angle: f64,
    /// F of the last sample.
    pub f: f64,
    /// Unscaled sum over the samples.
    pub intensity: f64,
    pub steps: usize,
    pub polar: f64,
    pub omega: f64,
    /// The stored pixel value.
    pub value: f32,
}

/// Which pixels to report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Report {
    #[default]
    None,
    /// Every rendered pixel.
    All,
    /// One pixel (fast, slow).
    Pixel(usize, usize),
}

/// A rendered image and what came with it.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// Photons per pixel (or F with `-Fmap`), slow-major; 0 outside the region.
    pub image: Vec<f32>,
    /// Sum of the solid angles of all samples (sr).
    pub omega_sum: f64,
    /// One per pixel when asked for (zero outside the region).
    pub probes: Option<Vec<Probe>>,
    pub reports: Vec<PixelReport>,
}

/// Everything one pixel's loop produces.
struct PixelResult {
    value: f32,
    omega_sum: f64,
    probe: Probe,
    report: Option<PixelReport>,
}

/// `incidents`: each source's unit incident direction (the same for every pixel).
fn render_pixel(s: &Setup, table: &StolTable, incidents: &[V3], fpixel: usize, spixel: usize, want_report: bool) -> PixelResult {
    let os = s.oversample;
    let sub = s.pixel / os as f64;
    let (fdet, sdet, odet, pix0) = (s.fdet, s.sdet, s.odet, s.pix0);
    let mut ibg = 0.0;
    let mut omega_sum = 0.0;
    let mut last = Probe::default();
    let mut last_f = 0.0;
    let mut last_pos = [0.0; 3];
    for sub_s in 0..os {
        for sub_f in 0..os {
            let fd = sub * (fpixel * os + sub_f) as f64 + sub / 2.0;
            let sd = sub * (spixel * os + sub_s) as f64 + sub / 2.0;
            // depth in the sensor: nonBragg has one layer at its front face
            let od = 0.0;
            let mut pos = [0.0; 3];
            for k in 0..3 {
                pos[k] = fd * fdet[k] + sd * sdet[k] + od * odet[k] + pix0[k];
            }
            if s.curved {
                // the lab y and z coordinates, read as angles, swing a point at `distance`
                let start = [s.distance * s.beam[0], s.distance * s.beam[1], s.distance * s.beam[2]];
                let turned = rotate_axis(start, sdet, pos[1] / s.distance);
                pos = rotate_axis(turned, fdet, pos[2] / s.distance);
            }
            let (mut diffracted, airpath) = unitize(pos);
            let mut omega = s.pixel * s.pixel / airpath / airpath * s.close_distance / airpath;
            if s.point_pixel {
                omega = 1.0 / airpath / airpath;
            }
            omega_sum += omega;
            let capture_fraction = 1.0;
            for (src, &unit_incident) in s.sources.iter().zip(incidents) {
                let mut incident = unit_incident;
                let lambda = src.wavelength;
                let scattering = [
                    (diffracted[0] - incident[0]) / lambda,
                    (diffracted[1] - incident[1]) / lambda,
                    (diffracted[2] - incident[2]) / lambda,
                ];
                let stol = 0.5 * norm(scattering);
                let f = table.f_at(stol);
                let sign = if f < 0.0 { -1.0 } else { 1.0 };
                let polar = if s.polarized { polarization(s.kahn, &mut incident, &mut diffracted, s.polarization_axis) } else { 1.0 };
                ibg += sign * f * f * polar * omega * src.weight * capture_fraction;
                last = Probe { stol, polar, omega };
                last_f = f;
            }
            last_pos = pos;
        }
    }
    let mut value = (ibg * R_E_SQR * s.fluence * s.molecules / s.steps as f64) as f32;
    if s.fmap {
        value = last_f as f32;
    }
    let report = want_report.then(|| {
        let twotheta = (last_pos[1] * last_pos[1] + last_pos[2] * last_pos[2]).sqrt().atan2(last_pos[0]);
        PixelReport {
            fpixel,
            spixel,
            stol: last.stol / 1e10,
            stol_from_angle: (twotheta / 2.0).sin() / (s.wavelength * 1e10),
            f: last_f,
            intensity: ibg,
            steps: s.steps,
            polar: last.polar,
            omega: last.omega,
            value,
        }
    });
    PixelResult { value, omega_sum, probe: last, report }
}

/// Add every amorphous layer (`-stol`) of `exp` to the float image of its detector (each
/// panel is rendered through its own experiment), pixel by pixel in single precision as a sum
/// of nanoBragg's and nonBragg's float images is; masked and out-of-region pixels stay zero.
pub fn add_amorphous(exp: &crate::experiment::Experiment, image: &mut [f32]) {
    for layer in &exp.amorphous {
        let setup = super::setup::from_experiment(exp, layer);
        let rendered = render(&setup, &layer.table, false, Report::None);
        for (k, (v, a)) in image.iter_mut().zip(&rendered.image).enumerate() {
            if exp.is_rendered(k) {
                *v += *a;
            }
        }
    }
}

/// Renders the region of the detector. `probes`: also keep each pixel's last sample (for
/// `-img`); `report`: which pixels to describe.
pub fn render(s: &Setup, table: &StolTable, probes: bool, report: Report) -> Rendered {
    render_with_progress(s, table, probes, report, &|_, _| {})
}

/// One detector row: pixels, solid-angle sum, probes (when asked for), reports.
type Row = (Vec<f32>, f64, Vec<Probe>, Vec<PixelReport>);

/// [`render`], calling `progress(done, total)` (pixels) as rows finish.
pub fn render_with_progress(s: &Setup, table: &StolTable, probes: bool, report: Report, progress: &(dyn Fn(usize, usize) + Sync)) -> Rendered {
    let (nf, ns) = (s.fpixels, s.spixels);
    let incidents: Vec<V3> = s.sources.iter().map(|src| unitize([-src.position[0], -src.position[1], -src.position[2]]).0).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let rows: Vec<Row> = (0..ns)
        .into_par_iter()
        .map(|spixel| {
            let mut row = vec![0.0f32; nf];
            let mut row_probes = if probes { vec![Probe::default(); nf] } else { Vec::new() };
            let mut reports = Vec::new();
            let mut omega = 0.0;
            for (fpixel, v) in row.iter_mut().enumerate() {
                if !s.in_roi(fpixel, spixel) {
                    continue;
                }
                let want = match report {
                    Report::None => false,
                    Report::All => true,
                    Report::Pixel(f, sl) => f == fpixel && sl == spixel,
                };
                let r = render_pixel(s, table, &incidents, fpixel, spixel, want);
                *v = r.value;
                omega += r.omega_sum;
                if probes {
                    row_probes[fpixel] = r.probe;
                }
                reports.extend(r.report);
            }
            let d = done.fetch_add(nf, std::sync::atomic::Ordering::Relaxed) + nf;
            progress(d, nf * ns);
            (row, omega, row_probes, reports)
        })
        .collect();
    let mut out = Rendered { image: Vec::with_capacity(nf * ns), omega_sum: 0.0, probes: probes.then(|| Vec::with_capacity(nf * ns)), reports: Vec::new() };
    for (row, omega, row_probes, reports) in rows {
        out.image.extend(row);
        out.omega_sum += omega;
        if let Some(p) = out.probes.as_mut() {
            p.extend(row_probes);
        }
        out.reports.extend(reports);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::amorphous::settings::Settings;
    use crate::engine::amorphous::setup::resolve;
    use crate::engine::amorphous::table::StolUnits;

    fn small(f: f64) -> (Setup, StolTable) {
        let mut st = Settings::default();
        st.detector.fpixels = Some(16);
        st.detector.spixels = Some(12);
        st.detector.distance = 0.01;
        let t = StolTable::from_points(&[(0.0, f), (0.5, f), (1.0, f)], StolUnits::Stol).unwrap();
        (resolve(&st).unwrap(), t)
    }

    #[test]
    fn constant_f_gives_f_squared_polar_omega() {
        let (s, t) = small(2.0);
        let r = render(&s, &t, true, Report::None);
        let p = r.probes.unwrap();
        for (v, pr) in r.image.iter().zip(&p) {
            let want = 4.0 * pr.polar * pr.omega * R_E_SQR * s.fluence * s.molecules;
            assert!(((*v as f64) - want).abs() <= 1e-6 * want, "{v} vs {want}");
        }
    }

    #[test]
    fn negative_f_gives_negative_pixels_and_roi_is_inclusive() {
        let (mut s, t) = small(-1.5);
        s.roi = [2, 5, 3, 3];
        let r = render(&s, &t, false, Report::Pixel(4, 3));
        for (i, v) in r.image.iter().enumerate() {
            let (f, sl) = (i % 16, i / 16);
            if (2..=5).contains(&f) && sl == 3 {
                assert!(*v < 0.0);
            } else {
                assert_eq!(*v, 0.0);
            }
        }
        assert_eq!(r.reports.len(), 1);
        assert_eq!(r.reports[0].value, r.image[3 * 16 + 4]);
    }

    #[test]
    fn fmap_stores_f() {
        let (mut s, t) = small(2.5);
        s.fmap = true;
        let r = render(&s, &t, false, Report::None);
        assert!(r.image.iter().all(|&v| v == 2.5));
    }

    #[test]
    fn unpolarized_factor_and_forward_limit() {
        let mut inc = [1.0, 0.0, 0.0];
        let mut d = [0.0, 1.0, 0.0];
        assert_eq!(polarization(0.0, &mut inc, &mut d, [0.0, 0.0, 1.0]), 0.5);
        // fully polarized along z, scattered along y (perpendicular to E): factor 1
        let mut d = [0.0, 1.0, 0.0];
        assert!((polarization(1.0, &mut inc, &mut d, [0.0, 0.0, 1.0]) - 1.0).abs() < 1e-15);
        let mut d = [1.0, 0.0, 0.0];
        assert_eq!(polarization(0.9, &mut inc, &mut d, [0.0, 0.0, 1.0]), 1.0);
    }
}
