//! The readers of Jamf Pro's answers (Classic and Pro API inventory records, departments,
//! tokens): the first byte picks the answer, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posture_jamf::fuzzing::{ResponseKind, parse_response};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = ResponseKind::ALL[usize::from(selector) % ResponseKind::ALL.len()];
    if let Ok(values) = parse_response(kind, body) {
        if matches!(
            kind,
            ResponseKind::ClassicComputer
                | ResponseKind::ClassicMobileDevice
                | ResponseKind::ProComputers
                | ResponseKind::ProMobileDevices
        ) {
            for value in values {
                let parsed: serde_json::Value = serde_json::from_str(&value)
                    .unwrap_or_else(|err| panic!("enrichment is not JSON: {err}"));
                assert!(parsed.is_object());
            }
        }
    }
});
