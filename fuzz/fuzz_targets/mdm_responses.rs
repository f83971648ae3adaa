//! The readers of every MDM's answers: Jamf Pro (Classic and Pro API inventory records,
//! departments, tokens), Microsoft Graph for Intune (managed devices, Entra devices, group
//! checks, tokens), Kandji (the device list) and Fleet (a host). The first byte picks the answer, the rest
//! is the body. Every enrichment produced must be a JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posture_fleet::fuzzing as fleet;
use posture_intune::fuzzing as intune;
use posture_jamf::fuzzing as jamf;
use posture_kandji::fuzzing as kandji;

const JAMF: usize = jamf::ResponseKind::ALL.len();
const INTUNE: usize = intune::ResponseKind::ALL.len();
const KINDS: usize = JAMF + INTUNE + 2;

fn assert_objects(values: &[String]) {
    for value in values {
        let parsed: serde_json::Value = serde_json::from_str(value)
            .unwrap_or_else(|err| panic!("enrichment is not JSON: {err}"));
        assert!(parsed.is_object(), "enrichment is not an object: {value}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let pick = usize::from(selector) % KINDS;
    if pick < JAMF {
        let kind = jamf::ResponseKind::ALL[pick];
        if let Ok(values) = jamf::parse_response(kind, body) {
            if matches!(
                kind,
                jamf::ResponseKind::ClassicComputer
                    | jamf::ResponseKind::ClassicMobileDevice
                    | jamf::ResponseKind::ProComputers
                    | jamf::ResponseKind::ProMobileDevices
            ) {
                assert_objects(&values);
            }
        }
    } else if pick < JAMF + INTUNE {
        let kind = intune::ResponseKind::ALL[pick - JAMF];
        if let Ok(mut values) = intune::parse_response(kind, body) {
            if kind == intune::ResponseKind::ManagedDevices {
                values.pop(); // the next link, not an enrichment
                assert_objects(&values);
            }
        }
    } else if pick == JAMF + INTUNE + 1 {
        if let Ok((value, _enrolled)) = fleet::parse_host(body) {
            assert_objects(&[value]);
        }
    } else if let Ok(values) = kandji::parse_devices(body) {
        assert_objects(&values);
    }
});
