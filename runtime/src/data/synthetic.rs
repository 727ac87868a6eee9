//! Synthetic(alpha, beta): the federated benchmark of FedProx and LEAF, generated per
//! client from a seed.
//!
//! Li et al., "Federated Optimization in Heterogeneous Networks" (MLSys 2020), §5.1,
//! after Shamir et al. 2014; LEAF's `data/synthetic` generator. Client `k` has a
//! softmax-regression model `W_k` (60x10) and `b_k` with entries drawn from
//! `N(u_k, 1)`, `u_k ~ N(0, alpha)`, and features `x ~ N(v_k, Σ)` with `Σ` diagonal,
//! `Σ_jj = j^-1.2`, `v_k ~ N(B_k, 1)` entry by entry, `B_k ~ N(0, beta)`; its labels are
//! `argmax(softmax(W_k x + b_k))`. `alpha` sets how much the clients' models differ,
//! `beta` how much their features do. As LEAF's code does, `alpha` and `beta` are the
//! standard deviations of `u_k` and `B_k`, `u_k` is the mean of `b_k` too, and client
//! sizes are `floor(lognormal(4, 2)) + 50`.
//!
//! Everything of client `k` is a pure function of `(seed, k)`: a population of any size
//! costs nothing until a client is asked for, client `k` is the same whatever the
//! population size, and the population can be materialised in memory
//! ([`Synthetic::store`]) or to a file once ([`Synthetic::write_store`]).

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, StandardNormal};
use rayon::prelude::*;

use super::source::ClientSource;
use super::store_file::{StoreError, StoreWriter};
use super::{ClientData, ClientStore, DataError};
use crate::spec::{ClassLabels, Features};

/// Features per example of Synthetic(alpha, beta).
pub const SYNTHETIC_FEATURES: usize = 60;
/// Classes of Synthetic(alpha, beta).
pub const SYNTHETIC_CLASSES: usize = 10;

/// One Synthetic example's features.
pub type SyntheticFeatures = [f32; SYNTHETIC_FEATURES];
/// One client of Synthetic(alpha, beta), as owned data.
pub type SyntheticClient = ClientData<Features<SYNTHETIC_FEATURES>, ClassLabels>;

/// How many examples each client of a [`Synthetic`] population holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClientSizes {
    /// Every client holds this many examples.
    Fixed(usize),
    /// `floor(exp(N(mu, sigma))) + min`, drawn per client: LEAF's and FedProx's
    /// `lognormal(4, 2).astype(int) + 50` is `mu = 4`, `sigma = 2`, `min = 50`.
    LogNormal {
        /// Mean of the logarithm.
        mu: f64,
        /// Standard deviation of the logarithm (finite, `>= 0`).
        sigma: f64,
        /// Examples added to every draw.
        min: usize,
    },
}

impl ClientSizes {
    /// LEAF's and FedProx's sizes: `floor(lognormal(4, 2)) + 50`.
    pub const LEAF: ClientSizes = ClientSizes::LogNormal {
        mu: 4.0,
        sigma: 2.0,
        min: 50,
    };
}

/// Salts that keep the size stream and the data stream of a client apart.
const SIZE_SALT: u64 = 0x5153_495a_4553_0001;

/// The Synthetic(alpha, beta) population of a seed: the federated benchmark of Li et
/// al., "Federated Optimization in Heterogeneous Networks" (MLSys 2020, §5.1) and LEAF.
///
/// Client `k` has a softmax-regression model `W_k` (60x10) and `b_k` with entries
/// drawn from `N(u_k, 1)`, `u_k ~ N(0, alpha)`, and features `x ~ N(v_k, Σ)` with `Σ`
/// diagonal, `Σ_jj = j^-1.2`, `v_k ~ N(B_k, 1)` entry by entry, `B_k ~ N(0, beta)`;
/// its labels are `argmax(softmax(W_k x + b_k))`. As LEAF's code does, `alpha` and
/// `beta` are standard deviations, `u_k` is the mean of `b_k` too, and client sizes
/// are `floor(lognormal(4, 2)) + 50` unless [`with_sizes`](Self::with_sizes) says
/// otherwise. Client `k` is a pure function of `(seed, k)`, the same in a population
/// of any size.
///
/// ```
/// use feddx_runtime::data::{ClientSource, Synthetic};
///
/// let synthetic = Synthetic::new(1.0, 1.0, 7)?;
/// let client = synthetic.client(123_456);
/// assert_eq!(client.len(), synthetic.client_size(123_456));
/// assert!(client.examples().iter().all(|(_, y)| *y < 10));
///
/// // A million clients, none generated until sampled.
/// let population = synthetic.population(1_000_000);
/// assert_eq!(population.num_clients(), 1_000_000);
/// # Ok::<(), feddx_runtime::data::DataError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synthetic {
    alpha: f64,
    beta: f64,
    seed: u64,
    sizes: ClientSizes,
}

impl Synthetic {
    /// Synthetic(`alpha`, `beta`) with LEAF's client sizes ([`ClientSizes::LEAF`]),
    /// drawn from `seed`.
    ///
    /// # Errors
    /// [`DataError::InvalidSynthetic`] for an `alpha` or `beta` that is negative or
    /// not finite.
    pub fn new(alpha: f64, beta: f64, seed: u64) -> Result<Self, DataError> {
        for (name, value) in [("alpha", alpha), ("beta", beta)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(DataError::InvalidSynthetic {
                    reason: format!("{name} must be finite and >= 0, got {value}"),
                });
            }
        }
        Ok(Synthetic {
            alpha,
            beta,
            seed,
            sizes: ClientSizes::LEAF,
        })
    }

    /// The same population with client sizes `sizes`.
    ///
    /// # Errors
    /// [`DataError::InvalidSynthetic`] for a log-normal `sigma` that is negative or
    /// not finite, or a `mu` that is not finite.
    pub fn with_sizes(mut self, sizes: ClientSizes) -> Result<Self, DataError> {
        if let ClientSizes::LogNormal { mu, sigma, .. } = sizes {
            if !(mu.is_finite() && sigma.is_finite() && sigma >= 0.0) {
                return Err(DataError::InvalidSynthetic {
                    reason: format!(
                        "client sizes need a finite mu and sigma >= 0, got mu {mu}, sigma {sigma}"
                    ),
                });
            }
        }
        self.sizes = sizes;
        Ok(self)
    }

    /// `alpha`: the spread of the clients' models.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// `beta`: the spread of the clients' feature means.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How client sizes are drawn.
    pub fn sizes(&self) -> ClientSizes {
        self.sizes
    }

    /// Number of examples of client `k`, without generating them.
    pub fn client_size(&self, k: usize) -> usize {
        match self.sizes {
            ClientSizes::Fixed(n) => n,
            ClientSizes::LogNormal { mu, sigma, min } => {
                let mut rng = stream(self.seed ^ SIZE_SALT, k);
                // Checked in `with_sizes`; a degenerate sigma of 0 is the constant e^mu.
                let draw = LogNormal::new(mu, sigma).map_or(mu.exp(), |d| d.sample(&mut rng));
                (draw.floor() as usize).saturating_add(min)
            }
        }
    }

    /// Client `k`'s examples.
    pub fn client(&self, k: usize) -> SyntheticClient {
        let n = self.client_size(k);
        let mut features = vec![[0.0; SYNTHETIC_FEATURES]; n];
        let mut labels = vec![0; n];
        self.fill_client(k, &mut features, &mut labels);
        features.into_iter().zip(labels).collect()
    }

    /// Writes client `k`'s examples into `features` and `labels`, both of length
    /// [`client_size`](Self::client_size)`(k)`.
    ///
    /// # Panics
    /// If a length differs from the client's size.
    pub fn fill_client(&self, k: usize, features: &mut [SyntheticFeatures], labels: &mut [usize]) {
        let n = self.client_size(k);
        assert!(
            features.len() == n && labels.len() == n,
            "client {k} has {n} examples, got room for {} features and {} labels",
            features.len(),
            labels.len()
        );
        let mut rng = stream(self.seed, k);
        let normal = |rng: &mut ChaCha8Rng| -> f64 { rng.sample(StandardNormal) };
        let u = self.alpha * normal(&mut rng);
        let big_b = self.beta * normal(&mut rng);
        // W is 60x10, row-major as LEAF's `W[j][c]`; b has 10 entries.
        let mut w = [[0f64; SYNTHETIC_CLASSES]; SYNTHETIC_FEATURES];
        for row in &mut w {
            for v in row.iter_mut() {
                *v = u + normal(&mut rng);
            }
        }
        let b: [f64; SYNTHETIC_CLASSES] = std::array::from_fn(|_| u + normal(&mut rng));
        let v: [f64; SYNTHETIC_FEATURES] = std::array::from_fn(|_| big_b + normal(&mut rng));
        for (x, y) in features.iter_mut().zip(labels.iter_mut()) {
            for (j, xj) in x.iter_mut().enumerate() {
                *xj = (v[j] + feature_std(j) * normal(&mut rng)) as f32;
            }
            let mut logits = b;
            for (xj, row) in x.iter().zip(&w) {
                for (l, wjc) in logits.iter_mut().zip(row) {
                    *l += f64::from(*xj) * wjc;
                }
            }
            *y = argmax(&logits);
        }
    }

    /// The first `clients` clients as a [`ClientSource`] that generates each client
    /// when a round asks for it: no memory until sampled, and the cost of generating
    /// it on every visit.
    pub fn population(&self, clients: usize) -> SyntheticPopulation {
        SyntheticPopulation {
            synthetic: *self,
            clients,
        }
    }

    /// The first `clients` clients materialised in one in-memory [`ClientStore`]
    /// (generated in parallel, each column allocated once at its final size).
    pub fn store(&self, clients: usize) -> ClientStore<SYNTHETIC_FEATURES> {
        let offsets = self.offsets(clients);
        let total = offsets.last().copied().unwrap_or(0) as usize;
        let mut features = vec![[0.0; SYNTHETIC_FEATURES]; total];
        let mut labels = vec![0usize; total];
        // Chunks of clients, each a contiguous range of both columns.
        const CHUNK: usize = 1024;
        let mut work = Vec::with_capacity(clients.div_ceil(CHUNK));
        let (mut f_rest, mut l_rest) = (features.as_mut_slice(), labels.as_mut_slice());
        for first in (0..clients).step_by(CHUNK) {
            let end = (first + CHUNK).min(clients);
            let len = (offsets[end] - offsets[first]) as usize;
            let (f, f_tail) = std::mem::take(&mut f_rest).split_at_mut(len);
            let (l, l_tail) = std::mem::take(&mut l_rest).split_at_mut(len);
            (f_rest, l_rest) = (f_tail, l_tail);
            work.push((first..end, f, l));
        }
        work.into_par_iter().for_each(|(range, f, l)| {
            let base = offsets[range.start];
            for k in range {
                let (a, b) = (
                    (offsets[k] - base) as usize,
                    (offsets[k + 1] - base) as usize,
                );
                self.fill_client(k, &mut f[a..b], &mut l[a..b]);
            }
        });
        ClientStore::from_columns_unchecked(features, labels, offsets, SYNTHETIC_CLASSES)
    }

    /// Writes the first `clients` clients to a store file at `path` (see
    /// [`ClientStore::write`] for the format), a few thousand clients at a time
    /// (generated in parallel): the population never needs to fit in memory.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be written.
    pub fn write_store(&self, clients: usize, path: &Path) -> Result<(), StoreError> {
        let offsets = self.offsets(clients);
        let mut writer =
            StoreWriter::<SYNTHETIC_FEATURES, usize>::create(path, &offsets, SYNTHETIC_CLASSES)?;
        // Chunks of clients generated in parallel, written in order.
        const CHUNK: usize = 4096;
        for first in (0..clients).step_by(CHUNK) {
            let chunk: Vec<SyntheticClient> = (first..(first + CHUNK).min(clients))
                .into_par_iter()
                .map(|k| self.client(k))
                .collect();
            for client in &chunk {
                let (features, labels): (Vec<SyntheticFeatures>, Vec<usize>) =
                    client.examples().iter().copied().unzip();
                writer.features(&features)?;
                writer.labels(&labels)?;
            }
        }
        writer.finish()
    }

    /// The offsets of the first `clients` clients in a columnar store.
    fn offsets(&self, clients: usize) -> Vec<u64> {
        let mut offsets = Vec::with_capacity(clients + 1);
        offsets.push(0u64);
        let mut total = 0u64;
        for k in 0..clients {
            total = total.saturating_add(self.client_size(k) as u64);
            offsets.push(total);
        }
        offsets
    }
}

/// The standard deviation of feature `j` (0-based): `sqrt((j + 1)^-1.2)`.
fn feature_std(j: usize) -> f64 {
    ((j + 1) as f64).powf(-0.6)
}

/// The index of the largest logit (the first of equal ones): softmax is monotone.
fn argmax(logits: &[f64]) -> usize {
    let mut best = 0;
    for (c, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = c;
        }
    }
    best
}

/// The generator of client `k`: ChaCha8 seeded with `seed`, on stream `k`.
fn stream(seed: u64, k: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k as u64);
    rng
}

/// The first clients of a [`Synthetic`] population, each generated when asked for
/// (see [`Synthetic::population`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticPopulation {
    synthetic: Synthetic,
    clients: usize,
}

impl ClientSource<Features<SYNTHETIC_FEATURES>, ClassLabels> for SyntheticPopulation {
    type Client<'a> = SyntheticClient;

    fn num_clients(&self) -> usize {
        self.clients
    }

    fn client(&self, index: usize) -> SyntheticClient {
        assert!(
            index < self.clients,
            "client {index} of a population of {}",
            self.clients
        );
        self.synthetic.client(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(c: &SyntheticClient) -> Vec<u32> {
        c.examples()
            .iter()
            .flat_map(|(x, y)| x.iter().map(|v| v.to_bits()).chain([*y as u32]))
            .collect()
    }

    #[test]
    fn a_client_is_a_function_of_the_seed_and_its_index() {
        let s = Synthetic::new(1.0, 1.0, 3).unwrap();
        assert_eq!(bytes(&s.client(5)), bytes(&s.client(5)));
        assert_ne!(bytes(&s.client(5)), bytes(&s.client(6)));
        let other = Synthetic::new(1.0, 1.0, 4).unwrap();
        assert_ne!(bytes(&s.client(5)), bytes(&other.client(5)));
        // Client 5 is the same in a population of 10 and of a million.
        let small = s.population(10);
        let large = s.population(1_000_000);
        assert_eq!(bytes(&small.client(5)), bytes(&large.client(5)));
        let store = s.store(10);
        assert_eq!(
            store.client(5).features(),
            &s.client(5)
                .examples()
                .iter()
                .map(|e| e.0)
                .collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn sizes_follow_leaf_s_lognormal() {
        let s = Synthetic::new(1.0, 1.0, 0).unwrap();
        let sizes: Vec<usize> = (0..2000).map(|k| s.client_size(k)).collect();
        assert!(sizes.iter().all(|&n| n >= 50));
        // The median of floor(e^N(4, 2)) + 50 is floor(e^4) + 50 = 104.
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        let median = sorted[1000];
        assert!((90..=120).contains(&median), "median {median}");
        assert!(sorted[1999] > 2000, "a heavy tail: {}", sorted[1999]);
        assert_eq!(s.client(17).len(), sizes[17]);
        let fixed = s.with_sizes(ClientSizes::Fixed(10)).unwrap();
        assert_eq!(fixed.client(17).len(), 10);
    }

    #[test]
    fn features_have_the_paper_s_covariance() {
        // With alpha = beta = 0 every client's feature j is N(v_kj, j^-1.2), v_kj ~ N(0, 1):
        // within a client, the spread of feature 59 is 60^-0.6 of feature 0's.
        let s = Synthetic::new(0.0, 0.0, 1)
            .unwrap()
            .with_sizes(ClientSizes::Fixed(4000))
            .unwrap();
        let c = s.client(0);
        let var = |j: usize| {
            let xs: Vec<f64> = c.examples().iter().map(|e| f64::from(e.0[j])).collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64
        };
        assert!((var(0) - 1.0).abs() < 0.1, "{}", var(0));
        let expected = 60f64.powf(-1.2);
        assert!(
            (var(59) / expected - 1.0).abs() < 0.1,
            "{} vs {expected}",
            var(59)
        );
    }

    #[test]
    fn each_client_s_labels_are_skewed() {
        // Each client has its own model and feature mean, so a client's labels crowd
        // into few classes while the population covers all ten.
        let s = Synthetic::new(1.0, 1.0, 2)
            .unwrap()
            .with_sizes(ClientSizes::Fixed(200))
            .unwrap();
        let mut pooled = [0usize; SYNTHETIC_CLASSES];
        let mut top_share = 0.0;
        for k in 0..100 {
            let mut counts = [0usize; SYNTHETIC_CLASSES];
            for (_, y) in s.client(k).examples() {
                counts[*y] += 1;
                pooled[*y] += 1;
            }
            top_share += *counts.iter().max().unwrap() as f64 / 200.0 / 100.0;
        }
        let pooled_top = *pooled.iter().max().unwrap() as f64 / 20_000.0;
        assert!(pooled.iter().all(|&c| c > 0), "{pooled:?}");
        assert!(top_share > 0.5, "a client's top class: {top_share}");
        assert!(
            pooled_top < 0.35,
            "the population's top class: {pooled_top}"
        );
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(matches!(
            Synthetic::new(-1.0, 0.0, 0),
            Err(DataError::InvalidSynthetic { .. })
        ));
        assert!(matches!(
            Synthetic::new(0.0, f64::NAN, 0),
            Err(DataError::InvalidSynthetic { .. })
        ));
        let bad = ClientSizes::LogNormal {
            mu: 4.0,
            sigma: -2.0,
            min: 0,
        };
        assert!(Synthetic::new(0.0, 0.0, 0)
            .unwrap()
            .with_sizes(bad)
            .is_err());
    }
}
