//! Partitioners: which examples each simulated client holds.
//!
//! Federated data sets in the wild come split by device; the embedded
//! [`datasets`](super::datasets) do not, so the split is simulated. Each partitioner
//! is a small struct of named settings ([`Iid`], [`Dirichlet`], [`Shards`]), built
//! from its [`Default`] with setters or with struct update syntax, whose `split`
//! does the work:
//!
//! ```
//! use feddx_runtime::data::{datasets, partition::Dirichlet};
//!
//! let train = datasets::digits()?;
//! let parts = Dirichlet::default().clients(10).alpha(0.5).seed(0).split(&train.labels)?;
//! assert_eq!(parts.len(), 10);
//! // The same settings by name:
//! let same = Dirichlet { clients: 10, alpha: 0.5, ..Dirichlet::default() }.split(&train.labels)?;
//! assert_eq!(same, parts);
//! # Ok::<(), feddx_runtime::FeddxError>(())
//! ```
//!
//! No setting is a bare number in a row of others, so a client count cannot be
//! mistaken for a class count: the classes come from the labels themselves, and the
//! optional [`Dirichlet::classes`] only checks them. Every partitioner
//!
//! - is seeded (a [`ChaCha8Rng`]) and deterministic for a seed;
//! - returns one vector of example indices per client, each in ascending order;
//! - uses every index `0..num_examples` exactly once;
//! - leaves no client empty (settings that would force an empty client are an error);
//! - reports a setting it cannot honour as [`FeddxError::InvalidPartition`], whose
//!   reason names the setting (`` `clients` must be at least 1, got 0 ``).
//!
//! Turn a partition into client data with [`Dataset::clients`](super::Dataset::clients).

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

use crate::{FeddxError, Result};

/// How many times [`Dirichlet::split`] draws before giving up on the minimum client
/// size.
pub const MAX_DIRICHLET_DRAWS: usize = 1000;

/// The client count of every partitioner's [`Default`].
pub const DEFAULT_CLIENTS: usize = 10;

/// IID: shuffles the examples and deals them into `clients` parts whose sizes differ
/// by at most one.
///
/// ```
/// use feddx_runtime::data::partition::Iid;
///
/// let parts = Iid::default().clients(3).seed(7).split(10)?;
/// assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 4]);
/// # Ok::<(), feddx_runtime::FeddxError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iid {
    /// Number of clients (default [`DEFAULT_CLIENTS`]); at most the number of examples.
    pub clients: usize,
    /// Seed of the shuffle (default 0).
    pub seed: u64,
}

impl Default for Iid {
    fn default() -> Self {
        Iid {
            clients: DEFAULT_CLIENTS,
            seed: 0,
        }
    }
}

impl Iid {
    /// The number of clients.
    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = clients;
        self
    }

    /// The seed of the shuffle.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Splits the examples `0..num_examples` (a data set's
    /// [`len`](super::Dataset::len)).
    ///
    /// # Errors
    /// [`FeddxError::InvalidPartition`] naming `clients` when it is 0 or above
    /// `num_examples`.
    pub fn split(&self, num_examples: usize) -> Result<Vec<Vec<usize>>> {
        check_clients(num_examples, self.clients)?;
        let mut order: Vec<usize> = (0..num_examples).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(self.seed));
        Ok(even_ranges(num_examples, self.clients)
            .map(|r| sorted(order[r].to_vec()))
            .collect())
    }
}

/// Label skew by Dirichlet proportions (Hsu, Qi and Brown 2019, "Measuring the effects
/// of non-identical data distribution for federated visual classification",
/// arXiv:1909.06335).
///
/// For each class in turn, draws the shares of the clients from a symmetric
/// Dirichlet(`alpha`) and hands that class's shuffled examples out accordingly: a
/// small `alpha` (0.1) gives each client few classes, a large one (100) is close to
/// IID. As in the common implementations (FedLab's `hetero_dir_partition`, FedML,
/// NIID-Bench), a client already holding `labels.len() / clients` examples or more
/// gets no share of later classes, and the whole draw is repeated until every client
/// holds at least `min_size` examples, and at least one (those use `min_size` 10
/// or the class count).
///
/// The classes are the labels that occur, in ascending order: a class without
/// examples draws nothing, so the class count never changes a partition and need
/// not be given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dirichlet {
    /// Number of clients (default [`DEFAULT_CLIENTS`]); at most the number of examples.
    pub clients: usize,
    /// Concentration of the Dirichlet distribution (default 0.5): positive and
    /// finite; smaller is more skewed.
    pub alpha: f64,
    /// Fewest examples a client may hold (default 10, as FedLab and Flower's
    /// `DirichletPartitioner`); at least 1 is always required.
    pub min_size: usize,
    /// Seed of the draws and shuffles (default 0).
    pub seed: u64,
    /// Number of classes, to check the labels against: unset (the default), any
    /// label is a class; set (a data set's
    /// [`num_classes`](super::Dataset::num_classes)), a label not below it is an
    /// error naming this setting.
    pub classes: Option<usize>,
}

impl Default for Dirichlet {
    fn default() -> Self {
        Dirichlet {
            clients: DEFAULT_CLIENTS,
            alpha: 0.5,
            min_size: 10,
            seed: 0,
            classes: None,
        }
    }
}

impl Dirichlet {
    /// The number of clients.
    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = clients;
        self
    }

    /// The concentration `alpha`.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// The fewest examples a client may hold.
    pub fn min_size(mut self, min_size: usize) -> Self {
        self.min_size = min_size;
        self
    }

    /// The seed of the draws and shuffles.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The number of classes the labels must be below.
    pub fn classes(mut self, classes: usize) -> Self {
        self.classes = Some(classes);
        self
    }

    /// Splits the examples whose class labels are `labels` (a data set's
    /// [`labels`](super::Dataset::labels), or its [`classes`](super::Dataset::classes)).
    ///
    /// # Errors
    /// [`FeddxError::InvalidPartition`], naming the setting: `clients` 0 or above the
    /// number of examples, `alpha` not positive and finite, `min_size` too large for
    /// the examples, a label not below `classes`, or no draw in
    /// [`MAX_DIRICHLET_DRAWS`] that gives every client `min_size` examples.
    pub fn split(&self, labels: &[usize]) -> Result<Vec<Vec<usize>>> {
        let Dirichlet {
            clients: num_clients,
            alpha,
            min_size,
            seed,
            classes,
        } = *self;
        check_clients(labels.len(), num_clients)?;
        if !(alpha.is_finite() && alpha > 0.0) {
            return invalid(format!("`alpha` must be positive and finite, got {alpha}"));
        }
        if min_size.saturating_mul(num_clients) > labels.len() {
            return invalid(format!(
                "`min_size` {min_size} for each of {num_clients} `clients` needs {} examples, \
                 but there are {}",
                min_size.saturating_mul(num_clients),
                labels.len()
            ));
        }
        if let Some(limit) = classes {
            if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= limit) {
                return invalid(format!(
                    "label {label} at row {row} is not below `classes` ({limit}); \
                     leave `classes` unset to take the classes from the labels"
                ));
            }
        }
        let classes = classes_present(labels);
        let gamma = Gamma::new(alpha, 1.0).map_err(|e| FeddxError::InvalidPartition {
            reason: format!("`alpha` {alpha}: {e}"),
        })?;
        let cap = labels.len() as f64 / num_clients as f64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        'draw: for _ in 0..MAX_DIRICHLET_DRAWS {
            let mut parts = vec![Vec::new(); num_clients];
            for class in &classes {
                let mut idx = class.to_vec();
                idx.shuffle(&mut rng);
                // Normalised Gamma(alpha) draws are Dirichlet(alpha); full clients get none.
                let shares: Vec<f64> = parts
                    .iter()
                    .map(|p: &Vec<usize>| {
                        if (p.len() as f64) < cap {
                            gamma.sample(&mut rng)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let total: f64 = shares.iter().sum();
                if total <= 0.0 || !total.is_finite() {
                    continue 'draw; // every share underflowed: possible for tiny alpha
                }
                let (n, mut start, mut cum) = (idx.len(), 0, 0.0);
                for (c, (part, share)) in parts.iter_mut().zip(&shares).enumerate() {
                    cum += share;
                    let end = if c + 1 == num_clients {
                        n
                    } else {
                        ((cum / total * n as f64) as usize).clamp(start, n)
                    };
                    part.extend_from_slice(&idx[start..end]);
                    start = end;
                }
            }
            if parts.iter().all(|p| p.len() >= min_size.max(1)) {
                return Ok(parts.into_iter().map(sorted).collect());
            }
        }
        invalid(format!(
            "no draw in {MAX_DIRICHLET_DRAWS} gave every client at least {} examples with \
             `alpha` {alpha}; raise `alpha` or lower `min_size`",
            min_size.max(1)
        ))
    }
}

/// Pathological non-IID shards (McMahan et al. 2017, "Communication-efficient learning
/// of deep networks from decentralized data"): sorts the examples by label, cuts them
/// into `clients * shards_per_client` contiguous shards whose sizes differ by at
/// most one, and gives each client `shards_per_client` shards at random.
///
/// A shard may straddle a class boundary, so a client sees at most
/// `2 * shards_per_client` labels, and at most `shards_per_client` when every class
/// size is a multiple of the shard size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shards {
    /// Number of clients (default [`DEFAULT_CLIENTS`]).
    pub clients: usize,
    /// Shards each client gets (default 2, as McMahan et al.); at least 1.
    pub shards_per_client: usize,
    /// Seed of the shards' assignment (default 0).
    pub seed: u64,
}

impl Default for Shards {
    fn default() -> Self {
        Shards {
            clients: DEFAULT_CLIENTS,
            shards_per_client: 2,
            seed: 0,
        }
    }
}

impl Shards {
    /// The number of clients.
    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = clients;
        self
    }

    /// The shards each client gets.
    pub fn shards_per_client(mut self, shards_per_client: usize) -> Self {
        self.shards_per_client = shards_per_client;
        self
    }

    /// The seed of the shards' assignment.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Splits the examples whose labels are `labels`.
    ///
    /// # Errors
    /// [`FeddxError::InvalidPartition`], naming the setting: `clients` 0 or above the
    /// number of examples, `shards_per_client` 0, or more shards than examples.
    pub fn split(&self, labels: &[usize]) -> Result<Vec<Vec<usize>>> {
        let Shards {
            clients: num_clients,
            shards_per_client,
            seed,
        } = *self;
        check_clients(labels.len(), num_clients)?;
        if shards_per_client == 0 {
            return invalid("`shards_per_client` must be at least 1, got 0".into());
        }
        let num_shards = num_clients.saturating_mul(shards_per_client);
        if num_shards > labels.len() {
            return invalid(format!(
                "cannot cut {} examples into {num_shards} non-empty shards \
                 ({num_clients} `clients` x {shards_per_client} `shards_per_client`)",
                labels.len()
            ));
        }
        let mut by_label: Vec<usize> = (0..labels.len()).collect();
        by_label.sort_by_key(|&i| labels[i]);
        let bounds: Vec<Range<usize>> = even_ranges(labels.len(), num_shards).collect();
        let mut order: Vec<usize> = (0..num_shards).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        Ok(order
            .chunks(shards_per_client)
            .map(|ids| {
                sorted(
                    ids.iter()
                        .flat_map(|&s| by_label[bounds[s].clone()].to_vec())
                        .collect(),
                )
            })
            .collect())
    }
}

/// The indices of each class, ascending; a label not below `num_classes` is an error.
pub(super) fn indices_by_class(labels: &[usize], num_classes: usize) -> Result<Vec<Vec<usize>>> {
    let mut classes = vec![Vec::new(); num_classes];
    for (row, &label) in labels.iter().enumerate() {
        classes
            .get_mut(label)
            .ok_or(FeddxError::LabelOutOfRange {
                label,
                row,
                classes: num_classes,
            })?
            .push(row);
    }
    Ok(classes)
}

/// The indices of each label that occurs, ascending, the labels in ascending order:
/// no allocation per absent class, however large a label.
fn classes_present(labels: &[usize]) -> Vec<Vec<usize>> {
    let mut by_label: Vec<usize> = (0..labels.len()).collect();
    by_label.sort_by_key(|&i| labels[i]); // stable: indices stay ascending per label
    by_label
        .chunk_by(|&a, &b| labels[a] == labels[b])
        .map(<[usize]>::to_vec)
        .collect()
}

fn check_clients(num_examples: usize, num_clients: usize) -> Result<()> {
    if num_clients == 0 {
        return invalid("`clients` must be at least 1, got 0".into());
    }
    if num_clients > num_examples {
        return invalid(format!(
            "`clients` is {num_clients}, but there are only {num_examples} examples to give \
             each client one"
        ));
    }
    Ok(())
}

fn invalid<T>(reason: String) -> Result<T> {
    Err(FeddxError::InvalidPartition { reason })
}

/// `parts` consecutive ranges covering `0..len`, sizes differing by at most one.
///
/// `i * len` is taken in `u128`, where it cannot overflow (both are below 2^64);
/// the quotient is at most `len`, so it fits back in a `usize`.
fn even_ranges(len: usize, parts: usize) -> impl Iterator<Item = Range<usize>> {
    let bound = move |i: usize| (i as u128 * len as u128 / parts as u128) as usize;
    (0..parts).map(move |i| bound(i)..bound(i + 1))
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::datasets::digits;

    fn assert_covers(parts: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
        assert!(parts.iter().all(|p| !p.is_empty()));
    }

    fn distinct_labels(part: &[usize], labels: &[usize]) -> usize {
        let mut seen: Vec<usize> = part.iter().map(|&i| labels[i]).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// Mean over clients of the share of the client's most common class.
    fn mean_max_share(parts: &[Vec<usize>], labels: &[usize], num_classes: usize) -> f64 {
        let share = |p: &Vec<usize>| {
            let mut counts = vec![0; num_classes];
            p.iter().for_each(|&i| counts[labels[i]] += 1);
            *counts.iter().max().unwrap() as f64 / p.len() as f64
        };
        parts.iter().map(share).sum::<f64>() / parts.len() as f64
    }

    fn iid(n: usize, clients: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
        Iid { clients, seed }.split(n)
    }

    /// Dirichlet settings by name (the labels are given to `split`).
    fn dirichlet(clients: usize, alpha: f64, min_size: usize) -> Dirichlet {
        Dirichlet {
            clients,
            alpha,
            min_size,
            ..Dirichlet::default()
        }
    }

    fn invalid_naming(r: Result<Vec<Vec<usize>>>, setting: &str) -> bool {
        matches!(r, Err(FeddxError::InvalidPartition { reason }) if reason.contains(&format!("`{setting}`")))
    }

    #[test]
    fn iid_deals_near_equal_parts() {
        let parts = iid(103, 10, 5).unwrap();
        assert_covers(&parts, 103);
        assert!(parts.iter().all(|p| p.len() == 10 || p.len() == 11));
        assert_eq!(iid(103, 10, 5).unwrap(), parts);
        assert_ne!(iid(103, 10, 6).unwrap(), parts);
        assert_eq!(iid(3, 3, 0).unwrap().len(), 3);
        assert_eq!(Iid::default().split(103).unwrap().len(), DEFAULT_CLIENTS);
    }

    #[test]
    fn dirichlet_skew_falls_with_alpha() {
        let labels = digits().unwrap().labels;
        let part = |alpha, seed| dirichlet(10, alpha, 10).seed(seed).split(&labels).unwrap();
        let skewed = part(0.1, 1);
        assert_covers(&skewed, labels.len());
        assert!(skewed.iter().all(|p| p.len() >= 10));
        assert_eq!(part(0.1, 1), skewed);
        assert_ne!(part(0.1, 2), skewed);
        let flat = part(100.0, 1);
        assert_covers(&flat, labels.len());
        let (s, f) = (
            mean_max_share(&skewed, &labels, 10),
            mean_max_share(&flat, &labels, 10),
        );
        assert!(
            s > 0.5 && f < 0.25 && s > 2.0 * f,
            "alpha 0.1: {s}, alpha 100: {f}"
        );
    }

    /// The mistake the positional `dirichlet(&labels, classes, clients, ...)` let
    /// through: 3 classes and 10 clients swapped built 3 clients, and the run failed
    /// rounds later. Named, the client count is the only count, and a class count
    /// given only checks the labels, failing at once with the setting's name.
    #[test]
    fn the_client_count_cannot_be_taken_for_the_class_count() {
        let labels: Vec<usize> = (0..300).map(|i| i % 3).collect();
        let parts = Dirichlet::default().clients(10).split(&labels).unwrap();
        assert_eq!(parts.len(), 10);
        assert_covers(&parts, 300);
        // Telling it the class count changes nothing: classes come from the labels.
        let checked = Dirichlet::default().clients(10).classes(3).split(&labels);
        assert_eq!(checked.unwrap(), parts);
        // Stating 10 classes (the old first number) does not change the client count.
        let ten = Dirichlet::default().clients(3).classes(10).split(&labels);
        assert_eq!(ten.unwrap().len(), 3);
        // A class count the labels exceed is an error naming `classes`, at once.
        let err = Dirichlet::default().clients(10).classes(2).split(&labels);
        assert_eq!(
            err.unwrap_err().to_string(),
            "invalid partition: label 2 at row 2 is not below `classes` (2); \
             leave `classes` unset to take the classes from the labels"
        );
        // As many clients as examples is fine; more names `clients`.
        assert!(invalid_naming(
            Dirichlet::default().clients(301).split(&labels),
            "clients"
        ));
    }

    #[test]
    fn absent_classes_draw_nothing_and_huge_labels_allocate_nothing() {
        let labels: Vec<usize> = (0..60).map(|i| [0, 5, 9][i % 3]).collect();
        let dense: Vec<usize> = labels
            .iter()
            .map(|&l| [0, 0, 0, 0, 0, 1, 0, 0, 0, 2][l])
            .collect();
        let settings = dirichlet(4, 0.5, 2).seed(3);
        assert_eq!(
            settings.split(&labels).unwrap(),
            settings.split(&dense).unwrap()
        );
        let huge: Vec<usize> = labels.iter().map(|&l| l * (usize::MAX / 9)).collect();
        assert_eq!(
            settings.split(&huge).unwrap(),
            settings.split(&dense).unwrap()
        );
        assert_eq!(settings.classes(usize::MAX).split(&huge).unwrap().len(), 4);
    }

    #[test]
    fn shards_give_few_labels_per_client() {
        let labels = digits().unwrap().labels;
        let shards = |seed| {
            Shards::default()
                .clients(10)
                .shards_per_client(2)
                .seed(seed)
                .split(&labels)
                .unwrap()
        };
        let parts = shards(3);
        assert_covers(&parts, labels.len());
        // Each of the 20 shards (~90 examples) is smaller than any class (>= 174), so it
        // spans at most two labels.
        assert!(parts.iter().all(|p| distinct_labels(p, &labels) <= 4));
        assert_eq!(shards(3), parts);
        assert_ne!(shards(4), parts);
        assert_eq!(Shards::default().seed(3).split(&labels).unwrap(), parts);
        // Classes of 20 cut into shards of 10: every shard holds one label.
        let aligned: Vec<usize> = (0..200).map(|i| (i * 7) % 10).collect();
        let parts = Shards::default().split(&aligned).unwrap();
        assert_covers(&parts, 200);
        assert!(parts.iter().all(|p| distinct_labels(p, &aligned) <= 2));
    }

    #[test]
    fn even_ranges_of_huge_lengths_do_not_overflow() {
        let ranges: Vec<Range<usize>> = even_ranges(usize::MAX, 3).collect();
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[2].end, usize::MAX);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        let sizes: Vec<usize> = ranges.iter().map(|r| r.end - r.start).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn huge_counts_are_typed_errors_not_overflows() {
        let labels = [0, 1, 0, 1];
        let shards = |clients, shards_per_client| {
            Shards {
                clients,
                shards_per_client,
                seed: 0,
            }
            .split(&labels)
        };
        assert!(invalid_naming(iid(4, usize::MAX, 0), "clients"));
        assert!(invalid_naming(
            dirichlet(usize::MAX, 1.0, 1).split(&labels),
            "clients"
        ));
        assert!(invalid_naming(
            dirichlet(2, 1.0, usize::MAX).split(&labels),
            "min_size"
        ));
        assert!(invalid_naming(shards(2, usize::MAX), "shards_per_client"));
        assert!(invalid_naming(shards(usize::MAX, 2), "clients"));
    }

    #[test]
    fn bad_settings_are_errors_naming_the_setting() {
        let labels = [0, 1, 0, 1, 2];
        let split = |clients, alpha, min_size| dirichlet(clients, alpha, min_size).split(&labels);
        assert!(invalid_naming(iid(5, 0, 0), "clients"));
        assert!(invalid_naming(iid(5, 6, 0), "clients"));
        assert!(invalid_naming(split(0, 1.0, 1), "clients"));
        assert!(invalid_naming(split(6, 1.0, 1), "clients"));
        for alpha in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(invalid_naming(split(2, alpha, 1), "alpha"));
        }
        assert!(invalid_naming(split(2, 1.0, 3), "min_size"));
        assert!(invalid_naming(
            dirichlet(2, 1.0, 1).classes(2).split(&labels),
            "classes"
        ));
        let shards = |clients, shards_per_client| {
            Shards::default()
                .clients(clients)
                .shards_per_client(shards_per_client)
                .split(&labels)
        };
        assert!(invalid_naming(shards(0, 1), "clients"));
        assert!(invalid_naming(shards(2, 0), "shards_per_client"));
        assert!(invalid_naming(shards(2, 3), "shards_per_client"));
        let err = iid(5, 0, 0).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid partition: `clients` must be at least 1, got 0"
        );
        // The default `min_size` of 10 asks 10 clients for 100 examples.
        assert_eq!(
            Dirichlet::default()
                .split(&[0; 50])
                .unwrap_err()
                .to_string(),
            "invalid partition: `min_size` 10 for each of 10 `clients` needs 100 examples, \
             but there are 50"
        );
    }
}
