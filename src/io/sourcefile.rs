//! Source list files: one X-ray source per line, columns `X Y Z weight lambda`.

use super::{parse_number, read_all};
use crate::bail;
use crate::error::Result;
use std::path::Path;

/// One line of a source file; columns missing from the line are None.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SourceRow {
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub z: Option<f64>,
    pub weight: Option<f64>,
    pub lambda: Option<f64>,
}

/// Characters that separate columns (the reference's delimiter set, plus CR and other white
/// space so that DOS line ends are harmless).
fn is_delim(c: char) -> bool {
    matches!(c, ',' | ';' | ':' | '!') || c.is_whitespace()
}

/// Reads a source file. Blank lines and lines starting with `#` are skipped; up to five numeric
/// columns are read per line (extra columns are ignored).
pub fn read_sourcefile(path: &Path) -> Result<Vec<SourceRow>> {
    Ok(read_sourcefile_counted(path)?.0)
}

/// [`read_sourcefile`], also counting the `#` comment lines it skipped (the C program does not
/// skip them, so callers warn about them).
pub fn read_sourcefile_counted(path: &Path) -> Result<(Vec<SourceRow>, usize)> {
    let name = crate::io::osname::display(path);
    let mut comments = 0;
    let bytes = read_all(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut rows = Vec::new();
    for (lineno, line) in text.split('\n').enumerate() {
        let body = line.trim_start_matches(is_delim);
        if body.starts_with('#') {
            comments += 1;
            continue;
        }
        if body.is_empty() {
            continue;
        }
        let mut cols = [None; 5];
        for (i, tok) in body
            .split(is_delim)
            .filter(|t| !t.is_empty())
            .take(5)
            .enumerate()
        {
            match parse_number(tok) {
                Some(v) => cols[i] = Some(v),
                None => bail!(
                    "{name} line {}: '{}' is not a number (columns are X Y Z weight lambda)",
                    lineno + 1,
                    tok.escape_debug()
                ),
            }
        }
        rows.push(SourceRow {
            x: cols[0],
            y: cols[1],
            z: cols[2],
            weight: cols[3],
            lambda: cols[4],
        });
    }
    if rows.is_empty() {
        bail!("{name}: no sources found (expected lines of X Y Z weight lambda)");
    }
    Ok((rows, comments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testutil::{temp_file, temp_path, XorShift};

    #[test]
    fn reads_columns_and_missing_values() {
        let p = temp_file(
            "src.txt",
            b"# header\n-10 0 0 1.0 1.0e-10\n\n  ,; \n-10,0.02;0:0.2!1e-10 99 98\r\n\t-10 0 0\n5\n",
        );
        let (rows, comments) = read_sourcefile_counted(&p).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(comments, 1);
        assert_eq!(
            rows[0],
            SourceRow {
                x: Some(-10.0),
                y: Some(0.0),
                z: Some(0.0),
                weight: Some(1.0),
                lambda: Some(1.0e-10)
            }
        );
        assert_eq!(
            rows[1],
            SourceRow {
                x: Some(-10.0),
                y: Some(0.02),
                z: Some(0.0),
                weight: Some(0.2),
                lambda: Some(1e-10)
            }
        );
        assert_eq!(
            rows[2],
            SourceRow {
                x: Some(-10.0),
                y: Some(0.0),
                z: Some(0.0),
                weight: None,
                lambda: None
            }
        );
        assert_eq!(
            rows[3],
            SourceRow {
                x: Some(5.0),
                ..Default::default()
            }
        );
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn golden_sourcefiles() {
        let Some(dir) = crate::io::testutil::golden_dir() else {
            return;
        };
        let rows = read_sourcefile(&dir.join("inputs/sources_weighted.txt")).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].lambda, Some(1.02e-10));
        assert_eq!(rows[2].z, Some(0.015));
        let rows = read_sourcefile(&dir.join("inputs/sources_xyz_only.txt")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1],
            SourceRow {
                x: Some(-10.0),
                y: Some(0.01),
                z: Some(0.01),
                weight: None,
                lambda: None
            }
        );
    }

    #[test]
    fn errors() {
        let p = temp_file("badsrc.txt", b"1 2 3\n1 2 abc\n");
        let e = read_sourcefile(&p).unwrap_err().0;
        assert!(
            e.contains("badsrc.txt line 2: 'abc' is not a number"),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();
        let p = temp_file("emptysrc.txt", b"\n# only a comment\n \n");
        let e = read_sourcefile(&p).unwrap_err().0;
        assert!(
            e.contains("emptysrc.txt") && e.contains("no sources"),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();
        assert!(read_sourcefile(&temp_path("nosrc.txt")).is_err());
    }

    #[test]
    fn fuzz_no_panic() {
        let mut rng = XorShift(0x0123456789ABCDEF);
        let p = temp_path("fuzz.src");
        for _ in 0..2000 {
            let bytes = rng.bytes(100, b"0123456789 -+.eE\n\t,;:!#x");
            std::fs::write(&p, &bytes).unwrap();
            let _ = read_sourcefile(&p);
        }
        std::fs::remove_file(&p).unwrap();
    }
}
