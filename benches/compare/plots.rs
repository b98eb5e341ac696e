//! SVG plots of the report (plotters' SVG backend, no fonts needed): W1 throughput against
//! threads, W3 per-op cost against runs, W4 streaming bandwidth.
//!
//! Invariants: every point is the median of the rounds that measured it; a system missing at
//! some x (e.g. fluidml past its cap) is drawn only where it was measured; axes are
//! logarithmic where figures span orders of magnitude.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::artifact::{self, DISK_FILE};
use crate::fluidml::Kind;
use crate::options::Options;
use crate::results::Results;
use crate::support::BenchResult;
use crate::workloads::{DISK_APPEND, Sys, w1_case, w3_case};

/// A plot written to the report folder: its title and file name.
pub struct Plot {
    pub title: String,
    pub file: String,
}

const SIZE: (u32, u32) = (1100, 560);
/// Width of the legend column right of a line plot.
const LEGEND_WIDTH: u32 = 290;

fn palette(k: usize) -> RGBColor {
    const COLORS: [RGBColor; 11] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
        RGBColor(0, 0, 0),
    ];
    COLORS[k % COLORS.len()]
}

fn err(e: impl std::fmt::Display) -> crate::support::BenchError {
    format!("plot: {e}").into()
}

/// Every system label in the order plots list them.
fn labels(rust: &[Sys], fluid: bool, extra: &[&'static str]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = rust.iter().map(|s| s.label()).collect();
    if fluid {
        out.extend(Kind::ALL.iter().map(|k| k.label()));
    }
    out.extend_from_slice(extra);
    out
}

/// One line per system: (x, median y) where measured.
type Lines = Vec<(&'static str, Vec<(f64, f64)>)>;

fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &Lines,
) -> BenchResult<()> {
    let points = lines.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 || y0 <= 0.0 {
        return Err(format!("plot {title}: nothing to draw").into());
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    // The legend gets its own column on the right, so it never hides a line.
    let (plot_area, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x0 * 0.8..x1 * 1.25).log_scale(),
            (y0 * 0.5..y1 * 2.0).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| crate::support::stats::number(*y))
        .draw()
        .map_err(err)?;
    for (k, (label, points)) in lines.iter().enumerate() {
        let color = palette(k);
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(err)?;
        let y = 60 + 22 * k as i32;
        legend_area
            .draw(&PathElement::new(
                vec![(8, y), (30, y)],
                color.stroke_width(3),
            ))
            .map_err(err)?;
        legend_area
            .draw(&Text::new(*label, (36, y - 6), ("sans-serif", 12)))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

fn bar_plot(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    unit: &str,
    bars: &[(&'static str, f64)],
) -> BenchResult<()> {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let n = bars.len() as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(260)
        .build_cartesian_2d(0.0..max * 1.15, (0..n).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(unit)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => bars
                .get(*i as usize)
                .map_or(String::new(), |b| b.0.to_owned()),
            _ => String::new(),
        })
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let i = i as u32;
            Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*v, SegmentValue::Exact(i + 1)),
                ],
                palette(i as usize).filled(),
            )
        }))
        .map_err(err)?;
    Ok(())
}

fn median(r: &Results, case: &str, system: &str) -> Option<f64> {
    r.spread(case, system).map(|s| s.median)
}

/// Writes every plot whose workload ran; returns what was written.
pub fn write_all(out: &Path, o: &Options, r: &Results) -> BenchResult<Vec<Plot>> {
    let fluid = o.python.is_some();
    let mut plots = Vec::new();
    let mut add = |file: &str, title: &str| -> PathBuf {
        plots.push(Plot {
            title: title.to_owned(),
            file: file.to_owned(),
        });
        out.join(file)
    };
    if o.runs("w1") {
        let lines: Lines = labels(&Sys::W1, fluid, &[DISK_APPEND])
            .into_iter()
            .map(|label| {
                let points = o
                    .threads
                    .iter()
                    .filter_map(|&t| Some((t as f64, median(r, &w1_case(t), label)?)))
                    .collect();
                (label, points)
            })
            .collect();
        let title = "W1 sweep writes: runs/s (1 KiB metrics + 64 KiB weights) vs threads";
        line_plot(
            &add("w1-throughput.svg", title),
            title,
            "worker threads",
            "runs/s",
            &lines,
        )?;
    }
    if o.runs("w3") {
        for op in ["save", "load"] {
            let lines: Lines = labels(&Sys::PER_OP, fluid, &[])
                .into_iter()
                .map(|label| {
                    let points = o
                        .sizes
                        .iter()
                        .filter_map(|&n| Some((n as f64, 1e6 / median(r, &w3_case(op, n), label)?)))
                        .collect();
                    (label, points)
                })
                .collect();
            let title = format!("W3 scale: µs per {op} vs runs in the task");
            let file = format!("w3-{op}.svg");
            line_plot(
                &add(&file, &title),
                &title,
                "runs in the task",
                "µs per op",
                &lines,
            )?;
        }
    }
    if o.runs("w4") {
        let title = format!("W4 artifact: {} MiB streamed in and out", o.artifact_mib);
        let path = add("w4-artifact.svg", &title);
        let root = SVGBackend::new(&path, (SIZE.0, SIZE.1 * 2)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let halves = root.split_evenly((2, 1));
        let systems = labels(&artifact::W4, fluid, &[DISK_FILE]);
        for (area, dir) in halves.iter().zip(["write", "read"]) {
            let bars: Vec<_> = systems
                .iter()
                .filter_map(|l| Some((*l, median(r, &artifact::w4_case(dir), l)?)))
                .collect();
            bar_plot(area, &format!("W4 {dir}"), "MiB/s", &bars)?;
        }
        root.present().map_err(err)?;
    }
    Ok(plots)
}
