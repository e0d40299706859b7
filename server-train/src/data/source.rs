//! Reading raw text files line by line, with file:line errors.
//!
//! Lines are streamed (GoodReads files are many GB), CRLF is accepted, and blank lines are
//! skipped (a trailing newline or an empty last line is common).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::str::FromStr;

use super::{DataError, LineProblem};

/// Opens `path`; a missing file is [`DataError::MissingFile`] naming `what` it should hold.
pub fn open(path: &Path, what: &'static str) -> Result<BufReader<File>, DataError> {
    match File::open(path) {
        Ok(file) => Ok(BufReader::with_capacity(1 << 20, file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::MissingFile {
            path: path.to_path_buf(),
            what,
        }),
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// Calls `f(line_number, line)` for each non-blank line (1-based, without `\n` / `\r\n`).
/// A problem returned by `f` becomes [`DataError::BadLine`] for that line.
pub fn for_each_line(
    path: &Path,
    what: &'static str,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), LineProblem>,
) -> Result<(), DataError> {
    let mut reader = open(path, what)?;
    let mut buf = Vec::with_capacity(256);
    let mut number = 0usize;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| DataError::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let line = strip_newline(&buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        f(number, line).map_err(|problem| DataError::line(path, number, problem))?;
    }
}

/// The line without its trailing `\n` or `\r\n`.
fn strip_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits on `sep`, trims ASCII whitespace around each field (as ReLLa's `x.strip()`), and
/// checks the count.
pub fn split_fields<'a, const N: usize>(
    line: &'a [u8],
    sep: &'static str,
) -> Result<[&'a [u8]; N], LineProblem> {
    let sep_bytes = sep.as_bytes();
    let mut fields: [&[u8]; N] = [&[]; N];
    let mut found = 0usize;
    let mut rest = line;
    loop {
        let (field, next) = match find(rest, sep_bytes) {
            Some(at) => (&rest[..at], Some(&rest[at + sep_bytes.len()..])),
            None => (rest, None),
        };
        if let Some(slot) = fields.get_mut(found) {
            *slot = field.trim_ascii();
        }
        found += 1;
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    if found == N {
        Ok(fields)
    } else {
        Err(LineProblem::FieldCount {
            expected: N,
            found,
            separator: sep,
        })
    }
}

/// Position of the first `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return haystack.iter().position(|&b| b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// ISO-8859-1: each byte is the code point of the same value.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The field as UTF-8 text.
pub fn utf8(bytes: &[u8]) -> Result<&str, LineProblem> {
    std::str::from_utf8(bytes).map_err(|_| LineProblem::NotUtf8)
}

/// Parses a numeric field; the error names the field and what it should be.
pub fn number<T: FromStr>(
    bytes: &[u8],
    field: &'static str,
    expected: &'static str,
) -> Result<T, LineProblem> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| LineProblem::BadValue {
            field,
            value: latin1(bytes),
            expected,
        })
}

/// A whole-star rating 1..=5.
pub fn stars(bytes: &[u8]) -> Result<u8, LineProblem> {
    let value: u8 = number(bytes, "rating", "an integer from 1 to 5")?;
    if (1..=5).contains(&value) {
        Ok(value)
    } else {
        Err(LineProblem::BadValue {
            field: "rating",
            value: value.to_string(),
            expected: "an integer from 1 to 5",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_multibyte_separator_and_counts() {
        let fields: [&[u8]; 4] = split_fields(b"1:: 2 ::3::4", "::").expect("four");
        assert_eq!(fields, [&b"1"[..], b"2", b"3", b"4"]);
        let err = split_fields::<4>(b"1::2::3", "::").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected 4 fields separated by \"::\", found 3"
        );
        assert!(split_fields::<2>(b"a|b|c", "|").is_err());
        let empty_last: [&[u8]; 3] = split_fields(b"a||", "|").expect("three");
        assert_eq!(empty_last, [&b"a"[..], b"", b""]);
    }

    #[test]
    fn latin1_maps_bytes_to_code_points() {
        assert_eq!(latin1(b"Mis\xe9rables"), "Misérables");
        assert_eq!(latin1(b"\xff\x80"), "\u{ff}\u{80}");
    }

    #[test]
    fn strips_crlf_and_lf() {
        assert_eq!(strip_newline(b"a\r\n"), b"a");
        assert_eq!(strip_newline(b"a\n"), b"a");
        assert_eq!(strip_newline(b"a"), b"a");
    }
}
