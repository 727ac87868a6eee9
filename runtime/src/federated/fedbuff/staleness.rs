//! How much a stale reply counts: a function of its staleness `s`, the server steps
//! taken between the model version a client started from and the one its reply
//! reaches.
//!
//! FedBuff (Nguyen et al., "Federated Learning with Buffered Asynchronous
//! Aggregation", AISTATS 2022, Algorithm 1) scales each client's delta by
//! `1 / sqrt(1 + s)`; the constant weight is plain buffered averaging, and the
//! polynomial family `(1 + s)^-a` holds both (Xie et al., "Asynchronous Federated
//! Optimization", 2019, use it with other exponents).

use super::FedBuffError;

/// The staleness weighting of FedBuff's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Staleness {
    /// Every reply counts fully, however stale: weight 1.
    Constant,
    /// `(1 + s)^-exponent`; an exponent of 0.5 is FedBuff's `1 / sqrt(1 + s)`
    /// ([`Staleness::FEDBUFF`]), 0 is [`Constant`](Self::Constant).
    Polynomial {
        /// The exponent `a >= 0`; the larger, the less stale replies count.
        exponent: f64,
    },
}

impl Staleness {
    /// FedBuff's choice, `1 / sqrt(1 + s)`.
    pub const FEDBUFF: Staleness = Staleness::Polynomial { exponent: 0.5 };

    /// The weight of a reply of staleness `staleness`, in `(0, 1]`.
    ///
    /// ```
    /// use feddx_runtime::federated::fedbuff::Staleness;
    ///
    /// assert_eq!(Staleness::FEDBUFF.weight(0), 1.0);
    /// assert_eq!(Staleness::FEDBUFF.weight(3), 0.5);
    /// assert_eq!(Staleness::Constant.weight(3), 1.0);
    /// ```
    pub fn weight(self, staleness: u64) -> f64 {
        match self {
            Staleness::Constant => 1.0,
            Staleness::Polynomial { exponent: 0.5 } => 1.0 / (1.0 + staleness as f64).sqrt(),
            Staleness::Polynomial { exponent } => (1.0 + staleness as f64).powf(-exponent),
        }
    }

    /// Checks the exponent.
    ///
    /// # Errors
    /// [`FedBuffError::StalenessExponent`] for a negative or non-finite exponent.
    pub fn validate(self) -> Result<(), FedBuffError> {
        match self {
            Staleness::Polynomial { exponent } if !(exponent.is_finite() && exponent >= 0.0) => {
                Err(FedBuffError::StalenessExponent { exponent })
            }
            _ => Ok(()),
        }
    }
}

impl Default for Staleness {
    /// FedBuff's `1 / sqrt(1 + s)`.
    fn default() -> Self {
        Staleness::FEDBUFF
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_worked_by_hand() {
        let fedbuff = Staleness::FEDBUFF;
        assert_eq!(fedbuff.weight(0), 1.0);
        assert_eq!(fedbuff.weight(3), 0.5);
        assert_eq!(fedbuff.weight(8), 1.0 / 3.0);
        let inverse = Staleness::Polynomial { exponent: 1.0 };
        assert_eq!(inverse.weight(1), 0.5);
        assert_eq!(inverse.weight(4), 0.2);
        assert_eq!(Staleness::Polynomial { exponent: 0.0 }.weight(9), 1.0);
        assert_eq!(Staleness::Constant.weight(1_000), 1.0);
        // Weights fall with staleness.
        assert!((0..20).all(|s| fedbuff.weight(s + 1) < fedbuff.weight(s)));
    }

    #[test]
    fn a_negative_or_non_finite_exponent_is_refused() {
        for exponent in [-0.5, f64::NAN, f64::INFINITY] {
            let err = Staleness::Polynomial { exponent }.validate().unwrap_err();
            assert!(
                matches!(err, FedBuffError::StalenessExponent { exponent: e } if e.to_bits() == exponent.to_bits()),
                "{err}"
            );
        }
        assert_eq!(Staleness::FEDBUFF.validate(), Ok(()));
        assert_eq!(Staleness::Constant.validate(), Ok(()));
    }
}
