//! Partitioners: which examples each simulated client holds.
//!
//! Federated data sets in the wild come split by device; the embedded
//! [`datasets`](super::datasets) do not, so the split is simulated. Every partitioner
//!
//! - is seeded (a [`ChaCha8Rng`]) and deterministic for a seed;
//! - returns one vector of example indices per client, each in ascending order;
//! - uses every index `0..num_examples` exactly once;
//! - leaves no client empty (arguments that would force an empty client are an error);
//! - reports bad arguments as [`FeddxError::InvalidPartition`] and labels not below
//!   `num_classes` as [`FeddxError::LabelOutOfRange`].
//!
//! Turn a partition into client data with [`Dataset::clients`](super::Dataset::clients).

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

use crate::{FeddxError, Result};

/// How many times [`dirichlet`] draws before giving up on the minimum client size.
pub const MAX_DIRICHLET_DRAWS: usize = 1000;

/// IID: shuffles `0..num_examples` and deals it into `num_clients` parts whose sizes
/// differ by at most one.
pub fn iid(num_examples: usize, num_clients: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    check_clients(num_examples, num_clients)?;
    let mut order: Vec<usize> = (0..num_examples).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    Ok(even_ranges(num_examples, num_clients)
        .map(|r| sorted(order[r].to_vec()))
        .collect())
}

/// Label skew by Dirichlet proportions (Hsu, Qi and Brown 2019, "Measuring the effects
/// of non-identical data distribution for federated visual classification",
/// arXiv:1909.06335).
///
/// For each class in turn, draws the shares of the clients from a symmetric
/// Dirichlet(`alpha`) and hands that class's shuffled examples out accordingly: a
/// small `alpha` (0.1) gives each client few classes, a large one (100) is close to
/// IID. As in the common implementations (FedLab's `hetero_dir_partition`, FedML,
/// NIID-Bench), a client already holding `labels.len() / num_clients` examples or more
/// gets no share of later classes, and the whole draw is repeated until every client
/// holds at least `min_size` examples, and at least one (those use `min_size` 10
/// or `num_classes`).
/// Gives up with [`FeddxError::InvalidPartition`] after [`MAX_DIRICHLET_DRAWS`] draws.
pub fn dirichlet(
    labels: &[usize],
    num_classes: usize,
    num_clients: usize,
    alpha: f64,
    min_size: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    check_clients(labels.len(), num_clients)?;
    if !(alpha.is_finite() && alpha > 0.0) {
        return invalid(format!("alpha must be positive and finite, got {alpha}"));
    }
    if min_size.saturating_mul(num_clients) > labels.len() {
        return invalid(format!(
            "cannot give {num_clients} clients {min_size} examples each: only {} examples",
            labels.len()
        ));
    }
    let classes = indices_by_class(labels, num_classes)?;
    let gamma = Gamma::new(alpha, 1.0).map_err(|e| FeddxError::InvalidPartition {
        reason: format!("alpha {alpha}: {e}"),
    })?;
    let cap = labels.len() as f64 / num_clients as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    'draw: for _ in 0..MAX_DIRICHLET_DRAWS {
        let mut parts = vec![Vec::new(); num_clients];
        for class in &classes {
            let mut idx = class.clone();
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
         alpha {alpha}; raise alpha or lower min_size",
        min_size.max(1)
    ))
}

/// Pathological non-IID shards (McMahan et al. 2017, "Communication-efficient learning
/// of deep networks from decentralized data"): sorts the examples by label, cuts them
/// into `num_clients * shards_per_client` contiguous shards whose sizes differ by at
/// most one, and gives each client `shards_per_client` shards at random.
///
/// A shard may straddle a class boundary, so a client sees at most
/// `2 * shards_per_client` labels, and at most `shards_per_client` when every class
/// size is a multiple of the shard size.
pub fn shards(
    labels: &[usize],
    num_clients: usize,
    shards_per_client: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    check_clients(labels.len(), num_clients)?;
    if shards_per_client == 0 {
        return invalid("shards_per_client must be at least 1, got 0".into());
    }
    let num_shards = num_clients.saturating_mul(shards_per_client);
    if num_shards > labels.len() {
        return invalid(format!(
            "cannot cut {} examples into {num_shards} non-empty shards \
             ({num_clients} clients x {shards_per_client})",
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

fn check_clients(num_examples: usize, num_clients: usize) -> Result<()> {
    if num_clients == 0 {
        return invalid("num_clients must be at least 1, got 0".into());
    }
    if num_clients > num_examples {
        return invalid(format!(
            "cannot give {num_clients} clients an example each: only {num_examples} examples"
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

    #[test]
    fn iid_deals_near_equal_parts() {
        let parts = iid(103, 10, 5).unwrap();
        assert_covers(&parts, 103);
        assert!(parts.iter().all(|p| p.len() == 10 || p.len() == 11));
        assert_eq!(iid(103, 10, 5).unwrap(), parts);
        assert_ne!(iid(103, 10, 6).unwrap(), parts);
        assert_eq!(iid(3, 3, 0).unwrap().len(), 3);
    }

    #[test]
    fn dirichlet_skew_falls_with_alpha() {
        let labels = digits().unwrap().labels;
        let part = |alpha, seed| dirichlet(&labels, 10, 10, alpha, 10, seed).unwrap();
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

    #[test]
    fn shards_give_few_labels_per_client() {
        let labels = digits().unwrap().labels;
        let parts = shards(&labels, 10, 2, 3).unwrap();
        assert_covers(&parts, labels.len());
        // Each of the 20 shards (~90 examples) is smaller than any class (>= 174), so it
        // spans at most two labels.
        assert!(parts.iter().all(|p| distinct_labels(p, &labels) <= 4));
        assert_eq!(shards(&labels, 10, 2, 3).unwrap(), parts);
        assert_ne!(shards(&labels, 10, 2, 4).unwrap(), parts);
        // Classes of 20 cut into shards of 10: every shard holds one label.
        let aligned: Vec<usize> = (0..200).map(|i| (i * 7) % 10).collect();
        let parts = shards(&aligned, 10, 2, 0).unwrap();
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
        let invalid =
            |r: Result<Vec<Vec<usize>>>| matches!(r, Err(FeddxError::InvalidPartition { .. }));
        assert!(invalid(iid(4, usize::MAX, 0)));
        assert!(invalid(dirichlet(&labels, 2, usize::MAX, 1.0, 1, 0)));
        assert!(invalid(dirichlet(&labels, 2, 2, 1.0, usize::MAX, 0)));
        assert!(invalid(shards(&labels, 2, usize::MAX, 0)));
        assert!(invalid(shards(&labels, usize::MAX, 2, 0)));
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let labels = [0, 1, 0, 1, 2];
        let invalid = |r: Result<Vec<Vec<usize>>>| matches!(r, Err(FeddxError::InvalidPartition { reason }) if !reason.is_empty());
        assert!(invalid(iid(5, 0, 0)));
        assert!(invalid(iid(5, 6, 0)));
        assert!(invalid(dirichlet(&labels, 3, 0, 1.0, 1, 0)));
        assert!(invalid(dirichlet(&labels, 3, 6, 1.0, 1, 0)));
        for alpha in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(invalid(dirichlet(&labels, 3, 2, alpha, 1, 0)));
        }
        assert!(invalid(dirichlet(&labels, 3, 2, 1.0, 3, 0)));
        assert_eq!(
            dirichlet(&labels, 2, 2, 1.0, 1, 0),
            Err(FeddxError::LabelOutOfRange {
                label: 2,
                row: 4,
                classes: 2
            })
        );
        assert!(invalid(shards(&labels, 0, 1, 0)));
        assert!(invalid(shards(&labels, 2, 0, 0)));
        assert!(invalid(shards(&labels, 2, 3, 0)));
        let err = iid(5, 0, 0).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid partition: num_clients must be at least 1, got 0"
        );
    }
}
