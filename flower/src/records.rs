//! Flower's records: the content of a message (`flwr/app/message/*record*.py`).
//!
//! A [`RecordDict`] maps names to records: [`ArrayRecord`]s of arrays,
//! [`ConfigRecord`]s of config values and [`MetricRecord`]s of metrics. Like the
//! Python dicts they mirror, all keep their insertion order, which is part of the
//! bytes and so of every object id.

use crate::{npy, proto, ProtocolError};

/// An insertion-ordered map from names to values, with the semantics of a Python
/// `dict`: inserting an existing name replaces its value in place.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<T> {
    items: Vec<(String, T)>,
}

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<T> OrderedMap<T> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`: appended if new, replaced in place if not. Returns the
    /// value it replaces.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<T>) -> Option<T> {
        let name = name.into();
        let value = value.into();
        match self.items.iter_mut().find(|(key, _)| *key == name) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.items.push((name, value));
                None
            }
        }
    }

    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.items
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.items
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// The names in insertion order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|(name, _)| name.as_str())
    }
}

impl<K: Into<String>, V: Into<T>, T> FromIterator<(K, V)> for OrderedMap<T> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = Self::new();
        for (name, value) in entries {
            map.insert(name, value);
        }
        map
    }
}

/// The `stype` of an array serialised with `np.save`, the only one Flower writes.
pub const STYPE_NUMPY: &str = "numpy.ndarray";

/// An array as Flower carries it: its data is the whole `.npy` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Array {
    /// numpy's name for the element type, such as `float32`.
    pub dtype: String,
    /// The array's shape; empty for a scalar.
    pub shape: Vec<usize>,
    /// How `data` was serialised; [`STYPE_NUMPY`] for `.npy` bytes.
    pub stype: String,
    /// The serialised array.
    pub data: Vec<u8>,
}

impl Array {
    /// A `float32` array of `shape`, as `Array(ndarray)` makes it in Python.
    ///
    /// # Panics
    ///
    /// If `values.len()` is not the product of `shape`.
    pub fn from_f32(shape: &[usize], values: &[f32]) -> Array {
        Array {
            dtype: "float32".to_string(),
            shape: shape.to_vec(),
            stype: STYPE_NUMPY.to_string(),
            data: npy::write_f32(shape, values),
        }
    }

    /// The shape and values of a `float32` array serialised with `np.save`.
    ///
    /// `name` is the array's name in its record, for the error: [`ProtocolError::Npy`]
    /// when the dtype, stype or `.npy` bytes are not those of a C-order `float32`
    /// array, or when the shape in the `.npy` header differs from [`Array::shape`].
    pub fn to_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), ProtocolError> {
        let npy_error = |reason: String| ProtocolError::Npy {
            name: name.to_string(),
            reason,
        };
        if self.stype != STYPE_NUMPY {
            return Err(npy_error(format!(
                "stype `{}`, expected `{STYPE_NUMPY}`",
                self.stype
            )));
        }
        if self.dtype != "float32" {
            return Err(npy_error(format!(
                "dtype `{}`, expected `float32`",
                self.dtype
            )));
        }
        let (shape, values) = npy::read_f32(name, &self.data)?;
        if shape != self.shape {
            return Err(npy_error(format!(
                "the .npy header has shape {shape:?}, the Array says {:?}",
                self.shape
            )));
        }
        Ok((shape, values))
    }
}

/// Named arrays, such as a model's weights: Flower's `ArrayRecord`.
pub type ArrayRecord = OrderedMap<Array>;

/// A value of a [`ConfigRecord`]: what `flwr.proto.ConfigRecordValue` can carry.
///
/// Python's integers are one type; Flower sends those above `i64::MAX` as `uint64`.
/// They decode to [`ConfigValue::Uint`] and the others to [`ConfigValue::Int`], and
/// either encodes as Python would encode the same integer.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// A Python `float`.
    Double(f64),
    /// A Python `int` that fits an `i64`.
    Int(i64),
    /// A Python `int` above `i64::MAX`.
    Uint(u64),
    /// A Python `bool`.
    Bool(bool),
    /// A Python `str`.
    Str(String),
    /// Python `bytes`.
    Bytes(Vec<u8>),
    /// A list of `float`.
    DoubleList(Vec<f64>),
    /// A list of `int` that all fit an `i64`.
    IntList(Vec<i64>),
    /// A list of `int` of which one is above `i64::MAX`, none negative.
    UintList(Vec<u64>),
    /// A list of `bool`. Python sends an empty list as an empty `BoolList`.
    BoolList(Vec<bool>),
    /// A list of `str`.
    StrList(Vec<String>),
    /// A list of `bytes`.
    BytesList(Vec<Vec<u8>>),
}

impl From<f64> for ConfigValue {
    fn from(value: f64) -> Self {
        Self::Double(value)
    }
}

impl From<i64> for ConfigValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for ConfigValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<&str> for ConfigValue {
    fn from(value: &str) -> Self {
        Self::Str(value.to_string())
    }
}

impl From<String> for ConfigValue {
    fn from(value: String) -> Self {
        Self::Str(value)
    }
}

/// Named config values: Flower's `ConfigRecord`.
pub type ConfigRecord = OrderedMap<ConfigValue>;

impl ConfigRecord {
    /// A number: a float, or an integer as a float (Python users write `lr=1` as
    /// readily as `lr=0.1`). `Ok(None)` if absent; [`ProtocolError::ConfigType`] if
    /// not a number.
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>, ProtocolError> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Double(value)) => Ok(Some(*value)),
            Some(ConfigValue::Int(value)) => Ok(Some(*value as f64)),
            Some(ConfigValue::Uint(value)) => Ok(Some(*value as f64)),
            Some(_) => Err(config_type(key, "a number")),
        }
    }

    /// An integer that fits an `i64`. `Ok(None)` if absent.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, ProtocolError> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Int(value)) => Ok(Some(*value)),
            Some(_) => Err(config_type(key, "an integer")),
        }
    }

    /// A non-negative integer, such as a server round. `Ok(None)` if absent; a
    /// float, even `5.0`, is an error.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, ProtocolError> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Int(value)) => u64::try_from(*value)
                .map(Some)
                .map_err(|_| config_type(key, NON_NEGATIVE)),
            Some(ConfigValue::Uint(value)) => Ok(Some(*value)),
            Some(_) => Err(config_type(key, NON_NEGATIVE)),
        }
    }

    /// A non-negative integer that fits a `usize`, such as a number of epochs or a
    /// batch size. `Ok(None)` if absent; a float, even `5.0`, is an error.
    pub fn get_usize(&self, key: &str) -> Result<Option<usize>, ProtocolError> {
        match self.get_u64(key)? {
            None => Ok(None),
            Some(value) => usize::try_from(value)
                .map(Some)
                .map_err(|_| config_type(key, NON_NEGATIVE)),
        }
    }

    /// A bool. `Ok(None)` if absent.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, ProtocolError> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Bool(value)) => Ok(Some(*value)),
            Some(_) => Err(config_type(key, "a bool")),
        }
    }

    /// A string. `Ok(None)` if absent.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, ProtocolError> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Str(value)) => Ok(Some(value)),
            Some(_) => Err(config_type(key, "a string")),
        }
    }

    /// The protobuf body of the record's object, as Python's `ConfigRecord.deflate`.
    pub(crate) fn to_proto(&self) -> proto::ConfigRecord {
        use proto::config_record_value::Value;
        let items = self.iter().map(|(key, value)| {
            let value = match value {
                ConfigValue::Double(value) => Value::Double(*value),
                ConfigValue::Int(value) => Value::Sint64(*value),
                ConfigValue::Uint(value) => match i64::try_from(*value) {
                    Ok(small) => Value::Sint64(small),
                    Err(_) => Value::Uint64(*value),
                },
                ConfigValue::Bool(value) => Value::Bool(*value),
                ConfigValue::Str(value) => Value::String(value.clone()),
                ConfigValue::Bytes(value) => Value::Bytes(value.clone()),
                // Python tries `bool` first, and every element of an empty list is one.
                list if list_is_empty(list) => Value::BoolList(proto::BoolList { vals: vec![] }),
                ConfigValue::DoubleList(vals) => {
                    Value::DoubleList(proto::DoubleList { vals: vals.clone() })
                }
                ConfigValue::IntList(vals) => {
                    Value::SintList(proto::SintList { vals: vals.clone() })
                }
                ConfigValue::UintList(vals) => match int_list(vals) {
                    Some(vals) => Value::SintList(proto::SintList { vals }),
                    None => Value::UintList(proto::UintList { vals: vals.clone() }),
                },
                ConfigValue::BoolList(vals) => {
                    Value::BoolList(proto::BoolList { vals: vals.clone() })
                }
                ConfigValue::StrList(vals) => {
                    Value::StringList(proto::StringList { vals: vals.clone() })
                }
                ConfigValue::BytesList(vals) => {
                    Value::BytesList(proto::BytesList { vals: vals.clone() })
                }
            };
            proto::config_record::Item {
                key: key.to_string(),
                value: Some(proto::ConfigRecordValue { value: Some(value) }),
            }
        });
        proto::ConfigRecord {
            items: items.collect(),
        }
    }

    /// The record a `ConfigRecord` object's protobuf body holds, or why not.
    pub(crate) fn from_proto(record: proto::ConfigRecord) -> Result<Self, String> {
        use proto::config_record_value::Value;
        let mut config = ConfigRecord::new();
        for item in record.items {
            let Some(value) = item.value.and_then(|value| value.value) else {
                return Err(format!("config value `{}` has no value", item.key));
            };
            let value = match value {
                Value::Double(value) => ConfigValue::Double(value),
                Value::Sint64(value) => ConfigValue::Int(value),
                Value::Uint64(value) => match i64::try_from(value) {
                    Ok(small) => ConfigValue::Int(small),
                    Err(_) => ConfigValue::Uint(value),
                },
                Value::Bool(value) => ConfigValue::Bool(value),
                Value::String(value) => ConfigValue::Str(value),
                Value::Bytes(value) => ConfigValue::Bytes(value),
                Value::DoubleList(list) => ConfigValue::DoubleList(list.vals),
                Value::SintList(list) => ConfigValue::IntList(list.vals),
                Value::UintList(list) => match int_list(&list.vals) {
                    Some(vals) => ConfigValue::IntList(vals),
                    None => ConfigValue::UintList(list.vals),
                },
                Value::BoolList(list) => ConfigValue::BoolList(list.vals),
                Value::StringList(list) => ConfigValue::StrList(list.vals),
                Value::BytesList(list) => ConfigValue::BytesList(list.vals),
            };
            config.insert(item.key, value);
        }
        Ok(config)
    }
}

/// Whether a config value is a list with no elements.
fn list_is_empty(value: &ConfigValue) -> bool {
    match value {
        ConfigValue::DoubleList(vals) => vals.is_empty(),
        ConfigValue::IntList(vals) => vals.is_empty(),
        ConfigValue::UintList(vals) => vals.is_empty(),
        ConfigValue::BoolList(vals) => vals.is_empty(),
        ConfigValue::StrList(vals) => vals.is_empty(),
        ConfigValue::BytesList(vals) => vals.is_empty(),
        _ => false,
    }
}

/// The list as `i64`s if every element fits, as Python would then send it.
fn int_list(vals: &[u64]) -> Option<Vec<i64>> {
    vals.iter()
        .map(|&value| i64::try_from(value).ok())
        .collect()
}

/// What [`ConfigRecord::get_u64`] and [`ConfigRecord::get_usize`] expect.
const NON_NEGATIVE: &str = "a non-negative integer";

fn config_type(key: &str, expected: &'static str) -> ProtocolError {
    ProtocolError::ConfigType {
        key: key.to_string(),
        expected,
    }
}

/// A value of a [`MetricRecord`]: what `flwr.proto.MetricRecordValue` can carry.
///
/// Integers above `i64::MAX` are [`MetricValue::Uint`], as in [`ConfigValue`].
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A Python `float`.
    Double(f64),
    /// A Python `int` that fits an `i64`.
    Int(i64),
    /// A Python `int` above `i64::MAX`.
    Uint(u64),
    /// A list of `float`. Python sends an empty list as an empty `DoubleList`.
    DoubleList(Vec<f64>),
    /// A list of `int` that all fit an `i64`.
    IntList(Vec<i64>),
    /// A list of `int` of which one is above `i64::MAX`, none negative.
    UintList(Vec<u64>),
}

impl From<f64> for MetricValue {
    fn from(value: f64) -> Self {
        Self::Double(value)
    }
}

impl From<i64> for MetricValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

/// Named metrics, such as `num-examples` and `loss`: Flower's `MetricRecord`.
pub type MetricRecord = OrderedMap<MetricValue>;

impl MetricRecord {
    /// The protobuf body of the record's object, as Python's `MetricRecord.deflate`.
    pub(crate) fn to_proto(&self) -> proto::MetricRecord {
        use proto::metric_record_value::Value;
        let items = self.iter().map(|(key, value)| {
            let value = match value {
                MetricValue::Double(value) => Value::Double(*value),
                MetricValue::Int(value) => Value::Sint64(*value),
                MetricValue::Uint(value) => match i64::try_from(*value) {
                    Ok(small) => Value::Sint64(small),
                    Err(_) => Value::Uint64(*value),
                },
                // Python tries `float` first, and every element of an empty list is one.
                MetricValue::DoubleList(vals) => {
                    Value::DoubleList(proto::DoubleList { vals: vals.clone() })
                }
                MetricValue::IntList(vals) if vals.is_empty() => {
                    Value::DoubleList(proto::DoubleList { vals: vec![] })
                }
                MetricValue::IntList(vals) => {
                    Value::SintList(proto::SintList { vals: vals.clone() })
                }
                MetricValue::UintList(vals) if vals.is_empty() => {
                    Value::DoubleList(proto::DoubleList { vals: vec![] })
                }
                MetricValue::UintList(vals) => match int_list(vals) {
                    Some(vals) => Value::SintList(proto::SintList { vals }),
                    None => Value::UintList(proto::UintList { vals: vals.clone() }),
                },
            };
            proto::metric_record::Item {
                key: key.to_string(),
                value: Some(proto::MetricRecordValue { value: Some(value) }),
            }
        });
        proto::MetricRecord {
            items: items.collect(),
        }
    }

    /// The record a `MetricRecord` object's protobuf body holds, or why not.
    pub(crate) fn from_proto(record: proto::MetricRecord) -> Result<Self, String> {
        use proto::metric_record_value::Value;
        let mut metrics = MetricRecord::new();
        for item in record.items {
            let Some(value) = item.value.and_then(|value| value.value) else {
                return Err(format!("metric `{}` has no value", item.key));
            };
            let value = match value {
                Value::Double(value) => MetricValue::Double(value),
                Value::Sint64(value) => MetricValue::Int(value),
                Value::Uint64(value) => match i64::try_from(value) {
                    Ok(small) => MetricValue::Int(small),
                    Err(_) => MetricValue::Uint(value),
                },
                Value::DoubleList(list) => MetricValue::DoubleList(list.vals),
                Value::SintList(list) => MetricValue::IntList(list.vals),
                Value::UintList(list) => match int_list(&list.vals) {
                    Some(vals) => MetricValue::IntList(vals),
                    None => MetricValue::UintList(list.vals),
                },
            };
            metrics.insert(item.key, value);
        }
        Ok(metrics)
    }
}

/// One record of a [`RecordDict`].
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Named arrays.
    Array(ArrayRecord),
    /// Named config values.
    Config(ConfigRecord),
    /// Named metrics.
    Metric(MetricRecord),
}

impl Record {
    /// The record's Python class, which is also its object kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Array(_) => "ArrayRecord",
            Record::Config(_) => "ConfigRecord",
            Record::Metric(_) => "MetricRecord",
        }
    }
}

impl From<ArrayRecord> for Record {
    fn from(record: ArrayRecord) -> Self {
        Self::Array(record)
    }
}

impl From<ConfigRecord> for Record {
    fn from(record: ConfigRecord) -> Self {
        Self::Config(record)
    }
}

impl From<MetricRecord> for Record {
    fn from(record: MetricRecord) -> Self {
        Self::Metric(record)
    }
}

/// Named records: the content of a message, Flower's `RecordDict`.
pub type RecordDict = OrderedMap<Record>;

impl RecordDict {
    /// The `ArrayRecord` named `name`; [`ProtocolError::MissingRecord`] if there is
    /// none, or a record of another kind under that name.
    pub fn array_record(&self, name: &str) -> Result<&ArrayRecord, ProtocolError> {
        match self.get(name) {
            Some(Record::Array(record)) => Ok(record),
            _ => Err(missing_record("ArrayRecord", name)),
        }
    }

    /// The `ConfigRecord` named `name`; [`ProtocolError::MissingRecord`] if none.
    pub fn config_record(&self, name: &str) -> Result<&ConfigRecord, ProtocolError> {
        match self.get(name) {
            Some(Record::Config(record)) => Ok(record),
            _ => Err(missing_record("ConfigRecord", name)),
        }
    }

    /// The `MetricRecord` named `name`; [`ProtocolError::MissingRecord`] if none.
    pub fn metric_record(&self, name: &str) -> Result<&MetricRecord, ProtocolError> {
        match self.get(name) {
            Some(Record::Metric(record)) => Ok(record),
            _ => Err(missing_record("MetricRecord", name)),
        }
    }
}

fn missing_record(kind: &'static str, name: &str) -> ProtocolError {
    ProtocolError::MissingRecord {
        kind,
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_keeps_the_first_position_like_a_python_dict() {
        let mut config = ConfigRecord::new();
        assert_eq!(config.insert("a", 1i64), None);
        config.insert("b", 2.5);
        assert_eq!(config.insert("a", "x"), Some(ConfigValue::Int(1)));
        assert_eq!(config.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(config.get("a"), Some(&ConfigValue::Str("x".to_string())));
        assert_eq!(config.len(), 2);
        assert!(!config.is_empty());

        let collected: MetricRecord = [("loss", 0.5), ("acc", 0.9), ("loss", 0.25)]
            .into_iter()
            .collect();
        let entries: Vec<_> = collected.iter().collect();
        assert_eq!(
            entries,
            [
                ("loss", &MetricValue::Double(0.25)),
                ("acc", &MetricValue::Double(0.9))
            ]
        );
    }

    #[test]
    fn config_getters_accept_what_python_users_write() {
        let config: ConfigRecord = [
            ("lr", ConfigValue::Double(0.1)),
            ("lr-int", ConfigValue::Int(1)),
            ("epochs", ConfigValue::Int(5)),
            ("negative", ConfigValue::Int(-1)),
            ("float-epochs", ConfigValue::Double(5.0)),
            ("big", ConfigValue::Uint(u64::MAX)),
            ("name", ConfigValue::Str("x".to_string())),
            ("flag", ConfigValue::Bool(true)),
        ]
        .into_iter()
        .collect();

        assert_eq!(config.get_f64("lr"), Ok(Some(0.1)));
        assert_eq!(config.get_f64("lr-int"), Ok(Some(1.0)));
        assert_eq!(config.get_f64("absent"), Ok(None));
        assert_eq!(config.get_usize("epochs"), Ok(Some(5)));
        assert_eq!(config.get_i64("negative"), Ok(Some(-1)));
        assert_eq!(config.get_str("name"), Ok(Some("x")));
        assert_eq!(config.get_bool("flag"), Ok(Some(true)));
        assert_eq!(config.get_usize("absent"), Ok(None));
        assert_eq!(config.get_u64("big"), Ok(Some(u64::MAX)));
        assert!(matches!(
            config.get_u64("negative"),
            Err(ProtocolError::ConfigType { .. })
        ));

        let expect_type = |result: Result<Option<usize>, ProtocolError>, key: &str| {
            assert_eq!(
                result,
                Err(ProtocolError::ConfigType {
                    key: key.to_string(),
                    expected: "a non-negative integer"
                })
            );
        };
        expect_type(config.get_usize("negative"), "negative");
        expect_type(config.get_usize("float-epochs"), "float-epochs");
        expect_type(config.get_usize("name"), "name");
        assert!(matches!(
            config.get_f64("name"),
            Err(ProtocolError::ConfigType {
                expected: "a number",
                ..
            })
        ));
        assert!(matches!(
            config.get_i64("big"),
            Err(ProtocolError::ConfigType { .. })
        ));
        assert!(matches!(
            config.get_str("lr"),
            Err(ProtocolError::ConfigType { .. })
        ));
        assert!(matches!(
            config.get_bool("lr"),
            Err(ProtocolError::ConfigType { .. })
        ));
    }

    #[test]
    fn integers_encode_as_python_would_encode_them() {
        use proto::config_record_value::Value;
        let config: ConfigRecord = [
            ("small-uint", ConfigValue::Uint(5)),
            ("big-uint", ConfigValue::Uint(u64::MAX)),
            ("small-uints", ConfigValue::UintList(vec![1, 2])),
            ("empty-doubles", ConfigValue::DoubleList(vec![])),
        ]
        .into_iter()
        .collect();
        let values: Vec<Value> = config
            .to_proto()
            .items
            .into_iter()
            .map(|item| item.value.unwrap().value.unwrap())
            .collect();
        assert_eq!(
            values,
            [
                Value::Sint64(5),
                Value::Uint64(u64::MAX),
                Value::SintList(proto::SintList { vals: vec![1, 2] }),
                Value::BoolList(proto::BoolList { vals: vec![] }),
            ]
        );

        // Decoding normalises the same way, so a round trip is stable.
        let decoded = ConfigRecord::from_proto(config.to_proto()).unwrap();
        assert_eq!(decoded.get("small-uint"), Some(&ConfigValue::Int(5)));
        assert_eq!(decoded.get("big-uint"), Some(&ConfigValue::Uint(u64::MAX)));
        assert_eq!(
            decoded.get("small-uints"),
            Some(&ConfigValue::IntList(vec![1, 2]))
        );
        assert_eq!(
            decoded.get("empty-doubles"),
            Some(&ConfigValue::BoolList(vec![]))
        );
        assert_eq!(decoded.to_proto(), config.to_proto());
    }

    #[test]
    fn a_value_without_a_value_is_an_error() {
        let record = proto::ConfigRecord {
            items: vec![proto::config_record::Item {
                key: "k".to_string(),
                value: None,
            }],
        };
        assert_eq!(
            ConfigRecord::from_proto(record),
            Err("config value `k` has no value".to_string())
        );
        let record = proto::MetricRecord {
            items: vec![proto::metric_record::Item {
                key: "m".to_string(),
                value: Some(proto::MetricRecordValue { value: None }),
            }],
        };
        assert_eq!(
            MetricRecord::from_proto(record),
            Err("metric `m` has no value".to_string())
        );
    }

    #[test]
    fn array_from_f32_round_trips_and_checks_its_dtype() {
        let array = Array::from_f32(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(array.dtype, "float32");
        assert_eq!(array.stype, "numpy.ndarray");
        assert_eq!(
            array.to_f32("w"),
            Ok((vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]))
        );

        let mut float64 = array.clone();
        float64.dtype = "float64".to_string();
        assert_eq!(
            float64.to_f32("w"),
            Err(ProtocolError::Npy {
                name: "w".to_string(),
                reason: "dtype `float64`, expected `float32`".to_string()
            })
        );

        let mut torch = array.clone();
        torch.stype = "torch.tensor".to_string();
        assert!(matches!(torch.to_f32("w"), Err(ProtocolError::Npy { .. })));

        let mut lying = array.clone();
        lying.shape = vec![4];
        assert!(
            matches!(lying.to_f32("w"), Err(ProtocolError::Npy { reason, .. }) if reason.contains("[2, 2]"))
        );

        let mut truncated = array;
        truncated.data.truncate(100);
        assert!(matches!(
            truncated.to_f32("w"),
            Err(ProtocolError::Npy { .. })
        ));
    }

    #[test]
    fn record_dict_getters_check_the_kind() {
        let mut content = RecordDict::new();
        content.insert("arrays", ArrayRecord::new());
        content.insert("config", ConfigRecord::new());
        content.insert("metrics", MetricRecord::new());
        assert!(content.array_record("arrays").unwrap().is_empty());
        assert!(content.config_record("config").is_ok());
        assert!(content.metric_record("metrics").is_ok());
        assert_eq!(content.get("arrays").map(Record::kind), Some("ArrayRecord"));

        assert_eq!(
            content.array_record("config"),
            Err(ProtocolError::MissingRecord {
                kind: "ArrayRecord",
                name: "config".to_string()
            })
        );
        assert_eq!(
            content.config_record("absent"),
            Err(ProtocolError::MissingRecord {
                kind: "ConfigRecord",
                name: "absent".to_string()
            })
        );
    }
}
