//! The shape of src/ (issue 17): no import cycle between files, at most 12 top-level modules,
//! no function over 100 lines, and no command-line type outside the command-line layer.
//! `tools/structure.py` measures; this test holds the line.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn report() -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/structure.py");
    let out = Command::new("python3").arg(&script).arg("--json").output().expect("python3 runs tools/structure.py");
    assert!(out.status.success(), "structure.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("structure.py prints JSON")
}

fn strings(v: &serde_json::Value, f: impl Fn(&serde_json::Value) -> String) -> BTreeSet<String> {
    v.as_array().expect("a list").iter().map(f).collect()
}

#[test]
fn no_import_cycles_and_at_most_twelve_top_level_modules() {
    let r = report();
    let cycles = r["import_cycles"].as_array().unwrap();
    assert!(cycles.is_empty(), "import cycles between files: {cycles:?}");
    let top = r["top_level_modules"].as_u64().unwrap();
    assert!(top <= 12, "{top} top-level modules: {}", r["top_level_module_names"]);
}

#[test]
fn no_function_over_100_lines_and_no_command_line_type_outside_the_command_line() {
    let r = report();
    let long = strings(&r["functions_over_100_lines"], |d| format!("{} {}", d["file"].as_str().unwrap(), d["function"].as_str().unwrap()));
    assert!(long.is_empty(), "functions over 100 lines: {long:?}");
    let leaks = strings(&r["cli_types_outside_cli"], |d| d["file"].as_str().unwrap().to_string());
    assert!(leaks.is_empty(), "command-line types used outside the command-line layer: {leaks:?}");
}
