//! NumPy `.npy` bytes of little-endian `float32` arrays: what a Flower `Array` carries.
//!
//! Flower serialises an array with `np.save(buffer, ndarray, allow_pickle=False)`, so
//! [`write_f32`] writes exactly what `np.save` writes for a C-order `float32` array,
//! and [`read_f32`] reads such bytes back, refusing anything else with
//! [`ProtocolError::Npy`] rather than panicking. [`write_i64`] and [`read_i64`] do the
//! same for `int64`, the dtype of the masked vectors SecAgg+ uploads.

use crate::ProtocolError;

/// The first six bytes of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// numpy aligns the end of the header (magic, version, length and text) to 64 bytes.
const ALIGN: usize = 64;

/// numpy pads the header so that the growth axis can later be rewritten with up to
/// this many digits (`GROWTH_AXIS_MAX_DIGITS` in `numpy/lib/_format_impl.py`).
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The `descr` numpy writes for `float32` on a little-endian machine.
const DESCR_F32: &str = "<f4";

/// The `descr` numpy writes for `int64` on a little-endian machine.
const DESCR_I64: &str = "<i8";

/// Writes a C-order `float32` array as `np.save` does, byte for byte.
///
/// The header is the dict `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
/// padded with spaces and a final `\n` to a multiple of 64 bytes (numpy adds 64 spaces
/// rather than none when it is already aligned), in format version 1.0, or 2.0 when the
/// header would not fit a 16-bit length.
///
/// # Panics
///
/// If `values.len()` is not the product of `shape` (an empty shape is a scalar, one
/// value).
pub fn write_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let mut bytes = header(DESCR_F32, shape, values.len(), 4);
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// Writes a C-order `int64` array as `np.save` does, byte for byte: the header of
/// [`write_f32`] with `'descr': '<i8'`, then the values in little-endian order.
///
/// # Panics
///
/// If `values.len()` is not the product of `shape`.
pub fn write_i64(shape: &[usize], values: &[i64]) -> Vec<u8> {
    let mut bytes = header(DESCR_I64, shape, values.len(), 8);
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// The magic, version, length and padded header text `np.save` writes for a C-order
/// array of `descr`, with room reserved for `count` values of `item_size` bytes.
fn header(descr: &str, shape: &[usize], count: usize, item_size: usize) -> Vec<u8> {
    let expected: usize = shape.iter().product();
    assert_eq!(
        expected, count,
        "shape {shape:?} holds {expected} values, got {count}"
    );

    let mut text = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}",
        shape_repr(shape)
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        text.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }

    // `hlen` counts the final newline; the padding is never empty.
    let hlen = text.len() + 1;
    let (version, prefix_len) = if hlen + padding(10 + hlen) <= usize::from(u16::MAX) {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let pad = padding(prefix_len + hlen);
    let header_len = hlen + pad;

    let mut bytes = Vec::with_capacity(prefix_len + header_len + item_size * count);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[version, 0]);
    if version == 1 {
        // Fits: checked above.
        bytes.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        let len = u32::try_from(header_len).expect("a .npy header longer than 4 GiB");
        bytes.extend_from_slice(&len.to_le_bytes());
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend(std::iter::repeat_n(b' ', pad));
    bytes.push(b'\n');
    bytes
}

/// The spaces numpy adds after a header of `len` bytes: from 1 to 64.
fn padding(len: usize) -> usize {
    ALIGN - len % ALIGN
}

/// A shape as Python's `repr` of a tuple: `()`, `(5,)`, `(2, 3)`.
fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [only] => format!("({only},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// Reads `.npy` bytes of a C-order little-endian `float32` array: its shape and values.
///
/// Accepts format versions 1.0, 2.0 and 3.0. `name` is the array's name in its
/// record, for the error. Errors on bad magic, another version, truncated header or
/// data, another dtype, `fortran_order: True`, or data that does not fill the shape
/// exactly.
pub fn read_f32(name: &str, bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), ProtocolError> {
    let (shape, data, _) = read_raw(name, bytes, &[F32])?;
    Ok((shape, f32_values(data)))
}

/// Reads `.npy` bytes of a C-order little-endian `float32` or `float64` array, the
/// latter rounded to `float32`: its shape and values.
///
/// Flower's legacy strategies (`flwr.server.strategy`) average in `float64`, so a
/// `float32` model comes back from them as `float64` arrays, which a Python
/// client loads into its `float32` model; so does a feddx node. Other errors are
/// those of [`read_f32`].
pub fn read_f32_or_f64(name: &str, bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), ProtocolError> {
    let (shape, data, dtype) = read_raw(name, bytes, &[F32, F64])?;
    let values = if dtype == F32 {
        f32_values(data)
    } else {
        data.chunks_exact(8)
            .map(|bytes| {
                let mut word = [0; 8];
                word.copy_from_slice(bytes);
                f64::from_le_bytes(word) as f32
            })
            .collect()
    };
    Ok((shape, values))
}

fn f32_values(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        .collect()
}

/// A dtype the readers accept: numpy's `descr` on a little-endian machine, its name,
/// and the bytes of one value.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Dtype {
    descr: &'static str,
    name: &'static str,
    size: usize,
}

const F32: Dtype = Dtype {
    descr: DESCR_F32,
    name: "float32",
    size: 4,
};
const F64: Dtype = Dtype {
    descr: "<f8",
    name: "float64",
    size: 8,
};
const I64: Dtype = Dtype {
    descr: DESCR_I64,
    name: "int64",
    size: 8,
};

/// Reads `.npy` bytes of a C-order little-endian `int64` array, as [`read_f32`] reads
/// `float32`: a SecAgg+ masked vector.
pub fn read_i64(name: &str, bytes: &[u8]) -> Result<(Vec<usize>, Vec<i64>), ProtocolError> {
    let (shape, data, _) = read_raw(name, bytes, &[I64])?;
    let values = data
        .chunks_exact(8)
        .map(|bytes| {
            let mut word = [0; 8];
            word.copy_from_slice(bytes);
            i64::from_le_bytes(word)
        })
        .collect();
    Ok((shape, values))
}

/// The shape and data bytes of a C-order array of one of the `accepted` dtypes, and
/// which one it is.
fn read_raw<'a>(
    name: &str,
    bytes: &'a [u8],
    accepted: &[Dtype],
) -> Result<(Vec<usize>, &'a [u8], Dtype), ProtocolError> {
    let npy_error = |reason: String| ProtocolError::Npy {
        name: name.to_string(),
        reason,
    };

    if !bytes.starts_with(MAGIC) {
        return Err(npy_error(if MAGIC.starts_with(bytes) {
            format!(
                "truncated: {} bytes, not even the magic string",
                bytes.len()
            )
        } else {
            "no `\\x93NUMPY` magic string at the start".to_string()
        }));
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err(npy_error("truncated before the format version".to_string())),
    };
    let length_size = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(npy_error(format!(
                "format version {major}.{minor}; versions 1.0, 2.0 and 3.0 are supported"
            )))
        }
    };
    let Some(length_bytes) = bytes.get(8..8 + length_size) else {
        return Err(npy_error("truncated before the header length".to_string()));
    };
    let header_len = length_bytes
        .iter()
        .rev()
        .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
    let header_start = 8 + length_size;
    let Some(header) = bytes.get(header_start..header_start.saturating_add(header_len)) else {
        return Err(npy_error(format!(
            "truncated header: {header_len} bytes declared, {} present",
            bytes.len() - header_start
        )));
    };
    let data = &bytes[header_start + header_len..];

    let header =
        std::str::from_utf8(header).map_err(|_| npy_error("the header is not text".to_string()))?;
    let header = parse_header(header).map_err(npy_error)?;

    let Some(&dtype) = accepted.iter().find(|d| d.descr == header.descr) else {
        let expected: Vec<String> = accepted
            .iter()
            .map(|d| format!("`{}` ({})", d.descr, d.name))
            .collect();
        return Err(npy_error(format!(
            "dtype `{}`, expected {}",
            header.descr,
            expected.join(" or ")
        )));
    };
    if header.fortran_order {
        return Err(npy_error(
            "fortran_order is True; only C-order arrays are supported".to_string(),
        ));
    }

    let needed = header
        .shape
        .iter()
        .try_fold(dtype.size, |bytes, &dim| bytes.checked_mul(dim));
    if needed != Some(data.len()) {
        let needed =
            needed.map_or_else(|| "more than fit in memory".to_string(), |n| n.to_string());
        return Err(npy_error(format!(
            "shape {} needs {needed} bytes of data, found {}",
            shape_repr(&header.shape),
            data.len()
        )));
    }
    Ok((header.shape, data, dtype))
}

/// The three entries of a `.npy` header dict.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A value in a `.npy` header dict, as far as a `float32` array needs.
enum Literal {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses the Python dict literal of a `.npy` header, such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` plus padding.
fn parse_header(text: &str) -> Result<Header, String> {
    let mut parser = Parser { text, pos: 0 };
    let mut descr = None;
    let mut fortran_order = None;
    let mut shape = None;

    parser.expect('{')?;
    loop {
        parser.skip_whitespace();
        if parser.eat('}') {
            break;
        }
        let key = parser.string()?;
        parser.skip_whitespace();
        parser.expect(':')?;
        parser.skip_whitespace();
        let value = parser.literal()?;
        match (key.as_str(), value) {
            ("descr", Literal::Str(value)) => descr = Some(value),
            ("descr", _) => return Err("the header's descr is not a simple dtype".to_string()),
            ("fortran_order", Literal::Bool(value)) => fortran_order = Some(value),
            ("shape", Literal::Tuple(value)) => shape = Some(value),
            (key @ ("fortran_order" | "shape"), _) => {
                return Err(format!("the header's {key} has the wrong type"))
            }
            (key, _) => return Err(format!("the header has an unexpected key `{key}`")),
        }
        parser.skip_whitespace();
        if !parser.eat(',') {
            parser.skip_whitespace();
            parser.expect('}')?;
            break;
        }
    }
    if !parser.rest().trim().is_empty() {
        return Err("the header has text after its dict".to_string());
    }

    let missing = |key: &str| format!("the header has no `{key}`");
    Ok(Header {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
    })
}

/// A cursor over the text of a `.npy` header.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Consumes `c` if the text continues with it.
    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "the header is not a dict: expected `{c}` at byte {}",
                self.pos
            ))
        }
    }

    /// A quoted string without escapes, as numpy writes dtype names and keys.
    fn string(&mut self) -> Result<String, String> {
        let quote = match self.rest().chars().next() {
            Some(quote @ ('\'' | '"')) => quote,
            _ => {
                return Err(format!(
                    "the header is not a dict: expected a string at byte {}",
                    self.pos
                ))
            }
        };
        self.pos += 1;
        let Some(end) = self.rest().find(quote) else {
            return Err("the header has an unterminated string".to_string());
        };
        let value = self.rest()[..end].to_string();
        if value.contains('\\') {
            return Err("the header has a string with escapes".to_string());
        }
        self.pos += end + 1;
        Ok(value)
    }

    fn literal(&mut self) -> Result<Literal, String> {
        let rest = self.rest();
        if rest.starts_with(['\'', '"']) {
            Ok(Literal::Str(self.string()?))
        } else if rest.starts_with("True") {
            self.pos += 4;
            Ok(Literal::Bool(true))
        } else if rest.starts_with("False") {
            self.pos += 5;
            Ok(Literal::Bool(false))
        } else if self.eat('(') {
            self.tuple().map(Literal::Tuple)
        } else {
            Err(format!(
                "the header has an unexpected value at byte {}",
                self.pos
            ))
        }
    }

    /// The rest of a tuple of non-negative integers, after its `(`.
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        let mut dims = Vec::new();
        loop {
            self.skip_whitespace();
            if self.eat(')') {
                return Ok(dims);
            }
            let digits = self.rest().len()
                - self
                    .rest()
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            let dim = self.rest()[..digits].parse().map_err(|_| {
                format!(
                    "the header's shape has a bad dimension at byte {}",
                    self.pos
                )
            })?;
            dims.push(dim);
            self.pos += digits;
            self.skip_whitespace();
            if !self.eat(',') {
                self.skip_whitespace();
                self.expect(')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by numpy 2.4.6 with `np.save(buffer, array, allow_pickle=False)`.
    /// `np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(-0.5)`: starts with -0.0.
    const ARANGE_2X3: &str = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a00000080000000bf000080bf0000c0bf000000c0000020c0";
    /// `np.arange(5, dtype=np.float32)`.
    const ARANGE_5: &str = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028352c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000803f000000400000404000008040";
    /// `np.array(1.5, dtype=np.float32)`: a scalar, shape `()`.
    const SCALAR: &str = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000c03f";
    /// `np.zeros((0,), dtype=np.float32)`.
    const EMPTY_0: &str = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028302c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a";
    /// `np.zeros((2, 0), dtype=np.float32)`.
    const EMPTY_2X0: &str = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2030292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a";
    /// `np.array([1.0, 2.0])`: float64.
    const F64: &str = "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000f03f0000000000000040";
    /// `np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))`.
    const FORTRAN: &str = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a20547275652c20277368617065273a2028322c2033292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a00000000000040400000803f00008040000000400000a040";
    /// `np.arange(2, dtype='>f4')`.
    const BIG_ENDIAN: &str = "934e554d5059010076007b276465736372273a20273e6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000003f800000";
    /// The header alone of shape `(2, 1 x 11, 10, 10)`, where the text ends exactly on a
    /// 64-byte boundary and numpy pads 64 spaces rather than none.
    const PAD64_HEADER: &str = "934e554d50590100b6007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c20312c20312c20312c20312c20312c20312c20312c20312c20312c20312c20312c2031302c203130292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a";
    /// SHA-256 of the header numpy writes for shape `(2, 1 x 30000)`: 90112 bytes, v2.0.
    const V2_HEADER_SHA256: &str =
        "227f1a46d49a29e0cc9081bd2c3758469cd0c786117adf8f19cec8026489253c";

    /// `np.array([-1, 2**40, 0, -2**63], dtype=np.int64).reshape(2, 2)`, through
    /// flwr's `ndarray_to_bytes`.
    const I64_2X2: &str = "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2032292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200affffffffffffffff000000000001000000000000000000000000000000000080";
    /// `np.array(7, dtype=np.int64)`: a scalar.
    const I64_SCALAR: &str = "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0700000000000000";

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn reason(bytes: &[u8]) -> String {
        match read_f32("w", bytes) {
            Err(ProtocolError::Npy { name, reason }) => {
                assert_eq!(name, "w");
                reason
            }
            other => panic!("expected an Npy error, got {other:?}"),
        }
    }

    #[test]
    fn writes_what_numpy_writes() {
        let values: Vec<f32> = (0..6).map(|i| i as f32 * -0.5).collect();
        assert_eq!(write_f32(&[2, 3], &values), unhex(ARANGE_2X3));
        assert_eq!(write_f32(&[5], &[0.0, 1.0, 2.0, 3.0, 4.0]), unhex(ARANGE_5));
        assert_eq!(write_f32(&[], &[1.5]), unhex(SCALAR));
        assert_eq!(write_f32(&[0], &[]), unhex(EMPTY_0));
        assert_eq!(write_f32(&[2, 0], &[]), unhex(EMPTY_2X0));
    }

    #[test]
    fn writes_and_reads_int64_as_numpy_does() {
        let values = [-1, 1 << 40, 0, i64::MIN];
        assert_eq!(write_i64(&[2, 2], &values), unhex(I64_2X2));
        assert_eq!(write_i64(&[], &[7]), unhex(I64_SCALAR));
        assert_eq!(
            read_i64("m", &unhex(I64_2X2)).unwrap(),
            (vec![2, 2], values.to_vec())
        );
        assert_eq!(
            read_i64("m", &unhex(I64_SCALAR)).unwrap(),
            (vec![], vec![7])
        );
        // Each reader refuses the other's dtype.
        assert!(matches!(
            read_i64("m", &unhex(ARANGE_5)),
            Err(ProtocolError::Npy { reason, .. }) if reason == "dtype `<f4`, expected `<i8` (int64)"
        ));
        assert_eq!(
            reason(&unhex(I64_SCALAR)),
            "dtype `<i8`, expected `<f4` (float32)"
        );
        let mut short = unhex(I64_2X2);
        short.truncate(short.len() - 4);
        assert!(read_i64("m", &short).is_err());
    }

    #[test]
    fn pads_a_full_64_bytes_when_the_header_is_already_aligned() {
        let mut shape = vec![2];
        shape.extend([1; 11]);
        shape.extend([10, 10]);
        let header = unhex(PAD64_HEADER);
        assert_eq!(header.len(), 192);
        let bytes = write_f32(&shape, &[0.0; 200]);
        assert_eq!(bytes[..192], header[..]);
        assert_eq!(bytes.len(), 192 + 800);
    }

    #[test]
    fn writes_version_2_for_a_header_too_long_for_16_bits() {
        let mut shape = vec![2];
        shape.extend([1; 30_000]);
        let bytes = write_f32(&shape, &[0.5, 0.25]);
        assert_eq!(bytes.len(), 90_112 + 8);
        assert_eq!(crate::object::object_id(&bytes[..90_112]), V2_HEADER_SHA256);
        assert_eq!(read_f32("w", &bytes).unwrap(), (shape, vec![0.5, 0.25]));
    }

    #[test]
    fn reads_what_numpy_writes() {
        let (shape, values) = read_f32("w", &unhex(ARANGE_2X3)).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(values, vec![-0.0, -0.5, -1.0, -1.5, -2.0, -2.5]);
        assert!(values[0].is_sign_negative());
        assert_eq!(
            read_f32("w", &unhex(ARANGE_5)).unwrap().1,
            vec![0.0, 1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(read_f32("w", &unhex(SCALAR)).unwrap(), (vec![], vec![1.5]));
        assert_eq!(read_f32("w", &unhex(EMPTY_0)).unwrap(), (vec![0], vec![]));
        assert_eq!(
            read_f32("w", &unhex(EMPTY_2X0)).unwrap(),
            (vec![2, 0], vec![])
        );
    }

    #[test]
    fn reads_any_key_order_and_spacing() {
        let text = "{\"shape\":(3 ,2),'fortran_order':False,'descr':'<f4'}";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(&[0; 24]);
        assert_eq!(read_f32("w", &bytes).unwrap(), (vec![3, 2], vec![0.0; 6]));
    }

    #[test]
    fn refuses_other_dtypes_and_fortran_order() {
        assert_eq!(reason(&unhex(F64)), "dtype `<f8`, expected `<f4` (float32)");
        assert_eq!(
            reason(&unhex(BIG_ENDIAN)),
            "dtype `>f4`, expected `<f4` (float32)"
        );
        assert!(reason(&unhex(FORTRAN)).contains("fortran_order is True"));
    }

    #[test]
    fn refuses_bad_magic_and_versions() {
        assert!(reason(b"PK\x03\x04 not npy").contains("magic"));
        assert!(reason(b"").contains("truncated"));
        let mut bytes = unhex(ARANGE_5);
        bytes[6] = 4;
        assert!(reason(&bytes).contains("format version 4.0"));
    }

    #[test]
    fn refuses_data_that_does_not_fill_the_shape() {
        let mut bytes = unhex(ARANGE_5);
        bytes.pop();
        assert_eq!(
            reason(&bytes),
            "shape (5,) needs 20 bytes of data, found 19"
        );
        bytes.extend_from_slice(&[0; 5]);
        assert_eq!(
            reason(&bytes),
            "shape (5,) needs 20 bytes of data, found 24"
        );
        let huge = "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 2), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(huge.len() as u16).to_le_bytes());
        bytes.extend_from_slice(huge.as_bytes());
        assert!(reason(&bytes).contains("more than fit in memory"));
    }

    #[test]
    fn refuses_headers_numpy_would_not_write() {
        for text in [
            "",
            "[]",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,",
            "{'descr': '<f4\\', 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
        ] {
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(&[0; 8]);
            assert!(read_f32("w", &bytes).is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn never_panics_on_a_prefix_or_a_corrupted_byte() {
        for file in [ARANGE_2X3, SCALAR, EMPTY_2X0, F64, FORTRAN] {
            let bytes = unhex(file);
            for end in 0..bytes.len() {
                let _ = read_f32("w", &bytes[..end]);
            }
            for i in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut corrupted = bytes.clone();
                    corrupted[i] ^= flip;
                    let _ = read_f32("w", &corrupted);
                }
            }
        }
        // Every proper prefix of a valid file is refused.
        let bytes = unhex(ARANGE_2X3);
        for end in 0..bytes.len() {
            assert!(read_f32("w", &bytes[..end]).is_err());
        }
        // A header length that points far past the end.
        let mut bytes = unhex(ARANGE_5);
        bytes[8] = 0xff;
        bytes[9] = 0xff;
        assert!(reason(&bytes).contains("truncated header: 65535 bytes declared"));
    }

    #[test]
    fn round_trips() {
        let values: Vec<f32> = (0..24).map(|i| (i as f32).sin()).collect();
        let bytes = write_f32(&[2, 3, 4], &values);
        assert_eq!(bytes.len() % 64, (24 * 4) % 64);
        assert_eq!(read_f32("w", &bytes).unwrap(), (vec![2, 3, 4], values));
    }
}
