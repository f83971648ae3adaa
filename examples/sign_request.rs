//! Signing a webhook request exactly as step-ca does, with the protocol crate's
//! [`Signer`], and checking it as a server would, with its [`Verifier`]. Use this to test a
//! webhook server of your own without a CA.
//!
//! Run it (it prints the headers, the body and a `curl` command that sends them):
//!
//! ```sh
//! cargo run -p step-posture-examples --example sign_request
//! # with your webhook's ID and secret, and another device:
//! WEBHOOK_ID=… WEBHOOK_SECRET='…' SERIAL=F4KQ2J9XN7 \
//!     cargo run -p step-posture-examples --example sign_request
//! ```
//!
//! step-ca signs the exact body bytes: HMAC-SHA256 under the base64-*decoded* secret, sent
//! as lowercase hex in `X-Smallstep-Signature`, with the ID in `X-Smallstep-Webhook-ID`.
//! It marshals the body once, so its retry (a second later, after a 5xx) is byte-identical.
#![allow(clippy::print_stdout, clippy::disallowed_macros)] // an example prints

use anyhow::{Context, ensure};
use smallstep_webhook::{RequestBody, Signer, Verifier, WebhookSecret};

/// step-ca's own test vector 01: a real webhook ID and secret.
const VECTOR_ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const VECTOR_SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";

fn main() -> anyhow::Result<()> {
    let webhook_id = std::env::var("WEBHOOK_ID").unwrap_or_else(|_| VECTOR_ID.to_owned());
    let secret_text = std::env::var("WEBHOOK_SECRET").unwrap_or_else(|_| VECTOR_SECRET.to_owned());
    let serial = std::env::var("SERIAL").unwrap_or_else(|_| "C02XL0GJJG5J".to_owned());
    let secret = WebhookSecret::from_base64(&secret_text)
        .context("WEBHOOK_SECRET is the base64 text step-ca printed")?;

    // What the device sends: a CSR whose common name is its serial number.
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, serial.as_str());
    let csr = params.serialize_request(&key)?;

    // What step-ca sends an ENRICHING webhook for an ACME device-attest-01 order.
    let body =
        RequestBody::device_attest_enriching(&serial, csr.der(), time::OffsetDateTime::now_utc())?;
    let signer = Signer::new(webhook_id.clone(), secret.clone())?;
    let signed = signer.sign_body(&body);

    // Any bytes can be signed the same way.
    let signature = signer.sign(&signed.body);
    ensure!(
        signed
            .headers
            .get("x-smallstep-signature")
            .map(|v| v.as_bytes())
            == Some(signature.as_bytes()),
        "sign_body and sign agree"
    );

    // The receiving side: authenticate, then parse, then read the attested identifier.
    let verifier = Verifier::builder()
        .webhook_secret(webhook_id.clone(), secret)
        .build()?;
    let verified = verifier.verify(&signed.headers, &signed.body)?;
    ensure!(verified.webhook_id() == webhook_id);
    ensure!(verified.body().permanent_identifier() == Some(serial.as_str()));
    let mut tampered = signed.body.clone();
    if let Some(last) = tampered.iter_mut().rev().find(|b| b.is_ascii_digit()) {
        *last = if *last == b'9' { b'0' } else { *last + 1 };
    }
    ensure!(
        verifier.verify(&signed.headers, &tampered).is_err(),
        "a changed body no longer verifies"
    );

    let path = std::env::temp_dir().join(format!("webhook-body-{serial}.json"));
    std::fs::write(&path, &signed.body)?;
    println!("headers:");
    for (name, value) in &signed.headers {
        println!("  {name}: {}", value.to_str().unwrap_or("?"));
    }
    println!("body ({} bytes): {}\n", signed.body.len(), path.display());
    println!(
        "send it within 60 s (the body's timestamp is checked):\n\n  \
         curl --cacert ca.pem -H 'Content-Type: application/json' \\\n    \
         -H 'X-Smallstep-Webhook-ID: {webhook_id}' \\\n    \
         -H 'X-Smallstep-Signature: {signature}' \\\n    \
         --data-binary @{} \\\n    \
         https://127.0.0.1:9443/webhook/device-attest",
        path.display()
    );
    Ok(())
}
