//! The flag language of a configuration: the C program's single-dash flags, matched exactly
//! (`-seed` never matches `-mosaic_seed`, `-misset_seed` is never read as `-misset`), read one
//! at a time by the declarations in [`super::flags`]. The command line, run files, batch plans
//! and the Python module's keyword arguments all come through here.

use super::args::Args;
use super::flags;
use super::types::Config;
use crate::error::{Error, Result};

/// Flags as a plan file gives them (batch and joint-refinement plans alike): one string of
/// words, or a list of words (a list keeps file names with spaces whole).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum FlagWords {
    Line(String),
    Words(Vec<String>),
}

impl Default for FlagWords {
    fn default() -> Self {
        FlagWords::Words(Vec::new())
    }
}

impl FlagWords {
    /// The words, in order.
    pub fn words(&self) -> Vec<String> {
        match self {
            FlagWords::Line(s) => s.split_whitespace().map(String::from).collect(),
            FlagWords::Words(w) => w.clone(),
        }
    }
}

/// Parse the simulation flags (everything after the program name) into the configuration
/// they describe; flags apply in the order given, as in the reference.
pub fn parse(argv: &[String]) -> Result<Config> {
    parse_with_help(argv).map(|(c, _)| c)
}

/// As [`parse`], and whether the flags ask for the help (`-h`, `-help`, `--help`).
pub fn parse_with_help(argv: &[String]) -> Result<(Config, bool)> {
    let mut c = Config::default();
    let mut help = false;
    let mut a = Args::new(argv);
    while let Some(name) = a.current() {
        match flags::find(name) {
            Some(flag) => {
                help |= flag.names.contains(&"-h");
                (flag.set)(&mut c, &mut a, name)?;
            }
            None if name.starts_with('-') => {
                let hint = match flags::closest(name, flags::all_names()) {
                    Some(n) => format!(": did you mean {n}?"),
                    None => String::new(),
                };
                return Err(Error::new(format!("unknown option '{name}'{hint} (see -h for the list)")));
            }
            None => return Err(Error::new(format!("unexpected argument '{name}' (options start with '-')"))),
        }
        a.advance();
    }
    Ok((c, help))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::{Convention, Misset, Pivot};

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn exact_names_only() {
        assert!(parse(&args("-seedy 3")).is_err());
        let c = parse(&args("-misset_seed 777 -misset random -mosaic_seed 5 -seed 9")).unwrap();
        assert_eq!(c.crystal.misset_seed, Some(777));
        assert_eq!(c.crystal.misset, Some(Misset::Random));
        assert_eq!(c.crystal.mosaic_seed, Some(5));
        assert_eq!(c.outputs.seed, Some(9));
        // values are exact too: a prefix of "random" is not "random"
        let e = parse(&args("-misset randm")).unwrap_err();
        assert!(e.0.starts_with("-misset: expected a number, got 'randm'"), "{e}");
    }

    #[test]
    fn values_are_converted_to_si_as_the_reference_does() {
        let c = parse(&args("-distance 100 -pixel 0.172 -lambda 1.5 -phi 30 -mosaic 0.5 -divergence 2 -dispersion 10 -detector_thick 320 -water 50 -dmin 2 -cell 70 80 90 90 90 120")).unwrap();
        assert_eq!(c.detector.distance, Some(100.0 / 1000.0));
        assert_eq!(c.detector.pixel_size, Some(0.172 / 1000.0));
        assert_eq!(c.beam.lambda, Some(1.5 / 1e10));
        assert_eq!(c.crystal.phi0, Some(30.0 / crate::experiment::RTD));
        assert_eq!(c.crystal.mosaic_spread, Some(0.5 / crate::experiment::RTD));
        assert_eq!((c.beam.hdivrange, c.beam.vdivrange), (Some(0.002), Some(0.002)));
        assert_eq!(c.beam.dispersion, Some(0.1));
        assert_eq!(c.detector.thickness, Some(320.0 * 1e-6));
        assert_eq!(c.background.water_size, Some(50.0 / 1e6));
        assert_eq!(c.sampling.dmin, Some(2.0 * 1e-10));
        assert_eq!(c.crystal.cell.map(|p| p[5]), Some(120.0 / crate::experiment::RTD));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn cell_takes_six_numbers_and_pivot_follows_order() {
        let c = parse(&args("-cell 70 80 90 90 90 90 -N 5 -xds -distance 100")).unwrap();
        assert_eq!(c.crystal.cell.map(|p| [p[0], p[1], p[2]]), Some([70.0, 80.0, 90.0]));
        for short in ["-cell 70 80", "-cell 70 80 90 -N 5", "-cell 70 80 90 90 90"] {
            let e = parse(&args(short)).unwrap_err();
            assert!(e.0.starts_with("-cell: missing values") && e.0.contains("6 numbers"), "{short}: {e}");
        }
        assert_eq!(c.detector.pivot, Some(Pivot::Beam));
        assert_eq!(c.detector.convention, Some(Convention::Xds));
        let c = parse(&args("-distance 100 -twotheta 5")).unwrap();
        assert_eq!(c.detector.pivot, Some(Pivot::Sample));
    }

    #[test]
    fn legacy_cell_is_a_switch_with_an_exact_name() {
        assert!(!parse(&args("-cell 70 80 90 75 85 95")).unwrap().crystal.legacy_cell);
        let c = parse(&args("-legacy_cell -cell 70 80 90 75 85 95 -N 5")).unwrap();
        assert!(c.crystal.legacy_cell);
        assert_eq!(c.crystal.cells, [Some(5.0); 3]);
        assert!(parse(&args("-legacy")).is_err());
        assert!(parse(&args("-legacy_cells")).is_err());
    }

    #[test]
    fn bad_numbers_and_missing_values_are_errors() {
        let e = parse(&args("-lambda abc")).unwrap_err();
        assert!(e.0.contains("-lambda"), "{e}");
        assert!(parse(&args("-distance")).is_err());
        assert!(parse(&args("-N 2.5")).is_err());
        assert!(parse(&args("-fdet_vector 1 0")).is_err());
        assert!(parse(&args("stray")).is_err());
    }

    #[test]
    fn zero_directions_are_errors_but_a_zero_pix0_is_not() {
        for flag in ["-fdet_vector", "-sdet_vector", "-odet_vector", "-beam_vector", "-polar_vector", "-spindle_axis", "-twotheta_axis"] {
            let e = parse(&args(&format!("{flag} 0 0 0"))).unwrap_err();
            assert!(e.0.starts_with(flag) && e.0.contains("zero vector"), "{e}");
            assert!(parse(&args(&format!("{flag} 0 0 -1e-3"))).is_ok(), "{flag}");
        }
        assert_eq!(parse(&args("-pix0_vector 0 0 0")).unwrap().detector.pix0, Some([0.0; 3]));
    }

    #[test]
    fn every_name_is_unique_and_parsed() {
        let names: Vec<&str> = flags::all_names().collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} listed twice");
            // a switch parses alone; a flag with values complains about them, never about its name
            match parse(&[n.to_string()]) {
                Ok(_) => {}
                Err(e) => assert!(!e.0.contains("unknown option"), "{n}: {e}"),
            }
        }
        let (_, help) = parse_with_help(&args("-cell 1 1 1 90 90 90 -help")).unwrap();
        assert!(help);
    }
}
