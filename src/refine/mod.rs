//! Gradients of image losses with respect to the model parameters, a gradient checker, and
//! refinement of the parameters against a measured image.

pub mod gradcheck;
pub mod commands;
pub mod optimize;

use burn::tensor::Tensor;

use crate::config::Experiment;
use crate::device::{cpu, tensor, to_vec};
use crate::error::{Error, Result};
use crate::model::{build_params, ParamTensors, Values, VectorParams};
use crate::render::{Params, Renderer};

/// What is being minimised (or differentiated), over the rendered pixels.
#[derive(Debug, Clone)]
pub enum Objective {
    /// Sum of w_i * I_i (w = 1 for the plain image sum).
    Weighted(Vec<f64>),
    /// Loss against a target image (one value per rendered pixel, photons).
    Fit { target: Vec<f64>, loss: Loss },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Poisson negative log-likelihood, sum(m - t ln m) (constant terms dropped).
    Poisson,
    /// Variance-weighted least squares with Poisson variance, sum((m - t)^2 / (t + 1)).
    Gaussian,
    /// Plain least squares, sum((m - t)^2).
    Mse,
}

impl Loss {
    pub fn parse(s: &str) -> Result<Loss> {
        match s {
            "poisson" => Ok(Loss::Poisson),
            "gaussian" => Ok(Loss::Gaussian),
            "mse" => Ok(Loss::Mse),
            _ => Err(Error::new(format!("--loss: expected poisson, gaussian or mse, got '{s}'"))),
        }
    }
}

/// Smallest model value in the Poisson likelihood (photons): keeps ln m finite where the
/// model has no intensity.
const POISSON_FLOOR: f64 = 1e-3;

/// The per-chunk objective as a tensor.
fn chunk_objective(obj: &Objective, model: Tensor<1>, range: std::ops::Range<usize>, dev: &burn::tensor::Device) -> Tensor<1> {
    let n = range.len();
    match obj {
        Objective::Weighted(w) => (model * tensor(w[range].to_vec(), [n], dev)).sum(),
        Objective::Fit { target, loss } => {
            let t = tensor(target[range.clone()].to_vec(), [n], dev);
            match loss {
                Loss::Mse => {
                    let r = model - t;
                    (r.clone() * r).sum()
                }
                Loss::Gaussian => {
                    let var = t.clone().clamp_min(0.0) + 1.0;
                    let r = model - t;
                    (r.clone() * r / var).sum()
                }
                Loss::Poisson => {
                    let m = model + POISSON_FLOOR;
                    (m.clone() - t * m.log()).sum()
                }
            }
        }
    }
}

/// Evaluates an objective and its gradient over chunks of pixels; the model parameters are
/// rebuilt for each chunk so that each chunk's graph is freed after its backward pass, keeping
/// memory bounded whatever the image size.
pub struct Evaluator<'a> {
    pub exp: &'a Experiment,
    pub pixels: Vec<usize>,
    pub chunk_elements: Option<usize>,
    /// Threads evaluating pixel chunks of gradients in parallel (default: one per core).
    pub threads: usize,
    /// Device of the evaluation (default: the CPU); autodiff is added for gradients.
    pub device: burn::tensor::Device,
}

impl<'a> Evaluator<'a> {
    /// An evaluator on the CPU.
    pub fn new(exp: &'a Experiment) -> Self {
        let dev = cpu();
        let pixels = Renderer::new(exp, &dev).rendered_pixels();
        let threads = std::thread::available_parallelism().map(|v| v.get()).unwrap_or(1);
        Evaluator { exp, pixels, chunk_elements: None, threads, device: dev }
    }

    /// Evaluate on `device` instead (one host thread drives it).
    pub fn with_device(mut self, device: burn::tensor::Device) -> Self {
        self.device = device;
        self.threads = 1;
        self
    }

    fn renderer(&self, dev: &burn::tensor::Device) -> Renderer<'a> {
        let r = Renderer::new(self.exp, dev);
        match self.chunk_elements {
            Some(n) => r.with_chunk_elements(n),
            None => r,
        }
    }


    /// Evaluate `f(start, pixels)` for every chunk of rendered pixels on `self.threads` threads
    /// (chunks sized for the device's per-thread memory budget), results in chunk order so sums
    /// over them do not depend on the thread count or scheduling.
    fn map_chunks<T: Send>(&self, dev: &burn::tensor::Device, f: impl Fn(&Renderer<'a>, usize, &[usize]) -> T + Sync) -> Vec<T> {
        let threads = self.threads.max(1);
        let renderer = self.renderer(dev);
        let per_thread = (renderer.chunk_elements / threads).max(1);
        let renderer = if threads > 1 { renderer.with_chunk_elements(per_thread) } else { renderer };
        let chunk_len = renderer.pixel_chunk();
        let chunks: Vec<(usize, &[usize])> = self.pixels.chunks(chunk_len).enumerate().map(|(i, c)| (i * chunk_len, c)).collect();
        let mut results: Vec<Option<T>> = (0..chunks.len()).map(|_| None).collect();
        if threads == 1 || chunks.len() <= 1 {
            for (i, &(start, chunk)) in chunks.iter().enumerate() {
                results[i] = Some(f(&renderer, start, chunk));
            }
        } else {
            let next = std::sync::atomic::AtomicUsize::new(0);
            let precision = crate::device::precision();
            let collected = std::sync::Mutex::new(&mut results);
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        crate::device::set_precision(precision);
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= chunks.len() {
                                break;
                            }
                            let r = f(&renderer, chunks[i].0, chunks[i].1);
                            collected.lock().unwrap()[i] = Some(r);
                        }
                    });
                }
            });
        }
        results.into_iter().map(|r| r.expect("every chunk evaluated")).collect()
    }

    /// The model image (one value per rendered pixel) for parameter values.
    pub fn image(&self, values: &Values) -> Vec<f64> {
        let dev = self.device.clone();
        let pt = ParamTensors::new(values, &[], &dev);
        let params: Params = build_params(self.exp, &pt, VectorParams::from_experiment(self.exp, &dev, false, false), &dev);
        self.map_chunks(&dev, |r, _, chunk| to_vec(r.render_pixels(&params, chunk))).concat()
    }

    /// Objective value (float64, no graph).
    pub fn value(&self, values: &Values, obj: &Objective) -> f64 {
        let dev = self.device.clone();
        let pt = ParamTensors::new(values, &[], &dev);
        let params = build_params(self.exp, &pt, VectorParams::from_experiment(self.exp, &dev, false, false), &dev);
        self.map_chunks(&dev, |r, start, chunk| {
            let m = r.render_pixels(&params, chunk);
            to_vec(chunk_objective(obj, m, start..start + chunk.len(), &dev))[0]
        })
        .into_iter()
        .sum()
    }

    /// Gradient of the objective with respect to a vector parameter: every structure factor of
    /// the HKL grid (padded layout), or every raw source weight (with -source_weights). Returns
    /// None when the experiment has no such vector.
    pub fn vector_gradient(&self, values: &Values, which: VectorKind, obj: &Objective) -> Option<Vec<f64>> {
        let dev = self.device.clone().autodiff();
        let renderer = self.renderer(&dev);
        let mut grad: Option<Vec<f64>> = None;
        let mut start = 0;
        for chunk in self.pixels.chunks(renderer.pixel_chunk()) {
            let pt = ParamTensors::new(values, &[], &dev);
            let vp = VectorParams::from_experiment(self.exp, &dev, which == VectorKind::StructureFactors, which == VectorKind::SourceWeights);
            let leaf = match which {
                VectorKind::StructureFactors => vp.fgrid.clone()?,
                VectorKind::SourceWeights => vp.source_weights.clone()?,
            };
            let params = build_params(self.exp, &pt, vp, &dev);
            let m = renderer.render_pixels(&params, chunk);
            let grads = chunk_objective(obj, m, start..start + chunk.len(), &dev).backward();
            if let Some(g) = leaf.grad(&grads) {
                let g = to_vec(g);
                match &mut grad {
                    Some(acc) => acc.iter_mut().zip(g).for_each(|(a, b)| *a += b),
                    None => grad = Some(g),
                }
            }
            start += chunk.len();
        }
        grad
    }

    /// Objective value and its gradient with respect to `names` (in command-line units).
    pub fn value_and_grad(&self, values: &Values, names: &[String], obj: &Objective) -> (f64, Vec<f64>) {
        let dev = self.device.clone().autodiff();
        let per_chunk = self.map_chunks(&dev, |r, start, chunk| {
            // parameters are rebuilt per chunk so each chunk's graph is freed after its backward;
            // in float32 they are per pixel so the pixel sum happens on the host in float64
            let pt = if crate::device::precision() == crate::device::Precision::F32 {
                ParamTensors::new_per_pixel(values, names, &dev, chunk.len())
            } else {
                ParamTensors::new(values, names, &dev)
            };
            let params = build_params(self.exp, &pt, VectorParams::from_experiment(self.exp, &dev, false, false), &dev);
            let loss = chunk_objective(obj, r.render_pixels(&params, chunk), start..start + chunk.len(), &dev);
            let value = to_vec(loss.clone().detach())[0];
            let grads = loss.backward();
            let g: Vec<f64> = names.iter().map(|name| pt.get(name).grad(&grads).map(|t| to_vec(t).iter().sum::<f64>()).unwrap_or(0.0)).collect();
            (value, g)
        });
        let mut total = 0.0;
        let mut grad = vec![0.0; names.len()];
        for (v, g) in per_chunk {
            total += v;
            grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        }
        (total, grad)
    }
}

/// Vector-valued parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorKind {
    StructureFactors,
    SourceWeights,
}

/// Parse a comma-separated parameter list, checking every name.
pub fn parse_names(list: &str, flag: &str) -> Result<Vec<String>> {
    let names: Vec<String> = list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if names.is_empty() {
        return Err(Error::new(format!("{flag}: no parameter names given")));
    }
    for n in &names {
        if crate::model::param_info(n).is_none() {
            let all: Vec<&str> = crate::model::PARAMS.iter().map(|p| p.name).collect();
            return Err(Error::new(format!("{flag}: unknown parameter '{n}' (known: {})", all.join(" "))));
        }
    }
    Ok(names)
}
