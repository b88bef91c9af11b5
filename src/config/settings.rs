//! The experiment's discrete settings: detector pivot, axis convention, crystal shape and
//! orientation request. The flag parser (`cli`) produces them and the experiment, the physics
//! and the trace read them, so they live below all of those.

/// Detector pivot: what stays fixed when the detector is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pivot {
    Sample,
    Beam,
}

/// Beam-centre and axis convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Convention {
    Custom,
    Adxv,
    Mosflm,
    Xds,
    Dials,
    Denzo,
}

/// Crystal shape, which sets the lattice transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Shape {
    Square,
    Round,
    Gauss,
    Tophat,
}

/// Orientation request: explicit angles (degrees, as typed) or a random one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Misset {
    Angles([f64; 3]),
    Random,
}
