//! Flower's content-addressed objects: `Kind <child ids> <body length>\0<body>`.
//!
//! Every piece of a Flower message (the message itself, its `RecordDict`, each record,
//! each array and each chunk of an array) travels as one such object, and its id is
//! the SHA-256 hex of its bytes (`flwr/supercore/inflatable/inflatable_object.py`).

use sha2::{Digest, Sha256};

use crate::ProtocolError;

/// The SHA-256 of an object's bytes, in lowercase hex: its id.
pub fn object_id(content: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(content) {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

/// The bytes of an object: `Kind <children comma-separated> <body length>\0<body>`.
///
/// An object without children has two spaces after its kind (`ArrayChunk  152\0...`),
/// as Python writes it.
pub fn encode_object(kind: &str, children: &[String], body: &[u8]) -> Vec<u8> {
    let head = format!("{kind} {} {}", children.join(","), body.len());
    let mut content = Vec::with_capacity(head.len() + 1 + body.len());
    content.extend_from_slice(head.as_bytes());
    content.push(0);
    content.extend_from_slice(body);
    content
}

/// An object split into its header values and its body, borrowing its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectParts<'a> {
    /// The Python class the object deflates, such as `Array` or `RecordDict`.
    pub kind: &'a str,
    /// The ids of its children, in header order.
    pub children: Vec<&'a str>,
    /// Its body, whose length the header declares.
    pub body: &'a [u8],
}

/// Splits an object's bytes into kind, children and body.
///
/// Checks what Flower's `validate_object_content` checks: a `\0` after a UTF-8
/// header of exactly three space-separated values, children that are SHA-256 hex
/// ids, and a body as long as the header says. `id` only names the object in
/// errors; [`verify_id`] checks it.
pub fn decode_object<'a>(id: &str, content: &'a [u8]) -> Result<ObjectParts<'a>, ProtocolError> {
    let malformed = |reason: String| ProtocolError::MalformedObject {
        id: id.to_string(),
        reason,
    };

    let Some(divider) = content.iter().position(|&byte| byte == 0) else {
        return Err(malformed("no `\\0` ends its header".to_string()));
    };
    let head = std::str::from_utf8(&content[..divider])
        .map_err(|_| malformed("its header is not UTF-8".to_string()))?;
    let body = &content[divider + 1..];

    let values: Vec<&str> = head.split(' ').collect();
    let [kind, children, body_len] = values[..] else {
        return Err(malformed(format!(
            "its header `{}` is not `Kind <children> <body length>`",
            shorten(head)
        )));
    };
    if kind.is_empty() {
        return Err(malformed("its header names no kind".to_string()));
    }

    let children: Vec<&str> = if children.is_empty() {
        Vec::new()
    } else {
        children.split(',').collect()
    };
    if let Some(bad) = children.iter().find(|child| !is_object_id(child)) {
        return Err(malformed(format!(
            "its header names a child `{}` that is not a SHA-256 hex id",
            shorten(bad)
        )));
    }

    let declared: usize = match body_len.parse() {
        Ok(len) if body_len.bytes().all(|byte| byte.is_ascii_digit()) => len,
        _ => {
            return Err(malformed(format!(
                "its header's body length `{}` is not a number",
                shorten(body_len)
            )))
        }
    };
    if declared != body.len() {
        return Err(malformed(format!(
            "its header declares a body of {declared} bytes, but the body has {}",
            body.len()
        )));
    }

    Ok(ObjectParts {
        kind,
        children,
        body,
    })
}

/// Checks that `content` hashes to `expected`, the id it was sent or asked for under.
pub fn verify_id(expected: &str, content: &[u8]) -> Result<(), ProtocolError> {
    let actual = object_id(content);
    if actual == expected {
        Ok(())
    } else {
        Err(ProtocolError::ObjectIdMismatch {
            expected: expected.to_string(),
            actual,
        })
    }
}

/// Whether `id` looks like an object id: 64 lowercase hex digits.
fn is_object_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// At most 80 characters of hostile text, for an error message.
fn shorten(text: &str) -> String {
    if text.chars().count() <= 80 {
        text.to_string()
    } else {
        let start: String = text.chars().take(80).collect();
        format!("{start}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Array` object of the first message in `/work/shared/flower/fleet-trace.txt`.
    const TRACE_ARRAY: &[u8] = b"Array 83184cc9c814ee3493aa215b97040a4a2ab345bd0e81cd85584c82e0e9a97104 86\0{\"dtype\": \"float32\", \"shape\": [2, 3], \"stype\": \"numpy.ndarray\", \"arraychunk_ids\": [0]}";
    const TRACE_ARRAY_ID: &str = "6c0cd2596e171acc522cfcbb3837234a376907e548365693357505c61ea990ec";
    const CHUNK_ID: &str = "83184cc9c814ee3493aa215b97040a4a2ab345bd0e81cd85584c82e0e9a97104";

    #[test]
    fn object_id_is_lowercase_sha256_hex() {
        assert_eq!(
            object_id(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(object_id(TRACE_ARRAY), TRACE_ARRAY_ID);
    }

    #[test]
    fn encodes_the_trace_bytes() {
        let body = br#"{"dtype": "float32", "shape": [2, 3], "stype": "numpy.ndarray", "arraychunk_ids": [0]}"#;
        assert_eq!(
            encode_object("Array", &[CHUNK_ID.to_string()], body),
            TRACE_ARRAY
        );
        assert_eq!(
            encode_object("ConfigRecord", &[], b""),
            b"ConfigRecord  0\0".to_vec()
        );
        let two = encode_object("RecordDict", &["a".repeat(64), "b".repeat(64)], b"{}");
        assert!(two.starts_with(
            format!("RecordDict {},{} 2\0", "a".repeat(64), "b".repeat(64)).as_bytes()
        ));
    }

    #[test]
    fn decodes_what_it_encodes() {
        let parts = decode_object(TRACE_ARRAY_ID, TRACE_ARRAY).unwrap();
        assert_eq!(parts.kind, "Array");
        assert_eq!(parts.children, vec![CHUNK_ID]);
        assert_eq!(parts.body.len(), 86);

        let chunk = encode_object("ArrayChunk", &[], b"\0 body with \0 and spaces");
        let parts = decode_object("x", &chunk).unwrap();
        assert_eq!(parts.kind, "ArrayChunk");
        assert!(parts.children.is_empty());
        assert_eq!(parts.body, b"\0 body with \0 and spaces");
    }

    fn reason(content: &[u8]) -> String {
        match decode_object("x", content) {
            Err(ProtocolError::MalformedObject { id, reason }) => {
                assert_eq!(id, "x");
                reason
            }
            other => panic!("expected MalformedObject, got {other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        assert!(reason(b"Array  3").contains("no `\\0`"));
        assert!(reason(b"Arr\xffay  3\0abc").contains("not UTF-8"));
        assert!(reason(b"Array 3\0abc").contains("not `Kind"));
        assert!(reason(b"Array a b 3\0abc").contains("not `Kind"));
        assert!(reason(b"  3\0abc").contains("no kind"));
        assert!(reason(b"Array abc 3\0abc").contains("not a SHA-256"));
        let upper = format!("Array {} 3\0abc", CHUNK_ID.to_uppercase());
        assert!(reason(upper.as_bytes()).contains("not a SHA-256"));
        let empty_child = format!("Array {CHUNK_ID}, 3\0abc");
        assert!(reason(empty_child.as_bytes()).contains("not a SHA-256"));
        assert!(reason(b"Array  +3\0abc").contains("not a number"));
        assert!(reason(b"Array  \0abc").contains("not a number"));
        assert!(reason(b"Array  99999999999999999999999\0abc").contains("not a number"));
    }

    #[test]
    fn rejects_a_body_length_that_lies() {
        assert!(reason(b"Array  4\0abc").contains("declares a body of 4 bytes, but the body has 3"));
        assert!(reason(b"Array  2\0abc").contains("declares a body of 2 bytes"));
        // Every prefix of a valid object is an error, never a panic.
        for end in 0..TRACE_ARRAY.len() {
            assert!(decode_object("x", &TRACE_ARRAY[..end]).is_err());
        }
    }

    #[test]
    fn verify_id_names_both_ids() {
        verify_id(TRACE_ARRAY_ID, TRACE_ARRAY).unwrap();
        let mut flipped = TRACE_ARRAY.to_vec();
        flipped[100] ^= 1;
        match verify_id(TRACE_ARRAY_ID, &flipped) {
            Err(ProtocolError::ObjectIdMismatch { expected, actual }) => {
                assert_eq!(expected, TRACE_ARRAY_ID);
                assert_eq!(actual, object_id(&flipped));
            }
            other => panic!("expected ObjectIdMismatch, got {other:?}"),
        }
    }
}
