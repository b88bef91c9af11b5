//! The experiment's settings as the library takes them, independent of how they were typed.
//! Today the discrete choices (pivot, convention, crystal shape, orientation request); the
//! command line's flags map onto these.

mod settings;

pub use settings::{Convention, Misset, Pivot, Shape};
