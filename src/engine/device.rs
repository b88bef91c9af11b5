//! Device selection. The CPU device runs burn-ndarray in float64 (the default precision).

use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};

pub use crate::config::Precision;

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
    /// The wgpu adapter behind the GPU device.
    pub adapter: Option<GpuAdapter>,
}

/// The wgpu adapter a GPU target runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuAdapter {
    /// How burn and CubeCL address it.
    pub kind: burn::tensor::DeviceKind,
    /// The driver's name for it, its type and its graphics API, for the log line.
    pub description: String,
    /// A software rasterizer (lavapipe, llvmpipe, WARP) rather than a GPU.
    pub software: bool,
}

/// Environment variable that lets `-device gpu` run on a software Vulkan driver (any value but
/// empty or 0), as `-device gpu:software` does.
pub const SOFTWARE_GPU_ENV: &str = "NANOBRAGG_GPU_SOFTWARE";

/// Whether the environment lets a software driver stand in for a GPU ([`SOFTWARE_GPU_ENV`]).
fn software_gpu_from_env() -> bool {
    std::env::var(SOFTWARE_GPU_ENV).map(|v| !v.is_empty() && v != "0").unwrap_or(false)
}

impl Target {
    /// The CPU (burn-ndarray) in `precision`.
    pub fn cpu(precision: Precision) -> Self {
        Target { device: cpu(), precision, on_gpu: false, adapter: None }
    }

    /// The GPU (burn-wgpu), in float32: a hardware adapter, or a software driver when
    /// `allow_software` (`-device gpu:software`) or [`SOFTWARE_GPU_ENV`] says one may stand in.
    /// [`Target::adapter_description`] names the adapter chosen.
    pub fn gpu(allow_software: bool) -> crate::error::Result<Self> {
        let (device, adapter) = gpu(allow_software || software_gpu_from_env())?;
        Ok(Target { device, precision: Precision::F32, on_gpu: true, adapter: Some(adapter) })
    }

    /// The GPU adapter's name, type and API (None on the CPU), for the command line to show.
    pub fn adapter_description(&self) -> Option<&str> {
        self.adapter.as_ref().map(|a| a.description.as_str())
    }

    /// The same target with autodiff.
    pub fn autodiff(&self) -> Self {
        Target { device: self.device.clone().autodiff(), precision: self.precision, on_gpu: self.on_gpu, adapter: self.adapter.clone() }
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

/// The adapters wgpu finds on this machine (every graphics API it was built for).
fn adapters() -> Vec<burn::tensor::wgpu::wgpu::AdapterInfo> {
    use burn::tensor::wgpu::wgpu;
    let found = std::panic::catch_unwind(|| {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor { backends: wgpu::Backends::all(), ..wgpu::InstanceDescriptor::new_without_display_handle() });
        pollster_block_on(instance.enumerate_adapters(wgpu::Backends::all()))
    });
    found.map(|list| list.iter().map(|a| a.get_info()).collect()).unwrap_or_default()
}

/// Run a future that completes without waiting on anything else (adapter enumeration).
fn pollster_block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
    fn noop(_: *const ()) {}
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// The adapter to use: the first discrete, else integrated, else virtual GPU; a software
/// driver only when `allow_software`.
fn choose_adapter(allow_software: bool) -> crate::error::Result<GpuAdapter> {
    use burn::tensor::wgpu::wgpu::DeviceType;
    use burn::tensor::DeviceKind;
    let found = adapters();
    let describe = |a: &burn::tensor::wgpu::wgpu::AdapterInfo| format!("{} ({:?}, {:?}, driver {})", a.name, a.device_type, a.backend, a.driver);
    let pick = |ty: DeviceType| found.iter().find(|a| a.device_type == ty);
    let hardware = [(DeviceType::DiscreteGpu, DeviceKind::DiscreteGpu(0)), (DeviceType::IntegratedGpu, DeviceKind::IntegratedGpu(0)), (DeviceType::VirtualGpu, DeviceKind::VirtualGpu(0))];
    for (ty, kind) in hardware {
        if let Some(a) = pick(ty) {
            return Ok(GpuAdapter { kind, description: describe(a), software: false });
        }
    }
    if let Some(a) = pick(DeviceType::Cpu) {
        if allow_software {
            return Ok(GpuAdapter { kind: DeviceKind::Cpu, description: format!("{} [software, as asked]", describe(a)), software: true });
        }
        return Err(crate::error::Error::of_kind(crate::error::ErrorKind::Device, format!(
            "-device gpu: no hardware GPU adapter found by wgpu (looked for discrete, integrated and virtual GPUs on Vulkan/Metal/DX12/GL; found only the software driver {}; use -device gpu:software or {SOFTWARE_GPU_ENV}=1 to run on it)",
            a.name
        )));
    }
    Err(crate::error::Error::of_kind(
        crate::error::ErrorKind::Device,
        "-device gpu: no GPU adapter found by wgpu (looked for discrete, integrated and virtual GPUs on Vulkan/Metal/DX12/GL; install a driver, e.g. the NVIDIA driver's Vulkan ICD, or Debian's mesa-vulkan-drivers with -device gpu:software)",
    ))
}

/// The GPU device (burn-wgpu) on the chosen adapter, in float32. Fails with a one-line error
/// when no adapter is allowed or the adapter cannot run a tensor operation.
pub fn gpu(allow_software: bool) -> crate::error::Result<(Device, GpuAdapter)> {
    // Mesa's Vulkan drivers complain on stderr when XDG_RUNTIME_DIR is unset (headless runs)
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let adapter = choose_adapter(allow_software)?;
    let kind = adapter.kind.clone();
    let probe = std::panic::catch_unwind(|| {
        let mut d = Device::wgpu(kind);
        let _ = d.configure(FloatDType::F32);
        let t: Tensor<1> = Tensor::from_data(TensorData::new(vec![1.5f64, -2.0], [2]), (&d, DType::F32));
        let back = (t * 2.0).into_data().try_into_vec::<f32>().unwrap_or_default();
        (d, back)
    });
    match probe {
        Ok((d, v)) if v == [3.0, -4.0] => Ok((d, adapter)),
        _ => Err(crate::error::Error::of_kind(crate::error::ErrorKind::Device, format!("-device gpu: the adapter {} could not run a tensor operation", adapter.description))),
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
