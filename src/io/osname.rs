//! File names that are not UTF-8, carried through the program's `String` options unchanged.
//!
//! The command line is read as OS strings. A name's bytes that are not valid UTF-8 are kept as
//! characters of the last 256 code points of Unicode plane 16 (private use, never assigned):
//! byte `b` becomes U+10FF00 + `b`. [`path`] turns such a string back into the exact bytes when
//! a file is opened or created, and [`shown`] writes them as `\xNN` in messages. An argument
//! that itself holds one of those 256 characters is refused, so the mapping is one to one.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;

const BASE: u32 = 0x10FF00;

fn is_escape(c: char) -> bool {
    (c as u32) >= BASE
}

/// Each argument as a `String`, non-UTF-8 bytes kept as escape characters (see the module).
pub fn from_os_args(args: impl IntoIterator<Item = OsString>) -> Result<Vec<String>> {
    args.into_iter().enumerate().map(|(i, a)| from_os(a).map_err(|e| Error::new(format!("argument {}: {e}", i + 1)))).collect()
}

/// One OS string as a `String` (see the module).
pub fn from_os(a: OsString) -> Result<String> {
    match a.into_string() {
        Ok(s) if s.chars().any(is_escape) => Err(Error::new(format!("'{}' holds characters U+10FF00-U+10FFFF, which nanobragg reserves", shown(&s)))),
        Ok(s) => Ok(s),
        Err(a) => escape_bytes(a),
    }
}

#[cfg(unix)]
fn escape_bytes(a: OsString) -> Result<String> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = a.into_vec();
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        if chunk.valid().chars().any(is_escape) {
            return Err(Error::new(format!("'{}' holds characters U+10FF00-U+10FFFF, which nanobragg reserves", String::from_utf8_lossy(&bytes))));
        }
        s.push_str(chunk.valid());
        s.extend(chunk.invalid().iter().map(|&b| char::from_u32(BASE + b as u32).expect("plane 16 code point")));
    }
    Ok(s)
}

#[cfg(not(unix))]
fn escape_bytes(a: OsString) -> Result<String> {
    Err(Error::new(format!("'{}' is not valid Unicode", a.to_string_lossy())))
}

/// The file a name given on the command line means: its original bytes.
pub fn path(name: impl AsRef<str>) -> PathBuf {
    let name = name.as_ref();
    if !name.chars().any(is_escape) {
        return PathBuf::from(name);
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let mut bytes = Vec::with_capacity(name.len());
        for c in name.chars() {
            if is_escape(c) {
                bytes.push((c as u32 - BASE) as u8);
            } else {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        PathBuf::from(OsString::from_vec(bytes))
    }
    #[cfg(not(unix))]
    PathBuf::from(name)
}

/// `text` for a message: escaped bytes as `\xNN`.
pub fn shown(text: &str) -> String {
    if !text.chars().any(is_escape) {
        return text.to_string();
    }
    text.chars().map(|c| if is_escape(c) { format!("\\x{:02x}", c as u32 - BASE) } else { c.to_string() }).collect()
}

/// A path back as a name in the same encoding (for names built from an escaped name's path).
pub fn name_of(p: &std::path::Path) -> String {
    from_os(p.as_os_str().to_os_string()).unwrap_or_else(|_| p.to_string_lossy().into_owned())
}

/// A path for a message: as typed, with bytes that are not UTF-8 as `\xNN`.
pub fn display(p: &std::path::Path) -> String {
    shown(&name_of(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_round_trip_to_their_bytes() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let raw = b"\xff\xfeout caf\xe9.bin".to_vec();
        let s = from_os(OsString::from_vec(raw.clone())).unwrap();
        assert_eq!(path(&s).as_os_str().as_bytes(), &raw[..]);
        assert_eq!(shown(&s), "\\xff\\xfeout caf\\xe9.bin");
        assert_eq!(name_of(&path(&s)), s);
        assert_eq!(from_os(OsString::from("plain é")).unwrap(), "plain é");
        assert!(from_os(OsString::from("x\u{10FF41}")).is_err());
    }
}
