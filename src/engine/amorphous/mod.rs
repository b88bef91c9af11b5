//! Amorphous scattering (water, ice, air, ...) from a table of F against sin(theta)/lambda: the
//! model of James Holton's nonBragg, reproduced to the reference's bits where the noise image
//! depends on them.
//!
//! - [`table`] (`io::stol`): the `.stol` reader and F(stol) interpolation;
//! - [`settings`]: the run's typed settings (SI units, radians) with the reference's defaults;
//! - [`setup`]: the settings completed into a geometry, sources and scale (or, for a render's
//!   `-stol`, taken from the render's experiment);
//! - [`render`](mod@render): the pixel loop, and its sum into a render's image;
//! - [`images`]: statistics, integer/PGM/noise images and the SMV header;
//! - [`profile`]: `-img`, an image turned back into an F profile.
//!
//! The command line (`nanobragg nonbragg`) is `cli::nonbragg`; specs/nonbragg.md is the
//! normative description and lists every deliberate difference from the C program.

pub mod images;
pub mod profile;
pub mod render;
pub mod settings;
pub mod setup;
/// The `.stol` table is a file format of `io` (the experiment reads it for a render's `-stol`).
pub use crate::io::stol as table;

pub use render::{render, Probe, Rendered, Report};
pub use settings::Settings;
pub use setup::{resolve, Setup, Source};
pub use table::{read_stol_table, StolTable, StolUnits};
