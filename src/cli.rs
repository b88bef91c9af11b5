//! The command line: a thin layer over the library. The flags of a render are the typed
//! configuration's flag language ([`crate::config::flags`], parsed by [`parse`]); this module
//! adds the subcommands, clap's errors and the help text.

use crate::error::{Error, Result};

pub use crate::config::{parse, parse_with_help, runfile};

pub mod batch;
pub mod noisify;
pub mod nonbragg;
pub mod refine;
pub mod progress;
pub mod table;

/// The subcommands of the program.
pub const COMMANDS: [&str; 8] = ["render", "grad", "gradcheck", "refine", "completions", "help", "batch", "nonbragg"];

/// A clap error as one line: what was wrong and, for a typo, the closest valid name.
pub fn clap_error(e: &clap::Error, command: &str) -> Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let get = |k| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let hint = |k| get(k).map(|s| format!(": did you mean {s}?")).unwrap_or_default();
    let text = match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = get(ContextKind::InvalidArg).unwrap_or_default();
            format!("{command}: unknown option '{arg}'{} (see {command} --help)", hint(ContextKind::SuggestedArg))
        }
        ErrorKind::InvalidSubcommand => {
            let sub = get(ContextKind::InvalidSubcommand).unwrap_or_default();
            // the closest by edits (clap's own pick can prefer refine to render for "rendr")
            let hint = table::closest(&sub, COMMANDS).map(|s| format!(": did you mean {s}?")).unwrap_or_default();
            format!("unknown command '{sub}'{hint} (see --help)")
        }
        ErrorKind::MissingRequiredArgument => {
            let missing = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v.join(" "),
                _ => "an argument".into(),
            };
            format!("{command}: missing {missing}")
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or("bad arguments");
            format!("{command}: {}", first.trim_start_matches("error: "))
        }
    };
    // the program's name already starts every error line
    Error::new(text.strip_prefix("nanobragg: ").unwrap_or(&text))
}

/// Parse with clap; `None` when clap printed the help or the version (a success).
pub fn clap_matches(cmd: clap::Command, argv: Vec<String>, command: &str) -> Result<Option<clap::ArgMatches>> {
    match cmd.try_get_matches_from(argv) {
        Ok(m) => Ok(Some(m)),
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            let _ = e.print();
            Ok(None)
        }
        Err(e) => Err(clap_error(&e, command)),
    }
}

/// Usage line of a render.
pub const USAGE: &str = "nanobragg [render] -cell a b c al be ga | -mat A.mat   -hkl F.hkl | -default_F F   [flags]";

/// Help text of a render (`-h`, `render --help`), made from the flag table.
pub fn help() -> String {
    format!(
        "nanobragg: absolute-scale diffraction images of small crystals (nanoBragg-compatible)\n\nusage: {USAGE}\n\n{}",
        table::flags_help()
    )
}

