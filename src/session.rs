//! A render as a library call: a run file's settings in, the float image of every panel and
//! the output files the settings name out. The command line (`run` in main.rs) and the Python
//! module render and write through [`render_panel`] and [`write_images`]; the command line also
//! writes `floatimage.bin` when no float file is named, which a library call does not.

use std::io::Write;

use crate::cli::{self, Options};
use crate::device::{self, Precision, Target};
use crate::error::{Error, Result};
use crate::experiment::{self, Experiment, Notes};
use crate::geometry::Geometry;
use crate::io::cfmt::fmt_g;
use crate::render::{Engine, Renderer};
use crate::trace::Requests;
use crate::{io, output};

/// The resolved settings of one simulation and the experiment they describe.
pub struct Simulation {
    pub options: Options,
    pub experiment: Experiment,
    /// Warnings and remarks from building the experiment.
    pub notes: Notes,
    /// The experiment seen through each panel (empty for one panel: the experiment itself).
    panels: Vec<Experiment>,
    trace_requests: Requests,
}

impl Simulation {
    /// The simulation of a command line's flags (single-dash, as a render takes them).
    pub fn from_flags(argv: &[String]) -> Result<Simulation> {
        Self::from_options(cli::parse(argv)?)
    }

    /// The simulation of a table of settings named as in a run file.
    pub fn from_table(table: &toml::Table) -> Result<Simulation> {
        Self::from_flags(&cli::runfile::flags_from_table(table)?)
    }

    pub fn from_options(options: Options) -> Result<Simulation> {
        let (experiment, notes) = experiment::build(&options)?;
        // a traced pixel off the detector is an error before any work, as on the command line
        let trace_requests = crate::trace::requests(&options, &experiment)?;
        let n = experiment.panel_count();
        if n > 1 && !trace_requests.is_empty() {
            return Err(Error::new("-printout_pixel/-trace_pixel: not available for a multi-panel detector"));
        }
        let panels = if n == 1 { vec![] } else { (0..n).map(|i| experiment.panel(i)).collect() };
        Ok(Simulation { options, experiment, notes, panels, trace_requests })
    }

    /// The experiment of panel `i` alone (the whole experiment for one panel).
    pub fn panel(&self, i: usize) -> &Experiment {
        if self.panels.is_empty() {
            &self.experiment
        } else {
            &self.panels[i]
        }
    }

    /// Size of each panel as (slow, fast) pixels: the float images' array shapes.
    pub fn shapes(&self) -> Vec<(usize, usize)> {
        self.experiment.panels().map(|d| (d.spixels, d.fpixels)).collect()
    }

    /// The device the settings ask for (`-device`, `-precision`).
    pub fn target(&self) -> Result<Target> {
        let o = &self.options;
        if o.gpu {
            if o.precision == Some(Precision::F64) {
                return Err(Error::new("-precision f64: the GPU device renders in float32"));
            }
            return device::Target::gpu();
        }
        Ok(device::Target::cpu(o.precision.unwrap_or(Precision::F64)))
    }

    /// The float image of every panel (photons per pixel, single precision, fast index
    /// fastest), exactly as the command line writes them. Traces the settings ask for
    /// (`-printout`, `-trace_pixel`) are written to `trace_out`.
    pub fn render(&self, trace_out: &mut dyn Write) -> Result<Vec<Vec<f32>>> {
        let dev = self.target()?;
        (0..self.experiment.panel_count()).map(|i| render_panel(&self.options, self.panel(i), &dev, &self.trace_requests, trace_out, |_, _| {})).collect()
    }

    /// The output files the settings name (floatfile, intfile, pgmfile unless nopgm, noisefile
    /// unless nonoise; one per panel), and the HKL file's dump when `dump` is named.
    pub fn named_outputs(&self) -> Vec<String> {
        let o = &self.options;
        let n = self.experiment.panel_count();
        let images = [o.floatfile.as_deref(), o.intfile.as_deref(), o.pgmfile.as_deref().filter(|_| !o.nopgm), o.noisefile.as_deref().filter(|_| !o.nonoise)];
        let mut names: Vec<String> = images.into_iter().flatten().flat_map(|f| (0..n).map(move |i| output::panel_file_name(f, i, n))).collect();
        if let (Some(dump), Some(_)) = (&o.dump, &o.hkl) {
            names.push(dump.clone());
        }
        names
    }

    /// Check, before rendering, that every named output can be written.
    pub fn check_outputs(&self) -> Result<()> {
        output::check_writable(&self.named_outputs().iter().map(String::as_str).collect::<Vec<_>>())?;
        crate::export::check_requests(&self.options, &self.experiment)
    }

    /// Write the named outputs of `images` (from [`Simulation::render`]) in the command line's
    /// formats, with its scales and noise seed.
    pub fn write_outputs(&self, images: &[Vec<f32>]) -> Result<()> {
        let o = &self.options;
        // every named file appears, or none
        io::output_set(|| {
            if let (Some(dump), Some(_), Some(grid)) = (&o.dump, &o.hkl, &self.experiment.structure.grid) {
                io::fdump::write_fdump(&crate::io::osname::path(&dump), grid)?;
            }
            write_images(o, &self.experiment, &self.panels, images, o.floatfile.as_deref(), &mut std::io::sink())
        })
    }
}

/// Render one panel (the whole detector for one panel) as the single-precision float image,
/// printing the traces asked for to `out`.
pub fn render_panel(o: &Options, exp: &Experiment, dev: &Target, trace_requests: &Requests, out: &mut dyn Write, progress: impl FnMut(usize, usize)) -> Result<Vec<f32>> {
    let mut renderer = Renderer::new(exp, dev);
    if let Some(n) = o.chunk_elements {
        renderer = renderer.with_chunk_elements(n);
    }
    // one host thread drives the GPU; on the CPU every core renders its own pixel blocks
    renderer = renderer.with_threads(if o.gpu { 1 } else { o.threads.unwrap_or(0) });
    if o.tensor_engine {
        renderer = renderer.with_engine(Engine::Tensor);
    }
    let params = Geometry::from_experiment(exp, dev);
    // the float image is single precision, as the file and the reference's own buffer are; a
    // trace compares against the float64 values
    let image: Vec<f32> = if trace_requests.is_empty() {
        renderer.render_image_f32(&params, progress)
    } else {
        let image64 = renderer.render_image(&params, progress);
        crate::trace::report(out, exp, trace_requests, &image64);
        image64.iter().map(|&v| v as f32).collect()
    };
    if let Some(i) = image.iter().position(|v| !v.is_finite()) {
        let fp = exp.detector.fpixels;
        return Err(output::not_finite(o, exp, &format!("pixel ({}, {}) of panel {}", i % fp, i / fp, exp.detector.panel)));
    }
    Ok(image)
}

/// Write the float (when `floatfile` is given), integer, PGM and noise images of every panel
/// as the settings ask, logging to `out` as the command line does. `panels` holds the
/// experiment of each panel (empty for one panel).
pub fn write_images(o: &Options, exp: &Experiment, panels: &[Experiment], images: &[Vec<f32>], floatfile: Option<&str>, out: &mut dyn Write) -> Result<()> {
    let n = images.len();
    let panel = |i: usize| if n == 1 { exp } else { &panels[i] };
    let name = |f: &str, i: usize| output::panel_file_name(f, i, n);
    // one set of statistics (and so one integer scale) for the whole detector
    let panel_exps: Vec<&Experiment> = (0..n).map(panel).collect();
    let refs: Vec<&[f32]> = images.iter().map(Vec::as_slice).collect();
    let (stats, offsets) = output::detector_statistics(&panel_exps, &refs);
    let locate = |k: usize| { let i = offsets.partition_point(|&s| s <= k) - 1; (i, k - offsets[i]) };
    for (i, image) in images.iter().enumerate().filter(|_| floatfile.is_some()) {
        let f = name(floatfile.unwrap_or_default(), i);
        io::floatimg::write_float_image(&crate::io::osname::path(&f), image)?;
        let _ = writeln!(out, "writing {} as {} 4-byte floats", io::osname::shown(&f), image.len());
    }
    if n == 1 {
        let _ = writeln!(out, "max_I = {}  at pixel {} {} (fast slow)", fmt_g(stats.max), stats.max_fast, stats.max_slow);
    } else {
        let (i, l) = locate(stats.max_slow * exp.detector.fpixels + stats.max_fast);
        let fp = panel(i).detector.fpixels;
        let _ = writeln!(out, "max_I = {}  at pixel {} {} (fast slow) of panel {i}", fmt_g(stats.max), l % fp, l / fp);
    }
    let _ = writeln!(out, "mean= {} rms= {} rmsd= {}", fmt_g(stats.mean), fmt_g(stats.rms), fmt_g(stats.rmsd));
    let adc = o.adc.unwrap_or(40.0);
    let iscale = output::int_scale(o.scale, &stats);
    let warned = std::cell::Cell::new(false);
    let header = |p: &Experiment| smv_header(o, p, adc, &warned);
    if let Some(intfile) = &o.intfile {
        let _ = writeln!(out, "intfile_scale = {}", fmt_g(iscale));
        for (i, image) in images.iter().enumerate() {
            let (p, f) = (panel(i), name(intfile, i));
            let data = output::int_image(p, image, iscale, adc);
            io::smv::write_smv(&crate::io::osname::path(&f), &header(p), p.detector.fpixels, p.detector.spixels, &data)?;
            let _ = writeln!(out, "writing {} as 2-byte integers", io::osname::shown(&f));
        }
    }
    if let Some(pgmfile) = o.pgmfile.as_deref().filter(|_| !o.nopgm) {
        let pscale = output::pgm_scale(o.pgmscale, iscale, &stats);
        let _ = writeln!(out, "pgm_scale = {}", fmt_g(pscale));
        for (i, image) in images.iter().enumerate() {
            let (p, f) = (panel(i), name(pgmfile, i));
            let bytes = output::pgm_bytes(p, image, pscale);
            io::pgm::write_pgm(&crate::io::osname::path(&f), p.detector.fpixels, p.detector.spixels, pscale, &bytes)?;
            let _ = writeln!(out, "writing {} as 1-byte integers", io::osname::shown(&f));
        }
    }
    // the photons of the noise image, drawn once (one stream over the panels in order) and
    // shared by the SMV noise files and the CBF/NeXus counts
    let mut photons: Option<Vec<Vec<f64>>> = None;
    if let Some(noisefile) = o.noisefile.as_deref().filter(|_| !o.nonoise) {
        let seed = o.seed.map(|s| -s).unwrap_or_else(experiment::crystal::clock_seed);
        let _ = writeln!(out, "noise image seed: {} (repeat with -seed {})", seed, -seed);
        let mut deviates = crate::rng::PoissonDeviates::new(seed);
        let drawn: Vec<Vec<f64>> = images.iter().enumerate().map(|(i, im)| output::poisson_photons_from(panel(i), im, &mut deviates)).collect();
        let noisy: Vec<(Vec<u16>, f64, usize)> = drawn.iter().enumerate().map(|(i, ph)| output::noise_counts(panel(i), ph, adc)).collect();
        let (total, overloads) = noisy.iter().fold((0.0, 0), |(p, o), x| (p + x.1, o + x.2));
        let _ = writeln!(out, "{:.0} photons on noise image ({overloads} overloads)", total);
        for (i, (data, _, _)) in noisy.iter().enumerate() {
            let (p, f) = (panel(i), name(noisefile, i));
            io::smv::write_smv(&crate::io::osname::path(&f), &header(p), p.detector.fpixels, p.detector.spixels, data)?;
            let _ = writeln!(out, "writing {} as 2-byte integers", io::osname::shown(&f));
        }
        photons = Some(drawn);
    }
    for line in crate::export::write_requested(o, exp, &panel_exps, &refs, iscale, adc, photons.as_deref())? {
        let _ = writeln!(out, "{line}");
    }
    Ok(())
}

/// The SMV header of panel `p`: the C program's, or with `-smv_header dials` one that dxtbx
/// reads as we mean it (with a warning where its reader cannot hold the geometry).
fn smv_header(o: &Options, p: &Experiment, adc: f64, warned: &std::cell::Cell<bool>) -> Vec<String> {
    if !o.smv_header_dials {
        return output::smv_header_lines(p);
    }
    let (lines, exact) = output::smv_header_lines_dials(p, adc);
    if !exact && !warned.replace(true) {
        eprintln!("WARNING: -smv_header dials: dxtbx's SMV reader assumes an unrotated detector in the MOSFLM frame; use -cbffile or -nxsfile for this geometry");
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn a_table_renders_as_its_flags_do() {
        let settings = "cell = [70, 80, 90, 90, 90, 90]\ndefault_F = 100\nN = 3\nlambda = 1\ndistance = 50\ndetpixels = 24\npixel = 0.5\n";
        let sim = Simulation::from_table(&table(settings)).unwrap();
        assert_eq!(sim.shapes(), vec![(24, 24)]);
        let images = sim.render(&mut std::io::sink()).unwrap();
        let args: Vec<String> = "-cell 70 80 90 90 90 90 -default_F 100 -N 3 -lambda 1 -distance 50 -detpixels 24 -pixel 0.5".split(' ').map(String::from).collect();
        let flags = Simulation::from_flags(&args).unwrap();
        let dev = Target::cpu(Precision::F64);
        let direct = Renderer::new(&flags.experiment, &dev).render_image_f32(&Geometry::from_experiment(&flags.experiment, &dev), |_, _| {});
        assert_eq!(images, vec![direct]);
        assert!(images[0].iter().any(|&v| v > 0.0));
        assert!(sim.named_outputs().is_empty());
    }

    #[test]
    fn bad_tables_name_the_setting() {
        let e = Simulation::from_table(&table("distanc = 90\n")).err().unwrap();
        assert_eq!(e.0, "unknown setting 'distanc': did you mean distance?");
        let e = Simulation::from_table(&table("cell = [70, 80]\n")).err().unwrap();
        assert!(e.0.starts_with("-cell"), "{e}");
        let e = Simulation::from_table(&table("cell = [70, 80, 90, 90, 90, 90]\ndefault_F = 1\ndetpixels = 8\ntrace_pixel = [9, 1]\n")).err().unwrap();
        assert!(e.0.starts_with("-trace_pixel"), "{e}");
    }
}
