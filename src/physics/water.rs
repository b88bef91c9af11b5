//! The reference's constant-F water background (`-water`), per unit fluence.

use super::constants::{AVOGADRO, R_E_SQR, WATER_F, WATER_MW};

/// Photons per unit fluence scattered into a pixel's solid angle (before the solid-angle,
/// polarization and absorption factors) by a water layer `water_size` (m) thick: the
/// background adds this times the fluence inside the fluence-scaled sum, so it grows as the
/// square of the fluence, as in the reference.
pub fn water_background_per_fluence(water_size: f64) -> f64 {
    WATER_F * WATER_F * R_E_SQR * water_size.powi(3) * 1e6 * AVOGADRO / WATER_MW
}
