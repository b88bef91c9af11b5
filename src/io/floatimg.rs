//! Raw float images: little-endian `f32` per pixel, no header.

use super::{read_all, write_atomic};
use crate::bail;
use crate::error::Result;
use std::path::Path;

/// Writes the pixels as consecutive little-endian 32-bit floats.
pub fn write_float_image(path: &Path, data: &[f32]) -> Result<()> {
    let mut bytes = Vec::with_capacity(4 * data.len());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    write_atomic(path, &bytes)
}

/// Reads a raw float image; with `expected_len`, the file must hold exactly that many pixels.
pub fn read_float_image(path: &Path, expected_len: Option<usize>) -> Result<Vec<f32>> {
    let name = crate::io::osname::display(path);
    let bytes = read_all(path)?;
    if bytes.len() % 4 != 0 {
        bail!(
            "{name}: float image length {} bytes is not a multiple of 4",
            bytes.len()
        );
    }
    let n = bytes.len() / 4;
    if let Some(want) = expected_len {
        if n != want {
            bail!("{name}: float image holds {n} pixels, expected {want}");
        }
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4-byte chunk")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testutil::{temp_file, temp_path};

    #[test]
    fn round_trip_and_layout() {
        let data = [0.0f32, -1.5, 1e-30, f32::MAX, f32::NAN, 3.25];
        let p = temp_path("img.bin");
        write_float_image(&p, &data).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(b.len(), 24);
        assert_eq!(&b[4..8], &[0x00, 0x00, 0xc0, 0xbf]);
        let back = read_float_image(&p, Some(6)).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&data));
        assert_eq!(read_float_image(&p, None).unwrap().len(), 6);
        let e = read_float_image(&p, Some(7)).unwrap_err().0;
        assert!(
            e.contains("img.bin") && e.contains("6 pixels, expected 7"),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn odd_length_is_error() {
        let p = temp_file("odd.bin", &[0u8; 7]);
        assert!(read_float_image(&p, None)
            .unwrap_err()
            .0
            .contains("multiple of 4"));
        std::fs::remove_file(&p).unwrap();
        assert!(read_float_image(&temp_path("nofloat.bin"), None).is_err());
    }

    #[test]
    fn golden_float_readable() {
        let Some(dir) = crate::io::testutil::golden_dir() else {
            return;
        };
        let v = read_float_image(&dir.join("hkl_nearest/float.bin"), Some(128 * 128)).unwrap();
        assert!(v.iter().all(|x| x.is_finite() && *x >= 0.0));
    }
}
