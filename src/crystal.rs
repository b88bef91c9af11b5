//! Unit cell, orientation, mosaic domains and structure factors, set up as the reference
//! program does (same cell construction, same random orientations for a given seed).

use crate::cli::{Misset, Options};
use crate::config::{Crystal, Notes, Structure, RTD};
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::rng::{mosaic_rotation_umat, umat2misset, Ran1};
use crate::vec3::*;

/// Build cell vectors from `-cell` and/or `-mat`, apply the missetting rotation, and derive
/// real- and reciprocal-space vectors. Rotation, size and mosaic fields are filled in later.
pub fn build_crystal(o: &Options, lambda0: f64, notes: &mut Notes) -> Result<Crystal> {
    let mut a_star = [0.0; 3];
    let mut b_star = [0.0; 3];
    let mut c_star = [0.0; 3];
    let mut user_cell: Option<([f64; 3], f64)> = None; // (a,b,c lengths, V_cell)
    if let Some(cell) = &o.cell {
        let a0 = cell[0];
        let mut b0 = cell.get(1).copied().unwrap_or(0.0);
        let mut c0 = cell.get(2).copied().unwrap_or(0.0);
        let mut al = cell.get(3).copied().unwrap_or(0.0) / RTD;
        let mut be = cell.get(4).copied().unwrap_or(0.0) / RTD;
        let mut ga = cell.get(5).copied().unwrap_or(0.0) / RTD;
        if !(a0 > 0.0) {
            return Err(Error::new(format!("-cell: cell length a must be positive, got {a0}")));
        }
        if b0 <= 0.0 {
            b0 = a0;
        }
        if c0 <= 0.0 {
            c0 = a0;
        }
        if al <= 0.0 {
            al = std::f64::consts::FRAC_PI_2;
        }
        if be <= 0.0 {
            be = std::f64::consts::FRAC_PI_2;
        }
        if ga <= 0.0 {
            ga = std::f64::consts::FRAC_PI_2;
        }
        let aavg = (al + be + ga) / 2.0;
        let skew = (aavg.sin() * (aavg - al).sin() * (aavg - be).sin() * (aavg - ga).sin()).abs();
        let mut v_cell = 2.0 * a0 * b0 * c0 * skew.sqrt();
        if v_cell <= 0.0 {
            notes.warnings.push(format!("WARNING: impossible unit cell volume: {}", fmt_g(v_cell)));
            v_cell = f64::MIN_POSITIVE;
        }
        let v_star = 1.0 / v_cell;
        let mut las = b0 * c0 * al.sin() * v_star;
        let mut lbs = c0 * a0 * be.sin() * v_star;
        let mut lcs = a0 * b0 * ga.sin() * v_star;
        if las <= 0.0 || lbs <= 0.0 || lcs <= 0.0 {
            notes.warnings.push("WARNING: impossible reciprocal cell lengths".into());
            las = las.abs().max(f64::MIN_POSITIVE);
            lbs = lbs.abs().max(f64::MIN_POSITIVE);
            lcs = lcs.abs().max(f64::MIN_POSITIVE);
        }
        let mut cas = (be.cos() * ga.cos() - al.cos()) / (be.sin() * ga.sin());
        let mut cbs = (ga.cos() * al.cos() - be.cos()) / (ga.sin() * al.sin());
        let mut cgs = (al.cos() * be.cos() - ga.cos()) / (al.sin() * be.sin());
        let mut sgs = c0 * v_star / las / lbs;
        let over = |x: f64| !(-1.0000001..=1.0000001).contains(&x);
        if over(cas) || over(cbs) || over(cgs) || over(sgs) {
            notes.warnings.push("WARNING: oddball reciprocal cell angles".into());
        }
        sgs = sgs.clamp(-1.0, 1.0);
        for c in [&mut cas, &mut cbs, &mut cgs] {
            if *c * *c > 1.0 {
                *c = 1.0;
            }
        }
        a_star = [las, 0.0, 0.0];
        b_star = [lbs * cgs, lbs * sgs, 0.0];
        c_star = [lcs * cbs, lcs * (cas - cbs * cgs) / sgs, lcs * v_cell / (a0 * b0 * c0 * sgs)];
        user_cell = Some(([a0, b0, c0], v_cell));
    }
    if let Some(path) = &o.mat {
        let m = crate::io::matrix::read_mosflm_matrix(std::path::Path::new(path))?;
        // the MOSFLM A matrix carries the wavelength: divide it out
        let s = 1e-10 / lambda0;
        a_star = [m[0][0] * s, m[1][0] * s, m[2][0] * s];
        b_star = [m[0][1] * s, m[1][1] * s, m[2][1] * s];
        c_star = [m[0][2] * s, m[1][2] * s, m[2][2] * s];
        notes.info.push(format!("reading {path}"));
    }
    if o.cell.is_none() && o.mat.is_none() {
        return Err(Error::new("no unit cell: give -cell a b c alpha beta gamma or -mat matrix_file"));
    }
    // orientation
    let mut misset_deg = None;
    let angles = match o.misset {
        Some(Misset::Random) => {
            let seed = o.misset_seed.map(|s| -s).unwrap_or_else(clock_seed);
            let mut rng = Ran1::new(seed);
            let umat = mosaic_rotation_umat(90.0, &mut rng);
            let m = umat2misset(&umat);
            notes.info.push(format!(
                "random orientation misset angles: {:.6} {:.6} {:.6} deg",
                m[0] * RTD,
                m[1] * RTD,
                m[2] * RTD
            ));
            Some(m)
        }
        Some(Misset::Angles(d)) => Some([d[0] / RTD, d[1] / RTD, d[2] / RTD]),
        None => None,
    };
    if let Some(m) = angles {
        a_star = rotate_xyz(a_star, m[0], m[1], m[2]);
        b_star = rotate_xyz(b_star, m[0], m[1], m[2]);
        c_star = rotate_xyz(c_star, m[0], m[1], m[2]);
        misset_deg = Some([m[0] * RTD, m[1] * RTD, m[2] * RTD]);
    }
    // real-space vectors from reciprocal ones
    let mut bsxcs = cross(b_star, c_star);
    let mut csxas = cross(c_star, a_star);
    let mut asxbs = cross(a_star, b_star);
    let mut v_star = dot(a_star, bsxcs);
    if let Some((len, v_cell)) = user_cell {
        bsxcs = rescale(bsxcs, len[0] / v_cell);
        csxas = rescale(csxas, len[1] / v_cell);
        asxbs = rescale(asxbs, len[2] / v_cell);
        v_star = 1.0 / v_cell;
    }
    if !(v_star.is_finite()) || v_star == 0.0 {
        return Err(Error::new("unit cell: the reciprocal vectors are degenerate (zero volume)"));
    }
    let v_cell = 1.0 / v_star;
    let a = scale(bsxcs, v_cell);
    let b = scale(csxas, v_cell);
    let c = scale(asxbs, v_cell);
    let a_star = scale(cross(b, c), v_star);
    let b_star = scale(cross(c, a), v_star);
    let c_star = scale(cross(a, b), v_star);
    let (la, lb, lc) = (norm(a), norm(b), norm(c));
    let ang = |u: V3, v: V3, lu: f64, lv: f64| (dot(u, v) / lu / lv).clamp(-1.0, 1.0).acos() * RTD;
    let cell = [la, lb, lc, ang(b, c, lb, lc), ang(a, c, la, lc), ang(a, b, la, lb)];
    for (i, x) in cell.iter().enumerate() {
        if !x.is_finite() {
            return Err(Error::new(format!("unit cell: parameter {i} is not finite (degenerate cell)")));
        }
    }
    Ok(Crystal {
        a: scale(a, 1e-10),
        b: scale(b, 1e-10),
        c: scale(c, 1e-10),
        a_star,
        b_star,
        c_star,
        cell,
        volume: v_cell,
        na: 1.0,
        nb: 1.0,
        nc: 1.0,
        shape: crate::cli::Shape::Square,
        fudge: 1.0,
        phi0: 0.0,
        phistep: 0.0,
        phisteps: 1,
        osc: 0.0,
        spindle: [0.0, 0.0, 1.0],
        mosaic_spread: 0.0,
        mosaic_umats: vec![],
        misset_deg,
    })
}

/// The reference program's default seed: minus the current time in seconds.
pub fn clock_seed() -> i64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(1);
    -t
}

/// Mosaic domain rotations: one random rotation per domain from the seeded generator, the
/// first forced to the identity (its random draw is still consumed, as in the reference).
pub fn mosaic_umats(spread: f64, domains: usize, seed: i64) -> Vec<[f64; 9]> {
    let mut rng = Ran1::new(seed);
    let identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    (0..domains.max(1))
        .map(|i| {
            let u = mosaic_rotation_umat(spread as f32, &mut rng);
            if i == 0 || spread <= 0.0 {
                identity
            } else {
                u
            }
        })
        .collect()
}

/// Load structure factors from -hkl (writing the dump file), or from the dump file when no
/// -hkl is given, or fall back to -default_F alone.
pub fn load_structure(o: &Options, notes: &mut Notes, na: f64, nb: f64, nc: f64) -> Result<Structure> {
    let default_f = o.default_f.unwrap_or(0.0);
    let dump = o.dump.clone().unwrap_or_else(|| "Fdump.bin".to_string());
    let (grid, origin) = if let Some(path) = &o.hkl {
        let (grid, warnings) = crate::io::hkl::read_hkl(std::path::Path::new(path), default_f)?;
        notes.warnings.extend(warnings);
        (Some(grid), path.clone())
    } else if std::path::Path::new(&dump).exists() {
        let grid = crate::io::fdump::read_fdump(std::path::Path::new(&dump))?;
        notes.info.push(format!("reading Fs from {dump} (structure-factor cache written by an earlier run with -hkl)"));
        (Some(grid), dump.clone())
    } else {
        if default_f == 0.0 {
            return Err(Error::new("no structure factors: give -hkl file, -default_F value, or run where Fdump.bin exists"));
        }
        (None, String::new())
    };
    let has_grid = grid.as_ref().map(|g| g.count > 0).unwrap_or(false);
    let interpolate = match o.interpolate {
        Some(v) => v,
        None => na <= 2.0 || nb <= 2.0 || nc <= 2.0,
    } && has_grid;
    if o.interpolate.is_none() && interpolate {
        notes.info.push("auto-selected tricubic interpolation of structure factors".into());
    }
    Ok(Structure { default_f, grid, interpolate, origin })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &str) -> Options {
        crate::cli::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn triclinic_cell_matches_reference_vectors() {
        // reference printout for -cell 70 80 90 75 85 95 -misset 10 20 30
        let mut n = Notes::default();
        let c = build_crystal(&opts("-cell 70 80 90 75 85 95 -misset 10 20 30"), 1e-10, &mut n).unwrap();
        let a = scale(c.a, 1e10);
        let b = scale(c.b, 1e10);
        assert!((a[0] - 62.18939154).abs() < 1e-7, "{a:?}");
        assert!((a[1] - 25.64350962).abs() < 1e-7);
        assert!((a[2] + 19.36207620).abs() < 1e-7);
        assert!((b[0] + 26.26417036).abs() < 1e-7);
        assert!((c.a_star[0] - 0.01174884).abs() < 1e-8);
        assert!((c.volume - 481811.0).abs() < 1.0);
        // the reference's construction is slightly inconsistent for oblique cells: it reports
        // 75.0391 85.0136 95.0081 for 75 85 95, and so do we
        assert!((c.cell[3] - 75.0391).abs() < 1e-4, "{:?}", c.cell);
        assert!((c.cell[4] - 85.0136).abs() < 1e-4);
        assert!((c.cell[5] - 95.0081).abs() < 1e-4);
        // a . b* = 0 still holds
        assert!((dot(c.a, c.b_star) * 1e10).abs() < 1e-12);
    }

    #[test]
    fn first_mosaic_domain_is_identity_and_others_are_rotations() {
        let u = mosaic_umats(0.5 / RTD, 4, -12345678);
        assert_eq!(u[0], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        for m in &u[1..] {
            let r0 = [m[0], m[1], m[2]];
            assert!((norm(r0) - 1.0).abs() < 1e-6);
            assert!(m[0] < 1.0);
        }
    }
}
