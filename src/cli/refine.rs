//! The `grad`, `gradcheck` and `refine` subcommands: simulation flags as for a render, plus
//! options of their own written with a double dash. A thin layer over `refine` (its library
//! forms are in `refine::api`).

use std::io::Write;

use crate::refine::api::*;
use crate::refine::gradcheck::gradcheck_on;
use crate::refine::optimize::Restraint;
use crate::refine::{parse_names, Evaluator, Loss, Objective};
use crate::error::{Error, Result};
use crate::model::initial_values;

/// After-help of the subcommands: their simulation flags are the render's.
const SIM_FLAGS: &str = "Simulation flags: every flag of a render, with a single dash, in any order among the \
options above (see `nanobragg render --help`), e.g. -cell 70 80 90 90 90 90 -default_F 100 -N 5.";

/// Run-file options every command shares.
#[derive(clap::Args, Debug)]
pub struct RunFileOpts {
    /// Read the simulation settings from this run file (TOML); flags override it
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, help_heading = "Run file")]
    config: Option<String>,
    /// Print the resolved simulation settings as a run file and exit
    #[arg(long, help_heading = "Run file")]
    print_config: bool,
}

/// Options of `nanobragg gradcheck` (values are kept as typed and checked below, so that the
/// messages name the option as before).
#[derive(clap::Args, Debug)]
pub struct GradcheckOpts {
    /// Parameters to check, comma-separated (e.g. cell_a,distance) [required]
    #[arg(long, value_name = "LIST", allow_hyphen_values = true, help_heading = "Gradient check")]
    params: Option<String>,
    /// Central-difference step, in the parameter's units [default: one per parameter]
    #[arg(long, value_name = "STEP", allow_hyphen_values = true, help_heading = "Gradient check")]
    h: Option<String>,
    /// Largest relative error that passes (exit status 2 otherwise)
    #[arg(long, value_name = "T", allow_hyphen_values = true, default_value = "1e-6", help_heading = "Gradient check")]
    tol: String,
    /// Objective: the plain image sum (default: a smoothly weighted sum)
    #[arg(long, help_heading = "Gradient check")]
    sum: bool,
    /// Worker threads (0: one per core)
    #[arg(long, value_name = "N", allow_hyphen_values = true, default_value = "0", help_heading = "Engine")]
    threads: String,
    /// Device of the autodiff pass: cpu or gpu
    #[arg(long, value_name = "cpu|gpu", default_value = "cpu", help_heading = "Engine")]
    device: String,
    #[command(flatten)]
    run: RunFileOpts,
}

/// Options of `nanobragg grad`.
#[derive(clap::Args, Debug)]
pub struct GradOpts {
    /// Parameters, comma-separated, or all; structure_factors and source_weights add those vector gradients
    #[arg(long, value_name = "LIST|all", allow_hyphen_values = true, default_value = "all", help_heading = "Gradient")]
    params: String,
    /// Measured image (float32 .bin, or SMV counts minus --adc); without it the loss is a weighted image sum
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, help_heading = "Gradient")]
    target: Option<String>,
    /// Loss against --target: poisson, gaussian or mse [default: poisson]
    #[arg(long, value_name = "L", allow_hyphen_values = true, help_heading = "Gradient")]
    loss: Option<String>,
    /// Also write the JSON to this file
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, help_heading = "Output")]
    out: Option<String>,
    /// ADC offset subtracted from an SMV target (counts)
    #[arg(long, value_name = "A", allow_hyphen_values = true, default_value = "40", help_heading = "Gradient")]
    adc: String,
    /// Worker threads (0: one per core)
    #[arg(long, value_name = "N", allow_hyphen_values = true, default_value = "0", help_heading = "Engine")]
    threads: String,
    /// Device: cpu or gpu
    #[arg(long, value_name = "cpu|gpu", default_value = "cpu", help_heading = "Engine")]
    device: String,
    #[command(flatten)]
    run: RunFileOpts,
}

/// Options of `nanobragg refine`.
#[derive(clap::Args, Debug)]
pub struct RefineOpts {
    /// Measured image (float32 .bin, or SMV counts minus --adc) [required]
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, help_heading = "Refinement")]
    target: Option<String>,
    /// Parameters to refine, comma-separated (e.g. cell_a,distance) [required]
    #[arg(long, value_name = "LIST", allow_hyphen_values = true, help_heading = "Refinement")]
    refine: Option<String>,
    /// Loss: poisson, gaussian or mse
    #[arg(long, value_name = "L", allow_hyphen_values = true, default_value = "poisson", help_heading = "Refinement")]
    loss: String,
    /// Most optimiser iterations [default: 100]
    #[arg(long, value_name = "N", allow_hyphen_values = true, help_heading = "Refinement")]
    steps: Option<String>,
    /// Optimiser: lbfgs or adam
    #[arg(long, value_name = "lbfgs|adam", allow_hyphen_values = true, default_value = "lbfgs", help_heading = "Refinement")]
    optimizer: String,
    /// ADC offset subtracted from an SMV target (counts)
    #[arg(long, value_name = "A", allow_hyphen_values = true, default_value = "40", help_heading = "Refinement")]
    adc: String,
    /// continuation (default: a crystal 1/3 then 2/3 the size first, or for --plan blurred images, then the final fit; reports the better of that and a plain fit) or plain
    #[arg(long, value_name = "continuation|plain", allow_hyphen_values = true, default_value = "continuation", help_heading = "Refinement")]
    strategy: String,
    /// Gaussian prior on a parameter, ((x - value)/sigma)^2 / 2 added to the loss (repeatable)
    #[arg(long, value_name = "NAME=VALUE,SIGMA", allow_hyphen_values = true, action = clap::ArgAction::Append, help_heading = "Refinement")]
    restrain: Vec<String>,
    /// Joint refinement of several images described by this TOML plan (see docs/refinement.md)
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, help_heading = "Refinement")]
    plan: Option<String>,
    /// Also write the result JSON to this file
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, help_heading = "Output")]
    out: Option<String>,
    /// Write the deviance residual at the optimum as a float image, and a PNG beside it (start left, optimum right)
    #[arg(long, value_name = "FILE", allow_hyphen_values = true, help_heading = "Output")]
    residual: Option<String>,
    /// Region of the residual PNG: fmin,fmax,smin,smax (pixels, inclusive) [default: the whole detector]
    #[arg(long = "residual-crop", value_name = "F0,F1,S0,S1", allow_hyphen_values = true, help_heading = "Output")]
    residual_crop: Option<String>,
    /// Bin the residual PNG in N x N blocks (sum / N: noise stays at unit variance, a misfit adds up)
    #[arg(long = "residual-bin", value_name = "N", allow_hyphen_values = true, default_value = "1", help_heading = "Output")]
    residual_bin: String,
    /// Worker threads (0: one per core)
    #[arg(long, value_name = "N", allow_hyphen_values = true, default_value = "0", help_heading = "Engine")]
    threads: String,
    /// Device: cpu or gpu
    #[arg(long, value_name = "cpu|gpu", default_value = "cpu", help_heading = "Engine")]
    device: String,
    #[command(flatten)]
    run: RunFileOpts,
}

fn sub_command<T: clap::Args>(name: &'static str, about: &'static str) -> clap::Command {
    // about after augment_args: the options struct's doc comment would replace it
    T::augment_args(clap::Command::new(name))
        .about(about)
        .override_usage(format!("nanobragg {name} <simulation flags> [options]"))
        .after_help(SIM_FLAGS)
}

/// The clap description of `gradcheck` (for its help, and the top-level listing).
pub fn gradcheck_cli() -> clap::Command {
    sub_command::<GradcheckOpts>("gradcheck", "Compare autodiff gradients with finite differences")
}

/// The clap description of `grad`.
pub fn grad_cli() -> clap::Command {
    sub_command::<GradOpts>("grad", "Loss value and gradients as JSON")
}

/// The clap description of `refine`.
pub fn refine_cli() -> clap::Command {
    sub_command::<RefineOpts>("refine", "Fit parameters to a measured image")
}

/// Separate the subcommand's `--name [value]` options (parsed by clap) from the simulation
/// flags (single dash, parsed by `cli`). `None` when help was asked for and printed.
fn split<T: clap::FromArgMatches>(cmd: clap::Command, args: &[String]) -> Result<Option<(Vec<String>, T)>> {
    let mut cmd = cmd;
    cmd.build();
    let name = cmd.get_name().to_string();
    let mut sim = Vec::new();
    let mut argv = vec![name.clone()];
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        match a.strip_prefix("--").filter(|n| !n.is_empty()) {
            Some(rest) => {
                argv.push(a.clone());
                let long = rest.split('=').next().unwrap_or(rest);
                let takes_value = cmd.get_arguments().any(|x| x.get_long() == Some(long) && x.get_action().takes_values());
                if takes_value && !rest.contains('=') && i + 1 < args.len() {
                    argv.push(args[i + 1].clone());
                    i += 1;
                }
            }
            // the render's own help switches ask for this command's help
            None if a == "-h" || a == "-help" => argv.push("--help".into()),
            None => sim.push(a.clone()),
        }
        i += 1;
    }
    let Some(m) = crate::cli::clap_matches(cmd, argv, &name)? else { return Ok(None) };
    let opts = T::from_arg_matches(&m).map_err(|e| crate::cli::clap_error(&e, &name))?;
    Ok(Some((sim, opts)))
}

/// The experiment of the simulation flags and run file; `None` when the settings were printed.
fn build(sim: &[String], run: &RunFileOpts) -> Result<Option<crate::experiment::Experiment>> {
    let mut args = sim.to_vec();
    if let Some(path) = &run.config {
        args.extend(["--config".to_string(), path.clone()]);
    }
    let (cfg, _, _) = crate::cli::runfile::resolve(&args)?;
    if run.print_config {
        print!("{}", crate::cli::runfile::to_toml(&cfg));
        return Ok(None);
    }
    let (exp, notes) = crate::experiment::build(&cfg)?;
    crate::refine::check_refinable(&exp)?;
    for w in &notes.warnings {
        crate::say!("{w}");
    }
    Ok(Some(exp))
}

/// The worker threads of `--threads` (0: one per core).
fn threads(v: &str) -> Result<usize> {
    v.parse::<usize>().map_err(|_| Error::new(format!("--threads: expected a count, got '{v}'")))
}

/// The device an option names: None for the CPU, Some(software allowed) for the GPU.
fn parse_device(v: &str) -> Result<Option<bool>> {
    match v {
        "gpu" => Ok(Some(false)),
        "gpu:software" => Ok(Some(true)),
        "cpu" => Ok(None),
        _ => Err(Error::new(format!("--device: expected cpu, gpu or gpu:software, got '{v}'"))),
    }
}

/// The GPU target of a `--device` choice, naming its adapter on stderr.
fn gpu_target(software: bool) -> Result<crate::engine::device::Target> {
    let t = crate::engine::device::Target::gpu(software)?;
    crate::say!("GPU adapter: {}", t.adapter_description().unwrap_or("?"));
    Ok(t)
}

fn num(flag: &str, v: &str) -> Result<f64> {
    v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| Error::new(format!("--{flag}: expected a number, got '{v}'")))
}

/// `nanobragg gradcheck <simulation flags> --params LIST [--h STEP] [--tol T] [--sum]`.
/// Returns the process exit status (non-zero when a relative error exceeds the tolerance).
pub fn gradcheck_command(args: &[String]) -> Result<i32> {
    let Some((sim, opts)) = split::<GradcheckOpts>(gradcheck_cli(), args)? else { return Ok(0) };
    let gpu = parse_device(&opts.device)?;
    let names = opts.params.as_deref().map(|v| parse_names(v, "--params")).transpose()?;
    let h = opts.h.as_deref().map(|v| num("h", v)).transpose()?.filter(|x: &f64| *x > 0.0);
    let tol = num("tol", &opts.tol)?;
    let weighted = !opts.sum;
    let names = names.ok_or_else(|| Error::new("gradcheck: --params LIST is required (e.g. --params cell_a,distance)"))?;
    if opts.h.is_some() && h.is_none() {
        return Err(Error::new("--h: step must be positive"));
    }
    let Some(exp) = build(&sim, &opts.run)? else { return Ok(0) };
    check_panel_params(&names, &exp, "--params")?;
    let device = gpu.map(gpu_target).transpose()?;
    let rows = gradcheck_on(&exp, &names, h, weighted, device, threads(&opts.threads)?);
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
    let Some((sim, opts)) = split::<GradOpts>(grad_cli(), args)? else { return Ok(()) };
    let list = opts.params.clone();
    let target = opts.target.clone();
    let loss = opts.loss.as_deref().map(Loss::parse).transpose()?;
    let outfile = opts.out.clone();
    let adc = num("adc", &opts.adc)?;
    let threads = threads(&opts.threads)?;
    let gpu = parse_device(&opts.device)?;
    if loss.is_some() && target.is_none() {
        return Err(Error::new("--loss: needs --target FILE (without a target the loss is the weighted image sum)"));
    }
    if let Some(out) = &outfile {
        crate::io::products::check_writable(&[out.as_str()])?;
    }
    let Some(exp) = build(&sim, &opts.run)? else { return Ok(()) };
    let (names, vector) = grad_params(&exp, &list)?;
    let mut ev = match gpu {
        Some(software) => Evaluator::new(&exp).with_target(gpu_target(software)?),
        None => Evaluator::new(&exp),
    };
    if gpu.is_none() {
        ev.threads = crate::engine::plan::resolve(threads);
    }
    let obj = match &target {
        Some(path) => {
            let full = read_detector_target(path, &exp, adc)?;
            fit_objective(&ev, path, &full, adc, loss.unwrap_or(Loss::Poisson))?
        }
        None => Objective::Weighted(crate::refine::gradcheck::ramp_weights(&exp, &ev.pixels)),
    };
    let json = grad_json(&ev, &initial_values(&exp), &names, vector, &obj);
    finite_loss(&json, target.as_deref().unwrap_or("the weighted image sum"))?;
    let text = serde_json::to_string_pretty(&json).expect("json");
    if let Some(path) = outfile {
        crate::io::write_atomic(&crate::io::osname::path(&path), format!("{text}\n").as_bytes())?;
    }
    println!("{text}");
    Ok(())
}

/// `nanobragg refine --plan FILE [--steps N] [--out FILE]`: joint refinement of several images,
/// on one process or spread over the processes of an MPI run (rank 0 reads the plan and
/// broadcasts it; each process reads the targets of its own images).
fn refine_plan_command(path: &str, steps: Option<usize>, strategy: crate::refine::strategy::Strategy, outfile: Option<&str>, threads: usize) -> Result<()> {
    let comm = crate::engine::comm::Comm::init();
    let result = refine_plan_on(&comm, path, steps, strategy, outfile, threads);
    comm.finish(result)
}

fn refine_plan_on(comm: &crate::engine::comm::Comm, path: &str, steps: Option<usize>, strategy: crate::refine::strategy::Strategy, outfile: Option<&str>, threads: usize) -> Result<()> {
    use crate::refine::joint::{experiments, owner, refine_joint, JointImage, Layout, Plan};
    let text = comm.broadcast(if comm.is_root() { Plan::read_text(path).map(String::into_bytes) } else { Ok(vec![]) })?;
    let plan = Plan::parse(path, &String::from_utf8_lossy(&text))?;
    let mut layout = Layout::from_plan(&plan, path)?;
    if let Some(out) = outfile {
        crate::io::products::check_writable(&[out])?;
    }
    let built = experiments(&plan, path)?;
    if comm.is_root() {
        let mut warned = std::collections::BTreeSet::new();
        for (_, notes) in &built {
            for w in &notes.warnings {
                if warned.insert(w.clone()) {
                    crate::say!("{w}");
                }
            }
        }
    }
    if let Some(sf) = &plan.structure_factors {
        let exps: Vec<&crate::experiment::Experiment> = built.iter().map(|(e, _)| e).collect();
        layout.structure = Some(crate::refine::shared_f::SharedF::select(sf, &exps, path)?);
    }
    let adc = plan.adc.unwrap_or(40.0);
    // each process reads the targets of its own images; an error on any ends them all
    let images = comm.agree(
        plan.image
            .iter()
            .zip(&built)
            .enumerate()
            .map(|(i, (img, (exp, _)))| {
                let names: Vec<crate::model::Param> = layout.shared.iter().chain(&layout.per_image).copied().collect();
                let label = || format!("{path}: {}", crate::refine::joint::image_label(i, &img.target));
                check_panel_params(&names, exp, &label())?;
                let mut ev = Evaluator::new(exp);
                ev.threads = crate::engine::plan::resolve(threads);
                let obj = if owner(i, comm) == comm.rank() {
                    let full = read_detector_target(&img.target, exp, adc).map_err(|e| Error::new(format!("{}: {e}", label())))?;
                    let t: Vec<f64> = ev.pixels.iter().map(|&i| full[i]).collect();
                    check_target(&label(), &t, adc, layout.loss)?;
                    Some(Objective::Fit { target: t, loss: layout.loss })
                } else {
                    None
                };
                Ok(JointImage { target: img.target.clone(), obj, start: initial_values(exp), ev })
            })
            .collect::<Result<Vec<_>>>(),
    )?;
    let root = comm.is_root();
    let result = refine_joint(comm, &images, &layout, steps.or(plan.steps).unwrap_or(100), strategy, |stage, it, f| {
        if root {
            crate::say!("iteration {it} [{stage}]: loss {f:.10e}");
        }
    });
    if !result.loss.is_finite() {
        return Err(Error::new(format!("{path}: the loss is not a finite number ({}); no result written", result.loss)));
    }
    if !root {
        return Ok(());
    }
    let json = joint_json(&images, &layout, &result, strategy, comm.size());
    let text = serde_json::to_string_pretty(&json).expect("json");
    println!("{text}");
    if let Some(path) = outfile {
        crate::io::write_atomic(&crate::io::osname::path(&path), format!("{text}\n").as_bytes())?;
    }
    Ok(())
}

/// The JSON report of a joint refinement.
fn joint_json(images: &[crate::refine::joint::JointImage], layout: &crate::refine::joint::Layout, result: &crate::refine::joint::JointResult, strategy: crate::refine::strategy::Strategy, processes: usize) -> serde_json::Value {
    let map = |names: &[crate::model::Param], vals: &dyn Fn(usize) -> f64| -> serde_json::Value {
        serde_json::Value::Object(names.iter().enumerate().map(|(i, n)| (n.to_string(), serde_json::Value::from(vals(i)))).collect())
    };
    let mut json = serde_json::json!({
        "params": map(&layout.shared, &|i| result.shared[layout.shared[i]]),
        "loss": result.loss,
        "iterations": result.iterations,
        "history": result.history,
        "stages": stage_list(&result.stages),
        "strategy": { "name": strategy.name(), "reported": result.reported },
        "stage_history": result.stages.iter().filter(|s| s.coarse).map(|s| s.objective_history.clone()).collect::<Vec<_>>(),
        "processes": processes,
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
    if let (Some(sf), Some(f)) = (&layout.structure, &result.structure_factors) {
        let rows: Vec<serde_json::Value> = sf.hkl.iter().zip(&sf.start).zip(f).map(|((m, f0), f1)| serde_json::json!([m[0], m[1], m[2], f0, f1])).collect();
        json["structure_factors"] = serde_json::json!({ "count": sf.len(), "restraint_sigma": sf.sigma, "h_k_l_start_refined": rows });
    }
    json
}

/// The end of a refinement on stderr: the stages, the reported loss, the goodness of fit and
/// the warnings of the result JSON.
fn print_summary(json: &serde_json::Value) {
    let stages: Vec<String> = json["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("{} {} it, loss {:.6e}", s["stage"].as_str().unwrap_or("?"), s["iterations"], s["loss"].as_f64().unwrap_or(f64::NAN)))
        .collect();
    crate::say!("stages: {}", stages.join("; "));
    crate::say!("reported: the {} stage's end, loss {:.10e} after {} iterations in all", json["strategy"]["reported"].as_str().unwrap_or("?"), json["loss"].as_f64().unwrap_or(f64::NAN), json["iterations"]);
    let fit = &json["fit"];
    if let (Some(d), Some(x)) = (fit["deviance_per_pixel"].as_f64(), fit["pearson_chi2_per_pixel"].as_f64()) {
        let num = |k: &str| fit[k].as_f64().unwrap_or(f64::NAN);
        crate::say!(
            "goodness of fit ({}): deviance {d:.4} per pixel (expected {:.4}, {:+.1} sd), Pearson chi2 {x:.4} per pixel (expected {:.4}, {:+.1} sd) over {} pixels",
            fit["verdict"].as_str().unwrap_or("?"),
            num("expected_deviance_per_pixel"),
            num("deviance_z"),
            num("expected_pearson_chi2_per_pixel"),
            num("pearson_z"),
            fit["pixels"]
        );
    }
    for w in json["warnings"].as_array().into_iter().flatten().filter_map(|w| w.as_str()) {
        crate::say!("WARNING: {w}");
    }
}

/// `nanobragg refine <simulation flags> --target FILE --refine LIST [--loss L] [--steps N]
/// [--optimizer lbfgs|adam] [--out FILE] [--adc A]`.
pub fn refine_command(args: &[String]) -> Result<()> {
    let Some((sim, opts)) = split::<RefineOpts>(refine_cli(), args)? else { return Ok(()) };
    let gpu = parse_device(&opts.device)?;
    let target = opts.target.clone();
    let names = opts.refine.as_deref().map(|v| parse_names(v, "--refine")).transpose()?;
    let loss = Loss::parse(&opts.loss)?;
    let steps = match &opts.steps {
        Some(v) => Some(v.parse::<usize>().map_err(|_| Error::new(format!("--steps: expected a count, got '{v}'")))?),
        None => None,
    };
    let optimizer = parse_optimizer(&opts.optimizer)?;
    let outfile = opts.out.clone();
    let adc = num("adc", &opts.adc)?;
    let strategy = crate::refine::strategy::Strategy::parse(&opts.strategy)?;
    let restraints = opts.restrain.iter().map(|r| Restraint::parse(r, "--restrain")).collect::<Result<Vec<_>>>()?;
    if let Some(path) = &opts.plan {
        if !sim.is_empty() || target.is_some() || names.is_some() || !restraints.is_empty() || opts.residual.is_some() {
            return Err(Error::new("--plan: give the simulation flags, targets, parameters and restraints in the plan, not on the command line"));
        }
        return refine_plan_command(path, steps, strategy, outfile.as_deref(), threads(&opts.threads)?);
    }
    let steps = steps.unwrap_or(100);
    let target = target.ok_or_else(|| Error::new("refine: --target FILE is required"))?;
    let names = names.ok_or_else(|| Error::new("refine: --refine LIST is required (e.g. --refine cell_a,distance)"))?;
    let early: Vec<&str> = outfile.iter().chain(&opts.residual).map(String::as_str).collect();
    crate::io::products::check_writable(&early)?;
    let Some(exp) = build(&sim, &opts.run)? else { return Ok(()) };
    check_panel_params(&names, &exp, "--refine")?;
    let full = read_detector_target(&target, &exp, adc)?;
    let residual_view = crate::refine::api::ResidualView::parse(opts.residual_crop.as_deref(), &opts.residual_bin)?;
    let spec = RefineSpec { names, loss, steps, optimizer, strategy, restraints, gpu, residual: opts.residual.clone(), residual_view, threads: threads(&opts.threads)? };
    // the residual images and --out appear together, or neither
    let text = crate::io::output_set(|| {
        let json = refine_image(&exp, &spec, &target, &full, adc, |p| {
            let shown: Vec<String> = spec.names.iter().map(|&n| format!("{n}={:.6}", p.values[n])).collect();
            crate::say!("iteration {} [{}]: loss {:.10e} {}", p.iteration, p.stage, p.loss, shown.join(" "));
        })?;
        print_summary(&json);
        let text = serde_json::to_string_pretty(&json).expect("json");
        if let Some(path) = &outfile {
            crate::io::write_atomic(&crate::io::osname::path(&path), format!("{text}\n").as_bytes())?;
        }
        Ok(text)
    })?;
    println!("{text}");
    Ok(())
}
