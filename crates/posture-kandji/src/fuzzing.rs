//! Entry points for fuzzing the reader of Kandji's device list (built with `--cfg fuzzing`).
//!
//! [`parse_devices`] runs the decoding the provider runs on a Kandji answer — the lenient
//! JSON reader with its string booleans and empty-string users, the choice among several
//! records, the enrichment — without a network, so that `cargo fuzz` (see `fuzz/` at the
//! repository root) and tests can feed it arbitrary bytes. The provider itself does not
//! call it.

use posture_http::decode_json;

use crate::model;
use crate::provider::SERVICE;

/// Reads `body` as the answer to `GET /api/v1/devices` and returns the enrichment JSON of
/// the record that counts, followed by every record's. `Err` carries the provider's message
/// for a body it refuses.
pub fn parse_devices(body: &[u8]) -> Result<Vec<String>, String> {
    const REQUEST: &str = "the fuzzed request";
    let value: serde_json::Value =
        decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
    let devices = match model::devices(&value) {
        Some(Ok(devices)) => devices,
        Some(Err(err)) => return Err(err.to_string()),
        None => return Err("neither a list of devices nor a device".to_owned()),
    };
    Ok(model::current(devices.clone())
        .into_iter()
        .chain(devices)
        .map(|device| {
            let _ = device.is_mac();
            String::from_utf8_lossy(device.enrichment().as_bytes()).into_owned()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_and_single_devices_and_refuses_the_rest() {
        let list =
            br#"[{"serial_number":"C02A","user":"","mdm_enabled":"True","is_removed":"False"}]"#;
        let values = parse_devices(list).unwrap();
        assert_eq!(values.len(), 2, "{values:?}");
        assert!(values[0].contains("C02A"), "{values:?}");
        let single = br#"{"serial_number":"C02B","user":{"name":"Ann","email":"a@x"}}"#;
        assert!(parse_devices(single).unwrap()[0].contains("Ann"));
        assert!(parse_devices(b"<html>").is_err());
        assert!(parse_devices(br#"{"detail":"nope"}"#).is_err());
        let _ = parse_devices(&[0xff, 0x00, b'[']);
    }
}
