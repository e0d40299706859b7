//! The PNG bar chart: AUC per run with its bootstrap interval.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::{Report, ReportError};

/// Fonts tried when RECLORA_FONT is not set (Debian's fonts-dejavu-core, then macOS).
const FONT_CANDIDATES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// The font file the chart will use.
pub fn find_font() -> Result<PathBuf, ReportError> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("RECLORA_FONT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(FONT_CANDIDATES.iter().map(PathBuf::from));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ReportError::NoFont {
            tried: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn register_sans_serif() -> Result<(), ReportError> {
    let path = find_font()?;
    let bytes = std::fs::read(&path).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    // plotters keeps fonts for the whole process; one leaked copy per report is fine.
    register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(bytes.into_boxed_slice()),
    )
    .map_err(|_| ReportError::NoFont {
        tried: format!("{} (not a readable TrueType font)", path.display()),
    })
}

/// Draws the bars into `path`.
pub fn draw(report: &Report, path: &Path) -> Result<(), ReportError> {
    register_sans_serif()?;
    let chart_error = |e: &dyn std::fmt::Display| ReportError::Chart {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let low = report
        .runs
        .iter()
        .map(|r| r.auc_ci.0.min(r.auc))
        .fold(f64::INFINITY, f64::min);
    let high = report
        .runs
        .iter()
        .map(|r| r.auc_ci.1.max(r.auc))
        .fold(f64::NEG_INFINITY, f64::max);
    let (y_min, y_max) = ((low - 0.02).max(0.0), (high + 0.02).min(1.0));
    let count = report.runs.len();
    let width = (160 * count as u32).max(480);
    let root = BitMapBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| chart_error(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Test AUC on {} rows (95% bootstrap CI)", report.rows),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        // A segmented 0..n axis has n + 1 slots; n − 1 gives exactly one per run.
        .build_cartesian_2d((0..count.saturating_sub(1)).into_segmented(), y_min..y_max)
        .map_err(|e| chart_error(&e))?;
    let names: Vec<String> = report.runs.iter().map(|r| r.name.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc("AUC")
        .x_labels(count)
        .x_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(|e| chart_error(&e))?;
    let bar_style = RGBColor(70, 110, 170).filled();
    chart
        .draw_series(report.runs.iter().enumerate().map(|(i, run)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), y_min),
                    (SegmentValue::Exact(i + 1), run.auc),
                ],
                bar_style,
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        }))
        .map_err(|e| chart_error(&e))?;
    chart
        .draw_series(report.runs.iter().enumerate().map(|(i, run)| {
            ErrorBar::new_vertical(
                SegmentValue::CenterOf(i),
                run.auc_ci.0,
                run.auc,
                run.auc_ci.1,
                BLACK.stroke_width(2),
                12,
            )
        }))
        .map_err(|e| chart_error(&e))?;
    root.present().map_err(|e| chart_error(&e))
}
