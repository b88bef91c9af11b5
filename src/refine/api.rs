//! The library forms of the `grad` and `refine` commands: the parameters of a `--params`
//! list, a loss against a target image, the JSON the commands print, targets read and checked,
//! and one image refined with a [`RefineSpec`]. The command line (`cli::refine`) and the Python
//! module call these.

use super::optimize::{Optimizer, Restraint};
use super::{parse_names, Evaluator, Loss, Objective, VectorKind};
use crate::error::{Error, Result};
use crate::model::initial_values;

/// A result whose loss is not a finite number is an error (JSON has no NaN: it would be null).
pub fn finite_loss(json: &serde_json::Value, name: &str) -> Result<()> {
    if json["loss"].as_f64().is_some_and(f64::is_finite) {
        return Ok(());
    }
    Err(Error::new(format!("{name}: the loss is not a finite number; no result written")))
}

/// The parameters of a `grad` list (comma-separated names, or all): the scalar parameters and
/// the vector one (structure_factors or source_weights), checked against the experiment.
pub fn grad_params(exp: &crate::experiment::Experiment, list: &str) -> Result<(Vec<crate::model::Param>, Option<VectorKind>)> {
    let vectors = ["structure_factors", "source_weights"];
    let has_grid = exp.structure.grid.as_ref().is_some_and(|g| g.count > 0);
    if list == "all" {
        // the panels' parameters too for a multi-panel detector
        let names = if exp.panel_count() > 1 { initial_values(exp).params() } else { crate::model::Param::ALL.to_vec() };
        return Ok((names, if has_grid { Some(VectorKind::StructureFactors) } else { None }));
    }
    let scalars: Vec<&str> = list.split(',').map(str::trim).filter(|n| !vectors.contains(n)).collect();
    let names = if scalars.is_empty() { vec![] } else { parse_names(&scalars.join(","), "--params")? };
    let wanted: Vec<&str> = list.split(',').map(str::trim).filter(|n| vectors.contains(n)).collect();
    if wanted.len() > 1 {
        return Err(Error::new("--params: ask for structure_factors or source_weights, not both at once"));
    }
    let vector = match wanted.first() {
        Some(&"structure_factors") if has_grid => Some(VectorKind::StructureFactors),
        Some(&"structure_factors") => return Err(Error::new("--params structure_factors: the simulation has no HKL grid (-hkl)")),
        Some(_) if exp.beam.use_weights => Some(VectorKind::SourceWeights),
        Some(_) => return Err(Error::new("--params source_weights: the simulation does not use source weights (-source_weights)")),
        None => None,
    };
    check_panel_params(&names, exp, "--params")?;
    Ok((names, vector))
}

/// A loss against a whole-detector target image (`name` for messages; every panel's pixels,
/// panel after panel), over the evaluator's rendered pixels; the target is checked as
/// `check_target` does.
pub fn fit_objective(ev: &Evaluator, name: &str, full: &[f64], adc: f64, loss: Loss) -> Result<Objective> {
    let npix: usize = ev.exp.panels().map(|d| d.fpixels * d.spixels).sum();
    if full.len() != npix {
        return Err(Error::new(format!("{name}: target has {} pixels but the model has {npix}", full.len())));
    }
    let t: Vec<f64> = ev.pixels.iter().map(|&i| full[i]).collect();
    check_target(name, &t, adc, loss)?;
    Ok(Objective::Fit { target: t, loss })
}

/// Value and gradients of `obj` at parameter `values` (`nanobragg grad` takes the experiment's
/// own, `initial_values`), as the JSON of `nanobragg grad`: loss, grad (by name;
/// structure_factors as [h, k, l, dloss/dF] rows, source_weights as a list) and seconds.
pub fn grad_json(ev: &Evaluator, values: &crate::model::Values, names: &[crate::model::Param], vector: Option<VectorKind>, obj: &Objective) -> serde_json::Value {
    let start = std::time::Instant::now();
    let g = ev.gradients(values, names, vector, obj);
    let seconds = start.elapsed().as_secs_f64();
    let mut grad: serde_json::Map<String, serde_json::Value> = names.iter().zip(&g.scalars).map(|(n, v)| (n.to_string(), serde_json::Value::from(*v))).collect();
    if let (Some(gf), Some(grid)) = (&g.structure_factors, &ev.exp.structure.grid) {
        grad.insert("structure_factors".into(), serde_json::Value::from(hkl_gradient_list(grid, gf)));
    }
    if let Some(gw) = &g.source_weights {
        grad.insert("source_weights".into(), serde_json::Value::from(gw.clone()));
    }
    serde_json::json!({ "loss": g.value, "grad": grad, "seconds": seconds })
}

/// Non-zero structure-factor gradients as [h, k, l, dloss/dF] rows.
fn hkl_gradient_list(grid: &crate::io::hkl::HklGrid, g: &[f64]) -> Vec<Vec<f64>> {
    let (_, kr, lr) = grid.ranges();
    let (k1, l1) = (kr + 1, lr + 1);
    g.iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, &v)| {
            let (h, rest) = (i / (k1 * l1), i % (k1 * l1));
            let (k, l) = (rest / l1, rest % l1);
            vec![(h as i64 + grid.h_min as i64) as f64, (k as i64 + grid.k_min as i64) as f64, (l as i64 + grid.l_min as i64) as f64, v]
        })
        .collect()
}

/// A target must be counts for a Poisson likelihood: refuse one that is mostly negative (the
/// usual cause is an SMV image written with another -adc than --adc), warn about a few.
pub fn check_target(path: &str, t: &[f64], adc: f64, loss: Loss) -> Result<()> {
    let bad = t.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        let first = t.iter().find(|v| !v.is_finite()).copied().unwrap_or(f64::NAN);
        return Err(Error::new(format!("{path}: {bad} of {} target pixels outside the mask are not finite numbers (e.g. {first}); mask them or fix the image", t.len())));
    }
    let negative = t.iter().filter(|&&v| v < -0.5).count();
    if negative == 0 {
        return Ok(());
    }
    let what = format!("{path}: {negative} of {} pixels are negative after subtracting --adc {adc}", t.len());
    if loss == Loss::Poisson && negative * 100 > t.len() {
        return Err(Error::new(format!("{what}; a Poisson likelihood needs counts (was the image written with another -adc? give --adc)")));
    }
    crate::say!("WARNING: {what}");
    Ok(())
}

/// Every `panel<i>_*` parameter in `names` names a panel of the detector.
pub fn check_panel_params(names: &[crate::model::Param], exp: &crate::experiment::Experiment, flag: &str) -> Result<()> {
    let values = initial_values(exp);
    match names.iter().find(|&&n| !values.has(n)) {
        Some(n) => Err(Error::new(format!("{flag}: {n}: the detector has {} panel(s), numbered from 0", exp.panel_count()))),
        None => Ok(()),
    }
}

/// Read the target image of `exp`'s detector: for several panels one file per panel, named
/// as the render names them (image.bin -> image_0.bin, ...), concatenated.
pub fn read_detector_target(path: &str, exp: &crate::experiment::Experiment, adc: f64) -> Result<Vec<f64>> {
    let n = exp.panel_count();
    let mut all = vec![];
    for (i, d) in exp.panels().enumerate() {
        all.extend(read_target(&crate::io::products::panel_file_name(path, i, n), d.fpixels * d.spixels, adc)?);
    }
    Ok(all)
}

/// Read a target image: raw float32 (by size) or SMV (counts minus the ADC offset).
pub fn read_target(path: &str, npix: usize, adc: f64) -> Result<Vec<f64>> {
    let p = &crate::io::osname::path(&path);
    let bytes = crate::io::read_all(p)?;
    if bytes.starts_with(b"{\nHEADER_BYTES=") {
        let img = crate::io::smv::read_smv(p)?;
        if img.data.len() != npix {
            return Err(Error::new(format!("{path}: target has {} pixels but the model has {npix}", img.data.len())));
        }
        return Ok(img.data.iter().map(|&v| v as f64 - adc).collect());
    }
    let img = crate::io::floatimg::read_float_image(p, Some(npix))?;
    Ok(img.into_iter().map(f64::from).collect())
}

/// `--optimizer`: lbfgs or adam.
pub fn parse_optimizer(v: &str) -> Result<Optimizer> {
    match v {
        "lbfgs" => Ok(Optimizer::Lbfgs),
        "adam" => Ok(Optimizer::Adam),
        _ => Err(Error::new(format!("--optimizer: expected lbfgs or adam, got '{v}'"))),
    }
}

/// A single-image refinement: the options of `nanobragg refine` once parsed.
#[derive(Debug, Clone)]
pub struct RefineSpec {
    pub names: Vec<crate::model::Param>,
    pub loss: Loss,
    pub steps: usize,
    pub optimizer: Optimizer,
    pub strategy: super::strategy::Strategy,
    pub restraints: Vec<Restraint>,
    /// Evaluate on the GPU: Some(whether a software driver may stand in), None for the CPU.
    pub gpu: Option<bool>,
    /// Write the deviance residual image here (and a PNG beside it: the start and the optimum).
    pub residual: Option<String>,
    /// How the residual PNG shows the image: the region and the binning.
    pub residual_view: ResidualView,
    /// CPU worker threads (0: one per core).
    pub threads: usize,
}

/// Refine the experiment's parameters against a whole-detector target image (`name` for
/// messages) from its own values; the result as the JSON of `nanobragg refine`: params, loss,
/// iterations, history (the loss at the start and after every iteration of every stage),
/// stages, strategy, stage_history (the coarse stages' blurred losses), fit (goodness of fit,
/// [`super::fit`]), warnings, and sigma, correlation and sigma_reliable where the Fisher
/// information gives them. `report` is called after every iteration of every stage. Nothing is
/// printed: the warnings are in the JSON.
pub fn refine_image(
    exp: &crate::experiment::Experiment,
    spec: &RefineSpec,
    name: &str,
    full: &[f64],
    adc: f64,
    report: impl FnMut(&super::strategy::Progress),
) -> Result<serde_json::Value> {
    super::check_refinable(exp)?;
    let ev = match spec.gpu {
        Some(software) => Evaluator::new(exp).with_target(crate::engine::device::Target::gpu(software)?),
        None => {
            let mut ev = Evaluator::new(exp);
            ev.threads = crate::engine::plan::resolve(spec.threads);
            ev
        }
    };
    let names = &spec.names;
    if let Some(path) = &spec.residual {
        spec.residual_view.check(exp.detector.fpixels, exp.detector.spixels, path)?;
    }
    let obj = fit_objective(&ev, name, full, adc, spec.loss)?;
    let start = initial_values(exp);
    let result = super::strategy::refine_with_strategy(&ev, &start, names, &obj, &spec.restraints, spec.steps, spec.optimizer, spec.strategy, report);
    if !result.loss.is_finite() {
        return Err(Error::new(format!("{name}: the loss is not a finite number ({}); no result written", result.loss)));
    }
    let params: serde_json::Map<String, serde_json::Value> =
        names.iter().map(|&n| (n.to_string(), serde_json::Value::from(result.values[n]))).collect();
    let stages = stage_list(&result.stages);
    let mut json = serde_json::json!({
        "params": params,
        "loss": result.loss,
        "iterations": result.iterations,
        "history": result.history,
        "stages": stages,
        "strategy": { "name": spec.strategy.name(), "reported": result.reported },
        "stage_history": result.coarse_histories(),
    });
    let mut warnings = vec![];
    let model = ev.image(&result.values);
    let fit = match &obj {
        Objective::Fit { target, .. } => super::fit::GoodnessOfFit::new(&model, target, names.len()),
        _ => None,
    };
    if let Some(fit) = &fit {
        json["fit"] = fit.to_json();
        warnings.extend(fit.warning());
    }
    // error bars from the inverse Fisher information at the optimum (where available)
    if let Some(u) = ev.uncertainty(&result.values, names, &obj, &spec.restraints) {
        let sigma: serde_json::Map<String, serde_json::Value> = names.iter().zip(&u.sigma).map(|(n, s)| (n.to_string(), serde_json::Value::from(*s))).collect();
        json["sigma"] = serde_json::Value::Object(sigma);
        json["correlation"] = serde_json::json!({ "names": names.iter().map(|n| n.name()).collect::<Vec<_>>(), "matrix": u.correlation });
        json["sigma_reliable"] = serde_json::Value::from(fit.as_ref().is_none_or(|f| f.verdict() != super::fit::Verdict::Poor));
    }
    json["warnings"] = serde_json::Value::from(warnings);
    if let Some(path) = &spec.residual {
        write_residual(path, &ev, &ev.image(&start), &model, &obj, &spec.residual_view)?;
    }
    Ok(json)
}

/// The `stages` list of a refinement's JSON: each stage's name, iterations, and the loss at its
/// start and end.
pub fn stage_list(stages: &[super::strategy::StageRecord]) -> Vec<serde_json::Value> {
    stages.iter().map(|s| serde_json::json!({ "stage": s.name, "iterations": s.iterations, "start_loss": s.start_loss, "loss": s.loss })).collect()
}

/// The part of the detector a residual picture shows and how finely.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResidualView {
    /// Inclusive pixel limits: fast min, fast max, slow min, slow max (the whole detector when
    /// none).
    pub crop: Option<[usize; 4]>,
    /// Bins of `bin` x `bin` pixels, each the sum of its residuals over `bin` (unit variance
    /// under counting noise still, while a systematic misfit adds up); 1 shows every pixel.
    pub bin: usize,
}

impl ResidualView {
    /// Parse `--residual-crop fmin,fmax,smin,smax` and `--residual-bin N`.
    pub fn parse(crop: Option<&str>, bin: &str) -> Result<ResidualView> {
        let bin = bin.parse::<usize>().ok().filter(|&b| b >= 1).ok_or_else(|| Error::new(format!("--residual-bin: expected a count of at least 1, got '{bin}'")))?;
        let crop = match crop {
            None => None,
            Some(text) => {
                let v: Vec<usize> = text.split(',').map(|x| x.trim().parse::<usize>()).collect::<std::result::Result<_, _>>().map_err(|_| Error::new(format!("--residual-crop: expected fmin,fmax,smin,smax (pixels), got '{text}'")))?;
                match v[..] {
                    [f0, f1, s0, s1] if f0 <= f1 && s0 <= s1 => Some([f0, f1, s0, s1]),
                    _ => return Err(Error::new(format!("--residual-crop: expected fmin,fmax,smin,smax with each min <= max, got '{text}'"))),
                }
            }
        };
        Ok(ResidualView { crop, bin })
    }

    /// Refuse a crop beyond a detector of `width` x `height` pixels (before any work).
    pub fn check(&self, width: usize, height: usize, path: &str) -> Result<()> {
        match self.crop {
            Some([f0, f1, s0, s1]) if f1 >= width || s1 >= height => {
                Err(Error::new(format!("--residual-crop: {f0},{f1},{s0},{s1} reaches beyond the {width} x {height} detector (--residual {path})")))
            }
            _ => Ok(()),
        }
    }

    /// The shown region of an image of `width` x `height` pixels, binned: (values, width, height).
    fn apply(&self, image: &[f32], width: usize, height: usize, path: &str) -> Result<(Vec<f32>, usize, usize)> {
        self.check(width, height, path)?;
        let [f0, f1, s0, s1] = self.crop.unwrap_or([0, width - 1, 0, height - 1]);
        let b = self.bin.max(1);
        let (w, h) = ((f1 - f0 + 1).div_ceil(b), (s1 - s0 + 1).div_ceil(b));
        let mut out = vec![0.0f32; w * h];
        for s in s0..=s1 {
            for f in f0..=f1 {
                out[((s - s0) / b) * w + (f - f0) / b] += image[s * width + f] / b as f32;
            }
        }
        Ok((out, w, h))
    }
}

/// The Poisson deviance residual of model `m` against counts `t`: sign(m - t) times the square
/// root of the pixel's deviance 2 (t ln(t/m) - (t - m)); about unit variance under counting
/// noise at any intensity, unlike (m - t)/sqrt(m) on nearly empty pixels.
fn deviance_residual(m: f64, t: f64) -> f64 {
    let m = m.max(super::POISSON_FLOOR);
    let t = t.max(0.0);
    let log_term = if t > 0.0 { t * (t / m).ln() } else { 0.0 };
    let dev = (2.0 * (log_term - (t - m))).max(0.0);
    (m - t).signum() * dev.sqrt()
}

/// The deviance residual at the optimum as a float image (0 outside the rendered pixels), and a
/// PNG beside it: the residual at the start on the left and at the optimum on the right, in the
/// view asked for, colour-mapped (blue negative, red positive, saturating at +-5).
fn write_residual(path: &str, ev: &Evaluator, start: &[f64], model: &[f64], obj: &Objective, view: &ResidualView) -> Result<()> {
    let Objective::Fit { target, .. } = obj else { return Ok(()) };
    if ev.exp.panel_count() > 1 {
        return Err(Error::new(format!("--residual {path}: not available for a multi-panel detector")));
    }
    let d = &ev.exp.detector;
    let residual = |model: &[f64]| {
        let mut image = vec![0.0f32; d.fpixels * d.spixels];
        for ((&idx, &m), &t) in ev.pixels.iter().zip(model).zip(target) {
            image[idx] = deviance_residual(m, t) as f32;
        }
        image
    };
    let (first, last) = (residual(start), residual(model));
    let (a, w, h) = view.apply(&first, d.fpixels, d.spixels, path)?;
    let (b, _, _) = view.apply(&last, d.fpixels, d.spixels, path)?;
    // start | a white column | optimum
    let gap = (w / 32).max(1);
    let mut both = vec![0.0f32; (2 * w + gap) * h];
    for s in 0..h {
        both[s * (2 * w + gap)..s * (2 * w + gap) + w].copy_from_slice(&a[s * w..(s + 1) * w]);
        both[s * (2 * w + gap) + w + gap..(s + 1) * (2 * w + gap)].copy_from_slice(&b[s * w..(s + 1) * w]);
    }
    let p = &crate::io::osname::path(&path);
    crate::io::floatimg::write_float_image(p, &last)?;
    crate::io::png::write_diverging_png(&p.with_extension("png"), &both, 2 * w + gap, h, 5.0)
}
