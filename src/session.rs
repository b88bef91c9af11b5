//! A render as a library call: a run file's settings in, the float image and the output files
//! the settings name out. The Python module renders through it; the command line (`run` in
//! main.rs) takes the same steps, with its log on stdout, and writes `floatimage.bin` when no
//! float file is named, which a library call does not.

use std::io::Write;
use std::path::Path;

use crate::cli::{self, Options};
use crate::device::{self, Precision, Target};
use crate::error::{Error, Result};
use crate::experiment::{self, Experiment, Notes};
use crate::geometry::Geometry;
use crate::render::{statistics, Engine, Renderer};
use crate::{io, output};

/// The resolved settings of one simulation and the experiment they describe.
pub struct Simulation {
    pub options: Options,
    pub experiment: Experiment,
    /// Warnings and remarks from building the experiment.
    pub notes: Notes,
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
        crate::trace::requests(&options, &experiment)?;
        Ok(Simulation { options, experiment, notes })
    }

    /// Detector size as (slow, fast) pixels: the float image's array shape.
    pub fn shape(&self) -> (usize, usize) {
        (self.experiment.detector.spixels, self.experiment.detector.fpixels)
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

    /// A renderer configured by the settings (`-chunk_elements`/`-memory_mb`, `-threads`,
    /// `-engine`).
    pub fn renderer(&self, dev: &Target) -> Renderer<'_> {
        let o = &self.options;
        let mut r = Renderer::new(&self.experiment, dev);
        if let Some(n) = o.chunk_elements {
            r = r.with_chunk_elements(n);
        }
        // one host thread drives the GPU; on the CPU every core renders its own pixel blocks
        r = r.with_threads(if o.gpu { 1 } else { o.threads.unwrap_or(0) });
        if o.tensor_engine {
            r = r.with_engine(Engine::Tensor);
        }
        r
    }

    /// The float image (photons per pixel, single precision, fast index fastest), exactly as
    /// the command line writes it. Traces the settings ask for (`-printout`, `-trace_pixel`)
    /// are written to `trace_out`.
    pub fn render(&self, trace_out: &mut dyn Write) -> Result<Vec<f32>> {
        let exp = &self.experiment;
        let dev = self.target()?;
        let renderer = self.renderer(&dev);
        let geometry = Geometry::from_experiment(exp, &dev);
        let requests = crate::trace::requests(&self.options, exp)?;
        let image: Vec<f32> = if requests.is_empty() {
            renderer.render_image_f32(&geometry, |_, _| {})
        } else {
            let image64 = renderer.render_image(&geometry, |_, _| {});
            crate::trace::report(trace_out, exp, &requests, &image64);
            image64.iter().map(|&v| v as f32).collect()
        };
        if let Some(i) = image.iter().position(|v| !v.is_finite()) {
            let fp = exp.detector.fpixels;
            return Err(Error::new(format!("internal error: pixel ({}, {}) is not a finite number; no file written (please report these settings)", i % fp, i / fp)));
        }
        Ok(image)
    }

    /// The output files the settings name (floatfile, intfile, pgmfile unless nopgm, noisefile
    /// unless nonoise, and the dump of an HKL file when `dump` is named).
    pub fn named_outputs(&self) -> Vec<&str> {
        let o = &self.options;
        [o.floatfile.as_deref(), o.intfile.as_deref(), o.pgmfile.as_deref().filter(|_| !o.nopgm), o.noisefile.as_deref().filter(|_| !o.nonoise)]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Check, before rendering, that every named output can be written.
    pub fn check_outputs(&self) -> Result<()> {
        output::check_writable(&self.named_outputs())
    }

    /// Write the named outputs of `image` (the float image of [`Simulation::render`]) in the
    /// command line's formats, with its scales and noise seed; returns the files written.
    pub fn write_outputs(&self, image: &[f32]) -> Result<Vec<String>> {
        let o = &self.options;
        let exp = &self.experiment;
        let mut written = Vec::new();
        if let (Some(dump), Some(_), Some(grid)) = (&o.dump, &o.hkl, &exp.structure.grid) {
            io::fdump::write_fdump(Path::new(dump), grid)?;
            written.push(dump.clone());
        }
        if let Some(f) = &o.floatfile {
            io::floatimg::write_float_image(Path::new(f), image)?;
            written.push(f.clone());
        }
        let renderer = Renderer::new(exp, &Target::cpu(Precision::F64));
        let stats = statistics(image, exp.detector.fpixels, |i| renderer.is_rendered(i), |i| renderer.in_roi(i));
        let adc = o.adc.unwrap_or(40.0);
        let iscale = output::int_scale(o.scale, &stats);
        let header = output::smv_header_lines(exp);
        let (fp, sp) = (exp.detector.fpixels, exp.detector.spixels);
        if let Some(f) = &o.intfile {
            io::smv::write_smv(Path::new(f), &header, fp, sp, &output::int_image(exp, image, iscale, adc))?;
            written.push(f.clone());
        }
        if let Some(f) = o.pgmfile.as_ref().filter(|_| !o.nopgm) {
            let pscale = output::pgm_scale(o.pgmscale, iscale, &stats);
            io::pgm::write_pgm(Path::new(f), fp, sp, pscale, &output::pgm_bytes(exp, image, pscale))?;
            written.push(f.clone());
        }
        if let Some(f) = o.noisefile.as_ref().filter(|_| !o.nonoise) {
            let seed = o.seed.map(|s| -s).unwrap_or_else(experiment::crystal::clock_seed);
            let (data, _, _) = output::noise_image(exp, image, adc, seed);
            io::smv::write_smv(Path::new(f), &header, fp, sp, &data)?;
            written.push(f.clone());
        }
        Ok(written)
    }
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
        assert_eq!(sim.shape(), (24, 24));
        let image = sim.render(&mut std::io::sink()).unwrap();
        let args: Vec<String> = "-cell 70 80 90 90 90 90 -default_F 100 -N 3 -lambda 1 -distance 50 -detpixels 24 -pixel 0.5".split(' ').map(String::from).collect();
        let flags = Simulation::from_flags(&args).unwrap();
        let dev = Target::cpu(Precision::F64);
        let direct = flags.renderer(&dev).render_image_f32(&Geometry::from_experiment(&flags.experiment, &dev), |_, _| {});
        assert_eq!(image, direct);
        assert!(image.iter().any(|&v| v > 0.0));
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
