//! The JSON device-file parser on arbitrary bytes; then every record it accepted is looked
//! up, and its enrichment must be a JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posture_file::{DeviceList, FileFormat};

fuzz_target!(|data: &[u8]| {
    let Ok(list) = DeviceList::parse(data, FileFormat::Json, "fuzz.json") else {
        return;
    };
    assert!(!list.is_empty(), "a loaded list is never empty");
    for record in list.iter() {
        let id = record.identifier();
        assert!(!id.is_empty(), "no empty identifier is loaded");
        assert!(list.get(id).is_some(), "every listed identifier is found");
        if let Some(enrichment) = record.enrichment() {
            let value: serde_json::Value = serde_json::from_slice(enrichment.as_bytes())
                .unwrap_or_else(|err| panic!("enrichment of {id:?} is not JSON: {err}"));
            assert!(value.is_object(), "enrichment of {id:?} is an object");
        }
        assert!(list.decide(id).is_allowed(), "a listed device is allowed");
    }
});
