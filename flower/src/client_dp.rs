//! Client-side clipping for Flower's central DP: what `fixedclipping_mod` and
//! `adaptiveclipping_mod` do in a Python `ClientApp`, for a feddx node.
//!
//! A `ServerApp` that wraps its strategy in `DifferentialPrivacyClientSideFixedClipping`
//! or `DifferentialPrivacyClientSideAdaptiveClipping` adds Gaussian noise calibrated to
//! a clipping norm, which it sends in the `train` message's config as
//! [`KEY_CLIPPING_NORM`], and relies on every client to clip its update to that norm.
//! The node does as Flower's mods (`flwr/supercore/differential_privacy.py`):
//!
//! - the update is `trained - global`, in `float32`;
//! - it is scaled by `min(1, clipping_norm / ‖update‖)`, the L2 norm taken over all
//!   arrays together as Flower's `get_norm` takes it (each array's norm in
//!   `float32`, squared, summed and rooted in `float32`), the factor applied in
//!   `float32`;
//! - the reply's arrays are `global + scaled update`, in `float32`, as Flower
//!   computes them (even when unscaled, so to the last bit of rounding);
//! - the norm bit is `factor < 1`: whether the update was clipped. Like
//!   `adaptiveclipping_mod` of the Message API, the node puts it in the reply's
//!   `MetricRecord` as the integer 0 or 1; the Strategy API's mod puts a bool in
//!   `fitres.metrics`: [`NormBitRecord`] writes each.
//!
//! The clipped arrays agree with Python's `compute_clip_model_update` on the same
//! arrays to 1e-6 (`tests/fixtures/client_dp.json`, written by Flower itself), and
//! mostly bit for bit. Not always: numpy takes each array's norm with OpenBLAS's
//! `float32` dot product, whose kernel (and so its rounding) depends on the CPU
//! (`DYNAMIC_ARCH`), so Python itself differs in the last bit from machine to
//! machine; the node takes each array's norm exactly and rounds it to `float32`
//! once, and where OpenBLAS rounded otherwise the factor differs by one `float32`
//! step.
//!
//! # Fixed or adaptive
//!
//! Both wrappers send the same thing, `clipping_norm` in the config, and nothing
//! else tells them apart (the adaptive one's norm changes from round to round, but
//! not in round 1). The mods differ only in the norm bit. So the node reports it
//! by default ([`ClippingMod::Adaptive`]): the adaptive wrapper needs it in every
//! reply, and the fixed wrapper does not mind it when every node reports it (its
//! FedAvg averages it into the round's train metrics, as the fraction of updates
//! clipped). It does mind in a federation that mixes feddx nodes with Python nodes
//! running `fixedclipping_mod`: Flower's Message API strategies refuse replies whose
//! metrics differ in their keys. For that, the node's owner sets
//! [`ClippingMod::Fixed`] (`--clipping-mod fixed`).
//!
//! # Where the norm is read, and what is refused
//!
//! The Message API mods read the norm from the message's one `ConfigRecord`,
//! whatever its name, and require exactly one `ArrayRecord` and one `ConfigRecord`;
//! the Strategy API's `fitins.*` layout has exactly that. The node does the same when
//! any config record holds [`KEY_CLIPPING_NORM`], with Flower's error otherwise. A
//! Python `ClientApp` without the mods ignores the norm; the node never does, and a
//! message without one is clipped only if the owner requires it
//! ([`Policy::require_client_clipping`]).
//!
//! Where Python would go on with a value no Flower wrapper sends, the node answers
//! with an error reply instead: a norm that is not a number, and one that is not
//! positive and finite (Python would flip the update's sign for a negative norm and
//! not clip at all for an infinite or NaN one; the wrappers refuse a norm that is not
//! positive). An integer norm is taken as Python's fixed mods take it, though the
//! Strategy API's `adaptiveclipping_mod` refuses it. An update of norm 0 (no local
//! training, or a learning rate of 0) is below every norm and sent unchanged with a
//! norm bit of 0, where Python's mods divide by zero and fail the round.

use crate::policy::{ClippingMod, Policy};
use crate::protocols::{ClientSide, SECAGGPLUS_CONFIGS};
use crate::records::{ConfigRecord, ConfigValue, MetricRecord, MetricValue, Record, RecordDict};

/// The config key with the clipping norm (Flower's `KEY_CLIPPING_NORM`).
pub const KEY_CLIPPING_NORM: &str = "clipping_norm";
/// The reply metric saying whether the update was clipped (Flower's `KEY_NORM_BIT`).
pub const KEY_NORM_BIT: &str = "norm_bit";

/// Why a `train` message's client-side protocols cannot be followed: sent back in
/// Flower's error reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientDpError {
    /// The message asks for a client-side protocol the node does not speak.
    #[error("the train message asks for {protocol}, which this node does not speak: {hint}")]
    Unsupported {
        /// The protocol, as the `ServerApp` asks for it.
        protocol: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// The message carries a clipping norm, but not exactly one record of a kind.
    #[error(
        "client-side clipping (fixedclipping_mod, adaptiveclipping_mod) expects exactly one \
         {kind}, but found {found} {kind}(s)."
    )]
    RecordCount {
        /// `ArrayRecord` or `ConfigRecord`.
        kind: &'static str,
        /// How many the message has.
        found: usize,
    },
    /// The clipping norm is not a number.
    #[error("clipping_norm should be a float value.")]
    NormType,
    /// The clipping norm is a number no Flower wrapper sends.
    #[error("clipping_norm must be a positive finite number, not {0}")]
    NormValue(f64),
    /// The trained weights do not match the global ones, or the arrays, in length.
    #[error(
        "cannot clip: the update has {trained} values, the global model {global}, its \
         arrays {arrays}"
    )]
    LengthMismatch {
        /// Values of the model's arrays together.
        arrays: usize,
        /// Values of the global model.
        global: usize,
        /// Values of the trained model.
        trained: usize,
    },
}

/// The clipping norm a `train` message's content carries, if any; see the module
/// docs for where it is read and what is refused.
pub fn clipping_norm(content: &RecordDict) -> Result<Option<f64>, ClientDpError> {
    let configs: Vec<&ConfigRecord> = content
        .iter()
        .filter_map(|(name, record)| match record {
            // SecAgg+'s stage record travels beside the fit's config in its
            // collect_masked_vectors stage; it is not the strategy's config.
            Record::Config(_) if name == SECAGGPLUS_CONFIGS => None,
            Record::Config(config) => Some(config),
            _ => None,
        })
        .collect();
    if !configs.iter().any(|c| c.get(KEY_CLIPPING_NORM).is_some()) {
        return Ok(None);
    }
    let arrays = content
        .iter()
        .filter(|(_, record)| matches!(record, Record::Array(_)))
        .count();
    if arrays != 1 {
        return Err(ClientDpError::RecordCount {
            kind: "ArrayRecord",
            found: arrays,
        });
    }
    let [config] = configs[..] else {
        return Err(ClientDpError::RecordCount {
            kind: "ConfigRecord",
            found: configs.len(),
        });
    };
    let norm = match config.get(KEY_CLIPPING_NORM) {
        Some(ConfigValue::Double(norm)) => *norm,
        Some(ConfigValue::Int(norm)) => *norm as f64,
        Some(ConfigValue::Uint(norm)) => *norm as f64,
        _ => return Err(ClientDpError::NormType),
    };
    if !(norm.is_finite() && norm > 0.0) {
        return Err(ClientDpError::NormValue(norm));
    }
    Ok(Some(norm))
}

/// What clipping did to one update, for the node's log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clipped {
    /// The norm the update was clipped to.
    pub clipping_norm: f64,
    /// The update's L2 norm as trained.
    pub norm_before: f64,
    /// The L2 norm of the update sent (the reply's arrays minus the global ones).
    pub norm_after: f64,
    /// Whether the update was scaled down: Flower's norm bit.
    pub norm_bit: bool,
}

/// Clips the update `trained - global` to `clipping_norm` in place, as Flower's
/// `compute_clip_model_update`: `trained` becomes `global + update * min(1,
/// clipping_norm / ‖update‖)`, in `float32`.
///
/// `sizes` are the number of values of each of the model's arrays, in order (they
/// add up to the length of `global` and `trained`): Flower rounds the norm array by
/// array.
pub fn clip_update(
    sizes: &[usize],
    global: &[f32],
    trained: &mut [f32],
    clipping_norm: f64,
) -> Result<Clipped, ClientDpError> {
    let values: usize = sizes.iter().sum();
    if global.len() != trained.len() || values != global.len() {
        return Err(ClientDpError::LengthMismatch {
            arrays: values,
            global: global.len(),
            trained: trained.len(),
        });
    }
    let update: Vec<f32> = trained.iter().zip(global).map(|(t, g)| t - g).collect();
    let norm_before = flower_norm(sizes, &update);
    // Python divides by a zero norm and fails; an update of norm 0 is below any norm.
    let factor = if norm_before > 0.0 {
        (clipping_norm / norm_before).min(1.0)
    } else {
        1.0
    };
    let factor32 = factor as f32;
    for ((t, g), u) in trained.iter_mut().zip(global).zip(&update) {
        *t = g + u * factor32;
    }
    let sent: Vec<f32> = trained.iter().zip(global).map(|(t, g)| t - g).collect();
    Ok(Clipped {
        clipping_norm,
        norm_before,
        norm_after: flower_norm(sizes, &sent),
        norm_bit: factor < 1.0,
    })
}

/// The L2 norm of `values`, split into arrays of `sizes`, as Flower's `get_norm`
/// computes it: `float(np.sqrt(sum([np.linalg.norm(a.flat) ** 2 for a in arrays])))`
/// on `float32` arrays, where every step after each array's norm is in `float32`.
fn flower_norm(sizes: &[usize], values: &[f32]) -> f64 {
    let mut squares = 0.0f32;
    let mut rest = values;
    for &size in sizes {
        let (array, tail) = rest.split_at(size.min(rest.len()));
        let norm = l2_norm(array) as f32;
        squares += norm * norm;
        rest = tail;
    }
    f64::from(squares.sqrt())
}

fn l2_norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

/// A reply record that takes Flower's norm bit, in the type its API uses.
pub trait NormBitRecord {
    /// Sets [`KEY_NORM_BIT`] to `norm_bit`.
    fn insert_norm_bit(&mut self, norm_bit: bool);
}

/// The Message API: the reply's `MetricRecord`, as the integer 0 or 1.
impl NormBitRecord for MetricRecord {
    fn insert_norm_bit(&mut self, norm_bit: bool) {
        self.insert(KEY_NORM_BIT, MetricValue::Int(i64::from(norm_bit)));
    }
}

/// The Strategy API: the `fitres.metrics` `ConfigRecord`, as a bool.
impl NormBitRecord for ConfigRecord {
    fn insert_norm_bit(&mut self, norm_bit: bool) {
        self.insert(KEY_NORM_BIT, ConfigValue::Bool(norm_bit));
    }
}

/// The node's client-side DP between training and the reply: clips `trained` (the
/// flat trained weights, in place) against `global` (the flat weights the message
/// carried) to the norm `asked` carries, and adds the norm bit to `metrics` unless
/// the policy answers as `fixedclipping_mod`. Nothing to do (`Ok(None)`) if the
/// message carried no norm. `sizes` are the number of values of each array, in
/// the model's order (see [`clip_update`]).
///
/// `asked` comes from [`ClientSide::of`], read before training and admitted by
/// [`Policy::admit`].
pub fn apply(
    policy: &Policy,
    asked: &ClientSide,
    sizes: &[usize],
    global: &[f32],
    trained: &mut [f32],
    metrics: &mut impl NormBitRecord,
) -> Result<Option<Clipped>, ClientDpError> {
    let Some(norm) = asked.clipping_norm else {
        return Ok(None);
    };
    let clipped = clip_update(sizes, global, trained, norm)?;
    if policy.clipping_mod == ClippingMod::Adaptive {
        metrics.insert_norm_bit(clipped.norm_bit);
    }
    Ok(Some(clipped))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::records::ArrayRecord;

    const FIXTURE: &str = include_str!("../tests/fixtures/client_dp.json");

    fn floats(value: &Value) -> Vec<f32> {
        value
            .as_array()
            .expect("a list of arrays")
            .iter()
            .flat_map(|array| array.as_array().expect("an array's values"))
            .map(|v| v.as_f64().expect("a number") as f32)
            .collect()
    }

    /// The number of values of each array of a case.
    fn sizes(case: &Value) -> Vec<usize> {
        case["global"]
            .as_array()
            .unwrap()
            .iter()
            .map(|array| array.as_array().unwrap().len())
            .collect()
    }

    fn cases() -> Vec<Value> {
        let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
        assert_eq!(fixture["flwr"], "1.42.0");
        fixture["cases"].as_array().unwrap().clone()
    }

    #[test]
    fn clipping_matches_flowers_mods_on_the_same_arrays() {
        let mut checked = 0;
        for case in cases() {
            let name = case["name"].as_str().unwrap();
            let Some(expected) = case.get("clipped") else {
                continue;
            };
            let global = floats(&case["global"]);
            let mut trained = floats(&case["trained"]);
            let norm = case["clipping_norm"].as_f64().unwrap();
            let clipped = clip_update(&sizes(&case), &global, &mut trained, norm).unwrap();
            let expected = floats(expected);
            assert_eq!(trained.len(), expected.len(), "{name}");
            let worst = trained
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            let exact = trained
                .iter()
                .zip(&expected)
                .filter(|(a, b)| a == b)
                .count();
            eprintln!(
                "{name}: largest difference from Flower {worst:e}, {exact}/{} values equal",
                expected.len()
            );
            assert!(worst <= 1e-6, "{name}: differs from Flower by {worst}");
            assert_eq!(
                clipped.norm_bit,
                case["norm_bit"].as_bool().unwrap(),
                "{name}"
            );
            let update_norm = case["update_norm"].as_f64().unwrap();
            assert!(
                (clipped.norm_before - update_norm).abs() <= 1e-6 * update_norm,
                "{name}: norm {} vs Flower's {update_norm}",
                clipped.norm_before
            );
            if clipped.norm_bit {
                assert!((clipped.norm_after - norm).abs() <= 1e-5 * norm, "{name}");
            } else {
                assert!(clipped.norm_after <= norm, "{name}");
            }
            // Flower's adaptive mods report the same bit: an int in the Message
            // API's MetricRecord, a bool in the Strategy API's fitres.metrics.
            assert_eq!(
                case["message_api_adaptive"]["norm_bit"].as_i64(),
                Some(i64::from(clipped.norm_bit)),
                "{name}"
            );
            assert_eq!(
                case["message_api_adaptive"]["norm_bit_type"], "int",
                "{name}"
            );
            if let Some(strategy) = case.get("strategy_api_adaptive") {
                assert_eq!(strategy["norm_bit"].as_bool(), Some(clipped.norm_bit));
            }
            checked += 1;
        }
        assert_eq!(checked, 5, "the fixture's cases that Flower clips");
    }

    #[test]
    fn the_fixture_covers_updates_below_at_and_above_the_norm() {
        let cases = cases();
        let bit = |name: &str| {
            cases.iter().find(|c| c["name"] == name).unwrap()["norm_bit"]
                .as_bool()
                .unwrap()
        };
        assert!(bit("above") && bit("digits_mlp") && bit("int_norm"));
        assert!(!bit("below") && !bit("equal"));
    }

    #[test]
    fn an_update_below_the_norm_is_sent_as_flower_sends_it() {
        let case = cases().into_iter().find(|c| c["name"] == "below").unwrap();
        let global = floats(&case["global"]);
        let trained = floats(&case["trained"]);
        let mut clipped = trained.clone();
        let result = clip_update(&sizes(&case), &global, &mut clipped, 10.0).unwrap();
        assert!(!result.norm_bit);
        // global + (trained - global), to within the rounding of that sum.
        for (a, b) in clipped.iter().zip(&trained) {
            assert!((a - b).abs() <= 2.0 * f32::EPSILON * b.abs().max(1.0));
        }
    }

    #[test]
    fn a_zero_update_is_sent_unchanged_where_python_divides_by_zero() {
        let case = cases()
            .into_iter()
            .find(|c| c["name"] == "zero_update")
            .unwrap();
        let errors = case["python_error"].to_string();
        assert!(errors.contains("ZeroDivisionError"), "{errors}");
        let global = floats(&case["global"]);
        let mut trained = floats(&case["trained"]);
        let clipped = clip_update(&sizes(&case), &global, &mut trained, 1.0).unwrap();
        assert_eq!(trained, global);
        assert!(!clipped.norm_bit);
        assert_eq!(clipped.norm_after, 0.0);
    }

    #[test]
    fn apply_writes_the_norm_bit_as_each_api_does_unless_fixed() {
        let global = [0.0f32, 0.0];
        let asked = ClientSide {
            secure_aggregation: false,
            clipping_norm: Some(1.0),
        };
        let adaptive = Policy::default();
        let mut trained = [3.0f32, 4.0];
        let mut metrics = MetricRecord::new();
        let clipped = apply(&adaptive, &asked, &[2], &global, &mut trained, &mut metrics)
            .unwrap()
            .unwrap();
        assert!(clipped.norm_bit);
        assert_eq!(clipped.norm_before, 5.0);
        assert_eq!(trained, [0.6, 0.8]);
        assert_eq!(metrics.get(KEY_NORM_BIT), Some(&MetricValue::Int(1)));

        let mut trained = [0.3f32, 0.4];
        let mut legacy = ConfigRecord::new();
        apply(&adaptive, &asked, &[2], &global, &mut trained, &mut legacy).unwrap();
        assert_eq!(legacy.get(KEY_NORM_BIT), Some(&ConfigValue::Bool(false)));

        let fixed = Policy {
            clipping_mod: ClippingMod::Fixed,
            ..Policy::default()
        };
        let mut trained = [3.0f32, 4.0];
        let mut metrics = MetricRecord::new();
        apply(&fixed, &asked, &[1, 1], &global, &mut trained, &mut metrics).unwrap();
        assert_eq!(trained, [0.6, 0.8]);
        assert!(metrics.is_empty());

        // No norm asked: nothing changes.
        let mut trained = [3.0f32, 4.0];
        let none = apply(
            &adaptive,
            &ClientSide::default(),
            &[2],
            &global,
            &mut trained,
            &mut metrics,
        )
        .unwrap();
        assert_eq!(none, None);
        assert_eq!(trained, [3.0, 4.0]);
        assert_eq!(
            clip_update(&[2], &global, &mut [1.0], 1.0),
            Err(ClientDpError::LengthMismatch {
                arrays: 2,
                global: 2,
                trained: 1
            })
        );
        assert!(clip_update(&[1], &global, &mut [1.0, 2.0], 1.0).is_err());
    }

    fn content(configs: &[(&str, ConfigRecord)], arrays: usize) -> RecordDict {
        let mut content = RecordDict::new();
        for i in 0..arrays {
            content.insert(format!("arrays-{i}"), ArrayRecord::new());
        }
        for (name, config) in configs {
            content.insert(*name, config.clone());
        }
        content
    }

    fn config(norm: ConfigValue) -> ConfigRecord {
        let mut config = ConfigRecord::new();
        config.insert("server-round", 1i64);
        config.insert(KEY_CLIPPING_NORM, norm);
        config
    }

    #[test]
    fn the_norm_is_read_from_the_one_config_record_whatever_its_name() {
        let read = |norm: ConfigValue| clipping_norm(&content(&[("cfg", config(norm))], 1));
        assert_eq!(read(ConfigValue::Double(0.5)), Ok(Some(0.5)));
        assert_eq!(read(ConfigValue::Int(2)), Ok(Some(2.0)));
        // The Strategy API's layout.
        assert_eq!(
            clipping_norm(&content(
                &[("fitins.config", config(ConfigValue::Double(1.5)))],
                1
            )),
            Ok(Some(1.5))
        );
        assert_eq!(
            clipping_norm(&content(&[("config", ConfigRecord::new())], 1)),
            Ok(None)
        );
        assert_eq!(clipping_norm(&RecordDict::new()), Ok(None));
    }

    #[test]
    fn a_norm_that_cannot_be_used_is_an_error() {
        let read = |norm: ConfigValue| clipping_norm(&content(&[("config", config(norm))], 1));
        assert_eq!(
            read(ConfigValue::Str("1".into())),
            Err(ClientDpError::NormType)
        );
        assert_eq!(read(ConfigValue::Bool(true)), Err(ClientDpError::NormType));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    read(ConfigValue::Double(bad)),
                    Err(ClientDpError::NormValue(_))
                ),
                "{bad}"
            );
        }
        // Flower's mods want exactly one ArrayRecord and one ConfigRecord.
        let two_configs = content(
            &[
                ("config", config(ConfigValue::Double(1.0))),
                ("other", ConfigRecord::new()),
            ],
            1,
        );
        let err = clipping_norm(&two_configs).unwrap_err();
        assert_eq!(
            err,
            ClientDpError::RecordCount {
                kind: "ConfigRecord",
                found: 2
            }
        );
        assert!(err
            .to_string()
            .ends_with("expects exactly one ConfigRecord, but found 2 ConfigRecord(s)."));
        let two_arrays = content(&[("config", config(ConfigValue::Double(1.0)))], 2);
        assert_eq!(
            clipping_norm(&two_arrays),
            Err(ClientDpError::RecordCount {
                kind: "ArrayRecord",
                found: 2
            })
        );
    }
}
