//! The binary structure-factor cache ("Fdump.bin") the reference writes after reading an HKL
//! file: a one-line text header with the six index bounds, a form feed, then the padded grid as
//! little-endian doubles.

use super::hkl::{padded_cells, HklGrid};
use super::{read_all, write_atomic};
use crate::bail;
use crate::error::Result;
use std::path::Path;

/// Longest header accepted when reading (six 11-character integers fit easily).
const MAX_HEADER: usize = 256;

/// The dump's header bytes for a grid.
fn header(g: &HklGrid) -> String {
    format!(
        "{} {} {} {} {} {}\n\x0c",
        g.h_min, g.h_max, g.k_min, g.k_max, g.l_min, g.l_max
    )
}

/// Writes the grid in the reference's dump layout (byte-identical to the reference's output).
pub fn write_fdump(path: &Path, grid: &HklGrid) -> Result<()> {
    let cells = padded_cells([
        grid.h_min, grid.h_max, grid.k_min, grid.k_max, grid.l_min, grid.l_max,
    ]);
    if cells != Some(grid.values.len()) {
        bail!(
            "{}: cannot write structure-factor dump: grid holds {} values but its bounds need {}",
            crate::io::osname::display(path),
            grid.values.len(),
            cells.map_or_else(|| "an impossible size".to_string(), |c| c.to_string())
        );
    }
    let head = header(grid);
    let mut bytes = Vec::with_capacity(head.len() + 8 * grid.values.len());
    bytes.extend_from_slice(head.as_bytes());
    for v in &grid.values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    write_atomic(path, &bytes)
}

/// Reads a dump written by `write_fdump` (or by the reference program).
/// `count` is set to the number of real (unpadded) cells, as the reference does.
pub fn read_fdump(path: &Path) -> Result<HklGrid> {
    let name = crate::io::osname::display(path);
    let bytes = read_all(path)?;
    let Some(ff) = bytes.iter().take(MAX_HEADER).position(|&b| b == 0x0c) else {
        bail!(
            "{name}: not a structure-factor dump (no header ending in a form feed near the start)"
        );
    };
    let Ok(text) = std::str::from_utf8(&bytes[..ff]) else {
        bail!("{name}: not a structure-factor dump (header is not text)");
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != 6 {
        bail!(
            "{name}: structure-factor dump header should hold 6 integers (h_min h_max k_min k_max l_min l_max), found {} fields",
            fields.len()
        );
    }
    let mut b = [0i32; 6];
    for (i, f) in fields.iter().enumerate() {
        match f.parse::<i32>() {
            Ok(v) => b[i] = v,
            Err(_) => bail!(
                "{name}: structure-factor dump header field '{}' is not an integer",
                f.escape_debug()
            ),
        }
    }
    let Some(cells) = padded_cells(b) else {
        bail!(
            "{name}: structure-factor dump bounds h {}..{}, k {}..{}, l {}..{} are empty or too large",
            b[0], b[1], b[2], b[3], b[4], b[5]
        );
    };
    crate::io::limits::check(&name.to_string(), "structure-factor cells of the dump", cells as f64, crate::io::limits::BYTES_PER_GRID_CELL)?;
    let data = &bytes[ff + 1..];
    let want = cells * 8;
    if data.len() != want {
        bail!(
            "{name}: structure-factor dump should hold {want} bytes of data after its header for these bounds, found {}{}",
            data.len(),
            if data.len() < want { " (truncated)" } else { "" }
        );
    }
    let values: Vec<f64> = data
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")))
        .collect();
    let mut g = HklGrid {
        h_min: b[0],
        h_max: b[1],
        k_min: b[2],
        k_max: b[3],
        l_min: b[4],
        l_max: b[5],
        values,
        count: 0,
    };
    let (hr, kr, lr) = g.ranges();
    g.count = hr * kr * lr;
    Ok(g)
}

/// The record beside a cache `D` (`D.source`) naming the HKL file it was made from and the
/// SHA-256 of that file's bytes, so that a later run reading the cache alone can tell whether
/// the file has changed since.
pub fn source_record_path(dump: &Path) -> std::path::PathBuf {
    let mut name = dump.as_os_str().to_os_string();
    name.push(".source");
    std::path::PathBuf::from(name)
}

/// Write the cache `dump` of `grid` with its source record: `hkl` is the HKL file it was read
/// from, as named on the command line.
pub fn write_cache(dump: &Path, grid: &HklGrid, hkl: &str) -> Result<()> {
    write_fdump(dump, grid)?;
    let hkl_path = crate::io::osname::path(&hkl);
    let bytes = read_all(&hkl_path)?;
    // the absolute name, so that a run in another folder checks the same file
    let absolute = std::fs::canonicalize(&hkl_path).unwrap_or(hkl_path);
    let record = toml::toml! { hkl = (absolute.to_string_lossy().into_owned()) sha256 = (crate::io::sha256_hex(&bytes)) };
    write_atomic(&source_record_path(dump), format!("# nanobragg structure-factor cache: the HKL file it holds\n{record}").as_bytes())
}

/// What reading the cache `dump` alone found out about its source: `Ok(note)` to use it (the
/// source unchanged, gone, or unrecorded), an error when the source has changed since.
pub fn check_source(dump: &Path) -> Result<String> {
    let name = crate::io::osname::display(dump);
    let record_path = source_record_path(dump);
    if !record_path.exists() {
        return Ok(format!("WARNING: -dump {name}: no record of the HKL file this cache was made from ({} is missing; the C program writes none), so it is used unchecked", crate::io::osname::display(&record_path)));
    }
    let shown = crate::io::osname::display(&record_path);
    let bytes = read_all(&record_path)?;
    let table: toml::Table = std::str::from_utf8(&bytes).ok().and_then(|t| t.parse().ok()).ok_or_else(|| crate::error::Error::file(format!("{shown}: not a cache source record (TOML with hkl and sha256)")))?;
    let field = |k: &str| table.get(k).and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| crate::error::Error::file(format!("{shown}: cache source record without `{k}`")));
    let (hkl, sha) = (field("hkl")?, field("sha256")?);
    let hkl_path = Path::new(&hkl);
    if !hkl_path.exists() {
        return Ok(format!("-dump {name}: its HKL file {hkl} is gone; the cache is used as it was written"));
    }
    if crate::io::sha256_hex(&read_all(hkl_path)?) != sha {
        bail!("-dump {name}: the cache was made from {hkl}, which has changed since; give -hkl {hkl} to read it again (which rewrites the cache)");
    }
    Ok(format!("-dump {name}: the cache matches its HKL file {hkl}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::hkl::read_hkl;
    use crate::io::testutil::{golden_dir, temp_file, temp_path};

    #[test]
    fn header_and_layout() {
        let p = temp_file("tiny.hkl", b"0 0 0 1.5\n1 -1 0 2.5\n");
        let (g, _) = read_hkl(&p, 0.0).unwrap();
        let out = temp_path("tiny.Fdump.bin");
        write_fdump(&out, &g).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        let head = b"0 1 -1 0 0 0\n\x0c";
        assert_eq!(&bytes[..head.len()], head);
        // dims 3 x 3 x 2 = 18 doubles
        assert_eq!(bytes.len(), head.len() + 18 * 8);
        let vals: Vec<f64> = bytes[head.len()..]
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        // (h=0,k=0,l=0): ((0)*3 + 1)*2 + 0 = 2 ; (h=1,k=-1,l=0): ((1)*3+0)*2 = 6
        let mut want = vec![0.0; 18];
        want[2] = 1.5;
        want[6] = 2.5;
        assert_eq!(vals, want);

        let back = read_fdump(&out).unwrap();
        assert_eq!(back.values, g.values);
        assert_eq!(back.count, 4); // 2 x 2 x 1 real cells
        assert_eq!(
            (back.h_min, back.h_max, back.k_min, back.k_max, back.l_min, back.l_max),
            (0, 1, -1, 0, 0, 0)
        );
        std::fs::remove_file(&p).unwrap();
        std::fs::remove_file(&out).unwrap();
    }

    #[test]
    fn round_trip_preserves_all_bits() {
        let mut g = HklGrid::filled([-3, 2, 0, 4, -1, 1], 7.25, "test").unwrap();
        for (i, v) in g.values.iter_mut().enumerate() {
            if *v != 0.0 {
                *v = (i as f64).sqrt() * -1e-3 + f64::EPSILON;
            }
        }
        g.count = 6 * 5 * 3;
        let out = temp_path("rt.Fdump.bin");
        write_fdump(&out, &g).unwrap();
        let back = read_fdump(&out).unwrap();
        assert_eq!(back, g);
        std::fs::remove_file(&out).unwrap();
    }

    #[test]
    fn malformed_dumps_are_errors() {
        let g = HklGrid::filled([0, 1, 0, 1, 0, 1], 1.0, "t").unwrap();
        let out = temp_path("trunc.Fdump.bin");
        write_fdump(&out, &g).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        std::fs::write(&out, &bytes[..bytes.len() - 3]).unwrap();
        let e = read_fdump(&out).unwrap_err().0;
        assert!(
            e.contains("trunc.Fdump.bin") && e.contains("truncated"),
            "{e}"
        );

        std::fs::write(&out, b"0 1 0 1 0\n\x0c").unwrap();
        assert!(read_fdump(&out).unwrap_err().0.contains("6 integers"));
        std::fs::write(&out, b"0 1 0 1 0 z\n\x0c").unwrap();
        assert!(read_fdump(&out).unwrap_err().0.contains("'z'"));
        std::fs::write(&out, b"hello world").unwrap();
        assert!(read_fdump(&out)
            .unwrap_err()
            .0
            .contains("not a structure-factor dump"));
        std::fs::write(&out, b"2 1 0 0 0 0\n\x0c").unwrap();
        assert!(read_fdump(&out)
            .unwrap_err()
            .0
            .contains("empty or too large"));
        std::fs::remove_file(&out).unwrap();

        // Inconsistent grid refuses to be written and leaves no file.
        let mut bad = g.clone();
        bad.values.pop();
        let out2 = temp_path("bad.Fdump.bin");
        assert!(write_fdump(&out2, &bad).is_err());
        assert!(!out2.exists());
    }

    #[test]
    fn golden_fdump_byte_identical() {
        let Some(dir) = golden_dir() else { return };
        let (g, _) = read_hkl(&dir.join("inputs/P1_random.hkl"), 100.0).unwrap();
        let out = temp_path("golden.Fdump.bin");
        write_fdump(&out, &g).unwrap();
        let ours = std::fs::read(&out).unwrap();
        let reference = std::fs::read(dir.join("hkl_nearest/Fdump.bin")).unwrap();
        assert_eq!(ours.len(), reference.len());
        assert!(ours == reference, "Fdump.bin differs from the reference");
        let back = read_fdump(&dir.join("hkl_nearest/Fdump.bin")).unwrap();
        assert_eq!(back.values, g.values);
        assert_eq!(back.count, 25 * 25 * 25);
        std::fs::remove_file(&out).unwrap();
    }
}
