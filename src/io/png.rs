//! PNG previews: colour-mapped signed images (normalised residuals) and log-scaled intensity
//! images with the beam centre marked.

use std::path::Path;

use super::write_atomic;
use crate::error::{Error, Result};

/// Blue (negative) - white (zero) - red (positive), saturating at |v| = `limit`.
fn diverging(v: f32, limit: f32) -> [u8; 3] {
    let t = (v / limit).clamp(-1.0, 1.0);
    let fade = |x: f32| (255.0 * (1.0 - x.abs())).round() as u8;
    if t >= 0.0 {
        [255, fade(t), fade(t)]
    } else {
        [fade(t), fade(t), 255]
    }
}

/// Write `data` (fast index fastest, `width` per row) as an RGB PNG with a diverging colour map
/// saturating at +-`limit`.
pub fn write_diverging_png(path: &Path, data: &[f32], width: usize, height: usize, limit: f32) -> Result<()> {
    let rgb: Vec<u8> = data.iter().flat_map(|&v| diverging(v, limit)).collect();
    write_rgb(path, &rgb, width, height)
}

/// Grey level of `v` photons on a log scale: black at 0, white at `top` and above, so faint
/// spots and the background stay visible beside the strongest reflections.
fn log_grey(v: f32, top: f32) -> u8 {
    if !(v > 0.0) || !(top > 0.0) {
        return 0;
    }
    let t = (v.ln_1p() / top.ln_1p()).min(1.0);
    (255.0 * t).round() as u8
}

/// The grey levels of an intensity image (`data`, photons per pixel): log scale up to its
/// brightest finite pixel, as RGB, with a red cross of `arm` pixels at `mark` (fast, slow
/// pixel coordinates; none when outside the image).
pub fn log_preview(data: &[f32], width: usize, height: usize, mark: Option<(f64, f64)>, arm: usize) -> Vec<u8> {
    let top = data.iter().copied().filter(|v| v.is_finite()).fold(0.0f32, f32::max);
    let mut rgb: Vec<u8> = data.iter().flat_map(|&v| [log_grey(v, top); 3]).collect();
    if let Some((f, s)) = mark.filter(|&(f, s)| f >= 0.0 && s >= 0.0 && f < width as f64 && s < height as f64) {
        let (f, s) = (f as i64, s as i64);
        let arm = arm as i64;
        for d in -arm..=arm {
            for (x, y) in [(f + d, s), (f, s + d)] {
                if (0..width as i64).contains(&x) && (0..height as i64).contains(&y) {
                    let k = 3 * (y as usize * width + x as usize);
                    rgb[k..k + 3].copy_from_slice(&[255, 0, 0]);
                }
            }
        }
    }
    rgb
}

/// Write an intensity image as a log-scaled PNG preview with the beam centre marked (see
/// [`log_preview`]).
pub fn write_log_png(path: &Path, data: &[f32], width: usize, height: usize, mark: Option<(f64, f64)>) -> Result<()> {
    let arm = (width.min(height) / 64).max(2);
    write_rgb(path, &log_preview(data, width, height, mark, arm), width, height)
}

fn write_rgb(path: &Path, rgb: &[u8], width: usize, height: usize) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, width as u32, height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let fail = |e: png::EncodingError| Error::new(format!("{}: cannot encode PNG: {e}", crate::io::osname::display(path)));
        let mut w = enc.write_header().map_err(fail)?;
        w.write_image_data(rgb).map_err(fail)?;
    }
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_preview_scales_to_the_brightest_pixel_and_marks_the_centre() {
        let data = [0.0, 1.0, 1000.0, f32::NAN, 9.0, 0.0, 0.0, 0.0, 0.0];
        let plain = log_preview(&data, 3, 3, None, 1);
        let grey = |k: usize| plain[3 * k];
        assert_eq!((grey(0), grey(2), grey(3)), (0, 255, 0));
        // log scale: 1 photon of 1000 is 10% grey, not 0.1%
        assert_eq!(grey(1), (255.0 * 2f32.ln() / 1001f32.ln()).round() as u8);
        // the cross at pixel (fast 1, slow 1) and its arms, in red
        let rgb = log_preview(&data, 3, 3, Some((1.2, 1.9)), 1);
        for k in [4, 1, 7, 3, 5] {
            assert_eq!(&rgb[3 * k..3 * k + 3], &[255, 0, 0], "pixel {k}");
        }
        assert_eq!(&rgb[0..3], &[0, 0, 0]);
        // a centre off the image marks nothing
        assert_eq!(log_preview(&data, 3, 3, Some((-4.0, 1.0)), 1), log_preview(&data, 3, 3, None, 1));
    }

    #[test]
    fn colour_map_ends_and_middle() {
        assert_eq!(diverging(0.0, 5.0), [255, 255, 255]);
        assert_eq!(diverging(10.0, 5.0), [255, 0, 0]);
        assert_eq!(diverging(-5.0, 5.0), [0, 0, 255]);
    }
}
