use posture_core::{Decision, DenyCode};
use posture_file::{DeviceList, FileFormat, LoadError, LoadOptions};
use serde_json::json;

use crate::{load, parse_error, refused_with};

#[test]
fn allows_listed_devices_with_their_fields_as_strings() {
    let list = load("devices.csv", FileFormat::Csv).unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list.format(), FileFormat::Csv);

    let alice = list.decide("C02XL0GJJG5J");
    assert!(alice.is_allowed());
    assert_eq!(
        alice.enrichment().unwrap().as_bytes(),
        br#"{"user":"alice","email":"alice@example.com","department":"Engineering","groups":"engineering;vpn-users"}"#
    );
    // Empty fields are empty strings, as in the Go version.
    assert_eq!(
        list.decide("DMPXQ3NZLMNO").enrichment().unwrap().to_value(),
        json!({"user": "dave", "email": "dave@example.com", "department": "", "groups": ""})
    );
}

#[test]
fn an_unlisted_device_is_denied_as_not_found() {
    let list = load("devices.csv", FileFormat::Csv).unwrap();
    let decision = list.decide("c02xl0gjjg5j");
    assert_eq!(decision.deny_code(), Some(&DenyCode::DEVICE_NOT_FOUND));
    assert_eq!(
        decision.deny_message(),
        Some("device identifier \"c02xl0gjjg5j\" is not in the device list")
    );
}

#[test]
fn an_identifier_only_file_gives_no_data() {
    let list = load("devices-identifier-only.csv", FileFormat::Csv).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.decide("C02XL0GJJG5J"), Decision::allow());
    assert_eq!(list.decide("C02YM1HKKH6K"), Decision::allow());
}

#[test]
fn reads_quoted_fields_with_commas_quotes_and_line_breaks() {
    let list = load("devices-quoted.csv", FileFormat::Csv).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list.decide("C02XL0GJJG5J").enrichment().unwrap().to_value(),
        json!({
            "user": "Smith, Alice",
            "department": "Engineering",
            "notes": "Says \"hi\"\nand uses two lines"
        })
    );
    // After a blank line, with a quoted identifier.
    assert_eq!(
        list.decide("C02YM1HKKH6K").enrichment().unwrap().to_value(),
        json!({"user": "bob", "department": "Sales, EMEA", "notes": ""})
    );
}

#[test]
fn the_first_header_must_be_identifier() {
    refused_with(
        "devices-bad-header.csv",
        FileFormat::Csv,
        "devices-bad-header.csv line 1: the first header must be \"Identifier\", found \"SerialNumber\"",
    );
    for header in ["identifier", " Identifier", "Identifier "] {
        let csv = format!("{header},user\nA,alice\n");
        let err = parse_error(csv.as_bytes(), FileFormat::Csv);
        assert!(
            matches!(err, LoadError::BadHeader { .. }),
            "{header:?}: {err}"
        );
    }
}

#[test]
fn a_header_without_devices_is_refused_unless_allowed() {
    let err = refused_with(
        "devices-header-only.csv",
        FileFormat::Csv,
        "devices-header-only.csv lists no devices (an empty device list would deny every device)",
    );
    assert!(matches!(err, LoadError::NoDevices { .. }), "{err}");
    let options = LoadOptions::new().allow_empty(true);
    let list =
        DeviceList::parse_with(b"Identifier,user\n", FileFormat::Csv, "t.csv", options).unwrap();
    assert!(list.is_empty());
}

#[test]
fn blank_lines_are_skipped_as_go_does() {
    let csv = b"\n\nIdentifier,user\n\n\nA,alice\n\nB,bob\n\n";
    let list = DeviceList::parse(csv, FileFormat::Csv, "t.csv").unwrap();
    assert_eq!(list.len(), 2);
    // A line holding only spaces is a record, not a blank line.
    let csv = b"Identifier\nA\n   \n";
    let err = parse_error(csv, FileFormat::Csv);
    assert!(
        matches!(err, LoadError::UntrimmedIdentifier { line: 3, .. }),
        "{err}"
    );
}
