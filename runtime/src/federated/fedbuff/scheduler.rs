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
    seed: u64,
    /// The last cohort drawn and the population it was drawn from, kept: its
    /// clients start one by one.
    cohort: Option<(u64, usize, Vec<usize>)>,
    next_task: u64,
    in_flight: BTreeMap<u64, Task>,
}

impl Scheduler {
    /// A scheduler of `concurrency` (at least 1) clients in flight, drawing with the
    /// run seed `seed`; its first task is number `next_task` (0 for a new run).
    pub fn new(concurrency: usize, seed: u64, next_task: u64) -> Self {
        Scheduler {
            concurrency: concurrency.max(1),
            seed,
            cohort: None,
            next_task,
            in_flight: BTreeMap::new(),
        }
    }

    /// The cohort of task `task`: the index its seeds take, as a synchronous
    /// round's 0-based index.
    pub fn cohort_of(&self, task: u64) -> u64 {
        task / self.concurrency as u64
    }

    /// The client of task `task` in a population of `population` clients.
    ///
    /// # Errors
    /// [`FedBuffError::ConcurrencyAbovePopulation`] when the population holds fewer
    /// than `concurrency` clients, and sampling's errors.
    pub fn client_of(&mut self, task: u64, population: usize) -> Result<usize> {
        if self.concurrency > population {
            return Err(FedBuffError::ConcurrencyAbovePopulation {
                concurrency: self.concurrency,
                population,
            }
            .into());
        }
        let cohort = self.cohort_of(task);
        let position = (task % self.concurrency as u64) as usize;
        match &self.cohort {
            Some((c, n, clients)) if *c == cohort && *n == population => Ok(clients[position]),
            _ => {
                let clients = sample_clients(
                    ClientsPerRound::Count(self.concurrency),
                    population,
                    self.seed,
                    cohort as usize,
                )?;
                let client = clients[position];
                self.cohort = Some((cohort, population, clients));
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

    /// Draws the next task: its number and client. It is in flight once
    /// [`launch`](Self::launch)ed with its finish time.
    ///
    /// # Errors
    /// As [`client_of`](Self::client_of); nothing is drawn then.
    pub fn draw(&mut self, population: usize) -> Result<(u64, usize)> {
        let task = self.next_task;
        let client = self.client_of(task, population)?;
        self.next_task += 1;
        Ok((task, client))
    }

    /// Puts `task` in flight (a task drawn, or one saved in a checkpoint).
    pub fn launch(&mut self, task: Task) {
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

    #[test]
    fn cohorts_are_the_synchronous_rounds_samples() {
        let mut s = Scheduler::new(3, 5, 0);
        for round in 0..4 {
            let expected = sample_clients(ClientsPerRound::Count(3), 10, 5, round).unwrap();
            let got: Vec<usize> = (0..3)
                .map(|p| s.client_of(round as u64 * 3 + p, 10).unwrap())
                .collect();
            assert_eq!(got, expected, "cohort {round}");
        }
        assert_eq!(s.cohort_of(7), 2);
        assert_eq!(
            s.client_of(0, 2).unwrap_err(),
            crate::FeddxError::FedBuff(FedBuffError::ConcurrencyAbovePopulation {
                concurrency: 3,
                population: 2
            })
        );
    }

    #[test]
    fn concurrency_is_held_and_tasks_are_numbered_in_start_order() {
        let mut s = Scheduler::new(4, 1, 0);
        let mut started = Vec::new();
        while s.free() > 0 {
            let (task, client) = s.draw(6).unwrap();
            let t = Task {
                task,
                client,
                version: 0,
                start: SimTime::ZERO,
                finish: SimTime::from_micros(10 + client as u64),
            };
            s.launch(t);
            started.push(t);
        }
        assert_eq!(started.len(), 4);
        assert_eq!(s.in_flight().count(), 4);
        assert_eq!(
            started.iter().map(|t| t.task).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        let done = s.finish(2).unwrap();
        assert_eq!(done.task, 2);
        assert_eq!(s.finish(2), None);
        assert_eq!(s.free(), 1);
        assert_eq!(s.draw(6).unwrap().0, 4);
        assert_eq!(s.next_task(), 5);
        // A task put back from a checkpoint moves the numbering past it.
        let mut resumed = Scheduler::new(4, 1, 0);
        resumed.launch(Task { task: 9, ..done });
        assert_eq!((resumed.next_task(), resumed.free()), (10, 3));
    }
}
