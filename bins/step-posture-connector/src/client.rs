//! A small HTTPS client that speaks to a webhook the way step-ca does, used by `simulate`,
//! the tests and the load harness.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::{OrFail as _, ServerError};
use crate::tls::{crypto_provider, load_certificates, load_private_key};

/// Builds a client TLS configuration: trust `ca` (or the Mozilla roots when `None`) and, if
/// given, present a client certificate (certificate and key paths, PEM). A file that cannot
/// be read or used is a [`ServerError::Tls`].
pub fn client_config(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, ServerError> {
    tls_client_config(ca, identity).or_fail(ServerError::Tls)
}

fn tls_client_config(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in load_certificates(path)? {
                roots
                    .add(cert)
                    .with_context(|| format!("{}: not a usable CA certificate", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certificates(cert)?, load_private_key(key)?)
            .context("client certificate and key do not match")?,
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// One keep-alive HTTPS connection (HTTP/1.1), such as step-ca opens to a webhook. Errors
/// are [`ServerError::Network`].
///
/// ```no_run
/// use step_posture_connector::client::{Connection, client_config};
///
/// # async fn ask() -> Result<(), step_posture_connector::ServerError> {
/// let url: http::Uri = "https://127.0.0.1:9443/livez".parse().unwrap();
/// let tls = client_config(Some("ca.pem".as_ref()), None)?;
/// let mut connection = Connection::open(&url, tls).await?;
/// let (status, _body) = connection
///     .send(http::Method::GET, &url, &http::HeaderMap::new(), bytes::Bytes::new())
///     .await?;
/// println!("{status}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
}

impl Connection {
    /// Connects to the host and port of `url`, which must be an `https` URL.
    pub async fn open(url: &Uri, tls: Arc<ClientConfig>) -> Result<Self, ServerError> {
        Self::connect(url, tls).await.or_fail(ServerError::Network)
    }

    async fn connect(url: &Uri, tls: Arc<ClientConfig>) -> anyhow::Result<Self> {
        if url.scheme_str() != Some("https") {
            bail!("{url}: only https URLs are supported");
        }
        let host = url.host().context("the URL has no host")?;
        let port = url.port_u16().unwrap_or(443);
        let host_for_sni = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tcp = TcpStream::connect((host_for_sni.as_str(), port))
            .await
            .with_context(|| format!("cannot connect to {host}:{port}"))?;
        let _ = tcp.set_nodelay(true);
        let server_name = ServerName::try_from(host_for_sni.clone())
            .with_context(|| format!("{host} is not a valid TLS server name"))?;
        let stream = TlsConnector::from(tls)
            .connect(server_name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {host}:{port} failed"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake failed")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let authority = url
            .authority()
            .map(ToString::to_string)
            .unwrap_or_else(|| format!("{host}:{port}"));
        Ok(Self { sender, authority })
    }

    /// POSTs `body` with `headers` to `url`'s path and returns the status and body.
    pub async fn post(
        &mut self,
        url: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ServerError> {
        self.send(Method::POST, url, headers, body).await
    }

    /// Sends any request on the connection and returns the status and body.
    pub async fn send(
        &mut self,
        method: Method,
        url: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ServerError> {
        self.exchange(method, url, headers, body)
            .await
            .or_fail(ServerError::Network)
    }

    async fn exchange(
        &mut self,
        method: Method,
        url: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.authority)
            .body(Full::new(body))
            .context("building the request")?;
        request.headers_mut().extend(headers.clone());
        self.sender.ready().await.context("connection closed")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("request failed")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the response")?
            .to_bytes();
        Ok((status, body))
    }
}
