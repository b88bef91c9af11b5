//! CBF images: an imgCIF header that states the whole geometry (beam, goniometer axis, scan,
//! every detector panel's origin and axes) followed by one binary section per panel, signed
//! 32-bit integers compressed with the CBF byte-offset scheme.
//!
//! The header carries the geometry categories (axis, diffrn_scan_frame_axis,
//! array_structure_list_axis) rather than a Pilatus-style text block, so readers such as
//! dxtbx (its full-CBF format class) rebuild the exact geometry of any panel orientation, and
//! no detector model is claimed for an image that is not one. All vectors are in the DIALS
//! (imgCIF) laboratory frame, lengths in mm.

use crate::io::write_atomic;
use crate::bail;
use crate::error::Result;
use crate::experiment::lab::LabGeometry;
use std::fmt::Write as _;
use std::path::Path;

/// The four bytes that start every binary section's data.
const BINARY_START: [u8; 4] = [0x0c, 0x1a, 0x04, 0xd5];

/// Byte-offset compression: each value is written as its difference from the previous one (the
/// first from zero) in 1 byte when it fits in -127..=127, otherwise as the escape 0x80 followed
/// by 2 bytes (-32767..=32767), otherwise as 0x80 0x00 0x80 followed by 4 bytes, all little
/// endian; a 64-bit escape is never needed for 32-bit values, whose differences fit in 33 bits,
/// but is written for completeness.
pub fn byte_offset_compress(values: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() + values.len() / 8 + 16);
    let mut previous: i64 = 0;
    for &v in values {
        let delta = v as i64 - previous;
        previous = v as i64;
        if (-127..=127).contains(&delta) {
            out.push(delta as i8 as u8);
            continue;
        }
        out.push(0x80);
        if (-32767..=32767).contains(&delta) {
            out.extend_from_slice(&(delta as i16).to_le_bytes());
            continue;
        }
        out.extend_from_slice(&i16::MIN.to_le_bytes());
        if (-(i32::MAX as i64)..=i32::MAX as i64).contains(&delta) {
            out.extend_from_slice(&(delta as i32).to_le_bytes());
            continue;
        }
        out.extend_from_slice(&i32::MIN.to_le_bytes());
        out.extend_from_slice(&delta.to_le_bytes());
    }
    out
}

/// Inverse of [`byte_offset_compress`]; None when the stream ends inside a value or decodes
/// to other than `count` values that fit in 32 bits.
pub fn byte_offset_decompress(bytes: &[u8], count: usize) -> Option<Vec<i32>> {
    let mut out = Vec::with_capacity(count);
    let mut value: i64 = 0;
    let mut i = 0;
    let take = |i: &mut usize, n: usize| -> Option<&[u8]> {
        let s = bytes.get(*i..*i + n)?;
        *i += n;
        Some(s)
    };
    while out.len() < count {
        let b = take(&mut i, 1)?[0] as i8;
        let mut delta = b as i64;
        if b == i8::MIN {
            let d16 = i16::from_le_bytes(take(&mut i, 2)?.try_into().ok()?);
            delta = d16 as i64;
            if d16 == i16::MIN {
                let d32 = i32::from_le_bytes(take(&mut i, 4)?.try_into().ok()?);
                delta = d32 as i64;
                if d32 == i32::MIN {
                    delta = i64::from_le_bytes(take(&mut i, 8)?.try_into().ok()?);
                }
            }
        }
        value += delta;
        out.push(i32::try_from(value).ok()?);
    }
    Some(out)
}

/// Numbers in the header: shortest round-trip decimal text, so geometry is exact.
fn num(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v };
    format!("{v:?}")
}

fn vec3(v: [f64; 3]) -> String {
    format!("{} {} {}", num(v[0]), num(v[1]), num(v[2]))
}

/// A `loop_` with its column names and rows.
fn cif_loop(out: &mut String, category: &str, columns: &[&str], rows: &[String]) {
    out.push_str("loop_\n");
    for c in columns {
        let _ = writeln!(out, "_{category}.{c}");
    }
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out.push('\n');
}

/// Header categories of beam, goniometer and scan.
fn beam_and_scan_text(out: &mut String, lab: &LabGeometry) {
    let b = &lab.beam;
    // dxtbx reads the polarization plane's normal as an angle from +y towards +x
    let angle = b.polarization_normal[0].atan2(b.polarization_normal[1]).to_degrees();
    let _ = write!(
        out,
        "_diffrn.id DS1\n\n_diffrn_source.diffrn_id DS1\n_diffrn_source.source simulation\n_diffrn_source.type nanobragg\n\n\
         _diffrn_radiation.diffrn_id DS1\n_diffrn_radiation.wavelength_id WAVELENGTH1\n\
         _diffrn_radiation.polarizn_source_ratio {}\n_diffrn_radiation.polarizn_source_norm {}\n\n\
         _diffrn_radiation_wavelength.id WAVELENGTH1\n_diffrn_radiation_wavelength.wavelength {}\n_diffrn_radiation_wavelength.wt 1.0\n\n",
        num(b.polarization_fraction),
        num(angle),
        num(b.wavelength)
    );
    {
        // a goniometer even for a still image: dxtbx's full-CBF readers build one from it
        out.push_str(
            "_diffrn_measurement.diffrn_id DS1\n_diffrn_measurement.id GONIOMETER\n_diffrn_measurement.method rotation\n\
             _diffrn_measurement.number_of_axes 1\n\n_diffrn_measurement_axis.measurement_id GONIOMETER\n\
             _diffrn_measurement_axis.axis_id PHI\n\n",
        );
    }
}

/// The name of panel `i`'s element, array and axes in the header.
fn element(i: usize) -> String {
    format!("ELEMENT{}", i + 1)
}

/// Header categories of the detector: the axes that place every panel, each panel's pixel
/// axes, and the per-frame settings of all axes.
fn detector_text(out: &mut String, lab: &LabGeometry) {
    let _ = write!(
        out,
        "_diffrn_detector.diffrn_id DS1\n_diffrn_detector.id DETECTOR\n_diffrn_detector.type 'nanobragg simulation'\n\
         _diffrn_detector.number_of_axes {}\n\n",
        3 * lab.panels.len()
    );
    let mut detector_axes = Vec::new();
    let mut axes = vec!["SOURCE general source . ".to_string() + &vec3(lab.beam.direction) + " 0 0 0"];
    axes.push("GRAVITY general gravity . 0 -1 0 0 0 0".into());
    axes.push(format!("PHI rotation goniometer . {} 0 0 0", vec3(lab.rotation_axis)));
    let (mut elements, mut frames, mut frame_axes, mut lists, mut list_axes) = (vec![], vec![], vec![], vec![], vec![]);
    // cbflib looks every detector axis up in the scan's axis settings too
    let mut scan_axes = Vec::new();
    for (i, p) in lab.panels.iter().enumerate() {
        let e = element(i);
        // each panel hangs from its own origin: one translation along each lab axis, set to
        // the origin's coordinates, then its slow and fast pixel axes
        for (k, axis) in ["X", "Y", "Z"].iter().enumerate() {
            let name = format!("{e}_{axis}");
            let depends = if k == 0 { format!("{e}_Y") } else if k == 1 { format!("{e}_Z") } else { ".".into() };
            let mut unit = [0.0; 3];
            unit[k] = 1.0;
            axes.push(format!("{name} translation detector {depends} {} 0 0 0", vec3(unit)));
            frame_axes.push(format!("FRAME1 {name} 0 {}", num(p.origin[k])));
            scan_axes.push(format!("{name} SCAN1 0 0 0 {} 0 0", num(p.origin[k])));
            detector_axes.push(format!("DETECTOR {name}"));
        }
        axes.push(format!("{e}_S translation detector {e}_X {} 0 0 0", vec3(p.slow_axis)));
        axes.push(format!("{e}_F translation detector {e}_S {} 0 0 0", vec3(p.fast_axis)));
        for axis in ["S", "F"] {
            frame_axes.push(format!("FRAME1 {e}_{axis} 0 0"));
            scan_axes.push(format!("{e}_{axis} SCAN1 0 0 0 0 0 0"));
        }
        elements.push(format!("{e} DETECTOR"));
        frames.push(format!("FRAME1 {e} ARRAY{} {}", i + 1, i + 1));
        lists.push(format!("ARRAY{} 1 {} 1 increasing {e}_F", i + 1, p.image_size[0]));
        lists.push(format!("ARRAY{} 2 {} 2 increasing {e}_S", i + 1, p.image_size[1]));
        list_axes.push(format!("{e}_F {e}_F 0.0 {}", num(p.pixel_size[0])));
        list_axes.push(format!("{e}_S {e}_S 0.0 {}", num(p.pixel_size[1])));
    }
    cif_loop(out, "diffrn_detector_axis", &["detector_id", "axis_id"], &detector_axes);
    cif_loop(out, "diffrn_detector_element", &["id", "detector_id"], &elements);
    cif_loop(out, "diffrn_data_frame", &["id", "detector_element_id", "array_id", "binary_id"], &frames);
    let axis_columns = ["id", "type", "equipment", "depends_on", "vector[1]", "vector[2]", "vector[3]", "offset[1]", "offset[2]", "offset[3]"];
    cif_loop(out, "axis", &axis_columns, &axes);
    let _ = write!(
        out,
        "_diffrn_scan.id SCAN1\n_diffrn_scan.frame_id_start FRAME1\n_diffrn_scan.frame_id_end FRAME1\n_diffrn_scan.frames 1\n\n\
         _diffrn_scan_frame.frame_id FRAME1\n_diffrn_scan_frame.frame_number 1\n_diffrn_scan_frame.integration_time 1.0\n\
         _diffrn_scan_frame.scan_id SCAN1\n_diffrn_scan_frame.date 1970-01-01T00:00:00\n\n"
    );
    // a still image is a zero-width rotation at phi = 0
    let (start, width) = lab.scan.as_ref().map(|s| (s.start, s.width)).unwrap_or((0.0, 0.0));
    scan_axes.insert(0, format!("PHI SCAN1 {} {} {} 0 0 0", num(start), num(width), num(width)));
    frame_axes.insert(0, format!("FRAME1 PHI {} 0", num(start)));
    let scan_columns = ["axis_id", "scan_id", "angle_start", "angle_range", "angle_increment", "displacement_start", "displacement_range", "displacement_increment"];
    cif_loop(out, "diffrn_scan_axis", &scan_columns, &scan_axes);
    cif_loop(out, "diffrn_scan_frame_axis", &["frame_id", "axis_id", "angle", "displacement"], &frame_axes);
    let list_columns = ["array_id", "index", "dimension", "precedence", "direction", "axis_set_id"];
    cif_loop(out, "array_structure_list", &list_columns, &lists);
    cif_loop(out, "array_structure_list_axis", &["axis_set_id", "axis_id", "displacement", "displacement_increment"], &list_axes);
}

/// The whole file: header, then one compressed binary section per panel.
pub fn cbf_bytes(lab: &LabGeometry, images: &[&[i32]], name: &str) -> Vec<u8> {
    let mut text = String::from("###CBF: VERSION 1.5\n# written by nanobragg (simulated image)\n\n");
    let block: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let _ = write!(text, "data_{block}\n\n");
    beam_and_scan_text(&mut text, lab);
    detector_text(&mut text, lab);
    let n = lab.panels.len();
    let intensities: Vec<String> = (0..n)
        .map(|i| format!("ARRAY{} {} linear 1.0 0.0 {} {}", i + 1, i + 1, num(lab.panels[i].trusted_range[1]), num(lab.panels[i].trusted_range[0])))
        .collect();
    cif_loop(&mut text, "array_intensities", &["array_id", "binary_id", "linearity", "gain", "gain_esd", "overload", "undefined_value"], &intensities);
    let structures: Vec<String> = (0..n).map(|i| format!("ARRAY{} 'signed 32-bit integer' x-CBF_BYTE_OFFSET little_endian", i + 1)).collect();
    cif_loop(&mut text, "array_structure", &["id", "encoding_type", "compression_type", "byte_order"], &structures);
    text.push_str("loop_\n_array_data.array_id\n_array_data.binary_id\n_array_data.data\n");
    let mut bytes = text.into_bytes();
    for (i, (p, image)) in lab.panels.iter().zip(images).enumerate() {
        let packed = byte_offset_compress(image);
        let mime = format!(
            "ARRAY{id} {id}\n;\n--CIF-BINARY-FORMAT-SECTION--\r\nContent-Type: application/octet-stream;\r\n     conversions=\"x-CBF_BYTE_OFFSET\"\r\n\
             Content-Transfer-Encoding: BINARY\r\nX-Binary-Size: {size}\r\nX-Binary-ID: {id}\r\n\
             X-Binary-Element-Type: \"signed 32-bit integer\"\r\nX-Binary-Element-Byte-Order: LITTLE_ENDIAN\r\n\
             X-Binary-Number-of-Elements: {count}\r\nX-Binary-Size-Fastest-Dimension: {fast}\r\nX-Binary-Size-Second-Dimension: {slow}\r\n\
             X-Binary-Size-Padding: 0\r\n\r\n",
            id = i + 1,
            size = packed.len(),
            count = image.len(),
            fast = p.image_size[0],
            slow = p.image_size[1],
        );
        bytes.extend_from_slice(mime.as_bytes());
        bytes.extend_from_slice(&BINARY_START);
        bytes.extend_from_slice(&packed);
        bytes.extend_from_slice(b"\r\n--CIF-BINARY-FORMAT-SECTION----\r\n;\n\n");
    }
    bytes
}

/// Writes a CBF file of one image per panel (fast index varying fastest); fails, leaving no
/// file, when an image does not match its panel's size.
pub fn write_cbf(path: &Path, lab: &LabGeometry, images: &[&[i32]]) -> Result<()> {
    let name = crate::io::osname::display(path);
    if images.len() != lab.panels.len() {
        bail!("{name}: cannot write CBF: {} images for {} panels", images.len(), lab.panels.len());
    }
    for (p, image) in lab.panels.iter().zip(images) {
        if p.image_size[0] * p.image_size[1] != image.len() {
            bail!("{name}: cannot write CBF: panel {} is {} x {} pixels but its image has {}", p.name, p.image_size[0], p.image_size[1], image.len());
        }
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    write_atomic(path, &cbf_bytes(lab, images, &stem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_offset_round_trip_covers_every_width() {
        let values = vec![0, 5, -122, 127, 0, -127, 300, -32767, 32767, 40000, -70000, i32::MAX, i32::MIN, 0, 7];
        let packed = byte_offset_compress(&values);
        assert_eq!(byte_offset_decompress(&packed, values.len()), Some(values));
        // widths: 0->5->-122 one byte each; 127 = 249 away: escape + 2 bytes
        assert_eq!(&packed[..3], &[0u8, 5, (-127i8) as u8]);
        assert_eq!(&packed[3..6], &[0x80, 249, 0]);
        assert_eq!(byte_offset_decompress(&packed[..packed.len() - 1], 15), None);
    }
}
