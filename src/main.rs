//! The `nanobragg` command: the C program's flags, the same images.

use std::io::Write;
use std::path::Path;

use nanobragg::experiment::{self, Experiment, RTD};
use nanobragg::error::Result;
use nanobragg::io::cfmt::fmt_g;
use nanobragg::geometry::Geometry;
use nanobragg::render::{statistics, Renderer};
use nanobragg::{cli, device, io, output};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    use nanobragg::refine::commands as sub;
    let result = match args.first().map(String::as_str) {
        Some("gradcheck") => sub::gradcheck_command(&args[1..]).map(|code| {
            if code != 0 {
                std::process::exit(code);
            }
        }),
        Some("refine") => sub::refine_command(&args[1..]),
        Some("grad") => sub::grad_command(&args[1..]),
        Some("render") => run(&args[1..]),
        Some("completions") => top_level(&args),
        // the C program's command line: a render, parsed flag by flag in order (cli::parse)
        Some(a) if a.starts_with('-') && !TOP_LEVEL_FLAGS.contains(&a) => run(&args),
        _ => top_level(&args),
    };
    if let Err(e) = result {
        let _ = std::io::stdout().flush();
        eprintln!("nanobragg: error: {e}");
        std::process::exit(1);
    }
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
        .subcommand(nanobragg::refine::commands::grad_cli())
        .subcommand(nanobragg::refine::commands::gradcheck_cli())
        .subcommand(nanobragg::refine::commands::refine_cli())
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
    let (o, print_config) = cli::runfile::resolve(args)?;
    if print_config {
        print!("{}", cli::runfile::to_toml(&o));
        return Ok(());
    }
    if o.help || args.is_empty() {
        print!("{}", cli::help());
        return Ok(());
    }
    let (exp, notes) = experiment::build(&o)?;
    let trace_requests = nanobragg::trace::requests(&o, &exp)?;
    let wanted = [o.floatfile.as_deref().or(Some("floatimage.bin")), o.intfile.as_deref(), o.pgmfile.as_deref().filter(|_| !o.nopgm), o.noisefile.as_deref().filter(|_| !o.nonoise)];
    output::check_writable(&wanted.into_iter().flatten().collect::<Vec<_>>())?;
    nanobragg::export::check_requests(&o, &exp)?;
    // decide every output name before rendering, so a bad name fails before any work
    let floatfile = o.floatfile.clone().unwrap_or_else(|| "floatimage.bin".to_string());
    let out = std::io::stdout();
    let mut out = out.lock();
    let _ = writeln!(out, "nanobragg (nanoBragg-compatible diffraction simulator)");
    summary(&mut out, &exp);
    for line in &notes.info {
        let _ = writeln!(out, "{line}");
    }
    // warnings go to stderr only: echoing them on stdout showed each twice on a terminal
    for line in &notes.warnings {
        eprintln!("{line}");
    }
    if let (Some(_), Some(grid)) = (&o.hkl, &exp.structure.grid) {
        let dump = o.dump.clone().unwrap_or_else(|| "Fdump.bin".to_string());
        match io::fdump::write_fdump(Path::new(&dump), grid) {
            Ok(()) => {
                let _ = writeln!(out, "writing dump file for next time: {dump}");
            }
            Err(e) => {
                let _ = writeln!(out, "WARNING: {e}");
            }
        }
    }

    let dev = if o.gpu {
        if o.precision == Some(device::Precision::F64) {
            return Err(nanobragg::error::Error::new("-precision f64: the GPU device renders in float32"));
        }
        device::Target::gpu()?
    } else {
        device::Target::cpu(o.precision.unwrap_or(device::Precision::F64))
    };
    let mut renderer = Renderer::new(&exp, &dev);
    if let Some(n) = o.chunk_elements {
        renderer = renderer.with_chunk_elements(n);
    }
    // one host thread drives the GPU; on the CPU every core renders its own pixel blocks
    renderer = renderer.with_threads(if o.gpu { 1 } else { o.threads.unwrap_or(0) });
    if o.tensor_engine {
        renderer = renderer.with_engine(nanobragg::render::Engine::Tensor);
    }
    let params = Geometry::from_experiment(&exp, &dev);
    let mut meter = nanobragg::progress::Meter::new(o.progress);
    // the float image is single precision, as the file and the reference's own buffer are; a
    // trace compares against the float64 values
    let image: Vec<f32> = if trace_requests.is_empty() {
        renderer.render_image_f32(&params, |done, total| meter.update(done, total))
    } else {
        let image64 = renderer.render_image(&params, |done, total| meter.update(done, total));
        nanobragg::trace::report(&mut out, &exp, &trace_requests, &image64);
        image64.iter().map(|&v| v as f32).collect()
    };
    meter.finish();
    if let Some(i) = image.iter().position(|v| !v.is_finite()) {
        let fp = exp.detector.fpixels;
        return Err(nanobragg::error::Error::new(format!("internal error: pixel ({}, {}) is not a finite number; no file written (please report these flags)", i % fp, i / fp)));
    }
    let stats = statistics(&image, exp.detector.fpixels, |i| renderer.is_rendered(i), |i| renderer.in_roi(i));

    io::floatimg::write_float_image(Path::new(&floatfile), &image)?;
    let _ = writeln!(out, "writing {floatfile} as {} 4-byte floats", image.len());
    let _ = writeln!(
        out,
        "max_I = {}  at pixel {} {} (fast slow)",
        fmt_g(stats.max),
        stats.max_fast,
        stats.max_slow
    );
    let _ = writeln!(out, "mean= {} rms= {} rmsd= {}", fmt_g(stats.mean), fmt_g(stats.rms), fmt_g(stats.rmsd));
    let adc = o.adc.unwrap_or(40.0);
    let iscale = output::int_scale(o.scale, &stats);
    let header = if o.smv_header_dials {
        let (lines, exact) = output::smv_header_lines_dials(&exp, adc);
        if !exact && (o.intfile.is_some() || o.noisefile.is_some()) {
            eprintln!("WARNING: -smv_header dials: dxtbx's SMV reader assumes an unrotated detector in the MOSFLM frame; use -cbffile or -nxsfile for this geometry");
        }
        lines
    } else {
        output::smv_header_lines(&exp)
    };
    let (fp, sp) = (exp.detector.fpixels, exp.detector.spixels);
    if let Some(intfile) = &o.intfile {
        let _ = writeln!(out, "intfile_scale = {}", fmt_g(iscale));
        let data = output::int_image(&exp, &image, iscale, adc);
        io::smv::write_smv(Path::new(intfile), &header, fp, sp, &data)?;
        let _ = writeln!(out, "writing {intfile} as 2-byte integers");
    }
    if o.pgmfile.is_some() && !o.nopgm {
        let pgmfile = o.pgmfile.clone().unwrap();
        let pscale = output::pgm_scale(o.pgmscale, iscale, &stats);
        let _ = writeln!(out, "pgm_scale = {}", fmt_g(pscale));
        let bytes = output::pgm_bytes(&exp, &image, pscale);
        io::pgm::write_pgm(Path::new(&pgmfile), fp, sp, pscale, &bytes)?;
        let _ = writeln!(out, "writing {pgmfile} as 1-byte integers");
    }
    let noise_seed = o.seed.map(|s| -s).unwrap_or_else(experiment::crystal::clock_seed);
    if let Some(noisefile) = o.noisefile.clone().filter(|_| !o.nonoise) {
        let seed = noise_seed;
        let _ = writeln!(out, "noise image seed: {} (repeat with -seed {})", seed, -seed);
        let (data, photons, overloads) = output::noise_image(&exp, &image, adc, seed);
        let _ = writeln!(out, "{:.0} photons on noise image ({overloads} overloads)", photons);
        io::smv::write_smv(Path::new(&noisefile), &header, fp, sp, &data)?;
        let _ = writeln!(out, "writing {noisefile} as 2-byte integers");
    }
    for line in nanobragg::export::write_requested(&o, &exp, &[&image], iscale, adc, noise_seed)? {
        let _ = writeln!(out, "{line}");
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
}
