//! The flag table seen by people: the help text, the clap subcommand help and the "did you
//! mean" suggestions, made from the declarations in `cli::flags`.

pub use crate::config::flags::{all_names, closest};
use crate::config::flags::GROUPS;

/// A help line of the suite's other programs (nonBragg, noisify), whose flags are read by
/// their own parsers.
pub struct Flag {
    pub names: &'static [&'static str],
    /// The values it takes, as shown in the help ("" for a switch).
    pub value: &'static str,
    pub help: &'static str,
    /// The default where one is known ("" for none or "derived").
    pub default: &'static str,
}

/// The flag table as help text: one block per topic, one line per flag.
pub fn flags_help() -> String {
    let mut s = String::new();
    for g in GROUPS {
        s.push_str(&format!("{}:\n", g.title));
        for f in g.flags {
            let mut left = f.names.join(", ");
            if !f.value.is_empty() {
                left.push_str(&format!(" <{}>", f.value));
            }
            let mut right = f.help.to_string();
            if !f.default.is_empty() {
                right.push_str(&format!(" [default: {}]", f.default));
            }
            if left.len() <= 30 {
                s.push_str(&format!("  {left:<30} {right}\n"));
            } else {
                s.push_str(&format!("  {left}\n  {:<30} {right}\n", ""));
            }
        }
        s.push('\n');
    }
    s.push_str("Run file:\n");
    s.push_str(&format!("  {:<30} {}\n", "--config <FILE>", "read settings from a TOML run file; flags override it"));
    s.push_str(&format!("  {:<30} {}\n\n", "--print-config", "print the resolved settings as a run file and exit"));
    s.push_str(
        "Units: mm, degrees, Angstrom, mrad (divergence), percent (dispersion), um (sensor), photons/m^2\n\
         (fluence). Names are matched exactly. See docs/cli.md.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(closest("-distanc", all_names()), Some("-distance"));
        assert_eq!(closest("-Cell", all_names()), Some("-cell"));
        assert_eq!(closest("--cell", all_names()), Some("-cell"));
        assert_eq!(closest("-mosaic_seeds", all_names()), Some("-mosaic_seed"));
        assert_eq!(closest("-detpix", all_names()), Some("-detpixels"));
        assert_eq!(closest("-zzzzzzzzzz", all_names()), None);
    }
}
