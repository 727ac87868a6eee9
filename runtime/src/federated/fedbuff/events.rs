//! FedBuff's event queue: the clients in flight, ordered by the simulated time they
//! finish, which moves the simulated clock from one finish to the next.
//!
//! As FLSim's training simulator (`flsim/common/training_simulator.py`) keeps a
//! min-heap of devices, and as tokio's timer wheel never reads a clock (it is told
//! `now` and asserts that time only moves forward), nothing here reads `Instant`:
//! the clock is the finish time of the last event popped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One client's local training, from its start to its finish in simulated time.
///
/// Events are ordered by finish time, then by task id: two clients that finish at
/// the same instant are handled in the order they were started, whatever the
/// order they were pushed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Event<T> {
    /// When the client's reply reaches the server.
    pub finish: T,
    /// The task's number, from 0 in the order tasks were started: the tie-break.
    pub task: u64,
    /// The client, as an index into the population.
    pub client: usize,
}

/// A min-heap of [`Event`]s and the current simulated time.
#[derive(Debug, Clone)]
pub struct EventQueue<T: Ord> {
    heap: BinaryHeap<Reverse<Event<T>>>,
    now: T,
}

/// An event scheduled before the current simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event finishing at {finish:?} was scheduled at simulated time {now:?}, in the past")]
pub struct EventInThePast<T: std::fmt::Debug> {
    /// The event's finish time.
    pub finish: T,
    /// The queue's current time.
    pub now: T,
}

impl<T: Ord + Copy + Default + std::fmt::Debug> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue::starting_at(T::default())
    }
}

impl<T: Ord + Copy + std::fmt::Debug> EventQueue<T> {
    /// An empty queue whose clock reads `now`.
    pub fn starting_at(now: T) -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            now,
        }
    }

    /// The current simulated time: the finish time of the last event popped.
    pub fn now(&self) -> T {
        self.now
    }

    /// Events in the queue.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether the queue holds no event.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event`.
    ///
    /// # Errors
    /// [`EventInThePast`] if it finishes before [`now`](Self::now); the queue is
    /// unchanged then.
    pub fn push(&mut self, event: Event<T>) -> Result<(), EventInThePast<T>> {
        if event.finish < self.now {
            return Err(EventInThePast {
                finish: event.finish,
                now: self.now,
            });
        }
        self.heap.push(Reverse(event));
        Ok(())
    }

    /// The next event, without removing it.
    pub fn peek(&self) -> Option<&Event<T>> {
        self.heap.peek().map(|Reverse(e)| e)
    }

    /// Removes the next event and moves the clock to its finish time (never back:
    /// [`push`](Self::push) refuses events in the past).
    pub fn pop(&mut self) -> Option<Event<T>> {
        let Reverse(event) = self.heap.pop()?;
        debug_assert!(event.finish >= self.now, "time only moves forward");
        self.now = event.finish;
        Some(event)
    }

    /// The events, in the order they will be popped.
    pub fn sorted(&self) -> Vec<Event<T>> {
        let mut events: Vec<Event<T>> = self.heap.iter().map(|Reverse(e)| *e).collect();
        events.sort();
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(finish: u64, task: u64, client: usize) -> Event<u64> {
        Event {
            finish,
            task,
            client,
        }
    }

    #[test]
    fn events_pop_by_finish_time_then_task_and_move_the_clock() {
        let mut queue = EventQueue::<u64>::default();
        for e in [
            event(30, 0, 7),
            event(10, 3, 1),
            event(20, 1, 2),
            event(10, 2, 9),
        ] {
            queue.push(e).unwrap();
        }
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.peek(), Some(&event(10, 2, 9)));
        let mut popped = Vec::new();
        let mut clock = Vec::new();
        while let Some(e) = queue.pop() {
            popped.push((e.task, e.client));
            clock.push(queue.now());
        }
        // At t = 10, task 2 (started first) before task 3, whatever the client.
        assert_eq!(popped, [(2, 9), (3, 1), (1, 2), (0, 7)]);
        assert_eq!(clock, [10, 10, 20, 30]);
        assert!(queue.is_empty());
    }

    #[test]
    fn the_tie_break_does_not_depend_on_the_push_order() {
        let events = [
            event(5, 4, 0),
            event(5, 1, 3),
            event(5, 2, 3),
            event(4, 9, 1),
        ];
        let mut forward = EventQueue::<u64>::default();
        let mut backward = EventQueue::<u64>::default();
        events.iter().for_each(|&e| forward.push(e).unwrap());
        events.iter().rev().for_each(|&e| backward.push(e).unwrap());
        let order = |q: &mut EventQueue<u64>| {
            std::iter::from_fn(|| q.pop().map(|e| e.task)).collect::<Vec<_>>()
        };
        assert_eq!(forward.sorted(), backward.sorted());
        assert_eq!(order(&mut forward), [9, 1, 2, 4]);
        assert_eq!(order(&mut backward), [9, 1, 2, 4]);
    }

    #[test]
    fn an_event_in_the_past_is_refused() {
        let mut queue = EventQueue::starting_at(100u64);
        assert_eq!(
            queue.push(event(99, 0, 0)),
            Err(EventInThePast {
                finish: 99,
                now: 100
            })
        );
        assert!(queue.is_empty());
        queue.push(event(100, 1, 0)).unwrap();
        assert_eq!(queue.pop().map(|e| e.finish), Some(100));
        assert_eq!(queue.now(), 100);
    }
}
