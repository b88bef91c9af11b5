//! What a run can hold: the memory that a run's counts (pixels, sources, orientations) need,
//! checked before anything of that size is allocated, so a huge count is a one-line refusal
//! naming the flag instead of an abort in the allocator.

use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;

/// Bytes the render keeps per detector pixel: the float image, the list of pixels to render,
/// the integer and noise images, the photons of the noise image and the statistics' copies.
pub const BYTES_PER_PIXEL: f64 = 40.0;
/// Bytes per source (direction, wavelength, weight, the divergence grid and their tensors).
pub const BYTES_PER_SOURCE: f64 = 160.0;
/// Bytes per cell of a structure-factor grid: the grid, the dump file's bytes, and the copies
/// the renderer and the fused kernel take.
pub const BYTES_PER_GRID_CELL: f64 = 32.0;
/// Bytes per crystal orientation (phi step x mosaic domain): the rotation matrices, the
/// rotated cells and their tensors.
pub const BYTES_PER_ORIENTATION: f64 = 400.0;

/// The memory this process may still use (bytes): half of the smaller of the machine's memory
/// and the room left under the address-space limit (`ulimit -v`, `prlimit --as`). Half, because
/// the allocator, thread stacks and the tensor library take their share of the address space.
pub fn budget() -> f64 {
    static BUDGET: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let total = meminfo_total().unwrap_or(16.0 * (1u64 << 30) as f64);
        let room = match address_space_limit() {
            Some(limit) => (limit - vm_size().unwrap_or(0.0)).max(0.0),
            None => f64::INFINITY,
        };
        0.5 * total.min(room)
    })
}

fn meminfo_total() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? * 1024.0)
}

fn vm_size() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmSize:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? * 1024.0)
}

/// The soft address-space limit in bytes, or None when unlimited or unknown.
fn address_space_limit() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..].split_whitespace().next()?;
    soft.parse::<f64>().ok()
}

/// Sizes in bytes for a message (e.g. "72 GB").
pub fn bytes_shown(b: f64) -> String {
    let units = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, size) in units {
        if b >= size {
            return format!("{} {unit}", fmt_g((b / size * 10.0).round() / 10.0));
        }
    }
    format!("{b:.0} bytes")
}

/// Refuse `count` items of `bytes_each` bytes when they do not fit the budget: a one-line error
/// `flag: COUNT WHAT need SIZE, more than this run can hold (SIZE); at most N`.
pub fn check(flag: &str, what: &str, count: f64, bytes_each: f64) -> Result<()> {
    check_within(flag, what, count, bytes_each, budget())
}

/// [`check`] against a given budget (bytes).
pub fn check_within(flag: &str, what: &str, count: f64, bytes_each: f64, budget: f64) -> Result<()> {
    let need = count * bytes_each;
    if need.is_finite() && need <= budget {
        return Ok(());
    }
    let most = (budget / bytes_each).floor();
    Err(Error::of_kind(crate::error::ErrorKind::Resource, format!(
        "{flag}: {} {what} need {}, more than this run can hold ({}); at most {}",
        count_shown(count),
        if need.is_finite() { bytes_shown(need) } else { "more memory than exists".to_string() },
        bytes_shown(budget),
        count_shown(most)
    )))
}

fn count_shown(n: f64) -> String {
    if n.is_finite() && n < 1e15 {
        format!("{n:.0}")
    } else {
        fmt_g(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_beyond_the_budget_are_refused_naming_the_flag_and_the_limit() {
        assert!(check_within("-mosaic_domains", "mosaic domains", 1000.0, 400.0, 1e6).is_ok());
        let e = check_within("-mosaic_domains", "mosaic domains", 1e9, 400.0, 4e9).unwrap_err();
        assert_eq!(e.0, "-mosaic_domains: 1000000000 mosaic domains need 400 GB, more than this run can hold (4 GB); at most 10000000");
        assert!(check_within("-phisteps", "orientations", f64::INFINITY, 400.0, 4e9).is_err());
        assert!(budget() > 0.0);
    }
}
