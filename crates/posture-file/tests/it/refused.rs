//! Broken device files, in either format: refused with a message naming the file and where
//! it breaks, and an error whose fields say the same.

use posture_file::{FileFormat, LoadError};

use crate::{load_error, parse_error, refused_with};

#[test]
fn broken_files_are_refused_naming_where() {
    for (file, format, expected) in [
        (
            "devices-duplicate.csv",
            FileFormat::Csv,
            "devices-duplicate.csv line 4: duplicate identifier \"C02XL0GJJG5J\" (first seen on line 2)",
        ),
        (
            "devices-duplicate.json",
            FileFormat::Json,
            "devices-duplicate.json line 6: duplicate identifier \"C02XL0GJJG5J\" (first seen on line 3)",
        ),
        (
            "devices-ragged.csv",
            FileFormat::Csv,
            "devices-ragged.csv line 3: the record has 2 fields, but the header has 3",
        ),
        (
            "devices-empty-header.csv",
            FileFormat::Csv,
            "devices-empty-header.csv line 1: header 3 is empty",
        ),
        (
            "devices-duplicate-header.csv",
            FileFormat::Csv,
            "devices-duplicate-header.csv line 1: duplicate header \"user\" (columns 2 and 4)",
        ),
        (
            "devices-zero-bytes.csv",
            FileFormat::Csv,
            "devices-zero-bytes.csv is empty",
        ),
        (
            "devices-latin1.csv",
            FileFormat::Csv,
            "devices-latin1.csv line 2: field 2 is not valid UTF-8 (save the file as UTF-8)",
        ),
        (
            "devices-invalid.json",
            FileFormat::Json,
            "devices-invalid.json line 4 column 35: invalid JSON: expected `,` or `}`",
        ),
        (
            "devices-truncated.json",
            FileFormat::Json,
            "devices-truncated.json line 4 column 47: invalid JSON: EOF while parsing a string",
        ),
        // Identifiers a lookup could never match.
        (
            "devices-empty-identifier.json",
            FileFormat::Json,
            "devices-empty-identifier.json line 3: empty identifier",
        ),
        (
            "devices-untrimmed.json",
            FileFormat::Json,
            "devices-untrimmed.json line 2: identifier \" C02XL0GJJG5J\" has leading or trailing whitespace",
        ),
        (
            "devices-missing-identifier.json",
            FileFormat::Json,
            "devices-missing-identifier.json line 3: device 2 has no identifier",
        ),
        (
            "devices-empty-identifier.csv",
            FileFormat::Csv,
            "devices-empty-identifier.csv line 3: empty identifier",
        ),
        (
            "devices-untrimmed.csv",
            FileFormat::Csv,
            "devices-untrimmed.csv line 2: identifier \"C02XL0GJJG5J \" has leading or trailing whitespace",
        ),
    ] {
        refused_with(file, format, expected);
    }
}

/// The same for text parsed in memory, which the message names `t.csv` or `t.json`.
#[test]
fn broken_text_is_refused_naming_where() {
    for (text, format, expected) in [
        (
            "Identifier,user\nA,alice,extra\n",
            FileFormat::Csv,
            "t.csv line 2: the record has 3 fields, but the header has 2",
        ),
        (
            "{\"devices\":[\n  {\"identifier\": 12345}\n]}",
            FileFormat::Json,
            "t.json line 2 column 18: the identifier must be a string, found a number",
        ),
    ] {
        let err = parse_error(text.as_bytes(), format);
        assert_eq!(err.to_string(), expected, "{text:?}");
    }
}

/// Whether an error's fields hold what one case expects.
type FieldsCheck = fn(&LoadError) -> bool;

#[test]
fn the_error_fields_say_where_and_what() {
    let cases: [(&str, FileFormat, FieldsCheck); 3] = [
        ("devices-duplicate.json", FileFormat::Json, |err| {
            matches!(
                err,
                LoadError::DuplicateIdentifier { line: 6, first_line: 3, identifier, .. }
                    if identifier == "C02XL0GJJG5J"
            )
        }),
        ("devices-ragged.csv", FileFormat::Csv, |err| {
            matches!(
                err,
                LoadError::RaggedRow {
                    line: 3,
                    fields: 2,
                    expected: 3,
                    ..
                }
            )
        }),
        ("devices-invalid.json", FileFormat::Json, |err| {
            matches!(
                err,
                LoadError::InvalidJson {
                    line: 4,
                    column: 35,
                    ..
                }
            )
        }),
    ];
    for (file, format, says_where_and_what) in cases {
        let err = load_error(file, format);
        assert!(says_where_and_what(&err), "{file}: {err:?}");
    }
}
