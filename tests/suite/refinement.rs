//! Refinement recovers the parameters of an image made by the C reference program.

use crate::common::*;
use serde_json::Value;

#[test]
fn refine_recovers_geometry_from_a_c_reference_image() {
    let Some(golden) = golden_dir() else { return };
    let target = golden.join("tri_basic/float.bin");
    // truth: -cell 70 80 90 75 85 95 -misset 10 20 30 -distance 100, MOSFLM beam centre 6.45 mm,
    // built the reference's way (-legacy_cell); start: lengths +1%, missets +-0.5 deg, distance
    // +1 mm, beam centre 2 pixels off
    let dir = scratch("refine");
    let args = format!(
        "refine -legacy_cell -cell 70.7 80.8 90.9 75 85 95 -misset 10.5 20.5 29.5 -default_F 100 -N 5 -lambda 1.0 -distance 101 -pixel 0.1 -detpixels 128 -oversample 1 -Xbeam 6.65 -Ybeam 6.25 --target {} --refine cell_a,cell_b,cell_c,misset_x,misset_y,misset_z,distance,beam_x,beam_y --steps 100 --out result.json",
        target.display()
    );
    let out = run_in(&dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(json, saved);
    let p = &json["params"];
    let get = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("{k} missing"));
    for (k, truth) in [("cell_a", 70.0), ("cell_b", 80.0), ("cell_c", 90.0)] {
        assert!((get(k) / truth - 1.0).abs() < 5e-4, "{k} = {}", get(k));
    }
    for (k, truth) in [("misset_x", 10.0), ("misset_y", 20.0), ("misset_z", 30.0)] {
        assert!((get(k) - truth).abs() < 0.01, "{k} = {}", get(k));
    }
    assert!((get("distance") - 100.0).abs() < 0.05, "distance = {}", get("distance"));
    // beam centre within 0.05 pixel (0.005 mm)
    assert!((get("beam_x") - 6.45).abs() < 0.005, "beam_x = {}", get("beam_x"));
    assert!((get("beam_y") - 6.45).abs() < 0.005, "beam_y = {}", get("beam_y"));
    assert!(json["iterations"].as_u64().unwrap() > 0);
    assert!(json["loss"].as_f64().unwrap().is_finite());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refine_rejects_bad_options() {
    let dir = scratch("refine_bad");
    for (args, needle) in [
        ("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --refine cell_a", "--target"),
        ("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --target x.bin --refine cell_z", "cell_z"),
        ("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --target missing.bin --refine cell_a", "missing.bin"),
        ("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --target x.bin --refine cell_a --loss l1", "--loss"),
    ] {
        let out = run_in(&dir, args);
        assert!(!out.status.success(), "{args}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The Fisher information from the fused kernel's exact per-pixel gradients equals the one
/// from a finite-difference Jacobian of the image (Poisson weights).
#[test]
fn fisher_information_matches_a_finite_difference_jacobian() {
    use nanobragg::model::{initial_values, Param};
    use nanobragg::refine::{Evaluator, Loss, Objective};
    let exp = crate::common::experiment("-cell 40 50 60 80 95 105 -misset 5 10 15 -default_F 10 -N 4 -lambda 1 -distance 30 -pixel 0.1 -detpixels 24 -mosaic 0.4 -mosaic_domains 3 -phi 1 -osc 0.5 -phisteps 2 -polar 0.9");
    let ev = Evaluator::new(&exp);
    let values = initial_values(&exp);
    let model = ev.image(&values);
    let obj = Objective::Fit { target: model.clone(), loss: Loss::Poisson };
    let names = [Param::CellA, Param::MissetZ, Param::Distance, Param::BeamX, Param::Mosaic, Param::Na];
    let fisher = ev.fisher_information(&values, &names, &obj).unwrap();
    let jac: Vec<Vec<f64>> = names
        .iter()
        .map(|&p| {
            let central = |h: f64| -> Vec<f64> {
                let (mut up, mut down) = (values.clone(), values.clone());
                up[p] += h;
                down[p] -= h;
                let (a, b) = (ev.image(&up), ev.image(&down));
                a.iter().zip(&b).map(|(x, y)| (x - y) / (2.0 * h)).collect()
            };
            // Richardson extrapolation of two central differences
            let h = p.info().fd_step * 0.25;
            let (d1, d2) = (central(h), central(h / 2.0));
            d1.iter().zip(&d2).map(|(a, b)| (4.0 * b - a) / 3.0).collect()
        })
        .collect();
    for i in 0..names.len() {
        for j in 0..names.len() {
            let fd: f64 = (0..model.len()).map(|p| jac[i][p] * jac[j][p] / (model[p] + 1e-3)).sum();
            let scale = (fisher[i][i] * fisher[j][j]).sqrt();
            assert!((fisher[i][j] - fd).abs() <= 1e-5 * scale, "{} {}: {} vs {fd}", names[i], names[j], fisher[i][j]);
        }
    }
    // a weighted sum is not a likelihood
    assert!(ev.fisher_information(&values, &names, &Objective::Weighted(vec![1.0; model.len()])).is_none());
}

/// `refine` reports standard errors and a correlation matrix, and on a noisy target the
/// estimates lie within a few standard errors of the truth.
#[test]
fn refine_reports_error_bars() {
    let dir = crate::common::scratch("errbars");
    let sim = "-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.2 -detpixels 96 -oversample 1";
    let render = crate::common::run_in(&dir, &format!("{sim} -noisefile n.img -seed 5 -adc 0 -nopgm"));
    assert!(render.status.success(), "{}", String::from_utf8_lossy(&render.stderr));
    let out = crate::common::run_in(&dir, &format!("refine {sim} -misset 10.2 20 29.9 --target n.img --adc 0 --refine cell_a,misset_x,misset_z,distance --out r.json"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("r.json")).unwrap()).unwrap();
    let truth = [("cell_a", 70.0), ("misset_x", 10.0), ("misset_z", 30.0), ("distance", 100.0)];
    for (name, t) in truth {
        let (v, s) = (r["params"][name].as_f64().unwrap(), r["sigma"][name].as_f64().unwrap());
        assert!(s > 0.0 && s.is_finite(), "{name}: sigma {s}");
        assert!((v - t).abs() <= 5.0 * s, "{name}: {v} vs truth {t}, sigma {s}");
    }
    let names: Vec<&str> = r["correlation"]["names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names, ["cell_a", "misset_x", "misset_z", "distance"]);
    let m = r["correlation"]["matrix"].as_array().unwrap();
    for i in 0..4 {
        assert!((m[i][i].as_f64().unwrap() - 1.0).abs() < 1e-12);
        for j in 0..4 {
            let (a, b) = (m[i][j].as_f64().unwrap(), m[j][i].as_f64().unwrap());
            assert!((a - b).abs() < 1e-12 && a.abs() <= 1.0 + 1e-12);
        }
    }
}

/// Restraints pull a parameter toward a prior, bounds keep parameters physical, the loss
/// history is reported, and bad restraints or a target with the wrong ADC offset are refused.
#[test]
fn restraints_bounds_history_and_target_checks() {
    let dir = scratch("restrain");
    let sim = "-cell 50 60 70 90 90 90 -misset 3 4 5 -default_F 100 -N 4 -lambda 1 -distance 60 -pixel 0.2 -detpixels 48 -oversample 1";
    let render = run_in(&dir, &format!("{sim} -noisefile n.img -seed 3 -adc 0 -nopgm"));
    assert!(render.status.success());
    // a tight prior on cell_a far from the truth wins over the data; without it, the data wins
    let run = |extra: &str| -> Value {
        let out = run_in(&dir, &format!("refine {sim} -cell 50.3 60 70 90 90 90 --target n.img --adc 0 --refine cell_a,misset_z {extra}"));
        assert!(out.status.success(), "{extra}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let free = run("");
    let held = run("--restrain cell_a=50.5,0.0001");
    let a_free = free["params"]["cell_a"].as_f64().unwrap();
    let a_held = held["params"]["cell_a"].as_f64().unwrap();
    let s_free = free["sigma"]["cell_a"].as_f64().unwrap();
    assert!((a_free - 50.0).abs() < 4.0 * s_free, "{a_free} +- {s_free}");
    assert!((a_held - 50.5).abs() < 0.001, "{a_held}");
    // the restraint shows in the error bar: sigma no larger than the prior's
    assert!(held["sigma"]["cell_a"].as_f64().unwrap() <= 0.0001 * (1.0 + 1e-9));
    // history: the starting loss, then one value per iteration of every stage; within the fine
    // and plain stages it never increases (line search); the loss is the lower of their ends
    let h: Vec<f64> = free["history"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(free["stage_history"].as_array().unwrap().len(), nanobragg::refine::strategy::CRYSTAL_STAGES.len(), "the continuation stages run by default");
    assert_eq!(h.len(), free["iterations"].as_u64().unwrap() as usize + 1);
    let mut at = 1;
    let mut ends = vec![];
    for stage in free["stages"].as_array().unwrap() {
        let n = stage["iterations"].as_u64().unwrap() as usize;
        let mut run = vec![stage["start_loss"].as_f64().unwrap()];
        run.extend(&h[at..at + n]);
        at += n;
        assert_eq!(*run.last().unwrap(), stage["loss"].as_f64().unwrap(), "{stage}");
        // (a crystal-size stage minimises another crystal's loss: the user's may rise there)
        if ["fine", "plain"].contains(&stage["stage"].as_str().unwrap()) {
            assert!(run.windows(2).all(|w| w[1] <= w[0]), "{stage}");
            ends.push(*run.last().unwrap());
        }
    }
    assert_eq!(at, h.len());
    assert_eq!(ends.iter().copied().fold(f64::INFINITY, f64::min), free["loss"].as_f64().unwrap());
    // the residual image at the optimum: float image of the detector's size and a PNG beside it
    let res = run_in(&dir, &format!("refine {sim} --target n.img --adc 0 --refine cell_a --residual res.bin"));
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let r = read_f32(&dir.join("res.bin"));
    assert_eq!(r.len(), 48 * 48);
    let rms = (r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
    assert!(rms > 0.5 && rms < 1.5, "deviance residual rms {rms} (photon noise gives about 1)");
    let png_size = |name: &str| {
        let reader = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(dir.join(name)).unwrap())).read_info().unwrap();
        (reader.info().width, reader.info().height)
    };
    // the start's residual, a white column, the optimum's
    assert_eq!(png_size("res.png"), (48 + 1 + 48, 48));
    // a crop of 24 x 24 pixels in bins of 4: 6 x 6 per side
    let res = run_in(&dir, &format!("refine {sim} --target n.img --adc 0 --refine cell_a --steps 3 --residual crop.bin --residual-crop 0,23,8,31 --residual-bin 4"));
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(png_size("crop.png"), (6 + 1 + 6, 6));
    for (view, needle) in [("--residual-crop 0,48,0,10", "beyond the 48 x 48 detector"), ("--residual-crop 5,4,0,1", "min <= max"), ("--residual-bin 0", "--residual-bin")] {
        let bad = run_in(&dir, &format!("refine {sim} --target n.img --adc 0 --refine cell_a --steps 1 --residual bad.bin {view}"));
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(!bad.status.success() && err.lines().last().is_some_and(|l| l.starts_with("nanobragg: error:") && l.contains(needle)), "{view}: {err}");
        assert!(!dir.join("bad.bin").exists() && !dir.join("bad.png").exists(), "{view}");
    }
    // a crystal size refined toward zero stays positive
    let shrink = run_in(&dir, &format!("refine {sim} -N 4 --target n.img --adc 0 --refine Na --restrain Na=-5,0.01 --steps 30"));
    assert!(shrink.status.success(), "{}", String::from_utf8_lossy(&shrink.stderr));
    let j: Value = serde_json::from_slice(&shrink.stdout).unwrap();
    assert!(j["params"]["Na"].as_f64().unwrap() > 0.0);
    for (args, needle) in [
        (format!("refine {sim} --target n.img --adc 0 --refine cell_a --restrain cell_a=50,0"), "sigma"),
        (format!("refine {sim} --target n.img --adc 0 --refine cell_a --restrain cell_a=50"), "name=value,sigma"),
        (format!("refine {sim} --target n.img --adc 0 --refine cell_a --restrain cell_q=50,1"), "cell_q"),
        // the image was written with -adc 0; the default --adc 40 would make it mostly negative
        (format!("refine {sim} --target n.img --refine cell_a"), "n.img"),
    ] {
        let out = run_in(&dir, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
        assert!(errors.len() == 1 && errors[0].contains(needle), "{args}: {err}");
    }
}

/// `refine --plan`: a one-image plan gives the single-image answer; five frames of a rotation
/// series share the detector and pin the distance down better than one frame; bad plans are
/// refused with one line naming the problem and no output.
#[test]
fn joint_refinement_from_a_plan() {
    let dir = scratch("plan");
    let common = "-cell 60 70 80 85 95 100 -misset 5 10 15 -default_F 100 -N 5 -lambda 1 -pixel 0.2 -detpixels 96 -oversample 1 -distance 100 -osc 1";
    for k in 0..5 {
        let out = run_in(&dir, &format!("{common} -phi {} -noisefile f{k}.img -seed {} -adc 0 -nopgm", 2 * k + 1, 11 + k));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // the starting model: distance 1 mm off, beam centre 1 pixel off, missets 0.1 deg off
    let start = "-cell 60 70 80 85 95 100 -misset 5.1 9.9 15.1 -default_F 100 -N 5 -lambda 1 -pixel 0.2 -detpixels 96 -oversample 1 -distance 101 -osc 1 -Xbeam 9.9 -Ybeam 9.5";
    let plan = |images: &[usize], extra: &str| -> String {
        let mut t = format!("flags = \"{start}\"\nadc = 0\nshared = [\"distance\", \"beam_x\", \"beam_y\"]\nper_image = [\"misset_x\", \"misset_y\", \"misset_z\"]\n{extra}\n");
        for &k in images {
            t += &format!("[[image]]\ntarget = \"f{k}.img\"\nflags = \"-phi {}\"\n", 2 * k + 1);
        }
        t
    };
    let run = |name: &str, text: &str, extra: &str| -> Value {
        std::fs::write(dir.join(name), text).unwrap();
        let out = run_in(&dir, &format!("refine --plan {name} {extra}"));
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let one = run("one.toml", &plan(&[0], ""), "");
    let single = run_in(&dir, &format!("refine {start} -phi 1 --target f0.img --adc 0 --refine distance,beam_x,beam_y,misset_x,misset_y,misset_z"));
    assert!(single.status.success());
    let single: Value = serde_json::from_slice(&single.stdout).unwrap();
    for n in ["distance", "beam_x", "beam_y"] {
        let (a, b) = (one["params"][n].as_f64().unwrap(), single["params"][n].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-10 * b.abs(), "{n}: plan {a} vs single {b}");
        let (sa, sb) = (one["sigma"][n].as_f64().unwrap(), single["sigma"][n].as_f64().unwrap());
        assert!((sa - sb).abs() <= 1e-6 * sb, "{n}: sigma {sa} vs {sb}");
    }
    for n in ["misset_x", "misset_y", "misset_z"] {
        let (a, b) = (one["images"][0]["params"][n].as_f64().unwrap(), single["params"][n].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-10 * b.abs(), "{n}: plan {a} vs single {b}");
    }
    assert!((one["loss"].as_f64().unwrap() - single["loss"].as_f64().unwrap()).abs() <= 1e-10 * single["loss"].as_f64().unwrap().abs());
    assert_eq!(one["history"].as_array().unwrap().len(), single["history"].as_array().unwrap().len());
    let stage_steps = |r: &Value| -> Vec<(String, u64)> { r["stages"].as_array().unwrap().iter().map(|s| (s["stage"].as_str().unwrap().to_string(), s["iterations"].as_u64().unwrap())).collect() };
    assert_eq!(stage_steps(&one), stage_steps(&single));
    let five = run("five.toml", &plan(&[0, 1, 2, 3, 4], ""), "");
    // the default strategy's stages, one history value per iteration
    let stages: Vec<&str> = five["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["crystal 1/3", "crystal 2/3", "fine", "plain"]);
    assert_eq!(five["history"].as_array().unwrap().len(), five["iterations"].as_u64().unwrap() as usize + 1);
    let (d, sd) = (five["params"]["distance"].as_f64().unwrap(), five["sigma"]["distance"].as_f64().unwrap());
    let sd1 = one["sigma"]["distance"].as_f64().unwrap();
    assert!(sd <= 0.6 * sd1, "joint sigma {sd} vs single-frame {sd1}");
    assert!((d - 100.0).abs() <= 3.0 * sd, "distance {d} +- {sd}");
    assert_eq!(five["images"].as_array().unwrap().len(), 5);
    assert!(five["images"][4]["sigma"]["misset_z"].as_f64().unwrap() > 0.0);
    // bad plans
    std::fs::write(dir.join("small.img"), b"").unwrap();
    for (name, text, needle) in [
        ("missing.toml", None, "missing.toml"),
        ("malformed.toml", Some("flags = \"-cell 60\"\n[[image]\n".to_string()), "malformed.toml"),
        ("unknown_key.toml", Some(plan(&[0], "colour = 3")), "colour"),
        ("unknown_param.toml", Some(plan(&[0], "").replace("\"beam_y\"", "\"beam_q\"")), "beam_q"),
        ("bad_restraint.toml", Some(plan(&[0], "[restrain]\ndistance = [100.0, 0.0]")), "sigma"),
        ("wrong_size.toml", Some(plan(&[0], "").replace("f0.img", "small.img")), "small.img"),
    ] {
        if let Some(t) = text {
            std::fs::write(dir.join(name), t).unwrap();
        }
        let out = run_in(&dir, &format!("refine --plan {name} --out bad.json"));
        let err = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
        assert!(!out.status.success(), "{name}");
        assert!(errors.len() == 1 && errors[0].contains(needle), "{name}: {err}");
        assert!(!dir.join("bad.json").exists(), "{name}: output written");
    }
}

/// From random starts (+-1% cell lengths, +-0.5 deg missets, +-1 mm distance, +-2 pixels beam
/// centre) refinement reaches the optimum of a refinement started at the truth: the same loss
/// within 1.0 and every parameter within 0.1 sigma (reports/refinement.md has 20 starts each on
/// C-made targets).
#[test]
fn random_starts_reach_the_truth_started_optimum() {
    use nanobragg::model::{initial_values, Param};
    use nanobragg::refine::optimize::{refine, Optimizer};
    use nanobragg::refine::strategy::{refine_with_strategy, Strategy};
    use nanobragg::refine::{Evaluator, Loss, Objective};
    let dir = scratch("starts");
    let truth = "-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.2 -detpixels 128 -oversample 1";
    let out = run_in(&dir, &format!("{truth} -noisefile n.img -seed 7 -adc 0 -nopgm"));
    assert!(out.status.success());
    let img = nanobragg::io::smv::read_smv(&dir.join("n.img")).unwrap();
    let target: Vec<f64> = img.data.iter().map(|&v| v as f64).collect();
    // a small deterministic generator for the starts
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut uniform = |lo: f64, hi: f64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lo + (hi - lo) * (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let crystal = [Param::CellA, Param::CellB, Param::CellC, Param::MissetX, Param::MissetY, Param::MissetZ];
    let detector = [Param::Distance, Param::BeamX, Param::BeamY];
    let exp = crate::common::experiment(truth);
    let ev = Evaluator::new(&exp);
    let obj = Objective::Fit { target: ev.pixels.iter().map(|&i| target[i]).collect(), loss: Loss::Poisson };
    let truth_values = initial_values(&exp);
    for names in [&crystal[..], &detector[..]] {
        let best = refine(&ev, &truth_values, names, &obj, &[], 200, Optimizer::Lbfgs, |_, _, _| {});
        let sigma = ev.uncertainty(&best.values, names, &obj, &[]).unwrap().sigma;
        for start_no in 0..3 {
            let mut start = truth_values.clone();
            for &p in names {
                start[p] += match p {
                    Param::CellA | Param::CellB | Param::CellC => truth_values[p] * uniform(-0.01, 0.01),
                    Param::Distance => uniform(-1.0, 1.0),
                    Param::BeamX | Param::BeamY => uniform(-0.4, 0.4),
                    _ => uniform(-0.5, 0.5),
                };
            }
            // the default strategy (continuation, then the better of its end and a plain fit's)
            let r = refine_with_strategy(&ev, &start, names, &obj, &[], 200, Optimizer::Lbfgs, Strategy::Continuation, |_| {});
            assert!(r.loss - best.loss <= 1.0, "start {start_no}: loss {} vs {}", r.loss, best.loss);
            for (k, &p) in names.iter().enumerate() {
                assert!((r.values[p] - best.values[p]).abs() <= 0.1 * sigma[k], "start {start_no}: {p} {} vs {} (sigma {})", r.values[p], best.values[p], sigma[k]);
            }
        }
    }
}

/// Shared structure factors in `refine --plan`: from F values 20% off, noise-free stills pull
/// the recorded reflections toward the truth (the restraint holds the unrecorded ones at their
/// start), and a bad `[structure_factors]` table is refused.
#[test]
fn shared_structure_factors_move_toward_the_truth() {
    let dir = scratch("shared_f");
    let (mut truth, mut start) = (String::new(), String::new());
    let mut state = 12345u64;
    let mut uniform = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut true_f = std::collections::BTreeMap::new();
    for h in -7..=7 {
        for k in -7..=7 {
            for l in -7..=7 {
                let f = 50.0 + 100.0 * uniform();
                let f0 = f * (0.8 + 0.4 * uniform());
                truth += &format!("{h} {k} {l} {f:.3}\n");
                start += &format!("{h} {k} {l} {f0:.3}\n");
                true_f.insert((h, k, l), format!("{f:.3}").parse::<f64>().unwrap());
            }
        }
    }
    std::fs::write(dir.join("true.hkl"), truth).unwrap();
    std::fs::write(dir.join("start.hkl"), start).unwrap();
    let common = "-cell 60 70 80 85 95 100 -N 5 -lambda 1 -pixel 0.2 -detpixels 64 -oversample 1 -distance 80 -fluence 1e29";
    let missets = ["5 10 15", "40 -20 7", "-33 62 100"];
    let mut plan = format!("flags = \"{common} -hkl start.hkl\"\nsteps = 40\n[structure_factors]\nd_min = 6\nsigma = 40\n");
    for (k, m) in missets.iter().enumerate() {
        let out = run_in(&dir, &format!("{common} -hkl true.hkl -misset {m} -floatfile t{k}.bin -nonoise -nopgm"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        plan += &format!("[[image]]\ntarget = \"t{k}.bin\"\nflags = \"-misset {m}\"\n");
    }
    std::fs::write(dir.join("f.toml"), &plan).unwrap();
    let out = run_in(&dir, "refine --plan f.toml --strategy plain");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json["structure_factors"]["h_k_l_start_refined"].as_array().unwrap();
    assert!(rows.len() > 100);
    let (mut e0, mut e1, mut moved) = (0.0, 0.0, 0);
    for r in rows {
        let v: Vec<f64> = r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let t = true_f[&(v[0] as i32, v[1] as i32, v[2] as i32)];
        if (v[4] - v[3]).abs() > 1.0 {
            moved += 1;
            e0 += (v[3] - t).powi(2);
            e1 += (v[4] - t).powi(2);
        }
    }
    assert!(moved >= 20, "only {moved} structure factors moved");
    assert!(e1 < 0.5 * e0, "the moved structure factors did not approach the truth: squared error {e0} -> {e1}");
    for (bad, needle) in [("d_min = 6", "d_min = 0"), ("sigma = 40", "sigma = 0"), ("d_min = 6", "d_min = 500")] {
        std::fs::write(dir.join("bad.toml"), plan.replace(bad, needle)).unwrap();
        let out = run_in(&dir, "refine --plan bad.toml");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("bad.toml: structure_factors:"), "{needle}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
