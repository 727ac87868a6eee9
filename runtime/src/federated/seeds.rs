//! Where a run's randomness comes from: seeds derived from (run seed, round, client, epoch).
//!
//! Nothing in a run draws from a shared generator. Each random choice gets its own
//! seed, computed from the run seed and the coordinates of the choice, so the choice
//! does not depend on which thread makes it, in which order, or whether the run was
//! stopped and resumed in between. The mixing function is SplitMix64's finaliser
//! (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014),
//! applied once per coordinate, with a distinct tag per kind of choice.

/// Tag of the seeds that sample a round's clients.
const SAMPLING: u64 = 0x7361_6d70_6c69_6e67;
/// Tag of the seeds of a client's local training.
const CLIENT: u64 = 0x636c_6965_6e74_0000;
/// Tag of the seeds that shuffle a client's epoch.
const EPOCH: u64 = 0x6570_6f63_6800_0000;
/// Tag of the seeds of a round's differential-privacy noise.
const NOISE: u64 = 0x6e6f_6973_6500_0000;
/// Tag of the seeds of the faults injected into a client's round.
const FAULT: u64 = 0x6661_756c_7400_0000;
/// Tag of the seed that picks a run's Byzantine clients.
const BYZANTINE: u64 = 0x6279_7a61_6e74_0000;
/// Tag of the seeds of a client's speed in a task.
const SPEED: u64 = 0x7370_6565_6400_0000;
/// Tag of the seeds of a client's availability in a round.
const AVAILABILITY: u64 = 0x6176_6169_6c00_0000;

/// SplitMix64: a bijective mix of the bits of `z`.
fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Mixes `parts` into `seed`, one after the other.
fn mix(seed: u64, parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(splitmix64(seed), |h, &p| splitmix64(h ^ p))
}

/// Seed of the generator that samples the clients of round `round` (0-based).
pub fn sampling_seed(run_seed: u64, round: usize) -> u64 {
    mix(run_seed, &[SAMPLING, round as u64])
}

/// Seed of client `client`'s local training in round `round` (0-based): its epoch
/// shuffles and its device's generator (dropout) derive from it.
pub fn client_seed(run_seed: u64, round: usize, client: usize) -> u64 {
    mix(run_seed, &[CLIENT, round as u64, client as u64])
}

/// Seed of the shuffle of local epoch `epoch` of a client whose seed is `client_seed`.
pub fn epoch_seed(client_seed: u64, epoch: usize) -> u64 {
    mix(client_seed, &[EPOCH, epoch as u64])
}

/// Seed of the Gaussian noise the server adds to round `round`'s aggregate (0-based).
pub fn noise_seed(run_seed: u64, round: usize) -> u64 {
    mix(run_seed, &[NOISE, round as u64])
}

/// Seed of the faults injected into client `client`'s part of round `round`
/// (0-based): dropout, non-finite updates, slowness, an attack's noise.
pub fn fault_seed(run_seed: u64, round: usize, client: usize) -> u64 {
    mix(run_seed, &[FAULT, round as u64, client as u64])
}

/// Seed of the choice of a run's Byzantine clients, fixed for the whole run.
pub fn byzantine_seed(run_seed: u64) -> u64 {
    mix(run_seed, &[BYZANTINE])
}

/// Seed of client `client`'s speed in task `task` (a synchronous round's 0-based
/// index, or an asynchronous engine's task number): how long its local steps take.
pub fn speed_seed(run_seed: u64, task: usize, client: usize) -> u64 {
    mix(run_seed, &[SPEED, task as u64, client as u64])
}

/// Seed of whether client `client` is available in round `round` (0-based).
pub fn availability_seed(run_seed: u64, round: usize, client: usize) -> u64 {
    mix(run_seed, &[AVAILABILITY, round as u64, client as u64])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_every_coordinate() {
        let base = client_seed(1, 2, 3);
        assert_eq!(base, client_seed(1, 2, 3));
        assert_ne!(base, client_seed(0, 2, 3));
        assert_ne!(base, client_seed(1, 3, 3));
        assert_ne!(base, client_seed(1, 2, 4));
        assert_ne!(base, client_seed(1, 3, 2));
        assert_ne!(sampling_seed(1, 2), sampling_seed(1, 3));
        assert_ne!(epoch_seed(base, 0), epoch_seed(base, 1));
        assert_ne!(
            fault_seed(1, 2, 3),
            base,
            "each kind of choice has its own tag"
        );
        assert_ne!(noise_seed(1, 2), sampling_seed(1, 2));
        assert_ne!(byzantine_seed(1), byzantine_seed(2));
        assert_ne!(speed_seed(1, 2, 3), fault_seed(1, 2, 3));
        assert_ne!(availability_seed(1, 2, 3), speed_seed(1, 2, 3));
    }
}
