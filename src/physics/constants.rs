//! Named constants of the intensity formula. specs/physics.md ("Constants") gives each one's
//! meaning and source; every copy of the physics uses these names (the per-pixel trace
//! included).

/// Classical electron radius squared (m^2).
pub const R_E_SQR: f64 = 7.94079248018965e-30;
/// Avogadro's number (1/mol).
pub const AVOGADRO: f64 = 6.02214179e23;
/// Forward-scattering structure factor of one water molecule (electrons), for the background.
pub const WATER_F: f64 = 2.57;
/// Molecular weight of water (g/mol).
pub const WATER_MW: f64 = 18.0;
/// Normalisation of the round (spherical) crystal's transform so that its integral over a
/// reciprocal cell matches the parallelepiped's: the reference's 0.723601254558268.
pub const ROUND_NORM: f64 = 0.723601254558268;
/// Width of the Gaussian spot shape: F_latt = Nabc exp(-rad * fudge / 0.63).
pub const GAUSS_WIDTH: f64 = 0.63;
/// Squared radius of the top-hat spot shape (0.63^2): inside where rad * fudge < 0.3969.
pub const TOPHAT_RADIUS_SQ: f64 = 0.3969;
/// |pi h| below which sincg uses its Taylor series n (1 - (n^2 - 1) x^2 / 6).
pub const SINCG_SERIES_BELOW: f64 = 1e-4;
/// x^2 below which the sphere transform uses its Taylor series 1 - x^2/10 + x^4/280.
pub const SINC3_SERIES_BELOW: f64 = 1e-6;
/// The same switch in the GPU kernel's float32: the closed form cancels badly there for small
/// x, and the series (to x^8) is accurate below 1e-10 up to x^2 = 1.
pub const SINC3_SERIES_BELOW_F32: f64 = 1.0;
/// Planck's constant times the speed of light (eV Angstrom), for photon energies.
pub const HC_EV_ANGSTROM: f64 = 12398.42;
/// Squared projection of the diffracted direction on the polarization plane below which
/// 2 psi is undefined (forward scattering) and cos 2 psi is taken as 1.
pub const POLAR_PROJ_SQ_BELOW: f64 = 1e-30;
/// Degrees per radian, as the reference computes it (angles typed in degrees are divided by it).
pub const RTD: f64 = 180.0 * std::f64::consts::FRAC_1_PI;
