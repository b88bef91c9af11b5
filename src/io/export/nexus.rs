//! NeXus NXmx images (HDF5, through the hdf5-metno crate): one entry holding the beam, the
//! sample's rotation axis and scan, and a detector with one NXdetector_module per panel. The
//! panels' images are stacked along the slow direction in one data set of shape
//! (images, sum of slow sizes, widest fast size), stored one chunk per image, compressed with
//! HDF5's built-in shuffle and deflate filters; each module's data_origin and data_size select
//! its own block.
//!
//! NeXus vectors are in the McStas frame, which is the DIALS (imgCIF) frame turned half a turn
//! about y: (x, y, z)_McStas = (-x, y, -z)_DIALS. NXmx ties the beam to McStas +z, so only
//! a beam along DIALS -z (nanoBragg's default +x) can be written.

use crate::bail;
use crate::error::{Error, Result};
use crate::experiment::lab::LabGeometry;
use crate::physics::vec3::*;
use hdf5_metno as hdf5;
use hdf5::types::VarLenUnicode;
use std::path::Path;

/// A DIALS-frame vector in the McStas frame (the map is its own inverse).
pub fn dials_to_mcstas(v: V3) -> V3 {
    [-v[0], v[1], -v[2]]
}

/// Why NXmx cannot hold this geometry, if it cannot: its beam must travel along DIALS -z.
pub fn unsupported(lab: &LabGeometry) -> Option<String> {
    let d = lab.beam.direction;
    if (d[2] - 1.0).abs() > 1e-12 || d[0].abs() > 1e-12 || d[1].abs() > 1e-12 {
        return Some(format!(
            "NXmx fixes the beam along the lab z axis, but this beam travels along ({}, {}, {}) in DIALS' frame (use the MOSFLM or DENZO convention, or -beam_vector 1 0 0)",
            -d[0], -d[1], -d[2]
        ));
    }
    None
}

fn h5err(path: &Path, e: hdf5::Error) -> Error {
    Error::file(format!("{}: cannot write NeXus file: {e}", crate::io::osname::display(path)))
}

fn text(s: &str) -> hdf5::Result<VarLenUnicode> {
    s.parse::<VarLenUnicode>().map_err(|e| hdf5::Error::from(e.to_string()))
}

fn set_attr_str(loc: &hdf5::Location, name: &str, value: &str) -> hdf5::Result<()> {
    loc.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&text(value)?)
}

fn group(parent: &hdf5::Group, name: &str, class: &str) -> hdf5::Result<hdf5::Group> {
    let g = parent.create_group(name)?;
    set_attr_str(&g, "NX_class", class)?;
    Ok(g)
}

fn str_field(g: &hdf5::Group, name: &str, value: &str) -> hdf5::Result<hdf5::Dataset> {
    let d = g.new_dataset::<VarLenUnicode>().create(name)?;
    d.write_scalar(&text(value)?)?;
    Ok(d)
}

fn num_field(g: &hdf5::Group, name: &str, value: f64, units: &str) -> hdf5::Result<hdf5::Dataset> {
    let d = g.new_dataset::<f64>().create(name)?;
    d.write_scalar(&value)?;
    if !units.is_empty() {
        set_attr_str(&d, "units", units)?;
    }
    Ok(d)
}

/// An NXtransformations axis: `values` along (translation) or about (rotation) `vector`,
/// placed after `depends_on` ("." ends the chain).
fn axis(g: &hdf5::Group, name: &str, values: &[f64], kind: &str, units: &str, vector: V3, depends_on: &str) -> hdf5::Result<()> {
    let d = g.new_dataset::<f64>().shape([values.len()]).create(name)?;
    d.write_raw(values)?;
    set_attr_str(&d, "transformation_type", kind)?;
    set_attr_str(&d, "units", units)?;
    set_attr_str(&d, "depends_on", depends_on)?;
    d.new_attr::<f64>().shape([3]).create("vector")?.write_raw(&vector[..])?;
    Ok(())
}

/// The sample: its rotation axis (McStas frame) and, for a scan, each image's start angle and
/// (as `phi_end`) end angle.
fn write_sample(entry: &hdf5::Group, lab: &LabGeometry) -> hdf5::Result<()> {
    let sample = group(entry, "sample", "NXsample")?;
    str_field(&sample, "name", "simulated crystal")?;
    if let Some(s) = &lab.scan {
        let t = group(&sample, "transformations", "NXtransformations")?;
        let starts: Vec<f64> = (0..s.images).map(|i| s.start + s.width * i as f64).collect();
        let ends: Vec<f64> = starts.iter().map(|a| a + s.width).collect();
        axis(&t, "phi", &starts, "rotation", "deg", dials_to_mcstas(lab.rotation_axis), ".")?;
        let e = t.new_dataset::<f64>().shape([ends.len()]).create("phi_end")?;
        e.write_raw(&ends[..])?;
        set_attr_str(&e, "units", "deg")?;
        str_field(&sample, "depends_on", "/entry/sample/transformations/phi")?;
    }
    Ok(())
}

/// Height (sum of slow sizes) and width (widest fast size) of one frame of the stacked data.
fn frame_shape(lab: &LabGeometry) -> (usize, usize) {
    let width = lab.panels.iter().map(|p| p.image_size[0]).max().unwrap_or(0);
    (lab.panels.iter().map(|p| p.image_size[1]).sum(), width)
}

/// One frame: the panels' images stacked along slow, each padded with zeros to the widest.
fn stack_panels(lab: &LabGeometry, images: &[&[i32]]) -> Vec<i32> {
    let (height, width) = frame_shape(lab);
    let mut stacked = vec![0i32; width * height];
    let mut slow0 = 0;
    for (p, image) in lab.panels.iter().zip(images) {
        let [nf, ns] = p.image_size;
        for s in 0..ns {
            stacked[(slow0 + s) * width..(slow0 + s) * width + nf].copy_from_slice(&image[s * nf..(s + 1) * nf]);
        }
        slow0 += ns;
    }
    stacked
}

/// zlib level of the image data: 4 is within a few percent of 9's size on noisy counts at a
/// fraction of its time.
pub const DEFLATE_LEVEL: u8 = 4;

/// Rows of a chunk: a whole frame, unless that passes 1 GiB (HDF5 refuses chunks of 4 GiB).
fn chunk_rows(height: usize, width: usize) -> usize {
    height.min(((1usize << 30) / (4 * width.max(1))).max(1)).max(1)
}

/// The detector: sensor, trusted values, the stacked frames and one module per panel.
fn write_detector(instrument: &hdf5::Group, lab: &LabGeometry, frames: &[i32]) -> hdf5::Result<hdf5::Dataset> {
    let det = group(instrument, "detector", "NXdetector")?;
    let p0 = &lab.panels[0];
    str_field(&det, "description", "nanobragg simulated detector")?;
    str_field(&det, "sensor_material", "Si")?;
    // dxtbx's parallax model needs a positive thickness: a sensor not modelled is written as
    // one nanometre thick, whose parallax (well under 1e-6 mm) is nil for any purpose
    num_field(&det, "sensor_thickness", p0.thickness.max(1e-6), "mm")?;
    // dxtbx takes (underload - 1, saturation) as the trusted range
    det.new_dataset::<i64>().create("underload_value")?.write_scalar(&((p0.trusted_range[0] + 1.0) as i64))?;
    det.new_dataset::<i64>().create("saturation_value")?.write_scalar(&(p0.trusted_range[1] as i64))?;
    let (height, width) = frame_shape(lab);
    let mut slow0 = 0;
    for (i, p) in lab.panels.iter().enumerate() {
        let [nf, ns] = p.image_size;
        let m = group(&det, &format!("module{i}"), "NXdetector_module")?;
        m.new_dataset::<i64>().shape([2]).create("data_origin")?.write_raw(&[slow0 as i64, 0][..])?;
        m.new_dataset::<i64>().shape([2]).create("data_size")?.write_raw(&[ns as i64, nf as i64][..])?;
        let here = format!("/entry/instrument/detector/module{i}");
        let origin = dials_to_mcstas(p.origin);
        let (dir, dist) = unitize(origin);
        let dir = if dist > 0.0 { dir } else { [0.0, 0.0, 1.0] };
        axis(&m, "module_offset", &[dist], "translation", "mm", dir, ".")?;
        let offset = format!("{here}/module_offset");
        axis(&m, "fast_pixel_direction", &[p.pixel_size[0]], "translation", "mm", dials_to_mcstas(p.fast_axis), &offset)?;
        axis(&m, "slow_pixel_direction", &[p.pixel_size[1]], "translation", "mm", dials_to_mcstas(p.slow_axis), &offset)?;
        slow0 += ns;
    }
    let count = frames.len() / (height * width).max(1);
    // one chunk per frame, byte-shuffled and deflated: both filters are built into every HDF5
    // library (so h5py, and through it dxtbx, reads them with no plugin), and photon counts
    // whose upper bytes are almost all zero shrink several times over
    let data = det
        .new_dataset::<i32>()
        .shape([count, height, width])
        .chunk([1, chunk_rows(height, width), width.max(1)])
        .shuffle()
        .deflate(DEFLATE_LEVEL)
        .create("data")?;
    data.write_raw(frames)?;
    Ok(data)
}

/// The whole file's content.
fn write_entry(file: &hdf5::File, lab: &LabGeometry, frames: &[i32]) -> hdf5::Result<()> {
    let entry = group(file, "entry", "NXentry")?;
    str_field(&entry, "definition", "NXmx")?;
    str_field(&entry, "start_time", "1970-01-01T00:00:00Z")?;
    let instrument = group(&entry, "instrument", "NXinstrument")?;
    str_field(&instrument, "name", "nanobragg simulation")?;
    let beam = group(&instrument, "beam", "NXbeam")?;
    num_field(&beam, "incident_wavelength", lab.beam.wavelength, "angstrom")?;
    write_detector(&instrument, lab, frames)?;
    let source = group(&entry, "source", "NXsource")?;
    str_field(&source, "name", "nanobragg simulated source")?;
    write_sample(&entry, lab)?;
    let data = group(&entry, "data", "NXdata")?;
    set_attr_str(&data, "signal", "data")?;
    data.link_hard("/entry/instrument/detector/data", "data")?;
    Ok(())
}

/// What an earlier file of a series holds: its frames, their shape, wavelength, each panel's
/// (value, vector) of module_offset, fast and slow pixel directions, and its images' end angles.
struct Earlier {
    frames: Vec<i32>,
    shape: Vec<usize>,
    wavelength: f64,
    geometry: Vec<f64>,
    ends: Vec<f64>,
}

fn read_earlier(path: &Path, panels: usize) -> hdf5::Result<Earlier> {
    let f = hdf5::File::open(path)?;
    let data = f.dataset("/entry/instrument/detector/data")?;
    let wavelength = f.dataset("/entry/instrument/beam/incident_wavelength")?.read_scalar::<f64>()?;
    let ends = match f.dataset("/entry/sample/transformations/phi_end") {
        Ok(d) => d.read_raw::<f64>()?,
        Err(_) => vec![],
    };
    let mut geometry = Vec::new();
    for i in 0..panels {
        let m = f.group(&format!("/entry/instrument/detector/module{i}"))?;
        for field in ["module_offset", "fast_pixel_direction", "slow_pixel_direction"] {
            let d = m.dataset(field)?;
            geometry.extend(d.read_raw::<f64>()?);
            geometry.extend(d.attr("vector")?.read_raw::<f64>()?);
        }
    }
    Ok(Earlier { frames: data.read_raw::<i32>()?, shape: data.shape(), wavelength, geometry, ends })
}

/// The frames already in an earlier file of this series and their number; fails when the
/// file is not one to which this image can be appended.
fn earlier_frames(path: &Path, lab: &LabGeometry) -> Result<(Vec<i32>, usize)> {
    let name = crate::io::osname::display(path);
    let e = read_earlier(path, lab.panels.len()).map_err(|e| Error::file(format!("{name}: cannot append to NeXus file: {e}")))?;
    let (frames, shape, wavelength, before, ends) = (e.frames, e.shape, e.wavelength, e.geometry, e.ends);
    let (height, width) = frame_shape(lab);
    if shape.len() != 3 || shape[1] != height || shape[2] != width || (wavelength - lab.beam.wavelength).abs() > 1e-12 {
        bail!("{name}: cannot append: its images or wavelength differ from this run's");
    }
    let mut here = Vec::new();
    for p in &lab.panels {
        let origin = dials_to_mcstas(p.origin);
        let (dir, dist) = unitize(origin);
        let dir = if dist > 0.0 { dir } else { [0.0, 0.0, 1.0] };
        for (value, vector) in [(dist, dir), (p.pixel_size[0], dials_to_mcstas(p.fast_axis)), (p.pixel_size[1], dials_to_mcstas(p.slow_axis))] {
            here.push(value);
            here.extend(vector);
        }
    }
    if before.len() != here.len() || before.iter().zip(&here).any(|(a, b)| (a - b).abs() > 1e-9) {
        bail!("{name}: cannot append: its detector geometry differs from this run's");
    }
    match (&lab.scan, ends.last()) {
        (Some(s), Some(&end)) if (s.start - end).abs() <= 1e-9 => {}
        (Some(s), Some(&end)) => bail!("{name}: cannot append: its scan ends at {end} degrees but this image starts at {} (-phi)", s.start),
        _ => bail!("{name}: cannot append: a series needs a rotation (-osc) in every image"),
    }
    Ok((frames, shape[0]))
}

/// Fails when `path` is not a file of this series that this run's image can continue.
pub fn check_append(path: &Path, lab: &LabGeometry) -> Result<()> {
    earlier_frames(path, lab).map(|_| ())
}

/// Writes an NXmx file of one image per panel (fast index varying fastest), through a
/// temporary file renamed into place, so a failure leaves no file. With `append` and an
/// existing file of the same series, the image becomes its next frame (the scan must continue
/// where the file's ends).
pub fn write_nexus(path: &Path, lab: &LabGeometry, images: &[&[i32]], append: bool) -> Result<()> {
    let name = crate::io::osname::display(path);
    if let Some(why) = unsupported(lab) {
        bail!("{name}: cannot write NeXus file: {why}");
    }
    if images.len() != lab.panels.len() || lab.panels.iter().zip(images).any(|(p, im)| p.image_size[0] * p.image_size[1] != im.len()) {
        bail!("{name}: cannot write NeXus file: the images do not match the panels");
    }
    let mut lab = lab.clone();
    let mut frames = Vec::new();
    if append && path.exists() {
        let (earlier, count) = earlier_frames(path, &lab)?;
        frames = earlier;
        if let Some(s) = &mut lab.scan {
            s.start -= s.width * count as f64;
            s.images = count + 1;
        }
    }
    frames.extend(stack_panels(&lab, images));
    let tmp = crate::io::temp_path(path)?;
    let result = hdf5::File::create(&tmp).and_then(|f| {
        write_entry(&f, &lab, &frames)?;
        f.close()
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(h5err(path, e));
    }
    crate::io::finish_temp(&tmp, path).map_err(|e| {
        Error::file(format!("{name}: cannot write NeXus file: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::lab::*;

    fn lab(start: f64) -> LabGeometry {
        LabGeometry {
            beam: BeamGeometry { wavelength: 1.0, direction: [0.0, 0.0, 1.0], polarization_normal: [0.0, 1.0, 0.0], polarization_fraction: 0.5 },
            panels: vec![PanelGeometry {
                name: "panel0".into(),
                origin: [-3.0, 2.0, -100.0],
                fast_axis: [1.0, 0.0, 0.0],
                slow_axis: [0.0, -1.0, 0.0],
                pixel_size: [0.1, 0.1],
                image_size: [64, 48],
                thickness: 0.0,
                mu: 0.0,
                trusted_range: [-1.0, 2147483646.0],
            }],
            rotation_axis: [1.0, 0.0, 0.0],
            scan: Some(ScanGeometry { start, width: 1.0, images: 1 }),
            crystal: CrystalGeometry { a: [40.0, 0.0, 0.0], b: [0.0, 50.0, 0.0], c: [0.0, 0.0, 60.0] },
        }
    }

    #[test]
    fn frames_are_chunked_one_per_image_compressed_and_appended_intact() {
        let dir = std::env::temp_dir().join(format!("nb_nexus_chunks_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.nxs");
        // small counts with the odd large one, as photon images are
        let frame = |k: usize| -> Vec<i32> { (0..64 * 48).map(|i| ((i * 7919 + k * 31) % 13) as i32 / 4 + if i % 997 == 0 { 70000 } else { 0 }).collect() };
        let frames: Vec<Vec<i32>> = (0..3).map(frame).collect();
        for (k, f) in frames.iter().enumerate() {
            write_nexus(&path, &lab(k as f64), &[f.as_slice()], true).unwrap();
        }
        let file = hdf5::File::open(&path).unwrap();
        let data = file.dataset("/entry/instrument/detector/data").unwrap();
        assert_eq!(data.shape(), vec![3, 48, 64]);
        assert_eq!(data.chunk(), Some(vec![1, 48, 64]));
        let filters = data.filters();
        assert!(filters.contains(&hdf5::filters::Filter::shuffle()), "{filters:?}");
        assert!(filters.contains(&hdf5::filters::Filter::deflate(DEFLATE_LEVEL)), "{filters:?}");
        assert!(data.storage_size() * 4 < (3 * 64 * 48 * 4) as u64, "stored {} bytes", data.storage_size());
        assert_eq!(data.read_raw::<i32>().unwrap(), frames.concat());
        drop(file);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn chunks_stay_under_hdf5s_limit() {
        assert_eq!(chunk_rows(1024, 1024), 1024);
        assert_eq!(chunk_rows(1 << 20, 1 << 16), 4096);
        assert_eq!(chunk_rows(3, 1 << 30), 1);
    }
}
