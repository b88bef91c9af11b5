//! The contents of the input files a simulation's settings name (-expt, -mask, -img, -mat,
//! -sourcefile), read once. A batch renders every shot from one read: per-shot settings
//! change orientations, wavelengths and sizes, never these files.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::expt::ExptList;
use crate::io::smv::SmvImage;
use crate::io::sourcefile::SourceRow;
use std::path::Path;

/// One file's contents, with the name it was read under.
#[derive(Debug, Clone)]
struct Read<T> {
    path: String,
    value: T,
}

/// The parsed contents of every input file of a simulation.
#[derive(Debug, Clone, Default)]
pub struct InputFiles {
    expt: Option<Read<ExptList>>,
    mask: Option<Read<SmvImage>>,
    img: Option<Read<SmvImage>>,
    mat: Option<Read<[[f64; 3]; 3]>>,
    /// Source rows and the number of comment lines skipped.
    sources: Option<Read<(Vec<SourceRow>, usize)>>,
    spectrum: Option<Read<crate::io::spectrum::Spectrum>>,
}

fn read_one<T>(path: &Option<String>, read: impl FnOnce(&Path) -> Result<T>) -> Result<Option<Read<T>>> {
    // names are carried as text that may encode a non-UTF-8 file name (io::osname)
    path.as_ref().map(|p| Ok(Read { path: p.clone(), value: read(&crate::io::osname::path(p)).map_err(Error::in_file)? })).transpose()
}

/// The contents of `path`: the copy read before when it names the same file, else read now.
fn cached<T: Clone>(have: &Option<Read<T>>, path: &str, read: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    match have {
        Some(r) if r.path == path => Ok(r.value.clone()),
        _ => read(&crate::io::osname::path(path)).map_err(Error::in_file),
    }
}

impl InputFiles {
    /// Read every file the settings name.
    pub fn read(cfg: &Config) -> Result<InputFiles> {
        Ok(InputFiles {
            expt: read_one(&cfg.detector.expt_file, crate::io::expt::read_expt)?,
            mask: read_one(&cfg.detector.mask_file, crate::io::smv::read_smv)?,
            img: read_one(&cfg.detector.header_image, crate::io::smv::read_smv)?,
            mat: read_one(&cfg.crystal.matrix_file, crate::io::matrix::read_mosflm_matrix)?,
            sources: read_one(&cfg.beam.source_file, crate::io::sourcefile::read_sourcefile_counted)?,
            spectrum: read_one(&cfg.beam.spectrum_file, crate::io::spectrum::Spectrum::read)?,
        })
    }

    /// Panels of the experiment list read (1 without one: the C program's detector).
    pub fn panel_count(&self) -> usize {
        self.expt.as_ref().map_or(1, |x| x.value.panels.len().max(1))
    }

    pub(super) fn expt(&self, path: &str) -> Result<ExptList> {
        cached(&self.expt, path, crate::io::expt::read_expt)
    }

    pub(super) fn mask(&self, path: &str) -> Result<SmvImage> {
        cached(&self.mask, path, crate::io::smv::read_smv)
    }

    pub(super) fn img(&self, path: &str) -> Result<SmvImage> {
        cached(&self.img, path, crate::io::smv::read_smv)
    }

    pub(super) fn mat(&self, path: &str) -> Result<[[f64; 3]; 3]> {
        cached(&self.mat, path, crate::io::matrix::read_mosflm_matrix)
    }

    pub(super) fn spectrum(&self, path: &str) -> Result<crate::io::spectrum::Spectrum> {
        cached(&self.spectrum, path, crate::io::spectrum::Spectrum::read)
    }

    pub(super) fn sources(&self, path: &str) -> Result<(Vec<SourceRow>, usize)> {
        cached(&self.sources, path, crate::io::sourcefile::read_sourcefile_counted)
    }
}
