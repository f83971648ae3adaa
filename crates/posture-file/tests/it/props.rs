use std::collections::{BTreeMap, BTreeSet};

use posture_file::{DeviceList, FileFormat, LoadOptions};
use proptest::prelude::*;

/// Identifiers: no surrounding whitespace, but commas, quotes and spaces inside, so CSV
/// quoting gets exercised.
fn identifier() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9 ,\"_.é-]{0,14}[A-Za-z0-9])?"
}

/// Field text: anything but a carriage return (which Go's reader, and so ours, drops
/// before a line feed).
fn text() -> impl Strategy<Value = String> {
    "[^\r]{0,12}"
}

fn json_file(devices: &[(String, BTreeMap<String, String>)]) -> Vec<u8> {
    let devices: Vec<_> = devices
        .iter()
        .map(|(id, data)| {
            if data.is_empty() {
                serde_json::json!({ "identifier": id })
            } else {
                serde_json::json!({ "identifier": id, "data": data })
            }
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({ "devices": devices })).expect("serialisable")
}

fn csv_file(columns: &[String], devices: &[(String, Vec<String>)]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["Identifier".to_owned()];
    header.extend(columns.iter().cloned());
    writer.write_record(&header).expect("in memory");
    for (id, values) in devices {
        let mut record = vec![id.clone()];
        record.extend(values.iter().cloned());
        writer.write_record(&record).expect("in memory");
    }
    writer.into_inner().expect("in memory")
}

/// Devices with unique identifiers, each with its own string fields.
fn json_devices() -> impl Strategy<Value = Vec<(String, BTreeMap<String, String>)>> {
    proptest::collection::btree_set(identifier(), 1..40).prop_flat_map(|ids: BTreeSet<String>| {
        let n = ids.len();
        (
            Just(ids.into_iter().collect::<Vec<_>>()),
            proptest::collection::vec(proptest::collection::btree_map(text(), text(), 0..4), n),
        )
            .prop_map(|(ids, data)| ids.into_iter().zip(data).collect())
    })
}

/// Header names (unique, non-empty, not "Identifier") and devices with one value each.
fn csv_devices() -> impl Strategy<Value = (Vec<String>, Vec<(String, Vec<String>)>)> {
    (
        proptest::collection::btree_set("[a-zA-Z][a-zA-Z0-9 _,\"]{0,8}", 0..4),
        proptest::collection::btree_set(identifier(), 1..40),
    )
        .prop_flat_map(|(columns, ids)| {
            let columns: Vec<String> = columns.into_iter().collect();
            let width = columns.len();
            let n = ids.len();
            (
                Just(columns),
                Just(ids.into_iter().collect::<Vec<_>>()),
                proptest::collection::vec(proptest::collection::vec(text(), width), n),
            )
                .prop_map(|(columns, ids, values)| (columns, ids.into_iter().zip(values).collect()))
        })
}

/// Checks that `file` parses to a list of exactly the `expected` devices (at least one), each
/// allowed with its data (`None`: no enrichment), and that an identifier it does not list is
/// denied.
fn round_trips(
    file: &[u8],
    format: FileFormat,
    expected: &[(&str, Option<serde_json::Value>)],
) -> Result<(), TestCaseError> {
    let list =
        DeviceList::parse(file, format, &format!("gen.{format}")).expect("a generated file parses");
    prop_assert_eq!(list.len(), expected.len());
    for (id, data) in expected {
        let decision = list.decide(id);
        prop_assert!(decision.is_allowed(), "{} not found", id);
        let parsed = decision.enrichment().map(|enrichment| {
            serde_json::from_slice::<serde_json::Value>(enrichment.as_bytes())
                .expect("enrichment is JSON")
        });
        prop_assert_eq!(&parsed, data);
    }
    let unlisted = format!("{}-unlisted", expected[0].0);
    prop_assert!(!list.decide(&unlisted).is_allowed());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let options = LoadOptions::new().allow_empty(true);
        for format in [FileFormat::Json, FileFormat::Csv] {
            let _ = DeviceList::parse_with(&bytes, format, "fuzz", options);
        }
    }

    #[test]
    fn parsing_near_miss_json_never_panics(text in r#"[{}\[\]":, a-zA-Z0-9\n\\]{0,200}"#) {
        let json = format!("{{\"devices\":[{text}");
        let _ = DeviceList::parse(json.as_bytes(), FileFormat::Json, "fuzz");
        let _ = DeviceList::parse(text.as_bytes(), FileFormat::Json, "fuzz");
    }

    #[test]
    fn parsing_near_miss_csv_never_panics(text in "[a-zA-Z0-9,\"\r\n \u{feff}]{0,200}") {
        let csv = format!("Identifier,a,b\n{text}");
        let _ = DeviceList::parse(csv.as_bytes(), FileFormat::Csv, "fuzz");
        let _ = DeviceList::parse(text.as_bytes(), FileFormat::Csv, "fuzz");
    }

    #[test]
    fn json_lists_round_trip(devices in json_devices()) {
        let expected = devices.iter().map(|(id, data)| {
            let data = (!data.is_empty()).then(|| serde_json::json!(data));
            (id.as_str(), data)
        });
        round_trips(&json_file(&devices), FileFormat::Json, &expected.collect::<Vec<_>>())?;
    }

    #[test]
    fn csv_lists_round_trip((columns, devices) in csv_devices()) {
        let expected = devices.iter().map(|(id, values)| {
            let data = (!columns.is_empty()).then(|| {
                let fields = columns.iter().cloned().zip(values.iter().cloned().map(serde_json::Value::String));
                serde_json::Value::Object(fields.collect())
            });
            (id.as_str(), data)
        });
        round_trips(&csv_file(&columns, &devices), FileFormat::Csv, &expected.collect::<Vec<_>>())?;
    }
}
