//! Image products derived from the float image, as the reference program makes them:
//! the scaled SMV integer image, the Poisson-noise SMV image and the PGM preview.

use crate::experiment::{Experiment, RTD};
use crate::io::cfmt::fmt_g;
use crate::io::smv::{smv_line, smv_preamble, smv_trailer};
use crate::engine::render::Stats;
use crate::physics::rng::PoissonDeviates;

/// Header lines of every SMV image the simulator writes (same keys and order as the reference).
pub fn smv_header_lines(exp: &Experiment) -> Vec<String> {
    let d = &exp.detector;
    let px = d.pixel_size;
    let mut l = smv_preamble();
    let g = fmt_g;
    l.push(smv_line("SIZE1", &d.fpixels.to_string()));
    l.push(smv_line("SIZE2", &d.spixels.to_string()));
    l.push(smv_line("PIXEL_SIZE", &g(px * 1000.0)));
    l.push(smv_line("DISTANCE", &g(d.distance * 1000.0)));
    l.push(smv_line("WAVELENGTH", &g(exp.beam.lambda0 * 1e10)));
    l.push(smv_line("BEAM_CENTER_X", &g(d.xbeam * 1000.0)));
    l.push(smv_line("BEAM_CENTER_Y", &g(d.ybeam * 1000.0)));
    l.push(smv_line("ADXV_CENTER_X", &g(d.fbeam * 1000.0)));
    l.push(smv_line("ADXV_CENTER_Y", &g((d.detsize_s - d.sbeam) * 1000.0)));
    l.push(smv_line("MOSFLM_CENTER_X", &g((d.sbeam - 0.5 * px) * 1000.0)));
    l.push(smv_line("MOSFLM_CENTER_Y", &g((d.fbeam - 0.5 * px) * 1000.0)));
    l.push(smv_line("DENZO_X_BEAM", &g(d.sbeam * 1000.0)));
    l.push(smv_line("DENZO_Y_BEAM", &g(d.fbeam * 1000.0)));
    // the reference writes this one without a terminating semicolon
    l.push(format!("DIALS_ORIGIN={},{},{}", g(d.dials_origin[0]), g(d.dials_origin[1]), g(d.dials_origin[2])));
    l.push(smv_line("XDS_ORGX", &g(d.orgx)));
    l.push(smv_line("XDS_ORGY", &g(d.orgy)));
    l.push(smv_line("CLOSE_DISTANCE", &g(d.close_distance * 1000.0)));
    let c = &exp.crystal;
    l.push(smv_line("PHI", &g(c.phi0 * RTD)));
    l.push(smv_line("OSC_START", &g(c.phi0 * RTD)));
    l.push(smv_line("OSC_RANGE", &g(c.osc * RTD)));
    l.push(smv_line("TWOTHETA", &g(d.twotheta * RTD)));
    l.extend(smv_trailer());
    l
}

/// Header lines of `-smv_header dials`: keys that dxtbx's reader of these images
/// (FormatSMVJHSim, chosen by BEAMLINE=fake) interprets as we mean them. It places the
/// detector at DISTANCE along the beam with fast = +x and slow = -y (DIALS frame) and the
/// origin at (-(BEAM_CENTER_X + pixel), image height + pixel - BEAM_CENTER_Y, -DISTANCE) mm,
/// so the centre is written to give back our origin; numbers carry every digit. ADC_OFFSET is
/// the pedestal it subtracts; ROTATION_AXIS (DIALS frame) is the axis it assumes, stated for
/// readers of the header. `exact` is false when the geometry has other axes (a rotated
/// detector or another convention's frame), which this reader cannot represent.
pub fn smv_header_lines_dials(exp: &Experiment, adc: f64) -> (Vec<String>, bool) {
    use crate::experiment::lab::lab_geometry;
    let lab = lab_geometry(exp);
    let p = &lab.panels[0];
    let px = p.pixel_size[0];
    let full = |v: f64| format!("{:?}", if v == 0.0 { 0.0 } else { v });
    let height = px * p.image_size[1] as f64;
    let c = &exp.crystal;
    let mut l = smv_preamble();
    l.push(smv_line("SIZE1", &p.image_size[0].to_string()));
    l.push(smv_line("SIZE2", &p.image_size[1].to_string()));
    l.push(smv_line("PIXEL_SIZE", &full(px)));
    l.push(smv_line("DISTANCE", &full(-p.origin[2])));
    l.push(smv_line("WAVELENGTH", &full(lab.beam.wavelength)));
    l.push(smv_line("BEAM_CENTER_X", &full(-p.origin[0] - px)));
    l.push(smv_line("BEAM_CENTER_Y", &full(height + px - p.origin[1])));
    l.push(smv_line("ADC_OFFSET", &full(adc)));
    let v = |a: [f64; 3]| format!("{},{},{}", full(a[0]), full(a[1]), full(a[2]));
    l.push(smv_line("DIALS_ORIGIN", &v(p.origin)));
    l.push(smv_line("ROTATION_AXIS", &v(lab.rotation_axis)));
    l.push(smv_line("OSC_START", &full(c.phi0 * RTD)));
    l.push(smv_line("OSC_RANGE", &full(c.osc * RTD)));
    l.extend(smv_trailer());
    let close = |a: [f64; 3], b: [f64; 3]| (0..3).all(|k| (a[k] - b[k]).abs() < 1e-12);
    let exact = close(p.fast_axis, [1.0, 0.0, 0.0])
        && close(p.slow_axis, [0.0, -1.0, 0.0])
        && close(lab.beam.direction, [0.0, 0.0, 1.0])
        && close(lab.rotation_axis, [1.0, 0.0, 0.0]);
    (l, exact)
}

/// Statistics of a whole detector, its panels' images taken in order as one image (so one
/// integer scale serves every panel); `panels[i]` is the experiment seen through panel i.
/// Also returns where each panel's pixels start in that joined image.
pub fn detector_statistics(panels: &[&Experiment], images: &[&[f32]]) -> (Stats, Vec<usize>) {
    let all: Vec<f32> = images.concat();
    let offsets: Vec<usize> = images.iter().scan(0, |acc, im| Some(std::mem::replace(acc, *acc + im.len()))).collect();
    let locate = |k: usize| {
        let i = offsets.partition_point(|&s| s <= k) - 1;
        (panels[i], k - offsets[i])
    };
    let stats = crate::engine::render::statistics(&all, panels[0].detector.fpixels, |k| { let (p, l) = locate(k); p.is_rendered(l) }, |k| { let (p, l) = locate(k); p.in_roi(l) });
    (stats, offsets)
}

/// The reference's ADC offset of the SMV images (counts), `-adc` unless given.
pub const DEFAULT_ADC: f64 = 40.0;

/// Scale for the integer image: the user's, or 55000 / max.
pub fn int_scale(user: Option<f64>, stats: &Stats) -> f64 {
    match user {
        Some(s) if s > 0.0 => s,
        _ => {
            if stats.max > 0.0 {
                55000.0 / stats.max
            } else {
                1.0
            }
        }
    }
}

/// Noiseless integer image: value * scale + adc, clipped to 0..65535, rounded (in single
/// precision, as the reference does).
pub fn int_image(exp: &Experiment, image: &[f32], scale: f64, adc: f64) -> Vec<u16> {
    (0..image.len())
        .map(|i| {
            if !exp.in_roi(i) {
                return 0;
            }
            let t = (image[i] as f64 * scale + adc).clamp(0.0, 65535.0);
            ((t + 0.5) as f32).floor() as u16
        })
        .collect()
}

/// PGM scale: the user's, or 250 / (5 rmsd), or the integer scale when the image is flat.
pub fn pgm_scale(user: Option<f64>, int_scale: f64, stats: &Stats) -> f64 {
    match user {
        Some(s) if s > 0.0 => s,
        _ => {
            if stats.rmsd > 0.0 {
                250.0 / (5.0 * stats.rmsd)
            } else {
                int_scale
            }
        }
    }
}

pub fn pgm_bytes(exp: &Experiment, image: &[f32], scale: f64) -> Vec<u8> {
    (0..image.len())
        .map(|i| {
            if !exp.in_roi(i) {
                return 0;
            }
            let t = (image[i] as f64 * scale).min(255.0);
            t as u8
        })
        .collect()
}

/// Poisson photon counts of the rendered pixels (0 outside the ROI), from the reference's
/// generator in pixel order.
pub fn poisson_photons(exp: &Experiment, image: &[f32], seed: i64) -> Vec<f64> {
    poisson_photons_from(exp, image, &mut PoissonDeviates::new(seed))
}

/// As [`poisson_photons`], drawing from `dev` (one stream over the panels of a detector).
pub fn poisson_photons_from(exp: &Experiment, image: &[f32], dev: &mut PoissonDeviates) -> Vec<f64> {
    (0..image.len()).map(|i| if exp.in_roi(i) { dev.poidev(image[i]) as f64 } else { 0.0 }).collect()
}

/// Poisson-noise image from the reference's generator; returns pixels, photon total and the
/// number of overloads.
pub fn noise_image(exp: &Experiment, image: &[f32], adc: f64, seed: i64) -> (Vec<u16>, f64, usize) {
    noise_counts(exp, &poisson_photons(exp, image, seed), adc)
}

/// The noise image of photon counts: photons + adc clipped to 16 bits; returns pixels, photon
/// total and the number of overloads.
pub fn noise_counts(exp: &Experiment, photons: &[f64], adc: f64) -> (Vec<u16>, f64, usize) {
    let mut sum = 0.0;
    let mut overloads = 0;
    let data = (0..photons.len())
        .map(|i| {
            if !exp.in_roi(i) {
                return 0;
            }
            let n = photons[i];
            sum += n;
            let mut t = n + adc;
            if t > 65535.0 {
                t = 65535.0;
                overloads += 1;
            }
            t as u16
        })
        .collect();
    (data, sum, overloads)
}

/// The file of panel `index` of `n`: the name itself for one panel, otherwise the panel index
/// before the extension (image.bin -> image_0.bin, image_1.bin, ...; noext -> noext_0).
pub fn panel_file_name(name: &str, index: usize, n: usize) -> String {
    if n == 1 {
        return name.to_string();
    }
    let path = std::path::Path::new(name);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let file = match path.extension() {
        Some(ext) => format!("{stem}_{index}.{}", ext.to_string_lossy()),
        None => format!("{stem}_{index}"),
    };
    path.with_file_name(file).to_string_lossy().into_owned()
}

/// Check, before any work, that each output file can be created: its folder exists and is
/// writable and the name is not a folder. (A failure while writing later could otherwise leave
/// the outputs written before it behind.)
pub fn check_writable(paths: &[&str]) -> crate::error::Result<()> {
    use crate::error::Error;
    use std::path::Path;
    for p in paths {
        let path = &crate::io::osname::path(&p);
        if path.is_dir() {
            return Err(Error::file(format!("{p}: cannot write file: it is a folder")));
        }
        // the file systems' limit on one name (a too-long name would fail only after the work)
        let len = path.file_name().map_or(0, |n| n.as_encoded_bytes().len());
        if len > 255 {
            return Err(Error::file(format!("{p}: cannot write file: the name is {len} bytes long (at most 255)")));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::file(format!("{p}: cannot write file: folder {} does not exist", dir.display())));
        }
        let probe = dir.join(format!(".nanobragg_probe_{}", std::process::id()));
        match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => return Err(Error::file(format!("{p}: cannot write file: {e}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::panel_file_name;

    #[test]
    fn panel_files_carry_the_index_before_the_extension() {
        assert_eq!(panel_file_name("image.bin", 3, 4), "image_3.bin");
        assert_eq!(panel_file_name("image.bin", 0, 1), "image.bin");
        assert_eq!(panel_file_name("out/a.b.img", 1, 2), "out/a.b_1.img");
        assert_eq!(panel_file_name("noext", 0, 2), "noext_0");
        assert_eq!(panel_file_name("dir.d/noext", 10, 12), "dir.d/noext_10");
    }
}
