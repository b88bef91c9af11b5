//! A seeded fuzz campaign over every parser: structured mutations of a valid file of each kind
//! (bytes flipped, inserted, deleted and duplicated; numbers replaced by extreme ones; lines
//! swapped, repeated and cut) fed to its reader, which must return (a value or an error) without
//! panicking and within a bounded time. `NB_FUZZ_CASES` sets the mutations per parser (default
//! 3000, about 11 s in all); `NB_FUZZ_SEED` the seed. reports/robustness.md records a long run.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{experiment, scratch};

/// splitmix64: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that break careless number handling.
const EXTREME: [&str; 22] = [
    "0", "-0", "-1", "1e308", "-1e308", "1e-320", "nan", "inf", "-inf", "NaN", "99999999999999999999", "-2147483649",
    "4294967296", "9223372036854775808", "1e9", "65536", "2147483647", "0.5", "", "x", "1e", "--1",
];

/// Bytes that matter to text parsers.
const ALPHABET: &[u8] = b"0123456789.-+eE \t\n\r;=#{}[],:\"'!xX\x00\xff\x0c";

fn is_number_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')
}

/// One structured mutation of `seed` (1 to 4 edits).
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let n = v.len();
        match rng.below(10) {
            // flip a bit
            0 if n > 0 => {
                let i = rng.below(n);
                v[i] ^= 1 << rng.below(8);
            }
            // insert a byte
            1 => {
                let b = if rng.below(4) == 0 { rng.next() as u8 } else { ALPHABET[rng.below(ALPHABET.len())] };
                v.insert(rng.below(n + 1), b);
            }
            // delete a range
            2 if n > 0 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(16));
                v.drain(i..i + len);
            }
            // duplicate a range
            3 if n > 0 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(64));
                let piece: Vec<u8> = v[i..i + len].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, piece);
            }
            // truncate
            4 if n > 0 => v.truncate(rng.below(n)),
            // swap two lines, repeat one, or cut one
            5 | 6 => {
                let mut lines: Vec<Vec<u8>> = v.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                let k = lines.len();
                let (a, b) = (rng.below(k), rng.below(k));
                match rng.below(3) {
                    0 => lines.swap(a, b),
                    1 => {
                        let l = lines[a].clone();
                        for _ in 0..1 + rng.below(3) {
                            lines.insert(b, l.clone());
                        }
                    }
                    _ => {
                        lines.remove(a);
                    }
                }
                v = lines.join(&b'\n');
            }
            // replace a number by an extreme value
            _ => {
                let starts: Vec<usize> = (0..n).filter(|&i| is_number_byte(v[i]) && (i == 0 || !is_number_byte(v[i - 1]))).collect();
                if starts.is_empty() {
                    continue;
                }
                let s = starts[rng.below(starts.len())];
                let mut e = s;
                while e < n && is_number_byte(v[e]) {
                    e += 1;
                }
                v.splice(s..e, EXTREME[rng.below(EXTREME.len())].bytes());
            }
        }
    }
    v
}

/// What a campaign over one parser found.
pub struct Found {
    pub tried: usize,
    pub accepted: usize,
    pub panics: Vec<(Vec<u8>, String)>,
    pub slowest: Duration,
}

/// Feed `cases` mutations of `seed` to `parse` (which gets the bytes and a scratch file holding
/// them); every panic is kept with its input.
fn campaign(name: &str, rng: &mut Rng, seed: &[u8], cases: usize, file: &Path, parse: &dyn Fn(&[u8], &Path) -> bool) -> Found {
    let mut found = Found { tried: 0, accepted: 0, panics: vec![], slowest: Duration::ZERO };
    // the seed itself must parse: otherwise the mutations test nothing
    std::fs::write(file, seed).unwrap();
    assert!(parse(seed, file), "{name}: the seed input is not accepted");
    for _ in 0..cases {
        let input = mutate(rng, seed);
        std::fs::write(file, &input).unwrap();
        let started = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| parse(&input, file))) {
            Ok(ok) => found.accepted += ok as usize,
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                found.panics.push((input.clone(), msg));
            }
        }
        found.slowest = found.slowest.max(started.elapsed());
        found.tried += 1;
    }
    found
}

type Parser = (&'static str, Vec<u8>, Box<dyn Fn(&[u8], &Path) -> bool>);

/// Every parser with a valid input of its kind.
fn parsers(dir: &Path) -> Vec<Parser> {
    use nanobragg::io;
    let hkl = b"0 0 1 100\n1 -1 2 50.5\n-3 2 1 7\n2 2 2 1e2\n".to_vec();
    let grid = {
        let p = dir.join("seed.hkl");
        std::fs::write(&p, &hkl).unwrap();
        io::hkl::read_hkl(&p, 0.0).unwrap().0
    };
    let fdump = {
        let p = dir.join("seed.Fdump");
        io::fdump::write_fdump(&p, &grid).unwrap();
        std::fs::read(&p).unwrap()
    };
    let smv = {
        let p = dir.join("seed.img");
        let mut lines = io::smv::smv_preamble();
        lines.extend(["SIZE1=4;", "SIZE2=3;", "PIXEL_SIZE=0.1;", "DISTANCE=100;", "WAVELENGTH=1;", "BEAM_CENTER_X=0.2;", "BEAM_CENTER_Y=0.2;", "PHI=0;", "OSC_RANGE=1;"].map(String::from));
        io::smv::write_smv(&p, &lines, 4, 3, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 65535]).unwrap();
        std::fs::read(&p).unwrap()
    };
    let floats: Vec<u8> = (0..12).flat_map(|i| (i as f32 * 0.5).to_le_bytes()).collect();
    let cbf = nanobragg::io::export::cbf::byte_offset_compress(&[0, 1, -1, 200, -300, 40000, -70000, 5, 1 << 30, -(1 << 30), 7, 7]);
    let exp = experiment("-cell 70 80 90 75 85 95 -default_F 1 -N 5 -detpixels 8 -distance 100");
    let expt = serde_json::to_vec_pretty(&crate::panels::expt_of(&exp)).unwrap();
    let run = nanobragg::config::runfile::to_toml(&crate::common::options("-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.1 -detpixels 16 -mosaic 0.2 -mosaic_domains 3 -divergence 0.1 -divsteps 2 -floatfile f.bin -roi 0 10 0 10"))
        .into_bytes();
    let batch = b"flags = \"-cell 70 80 90 90 90 90 -default_F 100 -N 5 -detpixels 16\"\nseed = 3\nout = \"o\"\nformats = [\"float\", \"smv\", \"noise\"]\n[rotation]\nstart = 10\nwidth = 0.5\ncount = 4\n[stills]\ncount = 8\nenergy_jitter_ev = 20\ncrystal_size_um = [0.3, 0.6]\nfluence_jitter = 0.2\n".to_vec();
    let refine_plan = b"flags = \"-cell 70 80 90 90 90 90 -default_F 100 -N 5 -detpixels 16\"\nloss = \"poisson\"\nshared = [\"distance\", \"cell_a\"]\nper_image = [\"misset_x\"]\nsteps = 3\nadc = 40\n[restrain]\ndistance = [100.0, 1.0]\n[[image]]\ntarget = \"a.bin\"\nflags = \"-phi 1\"\n[[image]]\ntarget = \"b.bin\"\n".to_vec();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    vec![
        ("HKL", hkl, Box::new(|_: &[u8], p: &Path| io::hkl::read_hkl(p, 0.0).is_ok())),
        ("Fdump", fdump, Box::new(|_: &[u8], p: &Path| io::fdump::read_fdump(p).is_ok())),
        ("MOSFLM matrix", b"0.0117467 -0.0044979 0.0044443\n0.0067820 0.0121190 -0.0030475\n-0.0049369 0.0016037 0.0102481\n 0 0 0\n70 80 90 90 90 90\n".to_vec(), Box::new(|_: &[u8], p: &Path| io::matrix::read_mosflm_matrix(p).is_ok())),
        ("source file", b"# x y z weight lambda\n-10 0 0 1 1e-10\n-10 0.01 0 0.5 1.1e-10\n-10 0 0.02\n".to_vec(), Box::new(|_: &[u8], p: &Path| io::sourcefile::read_sourcefile_counted(p).is_ok())),
        ("SMV header", smv, Box::new(|_: &[u8], p: &Path| io::smv::read_smv(p).is_ok())),
        ("CBF byte offset", cbf, Box::new(|b: &[u8], _: &Path| nanobragg::io::export::cbf::byte_offset_decompress(b, 12).is_some() | nanobragg::io::export::cbf::byte_offset_decompress(b, b.len()).is_some())),
        ("float image", floats, Box::new(|_: &[u8], p: &Path| io::floatimg::read_float_image(p, Some(12)).is_ok() | io::floatimg::read_float_image(p, None).is_ok())),
        ("experiment list", expt, Box::new(|_: &[u8], p: &Path| io::expt::read_expt(p).is_ok())),
        ("run file", run, Box::new(move |b: &[u8], _: &Path| nanobragg::config::runfile::flags_from_toml("r.toml", &text(b)).and_then(|f| nanobragg::config::parse(&f)).is_ok())),
        ("batch plan", batch, Box::new(move |b: &[u8], _: &Path| nanobragg::batch::plan::parse("p.toml", &text(b)).is_ok())),
        ("refinement plan", refine_plan, Box::new(move |b: &[u8], _: &Path| {
            use nanobragg::refine::joint::{Layout, Plan};
            Plan::parse("r.toml", &text(b)).and_then(|p| Layout::from_plan(&p, "r.toml")).is_ok()
        })),
    ]
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn every_parser_survives_structured_mutations() {
    let cases = env_or("NB_FUZZ_CASES", 3000) as usize;
    let seed = env_or("NB_FUZZ_SEED", 22);
    let dir = scratch("fuzz");
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let started = Instant::now();
    for (k, (name, valid, parse)) in parsers(&dir).into_iter().enumerate() {
        let mut rng = Rng(seed.wrapping_mul(1000).wrapping_add(k as u64));
        let file = dir.join(format!("input_{k}"));
        let found = campaign(name, &mut rng, &valid, cases, &file, &*parse);
        report.push(format!("{name:16} {:>8} inputs, {:>8} accepted, {} panics, slowest {:.1} ms", found.tried, found.accepted, found.panics.len(), found.slowest.as_secs_f64() * 1e3));
        // one input must never take long: a parser that loops or allocates by a header's word
        if found.slowest > Duration::from_secs(2) {
            failures.push(format!("{name}: an input took {:.1} s", found.slowest.as_secs_f64()));
        }
        for (input, msg) in found.panics.iter().take(3) {
            failures.push(format!("{name}: panic '{msg}' on {:?}", String::from_utf8_lossy(input)));
        }
    }
    eprintln!("fuzz campaign (seed {seed}, {cases} cases per parser, {:.1} s):\n{}", started.elapsed().as_secs_f64(), report.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
