//! Colour-mapped PNG previews of signed images (normalised residuals).

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
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, width as u32, height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let fail = |e: png::EncodingError| Error::new(format!("{}: cannot encode PNG: {e}", crate::io::osname::display(path)));
        let mut w = enc.write_header().map_err(fail)?;
        w.write_image_data(&rgb).map_err(fail)?;
    }
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_map_ends_and_middle() {
        assert_eq!(diverging(0.0, 5.0), [255, 255, 255]);
        assert_eq!(diverging(10.0, 5.0), [255, 0, 0]);
        assert_eq!(diverging(-5.0, 5.0), [0, 0, 255]);
    }
}
