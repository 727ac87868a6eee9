//! Which client trains next, and from which model: FedBuff keeps `concurrency`
//! clients training at once, starting a new one whenever one replies.
//!
//! Task `j` (numbered from 0 in the order tasks start) trains the client at position
//! `j mod C` of cohort `j / C`, a sample of `C = concurrency` distinct clients drawn
//! as a synchronous round draws its clients ([`sample_clients`] with the cohort as
//! the round): a pure function of the run seed and `j`, so the schedule needs no
//! state to resume, and with `C` clients whose work takes equally long FedBuff
//! trains FedAvg's clients of each round. A cohort's clients are distinct; a client
//! may be drawn again by the next cohort while its earlier task is still in flight,
//! as FLSim's random selector may, and then trains as a separate session.

use std::collections::BTreeMap;

use super::FedBuffError;
use crate::federated::time::SimTime;
use crate::federated::{sample_clients, ClientsPerRound};
use crate::Result;

/// A client's training task, from its start to its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// The task's number, from 0 in start order.
    pub task: u64,
    /// The client, as an index into the population.
    pub client: usize,
    /// The server's model version (server steps taken) the client started from.
    pub version: u64,
    /// When it started.
    pub start: SimTime,
    /// When its reply reaches the server.
    pub finish: SimTime,
}

/// Draws the clients of tasks and keeps the tasks in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduler {
    concurrency: usize,
    population: usize,
    seed: u64,
    /// The last cohort drawn, kept: its clients start one by one.
    cohort: Option<(u64, Vec<usize>)>,
    next_task: u64,
    in_flight: BTreeMap<u64, Task>,
}

impl Scheduler {
    /// A scheduler of `concurrency` clients in flight over a population of
    /// `population`, drawing with the run seed `seed`; its first task is number
    /// `next_task` (0 for a new run).
    ///
    /// # Errors
    /// [`FedBuffError::ConcurrencyAbovePopulation`].
    pub fn new(
        concurrency: usize,
        population: usize,
        seed: u64,
        next_task: u64,
    ) -> Result<Self, FedBuffError> {
        if concurrency > population {
            return Err(FedBuffError::ConcurrencyAbovePopulation {
                concurrency,
                population,
            });
        }
        Ok(Scheduler {
            concurrency,
            population,
            seed,
            cohort: None,
            next_task,
            in_flight: BTreeMap::new(),
        })
    }

    /// The cohort of task `task`: the index its seeds take, as a synchronous
    /// round's 0-based index.
    pub fn cohort_of(&self, task: u64) -> u64 {
        task / self.concurrency as u64
    }

    /// The client of task `task`.
    ///
    /// # Errors
    /// Sampling's errors (none for a population of at least `concurrency`).
    pub fn client_of(&mut self, task: u64) -> Result<usize> {
        let cohort = self.cohort_of(task);
        let position = (task % self.concurrency as u64) as usize;
        match &self.cohort {
            Some((c, clients)) if *c == cohort => Ok(clients[position]),
            _ => {
                let clients = sample_clients(
                    ClientsPerRound::Count(self.concurrency),
                    self.population,
                    self.seed,
                    cohort as usize,
                )?;
                let client = clients[position];
                self.cohort = Some((cohort, clients));
                Ok(client)
            }
        }
    }

    /// Slots free: `concurrency` minus the tasks in flight.
    pub fn free(&self) -> usize {
        self.concurrency.saturating_sub(self.in_flight.len())
    }

    /// The number the next task will take.
    pub fn next_task(&self) -> u64 {
        self.next_task
    }

    /// Starts the next task at `now` from model version `version`, its duration
    /// given by `duration(client, cohort)`; returns it.
    ///
    /// # Errors
    /// As [`client_of`](Self::client_of).
    pub fn start(
        &mut self,
        now: SimTime,
        version: u64,
        duration: impl FnOnce(usize, u64) -> crate::federated::time::SimDuration,
    ) -> Result<Task> {
        let task = self.next_task;
        let client = self.client_of(task)?;
        let finish = now + duration(client, self.cohort_of(task));
        let t = Task {
            task,
            client,
            version,
            start: now,
            finish,
        };
        self.resume(t);
        self.next_task += 1;
        Ok(t)
    }

    /// Puts back a task in flight, as saved in a checkpoint.
    pub fn resume(&mut self, task: Task) {
        self.next_task = self.next_task.max(task.task + 1);
        self.in_flight.insert(task.task, task);
    }

    /// Ends task `task`, returning it (`None` if it is not in flight).
    pub fn finish(&mut self, task: u64) -> Option<Task> {
        self.in_flight.remove(&task)
    }

    /// The tasks in flight, by number.
    pub fn in_flight(&self) -> impl Iterator<Item = &Task> {
        self.in_flight.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::time::SimDuration;

    #[test]
    fn cohorts_are_the_synchronous_rounds_samples() {
        let mut s = Scheduler::new(3, 10, 5, 0).unwrap();
        for round in 0..4 {
            let expected = sample_clients(ClientsPerRound::Count(3), 10, 5, round).unwrap();
            let got: Vec<usize> = (0..3)
                .map(|p| s.client_of(round as u64 * 3 + p).unwrap())
                .collect();
            assert_eq!(got, expected, "cohort {round}");
        }
        assert_eq!(s.cohort_of(7), 2);
    }

    #[test]
    fn concurrency_is_held_and_tasks_are_numbered_in_start_order() {
        let mut s = Scheduler::new(4, 6, 1, 0).unwrap();
        let step = |client: usize, _| SimDuration::from_micros(10 + client as u64);
        let mut started = Vec::new();
        while s.free() > 0 {
            started.push(s.start(SimTime::ZERO, 0, step).unwrap());
        }
        assert_eq!(started.len(), 4);
        assert_eq!(s.in_flight().count(), 4);
        assert_eq!(
            started.iter().map(|t| t.task).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert!(started
            .iter()
            .all(|t| t.finish == SimTime::from_micros(10 + t.client as u64)));
        let done = s.finish(2).unwrap();
        assert_eq!(done.task, 2);
        assert_eq!(s.finish(2), None);
        assert_eq!(s.free(), 1);
        let next = s.start(done.finish, 1, step).unwrap();
        assert_eq!((next.task, next.version, next.start), (4, 1, done.finish));
        assert_eq!(s.free(), 0);
        assert_eq!(
            Scheduler::new(7, 6, 0, 0).unwrap_err(),
            FedBuffError::ConcurrencyAbovePopulation {
                concurrency: 7,
                population: 6
            }
        );
    }
}
