//! How a store file is opened: memory-mapped, or read into memory with plain reads.
//!
//! As ripgrep's searcher does (`crates/searcher/src/searcher/mmap.rs`), the map hides
//! behind a small choice type whose only `unsafe` part is choosing to map, with the
//! contract stated there; reading is the fallback whenever a map fails. Under that
//! contract, dropping the process's mapped pages ([`ClientStore::release_pages`](super::ClientStore::release_pages))
//! is safe too.

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

use super::store_file::StoreError;

/// How [`ClientStore::open`](super::ClientStore::open) gets at a store file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreAccess {
    map: bool,
}

impl StoreAccess {
    /// Read the columns into memory with plain reads: safe whatever happens to the
    /// file afterwards, and as much memory as the data.
    pub fn read() -> Self {
        StoreAccess { map: false }
    }

    /// Map the file into memory: the operating system pages in the clients a round
    /// reads and may drop them again, so a population larger than memory can run.
    /// If the map fails (or the machine cannot use the file's columns in place), the
    /// store is read instead.
    ///
    /// # Safety
    /// The file must not be written, truncated or removed-and-rewritten in place by
    /// anyone (this process or another) while a store opened from it lives: the
    /// store's slices point into the file's pages, and a change to them is a data
    /// race, a truncation a `SIGBUS`. Write the file once
    /// ([`ClientStore::write`](super::ClientStore::write) and
    /// [`Synthetic::write_store`](super::Synthetic::write_store) rename a complete
    /// file into place) and only read it afterwards.
    pub unsafe fn mmap() -> Self {
        StoreAccess { map: true }
    }

    /// Whether this access maps files.
    pub fn maps(&self) -> bool {
        self.map
    }

    /// The map of the file at `path`, or `None` to read it instead.
    pub(crate) fn map(&self, path: &Path) -> Result<Option<Mapped>, StoreError> {
        if !self.map {
            return Ok(None);
        }
        let file = File::open(path).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        // SAFETY: the caller of `StoreAccess::mmap` promised that the file is not
        // changed while the map (owned by the store) lives; the map is read-only.
        let map = unsafe { memmap2::Mmap::map(&file) };
        Ok(map.ok().map(|map| {
            // Clients are sampled at random: reading ahead wastes memory.
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Random);
            Mapped(map)
        }))
    }
}

/// A read-only file map.
#[derive(Debug)]
pub(crate) struct Mapped(memmap2::Mmap);

impl Mapped {
    /// Drops this process's mappings of the file's pages: the operating system keeps
    /// them in its page cache and maps them again when they are next read, so the
    /// resident set holds only what was read since. Does nothing where `madvise` is
    /// not available.
    pub(crate) fn release(&self) {
        #[cfg(unix)]
        // SAFETY: `MADV_DONTNEED` on a read-only shared file map (what `Mmap::map`
        // makes) changes no byte a reader sees: a dropped page is read back from the
        // file on the next access. The file does not change while the map lives (the
        // contract of `StoreAccess::mmap`). The map stays in place, so views into it
        // stay valid.
        let _ = unsafe { self.0.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    }
}

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}
