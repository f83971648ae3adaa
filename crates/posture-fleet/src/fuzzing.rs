//! Entry points for fuzzing the reader of Fleet's host answer (built with `--cfg fuzzing`).
//!
//! [`parse_host`] runs the decoding the provider runs on a Fleet answer — the lenient JSON
//! reader with its `team_*`/`fleet_*` variants and end-user fields, and the enrichment —
//! without a network, so that `cargo fuzz` and tests can feed it arbitrary bytes.

use posture_http::decode_json;

use crate::model;
use crate::provider::SERVICE;

/// Reads `body` as the answer to `GET /api/v1/fleet/hosts/identifier/{serial}` and returns
/// the host's enrichment JSON and whether it counts as enrolled. `Err` carries the
/// provider's message for a body it refuses.
pub fn parse_host(body: &[u8]) -> Result<(String, bool), String> {
    const REQUEST: &str = "the fuzzed request";
    let value: serde_json::Value =
        decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
    let host = model::host(&value).ok_or_else(|| "no \"host\" object".to_owned())?;
    let _ = host.failing_policies();
    Ok((
        String::from_utf8_lossy(host.enrichment().as_bytes()).into_owned(),
        host.is_enrolled(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_host_and_refuses_html() {
        let (data, enrolled) = parse_host(
            br#"{"host":{"id":1,"hardware_serial":"C02A","mdm":{"enrollment_status":"On (manual)"}}}"#,
        )
        .unwrap();
        assert!(enrolled && data.contains("C02A"));
        assert!(parse_host(b"<html>").is_err());
    }
}
