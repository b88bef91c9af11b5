//! Spectrum files of a batch's stills: the format of `-spectrum` (`io::spectrum`). A still with
//! a spectrum renders as the base flags with `-spectrum` of that file would (the shot's
//! `-spectrum_lines` are the file's lines; `shots::experiment`).

pub use crate::io::spectrum::Spectrum;
