//! Benchmark harness: whole-process wall time and peak memory of `nanobragg` against the C
//! program (when NB_C_BIN points at it), alternating the two programs in one run, plus (--grad)
//! the whole-process cost of `nanobragg grad --params all` against the forward render.
//!
//!     cargo build --release
//!     NB_C_BIN=/path/to/nanoBragg cargo run --release --example bench -- [--cases a,b] [--repeat N] [--threads N] [--grad]
//!
//! Results are printed as a Markdown table (copy into reports/benchmarks.md).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const CASES: &[(&str, &str)] = &[
    ("cubic_1024", "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.1 -detpixels 1024"),
    ("mosaic10_phi10_1024", "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.1 -detpixels 1024 -mosaic 0.5 -mosaic_domains 10 -phi 1 -osc 1 -phisteps 10"),
    ("oversample4_1024", "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.1 -detpixels 1024 -oversample 4"),
    ("cubic_4096", "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.025 -detpixels 4096"),
    ("triclinic_512", "-misset -89.968546 -31.328953 177.753396 -cell 70 80 90 75 85 95 -default_F 100 -N 5 -lambda 1.0 -detpixels 512"),
    ("mosaic100_phi10_1024", "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.1 -detpixels 1024 -mosaic 0.5 -mosaic_domains 100 -phi 1 -osc 1 -phisteps 10"),
];

/// Peak resident memory (kB) of a running process, polled until it exits.
fn run_measured(cmd: &mut Command) -> (Duration, u64, bool) {
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    peak = peak.max(v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0));
                }
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (start.elapsed(), peak, status.success());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ours() -> PathBuf {
    std::env::var_os("NB_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/nanobragg"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut only: Option<Vec<String>> = None;
    let mut repeat = 2;
    let mut threads = std::thread::available_parallelism().map(|v| v.get()).unwrap_or(1);
    let mut grad = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--cases" => {
                only = Some(args[i + 1].split(',').map(String::from).collect());
                i += 1;
            }
            "--repeat" => {
                repeat = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--threads" => {
                threads = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--grad" => grad = true,
            other => panic!("unknown option {other}"),
        }
        i += 1;
    }
    let c_bin = std::env::var_os("NB_C_BIN").map(PathBuf::from);
    let dir = std::env::temp_dir().join(format!("nanobragg_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("machine: {} cores available, threads used: {threads}", std::thread::available_parallelism().map(|v| v.get()).unwrap_or(1));
    println!();
    println!("| case | ours s | C s | C/ours (throughput ratio) | ours peak MB | C peak MB |");
    println!("|---|---|---|---|---|---|");
    for (name, flags) in CASES {
        if let Some(o) = &only {
            if !o.iter().any(|n| n == name) {
                continue;
            }
        } else if name.starts_with("mosaic100") {
            continue; // long; ask for it with --cases
        }
        let common = format!("{flags} -floatfile float.bin -nonoise -nopgm -noprogress");
        let mut best_ours = f64::MAX;
        let mut best_c = f64::MAX;
        let (mut peak_ours, mut peak_c) = (0, 0);
        for _ in 0..repeat {
            let (t, p, ok) = run_measured(Command::new(ours()).args(common.split_whitespace()).arg("-threads").arg(threads.to_string()).current_dir(&dir).stdout(std::process::Stdio::null()));
            assert!(ok, "nanobragg failed on {name}");
            best_ours = best_ours.min(t.as_secs_f64());
            peak_ours = peak_ours.max(p);
            if let Some(c) = &c_bin {
                let (t, p, _) = run_measured(Command::new(c).args(common.split_whitespace()).env("OMP_NUM_THREADS", threads.to_string()).current_dir(&dir).stdout(std::process::Stdio::null()));
                best_c = best_c.min(t.as_secs_f64());
                peak_c = peak_c.max(p);
            }
        }
        let (cs, ratio, cp) = if c_bin.is_some() {
            (format!("{best_c:.2}"), format!("{:.2}", best_c / best_ours), format!("{:.0}", peak_c as f64 / 1024.0))
        } else {
            ("-".into(), "-".into(), "-".into())
        };
        println!("| {name} | {best_ours:.2} | {cs} | {ratio} | {:.0} | {cp} |", peak_ours as f64 / 1024.0);
    }
    if grad {
        // whole-process `grad --params all` (weighted image sum, gradients of every parameter)
        // against the whole-process forward render, same threads, alternating in one run
        println!();
        println!("| case | forward s ({threads} thr) | grad all s ({threads} thr) | grad/forward | grad all s (1 thr) | grad peak MB |");
        println!("|---|---|---|---|---|---|");
        for (name, flags) in CASES {
            if let Some(o) = &only {
                if !o.iter().any(|n| n == name) {
                    continue;
                }
            } else if name.starts_with("mosaic100") || name.starts_with("cubic_4096") {
                continue;
            }
            let render = format!("{flags} -floatfile float.bin -nonoise -nopgm -noprogress -threads {threads}");
            let grad_args = |t: usize| format!("grad {flags} --params all --threads {t}");
            let (mut fwd, mut g_n, mut g_1, mut peak) = (f64::MAX, f64::MAX, f64::MAX, 0);
            for _ in 0..repeat {
                let quiet = || std::process::Stdio::null();
                let (t, _, ok) = run_measured(Command::new(ours()).args(render.split_whitespace()).current_dir(&dir).stdout(quiet()));
                assert!(ok, "render failed on {name}");
                fwd = fwd.min(t.as_secs_f64());
                let (t, p, ok) = run_measured(Command::new(ours()).args(grad_args(threads).split_whitespace()).current_dir(&dir).stdout(quiet()));
                assert!(ok, "grad failed on {name}");
                g_n = g_n.min(t.as_secs_f64());
                peak = peak.max(p);
                let (t, _, ok) = run_measured(Command::new(ours()).args(grad_args(1).split_whitespace()).current_dir(&dir).stdout(quiet()));
                assert!(ok, "grad failed on {name}");
                g_1 = g_1.min(t.as_secs_f64());
            }
            println!("| {name} | {fwd:.2} | {g_n:.2} | {:.2} | {g_1:.2} | {:.0} |", g_n / fwd, peak as f64 / 1024.0);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
