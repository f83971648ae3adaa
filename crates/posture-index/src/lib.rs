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
//! [`Layout`]: whole JSON objects, only their values when every device has the same keys,
//! or their values and a shape stored once for the devices that share it. A [`HashTable`]
//! of device numbers, hashed by identifier, finds a device in constant time. Overhead beyond
//! the identifiers and data themselves is one 8-byte entry and one table slot per device,
//! and with [`Layout::Shapes`] the shapes themselves.
//!
//! Offsets are `u32`, half the size of `usize`, so each arena holds at most 4 GiB: a
//! million devices need about a hundredth of that, and the saving is 8 bytes a device.
//!
//! The table is built once parsing is done, at its final size: growing it while parsing
//! would rehash every identifier several times, which costs more than the parse.

use std::hash::BuildHasher;
use std::ops::Range;

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
    /// JSON objects kept byte for byte, each split into its values and the bytes between
    /// them (keys, punctuation, white space: its *shape*), with each shape stored once.
    /// Devices of one inventory mostly share a few shapes, so the arena holds little more
    /// than their values; an object whose shape is new once [`MAX_SHAPES`] are known, or
    /// that is not an object, is kept whole. [`Index::data`] gives back the exact bytes.
    Shapes,
}

/// The most distinct shapes a [`Layout::Shapes`] index stores; objects of further shapes
/// are kept whole (after a one-byte marker), so an inventory whose every object differs
/// costs about a byte a device more than [`Layout::Objects`], plus the shapes it stored.
pub const MAX_SHAPES: usize = 1024;

/// Collects devices, then indexes them with [`Builder::finish`].
#[derive(Debug)]
pub struct Builder {
    ids: String,
    data: Vec<u8>,
    layout: Layout,
    entries: Vec<Entry>,
    /// With [`Layout::Shapes`]: the shapes seen so far, numbered from 1 in order.
    shapes: Shapes,
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
            shapes: Shapes::default(),
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
        if self.layout == Layout::Shapes && !data.is_empty() {
            return self.push_shaped(id, id_end, data);
        }
        let data_end = end_offset(self.data.len(), data.len(), self.arena_limit)?;
        self.ids.push_str(id);
        self.data.extend_from_slice(data);
        self.entries.push(Entry { id_end, data_end });
        Ok(())
    }

    /// Adds a device's object as its shape's number and its values, each after its length;
    /// or, shape number 0, the object whole. Nothing is kept of a device that does not fit,
    /// not even its shape.
    fn push_shaped(&mut self, id: &str, id_end: u32, data: &[u8]) -> Result<(), Full> {
        let shape = self.shapes.classify(data);
        let record_len = match shape {
            Some(Shape { number, .. }) => self
                .shapes
                .values
                .iter()
                .fold(varint_len(number), |len, value| {
                    len + varint_len(value.len()) + value.len()
                }),
            None => varint_len(0) + data.len(),
        };
        let data_end = end_offset(self.data.len(), record_len, self.arena_limit)?;
        match shape {
            Some(Shape { number, new }) => {
                if new {
                    self.shapes.add_last();
                }
                push_varint(&mut self.data, number);
                for value in &self.shapes.values {
                    let bytes = data.get(value.clone()).unwrap_or_default();
                    push_varint(&mut self.data, bytes.len());
                    self.data.extend_from_slice(bytes);
                }
            }
            None => {
                push_varint(&mut self.data, 0);
                self.data.extend_from_slice(data);
            }
        }
        self.ids.push_str(id);
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
            shapes: self.shapes.into_pieces(),
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
    /// With [`Layout::Shapes`]: shape `n`'s pieces at `n - 1`, one more than its values.
    shapes: Box<[Pieces]>,
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
            Layout::Shapes => {
                let record = self.data.get(start..end).unwrap_or_default();
                let (shape, header) = read_varint(record)?;
                if shape == 0 {
                    return Some(self.data.slice(start + header..end));
                }
                let pieces = self.shapes.get(shape - 1)?;
                reshape(pieces, record.get(header..)?).map(Bytes::from)
            }
        }
    }

    /// Heap bytes spent on indexing, beyond the identifiers and data themselves.
    pub fn overhead_bytes(&self) -> usize {
        let shapes: usize = self
            .shapes
            .iter()
            .map(|pieces| {
                std::mem::size_of_val(&**pieces)
                    + pieces.iter().map(|piece| piece.len()).sum::<usize>()
            })
            .sum();
        std::mem::size_of_val(&*self.entries)
            + self.table.allocation_size()
            + std::mem::size_of_val(&*self.shapes)
            + shapes
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
    // Skip the opening quote.
    string_end(text, 1).unwrap_or(text.len())
}

/// Where the JSON string whose text starts at `at` (past its opening quote) ends: just past
/// the first quote not escaped; `None` if `text` ends first.
fn string_end(text: &[u8], mut at: usize) -> Option<usize> {
    loop {
        match text.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// One shape: the bytes before, between and after its values, one more piece than values.
type Pieces = Box<[Box<[u8]>]>;

/// The shapes a [`Layout::Shapes`] builder has seen, by their pieces.
#[derive(Debug, Default)]
struct Shapes {
    /// Each shape's pieces, encoded as one key: every piece after its length.
    numbers: hashbrown::HashMap<Box<[u8]>, usize>,
    /// The key being looked up, reused from device to device.
    key: Vec<u8>,
    /// Where the last object classified has its values, reused from device to device.
    values: Vec<Range<usize>>,
}

/// What [`Shapes::classify`] found: the shape's number, and whether it is yet to be added.
#[derive(Clone, Copy, Debug)]
struct Shape {
    number: usize,
    new: bool,
}

impl Shapes {
    /// `object`'s shape, with its values' ranges left in `self.values`; `None` when it is not
    /// an object, or its shape is new and [`MAX_SHAPES`] are known. A new shape is numbered
    /// but only kept by [`Self::add_last`].
    fn classify(&mut self, object: &[u8]) -> Option<Shape> {
        split_object(object, &mut self.values)?;
        self.key.clear();
        let mut at = 0;
        for value in &self.values {
            let piece = object.get(at..value.start)?;
            push_varint(&mut self.key, piece.len());
            self.key.extend_from_slice(piece);
            at = value.end;
        }
        let last = object.get(at..)?;
        push_varint(&mut self.key, last.len());
        self.key.extend_from_slice(last);
        if let Some(&number) = self.numbers.get(self.key.as_slice()) {
            return Some(Shape { number, new: false });
        }
        (self.numbers.len() < MAX_SHAPES).then(|| Shape {
            number: self.numbers.len() + 1,
            new: true,
        })
    }

    /// Keeps the shape the last [`Self::classify`] found new, under the number it gave.
    fn add_last(&mut self) {
        let number = self.numbers.len() + 1;
        self.numbers.insert(self.key.as_slice().into(), number);
    }

    /// The pieces of each shape, shape `n` at `n - 1`.
    fn into_pieces(self) -> Box<[Pieces]> {
        let mut shapes: Vec<(usize, Pieces)> = self
            .numbers
            .into_iter()
            .map(|(key, number)| (number, pieces_of(&key)))
            .collect();
        shapes.sort_unstable_by_key(|&(number, _)| number);
        shapes.into_iter().map(|(_, pieces)| pieces).collect()
    }
}

/// The pieces a shape's key holds, each after its length.
fn pieces_of(mut key: &[u8]) -> Pieces {
    let mut pieces = Vec::new();
    while let Some((len, header)) = read_varint(key) {
        let Some(piece) = key.get(header..header.saturating_add(len)) else {
            break;
        };
        pieces.push(piece.into());
        key = key.get(header + len..).unwrap_or_default();
    }
    pieces.into_boxed_slice()
}

/// An object put back together from its shape's `pieces` and `values`, each value after its
/// length; `None` if the values do not fit the shape.
fn reshape(pieces: &[Box<[u8]>], mut values: &[u8]) -> Option<Vec<u8>> {
    let shape_len: usize = pieces.iter().map(|piece| piece.len()).sum();
    let mut object = Vec::with_capacity(shape_len + values.len());
    let (last, before) = pieces.split_last()?;
    for piece in before {
        object.extend_from_slice(piece);
        let (len, header) = read_varint(values)?;
        let value = values.get(header..header.checked_add(len)?)?;
        object.extend_from_slice(value);
        values = values.get(header + len..)?;
    }
    object.extend_from_slice(last);
    values.is_empty().then_some(object)
}

/// Puts in `values` the byte ranges of the member values of the JSON object `object`; `None`
/// if it is not one. Only the structure is followed (strings, nesting); the caller has
/// validated the JSON, and whatever this finds, the values and the bytes between them are the
/// object exactly.
fn split_object(object: &[u8], values: &mut Vec<Range<usize>>) -> Option<()> {
    let mut scan = Scan {
        text: object,
        at: 0,
    };
    values.clear();
    scan.skip_space();
    scan.expect(b'{')?;
    scan.skip_space();
    if scan.peek() == Some(b'}') {
        return Some(());
    }
    loop {
        scan.string()?;
        scan.skip_space();
        scan.expect(b':')?;
        scan.skip_space();
        let start = scan.at;
        scan.value()?;
        values.push(start..scan.at);
        scan.skip_space();
        match scan.next()? {
            b',' => scan.skip_space(),
            b'}' => return Some(()),
            _ => return None,
        }
    }
}

/// A cursor over JSON text.
struct Scan<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string, from its opening quote to just past its closing one.
    fn string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        self.at = string_end(self.text, self.at)?;
        Some(())
    }

    /// One value: a string, an object or array with all it nests, or a number or literal.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => self.string()?,
                        b'{' | b'[' => {
                            depth += 1;
                            self.at += 1;
                        }
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            self.at += 1;
                            if depth == 0 {
                                return Some(());
                            }
                        }
                        _ => self.at += 1,
                    }
                }
            }
            _ => {
                let start = self.at;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }
}

/// How many bytes [`push_varint`] writes for `value`.
fn varint_len(value: usize) -> usize {
    let bits = usize::BITS - (value | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// Appends `value` as a LEB128 varint: seven bits a byte, low first.
fn push_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The varint `bytes` starts with, and how many bytes it took; `None` if it is cut short or
/// does not fit a `usize`.
fn read_varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (position, &byte) in bytes.iter().enumerate() {
        let shift = u32::try_from(position * 7).ok()?;
        let bits = usize::from(byte & 0x7f);
        value |= bits
            .checked_shl(shift)
            .filter(|shifted| shifted >> shift == bits)?;
        if byte & 0x80 == 0 {
            return Some((value, position + 1));
        }
    }
    None
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

    /// Builds a [`Layout::Shapes`] index of `objects` and checks each comes back exactly.
    fn shaped(objects: &[&[u8]]) -> Index {
        let mut builder = Builder::with_data_capacity(0, Layout::Shapes);
        for (n, object) in objects.iter().enumerate() {
            builder.push(&format!("D{n}"), object).unwrap();
        }
        let index = builder.finish().unwrap();
        for (n, object) in objects.iter().enumerate() {
            let expected = (!object.is_empty()).then_some(*object);
            assert_eq!(index.data(n).as_deref(), expected, "device {n}");
        }
        index
    }

    #[test]
    fn shaped_objects_come_back_byte_for_byte() {
        let index = shaped(&[
            br#"{"user":"ada","groups":["a","b"],"n":1}"#,
            br#"{"user":"bob","groups":[],"n":22}"#,
            b"{ \"user\" : \"c\\\"}{[\" ,\n  \"groups\":[{\"x\":\"]\"}] , \"n\":-1.5e3 }",
            br#"{}"#,
            b" {\t} ",
            br#"{"nested":{"deep":{"deeper":[1,[2,[3]]]}},"t":true,"f":false,"z":null}"#,
            "{\"ünïcode\":\"日本\"}".as_bytes(),
            b"",
            br#"["not","an","object"]"#,
            br#""a string""#,
            br#"{"cut":"#,
            br#"{"cut":"short"#,
            br#"{"a":1,}"#,
            br#"{"a" 1}"#,
            b"\xff\xfe not JSON at all",
        ]);
        // The first two share a shape, stored once; the last seven are not objects (or not
        // whole ones) and are kept whole.
        assert_eq!(index.shapes.len(), 6, "{:?}", index.shapes);
    }

    #[test]
    fn a_shared_shape_is_stored_once() {
        let devices = 10_000;
        let objects: Vec<Vec<u8>> = (0..devices)
            .map(|n| format!(r#"{{"user":"user{n}","email":"user{n}@example.com","department":"Engineering","groups":["vpn"]}}"#).into_bytes())
            .collect();
        let mut whole = Builder::new();
        let mut builder = Builder::with_data_capacity(0, Layout::Shapes);
        for (n, object) in objects.iter().enumerate() {
            whole.push(&format!("D{n}"), object).unwrap();
            builder.push(&format!("D{n}"), object).unwrap();
        }
        let (whole, index) = (whole.finish().unwrap(), builder.finish().unwrap());
        assert_eq!(index.shapes.len(), 1);
        for n in (0..devices).step_by(101) {
            assert_eq!(index.data(n), whole.data(n));
        }
        // The keys and punctuation (42 bytes a device) are stored once; each device adds a
        // byte for its shape and one per value for the value's length.
        assert!(
            index.heap_bytes() + 36 * devices <= whole.heap_bytes(),
            "{} bytes shaped, {} whole",
            index.heap_bytes(),
            whole.heap_bytes()
        );
    }

    #[test]
    fn past_the_most_shapes_objects_are_kept_whole() {
        let mut objects: Vec<Vec<u8>> = (0..MAX_SHAPES + 10)
            .map(|n| format!(r#"{{"key{n}":{n}}}"#).into_bytes())
            .collect();
        // A known shape is still used once no new one is added.
        objects.push(br#"{"key0":"again"}"#.to_vec());
        let borrowed: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
        let index = shaped(&borrowed);
        assert_eq!(index.shapes.len(), MAX_SHAPES);
        let shapes: Vec<usize> = [0, MAX_SHAPES - 1, MAX_SHAPES, MAX_SHAPES + 10]
            .iter()
            .map(|&n| shape_of(&index, n))
            .collect();
        assert_eq!(shapes, [1, MAX_SHAPES, 0, 1]);
    }

    /// The shape number device `n`'s record starts with.
    fn shape_of(index: &Index, n: usize) -> usize {
        let (start, end) = range(&index.entries, n, |entry| entry.data_end);
        read_varint(&index.data[start..end]).unwrap().0
    }

    #[test]
    fn a_shaped_device_that_overflows_the_arena_leaves_nothing_behind() {
        let limit = 20;
        let mut builder = Builder {
            layout: Layout::Shapes,
            ..Builder::with_arena_limit(limit)
        };
        builder.push("a", br#"{"n":"12345678"}"#).unwrap();
        // Neither the device nor its new shape is kept.
        assert_eq!(builder.push("b", br#"{"m":"12345678"}"#), Err(Full::Bytes));
        assert_eq!(builder.push("b", br#"["kept whole"]"#), Err(Full::Bytes));
        builder.push("c", br#"{"n":"1"}"#).unwrap();
        let index = builder.finish().unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.data(1).as_deref(), Some(&br#"{"n":"1"}"#[..]));
        assert_eq!(index.shapes.len(), 1);
        assert!(index.data.len() <= limit);
    }

    #[test]
    fn varints_round_trip_and_refuse_what_does_not_fit() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as usize,
            usize::MAX,
        ] {
            let mut bytes = Vec::new();
            push_varint(&mut bytes, value);
            assert_eq!(read_varint(&bytes), Some((value, bytes.len())), "{value}");
            assert_eq!(varint_len(value), bytes.len(), "{value}");
            assert_eq!(
                read_varint(&bytes[..bytes.len() - 1]),
                None,
                "{value} cut short"
            );
        }
        assert_eq!(read_varint(&[0xff; 11]), None);
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            None
        );
    }

    proptest::proptest! {
        /// Whatever the bytes, a shaped index gives them back exactly: arbitrary ones, and
        /// ones made mostly of JSON's punctuation, which reach the scanner's every branch.
        #[test]
        fn any_bytes_come_back_exactly(
            objects in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 1..20),
            jsonish in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(b"{}[]\":,\\ \n a1".to_vec()), 0..48),
                1..20,
            ),
        ) {
            let borrowed: Vec<&[u8]> = objects.iter().chain(&jsonish).map(Vec::as_slice).collect();
            shaped(&borrowed);
        }

        /// Objects put together from JSON-like pieces (escapes, nesting, white space) come
        /// back exactly, and those of one shape share it whatever their values.
        #[test]
        fn json_like_objects_come_back_exactly(
            members in proptest::collection::vec(
                (
                    proptest::sample::select(vec![r#""a""#, r#""b\"c""#, r#""{""#, r#""ü""#, r#""""#]),
                    proptest::sample::select(vec!["", " ", "\n  "]),
                ),
                0..6,
            ),
            values in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![r#""x""#, "1", "-2.5e3", "true", "null", "[]", r#"{"k":[1,{"m":"]"}]}"#, r#""\\""#, r#""}""#]),
                    6,
                ),
                1..4,
            ),
        ) {
            let objects: Vec<String> = values
                .iter()
                .map(|values| {
                    let body: Vec<String> = members
                        .iter()
                        .zip(values)
                        .map(|((key, space), value)| format!("{space}{key}{space}:{space}{value}{space}"))
                        .collect();
                    format!("{{{}}}", body.join(","))
                })
                .collect();
            let borrowed: Vec<&[u8]> = objects.iter().map(String::as_bytes).collect();
            let index = shaped(&borrowed);
            proptest::prop_assert_eq!(index.shapes.len(), 1);
        }
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
