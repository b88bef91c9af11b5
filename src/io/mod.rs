//! File formats read and written by the simulator: HKL text, the binary structure-factor dump,
//! MOSFLM orientation matrices, source lists, SMV images, PGM previews and raw float images.

pub mod cfmt;
pub mod expt;
pub mod export;
pub mod fdump;
pub mod floatimg;
pub mod hkl;
pub mod limits;
pub mod matrix;
pub mod osname;
pub mod pgm;
pub mod products;
pub mod png;
pub mod smv;
pub mod spectrum;
pub mod sourcefile;
pub mod stol;

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Print `text` and a newline on stderr in one write. Under MPI, mpirun forwards each rank's
/// stderr as it arrives; a line written in pieces (as `eprintln!` does, one write per formatted
/// part) can be cut by another rank's line. Lines up to the pipe buffer (4 KiB) are whole.
pub fn stderr_line(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The temporary name beside `path` that a write goes through: `.NAME.tmpPID.K`, with NAME cut
/// short (at a character boundary) so the whole name fits the file-system limit of 255 bytes.
pub fn temp_path(path: &Path) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| Error::new(format!("{}: not a file path", osname::display(path))))?;
    let suffix = format!(".tmp{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let room = 255 - 1 - suffix.len();
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(prefix_within(name, room));
    tmp_name.push(suffix);
    Ok(dir.join(tmp_name))
}

/// The longest prefix of `name` of at most `room` bytes (whole UTF-8 characters where it is text).
fn prefix_within(name: &std::ffi::OsStr, room: usize) -> std::ffi::OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let b = name.as_bytes();
        let mut n = b.len().min(room);
        while n > 0 && n < b.len() && (b[n] & 0xC0) == 0x80 {
            n -= 1;
        }
        std::ffi::OsString::from_vec(b[..n].to_vec())
    }
    #[cfg(not(unix))]
    {
        let s = name.to_string_lossy();
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        std::ffi::OsString::from(&s[..n])
    }
}

/// Lower-case hex SHA-256 of `bytes` (as sha256sum prints it): how records name the exact
/// input files they were made from.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

thread_local! {
    /// The output set being written on this thread (see [`output_set`]): (temporary, final) pairs.
    static STAGED: std::cell::RefCell<Option<Vec<(PathBuf, PathBuf)>>> = const { std::cell::RefCell::new(None) };
}

/// Run `write` so that the files it writes (through [`write_atomic`] or [`finish_temp`]) appear
/// together or not at all: they stay under their temporary names until `write` has succeeded,
/// then are renamed into place; on failure the temporaries are removed. Nested calls join the
/// outer set.
pub fn output_set<T>(write: impl FnOnce() -> Result<T>) -> Result<T> {
    if STAGED.with(|s| s.borrow().is_some()) {
        return write();
    }
    STAGED.with(|s| *s.borrow_mut() = Some(Vec::new()));
    let result = write();
    let staged = STAGED.with(|s| s.borrow_mut().take()).unwrap_or_default();
    match result {
        Ok(v) => {
            for (k, (tmp, path)) in staged.iter().enumerate() {
                if let Err(e) = std::fs::rename(tmp, path) {
                    for (t, _) in &staged[k..] {
                        let _ = std::fs::remove_file(t);
                    }
                    return Err(Error::file(format!("{}: cannot write file: {e}", osname::display(path))));
                }
            }
            Ok(v)
        }
        Err(e) => {
            for (t, _) in &staged {
                let _ = std::fs::remove_file(t);
            }
            Err(e)
        }
    }
}

/// A complete temporary `tmp` (from [`temp_path`]) becomes `path`: now, or at the end of the
/// output set being written. On failure the temporary is removed.
pub fn finish_temp(tmp: &Path, path: &Path) -> std::io::Result<()> {
    let staged = STAGED.with(|s| match s.borrow_mut().as_mut() {
        Some(list) => {
            list.push((tmp.to_path_buf(), path.to_path_buf()));
            true
        }
        None => false,
    });
    if staged {
        return Ok(());
    }
    std::fs::rename(tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(tmp);
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory that is renamed into
/// place at the end (of this write, or of the output set being written), so an error never
/// leaves a partial output behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.flush()?;
        drop(f);
        finish_temp(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::file(format!("{}: cannot write file: {}", osname::display(path), e)));
    }
    Ok(())
}

/// Reads a whole file, with a one-line error naming it.
pub fn read_all(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::file(format!("{}: cannot read file: {}", osname::display(path), e)))
}

/// Length of the longest prefix of `s` that C's `strtod` would consume as a decimal number
/// (leading white space included), or 0 when there is none. `inf`/`nan` words are accepted.
pub(crate) fn c_number_prefix(s: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let start = i;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    // Special words.
    let rest = &s[i..];
    let lower: Vec<u8> = rest
        .iter()
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if lower.starts_with(b"infinity") {
        return i + 8;
    }
    if lower.starts_with(b"inf") || lower.starts_with(b"nan") {
        return i + 3;
    }
    let mut digits = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        let _ = start;
        return 0;
    }
    // Optional exponent, only taken when complete.
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    i
}

/// C `atof`: the value of the leading number in `s`, or 0.0 when there is none.
pub(crate) fn c_atof(s: &[u8]) -> f64 {
    let n = c_number_prefix(s);
    if n == 0 {
        return 0.0;
    }
    let text = std::str::from_utf8(&s[..n]).unwrap_or("").trim_start();
    parse_number(text).unwrap_or(0.0)
}

/// Parses a whole token as a number (decimal, exponent, `inf`, `nan`), or None.
pub(crate) fn parse_number(tok: &str) -> Option<f64> {
    if tok.is_empty() {
        return None;
    }
    let b = tok.as_bytes();
    if c_number_prefix(b) != b.len() || matches!(b[0], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        return None;
    }
    tok.parse::<f64>().ok()
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The golden reference folder (`NB_GOLDEN_DIR` or ../shared/golden), if present.
    pub(crate) fn golden_dir() -> Option<PathBuf> {
        let dir = match std::env::var_os("NB_GOLDEN_DIR") {
            Some(d) => PathBuf::from(d),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"),
        };
        if dir.join("inputs").is_dir() {
            Some(dir)
        } else {
            crate::io::stderr_line(&format!("note: golden data not found at {}; skipping", dir.display()));
            None
        }
    }

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A fresh path in the system temp directory (the file is not created).
    pub fn temp_path(tag: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        std::env::temp_dir().join(format!(
            "nanobragg_test_{}_{}_{}",
            std::process::id(),
            n,
            tag
        ))
    }

    /// Writes `bytes` to a fresh temp file and returns its path.
    pub fn temp_file(tag: &str, bytes: &[u8]) -> PathBuf {
        let p = temp_path(tag);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Tiny xorshift64* generator for fuzz-style tests.
    pub struct XorShift(pub u64);
    impl XorShift {
        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545F4914F6CDD1D)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
        /// Random bytes biased towards characters that matter to text parsers.
        pub fn bytes(&mut self, max_len: usize, alphabet: &[u8]) -> Vec<u8> {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| {
                    if self.below(4) == 0 {
                        self.next_u64() as u8
                    } else {
                        alphabet[self.below(alphabet.len())]
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atof_like_c() {
        assert_eq!(c_atof(b"  512;\n"), 512.0);
        assert_eq!(c_atof(b"-1.5e3xyz"), -1500.0);
        assert_eq!(c_atof(b"1e"), 1.0);
        assert_eq!(c_atof(b".5"), 0.5);
        assert_eq!(c_atof(b"abc"), 0.0);
        assert_eq!(c_atof(b""), 0.0);
        assert_eq!(c_atof(b"+"), 0.0);
        assert_eq!(c_atof(b"7."), 7.0);
        assert!(c_atof(b"nan").is_nan());
        assert_eq!(c_atof(b"-inf"), f64::NEG_INFINITY);
    }

    #[test]
    fn parse_number_whole_token() {
        assert_eq!(parse_number("3"), Some(3.0));
        assert_eq!(parse_number("-0.25E+2"), Some(-25.0));
        assert_eq!(parse_number("3x"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("."), None);
        assert_eq!(parse_number(" 3"), None);
        assert_eq!(parse_number("1e5"), Some(1e5));
    }

    #[test]
    fn atomic_write_replaces_and_cleans_up() {
        let p = testutil::temp_path("atomic.bin");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        std::fs::remove_file(&p).unwrap();
        // Directory that does not exist: error naming the file, nothing left behind.
        let bad = testutil::temp_path("nodir").join("x.bin");
        let e = write_atomic(&bad, b"x").unwrap_err();
        assert!(e.0.contains("x.bin"), "{}", e.0);
        assert!(!e.0.contains('\n'));
    }
}
