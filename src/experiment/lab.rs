//! The experiment as DIALS describes it: its laboratory frame, and a plain-data description of
//! beam, detector panels, goniometer, scan and crystal in that frame, for the writers of DIALS
//! experiment lists, CBF and NeXus files.
//!
//! Everything inside nanobragg stays in nanoBragg's own frame. DIALS' frame is a fixed proper
//! rotation of it, the one the reference program uses for its `DIALS_ORIGIN` header:
//! (x, y, z)_DIALS = (z, y, -x)_nanoBragg, so the default beam (+x) travels along DIALS' -z.
//! [`to_dials`] and [`from_dials`] are the only places that rotation is written.

use super::{Experiment, RTD};
use crate::physics::vec3::*;

/// A nanoBragg-frame vector in the DIALS frame (same units).
pub fn to_dials(v: V3) -> V3 {
    [v[2], v[1], -v[0]]
}

/// A DIALS-frame vector in the nanoBragg frame (same units); inverse of [`to_dials`].
pub fn from_dials(v: V3) -> V3 {
    [-v[2], v[1], v[0]]
}

/// The incident beam in the DIALS frame.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamGeometry {
    /// Wavelength (Angstrom).
    pub wavelength: f64,
    /// Unit vector from the sample towards the source (DIALS' beam "direction").
    pub direction: V3,
    /// Unit normal of the polarization plane (the plane holding the beam and the E vector).
    pub polarization_normal: V3,
    /// Fraction of the intensity polarized in that plane: (1 + Kahn factor) / 2.
    pub polarization_fraction: f64,
}

pub use crate::io::expt::PanelGeometry;

/// A rotation scan: the first image's start angle and each image's width (degrees).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanGeometry {
    pub start: f64,
    pub width: f64,
    pub images: usize,
}

/// The crystal's real-space cell vectors (Angstrom) at goniometer angle zero, the datum DIALS
/// uses for a crystal in a rotation experiment (the setting at angle phi is R(axis, phi) A).
#[derive(Debug, Clone, PartialEq)]
pub struct CrystalGeometry {
    pub a: V3,
    pub b: V3,
    pub c: V3,
}

/// The whole experiment in the DIALS frame.
#[derive(Debug, Clone, PartialEq)]
pub struct LabGeometry {
    pub beam: BeamGeometry,
    pub panels: Vec<PanelGeometry>,
    /// Unit rotation axis of the goniometer (right-handed, as nanoBragg's spindle).
    pub rotation_axis: V3,
    /// None for a still image (zero oscillation).
    pub scan: Option<ScanGeometry>,
    pub crystal: CrystalGeometry,
}

/// Highest pixel value the integer images can hold (the SMV images' 16 bits).
pub const INT_IMAGE_MAX: f64 = 65535.0;

/// The experiment's geometry in the DIALS frame, every panel of the detector.
pub fn lab_geometry(exp: &Experiment) -> LabGeometry {
    let d = &exp.detector;
    let b = &exp.beam;
    let c = &exp.crystal;
    let incident = to_dials(d.beam_vector);
    let e_vector = to_dials(b.polar_vector);
    let beam = BeamGeometry {
        wavelength: b.lambda0 * 1e10,
        direction: scale(incident, -1.0),
        polarization_normal: unitize(cross(incident, e_vector)).0,
        polarization_fraction: if b.nopolar { 0.5 } else { (1.0 + b.kahn_factor) / 2.0 },
    };
    let panels = exp
        .panels()
        .enumerate()
        .map(|(i, d)| {
            let mm = 1000.0 * d.pixel_size;
            PanelGeometry {
                name: if d.name.is_empty() { format!("panel{i}") } else { d.name.clone() },
                origin: to_dials(scale(d.pix0, 1000.0)),
                fast_axis: to_dials(d.fdet),
                slow_axis: to_dials(d.sdet),
                pixel_size: [mm, mm],
                image_size: [d.fpixels, d.spixels],
                thickness: d.thick * 1000.0,
                mu: d.mu.max(0.0) / 1000.0,
                trusted_range: [-1.0, INT_IMAGE_MAX],
            }
        })
        .collect();
    let scan = (c.osc != 0.0).then(|| ScanGeometry { start: c.phi0 * RTD, width: c.osc * RTD, images: 1 });
    let ang = |v: V3| to_dials(scale(v, 1e10));
    LabGeometry {
        beam,
        panels,
        rotation_axis: to_dials(c.spindle),
        scan,
        crystal: CrystalGeometry { a: ang(c.a), b: ang(c.b), c: ang(c.c) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dials_frame_is_a_proper_rotation() {
        let (x, y, z) = (to_dials([1.0, 0.0, 0.0]), to_dials([0.0, 1.0, 0.0]), to_dials([0.0, 0.0, 1.0]));
        assert_eq!(x, [0.0, 0.0, -1.0]);
        assert_eq!(cross(x, y), z);
        let v = [0.3, -1.7, 2.5];
        assert_eq!(from_dials(to_dials(v)), v);
        assert_eq!(to_dials(from_dials(v)), v);
    }
}
