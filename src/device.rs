//! Device selection. The CPU device runs burn-ndarray in float64 (the default precision).

use burn::tensor::{Device, FloatDType, Tensor, TensorData};

/// The CPU device configured for float64. Configuration happens once per process; later
/// calls return the same configured device.
pub fn cpu() -> Device {
    #[allow(deprecated)]
    let mut d = Device::ndarray();
    // Settings can be set only once; a second call reports AlreadyInitialized, which is fine.
    let _ = d.configure(FloatDType::F64);
    d
}

/// A float tensor of the given shape from host values.
pub fn tensor<const D: usize>(values: Vec<f64>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A scalar broadcastable against rank-3 batches.
pub fn scalar3(v: f64, device: &Device) -> Tensor<3> {
    tensor(vec![v], [1, 1, 1], device)
}

/// Host copy of a tensor's values as f64 (for output, never for decisions on a gradient path).
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    let data = t.into_data();
    match data.clone().try_into_vec::<f64>() {
        Ok(v) => v,
        Err(_) => data.try_into_vec::<f32>().map(|v| v.into_iter().map(f64::from).collect()).unwrap_or_default(),
    }
}
