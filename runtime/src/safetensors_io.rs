//! The bytes of feddx's safetensors files: `F32` tensors in and out, bit for bit,
//! and files written atomically.
//!
//! Shared by [checkpoints](crate::federated::checkpoint) and
//! [weights files](crate::weights_file); each maps an [`IoFailure`] to its own error.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView, View};

/// An `F32` tensor over a slice, for safetensors' writer.
pub(crate) struct F32View<'a> {
    values: &'a [f32],
    shape: Vec<usize>,
}

impl<'a> F32View<'a> {
    /// `values` with `shape`; their product must be `values.len()`.
    pub(crate) fn new(values: &'a [f32], shape: Vec<usize>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        F32View { values, shape }
    }

    /// `values` as a 1-D tensor.
    pub(crate) fn flat(values: &'a [f32]) -> Self {
        F32View::new(values, vec![values.len()])
    }
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        // safetensors is little-endian; `to_le_bytes` keeps every bit, NaN payloads too.
        Cow::Owned(self.values.iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    fn data_len(&self) -> usize {
        size_of_val(self.values)
    }
}

/// The values of an `F32` tensor, bit for bit.
///
/// The caller checks the dtype; safetensors' reader has checked that the data holds
/// exactly `shape` × 4 bytes.
pub(crate) fn f32_values(view: &TensorView<'_>) -> Vec<f32> {
    debug_assert_eq!(view.dtype(), Dtype::F32);
    view.data()
        .chunks_exact(size_of::<f32>())
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The bytes of a safetensors file of `tensors` and string `metadata`: the same
/// bytes for the same tensors and metadata, whatever the order they come in.
///
/// safetensors 0.8 sorts the tensors (by dtype, then name) but takes the metadata
/// as a `HashMap` and writes its keys in that map's order, which differs from one
/// map to the next: two identical runs would write different files. So the tensors
/// are laid out by safetensors without metadata, and the `__metadata__` entry is
/// put first in the header (where safetensors puts it), its keys in sorted order;
/// the header is padded with spaces to a multiple of 8 bytes as safetensors pads
/// it. The data offsets are relative to the end of the header, so they stay right.
///
/// # Errors
/// safetensors' error (a header over its 100 MB limit), as
/// [`io::ErrorKind::InvalidData`].
pub(crate) fn serialize<'a>(
    tensors: impl IntoIterator<Item = (&'a str, F32View<'a>)>,
    metadata: &BTreeMap<String, String>,
) -> io::Result<Vec<u8>> {
    let invalid = |reason: String| io::Error::new(io::ErrorKind::InvalidData, reason);
    let bare = safetensors::serialize(tensors, None).map_err(|e| invalid(e.to_string()))?;
    let (len, rest) = bare
        .split_first_chunk::<8>()
        .ok_or_else(|| invalid("safetensors wrote no header length".into()))?;
    let header_len = usize::try_from(u64::from_le_bytes(*len))
        .ok()
        .filter(|&n| n <= rest.len())
        .ok_or_else(|| invalid("safetensors wrote a header longer than its file".into()))?;
    let (header, data) = rest.split_at(header_len);
    let tensors_json = std::str::from_utf8(header)
        .ok()
        .map(str::trim_end)
        .and_then(|h| h.strip_prefix('{')?.strip_suffix('}'))
        .ok_or_else(|| invalid("safetensors wrote a header that is not a JSON object".into()))?;
    let metadata_json = serde_json::to_string(metadata).map_err(|e| invalid(e.to_string()))?;
    let mut header = format!("{{\"__metadata__\":{metadata_json}");
    if !tensors_json.is_empty() {
        header.push(',');
        header.push_str(tensors_json);
    }
    header.push('}');
    let mut header = header.into_bytes();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut bytes = Vec::with_capacity(8 + header.len() + data.len());
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(data);
    Ok(bytes)
}

/// An I/O operation that failed on a file.
#[derive(Debug)]
pub(crate) struct IoFailure {
    /// The file the operation was on.
    pub path: PathBuf,
    /// What was being done: `create`, `write`, `sync`, `rename`.
    pub operation: &'static str,
    /// The error.
    pub error: io::Error,
}

impl IoFailure {
    fn new(path: &Path, operation: &'static str, error: io::Error) -> Self {
        IoFailure {
            path: path.to_owned(),
            operation,
            error,
        }
    }
}

/// Writes `bytes` to `<name>.tmp-<pid>` beside `path`, syncs it and renames it over
/// `path`, so a crash mid-write leaves either the previous file or the new one,
/// never a broken file.
///
/// Writes to one path must not overlap in time within a process: they would share
/// the temporary file.
///
/// # Errors
/// The first operation that fails; the temporary file is removed then, and `path`
/// is untouched.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IoFailure> {
    let temp = temp_path(path)?;
    let written = (|| {
        let mut file = File::create(&temp).map_err(|e| IoFailure::new(&temp, "create", e))?;
        file.write_all(bytes)
            .map_err(|e| IoFailure::new(&temp, "write", e))?;
        file.sync_all()
            .map_err(|e| IoFailure::new(&temp, "sync", e))?;
        fs::rename(&temp, path).map_err(|e| IoFailure::new(path, "rename", e))
    })();
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&temp);
        return written;
    }
    sync_parent(path);
    Ok(())
}

/// `<dir>/<name>.tmp-<pid>` for `path` = `<dir>/<name>`.
fn temp_path(path: &Path) -> Result<PathBuf, IoFailure> {
    let Some(name) = path.file_name() else {
        return Err(IoFailure::new(
            path,
            "create",
            io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file"),
        ));
    };
    let mut temp = name.to_owned();
    temp.push(format!(".tmp-{}", std::process::id()));
    Ok(path.with_file_name(temp))
}

/// Syncs the directory holding `path`, so the rename itself survives a power loss.
///
/// Best effort: the file is complete and in place whatever happens here, and some
/// platforms and file systems cannot open or sync a directory.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::SafeTensors;

    #[test]
    fn f32_tensors_round_trip_bit_for_bit() {
        let values = [
            1.5,
            -0.0,
            f32::from_bits(0x7fc0_1234),
            f32::INFINITY,
            3.0,
            4.0,
        ];
        let bytes = safetensors::serialize(
            [("t", F32View::new(&values, vec![2, 3]))],
            None::<std::collections::HashMap<String, String>>,
        )
        .unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let view = file.tensor("t").unwrap();
        assert_eq!(view.shape(), [2, 3]);
        let back: Vec<u32> = f32_values(&view).iter().map(|x| x.to_bits()).collect();
        let expected: Vec<u32> = values.iter().map(|x| x.to_bits()).collect();
        assert_eq!(back, expected);
    }

    /// Two tensors, given out of name order.
    fn tensors<'a>(a: &'a [f32], b: &'a [f32]) -> Vec<(&'static str, F32View<'a>)> {
        vec![("z", F32View::flat(a)), ("a", F32View::new(b, vec![1, 2]))]
    }

    #[test]
    fn one_metadata_entry_serialises_as_safetensors_does() {
        let (a, b) = ([1.0, 2.0, 3.0], [4.0, -0.5]);
        let ours = serialize(
            tensors(&a, &b),
            &BTreeMap::from([("format".into(), "x".into())]),
        )
        .unwrap();
        let theirs = safetensors::serialize(
            tensors(&a, &b),
            Some(std::collections::HashMap::from([(
                "format".to_owned(),
                "x".to_owned(),
            )])),
        )
        .unwrap();
        assert_eq!(ours, theirs);
        // No tensors and no metadata entries: a valid file (safetensors 0.8 itself
        // writes `{},"__metadata__":{}}` then, which its reader rejects).
        let none = Vec::<(&str, F32View<'_>)>::new;
        let ours = serialize(none(), &BTreeMap::new()).unwrap();
        assert_eq!(&ours[8..], b"{\"__metadata__\":{}}     ");
        let (_, read) = SafeTensors::read_metadata(&ours).unwrap();
        assert_eq!(read.metadata().as_ref().map(|m| m.len()), Some(0));
        assert!(SafeTensors::deserialize(&ours).unwrap().is_empty());
    }

    #[test]
    fn metadata_keys_are_written_sorted_whatever_their_order() {
        let (a, b) = ([1.0, 2.0, 3.0], [4.0, -0.5]);
        let pairs = [
            ("version", "1"),
            ("format", "feddx"),
            ("rounds_completed", "12"),
            ("step", "3"),
            ("quote\"and\\back", "line\nbreak"),
        ];
        let metadata = |order: &[usize]| -> BTreeMap<String, String> {
            order
                .iter()
                .map(|&i| (pairs[i].0.to_owned(), pairs[i].1.to_owned()))
                .collect()
        };
        let first = serialize(tensors(&a, &b), &metadata(&[0, 1, 2, 3, 4])).unwrap();
        for order in [[4, 3, 2, 1, 0], [2, 0, 4, 1, 3]] {
            let again = serialize(tensors(&a, &b), &metadata(&order)).unwrap();
            assert_eq!(again, first);
        }
        // The header holds the metadata first, its keys in sorted order, then the
        // tensors as safetensors lays them out, padded to 8 bytes.
        let header_len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
        assert_eq!(header_len % 8, 0);
        let header = std::str::from_utf8(&first[8..8 + header_len]).unwrap();
        assert!(
            header.starts_with(
                r#"{"__metadata__":{"format":"feddx","quote\"and\\back":"line\nbreak","rounds_completed":"12","step":"3","version":"1"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"z":"#
            ),
            "{header}"
        );
        // safetensors reads it back: every entry, every tensor, bit for bit.
        let (_, read) = SafeTensors::read_metadata(&first).unwrap();
        let read: BTreeMap<String, String> = read.metadata().clone().unwrap().into_iter().collect();
        assert_eq!(read, metadata(&[0, 1, 2, 3, 4]));
        let file = SafeTensors::deserialize(&first).unwrap();
        assert_eq!(f32_values(&file.tensor("z").unwrap()), a);
        assert_eq!(f32_values(&file.tensor("a").unwrap()), b);
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_names_the_operation_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("f.bin");
        let failure = write_atomically(&path, b"x").unwrap_err();
        assert_eq!(failure.operation, "create");
        assert_eq!(failure.error.kind(), io::ErrorKind::NotFound);
        let failure = write_atomically(Path::new("/"), b"x").unwrap_err();
        assert_eq!(failure.error.kind(), io::ErrorKind::InvalidInput);
    }
}
