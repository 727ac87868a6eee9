//! What one FedBuff server step did.

use super::super::RoundReport;
use crate::federated::time::SimTime;

/// What one server step of [`FedBuff`](super::FedBuff) did: a [`RoundReport`] whose
/// `round` is the step's number (from 1) and whose clients are those whose replies
/// arrived since the last step, in arrival order, with the simulated time of the
/// step and the staleness of the replies it applied.
///
/// The reports' tools take it as a synchronous round's: [`RoundCsv::write_step`](crate::report::RoundCsv::write_step)
/// writes its row with the simulated time, [`save_steps_plot`](crate::report::save_steps_plot)
/// plots a run over simulated time, and [`Progress::round`](crate::report::Progress::round)
/// takes its `report`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepReport {
    /// The step as a round: `round` is the step's number, `clients` the clients
    /// that replied since the previous step (`counts.sampled` of them),
    /// `counts.succeeded` the replies buffered, `counts.failed` those that failed,
    /// `counts.discarded` those dropped for staleness or for holding no example,
    /// `num_examples` and `local_steps` the buffered replies' examples and steps,
    /// `train` their merged metrics, `sim_duration` the simulated time since the
    /// previous step.
    pub report: RoundReport,
    /// The simulated time of the step: when the reply that filled the buffer arrived.
    pub time: SimTime,
    /// The largest staleness among the replies applied.
    pub max_staleness: u64,
    /// The mean staleness of the replies applied.
    pub mean_staleness: f64,
    /// Replies dropped on arrival for being staler than
    /// [`max_staleness`](super::FedBuffConfig::max_staleness).
    pub stale_dropped: usize,
}

impl StepReport {
    /// The step's number, from 1 (the report's `round`).
    pub fn step(&self) -> usize {
        self.report.round
    }
}
