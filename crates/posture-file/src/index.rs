//! The compact identifier index shared by both formats.
//!
//! Devices are numbered in file order. Device `i` owns the byte range
//! `entries[i - 1].id_end..entries[i].id_end` of `ids` (all identifiers, concatenated) and
//! `entries[i - 1].data_end..entries[i].data_end` of `data` (all enrichment objects,
//! concatenated; an empty range means no data). A [`HashTable`] of device numbers, hashed
//! by identifier, finds a device in constant time. Overhead beyond the identifiers and data
//! themselves is one 16-byte [`Entry`] and one table slot per device.
//!
//! The table is built once parsing is done, at its final size: growing it while parsing
//! would rehash every identifier several times, which costs more than the parse.

use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};

/// Where one device's identifier and data end.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id_end: usize,
    data_end: usize,
}

/// The most devices one index holds: device numbers are `u32`.
pub(crate) const MAX_DEVICES: usize = u32::MAX as usize;

/// The index is full: [`MAX_DEVICES`] devices were added.
#[derive(Debug)]
pub(crate) struct TooMany;

/// Two devices have the same identifier.
#[derive(Debug)]
pub(crate) struct Duplicate {
    /// The later device.
    pub(crate) index: usize,
    /// The earlier device.
    pub(crate) first: usize,
    /// Their identifier.
    pub(crate) identifier: String,
}

/// Collects devices while a file is parsed.
#[derive(Debug)]
pub(crate) struct Builder {
    ids: String,
    data: Vec<u8>,
    entries: Vec<Entry>,
}

impl Builder {
    /// An empty builder.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::with_data_capacity(0)
    }

    /// An empty builder expecting about `data` bytes of enrichment data in all. Reserving
    /// it up front saves copying the arena as it grows; spare room is given back by
    /// [`Self::finish`], and pages never written are never resident. The estimate is only
    /// a hint: if the allocator refuses it, the arena grows as usual.
    pub(crate) fn with_data_capacity(data: usize) -> Self {
        let mut arena = Vec::new();
        let _hint = arena.try_reserve_exact(data);
        Self {
            ids: String::new(),
            data: arena,
            entries: Vec::new(),
        }
    }

    /// How many devices were added.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds a device. `data` is its serialised JSON object, or empty for no data.
    /// Duplicates are found by [`Self::finish`].
    pub(crate) fn push(&mut self, id: &str, data: &[u8]) -> Result<(), TooMany> {
        if self.entries.len() >= MAX_DEVICES {
            return Err(TooMany);
        }
        self.ids.push_str(id);
        self.data.extend_from_slice(data);
        self.entries.push(Entry {
            id_end: self.ids.len(),
            data_end: self.data.len(),
        });
        Ok(())
    }

    /// Indexes the devices, in file order, and gives back spare capacity. Fails on the
    /// first device whose identifier an earlier one has.
    pub(crate) fn finish(mut self) -> Result<Index, Duplicate> {
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
            entries: self.entries.into_boxed_slice(),
            table,
            hasher,
        })
    }
}

/// An immutable set of devices, searchable by identifier.
#[derive(Debug)]
pub(crate) struct Index {
    ids: Box<str>,
    data: Bytes,
    entries: Box<[Entry]>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Index {
    /// How many devices there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The number of the device with exactly this identifier.
    pub(crate) fn find(&self, id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |&other| id_at(&self.ids, &self.entries, other) == id)
            .map(|&index| widen(index))
    }

    /// The identifier of device `index`.
    pub(crate) fn identifier(&self, index: usize) -> &str {
        let (start, end) = range(&self.entries, index, |entry| entry.id_end);
        self.ids.get(start..end).unwrap_or_default()
    }

    /// The data of device `index`, as a shared slice of the arena; `None` when it has none.
    pub(crate) fn data(&self, index: usize) -> Option<Bytes> {
        let (start, end) = range(&self.entries, index, |entry| entry.data_end);
        (start < end && end <= self.data.len()).then(|| self.data.slice(start..end))
    }

    /// Heap bytes spent on indexing, beyond the identifiers and data themselves.
    #[cfg(test)]
    pub(crate) fn overhead_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries) + self.table.allocation_size()
    }
}

/// The byte range of device `index` in an arena whose end offsets `end` reads.
fn range(entries: &[Entry], index: usize, end: impl Fn(&Entry) -> usize) -> (usize, usize) {
    let start = index
        .checked_sub(1)
        .and_then(|previous| entries.get(previous))
        .map_or(0, &end);
    let stop = entries.get(index).map_or(start, &end);
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
        assert!(per_device < 40, "{per_device} bytes of overhead per device");
        for n in (0..devices).step_by(997) {
            assert_eq!(index.find(&format!("C02{n:09}")), Some(n));
        }
    }
}
