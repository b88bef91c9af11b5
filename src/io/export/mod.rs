//! Files for crystallographic processing programs: CBF images (`-cbffile`), NeXus NXmx images
//! (`-nxsfile`) and the DIALS experiment list of the simulation (`-write_expt`), all written
//! from [`LabGeometry`], the experiment in DIALS' laboratory frame, with one image per panel.
//!
//! Pixel values: the Poisson photon counts when a noise image is requested (`-noisefile`
//! without `-nonoise`), otherwise the `-intfile` scaling (value x scale, rounded); unlike the
//! 16-bit SMV images they are not clipped at 65535, only at the 32-bit limit, and the panels'
//! trusted range says so. They never carry the `-adc` offset: dxtbx's CBF and NXmx readers
//! subtract no pedestal, so an offset in the pixels would be read as signal (specs/physics.md).

pub mod cbf;
pub mod expt;
#[cfg(feature = "nexus")]
pub mod nexus;
#[cfg(not(feature = "nexus"))]
#[path = "nexus_absent.rs"]
pub mod nexus;

use crate::config::Config;
use crate::error::Result;
use crate::experiment::lab::{lab_geometry, LabGeometry};
use crate::experiment::Experiment;

/// Checks, before any rendering, that the requested files can be written: their folders are
/// writable and a NeXus file can hold this geometry.
pub fn check_requests(cfg: &Config, exp: &Experiment) -> Result<()> {
    let names: Vec<&str> = [cfg.outputs.cbf_file.as_deref(), cfg.outputs.nexus_file.as_deref(), cfg.outputs.expt_file.as_deref()].into_iter().flatten().collect();
    crate::io::products::check_writable(&names)?;
    if let Some(name) = &cfg.outputs.nexus_file {
        if crate::io::osname::path(name).to_str().is_none() {
            return Err(crate::error::Error::file(format!("{name}: cannot write NeXus file: the HDF5 library needs a file name in UTF-8")));
        }
        let lab = lab_geometry(exp);
        if let Some(why) = nexus::unsupported(&lab) {
            return Err(crate::error::Error::file(format!("{name}: cannot write NeXus file: {why}")));
        }
        if cfg.outputs.nexus_append && crate::io::osname::path(&name).exists() {
            nexus::check_append(&crate::io::osname::path(&name), &lab)?;
        }
    }
    Ok(())
}

/// Writes the files the options ask for from the rendered panel images; the counts follow the
/// noise image's photons when one is requested (same seed, so the same photons), else the
/// -intfile scaling, without the SMV images' -adc offset. Returns one line per file written.
///
/// `panels` is the experiment seen through each panel (for its ROI), `photons` the noise
/// image's photons of each panel when a noise image was drawn.
pub fn write_requested(cfg: &Config, exp: &Experiment, panels: &[&Experiment], images: &[&[f32]], scale: f64, photons: Option<&[Vec<f64>]>) -> Result<Vec<String>> {
    if cfg.outputs.cbf_file.is_none() && cfg.outputs.nexus_file.is_none() && cfg.outputs.expt_file.is_none() {
        return Ok(Vec::new());
    }
    let noise = cfg.outputs.noise_file.is_some() && !cfg.outputs.no_noise;
    let smv = if noise { cfg.outputs.noise_file.as_deref() } else { cfg.outputs.int_file.as_deref() };
    let req = Requests { cbffile: cfg.outputs.cbf_file.as_deref(), nxsfile: cfg.outputs.nexus_file.as_deref(), write_expt: cfg.outputs.expt_file.as_deref(), nxs_append: cfg.outputs.nexus_append, smv };
    match photons {
        Some(p) if noise => write_all(&req, exp, panels, images, &Counts::Noise(p)),
        _ => write_all(&req, exp, panels, images, &Counts::Scaled { scale }),
    }
}

/// Highest count the 32-bit images hold; higher values are clipped to it and flagged by the
/// trusted range as overloads.
pub const INT32_IMAGE_MAX: f64 = 2147483646.0;

/// Where the image's counts come from; neither adds an ADC offset (see the module's note).
pub enum Counts<'a> {
    /// The float image scaled as `-intfile` does, without its offset: value x scale.
    Scaled { scale: f64 },
    /// Poisson photon counts of each panel (from the run's noise generator).
    Noise(&'a [Vec<f64>]),
}

/// The 32-bit pixel values of panel `panel`'s image (`exp`: the experiment seen through it).
pub fn int32_counts(exp: &Experiment, panel: usize, image: &[f32], counts: &Counts) -> Vec<i32> {
    let clip = |t: f64| t.clamp(0.0, INT32_IMAGE_MAX);
    (0..image.len())
        .map(|i| {
            if !exp.in_roi(i) {
                return 0;
            }
            match counts {
                // rounded in single precision, as the SMV image is, so the two agree
                Counts::Scaled { scale } => ((clip(image[i] as f64 * scale) + 0.5) as f32).floor() as i32,
                Counts::Noise(photons) => clip(photons[panel][i]) as i32,
            }
        })
        .collect()
}

/// The file names a run asked for.
pub struct Requests<'a> {
    pub cbffile: Option<&'a str>,
    pub nxsfile: Option<&'a str>,
    pub write_expt: Option<&'a str>,
    /// Append the image to an existing NeXus file of the same series (`-nxs_append`).
    pub nxs_append: bool,
    /// SMV images written this run (the noise image first when there is one), for an
    /// experiment list that names no CBF or NeXus file.
    pub smv: Option<&'a str>,
}

/// Writes the requested CBF, NeXus and experiment-list files; returns what was written, one
/// line each.
pub fn write_all(req: &Requests, exp: &Experiment, panels: &[&Experiment], images: &[&[f32]], counts: &Counts) -> Result<Vec<String>> {
    let mut lab = lab_geometry(exp);
    let mut done = Vec::new();
    let wide = req.cbffile.is_some() || req.nxsfile.is_some();
    if wide {
        for p in &mut lab.panels {
            p.trusted_range = [-1.0, INT32_IMAGE_MAX];
        }
    }
    let data: Vec<Vec<i32>> = images.iter().enumerate().map(|(k, im)| int32_counts(panels[k], k, im, counts)).collect();
    let refs: Vec<&[i32]> = data.iter().map(|v| v.as_slice()).collect();
    if let Some(name) = req.cbffile {
        cbf::write_cbf(&crate::io::osname::path(&name), &lab, &refs)?;
        done.push(format!("writing {name} as CBF, 4-byte integers, byte-offset compressed"));
    }
    if let Some(name) = req.nxsfile {
        nexus::write_nexus(&crate::io::osname::path(&name), &lab, &refs, req.nxs_append)?;
        done.push(format!("writing {name} as NeXus NXmx"));
    }
    if let Some(name) = req.write_expt {
        write_experiment_list(name, req, &lab)?;
        done.push(format!("writing {name} as a DIALS experiment list"));
    }
    Ok(done)
}

/// An experiment list alone, naming the image files `req` names (written elsewhere, as a batch
/// shot's are), with the trusted range of those files.
pub fn write_experiment_list_only(name: &str, req: &Requests, exp: &Experiment) -> Result<()> {
    let mut lab = lab_geometry(exp);
    if req.cbffile.is_some() || req.nxsfile.is_some() {
        for p in &mut lab.panels {
            p.trusted_range = [-1.0, INT32_IMAGE_MAX];
        }
    }
    write_experiment_list(name, req, &lab)
}

/// The experiment list names the CBF image if there is one, else the NeXus one, else the SMV.
fn write_experiment_list(name: &str, req: &Requests, lab: &LabGeometry) -> Result<()> {
    let mut lab = lab.clone();
    let image = if let Some(c) = req.cbffile {
        Some(expt::ImageFile::PerImage(c.to_string()))
    } else if let Some(n) = req.nxsfile {
        Some(expt::ImageFile::Nexus(n.to_string()))
    } else {
        for p in &mut lab.panels {
            p.trusted_range = [-1.0, crate::experiment::lab::INT_IMAGE_MAX];
        }
        req.smv.map(|s| expt::ImageFile::PerImage(s.to_string()))
    };
    expt::write_expt(&crate::io::osname::path(&name), &lab, image.as_ref())
}
