//! `doctor` run as a user would, against a fake step-ca on loopback that serves `/version`
//! and a paged `/provisioners` in step-ca's JSON.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::convert::Infallible;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use step_posture_connector::pki::generate_demo_pki;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

mod common;

use common::{BIN, SECRET};

const OUR_ID: &str = "0b5b0b2e-4f0d-4b4e-9f0c-1f2e3d4c5b6a";

/// A fake step-ca: `version` and the provisioner pages it serves, and the paths it was asked.
struct FakeCa {
    url: String,
    asked: Arc<Mutex<Vec<String>>>,
}

impl FakeCa {
    async fn start(dir: &Path, version: &str, pages: Vec<Value>) -> Self {
        let pki = generate_demo_pki().unwrap();
        std::fs::write(dir.join("ca-root.pem"), &pki.ca_pem).unwrap();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let version = json!({"version": version}).to_string();
        let pages = Arc::new(pages);
        let log = asked.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let (version, pages, log) = (version.clone(), pages.clone(), log.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request: Request<_>| {
                        let answer = answer(&request, &version, &pages, &log);
                        async move { Ok::<_, Infallible>(answer) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("https://localhost:{port}"),
            asked,
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// `/version`, or page N of `/provisioners` where the cursor is `pN` (page 0 has none).
fn answer<B>(
    request: &Request<B>,
    version: &str,
    pages: &[Value],
    log: &Mutex<Vec<String>>,
) -> Response<Full<Bytes>> {
    let uri = request.uri();
    log.lock().unwrap().push(
        uri.path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
    );
    let body = match uri.path() {
        "/version" => Some(version.to_owned()),
        "/provisioners" => {
            let cursor = uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|pair| pair.strip_prefix("cursor="))
                .unwrap_or("");
            let index = cursor
                .strip_prefix('p')
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            pages.get(index).map(|page| {
                let next = if index + 1 < pages.len() {
                    format!("p{}", index + 1)
                } else {
                    String::new()
                };
                json!({"provisioners": page, "nextCursor": next}).to_string()
            })
        }
        _ => None,
    };
    match body {
        Some(body) => Response::new(Full::new(Bytes::from(body))),
        None => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    }
}

fn webhook(id: &str, name: &str, url: &str, kind: &str) -> Value {
    json!({"id": id, "name": name, "url": url, "kind": kind, "certType": "X509"})
}

fn acme(name: &str, challenges: &[&str], disable_renewal: bool, webhooks: Vec<Value>) -> Value {
    json!({
        "type": "ACME", "name": name, "forceCN": true, "challenges": challenges,
        "attestationFormats": ["apple", "step"],
        "claims": {"disableRenewal": disable_renewal, "maxTLSCertDuration": "24h0m0s"},
        "options": {"x509": {"templateFile": "templates/device.tpl"}, "webhooks": webhooks},
    })
}

/// This server's configuration: the demo certificate (localhost, 127.0.0.1, ::1) on port
/// 9443, with our webhook ID.
fn deployment() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pki = generate_demo_pki().unwrap();
    std::fs::write(dir.path().join("server.pem"), &pki.cert_pem).unwrap();
    std::fs::write(dir.path().join("server.key"), &pki.key_pem).unwrap();
    std::fs::write(
        dir.path().join("devices.json"),
        include_str!("../../../examples/devices.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "PROVIDER=file\nFILE_PATH=devices.json\nFILE_TYPE=json\nTLS_CERT_PATH=server.pem\n\
             TLS_KEY_PATH=server.key\nWEBHOOK_IDS={OUR_ID}\nWEBHOOK_SECRETS={SECRET}\nPORT=9443\n"
        ),
    )
    .unwrap();
    dir
}

async fn run_doctor(dir: &Path, ca: &FakeCa, extra: &[&str]) -> Output {
    let mut args = vec![
        "doctor".to_owned(),
        "--ca-url".to_owned(),
        ca.url.clone(),
        "--root".to_owned(),
        "ca-root.pem".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(&args)
            .current_dir(dir)
            .env_clear()
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

const OUR_URL: &str = "https://localhost:9443/webhook/device-attest?mode=computer";

#[tokio::test(flavor = "multi_thread")]
async fn a_right_wiring_passes() {
    let dir = deployment();
    let ca = FakeCa::start(
        dir.path(),
        "0.30.1",
        vec![vec![
            json!({"type": "JWK", "name": "admin", "key": {"kty": "EC"}, "encryptedKey": "x"}),
            acme(
                "macs",
                &["device-attest-01"],
                true,
                vec![webhook(OUR_ID, "posture", OUR_URL, "ENRICHING")],
            ),
        ]]
        .into_iter()
        .map(Value::from)
        .collect(),
    )
    .await;
    let output = run_doctor(dir.path(), &ca, &[]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("ok: the CA: step-ca 0.30.1"), "{text}");
    assert!(
        text.contains(&format!(
            "ok: provisioner \"macs\" webhook \"posture\" ({OUR_ID}): ENRICHING on ACME provisioner, calls {OUR_URL}"
        )),
        "{text}"
    );
    assert!(text.ends_with("0 errors, 0 warnings, 2 ok\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_is_read_and_every_mistake_named() {
    let dir = deployment();
    let unknown_id = "9c4f1d5e-0000-4000-8000-00000000beef";
    let pages: Vec<Value> = vec![
        json!([
            json!({"type": "JWK", "name": "admin", "key": {"kty": "EC"},
                   "options": {"webhooks": [webhook(OUR_ID, "oops", OUR_URL, "AUTHORIZING")]}}),
            acme(
                "macs",
                &["device-attest-01", "http-01"],
                false,
                vec![webhook(OUR_ID, "posture", OUR_URL, "ENRICHING")],
            ),
        ]),
        json!([
            json!({"type": "SCEP", "name": "scep", "challenge": "*** REDACTED ***", "options": null})
        ]),
        json!([acme(
            "iphones",
            &["device-attest-01"],
            true,
            vec![webhook(
                unknown_id,
                "posture",
                "https://127.0.0.1:9443/webhook/device-attest?mode=phone",
                "ENRICHING",
            )],
        )]),
    ];
    let ca = FakeCa::start(dir.path(), "0.28.1", pages).await;
    let output = run_doctor(dir.path(), &ca, &[]).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{text}");
    // Three pages, followed by cursor.
    let asked = ca.asked();
    assert_eq!(
        asked,
        [
            "/version",
            "/provisioners?limit=100",
            "/provisioners?limit=100&cursor=p1",
            "/provisioners?limit=100&cursor=p2"
        ],
        "{text}"
    );
    for expected in [
        // The admin provisioner.
        "error: provisioner \"admin\" webhook \"oops\"",
        "a deny here locks administrators out",
        // The third page's webhook: unknown ID, bad mode.
        &format!(
            "error: provisioner \"iphones\" webhook \"posture\" ({unknown_id}): calls this server"
        ),
        "its mode=phone is not one this server accepts",
        // Renewal and mixed challenges on the gated provisioner.
        "warning: provisioner \"macs\": allows renewal",
        "fix: step ca provisioner update macs --disable-renewal",
        "offers http-01 besides device-attest-01",
        // The version.
        "warning: the CA: step-ca 0.28.1 lacks the fix",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // Renewal matters only where devices get certificates, not on the admin provisioner.
    assert!(
        !text.contains("provisioner \"admin\": allows renewal"),
        "{text}"
    );
    // Errors come first.
    let first = text.lines().nth(1).unwrap();
    assert!(first.starts_with("error: "), "{text}");

    let output = run_doctor(dir.path(), &ca, &["--json"]).await;
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ca"]["version"], "0.28.1");
    assert_eq!(report["ca"]["provisioners"], 4);
    let errors = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "error")
        .count();
    assert_eq!(report["errors"], errors);
    assert!(errors >= 3, "{report:#}");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "renewal" && f["fix"].as_str().unwrap().contains("disable")),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_or_untrusted_ca_is_a_clear_error() {
    let dir = deployment();
    let ca = FakeCa::start(dir.path(), "0.30.1", vec![json!([])]).await;
    // Without --root, the fake CA's private root is not trusted.
    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        let url = ca.url.clone();
        move || {
            std::process::Command::new(BIN)
                .args(["doctor", "--ca-url", &url])
                .current_dir(dir)
                .env_clear()
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach the CA at"), "{stderr}");
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    let output = run_doctor(dir.path(), &ca, &[]).await;
    // No webhook anywhere: the gate is missing, and our configured ID is stale.
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("error: the CA: no webhook on any of the CA's 0 provisioners"));
    assert!(text.contains(&format!("warning: WEBHOOK_IDS entry {OUR_ID}")));
}
