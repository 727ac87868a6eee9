//! Progress over the rounds of a run: a bar on a terminal, plain lines elsewhere.

use std::io::{self, IsTerminal, Stderr, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::federated::RoundReport;

/// Template of the progress bar.
const BAR: &str = "{elapsed_precise} [{bar:30}] round {pos}/{len} (eta {eta}) {msg}";

/// Reports the rounds of a run as they finish.
///
/// [`Progress::new`] draws an [`indicatif`] bar on standard error when it is a
/// terminal, showing the latest metrics, with each round's line printed above it;
/// otherwise (a log file, CI) it writes the plain lines alone to standard error;
/// [`Progress::lines`] writes the lines to any writer. A line reads
///
/// ```text
/// round 2/10 clients=3 train_loss=0.7500 train_acc=0.6250 test_acc=0.6000 time=3000.0ms
/// ```
///
/// with the round numbered from 1 ([`RoundReport::round`]), `train_acc` and
/// `test_acc` the accuracy metric named at creation, and `-` for a value the report
/// does not hold (`test_acc` of a round without evaluation). `failed=`, `zeroed=`,
/// `clipped=` and `epsilon=` follow `clients=` in a round that has them, and
/// `noise=NOT-PRIVATE(seeded)` follows `epsilon=` in a run whose noise derives from
/// its seed ([`NoiseSource::RunSeedNotPrivate`](crate::federated::NoiseSource)).
///
/// ```
/// use std::time::Duration;
/// use feddx_runtime::federated::RoundReport;
/// use feddx_runtime::metrics::MetricValues;
/// use feddx_runtime::report::Progress;
///
/// let mut train = MetricValues::default();
/// train.push("loss", 0.5);
/// train.push("binary_accuracy", 0.75);
/// let report = RoundReport {
///     round: 1,
///     clients: vec![3, 0],
///     examples_covered: 12,
///     train,
///     eval: None,
///     wall_time: Duration::from_millis(250),
///     client_time: Duration::ZERO,
///     aggregation_time: Duration::ZERO,
///     eval_time: Duration::ZERO,
///     ..RoundReport::default()
/// };
/// let mut out = Vec::new();
/// let mut progress = Progress::lines(5, "binary_accuracy", &mut out);
/// progress.round(&report)?;
/// progress.finish()?;
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "round 1/5 clients=2 train_loss=0.5000 train_acc=0.7500 test_acc=- time=250.0ms\n"
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Progress<W: Write = Stderr> {
    total_rounds: usize,
    accuracy_metric: String,
    output: Output<W>,
}

/// Where progress goes.
#[derive(Debug)]
enum Output<W> {
    /// A progress bar, and the last test accuracy with its round.
    Bar(ProgressBar, Option<(usize, f64)>),
    /// One line per round.
    Lines(W),
}

impl Progress<Stderr> {
    /// Progress over `total_rounds` rounds on standard error: a bar if it is a
    /// terminal, plain lines otherwise; `accuracy_metric` names the metric shown as
    /// accuracy (e.g. `sparse_categorical_accuracy`).
    pub fn new(total_rounds: usize, accuracy_metric: impl Into<String>) -> Self {
        let stderr = io::stderr();
        if !stderr.is_terminal() {
            return Progress::lines(total_rounds, accuracy_metric, stderr);
        }
        let style = ProgressStyle::with_template(BAR)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar =
            ProgressBar::with_draw_target(Some(total_rounds as u64), ProgressDrawTarget::stderr())
                .with_style(style);
        Progress {
            total_rounds,
            accuracy_metric: accuracy_metric.into(),
            output: Output::Bar(bar, None),
        }
    }
}

impl<W: Write> Progress<W> {
    /// Progress over `total_rounds` rounds as plain lines written to `writer`.
    pub fn lines(total_rounds: usize, accuracy_metric: impl Into<String>, writer: W) -> Self {
        Progress {
            total_rounds,
            accuracy_metric: accuracy_metric.into(),
            output: Output::Lines(writer),
        }
    }

    /// Reports a finished round: writes its line (above the bar, when there is one)
    /// and advances the bar.
    ///
    /// # Errors
    /// The writer's error, for plain lines.
    pub fn round(&mut self, report: &RoundReport) -> io::Result<()> {
        let metric = self.accuracy_metric.as_str();
        match &mut self.output {
            Output::Lines(writer) => {
                writeln!(writer, "{}", line(report, self.total_rounds, metric))?;
                writer.flush()
            }
            Output::Bar(bar, last_test) => {
                bar.println(line(report, self.total_rounds, metric));
                if let Some(acc) = report.eval.as_ref().and_then(|e| e.get(metric)) {
                    *last_test = Some((report.round, acc));
                }
                let test = match last_test {
                    Some((round, acc)) => format!("test_acc={acc:.4} (round {round})"),
                    None => "test_acc=-".to_owned(),
                };
                bar.set_message(format!(
                    "train_loss={} train_acc={} {test}",
                    value(report.train.get("loss")),
                    value(report.train.get(metric)),
                ));
                bar.set_position(report.round as u64);
                Ok(())
            }
        }
    }

    /// Ends the progress: leaves the bar as it is, or flushes the writer.
    ///
    /// # Errors
    /// The writer's error, for plain lines.
    pub fn finish(self) -> io::Result<()> {
        match self.output {
            Output::Lines(mut writer) => writer.flush(),
            Output::Bar(bar, _) => {
                bar.finish();
                Ok(())
            }
        }
    }
}

/// The plain line of `report`; the failed, zeroed and clipped counts, and epsilon,
/// appear after `clients=` only when there are some.
fn line(report: &RoundReport, total_rounds: usize, accuracy_metric: &str) -> String {
    let c = &report.counts;
    let mut trust = String::new();
    for (name, n) in [
        ("failed", c.failed),
        ("zeroed", c.zeroed),
        ("clipped", c.clipped),
    ] {
        if n > 0 {
            trust.push_str(&format!(" {name}={n}"));
        }
    }
    if let Some(privacy) = &report.privacy {
        trust.push_str(&format!(" epsilon={:.3}", privacy.epsilon));
        if !privacy.is_private() {
            trust.push_str(" noise=NOT-PRIVATE(seeded)");
        }
    }
    format!(
        "round {}/{} clients={}{trust} train_loss={} train_acc={} test_acc={} time={:.1}ms",
        report.round,
        total_rounds,
        report.num_clients(),
        value(report.train.get("loss")),
        value(report.train.get(accuracy_metric)),
        value(report.eval.as_ref().and_then(|e| e.get(accuracy_metric))),
        report.wall_time.as_secs_f64() * 1e3,
    )
}

/// A value with four decimals, `-` for none.
fn value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_reports::two_rounds;

    #[test]
    fn plain_lines_one_per_round() {
        let mut out = Vec::new();
        let mut progress = Progress::lines(10, "sparse_categorical_accuracy", &mut out);
        for r in two_rounds() {
            progress.round(&r).unwrap();
        }
        progress.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "round 1/10 clients=3 train_loss=1.2500 train_acc=0.5000 test_acc=- time=1500.0ms\n\
             round 2/10 clients=3 failed=1 zeroed=1 clipped=2 epsilon=1.250 train_loss=0.7500 train_acc=0.6250 test_acc=0.6000 time=3000.0ms\n"
        );
    }

    #[test]
    fn a_run_with_seeded_noise_says_it_is_not_private() {
        use crate::federated::NoiseSource;
        let mut round = two_rounds().remove(1);
        if let Some(privacy) = &mut round.privacy {
            privacy.noise_source = NoiseSource::RunSeedNotPrivate;
        }
        let text = line(&round, 10, "sparse_categorical_accuracy");
        assert!(
            text.contains(" epsilon=1.250 noise=NOT-PRIVATE(seeded) train_loss="),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_metric_shows_as_a_dash() {
        let mut out = Vec::new();
        let mut progress = Progress::lines(2, "binary_accuracy", &mut out);
        progress.round(&two_rounds()[1]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("train_loss=0.7500 train_acc=- test_acc=- "),
            "{text}"
        );
    }

    #[test]
    fn a_bar_keeps_the_last_test_accuracy() {
        let mut progress = Progress::<Stderr> {
            total_rounds: 3,
            accuracy_metric: "sparse_categorical_accuracy".to_owned(),
            output: Output::Bar(ProgressBar::hidden(), None),
        };
        let mut rounds = two_rounds();
        rounds.push(rounds[0].clone());
        rounds[2].round = 3;
        for r in &rounds {
            progress.round(r).unwrap();
        }
        let Output::Bar(bar, _) = &progress.output else {
            panic!("not a bar")
        };
        assert_eq!(bar.position(), 3);
        assert_eq!(
            bar.message(),
            "train_loss=1.2500 train_acc=0.5000 test_acc=0.6000 (round 2)"
        );
        progress.finish().unwrap();
    }
}
