//! Test support: messages that Flower's own classes deflated, read from the JSON
//! fixtures that `tests/fixtures/make_*.py` write, and a byte-for-byte comparison.

use crate::message::Deflated;
use crate::proto;

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn tree_from_json(json: &serde_json::Value) -> proto::ObjectTree {
    proto::ObjectTree {
        object_id: json["object_id"].as_str().unwrap().to_string(),
        children: json["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(tree_from_json)
            .collect(),
    }
}

/// The message `name` of `fixture` (a fixture file's text) as Python deflated it.
pub(crate) fn deflated(fixture: &str, name: &str) -> Deflated {
    let fixture: serde_json::Value = serde_json::from_str(fixture).unwrap();
    let json = &fixture[name];
    Deflated {
        message_id: json["message_id"].as_str().unwrap().to_string(),
        tree: tree_from_json(&json["tree"]),
        objects: json["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_string(),
                    unhex(pair[1].as_str().unwrap()),
                )
            })
            .collect(),
    }
}

/// Checks ids, tree, object order and bytes, with a readable first difference.
pub(crate) fn assert_same(rust: &Deflated, python: &Deflated) {
    for ((rust_id, rust_bytes), (python_id, python_bytes)) in
        rust.objects.iter().zip(&python.objects)
    {
        assert_eq!(
            String::from_utf8_lossy(rust_bytes),
            String::from_utf8_lossy(python_bytes),
            "object {rust_id} differs from Python's {python_id}"
        );
        assert_eq!(rust_id, python_id);
    }
    assert_eq!(rust.objects.len(), python.objects.len());
    assert_eq!(rust.tree, python.tree);
    assert_eq!(rust.message_id, python.message_id);
}
