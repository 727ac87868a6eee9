//! A pool of reusable client models, one per concurrent client update.
//!
//! [`FederatedModel`] is not `Clone`, and building a model per client would cost an
//! allocation and an initialisation each time. The pool builds a model only when
//! every existing one is in use, so there are at most as many as threads.

use std::sync::{Mutex, PoisonError};

use dfdx::prelude::Cpu;

use crate::FederatedModel;

/// Idle client models, taken by a client update and put back after it.
#[derive(Debug)]
pub(crate) struct WorkerPool<M> {
    idle: Mutex<Vec<M>>,
}

impl<M> Default for WorkerPool<M> {
    fn default() -> Self {
        WorkerPool {
            idle: Mutex::new(Vec::new()),
        }
    }
}

impl<M: FederatedModel> WorkerPool<M> {
    /// Runs `f` on an idle model (built if there is none) and puts it back unless
    /// `keep` says its result left the model unfit for reuse (a caught panic).
    ///
    /// The model's weights are whatever the previous user left: `f` must set them.
    pub(crate) fn with_model_if<R>(
        &self,
        f: impl FnOnce(&mut M) -> R,
        keep: impl FnOnce(&R) -> bool,
    ) -> R {
        let taken = self.lock().pop();
        let mut model = taken.unwrap_or_else(|| M::build(&Cpu::default()));
        let result = f(&mut model);
        if keep(&result) {
            self.lock().push(model);
        }
        result
    }

    /// Models built so far.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The idle list; a panic elsewhere while it was held does not invalidate it.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<M>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
