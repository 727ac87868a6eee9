//! The bytes of feddx's safetensors files: `F32` tensors in and out, bit for bit,
//! and files written atomically.
//!
//! Shared by [checkpoints](crate::federated::checkpoint) and
//! [weights files](crate::weights_file); each maps an [`IoFailure`] to its own error.

use std::borrow::Cow;
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
