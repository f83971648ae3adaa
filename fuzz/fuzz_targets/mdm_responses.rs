//! The readers of every MDM's answers: Jamf Pro (Classic and Pro API inventory records,
//! departments, tokens), Microsoft Graph for Intune (managed devices, Entra devices, group
//! checks, tokens), Kandji (the device list), Fleet (a host), Mosyle (device lists, device
//! groups, group members), Addigy (the device search) and the generic REST inventory
//! (`PROVIDER=http`, Snipe-IT among others: its rules on any answer). The first byte picks
//! the answer, the rest is the body.
//!
//! Every enrichment produced must be a JSON object. Mosyle's and Addigy's device lists are
//! also decided for every serial they list, and an allow must be consistent with the rules:
//! its enrichment names that serial, and for Addigy shows compliance and one of the required
//! policies. For the generic inventory the body starts with six lines, `HTTP_URL`,
//! `HTTP_RECORD`, `HTTP_MATCH`, `HTTP_REQUIRE`, `HTTP_ENRICH` and the identifier looked up
//! (a URL that doesn't parse is replaced by a fixed one); the decision must be exactly what
//! the rules say of the answer, and the identifier must go into the URL percent-encoded
//! where the placeholder is, changing nothing else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posture_addigy::fuzzing as addigy;
use posture_core::{Decision, DenyCode};
use posture_fleet::fuzzing as fleet;
use posture_http_inventory::{HttpInventoryConfig, UrlTemplate};
use posture_intune::fuzzing as intune;
use posture_jamf::fuzzing as jamf;
use posture_kandji::fuzzing as kandji;
use posture_mosyle::fuzzing as mosyle;
use serde_json::Value;

const JAMF: usize = jamf::ResponseKind::ALL.len();
const INTUNE: usize = intune::ResponseKind::ALL.len();
const MOSYLE: usize = mosyle::ResponseKind::ALL.len();
/// Kandji and Fleet follow Jamf and Intune; then Mosyle's kinds, Addigy, the inventory.
const NEWER: usize = JAMF + INTUNE + 2;
const ADDIGY_PICK: usize = NEWER + MOSYLE;
const INVENTORY_PICK: usize = ADDIGY_PICK + 1;
const KINDS: usize = INVENTORY_PICK + 1;

/// The URL template used when the input's doesn't parse.
const FALLBACK_URL: &str = "https://inventory.example.com/api/v1/hardware/byserial/{identifier}";

fn object(value: &str) -> Value {
    let parsed: Value =
        serde_json::from_str(value).unwrap_or_else(|err| panic!("enrichment is not JSON: {err}"));
    assert!(parsed.is_object(), "enrichment is not an object: {value}");
    parsed
}

fn assert_objects(values: &[String]) {
    for value in values {
        object(value);
    }
}

/// An allow's enrichment, which must be a JSON object when present.
fn enrichment(decision: &Decision) -> Option<Value> {
    decision
        .enrichment()
        .map(|e| object(&String::from_utf8_lossy(e.as_bytes())))
}

/// The checks every decision of a device list passes: one per serial, and an allow carries
/// an enrichment (the providers' default) naming the serial it was decided for.
fn assert_decided(decided: &[(String, Decision)], denies: &[DenyCode]) -> Vec<Value> {
    let mut allowed = Vec::new();
    for (i, (serial, decision)) in decided.iter().enumerate() {
        assert!(
            decided[..i].iter().all(|(s, _)| s != serial),
            "{serial} decided twice"
        );
        assert_eq!(serial, &serial.to_ascii_uppercase());
        match decision.deny_code() {
            Some(code) => assert!(denies.contains(code), "{serial}: unexpected {code:?}"),
            None => {
                let data = enrichment(decision).expect("an allow carries the enrichment");
                let named = data["device"]["serial_number"].as_str().unwrap_or_default();
                assert!(
                    named.trim().eq_ignore_ascii_case(serial),
                    "allowed {serial} with the record of {named:?}"
                );
                allowed.push(data);
            }
        }
    }
    allowed
}

fn mosyle(kind: mosyle::ResponseKind, body: &[u8]) {
    if let Ok(values) = mosyle::parse_response(kind, body)
        && kind == mosyle::ResponseKind::Devices
    {
        assert_objects(&values);
    }
    if kind == mosyle::ResponseKind::Devices
        && let Ok(decided) = mosyle::decide_devices(body)
    {
        // Without MOSYLE_GROUPS, an enrolled record is allowed and nothing else denies.
        assert_decided(&decided, &[DenyCode::NOT_MANAGED]);
    }
}

fn addigy(body: &[u8]) {
    if let Ok(values) = addigy::parse_devices(body) {
        assert_objects(&values);
    }
    let Ok(decided) = addigy::decide_devices(body) else {
        return;
    };
    for data in assert_decided(&decided, &[DenyCode::NOT_MANAGED, DenyCode::NOT_COMPLIANT]) {
        assert_eq!(
            data["compliant"], "true",
            "allowed without compliance: {data}"
        );
        let listed = |key: &str| -> Vec<String> {
            data["policies"][key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (ids, names) = (listed("ids"), listed("names"));
        assert!(
            addigy::POLICIES.iter().any(|wanted| {
                ids.iter().any(|id| id.trim().eq_ignore_ascii_case(wanted))
                    || names.iter().any(|name| name == wanted)
            }),
            "allowed outside the required policies: {data}"
        );
    }
}

/// A field's text as `HTTP_MATCH` and `HTTP_REQUIRE` compare it.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn lines(mut rest: &[u8], n: usize) -> (Vec<String>, &[u8]) {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        out.push(String::from_utf8_lossy(line).into_owned());
        rest = tail;
    }
    (out, rest)
}

/// The value the template is expanded with for reference; a template that contains it is
/// not checked.
const SAMPLE: &str = "Zq9SampleValue0";

/// A value as the template documents it goes into the URL: every byte but ASCII letters,
/// digits and `-._~` as `%XX`.
fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn inventory(input: &[u8]) {
    let (fields, body) = lines(input, 6);
    let url = if UrlTemplate::parse(&fields[0]).is_ok() {
        fields[0].clone()
    } else {
        FALLBACK_URL.to_owned()
    };
    let identifier = fields[5].as_str();
    let vars = [
        ("HTTP_URL", url.as_str()),
        ("HTTP_RECORD", fields[1].as_str()),
        ("HTTP_MATCH", fields[2].as_str()),
        ("HTTP_REQUIRE", fields[3].as_str()),
        ("HTTP_ENRICH", fields[4].as_str()),
    ];
    let Ok(config) = HttpInventoryConfig::from_env(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            .filter(|v| !v.is_empty())
    }) else {
        return;
    };

    // The identifier goes into the URL percent-encoded where the placeholder is, and
    // changes nothing else; only a value that would make a `.` or `..` path segment (made of
    // dots, `2` and `e`, which can spell `%2e` after a `%`) is refused.
    let template = config.url();
    if !template.as_str().contains(SAMPLE) {
        for mode in ["computer", "mobiledevice", "auto", ""] {
            let reference = template
                .expand(SAMPLE, mode)
                .expect("a parsed template expands");
            match template.expand(identifier, mode) {
                Ok(expanded) => assert_eq!(
                    expanded.as_str(),
                    reference.as_str().replace(SAMPLE, &encoded(identifier)),
                    "{identifier:?} in {template}"
                ),
                Err(_) => assert!(
                    identifier.bytes().all(|b| b".2eE".contains(&b)),
                    "{identifier:?} refused by {template}"
                ),
            }
        }
    }

    let Ok(decision) = posture_http_inventory::fuzzing::decide(&config, identifier, body) else {
        return;
    };
    let value: Value = serde_json::from_slice(body).expect("decided from JSON");
    let record = value.pointer(config.record()).filter(|r| !r.is_null());
    let matched = record
        .and_then(|r| r.pointer(config.match_pointer()))
        .and_then(text)
        .is_some_and(|found| found.eq_ignore_ascii_case(identifier));
    let holds = record.is_some_and(|r| config.require().iter().all(|c| c.holds(r)));
    match decision.deny_code() {
        None => {
            assert!(matched && holds, "allowed against the rules: {decision:?}");
            let data = enrichment(&decision);
            let Some(record) = record else { unreachable!() };
            match data {
                None => assert!(config.enrich().is_empty()),
                Some(data) => {
                    let map = data.as_object().expect("an object");
                    for (name, pointer) in config.enrich() {
                        let field = record.pointer(pointer).filter(|v| !v.is_null());
                        assert_eq!(map.get(name), field, "HTTP_ENRICH {name}={pointer}");
                    }
                    assert!(
                        map.keys()
                            .all(|k| config.enrich().iter().any(|(n, _)| n == k))
                    );
                }
            }
        }
        Some(code) if *code == DenyCode::DEVICE_NOT_FOUND => {
            assert!(!matched, "a matching record was not found: {decision:?}");
        }
        Some(code) if *code == DenyCode::NOT_COMPLIANT => {
            assert!(matched && !holds, "{decision:?}");
        }
        Some(code) => panic!("unexpected deny code {code:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let pick = usize::from(selector) % KINDS;
    if pick < JAMF {
        let kind = jamf::ResponseKind::ALL[pick];
        if let Ok(values) = jamf::parse_response(kind, body)
            && matches!(
                kind,
                jamf::ResponseKind::ClassicComputer
                    | jamf::ResponseKind::ClassicMobileDevice
                    | jamf::ResponseKind::ProComputers
                    | jamf::ResponseKind::ProMobileDevices
            )
        {
            assert_objects(&values);
        }
    } else if pick < JAMF + INTUNE {
        let kind = intune::ResponseKind::ALL[pick - JAMF];
        if let Ok(mut values) = intune::parse_response(kind, body)
            && kind == intune::ResponseKind::ManagedDevices
        {
            values.pop(); // the next link, not an enrichment
            assert_objects(&values);
        }
    } else if pick == JAMF + INTUNE {
        if let Ok(values) = kandji::parse_devices(body) {
            assert_objects(&values);
        }
    } else if pick == JAMF + INTUNE + 1 {
        if let Ok((value, _enrolled)) = fleet::parse_host(body) {
            assert_objects(&[value]);
        }
    } else if pick < ADDIGY_PICK {
        mosyle(mosyle::ResponseKind::ALL[pick - NEWER], body);
    } else if pick == ADDIGY_PICK {
        addigy(body);
    } else {
        inventory(body);
    }
});
