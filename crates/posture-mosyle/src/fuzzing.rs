//! Entry points for fuzzing the readers of Mosyle's answers (built with `--cfg fuzzing`).
//!
//! [`parse_response`] runs the decoding the provider runs on a Mosyle answer — the lenient
//! JSON reader with its string numbers and booleans, `response` as an object or a list, the
//! statuses at either level, the choice among several records, the enrichment — and
//! [`decide_devices`] the decision a lookup comes to from a device list, without a network,
//! so that `cargo fuzz` (see `fuzz/` at the repository root) and tests can feed them
//! arbitrary bytes. The provider itself does not call them.

use std::sync::OnceLock;

use posture_core::Decision;
use posture_http::{Serial, decode_json};
use serde_json::Value;

use crate::config::{DEFAULT_API_URL, MosyleConfig};
use crate::model::{self, Listing};
use crate::provider::{MosyleProvider, SERVICE, current};

const REQUEST: &str = "the fuzzed request";

/// Which Mosyle answer a body is read as.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ResponseKind {
    /// `POST /listdevices` (Manager) or `POST /devices` (Business).
    Devices,
    /// `POST /listdevicegroups`.
    Groups,
    /// `POST /listdevicesbygroup`.
    GroupMembers,
}

impl ResponseKind {
    /// Every kind, so a fuzzer can pick one from a byte.
    pub const ALL: [Self; 3] = [Self::Devices, Self::Groups, Self::GroupMembers];
}

/// Reads `body` as the answer `kind` and returns what the provider would take from it: for
/// a device list, the enrichment JSON of the record that counts followed by every record's
/// (none for `DEVICES_NOTFOUND`); for groups, each group's ID and name; for members, the
/// UDIDs. `Err` carries the provider's message for a body it refuses.
pub fn parse_response(kind: ResponseKind, body: &[u8]) -> Result<Vec<String>, String> {
    let value: Value = decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
    match kind {
        ResponseKind::Devices => match model::listing(&value)? {
            Listing::NotFound => Ok(Vec::new()),
            Listing::Devices { devices, .. } => Ok(current(devices.clone())
                .into_iter()
                .chain(devices)
                .map(|device| {
                    let _ = device.is_managed();
                    String::from_utf8_lossy(device.enrichment().as_bytes()).into_owned()
                })
                .collect()),
        },
        ResponseKind::Groups => {
            let (groups, _) = model::groups(&value)?;
            Ok(groups
                .into_iter()
                .flat_map(|(id, name)| [id, name])
                .collect())
        }
        ResponseKind::GroupMembers => model::group_udids(&value),
    }
}

/// Reads `body` as a device list and decides, for every serial number it lists (each once,
/// upper-cased; records without a valid serial are skipped, as no lookup can name them),
/// what a lookup of that serial would answer from this one page: the records whose serial
/// is exactly it, the one that counts, and the provider's rules with `MOSYLE_GROUPS` unset
/// and the enrichment on. `Err` carries the provider's message for a body it refuses.
pub fn decide_devices(body: &[u8]) -> Result<Vec<(String, Decision)>, String> {
    let provider = provider()?;
    let value: Value = decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
    let devices = match model::listing(&value)? {
        Listing::NotFound => return Ok(Vec::new()),
        Listing::Devices { devices, .. } => devices,
    };
    let mut decided: Vec<(String, Decision)> = Vec::new();
    for device in &devices {
        let Ok(serial) = Serial::check(device.serial_number.trim(), SERVICE) else {
            continue;
        };
        if decided.iter().any(|(s, _)| s == serial.as_str()) {
            continue;
        }
        let matching = devices
            .iter()
            .filter(|d| d.has_serial(&serial))
            .cloned()
            .collect();
        if let Some(record) = current(matching) {
            let decision = provider.verdict(&serial, &record, true);
            decided.push((serial.as_str().to_owned(), decision));
        }
    }
    Ok(decided)
}

/// A provider with every default, for its rules; it never sends a request.
fn provider() -> Result<&'static MosyleProvider, String> {
    static PROVIDER: OnceLock<Result<MosyleProvider, String>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let config = MosyleConfig::new(DEFAULT_API_URL, "fuzz-token", "fuzz@example.com", "x")
                .map_err(|e| e.to_string())?;
            MosyleProvider::new(config).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind_and_refuses_what_is_not_mosyle() {
        let list = br#"{"status":"OK","response":{"devices":[
            {"serial_number":"C02A1234","status":"UNINSTALLED","deviceudid":"old"},
            {"serial_number":"c02a1234 ","status":"INSTALLED","deviceudid":"new","tags":"a,b"}],
            "page_size":"50"}}"#;
        let values = parse_response(ResponseKind::Devices, list).unwrap();
        assert_eq!(values.len(), 3, "{values:?}");
        assert!(values[0].contains(r#""udid":"new""#), "{values:?}");
        let groups = br#"{"status":"OK","response":[{"groups":[{"id":"210","name":"Staff"}]}]}"#;
        assert_eq!(
            parse_response(ResponseKind::Groups, groups).unwrap(),
            ["210", "Staff"]
        );
        let members = br#"{"status":"OK","response":{"udids":["A"],"deviceudids":"B,C"}}"#;
        assert_eq!(
            parse_response(ResponseKind::GroupMembers, members).unwrap(),
            ["A", "B", "C"]
        );
        let not_found = br#"{"status":"DEVICES_NOTFOUND"}"#;
        assert!(
            parse_response(ResponseKind::Devices, not_found)
                .unwrap()
                .is_empty()
        );
        for kind in ResponseKind::ALL {
            assert!(parse_response(kind, b"<html>").is_err(), "{kind:?}");
            let _ = parse_response(kind, &[0xff, 0x00, b'{']);
        }
    }

    #[test]
    fn decides_each_listed_serial_from_its_own_records() {
        let list = br#"{"status":"OK","response":[{"devices":[
            {"serial_number":"C02A1234","status":"UNINSTALLED"},
            {"serial_number":"c02a1234","status":"ENROLLED","useremail":"a@x"},
            {"serial_number":"C02DELETED","status":"ENROLLED","is_deleted":"1"},
            {"serial_number":"not a serial","status":"ENROLLED"}]}]}"#;
        let decided = decide_devices(list).unwrap();
        assert_eq!(decided.len(), 2, "{decided:?}");
        assert_eq!(decided[0].0, "C02A1234");
        let data = decided[0].1.enrichment().unwrap().to_value();
        assert_eq!(data["user"]["email"], "a@x");
        assert_eq!(decided[1].0, "C02DELETED");
        assert_eq!(
            decided[1].1.deny_code().map(|c| c.as_str()),
            Some("notManaged")
        );
        assert!(decide_devices(b"[]").is_err());
    }
}
