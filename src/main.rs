//! The `nanobragg` command: the C program's flags, the same images.

use std::io::Write;

use nanobragg::experiment::{Experiment, RTD};
use nanobragg::error::Result;
use nanobragg::io::cfmt::fmt_g;
use nanobragg::simulation::Simulation;
use nanobragg::{cli, io};

pub fn main() {
    // OS strings: a file name that is not UTF-8 is kept byte for byte (io::osname)
    let args = match io::osname::from_os_args(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => fail(&e),
    };
    use nanobragg::cli::refine as sub;
    let result = match args.first().map(String::as_str) {
        Some("gradcheck") => sub::gradcheck_command(&args[1..]).map(|code| {
            if code != 0 {
                std::process::exit(code);
            }
        }),
        Some("refine") => sub::refine_command(&args[1..]),
        Some("grad") => sub::grad_command(&args[1..]),
        Some("render") => run(&args[1..]),
        Some("batch") => nanobragg::cli::batch::batch_command(&args[1..]),
        Some("nonbragg") => cli::nonbragg::command(&args[1..]),
        Some("noisify") => cli::noisify::command(&args[1..]),
        Some("completions") => top_level(&args),
        // the C program's command line: a render, parsed flag by flag in order (cli::parse)
        Some(a) if a.starts_with('-') && !TOP_LEVEL_FLAGS.contains(&a) => run(&args),
        _ => top_level(&args),
    };
    if let Err(e) = result {
        fail(&e);
    }
}

fn fail(e: &nanobragg::error::Error) -> ! {
    let _ = std::io::stdout().flush();
    nanobragg::say!("nanobragg: error: {}", io::osname::shown(&e.0));
    std::process::exit(1);
}

/// First arguments that belong to the program rather than to a render.
const TOP_LEVEL_FLAGS: [&str; 5] = ["--help", "-h", "-help", "--version", "-V"];

/// The command tree, for help, version and the listing of subcommands. A render's flags are
/// single-dash C flags, handed raw to `cli::parse` (clap cannot spell `-cell` as a long name).
fn app() -> clap::Command {
    use clap::{Arg, Command};
    let render = Command::new("render")
        .about("Render an image (the default: `nanobragg -cell ...` is `nanobragg render -cell ...`)")
        .disable_help_flag(true)
        .override_help(cli::help())
        .arg(Arg::new("flags").num_args(0..).allow_hyphen_values(true).trailing_var_arg(true));
    Command::new("nanobragg")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Absolute-scale X-ray diffraction images of small crystals (nanoBragg-compatible), with gradients")
        .override_usage("nanobragg [render] <simulation flags>\n       nanobragg <COMMAND> <simulation flags> [--options]")
        .subcommand(render)
        .subcommand(nanobragg::cli::refine::grad_cli())
        .subcommand(nanobragg::cli::refine::gradcheck_cli())
        .subcommand(nanobragg::cli::refine::refine_cli())
        .subcommand(nanobragg::cli::batch::batch_cli())
        .subcommand(
            Command::new("nonbragg")
                .about("Amorphous scattering (water, ice, air) from a sin(theta)/lambda table: the C program nonBragg's flags and outputs")
                .disable_help_flag(true)
                .override_help(cli::nonbragg::help())
                .arg(Arg::new("flags").num_args(0..).allow_hyphen_values(true).trailing_var_arg(true)),
        )
        .subcommand(
            Command::new("noisify")
                .about("Detector response of a float image (noisify's flags): PSF, Poisson, gain, readout noise -> SMV")
                .disable_help_flag(true)
                .override_help(cli::noisify::help())
                .arg(Arg::new("flags").num_args(0..).allow_hyphen_values(true).trailing_var_arg(true)),
        )
        .subcommand(
            Command::new("completions")
                .about("Print a shell completion script (e.g. nanobragg completions bash > /etc/bash_completion.d/nanobragg)")
                .arg(Arg::new("shell").required(true).value_parser(clap::value_parser!(clap_complete::Shell))),
        )
        .after_help(format!("Simulation flags (a render's, and every command's):\n\n{}", cli::table::flags_help()))
}

/// No command given: help, version, or an unknown command word.
fn top_level(args: &[String]) -> Result<()> {
    let mut argv = vec!["nanobragg".to_string()];
    argv.extend(args.iter().map(|a| if a == "-help" { "--help".to_string() } else { a.clone() }));
    let Some(m) = cli::clap_matches(app(), argv, "nanobragg")? else { return Ok(()) };
    match m.subcommand() {
        Some(("completions", sm)) => {
            let shell = *sm.get_one::<clap_complete::Shell>("shell").expect("required");
            // a render's flags as words to complete (shells that complete positional values)
            let names: Vec<&'static str> = cli::table::all_names().collect();
            let mut cmd = app().mut_subcommand("render", |c| {
                c.mut_arg("flags", |a| a.value_parser(clap::builder::PossibleValuesParser::new(names)).hide_possible_values(true))
            });
            clap_complete::generate(shell, &mut cmd, "nanobragg", &mut std::io::stdout());
        }
        // nothing asked for: show what can be asked
        _ => {
            let _ = app().print_help();
        }
    }
    Ok(())
}

fn run(args: &[String]) -> Result<()> {
    let (mut cfg, print_config, help) = cli::runfile::resolve(args)?;
    // the printed run file names the seeds this run would draw from the clock
    cfg.resolve_clock_seeds();
    if print_config {
        print!("{}", cli::runfile::to_toml(&cfg));
        return Ok(());
    }
    if help || args.is_empty() {
        print!("{}", cli::help());
        return Ok(());
    }
    let sim = Simulation::from_config(cfg)?;
    // every output name and the device before any work or output: a bad name or a missing GPU
    // adapter must leave no file behind
    sim.check_outputs()?;
    let dev = sim.target()?;
    // said once the run will go ahead (an error's line stays the only line)
    let o = &sim.config.outputs;
    if sim.named_outputs().is_empty() && o.cbf_file.is_none() && o.nexus_file.is_none() && o.expt_file.is_none() {
        nanobragg::say!("WARNING: no output file named (-floatfile, -intfile, -noisefile, -pgmfile, -pngfile, -cbffile, -nxsfile, -write_expt): the image's statistics are printed and nothing is written");
    }
    if let Some(adapter) = dev.adapter_description() {
        nanobragg::say!("GPU adapter: {adapter}");
    }
    let (cfg, exp) = (&sim.config, &sim.experiment);
    let out = std::io::stdout();
    let mut out = out.lock();
    let _ = writeln!(out, "nanobragg (nanoBragg-compatible diffraction simulator)");
    summary(&mut out, exp);
    for line in &sim.notes.info {
        let _ = writeln!(out, "{line}");
    }
    // warnings go to stderr only: echoing them on stdout showed each twice on a terminal
    for line in &sim.notes.warnings {
        nanobragg::say!("{line}");
    }
    let mut meter = nanobragg::cli::progress::Meter::new(cfg.outputs.progress);
    let images = sim.render_on(&dev, &mut out, |done, total| meter.update(done, total))?;
    meter.finish();
    // every requested file appears, or none
    let warnings = io::output_set(|| {
        sim.write_structure_cache(&mut out)?;
        sim.write_images(&images, &mut out)
    })?;
    for w in warnings {
        nanobragg::say!("{w}");
    }
    Ok(())
}

fn summary(out: &mut impl Write, exp: &Experiment) {
    let d = &exp.detector;
    let c = &exp.crystal;
    let b = &exp.beam;
    let s = &exp.sampling;
    let _ = writeln!(out, "{:?} convention, pivot {:?}", d.convention, d.pivot);
    let _ = writeln!(
        out,
        "Unit Cell: {} {} {} {} {} {}",
        fmt_g(c.cell[0]),
        fmt_g(c.cell[1]),
        fmt_g(c.cell[2]),
        fmt_g(c.cell[3]),
        fmt_g(c.cell[4]),
        fmt_g(c.cell[5])
    );
    let _ = writeln!(out, "volume = {} A^3", fmt_g(c.volume));
    let _ = writeln!(out, "  {} sources, {} mosaic domains, {} phi steps, {}x{} sub-pixels, {} detector layers: {} steps",
        b.sources.len(), c.mosaic_umats.len(), c.phisteps, s.oversample, s.oversample, d.thicksteps, s.steps);
    let _ = writeln!(out, "  crystal: {}x{}x{} cells, shape {:?}", c.na, c.nb, c.nc, c.shape);
    let _ = writeln!(out, "  wave={} meters +/- {}% in {} steps", fmt_g(b.lambda0), fmt_g(b.dispersion * 100.0), b.dispsteps);
    if b.nopolar {
        let _ = writeln!(out, "  polarization effect disabled");
    } else {
        let _ = writeln!(out, "  Kahn polarization factor: {:.6}", b.kahn_factor);
    }
    let _ = writeln!(out, "  incident fluence: {} photons/m^2", fmt_g(b.fluence));
    let _ = writeln!(
        out,
        "  distance={} detsize={}x{}  pixel={} meters ({}x{} pixels)",
        fmt_g(d.distance),
        fmt_g(d.detsize_f),
        fmt_g(d.detsize_s),
        fmt_g(d.pixel_size),
        d.fpixels,
        d.spixels
    );
    let _ = writeln!(out, "  Xbeam={} Ybeam={}", fmt_g(d.xbeam), fmt_g(d.ybeam));
    let _ = writeln!(out, "  Fbeam={} Sbeam={}", fmt_g(d.fbeam), fmt_g(d.sbeam));
    let _ = writeln!(out, "  Fclose={} Sclose={}", fmt_g(d.fclose), fmt_g(d.sclose));
    let _ = writeln!(out, "  dials origin= {} {} {}", fmt_g(d.dials_origin[0]), fmt_g(d.dials_origin[1]), fmt_g(d.dials_origin[2]));
    let _ = writeln!(out, "  {} phi steps from {} to {} degrees", c.phisteps, fmt_g(c.phi0 * RTD), fmt_g((c.phi0 + c.osc) * RTD));
    if exp.panel_count() > 1 {
        let _ = writeln!(out, "  {} panels (the distance and beam centre above are panel 0's):", exp.panel_count());
        for p in exp.panels() {
            let _ = writeln!(out, "    panel {} '{}': {}x{} pixels, dials origin= {} {} {} mm, close distance {} m", p.panel, p.name, p.fpixels, p.spixels, fmt_g(p.dials_origin[0]), fmt_g(p.dials_origin[1]), fmt_g(p.dials_origin[2]), fmt_g(p.close_distance));
        }
    }
}
