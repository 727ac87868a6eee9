//! An SVG plot of a run: accuracy and loss per round, train and test.
//!
//! Drawn with plotters' SVG backend without a font library: text becomes SVG
//! `<text>` elements that the viewer renders, so no system fonts are needed.

use std::ops::Range;
use std::path::Path;

use plotters::prelude::*;

use super::ReportError;
use crate::federated::fedbuff::StepReport;
use crate::federated::RoundReport;
use crate::metrics::MetricValues;

/// Size of the whole picture, in pixels: two panels side by side.
const SIZE: (u32, u32) = (1200, 480);
/// Colour of the train series.
const TRAIN: RGBColor = RGBColor(31, 119, 180);
/// Colour of the test series.
const TEST: RGBColor = RGBColor(214, 39, 40);

/// Renders the plot of `reports` (see [`plot_svg`]) and writes it to `path`.
///
/// # Errors
/// As [`plot_svg`], and [`ReportError::Io`] if the file cannot be written.
pub fn save_plot(
    path: impl AsRef<Path>,
    reports: &[RoundReport],
    accuracy_metric: &str,
) -> Result<(), ReportError> {
    write_svg(path.as_ref(), plot_svg(reports, accuracy_metric)?)
}

/// An SVG picture of two panels over the rounds of `reports`: the metric
/// `accuracy_metric` (e.g. `sparse_categorical_accuracy` or `binary_accuracy`) and
/// `loss`, each with a `train` series from [`RoundReport::train`] and a `test`
/// series from the rounds that were evaluated ([`RoundReport::eval`]).
///
/// Test points are marked with dots, as evaluation may have run after a few rounds
/// only. Non-finite values are left out of the series.
///
/// # Errors
/// [`ReportError::NoRounds`] for no reports, [`ReportError::UnknownMetric`] if no
/// report holds `accuracy_metric`, and [`ReportError::Plot`] if plotters fails.
pub fn plot_svg(reports: &[RoundReport], accuracy_metric: &str) -> Result<String, ReportError> {
    let x = XAxis {
        description: "round",
        values: reports.iter().map(round).collect(),
        format: |x| x.to_string(),
    };
    draw_svg(reports, &x, accuracy_metric)
}

/// Renders the plot of a FedBuff run's `steps` (see [`plot_steps_svg`]) and writes
/// it to `path`.
///
/// # Errors
/// As [`plot_steps_svg`], and [`ReportError::Io`] if the file cannot be written.
pub fn save_steps_plot(
    path: impl AsRef<Path>,
    steps: &[StepReport],
    accuracy_metric: &str,
) -> Result<(), ReportError> {
    write_svg(path.as_ref(), plot_steps_svg(steps, accuracy_metric)?)
}

/// The two panels of [`plot_svg`] for a FedBuff run's server steps, over their
/// simulated time (in seconds) instead of their number: runs of different engines
/// on the same clock compare on one axis.
///
/// # Errors
/// As [`plot_svg`].
pub fn plot_steps_svg(steps: &[StepReport], accuracy_metric: &str) -> Result<String, ReportError> {
    let reports: Vec<RoundReport> = steps.iter().map(|s| s.report.clone()).collect();
    let x = XAxis {
        description: "simulated time (s)",
        // Milliseconds, so that the axis has integer ticks below a second.
        values: steps.iter().map(millis).collect(),
        format: |ms| format!("{}", *ms as f64 / 1_000.0),
    };
    draw_svg(&reports, &x, accuracy_metric)
}

/// Renders the comparison of `runs` (see [`plot_runs_svg`]) and writes it to `path`.
///
/// # Errors
/// As [`plot_runs_svg`], and [`ReportError::Io`] if the file cannot be written.
pub fn save_runs_plot(
    path: impl AsRef<Path>,
    runs: &[(&str, &[StepReport])],
    accuracy_metric: &str,
) -> Result<(), ReportError> {
    write_svg(path.as_ref(), plot_runs_svg(runs, accuracy_metric)?)
}

/// One panel comparing runs on the same simulated clock: the test value of
/// `accuracy_metric` ([`RoundReport::eval`]) of each named run's steps over their
/// simulated time in seconds, one line per run. A synchronous run enters as steps
/// too: a step per round, at the round's end on the clock (the sum of the rounds'
/// [`RoundReport::sim_duration`]).
///
/// # Errors
/// [`ReportError::NoRounds`] if no run has a step, [`ReportError::UnknownMetric`]
/// if no step holds `accuracy_metric` in its evaluation, and [`ReportError::Plot`]
/// if plotters fails.
pub fn plot_runs_svg(
    runs: &[(&str, &[StepReport])],
    accuracy_metric: &str,
) -> Result<String, ReportError> {
    let all: Vec<RoundReport> = runs
        .iter()
        .flat_map(|(_, steps)| steps.iter().map(|s| s.report.clone()))
        .collect();
    if all.is_empty() {
        return Err(ReportError::NoRounds);
    }
    let series: Vec<(&str, Vec<(i64, f64)>)> = runs
        .iter()
        .map(|(name, steps)| {
            let xs: Vec<i64> = steps.iter().map(millis).collect();
            let reports: Vec<RoundReport> = steps.iter().map(|s| s.report.clone()).collect();
            let points = series(&reports, &xs, accuracy_metric, |r| r.eval.as_ref());
            (*name, points)
        })
        .collect();
    if series.iter().all(|(_, points)| points.is_empty()) {
        return Err(ReportError::UnknownMetric {
            name: accuracy_metric.to_owned(),
            available: available(&all),
        });
    }
    let lines: Vec<Line> = series
        .into_iter()
        .zip(PALETTE.iter().cycle())
        .filter(|((_, points), _)| !points.is_empty())
        .map(|((name, points), &colour)| Line {
            name: name.to_owned(),
            marked: points.len() == 1,
            points,
            colour,
        })
        .collect();
    let axis = XAxis {
        description: "simulated time (s)",
        values: lines
            .iter()
            .flat_map(|l| l.points.iter().map(|&(x, _)| x))
            .collect(),
        // Milliseconds, so that the axis has integer ticks below a second.
        format: |ms| format!("{}", *ms as f64 / 1_000.0),
    };
    let panel = Panel {
        metric: accuracy_metric,
        y_label: "test accuracy",
        base: Some(0.0..1.0),
        legend: SeriesLabelPosition::LowerRight,
    };
    let caption = format!("test accuracy ({accuracy_metric})");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0 / 2, SIZE.1)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        draw_lines(&root, &caption, panel, &axis, &lines)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// The simulated time of `step` in milliseconds (saturating), so that the axis
/// has integer ticks below a second.
fn millis(step: &StepReport) -> i64 {
    i64::try_from(step.time.as_micros() / 1_000).unwrap_or(i64::MAX)
}

/// The x axis of a plot: its description, each report's coordinate, and how a
/// tick is labelled.
struct XAxis {
    description: &'static str,
    values: Vec<i64>,
    format: fn(&i64) -> String,
}

/// The two panels over `reports`, placed on `x`.
fn draw_svg(
    reports: &[RoundReport],
    x: &XAxis,
    accuracy_metric: &str,
) -> Result<String, ReportError> {
    if reports.is_empty() {
        return Err(ReportError::NoRounds);
    }
    let holds = |v: &MetricValues| v.get(accuracy_metric).is_some();
    if !reports
        .iter()
        .any(|r| holds(&r.train) || r.eval.as_ref().is_some_and(holds))
    {
        return Err(ReportError::UnknownMetric {
            name: accuracy_metric.to_owned(),
            available: available(reports),
        });
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (left, right) = root.split_horizontally(SIZE.0 / 2);
        // Accuracy rises and loss falls: the legends go where the lines tend not to be.
        let accuracy = Panel {
            metric: accuracy_metric,
            y_label: "accuracy",
            base: Some(0.0..1.0),
            legend: SeriesLabelPosition::LowerRight,
        };
        let loss = Panel {
            metric: "loss",
            y_label: "loss",
            base: None,
            legend: SeriesLabelPosition::UpperRight,
        };
        accuracy.draw(&left, reports, x)?;
        loss.draw(&right, reports, x)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// One panel: a metric's train and test series over the rounds.
struct Panel<'a> {
    /// The metric.
    metric: &'a str,
    /// Description of the y axis.
    y_label: &'a str,
    /// A y range to cover whatever the values (`0..1` for accuracy); 0 is always covered.
    base: Option<Range<f64>>,
    /// Where the legend goes.
    legend: SeriesLabelPosition,
}

impl Panel<'_> {
    /// Draws the panel on `area`.
    fn draw(
        self,
        area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
        reports: &[RoundReport],
        axis: &XAxis,
    ) -> Result<(), ReportError> {
        let train = series(reports, &axis.values, self.metric, |r| Some(&r.train));
        let test = series(reports, &axis.values, self.metric, |r| r.eval.as_ref());
        let caption = if self.metric == self.y_label {
            self.metric.to_owned()
        } else {
            format!("{} ({})", self.y_label, self.metric)
        };
        // Test points are sparse (a line of one point is invisible): mark them.
        let marked = |points: &[(i64, f64)], name: &str| name == "test" || points.len() == 1;
        let lines = [("train", train, TRAIN), ("test", test, TEST)]
            .into_iter()
            .map(|(name, points, colour)| Line {
                marked: marked(&points, name),
                name: name.to_owned(),
                points,
                colour,
            })
            .collect::<Vec<_>>();
        draw_lines(area, &caption, self, axis, &lines)
    }
}

/// One named line of a panel.
struct Line {
    /// Its name in the legend.
    name: String,
    /// Its `(x, value)` points, finite.
    points: Vec<(i64, f64)>,
    /// Its colour.
    colour: RGBColor,
    /// Whether its points are marked with dots.
    marked: bool,
}

/// Draws `lines` on `area`, a chart captioned `caption` with `panel`'s y axis and
/// legend, over `axis`.
fn draw_lines(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    panel: Panel<'_>,
    axis: &XAxis,
    lines: &[Line],
) -> Result<(), ReportError> {
    let x = x_range(&axis.values);
    let y = y_range(
        lines.iter().flat_map(|l| l.points.iter().map(|&(_, v)| v)),
        panel.base.clone(),
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(axis.description)
        .x_label_formatter(&axis.format)
        .y_desc(panel.y_label)
        .x_labels(10)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(plot_error)?;
    for line in lines {
        if line.points.is_empty() {
            continue;
        }
        let colour = line.colour;
        if line.marked {
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|&p| Circle::new(p, 3, colour.filled())),
                )
                .map_err(plot_error)?;
        }
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(line.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(panel.legend)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

/// A named series of `(round, value)` points: one run's metric, for
/// [`plot_curves_svg`].
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Its name in the legend, e.g. the run's algorithm.
    pub label: String,
    /// `(round, value)` points; non-finite values are left out.
    pub points: Vec<(usize, f64)>,
}

/// Colours of the curves of [`plot_curves_svg`], in turn.
const PALETTE: [RGBColor; 4] = [TRAIN, TEST, RGBColor(44, 160, 44), RGBColor(255, 127, 14)];

/// An SVG picture of two panels over rounds, each with several runs' curves side by
/// side (one algorithm against another on the same setup): `accuracy` on the left,
/// its y axis covering 0 to 1, and `loss` on the right, their titles
/// `accuracy_title` and `loss_title`.
///
/// # Errors
/// [`ReportError::NoRounds`] if no curve holds a finite point, and
/// [`ReportError::Plot`] if plotters fails.
pub fn plot_curves_svg(
    accuracy_title: &str,
    accuracy: &[Curve],
    loss_title: &str,
    loss: &[Curve],
) -> Result<String, ReportError> {
    let lines = |curves: &[Curve]| -> Vec<Line> {
        curves
            .iter()
            .zip(PALETTE.iter().cycle())
            .map(|(c, &colour)| Line {
                name: c.label.clone(),
                points: c
                    .points
                    .iter()
                    .filter(|(_, v)| v.is_finite())
                    .map(|&(r, v)| (i64::try_from(r).unwrap_or(i64::MAX), v))
                    .collect(),
                colour,
                marked: c.points.len() == 1,
            })
            .collect()
    };
    let (left, right) = (lines(accuracy), lines(loss));
    let rounds: Vec<i64> = left
        .iter()
        .chain(&right)
        .flat_map(|l| l.points.iter().map(|&(x, _)| x))
        .collect();
    if rounds.is_empty() {
        return Err(ReportError::NoRounds);
    }
    let axis = XAxis {
        description: "round",
        values: rounds,
        format: |x| x.to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (left_area, right_area) = root.split_horizontally(SIZE.0 / 2);
        let accuracy_panel = Panel {
            metric: accuracy_title,
            y_label: "accuracy",
            base: Some(0.0..1.0),
            legend: SeriesLabelPosition::LowerRight,
        };
        let loss_panel = Panel {
            metric: loss_title,
            y_label: "loss",
            base: None,
            legend: SeriesLabelPosition::UpperRight,
        };
        draw_lines(&left_area, accuracy_title, accuracy_panel, &axis, &left)?;
        draw_lines(&right_area, loss_title, loss_panel, &axis, &right)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// `(x, value)` of `metric` in the metric values `pick` finds in each report, `x`
/// the report's coordinate in `xs`, where finite.
fn series(
    reports: &[RoundReport],
    xs: &[i64],
    metric: &str,
    pick: impl Fn(&RoundReport) -> Option<&MetricValues>,
) -> Vec<(i64, f64)> {
    reports
        .iter()
        .zip(xs)
        .filter_map(|(r, &x)| Some((x, pick(r)?.get(metric)?)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// The round of `report` as an x coordinate (rounds past `i64::MAX` saturate).
fn round(report: &RoundReport) -> i64 {
    i64::try_from(report.round).unwrap_or(i64::MAX)
}

/// From the first coordinate to the last; around it when there is one.
fn x_range(xs: &[i64]) -> Range<i64> {
    let first = xs.iter().copied().min().unwrap_or(0);
    let last = xs.iter().copied().max().unwrap_or(0);
    if last > first {
        first..last
    } else {
        first.saturating_sub(1)..first.saturating_add(1)
    }
}

/// A range covering `base` (or 0 when there is none) and every value, with a margin
/// above when the values set the top.
fn y_range(values: impl Iterator<Item = f64>, base: Option<Range<f64>>) -> Range<f64> {
    let (mut low, mut high) = base
        .clone()
        .map_or((0.0, f64::NEG_INFINITY), |b| (b.start, b.end));
    for v in values {
        low = low.min(v);
        high = high.max(v);
    }
    if base.is_none_or(|b| high > b.end) {
        high += 0.05 * (high - low);
    }
    if high > low {
        low..high
    } else {
        low..low + 1.0
    }
}

/// The metric names the reports hold, in backticks, comma-separated.
fn available(reports: &[RoundReport]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for values in reports
        .iter()
        .flat_map(|r| std::iter::once(&r.train).chain(&r.eval))
    {
        for name in values.names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if names.is_empty() {
        return "no metrics".to_owned();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A [`ReportError::Plot`] from plotters' error.
fn plot_error(e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot {
        message: e.to_string(),
    }
}

/// Writes a rendered `svg` to `path`.
fn write_svg(path: &Path, svg: String) -> Result<(), ReportError> {
    std::fs::write(path, svg).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_reports::{two_rounds, values};

    /// The contents of the SVG's `<text>` elements, in order.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect()
    }

    #[test]
    fn the_svg_has_both_panels_their_labels_and_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rounds.svg");
        let mut reports = two_rounds();
        let mut third = reports[1].clone();
        third.round = 3;
        third.train = values(&[("loss", 0.5), ("sparse_categorical_accuracy", 0.75)]);
        third.eval = Some(values(&[
            ("loss", 0.625),
            ("sparse_categorical_accuracy", 0.7),
        ]));
        reports.push(third);
        save_plot(&path, &reports, "sparse_categorical_accuracy").unwrap();

        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        let texts = texts(&svg);
        let count = |t: &str| texts.iter().filter(|&&x| x == t).count();
        // Captions, axis descriptions, legends, tick labels.
        assert_eq!(
            count("accuracy (sparse_categorical_accuracy)"),
            1,
            "{texts:?}"
        );
        assert_eq!(count("loss"), 2, "{texts:?}");
        assert_eq!(count("accuracy"), 1, "{texts:?}");
        assert_eq!(count("round"), 2, "{texts:?}");
        assert_eq!(count("train"), 2, "{texts:?}");
        assert_eq!(count("test"), 2, "{texts:?}");
        for round in ["1", "2", "3"] {
            assert_eq!(count(round), 2, "{round} in {texts:?}");
        }
        assert_eq!(count("0.50"), 1, "accuracy ticks: {texts:?}");
        // Train and test in each panel, and their legend marks: polylines of their colour.
        let lines = |colour: RGBColor| {
            let stroke = format!(
                "stroke=\"#{:02X}{:02X}{:02X}\"",
                colour.0, colour.1, colour.2
            );
            svg.split("<polyline")
                .skip(1)
                .filter(|p| p.split("/>").next().is_some_and(|p| p.contains(&stroke)))
                .count()
        };
        assert_eq!(lines(TRAIN), 4);
        assert_eq!(lines(TEST), 4);
        assert_eq!(
            svg.matches("<circle").count(),
            4,
            "two test points per panel"
        );
    }

    #[test]
    fn a_single_round_without_evaluation_still_plots() {
        let reports = &two_rounds()[..1];
        let svg = plot_svg(reports, "sparse_categorical_accuracy").unwrap();
        let texts = texts(&svg);
        assert!(texts.contains(&"train"), "{texts:?}");
        assert!(!texts.contains(&"test"), "{texts:?}");
        assert!(texts.contains(&"1"), "{texts:?}");
    }

    #[test]
    fn no_rounds_or_an_unknown_metric_are_errors() {
        assert!(matches!(
            plot_svg(&[], "binary_accuracy").unwrap_err(),
            ReportError::NoRounds
        ));
        let err = plot_svg(&two_rounds(), "binary_accuracy").unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric `binary_accuracy` is not in the round reports; they hold \
             `loss`, `num_examples`, `sparse_categorical_accuracy`"
        );
    }

    #[test]
    fn steps_are_plotted_over_simulated_time() {
        use crate::federated::SimTime;
        let steps: Vec<StepReport> = two_rounds()
            .into_iter()
            .map(|report| StepReport {
                time: SimTime::from_micros(1_500_000 * report.round as u64),
                report,
                ..StepReport::default()
            })
            .collect();
        let svg = plot_steps_svg(&steps, "sparse_categorical_accuracy").unwrap();
        let texts = texts(&svg);
        let count = |t: &str| texts.iter().filter(|&&x| x == t).count();
        assert_eq!(count("simulated time (s)"), 2, "{texts:?}");
        assert_eq!(count("round"), 0, "{texts:?}");
        // Ticks in seconds, between the steps at 1.5 s and 3 s.
        assert_eq!(count("2"), 2, "{texts:?}");
        assert_eq!(count("2.4"), 2, "{texts:?}");
        assert_eq!(count("3"), 2, "{texts:?}");
        assert!(matches!(
            plot_steps_svg(&[], "loss").unwrap_err(),
            ReportError::NoRounds
        ));
    }

    #[test]
    fn runs_are_compared_on_one_panel_over_simulated_time() {
        use crate::federated::SimTime;
        let steps = |seconds: u64| -> Vec<StepReport> {
            two_rounds()
                .into_iter()
                .map(|mut report| {
                    // Both rounds evaluated: a line of two points per run.
                    report.eval = report
                        .eval
                        .or_else(|| Some(values(&[("sparse_categorical_accuracy", 0.5)])));
                    StepReport {
                        time: SimTime::from_micros(seconds * 1_000_000 * report.round as u64),
                        report,
                        ..StepReport::default()
                    }
                })
                .collect()
        };
        let (fast, slow) = (steps(1), steps(2));
        let svg = plot_runs_svg(
            &[("FedBuff", &fast), ("FedAvg", &slow)],
            "sparse_categorical_accuracy",
        )
        .unwrap();
        let texts = texts(&svg);
        let count = |t: &str| texts.iter().filter(|&&x| x == t).count();
        assert_eq!(count("simulated time (s)"), 1, "{texts:?}");
        assert_eq!(count("FedBuff"), 1, "{texts:?}");
        assert_eq!(count("FedAvg"), 1, "{texts:?}");
        // The axis spans both runs: from the first step at 1 s to the last at 4 s.
        assert_eq!(count("1"), 1, "{texts:?}");
        assert_eq!(count("4"), 1, "{texts:?}");
        let lines = |colour: RGBColor| {
            let stroke = format!(
                "stroke=\"#{:02X}{:02X}{:02X}\"",
                colour.0, colour.1, colour.2
            );
            svg.matches(&stroke).count()
        };
        assert!(
            lines(PALETTE[0]) >= 2 && lines(PALETTE[1]) >= 2,
            "a line and a legend mark each"
        );
        assert!(matches!(
            plot_runs_svg(&[("FedAvg", &[])], "loss").unwrap_err(),
            ReportError::NoRounds
        ));
        assert!(matches!(
            plot_runs_svg(&[("FedAvg", &slow)], "binary_accuracy").unwrap_err(),
            ReportError::UnknownMetric { .. }
        ));
    }

    #[test]
    fn ranges_cover_the_values() {
        assert_eq!(y_range([0.2, 0.9].into_iter(), Some(0.0..1.0)), 0.0..1.0);
        assert_eq!(y_range([0.5, 2.0].into_iter(), None), 0.0..2.1);
        assert_eq!(y_range(std::iter::empty(), None), 0.0..1.0);
        assert_eq!(x_range(&[1, 2]), 1..2);
        assert_eq!(x_range(&[2]), 1..3);
    }

    #[test]
    fn curves_of_two_runs_share_each_panel_and_no_points_is_an_error() {
        let curve = |label: &str, values: &[f64]| Curve {
            label: label.to_owned(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, &v)| (i + 1, v))
                .collect(),
        };
        let accuracy = [
            curve("FedAvg", &[0.2, 0.4, f64::NAN]),
            curve("FedProx", &[0.3, 0.5, 0.6]),
        ];
        let loss = [
            curve("FedAvg", &[2.0, 1.5, 1.0]),
            curve("FedProx", &[1.9, 1.2, 0.9]),
        ];
        let svg = plot_curves_svg("test accuracy", &accuracy, "training loss", &loss).unwrap();
        let texts = texts(&svg);
        for label in ["test accuracy", "training loss", "FedAvg", "FedProx"] {
            assert!(texts.contains(&label), "{label} missing from {texts:?}");
        }
        // Each panel has a legend entry per run: two of each name.
        assert_eq!(texts.iter().filter(|t| **t == "FedProx").count(), 2);
        let empty = [curve("FedAvg", &[f64::NAN])];
        assert!(matches!(
            plot_curves_svg("a", &empty, "l", &[]),
            Err(ReportError::NoRounds)
        ));
    }
}
