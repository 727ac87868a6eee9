//! The file of a [`ClientStore`](super::ClientStore): written once, then mapped into
//! memory or read.
//!
//! All numbers are little-endian. The file is a 64-byte header, then three columns,
//! each starting at a multiple of 8 bytes so that a mapped file can be used in place:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | magic `FDXSTORE` |
//! | 8..12 | format version, `u32` (this is version 1) |
//! | 12..16 | label kind, `u32`: 1 = class index (`u64`), 2 = `f32` targets |
//! | 16..24 | features per example `N`, `u64` |
//! | 24..32 | values per label (1 for a class, `K` for targets), `u64` |
//! | 32..40 | number of classes (0 for targets), `u64` |
//! | 40..48 | number of clients `C`, `u64` |
//! | 48..56 | number of examples `E`, `u64` |
//! | 56..64 | zero |
//! | 64.. | `C + 1` offsets, `u64`: client `k` holds examples `o[k]..o[k + 1]` |
//! | then | `E` rows of `N` features, `f32` |
//! | then | zero padding to a multiple of 8, then `E` labels |

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::Label;

/// The first 8 bytes of a store file.
pub const STORE_MAGIC: [u8; 8] = *b"FDXSTORE";
/// The format version this build writes and reads.
pub const STORE_VERSION: u32 = 1;
/// Bytes of the header.
const HEADER_LEN: usize = 64;

/// What can go wrong with a client store or its file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be read or written.
    #[error("store file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file does not start with the store magic.
    #[error("{path} is not a feddx client store (it does not start with `FDXSTORE`)")]
    NotAStore {
        /// The file.
        path: PathBuf,
    },
    /// The file has another format version.
    #[error("{path} is a client store of version {found}; this build reads version {supported}")]
    Version {
        /// The file.
        path: PathBuf,
        /// The file's version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file holds other features or labels than asked for.
    #[error("{path} holds {found}; the store asked for holds {expected}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What the file holds, e.g. `60 features, class labels`.
        found: String,
        /// What was asked for.
        expected: String,
    },
    /// The file is shorter or longer than its header says, or its offsets are wrong.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Columns given to a store do not fit together.
    #[error("inconsistent store columns: {reason}")]
    Columns {
        /// What is wrong.
        reason: String,
    },
}

/// A label a [`ClientStore`](super::ClientStore) can keep in its file: a class index
/// (stored as `u64`) or `K` `f32` regression targets.
pub trait StoredLabel: Label + bytemuck::Pod {
    /// The label kind of the file header.
    const KIND: u32;
    /// Values per label in the file.
    const VALUES: u64;
    /// Bytes per label in the file.
    const FILE_BYTES: usize;
    /// Appends the label's file bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// The label of `FILE_BYTES` file bytes, if it is one.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl StoredLabel for usize {
    const KIND: u32 = 1;
    const VALUES: u64 = 1;
    const FILE_BYTES: usize = 8;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(*self as u64).to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        usize::try_from(u64::from_le_bytes(bytes.try_into().ok()?)).ok()
    }
}

impl<const K: usize> StoredLabel for [f32; K] {
    const KIND: u32 = 2;
    const VALUES: u64 = K as u64;
    const FILE_BYTES: usize = 4 * K;

    fn encode(&self, out: &mut Vec<u8>) {
        self.iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut chunks = bytes.chunks_exact(4);
        let values = std::array::from_fn(|_| {
            chunks
                .next()
                .and_then(|c| c.try_into().ok())
                .map_or(f32::NAN, f32::from_le_bytes)
        });
        (bytes.len() == 4 * K).then_some(values)
    }
}

/// Where the columns are in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub offsets: Range<usize>,
    pub features: Range<usize>,
    pub labels: Range<usize>,
    pub total: u64,
}

impl Layout {
    /// The layout of `clients` clients and `examples` examples, or `None` when it
    /// does not fit in this machine's address space.
    fn new<const N: usize, L: StoredLabel>(clients: u64, examples: u64) -> Option<Layout> {
        let offsets_end = (clients.checked_add(1)?)
            .checked_mul(8)?
            .checked_add(HEADER_LEN as u64)?;
        let features_end = examples
            .checked_mul(4 * N as u64)?
            .checked_add(offsets_end)?;
        let labels_start = features_end.checked_next_multiple_of(8)?;
        let labels_end = examples
            .checked_mul(L::FILE_BYTES as u64)?
            .checked_add(labels_start)?;
        let at = |v: u64| usize::try_from(v).ok();
        Some(Layout {
            offsets: HEADER_LEN..at(offsets_end)?,
            features: at(offsets_end)?..at(features_end)?,
            labels: at(labels_start)?..at(labels_end)?,
            total: labels_end,
        })
    }
}

/// A store file's header, checked against the store asked for.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub num_classes: usize,
    pub clients: u64,
    pub examples: u64,
    pub layout: Layout,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: &Path, reason: String) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        reason,
    }
}

/// What a store of `N` features and labels `L` is, for messages.
fn shape_name(features: u64, kind: u32, values: u64) -> String {
    let labels = match kind {
        1 => "class labels".to_owned(),
        2 => format!("{values} f32 targets"),
        other => format!("labels of unknown kind {other}"),
    };
    format!("{features} features, {labels}")
}

/// Reads and checks the header of the store file at `path`.
pub(crate) fn read_header<const N: usize, L: StoredLabel>(
    path: &Path,
) -> Result<Header, StoreError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut bytes = [0u8; HEADER_LEN];
    let file_len = file.metadata().map_err(io_error(path))?.len();
    if file_len < HEADER_LEN as u64 {
        if file_len >= 8 && read_magic(&mut file, path)? == STORE_MAGIC {
            return Err(corrupt(
                path,
                format!("{file_len} bytes, shorter than the header"),
            ));
        }
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
        });
    }
    file.seek(SeekFrom::Start(0)).map_err(io_error(path))?;
    file.read_exact(&mut bytes).map_err(io_error(path))?;
    if bytes[..8] != STORE_MAGIC {
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
        });
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let version = u32_at(8);
    if version != STORE_VERSION {
        return Err(StoreError::Version {
            path: path.to_owned(),
            found: version,
            supported: STORE_VERSION,
        });
    }
    let (kind, features, values) = (u32_at(12), u64_at(16), u64_at(24));
    if (kind, features, values) != (L::KIND, N as u64, L::VALUES) {
        return Err(StoreError::Shape {
            path: path.to_owned(),
            found: shape_name(features, kind, values),
            expected: shape_name(N as u64, L::KIND, L::VALUES),
        });
    }
    let (num_classes, clients, examples) = (u64_at(32), u64_at(40), u64_at(48));
    let num_classes = usize::try_from(num_classes)
        .map_err(|_| corrupt(path, format!("{num_classes} classes")))?;
    let layout = Layout::new::<N, L>(clients, examples).ok_or_else(|| {
        corrupt(
            path,
            format!("{clients} clients and {examples} examples do not fit in memory"),
        )
    })?;
    check_len(path, file_len, layout.total)?;
    Ok(Header {
        num_classes,
        clients,
        examples,
        layout,
    })
}

fn read_magic(file: &mut File, path: &Path) -> Result<[u8; 8], StoreError> {
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic).map_err(io_error(path))?;
    Ok(magic)
}

/// Checks that a file of `len` bytes is as long as its header says.
pub(crate) fn check_len(path: &Path, len: u64, expected: u64) -> Result<(), StoreError> {
    if len == expected {
        Ok(())
    } else {
        Err(corrupt(
            path,
            format!("{len} bytes, but its header describes {expected}"),
        ))
    }
}

/// Checks that `offsets` start at 0, never decrease and end at `rows`.
pub(crate) fn check_offsets(offsets: &[u64], rows: u64) -> Result<(), StoreError> {
    let columns = |reason| StoreError::Columns { reason };
    match offsets.first() {
        None => {
            return Err(columns(
                "no offsets (a store of no client has one offset, 0)".into(),
            ))
        }
        Some(&first) if first != 0 => {
            return Err(columns(format!("the first offset is {first}, not 0")))
        }
        _ => {}
    }
    if let Some(k) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(columns(format!(
            "offset {} is {}, below offset {} ({})",
            k + 1,
            offsets[k + 1],
            k,
            offsets[k]
        )));
    }
    let last = offsets[offsets.len() - 1];
    if last != rows {
        return Err(columns(format!(
            "the last offset is {last}, not the row count {rows}"
        )));
    }
    Ok(())
}

/// Whether the columns of a mapped file can be used in place: a little-endian
/// machine whose labels have the file's width, and the columns aligned in memory.
pub(crate) fn aligned<const N: usize, L: StoredLabel>(bytes: &[u8], layout: &Layout) -> bool {
    cfg!(target_endian = "little")
        && std::mem::size_of::<L>() == L::FILE_BYTES
        && bytemuck::try_cast_slice::<u8, u64>(&bytes[layout.offsets.clone()]).is_ok()
        && bytemuck::try_cast_slice::<u8, [f32; N]>(&bytes[layout.features.clone()]).is_ok()
        && bytemuck::try_cast_slice::<u8, L>(&bytes[layout.labels.clone()]).is_ok()
}

/// The columns of a store file, read into memory with plain reads (the fallback when
/// a map is not wanted or not usable).
#[allow(clippy::type_complexity)]
pub(crate) fn read_columns<const N: usize, L: StoredLabel>(
    path: &Path,
    header: &Header,
) -> Result<(Vec<[f32; N]>, Vec<L>, Vec<u64>), StoreError> {
    let mut file = BufReader::new(File::open(path).map_err(io_error(path))?);
    let layout = &header.layout;
    file.seek(SeekFrom::Start(layout.offsets.start as u64))
        .map_err(io_error(path))?;
    let rows = header.examples as usize;
    let offsets = read_each(&mut file, path, header.clients as usize + 1, 8, |b| {
        b.try_into().ok().map(u64::from_le_bytes)
    })?;
    check_offsets(&offsets, header.examples).map_err(|e| corrupt(path, e.to_string()))?;
    let features = read_each(&mut file, path, rows, 4 * N, |b| {
        let mut row = [0f32; N];
        for (v, c) in row.iter_mut().zip(b.chunks_exact(4)) {
            *v = f32::from_le_bytes(c.try_into().ok()?);
        }
        Some(row)
    })?;
    file.seek(SeekFrom::Start(layout.labels.start as u64))
        .map_err(io_error(path))?;
    let labels = read_each(&mut file, path, rows, L::FILE_BYTES, L::decode)?;
    Ok((features, labels, offsets))
}

/// Reads `count` values of `width` bytes each, decoded by `decode`.
fn read_each<T>(
    file: &mut impl Read,
    path: &Path,
    count: usize,
    width: usize,
    decode: impl Fn(&[u8]) -> Option<T>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::with_capacity(count);
    let per_chunk = (1 << 16) / width.max(1) + 1;
    let mut buf = vec![0u8; per_chunk * width];
    let mut left = count;
    while left > 0 {
        let n = left.min(per_chunk);
        let bytes = &mut buf[..n * width];
        file.read_exact(bytes).map_err(io_error(path))?;
        for (i, b) in bytes.chunks_exact(width.max(1)).enumerate() {
            let value = decode(b).ok_or_else(|| {
                corrupt(
                    path,
                    format!("value {} of a column does not decode", count - left + i),
                )
            })?;
            out.push(value);
        }
        left -= n;
    }
    Ok(out)
}

/// Writes a store file column by column (features and labels in any interleaving,
/// each in client order), into `<path>.partial` renamed to `path` by
/// [`finish`](Self::finish): a population larger than memory can be written client by
/// client, and a reader never sees half a file.
#[derive(Debug)]
pub struct StoreWriter<const N: usize, L: StoredLabel> {
    path: PathBuf,
    partial: PathBuf,
    features: BufWriter<File>,
    labels: BufWriter<File>,
    rows: (u64, u64),
    examples: u64,
    scratch: Vec<u8>,
    _labels: PhantomData<L>,
}

impl<const N: usize, L: StoredLabel> StoreWriter<N, L> {
    /// Starts the file of a store whose clients have `offsets` (see
    /// [`ClientStore::offsets`](super::ClientStore::offsets)), for `num_classes` classes.
    ///
    /// # Errors
    /// [`StoreError::Columns`] for bad offsets, [`StoreError::Io`] when the file
    /// cannot be created.
    pub fn create(path: &Path, offsets: &[u64], num_classes: usize) -> Result<Self, StoreError> {
        let examples = offsets.last().copied().unwrap_or(0);
        check_offsets(offsets, examples)?;
        let clients = offsets.len() as u64 - 1;
        let layout = Layout::new::<N, L>(clients, examples).ok_or_else(|| StoreError::Columns {
            reason: format!("{clients} clients and {examples} examples do not fit in memory"),
        })?;
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let err = io_error(&partial);
        let file = File::create(&partial).map_err(err)?;
        file.set_len(layout.total).map_err(io_error(&partial))?;
        let mut features = BufWriter::with_capacity(1 << 20, file);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&STORE_MAGIC);
        header.extend_from_slice(&STORE_VERSION.to_le_bytes());
        header.extend_from_slice(&L::KIND.to_le_bytes());
        for v in [
            N as u64,
            L::VALUES,
            num_classes as u64,
            clients,
            examples,
            0,
        ] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        features.write_all(&header).map_err(io_error(&partial))?;
        let mut bytes = Vec::with_capacity(offsets.len() * 8);
        offsets
            .iter()
            .for_each(|o| bytes.extend_from_slice(&o.to_le_bytes()));
        features.write_all(&bytes).map_err(io_error(&partial))?;
        let mut labels_file = OpenOptions::new()
            .write(true)
            .open(&partial)
            .map_err(io_error(&partial))?;
        labels_file
            .seek(SeekFrom::Start(layout.labels.start as u64))
            .map_err(io_error(&partial))?;
        Ok(StoreWriter {
            path: path.to_owned(),
            partial,
            features,
            labels: BufWriter::with_capacity(1 << 20, labels_file),
            rows: (0, 0),
            examples,
            scratch: Vec::new(),
            _labels: PhantomData,
        })
    }

    /// Appends feature rows.
    ///
    /// # Errors
    /// [`StoreError::Columns`] past the examples the offsets announced,
    /// [`StoreError::Io`] when the write fails.
    pub fn features(&mut self, rows: &[[f32; N]]) -> Result<(), StoreError> {
        self.rows.0 = self.count(self.rows.0, rows.len(), "feature rows")?;
        self.scratch.clear();
        rows.iter()
            .flatten()
            .for_each(|v| self.scratch.extend_from_slice(&v.to_le_bytes()));
        self.features
            .write_all(&self.scratch)
            .map_err(io_error(&self.partial))
    }

    /// Appends labels.
    ///
    /// # Errors
    /// As [`features`](Self::features).
    pub fn labels(&mut self, labels: &[L]) -> Result<(), StoreError> {
        self.rows.1 = self.count(self.rows.1, labels.len(), "labels")?;
        self.scratch.clear();
        labels.iter().for_each(|l| l.encode(&mut self.scratch));
        self.labels
            .write_all(&self.scratch)
            .map_err(io_error(&self.partial))
    }

    fn count(&self, done: u64, more: usize, what: &str) -> Result<u64, StoreError> {
        let total = done + more as u64;
        if total > self.examples {
            return Err(StoreError::Columns {
                reason: format!(
                    "{total} {what} written, the offsets announce {}",
                    self.examples
                ),
            });
        }
        Ok(total)
    }

    /// Flushes the file and renames it into place.
    ///
    /// # Errors
    /// [`StoreError::Columns`] when fewer rows or labels were written than the
    /// offsets announce, [`StoreError::Io`] when flushing or renaming fails.
    pub fn finish(mut self) -> Result<(), StoreError> {
        if self.rows != (self.examples, self.examples) {
            return Err(StoreError::Columns {
                reason: format!(
                    "{} feature rows and {} labels written, the offsets announce {}",
                    self.rows.0, self.rows.1, self.examples
                ),
            });
        }
        self.features.flush().map_err(io_error(&self.partial))?;
        self.labels.flush().map_err(io_error(&self.partial))?;
        fs::rename(&self.partial, &self.path).map_err(io_error(&self.path))
    }
}
