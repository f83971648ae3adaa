//! A compact, immutable index of devices by identifier, each with a byte string of data.
//!
//! `posture-file` keeps a device inventory file in it, and the MDM providers' inventory sync
//! (`posture-http`'s `sync` module) keeps a whole MDM's devices in it: one layout, measured
//! once (see `BENCHMARKS.md`).
//!
//! ```
//! use posture_index::{Builder, Layout};
//!
//! let mut builder = Builder::with_data_capacity(0, Layout::Objects);
//! builder.push("C02XL0GJJG5J", br#"{"user":"ada"}"#)?;
//! builder.push("F9FXK2ABCD12", b"")?;
//! let index = builder.finish()?;
//! let device = index.find("C02XL0GJJG5J").expect("added");
//! assert_eq!(index.identifier(device), "C02XL0GJJG5J");
//! assert_eq!(index.data(device).as_deref(), Some(&br#"{"user":"ada"}"#[..]));
//! assert_eq!(index.find("c02xl0gjjg5j"), None); // exact match only
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Devices are numbered in file order. Device `i` owns the byte range
//! `entries[i - 1].id_end..entries[i].id_end` of `ids` (all identifiers, concatenated) and
//! `entries[i - 1].data_end..entries[i].data_end` of `data` (all enrichment data,
//! concatenated; an empty range means no data). How the data is stored depends on the
//! [`Layout`]: whole JSON objects, or only their values when every device has the same
//! keys. A [`HashTable`] of device numbers, hashed
//! by identifier, finds a device in constant time. Overhead beyond the identifiers and data
//! themselves is one 8-byte entry and one table slot per device.
//!
//! Offsets are `u32`, half the size of `usize`, so each arena holds at most 4 GiB: a
//! million devices need about a hundredth of that, and the saving is 8 bytes a device.
//!
//! The table is built once parsing is done, at its final size: growing it while parsing
//! would rehash every identifier several times, which costs more than the parse.

use std::hash::BuildHasher;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

use bytes::Bytes;
use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};

/// Where one device's identifier and data end.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id_end: u32,
    data_end: u32,
}

/// The most devices one index holds: device numbers are `u32`.
pub const MAX_DEVICES: usize = u32::MAX as usize;

/// The most bytes of identifiers, and of data, one index holds: offsets are `u32`.
pub const MAX_ARENA_BYTES: usize = u32::MAX as usize;

/// The index is full.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Full {
    /// [`MAX_DEVICES`] devices were added.
    #[error("the index holds at most {MAX_DEVICES} devices")]
    Devices,
    /// The identifiers or the data would exceed [`MAX_ARENA_BYTES`].
    #[error("the index holds at most {MAX_ARENA_BYTES} bytes of identifiers and of data")]
    Bytes,
}

/// Two devices have the same identifier.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("devices {first} and {index} both have the identifier {identifier:?}")]
#[non_exhaustive]
pub struct Duplicate {
    /// The later device.
    pub index: usize,
    /// The earlier device.
    pub first: usize,
    /// Their identifier.
    pub identifier: String,
}

/// How the data arena holds each device's data.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Layout {
    /// Each device's bytes as given (a JSON object, or any encoding the caller chooses).
    Objects,
    /// Objects that all have these keys, in this order, each serialised as a JSON string
    /// followed by `:`; the arena holds only the values. A CSV file gives this: storing its
    /// header keys once rather than in every device saves about a third of the arena.
    Columns(Vec<Vec<u8>>),
}

/// Collects devices, then indexes them with [`Builder::finish`].
#[derive(Debug)]
pub struct Builder {
    ids: String,
    data: Vec<u8>,
    layout: Layout,
    entries: Vec<Entry>,
    /// [`MAX_ARENA_BYTES`], lowered by tests to reach it without allocating 4 GiB.
    arena_limit: usize,
}

impl Builder {
    /// An empty builder for data kept as given ([`Layout::Objects`]).
    pub fn new() -> Self {
        Self::with_data_capacity(0, Layout::Objects)
    }

    /// An empty builder expecting about `data` bytes of enrichment data in all. Reserving
    /// it up front saves copying the arena as it grows; spare room is given back by
    /// [`Self::finish`], and pages never written are never resident. The estimate is only
    /// a hint: if the allocator refuses it, the arena grows as usual.
    pub fn with_data_capacity(data: usize, layout: Layout) -> Self {
        let mut arena = Vec::new();
        let _hint = arena.try_reserve_exact(data);
        Self {
            ids: String::new(),
            data: arena,
            layout,
            entries: Vec::new(),
            arena_limit: MAX_ARENA_BYTES,
        }
    }

    /// An empty builder whose arenas each hold at most `limit` bytes (at most
    /// [`MAX_ARENA_BYTES`]): how tests reach the limit without allocating 4 GiB.
    pub fn with_arena_limit(limit: usize) -> Self {
        Self {
            arena_limit: limit.min(MAX_ARENA_BYTES),
            ..Self::new()
        }
    }

    /// How many devices were added.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no device was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a device. `data` is its serialised JSON object (or, for [`Layout::Columns`],
    /// its values), or empty for no data. Duplicates are found by [`Self::finish`].
    pub fn push(&mut self, id: &str, data: &[u8]) -> Result<(), Full> {
        if self.entries.len() >= MAX_DEVICES {
            return Err(Full::Devices);
        }
        let id_end = end_offset(self.ids.len(), id.len(), self.arena_limit)?;
        let data_end = end_offset(self.data.len(), data.len(), self.arena_limit)?;
        self.ids.push_str(id);
        self.data.extend_from_slice(data);
        self.entries.push(Entry { id_end, data_end });
        Ok(())
    }

    /// Indexes the devices, in file order, and gives back spare capacity. Fails on the
    /// first device whose identifier an earlier one has.
    pub fn finish(mut self) -> Result<Index, Duplicate> {
        // foldhash, seeded at random per list.
        let hasher = DefaultHashBuilder::default();
        let mut table = HashTable::with_capacity(self.entries.len());
        let (ids, entries) = (&self.ids, &self.entries);
        for index in 0..entries.len() {
            let Ok(number) = u32::try_from(index) else {
                break;
            };
            let id = id_at(ids, entries, number);
            let slot = table.entry(
                hasher.hash_one(id),
                |&other| id_at(ids, entries, other) == id,
                |&other| hasher.hash_one(id_at(ids, entries, other)),
            );
            match slot {
                TableEntry::Occupied(first) => {
                    return Err(Duplicate {
                        index,
                        first: widen(*first.get()),
                        identifier: id.to_owned(),
                    });
                }
                TableEntry::Vacant(slot) => {
                    slot.insert(number);
                }
            }
        }
        self.data.shrink_to_fit();
        Ok(Index {
            ids: self.ids.into_boxed_str(),
            data: Bytes::from(self.data),
            layout: self.layout,
            entries: self.entries.into_boxed_slice(),
            table,
            hasher,
        })
    }
}

/// An immutable set of devices, searchable by identifier in constant time.
#[derive(Debug)]
pub struct Index {
    ids: Box<str>,
    data: Bytes,
    layout: Layout,
    entries: Box<[Entry]>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Index {
    /// How many devices there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of the device with exactly this identifier.
    pub fn find(&self, id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |&other| id_at(&self.ids, &self.entries, other) == id)
            .map(|&index| widen(index))
    }

    /// The identifier of device `index`.
    pub fn identifier(&self, index: usize) -> &str {
        let (start, end) = range(&self.entries, index, |entry| entry.id_end);
        self.ids.get(start..end).unwrap_or_default()
    }

    /// The data of device `index` (with [`Layout::Columns`], a JSON object put back
    /// together); `None` when it has none. Objects kept
    /// whole are shared slices of the arena; others are put together afresh.
    pub fn data(&self, index: usize) -> Option<Bytes> {
        let (start, end) = range(&self.entries, index, |entry| entry.data_end);
        if start >= end || end > self.data.len() {
            return None;
        }
        match &self.layout {
            Layout::Objects => Some(self.data.slice(start..end)),
            Layout::Columns(keys) => {
                let values = self.data.get(start..end).unwrap_or_default();
                Some(Bytes::from(assemble(keys, values)))
            }
        }
    }

    /// Heap bytes spent on indexing, beyond the identifiers and data themselves.
    pub fn overhead_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries) + self.table.allocation_size()
    }

    /// Heap bytes the index holds in all: identifiers, data and [`Self::overhead_bytes`].
    pub fn heap_bytes(&self) -> usize {
        self.ids.len() + self.data.len() + self.overhead_bytes()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// `{"k1":v1,"k2":v2,…}` from serialised keys (with their colons) and `values`, JSON
/// strings one after another.
fn assemble(keys: &[Vec<u8>], values: &[u8]) -> Vec<u8> {
    let keys_len: usize = keys.iter().map(|key| key.len() + 1).sum();
    let mut object = Vec::with_capacity(values.len() + keys_len + 1);
    object.push(b'{');
    let mut rest = values;
    for (position, key) in keys.iter().enumerate() {
        if position > 0 {
            object.push(b',');
        }
        object.extend_from_slice(key);
        let (value, after) = rest.split_at(string_len(rest));
        object.extend_from_slice(value);
        rest = after;
    }
    object.push(b'}');
    object
}

/// The length, quotes included, of the JSON string `text` starts with (or of all of `text`,
/// should it end first).
fn string_len(text: &[u8]) -> usize {
    // Skip the opening quote; the string ends at the first quote not escaped.
    let mut at = 1;
    while let Some(&byte) = text.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    text.len()
}

/// Where an arena of `len` bytes ends once `added` more are appended, if that is within
/// `limit` (at most [`MAX_ARENA_BYTES`], so the offset fits a `u32`).
fn end_offset(len: usize, added: usize, limit: usize) -> Result<u32, Full> {
    len.checked_add(added)
        .filter(|&end| end <= limit)
        .and_then(|end| u32::try_from(end).ok())
        .ok_or(Full::Bytes)
}

/// The byte range of device `index` in an arena whose end offsets `end` reads.
fn range(entries: &[Entry], index: usize, end: impl Fn(&Entry) -> u32) -> (usize, usize) {
    let end = |entry: &Entry| widen(end(entry));
    let start = index
        .checked_sub(1)
        .and_then(|previous| entries.get(previous))
        .map_or(0, end);
    let stop = entries.get(index).map_or(start, end);
    (start, stop)
}

fn id_at<'a>(ids: &'a str, entries: &[Entry], index: u32) -> &'a str {
    let (start, end) = range(entries, widen(index), |entry| entry.id_end);
    ids.get(start..end).unwrap_or_default()
}

/// `u32` to `usize`, which is lossless on the 32- and 64-bit targets std supports.
fn widen(index: u32) -> usize {
    usize::try_from(index).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_added() {
        let mut builder = Builder::new();
        builder.push("a", b"{\"n\":1}").unwrap();
        builder.push("bb", b"").unwrap();
        builder.push("A", b"{\"n\":3}").unwrap();
        let index = builder.finish().unwrap();
        assert_eq!(index.len(), 3);
        assert_eq!(index.find("a"), Some(0));
        assert_eq!(index.find("bb"), Some(1));
        assert_eq!(index.find("A"), Some(2));
        assert_eq!(index.find("b"), None);
        assert_eq!(index.find(""), None);
        assert_eq!(index.identifier(1), "bb");
        assert_eq!(index.data(0).as_deref(), Some(&b"{\"n\":1}"[..]));
        assert_eq!(index.data(1), None);
        assert_eq!(index.data(2).as_deref(), Some(&b"{\"n\":3}"[..]));
        assert_eq!(index.data(3), None);
        assert_eq!(index.identifier(3), "");
    }

    #[test]
    fn reports_the_first_of_a_duplicate() {
        let mut builder = Builder::new();
        for id in ["x", "y", "z", "y", "x"] {
            builder.push(id, b"").unwrap();
        }
        assert_eq!(builder.len(), 5);
        let duplicate = builder.finish().unwrap_err();
        assert_eq!(
            (
                duplicate.index,
                duplicate.first,
                duplicate.identifier.as_str()
            ),
            (3, 1, "y")
        );
    }

    #[test]
    fn refuses_a_device_that_would_overflow_an_arena() {
        let mut builder = Builder::with_arena_limit(8);
        builder.push("abcd", b"{\"n\":1}").unwrap();
        assert_eq!(builder.push("e", b"{}"), Err(Full::Bytes));
        builder.push("efgh", b"").unwrap();
        assert_eq!(builder.push("i", b""), Err(Full::Bytes));
        let index = builder.finish().unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.identifier(1), "efgh");
        assert_eq!(index.data(0).as_deref(), Some(&b"{\"n\":1}"[..]));
    }

    #[test]
    fn columns_are_put_back_together_with_their_keys() {
        let keys = vec![b"\"a\":".to_vec(), b"\"b \\\"c\\\"\":".to_vec()];
        let mut builder = Builder::with_data_capacity(0, Layout::Columns(keys));
        builder.push("x", br#""1""""#).unwrap();
        builder.push("y", br#""say \"hi\"""ends in \\""#).unwrap();
        let index = builder.finish().unwrap();
        assert_eq!(
            index.data(0).as_deref(),
            Some(&br#"{"a":"1","b \"c\"":""}"#[..])
        );
        assert_eq!(
            index.data(1).as_deref(),
            Some(&br#"{"a":"say \"hi\"","b \"c\"":"ends in \\"}"#[..])
        );
    }

    #[test]
    fn arena_offsets_stop_at_4_gib() {
        let limit = MAX_ARENA_BYTES;
        assert_eq!(end_offset(limit - 1, 1, limit), Ok(u32::MAX));
        assert_eq!(end_offset(limit, 1, limit), Err(Full::Bytes));
        assert_eq!(end_offset(usize::MAX, 1, limit), Err(Full::Bytes));
        assert_eq!(end_offset(10, 5, 12), Err(Full::Bytes));
    }

    #[test]
    fn overhead_stays_well_under_150_bytes_per_device() {
        let mut builder = Builder::new();
        let devices = 100_000;
        for n in 0..devices {
            builder
                .push(&format!("C02{n:09}"), b"{\"user\":\"alice\"}")
                .unwrap();
        }
        let index = builder.finish().unwrap();
        let per_device = index.overhead_bytes() / devices;
        assert!(per_device < 32, "{per_device} bytes of overhead per device");
        for n in (0..devices).step_by(997) {
            assert_eq!(index.find(&format!("C02{n:09}")), Some(n));
        }
    }
}
