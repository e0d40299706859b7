//! The markdown side of the report.

use std::fmt::Write;

use super::Report;

/// Relative AUC improvement of `auc` over `baseline`, in percent: (a − b) / b · 100.
pub fn relative_improvement(auc: f64, baseline: f64) -> f64 {
    (auc - baseline) / baseline * 100.0
}

/// The AUC/LogLoss table, then the Rel.Impr matrix (row's AUC over column's).
pub fn markdown(report: &Report) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        text,
        "Test rows compared: {} (the rows every run scored).\n",
        report.rows
    );
    let _ = writeln!(
        text,
        "| run | mode | AUC | 95% CI (bootstrap) | LogLoss | valid AUC (rows) |"
    );
    let _ = writeln!(text, "|---|---|---|---|---|---|");
    for run in &report.runs {
        let valid = run
            .valid
            .map_or_else(|| "–".to_owned(), |v| format!("{:.4} ({})", v.auc, v.rows));
        let _ = writeln!(
            text,
            "| {} | {} | {:.4} | [{:.4}, {:.4}] | {:.4} | {valid} |",
            run.name, run.mode, run.auc, run.auc_ci.0, run.auc_ci.1, run.logloss
        );
    }
    let _ = writeln!(
        text,
        "\nRel.Impr (%) of the row's AUC over the column's, (row − column) / column:\n"
    );
    let _ = write!(text, "| |");
    for run in &report.runs {
        let _ = write!(text, " {} |", run.name);
    }
    let _ = write!(text, "\n|---|");
    for _ in &report.runs {
        let _ = write!(text, "---|");
    }
    text.push('\n');
    for row in &report.runs {
        let _ = write!(text, "| {} |", row.name);
        for column in &report.runs {
            let _ = write!(text, " {:+.2} |", relative_improvement(row.auc, column.auc));
        }
        text.push('\n');
    }
    if !report.paired.is_empty() {
        let _ = writeln!(
            text,
            "\nPaired AUC differences on the same rows, with 95 % paired bootstrap intervals:\n"
        );
        let _ = writeln!(text, "| run | against | AUC difference | 95% CI (paired) |");
        let _ = writeln!(text, "|---|---|---|---|");
        for pair in &report.paired {
            let d = &pair.difference;
            let _ = writeln!(
                text,
                "| {} | {} | {:+.4} | [{:+.4}, {:+.4}] |",
                pair.run, pair.against, d.difference, d.ci.0, d.ci.1
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::RunFigures;
    use super::*;

    #[test]
    fn table_by_hand() {
        let report = Report {
            rows: 1000,
            runs: vec![
                RunFigures {
                    name: "reclora".into(),
                    mode: "reclora".into(),
                    auc: 0.8141,
                    auc_ci: (0.80, 0.83),
                    logloss: 0.5,
                    valid: Some(super::super::ValidFigures {
                        auc: 0.8012,
                        rows: 400,
                    }),
                },
                RunFigures {
                    name: "din".into(),
                    mode: "crm".into(),
                    auc: 0.7989,
                    auc_ci: (0.78, 0.81),
                    logloss: 0.54,
                    valid: None,
                },
            ],
            paired: vec![super::super::PairedFigures {
                run: "din".into(),
                against: "reclora".into(),
                difference: crate::metrics::AucDifference {
                    difference: -0.0152,
                    ci: (-0.02, -0.01),
                },
            }],
        };
        let md = markdown(&report);
        assert!(
            md.contains("| din | reclora | -0.0152 | [-0.0200, -0.0100] |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| reclora | reclora | 0.8141 | [0.8000, 0.8300] | 0.5000 | 0.8012 (400) |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| din | crm | 0.7989 | [0.7800, 0.8100] | 0.5400 | – |"),
            "{md}"
        );
        // (0.8141 − 0.7989) / 0.7989 = 1.90 %, the paper's RecLoRA-over-DIN figure.
        assert!(md.contains("| reclora | +0.00 | +1.90 |"), "{md}");
        assert!(md.contains("| din | -1.87 | +0.00 |"), "{md}");
    }
}
