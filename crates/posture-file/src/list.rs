use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Take};
use std::path::Path;

use posture_core::{Decision, DenyCode, Enrichment};

use crate::{FileFormat, LoadError, parse_csv, parse_json};
use posture_index::{Full, Index, MAX_ARENA_BYTES, MAX_DEVICES};

/// The UTF-8 byte-order mark some editors (and Excel) put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How strictly to load a device file.
///
/// ```
/// use posture_file::{DeviceList, FileFormat, LoadOptions};
/// let header_only = b"Identifier,user\n";
/// assert!(DeviceList::parse(header_only, FileFormat::Csv, "devices.csv").is_err());
///
/// let options = LoadOptions::new().allow_empty(true);
/// let list = DeviceList::parse_with(header_only, FileFormat::Csv, "devices.csv", options)?;
/// assert!(list.is_empty());
/// # Ok::<(), posture_file::LoadError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct LoadOptions {
    allow_empty: bool,
    allow_shrink: bool,
}

impl LoadOptions {
    /// The defaults: a file that lists no devices is an error, and so is a reload that
    /// would leave fewer than half the devices.
    pub const fn new() -> Self {
        Self {
            allow_empty: false,
            allow_shrink: false,
        }
    }

    /// Whether a well-formed file that lists no devices loads (as a list that denies
    /// every device) instead of failing with [`LoadError::NoDevices`]. Off by default: for
    /// a gatekeeper an empty inventory is almost always a mistake, such as an export that
    /// went wrong. An empty or whitespace-only file is an error either way
    /// ([`LoadError::EmptyFile`]).
    #[must_use]
    pub const fn allow_empty(mut self, yes: bool) -> Self {
        self.allow_empty = yes;
        self
    }

    /// Whether [`Self::allow_empty`] is set.
    pub const fn allows_empty(&self) -> bool {
        self.allow_empty
    }

    /// Whether [`FileProvider::reload`](crate::FileProvider::reload) may replace the list
    /// with one of fewer than half as many devices, instead of failing with
    /// [`LoadError::Shrunk`]. Off by default: an export cut short, or written by a job
    /// that lost half its input, looks just like that, and would deny every device it
    /// left out. Loading a file the first time is never refused for its size.
    ///
    /// ```
    /// use posture_file::{FileFormat, FileProvider, LoadError, LoadOptions};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("devices.csv");
    /// std::fs::write(&path, "Identifier\nA1\nA2\nA3\n")?;
    /// let provider = FileProvider::load(&path, FileFormat::Csv)?;
    /// std::fs::write(&path, "Identifier\nA1\n")?;
    /// assert!(matches!(provider.reload(), Err(LoadError::Shrunk { devices: 1, served: 3, .. })));
    ///
    /// let options = LoadOptions::new().allow_shrink(true);
    /// let provider = FileProvider::load_with(&path, FileFormat::Csv, options)?;
    /// std::fs::write(&path, "Identifier\nA1\nA2\nA3\n")?;
    /// provider.reload()?;
    /// std::fs::write(&path, "Identifier\nA1\n")?;
    /// assert_eq!(provider.reload()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn allow_shrink(mut self, yes: bool) -> Self {
        self.allow_shrink = yes;
        self
    }

    /// Whether [`Self::allow_shrink`] is set.
    pub const fn allows_shrink(&self) -> bool {
        self.allow_shrink
    }
}

/// An immutable, fully validated device inventory.
///
/// Lookups are exact (case-sensitive) and take constant time. Each device's enrichment
/// data is kept as serialised JSON in one shared buffer (for CSV, only the values: the
/// keys, the same for every device, are kept once).
///
/// ```
/// use posture_file::{DeviceList, FileFormat};
/// let json = br#"{"devices":[
///     {"identifier":"C02XL0GJJG5J","data":{"user":"alice"}},
///     {"identifier":"DMPXK2ABCDEF"}
/// ]}"#;
/// let list = DeviceList::parse(json, FileFormat::Json, "devices.json")?;
/// assert_eq!(list.len(), 2);
///
/// let alice = list.get("C02XL0GJJG5J").unwrap();
/// assert_eq!(alice.enrichment().unwrap().as_bytes(), br#"{"user":"alice"}"#);
/// assert!(list.get("DMPXK2ABCDEF").unwrap().enrichment().is_none());
/// assert!(list.get("c02xl0gjjg5j").is_none());
/// assert!(!list.decide("unknown").is_allowed());
/// # Ok::<(), posture_file::LoadError>(())
/// ```
pub struct DeviceList {
    index: Index,
    format: FileFormat,
    source: Box<str>,
}

impl DeviceList {
    /// Parses a device file already in memory, with the default [`LoadOptions`].
    /// `source_name` names the file in error messages, for example `"devices.csv"`.
    pub fn parse(bytes: &[u8], format: FileFormat, source_name: &str) -> Result<Self, LoadError> {
        Self::parse_with(bytes, format, source_name, LoadOptions::new())
    }

    /// Parses a device file already in memory.
    pub fn parse_with(
        bytes: &[u8],
        format: FileFormat,
        source_name: &str,
        options: LoadOptions,
    ) -> Result<Self, LoadError> {
        let content = bytes.strip_prefix(BOM).unwrap_or(bytes);
        if content.iter().all(u8::is_ascii_whitespace) {
            return Err(LoadError::EmptyFile {
                file: source_name.to_owned(),
            });
        }
        let builder = match format {
            FileFormat::Json => parse_json::parse(content, source_name)?,
            FileFormat::Csv => parse_csv::parse(content, source_name)?,
        };
        if builder.is_empty() && !options.allows_empty() {
            return Err(LoadError::NoDevices {
                file: source_name.to_owned(),
            });
        }
        let index = builder.finish().map_err(|duplicate| {
            // Rare, so find the lines by reading the file again rather than remembering
            // where every device was.
            let line_of = |device| match format {
                FileFormat::Json => parse_json::identifier_line(content, device),
                FileFormat::Csv => parse_csv::device_line(content, device),
            };
            LoadError::DuplicateIdentifier {
                file: source_name.to_owned(),
                line: line_of(duplicate.index),
                identifier: duplicate.identifier,
                first_line: line_of(duplicate.first),
            }
        })?;
        Ok(Self {
            index,
            format,
            source: source_name.into(),
        })
    }

    /// Reads and parses a device file, with the default [`LoadOptions`]. Errors name the
    /// file by `path` as given.
    pub fn load(path: impl AsRef<Path>, format: FileFormat) -> Result<Self, LoadError> {
        Self::load_with(path, format, LoadOptions::new())
    }

    /// Reads and parses a device file.
    ///
    /// The file is parsed as it is read, so loading needs little memory beyond the list
    /// itself. If the file fails a check, it is read again whole to say where: errors are
    /// reported exactly as [`Self::parse_with`] reports them.
    pub fn load_with(
        path: impl AsRef<Path>,
        format: FileFormat,
        options: LoadOptions,
    ) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let source = path.display().to_string();
        match stream(path, format, &source, options) {
            Ok(index) => Ok(Self {
                index,
                format,
                source: source.into(),
            }),
            Err(Streamed::Failed(err)) => Err(err),
            // Streaming keeps no positions, and whitespace-only files look like other
            // errors, so let the in-memory parser name the problem. Should the file have
            // changed meanwhile, this loads it as it is now.
            Err(Streamed::Diagnose) => {
                let bytes = read_whole(path).map_err(|err| io_error(path, err))?;
                Self::parse_with(&bytes, format, &source, options)
            }
        }
    }

    /// How many devices the list holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the list holds no devices (possible only with
    /// [`LoadOptions::allow_empty`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The format the list was read from.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The name of the file the list was read from, as used in error messages.
    pub fn source_name(&self) -> &str {
        &self.source
    }

    /// The device with exactly this identifier.
    pub fn get(&self, identifier: &str) -> Option<DeviceRecord<'_>> {
        self.index
            .find(identifier)
            .map(|index| DeviceRecord { list: self, index })
    }

    /// Whether a device with exactly this identifier is listed.
    pub fn contains(&self, identifier: &str) -> bool {
        self.index.find(identifier).is_some()
    }

    /// The devices, in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = DeviceRecord<'_>> + '_ {
        (0..self.len()).map(|index| DeviceRecord { list: self, index })
    }

    /// The decision for a device: allowed with its data when it is listed, denied with
    /// [`DenyCode::DEVICE_NOT_FOUND`] otherwise.
    ///
    /// ```
    /// use posture_core::DenyCode;
    /// use posture_file::{DeviceList, FileFormat};
    /// let list = DeviceList::parse(b"Identifier\nC02XL0GJJG5J\n", FileFormat::Csv, "devices.csv")?;
    /// assert_eq!(list.decide("C02XL0GJJG5J"), posture_core::Decision::allow());
    /// let denied = list.decide("C02NOTLISTED");
    /// assert_eq!(denied.deny_code(), Some(&DenyCode::DEVICE_NOT_FOUND));
    /// assert_eq!(
    ///     denied.deny_message(),
    ///     Some("device identifier \"C02NOTLISTED\" is not in the device list")
    /// );
    /// # Ok::<(), posture_file::LoadError>(())
    /// ```
    pub fn decide(&self, identifier: &str) -> Decision {
        match self.get(identifier).map(|device| device.enrichment()) {
            Some(Some(data)) => Decision::allow_with(data),
            Some(None) => Decision::allow(),
            None => Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("device identifier {identifier:?} is not in the device list"),
            ),
        }
    }
}

impl fmt::Debug for DeviceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceList")
            .field("source", &self.source)
            .field("format", &self.format)
            .field("devices", &self.len())
            .finish_non_exhaustive()
    }
}

/// The buffer for reading a file: large enough that reads cost little next to parsing.
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// Why a streamed load stopped.
enum Streamed {
    /// For a reason that needs no position in the file, or could not be read.
    Failed(LoadError),
    /// The file is invalid; parse it in memory to say where.
    Diagnose,
}

/// Parses the file at `path` as it is read.
fn stream(
    path: &Path,
    format: FileFormat,
    source: &str,
    options: LoadOptions,
) -> Result<Index, Streamed> {
    let failed = |err| Streamed::Failed(io_error(path, err));
    let (reader, size) = open(path).map_err(failed)?;
    let builder = match format {
        FileFormat::Json => match parse_json::parse_split(reader, size, source) {
            Some(parsed) => parsed,
            None => {
                let (reader, size) = open(path).map_err(failed)?;
                parse_json::parse_reader(reader, size, source)
            }
        },
        FileFormat::Csv => parse_csv::parse_reader(reader, size, source),
    }
    .map_err(|err| match err {
        // Reading the whole of a file this large to report it would defeat the limit.
        LoadError::TooManyDevices { .. } | LoadError::TooMuchData { .. } => Streamed::Failed(err),
        _ => Streamed::Diagnose,
    })?;
    if builder.is_empty() && !options.allows_empty() {
        return Err(Streamed::Diagnose);
    }
    builder.finish().map_err(|_| Streamed::Diagnose)
}

/// Opens the file at `path` for reading from after its byte-order mark, if any; also
/// returns its size.
fn open(path: &Path) -> io::Result<(BufReader<Take<File>>, usize)> {
    let (file, size) = open_bounded(path)?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    skip_bom(&mut reader)?;
    Ok((reader, size))
}

/// Opens the file at `path` to be read no further than the size it has now, which it also
/// returns. A file that a writer keeps appending to could otherwise keep a load reading,
/// and its memory growing, for as long as the writer goes on.
fn open_bounded(path: &Path) -> io::Result<(Take<File>, usize)> {
    let file = File::open(path)?;
    let len = file.metadata().ok().map(|meta| meta.len());
    let size = len.map_or(0, |len| usize::try_from(len).unwrap_or(usize::MAX));
    Ok((file.take(len.unwrap_or(u64::MAX)), size))
}

/// Reads the file at `path` whole, as far as its size when opened.
fn read_whole(path: &Path) -> io::Result<Vec<u8>> {
    let (mut file, size) = open_bounded(path)?;
    let mut bytes = Vec::with_capacity(size);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Skips a byte-order mark at the start of `reader`.
fn skip_bom(reader: &mut impl BufRead) -> io::Result<()> {
    // A first read shorter than the mark only happens for a file that short, or an odd
    // reader; a mark left in place then fails the parse, and the in-memory parse skips it.
    if reader.fill_buf()?.starts_with(BOM) {
        reader.consume(BOM.len());
    }
    Ok(())
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> LoadError {
    LoadError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One device of a [`DeviceList`].
#[derive(Clone, Copy)]
pub struct DeviceRecord<'a> {
    list: &'a DeviceList,
    index: usize,
}

impl<'a> DeviceRecord<'a> {
    /// The device's identifier.
    pub fn identifier(&self) -> &'a str {
        self.list.index.identifier(self.index)
    }

    /// The device's enrichment data, or `None` when the file gives it none (no `data`, a
    /// `null` or empty `data` object, or a CSV with no column but `Identifier`).
    ///
    /// Both formats keep each device's values without the keys, to save memory (a CSV
    /// list's header keys, a JSON list's object shapes, each stored once), so this puts the
    /// object together in a new buffer: one small allocation. From a JSON file the bytes are
    /// exactly the file's; an object of a rare shape (past the first 1,024) shares the
    /// list's buffer instead.
    pub fn enrichment(&self) -> Option<Enrichment> {
        self.list
            .index
            .data(self.index)
            .map(Enrichment::from_checked_json)
    }
}

impl fmt::Debug for DeviceRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("identifier", &self.identifier())
            .field("enrichment", &self.enrichment())
            .finish()
    }
}

/// The error for a file with more devices, or more bytes of them, than an index holds.
pub(crate) fn full(full: Full, file: &str) -> LoadError {
    match full {
        Full::Devices => LoadError::TooManyDevices {
            file: file.to_owned(),
            limit: MAX_DEVICES,
        },
        // Full::Bytes, and anything else the index may refuse for size.
        _ => LoadError::TooMuchData {
            file: file.to_owned(),
            limit: MAX_ARENA_BYTES as u64,
        },
    }
}

/// Checks an identifier is non-empty and has no surrounding whitespace.
/// `line` is called only on failure.
pub(crate) fn check_identifier(
    identifier: &str,
    file: &str,
    line: impl FnOnce() -> usize,
) -> Result<(), LoadError> {
    if identifier.is_empty() {
        return Err(LoadError::EmptyIdentifier {
            file: file.to_owned(),
            line: line(),
        });
    }
    if identifier.trim() != identifier {
        return Err(LoadError::UntrimmedIdentifier {
            file: file.to_owned(),
            line: line(),
            identifier: identifier.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_index_names_the_file_and_the_limit() {
        assert_eq!(
            full(Full::Bytes, "devices.csv").to_string(),
            "devices.csv: the identifiers or the enrichment data exceed 4294967295 bytes \
             (4 GiB), the most one device list holds"
        );
        assert_eq!(
            full(Full::Devices, "devices.csv").to_string(),
            "devices.csv lists more than 4294967295 devices"
        );
    }
}
