//! Flower's `Message` as a tree of content-addressed objects, and replies to one.
//!
//! A message travels as objects (see [`crate::object`]), each naming its children in
//! its header:
//!
//! ```text
//! Message ── RecordDict ─┬─ ArrayRecord ── Array ── ArrayChunk (5 MiB of .npy bytes each)
//!                        ├─ ConfigRecord
//!                        └─ MetricRecord
//! ```
//!
//! [`Message::deflate`] writes the bytes Python's `deflate` methods write, so the same
//! content gets the same ids in Rust and in Python, and [`Message::inflate`] reads a
//! tree back, checking every object against its id and its place in the tree.

use std::collections::{HashMap, HashSet};
use std::fmt;

use prost::Message as _;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::object::{decode_object, encode_object, object_id, verify_id, ObjectParts};
use crate::records::{
    Array, ArrayRecord, ConfigRecord, MetricRecord, OrderedMap, Record, RecordDict,
};
use crate::{proto, ProtocolError};

/// The size of an `ArrayChunk`: Flower slices an array's `.npy` bytes into chunks of
/// this many bytes, the last one shorter (`FLWR_PRIVATE_MAX_ARRAY_CHUNK_SIZE`).
pub const ARRAY_CHUNK_SIZE: usize = 5_242_880;

/// The most array data [`Message::inflate`] builds for one message, in bytes,
/// counting an array each time the message names it: a bound on what a hostile tree
/// can make a node allocate.
pub const MAX_ARRAY_BYTES: usize = 1 << 30;

/// The codes of a message's error, from `ErrorCode` in `flwr/common/constant.py`.
pub mod error_code {
    /// An error of no other kind.
    pub const UNKNOWN: i64 = 0;
    /// The `ClientApp` could not be loaded.
    pub const LOAD_CLIENT_APP_EXCEPTION: i64 = 1;
    /// The `ClientApp` raised an exception while handling the message.
    pub const CLIENT_APP_RAISED_EXCEPTION: i64 = 2;
    /// The message was not available.
    pub const MESSAGE_UNAVAILABLE: i64 = 3;
    /// The reply to the message was not available.
    pub const REPLY_MESSAGE_UNAVAILABLE: i64 = 4;
    /// The node was not available.
    pub const NODE_UNAVAILABLE: i64 = 5;
    /// A mod's precondition failed.
    pub const MOD_FAILED_PRECONDITION: i64 = 6;
    /// The FAB was invalid.
    pub const INVALID_FAB: i64 = 7;
    /// The `ClientApp` process crashed.
    pub const CLIENT_APP_CRASHED: i64 = 8;
}

/// A Flower message: metadata, and either content or an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who sends it to whom, in which run, and what it replies to. `message_id` is the
    /// id of the message's object, which [`Message::inflate`] sets and
    /// [`Message::deflate`] leaves out of the bytes.
    pub metadata: proto::Metadata,
    /// The records it carries, when it carries no error.
    pub content: Option<RecordDict>,
    /// What went wrong, when it carries no content.
    pub error: Option<proto::Error>,
}

/// A deflated message: its id, its object tree, and the bytes of its objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Deflated {
    /// The id of the `Message` object: the message's id.
    pub message_id: String,
    /// The tree of object ids, as the Fleet API's `message_object_trees` carry it.
    pub tree: proto::ObjectTree,
    /// Each distinct object once, as `(id, bytes)`, children before their parents.
    pub objects: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// The message as Flower objects, with the ids Python gives the same message.
    ///
    /// A message needs content or an error; with both, only the error is sent, as a
    /// Python message cannot carry both.
    pub fn deflate(&self) -> Deflated {
        let mut builder = Builder::default();
        let mut children = Vec::new();
        if self.error.is_none() {
            if let Some(content) = &self.content {
                children.push(builder.record_dict(content));
            }
        }
        let mut metadata = self.metadata.clone();
        metadata.message_id.clear();
        let body = proto::Message {
            metadata: Some(metadata),
            content: None,
            error: self.error.clone(),
        };
        let tree = builder.add("Message", children, &body.encode_to_vec());
        Deflated {
            message_id: tree.object_id.clone(),
            tree,
            objects: builder.objects,
        }
    }

    /// The message whose `Message` object is `root_id`, from its object tree and the
    /// bytes of its objects.
    ///
    /// Every object must be present ([`ProtocolError::MissingObject`]), hash to its id
    /// ([`ProtocolError::ObjectIdMismatch`]), be of the kind its place needs, list the
    /// children the tree lists, and hold a body that decodes
    /// ([`ProtocolError::MalformedObject`]). `.npy` bytes are only read by
    /// [`Array::to_f32`]. Sets `metadata.message_id` to `root_id`.
    pub fn inflate(
        root_id: &str,
        tree: &proto::ObjectTree,
        objects: &HashMap<String, Vec<u8>>,
    ) -> Result<Message, ProtocolError> {
        if tree.object_id != root_id {
            return Err(malformed(
                root_id,
                format!("the object tree is rooted at `{}`", tree.object_id),
            ));
        }
        let mut inflater = Inflater {
            objects,
            budget: MAX_ARRAY_BYTES,
        };
        let parts = inflater.open(tree, "Message")?;
        let body: proto::Message = decode_body(root_id, &parts, "Message")?;

        let mut metadata = body.metadata.unwrap_or_default();
        metadata.message_id = root_id.to_string();
        let (content, error) = match (body.error, tree.children.as_slice()) {
            (Some(error), []) => (None, Some(error)),
            (None, [child]) => (Some(inflater.record_dict(child)?), None),
            (Some(_), _) => {
                return Err(malformed(
                    root_id,
                    "it carries both an error and content".to_string(),
                ))
            }
            (None, []) => {
                return Err(malformed(
                    root_id,
                    "it carries neither content nor an error".to_string(),
                ))
            }
            (None, children) => {
                return Err(malformed(
                    root_id,
                    format!(
                        "it has {} children; a message has one RecordDict",
                        children.len()
                    ),
                ))
            }
        };
        Ok(Message {
            metadata,
            content,
            error,
        })
    }

    /// The reply to this message carrying `content`: [`reply_to`]`(self, content, now)`.
    pub fn reply(&self, content: RecordDict, now: f64) -> Message {
        reply_to(self, content, now)
    }

    /// The error reply to this message: [`error_reply_to`]`(self, code, reason, now)`.
    pub fn error_reply(&self, code: i64, reason: &str, now: f64) -> Message {
        error_reply_to(self, code, reason.to_string(), now)
    }
}

/// The reply to `msg` carrying `content`, created at `now` (seconds since the Unix
/// epoch), as Python's `Message(content, reply_to=msg)` builds it.
pub fn reply_to(msg: &Message, content: RecordDict, now: f64) -> Message {
    Message {
        metadata: reply_metadata(&msg.metadata, now),
        content: Some(content),
        error: None,
    }
}

/// The reply to `msg` reporting an error, as Python's
/// `Message(Error(code, reason), reply_to=msg)` builds it. `code` is one of
/// [`error_code`].
pub fn error_reply_to(msg: &Message, code: i64, reason: String, now: f64) -> Message {
    Message {
        metadata: reply_metadata(&msg.metadata, now),
        content: None,
        error: Some(proto::Error { code, reason }),
    }
}

/// The metadata of a reply: back to the sender, living as long as the message it
/// answers has left to live (`_limit_reply_ttl` in `flwr/app/message/message.py`).
fn reply_metadata(msg: &proto::Metadata, now: f64) -> proto::Metadata {
    proto::Metadata {
        run_id: msg.run_id,
        message_id: String::new(),
        src_node_id: msg.dst_node_id,
        dst_node_id: msg.src_node_id,
        reply_to_message_id: msg.message_id.clone(),
        group_id: msg.group_id.clone(),
        ttl: msg.created_at + msg.ttl - now,
        message_type: msg.message_type.clone(),
        created_at: now,
        src_task_id: msg.dst_task_id,
        dst_task_id: msg.src_task_id,
    }
}

/// Collects a message's objects while deflating it, bottom-up.
#[derive(Default)]
struct Builder {
    objects: Vec<(String, Vec<u8>)>,
    seen: HashSet<String>,
}

impl Builder {
    /// Encodes one object over its (distinct) children's trees; returns its tree.
    fn add(
        &mut self,
        kind: &str,
        children: Vec<proto::ObjectTree>,
        body: &[u8],
    ) -> proto::ObjectTree {
        let ids: Vec<String> = children
            .iter()
            .map(|child| child.object_id.clone())
            .collect();
        let content = encode_object(kind, &ids, body);
        let id = object_id(&content);
        if self.seen.insert(id.clone()) {
            self.objects.push((id.clone(), content));
        }
        proto::ObjectTree {
            object_id: id,
            children,
        }
    }

    /// `RecordDict`: JSON of names to record ids; children are the distinct records.
    fn record_dict(&mut self, content: &RecordDict) -> proto::ObjectTree {
        let trees: Vec<proto::ObjectTree> = content
            .iter()
            .map(|(_, record)| match record {
                Record::Array(record) => self.array_record(record),
                Record::Config(record) => {
                    self.add("ConfigRecord", vec![], &record.to_proto().encode_to_vec())
                }
                Record::Metric(record) => {
                    self.add("MetricRecord", vec![], &record.to_proto().encode_to_vec())
                }
            })
            .collect();
        let body = refs_json(content.names().zip(&trees));
        self.add("RecordDict", distinct(trees), body.as_bytes())
    }

    /// `ArrayRecord`: JSON of names to array ids; children are the distinct arrays.
    fn array_record(&mut self, record: &ArrayRecord) -> proto::ObjectTree {
        let trees: Vec<proto::ObjectTree> =
            record.iter().map(|(_, array)| self.array(array)).collect();
        let body = refs_json(record.names().zip(&trees));
        self.add("ArrayRecord", distinct(trees), body.as_bytes())
    }

    /// `Array`: JSON of dtype, shape, stype and, for each chunk of the data in order,
    /// its index among the distinct chunks, which are the children.
    fn array(&mut self, array: &Array) -> proto::ObjectTree {
        let mut chunks: Vec<proto::ObjectTree> = Vec::new();
        let mut indices = Vec::new();
        for data in array.data.chunks(ARRAY_CHUNK_SIZE) {
            let chunk = self.add("ArrayChunk", vec![], data);
            let index = match chunks
                .iter()
                .position(|seen| seen.object_id == chunk.object_id)
            {
                Some(index) => index,
                None => {
                    chunks.push(chunk);
                    chunks.len() - 1
                }
            };
            indices.push(index);
        }

        let mut body = String::from("{\"dtype\": ");
        push_json_string(&mut body, &array.dtype);
        body.push_str(", \"shape\": ");
        push_json_list(&mut body, &array.shape);
        body.push_str(", \"stype\": ");
        push_json_string(&mut body, &array.stype);
        body.push_str(", \"arraychunk_ids\": ");
        push_json_list(&mut body, &indices);
        body.push('}');
        self.add("Array", chunks, body.as_bytes())
    }
}

/// The trees with a distinct id, in first-appearance order: the children of an
/// object, which Python keys by id in a dict.
fn distinct(trees: Vec<proto::ObjectTree>) -> Vec<proto::ObjectTree> {
    let mut seen = HashSet::new();
    trees
        .into_iter()
        .filter(|tree| seen.insert(tree.object_id.clone()))
        .collect()
}

/// `{"name": "id", ...}` as Python's `json.dumps` writes a dict of names to ids.
fn refs_json<'a>(refs: impl Iterator<Item = (&'a str, &'a proto::ObjectTree)>) -> String {
    let mut json = String::from("{");
    for (i, (name, tree)) in refs.enumerate() {
        if i > 0 {
            json.push_str(", ");
        }
        push_json_string(&mut json, name);
        json.push_str(": ");
        push_json_string(&mut json, &tree.object_id);
    }
    json.push('}');
    json
}

/// `[2, 3]` as Python's `json.dumps` writes a list of ints.
fn push_json_list(json: &mut String, values: &[usize]) {
    let values: Vec<String> = values.iter().map(usize::to_string).collect();
    json.push('[');
    json.push_str(&values.join(", "));
    json.push(']');
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii=True`): printable
/// ASCII as is, `\n`-style escapes where JSON has them, and `\uXXXX` (lowercase hex,
/// UTF-16 surrogate pairs) for everything else, including DEL.
fn push_json_string(json: &mut String, text: &str) {
    json.push('"');
    for c in text.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            '\u{8}' => json.push_str("\\b"),
            '\u{c}' => json.push_str("\\f"),
            ' '..='~' => json.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    json.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    json.push('"');
}

/// The JSON body of an `Array` object.
#[derive(Deserialize)]
struct ArrayMeta {
    dtype: String,
    shape: Vec<usize>,
    stype: String,
    arraychunk_ids: Vec<usize>,
}

/// The JSON body of a `RecordDict` or `ArrayRecord`: names to ids, in order, a repeated
/// name keeping its first place and its last id (as Python's `json.loads`).
struct Refs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Refs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RefsVisitor;

        impl<'de> Visitor<'de> for RefsVisitor {
            type Value = Refs;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object of names to object ids")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Refs, A::Error> {
                let mut refs: Vec<(String, String)> = Vec::new();
                let mut positions: HashMap<String, usize> = HashMap::new();
                while let Some((name, id)) = map.next_entry::<String, String>()? {
                    match positions.get(&name) {
                        Some(&position) => refs[position].1 = id,
                        None => {
                            positions.insert(name.clone(), refs.len());
                            refs.push((name, id));
                        }
                    }
                }
                Ok(Refs(refs))
            }
        }

        deserializer.deserialize_map(RefsVisitor)
    }
}

fn malformed(id: &str, reason: String) -> ProtocolError {
    ProtocolError::MalformedObject {
        id: id.to_string(),
        reason,
    }
}

/// Reads a message's objects, top-down along its tree.
struct Inflater<'a> {
    objects: &'a HashMap<String, Vec<u8>>,
    /// Bytes of array data the message may still make us build.
    budget: usize,
}

impl<'a> Inflater<'a> {
    /// The parts of the object at the root of `tree`, checked against its id and
    /// against the children the tree lists.
    fn open_any(&self, tree: &proto::ObjectTree) -> Result<ObjectParts<'a>, ProtocolError> {
        let id = tree.object_id.as_str();
        let content = self
            .objects
            .get(id)
            .ok_or_else(|| ProtocolError::MissingObject { id: id.to_string() })?;
        verify_id(id, content)?;
        let parts = decode_object(id, content)?;

        let mut distinct = HashSet::new();
        if let Some(twice) = parts
            .children
            .iter()
            .find(|child| !distinct.insert(**child))
        {
            return Err(malformed(
                id,
                format!("its header lists the child `{twice}` twice"),
            ));
        }
        let tree_children: Vec<&str> = tree
            .children
            .iter()
            .map(|child| child.object_id.as_str())
            .collect();
        if parts.children != tree_children {
            return Err(malformed(
                id,
                format!(
                    "its header lists {} children, which differ from the {} the object tree lists",
                    parts.children.len(),
                    tree_children.len()
                ),
            ));
        }
        Ok(parts)
    }

    /// [`Inflater::open_any`] for an object that must be of `kind`.
    fn open(&self, tree: &proto::ObjectTree, kind: &str) -> Result<ObjectParts<'a>, ProtocolError> {
        let parts = self.open_any(tree)?;
        if parts.kind != kind {
            return Err(malformed(
                &tree.object_id,
                format!("it is a `{}` where a `{kind}` belongs", parts.kind),
            ));
        }
        Ok(parts)
    }

    fn record_dict(&mut self, tree: &proto::ObjectTree) -> Result<RecordDict, ProtocolError> {
        let parts = self.open(tree, "RecordDict")?;
        let refs = parse_refs(&tree.object_id, &parts)?;
        let mut records = HashMap::new();
        for child in &tree.children {
            records.insert(child.object_id.clone(), self.record(child)?);
        }
        self.assemble(&tree.object_id, refs, records, record_bytes)
    }

    fn record(&mut self, tree: &proto::ObjectTree) -> Result<Record, ProtocolError> {
        let id = tree.object_id.as_str();
        let parts = self.open_any(tree)?;
        match parts.kind {
            "ArrayRecord" => {
                let refs = parse_refs(id, &parts)?;
                let mut arrays = HashMap::new();
                for child in &tree.children {
                    arrays.insert(child.object_id.clone(), self.array(child)?);
                }
                let arrays = self.assemble(id, refs, arrays, |array: &Array| array.data.len())?;
                Ok(Record::Array(arrays))
            }
            "ConfigRecord" => {
                no_children(id, &parts)?;
                let record = decode_body(id, &parts, "ConfigRecord")?;
                let record =
                    ConfigRecord::from_proto(record).map_err(|reason| malformed(id, reason))?;
                Ok(Record::Config(record))
            }
            "MetricRecord" => {
                no_children(id, &parts)?;
                let record = decode_body(id, &parts, "MetricRecord")?;
                let record =
                    MetricRecord::from_proto(record).map_err(|reason| malformed(id, reason))?;
                Ok(Record::Metric(record))
            }
            other => Err(malformed(
                id,
                format!("it is a `{other}` where a record belongs"),
            )),
        }
    }

    fn array(&mut self, tree: &proto::ObjectTree) -> Result<Array, ProtocolError> {
        let id = tree.object_id.as_str();
        let parts = self.open(tree, "Array")?;
        let meta: ArrayMeta = serde_json::from_slice(parts.body).map_err(|error| {
            malformed(id, format!("its body is not the JSON of an Array: {error}"))
        })?;

        let mut chunks: HashMap<&str, &[u8]> = HashMap::new();
        for child in &tree.children {
            let chunk = self.open(child, "ArrayChunk")?;
            no_children(&child.object_id, &chunk)?;
            chunks.insert(child.object_id.as_str(), chunk.body);
        }

        // Each chunk the body names, in order; every child must be one of them.
        let mut order = Vec::with_capacity(meta.arraychunk_ids.len());
        let mut named = vec![false; parts.children.len()];
        for &index in &meta.arraychunk_ids {
            let Some(&child) = parts.children.get(index) else {
                return Err(malformed(
                    id,
                    format!(
                        "its arraychunk_ids name chunk {index}, but it has {} children",
                        parts.children.len()
                    ),
                ));
            };
            named[index] = true;
            order.push(chunks.get(child).copied().unwrap_or_default());
        }
        if let Some(unused) = named.iter().position(|named| !named) {
            return Err(malformed(
                id,
                format!(
                    "its child `{}` is not among its arraychunk_ids",
                    parts.children[unused]
                ),
            ));
        }

        let total = order
            .iter()
            .try_fold(0usize, |total, chunk| total.checked_add(chunk.len()))
            .unwrap_or(usize::MAX);
        self.charge(id, total)?;
        let mut data = Vec::with_capacity(total);
        for chunk in order {
            data.extend_from_slice(chunk);
        }
        Ok(Array {
            dtype: meta.dtype,
            shape: meta.shape,
            stype: meta.stype,
            data,
        })
    }

    /// The named values of a `RecordDict` or `ArrayRecord` from its inflated children,
    /// moving each child into its last use and charging the copies to the budget.
    fn assemble<T: Clone>(
        &mut self,
        id: &str,
        refs: Vec<(String, String)>,
        mut children: HashMap<String, T>,
        bytes: impl Fn(&T) -> usize,
    ) -> Result<OrderedMap<T>, ProtocolError> {
        let mut uses: HashMap<String, usize> = HashMap::new();
        for (_, child) in &refs {
            *uses.entry(child.clone()).or_default() += 1;
        }
        let mut map = OrderedMap::new();
        for (name, child) in refs {
            let left = uses.entry(child.clone()).or_default();
            *left = left.saturating_sub(1);
            let value = if *left == 0 {
                children.remove(&child)
            } else {
                let copy = children.get(&child).cloned();
                if let Some(copy) = &copy {
                    self.charge(id, bytes(copy))?;
                }
                copy
            };
            if let Some(value) = value {
                map.insert(name, value);
            }
        }
        Ok(map)
    }

    /// Takes `bytes` of array data from the budget, or fails if it is spent.
    fn charge(&mut self, id: &str, bytes: usize) -> Result<(), ProtocolError> {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(malformed(
                id,
                format!("the message's arrays add up to more than {MAX_ARRAY_BYTES} bytes"),
            )),
        }
    }
}

/// The names and child ids of a `RecordDict` or `ArrayRecord` body, checked against
/// its children: each id named must be a child, and each child named.
fn parse_refs(id: &str, parts: &ObjectParts<'_>) -> Result<Vec<(String, String)>, ProtocolError> {
    let Refs(refs) = serde_json::from_slice(parts.body).map_err(|error| {
        malformed(
            id,
            format!("its body is not the JSON of a {}: {error}", parts.kind),
        )
    })?;
    let children: HashSet<&str> = parts.children.iter().copied().collect();
    if let Some((name, child)) = refs
        .iter()
        .find(|(_, child)| !children.contains(child.as_str()))
    {
        return Err(malformed(
            id,
            format!("`{name}` names `{child}`, which is not one of its children"),
        ));
    }
    let named: HashSet<&str> = refs.iter().map(|(_, child)| child.as_str()).collect();
    if let Some(unnamed) = parts.children.iter().find(|child| !named.contains(*child)) {
        return Err(malformed(id, format!("its child `{unnamed}` has no name")));
    }
    Ok(refs)
}

/// An object's protobuf body as `flwr.proto.{message}`.
fn decode_body<P: prost::Message + Default>(
    id: &str,
    parts: &ObjectParts<'_>,
    message: &str,
) -> Result<P, ProtocolError> {
    P::decode(parts.body).map_err(|error| {
        malformed(
            id,
            format!("its body is not a flwr.proto.{message}: {error}"),
        )
    })
}

fn no_children(id: &str, parts: &ObjectParts<'_>) -> Result<(), ProtocolError> {
    if parts.children.is_empty() {
        Ok(())
    } else {
        Err(malformed(id, format!("a `{}` has no children", parts.kind)))
    }
}

/// The bytes of array data a record holds.
fn record_bytes(record: &Record) -> usize {
    match record {
        Record::Array(arrays) => arrays.iter().map(|(_, array)| array.data.len()).sum(),
        Record::Config(_) | Record::Metric(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy;
    use crate::python_fixture::{self, assert_same};
    use crate::records::{ConfigValue, MetricValue};

    /// Written by `tests/fixtures/make_objects.py` with flwr 1.42.0's own classes.
    const FIXTURE: &str = include_str!("../tests/fixtures/flwr_objects.json");
    /// The reply's clock in the fixture.
    const NOW: f64 = 1_795_753_666.25;

    fn fixture() -> serde_json::Value {
        serde_json::from_str(FIXTURE).unwrap()
    }

    /// A message of the fixture as Python deflated it.
    fn python(name: &str) -> Deflated {
        python_fixture::deflated(FIXTURE, name)
    }

    fn objects_map(deflated: &Deflated) -> HashMap<String, Vec<u8>> {
        deflated.objects.iter().cloned().collect()
    }

    fn inflate(deflated: &Deflated) -> Result<Message, ProtocolError> {
        Message::inflate(&deflated.message_id, &deflated.tree, &objects_map(deflated))
    }

    fn f32_array(shape: &[usize], values: &[f32]) -> Array {
        Array::from_f32(shape, values)
    }

    fn weight() -> Vec<f32> {
        (0..6).map(|i| i as f32 * 0.25 - 0.5).collect()
    }

    fn bias() -> Vec<f32> {
        vec![0.1, -0.2, 0.3]
    }

    fn plus_one(values: &[f32]) -> Vec<f32> {
        values.iter().map(|value| value + 1.0).collect()
    }

    /// The `train` instruction of the fixture, built in Rust.
    fn train_ins() -> Message {
        let arrays: ArrayRecord = [
            ("0.weight", f32_array(&[2, 3], &weight())),
            ("0.bias", f32_array(&[3], &bias())),
        ]
        .into_iter()
        .collect();
        let config: ConfigRecord = [
            ("server-round", ConfigValue::Int(1)),
            ("lr", ConfigValue::Double(0.1)),
            ("local-epochs", ConfigValue::Int(2)),
            ("name", ConfigValue::Str("x".to_string())),
        ]
        .into_iter()
        .collect();
        let mut content = RecordDict::new();
        content.insert("arrays", arrays);
        content.insert("config", config);
        Message {
            metadata: proto::Metadata {
                run_id: 8_849_900_443_447_817_177,
                message_id: String::new(),
                src_node_id: 1,
                dst_node_id: 2_371_656_885_867_416_675,
                reply_to_message_id: String::new(),
                group_id: String::new(),
                ttl: 43_200.0,
                message_type: "train".to_string(),
                created_at: 1_795_753_661.366_328,
                src_task_id: Some(13_128_073_751_093_268_019),
                dst_task_id: None,
            },
            content: Some(content),
            error: None,
        }
    }

    /// The content of the node's reply in the fixture.
    fn train_res_content() -> RecordDict {
        let arrays: ArrayRecord = [
            ("0.weight", f32_array(&[2, 3], &plus_one(&weight()))),
            ("0.bias", f32_array(&[3], &plus_one(&bias()))),
        ]
        .into_iter()
        .collect();
        let metrics: MetricRecord = [
            ("num-examples", MetricValue::Int(12)),
            ("loss", MetricValue::Double(0.5)),
        ]
        .into_iter()
        .collect();
        let config: ConfigRecord = [
            ("lr", ConfigValue::Double(0.1)),
            ("local-epochs", ConfigValue::Int(2)),
            ("name", ConfigValue::Str("x".to_string())),
        ]
        .into_iter()
        .collect();
        let mut content = RecordDict::new();
        content.insert("arrays", arrays);
        content.insert("metrics", metrics);
        content.insert("config", config);
        content
    }

    /// `.npy` bytes of a 1-D float64 array, as numpy writes them: the float32 header
    /// with `<f8` for `<f4`, then the values.
    fn npy_f64(values: &[f64]) -> Vec<u8> {
        let f32_bytes = npy::write_f32(&[values.len()], &vec![0.0; values.len()]);
        let mut bytes = f32_bytes[..f32_bytes.len() - 4 * values.len()].to_vec();
        let at = bytes
            .windows(3)
            .position(|window| window == b"<f4")
            .unwrap();
        bytes[at + 2] = b'8';
        for value in values {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    /// The fixture's message with every kind of value, built in Rust.
    fn kitchen_sink() -> Message {
        let mut arrays = ArrayRecord::new();
        arrays.insert("scalar", f32_array(&[], &[1.5]));
        arrays.insert("vec", f32_array(&[5], &[0.0, 1.0, 2.0, 3.0, 4.0]));
        arrays.insert("zeros.a", f32_array(&[3], &[0.0; 3]));
        arrays.insert("zeros.b", f32_array(&[3], &[0.0; 3]));
        arrays.insert("empty", f32_array(&[2, 0], &[]));
        arrays.insert(
            "f64",
            Array {
                dtype: "float64".to_string(),
                shape: vec![2],
                stype: "numpy.ndarray".to_string(),
                data: npy_f64(&[1.0, 2.0]),
            },
        );
        arrays.insert("tab\tkey\u{7f}\\/", f32_array(&[1, 1, 2], &[1.0, 1.0]));

        let config: ConfigRecord = [
            ("f", ConfigValue::Double(0.1)),
            ("i", ConfigValue::Int(-5)),
            ("u", ConfigValue::Uint(u64::MAX)),
            ("b", ConfigValue::Bool(true)),
            ("s", ConfigValue::Str("h\u{e9}llo".to_string())),
            ("by", ConfigValue::Bytes(vec![0x00, 0xff])),
            ("fl", ConfigValue::DoubleList(vec![1.5, -0.0])),
            ("il", ConfigValue::IntList(vec![1, -2])),
            ("ul", ConfigValue::UintList(vec![1 << 63, 1])),
            ("bl", ConfigValue::BoolList(vec![true, false])),
            (
                "sl",
                ConfigValue::StrList(vec!["a".to_string(), "\u{fc}".to_string()]),
            ),
            ("byl", ConfigValue::BytesList(vec![vec![], vec![1]])),
            ("empty", ConfigValue::BoolList(vec![])),
        ]
        .into_iter()
        .collect();
        let metrics: MetricRecord = [
            ("i", MetricValue::Int(-3)),
            ("f", MetricValue::Double(2.5)),
            ("il", MetricValue::IntList(vec![1, -2])),
            ("fl", MetricValue::DoubleList(vec![0.5])),
            ("empty", MetricValue::DoubleList(vec![])),
            ("big", MetricValue::Uint(1 << 63)),
            ("bigl", MetricValue::UintList(vec![u64::MAX, 1])),
        ]
        .into_iter()
        .collect();

        let mut content = RecordDict::new();
        content.insert("arrays \u{2713}\"\u{e9}\u{1F600}", arrays);
        content.insert("cfg", config);
        content.insert("met", metrics);
        content.insert("empty-cfg", ConfigRecord::new());
        content.insert("empty-cfg-2", ConfigRecord::new());
        content.insert("empty-met", MetricRecord::new());
        content.insert("empty-arrays", ArrayRecord::new());
        Message {
            metadata: proto::Metadata {
                run_id: 7,
                src_node_id: 1,
                dst_node_id: 2,
                group_id: "g1".to_string(),
                created_at: 1_000_000_000.125,
                ttl: 10.5,
                message_type: "query.custom".to_string(),
                dst_task_id: Some(7),
                ..Default::default()
            },
            content: Some(content),
            error: None,
        }
    }

    #[test]
    fn inflates_pythons_train_instruction() {
        let python = python("train_ins");
        let message = inflate(&python).unwrap();
        assert_eq!(message.metadata.message_id, python.message_id);
        assert_eq!(
            message.metadata.src_task_id,
            Some(13_128_073_751_093_268_019)
        );
        assert_eq!(message.metadata.message_type, "train");
        assert_eq!(message.error, None);

        let content = message.content.as_ref().unwrap();
        let arrays = content.array_record("arrays").unwrap();
        assert_eq!(arrays.names().collect::<Vec<_>>(), ["0.weight", "0.bias"]);
        assert_eq!(
            arrays.get("0.weight").unwrap().to_f32("0.weight"),
            Ok((vec![2, 3], weight()))
        );
        assert_eq!(
            arrays.get("0.bias").unwrap().to_f32("0.bias"),
            Ok((vec![3], bias()))
        );
        let config = content.config_record("config").unwrap();
        assert_eq!(config.get_u64("server-round"), Ok(Some(1)));
        assert_eq!(config.get_f64("lr"), Ok(Some(0.1)));
        assert_eq!(config.get_usize("local-epochs"), Ok(Some(2)));
        assert_eq!(config.get_str("name"), Ok(Some("x")));

        let mut expected = train_ins();
        expected.metadata.message_id = python.message_id.clone();
        assert_eq!(message, expected);
    }

    #[test]
    fn deflates_the_train_instruction_as_python_does() {
        assert_same(&train_ins().deflate(), &python("train_ins"));
        // The message id in the metadata is not part of the bytes.
        let mut with_id = train_ins();
        with_id.metadata.message_id = "anything".to_string();
        assert_same(&with_id.deflate(), &python("train_ins"));
    }

    #[test]
    fn replies_as_python_does() {
        let incoming = inflate(&python("train_ins")).unwrap();
        let reply = reply_to(&incoming, train_res_content(), NOW);
        assert_eq!(
            reply.metadata.reply_to_message_id,
            incoming.metadata.message_id
        );
        assert_eq!(reply.metadata.src_node_id, incoming.metadata.dst_node_id);
        assert_eq!(reply.metadata.dst_task_id, incoming.metadata.src_task_id);
        assert_eq!(reply.metadata.src_task_id, None);
        assert_eq!(reply.metadata.created_at, NOW);
        assert_eq!(reply.metadata.ttl, 1_795_753_661.366_328 + 43_200.0 - NOW);
        assert_same(&reply.deflate(), &python("train_res"));
        assert_eq!(incoming.reply(train_res_content(), NOW), reply);

        let python_reply = inflate(&python("train_res")).unwrap();
        let mut expected = reply;
        expected.metadata.message_id = python("train_res").message_id;
        assert_eq!(python_reply, expected);
    }

    #[test]
    fn error_replies_as_python_does() {
        let incoming = inflate(&python("train_ins")).unwrap();
        let reply = error_reply_to(
            &incoming,
            error_code::CLIENT_APP_RAISED_EXCEPTION,
            "boom: \u{2713}".to_string(),
            NOW,
        );
        let deflated = reply.deflate();
        assert_same(&deflated, &python("error_res"));
        assert!(deflated.tree.children.is_empty());
        assert_eq!(incoming.error_reply(2, "boom: \u{2713}", NOW), reply);

        let inflated = inflate(&python("error_res")).unwrap();
        assert_eq!(inflated.content, None);
        assert_eq!(
            inflated.error,
            Some(proto::Error {
                code: 2,
                reason: "boom: \u{2713}".to_string()
            })
        );

        // Content next to an error is not sent, as Python cannot send both.
        let mut both = reply.clone();
        both.content = Some(train_res_content());
        assert_same(&both.deflate(), &python("error_res"));
    }

    #[test]
    fn every_kind_of_value_matches_python() {
        let python = python("kitchen_sink");
        let rust = kitchen_sink();
        assert_same(&rust.deflate(), &python);

        let inflated = inflate(&python).unwrap();
        let mut expected = rust;
        expected.metadata.message_id = python.message_id.clone();
        assert_eq!(inflated, expected);

        // Identical arrays and identical records are one object, named twice.
        let content = inflated.content.unwrap();
        let arrays = content
            .array_record("arrays \u{2713}\"\u{e9}\u{1F600}")
            .unwrap();
        assert_eq!(arrays.get("zeros.a"), arrays.get("zeros.b"));
        assert_eq!(
            arrays.get("scalar").unwrap().to_f32("scalar"),
            Ok((vec![], vec![1.5]))
        );
        assert_eq!(
            arrays.get("empty").unwrap().to_f32("empty"),
            Ok((vec![2, 0], vec![]))
        );
        assert!(matches!(
            arrays.get("f64").unwrap().to_f32("f64"),
            Err(ProtocolError::Npy { reason, .. }) if reason.contains("float64")
        ));
        let array_record = &python.tree.children[0].children[0];
        assert_eq!(
            array_record.children.len(),
            6,
            "7 arrays, 2 of them identical"
        );
        assert_eq!(
            python.tree.children[0].children.len(),
            6,
            "7 records, 2 of them identical"
        );
    }

    #[test]
    fn json_strings_escape_as_python_does() {
        let mut json = String::new();
        push_json_string(
            &mut json,
            "a\"\\/\n\r\t\u{8}\u{c}\u{1}\u{7f}\u{e9}\u{2713}\u{1F600} ~",
        );
        assert_eq!(
            json,
            r#""a\"\\/\n\r\t\b\f\u0001\u007f\u00e9\u2713\ud83d\ude00 ~""#
        );
    }

    /// An array of `len` float32 values `0, 1, 2, ...`, as `np.arange(len, dtype=np.float32)`.
    fn arange(len: usize) -> Array {
        let values: Vec<f32> = (0..len).map(|i| i as f32).collect();
        f32_array(&[len], &values)
    }

    /// A message carrying one array record, for chunking tests.
    fn carrying(arrays: ArrayRecord) -> Message {
        let mut message = train_ins();
        let mut content = RecordDict::new();
        content.insert("arrays", arrays);
        message.content = Some(content);
        message
    }

    #[test]
    fn chunks_large_arrays_as_python_does() {
        let fixture = fixture();
        for (name, array, chunks) in [
            ("arange_1500000", arange(1_500_000), 2),
            (
                "zeros_3_chunks",
                f32_array(&[3_932_128], &vec![0.0; 3_932_128]),
                3,
            ),
        ] {
            let expected = &fixture[name];
            let mut builder = Builder::default();
            let tree = builder.array(&array);
            assert_eq!(
                tree.object_id,
                expected["array_id"].as_str().unwrap(),
                "{name}"
            );
            let chunk_ids: Vec<&str> = tree
                .children
                .iter()
                .map(|chunk| chunk.object_id.as_str())
                .collect();
            let expected_ids: Vec<&str> = expected["chunk_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap())
                .collect();
            assert_eq!(chunk_ids, expected_ids, "{name}");

            // Each chunk is `ArrayChunk  <len>\0` and its slice of the .npy bytes.
            let slices: Vec<&[u8]> = array.data.chunks(ARRAY_CHUNK_SIZE).collect();
            assert_eq!(slices.len(), chunks);
            for (i, slice) in slices.iter().enumerate() {
                let mut content = format!("ArrayChunk  {}\0", slice.len()).into_bytes();
                content.extend_from_slice(slice);
                assert!(
                    chunk_ids.contains(&object_id(&content).as_str()),
                    "{name} chunk {i}"
                );
            }
            let (_, array_bytes) = builder.objects.last().unwrap();
            let body = decode_object("a", array_bytes).unwrap().body;
            assert_eq!(
                body,
                expected["body"].as_str().unwrap().as_bytes(),
                "{name}"
            );
        }
    }

    #[test]
    fn chunked_arrays_round_trip() {
        let arrays: ArrayRecord = [
            ("big", arange(1_500_000)),
            ("zeros", f32_array(&[3_932_128], &vec![0.0; 3_932_128])),
            ("small", f32_array(&[2], &[1.0, 2.0])),
        ]
        .into_iter()
        .collect();
        let message = carrying(arrays.clone());
        let deflated = message.deflate();
        // Two chunks, three chunks of which two are identical, one chunk: 6 chunks and
        // 3 arrays, an ArrayRecord, a RecordDict and the Message.
        assert_eq!(deflated.objects.len(), 2 + 2 + 1 + 3 + 3);
        let inflated = inflate(&deflated).unwrap();
        assert_eq!(
            inflated.content.unwrap().array_record("arrays").unwrap(),
            &arrays
        );
    }

    /// Replaces the object `target` by `content`, and every ancestor by itself with the
    /// new ids of its children, as a sender could: the result hashes right.
    fn replace(deflated: &Deflated, target: &str, content: &[u8]) -> Deflated {
        let objects = objects_map(deflated);
        let mut rebuilt: Vec<(String, Vec<u8>)> = Vec::new();
        let tree = rebuild(&deflated.tree, &objects, target, content, &mut rebuilt);
        Deflated {
            message_id: tree.object_id.clone(),
            tree,
            objects: rebuilt,
        }
    }

    fn rebuild(
        tree: &proto::ObjectTree,
        objects: &HashMap<String, Vec<u8>>,
        target: &str,
        replacement: &[u8],
        rebuilt: &mut Vec<(String, Vec<u8>)>,
    ) -> proto::ObjectTree {
        let children: Vec<proto::ObjectTree> = tree
            .children
            .iter()
            .map(|child| rebuild(child, objects, target, replacement, rebuilt))
            .collect();
        let mut content = if tree.object_id == target {
            replacement.to_vec()
        } else {
            objects[&tree.object_id].clone()
        };
        for (old, new) in tree.children.iter().zip(&children) {
            content = replace_bytes(&content, old.object_id.as_bytes(), new.object_id.as_bytes());
        }
        let id = object_id(&content);
        rebuilt.push((id.clone(), content));
        proto::ObjectTree {
            object_id: id,
            children,
        }
    }

    fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(haystack.len());
        let mut i = 0;
        while i < haystack.len() {
            if haystack[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
            } else {
                out.push(haystack[i]);
                i += 1;
            }
        }
        out
    }

    fn id_of_kind(deflated: &Deflated, kind: &str) -> String {
        deflated
            .objects
            .iter()
            .find(|(id, bytes)| decode_object(id, bytes).unwrap().kind == kind)
            .map(|(id, _)| id.clone())
            .unwrap()
    }

    fn malformed_reason(result: Result<Message, ProtocolError>) -> String {
        match result {
            Err(ProtocolError::MalformedObject { reason, .. }) => reason,
            other => panic!("expected MalformedObject, got {other:?}"),
        }
    }

    #[test]
    fn a_flipped_byte_is_an_id_mismatch() {
        let python = python("train_ins");
        for (id, _) in &python.objects {
            let mut objects = objects_map(&python);
            let bytes = objects.get_mut(id).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            match Message::inflate(&python.message_id, &python.tree, &objects) {
                Err(ProtocolError::ObjectIdMismatch { expected, .. }) => assert_eq!(&expected, id),
                other => panic!("expected ObjectIdMismatch, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_missing_object_is_named() {
        let python = python("train_ins");
        let chunk = id_of_kind(&python, "ArrayChunk");
        let mut objects = objects_map(&python);
        objects.remove(&chunk);
        assert_eq!(
            Message::inflate(&python.message_id, &python.tree, &objects),
            Err(ProtocolError::MissingObject { id: chunk })
        );
    }

    #[test]
    fn a_body_length_that_lies_is_malformed() {
        let python = python("train_ins");
        let config = id_of_kind(&python, "ConfigRecord");
        let bytes = objects_map(&python)[&config].clone();
        let lying = replace_bytes(&bytes, b"ConfigRecord  ", b"ConfigRecord  1");
        let reason = malformed_reason(inflate(&replace(&python, &config, &lying)));
        assert!(reason.contains("declares a body of 1"), "{reason}");
    }

    #[test]
    fn truncated_or_float64_npy_is_an_npy_error_once_read() {
        let python = python("train_ins");
        let chunk = id_of_kind(&python, "ArrayChunk");
        let bytes = objects_map(&python)[&chunk].clone();
        let parts = decode_object(&chunk, &bytes).unwrap();

        // Truncated: the tree is consistent, the .npy bytes are not.
        let short = parts.body[..parts.body.len() - 3].to_vec();
        let truncated = encode_object("ArrayChunk", &[], &short);
        let message = inflate(&replace(&python, &chunk, &truncated)).unwrap();
        let arrays = message.content.unwrap();
        let arrays = arrays.array_record("arrays").unwrap();
        let (name, array) = arrays
            .iter()
            .find(|(_, array)| array.data == short)
            .unwrap();
        assert!(
            matches!(array.to_f32(name), Err(ProtocolError::Npy { reason, .. }) if reason.contains("needs"))
        );

        // Float64 bytes under a float32 Array.
        let float64 = encode_object("ArrayChunk", &[], &npy_f64(&[1.0, 2.0, 3.0]));
        let message = inflate(&replace(&python, &chunk, &float64)).unwrap();
        let content = message.content.unwrap();
        let arrays = content.array_record("arrays").unwrap();
        let (name, array) = arrays
            .iter()
            .find(|(_, array)| array.data.len() == 128 + 24)
            .unwrap();
        assert!(matches!(
            array.to_f32(name),
            Err(ProtocolError::Npy { reason, .. }) if reason == "dtype `<f8`, expected `<f4` (float32)"
        ));
        assert!(matches!(
            crate::arrays::record_to_weights(
                &[
                    feddx_runtime::weights::NamedTensor {
                        name: "0.weight".into(),
                        shape: vec![2, 3],
                        values: vec![]
                    },
                    feddx_runtime::weights::NamedTensor {
                        name: "0.bias".into(),
                        shape: vec![3],
                        values: vec![]
                    },
                ],
                arrays
            ),
            Err(ProtocolError::Npy { .. })
        ));
    }

    #[test]
    fn records_must_name_only_their_children() {
        let python = python("train_ins");
        let record = id_of_kind(&python, "ArrayRecord");
        let bytes = objects_map(&python)[&record].clone();
        let parts = decode_object(&record, &bytes).unwrap();
        let children: Vec<String> = parts
            .children
            .iter()
            .map(|child| child.to_string())
            .collect();

        // A name pointing to an object that is not a child.
        let stranger = object_id(b"stranger");
        let body = format!(
            "{{\"0.weight\": \"{}\", \"0.bias\": \"{stranger}\"}}",
            children[0]
        );
        let pointing = encode_object("ArrayRecord", &children, body.as_bytes());
        let reason = malformed_reason(inflate(&replace(&python, &record, &pointing)));
        assert!(
            reason.contains(&format!(
                "`0.bias` names `{stranger}`, which is not one of its children"
            )),
            "{reason}"
        );

        // A child that no name points to.
        let body = format!("{{\"0.weight\": \"{}\"}}", children[0]);
        let unnamed = encode_object("ArrayRecord", &children, body.as_bytes());
        let reason = malformed_reason(inflate(&replace(&python, &record, &unnamed)));
        assert!(reason.contains("has no name"), "{reason}");

        // Not JSON, and JSON of the wrong shape.
        for body in ["{\"0.weight\": ", "[1, 2]", "{\"0.weight\": 5}"] {
            let bad = encode_object("ArrayRecord", &children, body.as_bytes());
            let reason = malformed_reason(inflate(&replace(&python, &record, &bad)));
            assert!(reason.contains("not the JSON of a ArrayRecord"), "{reason}");
        }
    }

    #[test]
    fn arrays_must_index_their_own_chunks() {
        let python = python("train_ins");
        let array = id_of_kind(&python, "Array");
        let bytes = objects_map(&python)[&array].clone();
        for (from, to, expected) in [
            (
                &b"[0]}"[..],
                &b"[1]}"[..],
                "name chunk 1, but it has 1 children",
            ),
            (b"[0]}", b"[]} ", "is not among its arraychunk_ids"),
            (
                b"\"shape\": [",
                b"\"shape\": [-",
                "not the JSON of an Array",
            ),
        ] {
            let bad = replace_bytes(&bytes, from, to);
            let bad = replace_bytes(
                &bad,
                b"86\0",
                format!("{}\0", bad.len() - bytes.len() + 86).as_bytes(),
            );
            let reason = malformed_reason(inflate(&replace(&python, &array, &bad)));
            assert!(reason.contains(expected), "{reason}");
        }
    }

    #[test]
    fn kinds_and_children_must_fit_their_place() {
        let python = python("train_ins");
        let record_dict = id_of_kind(&python, "RecordDict");
        let bytes = objects_map(&python)[&record_dict].clone();
        let wrong_kind = replace_bytes(&bytes, b"RecordDict ", b"ArrayRecord ");
        let reason = malformed_reason(inflate(&replace(&python, &record_dict, &wrong_kind)));
        assert!(
            reason.contains("is a `ArrayRecord` where a `RecordDict` belongs"),
            "{reason}"
        );

        // A tree that lists other children than the header.
        let mut deflated = python.clone();
        deflated.tree.children[0].children.reverse();
        let reason = malformed_reason(inflate(&deflated));
        assert!(reason.contains("differ from"), "{reason}");

        // A tree rooted elsewhere.
        assert!(matches!(
            Message::inflate(&record_dict, &python.tree, &objects_map(&python)),
            Err(ProtocolError::MalformedObject { .. })
        ));

        // A message with neither content nor error.
        let empty = encode_object("Message", &[], b"");
        let id = object_id(&empty);
        let tree = proto::ObjectTree {
            object_id: id.clone(),
            children: vec![],
        };
        let objects = HashMap::from([(id.clone(), empty)]);
        let reason = malformed_reason(Message::inflate(&id, &tree, &objects));
        assert!(reason.contains("neither content nor an error"), "{reason}");
    }

    #[test]
    fn repeated_chunks_cannot_make_a_huge_array() {
        let chunk = encode_object("ArrayChunk", &[], &vec![0; 1 << 20]);
        let chunk_id = object_id(&chunk);
        let indices = vec!["0"; 1025].join(", ");
        let body = format!("{{\"dtype\": \"float32\", \"shape\": [1], \"stype\": \"numpy.ndarray\", \"arraychunk_ids\": [{indices}]}}");
        let array = encode_object("Array", std::slice::from_ref(&chunk_id), body.as_bytes());
        let array_id = object_id(&array);
        let record = encode_object(
            "ArrayRecord",
            std::slice::from_ref(&array_id),
            format!("{{\"a\": \"{array_id}\"}}").as_bytes(),
        );
        let record_id = object_id(&record);
        let dict = encode_object(
            "RecordDict",
            std::slice::from_ref(&record_id),
            format!("{{\"r\": \"{record_id}\"}}").as_bytes(),
        );
        let dict_id = object_id(&dict);
        let message = encode_object("Message", std::slice::from_ref(&dict_id), b"");
        let message_id = object_id(&message);

        let leaf = |id: &str| proto::ObjectTree {
            object_id: id.to_string(),
            children: vec![],
        };
        let node = |id: &str, child| proto::ObjectTree {
            object_id: id.to_string(),
            children: vec![child],
        };
        let tree = node(
            &message_id,
            node(&dict_id, node(&record_id, node(&array_id, leaf(&chunk_id)))),
        );
        let objects = HashMap::from([
            (chunk_id, chunk),
            (array_id, array),
            (record_id, record),
            (dict_id, dict),
            (message_id.clone(), message),
        ]);
        let reason = malformed_reason(Message::inflate(&message_id, &tree, &objects));
        assert!(reason.contains("add up to more than"), "{reason}");
    }

    #[test]
    fn never_panics_on_corrupted_objects_that_hash_right() {
        for name in ["train_ins", "error_res"] {
            let python = python(name);
            for (id, bytes) in &python.objects {
                let mut variants: Vec<Vec<u8>> =
                    (0..bytes.len()).map(|end| bytes[..end].to_vec()).collect();
                for i in 0..bytes.len() {
                    for flip in [0x01, 0x20, 0x80] {
                        let mut corrupted = bytes.clone();
                        corrupted[i] ^= flip;
                        variants.push(corrupted);
                    }
                }
                for variant in variants {
                    let _ = inflate(&replace(&python, id, &variant));
                }
            }
        }
    }
}
