//! A data set in memory: `N` features and one label per example, for classification
//! (`usize` classes) or regression (`[f32; K]` targets).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::label::{Label, LabelProblem};
use super::partition::indices_by_class;
use super::{ClientData, ClientStore, DataError, StoreError, StoredLabel};
use crate::spec::{Features, Images, Targets};
use crate::{FeddxError, Result};

/// A data set in memory: `N` features and one label per example.
///
/// `L` is `usize` (the default) for classification, with classes `0..num_classes`,
/// or `[f32; K]` for regression with `K` targets. Build one from your rows with the
/// checked constructors [`classification`](Dataset::classification) and
/// [`regression`](Dataset::regression), or from a CSV file with
/// [`read_csv`](super::read_csv). Split it with
/// [`train_test_split`](Self::train_test_split), standardise it with
/// [`feature_stats`](Self::feature_stats) and
/// [`standardize_with`](Self::standardize_with), spread it over clients with a
/// [`partition`](super::partition) and [`clients`](Self::clients).
///
/// ```
/// use feddx_runtime::data::Dataset;
///
/// let rows = vec![vec![0.5, 1.0], vec![1.5, -1.0], vec![2.0, 0.0]];
/// let data = Dataset::<2>::classification(&rows, vec![0, 1, 1], 2)?;
/// assert_eq!(data.class_counts(), [1, 2]);
///
/// let targets = Dataset::<2, [f32; 1]>::regression(&rows, vec![[1.0], [2.0], [3.0]])?;
/// assert_eq!(targets.len(), 3);
///
/// let ragged = Dataset::<2>::classification(&[vec![1.0, 2.0], vec![3.0]], vec![0, 1], 2);
/// assert_eq!(ragged.unwrap_err().to_string(), "row 1 has 1 features, expected 2");
/// # Ok::<(), feddx_runtime::FeddxError>(())
/// ```
///
/// The fields are public; a data set built by hand should keep one label per row
/// of features and, for classes, every label below `num_classes` (the constructors
/// check both, and the methods that need them return errors otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset<const N: usize, L: Label = usize> {
    /// The features of each example.
    pub features: Vec<[f32; N]>,
    /// The label of each example.
    pub labels: Vec<L>,
    /// Number of classes of class labels; 0 for regression targets.
    pub num_classes: usize,
}

impl<const N: usize> Dataset<N, usize> {
    /// A classification data set: one row of `N` features and one class in
    /// `0..num_classes` per example.
    ///
    /// # Errors
    /// [`DataError::RaggedRow`], [`DataError::NonFiniteFeature`],
    /// [`DataError::LengthMismatch`] or [`DataError::LabelOutOfRange`], with the row.
    pub fn classification<R: AsRef<[f32]>>(
        rows: &[R],
        labels: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self> {
        Self::checked(rows, labels, num_classes)
    }

    /// Number of examples of each class, indexed by class. A label not below
    /// `num_classes` (possible only in a data set built by hand) is counted as a
    /// class of its own, so the result is longer than `num_classes`.
    pub fn class_counts(&self) -> Vec<usize> {
        let classes = self.labels.iter().map(|&l| l + 1).max().unwrap_or(0);
        let mut counts = vec![0; self.num_classes.max(classes)];
        for &label in &self.labels {
            counts[label] += 1;
        }
        counts
    }

    /// All examples as one client's data with the label as a single target
    /// `[label as f32]`: the 0/1 target of a binary output when there are two classes.
    pub fn to_binary_client_data(&self) -> ClientData<Features<N>, Targets<1>> {
        let targets = self.labels.iter().map(|&l| [l as f32]);
        self.features.iter().copied().zip(targets).collect()
    }

    /// Like [`clients`](Self::clients), with the label as a single target `[label as f32]`.
    ///
    /// # Panics
    /// If an index is not below [`len`](Self::len).
    pub fn binary_clients(&self, parts: &[Vec<usize>]) -> Vec<ClientData<Features<N>, Targets<1>>> {
        let example = |&i: &usize| (self.features[i], [self.labels[i] as f32]);
        parts
            .iter()
            .map(|p| p.iter().map(example).collect())
            .collect()
    }
}

impl<const N: usize, const K: usize> Dataset<N, [f32; K]> {
    /// A regression data set: one row of `N` features and `K` finite targets per
    /// example.
    ///
    /// # Errors
    /// [`DataError::RaggedRow`], [`DataError::NonFiniteFeature`],
    /// [`DataError::LengthMismatch`] or [`DataError::NonFiniteTarget`], with the row.
    pub fn regression<R: AsRef<[f32]>>(rows: &[R], targets: Vec<[f32; K]>) -> Result<Self> {
        Self::checked(rows, targets, 0)
    }
}

impl<const N: usize, L: Label> Dataset<N, L> {
    /// Checks rows and labels and builds the data set.
    pub(super) fn checked<R: AsRef<[f32]>>(
        rows: &[R],
        labels: Vec<L>,
        num_classes: usize,
    ) -> Result<Self> {
        if rows.len() != labels.len() {
            return Err(DataError::LengthMismatch {
                features: rows.len(),
                labels: labels.len(),
            }
            .into());
        }
        let mut features = Vec::with_capacity(rows.len());
        for (row, values) in rows.iter().enumerate() {
            features.push(checked_row(row, values.as_ref())?);
        }
        for (row, label) in labels.iter().enumerate() {
            check_label(row, label, num_classes)?;
        }
        Ok(Dataset {
            features,
            labels,
            num_classes,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the data set has no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is not below [`len`](Self::len).
    pub fn subset(&self, indices: &[usize]) -> Self {
        Dataset {
            features: indices.iter().map(|&i| self.features[i]).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_classes: self.num_classes,
        }
    }

    /// Mean and standard deviation (population, as scikit-learn's `StandardScaler`)
    /// of each feature over this data set's examples.
    ///
    /// A constant feature gets a standard deviation of 1, so that standardising only
    /// centres it. Compute these on a training split and apply them to both splits
    /// with [`standardize_with`](Self::standardize_with) to keep test data unseen.
    pub fn feature_stats(&self) -> ([f32; N], [f32; N]) {
        let n = self.features.len().max(1) as f64;
        let mut mean = [0f64; N];
        for row in &self.features {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x) / n;
            }
        }
        let mut var = [0f64; N];
        for row in &self.features {
            for ((v, &m), &x) in var.iter_mut().zip(&mean).zip(row) {
                *v += (f64::from(x) - m).powi(2) / n;
            }
        }
        let std = var.map(|v| if v > 0.0 { v.sqrt() as f32 } else { 1.0 });
        (mean.map(|m| m as f32), std)
    }

    /// Replaces every feature `x` by `(x - mean) / std`, column by column.
    pub fn standardize_with(&mut self, mean: &[f32; N], std: &[f32; N]) {
        standardize_rows(&mut self.features, mean, std);
    }

    /// Splits into `(train, test)`: `test_fraction` of the examples (rounded) go to
    /// the test set, picked at random by a generator seeded with `seed`. Class labels
    /// are split class by class (stratified); regression targets as one group. Both
    /// sets keep the examples in their original order.
    ///
    /// # Errors
    /// `test_fraction` outside `0..=1` ([`FeddxError::InvalidPartition`]), a class
    /// not below `num_classes` ([`FeddxError::LabelOutOfRange`]).
    pub fn train_test_split(&self, test_fraction: f64, seed: u64) -> Result<(Self, Self)> {
        if !(0.0..=1.0).contains(&test_fraction) {
            return Err(FeddxError::InvalidPartition {
                reason: format!("test_fraction must be in 0..=1, got {test_fraction}"),
            });
        }
        let strata = match self.classes() {
            Some(classes) => indices_by_class(&classes, self.num_classes)?,
            None => vec![(0..self.len()).collect()],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for mut stratum in strata {
            stratum.shuffle(&mut rng);
            let k = (stratum.len() as f64 * test_fraction).round() as usize;
            test.extend_from_slice(&stratum[..k]);
            train.extend_from_slice(&stratum[k..]);
        }
        train.sort_unstable();
        test.sort_unstable();
        Ok((self.subset(&train), self.subset(&test)))
    }

    /// The class of every example, or `None` for regression targets: what
    /// [`partition::Dirichlet::split`](super::partition::Dirichlet::split) and
    /// [`partition::Shards::split`](super::partition::Shards::split) take.
    pub fn classes(&self) -> Option<Vec<usize>> {
        self.labels.iter().map(Label::class).collect()
    }

    /// All examples as one client's data.
    pub fn to_client_data(&self) -> ClientData<Features<N>, L::Spec> {
        self.features
            .iter()
            .copied()
            .zip(self.labels.iter().copied())
            .collect()
    }

    /// One client per part of a partition (see [`partition`](super::partition)).
    ///
    /// # Panics
    /// If an index is not below [`len`](Self::len).
    pub fn clients(&self, parts: &[Vec<usize>]) -> Vec<ClientData<Features<N>, L::Spec>> {
        let example = |&i: &usize| (self.features[i], self.labels[i]);
        parts
            .iter()
            .map(|p| p.iter().map(example).collect())
            .collect()
    }
}

impl<const N: usize, L: StoredLabel> Dataset<N, L> {
    /// One client per part of a partition, as ranges of one shared [`ClientStore`]:
    /// the store-backed counterpart of [`clients`](Self::clients), with one
    /// allocation per column instead of one per client, and the same training
    /// results bit for bit.
    ///
    /// # Errors
    /// [`StoreError::Columns`] if an index is not below [`len`](Self::len) or a
    /// label does not fit `num_classes`.
    pub fn client_store(&self, parts: &[Vec<usize>]) -> Result<ClientStore<N, L>, StoreError> {
        let total = parts.iter().map(Vec::len).sum();
        let mut features = Vec::with_capacity(total);
        let mut labels = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(parts.len() + 1);
        offsets.push(0);
        for part in parts {
            for &i in part {
                if i >= self.len() {
                    return Err(StoreError::Columns {
                        reason: format!("index {i} is not below the {} examples", self.len()),
                    });
                }
                features.push(self.features[i]);
                labels.push(self.labels[i]);
            }
            offsets.push(labels.len() as u64);
        }
        ClientStore::from_columns(features, labels, offsets, self.num_classes)
    }
}

impl<const N: usize, L: Label> Dataset<N, L> {
    /// All examples as one client's data of `C`x`H`x`W` images (see [`as_image`]),
    /// for a model whose input spec is [`Images<C, H, W>`](Images).
    ///
    /// `C * H * W` must be `N`: another size does not compile.
    pub fn to_image_client_data<const C: usize, const H: usize, const W: usize>(
        &self,
    ) -> ClientData<Images<C, H, W>, L::Spec> {
        self.features
            .iter()
            .map(as_image)
            .zip(self.labels.iter().copied())
            .collect()
    }

    /// Like [`clients`](Self::clients), with each row as a `C`x`H`x`W` image (see
    /// [`as_image`]).
    ///
    /// `C * H * W` must be `N`: another size does not compile.
    ///
    /// # Panics
    /// If an index is not below [`len`](Self::len).
    pub fn image_clients<const C: usize, const H: usize, const W: usize>(
        &self,
        parts: &[Vec<usize>],
    ) -> Vec<ClientData<Images<C, H, W>, L::Spec>> {
        let example = |&i: &usize| (as_image(&self.features[i]), self.labels[i]);
        parts
            .iter()
            .map(|p| p.iter().map(example).collect())
            .collect()
    }
}

/// A row of `N = C * H * W` features as an image of `C` channels of `H` rows of `W`
/// values, read in that order (channel, then row, then column): the 64 pixels of a
/// UCI digit as `[[[f32; 8]; 8]; 1]`.
///
/// `C * H * W` must be `N`: another size does not compile (a constant evaluation
/// error when the function is instantiated).
///
/// ```
/// use feddx_runtime::data::as_image;
///
/// let row: [f32; 6] = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0];
/// let image: [[[f32; 3]; 2]; 1] = as_image(&row);
/// assert_eq!(image, [[[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]]]);
/// ```
pub fn as_image<const C: usize, const H: usize, const W: usize, const N: usize>(
    row: &[f32; N],
) -> [[[f32; W]; H]; C] {
    const {
        assert!(
            C * H * W == N,
            "as_image: the image's C * H * W differs from the row's length N"
        )
    };
    std::array::from_fn(|c| {
        std::array::from_fn(|h| std::array::from_fn(|w| row[(c * H + h) * W + w]))
    })
}

/// Replaces every feature `x` of `rows` by `(x - mean) / std`, column by column: the
/// rows to predict, standardised with a training set's
/// [`feature_stats`](Dataset::feature_stats).
pub fn standardize_rows<const N: usize>(rows: &mut [[f32; N]], mean: &[f32; N], std: &[f32; N]) {
    for row in rows {
        for ((x, m), s) in row.iter_mut().zip(mean).zip(std) {
            *x = (*x - m) / s;
        }
    }
}

/// Row `row` as `N` finite features.
pub(super) fn checked_row<const N: usize>(
    row: usize,
    values: &[f32],
) -> Result<[f32; N], DataError> {
    let features: [f32; N] = values.try_into().map_err(|_| DataError::RaggedRow {
        row,
        len: values.len(),
        expected: N,
    })?;
    if let Some((column, &value)) = features.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(DataError::NonFiniteFeature { row, column, value });
    }
    Ok(features)
}

/// Checks the label of row `row`.
pub(super) fn check_label<L: Label>(
    row: usize,
    label: &L,
    num_classes: usize,
) -> Result<(), DataError> {
    match label.invalid(num_classes) {
        None => Ok(()),
        Some(LabelProblem::ClassOutOfRange(label)) => Err(DataError::LabelOutOfRange {
            row,
            label,
            classes: num_classes,
        }),
        Some(LabelProblem::NonFiniteTarget(value)) => {
            Err(DataError::NonFiniteTarget { row, value })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_error<T: std::fmt::Debug>(r: Result<T>) -> DataError {
        match r {
            Err(FeddxError::InvalidData(e)) => e,
            other => panic!("expected a data error, got {other:?}"),
        }
    }

    #[test]
    fn constructors_reject_what_does_not_fit() {
        let rows = [vec![1.0, 2.0], vec![3.0, 4.0]];
        assert_eq!(
            data_error(Dataset::<2>::classification(
                &[vec![1.0, 2.0], vec![3.0]],
                vec![0, 1],
                2
            )),
            DataError::RaggedRow {
                row: 1,
                len: 1,
                expected: 2
            }
        );
        let nan = data_error(Dataset::<2>::classification(&[[1.0, f32::NAN]], vec![0], 2));
        assert!(
            matches!(nan, DataError::NonFiniteFeature { row: 0, column: 1, value } if value.is_nan()),
            "{nan:?}"
        );
        assert_eq!(
            data_error(Dataset::<2>::classification(&rows, vec![0, 2], 2)),
            DataError::LabelOutOfRange {
                row: 1,
                label: 2,
                classes: 2
            }
        );
        assert_eq!(
            data_error(Dataset::<2>::classification(&rows, vec![0], 2)),
            DataError::LengthMismatch {
                features: 2,
                labels: 1
            }
        );
        assert_eq!(
            data_error(Dataset::<2, [f32; 1]>::regression(
                &rows,
                vec![[1.0], [f32::INFINITY]]
            )),
            DataError::NonFiniteTarget {
                row: 1,
                value: f32::INFINITY
            }
        );
    }

    #[test]
    fn regression_sets_split_standardise_and_make_clients() {
        let rows: Vec<[f32; 1]> = (0..10).map(|i| [i as f32]).collect();
        let targets: Vec<[f32; 1]> = (0..10).map(|i| [2.0 * i as f32]).collect();
        let data = Dataset::<1, [f32; 1]>::regression(&rows, targets).unwrap();
        assert_eq!(data.classes(), None);
        let (mut train, mut test) = data.train_test_split(0.3, 1).unwrap();
        assert_eq!((train.len(), test.len()), (7, 3));
        let (mean, std) = train.feature_stats();
        train.standardize_with(&mean, &std);
        test.standardize_with(&mean, &std);
        let clients = train.clients(&[vec![0, 1], vec![2, 3, 4, 5, 6]]);
        assert_eq!(clients[1].len(), 5);
        // Labels travel with their rows.
        for (x, y) in train.features.iter().zip(&train.labels) {
            assert!((x[0] * std[0] + mean[0] - y[0] / 2.0).abs() < 1e-5);
        }
    }

    #[test]
    fn rows_become_images_with_their_labels() {
        let rows: Vec<[f32; 8]> = (0..3)
            .map(|i| std::array::from_fn(|j| (10 * i + j) as f32))
            .collect();
        let data = Dataset::<8>::classification(&rows, vec![0, 1, 1], 2).unwrap();
        let all = data.to_image_client_data::<2, 2, 2>();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all.examples()[1],
            (
                [[[10.0, 11.0], [12.0, 13.0]], [[14.0, 15.0], [16.0, 17.0]]],
                1
            )
        );
        let clients = data.image_clients::<1, 2, 4>(&[vec![2], vec![0, 1]]);
        assert_eq!(
            clients[0].examples(),
            [([[[20.0, 21.0, 22.0, 23.0], [24.0, 25.0, 26.0, 27.0]]], 1)]
        );
        assert_eq!(clients[1].len(), 2);
    }

    #[test]
    fn class_counts_of_a_hand_built_set_do_not_panic() {
        let data = Dataset::<1> {
            features: vec![[0.0]; 3],
            labels: vec![0, 4, 4],
            num_classes: 2,
        };
        assert_eq!(data.class_counts(), [1, 0, 0, 0, 2]);
        assert!(matches!(
            data.train_test_split(0.5, 0),
            Err(FeddxError::LabelOutOfRange {
                label: 4,
                row: 1,
                classes: 2
            })
        ));
    }

    #[test]
    fn a_client_store_holds_the_clients_of_a_partition() {
        let rows: Vec<[f32; 1]> = (0..5).map(|i| [i as f32]).collect();
        let data = Dataset::<1>::classification(&rows, vec![0, 1, 0, 1, 1], 2).unwrap();
        let parts = vec![vec![4, 0], vec![], vec![2]];
        let store = data.client_store(&parts).unwrap();
        let owned = data.clients(&parts);
        for (k, client) in owned.iter().enumerate() {
            assert_eq!(
                store.client(k).to_client_data().examples(),
                client.examples()
            );
        }
        assert_eq!(store.client(0).labels(), &[1, 0]);
        assert!(data.client_store(&[vec![5]]).is_err());
    }
}
