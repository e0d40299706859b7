//! `--compare A.json B.json …`: each run against the first, as ratios, and the agreement of
//! their P(yes) where both scored the same prompts.

use crate::schema::BenchReport;
use crate::table::{markdown, mb, num};

/// max and mean |a − b| of two score lists of the same length.
pub fn score_diff(a: &[f32], b: &[f32]) -> Option<(f64, f64)> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let diffs: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .collect();
    let max = diffs.iter().copied().fold(0.0, f64::max);
    Some((max, diffs.iter().sum::<f64>() / diffs.len() as f64))
}

/// `a / b` when both exist and `b` is not zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// Per-candidate p50 latency in ms.
pub fn per_candidate_ms(r: &BenchReport) -> Option<f64> {
    r.latency.as_ref().map(|l| l.per_candidate_p50_ms)
}

/// Plain prefill tokens/s.
pub fn prefill_tps(r: &BenchReport) -> Option<f64> {
    r.prefill.as_ref().map(|p| p.tokens_per_s)
}

/// Peak RSS in bytes.
pub fn peak_rss(r: &BenchReport) -> Option<f64> {
    r.memory.as_ref().map(|m| m.peak_rss_bytes as f64)
}

/// The comparison table: every report against `reports[0]`.
pub fn compare(reports: &[BenchReport]) -> String {
    let Some(base) = reports.first() else {
        return String::new();
    };
    let header = [
        "run",
        "ms / candidate (p50)",
        "× first",
        "prefill tokens/s",
        "× first",
        "peak RSS MB",
        "× first",
        "AUC",
        "max |ΔP| vs first",
        "mean |ΔP| vs first",
    ];
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let diff = match (&r.scores, &base.scores) {
                (Some(a), Some(b)) => score_diff(a, b),
                _ => None,
            };
            vec![
                r.label(),
                num(per_candidate_ms(r), 2),
                num(ratio(per_candidate_ms(r), per_candidate_ms(base)), 2),
                num(prefill_tps(r), 1),
                num(ratio(prefill_tps(r), prefill_tps(base)), 2),
                mb(r.memory.as_ref().map(|m| m.peak_rss_bytes)),
                num(ratio(peak_rss(r), peak_rss(base)), 2),
                num(r.accuracy.as_ref().and_then(|a| a.auc), 4),
                num(diff.map(|d| d.0), 4),
                num(diff.map(|d| d.1), 4),
            ]
        })
        .collect();
    markdown(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_and_ratios() {
        let (max, mean) = score_diff(&[0.5, 0.25], &[0.5, 0.5]).expect("same length");
        assert_eq!((max, mean), (0.25, 0.125));
        assert_eq!(score_diff(&[0.5], &[0.5, 0.1]), None);
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
    }

    #[test]
    fn the_first_run_is_the_baseline() {
        let base = crate::schema::tests::full_report();
        let mut other = base.clone();
        other.variant = "per-user".into();
        if let Some(l) = other.latency.as_mut() {
            l.per_candidate_p50_ms = 1.0;
        }
        other.scores = Some(vec![0.75]);
        let text = compare(&[base, other]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[2].contains("reclora per-sample (q8)") && lines[2].contains("| 1.00 "),
            "{text}"
        );
        // 1.0 ms against 2.0 ms; P(yes) 0.75 against 0.5.
        assert!(
            lines[3].contains("| 0.50 ") && lines[3].contains("| 0.2500 "),
            "{text}"
        );
    }
}
