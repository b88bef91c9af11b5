//! The amorphous scatterers of a render (`-stol`): each table of F against sin(theta)/lambda
//! with the amount of its material in the beam, as nonBragg counts it (a box of the given
//! thickness along the beam and nonBragg's default 0.1 mm width and height, clipped to the beam).

use super::sources::beam_size;
use super::types::AmorphousLayer;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::stol::read_stol_table;
use crate::physics::constants::AVOGADRO;
use std::sync::Arc;

/// nonBragg's default sample width and height (m), before the beam clips them.
const DEFAULT_CROSS_SECTION: f64 = 1e-4;

/// The layers `-stol` names, each table read once.
pub(super) fn layers(cfg: &Config) -> Result<Vec<AmorphousLayer>> {
    let bg = &cfg.background;
    let side = DEFAULT_CROSS_SECTION.min(beam_size(cfg));
    bg.stol_files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let table = read_stol_table(&crate::io::osname::path(file), bg.stol_units).map_err(|e| Error(format!("{} {}", bg.stol_units.flag(), e.0), e.kind()))?;
            let (thickness, density, molecular_weight) = bg.stol_material(i);
            // nonBragg's order of operations: the volume, times g/m^3, in molecules
            let molecules = thickness * side * side * (density * 1e6) * AVOGADRO / molecular_weight;
            Ok(AmorphousLayer { file: file.clone(), table: Arc::new(table), thickness, side, density, molecular_weight, molecules })
        })
        .collect()
}
