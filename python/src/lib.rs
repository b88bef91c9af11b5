//! The `nanobragg` Python module: the simulator's settings as keyword arguments (named as in a
//! run file), images as numpy arrays, gradients and refinements as dicts. Every computation is
//! the library's; this crate converts values between Python and Rust and releases the GIL
//! while the library works.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use nanobragg::error::Error;
use nanobragg::model::initial_values;
use nanobragg::refine::api::{self as cmd, RefineSpec};
use nanobragg::refine::optimize::Restraint;
use nanobragg::refine::strategy::Strategy;
use nanobragg::refine::{Evaluator, Loss, Objective};
use nanobragg::simulation::Simulation;

create_exception!(
    nanobragg,
    NanobraggError,
    PyValueError,
    "A bad setting, option or input file: the command line's one-line message."
);

create_exception!(nanobragg, InputFileError, NanobraggError, "An input or output file that cannot be read or written, or whose content is malformed.");
create_exception!(nanobragg, ResourceError, NanobraggError, "A run that needs more memory than it can hold (the message names the setting and the limit).");
create_exception!(nanobragg, DeviceError, NanobraggError, "The device asked for cannot run: no GPU adapter, or one that fails.");

/// The library's error as the exception class of its kind (each a `NanobraggError`, so one
/// `except` still catches them all), with the command line's one-line message.
fn py_err(e: Error) -> PyErr {
    use nanobragg::error::ErrorKind;
    match e.kind() {
        ErrorKind::Invalid => NanobraggError::new_err(e.0),
        ErrorKind::File => InputFileError::new_err(e.0),
        ErrorKind::Resource => ResourceError::new_err(e.0),
        ErrorKind::Device => DeviceError::new_err(e.0),
    }
}

/// One keyword argument as a run-file value: None drops it; booleans, integers, floats and
/// strings (or paths) map to their TOML kinds; lists, tuples and numpy values to arrays/scalars.
fn toml_value(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<toml::Value>> {
    let py = v.py();
    if v.is_none() {
        return Ok(None);
    }
    let value = if v.is_instance_of::<PyBool>() {
        toml::Value::Boolean(v.extract()?)
    } else if v.is_instance_of::<PyInt>() {
        toml::Value::Integer(v.extract().map_err(|_| NanobraggError::new_err(format!("{key}: integer {v} is out of range")))?)
    } else if v.is_instance_of::<PyFloat>() {
        toml::Value::Float(v.extract()?)
    } else if v.is_instance_of::<PyString>() {
        toml::Value::String(v.extract()?)
    } else if v.hasattr("__fspath__")? {
        toml::Value::String(py.import("os")?.call_method1("fspath", (v,))?.extract()?)
    } else if v.hasattr("tolist")? {
        // numpy arrays and scalars
        return toml_value(key, &v.call_method0("tolist")?);
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in v.try_iter()? {
            if let Some(x) = toml_value(key, &item?)? {
                items.push(x);
            }
        }
        toml::Value::Array(items)
    } else {
        let shown: String = v.repr()?.extract()?;
        return Err(NanobraggError::new_err(format!("{key}: expected numbers, a string or true, got {shown}")));
    };
    Ok(Some(value))
}

/// `spectrum=` given as (energy_eV, weight) pairs (a list of pairs or an (n, 2) array) as the
/// flat `spectrum_lines` setting.
fn spectrum_pairs(v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    let v = if v.hasattr("tolist")? { v.call_method0("tolist")? } else { v.clone() };
    let bad = || {
        let shown: String = v.repr().and_then(|r| r.extract()).unwrap_or_default();
        let shown: String = shown.chars().take(80).collect();
        NanobraggError::new_err(format!("spectrum: expected a file name or (energy_eV, weight) pairs, got {shown}"))
    };
    let mut flat = Vec::new();
    for row in v.try_iter().map_err(|_| bad())? {
        let pair: Vec<f64> = row?.extract().map_err(|_| bad())?;
        if pair.len() != 2 {
            return Err(bad());
        }
        flat.extend(pair.into_iter().map(toml::Value::Float));
    }
    Ok(toml::Value::Array(flat))
}

/// Keyword arguments as a run file's table of settings.
fn settings_table(settings: Option<&Bound<'_, PyDict>>) -> PyResult<toml::Table> {
    let mut table = toml::Table::new();
    if let Some(d) = settings {
        for (k, v) in d.iter() {
            let key: String = k.extract()?;
            // `lambda` is a Python keyword: lambda_ spells it in a call
            let key = if key == "lambda_" { "lambda".to_string() } else { key };
            if key == "spectrum" && !v.is_none() && !v.is_instance_of::<PyString>() && !v.hasattr("__fspath__")? {
                table.insert("spectrum_lines".into(), spectrum_pairs(&v)?);
                continue;
            }
            if let Some(value) = toml_value(&key, &v)? {
                table.insert(key, value);
            }
        }
    }
    Ok(table)
}

/// Build the simulation of the settings (reading any files they name) without the GIL, and
/// hand its warnings to Python's `warnings`.
fn build(py: Python<'_>, settings: Option<&Bound<'_, PyDict>>) -> PyResult<Simulation> {
    let table = settings_table(settings)?;
    let sim = py.detach(|| Simulation::from_table(&table)).map_err(py_err)?;
    let warnings = py.import("warnings")?;
    for w in &sim.notes.warnings {
        warnings.call_method1("warn", (w.strip_prefix("WARNING: ").unwrap_or(w),))?;
    }
    Ok(sim)
}

/// The images of a simulation for Python: one float32 array shaped (slow, fast) for one panel,
/// a list of them (panel after panel) for a multi-panel detector.
fn images_object<'py>(py: Python<'py>, images: &[Vec<f32>], shapes: &[(usize, usize)]) -> PyResult<Bound<'py, PyAny>> {
    let arrays = images.iter().zip(shapes).map(|(im, &shape)| image_array(py, im, shape)).collect::<PyResult<Vec<_>>>()?;
    if arrays.len() == 1 {
        return Ok(arrays.into_iter().next().expect("one panel"));
    }
    Ok(PyList::new(py, arrays)?.into_any())
}

/// A float32 numpy array of shape (slow, fast) holding `image` (one copy, into Python memory).
fn image_array<'py>(py: Python<'py>, image: &[f32], shape: (usize, usize)) -> PyResult<Bound<'py, PyAny>> {
    let buffer = PyByteArray::new_with(py, image.len() * 4, |bytes| {
        for (chunk, v) in bytes.chunks_exact_mut(4).zip(image) {
            chunk.copy_from_slice(&v.to_ne_bytes());
        }
        Ok(())
    })?;
    let np = py.import("numpy")?;
    let flat = np.call_method1("frombuffer", (buffer, np.getattr("float32")?))?;
    flat.call_method1("reshape", (shape.0, shape.1))
}

/// A target image: a path (float32 .bin, or SMV counts minus `adc`; one file per panel, named
/// as the command line names them), or anything numpy can turn into the detector's numbers (an
/// array shaped (slow, fast), or a list of them, panel after panel). Returns its name for
/// messages and its values, panel after panel, fast index fastest.
fn target_values(target: &Bound<'_, PyAny>, exp: &nanobragg::experiment::Experiment, adc: f64) -> PyResult<(String, Vec<f64>)> {
    let py = target.py();
    if target.is_instance_of::<PyString>() || target.hasattr("__fspath__")? {
        let path: String = py.import("os")?.call_method1("fspath", (target,))?.extract()?;
        let values = py.detach(|| cmd::read_detector_target(&path, exp, adc)).map_err(py_err)?;
        return Ok((path, values));
    }
    let np = py.import("numpy")?;
    let parts: Vec<Bound<'_, PyAny>> = if exp.panel_count() > 1 && (target.is_instance_of::<PyList>() || target.is_instance_of::<PyTuple>()) {
        target.try_iter()?.collect::<PyResult<_>>()?
    } else {
        vec![target.clone()]
    };
    let panels: Vec<&nanobragg::experiment::Detector> = exp.panels().collect();
    if parts.len() != panels.len() {
        let given = if parts.len() == 1 { "1 array".to_string() } else { format!("{} arrays", parts.len()) };
        return Err(py_err(Error::new(format!("target: {given} for {} panels (give one per panel)", panels.len()))));
    }
    let mut values = Vec::new();
    for (i, (part, d)) in parts.into_iter().zip(panels).enumerate() {
        // the shape must be the panel's own: a flat or transposed array would pair pixels wrongly
        let name = if exp.panel_count() > 1 { format!("target[{i}]") } else { "target".to_string() };
        let shape: Vec<usize> = np.call_method1("shape", (&part,))?.extract().map_err(|_| py_err(Error::new(format!("{name}: not an array of numbers"))))?;
        if shape != [d.spixels, d.fpixels] {
            return Err(py_err(Error::new(format!("{name}: array of shape {shape:?} but the detector{} is (slow, fast) = ({}, {})", if exp.panel_count() > 1 { format!(" panel {i}") } else { String::new() }, d.spixels, d.fpixels))));
        }
        let flat = np.call_method1("ascontiguousarray", (part, np.getattr("float64")?))?.call_method0("ravel")?;
        let bytes: Vec<u8> = flat.call_method0("tobytes")?.extract()?;
        values.extend(bytes.chunks_exact(8).map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes"))));
    }
    Ok(("target".to_string(), values))
}

/// A parameter list: a comma-separated string or a sequence of names.
fn name_list(params: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = params.extract::<String>() {
        return Ok(s);
    }
    let names: Vec<String> = params.extract()?;
    Ok(names.join(","))
}

/// A JSON value of the library as Python objects (dicts, lists, floats).
fn json_object<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (value.to_string(),))
}

/// Restraints given as ["name=value,sigma", ...] or {name: (value, sigma)}.
fn restraints(restrain: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Restraint>> {
    let Some(r) = restrain.filter(|r| !r.is_none()) else { return Ok(vec![]) };
    let texts: Vec<String> = if let Ok(d) = r.cast::<PyDict>() {
        d.iter()
            .map(|(k, v)| {
                let (value, sigma): (f64, f64) = v.extract()?;
                Ok(format!("{}={value},{sigma}", k.extract::<String>()?))
            })
            .collect::<PyResult<_>>()?
    } else if let Ok(s) = r.extract::<String>() {
        vec![s]
    } else {
        r.extract()?
    };
    texts.iter().map(|t| Restraint::parse(t, "restrain").map_err(py_err)).collect()
}

/// Render the settings (keyword arguments named as in a run file, e.g.
/// `simulate(cell=[100, 100, 100, 90, 90, 90], default_F=100, N=5, lambda_=6.2)` or
/// `simulate(**tomllib.load(f))`) and return the float image as a float32 array shaped
/// (slow, fast), equal to the command line's float file (a list of them, panel after panel, for
/// a multi-panel detector). Writes the output files the settings name (floatfile, intfile,
/// pgmfile, noisefile, dump) and no others.
#[pyfunction]
#[pyo3(signature = (**settings))]
fn simulate<'py>(py: Python<'py>, settings: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
    let sim = build(py, settings)?;
    sim.check_outputs().map_err(py_err)?;
    let (images, written) = py
        .detach(|| -> nanobragg::error::Result<(Vec<Vec<f32>>, Vec<String>)> {
            let images = sim.render(&mut std::io::stdout())?;
            let warnings = sim.write_outputs(&images)?;
            Ok((images, warnings))
        })
        .map_err(py_err)?;
    // the writers' warnings go to Python's `warnings`, as the build's do
    let warnings = py.import("warnings")?;
    for w in &written {
        warnings.call_method1("warn", (w.strip_prefix("WARNING: ").unwrap_or(w),))?;
    }
    images_object(py, &images, &sim.shapes())
}

/// A simulation to render, differentiate and refine; built from the same keyword settings as
/// `simulate`.
#[pyclass(frozen, module = "nanobragg")]
struct Model {
    sim: Simulation,
}

impl Model {
    /// The model's parameter values with `changes` ({name: value}) applied, each checked.
    fn values_at(&self, changes: Option<&Bound<'_, PyDict>>) -> PyResult<nanobragg::model::Values> {
        let mut values = initial_values(&self.sim.experiment);
        for (k, v) in changes.into_iter().flat_map(|d| d.iter()) {
            let name: String = k.extract()?;
            let param = nanobragg::refine::parse_names(&name, "values").map_err(py_err)?[0];
            if !values.has(param) {
                let n = self.sim.experiment.panel_count();
                return Err(py_err(Error::new(format!("values: {name}: the detector has {n} panel(s), numbered from 0"))));
            }
            let x: f64 = v.extract()?;
            if !param.admissible(x) {
                return Err(py_err(Error::new(format!("values: {name} = {x} is not a physical value"))));
            }
            values[param] = x;
        }
        Ok(values)
    }
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (**settings))]
    fn new(py: Python<'_>, settings: Option<&Bound<'_, PyDict>>) -> PyResult<Model> {
        Ok(Model { sim: build(py, settings)? })
    }

    /// Detector size as (slow, fast): the shape of rendered images (a list of them, one per
    /// panel, for a multi-panel detector).
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shapes = self.sim.shapes();
        if shapes.len() == 1 {
            return Ok(shapes[0].into_pyobject(py)?.into_any());
        }
        Ok(PyList::new(py, shapes)?.into_any())
    }

    /// The resolved settings as a run file (what `nanobragg ... --print-config` prints).
    fn to_toml(&self) -> String {
        nanobragg::config::runfile::to_toml(&self.sim.config)
    }

    /// The model's parameter values (the names of `value_and_grad` and `refine`), in their
    /// command-line units.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let values = initial_values(&self.sim.experiment);
        let d = PyDict::new(py);
        for p in values.params() {
            d.set_item(p.name(), values[p])?;
        }
        Ok(d)
    }

    /// The float image as a float32 array shaped (slow, fast) (a list of them for a
    /// multi-panel detector); writes no files.
    fn render<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let images = py.detach(|| self.sim.render(&mut std::io::sink())).map_err(py_err)?;
        images_object(py, &images, &self.sim.shapes())
    }

    /// Value and gradients of a loss at the model's parameter values, as `nanobragg grad`
    /// computes them: against `target` (an array shaped (slow, fast) or an image file) with
    /// `loss` poisson (default), gaussian or mse, or without a target the smoothly weighted image
    /// sum. `params`: names (a list or a comma-separated string) or "all"; structure_factors
    /// and source_weights add those gradients. `values` ({name: value}) moves parameters away
    /// from the model's values for this evaluation. Returns (loss, {name: gradient}).
    #[pyo3(signature = (target=None, params=None, loss=None, adc=40.0, values=None))]
    fn value_and_grad<'py>(
        &self,
        py: Python<'py>,
        target: Option<&Bound<'py, PyAny>>,
        params: Option<&Bound<'py, PyAny>>,
        loss: Option<&str>,
        adc: f64,
        values: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<(f64, Bound<'py, PyAny>)> {
        let exp = &self.sim.experiment;
        let at = self.values_at(values)?;
        let list = match params {
            Some(p) => name_list(p)?,
            None => "all".to_string(),
        };
        let loss = loss.map(Loss::parse).transpose().map_err(py_err)?;
        let target = target.filter(|t| !t.is_none());
        if loss.is_some() && target.is_none() {
            return Err(py_err(Error::new("--loss: needs --target FILE (without a target the loss is the weighted image sum)")));
        }
        nanobragg::refine::check_refinable(exp).map_err(py_err)?;
        let (names, vector) = cmd::grad_params(exp, &list).map_err(py_err)?;
        let target = target.map(|t| target_values(t, exp, adc)).transpose()?;
        let dev = self.sim.target().map_err(py_err)?;
        let threads = self.sim.config.engine.threads.unwrap_or(0);
        let json = py
            .detach(|| -> nanobragg::error::Result<serde_json::Value> {
                let mut ev = Evaluator::new(exp);
                if dev.on_gpu {
                    ev = ev.with_target(dev);
                } else {
                    ev.threads = nanobragg::engine::plan::resolve(threads);
                }
                let obj = match &target {
                    Some((name, full)) => cmd::fit_objective(&ev, name, full, adc, loss.unwrap_or(Loss::Poisson))?,
                    None => Objective::Weighted(nanobragg::refine::gradcheck::ramp_weights(exp, &ev.pixels)),
                };
                let json = cmd::grad_json(&ev, &at, &names, vector, &obj);
                cmd::finite_loss(&json, target.as_ref().map_or("the weighted image sum", |t| t.0.as_str()))?;
                Ok(json)
            })
            .map_err(py_err)?;
        let value = json["loss"].as_f64().unwrap_or(f64::NAN);
        Ok((value, json_object(py, &json["grad"])?))
    }

    /// Refine `params` against `target` (an array shaped (slow, fast) or an image file) from the
    /// model's values, as `nanobragg refine` does; returns its JSON as a dict (params, loss,
    /// iterations, history, stages, strategy, stage_history, fit, warnings, sigma,
    /// sigma_reliable, correlation); nothing is printed. Options as the command's:
    /// loss, steps, optimizer (lbfgs, adam), strategy (continuation, plain), restrain
    /// (["name=value,sigma", ...] or {name: (value, sigma)}), adc, residual and out (files).
    /// progress: a callable given {"stage", "iteration", "loss"} after every iteration (an
    /// exception it raises stops the calls and is raised when the refinement returns).
    #[pyo3(signature = (target, params, loss="poisson", steps=100, optimizer="lbfgs", strategy="continuation", restrain=None, adc=40.0, residual=None, out=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn refine<'py>(
        &self,
        py: Python<'py>,
        target: &Bound<'py, PyAny>,
        params: &Bound<'py, PyAny>,
        loss: &str,
        steps: usize,
        optimizer: &str,
        strategy: &str,
        restrain: Option<&Bound<'py, PyAny>>,
        adc: f64,
        residual: Option<String>,
        out: Option<String>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(p) = &progress {
            if !p.is_callable() {
                return Err(NanobraggError::new_err("progress: expected a callable (or None)"));
            }
        }
        let exp = &self.sim.experiment;
        let names = nanobragg::refine::parse_names(&name_list(params)?, "--refine").map_err(py_err)?;
        cmd::check_panel_params(&names, exp, "--refine").map_err(py_err)?;
        let spec = RefineSpec {
            names,
            loss: Loss::parse(loss).map_err(py_err)?,
            steps,
            optimizer: cmd::parse_optimizer(optimizer).map_err(py_err)?,
            strategy: Strategy::parse(strategy).map_err(py_err)?,
            restraints: restraints(restrain)?,
            gpu: self.sim.config.engine.gpu.then_some(self.sim.config.engine.gpu_software),
            residual,
            residual_view: cmd::ResidualView { crop: None, bin: 1 },
            threads: self.sim.config.engine.threads.unwrap_or(0),
        };
        let (name, full) = target_values(target, exp, adc)?;
        // the callback runs with the GIL taken back for the call; its first error ends the calls
        let callback = progress.map(|p| p.unbind());
        let mut failed: Option<PyErr> = None;
        let json = py
            .detach(|| {
                cmd::refine_image(exp, &spec, &name, &full, adc, |p| {
                    let (Some(cb), None) = (&callback, &failed) else { return };
                    Python::attach(|py| {
                        let call = || -> PyResult<()> {
                            let d = PyDict::new(py);
                            d.set_item("stage", p.stage)?;
                            d.set_item("iteration", p.iteration)?;
                            d.set_item("loss", p.loss)?;
                            cb.call1(py, (d,))?;
                            Ok(())
                        };
                        if let Err(e) = call() {
                            failed = Some(e);
                        }
                    });
                })
            })
            .map_err(py_err)?;
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some(path) = out {
            let text = serde_json::to_string_pretty(&json).expect("json");
            nanobragg::io::write_atomic(std::path::Path::new(&path), format!("{text}\n").as_bytes()).map_err(py_err)?;
        }
        json_object(py, &json)
    }

    /// Trace pixel (slow, fast) with the independent scalar implementation, as `-trace_pixel s
    /// f` does; returns (value in photons, the trace's text).
    fn trace_pixel(&self, py: Python<'_>, s: i64, f: i64) -> PyResult<(f64, String)> {
        if self.sim.experiment.panel_count() > 1 {
            return Err(py_err(Error::new("-printout_pixel/-trace_pixel: not available for a multi-panel detector")));
        }
        let d = &self.sim.experiment.detector;
        if f < 0 || s < 0 || f >= d.fpixels as i64 || s >= d.spixels as i64 {
            return Err(py_err(Error::new(format!("-trace_pixel: pixel (fast {f}, slow {s}) is outside the {} x {} detector", d.fpixels, d.spixels))));
        }
        let (value, text) = py.detach(|| {
            let mut text = Vec::new();
            let v = nanobragg::engine::trace::trace_pixel(&self.sim.experiment, f as usize, s as usize, Some(&mut text));
            (v, String::from_utf8_lossy(&text).into_owned())
        });
        Ok((value, text))
    }

    fn __repr__(&self) -> String {
        let shapes: Vec<String> = self.sim.shapes().iter().map(|(s, f)| format!("{s} x {f}")).collect();
        format!("nanobragg.Model({} pixels)", shapes.join(", "))
    }
}

#[pymodule]
#[pyo3(name = "nanobragg")]
fn nanobragg_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("NanobraggError", m.py().get_type::<NanobraggError>())?;
    m.add("InputFileError", m.py().get_type::<InputFileError>())?;
    m.add("ResourceError", m.py().get_type::<ResourceError>())?;
    m.add("DeviceError", m.py().get_type::<DeviceError>())?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_class::<Model>()?;
    Ok(())
}
