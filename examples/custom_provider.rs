//! A provider of your own, plugged into a minimal HTTPS server built from the library
//! crates: `posture-core` for the provider trait, `step-posture-connector` for the request
//! handler (authentication, device-attest rules, deadline, audit log) and the TLS accept
//! loop.
//!
//! Run it (a throwaway certificate is generated; the output says how to try it):
//!
//! ```sh
//! cargo run -p step-posture-examples --example custom_provider
//! ```
//!
//! or as a self-test, which listens on a free port, sends itself two signed requests over
//! TLS, checks the answers and exits:
//!
//! ```sh
//! cargo run -p step-posture-examples --example custom_provider -- --smoke
//! ```
#![allow(clippy::print_stdout, clippy::disallowed_macros)] // an example prints

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use arc_swap::ArcSwap;
use posture_core::{Decision, DenyCode, Enrichment, LookupRequest, PostureProvider, ProviderError};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use smallstep_webhook::{ResponseBody, Signer, Verifier, WebhookSecret};
use step_posture_connector::client::Connection;
use step_posture_connector::config::Limits;
use step_posture_connector::handler::App;
use step_posture_connector::{pki, server, tls};

// ---- The provider: this is the part you write. ----------------------------------------

/// Allows devices whose serial number starts with one of your organisation's prefixes, and
/// tells the certificate template which site the device belongs to. A real provider would
/// ask an inventory here; keep such calls within the request deadline and return
/// `ProviderError::transient` when the backend can't answer (the server then answers 503
/// and step-ca retries once).
#[derive(Debug)]
struct SerialPrefixProvider {
    /// (prefix, site) pairs.
    sites: Vec<(String, String)>,
}

impl PostureProvider for SerialPrefixProvider {
    fn name(&self) -> &str {
        "serial-prefix"
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        let serial = request.identifier();
        if !serial.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(Decision::deny(
                DenyCode::INVALID_IDENTIFIER,
                "serial numbers are letters and digits",
            ));
        }
        let site = self
            .sites
            .iter()
            .find(|(prefix, _)| serial.starts_with(prefix.as_str()));
        Ok(match site {
            Some((_, site)) => {
                let data = serde_json::json!({ "site": site, "serial": serial });
                Decision::allow_with(Enrichment::from_json(data.to_string())?)
            }
            None => Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("{serial} is not one of our devices"),
            ),
        })
    }

    async fn check_ready(&self) -> Result<(), ProviderError> {
        if self.sites.is_empty() {
            return Err(ProviderError::permanent("no serial prefixes configured"));
        }
        Ok(())
    }
}

// ---- A minimal server around it. ------------------------------------------------------

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let smoke = std::env::args().any(|arg| arg == "--smoke");
    let provider = Arc::new(SerialPrefixProvider {
        sites: vec![
            ("C02".to_owned(), "London".to_owned()),
            ("F4K".to_owned(), "Lisbon".to_owned()),
        ],
    });
    provider.check_ready().await?;

    let webhook_id = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
    let secret = WebhookSecret::generate()?;
    let verifier = Verifier::builder()
        .webhook_secret(webhook_id, secret.clone())
        .build()?;
    let app = Arc::new(App::new(verifier, provider).with_timeout(Duration::from_secs(4)));

    // A throwaway CA and server certificate for localhost; use your own in production.
    let demo = pki::generate_demo_pki()?;
    let mut config = rustls::ServerConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(demo.cert_pem.as_bytes())?],
            PrivateKeyDer::from_pem_slice(demo.key_pem.as_bytes())?,
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // The server reads this for every new connection; storing a new state rotates the
    // certificate without a restart.
    let tls_state = Arc::new(ArcSwap::from_pointee(tls::TlsState {
        config: Arc::new(config),
        not_after: None,
        fingerprint: tls::sha256_hex(&demo.cert_der),
    }));

    let listener = server::bind(if smoke {
        "127.0.0.1:0".parse()?
    } else {
        "127.0.0.1:9443".parse()?
    })
    .await?;
    let addr = listener.local_addr()?;
    let url = format!("https://{addr}/webhook/device-attest");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server::serve(
        listener,
        tls_state,
        app,
        Limits::default(),
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));

    if !smoke {
        let ca = std::env::temp_dir().join("custom-provider-ca.pem");
        std::fs::write(&ca, &demo.ca_pem)?;
        println!(
            "serving {url}\n\ntry it:\n  cargo run -p step-posture-connector -- simulate --url {url} \
             --ca-cert {} --webhook-id {webhook_id} --secret '{}' --serial C02XL0GJJG5J",
            ca.display(),
            secret.to_base64()
        );
        running.await?;
        return Ok(());
    }

    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(demo.ca_pem.as_bytes())?)?;
    let mut client = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let client = Arc::new(client);
    let signer = Signer::new(webhook_id, secret)?;
    let uri: http::Uri = url.parse()?;
    let mut answers = Vec::new();
    for serial in ["C02XL0GJJG5J", "ZZZ0000001"] {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, serial);
        let csr = params.serialize_request(&key)?;
        let body = smallstep_webhook::RequestBody::device_attest_enriching(
            serial,
            csr.der(),
            time::OffsetDateTime::now_utc(),
        )?;
        let signed = signer.sign_body(&body);
        let mut connection = Connection::open(&uri, client.clone()).await?;
        let (status, body) = connection
            .post(&uri, &signed.headers, signed.body.into())
            .await?;
        ensure!(status == http::StatusCode::OK, "HTTP {status}");
        answers.push(serde_json::from_slice::<ResponseBody>(&body).context("the answer")?);
    }
    let data = answers[0].data.as_ref().context("the allow has data")?;
    ensure!(answers[0].allow, "C02XL0GJJG5J should be allowed");
    ensure!(
        data.get() == r#"{"serial":"C02XL0GJJG5J","site":"London"}"#,
        "data: {}",
        data.get()
    );
    let code = answers[1].error.as_ref().map(|e| e.code.as_str());
    ensure!(
        !answers[1].allow && code == Some("deviceNotFound"),
        "{:?}",
        answers[1]
    );
    println!("smoke test passed: {url} allowed C02XL0GJJG5J (site London) and denied ZZZ0000001");
    let _ = stop.send(());
    running.await?;
    Ok(())
}
