//! What a DP run's epsilon is about: the neighbours it protects, the sensitivity it
//! assumed, the noise it composed and where that noise came from.

use std::fmt;

use super::noise_source::NoiseSource;
use super::sampling::ClientsPerRound;
use crate::privacy::{Neighbours, RdpAccountant, Sampling};
use crate::Result;

/// The privacy a DP-FedAvg run has spent after some rounds, and what the figure means.
///
/// The guarantee is *client-level*: neighbouring runs differ in one client's whole
/// data. It is *central*: the server sees each clipped update before the noise, so it
/// must be trusted; epsilon covers what the server releases, the global models of
/// every round. Each round is the Gaussian mechanism on the sum of updates clipped to
/// `C`, with noise of standard deviation `z C`, on the round's sample:
///
/// - Poisson sampling ([`ClientsPerRound::Poisson`]) is accounted with add-or-remove-one
///   neighbours, where the sum's sensitivity is `C`: the mechanism's noise multiplier
///   is `z`;
/// - a fixed count or fraction is accounted with replace-one neighbours, where the
///   sum's sensitivity is `2C`: the mechanism's noise multiplier is `z / 2`.
///
/// The two relations protect different things, so their epsilons are not comparable
/// figures: replace-one hides which of two clients took part, add-or-remove-one
/// whether a client took part at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacySpent {
    /// Epsilon of the whole run so far, at [`delta`](Self::delta); infinite for a
    /// noise multiplier of 0.
    pub epsilon: f64,
    /// The delta epsilon is given at (the config's
    /// [`privacy_delta`](super::FedConfig::privacy_delta)).
    pub delta: f64,
    /// The RDP order at which epsilon is reached.
    pub order: f64,
    /// Rounds composed.
    pub rounds: usize,
    /// The neighbouring relation the run is accounted under.
    pub neighbours: Neighbours,
    /// The L2 sensitivity of a round's sum of clipped updates, in units of the
    /// clipping norm: 1 or 2 ([`Neighbours::sum_sensitivity`]).
    pub sensitivity: f64,
    /// `z`: the noise's standard deviation over the clipping norm, as configured.
    pub noise_multiplier: f64,
    /// The noise multiplier of the mechanism, `z / sensitivity`: the figure composed.
    pub mechanism_noise_multiplier: f64,
    /// Where the noise and the client sample came from; the guarantee holds only for
    /// [`NoiseSource::Os`].
    pub noise_source: NoiseSource,
}

impl PrivacySpent {
    /// The privacy of `rounds` rounds of DP-FedAvg with noise multiplier `z` over a
    /// population of `population` clients sampled as `per_round` says, at `delta`.
    ///
    /// # Errors
    /// The sampling's errors ([`ClientsPerRound::resolve`]), and
    /// [`PrivacyError`](crate::privacy::PrivacyError)s for a noise multiplier or delta
    /// out of range.
    pub fn after(
        rounds: usize,
        per_round: ClientsPerRound,
        population: usize,
        noise_multiplier: f64,
        delta: f64,
        noise_source: NoiseSource,
    ) -> Result<Self> {
        let sampling = match per_round {
            ClientsPerRound::Poisson(probability) => Sampling::Poisson { probability },
            _ => Sampling::FixedSize {
                sampled: per_round.resolve(population)?,
                population,
            },
        };
        let mechanism = sampling.mechanism_noise_multiplier(noise_multiplier);
        let mut accountant = RdpAccountant::new();
        accountant.compose(sampling, mechanism, rounds)?;
        let spent = accountant.epsilon(delta)?;
        let neighbours = sampling.neighbours();
        Ok(PrivacySpent {
            epsilon: spent.epsilon,
            delta,
            order: spent.order,
            rounds,
            neighbours,
            sensitivity: neighbours.sum_sensitivity(),
            noise_multiplier,
            mechanism_noise_multiplier: mechanism,
            noise_source,
        })
    }

    /// Whether the noise and sample were secret, so that epsilon holds.
    pub fn is_private(&self) -> bool {
        self.noise_source.is_private()
    }
}

impl fmt::Display for PrivacySpent {
    /// `epsilon 138.9 at delta 1e-5 after 50 rounds (client-level, replace-one
    /// neighbours, sensitivity 2C, noise multiplier 1 = 0.5 per sensitivity)`, and a
    /// warning when the noise is not private.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "epsilon {:.4} at delta {:e} after {} rounds (client-level, {} neighbours, \
             sensitivity {}C, noise {} C = {} x sensitivity)",
            self.epsilon,
            self.delta,
            self.rounds,
            self.neighbours,
            self.sensitivity,
            self.noise_multiplier,
            self.mechanism_noise_multiplier,
        )?;
        if !self.is_private() {
            f.write_str("; NOT PRIVATE: the noise and sample derive from the run seed")?;
        }
        Ok(())
    }
}
