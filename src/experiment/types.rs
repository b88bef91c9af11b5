//! The resolved experiment's data: every value in SI units (metres, radians), every derived
//! vector computed, as the reference program has them before its pixel loop.

use serde::{Deserialize, Serialize};

use crate::io::hkl::HklGrid;
use crate::config::{Convention, Pivot, Shape};
use crate::physics::vec3::*;

/// Classical electron radius squared (m^2).
pub use crate::physics::constants::R_E_SQR;
pub use crate::physics::constants::AVOGADRO;
/// Default incident fluence (photons/m^2) of the reference program.
pub const DEFAULT_FLUENCE: f64 = 125932015286227086360700780544.0;
pub use crate::physics::constants::RTD;

/// Detector geometry after conventions, pivots and rotations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detector {
    pub fpixels: usize,
    pub spixels: usize,
    pub pixel_size: f64,
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    pub pix0: V3,
    pub beam_vector: V3,
    /// Sample-to-beam-spot distance along the beam (m).
    pub distance: f64,
    /// Sample-to-detector-plane distance along the normal (m).
    pub close_distance: f64,
    pub curved: bool,
    pub point_pixel: bool,
    /// Sensor thickness (m), layer step (m), number of layers, attenuation coefficient (1/m).
    pub thick: f64,
    pub thickstep: f64,
    pub thicksteps: usize,
    pub mu: f64,
    /// Inclusive pixel limits rendered: fast min, fast max, slow min, slow max.
    pub roi: [i64; 4],
    // values written to image headers and printed
    pub convention: Convention,
    pub pivot: Pivot,
    pub xbeam: f64,
    pub ybeam: f64,
    pub fbeam: f64,
    pub sbeam: f64,
    pub xclose: f64,
    pub yclose: f64,
    pub fclose: f64,
    pub sclose: f64,
    pub orgx: f64,
    pub orgy: f64,
    pub dials_origin: V3,
    pub detsize_f: f64,
    pub detsize_s: f64,
    pub twotheta: f64,
    /// Index of this panel in its experiment (0 for the one panel of a C command line).
    #[serde(default)]
    pub panel: usize,
    /// The panel's name in the experiment list it came from (empty otherwise).
    #[serde(default)]
    pub name: String,
    /// The inputs of the placement, kept so the placement can be redone with tensors.
    pub setup: DetectorSetup,
}

/// Detector state before placement (after the convention and unit vectors are fixed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectorSetup {
    pub fdet0: V3,
    pub sdet0: V3,
    pub odet0: V3,
    pub twotheta_axis: V3,
    /// Detector rotations about x, y, z (rad).
    pub rot: V3,
    /// The distance the user gave (m): the close distance when `close_given`.
    pub distance_in: f64,
    pub close_given: bool,
    /// Beam spot and near point on the unrotated detector (m).
    pub fbeam0: f64,
    pub sbeam0: f64,
    pub fclose0: f64,
    pub sclose0: f64,
    /// Whether the detector size follows the pixel size (pixel counts given).
    pub size_from_pixels: bool,
    /// The origin and axes were given as they are (a panel of a DIALS experiment list): the
    /// whole-detector placement (distance, beam centre, rotations, two-theta) does not apply.
    #[serde(default)]
    pub explicit: bool,
}

/// One point source: unit vector from the sample towards the source, wavelength (m) and weight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub dir: V3,
    pub lambda: f64,
    pub weight: f64,
}

impl Source {
    /// Incident unit vector (source to sample) and the unit vectors E and B of its
    /// polarization frame: B = unit(polar_axis x incident), E = unit(incident x B), so E is the
    /// direction closest to the polarization axis.
    pub fn incident_frame(&self, polar_vector: V3) -> (V3, V3, V3) {
        let inc = scale(self.dir, -1.0);
        let b_in = unitize(cross(polar_vector, inc)).0;
        let e_in = unitize(cross(inc, b_in)).0;
        (inc, e_in, b_in)
    }
}

/// Incident beam.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Beam {
    pub lambda0: f64,
    pub sources: Vec<Source>,
    pub polar_vector: V3,
    pub kahn_factor: f64,
    pub nopolar: bool,
    pub fluence: f64,
    /// Scale each source by weight / mean(weight) (opt-in; the reference ignores weights).
    pub use_weights: bool,
    pub dispersion: f64,
    pub dispsteps: usize,
    pub hdivrange: f64,
    pub hdivstep: f64,
    pub vdivrange: f64,
    pub vdivstep: f64,
    pub divsteps: usize,
}

/// Crystal: cell, orientation, size, shape, rotation and mosaicity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Crystal {
    /// Real-space cell vectors at phi = 0, no mosaic rotation (m).
    pub a: V3,
    pub b: V3,
    pub c: V3,
    /// Reciprocal cell vectors (1/Angstrom), used by the round/gauss/tophat shapes.
    pub a_star: V3,
    pub b_star: V3,
    pub c_star: V3,
    /// Cell lengths (Angstrom) and angles (degrees), for reporting.
    pub cell: [f64; 6],
    pub volume: f64,
    pub na: f64,
    pub nb: f64,
    pub nc: f64,
    pub shape: Shape,
    pub fudge: f64,
    pub phi0: f64,
    pub phistep: f64,
    pub phisteps: usize,
    pub osc: f64,
    pub spindle: V3,
    pub mosaic_spread: f64,
    /// One row-major rotation per mosaic domain (identity for the first).
    pub mosaic_umats: Vec<[f64; 9]>,
    pub misset_deg: Option<V3>,
    /// The inputs of the cell construction, kept so it can be redone with tensors.
    pub setup: CrystalSetup,
}

impl Crystal {
    /// Crystal dimensions (m) along a, b and c.
    pub fn extent(&self) -> V3 {
        [norm(self.a) * self.na, norm(self.b) * self.nb, norm(self.c) * self.nc]
    }
}

/// Cell construction inputs: cell lengths (Angstrom) and angles (rad), missetting angles (rad),
/// the rotation from the standard frame to the -mat orientation (identity for -cell), each
/// mosaic domain's rotation axis and angle, and whether the standard-frame reciprocal cell is
/// built the reference's way (-legacy_cell, never with -mat).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrystalSetup {
    pub cell_params: [f64; 6],
    pub misset: V3,
    pub r0: [[f64; 3]; 3],
    pub mosaic: Vec<(V3, f64)>,
    pub legacy_cell: bool,
}

/// Structure factors.
#[derive(Debug, Clone, Default)]
pub struct Structure {
    pub default_f: f64,
    /// Shared, not copied, by the experiments of a detector's panels (a grid can be large).
    pub grid: Option<std::sync::Arc<HklGrid>>,
    pub interpolate: bool,
    /// Where the grid came from (hkl file name or dump file), for messages.
    pub origin: String,
}

/// Pixel sampling and background.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sampling {
    pub oversample: usize,
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,
    pub dmin: f64,
    pub water_size: f64,
    /// sources x mosaic domains x phi steps x oversample^2
    pub steps: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Experiment {
    /// The detector, or the first panel of a multi-panel detector.
    pub detector: Detector,
    /// Panels 1, 2, ... of a multi-panel detector (empty for one panel).
    #[serde(default)]
    pub more_panels: Vec<Detector>,
    pub beam: Beam,
    pub crystal: Crystal,
    pub sampling: Sampling,
    #[serde(skip)]
    pub structure: Structure,
    /// Pixels whose mask value is zero are not rendered.
    #[serde(skip)]
    pub mask: Option<Vec<u16>>,
    /// Amorphous scatterers added to the image (`-stol`; empty: none).
    #[serde(skip)]
    pub amorphous: Vec<AmorphousLayer>,
}

/// One amorphous material of a render: its F(sin(theta)/lambda) table and the number of its
/// molecules in the beam.
#[derive(Debug, Clone)]
pub struct AmorphousLayer {
    /// The table's file, as named.
    pub file: String,
    pub table: std::sync::Arc<crate::io::stol::StolTable>,
    /// Extent along the beam and width and height across it (m), density (g/cm^3),
    /// molecular weight (g/mol).
    pub thickness: f64,
    pub side: f64,
    pub density: f64,
    pub molecular_weight: f64,
    pub molecules: f64,
}

impl Experiment {
    /// Every panel of the detector, in order (one for a C command line).
    pub fn panels(&self) -> impl Iterator<Item = &Detector> {
        std::iter::once(&self.detector).chain(&self.more_panels)
    }

    pub fn panel_count(&self) -> usize {
        1 + self.more_panels.len()
    }

    /// The experiment seen through panel `i` alone: same beam, crystal, sampling and
    /// structure, the detector being that panel. Every panel is rendered this way, so the
    /// fused kernel, the tensor path and the GPU need no notion of panels.
    pub fn panel(&self, i: usize) -> Experiment {
        let detector = if i == 0 { self.detector.clone() } else { self.more_panels[i - 1].clone() };
        Experiment {
            detector,
            more_panels: vec![],
            beam: self.beam.clone(),
            crystal: self.crystal.clone(),
            sampling: self.sampling.clone(),
            structure: self.structure.clone(),
            mask: if i == 0 { self.mask.clone() } else { None },
            amorphous: self.amorphous.clone(),
        }
    }

    /// Whether pixel `idx` (slow * fpixels + fast) is inside the ROI (inclusive limits).
    pub fn in_roi(&self, idx: usize) -> bool {
        let d = &self.detector;
        let (f, s) = ((idx % d.fpixels) as i64, (idx / d.fpixels) as i64);
        f >= d.roi[0] && f <= d.roi[1] && s >= d.roi[2] && s <= d.roi[3]
    }

    /// Whether pixel `idx` is rendered: inside the ROI and not masked out.
    pub fn is_rendered(&self, idx: usize) -> bool {
        self.in_roi(idx) && self.mask.as_ref().map(|m| m[idx] != 0).unwrap_or(true)
    }
}

/// Things worth telling the user while building the experiment.
#[derive(Debug, Default, Clone)]
pub struct Notes {
    pub warnings: Vec<String>,
    pub info: Vec<String>,
}
