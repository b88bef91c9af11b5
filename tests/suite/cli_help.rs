//! Help, version, the explicit `render` command and suggestions for mistyped names.

use crate::common::*;

fn ok_stdout(args: &str) -> String {
    let dir = scratch("help");
    let out = run_in(&dir, args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "'{args}': {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "'{args}': {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    text
}

/// One error line on stderr, exit status 1.
fn one_error_line(args: &str) -> String {
    let dir = scratch("help_err");
    let out = run_in(&dir, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "'{args}': {err}");
    assert_eq!(err.lines().count(), 1, "'{args}': {err:?}");
    assert!(err.starts_with("nanobragg: error: "), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    err
}

#[test]
fn version_is_the_crate_version() {
    for args in ["--version", "-V"] {
        assert_eq!(ok_stdout(args).trim(), format!("nanobragg {}", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn top_level_help_lists_commands_and_grouped_flags() {
    for args in ["--help", "-h", "-help", "help", ""] {
        let text = ok_stdout(args);
        for word in ["render", "grad", "gradcheck", "refine", "--version"] {
            assert!(text.contains(word), "'{args}' help lacks {word}");
        }
        for heading in ["Crystal:", "Detector:", "Beam:", "Output:", "Engine:"] {
            assert!(text.contains(heading), "'{args}' help lacks {heading}");
        }
        assert!(text.contains("-distance <mm>") && text.contains("[default: 100]"), "'{args}': units and defaults");
    }
}

#[test]
fn render_help_lists_every_flag() {
    for args in ["render --help", "render -h", "help render", "render"] {
        let text = ok_stdout(args);
        for flag in nanobragg::cli::table::all_names().chain(["--config", "--print-config"]) {
            assert!(text.contains(flag), "'{args}' lacks {flag}");
        }
    }
}

#[test]
fn subcommand_help_lists_their_options() {
    for (sub, opts) in [
        ("refine", &["--target", "--refine", "--loss", "--steps", "--optimizer", "--adc", "--out", "--threads", "--device", "--config", "--print-config"][..]),
        ("gradcheck", &["--params", "--h", "--tol", "--sum", "--threads", "--device"][..]),
        ("grad", &["--params", "--target", "--loss", "--out", "--adc", "--threads", "--device"][..]),
    ] {
        for args in [format!("{sub} --help"), format!("{sub} -h"), format!("help {sub}"), format!("{sub} -cell 70 80 90 90 90 90 --help")] {
            let text = ok_stdout(&args);
            for o in opts {
                assert!(text.contains(o), "'{args}' lacks {o}");
            }
            assert!(text.contains("[default:") && text.contains("Simulation flags"), "'{args}': {text}");
        }
    }
}

#[test]
fn explicit_render_is_the_default_command() {
    let args = "-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -N 5 -detpixels 24 -distance 80";
    let dir = scratch("render_cmd");
    let a = run_in(&dir, &format!("{args} -floatfile a.bin -noprogress"));
    let b = run_in(&dir, &format!("render {args} -floatfile b.bin -noprogress"));
    assert!(a.status.success() && b.status.success());
    assert_eq!(std::fs::read(dir.join("a.bin")).unwrap(), std::fs::read(dir.join("b.bin")).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_names_get_a_suggestion() {
    let good = "-cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 -floatfile out.bin";
    for (typo, fix) in [("-distanc 100", "-distance"), ("--cell 70", "-cell"), ("-Cell 70", "-cell"), ("-mosaic_seeds 3", "-mosaic_seed"), ("-detpix 32", "-detpixels")] {
        let err = one_error_line(&format!("{good} {typo}"));
        let name = typo.split(' ').next().unwrap();
        assert!(err.contains(&format!("unknown option '{name}'")) && err.contains(&format!("did you mean {fix}?")), "{err}");
    }
    let err = one_error_line("rendr -cell 70 80 90 90 90 90");
    assert!(err.contains("'rendr'") && err.contains("did you mean render?"), "{err}");
    let err = one_error_line("refine -cell 70 80 90 90 90 90 --refin cell_a");
    assert!(err.contains("'--refin'") && err.contains("did you mean --refine?"), "{err}");
    let err = one_error_line("gradcheck -cell 70 80 90 90 90 90 --param cell_a");
    assert!(err.contains("'--param'") && err.contains("did you mean --params?"), "{err}");
    let err = one_error_line("grad -cell 70 80 90 90 90 90 --target");
    assert!(err.contains("--target"), "{err}");
    // no prefix matching: a prefix of a real option is an error, not that option
    let err = one_error_line("refine -cell 70 80 90 90 90 90 -default_F 1 -detpixels 8 --tar x.bin --refine cell_a");
    assert!(err.contains("'--tar'"), "{err}");
}

#[test]
fn shell_completions() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let text = ok_stdout(&format!("completions {shell}"));
        for word in ["render", "refine", "gradcheck", "target"] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
    // bash completes a render's single-dash flags by their exact names
    let bash = ok_stdout("completions bash");
    for flag in ["-cell ", "-distance ", "-legacy_cell ", "-sourcefile "] {
        assert!(bash.contains(flag), "bash completion lacks {flag}");
    }
    let err = one_error_line("completions tcsh");
    assert!(err.contains("tcsh"), "{err}");
    let err = one_error_line("completions");
    assert!(err.contains("missing") && err.contains("shell"), "{err}");
}
