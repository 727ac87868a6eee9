//! Byzantine-robust aggregation: kernels that stay close to the honest clients'
//! updates when some clients send arbitrary ones.
//!
//! Each kernel is a pure function over the clients' update vectors, one module each:
//!
//! - [`median`]: the coordinate-wise median (Yin et al. 2018; Flower's `FedMedian`);
//! - [`trimmed_mean`]: the coordinate-wise trimmed mean (Yin et al. 2018; Flower's
//!   `FedTrimmedAvg`);
//! - [`krum`]: pairwise squared distances, Krum scores and Multi-Krum's selection
//!   (Blanchard et al. 2017);
//! - [`bulyan`]: Krum's selection followed by a trimmed mean around the median
//!   (El Mhamdi et al. 2018).
//!
//! Like [`weighted_mean_into`](super::weighted_mean_into), every kernel runs in
//! parallel with rayon over fixed blocks, and each output value is computed in an
//! order that does not depend on the thread count: the result is the same bits on
//! one thread or many. Updates are assumed finite (non-finite ones are dropped
//! before aggregation); a NaN or an infinity gives a meaningless result but never a
//! panic, as values are ordered with `total_cmp`.

pub mod bulyan;
mod coordinates;
pub mod krum;
pub mod median;
pub mod trimmed_mean;

pub use bulyan::bulyan_into;
pub use krum::{krum_scores, multi_krum_select, pairwise_squared_distances};
pub use median::coordinate_median_into;
pub use trimmed_mean::trimmed_mean_into;
