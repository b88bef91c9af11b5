//! Gradients of image losses with respect to the model parameters, a gradient checker, and
//! refinement of the parameters against a measured image.

pub mod gradcheck;
pub mod api;
pub mod optimize;
pub mod strategy;
pub mod joint;
pub mod shared_f;
pub mod uncertainty;
pub mod fit;


use crate::experiment::Experiment;
use crate::engine::device::{to_vec, Precision, Target};
use crate::engine::fused::{FusedKernel, KernelTensors};
use crate::error::{Error, Result};
use crate::model::{build_params, Param, ParamTensors, Values, VectorParams};
use crate::model::geometry::Geometry;
use crate::engine::render::Renderer;

/// What is being minimised (or differentiated), over the rendered pixels.
#[derive(Debug, Clone)]
pub enum Objective {
    /// Sum of w_i * I_i (w = 1 for the plain image sum).
    Weighted(Vec<f64>),
    /// Loss against a target image (one value per rendered pixel, photons).
    Fit { target: Vec<f64>, loss: Loss },
    /// Loss between the model passed through image-space stages and a target (e.g. the
    /// a blurred model against the blurred target); the stages couple
    /// pixels, so it is evaluated on the whole image at once.
    Staged { stages: crate::response::Pipeline, target: Vec<f64>, loss: Loss },
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
pub(crate) const POISSON_FLOOR: f64 = 1e-3;

impl Loss {
    /// Loss of one pixel with model value `m` and measured value `t`, and its derivative with
    /// respect to `m`.
    #[inline]
    pub fn pixel(self, m: f64, t: f64) -> (f64, f64) {
        match self {
            Loss::Mse => ((m - t) * (m - t), 2.0 * (m - t)),
            Loss::Gaussian => {
                let var = t.max(0.0) + 1.0;
                ((m - t) * (m - t) / var, 2.0 * (m - t) / var)
            }
            Loss::Poisson => {
                let mf = m + POISSON_FLOOR;
                (mf - t * mf.ln(), 1.0 - t / mf)
            }
        }
    }
}

impl Objective {
    /// Whether the value is a sum of per-pixel terms, so chunks of pixels can be evaluated
    /// apart (a staged objective couples neighbouring pixels through its stages).
    pub fn is_separable(&self) -> bool {
        !matches!(self, Objective::Staged { .. })
    }

    /// Value over the pixels `start..start + model.len()` (model values in photons) and its
    /// derivative with respect to each model value. Every engine differentiates the objective
    /// through this one definition. A non-separable objective ([`Objective::is_separable`]) is
    /// only ever evaluated on the whole image (`start` 0, every pixel), which the evaluator
    /// guarantees.
    pub(crate) fn value_grad(&self, start: usize, model: &[f64]) -> (f64, Vec<f64>) {
        match self {
            Objective::Weighted(w) => {
                let w = &w[start..start + model.len()];
                (model.iter().zip(w).map(|(m, w)| m * w).sum(), w.to_vec())
            }
            Objective::Fit { target, loss } => {
                let t = &target[start..start + model.len()];
                let mut value = 0.0;
                let grad = model
                    .iter()
                    .zip(t)
                    .map(|(&m, &t)| {
                        let (v, g) = loss.pixel(m, t);
                        value += v;
                        g
                    })
                    .collect();
                (value, grad)
            }
            Objective::Staged { stages, target, loss } => {
                debug_assert!(start == 0 && model.len() == target.len(), "a staged objective needs the whole image");
                let (value, g) = Objective::Fit { target: target.clone(), loss: *loss }.value_grad(0, &stages.forward(model));
                (value, stages.adjoint(&g))
            }
        }
    }
}

/// Gradients of one evaluation: the named scalar parameters and, when asked, the vectors.
#[derive(Debug, Clone, Default)]
pub struct Gradients {
    pub value: f64,
    pub scalars: Vec<f64>,
    /// With respect to every structure factor of the HKL grid (padded layout).
    pub structure_factors: Option<Vec<f64>>,
    /// With respect to every raw source weight (with -source_weights).
    pub source_weights: Option<Vec<f64>>,
}

/// Refuse an experiment whose image the refinement model does not render: the amorphous
/// scattering of `-stol` is added after the sum, without parameters or gradients yet, so a
/// fit would silently model an image without it.
pub fn check_refinable(exp: &Experiment) -> Result<()> {
    match exp.amorphous.first() {
        Some(l) => Err(crate::error::Error::new(format!(
            "-stol {}: the amorphous background is rendered, not refined: it has no parameters or gradients yet; refine without -stol (the constant-F -water is refinable)",
            l.file
        ))),
        None => Ok(()),
    }
}

/// Evaluates an objective and its gradients. On the CPU in float64 it runs the fused kernel
/// and its backward pass ([`crate::engine::fused`]); otherwise (float32, another device, or when
/// asked) the batched tensor path, over chunks of pixels whose graphs are freed after each
/// backward pass, so memory stays bounded whatever the image size.
pub struct Evaluator<'a> {
    pub exp: &'a Experiment,
    /// The rendered pixels: panel `i`'s pixel `k` (slow * fpixels + fast) is `offsets[i] + k`;
    /// ascending, so each panel's pixels are one run.
    pub pixels: Vec<usize>,
    /// Where each panel's pixel indices start (0 for the one panel of a C command line).
    pub offsets: Vec<usize>,
    /// The experiment seen through each panel, for a multi-panel detector (empty otherwise).
    panels: Vec<Experiment>,
    pub chunk_elements: Option<usize>,
    /// Worker threads (default: one per core).
    pub threads: usize,
    /// Device of the evaluation (default: the CPU); autodiff is added for gradients.
    pub target: Target,
    /// Use the batched tensor path even where the fused kernel applies.
    pub force_tensor: bool,
}

impl<'a> Evaluator<'a> {
    /// An evaluator on the CPU.
    pub fn new(exp: &'a Experiment) -> Self {
        let target = Target::cpu(Precision::F64);
        let n = exp.panel_count();
        let panels: Vec<Experiment> = if n == 1 { vec![] } else { (0..n).map(|i| exp.panel(i)).collect() };
        let offsets: Vec<usize> = exp.panels().scan(0, |acc, d| Some(std::mem::replace(acc, *acc + d.fpixels * d.spixels))).collect();
        let mut ev = Evaluator { exp, pixels: vec![], offsets, panels, chunk_elements: None, threads: crate::engine::plan::resolve(0), target, force_tensor: false };
        let mut pixels = vec![];
        for (i, &off) in ev.offsets.iter().enumerate() {
            pixels.extend(Renderer::new(ev.panel(i), &ev.target).rendered_pixels().into_iter().map(|k| k + off));
        }
        ev.pixels = pixels;
        ev
    }

    /// The vector parameters of an evaluation: the experiment's, or with `f` (the HKL grid's
    /// padded layout) in place of its structure factors.
    pub(crate) fn vector_params(&self, dev: &Target, grad_fgrid: bool, grad_weights: bool, f: Option<&[f64]>) -> VectorParams {
        let mut vp = VectorParams::from_experiment(self.exp, dev, grad_fgrid, grad_weights);
        if let (Some(f), Some(_)) = (f, &vp.fgrid) {
            let t = dev.tensor(f.to_vec(), [f.len()]);
            vp.fgrid = Some(if grad_fgrid { t.require_grad() } else { t });
        }
        vp
    }

    /// The experiment seen through panel `i` alone.
    pub fn panel(&self, i: usize) -> &Experiment {
        if self.panels.is_empty() {
            self.exp
        } else {
            &self.panels[i]
        }
    }

    /// Every panel's run of `pixels`: (panel, start in `pixels`, the panel's own pixel indices).
    fn panel_runs(&self) -> Vec<(usize, usize, Vec<usize>)> {
        let mut runs = vec![];
        for (i, &off) in self.offsets.iter().enumerate() {
            let end = self.offsets.get(i + 1).copied().unwrap_or(usize::MAX);
            let (lo, hi) = (self.pixels.partition_point(|&p| p < off), self.pixels.partition_point(|&p| p < end));
            runs.push((i, lo, self.pixels[lo..hi].iter().map(|&p| p - off).collect()));
        }
        runs
    }

    /// Evaluate on `target` instead (a GPU: one host thread drives it).
    pub fn with_target(mut self, target: Target) -> Self {
        if target.on_gpu {
            self.threads = 1;
        }
        self.target = target;
        self
    }

    /// Always use the batched tensor path (differentiated by burn's autodiff).
    pub fn with_tensor_path(mut self) -> Self {
        self.force_tensor = true;
        self
    }

    /// Whether the fused kernel evaluates this objective.
    pub fn uses_fused(&self) -> bool {
        !self.force_tensor && self.target.is_cpu_f64()
    }

    fn renderer<'e>(&self, exp: &'e Experiment, dev: &Target) -> Renderer<'e> {
        let r = Renderer::new(exp, dev);
        match self.chunk_elements {
            Some(n) => r.with_chunk_elements(n),
            None => r,
        }
    }

    /// Evaluate `f(renderer, panel, start, pixels)` for every chunk of rendered pixels on
    /// `self.threads` threads (chunks sized for the device's per-thread memory budget, each
    /// within one panel, `pixels` the panel's own indices, `start` the chunk's position in
    /// `self.pixels`), results in chunk order so sums over them do not depend on the thread
    /// count or scheduling.
    fn map_chunks<T: Send>(&self, dev: &Target, f: impl Fn(&Renderer<'_>, usize, usize, &[usize]) -> T + Sync) -> Vec<T> {
        use rayon::prelude::*;
        let threads = self.threads.max(1);
        let renderers: Vec<Renderer<'_>> = (0..self.offsets.len())
            .map(|i| {
                let r = self.renderer(self.panel(i), dev);
                let per_thread = (r.chunk_elements / threads).max(1);
                if threads > 1 { r.with_chunk_elements(per_thread) } else { r }
            })
            .collect();
        let runs = self.panel_runs();
        let chunks: Vec<(usize, usize, &[usize])> = runs
            .iter()
            .flat_map(|(i, lo, px)| {
                let len = renderers[*i].pixel_chunk();
                px.chunks(len).enumerate().map(move |(k, c)| (*i, lo + k * len, c))
            })
            .collect();
        crate::engine::plan::run(threads, || {
            chunks
                .par_iter()
                .with_max_len(1)
                .map(|&(panel, start, chunk)| {
                    f(&renderers[panel], panel, start, chunk)
                })
                .collect()
        })
    }

    /// The fused kernel of panel `i` at parameter values (no graph).
    fn kernel(&self, i: usize, values: &Values) -> FusedKernel<'_> {
        let dev = self.target.clone();
        let exp = self.panel(i);
        let pt = ParamTensors::new(values, &[], &dev);
        let params = build_params(exp, &pt, self.vector_params(&dev, false, false, None), &dev);
        FusedKernel::new(exp, &params, &dev)
    }

    /// The model image (one value per rendered pixel) for parameter values.
    pub fn image(&self, values: &Values) -> Vec<f64> {
        if self.uses_fused() {
            return self.panel_runs().iter().flat_map(|(i, _, px)| self.kernel(*i, values).forward(px, self.threads)).collect();
        }
        let dev = self.target.clone();
        let pt = ParamTensors::new(values, &[], &dev);
        let geometry: Vec<Geometry> = (0..self.offsets.len()).map(|i| {
            let exp = self.panel(i);
            build_params(exp, &pt, self.vector_params(&dev, false, false, None), &dev)
        }).collect();
        if let (Some(adapter), false) = (&dev.adapter, self.force_tensor) {
            // the lattice-sum kernel on the GPU, panel by panel
            return self
                .panel_runs()
                .into_iter()
                .flat_map(|(i, _, own)| {
                    let exp = self.panel(i);
                    let inputs = KernelTensors::from_params(exp, &geometry[i], &dev).values();
                    crate::engine::gpu::GpuLatticeSum::new(exp, &inputs, adapter).pixels(&own)
                })
                .collect();
        }
        self.map_chunks(&dev, |r, i, _, chunk| to_vec(r.render_pixels(&geometry[i], chunk))).concat()
    }

    /// Objective value (float64, no graph).
    pub fn value(&self, values: &Values, obj: &Objective) -> f64 {
        obj.value_grad(0, &self.image(values)).0
    }

    /// Gradient of the objective with respect to a vector parameter: every structure factor of
    /// the HKL grid (padded layout), or every raw source weight (with -source_weights). Returns
    /// None when the experiment has no such vector.
    pub fn vector_gradient(&self, values: &Values, which: VectorKind, obj: &Objective) -> Option<Vec<f64>> {
        let g = self.gradients(values, &[], Some(which), obj);
        match which {
            VectorKind::StructureFactors => g.structure_factors,
            VectorKind::SourceWeights => g.source_weights,
        }
    }

    /// Objective value and its gradient with respect to `names` (in command-line units).
    pub fn value_and_grad(&self, values: &Values, names: &[Param], obj: &Objective) -> (f64, Vec<f64>) {
        let g = self.gradients(values, names, None, obj);
        (g.value, g.scalars)
    }

    /// Objective value, its gradient with respect to `names` and, when asked, with respect to a
    /// vector parameter.
    pub fn gradients(&self, values: &Values, names: &[Param], vector: Option<VectorKind>, obj: &Objective) -> Gradients {
        self.gradients_with_structure_factors(values, names, vector, obj, None)
    }

    /// As [`Evaluator::gradients`], with the structure factors `f` (the HKL grid's padded
    /// layout) in place of the experiment's when given (a refinement of shared structure
    /// factors passes its current values).
    pub fn gradients_with_structure_factors(&self, values: &Values, names: &[Param], vector: Option<VectorKind>, obj: &Objective, f: Option<&[f64]>) -> Gradients {
        if self.uses_fused() {
            self.fused_gradients(values, names, vector, obj, f)
        } else {
            self.tensor_gradients(values, names, vector, obj, f)
        }
    }

    fn fused_gradients(&self, values: &Values, names: &[Param], vector: Option<VectorKind>, obj: &Objective, f: Option<&[f64]>) -> Gradients {
        let dev = self.target.autodiff();
        let pt = ParamTensors::new(values, names, &dev);
        let (want_f, want_w) = (vector == Some(VectorKind::StructureFactors), vector == Some(VectorKind::SourceWeights));
        let vp = self.vector_params(&dev, want_f, want_w, f);
        let leaves = (vp.fgrid.clone(), vp.source_weights.clone());
        // one parameter graph per panel, all sharing the same leaves
        let runs = self.panel_runs();
        let panels: Vec<(KernelTensors, FusedKernel<'_>)> = runs
            .iter()
            .map(|(i, _, _)| {
                let exp = self.panel(*i);
                let params = build_params(exp, &pt, vp.clone(), &dev);
                let inputs = KernelTensors::from_params(exp, &params, &dev);
                let kernel = FusedKernel::from_values(exp, inputs.values());
                (inputs, kernel)
            })
            .collect();
        // the loss's derivative per pixel: known up front for a weighted sum, else from a
        // forward pass
        let (value, g_pix) = match obj {
            Objective::Weighted(w) => (None, w.clone()),
            Objective::Fit { .. } | Objective::Staged { .. } => {
                let model: Vec<f64> = runs.iter().zip(&panels).flat_map(|((_, _, px), (_, k))| k.forward(px, self.threads)).collect();
                let (v, g) = obj.value_grad(0, &model);
                (Some(v), g)
            }
        };
        let mut model = Vec::with_capacity(self.pixels.len());
        let mut surrogate: Option<burn::tensor::Tensor<1>> = None;
        for ((_, lo, px), (inputs, kernel)) in runs.iter().zip(&panels) {
            let (m, g_inputs) = kernel.backward(px, &g_pix[*lo..*lo + px.len()], want_f, self.threads);
            model.extend(m);
            let s = inputs.surrogate(&g_inputs);
            surrogate = Some(match surrogate {
                Some(acc) => acc + s,
                None => s,
            });
        }
        let value = value.unwrap_or_else(|| obj.value_grad(0, &model).0);
        let surrogate = surrogate.expect("at least one panel");
        if !surrogate.is_tracked() {
            // nothing to differentiate (e.g. a vector the experiment does not have)
            return Gradients { value, scalars: vec![0.0; names.len()], ..Default::default() };
        }
        let grads = surrogate.backward();
        let vec_grad = |t: &Option<burn::tensor::Tensor<1>>| t.as_ref().and_then(|t| t.grad(&grads)).map(to_vec);
        Gradients {
            value,
            scalars: pt.gradients(names, &grads),
            structure_factors: if want_f { vec_grad(&leaves.0) } else { None },
            source_weights: if want_w { vec_grad(&leaves.1) } else { None },
        }
    }

    fn tensor_gradients(&self, values: &Values, names: &[Param], vector: Option<VectorKind>, obj: &Objective, f: Option<&[f64]>) -> Gradients {
        let dev = self.target.autodiff();
        let (want_f, want_w) = (vector == Some(VectorKind::StructureFactors), vector == Some(VectorKind::SourceWeights));
        let add = |acc: &mut Option<Vec<f64>>, g: Option<Vec<f64>>| {
            if let Some(g) = g {
                match acc {
                    Some(a) => a.iter_mut().zip(g).for_each(|(a, b)| *a += b),
                    None => *acc = Some(g),
                }
            }
        };
        // an objective that couples pixels is differentiated per pixel from one forward pass
        // first; each chunk then backpropagates its share of that derivative
        let coupled = (!obj.is_separable()).then(|| obj.value_grad(0, &self.image(values)));
        let per_chunk = self.map_chunks(&dev, |r, panel, start, chunk| {
            // parameters are rebuilt per chunk so each chunk's graph is freed after its backward;
            // in float32 they are per pixel so the pixel sum happens on the host in float64
            let pt = if dev.precision == Precision::F32 {
                ParamTensors::new_per_pixel(values, names, &dev, chunk.len())
            } else {
                ParamTensors::new(values, names, &dev)
            };
            let vp = self.vector_params(&dev, want_f, want_w, f);
            let leaves = (vp.fgrid.clone(), vp.source_weights.clone());
            let params = build_params(self.panel(panel), &pt, vp, &dev);
            let model = r.render_pixels(&params, chunk);
            let (value, g) = match &coupled {
                Some((_, g)) => (0.0, g[start..start + chunk.len()].to_vec()),
                None => obj.value_grad(start, &to_vec(model.clone().detach())),
            };
            let loss = (model * dev.tensor(g, [chunk.len()])).sum();
            if !loss.is_tracked() {
                return (value, vec![0.0; names.len()], None, None);
            }
            let grads = loss.backward();
            let scalars = pt.gradients(names, &grads);
            let vec_grad = |t: &Option<burn::tensor::Tensor<1>>| t.as_ref().and_then(|t| t.grad(&grads)).map(to_vec);
            (value, scalars, if want_f { vec_grad(&leaves.0) } else { None }, if want_w { vec_grad(&leaves.1) } else { None })
        });
        let mut out = Gradients { value: coupled.map_or(0.0, |(v, _)| v), scalars: vec![0.0; names.len()], ..Default::default() };
        for (v, g, gf, gw) in per_chunk {
            out.value += v;
            out.scalars.iter_mut().zip(g).for_each(|(a, b)| *a += b);
            add(&mut out.structure_factors, gf);
            add(&mut out.source_weights, gw);
        }
        out
    }
}

/// Vector-valued parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorKind {
    StructureFactors,
    SourceWeights,
}

/// Parse a comma-separated parameter list, checking every name.
pub fn parse_names(list: &str, flag: &str) -> Result<Vec<Param>> {
    let names: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if names.is_empty() {
        return Err(Error::new(format!("{flag}: no parameter names given")));
    }
    names
        .iter()
        .map(|n| {
            Param::from_name(n).ok_or_else(|| {
                let all: Vec<String> = Param::ALL.iter().map(|p| p.name()).collect();
                Error::new(format!("{flag}: unknown parameter '{n}' (known: {})", all.join(" ")))
            })
        })
        .collect()
}
