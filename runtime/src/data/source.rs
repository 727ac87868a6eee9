//! Where training reads clients from: one client's examples ([`ClientExamples`]) and a
//! population of clients ([`ClientSource`]), so that a round can read from owned
//! [`ClientData`], from views into a shared [`ClientStore`](super::ClientStore) or from
//! clients generated on demand ([`SyntheticPopulation`](super::SyntheticPopulation)).

use dfdx::prelude::Cpu;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::ClientData;
use crate::module::FeatureBatch;
use crate::spec::{FeatureSpec, LabelSpec};

/// One client's examples, for a model with features `X` and labels `Y`: what local
/// training reads its batches from.
pub trait ClientExamples<X: FeatureSpec, Y: LabelSpec> {
    /// Number of examples.
    fn len(&self) -> usize;

    /// Whether the client holds no example.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `indices` (each below [`len`](Self::len)), as one batch.
    fn batch_of(&self, indices: &[usize], device: &Cpu) -> (FeatureBatch<X>, Y::Batch);
}

impl<X: FeatureSpec, Y: LabelSpec, T: ClientExamples<X, Y> + ?Sized> ClientExamples<X, Y> for &T {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn batch_of(&self, indices: &[usize], device: &Cpu) -> (FeatureBatch<X>, Y::Batch) {
        (**self).batch_of(indices, device)
    }
}

impl<X: FeatureSpec, Y: LabelSpec> ClientExamples<X, Y> for ClientData<X, Y> {
    fn len(&self) -> usize {
        ClientData::len(self)
    }

    fn batch_of(&self, indices: &[usize], device: &Cpu) -> (FeatureBatch<X>, Y::Batch) {
        ClientData::batch_of(self, indices, device)
    }
}

/// The example indices of each batch of a client of `len` examples: batches of
/// `batch_size` (the last one may be smaller, never dropped), in stored order or
/// shuffled by a ChaCha8 generator seeded with `shuffle_seed`. A `batch_size` of 0 is
/// taken as all examples in one batch.
pub fn batch_indices(len: usize, batch_size: usize, shuffle_seed: Option<u64>) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..len).collect();
    if let Some(seed) = shuffle_seed {
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    }
    let size = if batch_size == 0 {
        len.max(1)
    } else {
        batch_size
    };
    order.chunks(size).map(<[usize]>::to_vec).collect()
}

/// The batches of `data` in the order [`batch_indices`] gives: the same batches, bit
/// for bit, whatever holds the examples.
pub fn batches<'a, X, Y, D>(
    data: &'a D,
    batch_size: usize,
    shuffle_seed: Option<u64>,
    device: &'a Cpu,
) -> impl Iterator<Item = (FeatureBatch<X>, Y::Batch)> + 'a
where
    X: FeatureSpec,
    Y: LabelSpec,
    D: ClientExamples<X, Y> + ?Sized,
{
    batch_indices(data.len(), batch_size, shuffle_seed)
        .into_iter()
        .map(move |idx| data.batch_of(&idx, device))
}

/// A population of clients, indexed from 0: what a round samples from and trains.
///
/// A slice or `Vec` of [`ClientData`] is one (each client owns its examples); so is a
/// [`ClientStore`](super::ClientStore) (each client a borrowed view into shared
/// columns) and a [`SyntheticPopulation`](super::SyntheticPopulation) (each client
/// generated when it is asked for). The round only asks for the clients it samples,
/// so a source need not hold the population in memory.
pub trait ClientSource<X: FeatureSpec, Y: LabelSpec>: Sync {
    /// One client: a reference, a view or an owned value.
    type Client<'a>: ClientExamples<X, Y>
    where
        Self: 'a;

    /// Number of clients.
    fn num_clients(&self) -> usize;

    /// Client `index`.
    ///
    /// # Panics
    /// If `index` is not below [`num_clients`](Self::num_clients).
    fn client(&self, index: usize) -> Self::Client<'_>;
}

impl<X: FeatureSpec, Y: LabelSpec, S: ClientSource<X, Y> + ?Sized> ClientSource<X, Y> for &S {
    type Client<'a>
        = S::Client<'a>
    where
        Self: 'a;

    fn num_clients(&self) -> usize {
        (**self).num_clients()
    }

    fn client(&self, index: usize) -> S::Client<'_> {
        (**self).client(index)
    }
}

impl<X: FeatureSpec, Y: LabelSpec> ClientSource<X, Y> for [ClientData<X, Y>] {
    type Client<'a> = &'a ClientData<X, Y>;

    fn num_clients(&self) -> usize {
        self.len()
    }

    fn client(&self, index: usize) -> &ClientData<X, Y> {
        &self[index]
    }
}

impl<X: FeatureSpec, Y: LabelSpec> ClientSource<X, Y> for Vec<ClientData<X, Y>> {
    type Client<'a> = &'a ClientData<X, Y>;

    fn num_clients(&self) -> usize {
        self.len()
    }

    fn client(&self, index: usize) -> &ClientData<X, Y> {
        &self[index]
    }
}

impl<X: FeatureSpec, Y: LabelSpec, const K: usize> ClientSource<X, Y> for [ClientData<X, Y>; K] {
    type Client<'a> = &'a ClientData<X, Y>;

    fn num_clients(&self) -> usize {
        K
    }

    fn client(&self, index: usize) -> &ClientData<X, Y> {
        &self[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ClassLabels, Features};

    #[test]
    fn batches_through_the_trait_equal_the_client_s_own() {
        let dev = Cpu::default();
        let c: ClientData<Features<1>, ClassLabels> = (0..11).map(|i| ([i as f32], i)).collect();
        let own: Vec<Vec<usize>> = c.batches(4, Some(3), &dev).map(|(_, y)| y).collect();
        let via: Vec<Vec<usize>> = batches(&c, 4, Some(3), &dev).map(|(_, y)| y).collect();
        assert_eq!(own, via);
        assert_eq!(via.len(), 3);
        let population = vec![c.clone(), ClientData::default()];
        assert_eq!(population.num_clients(), 2);
        assert!(ClientExamples::is_empty(&population.client(1)));
    }
}
