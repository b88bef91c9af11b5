//! The structure-factor table of an amorphous material: a `.stol` text file of
//! sin(theta)/lambda against F, and F at any sin(theta)/lambda by the reference's 4-point
//! Lagrange interpolation.
//!
//! specs/nonbragg.md ("The F(stol) table") is the normative description; its deviations list
//! says where the reader and the interpolation differ from the C program on purpose.

use crate::bail;
use crate::error::Result;
use std::path::Path;

/// The unit of a table's first column is a setting of the configuration (`-stol`, `-4stol`,
/// `-Q` name it in a render as in nonBragg).
pub use crate::config::StolUnits;

/// Sentinel knots placed two at each end of the table, as the reference does: they make the
/// 4-point stencil defined next to the first and last table points.
const SENTINEL_NEAR: f64 = 1e98;
const SENTINEL_FAR: f64 = 1e99;

/// A table of F against sin(theta)/lambda, ready for interpolation.
#[derive(Clone, Debug, PartialEq)]
pub struct StolTable {
    /// Knots in 1/m: two low sentinels, the table points (strictly increasing), two high
    /// sentinels.
    knots: Vec<f64>,
    /// F at each knot; a sentinel carries the F of the nearest table point.
    f: Vec<f64>,
    /// Factor from the file's units to 1/m (for writing profiles back in the file's units).
    per_metre: f64,
    /// The four Lagrange denominators of the stencil starting at each knot (the same products
    /// [`lagrange4`] forms, kept: they do not depend on the point evaluated).
    denominators: Vec<[f64; 4]>,
}

/// Characters that separate columns (the reference's delimiter set); any other white space,
/// such as the CR of a DOS line end, separates columns too.
fn is_delim(c: char) -> bool {
    matches!(c, ',' | ';' | ':' | '!') || c.is_whitespace()
}

impl StolTable {
    /// Builds a table from (first column, F) pairs in the file's units. The first column must
    /// be finite and strictly increasing, F finite.
    pub fn from_points(points: &[(f64, f64)], units: StolUnits) -> std::result::Result<Self, String> {
        if points.is_empty() {
            return Err("no table points".into());
        }
        let mult = units.to_per_metre();
        let mut knots = Vec::with_capacity(points.len() + 4);
        let mut f = Vec::with_capacity(points.len() + 4);
        let (first_f, last_f) = (points[0].1, points[points.len() - 1].1);
        knots.extend([-SENTINEL_FAR, -SENTINEL_NEAR]);
        f.extend([first_f, first_f]);
        for (i, &(x, y)) in points.iter().enumerate() {
            if !x.is_finite() || !y.is_finite() {
                return Err(format!("point {}: values must be finite numbers", i + 1));
            }
            let k = x * mult;
            // the sentinels must stay outside the table for the stencil to be valid
            if k.abs() >= SENTINEL_NEAR / 10.0 {
                return Err(format!("point {}: {x} is out of range", i + 1));
            }
            if let Some(&prev) = knots.last().filter(|_| i > 0) {
                if k <= prev {
                    return Err(format!(
                        "point {}: the sin(theta)/lambda column must increase strictly ({} after {})",
                        i + 1,
                        x,
                        points[i - 1].0
                    ));
                }
            }
            knots.push(k);
            f.push(y);
        }
        knots.extend([SENTINEL_NEAR, SENTINEL_FAR]);
        f.extend([last_f, last_f]);
        let denominators = knots.windows(4).map(denominators4).collect();
        Ok(StolTable { knots, f, per_metre: mult, denominators })
    }

    /// Number of table points (without the sentinels).
    pub fn len(&self) -> usize {
        self.knots.len() - 4
    }

    /// Never true: a table holds at least one point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of knots including the four sentinels (what the reference reports).
    pub fn knot_count(&self) -> usize {
        self.knots.len()
    }

    /// Factor from the file's first column to 1/m.
    pub fn per_metre(&self) -> f64 {
        self.per_metre
    }

    /// Knot `i` in 1/m (0 and 1 are the low sentinels, `knot_count()-2..` the high ones).
    pub fn knot(&self, i: usize) -> f64 {
        self.knots[i]
    }

    /// Index of the last knot at or below `stol` (1/m), never below 1: the reference's
    /// `nearest`, which both the interpolation stencil and the profile bins start from.
    pub fn nearest(&self, stol: f64) -> usize {
        self.knots.partition_point(|&k| k <= stol).saturating_sub(1).clamp(1, self.knots.len() - 3)
    }

    /// F at `stol` (1/m): the Lagrange polynomial through knots nearest-1 .. nearest+2, or the
    /// first/last table F outside the table.
    pub fn f_at(&self, stol: f64) -> f64 {
        let n = self.knots.len();
        // The reference evaluates its stencil here too, which continues the line through the
        // two end points instead of holding the end value (specs/nonbragg.md, deviation 6).
        if stol < self.knots[2] {
            return self.f[2];
        }
        if stol > self.knots[n - 3] {
            return self.f[n - 3];
        }
        let i = self.nearest(stol) - 1;
        lagrange4_with(&self.knots[i..i + 4], &self.f[i..i + 4], &self.denominators[i], stol)
    }
}

/// The 4-point Lagrange polynomial through (`xa[k]`, `ya[k]`) at x, each term written in the
/// reference's order of operations (the noise image depends on the float image's bits).
pub fn lagrange4(xa: &[f64], ya: &[f64], x: f64) -> f64 {
    lagrange4_with(xa, ya, &denominators4(xa), x)
}

/// The denominators of [`lagrange4`]'s four terms, each formed as the reference forms it.
fn denominators4(xa: &[f64]) -> [f64; 4] {
    [
        (xa[0] - xa[1]) * (xa[0] - xa[2]) * (xa[0] - xa[3]),
        (xa[1] - xa[0]) * (xa[1] - xa[2]) * (xa[1] - xa[3]),
        (xa[2] - xa[0]) * (xa[2] - xa[1]) * (xa[2] - xa[3]),
        (xa[3] - xa[0]) * (xa[3] - xa[1]) * (xa[3] - xa[2]),
    ]
}

/// [`lagrange4`] with its denominators given: the same operations, so the same bits.
fn lagrange4_with(xa: &[f64], ya: &[f64], den: &[f64; 4], x: f64) -> f64 {
    let x0 = (x - xa[1]) * (x - xa[2]) * (x - xa[3]) * ya[0] / den[0];
    let x1 = (x - xa[0]) * (x - xa[2]) * (x - xa[3]) * ya[1] / den[1];
    let x2 = (x - xa[0]) * (x - xa[1]) * (x - xa[3]) * ya[2] / den[2];
    let x3 = (x - xa[0]) * (x - xa[1]) * (x - xa[2]) * ya[3] / den[3];
    x0 + x1 + x2 + x3
}

/// Parses the text of a table: one point per line, the first two numbers of a line being the
/// first column and F (further columns are ignored). Blank lines and lines starting with `#`
/// are skipped; any other text is an error, so a header line can never become a point.
pub fn parse_points(text: &str) -> std::result::Result<Vec<(f64, f64)>, String> {
    let mut points = Vec::new();
    for (lineno, line) in text.split('\n').enumerate() {
        let body = line.trim_start_matches(is_delim);
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let mut cols = body.split(is_delim).filter(|t| !t.is_empty());
        let mut two = [0.0; 2];
        for (k, v) in two.iter_mut().enumerate() {
            let Some(tok) = cols.next() else {
                return Err(format!("line {}: expected two numbers (sin(theta)/lambda and F), found one", lineno + 1));
            };
            match crate::io::parse_number(tok) {
                Some(x) if x.is_finite() => *v = x,
                Some(_) => return Err(format!("line {}: column {} is not a finite number ('{}')", lineno + 1, k + 1, tok.escape_debug())),
                None => return Err(format!("line {}: '{}' is not a number", lineno + 1, tok.escape_debug())),
            }
        }
        points.push((two[0], two[1]));
    }
    if points.is_empty() {
        return Err("no data (expected lines of sin(theta)/lambda and F)".into());
    }
    Ok(points)
}

/// Reads a `.stol` table file; every error is one line that names the file.
pub fn read_stol_table(path: &Path, units: StolUnits) -> Result<StolTable> {
    let name = path.display();
    let bytes = crate::io::read_all(path)?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(_) => bail!("{name}: not a text table (it holds bytes that are not text)"),
    };
    let points = match parse_points(text) {
        Ok(p) => p,
        Err(e) => bail!("{name}: {e}"),
    };
    match StolTable::from_points(&points, units) {
        Ok(t) => Ok(t),
        Err(e) => bail!("{name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(points: &[(f64, f64)]) -> StolTable {
        StolTable::from_points(points, StolUnits::Stol).unwrap()
    }

    #[test]
    fn interpolation_is_exact_at_table_points() {
        let t = table(&[(0.0, 2.5), (0.1, 3.0), (0.2, 1.0), (0.3, -2.0), (0.4, 4.0)]);
        for (x, y) in [(0.0, 2.5), (0.1, 3.0), (0.2, 1.0), (0.3, -2.0), (0.4, 4.0)] {
            let got = t.f_at(x * 1e10);
            assert!((got - y).abs() <= 4.0 * f64::EPSILON * y.abs(), "F({x}) = {got}, want {y}");
        }
    }

    #[test]
    fn interior_is_the_cubic_through_four_neighbours() {
        // a cubic is reproduced exactly by the 4-point stencil in the interior
        let p = |x: f64| 1.0 + 2.0 * x - 3.0 * x * x + 0.5 * x * x * x;
        let pts: Vec<(f64, f64)> = (0..8).map(|i| (i as f64, p(i as f64))).collect();
        let t = table(&pts);
        for x in [1.25, 2.5, 3.75, 5.5] {
            let got = t.f_at(x * 1e10);
            assert!((got - p(x)).abs() < 1e-9 * p(x).abs().max(1.0), "{x}: {got} vs {}", p(x));
        }
    }

    #[test]
    fn outside_the_table_the_end_values_hold() {
        // the C stencil would continue the line through the two end points (3.226 at 0.02226)
        let t = table(&[(0.005, 1.0), (0.009, 1.6), (0.01, 2.0)]);
        assert_eq!(t.f_at(0.02226e10), 2.0);
        assert_eq!(t.f_at(0.0), 1.0);
        assert_eq!(t.f_at(1e12), 2.0);
    }

    #[test]
    fn nearest_is_the_last_knot_at_or_below() {
        let t = table(&[(0.0, 1.0), (0.1, 1.0), (0.2, 1.0)]);
        assert_eq!(t.nearest(-5.0), 1);
        assert_eq!(t.nearest(0.0), 2);
        assert_eq!(t.nearest(0.05e10), 2);
        assert_eq!(t.nearest(0.1e10), 3);
        assert_eq!(t.nearest(0.2e10), 4);
        assert_eq!(t.nearest(5e10), 4);
        assert_eq!(t.knot_count(), 7);
    }

    #[test]
    fn units_of_the_first_column() {
        let q = StolTable::from_points(&[(0.0, 1.0), (4.0 * std::f64::consts::PI * 0.1, 2.0)], StolUnits::Q).unwrap();
        assert!((q.knot(3) - 0.1e10).abs() < 1.0);
        let f = StolTable::from_points(&[(0.0, 1.0), (0.4, 2.0)], StolUnits::FourStol).unwrap();
        assert_eq!(f.knot(3), 0.4 * (1e10 / 4.0));
        assert_eq!(StolUnits::Q.to_per_metre(), 1e10 / std::f64::consts::PI / 4.0);
    }

    #[test]
    fn reader_accepts_delimiters_comments_and_extra_columns() {
        let pts = parse_points("# stol F\n\n0 2.57\r\n 0.1,junk 7\n0.2\t2.7 9 9\n").unwrap_err();
        assert!(pts.contains("line 4"), "{pts}");
        let pts = parse_points("# stol F\n\n0 2.57\r\n 0.1,2.6;text after the two numbers\n0.2\t2.7 9 9\n").unwrap();
        assert_eq!(pts, vec![(0.0, 2.57), (0.1, 2.6), (0.2, 2.7)]);
    }

    #[test]
    fn reader_errors() {
        assert!(parse_points("").unwrap_err().contains("no data"));
        assert!(parse_points("# only a comment\n").unwrap_err().contains("no data"));
        assert!(parse_points("0 1\n0.1\n").unwrap_err().contains("line 2"));
        assert!(parse_points("stol F\n0 1\n").unwrap_err().contains("line 1"));
        assert!(parse_points("0 nan\n").unwrap_err().contains("finite"));
        assert!(parse_points("0 1\ninf 2\n").unwrap_err().contains("line 2"));
        let e = StolTable::from_points(&[(0.0, 1.0), (0.2, 1.0), (0.1, 1.0)], StolUnits::Stol).unwrap_err();
        assert!(e.contains("point 3") && e.contains("increase"), "{e}");
        let e = StolTable::from_points(&[(0.0, 1.0), (0.0, 1.0)], StolUnits::Stol).unwrap_err();
        assert!(e.contains("increase"), "{e}");
        assert!(StolTable::from_points(&[], StolUnits::Stol).is_err());
    }

    #[test]
    fn file_errors_name_the_file() {
        let p = crate::io::testutil::temp_file("bad.stol", b"0 1\n0.1 x\n");
        let e = read_stol_table(&p, StolUnits::Stol).unwrap_err().0;
        assert!(e.contains("bad.stol") && e.contains("line 2") && !e.contains('\n'), "{e}");
        std::fs::remove_file(&p).unwrap();
        let e = read_stol_table(Path::new("/nonexistent/none.stol"), StolUnits::Stol).unwrap_err().0;
        assert!(e.contains("none.stol"), "{e}");
    }
}
