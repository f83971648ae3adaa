//! The server's request handler without a socket: from a signed step-ca request to the
//! response bytes (body cap, HMAC, parse, device-attest rules, file lookup, the allow body
//! with pre-serialised enrichment, and the decision log line, with logging off here).
//!
//! `handler_jamf_warm_cache` is the same request answered by a Jamf provider from its cache.
//!
//! Run with `cargo bench -p step-posture-load --bench handler`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::{BodyExt, Full};
use posture_core::DynPostureProvider;
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use posture_file::{DeviceList, FileFormat, FileProvider};
use posture_jamf::{JamfConfig, JamfProvider};
use smallstep_webhook::{RequestBody, SignedRequest, Signer, Verifier, WebhookSecret};
use step_posture_connector::handler::{App, WEBHOOK_PATH, handle};
use tokio::runtime::Runtime;

const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
const SERIAL: &str = "C02XL0GJJG5J";

/// The server's handler in front of `provider`, with a verifier that accepts [`SECRET`].
fn app_asking(provider: Arc<dyn DynPostureProvider>) -> Arc<App> {
    let Ok(verifier) = Verifier::builder()
        .webhook(ID, SECRET)
        .max_age(Duration::from_secs(24 * 3600))
        .build()
    else {
        panic!("the secret is valid");
    };
    Arc::new(App::new(verifier, provider))
}

/// A step-ca ENRICHING body with a real CSR for the device, signed once.
fn signed_request() -> SignedRequest {
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
    signer.sign_body(&body)
}

/// Checks that `app` allows the signed request at `path` with the device's data, then
/// benchmarks answering it as `name`.
fn bench_allow(
    c: &mut Criterion,
    runtime: &Runtime,
    name: &str,
    app: &Arc<App>,
    path: &str,
    signed: &SignedRequest,
) {
    let payload = Bytes::from(signed.body.clone());
    let request = || {
        let mut request = Request::post(path)
            .body(Full::new(payload.clone()))
            .unwrap_or_default();
        *request.headers_mut() = signed.headers.clone();
        request
    };
    let answer = runtime.block_on(async {
        let Ok(response) = handle(app.clone(), request()).await;
        response.into_body().collect().await.map(|b| b.to_bytes())
    });
    assert!(matches!(&answer, Ok(bytes) if bytes.starts_with(b"{\"allow\":true,\"data\":{")));

    c.bench_function(name, |b| {
        b.iter(|| {
            runtime.block_on(async {
                let Ok(response) = handle(app.clone(), black_box(request())).await;
                response
            })
        })
    });
}

fn handler(c: &mut Criterion) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        panic!("a runtime starts");
    };
    let signed = signed_request();

    let devices = format!(
        "Identifier,user,email,department,groups\n{SERIAL},alice,alice@example.com,Engineering,engineering;vpn-users\n"
    );
    let Ok(list) = DeviceList::parse(devices.as_bytes(), FileFormat::Csv, "bench") else {
        panic!("the device list parses");
    };
    let file = app_asking(Arc::new(FileProvider::from_list(list)));
    bench_allow(
        c,
        &runtime,
        "handler_allow_with_data",
        &file,
        WEBHOOK_PATH,
        &signed,
    );

    // The same request answered by Jamf from a warm cache: the harness's "Jamf, warm cache"
    // without TLS. The fake Jamf on loopback answers the first lookup only.
    let Ok(fake) = runtime.block_on(FakeJamf::start()) else {
        panic!("the fake Jamf starts");
    };
    fake.add_computer(
        FakeDevice::new(SERIAL)
            .with_groups(["Compliant Macs"])
            .with_department("1", "Engineering"),
    );
    fake.add_department("1", "Engineering");
    let mut vars = fake.env_vars();
    vars.extend(
        [
            ("JAMF_COMPUTER_GROUP", "Compliant Macs"),
            ("JAMF_COMPUTER_ENRICH", "1"),
            ("JAMF_CACHE_TTL", "3600"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    let config = JamfConfig::from_env(|name| {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    });
    let Ok(Ok(jamf)) = config.map(JamfProvider::new) else {
        panic!("the Jamf settings are valid");
    };
    let jamf = app_asking(Arc::new(jamf));
    let path = format!("{WEBHOOK_PATH}?mode=computer");
    bench_allow(
        c,
        &runtime,
        "handler_jamf_warm_cache",
        &jamf,
        &path,
        &signed,
    );
    // Only the check before the benchmark asked Jamf: every measured answer was cached.
    assert_eq!(fake.stats().lookup_requests, 1);
}

criterion_group!(benches, handler);
criterion_main!(benches);
