//! The privacy accountant against Google's dp-accounting, and its behaviour.

use feddx_runtime::privacy::{default_orders, Neighbours, PrivacyError, RdpAccountant, Sampling};
use feddx_runtime::FeddxError;

fn poisson(probability: f64) -> Sampling {
    Sampling::Poisson { probability }
}

fn fixed(sampled: usize, population: usize) -> Sampling {
    Sampling::FixedSize {
        sampled,
        population,
    }
}

/// (sampling, noise multiplier, rounds, delta, dp-accounting's epsilon, its order).
///
/// Printed by `benches/peers/dp_accounting/run.sh`, which runs `grid.py` with
/// dp-accounting 0.6.0 from PyPI: its `RdpAccountant` with the default orders,
/// `PoissonSampledDpEvent` (add-or-remove-one neighbours) or
/// `SampledWithoutReplacementDpEvent` (replace-one) of a `GaussianDpEvent`,
/// self-composed `rounds` times, then `get_epsilon_and_optimal_order(delta)`.
#[rustfmt::skip]
fn dp_accounting_grid() -> Vec<(Sampling, f64, usize, f64, f64, f64)> {
    vec![
        // dp-accounting 0.6.0, default orders (156); benches/peers/dp_accounting/grid.py
        (poisson(0.01), 0.3, 1, 1e-05, 12.058041058394693, 2.1),
        (poisson(0.01), 0.5, 10, 1e-06, 6.774927806360993, 3.0),
        (poisson(0.01), 1.0, 100, 1e-05, 1.2141452944480204, 8.8),
        (poisson(0.01), 2.0, 1000, 1e-06, 0.7827964235976046, 26.0),
        (poisson(0.1), 0.3, 10, 1e-05, 41.17146616862564, 1.4),
        (poisson(0.1), 0.5, 100, 1e-06, 40.256072496177325, 1.7),
        (poisson(0.1), 1.0, 1000, 1e-05, 27.163494340026944, 2.0),
        (poisson(0.1), 2.0, 1, 1e-06, 0.661378906125118, 18.0),
        (poisson(0.3333333333333333), 0.3, 100, 1e-05, 450.1049102083185, 1.4),
        (poisson(0.3333333333333333), 0.5, 1000, 1e-06, 1282.0380537339665, 1.7),
        (poisson(0.3333333333333333), 1.0, 1, 1e-05, 3.413506112114833, 5.4),
        (poisson(0.3333333333333333), 2.0, 10, 1e-06, 3.411546540884859, 6.7),
        (poisson(1.0), 0.3, 1000, 1e-05, 6222.889368689972, 1.1),
        (poisson(1.0), 0.5, 1, 1e-06, 11.68862679916635, 3.5),
        (poisson(1.0), 1.0, 10, 1e-05, 19.05359753163139, 2.5),
        (poisson(1.0), 2.0, 100, 1e-06, 37.429216196844386, 2.0),
        (fixed(10, 1000), 0.3, 100, 1e-06, 279.02764714990025, 2.0),
        (fixed(10, 1000), 0.5, 1000, 1e-05, 20.987072439841914, 2.0),
        (fixed(10, 1000), 1.0, 1, 1e-06, 1.241275809407795, 10.0),
        (fixed(10, 1000), 2.0, 10, 1e-05, 0.22236567402477833, 36.0),
        (fixed(10, 100), 0.3, 1000, 1e-06, 7212.264309741134, 2.0),
        (fixed(10, 100), 0.5, 1, 1e-05, 7.7009126589079395, 3.0),
        (fixed(10, 100), 1.0, 10, 1e-06, 5.353799130958084, 4.0),
        (fixed(10, 100), 2.0, 100, 1e-05, 5.3790096960759, 5.0),
        (fixed(100, 300), 0.3, 1, 1e-06, 21.31830585148955, 3.0),
        (fixed(100, 300), 0.5, 10, 1e-05, 35.8778533521522, 2.0),
        (fixed(100, 300), 1.0, 100, 1e-06, 59.683171587898435, 2.0),
        (fixed(100, 300), 2.0, 1000, 1e-05, 129.0055269996789, 2.0),
        (fixed(300, 300), 0.3, 10, 1e-06, 109.05481194437746, 1.5),
        (fixed(300, 300), 0.5, 100, 1e-05, 294.8612600716533, 1.2),
        (fixed(300, 300), 1.0, 1000, 1e-06, 666.3741855366236, 1.2),
        (fixed(300, 300), 2.0, 1, 1e-05, 2.165715659029443, 9.6),
        (poisson(0.01), 1.0, 1000, 1e-05, 2.101366525420273, 7.8),
        (poisson(0.1), 1.0, 100, 1e-06, 8.921391652814453, 3.3),
        (poisson(0.3333333333333333), 2.0, 1000, 1e-05, 41.19727986325, 2.0),
        (fixed(100, 300), 1.0, 100, 1e-05, 57.38058649490439, 2.0),
        (fixed(10, 1000), 0.5, 1000, 1e-06, 23.28965753283596, 2.0),
        (fixed(10, 100), 2.0, 10, 1e-05, 1.539175813599659, 12.0),
    ]
}

#[test]
fn agrees_with_dp_accounting() {
    let mut worst = (0.0_f64, String::new());
    for (sampling, sigma, rounds, delta, expected, expected_order) in dp_accounting_grid() {
        let mut accountant = RdpAccountant::new();
        accountant.compose(sampling, sigma, rounds).unwrap();
        let spent = accountant.epsilon(delta).unwrap();
        let case = format!("{sampling:?}, sigma {sigma}, {rounds} rounds, delta {delta}");
        let relative = (spent.epsilon - expected).abs() / expected;
        assert!(
            relative < 0.01,
            "{case}: feddx {} but dp-accounting {expected}",
            spent.epsilon
        );
        assert_eq!(spent.order, expected_order, "{case}: optimal order");
        assert_eq!(spent.delta, delta);
        if relative > worst.0 {
            worst = (relative, case);
        }
    }
    println!("largest relative difference: {:e} ({})", worst.0, worst.1);
    // The same arithmetic in the same order: 6.3e-14 on x86_64 Linux. The bound
    // leaves room for other platforms' `exp` and `ln`, not for another formula.
    assert!(worst.0 < 1e-9, "{:e} ({})", worst.0, worst.1);
}

fn epsilon(sampling: Sampling, sigma: f64, rounds: usize, delta: f64) -> f64 {
    let mut accountant = RdpAccountant::new();
    accountant.compose(sampling, sigma, rounds).unwrap();
    accountant.epsilon(delta).unwrap().epsilon
}

fn increasing(values: &[f64]) -> bool {
    values.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn epsilon_grows_round_by_round() {
    for sampling in [poisson(0.01), poisson(0.2), fixed(10, 1000), fixed(30, 100)] {
        let mut accountant = RdpAccountant::new();
        let mut spent = vec![accountant.epsilon(1e-5).unwrap().epsilon];
        for _ in 0..50 {
            accountant.compose(sampling, 1.0, 1).unwrap();
            spent.push(accountant.epsilon(1e-5).unwrap().epsilon);
        }
        assert_eq!(spent[0], 0.0, "nothing spent before the first round");
        assert!(increasing(&spent), "{sampling:?}: {spent:?}");
        // Fifty rounds one by one are fifty rounds at once.
        let at_once = epsilon(sampling, 1.0, 50, 1e-5);
        assert!(
            (spent[50] - at_once).abs() <= 1e-12 * at_once,
            "{sampling:?}"
        );
    }
}

#[test]
fn epsilon_grows_with_the_sampling_probability_and_shrinks_with_noise() {
    let by_q: Vec<f64> = [0.001, 0.01, 0.1, 1.0 / 3.0, 1.0]
        .into_iter()
        .map(|q| epsilon(poisson(q), 1.0, 100, 1e-5))
        .collect();
    assert!(increasing(&by_q), "{by_q:?}");
    let by_m: Vec<f64> = [1, 10, 100, 300]
        .into_iter()
        .map(|m| epsilon(fixed(m, 300), 1.0, 100, 1e-5))
        .collect();
    assert!(increasing(&by_m), "{by_m:?}");
    for sampling in [poisson(0.05), fixed(50, 1000)] {
        let mut by_sigma: Vec<f64> = [0.5, 0.8, 1.0, 2.0, 5.0]
            .into_iter()
            .map(|sigma| epsilon(sampling, sigma, 100, 1e-5))
            .collect();
        by_sigma.reverse();
        assert!(increasing(&by_sigma), "{sampling:?}: {by_sigma:?}");
    }
    // A smaller delta costs a larger epsilon.
    assert!(epsilon(poisson(0.01), 1.0, 100, 1e-7) > epsilon(poisson(0.01), 1.0, 100, 1e-5));
}

#[test]
fn full_sampling_is_the_plain_gaussian() {
    let orders = default_orders();
    for sigma in [0.3, 0.5, 1.0, 2.0] {
        let plain: Vec<f64> = orders.iter().map(|a| a / (2.0 * sigma * sigma)).collect();
        assert_eq!(poisson(1.0).rdp(sigma, &orders).unwrap(), plain);
        assert_eq!(fixed(300, 300).rdp(sigma, &orders).unwrap(), plain);
        let mut accountant = RdpAccountant::new();
        accountant.compose(poisson(1.0), sigma, 3).unwrap();
        let tripled: Vec<f64> = plain.iter().map(|r| 3.0 * r).collect();
        assert_eq!(accountant.rdp(), tripled);
    }
}

#[test]
fn subsampling_amplifies_privacy() {
    let orders = default_orders();
    let plain = poisson(1.0).rdp(1.0, &orders).unwrap();
    for sampling in [poisson(0.1), fixed(10, 100)] {
        let sampled = sampling.rdp(1.0, &orders).unwrap();
        // Fractional orders whose series does not converge are infinite (see below).
        let finite = sampled.iter().filter(|s| s.is_finite()).count();
        assert!(finite > 140, "{sampling:?}: {finite} finite orders");
        for ((order, s), p) in orders.iter().zip(&sampled).zip(&plain) {
            if s.is_infinite() {
                continue;
            }
            assert!(s <= p, "{sampling:?} at order {order}: {s} > {p}");
        }
    }
}

#[test]
fn no_noise_is_no_privacy_and_no_sampling_is_free() {
    for sampling in [poisson(0.1), poisson(1.0), fixed(10, 100), fixed(100, 100)] {
        let spent = RdpAccountant::new();
        let mut accountant = spent.clone();
        accountant.compose(sampling, 0.0, 1).unwrap();
        assert_eq!(accountant.epsilon(1e-5).unwrap().epsilon, f64::INFINITY);
        // Zero rounds spend nothing, even without noise.
        let mut none = spent.clone();
        none.compose(sampling, 0.0, 0).unwrap();
        assert_eq!(none, spent);
    }
    for sampling in [poisson(0.0), fixed(0, 100)] {
        assert_eq!(epsilon(sampling, 0.0, 100, 1e-5), 0.0);
    }
}

#[test]
fn fractional_orders_that_do_not_converge_are_left_out_as_in_dp_accounting() {
    // dp-accounting 0.6.0 warns "_compute_log_a_frac failed to converge" for these
    // (q = 0.1, sigma = 0.3, orders 1.1 to 1.3) and gives them infinite RDP.
    let rdp = poisson(0.1).rdp(0.3, &[1.1, 1.2, 1.3, 1.4]).unwrap();
    assert!(rdp[..3].iter().all(|r| r.is_infinite()), "{rdp:?}");
    assert!(rdp[3].is_finite(), "{rdp:?}");
}

#[test]
fn default_orders_are_dp_accountings() {
    let orders = default_orders();
    assert_eq!(orders.len(), 156);
    assert_eq!(orders[..3], [1.1, 1.2, 1.3]);
    assert_eq!(orders[98], 10.9);
    assert_eq!(orders[99..101], [11.0, 12.0]);
    assert_eq!(orders[151], 63.0);
    assert_eq!(orders[152..], [128.0, 256.0, 512.0, 1024.0]);
    assert_eq!(RdpAccountant::new().orders(), orders);
    assert_eq!(RdpAccountant::default(), RdpAccountant::new());
}

#[test]
fn custom_orders() {
    let mut accountant = RdpAccountant::with_orders(vec![2.0, 4.5, 32.0]).unwrap();
    accountant.compose(poisson(0.01), 1.0, 100).unwrap();
    let spent = accountant.epsilon(1e-5).unwrap();
    assert!([2.0, 4.5, 32.0].contains(&spent.order));
    // Fewer orders can only give a larger epsilon than the default ones.
    assert!(spent.epsilon >= epsilon(poisson(0.01), 1.0, 100, 1e-5));
}

#[test]
fn bad_inputs_have_their_errors() {
    let mut accountant = RdpAccountant::new();
    for probability in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
        match accountant.compose(poisson(probability), 1.0, 1) {
            Err(PrivacyError::SamplingProbability { probability: p }) => {
                assert_eq!(p.to_bits(), probability.to_bits())
            }
            other => panic!("{probability}: {other:?}"),
        }
    }
    assert_eq!(
        accountant.compose(fixed(301, 300), 1.0, 1),
        Err(PrivacyError::SampleLargerThanPopulation {
            sampled: 301,
            population: 300
        })
    );
    assert_eq!(
        accountant.compose(fixed(0, 0), 1.0, 1),
        Err(PrivacyError::EmptyPopulation)
    );
    for sigma in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        match accountant.compose(poisson(0.1), sigma, 1) {
            Err(PrivacyError::NoiseMultiplier { noise_multiplier }) => {
                assert_eq!(noise_multiplier.to_bits(), sigma.to_bits())
            }
            other => panic!("{sigma}: {other:?}"),
        }
    }
    for delta in [0.0, 1.0, -1e-5, 2.0, f64::NAN] {
        match accountant.epsilon(delta) {
            Err(PrivacyError::Delta { delta: d }) => assert_eq!(d.to_bits(), delta.to_bits()),
            other => panic!("{delta}: {other:?}"),
        }
    }
    assert_eq!(
        RdpAccountant::with_orders(vec![]),
        Err(PrivacyError::NoOrders)
    );
    for order in [1.0, 0.5, f64::INFINITY] {
        assert_eq!(
            RdpAccountant::with_orders(vec![2.0, order]),
            Err(PrivacyError::Order { order })
        );
        assert_eq!(
            poisson(0.1).rdp(1.0, &[order]),
            Err(PrivacyError::Order { order })
        );
    }
    assert!(matches!(
        RdpAccountant::with_orders(vec![f64::NAN]),
        Err(PrivacyError::Order { order }) if order.is_nan()
    ));
    // Nothing was composed by the failed calls.
    assert_eq!(accountant, RdpAccountant::new());
    assert_eq!(accountant.neighbours(), None);
}

#[test]
fn one_accountant_holds_one_neighbouring_relation() {
    let mut accountant = RdpAccountant::new();
    accountant.compose(fixed(10, 100), 1.0, 5).unwrap();
    assert_eq!(accountant.neighbours(), Some(Neighbours::ReplaceOne));
    let before = accountant.clone();
    let err = accountant.compose(poisson(0.1), 1.0, 5).unwrap_err();
    assert_eq!(
        err,
        PrivacyError::MixedNeighbours {
            composed: Neighbours::ReplaceOne,
            requested: Neighbours::AddOrRemoveOne
        }
    );
    assert_eq!(accountant, before);
    accountant.compose(fixed(20, 100), 2.0, 5).unwrap();
}

#[test]
fn errors_read_well_and_convert_to_feddx_errors() {
    let cases = [
        (
            PrivacyError::SamplingProbability { probability: 1.5 },
            "the sampling probability must be in [0, 1], got 1.5",
        ),
        (
            PrivacyError::SampleLargerThanPopulation {
                sampled: 301,
                population: 300,
            },
            "cannot sample 301 of 300 without replacement: the sample is larger than the population",
        ),
        (
            PrivacyError::NoiseMultiplier {
                noise_multiplier: -1.0,
            },
            "the noise multiplier must be finite and non-negative, got -1",
        ),
        (
            PrivacyError::Delta { delta: 0.0 },
            "delta must be in (0, 1), got 0",
        ),
        (
            PrivacyError::MixedNeighbours {
                composed: Neighbours::ReplaceOne,
                requested: Neighbours::AddOrRemoveOne,
            },
            "cannot compose rounds with add-or-remove-one neighbours: the accountant holds rounds with replace-one neighbours",
        ),
    ];
    for (err, message) in cases {
        assert_eq!(err.to_string(), message);
        let feddx: FeddxError = err.clone().into();
        assert_eq!(feddx, FeddxError::Privacy(err));
        assert_eq!(feddx.to_string(), message);
    }
}

#[test]
fn epsilon_displays_with_its_delta_and_order() {
    let mut accountant = RdpAccountant::new();
    accountant.compose(poisson(0.01), 1.0, 1000).unwrap();
    let spent = accountant.epsilon(1e-5).unwrap();
    assert_eq!(spent.to_string(), "(ε = 2.1014, δ = 1e-5) at RDP order 7.8");
}

#[test]
fn extreme_settings_give_numbers_not_nan() {
    let probabilities = [0.0, 5e-324, 1e-300, 1e-9, 0.5, 1.0 - 1e-12, 1.0];
    let sigmas = [
        0.0,
        1e-200,
        1e-160,
        1e-3,
        0.05,
        50.0,
        1e6,
        1e100,
        1e200,
        f64::MAX,
    ];
    for &sigma in &sigmas {
        let mut samplings: Vec<Sampling> = probabilities.iter().map(|&q| poisson(q)).collect();
        samplings.extend([
            fixed(0, 1),
            fixed(1, 1),
            fixed(1, usize::MAX),
            fixed(999, 1000),
        ]);
        for sampling in samplings {
            let case = format!("{sampling:?}, sigma {sigma:e}");
            let mut accountant = RdpAccountant::new();
            accountant.compose(sampling, sigma, 1).unwrap();
            // Rounding can leave an RDP of about -1e-24 where it is 0, as in
            // dp-accounting, whose conversion (and ours) takes it as 0.
            assert!(
                accountant.rdp().iter().all(|r| !r.is_nan() && *r > -1e-12),
                "{case}: {:?}",
                accountant.rdp()
            );
            accountant.compose(sampling, sigma, usize::MAX).unwrap();
            assert!(accountant.rdp().iter().all(|r| !r.is_nan()), "{case}");
            for delta in [f64::MIN_POSITIVE, 1e-5, 0.5, 1.0 - f64::EPSILON] {
                let spent = accountant.epsilon(delta).unwrap();
                assert!(spent.epsilon >= 0.0, "{case}, delta {delta:e}: {spent:?}");
            }
        }
    }
}
