//! The files a batch writes for each shot. Adding a format is one variant here: its name, its
//! file extension and one arm of [`write`].

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::experiment::Experiment;
use crate::engine::render::Stats;

use super::plan::Format;
use crate::config::Config;

/// The file of shot `number` in format `f` under `out`.
pub fn shot_path(out: &Path, number: usize, f: Format) -> PathBuf {
    out.join(format!("shot_{number:05}.{}", f.ext()))
}

/// Every file of shot `number` in format `f`: with several panels the raw float and SMV
/// images are one file per panel (the panel index before the extension, as the command
/// line names them); the other formats hold every panel in one file.
pub fn shot_files(out: &Path, number: usize, f: Format, panels: usize) -> Vec<PathBuf> {
    let path = shot_path(out, number, f);
    match f {
        Format::Float | Format::Smv | Format::Noise => {
            (0..panels).map(|i| PathBuf::from(crate::io::products::panel_file_name(&path.to_string_lossy(), i, panels))).collect()
        }
        // the JSON record and the run file that renders the shot again
        Format::Settings => vec![path.clone(), path.with_extension("toml")],
        _ => vec![path],
    }
}

/// One rendered shot, ready to be written in any format.
pub struct ShotImage<'a> {
    /// The whole experiment, and the experiment seen through each panel with its image.
    pub exp: &'a Experiment,
    pub panels: &'a [&'a Experiment],
    pub images: &'a [&'a [f32]],
    pub stats: &'a Stats,
    /// The shot's configuration (read back from `record`) and its run file.
    pub cfg: &'a Config,
    pub record: &'a str,
    /// What makes this shot differ from the base simulation.
    pub settings: &'a super::shots::ShotSettings,
    /// The spectrum file of a still with a spectrum, and the SHA-256 of its bytes.
    pub spectrum: Option<(&'a str, &'a str)>,
    /// The formats the plan writes (which decide the full scale and what the CBF holds).
    pub formats: &'a [Format],
    /// The brightest pixel, the full scale and the overloads (see [`brightness`]).
    pub brightness: &'a Brightness,
    /// Warnings of building the shot's experiment and of its brightness.
    pub warnings: &'a [String],
}

impl ShotImage<'_> {
    fn adc(&self) -> f64 {
        self.cfg.outputs.adc.unwrap_or(crate::io::products::DEFAULT_ADC)
    }

    /// Whether CBF and NeXus files hold the noise image's photons (the plan writes noise).
    fn noise_counts(&self) -> bool {
        self.formats.contains(&Format::Noise)
    }

    /// The image files of this shot an experiment list names (as `-expt` does on the command
    /// line: the CBF, else the NeXus file, else the SMV image).
    fn image_names(&self, path: &Path) -> (Option<String>, Option<String>, Option<String>) {
        let dir = path.parent().unwrap_or(Path::new(""));
        let sibling = |f: Format| self.formats.contains(&f).then(|| shot_path(dir, self.settings.number, f).to_string_lossy().into_owned());
        let smv = sibling(Format::Noise).or_else(|| sibling(Format::Smv));
        (sibling(Format::Cbf), sibling(Format::Nexus), smv)
    }
}

/// How bright a shot is against what its integer images hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Brightness {
    /// Expected photons of the brightest rendered pixel, its panel, fast and slow index.
    pub max_photons: f64,
    pub max_at: [usize; 3],
    /// The most photons a pixel of the shot's photon-counting images holds: 65535 less the
    /// ADC offset in the 16-bit noise image, the trusted maximum in CBF and NeXus files (the
    /// lowest of those written; the 16-bit one when the plan writes neither).
    pub full_scale_photons: f64,
    /// Rendered pixels whose expected photons exceed the full scale.
    pub overloads: usize,
}

/// The brightest pixel and the overloads of a shot's images.
pub fn brightness(panels: &[&Experiment], images: &[&[f32]], formats: &[Format], adc: f64) -> Brightness {
    let sixteen = 65535.0 - adc;
    let wide = crate::io::export::INT32_IMAGE_MAX;
    let full = match (formats.contains(&Format::Noise), formats.iter().any(|f| matches!(f, Format::Cbf | Format::Nexus))) {
        (false, true) => wide,
        _ => sixteen,
    };
    let mut b = Brightness { max_photons: 0.0, max_at: [0; 3], full_scale_photons: full, overloads: 0 };
    for (k, (p, im)) in panels.iter().zip(images).enumerate() {
        for (i, &v) in im.iter().enumerate() {
            if !p.is_rendered(i) {
                continue;
            }
            let v = v as f64;
            if v > b.max_photons {
                b.max_photons = v;
                b.max_at = [k, i % p.detector.fpixels, i / p.detector.fpixels];
            }
            if v > full {
                b.overloads += 1;
            }
        }
    }
    b
}

/// Write one shot in format `f` to `path` (per panel where the format is; every file through a
/// temporary name renamed at the end).
pub fn write(f: Format, path: &Path, shot: &ShotImage) -> Result<()> {
    use crate::io;
    use crate::io::products;
    let n = shot.panels.len();
    let file = |i: usize| PathBuf::from(products::panel_file_name(&path.to_string_lossy(), i, n));
    // the noise image's photons: one stream of deviates over the panels in order
    let photons = || {
        let mut dev = crate::physics::rng::PoissonDeviates::new(shot.settings.noise_seed);
        shot.panels.iter().zip(shot.images).map(|(p, im)| products::poisson_photons_from(p, im, &mut dev)).collect::<Vec<_>>()
    };
    match f {
        Format::Float => (0..n).try_for_each(|i| io::floatimg::write_float_image(&file(i), shot.images[i])),
        Format::Smv => {
            let scale = products::int_scale(shot.cfg.outputs.scale, shot.stats);
            (0..n).try_for_each(|i| {
                let p = shot.panels[i];
                let data = products::int_image(p, shot.images[i], scale, shot.adc());
                io::smv::write_smv(&file(i), &products::smv_header_lines(p), p.detector.fpixels, p.detector.spixels, &data)
            })
        }
        Format::Noise => photons().iter().enumerate().try_for_each(|(i, ph)| {
            let p = shot.panels[i];
            let (data, _, _) = products::noise_counts(p, ph, shot.adc());
            io::smv::write_smv(&file(i), &products::smv_header_lines(p), p.detector.fpixels, p.detector.spixels, &data)
        }),
        Format::Settings => {
            crate::io::write_atomic(&path.with_extension("toml"), shot.record.as_bytes())?;
            crate::io::write_atomic(path, settings_json(shot, path, &photons).as_bytes())
        }
        Format::Expt => {
            use crate::io::export::{write_experiment_list_only, Requests};
            let (cbf, nxs, smv) = shot.image_names(path);
            let req = Requests { cbffile: cbf.as_deref(), nxsfile: nxs.as_deref(), write_expt: None, nxs_append: false, smv: smv.as_deref() };
            write_experiment_list_only(&path.to_string_lossy(), &req, shot.exp)
        }
        Format::Cbf | Format::Nexus => {
            // the photons of the noise image when the plan writes one (same photons), else
            // the SMV image's scaling, without its ADC offset, as -cbffile/-nxsfile do
            use crate::io::export::{write_all, Counts, Requests};
            let drawn;
            let counts = if shot.noise_counts() {
                drawn = photons();
                Counts::Noise(&drawn)
            } else {
                Counts::Scaled { scale: products::int_scale(shot.cfg.outputs.scale, shot.stats) }
            };
            let name = path.to_string_lossy();
            let (cbffile, nxsfile) = if f == Format::Cbf { (Some(name.as_ref()), None) } else { (None, Some(name.as_ref())) };
            let req = Requests { cbffile, nxsfile, write_expt: None, nxs_append: false, smv: None };
            write_all(&req, shot.exp, shot.panels, shot.images, &counts).map(|_| ())
        }
    }
}

/// The settings record of a shot (values in the units of the C flags), with how bright it is.
fn settings_json(shot: &ShotImage, path: &Path, photons: &dyn Fn() -> Vec<Vec<f64>>) -> String {
    let s = shot.settings;
    let c = &shot.exp.crystal;
    let b = shot.brightness;
    // the angles as the run file holds them, so -misset with these repeats the shot exactly
    let misset_deg = match shot.cfg.crystal.misset {
        Some(crate::config::Misset::Angles(m)) if s.misset_deg.is_some() => Some(m.map(|r| r * crate::experiment::RTD)),
        _ => None,
    };
    // pixels the 16-bit noise image clips (its photons plus the offset above 65535)
    let noise_overloads = shot.formats.contains(&Format::Noise).then(|| {
        shot.panels.iter().zip(photons()).map(|(p, ph)| crate::io::products::noise_counts(p, &ph, shot.adc()).2).sum::<usize>()
    });
    let file_name = |p: PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let json = serde_json::json!({
        "shot": s.number,
        // 64 bits: a string, which every JSON reader keeps exactly
        "seed": s.seed.to_string(),
        "run_file": file_name(path.with_extension("toml")),
        "phi_deg": s.rotation.map(|r| r.0),
        "osc_deg": s.rotation.map(|r| r.1),
        "misset_deg": misset_deg,
        "energy_ev": s.energy_ev,
        "spectrum": shot.spectrum.map(|(p, sha)| serde_json::json!({"path": p, "sha256": sha, "lines": shot.cfg.beam.spectrum_lines.as_ref().map(|l| l.len())})),
        "crystal_size_mm": s.crystal_size_mm,
        "N": [c.na, c.nb, c.nc],
        "lambda_A": shot.exp.beam.lambda0 * 1e10,
        "fluence": shot.exp.beam.fluence,
        "fluence_factor": s.fluence_factor,
        "noise_seed": -s.noise_seed,
        "max_pixel_photons": b.max_photons,
        "max_pixel": {"panel": b.max_at[0], "fast": b.max_at[1], "slow": b.max_at[2]},
        "full_scale_photons": b.full_scale_photons,
        "overloads": b.overloads,
        "noise_overloads": noise_overloads,
        "warnings": shot.warnings,
    });
    format!("{}\n", serde_json::to_string_pretty(&json).expect("json"))
}
