//! Structure factors: an -hkl file, the cache (-dump) an earlier run wrote, or -default_F alone.

use super::{Crystal, Notes, Structure};
use crate::config::Config;
use crate::error::{Error, Result};

/// Load structure factors from -hkl, or from the cache named by -dump when no -hkl is given, or
/// fall back to -default_F alone; tricubic interpolation by default for crystals of at most two
/// cells along an axis. The cache is read only when named: a file left in the working
/// directory by another run is never picked up (the C program reads any Fdump.bin there).
pub(super) fn load_structure(cfg: &Config, crystal: &Crystal, notes: &mut Notes) -> Result<Structure> {
    let default_f = cfg.structure.default_f.unwrap_or(0.0);
    let dump = cfg.structure.dump_file.as_deref().filter(|d| crate::io::osname::path(d).exists());
    let (grid, origin) = if let Some(path) = &cfg.structure.hkl_file {
        let (grid, warnings) = crate::io::hkl::read_hkl(&crate::io::osname::path(&path), default_f).map_err(Error::in_file)?;
        notes.warnings.extend(warnings);
        (Some(grid), path.clone())
    } else if let Some(dump) = dump {
        let dump_path = crate::io::osname::path(&dump);
        // a cache is reused only while the HKL file it was made from is unchanged
        let checked = crate::io::fdump::check_source(&dump_path).map_err(Error::in_file)?;
        if checked.starts_with("WARNING") {
            notes.warnings.push(checked);
        } else {
            notes.info.push(checked);
        }
        let grid = crate::io::fdump::read_fdump(&dump_path).map_err(Error::in_file)?;
        // the cache holds -default_F of the run that wrote it in place of missing reflections
        notes.info.push(format!("reading Fs from {dump} (structure-factor cache written by an earlier run with -hkl; its missing reflections hold that run's -default_F)"));
        (Some(grid), dump.to_string())
    } else {
        if default_f == 0.0 {
            let cache = match &cfg.structure.dump_file {
                Some(d) => format!(" (-dump {d}: no such file)"),
                None => String::new(),
            };
            return Err(Error::new(format!("no structure factors: give -hkl file, -default_F value, or -dump with the cache an earlier -hkl run wrote{cache}")));
        }
        if let Some(d) = &cfg.structure.dump_file {
            notes.warnings.push(format!("WARNING: -dump {d}: no such file; the structure factors are -default_F alone"));
        }
        (None, String::new())
    };
    let has_grid = grid.as_ref().map(|g| g.count > 0).unwrap_or(false);
    let interpolate = interpolation(cfg, crystal, has_grid);
    if cfg.structure.interpolate.is_none() && interpolate {
        notes.info.push("auto-selected tricubic interpolation of structure factors".into());
    }
    if let Some(g) = &grid {
        if let Some(bad) = g.values.iter().find(|v| !v.is_finite()) {
            return Err(Error::new(format!("{origin}: structure factor {bad} is not a finite number")));
        }
    }
    Ok(Structure { default_f, grid: grid.map(std::sync::Arc::new), interpolate, origin })
}

/// Tricubic interpolation: as asked, or automatically for crystals of at most two cells along
/// an axis; only with a grid.
fn interpolation(cfg: &Config, crystal: &Crystal, has_grid: bool) -> bool {
    let (na, nb, nc) = (crystal.na, crystal.nb, crystal.nc);
    let wanted = match cfg.structure.interpolate {
        Some(v) => v,
        None => na <= 2.0 || nb <= 2.0 || nc <= 2.0,
    };
    wanted && has_grid
}

/// Structure factors read before (the same grid), with the interpolation chosen for `crystal`.
pub(super) fn reuse_structure(cfg: &Config, crystal: &Crystal, given: &Structure) -> Structure {
    let has_grid = given.grid.as_ref().map(|g| g.count > 0).unwrap_or(false);
    Structure { interpolate: interpolation(cfg, crystal, has_grid), ..given.clone() }
}
