//! Reporting a run round by round: a metrics CSV, an SVG plot, progress output.
//!
//! Behind the default cargo feature `report` (it brings `csv`, `plotters` and
//! `indicatif`); turn default features off to drop them.
//!
//! - [`csv`]: one CSV row of metrics per [`RoundReport`](crate::federated::RoundReport)
//!   (or FedBuff [`StepReport`](crate::federated::fedbuff::StepReport), with its
//!   simulated time), flushed as it is written;
//! - [`plot`]: accuracy and loss per round, train and test, as an SVG file (a
//!   FedBuff run's steps over their simulated time);
//! - [`progress`]: a progress bar on a terminal, one plain line per round elsewhere.
//!
//! ```no_run
//! use feddx_runtime::report::{save_plot, Progress, RoundCsv};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let reports: Vec<feddx_runtime::federated::RoundReport> = Vec::new();
//! // `reports` from `Simulation::run_round`, or collected by `Simulation::run`.
//! let mut csv = RoundCsv::create("rounds.csv")?;
//! let mut progress = Progress::new(reports.len(), "sparse_categorical_accuracy");
//! for report in &reports {
//!     csv.write_round(report)?;
//!     progress.round(report)?;
//! }
//! progress.finish()?;
//! save_plot("rounds.svg", &reports, "sparse_categorical_accuracy")?;
//! # Ok(())
//! # }
//! ```

pub mod csv;
mod error;
pub mod plot;
pub mod progress;
#[cfg(test)]
mod test_reports;

pub use self::csv::RoundCsv;
pub use error::ReportError;
pub use plot::{
    plot_curves_svg, plot_runs_svg, plot_steps_svg, plot_svg, save_plot, save_runs_plot,
    save_steps_plot, Curve,
};
pub use progress::Progress;
