//! One client's in-memory examples and their seeded batching.

use dfdx::prelude::Cpu;

use crate::module::FeatureBatch;
use crate::spec::{ClassLabels, FeatureSpec, LabelSpec};

/// The examples one client holds, for a model with features `X` and labels `Y`.
#[derive(Debug)]
pub struct ClientData<X: FeatureSpec, Y: LabelSpec> {
    examples: Vec<(X::Example, Y::Example)>,
}

impl<X: FeatureSpec, Y: LabelSpec> Clone for ClientData<X, Y> {
    fn clone(&self) -> Self {
        ClientData {
            examples: self.examples.clone(),
        }
    }
}

impl<X: FeatureSpec, Y: LabelSpec> Default for ClientData<X, Y> {
    fn default() -> Self {
        ClientData {
            examples: Vec::new(),
        }
    }
}

impl<X: FeatureSpec, Y: LabelSpec> FromIterator<(X::Example, Y::Example)> for ClientData<X, Y> {
    fn from_iter<I: IntoIterator<Item = (X::Example, Y::Example)>>(iter: I) -> Self {
        ClientData {
            examples: iter.into_iter().collect(),
        }
    }
}

impl<X: FeatureSpec, Y: LabelSpec> ClientData<X, Y> {
    /// A client holding `examples`.
    pub fn new(examples: Vec<(X::Example, Y::Example)>) -> Self {
        ClientData { examples }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether the client holds no example.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The examples, in stored order.
    pub fn examples(&self) -> &[(X::Example, Y::Example)] {
        &self.examples
    }

    /// The examples at `indices`, as one batch.
    pub fn batch_of(&self, indices: &[usize], device: &Cpu) -> (FeatureBatch<X>, Y::Batch) {
        let x = X::collate(indices.iter().map(|&i| &self.examples[i].0), device);
        let y = Y::collate(indices.iter().map(|&i| &self.examples[i].1), device);
        (x, y)
    }

    /// All examples as one batch (FedSGD, evaluation of small clients).
    pub fn full_batch(&self, device: &Cpu) -> (FeatureBatch<X>, Y::Batch) {
        let all: Vec<usize> = (0..self.len()).collect();
        self.batch_of(&all, device)
    }

    /// Batches of `batch_size` examples (the last one may be smaller, never dropped),
    /// in stored order or shuffled by a generator seeded with `shuffle_seed`.
    ///
    /// A `batch_size` of 0 is taken as the whole data set in one batch.
    pub fn batches<'a>(
        &'a self,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        device: &'a Cpu,
    ) -> impl Iterator<Item = (FeatureBatch<X>, Y::Batch)> + 'a {
        super::source::batch_indices(self.len(), batch_size, shuffle_seed)
            .into_iter()
            .map(move |idx| self.batch_of(&idx, device))
    }
}

impl<X: FeatureSpec> ClientData<X, ClassLabels> {
    /// The same examples with every class label `y` of `num_classes` replaced by
    /// `num_classes - 1 - y`: the label-flipping attack of a Byzantine client
    /// (Biggio et al. 2012; Fang et al. 2020). Labels at or above `num_classes` are
    /// left as they are (the model reports them when it trains).
    pub fn with_labels_flipped(&self, num_classes: usize) -> Self {
        self.examples
            .iter()
            .map(|(x, y)| {
                (
                    x.clone(),
                    if *y < num_classes {
                        num_classes - 1 - y
                    } else {
                        *y
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Features;

    #[test]
    fn flipped_labels_mirror_the_classes() {
        let flipped = client(4).with_labels_flipped(3);
        let labels: Vec<usize> = flipped.examples().iter().map(|e| e.1).collect();
        assert_eq!(labels, vec![2, 1, 0, 3], "3 is out of range and stays");
        assert_eq!(flipped.examples()[1].0, [1.0]);
    }

    fn client(n: usize) -> ClientData<Features<1>, ClassLabels> {
        (0..n).map(|i| ([i as f32], i)).collect()
    }

    #[test]
    fn keeps_the_final_partial_batch() {
        let dev = Cpu::default();
        let sizes: Vec<usize> = client(10)
            .batches(4, None, &dev)
            .map(|(_, y)| y.len())
            .collect();
        assert_eq!(sizes, vec![4, 4, 2]);
    }

    #[test]
    fn shuffle_is_seeded_and_a_permutation() {
        let dev = Cpu::default();
        let c = client(20);
        let order = |seed| -> Vec<usize> {
            c.batches(6, Some(seed), &dev)
                .flat_map(|(_, y)| y)
                .collect()
        };
        assert_eq!(order(7), order(7));
        assert_ne!(order(7), order(8));
        let mut sorted = order(7);
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
    }
}
