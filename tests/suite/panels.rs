//! Detectors read from DIALS experiment lists (-expt): a single-panel list made from a C
//! command line renders that command line's image (and the reference's); a detector split into
//! panels renders the same pixels as the whole; the panel parameters' gradients are exact on a
//! 4-panel detector, on the fused kernel and the tensor path alike; bad lists are one-line
//! errors that leave nothing behind.

use crate::common::*;
use nanobragg::experiment::lab::to_dials;
use nanobragg::experiment::{Experiment, RTD};
use nanobragg::physics::vec3::{cross, scale};
use serde_json::{json, Value};
use std::path::Path;

/// The experiment list of a one-panel experiment, at full precision (what -write_expt is to
/// write): beam, panel, crystal, scan and rotation axis in the DIALS frame.
pub(crate) fn expt_of(exp: &Experiment) -> Value {
    let (d, b, c) = (&exp.detector, &exp.beam, &exp.crystal);
    let mm = |v: [f64; 3]| to_dials(v).map(|x| x * 1000.0);
    let panel = json!({
        "name": "whole", "origin": mm(d.pix0), "fast_axis": to_dials(d.fdet), "slow_axis": to_dials(d.sdet),
        "pixel_size": [d.pixel_size * 1000.0, d.pixel_size * 1000.0], "image_size": [d.fpixels, d.spixels],
        "thickness": d.thick * 1000.0, "mu": if d.thick > 0.0 { d.mu / 1000.0 } else { 0.0 }
    });
    let angstrom = |v: [f64; 3]| to_dials(v).map(|x| x * 1e10);
    json!({
        "__id__": "ExperimentList",
        "experiment": [{"__id__": "Experiment", "beam": 0, "detector": 0, "crystal": 0, "scan": 0, "goniometer": 0}],
        "beam": [{
            "direction": to_dials(scale(d.beam_vector, -1.0)), "wavelength": b.lambda0 * 1e10,
            "polarization_normal": to_dials(cross(d.beam_vector, b.polar_vector)), "polarization_fraction": (b.kahn_factor + 1.0) / 2.0
        }],
        "detector": [{"panels": [panel]}],
        "crystal": [{"real_space_a": angstrom(c.a), "real_space_b": angstrom(c.b), "real_space_c": angstrom(c.c)}],
        "scan": [{"image_range": [1, 1], "oscillation": [c.phi0 * RTD, c.osc * RTD]}],
        "goniometer": [{"rotation_axis": to_dials(c.spindle)}]
    })
}

pub(crate) fn write_json(dir: &Path, name: &str, v: &Value) {
    std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// Pearson r and max |a - b| / max |a|.
fn agreement(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&v| v as f64).sum::<f64>() / n, b.iter().map(|&v| v as f64).sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy, mut dmax, mut amax) = (0.0, 0.0, 0.0, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
        dmax = dmax.max((x as f64 - y as f64).abs());
        amax = amax.max((x as f64).abs());
    }
    (sxy / (sxx * syy).sqrt(), dmax / amax)
}

/// Golden cases: (case, the flags that describe neither the detector, the beam, the crystal
/// nor the rotation, which the list carries).
const CASES: [(&str, &str); 5] = [
    ("cubic_tilted_1024", "-N 5 -default_F 100 -oversample 1"),
    ("spindle_custom_phi", "-default_F 100 -N 5 -oversample 1 -phisteps 5"),
    ("polar_kahn", "-default_F 100 -N 5 -oversample 1"),
    ("absorption", "-default_F 100 -N 5 -oversample 1 -thicksteps 5"),
    ("triclinic_P1_512", "-default_F 100 -N 5"),
];

#[test]
fn a_single_panel_list_renders_the_command_line_image() {
    let Some(golden) = golden_dir() else { return };
    for (case, rest) in CASES {
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(golden.join(case).join("case.json")).unwrap()).unwrap();
        let args = golden_args(&meta).join(" ");
        let exp = experiment(&args);
        let dir = scratch(&format!("expt_{case}"));
        write_json(&dir, "one.expt", &expt_of(&exp));
        let from_flags = render(&args);
        let out = run_in(&dir, &format!("-expt one.expt {rest} -floatfile img.bin -noprogress"));
        assert!(out.status.success(), "{case}: {}", String::from_utf8_lossy(&out.stderr));
        let from_list = read_f32(&dir.join("img.bin"));
        let (r, rel) = agreement(&from_flags, &from_list);
        eprintln!("{case}: -expt vs command line: r = {r:.12}, max |diff| / max = {rel:.3e}");
        assert!(r > 1.0 - 1e-9 && rel < 1e-6, "{case}: r = {r}, max rel diff {rel:e}");
        let reference = read_f32(&golden.join(case).join("float.bin"));
        let (r, rel) = agreement(&reference, &crop_to_case(&meta, from_list));
        assert!(r >= 0.99999 && rel <= 1e-4, "{case}: against the reference r = {r}, max rel diff {rel:e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A 2 x 2 split of an (2h + gap)^2 detector whose panels leave out `gap` rows and columns
/// between them; panel (j, i) starts at pixel (i (h + gap), j (h + gap)) of the whole.
pub(crate) fn split_list(whole: &Value, h: usize, gap: usize) -> Value {
    let p = &whole["detector"][0]["panels"][0];
    let v = |k: &str| -> [f64; 3] { std::array::from_fn(|i| p[k][i].as_f64().unwrap()) };
    let (origin, fast, slow, px) = (v("origin"), v("fast_axis"), v("slow_axis"), p["pixel_size"][0].as_f64().unwrap());
    let panels: Vec<Value> = (0..4)
        .map(|k| {
            let (i, j) = ((k % 2) as f64, (k / 2) as f64);
            let step = (h + gap) as f64 * px;
            let o: [f64; 3] = std::array::from_fn(|c| origin[c] + fast[c] * i * step + slow[c] * j * step);
            let mut q = p.clone();
            q["origin"] = json!(o);
            q["image_size"] = json!([h, h]);
            q["name"] = json!(format!("panel{k}"));
            q
        })
        .collect();
    let mut list = whole.clone();
    list["detector"][0]["panels"] = json!(panels);
    list
}

const SMALL: &str = "-cell 30 32 34 88 91 93 -misset 5 10 15 -default_F 100 -N 3 -lambda 1 -distance 80 -pixel 0.4 -detpixels 67 -oversample 2 -Xbeam 13 -Ybeam 14.5 -detector_rotx 2 -twotheta 4";

#[test]
fn a_detector_split_into_panels_renders_the_same_pixels_as_the_whole() {
    let (h, gap) = (32usize, 3usize);
    let exp = experiment(SMALL);
    assert_eq!(exp.detector.fpixels, 2 * h + gap);
    let dir = scratch("split");
    let whole = expt_of(&exp);
    write_json(&dir, "whole.expt", &whole);
    write_json(&dir, "four.expt", &split_list(&whole, h, gap));
    let flags = "-default_F 100 -N 3 -oversample 2 -noprogress -scale 10";
    // -stol's amorphous term is rendered for each panel's own pixels
    std::fs::write(dir.join("water.stol"), "0 2.57\n0.2 2.8\n0.5 3.1\n1.0 2.0\n").unwrap();
    for (engine, tag) in [("", "fused"), ("-engine tensor", "tensor"), ("-stol water.stol -stol_thick 0.5", "stol")] {
        let run = |list: &str, name: &str| {
            let out = run_in(&dir, &format!("-expt {list} {flags} {engine} -floatfile {name}.bin -intfile {name}.img"));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        run("whole.expt", &format!("whole_{tag}"));
        let log = run("four.expt", &format!("four_{tag}"));
        let full = read_f32(&dir.join(format!("whole_{tag}.bin")));
        // one file per panel, the index before the extension; none under the plain name
        assert!(!dir.join(format!("four_{tag}.bin")).exists() && !dir.join(format!("four_{tag}.img")).exists());
        let w = 2 * h + gap;
        let mut worst = 0.0f64;
        for k in 0..4 {
            let name = format!("four_{tag}_{k}.bin");
            assert!(log.contains(&format!("writing {name} as {} 4-byte floats", h * h)), "{log}");
            let panel = read_f32(&dir.join(&name));
            assert_eq!(panel.len(), h * h);
            let (f0, s0) = ((k % 2) * (h + gap), (k / 2) * (h + gap));
            for s in 0..h {
                for f in 0..h {
                    let (a, b) = (full[(s0 + s) * w + f0 + f] as f64, panel[s * h + f] as f64);
                    worst = worst.max((a - b).abs() / a.abs().max(1e-3));
                }
            }
            let smv = std::fs::read(dir.join(format!("four_{tag}_{k}.img"))).unwrap();
            assert_eq!(smv.len(), 512 + 2 * h * h, "panel {k} SMV size");
        }
        eprintln!("{tag}: worst relative difference between a panel and the whole: {worst:.3e}");
        assert!(worst < 1e-6, "{tag}: {worst:e}");
    }
    // the tensor path renders what the fused kernel renders, panel by panel
    for k in 0..4 {
        let (a, b) = (read_f32(&dir.join(format!("four_fused_{k}.bin"))), read_f32(&dir.join(format!("four_tensor_{k}.bin"))));
        let (r, rel) = agreement(&a, &b);
        assert!(r > 1.0 - 1e-9 && rel < 1e-6, "panel {k}: r = {r}, rel {rel:e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The 4-panel split of SMALL as an experiment.
fn four_panels(dir: &Path) -> Experiment {
    let exp = experiment(SMALL);
    write_json(dir, "four.expt", &split_list(&expt_of(&exp), 32, 3));
    let e = experiment(&format!("-expt {} -default_F 100 -N 3 -oversample 1", dir.join("four.expt").display()));
    assert_eq!(e.panel_count(), 4);
    e
}

#[test]
fn panel_parameters_pass_gradcheck_on_four_panels() {
    use nanobragg::model::{initial_values, Param};
    use nanobragg::refine::{gradcheck::gradcheck, Evaluator, Objective};
    let dir = scratch("panel_grad");
    let exp = four_panels(&dir);
    let mut names: Vec<Param> = (0..4).flat_map(Param::panel).collect();
    names.extend([Param::CellA, Param::MissetY, Param::Pixel, Param::Lambda]);
    let rows = gradcheck(&exp, &names, None, true);
    for r in &rows {
        assert!(r.autodiff.is_finite() && r.autodiff != 0.0, "{}: gradient {}", r.name, r.autodiff);
        assert!(r.rel_error <= 1e-6, "{}: autodiff {:e} vs finite difference {:e} (rel {:e})", r.name, r.autodiff, r.finite_difference, r.rel_error);
    }
    // the tensor path gives the same gradients
    let ev = Evaluator::new(&exp);
    let obj = Objective::Weighted(nanobragg::refine::gradcheck::ramp_weights(&exp, &ev.pixels));
    let values = initial_values(&exp);
    let fused = ev.value_and_grad(&values, &names, &obj);
    let tensor = Evaluator::new(&exp).with_tensor_path().value_and_grad(&values, &names, &obj);
    assert!((fused.0 - tensor.0).abs() <= 1e-10 * fused.0.abs());
    for ((n, a), b) in names.iter().zip(&fused.1).zip(&tensor.1) {
        assert!((a - b).abs() <= 1e-8 * a.abs().max(b.abs()), "{n}: fused {a:e} vs tensor {b:e}");
    }
    // a panel parameter moves its own panel only
    let mut moved = values.clone();
    moved[Param::Panel(2, nanobragg::model::PanelAxis::X)] += 0.3;
    let (before, after) = (ev.image(&values), ev.image(&moved));
    let panel_of = |k: usize| ev.offsets.partition_point(|&o| o <= ev.pixels[k]) - 1;
    let changed: Vec<usize> = (0..ev.pixels.len()).filter(|&k| before[k] != after[k]).collect();
    assert!(!changed.is_empty() && changed.iter().all(|&k| panel_of(k) == 2), "{} pixels changed, some outside panel 2", changed.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_experiment_lists_are_one_line_errors_naming_file_and_field() {
    let dir = scratch("bad_expt");
    let exp = experiment(SMALL);
    let good = expt_of(&exp);
    write_json(&dir, "good.expt", &good);
    let variant = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        write_json(&dir, name, &v);
    };
    std::fs::write(dir.join("malformed.expt"), "{\"detector\": [ {\"panels\": [ }").unwrap();
    variant("nodetector.expt", &|v| {
        v.as_object_mut().unwrap().remove("detector");
        v["experiment"][0].as_object_mut().unwrap().remove("detector");
    });
    variant("zeroaxis.expt", &|v| v["detector"][0]["panels"][0]["slow_axis"] = json!([0.0, 0.0, 0.0]));
    variant("skew.expt", &|v| v["detector"][0]["panels"][0]["fast_axis"] = json!([0.2, 0.9, 0.1]));
    variant("nopanels.expt", &|v| v["detector"][0]["panels"] = json!([]));
    variant("badsize.expt", &|v| v["detector"][0]["panels"][0]["image_size"] = json!([10.5, 3]));
    let cases = [
        ("malformed.expt", "malformed.expt: not a DIALS experiment list"),
        ("nodetector.expt", "nodetector.expt: detector: the experiment list has no detector"),
        ("zeroaxis.expt", "zeroaxis.expt: detector[0].panels[0].slow_axis: zero vector"),
        ("skew.expt", "skew.expt: detector[0].panels[0]: fast_axis and slow_axis are not orthogonal"),
        ("nopanels.expt", "nopanels.expt: detector[0].panels: the detector has no panels"),
        ("badsize.expt", "badsize.expt: detector[0].panels[0].image_size"),
        ("missing.expt", "missing.expt: cannot read file"),
    ];
    for (file, expected) in cases {
        for extra in ["", "-distance 90 "] {
            let out = run_in(&dir, &format!("-expt {file} {extra}-default_F 1 -floatfile out.bin -intfile out.img -noprogress"));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{file}: succeeded");
            assert_eq!(err.trim_end().lines().count(), 1, "{file}: {err}");
            assert!(err.contains(expected), "{file}: expected '{expected}' in: {err}");
            assert!(!dir.join("out.bin").exists() && !dir.join("out.img").exists() && !dir.join("out_0.bin").exists(), "{file}: output left behind");
        }
    }
    // a flag that places a single detector cannot also place the list's panels
    let out = run_in(&dir, "-expt good.expt -distance 90 -default_F 1 -floatfile out.bin -noprogress");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("-distance: cannot be combined with -expt good.expt"), "{err}");
    assert!(!dir.join("out.bin").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_panel_renders_and_differentiates_on_the_gpu_as_on_the_cpu() {
    let Some(dev) = crate::gpu::gpu() else { return };
    use nanobragg::model::{initial_values, Param};
    use nanobragg::refine::{gradcheck::ramp_weights, Evaluator, Objective};
    let dir = scratch("panel_gpu");
    let exp = four_panels(&dir);
    for device in ["cpu", "gpu"] {
        let args = format!("-expt four.expt -default_F 100 -N 3 -oversample 1 -device {device} -floatfile {device}.bin -noprogress");
        // a software driver is what CI has: allow it (the variable of the GPU device's adapter choice)
        let out = std::process::Command::new(bin()).args(args.split_whitespace()).env("NANOBRAGG_GPU_SOFTWARE", "1").current_dir(&dir).output().unwrap();
        assert!(out.status.success(), "{device}: {}", String::from_utf8_lossy(&out.stderr));
    }
    for k in 0..4 {
        let (cpu, gpu) = (read_f32(&dir.join(format!("cpu_{k}.bin"))), read_f32(&dir.join(format!("gpu_{k}.bin"))));
        let (r, rel) = agreement(&cpu, &gpu);
        let sum = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>();
        eprintln!("GPU panel {k}: r = {r:.9}, max rel diff {rel:.2e}");
        assert!(r >= 0.99999 && (sum(&gpu) / sum(&cpu) - 1.0).abs() < 1e-4, "panel {k}: r = {r}");
    }
    let names: Vec<Param> = [0, 3].into_iter().flat_map(Param::panel).collect();
    let cpu = Evaluator::new(&exp);
    let obj = Objective::Weighted(ramp_weights(&exp, &cpu.pixels));
    let values = initial_values(&exp);
    let (_, g64) = cpu.value_and_grad(&values, &names, &obj);
    let (_, g32) = Evaluator::new(&exp).with_target(dev).value_and_grad(&values, &names, &obj);
    for ((a, b), n) in g32.iter().zip(&g64).zip(&names) {
        let rel = (a - b).abs() / b.abs().max(a.abs());
        assert!(rel <= 1e-3, "{n}: GPU {a:e} vs CPU {b:e} (relative {rel:e})");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refinement_recovers_a_moved_panel_with_error_bars() {
    use nanobragg::model::{initial_values, PanelAxis, Param};
    use nanobragg::refine::strategy::{refine_with_strategy, Strategy};
    use nanobragg::refine::{optimize::Optimizer, Evaluator, Loss, Objective};
    let dir = scratch("panel_refine");
    let exp = four_panels(&dir);
    let ev = Evaluator::new(&exp);
    let mut truth = initial_values(&exp);
    let moved = [(Param::Panel(1, PanelAxis::Z), -0.1), (Param::Panel(1, PanelAxis::Y), 0.05), (Param::Panel(3, PanelAxis::RotZ), 0.3)];
    for (p, v) in moved {
        truth[p] = v;
    }
    let obj = Objective::Fit { target: ev.image(&truth), loss: Loss::Gaussian };
    let names: Vec<Param> = moved.iter().map(|m| m.0).collect();
    // the default strategy blurs each panel on its own grid
    let r = refine_with_strategy(&ev, &initial_values(&exp), &names, &obj, &[], 100, Optimizer::Lbfgs, Strategy::Continuation, |_| {});
    for (p, v) in moved {
        assert!((r.values[p] - v).abs() < 1e-5, "{p}: {} vs {v}", r.values[p]);
    }
    let u = ev.uncertainty(&r.values, &names, &obj, &[]).expect("error bars");
    assert!(u.sigma.iter().all(|s| s.is_finite() && *s > 0.0), "{:?}", u.sigma);
    let _ = std::fs::remove_dir_all(&dir);
}
