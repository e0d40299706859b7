//! `reclora-train report`: the paper-style comparison of finished runs.
//!
//! Every run folder holds `metrics.json` (its `mode`, or a CRM run's fields) and
//! `scores.csv` (per-row test scores, see [`crate::scores`]). All runs are compared on the
//! test rows that every one of them scored, so a partial evaluation narrows the table
//! instead of skewing it.

mod chart;
mod table;

pub use table::{markdown, relative_improvement};

use std::path::{Path, PathBuf};

use crate::metrics::{self, MetricError};
use crate::scores::{ScoredRow, ScoresError, read_scores};

/// Bootstrap resamples for the AUC intervals.
pub const DEFAULT_RESAMPLES: usize = 1000;

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A run folder lacks a file the report needs.
    #[error("{path}: missing (every run needs metrics.json and scores.csv)")]
    MissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// `metrics.json` is not JSON.
    #[error("{path}: {source}")]
    BadMetrics {
        /// The file.
        path: PathBuf,
        /// Parser error.
        source: serde_json::Error,
    },
    /// A score file is unreadable.
    #[error(transparent)]
    Scores(#[from] ScoresError),
    /// The runs share no scored row with the same label.
    #[error("the runs have no test row in common")]
    NoCommonRows,
    /// Two runs disagree on a row's label: they were not scored on the same split.
    #[error("{run} labels test row {row} differently from {first}")]
    LabelMismatch {
        /// The first run.
        first: String,
        /// The disagreeing run.
        run: String,
        /// The row.
        row: usize,
    },
    /// No run folder given.
    #[error("no run folders given")]
    NoRuns,
    /// AUC or LogLoss failed.
    #[error("{run}: {source}")]
    Metric {
        /// The run.
        run: String,
        /// Why.
        source: MetricError,
    },
    /// Writing the report failed.
    #[error("{path}: {source}")]
    Io {
        /// The output file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// No TrueType font for the chart's labels.
    #[error(
        "no TrueType font found for the chart (tried {tried}); set RECLORA_FONT to a .ttf file"
    )]
    NoFont {
        /// Paths tried.
        tried: String,
    },
    /// plotters failed to draw or encode the chart.
    #[error("chart {path}: {message}")]
    Chart {
        /// The PNG.
        path: PathBuf,
        /// plotters' description.
        message: String,
    },
}

/// One run's figures on the common rows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFigures {
    /// Folder name.
    pub name: String,
    /// `mode` from metrics.json (`crm` for CRM runs).
    pub mode: String,
    /// AUC on the common rows.
    pub auc: f64,
    /// Bootstrap 95 % interval of the AUC.
    pub auc_ci: (f64, f64),
    /// LogLoss on the common rows.
    pub logloss: f64,
    /// The run's own valid figures, which select models: a CRM run's whole valid split
    /// (`metrics.json`), a finetune run's valid sample (`metrics-valid.json`); absent when
    /// it was not scored on valid. Not paired: the runs' valid rows may differ.
    pub valid: Option<ValidFigures>,
}

/// AUC on a run's valid rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidFigures {
    /// AUC.
    pub auc: f64,
    /// Rows scored.
    pub rows: usize,
}

/// AUC(later) − AUC(earlier) of two runs on the common rows, with its paired bootstrap
/// interval.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedFigures {
    /// The later run in the order given.
    pub run: String,
    /// The earlier run it is compared with.
    pub against: String,
    /// The difference and its 95 % interval.
    pub difference: metrics::AucDifference,
}

/// The comparison: every run on the same rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Rows in the comparison.
    pub rows: usize,
    /// Runs, in the order given.
    pub runs: Vec<RunFigures>,
    /// Every later run against every earlier one (the first given, e.g. DIN, first).
    pub paired: Vec<PairedFigures>,
}

struct LoadedRun {
    name: String,
    mode: String,
    scores: Vec<ScoredRow>,
    valid: Option<ValidFigures>,
}

/// A run file as JSON, through the crate's reader; its two failures keep the report's
/// variants.
fn read_json(path: &Path) -> Result<serde_json::Value, ReportError> {
    crate::json_file::read_json(path).map_err(|error| match error {
        crate::json_file::FileError::Io { path, source } => ReportError::Io { path, source },
        crate::json_file::FileError::Json { path, source } => {
            ReportError::BadMetrics { path, source }
        }
    })
}

/// `{"valid": {"auc": …, "n": …}}`, as both `metrics.json` of a CRM run and
/// `metrics-valid.json` of a finetune run hold it.
fn valid_figures(value: &serde_json::Value) -> Option<ValidFigures> {
    let valid = value.get("valid")?;
    Some(ValidFigures {
        auc: valid.get("auc")?.as_f64()?,
        rows: usize::try_from(valid.get("n")?.as_u64()?).ok()?,
    })
}

fn load_run(dir: &Path) -> Result<LoadedRun, ReportError> {
    let metrics_path = dir.join("metrics.json");
    let scores_path = dir.join("scores.csv");
    for path in [&metrics_path, &scores_path] {
        if !path.is_file() {
            return Err(ReportError::MissingFile { path: path.clone() });
        }
    }
    let value = read_json(&metrics_path)?;
    let mode = value
        .get("mode")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("crm")
        .to_string();
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let valid_path = dir.join(crate::finetune::files::metrics_file(
        crate::data::Split::Valid,
    ));
    let valid = if valid_path.is_file() {
        valid_figures(&read_json(&valid_path)?)
    } else {
        valid_figures(&value)
    };
    Ok(LoadedRun {
        name,
        mode,
        scores: read_scores(&scores_path)?,
        valid,
    })
}

/// Aligns the runs on their common rows and computes AUC, its bootstrap interval and
/// LogLoss for each.
pub fn compare(run_dirs: &[PathBuf], resamples: usize) -> Result<Report, ReportError> {
    let runs = run_dirs
        .iter()
        .map(|dir| load_run(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let first = runs.first().ok_or(ReportError::NoRuns)?;
    // Rows every run scored, with the first run's label.
    let mut common: std::collections::BTreeMap<usize, bool> =
        first.scores.iter().map(|s| (s.row, s.label)).collect();
    for run in &runs[1..] {
        let mine: std::collections::BTreeMap<usize, bool> =
            run.scores.iter().map(|s| (s.row, s.label)).collect();
        for (row, label) in &mine {
            if common.get(row).is_some_and(|l| l != label) {
                return Err(ReportError::LabelMismatch {
                    first: first.name.clone(),
                    run: run.name.clone(),
                    row: *row,
                });
            }
        }
        common.retain(|row, _| mine.contains_key(row));
    }
    if common.is_empty() {
        return Err(ReportError::NoCommonRows);
    }
    // Labels and every run's scores in the common rows' order, so columns pair up row by
    // row.
    let labels: Vec<bool> = common.values().copied().collect();
    let columns: Vec<Vec<f32>> = runs
        .iter()
        .map(|run| {
            let mine: std::collections::BTreeMap<usize, f32> =
                run.scores.iter().map(|s| (s.row, s.p_yes)).collect();
            common.keys().map(|row| mine[row]).collect()
        })
        .collect();
    let mut figures = Vec::with_capacity(runs.len());
    for (run, probs) in runs.iter().zip(&columns) {
        let metric_error = |source| ReportError::Metric {
            run: run.name.clone(),
            source,
        };
        figures.push(RunFigures {
            name: run.name.clone(),
            mode: run.mode.clone(),
            auc: metrics::auc(&labels, probs).map_err(metric_error)?,
            auc_ci: metrics::bootstrap_auc_ci(&labels, probs, resamples, 7)
                .map_err(metric_error)?,
            logloss: metrics::logloss(&labels, probs).map_err(metric_error)?,
            valid: run.valid,
        });
    }
    let mut paired = Vec::new();
    for (later, run) in runs.iter().enumerate().skip(1) {
        for (earlier, against) in runs.iter().enumerate().take(later) {
            let difference = metrics::paired_bootstrap_auc_difference(
                &labels,
                &columns[earlier],
                &columns[later],
                resamples,
                7,
            )
            .map_err(|source| ReportError::Metric {
                run: format!("{} vs {}", run.name, against.name),
                source,
            })?;
            paired.push(PairedFigures {
                run: run.name.clone(),
                against: against.name.clone(),
                difference,
            });
        }
    }
    Ok(Report {
        rows: common.len(),
        runs: figures,
        paired,
    })
}

/// Writes `report.md` and `report.png` into `out` and returns the report.
pub fn write_report(
    run_dirs: &[PathBuf],
    out: &Path,
    resamples: usize,
) -> Result<Report, ReportError> {
    let report = compare(run_dirs, resamples)?;
    std::fs::create_dir_all(out).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let markdown_path = out.join("report.md");
    std::fs::write(&markdown_path, table::markdown(&report)).map_err(|source| ReportError::Io {
        path: markdown_path.clone(),
        source,
    })?;
    chart::draw(&report, &out.join("report.png"))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scores::ScoreLog;

    fn run(root: &Path, name: &str, mode: Option<&str>, rows: &[(usize, bool, f32)]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let metrics = match mode {
            Some(m) => format!("{{\"mode\": \"{m}\"}}"),
            None => {
                r#"{"test": {}, "valid": {"auc": 0.8019, "logloss": 0.5, "n": 60}}"#.to_string()
            }
        };
        std::fs::write(dir.join("metrics.json"), metrics).expect("metrics");
        let mut log = ScoreLog::open(&dir.join("scores.csv")).expect("log");
        let scored: Vec<ScoredRow> = rows
            .iter()
            .map(|&(row, label, p_yes)| ScoredRow { row, label, p_yes })
            .collect();
        log.append(&scored).expect("append");
        dir
    }

    #[test]
    fn runs_are_compared_on_their_common_rows() {
        let root_dir = reclora_test_support::TempDir::new("report");
        let root = root_dir.path().to_path_buf();
        let a = run(
            &root,
            "din",
            None,
            &[
                (0, true, 0.9),
                (1, false, 0.2),
                (2, true, 0.4),
                (3, false, 0.6),
            ],
        );
        // Row 3 not scored yet: the comparison drops it for everyone.
        let b = run(
            &root,
            "zero-shot",
            Some("zero-shot"),
            &[(0, true, 0.5), (1, false, 0.5), (2, true, 0.7)],
        );
        std::fs::write(
            b.join("metrics-valid.json"),
            r#"{"mode": "zero-shot", "valid": {"auc": 0.4787, "logloss": 0.7, "n": 400}}"#,
        )
        .expect("valid metrics");
        let report = compare(&[a.clone(), b.clone()], 200).expect("report");
        assert_eq!(report.rows, 3);
        // Each run's own valid figures, read as written.
        assert_eq!(
            report.runs.iter().map(|r| r.valid).collect::<Vec<_>>(),
            [
                Some(ValidFigures {
                    auc: 0.8019,
                    rows: 60
                }),
                Some(ValidFigures {
                    auc: 0.4787,
                    rows: 400
                })
            ]
        );
        // din on rows 0..3: positives 0.9, 0.4 vs negative 0.2 → AUC 1.
        assert_eq!(report.runs[0].auc, 1.0);
        assert_eq!(report.runs[0].mode, "crm");
        // zero-shot: 0.5 ties 0.5 (½), 0.7 > 0.5 → (½ + 1) / 2 = 0.75.
        assert!((report.runs[1].auc - 0.75).abs() < 1e-12);
        // One pair, zero-shot − din = 0.75 − 1 on the same rows; every resample's
        // difference lies in [−1, 0] (din ranks each resample perfectly or is skipped).
        assert_eq!(report.paired.len(), 1);
        let pair = &report.paired[0];
        assert_eq!(
            (pair.run.as_str(), pair.against.as_str()),
            ("zero-shot", "din")
        );
        assert!((pair.difference.difference + 0.25).abs() < 1e-12);
        let (low, high) = pair.difference.ci;
        assert!(
            (-1.0..=0.0).contains(&low) && low <= high && high <= 0.0,
            "{low} {high}"
        );
        // LogLoss of din: −(ln 0.9 + ln 0.8 + ln 0.4) / 3.
        let want = -((0.9f64).ln() + (0.8f64).ln() + (0.4f64).ln()) / 3.0;
        assert!((report.runs[0].logloss - want).abs() < 1e-6);

        let out = root.join("out");
        let font_missing = chart::find_font().is_err();
        match write_report(&[a, b], &out, 50) {
            Ok(_) => {
                let md = std::fs::read_to_string(out.join("report.md")).expect("md");
                assert!(md.contains("| din | crm | 1.0000 |"), "{md}");
                let png = std::fs::read(out.join("report.png")).expect("png");
                assert_eq!(&png[1..4], b"PNG");
            }
            Err(ReportError::NoFont { .. }) if font_missing => {}
            Err(e) => panic!("{e}"),
        }
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn label_disagreement_and_missing_files_are_typed() {
        let root_dir = reclora_test_support::TempDir::new("report-bad");
        let root = root_dir.path().to_path_buf();
        let a = run(&root, "a", Some("x"), &[(0, true, 0.9), (1, false, 0.2)]);
        let b = run(&root, "b", Some("y"), &[(0, false, 0.9), (1, false, 0.2)]);
        assert!(matches!(
            compare(&[a.clone(), b], 10),
            Err(ReportError::LabelMismatch { row: 0, .. })
        ));
        let empty = root.join("empty");
        std::fs::create_dir_all(&empty).expect("dir");
        assert!(matches!(
            compare(&[a, empty], 10),
            Err(ReportError::MissingFile { .. })
        ));
        assert!(matches!(compare(&[], 10), Err(ReportError::NoRuns)));
        std::fs::remove_dir_all(&root).ok();
    }
}
