//! The files a batch writes for each shot. Adding a format is one variant here: its name, its
//! file extension and one arm of [`write`].

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::experiment::Experiment;
use crate::engine::render::Stats;

use super::plan::Format;

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
    /// `-scale` and `-adc` of the base flags.
    pub scale: Option<f64>,
    pub adc: f64,
    /// What makes this shot differ from the base simulation.
    pub settings: &'a super::shots::ShotSettings,
    /// The spectrum file of a still with a spectrum.
    pub spectrum_file: Option<&'a str>,
    /// Whether CBF and NeXus files hold the noise image's photons (the plan writes noise).
    pub noise_counts: bool,
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
            let scale = products::int_scale(shot.scale, shot.stats);
            (0..n).try_for_each(|i| {
                let p = shot.panels[i];
                let data = products::int_image(p, shot.images[i], scale, shot.adc);
                io::smv::write_smv(&file(i), &products::smv_header_lines(p), p.detector.fpixels, p.detector.spixels, &data)
            })
        }
        Format::Noise => photons().iter().enumerate().try_for_each(|(i, ph)| {
            let p = shot.panels[i];
            let (data, _, _) = products::noise_counts(p, ph, shot.adc);
            io::smv::write_smv(&file(i), &products::smv_header_lines(p), p.detector.fpixels, p.detector.spixels, &data)
        }),
        Format::Settings => crate::io::write_atomic(path, settings_json(shot).as_bytes()),
        Format::Cbf | Format::Nexus => {
            // the photons of the noise image when the plan writes one (same photons), else
            // the SMV image's scaling, without its ADC offset, as -cbffile/-nxsfile do
            use crate::io::export::{write_all, Counts, Requests};
            let drawn;
            let counts = if shot.noise_counts {
                drawn = photons();
                Counts::Noise(&drawn)
            } else {
                Counts::Scaled { scale: products::int_scale(shot.scale, shot.stats) }
            };
            let name = path.to_string_lossy();
            let (cbffile, nxsfile) = if f == Format::Cbf { (Some(name.as_ref()), None) } else { (None, Some(name.as_ref())) };
            let req = Requests { cbffile, nxsfile, write_expt: None, nxs_append: false, smv: None };
            write_all(&req, shot.exp, shot.panels, shot.images, &counts).map(|_| ())
        }
    }
}

/// The settings record of a shot (values in the units of the C flags).
fn settings_json(shot: &ShotImage) -> String {
    let s = shot.settings;
    let c = &shot.exp.crystal;
    let json = serde_json::json!({
        "shot": s.number,
        "seed": s.seed,
        "phi_deg": s.rotation.map(|r| r.0),
        "osc_deg": s.rotation.map(|r| r.1),
        "misset_deg": s.misset_deg,
        "energy_ev": s.energy_ev,
        "spectrum": shot.spectrum_file,
        "crystal_size_mm": s.crystal_size_mm,
        "N": [c.na, c.nb, c.nc],
        "lambda_A": shot.exp.beam.lambda0 * 1e10,
        "fluence": shot.exp.beam.fluence,
        "fluence_factor": s.fluence_factor,
        "noise_seed": -s.noise_seed,
    });
    format!("{}\n", serde_json::to_string_pretty(&json).expect("json"))
}
