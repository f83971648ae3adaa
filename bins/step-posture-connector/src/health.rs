//! `healthcheck`: asks the local server's `/livez`, for container health checks in images
//! that have no shell or curl.
//!
//! With `METRICS_ADDR` set it asks the plain-HTTP metrics listener, which also serves
//! `/livez`; otherwise it asks `https://127.0.0.1:$PORT/livez`. Over HTTPS it accepts
//! whatever certificate the server presents (the handshake signature is still checked): it
//! only asks whether the process on this host answers, and sends nothing secret. With
//! `ENABLE_MTLS=1` the webhook port requires a client certificate that a health check
//! doesn't have, so `METRICS_ADDR` is needed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::client::Connection;
use crate::config::Config;
use crate::tls::crypto_provider;

/// Where the health check asks.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) enum Target {
    /// `http://<METRICS_ADDR>/livez`.
    Metrics(SocketAddr),
    /// `https://<address>/livez` on the webhook port.
    Webhook(SocketAddr),
}

impl Target {
    /// The URL asked.
    pub(crate) fn url(&self) -> String {
        match self {
            Self::Metrics(addr) => format!("http://{addr}/livez"),
            Self::Webhook(addr) => format!("https://{addr}/livez"),
        }
    }
}

/// Chooses where to ask: the metrics listener if there is one, else the webhook port. An
/// unspecified bind address (`0.0.0.0`, `::`) is asked on loopback.
pub(crate) fn target(config: &Config) -> anyhow::Result<Target> {
    if let Some(addr) = config.metrics_addr {
        return Ok(Target::Metrics(loopback_if_unspecified(addr)));
    }
    if config.tls.mtls.is_some() {
        bail!(
            "ENABLE_MTLS=1 requires a client certificate on the webhook port; set METRICS_ADDR \
             (e.g. 127.0.0.1:9464) so that health checks can use the plain-HTTP listener"
        );
    }
    Ok(Target::Webhook(loopback_if_unspecified(config.listen)))
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// Asks `target`'s `/livez` within `timeout`; `Ok` when it answers 200.
pub(crate) async fn check(target: &Target, timeout: Duration) -> anyhow::Result<()> {
    let status = tokio::time::timeout(timeout, ask(target))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} did not answer within {} s",
                target.url(),
                timeout.as_secs()
            )
        })??;
    if status == StatusCode::OK {
        Ok(())
    } else {
        bail!("{} answered HTTP {}", target.url(), status.as_u16())
    }
}

async fn ask(target: &Target) -> anyhow::Result<StatusCode> {
    let url: Uri = target.url().parse().context("building the URL")?;
    match target {
        Target::Webhook(_) => {
            let mut connection = Connection::open(&url, any_server_certificate()?).await?;
            let (status, _) = connection
                .send(Method::GET, &url, &HeaderMap::new(), Bytes::new())
                .await?;
            Ok(status)
        }
        Target::Metrics(addr) => {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .with_context(|| format!("cannot connect to {addr}"))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
                    .await
                    .context("HTTP handshake failed")?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let request = Request::get("/livez")
                .header(http::header::HOST, addr.to_string())
                .body(Empty::new())
                .context("building the request")?;
            let response = sender
                .send_request(request)
                .await
                .context("request failed")?;
            let status = response.status();
            let _ = response.into_body().collect().await;
            Ok(status)
        }
    }
}

/// A client configuration that accepts any server certificate but still checks that the
/// server holds its key.
fn any_server_certificate() -> anyhow::Result<Arc<ClientConfig>> {
    let provider = crypto_provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct AnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    crate::tls::handshake_signature_checks!();
}

impl AnyServerCertificate {
    fn signature_algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        let any4: SocketAddr = "0.0.0.0:9443".parse().unwrap();
        let any6: SocketAddr = "[::]:9464".parse().unwrap();
        let specific: SocketAddr = "10.1.2.3:9443".parse().unwrap();
        assert_eq!(
            loopback_if_unspecified(any4),
            "127.0.0.1:9443".parse().unwrap()
        );
        assert_eq!(loopback_if_unspecified(any6), "[::1]:9464".parse().unwrap());
        assert_eq!(loopback_if_unspecified(specific), specific);
    }
}
