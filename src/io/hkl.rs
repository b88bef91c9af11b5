//! Structure-factor text files ("h k l F" per line) and the padded grid they fill.

use super::cfmt::fmt_g;
use super::{parse_number, read_all};
use crate::bail;
use crate::error::Result;
use std::path::Path;

/// Largest |index| accepted; real data sets stay far below this.
const MAX_ABS_INDEX: f64 = 100_000.0;
/// Largest number of grid cells (padded) accepted, to refuse absurd allocations (2 GiB of f64).
pub const MAX_GRID_CELLS: usize = 1 << 28;

/// Structure factors on a dense (h, k, l) grid.
///
/// The layout matches the reference program's nested arrays: each axis has one extra slot past
/// its range (always 0.0), so `values.len() == (h_range+1)*(k_range+1)*(l_range+1)` with
/// `h_range = h_max - h_min + 1`, and the cell of (h, k, l) is at
/// `((h-h_min)*(k_range+1) + (k-k_min))*(l_range+1) + (l-l_min)`.
#[derive(Clone, Debug, PartialEq)]
pub struct HklGrid {
    pub h_min: i32,
    pub h_max: i32,
    pub k_min: i32,
    pub k_max: i32,
    pub l_min: i32,
    pub l_max: i32,
    pub values: Vec<f64>,
    /// Number of reflections read (for a dump file: the number of real cells).
    pub count: usize,
}

impl HklGrid {
    /// Index ranges (number of distinct indices) along h, k, l.
    pub fn ranges(&self) -> (usize, usize, usize) {
        (
            (self.h_max as i64 - self.h_min as i64 + 1) as usize,
            (self.k_max as i64 - self.k_min as i64 + 1) as usize,
            (self.l_max as i64 - self.l_min as i64 + 1) as usize,
        )
    }

    /// Padded dimensions (range + 1 along each axis), i.e. the shape of `values`.
    pub fn dims(&self) -> (usize, usize, usize) {
        let (h, k, l) = self.ranges();
        (h + 1, k + 1, l + 1)
    }

    /// Position of (h, k, l) in `values`, or None outside the indexed ranges.
    pub fn index_of(&self, h: i32, k: i32, l: i32) -> Option<usize> {
        if h < self.h_min || h > self.h_max || k < self.k_min || k > self.k_max {
            return None;
        }
        if l < self.l_min || l > self.l_max {
            return None;
        }
        let (_, kd, ld) = self.dims();
        let hi = (h as i64 - self.h_min as i64) as usize;
        let ki = (k as i64 - self.k_min as i64) as usize;
        let li = (l as i64 - self.l_min as i64) as usize;
        Some((hi * kd + ki) * ld + li)
    }

    /// Structure factor stored for (h, k, l), or None outside the grid.
    pub fn lookup(&self, h: i32, k: i32, l: i32) -> Option<f64> {
        self.index_of(h, k, l).map(|i| self.values[i])
    }

    /// A grid over the given bounds with every real cell set to `fill` and padding at 0.0.
    /// `what` names the source in error messages.
    pub fn filled(bounds: [i32; 6], fill: f64, what: &str) -> Result<HklGrid> {
        let [h_min, h_max, k_min, k_max, l_min, l_max] = bounds;
        let cells = padded_cells(bounds)
            .ok_or_else(|| crate::error::Error::new(format!(
                "{what}: index ranges h {h_min}..{h_max}, k {k_min}..{k_max}, l {l_min}..{l_max} are empty or too large"
            )))?;
        crate::io::limits::check(what, &format!("structure-factor cells (h {h_min}..{h_max}, k {k_min}..{k_max}, l {l_min}..{l_max})"), cells as f64, crate::io::limits::BYTES_PER_GRID_CELL)?;
        let mut g = HklGrid {
            h_min,
            h_max,
            k_min,
            k_max,
            l_min,
            l_max,
            values: vec![0.0; cells],
            count: 0,
        };
        if fill != 0.0 {
            let (hr, kr, lr) = g.ranges();
            let (_, kd, ld) = g.dims();
            for hi in 0..hr {
                for ki in 0..kr {
                    let base = (hi * kd + ki) * ld;
                    g.values[base..base + lr].fill(fill);
                }
            }
        }
        Ok(g)
    }
}

/// Number of padded cells for the bounds, or None when a range is empty or the grid too large.
pub(crate) fn padded_cells(bounds: [i32; 6]) -> Option<usize> {
    let mut total: usize = 1;
    for ax in 0..3 {
        let lo = bounds[2 * ax] as i64;
        let hi = bounds[2 * ax + 1] as i64;
        if hi < lo {
            return None;
        }
        let padded = usize::try_from(hi - lo + 2).ok()?;
        total = total.checked_mul(padded)?;
    }
    (total <= MAX_GRID_CELLS).then_some(total)
}

/// Reads an HKL text file into a grid whose real cells default to `default_f`.
///
/// Each non-blank line that does not start with `#` or `!` must begin with four numbers
/// `h k l F` (separated by white space or commas; further columns are ignored). Indices that are
/// not integers are rounded (half down) and reported in the returned warnings.
pub fn read_hkl(path: &Path, default_f: f64) -> Result<(HklGrid, Vec<String>)> {
    let name = crate::io::osname::display(path);
    let bytes = read_all(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut warnings = Vec::new();
    let mut refl: Vec<([i32; 3], f64)> = Vec::new();

    for (lineno, line) in text.split('\n').enumerate() {
        let lineno = lineno + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let tokens: Vec<&str> = trimmed
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.len() < 4 {
            bail!(
                "{name} line {lineno}: expected 4 numbers (h k l F), found {}",
                tokens.len()
            );
        }
        let mut nums = [0.0f64; 4];
        for (i, tok) in tokens[..4].iter().enumerate() {
            match parse_number(tok) {
                Some(v) => nums[i] = v,
                None => bail!(
                    "{name} line {lineno}: '{}' is not a number (expected h k l F)",
                    tok.escape_debug()
                ),
            }
        }
        let mut idx = [0i32; 3];
        for (i, axis) in ["h", "k", "l"].iter().enumerate() {
            let v = nums[i];
            if !v.is_finite() || v.abs() > MAX_ABS_INDEX {
                bail!(
                    "{name} line {lineno}: index {axis} = {} is out of range",
                    fmt_g(v)
                );
            }
            let stored = (v - 0.5).ceil();
            if v != (v - 0.4).ceil() {
                warnings.push(format!(
                    "{name} line {lineno}: non-integer value for {axis} ({}), using {}",
                    fmt_g(v),
                    stored as i32
                ));
            }
            idx[i] = stored as i32;
        }
        refl.push((idx, nums[3]));
    }

    if refl.is_empty() {
        bail!("{name}: no reflections found (expected lines of h k l F)");
    }

    let mut b = [i32::MAX, i32::MIN, i32::MAX, i32::MIN, i32::MAX, i32::MIN];
    for (idx, _) in &refl {
        for ax in 0..3 {
            b[2 * ax] = b[2 * ax].min(idx[ax]);
            b[2 * ax + 1] = b[2 * ax + 1].max(idx[ax]);
        }
    }
    let mut grid = HklGrid::filled(b, default_f, &name.to_string())?;
    for (idx, f) in &refl {
        let i = grid
            .index_of(idx[0], idx[1], idx[2])
            .expect("index within computed bounds");
        grid.values[i] = *f;
    }
    grid.count = refl.len();
    Ok((grid, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testutil::{temp_file, temp_path, XorShift};

    #[test]
    fn reads_small_file_with_padding_and_default() {
        let p = temp_file(
            "small.hkl",
            b"# comment\n  ! another\n\n0 0 0 100.0\n2 0 0 80.0\n0,2,0,60.0 extra cols 7\n\
              1 1 0 40.0\r\n-1 0 0 50.0\n0 0 1 70.0\n",
        );
        let (g, w) = read_hkl(&p, 5.0).unwrap();
        assert!(w.is_empty());
        assert_eq!(
            (g.h_min, g.h_max, g.k_min, g.k_max, g.l_min, g.l_max),
            (-1, 2, 0, 2, 0, 1)
        );
        assert_eq!(g.count, 6);
        assert_eq!(g.ranges(), (4, 3, 2));
        assert_eq!(g.dims(), (5, 4, 3));
        assert_eq!(g.values.len(), 60);
        assert_eq!(g.lookup(0, 0, 0), Some(100.0));
        assert_eq!(g.lookup(2, 0, 0), Some(80.0));
        assert_eq!(g.lookup(0, 2, 0), Some(60.0));
        assert_eq!(g.lookup(1, 1, 0), Some(40.0));
        assert_eq!(g.lookup(-1, 0, 0), Some(50.0));
        assert_eq!(g.lookup(0, 0, 1), Some(70.0));
        assert_eq!(g.lookup(2, 2, 1), Some(5.0));
        assert_eq!(g.lookup(3, 0, 0), None);
        assert_eq!(g.lookup(0, 0, -1), None);
        // Index formula and padding: (0,0,0) sits at ((0-(-1))*4 + 0)*3 + 0 = 12.
        assert_eq!(g.values[12], 100.0);
        let (hd, kd, ld) = g.dims();
        let mut real = 0;
        for h in 0..hd {
            for k in 0..kd {
                for l in 0..ld {
                    let v = g.values[(h * kd + k) * ld + l];
                    if h == hd - 1 || k == kd - 1 || l == ld - 1 {
                        assert_eq!(v, 0.0);
                    } else {
                        real += 1;
                        assert_ne!(v, 0.0);
                    }
                }
            }
        }
        assert_eq!(real, 24);
        // default_F = 0 leaves unlisted cells at zero.
        let (g0, _) = read_hkl(&p, 0.0).unwrap();
        assert_eq!(g0.lookup(2, 2, 1), Some(0.0));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn non_integer_indices_warn_and_round() {
        let p = temp_file("nonint.hkl", b"0.5 1.7 -2.6 3\n1 1 1 1\n0.55 0 0 9\n");
        let (g, w) = read_hkl(&p, 0.0).unwrap();
        // 0.5 -> ceil(0.0) = 0; 1.7 -> 2; -2.6 -> -3; 0.55 -> 1 (warned: ceil(0.15) = 1 != 0.55)
        assert_eq!(g.lookup(0, 2, -3), Some(3.0));
        assert_eq!(g.lookup(1, 0, 0), Some(9.0));
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(
            w[0].contains("line 1") && w[0].contains("for h (0.5)"),
            "{}",
            w[0]
        );
        assert!(
            w[3].contains("line 3") && w[3].contains("(0.55)"),
            "{}",
            w[3]
        );
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn duplicate_reflection_last_wins() {
        let p = temp_file("dup.hkl", b"1 2 3 10\n1 2 3 20\n");
        let (g, _) = read_hkl(&p, 0.0).unwrap();
        assert_eq!(g.count, 2);
        assert_eq!(g.lookup(1, 2, 3), Some(20.0));
        assert_eq!(g.values, vec![20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn errors_name_file_and_line() {
        let p = temp_file("short.hkl", b"1 2 3 4\n\n1 2\n");
        let e = read_hkl(&p, 0.0).unwrap_err().0;
        assert!(
            e.ends_with("line 3: expected 4 numbers (h k l F), found 2"),
            "{e}"
        );
        assert!(e.contains("short.hkl"));
        std::fs::remove_file(&p).unwrap();

        let p = temp_file("bad.hkl", b"1 2 x 4\n");
        let e = read_hkl(&p, 0.0).unwrap_err().0;
        assert!(e.contains("bad.hkl line 1: 'x' is not a number"), "{e}");
        std::fs::remove_file(&p).unwrap();

        let p = temp_file("empty.hkl", b"# nothing\n\n");
        let e = read_hkl(&p, 0.0).unwrap_err().0;
        assert!(
            e.contains("empty.hkl") && e.contains("no reflections"),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();

        let p = temp_file("huge.hkl", b"1e9 0 0 1\n");
        let e = read_hkl(&p, 0.0).unwrap_err().0;
        assert!(
            e.contains("huge.hkl line 1") && e.contains("out of range"),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();

        let missing = temp_path("missing.hkl");
        let e = read_hkl(&missing, 0.0).unwrap_err().0;
        assert!(e.contains("missing.hkl") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn golden_hkl_bounds() {
        let Some(dir) = crate::io::testutil::golden_dir() else {
            return;
        };
        let (g, w) = read_hkl(&dir.join("inputs/P1_random.hkl"), 100.0).unwrap();
        assert!(w.is_empty());
        assert_eq!(
            (g.h_min, g.h_max, g.k_min, g.k_max, g.l_min, g.l_max),
            (-12, 12, -12, 12, -12, 12)
        );
        assert_eq!(g.count, 15625);
        assert_eq!(g.lookup(-12, -12, -11), Some(162.8045));
    }

    #[test]
    fn fuzz_no_panic() {
        let mut rng = XorShift(0x9E3779B97F4A7C15);
        let alphabet = b"0123456789 -+.eE\n\t,#!x";
        let p = temp_path("fuzz.hkl");
        for _ in 0..2000 {
            let bytes = rng.bytes(120, alphabet);
            std::fs::write(&p, &bytes).unwrap();
            if let Err(e) = read_hkl(&p, 1.0) {
                assert!(!e.0.contains('\n'));
            }
        }
        std::fs::remove_file(&p).unwrap();
    }
}
