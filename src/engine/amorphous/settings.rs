//! Typed settings of an amorphous-scattering render (the model of the C program nonBragg), in
//! SI units and radians, with the C program's defaults.
//!
//! `None` means "not given": several quantities (divergence and dispersion steps, the phi
//! sampling written to the header, the beam centre) are completed from the others by the
//! reference's rules in [`super::setup`].

use crate::io::sourcefile::SourceRow;
use crate::config::Pivot;
use crate::physics::vec3::V3;

/// The scattering material: a box of the given size, density and molecular weight.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Extent along the beam (m).
    pub thickness: f64,
    /// Horizontal extent across the beam (m); the beam size clips it.
    pub width: f64,
    /// Vertical extent across the beam (m); the beam size clips it.
    pub height: f64,
    /// Density (g/cm^3).
    pub density: f64,
    /// Molecular weight (g/mol).
    pub molecular_weight: f64,
    /// Number of molecules in the beam; when given it replaces the density.
    pub molecules: Option<f64>,
}

impl Default for Sample {
    fn default() -> Self {
        Sample { thickness: 1e-4, width: 1e-4, height: 1e-4, density: 1.0, molecular_weight: 18.0, molecules: None }
    }
}

/// Angular spread of the sources in one direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Divergence {
    /// Full range (rad).
    pub range: Option<f64>,
    /// Step between sources (rad).
    pub step: Option<f64>,
    /// Number of sources.
    pub steps: Option<i64>,
}

/// The incident beam.
#[derive(Clone, Debug, PartialEq)]
pub struct Beam {
    /// Central wavelength (m).
    pub wavelength: f64,
    /// Full spectral width, delta-lambda/lambda (a fraction, not percent).
    pub dispersion: f64,
    /// Number of wavelengths across the dispersion.
    pub dispsteps: Option<i64>,
    /// Divergence in the polarization (horizontal) direction.
    pub hdiv: Divergence,
    /// Divergence in the vertical direction.
    pub vdiv: Divergence,
    /// Drop the corners of the divergence grid (an elliptical spread).
    pub round_div: bool,
    /// Integrated fluence (photons/m^2), used unless a flux is given.
    pub fluence: f64,
    /// Flux (photons/s); when non-zero, fluence = flux exposure / beamsize^2.
    pub flux: f64,
    /// Exposure time (s).
    pub exposure: f64,
    /// Side of the square beam (m); the sample's width and height are clipped to it.
    pub beamsize: f64,
    /// Direction of propagation (normalised by the setup).
    pub direction: V3,
    /// Axis the E-vector lies closest to (printed as POLARIZATION_PLANE_NORMAL by the reference).
    pub polarization_axis: V3,
    /// Kahn polarization factor (0: unpolarized).
    pub kahn: f64,
    /// Apply the polarization factor at all (`-nopolar` switches it off).
    pub polarized: bool,
    /// Distance of the generated sources from the sample (m); only their direction matters.
    pub source_distance: f64,
    /// A source list (`-sourcefile`); empty: sources from the divergence and dispersion.
    pub sources: Vec<SourceRow>,
}

impl Default for Beam {
    fn default() -> Self {
        Beam {
            wavelength: 1.0e-10,
            dispersion: 0.0,
            dispsteps: None,
            hdiv: Divergence::default(),
            vdiv: Divergence::default(),
            round_div: true,
            fluence: DEFAULT_FLUENCE,
            flux: 0.0,
            exposure: 1.0,
            beamsize: 1e-4,
            direction: [1.0, 0.0, 0.0],
            polarization_axis: [0.0, 0.0, 1.0],
            kahn: 0.0,
            polarized: true,
            source_distance: 10.0,
            sources: Vec::new(),
        }
    }
}

/// The reference's default fluence (photons/m^2), at which r_e^2 times the fluence is 1.
pub const DEFAULT_FLUENCE: f64 = 125932015286227086360700780544.0;

/// The flat (or curved) pixel detector.
#[derive(Clone, Debug, PartialEq)]
pub struct Detector {
    /// Pixel size (m).
    pub pixel: f64,
    /// Pixels along the fast axis; when given it sets the size.
    pub fpixels: Option<usize>,
    /// Pixels along the slow axis; when given it sets the size.
    pub spixels: Option<usize>,
    /// Size along the fast axis (m).
    pub size_x: f64,
    /// Size along the slow axis (m).
    pub size_y: f64,
    /// Sample to beam spot distance along the beam (m).
    pub distance: f64,
    /// Sample to detector plane distance along its normal (m).
    pub close_distance: Option<f64>,
    /// Beam spot on the detector along the fast axis (m); default: `xclose`.
    pub xbeam: Option<f64>,
    /// Beam spot along the slow axis (m); default: `yclose`.
    pub ybeam: Option<f64>,
    /// Foot of the normal from the sample, fast axis (m); default (size_x - pixel)/2.
    pub xclose: Option<f64>,
    /// Foot of the normal, slow axis (m); default (size_y + pixel)/2.
    pub yclose: Option<f64>,
    /// XDS origin (pixels): sets `xclose` = orgx pixel.
    pub orgx: Option<f64>,
    /// XDS origin (pixels): sets `yclose` = orgy pixel.
    pub orgy: Option<f64>,
    /// What stays fixed when the detector turns: the beam spot or the foot of the normal.
    pub pivot: Pivot,
    /// Fast axis (normalised by the setup).
    pub fast_axis: V3,
    /// Slow axis (normalised by the setup).
    pub slow_axis: V3,
    /// Rotations about x, y, z (rad), in that order.
    pub rotation: [f64; 3],
    /// Two-theta swing about `twotheta_axis` (rad).
    pub twotheta: f64,
    /// Axis of the two-theta swing (normalised by the setup).
    pub twotheta_axis: V3,
    /// Spherical detector: every pixel at `distance` from the sample.
    pub curved: bool,
    /// Solid angle 1/R^2 without the pixel area and obliquity.
    pub point_pixel: bool,
}

impl Default for Detector {
    fn default() -> Self {
        Detector {
            pixel: 1e-4,
            fpixels: None,
            spixels: None,
            size_x: 102.4e-3,
            size_y: 102.4e-3,
            distance: 100.0e-3,
            close_distance: None,
            xbeam: None,
            ybeam: None,
            xclose: None,
            yclose: None,
            orgx: None,
            orgy: None,
            pivot: Pivot::Beam,
            fast_axis: [0.0, 0.0, 1.0],
            slow_axis: [0.0, -1.0, 0.0],
            rotation: [0.0; 3],
            twotheta: 0.0,
            twotheta_axis: [0.0, 1.0, 0.0],
            curved: false,
            point_pixel: false,
        }
    }
}

/// The goniometer values written to the image header (they do not change the image).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    /// Start angle (rad).
    pub phi: f64,
    /// Oscillation range (rad).
    pub osc: Option<f64>,
    /// Step (rad).
    pub phistep: Option<f64>,
    /// Number of steps.
    pub phisteps: Option<i64>,
}

/// Everything an amorphous render needs besides the F table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub sample: Sample,
    pub beam: Beam,
    pub detector: Detector,
    pub scan: Scan,
    /// Sub-pixels per pixel side (None or 0: 1).
    pub oversample: Option<usize>,
    /// Region rendered, inclusive pixel bounds (xmin, xmax, ymin, ymax); None: all.
    pub roi: Option<[usize; 4]>,
    /// Store F itself (of the last sub-pixel and source) instead of photons.
    pub fmap: bool,
}
