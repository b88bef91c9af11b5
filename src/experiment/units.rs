//! Unit conversions from the command line's units to SI.

use super::types::RTD;

/// Millimetres to metres.
pub(super) fn mm(x: f64) -> f64 {
    x / 1000.0
}

/// Degrees to radians.
pub(super) fn deg(x: f64) -> f64 {
    x / RTD
}
