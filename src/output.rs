//! Image products derived from the float image, as the reference program makes them:
//! the scaled SMV integer image, the Poisson-noise SMV image and the PGM preview.

use crate::experiment::{Experiment, RTD};
use crate::io::cfmt::fmt_g;
use crate::io::smv::{smv_line, smv_preamble};
use crate::render::Stats;
use crate::rng::PoissonDeviates;

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
    l.push(smv_line("DETECTOR_SN", "000"));
    l.push(smv_line("BEAMLINE", "fake"));
    l
}

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

/// Poisson-noise image from the reference's generator; returns pixels, photon total and the
/// number of overloads.
pub fn noise_image(exp: &Experiment, image: &[f32], adc: f64, seed: i64) -> (Vec<u16>, f64, usize) {
    noise_image_from(exp, image, adc, &mut PoissonDeviates::new(seed))
}

/// As [`noise_image`], drawing from `dev` (one stream over the panels of a detector).
pub fn noise_image_from(exp: &Experiment, image: &[f32], adc: f64, dev: &mut PoissonDeviates) -> (Vec<u16>, f64, usize) {
    let mut sum = 0.0;
    let mut overloads = 0;
    let data = (0..image.len())
        .map(|i| {
            if !exp.in_roi(i) {
                return 0;
            }
            let n = dev.poidev(image[i]) as f64;
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
        let path = Path::new(p);
        if path.is_dir() {
            return Err(Error::new(format!("{p}: cannot write file: it is a folder")));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::new(format!("{p}: cannot write file: folder {} does not exist", dir.display())));
        }
        let probe = dir.join(format!(".nanobragg_probe_{}", std::process::id()));
        match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => return Err(Error::new(format!("{p}: cannot write file: {e}"))),
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
