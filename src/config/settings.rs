//! The discrete settings: detector pivot, axis convention, crystal shape, orientation
//! request, engine and precision. The flag parser (`cli`) produces them and the experiment, the physics
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

/// Point-spread function of the detector response (as noisify's -psf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsfShape {
    Gauss,
    Fiber,
}

/// What the first column of a table holds (the flag that names the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StolUnits {
    /// `-stol`: sin(theta)/lambda in 1/Angstrom.
    #[default]
    Stol,
    /// `-4stol`: 4 sin(theta)/lambda in 1/Angstrom.
    FourStol,
    /// `-Q`: Q = 4 pi sin(theta)/lambda in 1/Angstrom.
    Q,
}

impl StolUnits {
    /// Factor from the file's first column to sin(theta)/lambda in 1/m, written as the
    /// reference writes it (1e10/4 and 1e10/pi/4), so the knots carry the same bits.
    pub fn to_per_metre(self) -> f64 {
        match self {
            StolUnits::Stol => 1e10,
            StolUnits::FourStol => 1e10 / 4.0,
            StolUnits::Q => 1e10 / std::f64::consts::PI / 4.0,
        }
    }

    /// The flag that reads a table in these units.
    pub fn flag(self) -> &'static str {
        match self {
            StolUnits::Stol => "-stol",
            StolUnits::FourStol => "-4stol",
            StolUnits::Q => "-Q",
        }
    }
}

/// Orientation request: explicit angles about x, y and z (rad) or a random one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Misset {
    Angles([f64; 3]),
    Random,
}

/// Floating-point precision of the tensors this crate creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    F64,
    F32,
}


/// Evaluation engine of forward renders (`-engine`). Every engine gives the same image
/// within its precision; they differ in speed and in what they run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The fused CPU kernel (`engine::fused`) for float64 renders on a CPU device
    /// without autodiff, the lattice-sum kernel (`engine::gpu`) on a GPU device without
    /// autodiff; the tensor path otherwise.
    #[default]
    Auto,
    /// The fused CPU kernel: the CPU in float64 only.
    Fused,
    /// The batched tensor path, on any device and precision.
    Tensor,
    /// The GPU lattice-sum kernel: the GPU device only.
    Gpu,
}

impl Engine {
    /// The engine of a `-engine` value.
    pub fn parse(name: &str) -> Option<Engine> {
        match name {
            "auto" => Some(Engine::Auto),
            "fused" => Some(Engine::Fused),
            "tensor" => Some(Engine::Tensor),
            "gpu" => Some(Engine::Gpu),
            _ => None,
        }
    }

    /// The `-engine` value of this engine.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Auto => "auto",
            Engine::Fused => "fused",
            Engine::Tensor => "tensor",
            Engine::Gpu => "gpu",
        }
    }
}
