//! FedBuff's settings, declared next to the engine that reads them and checked once.

use super::staleness::Staleness;
use super::FedBuffError;
use crate::federated::config::positive;

/// The validated settings of FedBuff's asynchronous part; made by
/// [`FedBuffConfig::builder`]. The clients' training, the run's length (server
/// steps), seed and evaluation come from the [`FedConfig`](crate::federated::FedConfig)
/// beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct FedBuffConfig {
    concurrency: usize,
    buffer: usize,
    staleness: Staleness,
    server_learning_rate: f32,
    max_staleness: Option<u64>,
}

impl FedBuffConfig {
    /// A builder with the defaults listed on [`FedBuffConfigBuilder`].
    pub fn builder() -> FedBuffConfigBuilder {
        FedBuffConfigBuilder::default()
    }

    /// Clients training at once: when one replies, another starts.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Replies per server step: the paper's `K`.
    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// How a reply's staleness weighs it down.
    pub fn staleness(&self) -> Staleness {
        self.staleness
    }

    /// The server's SGD learning rate `η_g`: a step is `w ← w + η_g Δ`.
    pub fn server_learning_rate(&self) -> f32 {
        self.server_learning_rate
    }

    /// Replies staler than this many server steps are dropped on arrival (`None`:
    /// every reply is kept).
    pub fn max_staleness(&self) -> Option<u64> {
        self.max_staleness
    }
}

/// Builds a [`FedBuffConfig`], checking every setting in [`build`](Self::build).
///
/// Defaults: 100 clients in flight, a server step every 10 replies (the paper's
/// 1000 and 10, scaled down for simulations of thousands of clients), FedBuff's
/// staleness weight `1 / sqrt(1 + s)`, server learning rate 1, no staleness limit.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct FedBuffConfigBuilder {
    config: FedBuffConfig,
}

impl Default for FedBuffConfigBuilder {
    fn default() -> Self {
        FedBuffConfigBuilder {
            config: FedBuffConfig {
                concurrency: 100,
                buffer: 10,
                staleness: Staleness::FEDBUFF,
                server_learning_rate: 1.0,
                max_staleness: None,
            },
        }
    }
}

impl FedBuffConfigBuilder {
    /// Clients training at once, at least 1.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.config.concurrency = concurrency;
        self
    }

    /// Replies per server step (`K`), at least 1.
    pub fn buffer(mut self, buffer: usize) -> Self {
        self.config.buffer = buffer;
        self
    }

    /// The staleness weighting.
    pub fn staleness(mut self, staleness: Staleness) -> Self {
        self.config.staleness = staleness;
        self
    }

    /// The server's learning rate, finite and positive.
    pub fn server_learning_rate(mut self, learning_rate: f32) -> Self {
        self.config.server_learning_rate = learning_rate;
        self
    }

    /// Drops replies staler than `steps` server steps.
    pub fn max_staleness(mut self, steps: u64) -> Self {
        self.config.max_staleness = Some(steps);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`FedBuffError::ZeroConcurrency`], [`FedBuffError::ZeroBuffer`],
    /// [`FedBuffError::StalenessExponent`] or [`FedBuffError::ServerLearningRate`],
    /// checked in that order.
    pub fn build(self) -> Result<FedBuffConfig, FedBuffError> {
        let c = self.config;
        if c.concurrency == 0 {
            return Err(FedBuffError::ZeroConcurrency);
        }
        if c.buffer == 0 {
            return Err(FedBuffError::ZeroBuffer);
        }
        c.staleness.validate()?;
        if !positive(c.server_learning_rate) {
            return Err(FedBuffError::ServerLearningRate {
                value: c.server_learning_rate,
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_settings_round_trip() {
        let c = FedBuffConfig::builder().build().unwrap();
        assert_eq!(
            (c.concurrency(), c.buffer(), c.server_learning_rate()),
            (100, 10, 1.0)
        );
        assert_eq!(c.staleness(), Staleness::FEDBUFF);
        assert_eq!(c.max_staleness(), None);
        let c = FedBuffConfig::builder()
            .concurrency(7)
            .buffer(3)
            .staleness(Staleness::Constant)
            .server_learning_rate(0.5)
            .max_staleness(4)
            .build()
            .unwrap();
        assert_eq!((c.concurrency(), c.buffer()), (7, 3));
        assert_eq!(c.staleness(), Staleness::Constant);
        assert_eq!(c.server_learning_rate(), 0.5);
        assert_eq!(c.max_staleness(), Some(4));
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        let b = FedBuffConfig::builder;
        assert_eq!(
            b().concurrency(0).build(),
            Err(FedBuffError::ZeroConcurrency)
        );
        assert_eq!(b().buffer(0).build(), Err(FedBuffError::ZeroBuffer));
        assert_eq!(
            b().server_learning_rate(-1.0).build(),
            Err(FedBuffError::ServerLearningRate { value: -1.0 })
        );
        assert!(matches!(
            b().server_learning_rate(f32::NAN).build(),
            Err(FedBuffError::ServerLearningRate { .. })
        ));
        assert_eq!(
            b().staleness(Staleness::Polynomial { exponent: -1.0 })
                .build(),
            Err(FedBuffError::StalenessExponent { exponent: -1.0 })
        );
        assert_eq!(
            b().buffer(0).build().unwrap_err().to_string(),
            "FedBuff's `buffer` (replies per server step) must be at least 1, got 0"
        );
    }
}
