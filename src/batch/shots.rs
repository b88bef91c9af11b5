//! Each shot's own settings, from the plan, its seed and its number only, so that shot i is the
//! same image whichever process renders it and whatever ran before.
//!
//! Shot i's seed is a hash of the plan's seed and i. Each variation draws from its own stream
//! (a hash of the shot's seed and the variation's name), so turning one variation on or off
//! leaves the others' values unchanged.

use super::plan::Checked;
use super::spectrum::Spectrum;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::experiment::{Experiment, Structure, RTD};
use crate::config::Misset;

use crate::physics::constants::HC_EV_ANGSTROM as HC_EV_A;

/// SplitMix64's output function: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Shot `number`'s seed.
pub fn shot_seed(plan_seed: i64, number: usize) -> u64 {
    mix(mix(plan_seed as u64) ^ mix(number as u64 ^ 0x5348_4F54))
}

/// A SplitMix64 stream of uniform and normal deviates.
pub struct Stream(u64);

impl Stream {
    /// The stream of variation `tag` of a shot.
    pub fn new(seed: u64, tag: &str) -> Stream {
        let t = tag.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3));
        Stream(mix(seed ^ t))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0.wrapping_sub(0x9E37_79B9_7F4A_7C15))
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A rotation drawn uniformly over all rotations (a uniform unit quaternion, Shoemake's
/// construction), as a row-major matrix.
pub fn uniform_rotation(s: &mut Stream) -> [f64; 9] {
    let (u1, u2, u3) = (s.uniform(), s.uniform(), s.uniform());
    let (a, b) = ((1.0 - u1).sqrt(), u1.sqrt());
    let (t2, t3) = (std::f64::consts::TAU * u2, std::f64::consts::TAU * u3);
    let (x, y, z, w) = (a * t2.sin(), a * t2.cos(), b * t3.sin(), b * t3.cos());
    [
        1.0 - 2.0 * (y * y + z * z),
        2.0 * (x * y - z * w),
        2.0 * (x * z + y * w),
        2.0 * (x * y + z * w),
        1.0 - 2.0 * (x * x + z * z),
        2.0 * (y * z - x * w),
        2.0 * (x * z - y * w),
        2.0 * (y * z + x * w),
        1.0 - 2.0 * (x * x + y * y),
    ]
}

/// What makes one shot differ from the base simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct ShotSettings {
    pub number: usize,
    /// The shot's own seed (from the plan's seed and the number).
    pub seed: u64,
    /// Spindle start and oscillation (degrees) of a rotation frame.
    pub rotation: Option<(f64, f64)>,
    /// Missetting angles (degrees) of a still's random orientation.
    pub misset_deg: Option<[f64; 3]>,
    /// Mean photon energy (eV).
    pub energy_ev: Option<f64>,
    /// Index into the plan's spectra.
    pub spectrum: Option<usize>,
    /// Crystal edge (mm).
    pub crystal_size_mm: Option<f64>,
    pub fluence_factor: f64,
    /// Seed of the noise image (the reference generator's negative idum).
    pub noise_seed: i64,
}

/// Settings of shot `number` (from 1; rotation frames first). `base_energy_ev` is the base
/// simulation's photon energy.
pub fn settings(plan: &Checked, number: usize, base_energy_ev: f64) -> ShotSettings {
    let seed = shot_seed(plan.seed, number);
    let noise_seed = -((Stream::new(seed, "noise").next_u64() % 2_147_483_646) as i64 + 1);
    let mut s = ShotSettings { number, seed, rotation: None, misset_deg: None, energy_ev: None, spectrum: None, crystal_size_mm: None, fluence_factor: 1.0, noise_seed };
    let nrot = plan.rotation_count();
    if number <= nrot {
        let r = plan.rotation.as_ref().expect("a rotation frame needs the rotation table");
        s.rotation = Some((r.start + (number - 1) as f64 * r.width, r.width));
        return s;
    }
    let still = number - nrot - 1;
    let st = plan.stills.as_ref().expect("a still needs the stills table");
    let u = uniform_rotation(&mut Stream::new(seed, "orientation"));
    let m = crate::physics::rng::umat2misset(&u);
    s.misset_deg = Some([m[0] * RTD, m[1] * RTD, m[2] * RTD]);
    if !st.spectra.is_empty() {
        s.spectrum = Some(still % st.spectra.len());
    }
    if let Some(sd) = st.energy_jitter_ev {
        s.energy_ev = Some(base_energy_ev + sd * Stream::new(seed, "energy").normal());
    }
    if let Some([lo, hi]) = st.crystal_size_um {
        s.crystal_size_mm = Some((lo + (hi - lo) * Stream::new(seed, "size").uniform()) * 1e-3);
    }
    if let Some(sd) = st.fluence_jitter {
        s.fluence_factor = (sd * Stream::new(seed, "fluence").normal() - 0.5 * sd * sd).exp();
    }
    s
}

/// The shot's settings as a configuration: the base flags with the shot's orientation, spindle,
/// wavelength or spectrum, crystal size, fluence and noise seed, and no output files.
/// `base_fluence` is the base simulation's fluence (photons/m²), which the fluence factor
/// scales.
pub fn config(base: &Config, s: &ShotSettings, spectra: &[Spectrum], base_fluence: f64) -> Result<Config> {
    let mut cfg = base.clone();
    if let Some((phi, osc)) = s.rotation {
        // degrees as a plan gives them, converted as the flags are
        cfg.crystal.phi0 = Some(phi / RTD);
        cfg.crystal.osc = Some(osc / RTD);
    }
    if let Some(m) = s.misset_deg {
        cfg.crystal.misset = Some(Misset::Angles(m.map(|d| d / RTD)));
        cfg.crystal.misset_seed = None;
    }
    if let Some(e) = s.energy_ev {
        if !(e > 0.0) {
            return Err(Error::new(format!("shot {}: energy jitter gives a photon energy of {e} eV (make energy_jitter_ev smaller)", s.number)));
        }
        cfg.beam.lambda = Some(HC_EV_A / e / 1e10);
    }
    if let Some(size) = s.crystal_size_mm {
        // mm as a plan gives it, converted as the flags are
        cfg.crystal.size = [Some(size / 1000.0); 3];
    }
    if let Some(k) = s.spectrum {
        // the shot's spectrum replaces the base's single wavelength, exactly as -spectrum
        // would on the command line (nominal wavelength, sampling and sources alike)
        cfg.beam.lambda = None;
        cfg.beam.spectrum_lines = Some(spectra[k].lines.clone());
    }
    if s.fluence_factor != 1.0 {
        // the shot's fluence itself, so the record needs no flux, exposure or factor
        cfg.beam.fluence = Some(base_fluence * s.fluence_factor);
        cfg.beam.flux = None;
    }
    // the noise image's seed: -seed N makes the generator's seed -N
    cfg.outputs.seed = Some(-s.noise_seed);
    let o = &mut cfg.outputs;
    for name in [&mut o.float_file, &mut o.int_file, &mut o.noise_file, &mut o.pgm_file, &mut o.png_file, &mut o.cbf_file, &mut o.nexus_file, &mut o.expt_file] {
        *name = None;
    }
    o.nexus_append = false;
    // a cache is an output beside -hkl (not the record's to write), an input without it
    if cfg.structure.hkl_file.is_some() {
        cfg.structure.dump_file = None;
    }
    Ok(cfg)
}

/// The shot's run file and the configuration read back from it: the shot is rendered from what
/// the record says, so `nanobragg --config shot_N.toml` repeats it exactly.
pub fn record(base: &Config, s: &ShotSettings, spectra: &[Spectrum], base_fluence: f64) -> Result<(String, Config)> {
    let text = crate::config::runfile::to_toml(&config(base, s, spectra, base_fluence)?);
    let internal = |e: Error| Error::new(format!("internal error: shot {}'s record does not read back: {}", s.number, e.0));
    let flags = crate::config::runfile::flags_from_toml("shot record", &text).map_err(internal)?;
    let cfg = crate::config::parse(&flags).map_err(internal)?;
    Ok((text, cfg))
}

/// The shot's experiment: its record's configuration, with the input files and structure
/// factors read once for the whole batch.
pub fn experiment(cfg: &Config, files: &crate::experiment::InputFiles, structure: &Structure) -> Result<(Experiment, Vec<String>)> {
    let (exp, notes) = crate::experiment::build_from(cfg, files, Some(structure))?;
    Ok((exp, notes.warnings))
}

/// The base simulation's photon energy (eV).
pub fn energy_of(exp: &Experiment) -> f64 {
    HC_EV_A / (exp.beam.lambda0 * 1e10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_per_shot_and_per_plan_seed() {
        let a: Vec<u64> = (1..=100).map(|i| shot_seed(1, i)).collect();
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
        assert_ne!(shot_seed(1, 5), shot_seed(2, 5));
        assert_eq!(shot_seed(7, 3), shot_seed(7, 3));
    }

    #[test]
    fn random_rotations_are_rotations_and_uniform() {
        let mut s = Stream::new(42, "orientation");
        // for a uniform rotation every column is uniform on the sphere: the mean of each
        // matrix element is 0 and the mean of its square 1/3
        let n = 20000;
        let (mut mean, mut sq) = ([0.0; 9], [0.0; 9]);
        for _ in 0..n {
            let r = uniform_rotation(&mut s);
            let det = r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) + r[2] * (r[3] * r[7] - r[4] * r[6]);
            assert!((det - 1.0).abs() < 1e-12);
            for k in 0..9 {
                mean[k] += r[k] / n as f64;
                sq[k] += r[k] * r[k] / n as f64;
            }
        }
        for k in 0..9 {
            assert!(mean[k].abs() < 0.02, "mean {k}: {}", mean[k]);
            assert!((sq[k] - 1.0 / 3.0).abs() < 0.02, "square {k}: {}", sq[k]);
        }
    }

    #[test]
    fn normal_deviates_have_unit_variance() {
        let mut s = Stream::new(9, "x");
        let v: Vec<f64> = (0..20000).map(|_| s.normal()).collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
        assert!(m.abs() < 0.03 && (var - 1.0).abs() < 0.05, "{m} {var}");
    }
}
