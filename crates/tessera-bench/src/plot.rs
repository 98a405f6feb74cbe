//! The PNG: for each store, throughput and p99 latency against the connection count, one
//! line per scenario, both axes logarithmic (scenarios differ by orders of magnitude).
//!
//! Text needs a TrueType font and plotters' `ab_glyph` renderer embeds none, so one is
//! loaded from the usual system locations. Without one the chart is drawn without any
//! text; the Markdown's sweep table then serves as its legend.

use std::path::Path;

use plotters::prelude::*;

use crate::report::{Report, ScenarioResult};

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Registers a system font as "sans-serif"; false when there is none.
fn load_font() -> bool {
    if std::env::var_os("TESSERA_BENCH_NO_FONT").is_some() {
        return false;
    }
    for path in FONT_PATHS {
        if let Ok(bytes) = std::fs::read(path) {
            // plotters keeps fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

type Series = (String, Vec<(f64, f64)>);

fn series(results: &[ScenarioResult], value: impl Fn(&crate::load::RunStats) -> f64) -> Vec<Series> {
    results
        .iter()
        .filter(|r| !r.sweep.is_empty())
        .map(|r| {
            let pts = r.sweep.iter().map(|s| (s.connections as f64, value(s))).filter(|(_, v)| *v > 0.0).collect();
            (r.scenario.name().to_string(), pts)
        })
        .collect()
}

/// (min, max) of the values, widened so that lines do not touch the frame.
fn range(all: &[Series], pick: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let vals: Vec<f64> = all.iter().flat_map(|(_, p)| p.iter().map(&pick)).collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (1.0, 10.0);
    }
    (lo / 1.5, hi * 1.5)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    data: &[Series],
    text: bool,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("plot: {e:?}");
    let (x0, x1) = range(data, |p| p.0);
    let (y0, y1) = range(data, |p| p.1);
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder.caption(title, ("sans-serif", 20)).x_label_area_size(40).y_label_area_size(60);
    }
    let mut chart =
        builder.build_cartesian_2d((x0.max(0.5)..x1).log_scale(), (y0.max(1e-3)..y1).log_scale()).map_err(err)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("connections").y_desc(y_desc).y_label_formatter(&|v| format!("{v:.3}"));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(err)?;
    for (i, (name, pts)) in data.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let drawn = chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2))).map_err(err)?;
        if text {
            drawn
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(err)?;
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Writes the chart; returns whether it has text.
pub fn write(report: &Report, path: &Path) -> Result<bool, String> {
    let text = load_font();
    let rows = report.stores.len().max(1);
    let root = BitMapBackend::new(path, (1500, 560 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| format!("plot: {e:?}"))?;
    let areas = root.split_evenly((rows, 2));
    for (i, st) in report.stores.iter().enumerate() {
        let store = st.store.as_str();
        let tput = series(&st.scenarios, |s| s.throughput);
        let p99 = series(&st.scenarios, |s| s.p99_ms);
        panel(&areas[2 * i], &format!("{store}: throughput (req/s)"), "req/s", &tput, text)?;
        panel(&areas[2 * i + 1], &format!("{store}: p99 latency (ms)"), "p99 (ms)", &p99, text)?;
    }
    root.present().map_err(|e| format!("plot: cannot write {}: {e:?}", path.display()))?;
    Ok(text)
}
