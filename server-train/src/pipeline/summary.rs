//! What `pipeline` prints: the plan (`--dry-run`), and at the end the stages, the metrics
//! table, the bundle with its parity figures, and the top of the ranked slate.

use std::fmt::Write;
use std::path::Path;

use super::plan::{Action, Step};
use super::units::{Layout, PARITY_FILE, SLATE_FILE};
use super::{PipelineOutcome, UnitOutcome};
use crate::rank::RankedSlate;

fn verb(action: Action) -> &'static str {
    match action {
        Action::Skip => "skip",
        Action::Resume => "resume",
        Action::Run => "run",
    }
}

/// `--dry-run`: every unit, what it would do and why.
pub fn plan_table(out: &Path, steps: &[Step]) -> String {
    let mut text = format!("pipeline plan for {} (nothing run):\n\n", out.display());
    let _ = writeln!(text, "| # | stage | would | why |\n|---|---|---|---|");
    for (k, step) in steps.iter().enumerate() {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} |",
            k + 1,
            step.unit.label(),
            verb(step.action),
            step.reason
        );
    }
    text
}

/// The end-of-run summary.
pub fn summary(outcome: &PipelineOutcome, layout: &Layout) -> String {
    let mut text = String::new();
    let ran = outcome
        .units
        .iter()
        .filter(|u| u.action != Action::Skip)
        .count();
    if outcome.all_up_to_date() {
        let _ = writeln!(
            text,
            "\npipeline {}: every stage was up to date ({} stages)\n",
            outcome.out.display(),
            outcome.units.len()
        );
    } else {
        let _ = writeln!(
            text,
            "\npipeline {}: {ran} of {} stages ran\n",
            outcome.out.display(),
            outcome.units.len()
        );
    }
    let _ = writeln!(text, "| stage | did | why | seconds |\n|---|---|---|---|");
    for UnitOutcome {
        unit,
        action,
        reason,
        seconds,
    } in &outcome.units
    {
        let _ = writeln!(
            text,
            "| {unit} | {} | {reason} | {seconds:.1} |",
            verb(*action)
        );
    }
    if let Ok(report) = std::fs::read_to_string(layout.report().join("report.md")) {
        let _ = writeln!(
            text,
            "\n## Metrics ({})\n\n{report}",
            layout.report().display()
        );
    }
    let bundle = layout.bundle();
    let _ = writeln!(
        text,
        "## Bundle\n\n{}: {:.1} MB",
        bundle.display(),
        folder_bytes(&bundle) as f64 / 1e6
    );
    let parity: Option<serde_json::Value> =
        std::fs::read_to_string(layout.check().join(PARITY_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    if let Some(p) = parity {
        let _ = writeln!(
            text,
            "parity on {} test rows ({}): max |ΔP| {:.4}, AUC diff {:+.4}, first score {:.2} s after open",
            p["rows"],
            p["quant"].as_str().unwrap_or("?"),
            p["max_abs_diff"].as_f64().unwrap_or(f64::NAN),
            p["auc_diff"].as_f64().unwrap_or(f64::NAN),
            p["first_score_seconds"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let slate: Option<RankedSlate> =
        crate::json_file::read_json(&layout.check().join(SLATE_FILE)).ok();
    if let Some(slate) = slate {
        let _ = writeln!(text, "\n## Ranked slate\n\n{}", crate::rank::table(&slate));
    }
    text
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
