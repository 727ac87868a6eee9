//! A population's examples in one columnar store: every feature row in one column,
//! every label in another, and each client a range of rows. No allocation per client;
//! a client is a borrowed [`ClientView`]. The columns live in memory or in a file
//! mapped into memory (see [`store_file`](super::store_file) for the file, and
//! [`StoreAccess`](super::StoreAccess) for how it is opened).

use std::ops::Range;
use std::path::Path;

use dfdx::prelude::Cpu;

use super::mmap::Mapped;
use super::store_file::{self, StoreError, StoredLabel};
use super::{ClientData, ClientExamples, ClientSource, StoreAccess};
use crate::module::FeatureBatch;
use crate::spec::{FeatureSpec, Features, LabelSpec};

/// The examples of a population of clients, as columns shared by all clients: `N`
/// features per example, labels `L` (`usize` classes or `[f32; K]` targets), and
/// offsets `o` such that client `k` holds rows `o[k]..o[k + 1]`.
///
/// Build one from columns ([`from_columns`](Self::from_columns)), from owned clients
/// ([`from_clients`](Self::from_clients)), from a data set and a partition
/// ([`Dataset::client_store`](super::Dataset::client_store)) or from
/// [`Synthetic::store`](super::Synthetic::store); save it once with
/// [`write`](Self::write) and [`open`](Self::open) it later, memory-mapped or read.
/// It is a [`ClientSource`]: pass it to
/// [`Simulation::run`](crate::federated::Simulation::run) as a `Vec` of
/// [`ClientData`], with the same results bit for bit.
///
/// ```
/// use feddx_runtime::data::{ClientSource, ClientStore};
///
/// let features = vec![[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]];
/// let store = ClientStore::<2>::from_columns(features, vec![0, 1, 1], vec![0, 1, 3], 2)?;
/// assert_eq!(store.num_clients(), 2);
/// assert_eq!(store.client(1).labels(), &[1, 1]);
/// # Ok::<(), feddx_runtime::data::StoreError>(())
/// ```
#[derive(Debug)]
pub struct ClientStore<const N: usize, L: StoredLabel = usize> {
    columns: Columns<N, L>,
    num_classes: usize,
}

/// Where the columns are.
#[derive(Debug)]
enum Columns<const N: usize, L> {
    /// Owned vectors.
    Memory {
        features: Vec<[f32; N]>,
        labels: Vec<L>,
        offsets: Vec<u64>,
    },
    /// Byte ranges of a mapped file, checked for length and alignment when opened.
    Mapped {
        map: Mapped,
        offsets: Range<usize>,
        features: Range<usize>,
        labels: Range<usize>,
    },
}

impl<const N: usize, L: StoredLabel> ClientStore<N, L> {
    /// A store of `features` and `labels` (one per row), client `k` holding rows
    /// `offsets[k]..offsets[k + 1]`, for `num_classes` classes (0 for targets).
    ///
    /// # Errors
    /// [`StoreError::Columns`] when the columns differ in length, the offsets do
    /// not start at 0, decrease or do not end at the row count, or a label is out
    /// of range or not finite.
    pub fn from_columns(
        features: Vec<[f32; N]>,
        labels: Vec<L>,
        offsets: Vec<u64>,
        num_classes: usize,
    ) -> Result<Self, StoreError> {
        if features.len() != labels.len() {
            return Err(StoreError::Columns {
                reason: format!(
                    "{} feature rows but {} labels",
                    features.len(),
                    labels.len()
                ),
            });
        }
        store_file::check_offsets(&offsets, labels.len() as u64)?;
        if let Some((row, problem)) = labels
            .iter()
            .enumerate()
            .find_map(|(row, l)| l.invalid(num_classes).map(|p| (row, p)))
        {
            return Err(StoreError::Columns {
                reason: format!("label of row {row} is invalid: {problem:?}"),
            });
        }
        Ok(Self::from_columns_unchecked(
            features,
            labels,
            offsets,
            num_classes,
        ))
    }

    /// A store of columns the caller built consistent.
    pub(crate) fn from_columns_unchecked(
        features: Vec<[f32; N]>,
        labels: Vec<L>,
        offsets: Vec<u64>,
        num_classes: usize,
    ) -> Self {
        ClientStore {
            columns: Columns::Memory {
                features,
                labels,
                offsets,
            },
            num_classes,
        }
    }

    /// The examples of `clients`, in order, copied into one store.
    ///
    /// # Errors
    /// As [`from_columns`](Self::from_columns), for a label out of range.
    pub fn from_clients(
        clients: &[ClientData<Features<N>, L::Spec>],
        num_classes: usize,
    ) -> Result<Self, StoreError> {
        let total = clients.iter().map(ClientData::len).sum();
        let mut features = Vec::with_capacity(total);
        let mut labels = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(clients.len() + 1);
        offsets.push(0);
        for c in clients {
            for (x, y) in c.examples() {
                features.push(*x);
                labels.push(*y);
            }
            offsets.push(labels.len() as u64);
        }
        Self::from_columns(features, labels, offsets, num_classes)
    }

    /// Opens a store file written by [`write`](Self::write) (or
    /// [`Synthetic::write_store`](super::Synthetic::write_store)), mapped into
    /// memory or read into it as `access` says; a map that fails falls back to
    /// reading.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be read; [`StoreError::NotAStore`],
    /// [`StoreError::Version`], [`StoreError::Shape`] or [`StoreError::Corrupt`]
    /// when it is not a store of `N` features and labels `L` of this version.
    pub fn open(path: &Path, access: StoreAccess) -> Result<Self, StoreError> {
        let header = store_file::read_header::<N, L>(path)?;
        if let Some(map) = access.map(path)? {
            let layout = header.layout.clone();
            store_file::check_len(path, map.len() as u64, layout.total)?;
            let (offsets, features, labels) = (
                layout.offsets.clone(),
                layout.features.clone(),
                layout.labels.clone(),
            );
            if store_file::aligned::<N, L>(&map, &layout) {
                let store = ClientStore {
                    columns: Columns::Mapped {
                        map,
                        offsets,
                        features,
                        labels,
                    },
                    num_classes: header.num_classes,
                };
                store_file::check_offsets(store.offsets(), header.examples)?;
                return Ok(store);
            }
        }
        let (features, labels, offsets) = store_file::read_columns::<N, L>(path, &header)?;
        Ok(Self::from_columns_unchecked(
            features,
            labels,
            offsets,
            header.num_classes,
        ))
    }

    /// Writes the store to `path` in the [store file format](super::store_file),
    /// through a temporary file renamed into place when complete.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), StoreError> {
        let mut writer =
            store_file::StoreWriter::<N, L>::create(path, self.offsets(), self.num_classes)?;
        writer.features(self.features())?;
        writer.labels(self.labels())?;
        writer.finish()
    }

    /// Number of clients.
    pub fn num_clients(&self) -> usize {
        self.offsets().len().saturating_sub(1)
    }

    /// Number of examples of all clients.
    pub fn len(&self) -> usize {
        self.labels().len()
    }

    /// Whether the store holds no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of classes of class labels; 0 for regression targets.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Whether the columns are a mapped file rather than memory of this process.
    pub fn is_mapped(&self) -> bool {
        matches!(self.columns, Columns::Mapped { .. })
    }

    /// For a mapped store, drops the file pages this process has mapped; the next
    /// reads map them again from the operating system's page cache (or the disk). A
    /// page maps a whole block of clients around the one read (the kernel maps large
    /// page-cache folios at once, 200 KB a client of Synthetic's 2.5 KB on Linux
    /// 6.18), so a long run that calls this between rounds (in
    /// [`Simulation::run`](crate::federated::Simulation::run)'s `on_round`) keeps its
    /// resident set at what one round reads. An in-memory store is left as it is.
    pub fn release_pages(&self) {
        if let Columns::Mapped { map, .. } = &self.columns {
            map.release();
        }
    }

    /// Bytes of the features and labels columns (the offsets not counted).
    pub fn data_bytes(&self) -> u64 {
        (self.len() * (std::mem::size_of::<[f32; N]>() + std::mem::size_of::<L>())) as u64
    }

    /// Every example's features, client after client.
    pub fn features(&self) -> &[[f32; N]] {
        match &self.columns {
            Columns::Memory { features, .. } => features,
            Columns::Mapped { map, features, .. } => bytemuck::cast_slice(&map[features.clone()]),
        }
    }

    /// Every example's label, client after client.
    pub fn labels(&self) -> &[L] {
        match &self.columns {
            Columns::Memory { labels, .. } => labels,
            Columns::Mapped { map, labels, .. } => bytemuck::cast_slice(&map[labels.clone()]),
        }
    }

    /// The client offsets: client `k` holds rows `offsets[k]..offsets[k + 1]`.
    pub fn offsets(&self) -> &[u64] {
        match &self.columns {
            Columns::Memory { offsets, .. } => offsets,
            Columns::Mapped { map, offsets, .. } => bytemuck::cast_slice(&map[offsets.clone()]),
        }
    }

    /// Client `k`'s examples, borrowed.
    ///
    /// # Panics
    /// If `k` is not below [`num_clients`](Self::num_clients).
    pub fn client(&self, k: usize) -> ClientView<'_, N, L> {
        let offsets = self.offsets();
        let rows = offsets[k] as usize..offsets[k + 1] as usize;
        ClientView {
            features: &self.features()[rows.clone()],
            labels: &self.labels()[rows],
        }
    }
}

/// One client of a [`ClientStore`]: its rows of the shared columns, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct ClientView<'a, const N: usize, L> {
    features: &'a [[f32; N]],
    labels: &'a [L],
}

impl<'a, const N: usize, L: StoredLabel> ClientView<'a, N, L> {
    /// The client's features, one row per example.
    pub fn features(&self) -> &'a [[f32; N]] {
        self.features
    }

    /// The client's labels.
    pub fn labels(&self) -> &'a [L] {
        self.labels
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the client holds no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples copied into an owned [`ClientData`].
    pub fn to_client_data(&self) -> ClientData<Features<N>, L::Spec> {
        self.features
            .iter()
            .copied()
            .zip(self.labels.iter().copied())
            .collect()
    }
}

impl<const N: usize, L: StoredLabel> ClientExamples<Features<N>, L::Spec> for ClientView<'_, N, L> {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn batch_of(
        &self,
        indices: &[usize],
        device: &Cpu,
    ) -> (FeatureBatch<Features<N>>, <L::Spec as LabelSpec>::Batch) {
        let x = Features::<N>::collate(indices.iter().map(|&i| &self.features[i]), device);
        let y = <L::Spec as LabelSpec>::collate(indices.iter().map(|&i| &self.labels[i]), device);
        (x, y)
    }
}

impl<const N: usize, L: StoredLabel> ClientSource<Features<N>, L::Spec> for ClientStore<N, L> {
    type Client<'a> = ClientView<'a, N, L>;

    fn num_clients(&self) -> usize {
        ClientStore::num_clients(self)
    }

    fn client(&self, index: usize) -> ClientView<'_, N, L> {
        ClientStore::client(self, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> ClientStore<2> {
        let features = (0..7).map(|i| [i as f32, -(i as f32)]).collect();
        ClientStore::from_columns(features, vec![0, 1, 2, 0, 1, 2, 0], vec![0, 3, 3, 7], 3).unwrap()
    }

    #[test]
    fn clients_are_ranges_of_the_columns() {
        let s = store();
        assert_eq!(s.num_clients(), 3);
        assert_eq!(s.len(), 7);
        assert_eq!(s.client(0).labels(), &[0, 1, 2]);
        assert!(s.client(1).is_empty());
        assert_eq!(s.client(2).features()[0], [3.0, -3.0]);
        assert_eq!(s.data_bytes(), 7 * (8 + 8));
        let owned = s.client(2).to_client_data();
        assert_eq!(owned.examples()[3], ([6.0, -6.0], 0));
    }

    #[test]
    fn a_view_batches_as_its_owned_copy() {
        let s = store();
        let dev = Cpu::default();
        let view = s.client(2);
        let (xv, yv) = view.batch_of(&[3, 1], &dev);
        let (xo, yo) = view.to_client_data().batch_of(&[3, 1], &dev);
        assert_eq!(xv.as_vec(), xo.as_vec());
        assert_eq!(yv, yo);
        assert_eq!(yv, vec![0, 1]);
    }

    #[test]
    fn inconsistent_columns_are_errors() {
        let f = vec![[0.0, 0.0]; 3];
        let bad = |labels: Vec<usize>, offsets: Vec<u64>| {
            ClientStore::<2>::from_columns(f.clone(), labels, offsets, 2)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad(vec![0, 1], vec![0, 3]),
            "inconsistent store columns: 3 feature rows but 2 labels"
        );
        assert!(bad(vec![0, 1, 1], vec![0, 2, 1, 3]).contains("offset 2 is 1, below offset 1 (2)"));
        assert!(
            bad(vec![0, 1, 1], vec![0, 2]).contains("the last offset is 2, not the row count 3")
        );
        assert!(bad(vec![0, 1, 1], vec![1, 3]).contains("the first offset is 1, not 0"));
        assert!(bad(vec![0, 5, 1], vec![0, 3]).contains("label of row 1"));
    }

    #[test]
    fn from_clients_keeps_their_order() {
        let a: ClientData<Features<1>, crate::spec::ClassLabels> =
            [([1.0], 0), ([2.0], 1)].into_iter().collect();
        let b: ClientData<Features<1>, crate::spec::ClassLabels> =
            [([3.0], 1)].into_iter().collect();
        let s = ClientStore::<1>::from_clients(&[a, b], 2).unwrap();
        assert_eq!(s.offsets(), &[0, 2, 3]);
        assert_eq!(s.client(1).features(), &[[3.0]]);
    }
}
