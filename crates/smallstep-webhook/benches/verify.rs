//! Benchmarks for the request path of a webhook server: verify and parse a real step-ca
//! body, read the CSR common name, and build and serialize a response.
//!
//! Run with `cargo bench -p smallstep-webhook`.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use smallstep_webhook::{
    RequestBody, ResponseBody, SIGNATURE_HEADER, Verifier, WEBHOOK_ID_HEADER, csr_common_name,
};

const BODY: &[u8] = include_bytes!("../tests/data/01-device-attest-enriching.json");
const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
const SIGNATURE: &str = "5f5382c18582d0610cbd2a67d64115b32e0ec610359db1a23f6c02b00cf0e7ff";

fn verify(c: &mut Criterion) {
    let Ok(verifier) = Verifier::builder().webhook(ID, SECRET).build() else {
        panic!("the vector's secret is valid");
    };
    let mut headers = HeaderMap::new();
    headers.insert(WEBHOOK_ID_HEADER, HeaderValue::from_static(ID));
    headers.insert(SIGNATURE_HEADER, HeaderValue::from_static(SIGNATURE));
    let now = SystemTime::from(time::macros::datetime!(2025-06-02 14:21:08 UTC));

    c.bench_function("verify_and_parse_vector_01", |b| {
        b.iter(|| verifier.verify_at(black_box(&headers), black_box(BODY), now))
    });
    c.bench_function("verify_device_attest_vector_01", |b| {
        b.iter(|| verifier.verify_device_attest_at(black_box(&headers), black_box(BODY), now))
    });
    c.bench_function("parse_vector_01", |b| {
        b.iter(|| serde_json::from_slice::<RequestBody>(black_box(BODY)))
    });
}

fn csr_and_response(c: &mut Criterion) {
    let Ok(body) = serde_json::from_slice::<RequestBody>(BODY) else {
        panic!("vector 01 parses");
    };
    let csr = body.csr_der().unwrap_or_default().to_vec();

    c.bench_function("csr_common_name", |b| {
        b.iter(|| csr_common_name(black_box(&csr)))
    });
    c.bench_function("response_allow_with_value", |b| {
        let data = serde_json::json!({"device": "C02XL0GJJG5J", "user": "alice", "managed": true});
        b.iter(|| ResponseBody::allow_with_value(black_box(&data)).to_json())
    });
    c.bench_function("response_deny", |b| {
        b.iter(|| ResponseBody::deny("deviceNotEnrolled", "Device not enrolled").to_json())
    });
}

criterion_group!(benches, verify, csr_and_response);
criterion_main!(benches);
