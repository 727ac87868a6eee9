//! How long a client's local work takes on the simulated clock.
//!
//! A [`SpeedModel`] gives the simulated duration of one local step (one batch) of a
//! client in a task (a synchronous round, or one asynchronous training task), drawn
//! from [`speed_seed`]`(run seed, task, client)`: the same on every machine, thread
//! count and resumed run. A client's work takes `step duration × local steps`, plus
//! the delay [`Faults`](crate::federated::Faults) injects into slow clients. As in
//! FLSim's `training_duration_distribution.py`, durations are pluggable, including a
//! list-driven one ([`SpeedModel::Trace`]).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use crate::federated::config::ConfigError;
use crate::federated::seeds::speed_seed;
use crate::federated::time::SimDuration;

/// How long one local step of a client takes, in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeedModel {
    /// Every client's step takes this long. The default is zero: local work takes
    /// no simulated time, so only the injected slow delay counts against a deadline.
    Constant(SimDuration),
    /// Each client's step duration in each task is drawn from a log-normal
    /// distribution: `median · exp(sigma · z)`, `z ~ N(0, 1)`, so half the draws are
    /// faster than `median` and `ln(duration)` has standard deviation `sigma`.
    /// Device speeds in cross-device studies are heavy-tailed like this (FedBuff,
    /// Nguyen et al. 2022, use `sigma = 1`).
    LogNormal {
        /// The median step duration.
        median: SimDuration,
        /// The standard deviation of the log of the duration; finite, at least 0.
        sigma: f64,
    },
    /// Client `k`'s step takes the trace's `k`-th duration, in every task: measured
    /// device speeds, loaded from a file ([`SpeedTrace::from_file`]). The trace must
    /// hold at least as many clients as the population.
    Trace(SpeedTrace),
}

impl Default for SpeedModel {
    fn default() -> Self {
        SpeedModel::Constant(SimDuration::ZERO)
    }
}

impl SpeedModel {
    /// Checks the settings on their own.
    ///
    /// # Errors
    /// [`ConfigError::SpeedSigma`] for a negative or non-finite `sigma`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            SpeedModel::LogNormal { sigma, .. } if !(sigma.is_finite() && *sigma >= 0.0) => {
                Err(ConfigError::SpeedSigma { value: *sigma })
            }
            _ => Ok(()),
        }
    }

    /// Checks that the model gives every client of a population of `population` a
    /// speed.
    ///
    /// # Errors
    /// [`ConfigError::SpeedTraceTooShort`] for a trace of fewer clients.
    pub fn check_population(&self, population: usize) -> Result<(), ConfigError> {
        match self {
            SpeedModel::Trace(trace) if trace.len() < population => {
                Err(ConfigError::SpeedTraceTooShort {
                    clients: trace.len(),
                    population,
                })
            }
            _ => Ok(()),
        }
    }

    /// The duration of one local step of `client` in task `task` (a synchronous
    /// round's 0-based index, or an asynchronous engine's task number) of the run
    /// with seed `run_seed`.
    ///
    /// A client beyond a trace (which [`check_population`](Self::check_population)
    /// rules out) never finishes: [`SimDuration::MAX`].
    pub fn step_duration(&self, run_seed: u64, client: usize, task: usize) -> SimDuration {
        match self {
            SpeedModel::Constant(step) => *step,
            SpeedModel::LogNormal { median, sigma } => {
                let z = standard_normal(&mut ChaCha8Rng::seed_from_u64(speed_seed(
                    run_seed, task, client,
                )));
                // libm, not `f64::exp`: the platform's `exp` may differ in its last
                // bit from machine to machine, and a run must not.
                let secs = median.as_secs_f64() * libm::exp(sigma * z);
                SimDuration::from_secs_f64(secs).unwrap_or(SimDuration::MAX)
            }
            SpeedModel::Trace(trace) => trace.step(client).unwrap_or(SimDuration::MAX),
        }
    }

    /// The duration of `steps` local steps of `client` in task `task`:
    /// [`step_duration`](Self::step_duration) times `steps`, saturating.
    pub fn duration(&self, run_seed: u64, client: usize, task: usize, steps: usize) -> SimDuration {
        self.step_duration(run_seed, client, task)
            .saturating_mul(steps as u64)
    }
}

/// A draw of `N(0, 1)` by Box–Muller with libm's functions, so that it is the same
/// on every platform (rand_distr's ziggurat calls the platform's `ln` in its tail).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // `gen::<f64>()` is in [0, 1); 1 - u is in (0, 1], so the log is finite.
    let u1 = 1.0 - rng.gen::<f64>();
    let u2 = rng.gen::<f64>();
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
}

/// Per-client step durations: client `k` takes the `k`-th.
///
/// The file format ([`from_file`](Self::from_file), [`write_to_file`](Self::write_to_file))
/// is plain text, one client a line, its step duration in seconds (a decimal number,
/// at least 0); blank lines and lines starting with `#` are skipped:
///
/// ```text
/// # seconds per local step, one client a line
/// 0.05
/// 0.4
/// ```
///
/// Durations are kept to the microsecond. The trace is shared, so cloning a config
/// that holds one is cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct SpeedTrace {
    steps: Arc<[SimDuration]>,
}

impl fmt::Debug for SpeedTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpeedTrace")
            .field("clients", &self.steps.len())
            .finish_non_exhaustive()
    }
}

/// A speed trace that cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpeedTraceError {
    /// The file cannot be read or written.
    #[error("cannot {operation} the speed trace `{path}`: {message}")]
    Io {
        /// `read` or `write`.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// A line is not a number of seconds.
    #[error("line {line} of the speed trace is `{text}`, not a number of seconds")]
    NotANumber {
        /// The line, from 1.
        line: usize,
        /// Its text, trimmed.
        text: String,
    },
    /// A line is a negative, NaN or infinite number of seconds.
    #[error("line {line} of the speed trace is `{text}`: a step takes a finite, non-negative number of seconds")]
    OutOfRange {
        /// The line, from 1.
        line: usize,
        /// Its text, trimmed.
        text: String,
    },
    /// The trace holds no client.
    #[error("the speed trace holds no client: give one step duration in seconds a line")]
    Empty,
}

impl SpeedTrace {
    /// A trace of the given step durations, client `k` taking `steps[k]`.
    ///
    /// # Errors
    /// [`SpeedTraceError::Empty`] for no durations.
    pub fn new(steps: Vec<SimDuration>) -> Result<Self, SpeedTraceError> {
        if steps.is_empty() {
            return Err(SpeedTraceError::Empty);
        }
        Ok(SpeedTrace {
            steps: steps.into(),
        })
    }

    /// Parses the text format described on [`SpeedTrace`].
    ///
    /// # Errors
    /// [`SpeedTraceError::NotANumber`] or [`SpeedTraceError::OutOfRange`] naming the
    /// first bad line, [`SpeedTraceError::Empty`] for a trace without clients.
    pub fn parse(text: &str) -> Result<Self, SpeedTraceError> {
        let mut steps = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let secs: f64 = trimmed.parse().map_err(|_| SpeedTraceError::NotANumber {
                line: i + 1,
                text: trimmed.to_owned(),
            })?;
            let step =
                SimDuration::from_secs_f64(secs).ok_or_else(|| SpeedTraceError::OutOfRange {
                    line: i + 1,
                    text: trimmed.to_owned(),
                })?;
            steps.push(step);
        }
        SpeedTrace::new(steps)
    }

    /// Reads a trace file.
    ///
    /// # Errors
    /// [`SpeedTraceError::Io`] if the file cannot be read, and the errors of
    /// [`parse`](Self::parse).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SpeedTraceError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|e| SpeedTraceError::Io {
            operation: "read",
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        SpeedTrace::parse(&text)
    }

    /// The trace in the text format, with a header comment; [`parse`](Self::parse)
    /// reads it back exactly.
    pub fn to_text(&self) -> String {
        let mut text = String::from("# seconds per local step, one client a line\n");
        for step in self.steps.iter() {
            let micros = step.as_micros();
            text.push_str(&format!(
                "{}.{:06}\n",
                micros / 1_000_000,
                micros % 1_000_000
            ));
        }
        text
    }

    /// Writes the trace to `path` in the text format.
    ///
    /// # Errors
    /// [`SpeedTraceError::Io`] if the file cannot be written.
    pub fn write_to_file(&self, path: impl AsRef<Path>) -> Result<(), SpeedTraceError> {
        let path = path.as_ref();
        fs::write(path, self.to_text()).map_err(|e| SpeedTraceError::Io {
            operation: "write",
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Clients in the trace.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the trace holds no client (never, for a trace that was built).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Client `client`'s step duration, if the trace holds it.
    pub fn step(&self, client: usize) -> Option<SimDuration> {
        self.steps.get(client).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_steps_add_up() {
        let model = SpeedModel::Constant(SimDuration::from_millis(20));
        assert_eq!(model.duration(1, 2, 3, 5), SimDuration::from_millis(100));
        assert_eq!(
            SpeedModel::default().duration(1, 2, 3, 5),
            SimDuration::ZERO
        );
    }

    #[test]
    fn log_normal_is_seeded_with_the_right_median_and_sigma() {
        let model = SpeedModel::LogNormal {
            median: SimDuration::from_millis(100),
            sigma: 0.8,
        };
        let draws: Vec<SimDuration> = (0..20_000)
            .map(|k| model.step_duration(7, k % 1000, k / 1000))
            .collect();
        assert_eq!(model.step_duration(7, 5, 3), draws[3005], "seeded");
        assert_ne!(model.step_duration(8, 5, 3), draws[3005], "by the run seed");
        assert_ne!(draws[5], draws[1005], "by the task");
        let mut sorted = draws.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2].as_secs_f64();
        assert!((median / 0.1 - 1.0).abs() < 0.03, "median {median}");
        let logs: Vec<f64> = draws.iter().map(|d| d.as_secs_f64().ln()).collect();
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / logs.len() as f64).sqrt();
        assert!((mean - 0.1f64.ln()).abs() < 0.02, "mean of logs {mean}");
        assert!((sd - 0.8).abs() < 0.02, "sigma {sd}");
        // Sigma 0 is the constant median.
        let flat = SpeedModel::LogNormal {
            median: SimDuration::from_millis(100),
            sigma: 0.0,
        };
        assert_eq!(flat.step_duration(7, 1, 1), SimDuration::from_millis(100));
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                SpeedModel::LogNormal {
                    median: SimDuration::ZERO,
                    sigma: bad
                }
                .validate(),
                Err(ConfigError::SpeedSigma { .. })
            ));
        }
    }

    #[test]
    fn a_trace_file_round_trips_and_gives_each_client_its_speed() {
        let trace = SpeedTrace::new(vec![
            SimDuration::from_micros(50_000),
            SimDuration::from_micros(1),
            SimDuration::from_secs(3),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("speeds.txt");
        trace.write_to_file(&path).unwrap();
        let read = SpeedTrace::from_file(&path).unwrap();
        assert_eq!(read, trace);
        let model = SpeedModel::Trace(read);
        assert_eq!(model.duration(0, 1, 9, 4), SimDuration::from_micros(4));
        assert_eq!(model.step_duration(5, 2, 0), SimDuration::from_secs(3));
        assert_eq!(model.check_population(3), Ok(()));
        assert_eq!(
            model.check_population(4),
            Err(ConfigError::SpeedTraceTooShort {
                clients: 3,
                population: 4
            })
        );
        let parsed = SpeedTrace::parse("# header\n\n 0.25 \n1e-3\n").unwrap();
        assert_eq!(parsed.step(0), Some(SimDuration::from_millis(250)));
        assert_eq!(parsed.step(1), Some(SimDuration::from_millis(1)));
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn bad_trace_files_name_the_line() {
        assert_eq!(
            SpeedTrace::parse("0.1\nfast\n").unwrap_err(),
            SpeedTraceError::NotANumber {
                line: 2,
                text: "fast".into()
            }
        );
        let err = SpeedTrace::parse("# c\n-0.5\n").unwrap_err();
        assert_eq!(
            err,
            SpeedTraceError::OutOfRange {
                line: 2,
                text: "-0.5".into()
            }
        );
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(matches!(
            SpeedTrace::parse("inf").unwrap_err(),
            SpeedTraceError::OutOfRange { line: 1, .. }
        ));
        assert_eq!(
            SpeedTrace::parse("# only a comment\n").unwrap_err(),
            SpeedTraceError::Empty
        );
        let missing = SpeedTrace::from_file("/nonexistent/speeds.txt").unwrap_err();
        assert!(
            matches!(
                &missing,
                SpeedTraceError::Io {
                    operation: "read",
                    ..
                }
            ),
            "{missing}"
        );
    }
}
