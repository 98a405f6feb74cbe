//! The PNG: for each store, throughput and p99 latency against the connection count, one
//! line per scenario, both axes logarithmic (scenarios differ by orders of magnitude).
//!
//! Text needs a TrueType font and plotters' `ab_glyph` renderer embeds none, so one is
//! loaded from the usual system locations. Without one the chart is drawn without any
//! text; the Markdown's sweep table then serves as its legend.

use std::path::Path;

use plotters::prelude::*;

use crate::report::{Report, ScenarioResult};
use crate::scenarios::Scenario;

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

/// A scenario's name, colour index and points.
type Series = (String, usize, Vec<(f64, f64)>);

/// Colours follow the scenario's place in [`Scenario::ALL`], so a scenario has the same
/// colour in every panel and every store.
fn colour(index: usize) -> RGBAColor {
    Palette99::pick(index).to_rgba()
}

fn series(results: &[ScenarioResult], value: impl Fn(&crate::load::RunStats) -> f64) -> Vec<Series> {
    results
        .iter()
        .filter(|r| !r.sweep.is_empty())
        .map(|r| {
            let pts = r.sweep.iter().map(|s| (s.connections as f64, value(s))).filter(|(_, v)| *v > 0.0).collect();
            let index = Scenario::ALL.iter().position(|s| *s == r.scenario).unwrap_or(0);
            (r.scenario.name().to_string(), index, pts)
        })
        .collect()
}

/// (min, max) of the values, widened so that lines do not touch the frame.
fn range(all: &[Series], pick: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let vals: Vec<f64> = all.iter().flat_map(|(_, _, p)| p.iter().map(&pick)).collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (1.0, 10.0);
    }
    (lo / 1.5, hi * 1.5)
}

/// Axis numbers without trailing zeros: 0.05, 2.5, 300, 12000.
fn tick(v: &f64) -> String {
    if *v >= 10.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
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
    builder.margin(14);
    if text {
        builder.caption(title, ("sans-serif", 20)).x_label_area_size(40).y_label_area_size(70);
    }
    let mut chart = builder.build_cartesian_2d((x0.max(0.5)..x1).log_scale(), (y0.max(1e-3)..y1).log_scale()).map_err(err)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE.mix(0.0));
    if text {
        mesh.x_desc("connections")
            .y_desc(y_desc)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(err)?;
    for (_, index, pts) in data {
        let color = colour(*index);
        chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2))).map_err(err)?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(err)?;
    }
    Ok(())
}

/// One legend for the whole figure, in its own column.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, names: &[(String, usize)]) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("plot: {e:?}");
    let font = ("sans-serif", 15).into_font();
    for (row, (name, index)) in names.iter().enumerate() {
        let y = 60 + 26 * row as i32;
        let color = colour(*index);
        area.draw(&PathElement::new(vec![(10, y), (40, y)], color.stroke_width(3))).map_err(err)?;
        area.draw(&Circle::new((25, y), 4, color.filled())).map_err(err)?;
        area.draw(&Text::new(name.clone(), (50, y - 8), font.clone())).map_err(err)?;
    }
    Ok(())
}

/// Writes the chart; returns whether it has text.
pub fn write(report: &Report, path: &Path) -> Result<bool, String> {
    let text = load_font();
    let rows = report.stores.len().max(1);
    let root = BitMapBackend::new(path, (1600, 540 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| format!("plot: {e:?}"))?;
    let (charts, side) = root.split_horizontally(1340);
    let areas = charts.split_evenly((rows, 2));
    let mut names: Vec<(String, usize)> = Vec::new();
    for (i, st) in report.stores.iter().enumerate() {
        let store = st.store.as_str();
        let tput = series(&st.scenarios, |s| s.throughput);
        let p99 = series(&st.scenarios, |s| s.p99_ms);
        panel(&areas[2 * i], &format!("{store}: throughput (req/s)"), "req/s", &tput, text)?;
        panel(&areas[2 * i + 1], &format!("{store}: p99 latency (ms)"), "p99 (ms)", &p99, text)?;
        for (name, index, _) in tput {
            if !names.iter().any(|(n, _)| *n == name) {
                names.push((name, index));
            }
        }
    }
    if text {
        names.sort_by_key(|(_, i)| *i);
        legend(&side, &names)?;
    }
    root.present().map_err(|e| format!("plot: cannot write {}: {e:?}", path.display()))?;
    Ok(text)
}
