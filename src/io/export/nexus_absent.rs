//! Stand-in for the NeXus writer in builds without the `nexus` feature (no HDF5 library):
//! every request is refused before rendering, with a one-line error.

use crate::error::{Error, Result};
use crate::experiment::lab::LabGeometry;
use std::path::Path;

/// Always the reason: this build cannot write NeXus files.
pub fn unsupported(_lab: &LabGeometry) -> Option<String> {
    Some("this nanobragg was built without the `nexus` feature (HDF5); rebuild with default features".into())
}

pub fn check_append(path: &Path, lab: &LabGeometry) -> Result<()> {
    Err(Error::new(format!("{}: {}", crate::io::osname::display(path), unsupported(lab).unwrap_or_default())))
}

pub fn write_nexus(path: &Path, lab: &LabGeometry, _images: &[&[i32]], _append: bool) -> Result<()> {
    check_append(path, lab)
}
