//! The CSV format: a header line whose first field is `Identifier`, then one device per
//! record. Every other column becomes a string field of the device's data.
//!
//! Reading follows Go's `encoding/csv` defaults, which the Go version used: comma
//! separated, `"` quoting with `""` for a quote inside a quoted field, line breaks allowed
//! in quoted fields, blank lines skipped, no trimming, and every record as wide as the
//! header. As Go does, a carriage return before a line feed inside a field is dropped.

use std::collections::HashMap;
use std::io::Read;

use csv::{ByteRecord, ReaderBuilder, StringRecord};

use crate::LoadError;
use crate::list::READ_BUFFER;
use crate::list::{check_identifier, full};
use posture_index::{Builder, Layout};

/// The first header, exactly as the Go version requires it.
const IDENTIFIER_HEADER: &str = "Identifier";

/// Parses a CSV device file in memory (without its byte-order mark) into a builder.
pub(crate) fn parse(input: &[u8], file: &str) -> Result<Builder, LoadError> {
    parse_from(input, input.len(), file, |position| {
        line_at(position, input)
    })
}

/// Parses a CSV device file (without its byte-order mark) as it is read. `size` is the
/// file's length, to size the data arena.
///
/// Lines in errors may be off: without the text at hand, the blank lines skipped before a
/// record go uncounted. [`DeviceList::load_with`](crate::DeviceList::load_with) reports
/// such errors by parsing the file again in memory.
pub(crate) fn parse_reader(
    input: impl Read,
    size: usize,
    file: &str,
) -> Result<Builder, LoadError> {
    parse_from(input, size, file, |position| widen(position.line()))
}

/// Parses CSV from `input`, of about `size` bytes; `locate` gives the line where the
/// record at a position starts.
fn parse_from<R: Read>(
    input: R,
    size: usize,
    file: &str,
    locate: impl Fn(&csv::Position) -> usize,
) -> Result<Builder, LoadError> {
    let line_of = |record: &StringRecord| record.position().map_or(0, &locate);
    let mut reader = reader(input);
    let mut record = StringRecord::new();
    let read = reader
        .read_record(&mut record)
        .map_err(|err| csv_error(&err, file))?;
    if !read {
        return Err(LoadError::EmptyFile {
            file: file.to_owned(),
        });
    }
    let keys = header_keys(&record, line_of(&record), file)?;
    let width = record.len();

    let estimate = if keys.is_empty() { 0 } else { size };
    let mut builder = Builder::with_data_capacity(estimate, Layout::Columns(keys));
    let mut values = Vec::new();
    while reader
        .read_record(&mut record)
        .map_err(|err| csv_error(&err, file))?
    {
        let line = line_of(&record);
        if record.len() != width {
            return Err(LoadError::RaggedRow {
                file: file.to_owned(),
                line,
                fields: record.len(),
                expected: width,
            });
        }
        let mut fields = record.iter();
        let identifier = fields.next().unwrap_or_default();
        check_identifier(identifier, file, || line)?;
        values.clear();
        write_values(&mut values, fields).map_err(|reason| LoadError::InvalidCsv {
            file: file.to_owned(),
            line,
            reason,
        })?;
        builder
            .push(identifier, &values)
            .map_err(|err| full(err, file))?;
    }
    Ok(builder)
}

fn reader<R: Read>(input: R) -> csv::Reader<R> {
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(READ_BUFFER)
        .from_reader(input)
}

/// Checks the header record and returns each data column's key, serialised as a JSON
/// string followed by `:`.
fn header_keys(header: &StringRecord, line: usize, file: &str) -> Result<Vec<Vec<u8>>, LoadError> {
    let first = header.get(0).unwrap_or_default();
    if first != IDENTIFIER_HEADER {
        return Err(LoadError::BadHeader {
            file: file.to_owned(),
            line,
            found: first.to_owned(),
        });
    }
    let mut columns: HashMap<&str, usize> = HashMap::from([(IDENTIFIER_HEADER, 1)]);
    let mut keys = Vec::with_capacity(header.len().saturating_sub(1));
    for (index, name) in header.iter().enumerate().skip(1) {
        let column = index + 1;
        if name.is_empty() {
            return Err(LoadError::EmptyHeader {
                file: file.to_owned(),
                line,
                column,
            });
        }
        if let Some(&first_column) = columns.get(name) {
            return Err(LoadError::DuplicateHeader {
                file: file.to_owned(),
                line,
                name: name.to_owned(),
                column,
                first_column,
            });
        }
        columns.insert(name, column);
        let mut key = serde_json::to_vec(name).map_err(|err| LoadError::InvalidCsv {
            file: file.to_owned(),
            line,
            reason: format!("header {column} cannot be encoded: {err}"),
        })?;
        key.push(b':');
        keys.push(key);
    }
    Ok(keys)
}

/// Serialises a record's data fields as JSON strings, one after another: the values of
/// its object, whose keys the header gives ([`Layout::Columns`]). Writes nothing when
/// there are no data columns.
fn write_values<'r>(
    out: &mut Vec<u8>,
    fields: impl Iterator<Item = &'r str>,
) -> Result<(), String> {
    for (position, value) in fields.enumerate() {
        let value = if value.contains('\r') {
            std::borrow::Cow::Owned(value.replace("\r\n", "\n"))
        } else {
            std::borrow::Cow::Borrowed(value)
        };
        serde_json::to_writer(&mut *out, &*value)
            .map_err(|err| format!("field {} cannot be encoded: {err}", position + 2))?;
    }
    Ok(())
}

/// The line where data record `wanted` (from 0, after the header) starts, found by reading
/// the file again. Used only to report a duplicate.
pub(crate) fn device_line(input: &[u8], wanted: usize) -> usize {
    let mut record = ByteRecord::new();
    let mut reader = reader(input);
    let mut index = 0;
    // Record 0 is the header.
    while let Ok(true) = reader.read_byte_record(&mut record) {
        if index == wanted + 1 {
            return record.position().map_or(0, |p| line_at(p, input));
        }
        index += 1;
    }
    0
}

/// The line where the record at `position` starts. The reader's position for a record is
/// where it began looking for it, before any blank lines it skipped, so count those too.
fn line_at(position: &csv::Position, input: &[u8]) -> usize {
    let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    let skipped = input.get(start..).map_or(0, |rest| {
        rest.iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .filter(|&&b| b == b'\n')
            .count()
    });
    widen(position.line()).saturating_add(skipped)
}

fn widen(line: u64) -> usize {
    usize::try_from(line).unwrap_or(usize::MAX)
}

fn csv_error(err: &csv::Error, file: &str) -> LoadError {
    let line = err.position().map_or(0, |p| widen(p.line()));
    let reason = match err.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "field {} is not valid UTF-8 (save the file as UTF-8)",
            err.field() + 1
        ),
        _ => format!("invalid CSV: {err}"),
    };
    LoadError::InvalidCsv {
        file: file.to_owned(),
        line,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(csv: &str) -> Result<posture_index::Index, LoadError> {
        parse(csv.as_bytes(), "t.csv").map(|builder| builder.finish().unwrap())
    }

    fn data(index: &posture_index::Index, device: usize) -> Option<String> {
        index
            .data(device)
            .map(|bytes| String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[test]
    fn builds_string_objects_in_column_order() {
        let index = parse_str("Identifier,user,n\nA,alice,7\nB,,\n").unwrap();
        assert_eq!(
            data(&index, 0).as_deref(),
            Some(r#"{"user":"alice","n":"7"}"#)
        );
        assert_eq!(data(&index, 1).as_deref(), Some(r#"{"user":"","n":""}"#));
    }

    #[test]
    fn escapes_keys_and_values() {
        let index = parse_str("Identifier,\"say \"\"hi\"\"\"\nA,\"back\\slash\ttab\"\n").unwrap();
        let value: serde_json::Value = serde_json::from_str(&data(&index, 0).unwrap()).unwrap();
        assert_eq!(value, serde_json::json!({"say \"hi\"": "back\\slash\ttab"}));
    }

    #[test]
    fn identifier_only_gives_no_data() {
        let index = parse_str("Identifier\nA\nB\n").unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.data(0), None);
    }

    #[test]
    fn drops_carriage_returns_before_line_feeds_in_fields() {
        let index = parse_str("Identifier,note\r\nA,\"one\r\ntwo\"\r\n").unwrap();
        assert_eq!(data(&index, 0).as_deref(), Some(r#"{"note":"one\ntwo"}"#));
        assert_eq!(index.find("A"), Some(0));
    }

    #[test]
    fn counts_lines_across_blank_lines_and_quoted_breaks() {
        let csv = "\nIdentifier,note\n\nA,\"x\ny\"\n\nA,z\n";
        let err =
            crate::DeviceList::parse(csv.as_bytes(), crate::FileFormat::Csv, "t.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv line 7: duplicate identifier \"A\" (first seen on line 4)"
        );
    }

    #[test]
    fn refuses_identifier_as_a_later_header_too() {
        let err = parse_str("Identifier,Identifier\nA,B\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv line 1: duplicate header \"Identifier\" (columns 1 and 2)"
        );
    }

    #[test]
    fn refuses_invalid_utf8() {
        let err = parse(b"Identifier,user\nA,Jos\xE9\n", "t.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv line 2: field 2 is not valid UTF-8 (save the file as UTF-8)"
        );
    }
}
