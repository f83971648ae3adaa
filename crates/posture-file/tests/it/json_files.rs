use posture_core::{Decision, DenyCode};
use posture_file::{DeviceList, FileFormat, LoadError, LoadOptions};
use serde_json::json;

use crate::{load, parse_error, refused_with};

#[test]
fn allows_listed_devices_with_their_data_bytes_verbatim() {
    let list = load("devices.json", FileFormat::Json).unwrap();
    assert_eq!(list.len(), 5);
    assert_eq!(list.format(), FileFormat::Json);
    assert_eq!(list.source_name(), "devices.json");

    let alice = list.get("C02XL0GJJG5J").unwrap();
    assert_eq!(alice.identifier(), "C02XL0GJJG5J");
    let expected = r#"{
        "user": "alice",
        "email": "alice@example.com",
        "department": "Engineering",
        "groups": ["engineering", "vpn-users"]
      }"#;
    assert_eq!(
        std::str::from_utf8(alice.enrichment().unwrap().as_bytes()).unwrap(),
        expected
    );

    let carol = list.decide("FVFZK2ABCDEF");
    assert!(carol.is_allowed());
    assert_eq!(
        carol.enrichment().unwrap().to_value(),
        json!({
            "user": "carol",
            "email": "carol@example.com",
            "department": "Finance",
            "groups": ["finance", "vpn-users"],
            "assetTag": 10442,
            "loaner": false
        })
    );
}

#[test]
fn a_device_without_data_is_allowed_without_enrichment() {
    let list = load("devices.json", FileFormat::Json).unwrap();
    // No "data" key, and "data": null.
    assert_eq!(list.decide("DMPXQ3NZLMNO"), Decision::allow());
    assert_eq!(list.decide("F9FXW4GHJKLM"), Decision::allow());
}

#[test]
fn an_unlisted_device_is_denied_as_not_found() {
    let list = load("devices.json", FileFormat::Json).unwrap();
    for unlisted in ["C02NOTLISTED", "c02xl0gjjg5j", "C02XL0GJJG5J ", ""] {
        let decision = list.decide(unlisted);
        assert_eq!(decision.deny_code(), Some(&DenyCode::DEVICE_NOT_FOUND));
        assert_eq!(
            decision.deny_message().unwrap(),
            format!("device identifier {unlisted:?} is not in the device list")
        );
        assert!(list.get(unlisted).is_none());
        assert!(!list.contains(unlisted));
    }
}

#[test]
fn iterates_in_file_order() {
    let list = load("devices.json", FileFormat::Json).unwrap();
    let ids: Vec<_> = list.iter().map(|device| device.identifier()).collect();
    assert_eq!(
        ids,
        [
            "C02XL0GJJG5J",
            "C02YM1HKKH6K",
            "FVFZK2ABCDEF",
            "DMPXQ3NZLMNO",
            "F9FXW4GHJKLM"
        ]
    );
}

/// In either format; the CSV fixture also ends its lines with CRLF.
#[test]
fn skips_a_byte_order_mark() {
    for (name, format) in [
        ("devices-bom.json", FileFormat::Json),
        ("devices-bom.csv", FileFormat::Csv),
    ] {
        let list = load(name, format).unwrap();
        assert_eq!(
            list.decide("C02XL0GJJG5J").enrichment().unwrap().as_bytes(),
            br#"{"user":"alice"}"#,
            "{name}"
        );
    }
}

#[test]
fn ignores_unknown_keys_as_the_go_version_does() {
    let json =
        br#"{"version":3,"devices":[{"identifier":"A","serial":"x","data":{"k":"v"}}],"x":{}}"#;
    let list = DeviceList::parse(json, FileFormat::Json, "t.json").unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list.get("A").unwrap().enrichment().unwrap().as_bytes(),
        br#"{"k":"v"}"#
    );
}

#[test]
fn data_must_be_an_object() {
    refused_with(
        "devices-data-not-object.json",
        FileFormat::Json,
        "devices-data-not-object.json line 4: the data of \"C02YM1HKKH6K\" must be an object or null, found an array",
    );
    for (data, found) in [
        ("\"alice\"", "a string"),
        ("7", "a number"),
        ("true", "a boolean"),
    ] {
        let json = format!(r#"{{"devices":[{{"identifier":"A","data":{data}}}]}}"#);
        let err = parse_error(json.as_bytes(), FileFormat::Json);
        assert!(
            matches!(err, LoadError::DataNotObject { found: f, .. } if f == found),
            "{err}"
        );
    }
}

#[test]
fn an_empty_device_list_is_refused_unless_allowed() {
    refused_with(
        "devices-no-devices.json",
        FileFormat::Json,
        "devices-no-devices.json lists no devices (an empty device list would deny every device)",
    );
    let json = br#"{"devices":[]}"#;
    let options = LoadOptions::new().allow_empty(true);
    let list = DeviceList::parse_with(json, FileFormat::Json, "t.json", options).unwrap();
    assert!(list.is_empty());
    assert_eq!(
        list.decide("A").deny_code(),
        Some(&DenyCode::DEVICE_NOT_FOUND)
    );
}

#[test]
fn an_empty_file_is_refused_even_when_empty_lists_are_allowed() {
    let options = LoadOptions::new().allow_empty(true);
    for content in [&b""[..], b"  \n", b"\xEF\xBB\xBF"] {
        let err = DeviceList::parse_with(content, FileFormat::Json, "t.json", options).unwrap_err();
        assert_eq!(err.to_string(), "t.json is empty");
    }
}

#[test]
fn numbers_step_ca_cannot_read_are_refused_where_they_are() {
    // Found by fuzzing: raw values check number syntax only, so 1e999 loaded and every
    // answer for the device would have been refused by step-ca's float64 decoding.
    refused_with(
        "devices-number-out-of-range.json",
        FileFormat::Json,
        "devices-number-out-of-range.json line 8 column 49: the data of \"C02XL0GJJG5J\" holds a \
         number step-ca cannot read (it must fit a 64-bit float): number out of range",
    );
    let digits = "9".repeat(400);
    for data in [
        format!(r#"{{"big":{digits}}}"#),
        r#"{"neg":-1E+400}"#.to_owned(),
        r#"{"list":[1,[2,{"x":3e309}]]}"#.to_owned(),
    ] {
        let json = format!(r#"{{"devices":[{{"identifier":"A","data":{data}}}]}}"#);
        let err = parse_error(json.as_bytes(), FileFormat::Json);
        assert!(
            matches!(err, LoadError::InvalidJson { .. }),
            "{data}: {err}"
        );
    }
    // Exponents and long numbers that fit, and letters after digits in strings, still load.
    let digits = "9".repeat(300);
    let json = format!(
        r#"{{"devices":[{{"identifier":"A","data":{{"a":1e308,"b":-2.5E-400,"c":{digits},"d":"room 4e"}}}}]}}"#
    );
    let list = DeviceList::parse(json.as_bytes(), FileFormat::Json, "t.json").unwrap();
    let data = list.get("A").unwrap().enrichment().unwrap();
    assert!(data.as_bytes().starts_with(br#"{"a":1e308"#));
}
