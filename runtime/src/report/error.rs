//! What can go wrong writing a report.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong writing a CSV, a plot or progress output.
///
/// Unlike [`FeddxError`](crate::FeddxError) it keeps the underlying I/O and CSV
/// errors as [sources](std::error::Error::source), so it is neither `Clone` nor
/// `PartialEq`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A report file could not be created or written.
    #[error("cannot write `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A row of the metrics CSV could not be written or flushed.
    #[error("cannot write round {round} to the metrics CSV: {source}")]
    Csv {
        /// The round of the row, from 1 as [`RoundReport::round`](crate::federated::RoundReport::round)
        /// (for a final flush, the round of the last row; 0 before any row).
        round: usize,
        /// The CSV writer's error.
        source: ::csv::Error,
    },
    /// plotters failed to draw the plot.
    #[error("cannot draw the plot: {message}")]
    Plot {
        /// plotters' description of the failure.
        message: String,
    },
    /// A plot was asked of no rounds.
    #[error("no rounds to plot: at least one round report is needed")]
    NoRounds,
    /// The metric asked for is not among the metrics of the round reports.
    #[error("metric `{name}` is not in the round reports; they hold {available}")]
    UnknownMetric {
        /// The metric asked for.
        name: String,
        /// The metric names the reports hold, in backticks, comma-separated.
        available: String,
    },
}
