//! A step-ca webhook inside your own hyper server, using only the `smallstep-webhook` crate
//! for the protocol: authenticate the request, read the attested device identifier, answer
//! allow (with data for the certificate template) or deny (with a reason the device sees).
//!
//! For the inventory-backed decision the server makes (device-attest rules, a provider
//! under a deadline, audit records), use the `posture-webhook` crate's `Decider` instead.
//!
//! Run it with the webhook ID and secret that `step ca provisioner webhook add` printed:
//!
//! ```sh
//! WEBHOOK_ID=d09736a5-780b-476e-abdb-e2e4c0439cf9 WEBHOOK_SECRET='MGdR…EQ==' \
//!     cargo run -p step-posture-examples --example embed_webhook
//! ```
//!
//! or as a self-test, which listens on a free port, sends itself a signed request for an
//! allowed and an unknown device, checks both answers and exits:
//!
//! ```sh
//! cargo run -p step-posture-examples --example embed_webhook -- --smoke
//! ```
//!
//! It serves plain HTTP on 127.0.0.1:8080. step-ca calls only `https://` webhooks, so put
//! it behind TLS in production (the `custom_provider` example serves HTTPS with rustls).
#![allow(clippy::print_stdout, clippy::disallowed_macros)] // an example prints

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use smallstep_webhook::{RequestBody, ResponseBody, Signer, Verifier, WebhookSecret};
use tokio::net::{TcpListener, TcpStream};

/// The devices this example knows. A real server asks an inventory.
const ALLOWED: &[&str] = &["C02XL0GJJG5J", "F4KQ2J9XN7"];

/// step-ca's bodies are a few KB; refuse anything much larger before reading it.
const MAX_BODY: usize = 64 * 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let smoke = std::env::args().any(|arg| arg == "--smoke");
    let (webhook_id, secret) = if smoke {
        (
            "d09736a5-780b-476e-abdb-e2e4c0439cf9".to_owned(),
            WebhookSecret::generate()?,
        )
    } else {
        let id = std::env::var("WEBHOOK_ID").context("set WEBHOOK_ID")?;
        let secret = std::env::var("WEBHOOK_SECRET").context("set WEBHOOK_SECRET")?;
        (id, WebhookSecret::from_base64(&secret)?)
    };
    let verifier = Arc::new(
        Verifier::builder()
            .webhook_secret(webhook_id.clone(), secret.clone())
            .build()?,
    );
    let listener = TcpListener::bind(if smoke {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:8080"
    })
    .await?;
    let addr = listener.local_addr()?;
    println!("step-ca webhook on http://{addr}/webhook");
    let server = tokio::spawn(serve(listener, verifier));
    if !smoke {
        server.await?;
        return Ok(());
    }

    let signer = Signer::new(webhook_id, secret)?;
    let now = time::OffsetDateTime::now_utc();
    let (status, allowed) = send(&addr.to_string(), &signer, "C02XL0GJJG5J", now).await?;
    ensure!(
        status == StatusCode::OK && allowed.allow,
        "expected an allow: {allowed:?}"
    );
    let data = allowed.data.context("an allow carries data")?;
    ensure!(
        data.get() == r#"{"device":"C02XL0GJJG5J"}"#,
        "data: {}",
        data.get()
    );
    let (status, denied) = send(&addr.to_string(), &signer, "C02UNKNOWN00", now).await?;
    let code = denied.error.map(|e| e.code).unwrap_or_default();
    ensure!(
        status == StatusCode::OK && code == "deviceNotFound",
        "expected a deny: {code}"
    );
    println!("smoke test passed: a listed device is allowed, an unknown one denied");
    server.abort();
    Ok(())
}

async fn serve(listener: TcpListener, verifier: Arc<Verifier>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let verifier = verifier.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(verifier.clone(), request));
            let _closed = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

/// The whole webhook: verify, then decide.
async fn handle(
    verifier: Arc<Verifier>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/webhook" || request.method() != Method::POST {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            &ResponseBody::deny_without_reason(),
        ));
    }
    let (parts, body) = request.into_parts();
    let Ok(collected) = Limited::new(body, MAX_BODY).collect().await else {
        return Ok(reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            &ResponseBody::deny_without_reason(),
        ));
    };
    let bytes = collected.to_bytes();
    // The HMAC is checked over the raw bytes before anything in them is believed.
    let verified = match verifier.verify(&parts.headers, &bytes) {
        Ok(verified) => verified,
        // Not from step-ca: 401 with no detail. Authentic but not a body we understand:
        // a `badRequest` deny (200), with a reason.
        Err(err) => return Ok(reply(err.status(), &err.response_body())),
    };
    // Only the attested identifier was verified by the CA; the CSR is the client's.
    let answer = match verified.body().permanent_identifier() {
        Some(device) if ALLOWED.contains(&device) => {
            ResponseBody::allow_with_value(&serde_json::json!({ "device": device }))
        }
        Some(device) => ResponseBody::deny(
            "deviceNotFound",
            format!("device {device} is not in the inventory"),
        ),
        None => ResponseBody::deny(
            "missingIdentifier",
            "attach this webhook to an ACME provisioner with device-attest-01",
        ),
    };
    // Denies are HTTP 200 so that step-ca 0.28.1+ passes the reason to the device.
    Ok(reply(StatusCode::OK, &answer))
}

fn reply(status: StatusCode, answer: &ResponseBody) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.to_json())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Sends what step-ca would send for an AUTHORIZING webhook, signed.
async fn send(
    addr: &str,
    signer: &Signer,
    serial: &str,
    now: time::OffsetDateTime,
) -> anyhow::Result<(StatusCode, ResponseBody)> {
    let signed = signer.sign_body(&RequestBody::device_attest_authorizing(serial, now));
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(connection);
    let mut request = Request::post("/webhook")
        .header(http::header::HOST, addr)
        .body(Full::new(Bytes::from(signed.body)))?;
    request.headers_mut().extend(signed.headers);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    match serde_json::from_slice(&body) {
        Ok(answer) => Ok((status, answer)),
        Err(err) => bail!("HTTP {status}: not a webhook answer ({err})"),
    }
}
