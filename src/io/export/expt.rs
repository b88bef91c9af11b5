//! DIALS experiment lists (JSON): the beam, detector (every panel), goniometer, scan and
//! crystal of a simulation in the DIALS frame, with an imageset naming the image written, so
//! that DIALS results can be compared with the truth.

use crate::io::write_atomic;
use crate::error::Result;
use crate::experiment::lab::{LabGeometry, PanelGeometry};
use serde_json::{json, Value};
use std::path::Path;

/// The image file an experiment list points at, and how it is laid out.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageFile {
    /// One file per image (CBF, SMV); panels, when several, are all in that file.
    PerImage(String),
    /// A NeXus file holding the image(s) in one data set.
    Nexus(String),
}

/// Absolute path of `name` (relative to the current folder), as DIALS stores them.
fn absolute(name: &str) -> String {
    let p = &crate::io::osname::path(&name);
    if p.is_absolute() {
        return name.to_string();
    }
    std::env::current_dir().map(|d| d.join(p).display().to_string()).unwrap_or_else(|_| name.to_string())
}

/// The template of a one-image-per-file series: the last run of digits of the file name (before
/// its extension) replaced by '#', and that number; None when the name has no digits there.
pub fn series_template(path: &str) -> Option<(String, usize)> {
    let (dir, file) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    let stem_end = file.find('.').unwrap_or(file.len());
    let stem = &file[..stem_end];
    let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let start = stem.len() - digits;
    let number = stem[start..].parse().ok()?;
    Some((format!("{dir}{}{}{}", &stem[..start], "#".repeat(digits), &file[stem_end..]), number))
}

fn panel_json(p: &PanelGeometry) -> Value {
    json!({
        "name": p.name, "type": "SENSOR_PAD",
        "fast_axis": p.fast_axis, "slow_axis": p.slow_axis, "origin": p.origin,
        "raw_image_offset": [0, 0], "image_size": p.image_size, "pixel_size": p.pixel_size,
        "trusted_range": p.trusted_range, "thickness": p.thickness, "material": "", "mu": p.mu,
        "identifier": "", "mask": [], "gain": 1.0, "pedestal": 0.0,
        "px_mm_strategy": {"type": "SimplePxMmStrategy"}
    })
}

/// The detector: every panel, hung flat from a root group at the lab origin.
fn detector_json(lab: &LabGeometry) -> Value {
    let children: Vec<Value> = (0..lab.panels.len()).map(|i| json!({"panel": i})).collect();
    json!({
        "panels": lab.panels.iter().map(panel_json).collect::<Vec<_>>(),
        "hierarchy": {
            "name": "", "type": "", "fast_axis": [1.0, 0.0, 0.0], "slow_axis": [0.0, 1.0, 0.0],
            "origin": [0.0, 0.0, 0.0], "raw_image_offset": [0, 0], "image_size": [0, 0],
            "pixel_size": [0.0, 0.0], "trusted_range": [0.0, 0.0], "thickness": 0.0, "material": "",
            "mu": 0.0, "identifier": "", "mask": [], "gain": 1.0, "pedestal": 0.0,
            "px_mm_strategy": {"type": "SimplePxMmStrategy"}, "children": children
        }
    })
}

/// The imageset entry and the number of the image in its series (1 when not a series).
fn imageset_json(image: &ImageFile, rotation: bool) -> (Value, usize) {
    let empty = |mut v: Value| {
        for k in ["mask", "gain", "pedestal", "dx", "dy"] {
            v[k] = json!("");
        }
        v["params"] = json!({"dynamic_shadowing": "Auto", "multi_panel": false});
        v
    };
    match image {
        ImageFile::Nexus(name) => {
            let id = if rotation { "ImageSequence" } else { "ImageSet" };
            let mut v = json!({"__id__": id, "template": absolute(name), "single_file_indices": [0]});
            if !rotation {
                v = json!({"__id__": id, "images": [absolute(name)], "single_file_indices": [0]});
            }
            (empty(v), 1)
        }
        ImageFile::PerImage(name) => match series_template(&absolute(name)).filter(|_| rotation) {
            Some((template, number)) => (empty(json!({"__id__": "ImageSequence", "template": template})), number),
            None => (empty(json!({"__id__": "ImageSet", "images": [absolute(name)]})), 1),
        },
    }
}

/// The experiment list as JSON text.
pub fn expt_json(lab: &LabGeometry, image: Option<&ImageFile>) -> String {
    let b = &lab.beam;
    let mut experiment = json!({"__id__": "Experiment", "identifier": "", "beam": 0, "detector": 0, "crystal": 0});
    let mut list = json!({
        "__id__": "ExperimentList",
        "beam": [{
            "direction": b.direction, "wavelength": b.wavelength, "divergence": 0.0, "sigma_divergence": 0.0,
            "polarization_normal": b.polarization_normal, "polarization_fraction": b.polarization_fraction,
            "flux": 0.0, "transmission": 1.0
        }],
        "detector": [detector_json(lab)],
        "crystal": [{
            "__id__": "crystal", "real_space_a": lab.crystal.a, "real_space_b": lab.crystal.b,
            "real_space_c": lab.crystal.c, "space_group_hall_symbol": " P 1"
        }],
        "imageset": [], "goniometer": [], "scan": [], "profile": [], "scaling_model": []
    });
    let mut number = 1;
    if let Some(image) = image {
        let (set, n) = imageset_json(image, lab.scan.is_some());
        number = n;
        list["imageset"] = json!([set]);
        experiment["imageset"] = json!(0);
    }
    if let Some(s) = &lab.scan {
        let identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        list["goniometer"] = json!([{"rotation_axis": lab.rotation_axis, "fixed_rotation": identity, "setting_rotation": identity}]);
        // the scan's image range is the number the file name carries; its oscillation starts
        // at that image's start angle
        let start = s.start;
        list["scan"] = json!([{
            "image_range": [number, number + s.images - 1], "batch_offset": 0,
            "oscillation": [start, s.width], "exposure_time": vec![1.0; s.images],
            "epochs": vec![0.0; s.images], "valid_image_ranges": {}
        }]);
        experiment["goniometer"] = json!(0);
        experiment["scan"] = json!(0);
    }
    list["experiment"] = json!([experiment]);
    let mut text = serde_json::to_string_pretty(&list).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes the experiment list to `path` (no partial file on failure).
pub fn write_expt(path: &Path, lab: &LabGeometry, image: Option<&ImageFile>) -> Result<()> {
    write_atomic(path, expt_json(lab, image).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_replace_the_last_digits() {
        assert_eq!(series_template("/d/rot_0007.cbf"), Some(("/d/rot_####.cbf".into(), 7)));
        assert_eq!(series_template("a1/img12.nxs"), Some(("a1/img##.nxs".into(), 12)));
        assert_eq!(series_template("/d/image.cbf"), None);
    }
}
