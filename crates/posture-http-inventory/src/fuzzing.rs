//! Entry points for fuzzing the generic inventory's rules (built with `--cfg fuzzing`).
//!
//! [`decide`] runs what the provider runs on an inventory's answer — the JSON reader, the
//! record at `HTTP_RECORD`, the exact re-check at `HTTP_MATCH`, the `HTTP_REQUIRE`
//! conditions and the `HTTP_ENRICH` object — for any configuration and any answer, without
//! a network, so that `cargo fuzz` (see `fuzz/` at the repository root) and tests can feed
//! it arbitrary rules and bytes. The provider itself does not call it.

use posture_core::Decision;
use posture_http::{Serial, decode_json};
use serde_json::Value;

use crate::config::HttpInventoryConfig;
use crate::provider::{self, SERVICE};

/// Decides, by `config`'s rules, what a lookup of `identifier` answers when the inventory
/// answers 200 with `body`. `Err` for an identifier no lookup would send (not a serial
/// number, so the inventory is never asked) and for a body that is not JSON, with the
/// provider's message.
pub fn decide(
    config: &HttpInventoryConfig,
    identifier: &str,
    body: &[u8],
) -> Result<Decision, String> {
    let serial = Serial::check(identifier, SERVICE)?;
    let value: Value =
        decode_json(SERVICE, "the fuzzed request", body).map_err(|e| e.to_string())?;
    Ok(provider::decide(config, &serial, &value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> HttpInventoryConfig {
        HttpInventoryConfig::from_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn applies_every_rule_and_refuses_what_no_lookup_sends() {
        let config = config(&[
            (
                "HTTP_URL",
                "https://assets.example.com/api/v1/hardware/byserial/{identifier}",
            ),
            ("HTTP_RECORD", "/rows/0"),
            ("HTTP_MATCH", "/serial"),
            ("HTTP_REQUIRE", "/status_label/status_meta=deployed"),
            ("HTTP_ENRICH", "user=/assigned_to/username,gone=/missing"),
        ]);
        let deployed = br#"{"rows":[{"serial":"c02xl0gjjg5j","status_label":{"status_meta":"deployed"},"assigned_to":{"username":"alice"}}]}"#;
        let allowed = decide(&config, "C02XL0GJJG5J", deployed).unwrap();
        assert_eq!(
            allowed.enrichment().unwrap().to_value(),
            serde_json::json!({"user": "alice"})
        );
        let code = |body: &[u8], id: &str| {
            decide(&config, id, body)
                .unwrap()
                .deny_code()
                .map(|c| c.as_str().to_owned())
        };
        assert_eq!(
            code(deployed, "C02OTHER0001").as_deref(),
            Some("deviceNotFound")
        );
        let pending =
            br#"{"rows":[{"serial":"C02XL0GJJG5J","status_label":{"status_meta":"pending"}}]}"#;
        assert_eq!(
            code(pending, "C02XL0GJJG5J").as_deref(),
            Some("notCompliant")
        );
        let snipe_unknown =
            br#"{"status":"error","messages":"Asset does not exist.","payload":null}"#;
        assert_eq!(
            code(snipe_unknown, "C02XL0GJJG5J").as_deref(),
            Some("deviceNotFound")
        );
        assert!(decide(&config, "not/a serial", deployed).is_err());
        assert!(decide(&config, "C02XL0GJJG5J", b"<html>").is_err());
    }
}
