//! Refinement example: simulate a "measured" image of a triclinic crystal with Poisson noise,
//! then recover cell lengths, missetting angles, distance and beam centre from a model that
//! starts 1% / 0.5 deg / 1 mm / 2 pixels away.
//!
//!     cargo run --release --example refine_triclinic

use nanobragg::model::initial_values;
use nanobragg::refine::optimize::{refine, Optimizer};
use nanobragg::refine::{Evaluator, Loss, Objective};
use nanobragg::physics::rng::PoissonDeviates;

fn experiment(args: &str) -> nanobragg::experiment::Experiment {
    let o = nanobragg::cli::parse(&args.split_whitespace().map(String::from).collect::<Vec<_>>()).expect("flags");
    nanobragg::experiment::build(&o).expect("experiment").0
}

fn main() {
    let common = "-default_F 100 -N 5 -lambda 1.0 -pixel 0.1 -detpixels 128 -oversample 1 -fluence 1e30";
    let truth = experiment(&format!("-cell 70 80 90 75 85 95 -misset 10 20 30 -distance 100 -Xbeam 6.45 -Ybeam 6.45 {common}"));
    let start = experiment(&format!("-cell 70.7 80.8 90.9 75 85 95 -misset 10.5 20.5 29.5 -distance 101 -Xbeam 6.65 -Ybeam 6.25 {common}"));

    // the measured image: the true model with Poisson noise
    let clean = Evaluator::new(&truth).image(&initial_values(&truth));
    let mut noise = PoissonDeviates::new(-2024);
    let measured: Vec<f64> = clean.iter().map(|&v| noise.poidev(v as f32) as f64).collect();

    let names: Vec<nanobragg::model::Param> = ["cell_a", "cell_b", "cell_c", "misset_x", "misset_y", "misset_z", "distance", "beam_x", "beam_y"]
        .iter()
        .map(|s| nanobragg::model::Param::from_name(s).unwrap())
        .collect();
    let ev = Evaluator::new(&start);
    let obj = Objective::Fit { target: measured, loss: Loss::Poisson };
    let result = refine(&ev, &initial_values(&start), &names, &obj, &[], 200, Optimizer::Lbfgs, |it, loss, _| {
        if it % 10 == 0 {
            println!("iteration {it:3}: loss {loss:.6}");
        }
    });
    let want = initial_values(&truth);
    println!("\n{:<10} {:>12} {:>12} {:>12}", "parameter", "start", "refined", "true");
    for &n in &names {
        println!("{:<10} {:>12.5} {:>12.5} {:>12.5}", n, initial_values(&start)[n], result.values[n], want[n]);
    }
    println!("\n{} iterations, final loss {:.6}", result.iterations, result.loss);
}
