//! A CSV file of metrics, one row per round.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use super::ReportError;
use crate::federated::fedbuff::StepReport;
use crate::federated::RoundReport;
use crate::metrics::MetricValues;

/// Columns before the metrics.
const FIXED: [&str; 11] = [
    "round",
    "clients",
    "succeeded",
    "failed",
    "zeroed",
    "clipped",
    "clip_norm",
    "epsilon",
    "examples_covered",
    "examples_processed",
    "wall_time_s",
];

/// Columns of a FedBuff step before the round's columns (which follow without
/// `round`): the step's number, its simulated time and its replies' staleness.
const STEP_LEAD: [&str; 4] = ["step", "sim_time_s", "mean_staleness", "max_staleness"];

/// The fixed columns of a file of rounds, or of FedBuff steps.
fn fixed_columns(steps: bool) -> Vec<&'static str> {
    if steps {
        STEP_LEAD.iter().chain(&FIXED[1..]).copied().collect()
    } else {
        FIXED.to_vec()
    }
}

/// Writes one CSV row per [`RoundReport`], flushing after each so that a crash
/// keeps every row written before it.
///
/// The columns are `round, clients, succeeded, failed, zeroed, clipped, clip_norm,
/// epsilon, examples_covered, examples_processed, wall_time_s` (`clients` are those
/// sampled; the next four are [`RoundReport::counts`]; `clip_norm` and `epsilon` are
/// empty when the aggregation neither clips nor adds noise; `examples_covered` counts
/// each example of the clients that trained once and `examples_processed` once per
/// local epoch, see [`RoundReport::examples_covered`] and
/// [`RoundReport::examples_processed`]), then
/// `train/<metric>` for each name of the first report's [`RoundReport::train`] in
/// order, then `eval/<metric>` for the same names (evaluation finalises the same
/// metrics). The header is written with the first row and fixed from then on: a
/// cell is empty when its report has no value of that name (every `eval/` cell of
/// a round without evaluation), and values under names not in the header are not
/// written. `round` is [`RoundReport::round`], counted from 1. Numbers are written
/// in Rust's shortest round-trip form, so counts (`examples_covered`,
/// `train/num_batches`, ...) are integers such as `480` (and `NaN` and `inf` stand
/// for non-finite values).
///
/// A FedBuff run writes [`StepReport`]s with [`write_step`](Self::write_step):
/// the first columns are then `step, sim_time_s, mean_staleness, max_staleness`
/// (the step's number, its simulated time in seconds and its replies' staleness),
/// followed by the columns above after `round`.
///
/// ```
/// use std::time::Duration;
/// use feddx_runtime::federated::RoundReport;
/// use feddx_runtime::metrics::MetricValues;
/// use feddx_runtime::report::RoundCsv;
///
/// let mut train = MetricValues::default();
/// train.push("loss", 0.5);
/// let report = RoundReport {
///     round: 1,
///     clients: vec![3, 0],
///     examples_covered: 12,
///     examples_processed: 36,
///     train,
///     eval: None,
///     wall_time: Duration::from_millis(250),
///     client_time: Duration::ZERO,
///     aggregation_time: Duration::ZERO,
///     eval_time: Duration::ZERO,
///     ..RoundReport::default()
/// };
/// let mut csv = RoundCsv::from_writer(Vec::new());
/// csv.write_round(&report)?;
/// let text = String::from_utf8(csv.into_inner()?).unwrap();
/// assert_eq!(
///     text,
///     "round,clients,succeeded,failed,zeroed,clipped,clip_norm,epsilon,\
///      examples_covered,examples_processed,wall_time_s,train/loss,eval/loss\n\
///      1,2,0,0,0,0,,,12,36,0.25,0.5,\n"
/// );
/// # Ok::<(), feddx_runtime::report::ReportError>(())
/// ```
#[derive(Debug)]
pub struct RoundCsv<W: Write = File> {
    writer: ::csv::Writer<W>,
    /// Metric names of the header, once written.
    metrics: Option<Vec<String>>,
    /// Round of the last row written (0 before any).
    last_round: usize,
}

impl RoundCsv<File> {
    /// Creates (or truncates) the file at `path`.
    ///
    /// # Errors
    /// [`ReportError::Io`] if the file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, ReportError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| ReportError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::from_writer(file))
    }

    /// Opens the file at `path` to add rows after those it holds, as when a run
    /// resumes from a checkpoint; creates it if it does not exist. A file that
    /// already has a header keeps it, and later rows follow its metric columns.
    ///
    /// # Errors
    /// [`ReportError::Io`] if the file cannot be read or opened.
    pub fn append(path: impl AsRef<Path>) -> Result<Self, ReportError> {
        let path = path.as_ref();
        let io = |source| ReportError::Io {
            path: path.to_owned(),
            source,
        };
        let header = match File::open(path) {
            Ok(file) => {
                let mut line = String::new();
                BufReader::new(file).read_line(&mut line).map_err(io)?;
                line
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let mut csv = Self::from_writer(file);
        let columns: Vec<&str> = header.trim_end().split(',').collect();
        let fixed = [fixed_columns(false), fixed_columns(true)]
            .into_iter()
            .find(|f| columns.len() > f.len() && columns[..f.len()] == f[..]);
        if let Some(fixed) = fixed {
            let metrics = columns[fixed.len()..]
                .iter()
                .filter_map(|c| c.strip_prefix("train/"))
                .map(str::to_owned)
                .collect();
            csv.metrics = Some(metrics);
        }
        Ok(csv)
    }
}

impl<W: Write> RoundCsv<W> {
    /// Writes the CSV to `writer`.
    pub fn from_writer(writer: W) -> Self {
        RoundCsv {
            writer: ::csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(writer),
            metrics: None,
            last_round: 0,
        }
    }

    /// The header's metric names (without `train/` or `eval/`), once the first row is written.
    pub fn metrics(&self) -> Option<&[String]> {
        self.metrics.as_deref()
    }

    /// Writes the row of `report` (after the header, for the first report) and flushes.
    ///
    /// # Errors
    /// [`ReportError::Csv`] if the row cannot be written or flushed.
    pub fn write_round(&mut self, report: &RoundReport) -> Result<(), ReportError> {
        self.write_row(None, report)
    }

    /// Writes the row of a FedBuff server step (after the header, for the first
    /// step) and flushes; see the [type docs](Self) for its columns.
    ///
    /// # Errors
    /// [`ReportError::Csv`] if the row cannot be written or flushed.
    pub fn write_step(&mut self, step: &StepReport) -> Result<(), ReportError> {
        self.write_row(Some(step), &step.report)
    }

    /// Writes the row of `report`, led by the columns of `step` when it is a step.
    fn write_row(
        &mut self,
        step: Option<&StepReport>,
        report: &RoundReport,
    ) -> Result<(), ReportError> {
        let csv_error = |source| ReportError::Csv {
            round: report.round,
            source,
        };
        let metrics = match &self.metrics {
            Some(metrics) => metrics,
            None => {
                let metrics: Vec<String> = report.train.names().map(str::to_owned).collect();
                let header = fixed_columns(step.is_some())
                    .into_iter()
                    .map(str::to_owned)
                    .chain(metrics.iter().map(|m| format!("train/{m}")))
                    .chain(metrics.iter().map(|m| format!("eval/{m}")));
                self.writer
                    .write_record(header.collect::<Vec<_>>())
                    .map_err(csv_error)?;
                self.metrics.insert(metrics)
            }
        };
        let cell = |values: Option<&MetricValues>, name: &str| {
            values
                .and_then(|v| v.get(name))
                .map_or_else(String::new, |v| v.to_string())
        };
        let lead = match step {
            Some(s) => vec![
                s.step().to_string(),
                s.time.as_secs_f64().to_string(),
                s.mean_staleness.to_string(),
                s.max_staleness.to_string(),
            ],
            None => vec![report.round.to_string()],
        };
        let row = lead
            .into_iter()
            .chain([
                report.num_clients().to_string(),
                report.counts.succeeded.to_string(),
                report.counts.failed.to_string(),
                report.counts.zeroed.to_string(),
                report.counts.clipped.to_string(),
                report.clip_norm.map_or_else(String::new, |c| c.to_string()),
                report.epsilon().map_or_else(String::new, |e| e.to_string()),
                report.examples_covered.to_string(),
                report.examples_processed.to_string(),
                report.wall_time.as_secs_f64().to_string(),
            ])
            .chain(metrics.iter().map(|m| cell(Some(&report.train), m)))
            .chain(metrics.iter().map(|m| cell(report.eval.as_ref(), m)));
        self.writer
            .write_record(row.collect::<Vec<_>>())
            .map_err(csv_error)?;
        self.writer
            .flush()
            .map_err(|e| csv_error(::csv::Error::from(e)))?;
        self.last_round = report.round;
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    ///
    /// # Errors
    /// [`ReportError::Csv`] (with the round of the last row) if the final flush fails.
    pub fn into_inner(self) -> Result<W, ReportError> {
        let round = self.last_round;
        self.writer.into_inner().map_err(|e| ReportError::Csv {
            round,
            source: ::csv::Error::from(e.into_error()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_reports::{two_rounds, values};

    #[test]
    fn header_then_one_row_per_round() {
        let mut csv = RoundCsv::from_writer(Vec::new());
        assert_eq!(csv.metrics(), None);
        for r in two_rounds() {
            csv.write_round(&r).unwrap();
        }
        assert_eq!(
            csv.metrics().unwrap(),
            ["loss", "num_examples", "sparse_categorical_accuracy"]
        );
        let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "round,clients,succeeded,failed,zeroed,clipped,clip_norm,epsilon,\
                 examples_covered,examples_processed,wall_time_s,\
                 train/loss,train/num_examples,train/sparse_categorical_accuracy,\
                 eval/loss,eval/num_examples,eval/sparse_categorical_accuracy",
                "1,3,3,0,0,0,,,31,93,1.5,1.25,93,0.5,,,",
                "2,3,2,1,1,2,0.5,1.25,32,96,3,0.75,96,0.625,0.875,10,0.6",
            ]
        );
    }

    #[test]
    fn the_header_stays_and_unknown_names_are_left_out() {
        let mut rounds = two_rounds();
        rounds[1].train = values(&[("loss", 0.5), ("extra", 1.0)]);
        let mut csv = RoundCsv::from_writer(Vec::new());
        for r in &rounds {
            csv.write_round(r).unwrap();
        }
        let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        assert_eq!(
            text.lines().nth(2),
            Some("2,3,2,1,1,2,0.5,1.25,32,96,3,0.5,,,0.875,10,0.6")
        );
    }

    #[test]
    fn appending_keeps_the_header_and_the_earlier_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rounds.csv");
        let rounds = two_rounds();
        let (first, second) = (&rounds[0], &rounds[1]);
        RoundCsv::create(&path).unwrap().write_round(first).unwrap();
        let mut resumed = RoundCsv::append(&path).unwrap();
        assert_eq!(
            resumed.metrics().unwrap(),
            ["loss", "num_examples", "sparse_categorical_accuracy"]
        );
        resumed.write_round(second).unwrap();
        drop(resumed);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("round,"));
        assert!(
            lines[1].starts_with("1,") && lines[2].starts_with("2,"),
            "{text}"
        );

        let fresh = dir.path().join("new.csv");
        RoundCsv::append(&fresh)
            .unwrap()
            .write_round(first)
            .unwrap();
        assert!(std::fs::read_to_string(&fresh)
            .unwrap()
            .starts_with("round,"));
    }

    #[test]
    fn steps_lead_with_the_simulated_time_and_staleness_and_append_keeps_them() {
        use crate::federated::SimTime;
        let steps: Vec<StepReport> = two_rounds()
            .into_iter()
            .map(|report| StepReport {
                time: SimTime::from_micros(1_250_000 * report.round as u64),
                mean_staleness: 0.5 * report.round as f64,
                max_staleness: report.round as u64,
                stale_dropped: 0,
                report,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.csv");
        RoundCsv::create(&path)
            .unwrap()
            .write_step(&steps[0])
            .unwrap();
        let mut resumed = RoundCsv::append(&path).unwrap();
        assert_eq!(
            resumed.metrics().unwrap(),
            ["loss", "num_examples", "sparse_categorical_accuracy"]
        );
        resumed.write_step(&steps[1]).unwrap();
        drop(resumed);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "step,sim_time_s,mean_staleness,max_staleness,clients,succeeded,failed,zeroed,\
                 clipped,clip_norm,epsilon,examples_covered,examples_processed,wall_time_s,\
                 train/loss,train/num_examples,train/sparse_categorical_accuracy,\
                 eval/loss,eval/num_examples,eval/sparse_categorical_accuracy",
                "1,1.25,0.5,1,3,3,0,0,0,,,31,93,1.5,1.25,93,0.5,,,",
                "2,2.5,1,2,3,2,1,1,2,0.5,1.25,32,96,3,0.75,96,0.625,0.875,10,0.6",
            ]
        );
    }

    #[test]
    fn rows_reach_the_file_before_the_writer_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rounds.csv");
        let mut csv = RoundCsv::create(&path).unwrap();
        csv.write_round(&two_rounds()[0]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.ends_with("1,3,3,0,0,0,,,31,93,1.5,1.25,93,0.5,,,\n"),
            "{text}"
        );

        let err = RoundCsv::create(dir.path().join("no/such/dir.csv")).unwrap_err();
        assert!(matches!(err, ReportError::Io { .. }), "{err}");
        assert!(err.to_string().starts_with("cannot write `"), "{err}");
    }
}
