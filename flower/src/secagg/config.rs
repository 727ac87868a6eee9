//! The stage configs a SecAgg+ server sends, read with the checks of Flower's
//! `check_stage` and `check_configs` (and the lookups that follow them), as typed
//! errors.

use super::stage::{key, Stage};
use super::SecAggError;
use crate::{ConfigRecord, ConfigValue};

/// What the setup stage sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Setup {
    pub sample_num: i64,
    pub share_num: i64,
    pub threshold: i64,
    pub clipping_range: f64,
    pub target_range: i64,
    pub mod_range: i64,
    pub max_weight: f64,
}

/// Flower's `check_stage`: the stage the configs name, which must be `setup` (at any
/// time) or the one after `current`.
pub(crate) fn next_stage(current: Stage, configs: &ConfigRecord) -> Result<Stage, SecAggError> {
    let name = match configs.get(key::STAGE) {
        None => {
            return Err(SecAggError::MissingKey {
                stage: "any",
                key: key::STAGE.to_string(),
            })
        }
        Some(ConfigValue::Str(name)) => name,
        Some(_) => return Err(wrong_type("any", key::STAGE, "a string")),
    };
    match Stage::parse(name) {
        Some(Stage::Setup) => Ok(Stage::Setup),
        Some(stage) if stage == current.next() => Ok(stage),
        _ => Err(SecAggError::StageOrder {
            expected: current.next(),
            received: name.clone(),
        }),
    }
}

/// The setup stage's settings: five integers and a float, all present and of
/// exactly that type (a bool is no integer, an integer no float), and `max_weight`, a
/// number.
pub(crate) fn setup(configs: &ConfigRecord) -> Result<Setup, SecAggError> {
    let stage = Stage::Setup.name();
    let int = |name: &str| -> Result<i64, SecAggError> {
        match required(stage, configs, name)? {
            ConfigValue::Int(value) => Ok(*value),
            ConfigValue::Uint(value) => {
                i64::try_from(*value).map_err(|_| SecAggError::OutOfRange {
                    key: name.to_string(),
                    reason: format!("{value} is above i64::MAX"),
                })
            }
            _ => Err(wrong_type(stage, name, "an int")),
        }
    };
    let float = |name: &str, ints_too: bool| -> Result<f64, SecAggError> {
        match required(stage, configs, name)? {
            ConfigValue::Double(value) => Ok(*value),
            ConfigValue::Int(value) if ints_too => Ok(*value as f64),
            ConfigValue::Uint(value) if ints_too => Ok(*value as f64),
            _ => Err(wrong_type(
                stage,
                name,
                if ints_too { "a number" } else { "a float" },
            )),
        }
    };
    // Python's `check_configs` order, then `max_weight`, which it reads unchecked.
    let sample_num = int(key::SAMPLE_NUMBER)?;
    let share_num = int(key::SHARE_NUMBER)?;
    let threshold = int(key::THRESHOLD)?;
    let clipping_range = float(key::CLIPPING_RANGE, false)?;
    let target_range = int(key::TARGET_RANGE)?;
    let mod_range = int(key::MOD_RANGE)?;
    let max_weight = float(key::MAX_WEIGHT, true)?;
    Ok(Setup {
        sample_num,
        share_num,
        threshold,
        clipping_range,
        target_range,
        mod_range,
        max_weight,
    })
}

/// The share-keys stage's key dict: node id to (pk1, pk2), in the order received.
pub(crate) type KeyDict = Vec<(u64, [Vec<u8>; 2])>;

/// The share-keys stage's key dict: every entry but `stage` is a node id (as a
/// string) to a list of two bytes (pk1, pk2), in the order received. A repeated id
/// keeps its first place and its last keys, as a Python dict.
pub(crate) fn share_keys(configs: &ConfigRecord) -> Result<KeyDict, SecAggError> {
    let stage = Stage::ShareKeys.name();
    let mut entries: Vec<(&str, [Vec<u8>; 2])> = Vec::new();
    for (name, value) in configs.iter().filter(|(name, _)| *name != key::STAGE) {
        match value {
            ConfigValue::BytesList(keys) if keys.len() == 2 => {
                entries.push((name, [keys[0].clone(), keys[1].clone()]));
            }
            _ => return Err(wrong_type(stage, name, "a list of two bytes")),
        }
    }
    let mut dict: KeyDict = Vec::with_capacity(entries.len());
    for (name, keys) in entries {
        let id = parse_node_id(name).ok_or_else(|| SecAggError::BadNodeId {
            key: name.to_string(),
        })?;
        match dict.iter_mut().find(|(other, _)| *other == id) {
            Some((_, old)) => *old = keys,
            None => dict.push((id, keys)),
        }
    }
    Ok(dict)
}

/// The collect stage's ciphertexts and their sources.
pub(crate) fn collect_masked_vectors(
    configs: &ConfigRecord,
) -> Result<(Vec<Vec<u8>>, Vec<u64>), SecAggError> {
    let stage = Stage::CollectMaskedVectors.name();
    let ciphertexts = bytes_list(stage, configs, key::CIPHERTEXT_LIST)?;
    let sources = node_ids(stage, configs, key::SOURCE_LIST)?;
    Ok((ciphertexts, sources))
}

/// The unmask stage's active and dead neighbours.
pub(crate) fn unmask(configs: &ConfigRecord) -> Result<(Vec<u64>, Vec<u64>), SecAggError> {
    let stage = Stage::Unmask.name();
    let active = node_ids(stage, configs, key::ACTIVE_NODE_ID_LIST)?;
    let dead = node_ids(stage, configs, key::DEAD_NODE_ID_LIST)?;
    Ok((active, dead))
}

/// A list of node ids as Python sends a `list[int]`: an int list of any width, or
/// an empty list (which Python sends as an empty bool list).
pub(crate) fn node_id_list(ids: &[u64]) -> ConfigValue {
    match ids
        .iter()
        .map(|&id| i64::try_from(id).ok())
        .collect::<Option<Vec<i64>>>()
    {
        Some(small) => ConfigValue::IntList(small),
        None => ConfigValue::UintList(ids.to_vec()),
    }
}

/// A node id as Python's `int(str)` reads Flower's `str(node_id)`: decimal digits,
/// optionally signed and surrounded by whitespace; it must fit a `u64`.
fn parse_node_id(name: &str) -> Option<u64> {
    let trimmed = name.trim();
    let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn required<'a>(
    stage: &'static str,
    configs: &'a ConfigRecord,
    name: &str,
) -> Result<&'a ConfigValue, SecAggError> {
    configs.get(name).ok_or_else(|| SecAggError::MissingKey {
        stage,
        key: name.to_string(),
    })
}

fn bytes_list(
    stage: &'static str,
    configs: &ConfigRecord,
    name: &str,
) -> Result<Vec<Vec<u8>>, SecAggError> {
    match required(stage, configs, name)? {
        ConfigValue::BytesList(values) => Ok(values.clone()),
        empty if is_empty_list(empty) => Ok(Vec::new()),
        _ => Err(wrong_type(stage, name, "a list of bytes")),
    }
}

/// A list of ints that are node ids. A negative int is a Python int, but no node's
/// id: it is reported as an unknown node, as Python's dict lookup would.
fn node_ids(
    stage: &'static str,
    configs: &ConfigRecord,
    name: &str,
) -> Result<Vec<u64>, SecAggError> {
    match required(stage, configs, name)? {
        ConfigValue::UintList(values) => Ok(values.clone()),
        ConfigValue::IntList(values) => values
            .iter()
            .map(|&value| {
                u64::try_from(value).map_err(|_| SecAggError::NotANodeId { stage, id: value })
            })
            .collect(),
        empty if is_empty_list(empty) => Ok(Vec::new()),
        _ => Err(wrong_type(stage, name, "a list of ints")),
    }
}

fn is_empty_list(value: &ConfigValue) -> bool {
    match value {
        ConfigValue::DoubleList(values) => values.is_empty(),
        ConfigValue::IntList(values) => values.is_empty(),
        ConfigValue::UintList(values) => values.is_empty(),
        ConfigValue::BoolList(values) => values.is_empty(),
        ConfigValue::StrList(values) => values.is_empty(),
        ConfigValue::BytesList(values) => values.is_empty(),
        _ => false,
    }
}

fn wrong_type(stage: &'static str, name: &str, expected: &'static str) -> SecAggError {
    SecAggError::WrongType {
        stage,
        key: name.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_parse_as_python_int_does_on_flower_strings() {
        assert_eq!(parse_node_id("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_node_id(" +7 "), Some(7));
        assert_eq!(parse_node_id("-7"), None);
        assert_eq!(parse_node_id("7a"), None);
        assert_eq!(parse_node_id(""), None);
        assert_eq!(parse_node_id("18446744073709551616"), None);
    }

    #[test]
    fn stage_order_follows_check_stage() {
        let at = |name: &str| -> ConfigRecord {
            [(key::STAGE, ConfigValue::from(name))]
                .into_iter()
                .collect()
        };
        assert_eq!(
            next_stage(Stage::Unmask, &at("setup")).unwrap(),
            Stage::Setup
        );
        assert_eq!(
            next_stage(Stage::ShareKeys, &at("setup")).unwrap(),
            Stage::Setup
        );
        assert_eq!(
            next_stage(Stage::Setup, &at("share_keys")).unwrap(),
            Stage::ShareKeys
        );
        assert!(matches!(
            next_stage(Stage::Setup, &at("unmask")),
            Err(SecAggError::StageOrder {
                expected: Stage::ShareKeys,
                ..
            })
        ));
        assert!(matches!(
            next_stage(Stage::Unmask, &at("dance")),
            Err(SecAggError::StageOrder {
                expected: Stage::Setup,
                ..
            })
        ));
        assert!(matches!(
            next_stage(Stage::Unmask, &ConfigRecord::new()),
            Err(SecAggError::MissingKey { .. })
        ));
        let number: ConfigRecord = [(key::STAGE, ConfigValue::Int(0))].into_iter().collect();
        assert!(matches!(
            next_stage(Stage::Unmask, &number),
            Err(SecAggError::WrongType { .. })
        ));
    }

    #[test]
    fn setup_checks_types_as_check_configs() {
        let mut configs: ConfigRecord = [
            (key::SAMPLE_NUMBER, ConfigValue::Int(3)),
            (key::SHARE_NUMBER, ConfigValue::Int(3)),
            (key::THRESHOLD, ConfigValue::Int(2)),
            (key::CLIPPING_RANGE, ConfigValue::Double(8.0)),
            (key::TARGET_RANGE, ConfigValue::Int(1 << 22)),
            (key::MOD_RANGE, ConfigValue::Int(1 << 32)),
            (key::MAX_WEIGHT, ConfigValue::Int(1000)),
        ]
        .into_iter()
        .collect();
        let read = setup(&configs).unwrap();
        assert_eq!(read.max_weight, 1000.0);
        assert_eq!(read.mod_range, 1 << 32);
        configs.insert(key::CLIPPING_RANGE, ConfigValue::Int(8));
        assert!(matches!(
            setup(&configs),
            Err(SecAggError::WrongType { key, .. }) if key == key::CLIPPING_RANGE
        ));
        configs.insert(key::CLIPPING_RANGE, ConfigValue::Double(8.0));
        configs.insert(key::THRESHOLD, ConfigValue::Bool(true));
        assert!(matches!(
            setup(&configs),
            Err(SecAggError::WrongType { .. })
        ));
    }

    #[test]
    fn empty_lists_of_any_type_are_empty_id_lists() {
        let configs: ConfigRecord = [
            (key::CIPHERTEXT_LIST, ConfigValue::BoolList(vec![])),
            (key::SOURCE_LIST, ConfigValue::BoolList(vec![])),
        ]
        .into_iter()
        .collect();
        assert_eq!(collect_masked_vectors(&configs).unwrap(), (vec![], vec![]));
        let negative: ConfigRecord = [
            (key::ACTIVE_NODE_ID_LIST, ConfigValue::IntList(vec![-1])),
            (key::DEAD_NODE_ID_LIST, ConfigValue::IntList(vec![])),
        ]
        .into_iter()
        .collect();
        assert!(matches!(
            unmask(&negative),
            Err(SecAggError::NotANodeId { id: -1, .. })
        ));
        assert_eq!(
            node_id_list(&[1, u64::MAX]),
            ConfigValue::UintList(vec![1, u64::MAX])
        );
        assert_eq!(node_id_list(&[1, 2]), ConfigValue::IntList(vec![1, 2]));
    }
}
