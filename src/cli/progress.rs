//! Progress meter on stderr for long renders.
//!
//! Silent for the first second (short runs print nothing), then redraws one line at most ten
//! times a second, and ends that line with a newline when the render finishes. On by default
//! when stderr is a terminal; `-noprogress` turns it off, `-progress` forces it on (for
//! example when stderr is redirected to a log).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Delay before the first line is drawn.
pub const START_AFTER: Duration = Duration::from_secs(1);
/// Minimum interval between redraws.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

pub struct Meter {
    enabled: bool,
    start: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
    sink: Box<dyn Write>,
}

impl Meter {
    /// `flag` is the user's choice: `Some(false)` for -noprogress, `Some(true)` for -progress,
    /// `None` to decide from whether stderr is a terminal.
    pub fn new(flag: Option<bool>) -> Self {
        let enabled = flag.unwrap_or_else(|| std::io::stderr().is_terminal());
        Self::with_sink(enabled, Box::new(std::io::stderr()))
    }

    /// A meter writing to any sink (used by the tests).
    pub fn with_sink(enabled: bool, sink: Box<dyn Write>) -> Self {
        Meter { enabled, start: Instant::now(), last_draw: None, drawn: false, sink }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Report that `done` of `total` pixels are rendered.
    pub fn update(&mut self, done: usize, total: usize) {
        self.update_at(done, total, Instant::now());
    }

    /// As [`update`](Self::update) with an explicit clock reading.
    pub fn update_at(&mut self, done: usize, total: usize, now: Instant) {
        if !self.enabled {
            return;
        }
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < START_AFTER {
            return;
        }
        if let Some(last) = self.last_draw {
            if now.saturating_duration_since(last) < MIN_INTERVAL && done < total {
                return;
            }
        }
        self.last_draw = Some(now);
        self.drawn = true;
        let _ = write!(self.sink, "\r{}", line(done, total, elapsed));
        let _ = self.sink.flush();
    }

    /// End the meter's line (only if something was drawn).
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(self.sink);
            let _ = self.sink.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The meter's text: percentage, pixel counts, elapsed and estimated remaining time.
pub fn line(done: usize, total: usize, elapsed: Duration) -> String {
    let frac = if total > 0 { done as f64 / total as f64 } else { 1.0 };
    let secs = elapsed.as_secs_f64();
    let left = if frac > 0.0 { secs * (1.0 - frac) / frac } else { f64::NAN };
    let left = if left.is_finite() { format!("{left:.0} s left") } else { "? s left".to_string() };
    format!("rendering {:5.1}% ({done}/{total} pixels), {secs:.0} s elapsed, {left}   ", frac * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn quiet_first_second_then_throttled_and_newline_at_end() {
        let buf = Buf::default();
        let mut m = Meter::with_sink(true, Box::new(buf.clone()));
        let t0 = m.start;
        m.update_at(10, 100, t0 + Duration::from_millis(500));
        assert!(buf.0.lock().unwrap().is_empty(), "drew before one second");
        m.update_at(20, 100, t0 + Duration::from_millis(1100));
        m.update_at(21, 100, t0 + Duration::from_millis(1150)); // throttled
        m.update_at(30, 100, t0 + Duration::from_millis(1250));
        m.update_at(100, 100, t0 + Duration::from_millis(1260)); // the last one always draws
        m.finish();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches('\r').count(), 3, "{text:?}");
        assert!(text.contains("100.0%") && text.ends_with('\n'), "{text:?}");
        assert_eq!(text.matches('\n').count(), 1);
    }

    #[test]
    fn disabled_or_short_runs_print_nothing() {
        let buf = Buf::default();
        let mut m = Meter::with_sink(false, Box::new(buf.clone()));
        let t0 = m.start;
        m.update_at(50, 100, t0 + Duration::from_secs(5));
        m.finish();
        let mut m = Meter::with_sink(true, Box::new(buf.clone()));
        m.update(100, 100);
        m.finish();
        drop(m);
        assert!(buf.0.lock().unwrap().is_empty());
    }
}
