//! The typed configuration of a simulation: every setting the library takes, grouped by
//! concept, in SI units (metres, radians, seconds; Angstrom only for cell lengths, as
//! crystallographers give them), independent of how it was typed. `None` means "not given":
//! the experiment then takes the reference program's default, which often depends on other
//! settings (a beam centre on the convention, the oversampling on the crystal size), so
//! defaults are resolved in `experiment`, not here. The command line (`cli`) is one way of
//! filling a [`Config`]; run files, batch plans and the Python module go through the same
//! declarations.

mod args;
pub mod flags;
mod parse;
pub mod runfile;
mod settings;
mod types;

pub use args::Args;
pub use parse::{parse, parse_with_help, FlagWords};
pub use settings::{Convention, Engine, Misset, Pivot, Precision, PsfShape, Shape, StolUnits};
pub use types::{BackgroundConfig, BeamConfig, Config, CrystalConfig, DetectorConfig, EngineConfig, OutputConfig, ResponseConfig, SamplingConfig, StructureConfig};

