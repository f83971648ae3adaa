//! Entry points for fuzzing the parsers of Jamf's answers (built with `--cfg fuzzing`).
//!
//! [`parse_response`] runs the same decoding the provider runs on a Jamf answer — the
//! lenient JSON readers, the conversion into a device record, the enrichment — without a
//! network. It exists so that `cargo fuzz` (see `fuzz/` at the repository root) and tests
//! can feed it arbitrary bytes; the provider itself does not call it.

use posture_http::decode_json;

use crate::client::SERVICE;
use crate::model::{
    ClassicComputerEnvelope, ClassicMobileEnvelope, Department, Device, pro_results,
};
use crate::routes::Kind;
use posture_http::oauth::parse_token_answer;

/// Which Jamf answer a body is read as.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ResponseKind {
    /// `GET /JSSResource/computers/serialnumber/{serial}`.
    ClassicComputer,
    /// `GET /JSSResource/mobiledevices/serialnumber/{serial}`.
    ClassicMobileDevice,
    /// `GET /api/v3/computers-inventory`.
    ProComputers,
    /// `GET /api/v2/mobile-devices/detail`.
    ProMobileDevices,
    /// `GET /api/v1/departments/{id}`.
    Department,
    /// `POST /api/oauth/token`, success and error answers.
    Token,
}

impl ResponseKind {
    /// Every kind, so a fuzzer can pick one from a byte.
    pub const ALL: [Self; 6] = [
        Self::ClassicComputer,
        Self::ClassicMobileDevice,
        Self::ProComputers,
        Self::ProMobileDevices,
        Self::Department,
        Self::Token,
    ];
}

/// Reads `body` as the answer `kind` and returns what the provider would take from it: the
/// enrichment JSON of each device found, or the department or token fields. `Err` carries
/// the provider's error message for a body it refuses.
pub fn parse_response(kind: ResponseKind, body: &[u8]) -> Result<Vec<String>, String> {
    const REQUEST: &str = "the fuzzed request";
    let devices: Vec<Device> = match kind {
        ResponseKind::ClassicComputer => {
            vec![
                decode_json::<ClassicComputerEnvelope>(SERVICE, REQUEST, body)
                    .map_err(|e| e.to_string())?
                    .into(),
            ]
        }
        ResponseKind::ClassicMobileDevice => {
            vec![
                decode_json::<ClassicMobileEnvelope>(SERVICE, REQUEST, body)
                    .map_err(|e| e.to_string())?
                    .into(),
            ]
        }
        ResponseKind::ProComputers => {
            pro_results(Kind::Computer, REQUEST, body)
                .map_err(|e| e.to_string())?
                .1
        }
        ResponseKind::ProMobileDevices => {
            pro_results(Kind::MobileDevice, REQUEST, body)
                .map_err(|e| e.to_string())?
                .1
        }
        ResponseKind::Department => {
            let department: Department =
                decode_json(SERVICE, REQUEST, body).map_err(|e| e.to_string())?;
            return Ok(vec![department.name]);
        }
        ResponseKind::Token => {
            let token = parse_token_answer(body, REQUEST, std::time::Duration::from_secs(60))
                .map_err(|e| format!("{e:?}"))?;
            return Ok(vec![token.lifetime().as_secs().to_string()]);
        }
    };
    Ok(devices
        .iter()
        .map(|device| {
            let _ = device.in_group("Compliant");
            String::from_utf8_lossy(device.enrichment().as_bytes()).into_owned()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind_and_refuses_what_is_not_jamf() {
        let classic = br#"{"computer":{"general":{"serial_number":"C02ABC123DEF","remote_management":{"managed":true}},"groups_accounts":{"computer_group_memberships":["A"]}}}"#;
        let values = parse_response(ResponseKind::ClassicComputer, classic).unwrap();
        assert_eq!(values.len(), 1);
        assert!(values[0].contains("C02ABC123DEF"), "{values:?}");
        let pro = br#"{"totalCount":2,"results":[{"hardware":{"serialNumber":"A"}},{"hardware":{"serialNumber":"B"}}]}"#;
        assert_eq!(
            parse_response(ResponseKind::ProComputers, pro)
                .unwrap()
                .len(),
            2
        );
        let department = parse_response(ResponseKind::Department, br#"{"name":"Eng"}"#).unwrap();
        assert_eq!(department, ["Eng"]);
        for kind in ResponseKind::ALL {
            assert!(parse_response(kind, b"<html>").is_err(), "{kind:?}");
            // Never a panic, whatever the bytes.
            let _ = parse_response(kind, &[0xff, 0x00, b'{']);
        }
    }
}
