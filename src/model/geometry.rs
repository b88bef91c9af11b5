//! The experiment's geometry as tensors: cell vectors, orientation matrices of every phi step x
//! mosaic domain, detector origin and axes, distances, crystal size, fluence, wavelength scale,
//! Kahn factor, structure factors and source weights. The model module computes it from named
//! parameters with tensor operations (so gradients flow); [`Geometry::from_experiment`] takes
//! the configured values directly. Both engines (the fused kernel and the batched tensor path)
//! read it.

use burn::tensor::Tensor;

use crate::experiment::Experiment;
use crate::engine::device::Target;
use crate::physics::Vec3T;
use crate::physics::vec3::{self, V3};

/// The geometry of one experiment as tensors: every continuous quantity the intensity depends
/// on that does not vary with the pixel x source x orientation product (rank 3, shape [1,1,1] for scalars so they
/// broadcast against [pixels, sources, orientations] batches).
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Real-space cell vectors at phi = 0 (m).
    pub a: Vec3T<3>,
    pub b: Vec3T<3>,
    pub c: Vec3T<3>,
    pub pix0: Vec3T<3>,
    pub fdet: Vec3T<3>,
    pub sdet: Vec3T<3>,
    pub odet: Vec3T<3>,
    pub pixel_size: Tensor<3>,
    pub close_distance: Tensor<3>,
    pub distance: Tensor<3>,
    pub fluence: Tensor<3>,
    pub na: Tensor<3>,
    pub nb: Tensor<3>,
    pub nc: Tensor<3>,
    /// Structure-factor grid in the padded layout of [`crate::io::hkl::HklGrid`].
    pub fgrid: Option<Tensor<1>>,
    /// Orientation matrices (phi step x mosaic domain, phi-major): element [i][j] holds
    /// R_ij of every orientation, shape [1, 1, M].
    pub orient: [[Tensor<3>; 3]; 3],
    /// Factor applied to every source wavelength (1 = as configured).
    pub lambda_scale: Tensor<3>,
    /// Kahn polarization factor.
    pub kahn: Tensor<3>,
    /// Raw source weights, one per source, when weights are honoured (-source_weights); each
    /// source contributes with weight / mean(weight).
    pub source_weights: Option<Tensor<1>>,
}

/// The raw source weights as a tensor when they are honoured.
pub fn source_weight_tensor(exp: &Experiment, device: &Target) -> Option<Tensor<1>> {
    let b = &exp.beam;
    b.use_weights.then(|| device.tensor(b.sources.iter().map(|s| s.weight).collect(), [b.sources.len()]))
}

/// Orientation matrices as the [i][j] tensors of [`Geometry::orient`].
pub fn orientation_tensors(mats: &[[[f64; 3]; 3]], device: &Target) -> [[Tensor<3>; 3]; 3] {
    let m = mats.len();
    std::array::from_fn(|i| std::array::from_fn(|j| device.tensor(mats.iter().map(|r| r[i][j]).collect(), [1, 1, m])))
}

fn v3t(v: V3, device: &Target) -> Vec3T<3> {
    Vec3T::new(device.scalar3(v[0]), device.scalar3(v[1]), device.scalar3(v[2]))
}

impl Geometry {
    pub fn from_experiment(exp: &Experiment, device: &Target) -> Self {
        let d = &exp.detector;
        let c = &exp.crystal;
        let fgrid = exp.structure.grid.as_ref().filter(|g| g.count > 0).map(|g| {
            let n = g.values.len();
            device.tensor(g.values.clone(), [n])
        });
        Geometry {
            a: v3t(c.a, device),
            b: v3t(c.b, device),
            c: v3t(c.c, device),
            pix0: v3t(d.pix0, device),
            fdet: v3t(d.fdet, device),
            sdet: v3t(d.sdet, device),
            odet: v3t(d.odet, device),
            pixel_size: device.scalar3(d.pixel_size),
            close_distance: device.scalar3(d.close_distance),
            distance: device.scalar3(d.distance),
            fluence: device.scalar3(exp.beam.fluence),
            na: device.scalar3(c.na),
            nb: device.scalar3(c.nb),
            nc: device.scalar3(c.nc),
            fgrid,
            orient: orientation_tensors(&orientation_matrices(exp), device),
            lambda_scale: device.scalar3(1.0),
            kahn: device.scalar3(exp.beam.kahn_factor),
            source_weights: source_weight_tensor(exp, device),
        }
    }
}

/// Crystal orientations (phi steps x mosaic domains) as rotation matrices applied to the
/// phi = 0 cell. A phi of exactly 0 means the unrotated crystal (the reference program can
/// reuse a stale rotation there; we do not).
pub fn orientation_matrices(exp: &Experiment) -> Vec<[[f64; 3]; 3]> {
    let c = &exp.crystal;
    let mut out = Vec::with_capacity(c.phisteps * c.mosaic_umats.len());
    for p in 0..c.phisteps {
        let phi = c.phi0 + c.phistep * p as f64;
        let rphi = if phi != 0.0 { vec3::axis_rotation_matrix(c.spindle, phi) } else { [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] };
        for u in &c.mosaic_umats {
            let um = if c.mosaic_spread > 0.0 { [[u[0], u[1], u[2]], [u[3], u[4], u[5]], [u[6], u[7], u[8]]] } else { [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] };
            out.push(vec3::matmul3(&um, &rphi));
        }
    }
    out
}

