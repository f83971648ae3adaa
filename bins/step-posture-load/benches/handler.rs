//! The server's request handler without a socket: from a signed step-ca request to the
//! response bytes (body cap, HMAC, parse, device-attest rules, file lookup, the allow body
//! with pre-serialised enrichment, and the decision log line, with logging off here).
//!
//! Run with `cargo bench -p step-posture-load --bench handler`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::{BodyExt, Full};
use posture_file::{DeviceList, FileFormat, FileProvider};
use smallstep_webhook::{RequestBody, Signer, Verifier, WebhookSecret};
use step_posture_connector::handler::{App, WEBHOOK_PATH, handle};

const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
const SERIAL: &str = "C02XL0GJJG5J";

fn handler(c: &mut Criterion) {
    let Ok(verifier) = Verifier::builder()
        .webhook(ID, SECRET)
        .max_age(Duration::from_secs(24 * 3600))
        .build()
    else {
        panic!("the secret is valid");
    };
    let devices = format!(
        "Identifier,user,email,department,groups\n{SERIAL},alice,alice@example.com,Engineering,engineering;vpn-users\n"
    );
    let Ok(list) = DeviceList::parse(devices.as_bytes(), FileFormat::Csv, "bench") else {
        panic!("the device list parses");
    };
    let app = Arc::new(App::new(verifier, Arc::new(FileProvider::from_list(list))));

    // A step-ca ENRICHING body with a real CSR for the device, signed once.
    let Ok(key) = rcgen::KeyPair::generate() else {
        panic!("key generation works");
    };
    let Ok(mut params) = rcgen::CertificateParams::new(Vec::<String>::new()) else {
        panic!("empty SAN list");
    };
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, SERIAL);
    let Ok(csr) = params.serialize_request(&key) else {
        panic!("the CSR builds");
    };
    let Ok(body) =
        RequestBody::device_attest_enriching(SERIAL, csr.der(), time::OffsetDateTime::now_utc())
    else {
        panic!("the body builds");
    };
    let Ok(secret) = WebhookSecret::from_base64(SECRET) else {
        panic!("the secret is valid");
    };
    let Ok(signer) = Signer::new(ID, secret) else {
        panic!("the ID is valid");
    };
    let signed = signer.sign_body(&body);
    let payload = Bytes::from(signed.body);

    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        panic!("a runtime starts");
    };
    let request = || {
        let mut request = Request::post(WEBHOOK_PATH)
            .body(Full::new(payload.clone()))
            .unwrap_or_default();
        *request.headers_mut() = signed.headers.clone();
        request
    };
    // The answer is an allow with the device's data.
    let answer = runtime.block_on(async {
        let Ok(response) = handle(app.clone(), request()).await;
        response.into_body().collect().await.map(|b| b.to_bytes())
    });
    assert!(matches!(&answer, Ok(bytes) if bytes.starts_with(b"{\"allow\":true,\"data\":{")));

    c.bench_function("handler_allow_with_data", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let Ok(response) = handle(app.clone(), black_box(request())).await;
                response
            })
        })
    });
}

criterion_group!(benches, handler);
criterion_main!(benches);
