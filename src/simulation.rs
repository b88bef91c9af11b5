//! The one simulation facade: a render as a library call, settings in, the float image of
//! every panel and the output files the settings name out. The command line (`run` in
//! main.rs), the Python module and batch render through it. Only the files the settings name
//! are written (the C program always writes `floatimage.bin` and `Fdump.bin`).

use std::io::Write;

use crate::config::{self, Config};
use crate::engine::device::{self, Precision, Target};
use crate::error::{Error, Result};
use crate::experiment::{self, Experiment, Notes};
use crate::model::geometry::Geometry;
use crate::io::cfmt::fmt_g;
use crate::engine::render::Renderer;
use crate::engine::trace::Requests;
use crate::io;
use crate::io::products;

/// The resolved settings of one simulation and the experiment they describe.
pub struct Simulation {
    pub config: Config,
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
        Self::from_config(config::parse(argv)?)
    }

    /// The simulation of a table of settings named as in a run file.
    pub fn from_table(table: &toml::Table) -> Result<Simulation> {
        Self::from_flags(&config::runfile::flags_from_table(table)?)
    }

    /// The simulation of a typed configuration (checked first: a configuration made in code
    /// has not been through the flag parser's checks).
    pub fn from_config(mut config: Config) -> Result<Simulation> {
        config.validate()?;
        // a clock-drawn seed is fixed here, so that the configuration repeats the run
        config.resolve_clock_seeds();
        let (experiment, notes) = experiment::build(&config)?;
        // a traced pixel off the detector is an error before any work, as on the command line
        let trace_requests = crate::engine::trace::requests(&config, &experiment)?;
        let n = experiment.panel_count();
        if n > 1 && !trace_requests.is_empty() {
            return Err(Error::new("-printout_pixel/-trace_pixel: not available for a multi-panel detector"));
        }
        if config.response.is_set() {
            if n > 1 {
                return Err(Error::new("-psf/-gain/-calibration/-readout_noise/-flicker: the detector response takes a one-panel detector"));
            }
            if let Some(seed) = config.outputs.seed.filter(|s| i32::try_from(*s).is_err()) {
                return Err(Error::new(format!("-seed: {seed} does not fit the 32-bit seed of the detector response's noise (-2147483648 to 2147483647)")));
            }
        }
        let panels = if n == 1 { vec![] } else { (0..n).map(|i| experiment.panel(i)).collect() };
        Ok(Simulation { config, experiment, notes, panels, trace_requests })
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

    /// The device the settings ask for (`-device`, `-precision`), checked against the engine
    /// they ask for (`-engine`).
    pub fn target(&self) -> Result<Target> {
        let cfg = &self.config;
        let dev = if cfg.engine.gpu {
            if cfg.engine.precision == Some(Precision::F64) {
                return Err(Error::new("-precision f64: the GPU device renders in float32"));
            }
            device::Target::gpu(cfg.engine.gpu_software)?
        } else {
            device::Target::cpu(cfg.engine.precision.unwrap_or(Precision::F64))
        };
        cfg.engine.engine.resolve(&dev)?;
        Ok(dev)
    }

    /// The float image of every panel (photons per pixel, single precision, fast index
    /// fastest), exactly as the command line writes them. Traces the settings ask for
    /// (`-printout`, `-trace_pixel`) are written to `trace_out`.
    pub fn render(&self, trace_out: &mut dyn Write) -> Result<Vec<Vec<f32>>> {
        self.render_on(&self.target()?, trace_out, |_, _| {})
    }

    /// As [`Simulation::render`], on a device chosen before (see [`Simulation::target`]), with
    /// `progress(done, total)` over the pixels of every panel.
    pub fn render_on(&self, dev: &Target, trace_out: &mut dyn Write, mut progress: impl FnMut(usize, usize)) -> Result<Vec<Vec<f32>>> {
        let total: usize = self.experiment.panels().map(|d| d.fpixels * d.spixels).sum();
        let mut done_before = 0;
        let mut images = Vec::with_capacity(self.experiment.panel_count());
        for i in 0..self.experiment.panel_count() {
            let image = render_panel(&self.config, self.panel(i), dev, &self.trace_requests, trace_out, |done, _| progress(done_before + done, total))?;
            done_before += image.len();
            images.push(image);
        }
        Ok(images)
    }

    /// The output files the settings name (floatfile, intfile, pgmfile unless nopgm, pngfile,
    /// noisefile unless nonoise; one per panel), and the HKL file's dump when `dump` is named.
    pub fn named_outputs(&self) -> Vec<String> {
        let cfg = &self.config;
        let n = self.experiment.panel_count();
        let images = [cfg.outputs.float_file.as_deref(), cfg.outputs.int_file.as_deref(), cfg.outputs.pgm_file.as_deref().filter(|_| !cfg.outputs.no_pgm), cfg.outputs.png_file.as_deref(), cfg.outputs.noise_file.as_deref().filter(|_| !cfg.outputs.no_noise)];
        let mut names: Vec<String> = images.into_iter().flatten().flat_map(|f| (0..n).map(move |i| products::panel_file_name(f, i, n))).collect();
        if let (Some(dump), Some(_)) = (&cfg.structure.dump_file, &cfg.structure.hkl_file) {
            names.push(dump.clone());
        }
        names
    }

    /// Check, before rendering, that every named output can be written.
    pub fn check_outputs(&self) -> Result<()> {
        products::check_writable(&self.named_outputs().iter().map(String::as_str).collect::<Vec<_>>())?;
        crate::io::export::check_requests(&self.config, &self.experiment)
    }

    /// Write the named outputs of `images` (from [`Simulation::render`]) in the command line's
    /// formats, with its scales and noise seed.
    /// Returns the warnings of the writers (e.g. an SMV header dxtbx cannot read as meant).
    pub fn write_outputs(&self, images: &[Vec<f32>]) -> Result<Vec<String>> {
        // every named file appears, or none
        io::output_set(|| {
            self.write_structure_cache(&mut std::io::sink())?;
            self.write_images(images, &mut std::io::sink())
        })
    }

    /// The structure-factor cache `-dump` names, with the record of its HKL file, when `-hkl`
    /// was read (the C program always writes Fdump.bin; we only when asked).
    pub fn write_structure_cache(&self, out: &mut dyn Write) -> Result<()> {
        let cfg = &self.config;
        if let (Some(dump), Some(hkl), Some(grid)) = (&cfg.structure.dump_file, &cfg.structure.hkl_file, &self.experiment.structure.grid) {
            io::fdump::write_cache(&crate::io::osname::path(dump), grid, hkl)?;
            let _ = writeln!(out, "writing dump file for next time: {dump} (its source record: {dump}.source)");
        }
        Ok(())
    }

    /// Write the image files the settings name (float, integer, PGM, noise, CBF, NeXus,
    /// experiment list) of `images`, logging each to `out` as the command line does; returns
    /// the writers' warnings.
    pub fn write_images(&self, images: &[Vec<f32>], out: &mut dyn Write) -> Result<Vec<String>> {
        let cfg = &self.config;
        write_images(cfg, &self.experiment, &self.panels, images, cfg.outputs.float_file.as_deref(), out)
    }
}

/// Render one panel (the whole detector for one panel) as the single-precision float image,
/// printing the traces asked for to `out`.
pub fn render_panel(cfg: &Config, exp: &Experiment, dev: &Target, trace_requests: &Requests, out: &mut dyn Write, progress: impl FnMut(usize, usize)) -> Result<Vec<f32>> {
    let mut renderer = Renderer::new(exp, dev);
    if let Some(n) = cfg.engine.chunk_elements {
        renderer = renderer.with_chunk_elements(n);
    }
    // one host thread drives the GPU; on the CPU every core renders its own pixel blocks
    renderer = renderer.with_threads(if cfg.engine.gpu { 1 } else { cfg.engine.threads.unwrap_or(0) });
    renderer = renderer.with_engine(cfg.engine.engine)?;
    let params = Geometry::from_experiment(exp, dev);
    // the float image is single precision, as the file and the reference's own buffer are; a
    // trace compares against the float64 values
    let mut image: Vec<f32> = if trace_requests.is_empty() {
        renderer.render_image_f32(&params, progress)
    } else {
        let image64 = renderer.render_image(&params, progress);
        crate::engine::trace::report(out, exp, trace_requests, &image64);
        image64.iter().map(|&v| v as f32).collect()
    };
    // -stol: nonBragg's amorphous scattering in the same geometry, added as a sum of the two
    // programs' float images is
    crate::engine::amorphous::render::add_amorphous(exp, &mut image);
    if let Some(i) = image.iter().position(|v| !v.is_finite()) {
        let fp = exp.detector.fpixels;
        return Err(not_finite(cfg, exp, &format!("pixel ({}, {}) of panel {}", i % fp, i / fp, exp.detector.panel)));
    }
    Ok(image)
}

/// Write the float (when `floatfile` is given), integer, PGM and noise images of every panel
/// as the settings ask, logging to `out` as the command line does; returns the warnings.
/// `panels` holds the experiment of each panel (empty for one panel).
pub fn write_images(cfg: &Config, exp: &Experiment, panels: &[Experiment], images: &[Vec<f32>], floatfile: Option<&str>, out: &mut dyn Write) -> Result<Vec<String>> {
    let n = images.len();
    let panel = |i: usize| if n == 1 { exp } else { &panels[i] };
    let name = |f: &str, i: usize| products::panel_file_name(f, i, n);
    // one set of statistics (and so one integer scale) for the whole detector
    let panel_exps: Vec<&Experiment> = (0..n).map(panel).collect();
    let refs: Vec<&[f32]> = images.iter().map(Vec::as_slice).collect();
    let (stats, offsets) = products::detector_statistics(&panel_exps, &refs);
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
    let adc = cfg.outputs.adc.unwrap_or(crate::io::products::DEFAULT_ADC);
    let iscale = products::int_scale(cfg.outputs.scale, &stats);
    let warnings = std::cell::RefCell::new(Vec::new());
    let header = |p: &Experiment| smv_header(cfg, p, adc, &mut warnings.borrow_mut());
    if let Some(intfile) = &cfg.outputs.int_file {
        let _ = writeln!(out, "intfile_scale = {}", fmt_g(iscale));
        for (i, image) in images.iter().enumerate() {
            let (p, f) = (panel(i), name(intfile, i));
            let data = products::int_image(p, image, iscale, adc);
            io::smv::write_smv(&crate::io::osname::path(&f), &header(p), p.detector.fpixels, p.detector.spixels, &data)?;
            let _ = writeln!(out, "writing {} as 2-byte integers", io::osname::shown(&f));
        }
    }
    if let Some(pgmfile) = cfg.outputs.pgm_file.as_deref().filter(|_| !cfg.outputs.no_pgm) {
        let pscale = products::pgm_scale(cfg.outputs.pgm_scale, iscale, &stats);
        let _ = writeln!(out, "pgm_scale = {}", fmt_g(pscale));
        for (i, image) in images.iter().enumerate() {
            let (p, f) = (panel(i), name(pgmfile, i));
            let bytes = products::pgm_bytes(p, image, pscale);
            io::pgm::write_pgm(&crate::io::osname::path(&f), p.detector.fpixels, p.detector.spixels, pscale, &bytes)?;
            let _ = writeln!(out, "writing {} as 1-byte integers", io::osname::shown(&f));
        }
    }
    if let Some(pngfile) = cfg.outputs.png_file.as_deref() {
        for (i, image) in images.iter().enumerate() {
            let (p, f) = (panel(i), name(pngfile, i));
            let d = &p.detector;
            io::png::write_log_png(&crate::io::osname::path(&f), image, d.fpixels, d.spixels, beam_pixel(d))?;
            let _ = writeln!(out, "writing {} as a log-scaled PNG preview", io::osname::shown(&f));
        }
    }
    // the photons of the noise image, drawn once (one stream over the panels in order) and
    // shared by the SMV noise files and the CBF/NeXus counts
    let mut photons: Option<Vec<Vec<f64>>> = None;
    if let Some(noisefile) = cfg.outputs.noise_file.as_deref().filter(|_| !cfg.outputs.no_noise) {
        // the flag's value N is the generator's seed -N, as the reference reads it
        let seed = cfg.outputs.seed.map(|s| -s).unwrap_or_else(experiment::crystal::clock_seed);
        let _ = writeln!(out, "noise image seed: -seed {} repeats this noise", -seed);
        let (drawn, noisy): (Vec<Vec<f64>>, Vec<(Vec<u16>, f64, usize)>) = if cfg.response.is_set() {
            // noisify's model on the float image (one panel, checked when built)
            let (counts, noisy) = response_noise(cfg, exp, &images[0], adc, -seed, out);
            (vec![counts], vec![noisy])
        } else {
            let mut deviates = crate::physics::rng::PoissonDeviates::new(seed);
            let drawn: Vec<Vec<f64>> = images.iter().enumerate().map(|(i, im)| products::poisson_photons_from(panel(i), im, &mut deviates)).collect();
            let noisy = drawn.iter().enumerate().map(|(i, ph)| products::noise_counts(panel(i), ph, adc)).collect();
            (drawn, noisy)
        };
        let (total, overloads) = noisy.iter().fold((0.0, 0), |(p, o), x| (p + x.1, o + x.2));
        let _ = writeln!(out, "{:.0} photons on noise image ({overloads} overloads)", total);
        for (i, (data, _, _)) in noisy.iter().enumerate() {
            let (p, f) = (panel(i), name(noisefile, i));
            io::smv::write_smv(&crate::io::osname::path(&f), &header(p), p.detector.fpixels, p.detector.spixels, data)?;
            let _ = writeln!(out, "writing {} as 2-byte integers", io::osname::shown(&f));
        }
        photons = Some(drawn);
    }
    for line in crate::io::export::write_requested(cfg, exp, &panel_exps, &refs, iscale, photons.as_deref())? {
        let _ = writeln!(out, "{line}");
    }
    Ok(warnings.into_inner())
}

/// The noise image through the detector response (-psf, -gain, ...), made from the float image
/// exactly as noisify makes it (16-bit pixels): the ADU less the offset (what CBF and NeXus
/// files hold), and the pixels with the photon total and the overloads. `seed` is `-seed`.
fn response_noise(cfg: &Config, p: &Experiment, image: &[f32], adc: f64, seed: i64, out: &mut dyn Write) -> (Vec<f64>, (Vec<u16>, f64, usize)) {
    use crate::response::noisify::{noisify, IntImage, NoisifySettings};
    // the seed was checked to fit 32 bits when the simulation was built
    let settings = NoisifySettings::from_config(&cfg.response, p.detector.pixel_size, adc, seed as i32);
    let psf = match settings.psf {
        Some(k) => format!("{:?} PSF of FWHM {} pixels", k.kind, fmt_g(k.fwhm_pixels)),
        None => "no PSF".into(),
    };
    let _ = writeln!(
        out,
        "detector response (as noisify): {psf}, gain {}, calibration error {}, readout noise {} ADU, flicker {}",
        fmt_g(settings.gain),
        fmt_g(settings.calibration),
        fmt_g(settings.readout_adu),
        fmt_g(settings.flicker)
    );
    let d = &p.detector;
    let noise = noisify(image, d.fpixels, d.spixels, &settings).noise.expect("the noise image is asked for");
    let IntImage::U16(pixels) = noise.image else { unreachable!("16-bit pixels") };
    let counts = pixels.iter().map(|&v| (v as f64 - adc).max(0.0)).collect();
    (counts, (pixels, noise.photons, noise.overloads))
}

/// The SMV header of panel `p`: the C program's, or with `-smv_header dials` one that dxtbx
/// reads as we mean it (with a warning, once, where its reader cannot hold the geometry).
/// Where the direct beam meets the detector plane, in pixel coordinates (fast, slow; the
/// integer part is the pixel), or none when the beam runs away from the plane.
fn beam_pixel(d: &crate::experiment::Detector) -> Option<(f64, f64)> {
    use crate::physics::vec3::{dot, scale, sub};
    let along = dot(d.beam_vector, d.odet);
    if !(along > 0.0) {
        return None;
    }
    let hit = scale(d.beam_vector, dot(d.pix0, d.odet) / along);
    let r = sub(hit, d.pix0);
    Some((dot(r, d.fdet) / d.pixel_size, dot(r, d.sdet) / d.pixel_size))
}

fn smv_header(cfg: &Config, p: &Experiment, adc: f64, warnings: &mut Vec<String>) -> Vec<String> {
    if !cfg.outputs.smv_header_dials {
        return products::smv_header_lines(p);
    }
    let (lines, exact) = products::smv_header_lines_dials(p, adc);
    const INEXACT: &str = "WARNING: -smv_header dials: dxtbx's SMV reader assumes an unrotated detector in the MOSFLM frame; use -cbffile or -nxsfile for this geometry";
    if !exact && !warnings.iter().any(|w| w == INEXACT) {
        warnings.push(INEXACT.to_string());
    }
    lines
}

/// The error for a rendered pixel (`which`) that is not a finite number: when the intensity
/// scale (r_e² x fluence x F² x cells²) is beyond what a float image holds, the flags that set
/// it; otherwise an internal error.
pub(crate) fn not_finite(cfg: &Config, exp: &crate::experiment::Experiment, which: &str) -> crate::error::Error {
    use crate::error::Error;
    use crate::io::cfmt::fmt_g;
    let grid_max = exp.structure.grid.as_ref().map_or(0.0, |g| g.values.iter().fold(0.0f64, |m, v| m.max(v.abs())));
    let f_max = exp.structure.default_f.abs().max(grid_max);
    let c = &exp.crystal;
    let cells = c.na * c.nb * c.nc;
    let scale = crate::experiment::R_E_SQR * exp.beam.fluence * f_max * f_max * cells * cells;
    let water = crate::physics::water_background_per_fluence(exp.sampling.water_size) * exp.beam.fluence;
    // a float32 image holds 3.4e38; the solid angle of a pixel rarely brings the scale down by more than 1e8
    let lattice_overflows = !(scale < 1e30);
    if !lattice_overflows && !(water < 1e30) {
        return Error::new(format!("-water {}: the background overflows the float image ({which} is not a finite number); make it smaller; no file written", fmt_g(exp.sampling.water_size * 1e6)));
    }
    if !lattice_overflows {
        return Error::new(format!("internal error: {which} is not a finite number; no file written (please report these flags)"));
    }
    let mut given = Vec::new();
    if cfg.structure.default_f.is_some() || grid_max == 0.0 {
        given.push(format!("-default_F {}", fmt_g(exp.structure.default_f)));
    }
    if grid_max > 0.0 {
        let from = if cfg.structure.hkl_file.is_some() { "-hkl " } else { "the structure-factor cache " };
        given.push(format!("{from}{} (|F| up to {})", exp.structure.origin, fmt_g(grid_max)));
    }
    if cfg.beam.fluence.is_some() || cfg.beam.flux.is_some() {
        given.push(format!("-fluence/-flux ({} photons/m^2)", fmt_g(exp.beam.fluence)));
    }
    if cfg.crystal.cells[0].is_some() || cfg.crystal.cells[1].is_some() || cfg.crystal.cells[2].is_some() {
        given.push(format!("-N ({} cells)", fmt_g(cells)));
    }
    Error::new(format!("{}: the intensity overflows the float image ({which} is not a finite number; r_e^2 x fluence x F^2 x cells^2 = {}); make them smaller; no file written", given.join(", "), fmt_g(scale)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn errors_say_what_kind_of_problem_they_are() {
        use crate::error::ErrorKind;
        let kind = |flags: &str| {
            let argv: Vec<String> = format!("-cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 {flags}").split_whitespace().map(String::from).collect();
            Simulation::from_flags(&argv).err().map(|e| e.kind())
        };
        assert_eq!(kind(""), None);
        assert_eq!(kind("-hkl /no/such/file.hkl"), Some(ErrorKind::File));
        assert_eq!(kind("-mat /no/such/file.mat"), Some(ErrorKind::File));
        assert_eq!(kind("-distance -5"), Some(ErrorKind::Invalid));
        assert_eq!(kind("-detpixels 60000"), Some(ErrorKind::Resource));
        // a configuration made in code is checked before it is built
        let mut c = crate::config::Config::default();
        c.detector.distance = Some(-1.0);
        let e = Simulation::from_config(c).err().unwrap();
        assert_eq!((e.kind(), e.0.as_str()), (ErrorKind::Invalid, "detector.distance: must be positive, got -1"));
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
