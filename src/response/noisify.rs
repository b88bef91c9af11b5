//! The detector response of noisify, stage by stage: photons from the float image (scale and
//! fluence), source flicker, per-pixel calibration error, Poisson counting, the PSF, gain and ADC
//! offset, readout noise, and clipping to 16- or 32-bit pixels; plus the noiseless integer image
//! and its PGM preview.
//!
//! Every stage keeps the reference's single/double precision mix and its order of random draws,
//! so a seed gives the reference's noise image bit for bit. All random draws go through one
//! [`SharedDeviates`], as the reference's do (see [`Seeds`]).

use super::psf::{Psf, PsfOutcome};
use crate::physics::rng::SharedDeviates;

/// Thomson cross-section r_e² in m², as the reference writes it.
pub const R_E_SQUARED: f64 = 7.94079248018965e-30;
/// The default fluence in photons/m²: r_e² times it is 1, so the float image is taken as
/// photons/pixel.
pub const DEFAULT_FLUENCE: f64 = 125932015286227086360700780544.0;
/// The calibration stream's seed variable when `-calib_seed` is not given. It is positive, so
/// the reference's generator replaces it by 1 on its first draw.
pub const DEFAULT_CALIB_IDUM: i64 = 123456789;
/// Largest value of a 32-bit pixel (the reference keeps to the signed range).
pub const MAX_ADU_32: f64 = 2147483647.0;
/// Largest value of a 16-bit pixel.
pub const MAX_ADU_16: f64 = 65535.0;

/// Pixel width of the integer images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntBits {
    /// `unsigned_short`, 0..65535.
    Sixteen,
    /// `long_integer` (4-byte unsigned), 0..2147483647.
    ThirtyTwo,
}

impl IntBits {
    /// Bytes per pixel.
    pub fn bytes(self) -> usize {
        match self {
            IntBits::Sixteen => 2,
            IntBits::ThirtyTwo => 4,
        }
    }
    /// The SMV TYPE keyword.
    pub fn smv_type(self) -> &'static str {
        match self {
            IntBits::Sixteen => "unsigned_short",
            IntBits::ThirtyTwo => "long_integer",
        }
    }
}

/// The seed variables of the two random streams, as the reference holds them: a user seed N is
/// stored as -N (a non-positive value loads the shared table on the next draw; every N <= 1
/// gives the stream of 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    /// Flicker, Poisson and readout draws.
    pub noise: i64,
    /// Calibration draws (only where flicker is off: with flicker each calibration deviate is
    /// the spare Gaussian of the noise stream).
    pub calibration: i64,
}

impl Seeds {
    /// From the user's `-seed N` and optional `-calib_seed M`, C ints negated in int
    /// arithmetic as the reference does (so -2147483648 stays itself).
    pub fn from_user(seed: i32, calib_seed: Option<i32>) -> Seeds {
        Seeds { noise: seed.wrapping_neg() as i64, calibration: calib_seed.map_or(DEFAULT_CALIB_IDUM, |m| m.wrapping_neg() as i64) }
    }
}

/// Everything the response needs, in the units named.
#[derive(Clone, Debug, PartialEq)]
pub struct NoisifySettings {
    /// Multiplies every input value (`-scale`).
    pub scale: f64,
    /// Incident fluence, photons/m²; photons = fluence · r_e² · scale · input.
    pub fluence: f64,
    /// Source flicker, relative rms (0.02 = 2%).
    pub flicker: f64,
    /// Per-pixel calibration error, relative rms.
    pub calibration: f64,
    /// Readout noise, ADU rms.
    pub readout_adu: f64,
    /// ADU per photon.
    pub gain: f64,
    /// Offset added to every pixel, ADU.
    pub adc_offset: f64,
    /// Point-spread function, if any.
    pub psf: Option<Psf>,
    pub bits: IntBits,
    /// Make the noise image (false: only the noiseless image, with the PSF applied to it).
    pub noise: bool,
    pub seeds: Seeds,
}

impl Default for NoisifySettings {
    /// The reference's defaults (3% calibration error, gain 1, ADC offset 40, 16-bit), with
    /// seed 1.
    fn default() -> Self {
        NoisifySettings {
            scale: 1.0,
            fluence: DEFAULT_FLUENCE,
            flicker: 0.0,
            calibration: 0.03,
            readout_adu: 0.0,
            gain: 1.0,
            adc_offset: 40.0,
            psf: None,
            bits: IntBits::Sixteen,
            noise: true,
            seeds: Seeds::from_user(1, None),
        }
    }
}

impl NoisifySettings {
    /// The response a render's noise image goes through (`-psf`, `-gain`, ... on the render's
    /// command line): noisify's model and defaults, 16-bit pixels, the input taken as photons,
    /// the PSF width converted to pixels of `pixel_m` metres as noisify converts it.
    pub fn from_config(r: &crate::config::ResponseConfig, pixel_m: f64, adc: f64, seed: i32) -> NoisifySettings {
        use crate::config::PsfShape;
        use super::psf::PsfKind;
        // noisify holds the width in single precision, in metres
        let fwhm_m = (r.psf_fwhm_um.unwrap_or(46.0) / 1e6) as f32;
        let psf = r.psf.map(|shape| Psf {
            kind: if shape == PsfShape::Gauss { PsfKind::Gaussian } else { PsfKind::Fiber },
            fwhm_pixels: fwhm_m as f64 / pixel_m,
            radius: r.psf_radius.filter(|&n| n > 0).map(|n| n as usize),
        });
        NoisifySettings {
            flicker: r.flicker.unwrap_or(0.0),
            calibration: r.calibration.unwrap_or(0.03),
            readout_adu: r.readout.unwrap_or(0.0),
            gain: r.gain.unwrap_or(1.0),
            adc_offset: adc,
            psf,
            seeds: Seeds::from_user(seed, r.calib_seed.map(|m| m as i32)),
            ..NoisifySettings::default()
        }
    }
}

/// Integer pixels of one width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntImage {
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl IntImage {
    /// Little-endian pixel bytes.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            IntImage::U16(v) => v.iter().flat_map(|p| p.to_le_bytes()).collect(),
            IntImage::U32(v) => v.iter().flat_map(|p| p.to_le_bytes()).collect(),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            IntImage::U16(v) => v.len(),
            IntImage::U32(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Pixel `i` widened.
    pub fn get(&self, i: usize) -> u32 {
        match self {
            IntImage::U16(v) => v[i] as u32,
            IntImage::U32(v) => v[i],
        }
    }
}

/// The noise image and what went into it.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseResult {
    pub image: IntImage,
    /// Photons counted before the PSF.
    pub photons_before_psf: f64,
    /// The PSF stage's report, when a PSF was applied.
    pub psf: Option<PsfOutcome>,
    /// Photons after the PSF (the signal that gets gain, offset and readout noise).
    pub photons: f64,
    /// Pixels clipped at the largest value of the pixel type.
    pub overloads: usize,
}

/// Everything the response makes.
#[derive(Clone, Debug, PartialEq)]
pub struct NoisifyResult {
    /// Largest input value.
    pub max_input: f64,
    /// Input values below zero (they give zero photons).
    pub negative_inputs: usize,
    /// The PSF applied to the noiseless image (only without noise).
    pub noiseless_psf: Option<PsfOutcome>,
    /// Noiseless integer image: photons · gain + offset, truncated and clipped.
    pub noiseless: IntImage,
    /// PGM bytes: the 16-bit noiseless value, capped at 255.
    pub pgm: Vec<u8>,
    pub noise: Option<NoiseResult>,
}

/// Photons per pixel: (float)(fluence · r_e² · scale · input).
pub fn photon_image(input: &[f32], fluence: f64, scale: f64) -> Vec<f32> {
    let factor = (fluence * R_E_SQUARED) * scale;
    input.iter().map(|&v| (factor * v as f64) as f32).collect()
}

/// Poisson counts of `photons` after flicker and calibration error, pixel by pixel in file
/// order: flicker deviate (noise stream), calibration deviate (calibration stream), Poisson
/// deviate (noise stream). Returns the counts and their sum.
pub fn counted_photons(
    photons: &[f32],
    flicker: f64,
    calibration: f64,
    seeds: &mut Seeds,
    rng: &mut SharedDeviates,
) -> (Vec<f32>, f64) {
    let mut sum = 0.0;
    let counts = photons
        .iter()
        .map(|&p| {
            let mut expected = p as f64;
            if flicker > 0.0 {
                expected *= 1.0 + flicker * rng.gaussdev(&mut seeds.noise) as f64;
            }
            if calibration > 0.0 {
                expected *= 1.0 + calibration * rng.gaussdev(&mut seeds.calibration) as f64;
            }
            let n = rng.poidev(expected as f32, &mut seeds.noise);
            sum += n as f64;
            n
        })
        .collect();
    (counts, sum)
}

/// An ADU value clamped to a pixel's range (negative values read 0, where the reference wraps
/// them around) and truncated.
fn clip16(adu: f64) -> u16 {
    adu.clamp(0.0, MAX_ADU_16) as u16
}
fn clip32(adu: f64) -> u32 {
    adu.clamp(0.0, MAX_ADU_32) as u32
}

/// The noiseless image: photons · gain + offset, truncated, as 16-bit and, for 32 bits, as
/// 32-bit pixels (each clipped at its own type's largest value).
pub fn noiseless_adu(photons: &[f32], gain: f64, adc_offset: f64, bits: IntBits) -> (Vec<u16>, IntImage) {
    let adu = |p: f32| p as f64 * gain + adc_offset;
    let sixteen: Vec<u16> = photons.iter().map(|&p| clip16(adu(p))).collect();
    let image = match bits {
        IntBits::Sixteen => IntImage::U16(sixteen.clone()),
        IntBits::ThirtyTwo => IntImage::U32(photons.iter().map(|&p| clip32(adu(p))).collect()),
    };
    (sixteen, image)
}

/// The noise image from photon counts: counts · gain + offset, plus readout noise drawn from the
/// noise stream, clipped to the pixel type. Returns the image and the number of clipped pixels.
pub fn noisy_adu(
    photons: &[f32],
    gain: f64,
    adc_offset: f64,
    readout_adu: f64,
    bits: IntBits,
    seeds: &mut Seeds,
    rng: &mut SharedDeviates,
) -> (IntImage, usize) {
    let mut overloads = 0;
    let mut adus = photons.iter().map(|&p| {
        let mut adu = p as f64 * gain + adc_offset;
        if readout_adu > 0.0 {
            adu += readout_adu * rng.gaussdev(&mut seeds.noise) as f64;
        }
        adu
    });
    let image = match bits {
        IntBits::Sixteen => IntImage::U16(
            adus.by_ref()
                .map(|a| {
                    overloads += (a > MAX_ADU_16) as usize;
                    clip16(a)
                })
                .collect(),
        ),
        IntBits::ThirtyTwo => IntImage::U32(
            adus.by_ref()
                .map(|a| {
                    overloads += (a > MAX_ADU_32) as usize;
                    clip32(a)
                })
                .collect(),
        ),
    };
    (image, overloads)
}

/// PGM bytes from the 16-bit noiseless image.
pub fn pgm_bytes(noiseless16: &[u16]) -> Vec<u8> {
    noiseless16.iter().map(|&v| v.min(255) as u8).collect()
}

/// The whole response of a `width` x `height` float image (photons/pixel before scaling).
pub fn noisify(input: &[f32], width: usize, height: usize, s: &NoisifySettings) -> NoisifyResult {
    let max_input = input.iter().fold(0.0f64, |m, &v| if m < v as f64 { v as f64 } else { m });
    let negative_inputs = input.iter().filter(|&&v| v < 0.0).count();
    let mut photons = photon_image(input, s.fluence, s.scale);
    let psf = s.psf.filter(|p| p.fwhm_pixels > 0.0);

    // without noise the PSF goes on the noiseless image, which is then all there is
    let mut noiseless_psf = None;
    if !s.noise {
        if let Some(p) = psf {
            let out = p.apply(&photons, width, height);
            photons = out.image.clone();
            noiseless_psf = Some(out);
        }
    }
    let (sixteen, noiseless) = noiseless_adu(&photons, s.gain, s.adc_offset, s.bits);
    let pgm = pgm_bytes(&sixteen);

    let noise = s.noise.then(|| {
        let mut rng = SharedDeviates::new();
        let mut seeds = s.seeds;
        let (mut counts, photons_before_psf) = counted_photons(&photons, s.flicker, s.calibration, &mut seeds, &mut rng);
        let mut psf_out = None;
        if let Some(p) = psf {
            let out = p.apply(&counts, width, height);
            counts = out.image.clone();
            psf_out = Some(out);
        }
        let total: f64 = counts.iter().map(|&c| c as f64).sum();
        let (image, overloads) = noisy_adu(&counts, s.gain, s.adc_offset, s.readout_adu, s.bits, &mut seeds, &mut rng);
        NoiseResult { image, photons_before_psf, psf: psf_out, photons: total, overloads }
    });
    NoisifyResult { max_input, negative_inputs, noiseless_psf, noiseless, pgm, noise }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::psf::PsfKind;

    #[test]
    fn default_fluence_times_thomson_cross_section_is_one() {
        assert_eq!(DEFAULT_FLUENCE * R_E_SQUARED, 1.0);
        assert_eq!(photon_image(&[3.25, 0.1], DEFAULT_FLUENCE, 1.0), vec![3.25, 0.1]);
    }

    #[test]
    fn negative_adu_read_zero_and_overloads_clip() {
        let mut seeds = Seeds::from_user(3, None);
        let mut rng = SharedDeviates::new();
        let (img, over) = noisy_adu(&[0.0, 70000.0, 5.0], 1.0, -10.0, 0.0, IntBits::Sixteen, &mut seeds, &mut rng);
        assert_eq!(img, IntImage::U16(vec![0, 65535, 0]));
        assert_eq!(over, 1);
        let (img, over) = noisy_adu(&[3e9, 2.0], 1.0, 0.0, 0.0, IntBits::ThirtyTwo, &mut seeds, &mut rng);
        assert_eq!(img, IntImage::U32(vec![2147483647, 2]));
        assert_eq!(over, 1);
    }

    #[test]
    fn thirty_two_bit_noiseless_image_is_not_clipped_at_16_bits() {
        let (sixteen, img) = noiseless_adu(&[100000.0, 12.7], 1.0, 40.0, IntBits::ThirtyTwo);
        assert_eq!(sixteen, vec![65535, 52]);
        assert_eq!(img, IntImage::U32(vec![100040, 52]));
        assert_eq!(pgm_bytes(&sixteen), vec![255, 52]);
    }

    #[test]
    fn flicker_makes_the_calibration_deviate_the_noise_streams_spare() {
        // with flicker the calibration seed is never drawn from: any -calib_seed gives the
        // same image
        let input: Vec<f32> = (0..256).map(|i| (i % 17) as f32 * 3.0).collect();
        let mut s = NoisifySettings { flicker: 0.05, calibration: 0.05, seeds: Seeds::from_user(9, Some(4)), ..Default::default() };
        let a = noisify(&input, 16, 16, &s);
        s.seeds = Seeds::from_user(9, Some(77));
        let b = noisify(&input, 16, 16, &s);
        assert_eq!(a.noise.unwrap().image, b.noise.unwrap().image);
        // without flicker the calibration seed matters
        s.flicker = 0.0;
        let c = noisify(&input, 16, 16, &s);
        s.seeds = Seeds::from_user(9, Some(4));
        let d = noisify(&input, 16, 16, &s);
        assert_ne!(c.noise.unwrap().image, d.noise.unwrap().image);
    }

    #[test]
    fn default_calibration_seed_is_the_stream_of_one() {
        let input: Vec<f32> = (0..64).map(|i| 50.0 + i as f32).collect();
        let mut s = NoisifySettings { seeds: Seeds::from_user(5, None), ..Default::default() };
        let a = noisify(&input, 8, 8, &s).noise.unwrap().image;
        s.seeds = Seeds::from_user(5, Some(1));
        let b = noisify(&input, 8, 8, &s).noise.unwrap().image;
        assert_eq!(a, b);
    }

    #[test]
    fn without_noise_the_psf_blurs_the_noiseless_image() {
        let mut input = vec![0.0f32; 32 * 32];
        input[16 * 32 + 16] = 1000.0;
        let s = NoisifySettings {
            noise: false,
            adc_offset: 0.0,
            psf: Some(Psf { kind: PsfKind::Gaussian, fwhm_pixels: 3.0, radius: Some(6) }),
            ..Default::default()
        };
        let r = noisify(&input, 32, 32, &s);
        assert!(r.noise.is_none());
        let IntImage::U16(v) = &r.noiseless else { panic!("16-bit") };
        assert!(v[16 * 32 + 16] < 1000 && v[16 * 32 + 17] > 0);
        assert!(r.noiseless_psf.is_some());
    }
}
