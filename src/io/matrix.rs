//! MOSFLM-style orientation matrix files: nine numbers, three per line, where column j of the
//! first three lines is reciprocal vector j (a*, b*, c*) in inverse Angstrom times wavelength.

use super::{parse_number, read_all};
use crate::bail;
use crate::error::Result;
use std::path::Path;

/// Reads the first nine numbers of a MOSFLM matrix file. Row `i` of the result is file line `i`:
/// `[a*_i, b*_i, c*_i]` (the i-th Cartesian component of each reciprocal vector). Anything after
/// the ninth number (MOSFLM's missetting angles, cell, ...) is ignored.
pub fn read_mosflm_matrix(path: &Path) -> Result<[[f64; 3]; 3]> {
    let name = crate::io::osname::display(path);
    let bytes = read_all(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut m = [[0.0f64; 3]; 3];
    let mut n = 0usize;
    'lines: for (lineno, line) in text.split('\n').enumerate() {
        for tok in line.split_whitespace() {
            if n == 9 {
                break 'lines;
            }
            match parse_number(tok) {
                Some(v) => m[n / 3][n % 3] = v,
                None => bail!(
                    "{name} line {}: '{}' is not a number (a MOSFLM matrix starts with 9 numbers)",
                    lineno + 1,
                    tok.escape_debug()
                ),
            }
            n += 1;
        }
    }
    if n < 9 {
        bail!("{name}: expected 9 numbers for the orientation matrix, found {n}");
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testutil::{temp_file, temp_path, XorShift};

    #[test]
    fn reads_rows_as_in_file() {
        let p = temp_file(
            "a.mat",
            b" -0.0123 0.0045 1e-3\n0.5 0.6 0.7\n  8 9\n10\n 0.0 0.0 0.0\n 70 80 90 90 90 90\n",
        );
        let m = read_mosflm_matrix(&p).unwrap();
        assert_eq!(
            m,
            [[-0.0123, 0.0045, 0.001], [0.5, 0.6, 0.7], [8.0, 9.0, 10.0]]
        );
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn golden_matrix() {
        let Some(dir) = crate::io::testutil::golden_dir() else {
            return;
        };
        let m = read_mosflm_matrix(&dir.join("inputs/A_triclinic.mat")).unwrap();
        assert_eq!(m[0], [0.0109798942, -0.0060476553, -0.0031006198]);
        assert_eq!(m[2], [0.0040835178, -0.0019662697, 0.0106339332]);
    }

    #[test]
    fn errors() {
        let p = temp_file("short.mat", b"1 2 3\n4 5 6\n7 8\n");
        let e = read_mosflm_matrix(&p).unwrap_err().0;
        assert!(
            e.contains("short.mat") && e.contains("expected 9 numbers") && e.contains("found 8"),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();
        let p = temp_file("bad.mat", b"1 2 3\n4 five 6\n7 8 9\n");
        let e = read_mosflm_matrix(&p).unwrap_err().0;
        assert!(e.contains("bad.mat line 2: 'five' is not a number"), "{e}");
        std::fs::remove_file(&p).unwrap();
        let e = read_mosflm_matrix(&temp_path("none.mat")).unwrap_err().0;
        assert!(e.contains("none.mat"));
    }

    #[test]
    fn fuzz_no_panic() {
        let mut rng = XorShift(0xDEADBEEFCAFEF00D);
        let p = temp_path("fuzz.mat");
        for _ in 0..2000 {
            let bytes = rng.bytes(100, b"0123456789 -+.eE\n\tx");
            std::fs::write(&p, &bytes).unwrap();
            let _ = read_mosflm_matrix(&p);
        }
        std::fs::remove_file(&p).unwrap();
    }
}
