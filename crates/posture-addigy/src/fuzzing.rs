//! Entry points for fuzzing the reader of Addigy's device search (built with `--cfg fuzzing`).
//!
//! [`parse_devices`] runs the decoding the provider runs on an answer of
//! `POST /api/v2/devices` — the lenient reader of facts as `{"value": …}` objects or bare
//! values, their several spellings, policies as IDs, names or objects, the enrichment — and
//! [`decide_devices`] the decision a lookup comes to from it, without a network, so that
//! `cargo fuzz` (see `fuzz/` at the repository root) and tests can feed them arbitrary bytes.
//! The provider itself does not call them.

use std::sync::OnceLock;

use posture_core::Decision;
use posture_http::{Serial, decode_json};
use serde_json::Value;

use crate::config::{AddigyConfig, DEFAULT_API_URL};
use crate::model;
use crate::provider::{AddigyProvider, SERVICE};

const REQUEST: &str = "the fuzzed request";

/// `ADDIGY_POLICIES` of the provider [`decide_devices`] asks: a policy ID and a policy
/// name. `ADDIGY_REQUIRE_COMPLIANT` is on and the enrichment too, so every rule applies.
pub const POLICIES: [&str; 2] = ["5b5b5b5b-0000-4000-8000-0000000000ff", "Staff Macs"];

/// Reads `body` as the answer to `POST /api/v2/devices` and returns the enrichment JSON of
/// every device in it. `Err` carries the provider's message for a body it refuses.
pub fn parse_devices(body: &[u8]) -> Result<Vec<String>, String> {
    let page = page(body)?;
    Ok(page
        .devices
        .iter()
        .map(|device| {
            let _ = POLICIES.iter().any(|p| device.in_policy(p));
            String::from_utf8_lossy(device.enrichment().as_bytes()).into_owned()
        })
        .collect())
}

/// Reads `body` as a device search and decides, for every serial number it lists (each
/// once, upper-cased; records without a valid serial are skipped, as no lookup can name
/// them), what a lookup of that serial would answer from this page: the records whose
/// serial is exactly it, the one that counts, and the provider's rules with
/// `ADDIGY_POLICIES` set to [`POLICIES`], `ADDIGY_REQUIRE_COMPLIANT=1` and the enrichment
/// on. `Err` carries the provider's message for a body it refuses.
pub fn decide_devices(body: &[u8]) -> Result<Vec<(String, Decision)>, String> {
    let provider = provider()?;
    let devices = page(body)?.devices;
    let mut decided: Vec<(String, Decision)> = Vec::new();
    for device in &devices {
        let Ok(serial) = Serial::check(device.serial_number.trim(), SERVICE) else {
            continue;
        };
        if decided.iter().any(|(s, _)| s == serial.as_str()) {
            continue;
        }
        let matching: Vec<model::Device> = devices
            .iter()
            .filter(|d| d.has_serial(&serial))
            .cloned()
            .collect();
        let decision = provider.decide_among(&serial, &matching);
        decided.push((serial.as_str().to_owned(), decision));
    }
    Ok(decided)
}

fn page(body: &[u8]) -> Result<model::Page, String> {
    let value: Value = decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
    model::page(&value)
}

/// The provider [`decide_devices`] asks; it never sends a request.
fn provider() -> Result<&'static AddigyProvider, String> {
    static PROVIDER: OnceLock<Result<AddigyProvider, String>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let config = AddigyConfig::new(DEFAULT_API_URL, "fuzz-token")
                .map_err(|e| e.to_string())?
                .with_policies(POLICIES)
                .with_require_compliant(true);
            AddigyProvider::new(config).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_devices_and_refuses_what_is_not_addigy() {
        let body = br#"{"items":[{"agentid":"a1","facts":{"serial_number":{"value":"C02A1234"},
            "policy_name":{"value":"Staff Macs"}}},{"facts":{"serial_number":"C02B"}}]}"#;
        let values = parse_devices(body).unwrap();
        assert_eq!(values.len(), 2, "{values:?}");
        assert!(
            values[0].contains(r#""names":["Staff Macs"]"#),
            "{values:?}"
        );
        assert!(parse_devices(b"<html>").is_err());
        assert!(parse_devices(br#"{"items":{}}"#).is_err());
        let _ = parse_devices(&[0xff, 0x00, b'{']);
    }

    #[test]
    fn decides_each_listed_serial_by_every_rule() {
        let body = br#"{"items":[
            {"facts":{"serial_number":"C02A1234","has_mdm":false,"policy_name":"Staff Macs","is_compliant":true}},
            {"facts":{"serial_number":"c02a1234","policy_name":"Staff Macs","is_compliant":"true"}},
            {"facts":{"serial_number":"C02OTHERPOL","policy_name":"Lab","is_compliant":true}},
            {"facts":{"serial_number":"C02NOCOMP","policy_id":"5B5B5B5B-0000-4000-8000-0000000000FF"}},
            {"facts":{"serial_number":"C02NOMDM","has_mdm":"false"}}]}"#;
        let decided = decide_devices(body).unwrap();
        let codes: Vec<(&str, Option<&str>)> = decided
            .iter()
            .map(|(serial, d)| (serial.as_str(), d.deny_code().map(|c| c.as_str())))
            .collect();
        assert_eq!(
            codes,
            [
                ("C02A1234", None),
                ("C02OTHERPOL", Some("notCompliant")),
                ("C02NOCOMP", Some("notCompliant")),
                ("C02NOMDM", Some("notManaged")),
            ]
        );
        let data = decided[0].1.enrichment().unwrap().to_value();
        assert_eq!(data["compliant"], "true");
    }
}
