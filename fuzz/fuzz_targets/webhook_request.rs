//! A whole webhook request through the server's handler, without a socket: cap the body,
//! verify headers and HMAC (and `Authorization` for the second webhook), then parse the body
//! and apply the device-attest rules.
//!
//! Input: a flags byte, the query string up to the first newline, header lines
//! (`name: value`) up to an empty line, then the body. Flags bit 0 signs the body correctly
//! for the first webhook and bit 1 for the second (with its bearer token), so the fuzzer gets
//! past the HMAC into the parser; without either, the headers are exactly as given.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use posture_file::{DeviceList, FileFormat, FileProvider};
use smallstep_webhook::{Authorization, Signer, Verifier, WebhookSecret};
use step_posture_connector::handler::App;

const PLAIN_ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const PLAIN_SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
const AUTH_ID: &str = "eeff6319-8883-419b-8d9b-0fe227dbe6b4";
const AUTH_SECRET: &str =
    "Raje4mOlzC1LOxFk5v/rb8uwlZXPF41B+MFgjOB+Sp3jo9uq73XgQnqFbbFLVKhM0WiLaUDS+vtWQK5ucGev0Q==";
const TOKEN: &str = "fuzz-token";

struct Fixture {
    handler: step_posture_fuzz::Handler,
    plain: Signer,
    auth: Signer,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let secret = |s: &str| WebhookSecret::from_base64(s).expect("fixed secret");
        let token = Authorization::bearer(TOKEN).expect("fixed token");
        let verifier = Verifier::builder()
            .webhook_secret(PLAIN_ID, secret(PLAIN_SECRET))
            .webhook_secret(AUTH_ID, secret(AUTH_SECRET))
            .authorization(AUTH_ID, token.clone())
            // Any timestamp is fresh, so the fuzzer reaches the parser with any body.
            .max_age(Duration::from_secs(200 * 365 * 86_400))
            .max_future(Duration::from_secs(200 * 365 * 86_400))
            .build()
            .expect("fixed verifier");
        let list = DeviceList::parse(
            br#"{"devices":[{"identifier":"C02XL0GJJG5J","data":{"user":"alice"}},{"identifier":"13804722"}]}"#,
            FileFormat::Json,
            "fuzz.json",
        )
        .expect("fixed list");
        let app = App::new(verifier, Arc::new(FileProvider::from_list(list)))
            .with_max_body_bytes(64 * 1024);
        Fixture {
            handler: step_posture_fuzz::Handler::new(app),
            plain: Signer::new(PLAIN_ID, secret(PLAIN_SECRET)).expect("signer"),
            auth: Signer::new(AUTH_ID, secret(AUTH_SECRET))
                .expect("signer")
                .with_authorization(token),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (query, rest) = split_line(rest);
    let mut request = Request::post(format!(
        "/webhook/device-attest?{}",
        String::from_utf8_lossy(query)
    ));
    if request.uri_ref().is_none() {
        request = Request::post("/webhook/device-attest");
    }
    let mut rest = rest;
    let mut headers = http::HeaderMap::new();
    loop {
        let (line, tail) = split_line(rest);
        rest = tail;
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let body = rest;
    let signed = if flags & 1 == 1 {
        headers.extend(fixture.plain.headers(body));
        true
    } else if flags & 2 == 2 {
        headers.extend(fixture.auth.headers(body));
        true
    } else {
        false
    };
    let Ok(mut request) = request.body(Full::new(Bytes::copy_from_slice(body))) else {
        return;
    };
    *request.headers_mut() = headers;
    let (status, response) = fixture.handler.answer(request);
    // Every answer is a JSON object with a boolean `allow`, and allows only an authentic
    // request for a listed device.
    let value: serde_json::Value = serde_json::from_slice(&response)
        .unwrap_or_else(|err| panic!("response is not JSON: {err}"));
    assert!(value["allow"].is_boolean(), "{value}");
    if value["allow"] == true {
        assert!(
            signed,
            "allowed a request that was not signed by the fuzz target"
        );
        assert_eq!(status, StatusCode::OK);
        let id = value["data"].clone();
        assert!(id.is_null() || id.is_object());
    }
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
});

fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[]),
    }
}
