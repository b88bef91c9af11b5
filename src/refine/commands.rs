//! The `gradcheck` and `refine` subcommands: simulation flags as for a render, plus options
//! of their own written with a double dash.

use std::io::Write;
use std::path::Path;

use super::gradcheck::gradcheck_on;
use super::optimize::{refine, Optimizer, Restraint};
use super::{parse_names, Evaluator, Loss, Objective, VectorKind};
use crate::error::{Error, Result};
use crate::model::initial_values;

/// Split `--name value` options (and bare `--flag` switches listed in `switches`) from the
/// simulation flags.
fn split_options(args: &[String], switches: &[&str]) -> Result<(Vec<String>, Vec<(String, String)>)> {
    let mut sim = Vec::new();
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(name) = a.strip_prefix("--") {
            if switches.contains(&name) {
                opts.push((name.to_string(), String::new()));
            } else {
                let v = args.get(i + 1).ok_or_else(|| Error::new(format!("{a}: missing value")))?;
                opts.push((name.to_string(), v.clone()));
                i += 1;
            }
        } else {
            sim.push(a.clone());
        }
        i += 1;
    }
    Ok((sim, opts))
}

fn build(sim: &[String]) -> Result<crate::experiment::Experiment> {
    let o = crate::cli::parse(sim)?;
    let (exp, notes) = crate::experiment::build(&o)?;
    for w in &notes.warnings {
        eprintln!("{w}");
    }
    Ok(exp)
}

fn parse_device(v: &str) -> Result<bool> {
    match v {
        "gpu" => Ok(true),
        "cpu" => Ok(false),
        _ => Err(Error::new(format!("--device: expected cpu or gpu, got '{v}'"))),
    }
}

fn num(flag: &str, v: &str) -> Result<f64> {
    v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| Error::new(format!("--{flag}: expected a number, got '{v}'")))
}

/// `nanobragg gradcheck <simulation flags> --params LIST [--h STEP] [--tol T] [--sum]`.
/// Returns the process exit status (non-zero when a relative error exceeds the tolerance).
pub fn gradcheck_command(args: &[String]) -> Result<i32> {
    let (sim, opts) = split_options(args, &["sum"])?;
    let mut names = None;
    let mut h = None;
    let mut tol = 1e-6;
    let mut weighted = true;
    let mut gpu = false;
    for (k, v) in &opts {
        match k.as_str() {
            "device" => gpu = parse_device(v)?,
            "params" => names = Some(parse_names(v, "--params")?),
            "h" => h = Some(num(k, v)?).filter(|x: &f64| *x > 0.0),
            "tol" => tol = num(k, v)?,
            "sum" => weighted = false,
            _ => return Err(Error::new(format!("gradcheck: unknown option --{k}"))),
        }
    }
    let names = names.ok_or_else(|| Error::new("gradcheck: --params LIST is required (e.g. --params cell_a,distance)"))?;
    if opts.iter().any(|(k, _)| k == "h") && h.is_none() {
        return Err(Error::new("--h: step must be positive"));
    }
    let exp = build(&sim)?;
    let device = if gpu { Some(crate::device::Target::gpu()?) } else { None };
    let rows = gradcheck_on(&exp, &names, h, weighted, device);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "objective: {} of the image over {} pixels (float64)",
        if weighted { "smoothly weighted sum" } else { "sum" },
        Evaluator::new(&exp).pixels.len()
    );
    let _ = writeln!(out, "{:<12} {:>22} {:>22} {:>12}", "parameter", "autodiff", "finite-difference", "rel.error");
    let mut worst: f64 = 0.0;
    for r in &rows {
        let _ = writeln!(out, "{:<12} {:>22.14e} {:>22.14e} {:>12.3e}", r.name, r.autodiff, r.finite_difference, r.rel_error);
        worst = worst.max(r.rel_error);
    }
    let ok = worst <= tol;
    let _ = writeln!(out, "{} (worst relative error {:.3e}, tolerance {:.1e})", if ok { "PASS" } else { "FAIL" }, worst, tol);
    Ok(if ok { 0 } else { 2 })
}

/// `nanobragg grad <simulation flags> [--params LIST|all] [--target FILE] [--loss L]
/// [--out FILE] [--adc A] [--threads N] [--device cpu|gpu]`: value and gradient of a loss, as
/// JSON on stdout (and in --out). Without a target the loss is gradcheck's smoothly weighted
/// image sum. `structure_factors` and `source_weights` in the list add those vector gradients.
pub fn grad_command(args: &[String]) -> Result<()> {
    let (sim, opts) = split_options(args, &[])?;
    let mut list = "all".to_string();
    let mut target = None;
    let mut loss = None;
    let mut outfile = None;
    let mut adc = 40.0;
    let mut threads = 0usize;
    let mut gpu = false;
    for (k, v) in &opts {
        match k.as_str() {
            "params" => list = v.clone(),
            "target" => target = Some(v.clone()),
            "loss" => loss = Some(Loss::parse(v)?),
            "out" => outfile = Some(v.clone()),
            "adc" => adc = num(k, v)?,
            "threads" => threads = v.parse::<usize>().map_err(|_| Error::new(format!("--threads: expected a count, got '{v}'")))?,
            "device" => gpu = parse_device(v)?,
            _ => return Err(Error::new(format!("grad: unknown option --{k}"))),
        }
    }
    if loss.is_some() && target.is_none() {
        return Err(Error::new("--loss: needs --target FILE (without a target the loss is the weighted image sum)"));
    }
    let exp = build(&sim)?;
    let vectors = ["structure_factors", "source_weights"];
    let (names, vector) = if list == "all" {
        let names = crate::model::Param::ALL.to_vec();
        let vector = if exp.structure.grid.as_ref().is_some_and(|g| g.count > 0) { Some(VectorKind::StructureFactors) } else { None };
        (names, vector)
    } else {
        let scalars: Vec<&str> = list.split(',').map(str::trim).filter(|n| !vectors.contains(n)).collect();
        let names = if scalars.is_empty() { vec![] } else { parse_names(&scalars.join(","), "--params")? };
        let wanted: Vec<&str> = list.split(',').map(str::trim).filter(|n| vectors.contains(n)).collect();
        if wanted.len() > 1 {
            return Err(Error::new("--params: ask for structure_factors or source_weights, not both at once"));
        }
        let vector = match wanted.first() {
            Some(&"structure_factors") if exp.structure.grid.as_ref().is_some_and(|g| g.count > 0) => Some(VectorKind::StructureFactors),
            Some(&"structure_factors") => return Err(Error::new("--params structure_factors: the simulation has no HKL grid (-hkl)")),
            Some(_) if exp.beam.use_weights => Some(VectorKind::SourceWeights),
            Some(_) => return Err(Error::new("--params source_weights: the simulation does not use source weights (-source_weights)")),
            None => None,
        };
        (names, vector)
    };
    let mut ev = if gpu {
        Evaluator::new(&exp).with_target(crate::device::Target::gpu()?)
    } else {
        Evaluator::new(&exp)
    };
    if !gpu {
        ev.threads = crate::workers::resolve(threads);
    }
    let obj = match target {
        Some(path) => {
            let full = read_target(&path, exp.detector.fpixels * exp.detector.spixels, adc)?;
            let (t, loss): (Vec<f64>, Loss) = (ev.pixels.iter().map(|&i| full[i]).collect(), loss.unwrap_or(Loss::Poisson));
            check_target(&path, &t, adc, loss)?;
            Objective::Fit { target: t, loss }
        }
        None => Objective::Weighted(super::gradcheck::ramp_weights(&exp, &ev.pixels)),
    };
    let start = std::time::Instant::now();
    let g = ev.gradients(&initial_values(&exp), &names, vector, &obj);
    let seconds = start.elapsed().as_secs_f64();
    let mut grad: serde_json::Map<String, serde_json::Value> = names.iter().zip(&g.scalars).map(|(n, v)| (n.to_string(), serde_json::Value::from(*v))).collect();
    if let (Some(gf), Some(grid)) = (&g.structure_factors, &exp.structure.grid) {
        grad.insert("structure_factors".into(), serde_json::Value::from(hkl_gradient_list(grid, gf)));
    }
    if let Some(gw) = &g.source_weights {
        grad.insert("source_weights".into(), serde_json::Value::from(gw.clone()));
    }
    let json = serde_json::json!({ "loss": g.value, "grad": grad, "seconds": seconds });
    let text = serde_json::to_string_pretty(&json).expect("json");
    if let Some(path) = outfile {
        crate::io::write_atomic(Path::new(&path), format!("{text}\n").as_bytes())?;
    }
    println!("{text}");
    Ok(())
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
fn check_target(path: &str, t: &[f64], adc: f64, loss: Loss) -> Result<()> {
    let negative = t.iter().filter(|&&v| v < -0.5).count();
    if negative == 0 {
        return Ok(());
    }
    let what = format!("{path}: {negative} of {} pixels are negative after subtracting --adc {adc}", t.len());
    if loss == Loss::Poisson && negative * 100 > t.len() {
        return Err(Error::new(format!("{what}; a Poisson likelihood needs counts (was the image written with another -adc? give --adc)")));
    }
    eprintln!("WARNING: {what}");
    Ok(())
}

/// `nanobragg refine --plan FILE [--steps N] [--out FILE]`: joint refinement of several images.
fn refine_plan_command(path: &str, steps: Option<usize>, outfile: Option<&str>) -> Result<()> {
    use super::joint::{experiments, refine_joint, JointImage, Layout, Plan};
    let plan = Plan::read(path)?;
    let layout = Layout::from_plan(&plan, path)?;
    let built = experiments(&plan)?;
    let mut warned = std::collections::BTreeSet::new();
    for (_, notes) in &built {
        for w in &notes.warnings {
            if warned.insert(w.clone()) {
                eprintln!("{w}");
            }
        }
    }
    let adc = plan.adc.unwrap_or(40.0);
    let images = plan
        .image
        .iter()
        .zip(&built)
        .map(|(img, (exp, _))| {
            let ev = Evaluator::new(exp);
            let full = read_target(&img.target, exp.detector.fpixels * exp.detector.spixels, adc)?;
            let t: Vec<f64> = ev.pixels.iter().map(|&i| full[i]).collect();
            check_target(&img.target, &t, adc, layout.loss)?;
            Ok(JointImage { target: img.target.clone(), obj: Objective::Fit { target: t, loss: layout.loss }, start: initial_values(exp), ev })
        })
        .collect::<Result<Vec<_>>>()?;
    let result = refine_joint(&images, &layout, steps.or(plan.steps).unwrap_or(100), |it, f| eprintln!("iteration {it}: loss {f:.10e}"));
    let map = |names: &[crate::model::Param], vals: &dyn Fn(usize) -> f64| -> serde_json::Value {
        serde_json::Value::Object(names.iter().enumerate().map(|(i, n)| (n.to_string(), serde_json::Value::from(vals(i)))).collect())
    };
    let mut json = serde_json::json!({
        "params": map(&layout.shared, &|i| result.shared[layout.shared[i]]),
        "loss": result.loss,
        "iterations": result.iterations,
        "history": result.history,
    });
    let images_json: Vec<serde_json::Value> = images
        .iter()
        .enumerate()
        .map(|(k, img)| {
            let mut j = serde_json::json!({ "target": img.target, "params": map(&layout.per_image, &|i| result.images[k][layout.per_image[i]]) });
            if let Some((_, own)) = &result.sigma {
                j["sigma"] = map(&layout.per_image, &|i| own[k][i]);
            }
            j
        })
        .collect();
    json["images"] = serde_json::Value::from(images_json);
    if let Some((shared, _)) = &result.sigma {
        json["sigma"] = map(&layout.shared, &|i| shared[i]);
    }
    let text = serde_json::to_string_pretty(&json).expect("json");
    println!("{text}");
    if let Some(path) = outfile {
        crate::io::write_atomic(Path::new(path), format!("{text}\n").as_bytes())?;
    }
    Ok(())
}

/// Read a target image: raw float32 (by size) or SMV (counts minus the ADC offset).
pub fn read_target(path: &str, npix: usize, adc: f64) -> Result<Vec<f64>> {
    let p = Path::new(path);
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

/// `nanobragg refine <simulation flags> --target FILE --refine LIST [--loss L] [--steps N]
/// [--optimizer lbfgs|adam] [--out FILE] [--adc A]`.
pub fn refine_command(args: &[String]) -> Result<()> {
    let (sim, opts) = split_options(args, &[])?;
    let mut target = None;
    let mut names = None;
    let mut loss = Loss::Poisson;
    let mut steps = 100usize;
    let mut optimizer = Optimizer::Lbfgs;
    let mut outfile = None;
    let mut adc = 40.0;
    let mut restraints = Vec::new();
    let mut plan = None;
    let mut gpu = false;
    for (k, v) in &opts {
        match k.as_str() {
            "device" => gpu = parse_device(v)?,
            "target" => target = Some(v.clone()),
            "refine" => names = Some(parse_names(v, "--refine")?),
            "loss" => loss = Loss::parse(v)?,
            "steps" => {
                steps = v.parse::<usize>().map_err(|_| Error::new(format!("--steps: expected a count, got '{v}'")))?;
            }
            "optimizer" => {
                optimizer = match v.as_str() {
                    "lbfgs" => Optimizer::Lbfgs,
                    "adam" => Optimizer::Adam,
                    _ => return Err(Error::new(format!("--optimizer: expected lbfgs or adam, got '{v}'"))),
                }
            }
            "out" => outfile = Some(v.clone()),
            "adc" => adc = num(k, v)?,
            "restrain" => restraints.push(Restraint::parse(v, "--restrain")?),
            "plan" => plan = Some(v.clone()),
            _ => return Err(Error::new(format!("refine: unknown option --{k}"))),
        }
    }
    if let Some(path) = plan {
        if !sim.is_empty() || target.is_some() || names.is_some() || !restraints.is_empty() {
            return Err(Error::new("--plan: give the simulation flags, targets, parameters and restraints in the plan, not on the command line"));
        }
        let explicit_steps = opts.iter().any(|(k, _)| k == "steps").then_some(steps);
        return refine_plan_command(&path, explicit_steps, outfile.as_deref());
    }
    let target = target.ok_or_else(|| Error::new("refine: --target FILE is required"))?;
    let names = names.ok_or_else(|| Error::new("refine: --refine LIST is required (e.g. --refine cell_a,distance)"))?;
    let exp = build(&sim)?;
    let ev = if gpu {
        Evaluator::new(&exp).with_target(crate::device::Target::gpu()?)
    } else {
        Evaluator::new(&exp)
    };
    let full = read_target(&target, exp.detector.fpixels * exp.detector.spixels, adc)?;
    let t: Vec<f64> = ev.pixels.iter().map(|&i| full[i]).collect();
    check_target(&target, &t, adc, loss)?;
    let obj = Objective::Fit { target: t, loss };
    let start = initial_values(&exp);
    let result = refine(&ev, &start, &names, &obj, &restraints, steps, optimizer, |it, f, v| {
        let shown: Vec<String> = names.iter().map(|&n| format!("{n}={:.6}", v[n])).collect();
        eprintln!("iteration {it}: loss {f:.10e} {}", shown.join(" "));
    });
    let params: serde_json::Map<String, serde_json::Value> =
        names.iter().map(|&n| (n.to_string(), serde_json::Value::from(result.values[n]))).collect();
    let mut json = serde_json::json!({ "params": params, "loss": result.loss, "iterations": result.iterations, "history": result.history });
    // error bars from the inverse Fisher information at the optimum (where available)
    if let Some(u) = ev.uncertainty(&result.values, &names, &obj, &restraints) {
        let sigma: serde_json::Map<String, serde_json::Value> = names.iter().zip(&u.sigma).map(|(n, s)| (n.to_string(), serde_json::Value::from(*s))).collect();
        json["sigma"] = serde_json::Value::Object(sigma);
        json["correlation"] = serde_json::json!({ "names": names.iter().map(|n| n.name()).collect::<Vec<_>>(), "matrix": u.correlation });
    }
    let text = serde_json::to_string_pretty(&json).expect("json");
    println!("{text}");
    if let Some(path) = outfile {
        crate::io::write_atomic(Path::new(&path), format!("{text}\n").as_bytes())?;
    }
    Ok(())
}
