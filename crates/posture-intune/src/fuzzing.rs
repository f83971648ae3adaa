//! Entry points for fuzzing the readers of Microsoft Graph's answers (built with `--cfg fuzzing`).
//!
//! [`parse_response`] runs the decoding the provider runs on a Graph answer — the lenient
//! JSON readers, the choice among several records, the enrichment — without a network, so
//! that `cargo fuzz` (see `fuzz/` at the repository root) and tests can feed it arbitrary
//! bytes. The provider itself does not call it.

use std::time::Duration;

use posture_http::decode_json;
use posture_http::oauth::parse_token_answer;

use crate::client::SERVICE;
use crate::model::{Collection, EntraDevice, ManagedDevice, MemberGroups, most_recent};

/// Which Graph answer a body is read as.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ResponseKind {
    /// `GET /v1.0/deviceManagement/managedDevices`.
    ManagedDevices,
    /// `GET /v1.0/devices` (Entra ID).
    EntraDevices,
    /// `POST /v1.0/devices/{id}/checkMemberGroups`.
    MemberGroups,
    /// The identity platform's token answer.
    Token,
}

impl ResponseKind {
    /// Every kind, so a fuzzer can pick one from a byte.
    pub const ALL: [Self; 4] = [
        Self::ManagedDevices,
        Self::EntraDevices,
        Self::MemberGroups,
        Self::Token,
    ];
}

/// Reads `body` as the answer `kind` and returns what the provider would take from it: for
/// managed devices, the enrichment JSON of the record that counts followed by every other
/// record's; the IDs for the others. `Err` carries the provider's message for a body it
/// refuses.
pub fn parse_response(kind: ResponseKind, body: &[u8]) -> Result<Vec<String>, String> {
    const REQUEST: &str = "the fuzzed request";
    match kind {
        ResponseKind::ManagedDevices => {
            let page: Collection<ManagedDevice> =
                decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
            let mut out: Vec<String> = most_recent(page.value.clone())
                .into_iter()
                .chain(page.value)
                .map(|device| {
                    let _ = device.entra_device_id();
                    String::from_utf8_lossy(device.enrichment().as_bytes()).into_owned()
                })
                .collect();
            out.push(page.next_link);
            Ok(out)
        }
        ResponseKind::EntraDevices => {
            let page: Collection<EntraDevice> =
                decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
            Ok(page.value.into_iter().map(|device| device.id).collect())
        }
        ResponseKind::MemberGroups => {
            let groups: MemberGroups =
                decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
            Ok(groups
                .value
                .iter()
                .filter_map(|group| group.as_str().map(str::to_owned))
                .collect())
        }
        ResponseKind::Token => {
            let token = parse_token_answer(body, REQUEST, Duration::from_secs(3600))
                .map_err(|e| format!("{e:?}"))?;
            Ok(vec![token.lifetime().as_secs().to_string()])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind_and_refuses_what_is_not_graph() {
        let devices = br#"{"value":[
            {"serialNumber":"C02A","lastSyncDateTime":"2026-01-01T00:00:00Z","deviceName":"old"},
            {"serialNumber":"C02A","lastSyncDateTime":"2026-06-01T00:00:00Z","deviceName":"new"}]}"#;
        let values = parse_response(ResponseKind::ManagedDevices, devices).unwrap();
        assert_eq!(values.len(), 4, "{values:?}");
        assert!(values[0].contains(r#""name":"new""#), "{values:?}");
        let groups = br#"{"value":["a1b2", 7]}"#;
        assert_eq!(
            parse_response(ResponseKind::MemberGroups, groups).unwrap(),
            ["a1b2"]
        );
        for kind in ResponseKind::ALL {
            assert!(parse_response(kind, b"<html>").is_err(), "{kind:?}");
            let _ = parse_response(kind, &[0xff, 0x00, b'{']);
        }
    }
}
