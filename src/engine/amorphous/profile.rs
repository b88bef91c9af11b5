//! `-img`: a measured (or simulated) SMV image turned back into F, binned by sin(theta)/lambda
//! into a profile at the table's points (`-stolout`), and the image header's geometry taken as
//! the render's starting settings.

use super::render::Probe;
use super::settings::Settings;
use super::setup::Setup;
use super::table::StolTable;
use crate::experiment::RTD;
use crate::io::cfmt::fmt_g;
use crate::io::smv::SmvImage;
use crate::physics::constants::R_E_SQR;
use crate::config::Pivot;

/// Bins with this many pixels or fewer are left out of the profile.
pub const MIN_BIN_PIXELS: usize = 100;

/// One line of the profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileRow {
    /// The table point (in the table file's units).
    pub stol: f64,
    /// Mean and rms deviation of the pixels' F (single precision, as the reference sums them).
    pub mean_f: f32,
    pub rmsd: f32,
    /// Pixels in the bin.
    pub n: usize,
}

/// The profile: rows for the bins with enough pixels, and the bins left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    pub rows: Vec<ProfileRow>,
    /// (table point in file units, pixels) of each bin with too few pixels.
    pub skipped: Vec<(f64, usize)>,
    /// Pixels used (in the region and not ignored).
    pub valid_pixels: usize,
}

/// Takes the geometry of an SMV image as the starting settings (flags given later override
/// it): size, pixel, distances, wavelength, beam centre, XDS origin, phi, oscillation and
/// two-theta (which the reference reads but does not apply; specs/nonbragg.md deviation 9).
pub fn apply_header(st: &mut Settings, img: &SmvImage) {
    let d = &mut st.detector;
    d.fpixels = Some(img.width);
    d.spixels = Some(img.height);
    if let Some(v) = img.value_of("PIXEL_SIZE") {
        d.pixel = v / 1000.0;
    }
    d.size_x = d.pixel * img.width as f64;
    d.size_y = d.pixel * img.height as f64;
    // DISTANCE is looked up by its last occurrence, as the reference does (so it may come from
    // CLOSE_DISTANCE); the close distance then fixes the distance anyway
    if let Some(v) = img.value_of("DISTANCE") {
        d.distance = v / 1000.0;
    }
    if let Some(v) = img.value_of("CLOSE_DISTANCE") {
        d.close_distance = Some(v / 1000.0);
    }
    if let Some(v) = img.value_of("WAVELENGTH") {
        st.beam.wavelength = v / 1e10;
    }
    if let Some(v) = img.value_of("BEAM_CENTER_X") {
        d.xbeam = Some(v / 1000.0);
    }
    if let Some(v) = img.value_of("BEAM_CENTER_Y") {
        d.ybeam = Some(d.size_y - v / 1000.0);
    }
    if let Some(v) = img.value_of("ORGX") {
        d.orgx = Some(v);
    }
    if let Some(v) = img.value_of("ORGY") {
        d.orgy = Some(v);
    }
    if let Some(v) = img.value_of("PHI") {
        st.scan.phi = v / RTD;
    }
    if let Some(v) = img.value_of("OSC_RANGE") {
        st.scan.osc = Some(v / RTD);
    }
    // a tilted image is placed by its origin and close distance, which fix it whatever pivot
    // made it
    if let Some(v) = img.value_of("TWOTHETA").filter(|&v| v != 0.0 && v.is_finite()) {
        d.twotheta = v / RTD;
        d.pivot = Pivot::Sample;
    }
}

/// The mean and rms deviation of one bin, summed in single precision in raster order as the
/// reference does (its outlier rejection is off: the cut-off is infinite).
fn mean_rmsd(values: &[f32]) -> (f32, f32) {
    let n = values.len() as f32;
    let mut sum = 0.0f32;
    for &v in values {
        sum += v;
    }
    let avg = sum / n;
    let mut sumd = 0.0f32;
    for &v in values {
        let d = (v - avg).abs();
        sumd += d * d;
    }
    (avg, ((sumd / n) as f64).sqrt() as f32)
}

/// Extracts the F profile from `input` (the image's counts, raster order): each pixel in the
/// region whose count is not in `ignore` gives F = sign(c) sqrt(|c| / (polar omega fluence
/// r_e^2 molecules)) with c = (count - adc) / gain, binned at the nearest table point.
pub fn extract(s: &Setup, table: &StolTable, probes: &[Probe], input: &[u16], ignore: &[u16], adc: f64, gain: f64) -> Profile {
    let nk = table.knot_count();
    let mut bins: Vec<Vec<f32>> = vec![Vec::new(); nk];
    let mut valid = 0;
    for sl in 0..s.spixels {
        for f in 0..s.fpixels {
            if !s.in_roi(f, sl) {
                continue;
            }
            let j = sl * s.fpixels + f;
            let count = input[j] as f32;
            if ignore.iter().any(|&v| v as f32 == count) {
                continue;
            }
            let p = probes[j];
            let mut deviate = ((count as f64 - adc) / gain) as f32;
            let sign: f32 = if deviate < 0.0 { -1.0 } else { 1.0 };
            deviate = deviate.abs();
            let pixel_f = (sign as f64 * (deviate as f64 / p.polar / p.omega / s.fluence / R_E_SQR / s.molecules).sqrt()) as f32;
            let mut bin = table.nearest(p.stol);
            if p.stol > (table.knot(bin) + table.knot(bin + 1)) / 2.0 {
                bin += 1;
            }
            bins[bin].push(pixel_f);
            valid += 1;
        }
    }
    let mut out = Profile { valid_pixels: valid, ..Default::default() };
    for (bin, values) in bins.iter().enumerate().take(nk - 2).skip(2) {
        let stol = table.knot(bin) / table.per_metre();
        if values.len() > MIN_BIN_PIXELS {
            let (mean_f, rmsd) = mean_rmsd(values);
            out.rows.push(ProfileRow { stol, mean_f, rmsd, n: values.len() });
        } else {
            out.skipped.push((stol, values.len()));
        }
    }
    out
}

/// The profile file: `stol mean_F rms_deviation median MAD n` per line; the median and MAD
/// are not computed (written as 0, as the reference writes them).
pub fn profile_text(p: &Profile) -> String {
    let mut t = String::new();
    for r in &p.rows {
        t.push_str(&format!("{} {} {}   0 0  {}\n", fmt_g(r.stol), fmt_g(r.mean_f as f64), fmt_g(r.rmsd as f64), r.n));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::amorphous::render::{render, Report};
    use crate::engine::amorphous::setup::resolve;
    use crate::engine::amorphous::table::StolUnits;

    #[test]
    fn a_rendered_image_gives_back_its_table() {
        let mut st = Settings::default();
        st.detector.fpixels = Some(64);
        st.detector.spixels = Some(64);
        st.detector.distance = 0.02;
        st.beam.fluence = 1.26e19;
        let pts: Vec<(f64, f64)> = (0..60).map(|i| (i as f64 * 0.005, 3.0 + (i as f64 * 0.3).sin())).collect();
        let t = StolTable::from_points(&pts, StolUnits::Stol).unwrap();
        let s = resolve(&st).unwrap();
        let r = render(&s, &t, true, Report::None);
        let counts: Vec<u16> = r.image.iter().map(|&v| (v as f64 * 2.0 + 40.0).round() as u16).collect();
        let p = extract(&s, &t, r.probes.as_ref().unwrap(), &counts, &[], 40.0, 2.0);
        assert!(!p.rows.is_empty());
        for row in &p.rows {
            let i = (row.stol / 0.005).round() as usize;
            assert!((row.mean_f as f64 - pts[i].1).abs() < 0.05 * pts[i].1, "{row:?} vs {}", pts[i].1);
        }
        assert_eq!(p.valid_pixels, 64 * 64);
        let text = profile_text(&p);
        assert_eq!(text.lines().count(), p.rows.len());
        assert!(text.lines().all(|l| l.split_whitespace().count() == 6));
    }

    #[test]
    fn a_header_written_here_restores_its_geometry_tilted_or_not() {
        for (twotheta, pivot) in [(0.0, Pivot::Beam), (12.0, Pivot::Sample), (12.0, Pivot::Beam)] {
            let mut st = Settings::default();
            st.detector.fpixels = Some(40);
            st.detector.spixels = Some(30);
            st.detector.distance = 0.08;
            st.detector.xbeam = Some(0.0021);
            st.detector.twotheta = twotheta / RTD;
            st.detector.pivot = pivot;
            st.beam.wavelength = 1.3e-10;
            let a = resolve(&st).unwrap();
            let header = crate::engine::amorphous::images::header_lines(&a);
            let p = crate::io::testutil::temp_path("restore.img");
            crate::io::smv::write_smv(&p, &header, 40, 30, &[0; 1200]).unwrap();
            let img = crate::io::smv::read_smv(&p).unwrap();
            std::fs::remove_file(&p).unwrap();
            let mut back = Settings::default();
            apply_header(&mut back, &img);
            let b = resolve(&back).unwrap();
            assert_eq!((b.fpixels, b.spixels), (40, 30));
            assert!((b.wavelength - 1.3e-10).abs() < 1e-24);
            for k in 0..3 {
                // the header holds 6 significant digits
                assert!((a.pix0[k] - b.pix0[k]).abs() < 1e-6, "{twotheta} {pivot:?}: {:?} vs {:?}", a.pix0, b.pix0);
                assert!((a.fdet[k] - b.fdet[k]).abs() < 1e-6 && (a.sdet[k] - b.sdet[k]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn mean_and_rmsd_in_single_precision() {
        let (m, r) = mean_rmsd(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert_eq!(r, 1.25f32.sqrt());
    }
}
