use std::io;
use std::path::PathBuf;

/// Why a device file could not be loaded.
///
/// Every variant about the file's content names the file (the path, or the name given to
/// [`DeviceList::parse`](crate::DeviceList::parse)) and, where there is one, the line, so
/// the message alone is enough to fix the file:
///
/// ```
/// use posture_file::{DeviceList, FileFormat, LoadError};
/// let csv = "Identifier,user\nC02XL0GJJG5J,alice\nC02XL0GJJG5J,bob\n";
/// let err = DeviceList::parse(csv.as_bytes(), FileFormat::Csv, "devices.csv").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "devices.csv line 3: duplicate identifier \"C02XL0GJJG5J\" (first seen on line 2)"
/// );
/// assert!(matches!(err, LoadError::DuplicateIdentifier { line: 3, first_line: 2, .. }));
/// ```
///
/// Lines count from 1. A CSV record that spans several lines (a quoted field with a line
/// break) is reported at the line where it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read device file {}", path.display())]
    Io {
        /// The path that was read.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// The file holds nothing but whitespace (or a byte-order mark): it was probably
    /// truncated, or not written yet.
    #[error("{file} is empty")]
    EmptyFile {
        /// The file.
        file: String,
    },

    /// The JSON is malformed, or not shaped like `{"devices":[{"identifier":…}]}`.
    #[error("{file} line {line} column {column}: {reason}")]
    InvalidJson {
        /// The file.
        file: String,
        /// Where the problem was found.
        line: usize,
        /// The column, in bytes from 1, of the problem.
        column: usize,
        /// What is wrong, for example `invalid JSON: expected ',' or '}'`.
        reason: String,
    },

    /// A CSV record could not be read (for example, it is not valid UTF-8).
    #[error("{file} line {line}: {reason}")]
    InvalidCsv {
        /// The file.
        file: String,
        /// The line where the record starts.
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// The first CSV header is not exactly `Identifier`.
    #[error("{file} line {line}: the first header must be \"Identifier\", found {found:?}")]
    BadHeader {
        /// The file.
        file: String,
        /// The line of the header record.
        line: usize,
        /// The first header as written.
        found: String,
    },

    /// A CSV header after the first is empty.
    #[error("{file} line {line}: header {column} is empty")]
    EmptyHeader {
        /// The file.
        file: String,
        /// The line of the header record.
        line: usize,
        /// The column, from 1.
        column: usize,
    },

    /// Two CSV headers have the same name, so one column would hide the other.
    #[error("{file} line {line}: duplicate header {name:?} (columns {first_column} and {column})")]
    DuplicateHeader {
        /// The file.
        file: String,
        /// The line of the header record.
        line: usize,
        /// The repeated name.
        name: String,
        /// The later column, from 1.
        column: usize,
        /// The earlier column, from 1.
        first_column: usize,
    },

    /// A CSV record has more or fewer fields than the header.
    #[error("{file} line {line}: the record has {fields} fields, but the header has {expected}")]
    RaggedRow {
        /// The file.
        file: String,
        /// The line where the record starts.
        line: usize,
        /// How many fields the record has.
        fields: usize,
        /// How many headers there are.
        expected: usize,
    },

    /// A JSON device has no `identifier`, or a `null` one.
    #[error("{file} line {line}: device {device} has no identifier")]
    MissingIdentifier {
        /// The file.
        file: String,
        /// Where the device is.
        line: usize,
        /// The device's position in the `devices` array, from 1.
        device: usize,
    },

    /// A device's identifier is the empty string.
    #[error("{file} line {line}: empty identifier")]
    EmptyIdentifier {
        /// The file.
        file: String,
        /// Where the identifier is.
        line: usize,
    },

    /// A device's identifier starts or ends with whitespace, so it could never match an
    /// attested identifier.
    #[error("{file} line {line}: identifier {identifier:?} has leading or trailing whitespace")]
    UntrimmedIdentifier {
        /// The file.
        file: String,
        /// Where the identifier is.
        line: usize,
        /// The identifier as written.
        identifier: String,
    },

    /// Two devices have the same identifier.
    #[error(
        "{file} line {line}: duplicate identifier {identifier:?} (first seen on line {first_line})"
    )]
    DuplicateIdentifier {
        /// The file.
        file: String,
        /// Where the second device is.
        line: usize,
        /// The identifier.
        identifier: String,
        /// Where the first device is.
        first_line: usize,
    },

    /// A JSON device's `data` is not an object (nor `null`).
    #[error(
        "{file} line {line}: the data of {identifier:?} must be an object or null, found {found}"
    )]
    DataNotObject {
        /// The file.
        file: String,
        /// Where the data is.
        line: usize,
        /// The device's identifier.
        identifier: String,
        /// What the data is instead, such as `"an array"`.
        found: &'static str,
    },

    /// The file is well formed but lists no devices. An empty list would deny every
    /// device, which is almost certainly a mistake, so it is refused unless
    /// [`LoadOptions::allow_empty`](crate::LoadOptions::allow_empty) is set.
    #[error("{file} lists no devices (an empty device list would deny every device)")]
    NoDevices {
        /// The file.
        file: String,
    },

    /// The file lists more devices than one list can index.
    #[error("{file} lists more than {limit} devices")]
    TooManyDevices {
        /// The file.
        file: String,
        /// The most devices a list can hold.
        limit: usize,
    },

    /// The file's identifiers, or its enrichment data, take more bytes than one list can
    /// index: offsets into them are 32-bit, so each is limited to 4 GiB.
    #[error(
        "{file}: the identifiers or the enrichment data exceed {limit} bytes (4 GiB), the most one device list holds"
    )]
    TooMuchData {
        /// The file.
        file: String,
        /// The most bytes of identifiers, and of data, a list can hold.
        limit: u64,
    },

    /// [`FileProvider::reload`](crate::FileProvider::reload) was called on a provider built
    /// from an in-memory list, which has no file to read.
    #[error("no device file to reload: the provider was built from an in-memory list")]
    NotReloadable,

    /// The file changed while it was read (or since the version the caller expected), so
    /// what was read may be half old, half new, or cut short: it is not loaded. Try again
    /// once the file has stopped changing. Writers should write a temporary file in the same
    /// directory and rename it over the device file, which no reader ever sees half done.
    #[error(
        "{} changed while it was read: not loaded (replace the file by renaming a complete new file over it)",
        path.display()
    )]
    Changed {
        /// The file.
        path: PathBuf,
    },

    /// A reload would replace the list with one of fewer than half as many devices, which
    /// looks more like a cut-short export than a real change. Refused unless
    /// [`LoadOptions::allow_shrink`](crate::LoadOptions::allow_shrink) is set.
    #[error(
        "{file} lists {devices} devices, fewer than half of the {served} in the list being served: refused as a probable partial export"
    )]
    Shrunk {
        /// The file.
        file: String,
        /// How many devices the file lists.
        devices: usize,
        /// How many devices the list being served holds.
        served: usize,
    },
}
