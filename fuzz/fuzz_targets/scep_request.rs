//! SCEPCHALLENGE and NOTIFYING requests through the server's handler, without a socket, on
//! the App a server builds from its configuration (`step_posture_connector::fuzzing::app`):
//! `SCEP_CHALLENGE=static,signed` with `SCEP_STATIC_CHALLENGE` and two `SCEP_CHALLENGE_KEY`s,
//! `SCEP_IDENTIFIER=serialNumber,commonName,uri`, `SCEP_POSTURE=1` against a file provider.
//! `AUTH_FAILURE_LIMIT=0`: the throttle's hold would only slow the fuzzer down.
//!
//! Input: five bytes, then eight lines (the CSR's serialNumber, common name and URI SAN, a
//! free text, the query string, the transaction ID, the provisioner name, the failure
//! description), then the rest.
//!
//! - Byte 0, flags. Bits 0-1, the body: a SCEPCHALLENGE body, a NOTIFYING success or
//!   failure, or the rest of the input as the body itself, with `@now`, `@static` and
//!   `@issued` replaced by the time, the static challenge and a freshly issued unbound
//!   challenge. Bit 2 sends it to the other SCEP path. Bits 3-4: signed correctly (0 and 1),
//!   with another webhook's secret (2), or not signed (3: the free text as signature). Bit 5
//!   names the provisioner. Bit 6 writes the serialNumber as a UTF8String rather than a
//!   PrintableString. Bit 7 puts the rest in a NOTIFYING success as the issued certificate.
//! - Byte 1, the challenge: the static one, one issued for the CSR's device, one issued
//!   unbound, one issued for the free text as device, one issued for the CSR's device with a
//!   character replaced (byte 3 the position, byte 4 the character), or the free text.
//! - Byte 2, the CSR: one of three keys signs a CSR made from the three names; with bit 7 the
//!   rest of the input is the CSR's DER instead.
//!
//! Every answer is JSON: `{}` for a NOTIFYING that was signed correctly (as documented;
//! step-ca ignores the answer), otherwise an object with a boolean `allow`. Never a 500. An
//! allow comes only from the challenge path, for a correctly signed request whose challenge
//! is the static one or one this target issued, whose CSR names a listed device, and, for
//! a challenge issued for a device, names that device.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use posture_file::{DeviceList, FileFormat};
use smallstep_webhook::{CsrIdentity, RequestBody, Signer, WebhookSecret};
use step_posture_connector::fuzzing::{ChallengeIssuer, app, file_config};
use step_posture_connector::handler::{SCEP_CHALLENGE_PATH, SCEP_NOTIFY_PATH};

const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
/// Another webhook's secret, unknown to the server.
const WRONG_SECRET: &str =
    "Raje4mOlzC1LOxFk5v/rb8uwlZXPF41B+MFgjOB+Sp3jo9uq73XgQnqFbbFLVKhM0WiLaUDS+vtWQK5ucGev0Q==";
const STATIC: &str = "migration-only-shared-challenge";
/// The second key verifies only: challenges are signed with the first.
const KEYS: &str =
    "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=,3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const DEVICES: &str = r#"{"devices":[
  {"identifier":"C02XL0GJJG5J","data":{"user":"alice"}},
  {"identifier":"F4KQ2J9XN7"},
  {"identifier":"urn:uuid:0b5b0b2e-4f0d-4b4e-9f0c-1f2e3d4c5b6a","data":{"kind":"uri"}}
]}"#;

struct Fixture {
    handler: step_posture_fuzz::Handler,
    issuer: ChallengeIssuer,
    signer: Signer,
    wrong: Signer,
    list: DeviceList,
    keys: Vec<rcgen::KeyPair>,
    /// A CSR to build bodies around when the fuzzed DER is not one.
    csr: Vec<u8>,
    /// An issued certificate for NOTIFYING success bodies.
    certificate: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("spc-fuzz-scep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = file_config(
            &dir,
            DEVICES,
            (ID, SECRET),
            &[
                ("SCEP_CHALLENGE", "static,signed"),
                ("SCEP_STATIC_CHALLENGE", STATIC),
                ("SCEP_CHALLENGE_KEY", KEYS),
                // The shortest: the replay memory forgets expired challenges soonest.
                ("SCEP_CHALLENGE_TTL", "60"),
                ("SCEP_IDENTIFIER", "serialNumber,commonName,uri"),
                ("SCEP_POSTURE", "1"),
                ("AUTH_FAILURE_LIMIT", "0"),
            ],
        )
        .expect("fixed configuration");
        let app = app(&config).expect("the configuration's App");
        let issuer = ChallengeIssuer::new(&config).expect("signed challenges are configured");
        let secret = |s: &str| WebhookSecret::from_base64(s).expect("fixed secret");
        let keys: Vec<rcgen::KeyPair> = (0..3)
            .map(|_| rcgen::KeyPair::generate().expect("key"))
            .collect();
        let csr = csr_der(&keys[0], "C02XL0GJJG5J", "", "", false).expect("fixed CSR");
        let mut params = rcgen::CertificateParams::new(vec!["C02XL0GJJG5J".to_owned()])
            .expect("certificate parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "C02XL0GJJG5J");
        let certificate = params
            .self_signed(&keys[1])
            .expect("certificate")
            .der()
            .to_vec();
        Fixture {
            handler: step_posture_fuzz::Handler::new(app),
            issuer,
            signer: Signer::new(ID, secret(SECRET)).expect("signer"),
            wrong: Signer::new(ID, secret(WRONG_SECRET)).expect("signer"),
            list: DeviceList::parse(DEVICES.as_bytes(), FileFormat::Json, "devices.json")
                .expect("fixed list"),
            keys,
            csr,
            certificate,
        }
    })
}

/// A CSR signed by `key` naming the device in its subject's serialNumber, its common name
/// and a URI SAN, each left out when empty.
fn csr_der(
    key: &rcgen::KeyPair,
    serial: &str,
    cn: &str,
    uri: &str,
    serial_utf8: bool,
) -> Option<Vec<u8>> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).ok()?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if !cn.is_empty() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
    }
    if !serial.is_empty() {
        // rcgen accepts `?` in a PrintableString that its DER writer (yasna) then panics
        // on: only the characters both accept are written as one.
        let printable = serial
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=".contains(&b));
        let value = match rcgen::string::PrintableString::try_from(serial) {
            Ok(printable_string) if printable && !serial_utf8 => {
                rcgen::DnValue::PrintableString(printable_string)
            }
            _ => rcgen::DnValue::Utf8String(serial.to_owned()),
        };
        params
            .distinguished_name
            .push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), value);
    }
    if !uri.is_empty() {
        let uri = rcgen::string::Ia5String::try_from(uri).ok()?;
        params.subject_alt_names.push(rcgen::SanType::URI(uri));
    }
    Some(params.serialize_request(key).ok()?.der().to_vec())
}

/// The device a CSR names, by `SCEP_IDENTIFIER=serialNumber,commonName,uri`.
fn identifier(der: &[u8]) -> Option<String> {
    let csr = CsrIdentity::parse(der).ok()?;
    csr.serial_number
        .or(csr.common_name)
        .or_else(|| csr.uris.first().cloned())
}

fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[]),
    }
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(with);
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let Some((header, rest)) = data.split_first_chunk::<5>() else {
        return;
    };
    let [flags, challenge_choice, csr_choice, position, replacement] = *header;
    let mut rest = rest;
    let mut field = || {
        let (line, tail) = split_line(rest);
        rest = tail;
        String::from_utf8_lossy(line).into_owned()
    };
    let (serial, cn, uri, text) = (field(), field(), field(), field());
    let (query, transaction, provisioner, description) = (field(), field(), field(), field());
    let rest = rest;

    // The CSR: made from the names, or the rest of the input.
    let raw_csr = csr_choice & 0x80 != 0;
    let key = &fixture.keys[usize::from(csr_choice) % fixture.keys.len()];
    let der = if raw_csr {
        rest.to_vec()
    } else {
        match csr_der(key, &serial, &cn, &uri, flags & 0x40 != 0) {
            Some(der) => der,
            None => return,
        }
    };
    let device = identifier(&der);

    // The challenge, and every challenge issued for this input with the device it is bound to.
    let mut issued: Vec<(String, Option<String>)> = Vec::new();
    let mut issue = |bound: Option<&str>| {
        let challenge = fixture.issuer.issue(bound)?;
        issued.push((challenge.clone(), bound.map(str::to_owned)));
        Some(challenge)
    };
    let challenge = match challenge_choice % 6 {
        0 => STATIC.to_owned(),
        1 => issue(device.as_deref()).unwrap_or_default(),
        2 => issue(None).unwrap_or_default(),
        3 => issue(Some(&text)).unwrap_or_default(),
        4 => {
            let mut challenge = issue(device.as_deref()).unwrap_or_default().into_bytes();
            if !challenge.is_empty() {
                let at = usize::from(position) % challenge.len();
                challenge[at] = replacement & 0x7f;
            }
            String::from_utf8_lossy(&challenge).into_owned()
        }
        _ => text.clone(),
    };

    let kind = flags & 3;
    let provisioner = if flags & 0x20 != 0 {
        provisioner
    } else {
        String::new()
    };
    let build = |csr: &[u8]| match kind {
        0 => RequestBody::scep_challenge(
            csr,
            challenge.as_str(),
            transaction.as_str(),
            provisioner.as_str(),
            now(),
        )
        .ok(),
        1 => {
            RequestBody::scep_notify_success(csr, &fixture.certificate, transaction.as_str(), now())
                .ok()
        }
        _ => {
            RequestBody::scep_notify_failure(csr, transaction.as_str(), description.as_str(), now())
                .ok()
        }
    };
    let body = if kind == 3 {
        let body = replace(
            rest,
            b"@now",
            now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
                .as_bytes(),
        );
        let body = replace(&body, b"@static", STATIC.as_bytes());
        if body.windows(7).any(|w| w == b"@issued") {
            let challenge = issue(None).unwrap_or_default();
            replace(&body, b"@issued", challenge.as_bytes())
        } else {
            body
        }
    } else {
        // Built around the fixed CSR when the fuzzed DER is not one, then given the DER.
        let Some(mut body) = build(&der).or_else(|| build(&fixture.csr)) else {
            return;
        };
        if let Some(request) = body.x509_certificate_request.as_mut() {
            request.raw = Some(der.clone());
        }
        if kind == 1
            && flags & 0x80 != 0
            && let Some(certificate) = body.x509_certificate.as_mut()
        {
            certificate.raw = Some(rest.to_vec());
        }
        body.to_json()
    };

    let to_notify = (kind == 1 || kind == 2) != (flags & 4 != 0);
    let path = if to_notify {
        SCEP_NOTIFY_PATH
    } else {
        SCEP_CHALLENGE_PATH
    };
    let uri = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let request = Request::post(uri.as_str());
    let request = if request.uri_ref().is_some() {
        request
    } else {
        Request::post(path)
    };
    let signed = (flags >> 3) & 3 < 2;
    let headers = match (flags >> 3) & 3 {
        0 | 1 => fixture.signer.headers(&body),
        2 => fixture.wrong.headers(&body),
        _ => {
            let mut headers = HeaderMap::new();
            headers.insert("x-smallstep-webhook-id", HeaderValue::from_static(ID));
            if let Ok(value) = HeaderValue::from_str(&text) {
                headers.insert("x-smallstep-signature", value);
            }
            headers
        }
    };
    let Ok(mut request) = request.body(Full::new(Bytes::from(body.clone()))) else {
        return;
    };
    *request.headers_mut() = headers;

    let (status, answer) = fixture.handler.answer(request);

    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let value: serde_json::Value =
        serde_json::from_slice(&answer).unwrap_or_else(|err| panic!("answer is not JSON: {err}"));
    assert!(value.is_object(), "{value}");
    if to_notify && value.as_object().is_some_and(|o| o.is_empty()) {
        // A NOTIFYING acknowledged: only an authentic one.
        assert!(signed, "acknowledged a NOTIFYING the target did not sign");
        assert_eq!(status, StatusCode::OK);
        return;
    }
    assert!(value["allow"].is_boolean(), "{value}");
    if value["allow"] != true {
        return;
    }

    // An allow: only for what the configuration admits.
    assert!(!to_notify, "a NOTIFYING answered with an allow: {value}");
    assert!(
        signed,
        "allowed a request the target did not sign correctly"
    );
    assert_eq!(status, StatusCode::OK);
    let sent: RequestBody = serde_json::from_slice(&body).expect("an allowed body parses");
    let presented = sent.scep_challenge.clone().unwrap_or_default();
    let bound = if presented == STATIC {
        None
    } else {
        let Some((_, bound)) = issued.iter().find(|(c, _)| *c == presented) else {
            panic!("allowed a challenge that is neither the static one nor one issued here");
        };
        bound.clone()
    };
    let der = sent.csr_der().expect("an allowed body has a CSR");
    let device = identifier(der).expect("an allowed CSR names a device");
    assert!(
        fixture.list.decide(&device).is_allowed(),
        "allowed {device:?}, which is not listed"
    );
    if let Some(bound) = bound {
        assert_eq!(
            bound, device,
            "a challenge issued for {bound:?} admitted {device:?}"
        );
    }
    let data = &value["data"];
    assert!(data.is_null() || data.is_object(), "{value}");
});
