//! What an interrupted batch says. Ctrl-C (SIGINT) or SIGTERM ends the process at once, as
//! before, but first prints one line: how many of the process's shots are on disk and how to
//! resume. Files are written under temporary names and renamed, so no partial shot is left;
//! the rerun removes the temporaries and skips the finished shots.
//!
//! While a shot's files are written and renamed ([`uninterrupted`]) a signal is held and acted
//! on right after, so a shot is on disk whole or not at all. The handler only reads and writes
//! atomics, formats into a stack buffer and calls `write` and `_exit`, all of which may be
//! called from a signal handler.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

static DONE: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);
/// Set while a shot's files are written; a signal then waits in PENDING.
static HOLD: AtomicBool = AtomicBool::new(false);
static PENDING: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// The process's label under MPI ("rank 1/4: "), empty on one process.
static LABEL: OnceLock<String> = OnceLock::new();

/// Install the handlers of SIGINT and SIGTERM for the rest of the process (the command line's
/// `batch`; a library caller keeps its own).
pub fn install() {
    #[cfg(unix)]
    // SAFETY: the handler is async-signal-safe (see the module's note), and sigaction is given
    // a zeroed, then filled, struct
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// This process has `total` shots, under the label `label`; none written yet.
pub fn begin(label: String, total: usize) {
    let _ = LABEL.set(label);
    DONE.store(0, Ordering::SeqCst);
    TOTAL.store(total, Ordering::SeqCst);
    STARTED.store(true, Ordering::SeqCst);
}

/// One more of this process's shots is on disk (rendered now, or found there).
pub fn shot_done() {
    DONE.fetch_add(1, Ordering::SeqCst);
}

/// Run `write` (a shot's files, then [`shot_done`]) with an interrupt held until it returns.
pub fn uninterrupted<T>(write: impl FnOnce() -> T) -> T {
    HOLD.store(true, Ordering::SeqCst);
    let result = write();
    HOLD.store(false, Ordering::SeqCst);
    let sig = PENDING.swap(0, Ordering::SeqCst);
    if sig != 0 {
        stop(sig);
    }
    result
}

/// The line an interrupt prints.
pub fn message(label: &str, started: bool, done: usize, total: usize, buf: &mut [u8]) -> usize {
    let mut w = Writer { buf, len: 0 };
    w.push(label.as_bytes());
    if started {
        w.push(b"interrupted: ");
        w.number(done);
        w.push(b" of ");
        w.number(total);
        w.push(if label.is_empty() { b" shots written" } else { b" shots of this process written" });
    } else {
        w.push(b"interrupted before any shot was rendered");
    }
    w.push(b"; run the same command again to resume\n");
    w.len
}

struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn number(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut k = digits.len();
        loop {
            k -= 1;
            digits[k] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[k..]);
    }
}

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    if HOLD.load(Ordering::SeqCst) {
        PENDING.store(sig, Ordering::SeqCst);
        return;
    }
    stop(sig);
}

/// Print the line and end the process with status 128 + `sig`.
fn stop(sig: i32) {
    let mut buf = [0u8; 256];
    let label = LABEL.get().map(String::as_str).unwrap_or("");
    let n = message(label, STARTED.load(Ordering::SeqCst), DONE.load(Ordering::SeqCst), TOTAL.load(Ordering::SeqCst), &mut buf);
    #[cfg(unix)]
    // SAFETY: write(2) and _exit(2) are async-signal-safe; buf outlives the call
    unsafe {
        libc::write(2, buf.as_ptr() as *const libc::c_void, n);
        libc::_exit(128 + sig);
    }
    #[cfg(not(unix))]
    {
        eprint!("{}", String::from_utf8_lossy(&buf[..n]));
        std::process::exit(128 + sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_far_the_batch_got_and_how_to_resume() {
        let mut buf = [0u8; 256];
        let n = message("", true, 7, 20, &mut buf);
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "interrupted: 7 of 20 shots written; run the same command again to resume\n");
        let n = message("rank 1/2: ", true, 0, 10, &mut buf);
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "rank 1/2: interrupted: 0 of 10 shots of this process written; run the same command again to resume\n");
        let n = message("", false, 0, 0, &mut buf);
        assert!(std::str::from_utf8(&buf[..n]).unwrap().starts_with("interrupted before any shot"));
        // a buffer too small is filled, never overrun
        let mut tiny = [0u8; 8];
        assert_eq!(message("", true, 123456789, 987654321, &mut tiny), 8);
    }
}
