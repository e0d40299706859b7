//! Per-row scores of an evaluation, appended as they are computed so that a stopped run
//! continues where it stopped.
//!
//! Format: a text file with the header `row,label,p_yes`, then one line per scored row
//! (`row` is the index in the split, `label` 0 or 1, `p_yes` the predicted probability).
//! A line is only trusted once it ends with a newline: a torn last line (a killed process)
//! is cut off when the log is reopened.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Header line of a score file.
pub const SCORES_HEADER: &str = "row,label,p_yes";

/// One scored row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredRow {
    /// Index of the sample in its split.
    pub row: usize,
    /// The true label.
    pub label: bool,
    /// Predicted P(yes).
    pub p_yes: f32,
}

/// Why a score file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ScoresError {
    /// The OS refused.
    #[error("{path}: {source}")]
    Io {
        /// The score file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A line is not `row,label,p_yes`.
    #[error(
        "{path}:{line}: expected `row,label,p_yes` with label 0/1 and a probability, got `{text}`"
    )]
    BadLine {
        /// The score file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// The same row appears twice with different values.
    #[error("{path}:{line}: row {row} scored twice with different values")]
    Conflict {
        /// The score file.
        path: PathBuf,
        /// 1-based line number of the second occurrence.
        line: usize,
        /// The row.
        row: usize,
    },
    /// The first line is not the header.
    #[error("{path}: first line must be `{SCORES_HEADER}`")]
    MissingHeader {
        /// The score file.
        path: PathBuf,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ScoresError + '_ {
    move |source| ScoresError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn parse_line(text: &str) -> Option<ScoredRow> {
    let mut parts = text.split(',');
    let row = parts.next()?.parse().ok()?;
    let label = match parts.next()? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let p_yes: f32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(0.0..=1.0).contains(&p_yes) {
        return None;
    }
    Some(ScoredRow { row, label, p_yes })
}

/// Reads the complete lines of a score file, keyed by row; also returns the byte length of
/// the trusted prefix (everything up to the last newline).
fn read_complete(path: &Path) -> Result<(BTreeMap<usize, ScoredRow>, u64), ScoresError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut reader = BufReader::new(file);
    let mut rows = BTreeMap::new();
    let mut trusted = 0u64;
    let mut buffer = String::new();
    let mut line_number = 0usize;
    loop {
        buffer.clear();
        let read = reader.read_line(&mut buffer).map_err(io_error(path))?;
        if read == 0 || !buffer.ends_with('\n') {
            break;
        }
        line_number += 1;
        let text = buffer.trim_end_matches(['\n', '\r']);
        if line_number == 1 {
            if text != SCORES_HEADER {
                return Err(ScoresError::MissingHeader {
                    path: path.to_path_buf(),
                });
            }
        } else {
            let scored = parse_line(text).ok_or_else(|| ScoresError::BadLine {
                path: path.to_path_buf(),
                line: line_number,
                text: text.to_string(),
            })?;
            if let Some(previous) = rows.insert(scored.row, scored)
                && previous != scored
            {
                return Err(ScoresError::Conflict {
                    path: path.to_path_buf(),
                    line: line_number,
                    row: scored.row,
                });
            }
        }
        trusted += read as u64;
    }
    Ok((rows, trusted))
}

/// All rows of a finished or partial score file, in row order.
pub fn read_scores(path: &Path) -> Result<Vec<ScoredRow>, ScoresError> {
    Ok(read_complete(path)?.0.into_values().collect())
}

/// An open score file that new rows are appended to.
#[derive(Debug)]
pub struct ScoreLog {
    path: PathBuf,
    file: File,
    done: BTreeMap<usize, ScoredRow>,
}

impl ScoreLog {
    /// Opens `path` for appending, creating it with its header if absent and cutting off a
    /// torn last line. Rows already present are in [`ScoreLog::done`].
    pub fn open(path: &Path) -> Result<Self, ScoresError> {
        let (done, trusted) = if path.is_file() {
            read_complete(path)?
        } else {
            (BTreeMap::new(), 0)
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_error(path))?;
        file.set_len(trusted).map_err(io_error(path))?;
        if trusted == 0 {
            writeln!(file, "{SCORES_HEADER}").map_err(io_error(path))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            done,
        })
    }

    /// Rows scored so far, keyed by row index.
    pub fn done(&self) -> &BTreeMap<usize, ScoredRow> {
        &self.done
    }

    /// Appends rows and flushes them to the OS (one write per call).
    pub fn append(&mut self, rows: &[ScoredRow]) -> Result<(), ScoresError> {
        let mut text = String::new();
        for row in rows {
            text.push_str(&format!(
                "{},{},{}\n",
                row.row,
                u8::from(row.label),
                row.p_yes
            ));
        }
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(io_error(&self.path))?;
        for row in rows {
            self.done.insert(row.row, *row);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use reclora_test_support::TempDir;

    use super::*;

    #[test]
    fn appends_then_resumes_and_cuts_a_torn_line() {
        let dir = TempDir::new("scores-resume");
        let path = dir.join("scores.csv");
        let mut log = ScoreLog::open(&path).expect("creates");
        let first = [
            ScoredRow {
                row: 0,
                label: true,
                p_yes: 0.75,
            },
            ScoredRow {
                row: 1,
                label: false,
                p_yes: 0.125,
            },
        ];
        log.append(&first).expect("appends");
        drop(log);
        // A process killed mid-write leaves half a line.
        let mut file = OpenOptions::new().append(true).open(&path).expect("opens");
        file.write_all(b"2,1,0.3").expect("writes");
        drop(file);

        let mut log = ScoreLog::open(&path).expect("reopens");
        assert_eq!(log.done().len(), 2);
        log.append(&[ScoredRow {
            row: 2,
            label: true,
            p_yes: 0.5,
        }])
        .expect("appends");
        let rows = read_scores(&path).expect("reads");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], first[0]);
        assert_eq!(rows[2].p_yes, 0.5);
        assert_eq!(
            std::fs::read_to_string(&path).expect("text"),
            "row,label,p_yes\n0,1,0.75\n1,0,0.125\n2,1,0.5\n"
        );
    }

    #[test]
    fn malformed_lines_name_the_file_and_line() {
        let dir = TempDir::new("scores-bad");
        let path = dir.join("scores.csv");
        std::fs::write(&path, "row,label,p_yes\n0,1,0.5\n1,2,0.5\n").expect("writes");
        let error = read_scores(&path).expect_err("label 2");
        assert!(
            matches!(error, ScoresError::BadLine { line: 3, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("scores.csv:3"), "{error}");
        std::fs::write(&path, "row,label,p_yes\n0,1,1.5\n").expect("writes");
        assert!(matches!(
            read_scores(&path),
            Err(ScoresError::BadLine { line: 2, .. })
        ));
        std::fs::write(&path, "0,1,0.5\n").expect("writes");
        assert!(matches!(
            read_scores(&path),
            Err(ScoresError::MissingHeader { .. })
        ));
        std::fs::write(&path, "row,label,p_yes\n0,1,0.5\n0,1,0.25\n").expect("writes");
        assert!(matches!(
            read_scores(&path),
            Err(ScoresError::Conflict { row: 0, .. })
        ));
    }
}
