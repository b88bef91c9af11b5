//! The `batch` subcommand: `nanobragg batch --plan FILE`, a thin layer over [`crate::batch`].

use crate::error::Result;

/// The command line of `nanobragg batch`.
pub fn batch_cli() -> clap::Command {
    use clap::{Arg, Command};
    Command::new("batch")
        .about("Render many images from a plan: a rotation series and/or stills, on one process or under MPI (see docs/batch.md)")
        .arg(Arg::new("plan").long("plan").value_name("FILE").required(true).allow_hyphen_values(true).help("The plan (TOML): base flags, shots, output folder and formats"))
        .after_help("Under MPI (a build with --features mpi): mpirun -n 4 nanobragg batch --plan p.toml, or srun nanobragg batch --plan p.toml in a Slurm job. Shot i is the same image whatever the number of processes; rerunning an interrupted batch completes it.")
}

/// `nanobragg batch --plan FILE`.
pub fn batch_command(args: &[String]) -> Result<()> {
    let argv = std::iter::once("nanobragg batch".to_string()).chain(args.iter().cloned()).collect();
    let Some(m) = crate::cli::clap_matches(batch_cli(), argv, "batch")? else { return Ok(()) };
    let path = m.get_one::<String>("plan").expect("required").clone();
    let comm = crate::engine::comm::Comm::init();
    // Ctrl-C or SIGTERM: one line saying how far the batch got and how to resume
    crate::batch::interrupt::install();
    let result = crate::batch::run_plan(&comm, &path);
    comm.finish(result)
}
