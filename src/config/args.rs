//! The arguments of a flag list, read one value at a time with the checks each kind of value
//! needs (numbers, counts, file names, directions), errors naming the flag.

use crate::error::{Error, Result};

pub(super) fn num(flag: &str, s: &str) -> Result<f64> {
    let t = s.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Error::new(format!("{flag}: expected a number, got '{s}'"))),
    }
}

pub(super) fn int(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Ok(v);
    }
    // accept integral floats such as "5.0" or "1e3"
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
        _ => Err(Error::new(format!("{flag}: expected an integer, got '{s}'"))),
    }
}

/// The arguments of a command line, read one flag at a time by the flag declarations.
pub struct Args<'a> {
    argv: &'a [String],
    i: usize,
}

impl<'a> Args<'a> {
    pub(super) fn new(argv: &'a [String]) -> Self {
        Args { argv, i: 0 }
    }
    /// The flag being read, if any is left.
    pub(super) fn current(&self) -> Option<&'a str> {
        self.argv.get(self.i).map(String::as_str)
    }
    /// Move past the current flag and its values.
    pub(super) fn advance(&mut self) {
        self.i += 1;
    }
    /// The argument after the current one, if any.
    pub(super) fn peek(&self) -> Option<&'a str> {
        self.argv.get(self.i + 1).map(String::as_str)
    }
    pub(super) fn value(&mut self, flag: &str, what: &str) -> Result<&'a str> {
        if self.i + 1 >= self.argv.len() {
            return Err(Error::new(format!("{flag}: missing {what}")));
        }
        self.i += 1;
        Ok(self.argv[self.i].as_str())
    }
    pub(super) fn f(&mut self, flag: &str) -> Result<f64> {
        let v = self.value(flag, "value")?;
        num(flag, v)
    }
    pub(super) fn n(&mut self, flag: &str) -> Result<i64> {
        let v = self.value(flag, "value")?;
        int(flag, v)
    }
    /// A number that must not be negative (0 usually means "not given", as in the reference).
    pub(super) fn nonneg(&mut self, flag: &str) -> Result<f64> {
        let v = self.f(flag)?;
        if v < 0.0 {
            return Err(Error::new(format!("{flag}: must not be negative, got {v}")));
        }
        Ok(v)
    }
    /// A count that must not be negative (0 means "not given").
    pub(super) fn count(&mut self, flag: &str) -> Result<i64> {
        let n = self.n(flag)?;
        if n < 0 {
            return Err(Error::new(format!("{flag}: must not be negative, got {n}")));
        }
        Ok(n)
    }
    /// Unit cells along an axis: not negative (0 is the reference's isolated cell, rendered as
    /// 1; a negative count is deviation 18 of specs/physics.md).
    pub(super) fn cells(&mut self, flag: &str) -> Result<f64> {
        let n = self.n(flag)?;
        if n < 0 {
            return Err(Error::new(format!("{flag}: a crystal cannot be a negative number of unit cells, got {n}")));
        }
        Ok(n as f64)
    }
    /// A pixel count: at least 1.
    pub(super) fn pixels(&mut self, flag: &str) -> Result<i64> {
        let n = self.n(flag)?;
        if n < 1 {
            return Err(Error::new(format!("{flag}: number of pixels must be at least 1, got {n}")));
        }
        Ok(n)
    }
    pub(super) fn s(&mut self, flag: &str) -> Result<String> {
        let v = self.value(flag, "file name")?;
        // a name that looks like an option is a forgotten file name (write ./-name for a file
        // that really starts with a dash)
        if v.starts_with('-') && v.len() > 1 {
            return Err(Error::new(format!("{flag}: missing file name (got the option '{v}')")));
        }
        Ok(v.to_string())
    }
    pub(super) fn v3(&mut self, flag: &str) -> Result<[f64; 3]> {
        let mut v = [0.0; 3];
        for x in v.iter_mut() {
            let t = self.value(flag, "three numbers")?;
            *x = num(flag, t)?;
        }
        Ok(v)
    }
    /// A direction: three numbers, not all zero (a zero vector has no direction to normalise).
    pub(super) fn dir3(&mut self, flag: &str) -> Result<[f64; 3]> {
        let v = self.v3(flag)?;
        if v.iter().all(|&x| x == 0.0) {
            return Err(Error::new(format!("{flag}: a direction must not be the zero vector (got 0 0 0)")));
        }
        Ok(v)
    }
    /// The next argument, if it exists and looks like a number (C: does not start with '-').
    pub(super) fn optional_number(&mut self, flag: &str) -> Result<Option<f64>> {
        match self.argv.get(self.i + 1) {
            Some(t) if !t.starts_with('-') => {
                self.i += 1;
                Ok(Some(num(flag, t)?))
            }
            _ => Ok(None),
        }
    }
}

