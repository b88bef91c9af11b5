//! Device selection. The CPU device runs burn-ndarray in float64 (the default precision).

use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};

/// Floating-point precision of the tensors this crate creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    F64,
    F32,
}

impl Precision {
    pub fn dtype(self) -> DType {
        match self {
            Precision::F64 => DType::F64,
            Precision::F32 => DType::F32,
        }
    }
}

/// Where tensors are created and in which precision: every tensor of one computation is
/// created through the same target.
#[derive(Clone, Debug)]
pub struct Target {
    pub device: Device,
    pub precision: Precision,
    /// The GPU device (else the CPU).
    pub on_gpu: bool,
}

impl Target {
    /// The CPU (burn-ndarray) in `precision`.
    pub fn cpu(precision: Precision) -> Self {
        Target { device: cpu(), precision, on_gpu: false }
    }

    /// The GPU (burn-wgpu), in float32.
    pub fn gpu() -> crate::error::Result<Self> {
        Ok(Target { device: gpu()?, precision: Precision::F32, on_gpu: true })
    }

    /// The same target with autodiff.
    pub fn autodiff(&self) -> Self {
        Target { device: self.device.clone().autodiff(), precision: self.precision, on_gpu: self.on_gpu }
    }

    pub fn is_autodiff(&self) -> bool {
        self.device.is_autodiff()
    }

    /// Whether this is the CPU in float64, where the fused kernel runs.
    pub fn is_cpu_f64(&self) -> bool {
        self.precision == Precision::F64 && !self.on_gpu
    }

    /// A float tensor of the given shape from host values.
    pub fn tensor<const D: usize>(&self, values: Vec<f64>, shape: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), (&self.device, self.precision.dtype()))
    }

    pub fn zeros<const D: usize>(&self, shape: [usize; D]) -> Tensor<D> {
        Tensor::zeros(shape, (&self.device, self.precision.dtype()))
    }

    pub fn ones<const D: usize>(&self, shape: [usize; D]) -> Tensor<D> {
        Tensor::ones(shape, (&self.device, self.precision.dtype()))
    }

    /// A scalar broadcastable against rank-3 batches.
    pub fn scalar3(&self, v: f64) -> Tensor<3> {
        self.tensor(vec![v], [1, 1, 1])
    }
}

/// The CPU device configured for float64. Configuration happens once per process; later
/// calls return the same configured device.
pub fn cpu() -> Device {
    #[allow(deprecated)]
    let mut d = Device::ndarray();
    // Settings can be set only once; a second call reports AlreadyInitialized, which is fine.
    let _ = d.configure(FloatDType::F64);
    d
}

/// The GPU device (burn-wgpu; any adapter wgpu finds, a software Vulkan driver included),
/// in float32. Fails with a one-line error when no adapter can run a tensor operation.
pub fn gpu() -> crate::error::Result<Device> {
    use burn::tensor::DeviceKind;
    // Mesa's Vulkan drivers complain on stderr when XDG_RUNTIME_DIR is unset (headless runs)
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let probe = std::panic::catch_unwind(|| {
        let mut d = Device::wgpu(DeviceKind::DefaultDevice);
        let _ = d.configure(FloatDType::F32);
        let t: Tensor<1> = Tensor::from_data(TensorData::new(vec![1.5f64, -2.0], [2]), (&d, DType::F32));
        let back = (t * 2.0).into_data().try_into_vec::<f32>().unwrap_or_default();
        (d, back)
    });
    match probe {
        Ok((d, v)) if v == [3.0, -4.0] => Ok(d),
        _ => Err(crate::error::Error::new("-device gpu: no usable GPU adapter found by wgpu (install a Vulkan driver, e.g. Debian's mesa-vulkan-drivers)")),
    }
}

/// Host copy of a tensor's values as f64 (for output, never for decisions on a gradient path).
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    let data = t.into_data();
    match data.clone().try_into_vec::<f64>() {
        Ok(v) => v,
        Err(_) => data.try_into_vec::<f32>().map(|v| v.into_iter().map(f64::from).collect()).unwrap_or_default(),
    }
}
