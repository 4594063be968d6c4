//! Charts as SVG text, drawn with plotters' SVG backend: the history report's trend
//! chart per benchmark (its points, a rolling median, its change points) and the line
//! charts of `perf-test model`. Output is deterministic (integer pixels, plotters' own
//! text-size estimate instead of measured fonts), so charts diff cleanly and can be
//! tested as text.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::model::Unit;

/// How a trend chart places data in its SVG's pixels: a run at series index `i` is at
/// x = `x0 + dx · i`; a value `v`, clamped to `[lo, hi]`, at y = `y0 + dy · v`. The
/// report's script maps the pointer back through it for the hover.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Mapping {
    /// Pixel x of index 0.
    pub x0: f64,
    /// Pixels per run.
    pub dx: f64,
    /// Pixel y of the value 0 (in display units).
    pub y0: f64,
    /// Pixels per display unit (negative: y grows downwards).
    pub dy: f64,
    /// The lowest value drawn in place (display units); lower ones sit on the edge.
    pub lo: f64,
    /// The highest value drawn in place; higher ones sit on the edge, as triangles.
    pub hi: f64,
}

/// A change point to mark on a trend chart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    /// The series index of the first run after the change.
    pub index: usize,
    /// `after / before − 1`.
    pub change: f64,
    /// Worse (red) or better (green).
    pub regression: bool,
}

/// How values are shown: divided by `divisor`, followed by `suffix`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Scale {
    /// What a value is divided by for display.
    pub divisor: f64,
    /// The display unit (`"µs"`, `"M instr."`, `""`).
    pub suffix: &'static str,
}

impl Scale {
    /// The display scale for values of `unit` around `typical` (a series' median):
    /// times in ns/µs/ms/s, sizes in B/KiB/MiB/GiB, counts in k/M/G.
    pub fn of(unit: Option<Unit>, typical: f64) -> Scale {
        let pick = |steps: &[(f64, &'static str)]| {
            let mut chosen = steps[0];
            for &(d, s) in steps {
                if typical.abs() >= d {
                    chosen = (d, s);
                }
            }
            Scale {
                divisor: chosen.0,
                suffix: chosen.1,
            }
        };
        match unit {
            Some(Unit::Nanoseconds) => pick(&[(1.0, "ns"), (1e3, "µs"), (1e6, "ms"), (1e9, "s")]),
            Some(Unit::Bytes) => pick(&[
                (1.0, "B"),
                (1024.0, "KiB"),
                (1024.0 * 1024.0, "MiB"),
                (1024.0 * 1024.0 * 1024.0, "GiB"),
            ]),
            Some(Unit::Count) => pick(&[(1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G")]),
            Some(Unit::Number) | None => Scale {
                divisor: 1.0,
                suffix: "",
            },
        }
    }

    /// `value` in this scale with 4 significant digits and the suffix.
    pub fn show(&self, value: f64) -> String {
        let v = value / self.divisor;
        let text = significant(v, 4);
        if self.suffix.is_empty() {
            text
        } else {
            format!("{text} {}", self.suffix)
        }
    }
}

/// `v` with `digits` significant digits, without trailing zeros after the point.
pub fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The median of each run's window of `half` runs either side (shorter at the ends).
pub fn rolling_median(values: &[f64], half: usize) -> Vec<f64> {
    let mut window = Vec::with_capacity(2 * half + 1);
    (0..values.len())
        .map(|i| {
            window.clear();
            window.extend_from_slice(
                &values[i.saturating_sub(half)..(i + half + 1).min(values.len())],
            );
            window.sort_by(f64::total_cmp);
            let m = window.len() / 2;
            if window.len() % 2 == 1 {
                window[m]
            } else {
                0.5 * (window[m - 1] + window[m])
            }
        })
        .collect()
}

/// The runs either side of each point that its rolling median covers.
pub const ROLLING_HALF_WINDOW: usize = 5;

/// A drawn trend chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawn {
    /// The `<svg>` element.
    pub svg: String,
    /// Where its points are, for the hover.
    pub mapping: Mapping,
}

const POINT: RGBColor = RGBColor(0x4c, 0x78, 0xa8);
const MEDIAN: RGBColor = RGBColor(0x22, 0x22, 0x22);
const WORSE: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const BETTER: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const LINE_COLOURS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

fn failed<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing the chart failed: {e:?}")
}

/// The value range a trend chart shows: every point but the far outliers (beyond
/// three times the 5–95 % spread past either quantile), which are drawn on the edge.
fn shown_range(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let (q05, q95) = (q(0.05), q(0.95));
    let reach = 3.0 * (q95 - q05).max(q(0.5).abs() * 0.002);
    let inside = sorted
        .iter()
        .copied()
        .filter(|v| *v >= q05 - reach && *v <= q95 + reach);
    let (lo, hi) = inside.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let pad = ((hi - lo) * 0.08)
        .max(hi.abs() * 0.002)
        .max(f64::MIN_POSITIVE);
    (lo - pad, hi + pad)
}

fn decimals_for(range: f64) -> usize {
    if range <= 0.0 || !range.is_finite() {
        return 2;
    }
    let step = range / 5.0;
    (-(step.log10().floor() as i32)).clamp(0, 9) as usize
}

/// Draws one benchmark's trend: `values` (already in display units) by series index,
/// the rolling median, and `marks` as vertical lines labelled with their change.
pub fn trend(
    values: &[f64],
    marks: &[Mark],
    y_label: &str,
    size: (u32, u32),
) -> Result<Drawn, String> {
    if values.is_empty() {
        return Err("a trend chart needs at least one value".into());
    }
    let (lo, hi) = shown_range(values);
    let n = values.len();
    let median = rolling_median(values, ROLLING_HALF_WINDOW);
    let decimals = decimals_for(hi - lo);
    let y_format = move |v: &f64| format!("{v:.decimals$}");
    let x_format = |x: &f64| {
        if x.fract() == 0.0 && *x >= 0.0 {
            format!("{}", *x as i64)
        } else {
            String::new()
        }
    };
    let mut svg = String::new();
    let mapping;
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(6)
            .margin_right(14)
            .x_label_area_size(30)
            .y_label_area_size(62)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), lo..hi)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .x_labels(8)
            .y_labels(5)
            .x_label_formatter(&x_format)
            .y_label_formatter(&y_format)
            .x_desc("run")
            .y_desc(y_label)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 13))
            .draw()
            .map_err(failed)?;
        for m in marks {
            let x = m.index as f64 - 0.5;
            let colour = if m.regression { WORSE } else { BETTER };
            chart
                .draw_series(DashedLineSeries::new(
                    [(x, lo), (x, hi)],
                    5,
                    3,
                    colour.stroke_width(2),
                ))
                .map_err(failed)?;
            let anchor = if m.index * 2 > n {
                Pos::new(HPos::Right, VPos::Top)
            } else {
                Pos::new(HPos::Left, VPos::Top)
            };
            let dx = if m.index * 2 > n { -0.4 } else { 0.4 };
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{:+.1} %", 100.0 * m.change),
                    (x + dx, hi),
                    ("sans-serif", 13).into_font().color(&colour).pos(anchor),
                )))
                .map_err(failed)?;
        }
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|&(_, v)| (lo..=hi).contains(v))
                    .map(|(i, &v)| Circle::new((i as f64, v), 2, POINT.mix(0.75).filled())),
            )
            .map_err(failed)?;
        // Outliers beyond the shown range sit on its edge as red triangles.
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|&(_, v)| !(lo..=hi).contains(v))
                    .map(|(i, &v)| {
                        TriangleMarker::new((i as f64, v.clamp(lo, hi)), 4, WORSE.stroke_width(1))
                    }),
            )
            .map_err(failed)?;
        chart
            .draw_series(LineSeries::new(
                median.iter().enumerate().map(|(i, &v)| (i as f64, v)),
                MEDIAN.stroke_width(2),
            ))
            .map_err(failed)?;
        let a = chart.backend_coord(&(0.0, lo));
        // The far end of both axes, so that pixel rounding does not add up along them.
        let last = n.max(2) - 1;
        let b = chart.backend_coord(&(last as f64, hi));
        let dy = (b.1 - a.1) as f64 / (hi - lo);
        mapping = Mapping {
            x0: a.0 as f64,
            dx: (b.0 - a.0) as f64 / last as f64,
            y0: a.1 as f64 - dy * lo,
            dy,
            lo,
            hi,
        };
        root.present().map_err(failed)?;
    }
    Ok(Drawn { svg, mapping })
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The legend label.
    pub name: String,
    /// Points `(x, y)`, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with a title and a legend, each point marked; the y axis starts at zero
/// and ends 10 % above the highest point. With `integer_x`, x labels fall on whole
/// numbers only (worker counts).
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    integer_x: bool,
    lines: &[Line],
) -> Result<String, String> {
    let all = lines.iter().flat_map(|l| l.points.iter());
    let (mut x_lo, mut x_hi, mut y_hi) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
    for &(x, y) in all {
        x_lo = x_lo.min(x);
        x_hi = x_hi.max(x);
        y_hi = y_hi.max(y);
    }
    if !x_lo.is_finite() {
        (x_lo, x_hi) = (0.0, 1.0);
    }
    if x_hi <= x_lo {
        x_hi = x_lo + 1.0;
    }
    let y_top = if y_hi > 0.0 { y_hi * 1.1 } else { 1.0 };
    let decimals = decimals_for(y_top);
    let y_format = move |v: &f64| format!("{v:.decimals$}");
    let x_format = move |x: &f64| {
        if !integer_x {
            significant(*x, 3)
        } else if x.fract() == 0.0 {
            format!("{}", *x as i64)
        } else {
            String::new()
        }
    };
    let mut svg = String::new();
    {
        let root: DrawingArea<SVGBackend, Shift> =
            SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .margin_right(20)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x_lo..x_hi, 0.0..y_top)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&x_format)
            .y_label_formatter(&y_format)
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(failed)?;
        for (i, line) in lines.iter().enumerate() {
            let colour = LINE_COLOURS[i % LINE_COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(failed)?
                .label(line.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|&p| Circle::new(p, 4, colour.filled())),
                )
                .map_err(failed)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(tag: &str, name: &str) -> f64 {
        tag.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {tag}"))
    }

    #[test]
    fn the_rolling_median_ignores_a_lone_outlier() {
        let values = [1.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0];
        assert_eq!(rolling_median(&values, 1), vec![1.0; 7]);
        assert_eq!(rolling_median(&[3.0, 1.0], 3), vec![2.0, 2.0]);
    }

    #[test]
    fn scales_pick_a_readable_unit() {
        assert_eq!(
            Scale::of(Some(Unit::Nanoseconds), 12_345.0).show(12_345.0),
            "12.35 µs"
        );
        assert_eq!(Scale::of(Some(Unit::Count), 2.5e6).show(2.5e6), "2.5 M");
        assert_eq!(
            Scale::of(Some(Unit::Bytes), 3.0 * 1024.0 * 1024.0).show(3.0 * 1024.0 * 1024.0),
            "3 MiB"
        );
        assert_eq!(Scale::of(None, 0.5).show(0.951), "0.951");
        assert_eq!(significant(1234.5678, 4), "1235");
    }

    #[test]
    fn a_trend_places_every_point_where_its_mapping_says() {
        let mut values: Vec<f64> = (0..40).map(|i| 10.0 + 0.01 * (i % 7) as f64).collect();
        values[20..].iter_mut().for_each(|v| *v *= 1.05);
        values[7] = 25.0; // an outlier: drawn on the top edge
        let marks = [Mark {
            index: 20,
            change: 0.05,
            regression: true,
        }];
        let drawn = trend(&values, &marks, "µs", (560, 230)).unwrap();
        let m = drawn.mapping;
        assert!(drawn.svg.starts_with("<svg ") && drawn.svg.trim_end().ends_with("</svg>"));
        assert!(drawn.svg.contains("+5.0 %"), "the change is labelled");
        assert!(
            m.hi < 25.0 && m.lo < 10.0,
            "the outlier is outside the range"
        );
        let circles: Vec<&str> = drawn
            .svg
            .lines()
            .filter(|l| l.starts_with("<circle"))
            .collect();
        assert_eq!(circles.len(), 39, "every point but the outlier is a circle");
        // Circles are drawn in series order, skipping the outlier at index 7.
        for (k, c) in circles.iter().enumerate() {
            let i = if k < 7 { k } else { k + 1 };
            let (x, y) = (attribute(c, "cx"), attribute(c, "cy"));
            assert!((x - (m.x0 + m.dx * i as f64)).abs() <= 1.0, "{c}");
            assert!((y - (m.y0 + m.dy * values[i])).abs() <= 1.0, "{c}");
        }
        let medians = drawn
            .svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.matches(',').count() >= 40);
        assert_eq!(
            medians.count(),
            1,
            "the rolling median is one line through every run"
        );
        assert_eq!(
            drawn.svg.matches("<polygon").count(),
            1,
            "the outlier is a triangle"
        );
    }

    #[test]
    fn a_constant_series_still_has_a_range() {
        let drawn = trend(&[5.0; 12], &[], "", (400, 200)).unwrap();
        assert!(drawn.mapping.hi > drawn.mapping.lo);
        assert!(drawn.mapping.dy.is_finite() && drawn.mapping.dy < 0.0);
        assert!(trend(&[], &[], "", (400, 200)).is_err());
    }

    #[test]
    fn a_line_chart_marks_every_point_inside_the_plot() {
        let svg = line_chart(
            "latency <ms> & workers",
            "workers",
            "ms",
            true,
            &[Line {
                name: "model".into(),
                points: vec![(1.0, 55.0), (2.0, 15.1), (3.0, 13.6)],
            }],
        )
        .unwrap();
        assert!(svg.contains("latency &lt;ms&gt; &amp; workers"));
        let circles: Vec<&str> = svg.lines().filter(|l| l.starts_with("<circle")).collect();
        assert_eq!(circles.len(), 3);
        for c in circles {
            let cy = attribute(c, "cy");
            assert!((10.0..=360.0).contains(&cy), "{c}");
        }
    }
}
