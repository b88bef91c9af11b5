//! The image products of an amorphous render: statistics over the region, the noiseless SMV
//! image, the PGM preview, the Poisson noise image and the SMV header, each as the reference
//! computes it (pixels outside the region stay 0 and draw no random numbers).

use super::setup::Setup;
use crate::experiment::RTD;
use crate::io::cfmt::fmt_g;
use crate::io::smv::{smv_line, smv_preamble, smv_trailer};
use crate::physics::rng::PoissonDeviates;

/// Statistics of the rendered region.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Largest pixel (at least 0) and where it is (fast, slow).
    pub max: f64,
    pub max_pixel: (usize, usize),
    pub mean: f64,
    /// Root mean square and root mean square deviation from the mean.
    pub rms: f64,
    pub rmsd: f64,
    /// Pixels in the region.
    pub n: usize,
}

/// The region's pixels in raster order with their (fast, slow) position.
fn region<'a>(s: &'a Setup, image: &'a [f32]) -> impl Iterator<Item = (usize, usize, usize, f32)> + 'a {
    (0..s.spixels).flat_map(move |sl| (0..s.fpixels).map(move |f| (f, sl))).filter(|&(f, sl)| s.in_roi(f, sl)).map(move |(f, sl)| {
        let j = sl * s.fpixels + f;
        (j, f, sl, image[j])
    })
}

/// Max, mean, rms and rmsd over the region (the rmsd over the region's own pixels: the
/// reference reads them one index late, specs/nonbragg.md deviation 8).
pub fn statistics(s: &Setup, image: &[f32]) -> Stats {
    let (mut max, mut at, mut sum, mut sumsqr, mut n) = (0.0f64, (0, 0), 0.0f64, 0.0f64, 0usize);
    for (_, f, sl, v) in region(s, image) {
        let v = v as f64;
        if v > max {
            max = v;
            at = (f, sl);
        }
        sum += v;
        sumsqr += v * v;
        n += 1;
    }
    let mean = sum / n.max(1) as f64;
    let rms = (sumsqr / (n.max(2) - 1) as f64).sqrt();
    let dev: f64 = region(s, image).map(|(_, _, _, v)| (v as f64 - mean) * (v as f64 - mean)).sum();
    let rmsd = (dev / (n.max(2) - 1) as f64).sqrt();
    Stats { max, max_pixel: at, mean, rms, rmsd, n }
}

/// The integer image's scale: the given one, or 55000 / max (1 for an empty image).
pub fn int_scale(user: Option<f64>, stats: &Stats) -> f64 {
    match user {
        Some(v) if v > 0.0 => v,
        _ if stats.max > 0.0 => 55000.0 / stats.max,
        _ => 1.0,
    }
}

/// The PGM's scale: the given one, or 250 / (5 rmsd), or the integer scale.
pub fn pgm_scale(user: Option<f64>, int_scale: f64, stats: &Stats) -> f64 {
    match user {
        Some(v) if v > 0.0 => v,
        _ if stats.rmsd > 0.0 => 250.0 / (5.0 * stats.rmsd),
        _ => int_scale,
    }
}

/// Noiseless counts: value x scale + adc, rounded (in single precision, as the reference) and
/// clipped to 0..65535.
pub fn int_image(s: &Setup, image: &[f32], scale: f64, adc: f64) -> Vec<u16> {
    let mut out = vec![0u16; image.len()];
    for (j, _, _, v) in region(s, image) {
        let test = (v as f64 * scale + adc).clamp(0.0, 65535.0);
        // NaN (never produced for valid input) would become 0
        out[j] = ((test + 0.5) as f32).floor() as u16;
    }
    out
}

/// PGM bytes: value x scale truncated to 0..255 (negative values give 0, specs/nonbragg.md deviation 10).
pub fn pgm_bytes(s: &Setup, image: &[f32], scale: f64) -> Vec<u8> {
    let mut out = vec![0u8; image.len()];
    for (j, _, _, v) in region(s, image) {
        let test = (v as f64 * scale).min(255.0);
        out[j] = if test >= 0.0 { test as u8 } else { 0 };
    }
    out
}

/// The noise image: a Poisson deviate of every region pixel in raster order from one stream
/// seeded with `idum` (the reference's -seed N is idum = -N), plus adc, clipped to 0..65535.
/// Returns the counts, the photons drawn and the number of pixels clipped at 65535.
pub fn noise_image(s: &Setup, image: &[f32], adc: f64, idum: i64) -> (Vec<u16>, f64, usize) {
    let mut dev = PoissonDeviates::new(idum);
    let mut out = vec![0u16; image.len()];
    let (mut photons, mut overloads) = (0.0, 0usize);
    for (j, _, _, v) in region(s, image) {
        let mut test = dev.poidev(v) as f64;
        photons += test;
        test += adc;
        if test > 65535.0 {
            test = 65535.0;
            overloads += 1;
        }
        out[j] = if test >= 0.0 { test as u16 } else { 0 };
    }
    (out, photons, overloads)
}

/// The SMV header lines of the int and noise images (the reference's keys and `%g` values).
pub fn header_lines(s: &Setup) -> Vec<String> {
    let mut l = smv_preamble();
    let g = fmt_g;
    l.push(smv_line("SIZE1", &s.fpixels.to_string()));
    l.push(smv_line("SIZE2", &s.spixels.to_string()));
    l.push(smv_line("PIXEL_SIZE", &g(s.pixel * 1000.0)));
    l.push(smv_line("DISTANCE", &g(s.distance * 1000.0)));
    l.push(smv_line("WAVELENGTH", &g(s.wavelength * 1e10)));
    l.push(smv_line("BEAM_CENTER_X", &g(s.xbeam * 1000.0)));
    l.push(smv_line("BEAM_CENTER_Y", &g((s.size_y - s.ybeam) * 1000.0)));
    l.push(smv_line("ORGX", &g(s.xclose / s.pixel)));
    l.push(smv_line("ORGY", &g(s.yclose / s.pixel)));
    l.push(smv_line("CLOSE_DISTANCE", &g(s.close_distance * 1000.0)));
    l.push(smv_line("PHI", &g(s.phi * RTD)));
    l.push(smv_line("OSC_START", &g(s.phi * RTD)));
    l.push(smv_line("OSC_RANGE", &g(s.osc * RTD)));
    l.push(smv_line("TWOTHETA", &g(s.twotheta * RTD)));
    l.extend(smv_trailer());
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::amorphous::settings::Settings;
    use crate::engine::amorphous::setup::resolve;

    fn setup(n: usize) -> Setup {
        let mut st = Settings::default();
        st.detector.fpixels = Some(n);
        st.detector.spixels = Some(n);
        resolve(&st).unwrap()
    }

    #[test]
    fn statistics_over_the_region() {
        let mut s = setup(4);
        let image: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let st = statistics(&s, &image);
        assert_eq!((st.max, st.max_pixel, st.n), (15.0, (3, 3), 16));
        assert_eq!(st.mean, 7.5);
        s.roi = [1, 2, 1, 1];
        let st = statistics(&s, &image);
        assert_eq!((st.max, st.n, st.mean), (6.0, 2, 5.5));
        assert!((st.rmsd - 0.5f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn int_pgm_and_noise_follow_the_reference_rules() {
        let mut s = setup(2);
        s.roi = [0, 1, 0, 0];
        let image = [1.25f32, -3.0, 7.0, 7.0];
        assert_eq!(int_image(&s, &image, 2.0, 40.0), vec![43, 34, 0, 0]);
        assert_eq!(pgm_bytes(&s, &image, 100.0), vec![125, 0, 0, 0]);
        let (noise, photons, over) = noise_image(&s, &image, 40.0, -5);
        assert_eq!(noise[2..], [0, 0]);
        // a negative mean gives 0 photons after one draw
        assert_eq!(noise[1], 40);
        assert_eq!(photons, (noise[0] - 40) as f64);
        assert_eq!(over, 0);
        // the same seed gives the same image
        assert_eq!(noise_image(&s, &image, 40.0, -5).0, noise);
        // negative offsets are clipped, not wrapped
        assert_eq!(noise_image(&s, &[0.0; 4], -10.0, -5).0, vec![0, 0, 0, 0]);
    }

    #[test]
    fn header_has_the_reference_keys() {
        let s = setup(128);
        let l = header_lines(&s);
        assert!(l.contains(&"SIZE1=128;".to_string()));
        assert!(l.contains(&"BEAM_CENTER_X=6.35;".to_string()), "{l:?}");
        assert!(l.contains(&"TWOTHETA=0;".to_string()));
    }
}
