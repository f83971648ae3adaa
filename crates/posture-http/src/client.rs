use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::HttpClient;

/// Extra trust anchors for an on-premises MDM whose certificate chains to a private CA.
///
/// The anchors are added to the Mozilla root set (from `webpki-roots`); they never replace it.
///
/// ```
/// use posture_http::CaBundle;
/// assert!(CaBundle::empty().is_empty());
/// assert!(CaBundle::from_pem(b"no certificates here").is_err());
/// ```
#[derive(Clone, Default)]
pub struct CaBundle {
    certs: Vec<CertificateDer<'static>>,
    source: Option<PathBuf>,
}

/// A CA bundle could not be read or held no certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaBundleError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The PEM text held no `CERTIFICATE` section, or a section was not valid base64.
    #[error("{origin} holds no valid PEM CERTIFICATE section{reason}")]
    NoCertificates {
        /// The file name, or "the PEM data".
        origin: String,
        /// A detail from the PEM parser, starting with ": ", or empty.
        reason: String,
    },
}

impl CaBundle {
    /// No extra anchors.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses every `CERTIFICATE` section of PEM text. Other sections are skipped.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CaBundleError> {
        Self::parse(pem, None)
    }

    /// Reads a PEM file of one or more CA certificates.
    ///
    /// ```no_run
    /// # use posture_http::CaBundle;
    /// let bundle = CaBundle::from_pem_file("/etc/ssl/private-ca.pem")?;
    /// assert!(!bundle.is_empty());
    /// # Ok::<(), posture_http::CaBundleError>(())
    /// ```
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, CaBundleError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|err| CaBundleError::Read {
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
        Self::parse(&pem, Some(path))
    }

    fn parse(pem: &[u8], path: Option<&Path>) -> Result<Self, CaBundleError> {
        let origin = || match path {
            Some(path) => path.display().to_string(),
            None => "the PEM data".to_owned(),
        };
        let mut certs = Vec::new();
        for item in CertificateDer::pem_slice_iter(pem) {
            match item {
                Ok(cert) => certs.push(cert),
                Err(err) => {
                    return Err(CaBundleError::NoCertificates {
                        origin: origin(),
                        reason: format!(": {err}"),
                    });
                }
            }
        }
        if certs.is_empty() {
            return Err(CaBundleError::NoCertificates {
                origin: origin(),
                reason: String::new(),
            });
        }
        Ok(Self {
            certs,
            source: path.map(Path::to_owned),
        })
    }

    /// Whether the bundle adds no anchor.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// How many certificates the bundle holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// The certificates, DER-encoded.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("certificates", &self.certs.len())
            .field("source", &self.source)
            .finish()
    }
}

/// How to build a provider's HTTP client.
///
/// One client per provider: it pools connections (HTTP/2 when the server offers it over
/// TLS, keep-alive HTTP/1.1 otherwise), so lookups after the first skip the TCP and TLS
/// handshakes.
///
/// ```
/// use std::time::Duration;
/// use posture_http::ClientOptions;
/// let options = ClientOptions::new(Duration::from_secs(4));
/// assert_eq!(options.request_timeout(), Duration::from_secs(4));
/// assert_eq!(options.connect_timeout(), Duration::from_secs(3));
/// let quick = options.with_request_timeout(Duration::from_secs(1));
/// assert_eq!((quick.connect_timeout(), quick.read_timeout()), (Duration::from_secs(1), Duration::from_secs(1)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    request_timeout: Duration,
    /// `None`: the smaller of 3 s and the request timeout.
    connect_timeout: Option<Duration>,
    /// `None` follows the request timeout.
    read_timeout: Option<Duration>,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    user_agent: String,
    extra_roots: CaBundle,
    crypto_provider: Option<Arc<CryptoProvider>>,
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// An extra CA certificate was refused by rustls.
    #[error("extra CA certificate #{index} is not a usable trust anchor: {reason}")]
    BadAnchor {
        /// Its position in the bundle, from 1.
        index: usize,
        /// What rustls said.
        reason: String,
    },
    /// rustls refused the protocol configuration.
    #[error("cannot configure TLS: {reason}")]
    Tls {
        /// What rustls said.
        reason: String,
    },
    /// No rustls crypto provider: posture-http was built without its `ring` feature, none
    /// was given with [`ClientOptions::with_crypto_provider`], and the process has no default.
    #[error(
        "no rustls crypto provider: pass one with ClientOptions::with_crypto_provider, install \
         a process default, or build posture-http with its `ring` feature"
    )]
    NoCryptoProvider,
    /// The `User-Agent` is not a valid header value.
    #[error("the User-Agent {value:?} is not a valid HTTP header value")]
    UserAgent {
        /// The value given.
        value: String,
    },
}

impl ClientOptions {
    /// Options with the given total per-request timeout. Until set, the connect timeout is
    /// the smaller of 3 s and the request timeout and the read timeout is the request
    /// timeout (both follow [`with_request_timeout`](Self::with_request_timeout)); idle
    /// connections are kept for 90 s, up to 32 per host.
    pub fn new(request_timeout: Duration) -> Self {
        Self {
            request_timeout,
            connect_timeout: None,
            read_timeout: None,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            user_agent: concat!("posture-http/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_roots: CaBundle::empty(),
            crypto_provider: None,
        }
    }

    /// Sets the time a whole request may take, from connecting to the end of the body.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the time allowed to connect: the TCP connection and the TLS handshake.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets the longest wait for the answer's head (connecting and sending the request
    /// included) and the longest pause between two reads of its body, as reqwest's read
    /// timeout did. The request timeout still bounds the whole exchange.
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Sets how long an idle pooled connection is kept.
    #[must_use]
    pub fn with_pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Sets how many idle connections per host are kept.
    #[must_use]
    pub fn with_pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Sets the `User-Agent` header.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Adds trust anchors for a private CA.
    #[must_use]
    pub fn with_extra_roots(mut self, roots: CaBundle) -> Self {
        self.extra_roots = roots;
        self
    }

    /// Uses `provider` for TLS instead of the default (*ring* with the `ring` feature, else
    /// the process's default provider).
    #[must_use]
    pub fn with_crypto_provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.crypto_provider = Some(provider);
        self
    }

    /// The crypto provider TLS will use: the one given, else *ring* (with the `ring`
    /// feature), else the process's default.
    pub fn crypto_provider(&self) -> Result<Arc<CryptoProvider>, ClientError> {
        if let Some(provider) = &self.crypto_provider {
            return Ok(provider.clone());
        }
        default_provider()
    }

    /// The total per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
            .unwrap_or_else(|| self.request_timeout.min(Duration::from_secs(3)))
    }

    /// The read timeout: the request timeout unless [`with_read_timeout`](Self::with_read_timeout)
    /// set one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use posture_http::ClientOptions;
    /// let options = ClientOptions::new(Duration::from_secs(4)).with_request_timeout(Duration::from_secs(30));
    /// assert_eq!(options.read_timeout(), Duration::from_secs(30));
    /// let options = options.with_read_timeout(Duration::from_secs(5));
    /// assert_eq!(options.with_request_timeout(Duration::from_secs(60)).read_timeout(), Duration::from_secs(5));
    /// ```
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout.unwrap_or(self.request_timeout)
    }

    /// The extra trust anchors.
    pub fn extra_roots(&self) -> &CaBundle {
        &self.extra_roots
    }

    /// How long an idle pooled connection is kept.
    pub fn pool_idle_timeout(&self) -> Duration {
        self.pool_idle_timeout
    }

    /// How many idle connections per host are kept.
    pub fn pool_max_idle_per_host(&self) -> usize {
        self.pool_max_idle_per_host
    }

    /// The `User-Agent` header.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Builds the client: hyper over rustls with [`crypto_provider`](Self::crypto_provider)
    /// passed explicitly (nothing is installed process-wide), TLS 1.2 and 1.3, the Mozilla roots plus the extra
    /// anchors, ALPN `h2` and `http/1.1`, no redirects (an API that redirects is
    /// misconfigured, and following would move the bearer token), and the timeouts and pool
    /// settings above. Does no I/O; call it inside a Tokio runtime's context or outside, but
    /// send requests from within one.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use posture_http::ClientOptions;
    /// let client = ClientOptions::new(Duration::from_secs(4)).build()?;
    /// # drop(client);
    /// # Ok::<(), posture_http::ClientError>(())
    /// ```
    pub fn build(&self) -> Result<HttpClient, ClientError> {
        HttpClient::new(self)
    }

    /// A provider's client: requests within `timeout`, `extra_roots` trusted besides the
    /// Mozilla roots, and the provider's `user_agent` ([`user_agent!`](crate::user_agent)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use posture_http::{CaBundle, ClientOptions};
    /// let ua = posture_http::user_agent!();
    /// let client = ClientOptions::for_provider(Duration::from_secs(4), &CaBundle::empty(), ua)?;
    /// # drop(client);
    /// # Ok::<(), posture_http::ClientError>(())
    /// ```
    pub fn for_provider(
        timeout: Duration,
        extra_roots: &CaBundle,
        user_agent: &str,
    ) -> Result<HttpClient, ClientError> {
        Self::new(timeout)
            .with_extra_roots(extra_roots.clone())
            .with_user_agent(user_agent)
            .build()
    }
}

/// The rustls client configuration [`ClientOptions::build`] uses by default: the *ring*
/// crypto provider (without the `ring` feature, the process's default provider), safe
/// default protocol versions, the `webpki-roots` anchors plus `extra`, and
/// ALPN `h2`, `http/1.1`.
///
/// ```
/// let config = posture_http::tls_config(&posture_http::CaBundle::empty())?;
/// assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
/// # Ok::<(), posture_http::ClientError>(())
/// ```
pub fn tls_config(extra: &CaBundle) -> Result<rustls::ClientConfig, ClientError> {
    tls_config_with(extra, default_provider()?)
}

/// *ring*, passed explicitly: nothing is installed process-wide.
#[cfg(feature = "ring")]
fn default_provider() -> Result<Arc<CryptoProvider>, ClientError> {
    Ok(Arc::new(rustls::crypto::ring::default_provider()))
}

/// Without the `ring` feature: the provider the program installed for the process.
#[cfg(not(feature = "ring"))]
fn default_provider() -> Result<Arc<CryptoProvider>, ClientError> {
    CryptoProvider::get_default()
        .cloned()
        .ok_or(ClientError::NoCryptoProvider)
}

/// [`tls_config`] with the given crypto provider.
pub(crate) fn tls_config_with(
    extra: &CaBundle,
    provider: Arc<CryptoProvider>,
) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for (index, cert) in extra.certificates().iter().enumerate() {
        roots
            .add(cert.clone())
            .map_err(|err| ClientError::BadAnchor {
                index: index + 1,
                reason: err.to_string(),
            })?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ClientError::Tls {
            reason: err.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Renders an error and its sources on one line: `outer: inner: innermost`.
///
/// ```
/// let io = std::io::Error::other("connection refused");
/// assert_eq!(posture_http::error_chain(&io), "connection refused");
/// ```
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some libraries repeat their source's text in their own; don't print it twice.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Options for the crate's tests: without the `ring` feature they pass *ring* themselves
/// (the rustls dev-dependency turns its module on), as a program without it would.
#[cfg(test)]
pub(crate) fn test_options(timeout: Duration) -> ClientOptions {
    let options = ClientOptions::new(timeout);
    if cfg!(feature = "ring") {
        options
    } else {
        options.with_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn reads_a_pem_bundle() {
        let pem = format!("{}\n{}", ca_pem(), ca_pem());
        let bundle = CaBundle::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(bundle.len(), 2);
        let config = tls_config_with(
            &bundle,
            test_options(Duration::ZERO).crypto_provider().unwrap(),
        )
        .unwrap();
        assert_eq!(config.alpn_protocols.len(), 2);
    }

    #[test]
    fn refuses_files_without_certificates() {
        let err =
            CaBundle::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .unwrap_err();
        assert!(
            err.to_string().contains("no valid PEM CERTIFICATE"),
            "{err}"
        );
        let err = CaBundle::from_pem_file("/nonexistent/ca.pem").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn builds_a_client_with_the_ring_provider() {
        let bundle = CaBundle::from_pem(ca_pem().as_bytes()).unwrap();
        let options = test_options(Duration::from_secs(2)).with_extra_roots(bundle);
        assert_eq!(options.connect_timeout(), Duration::from_secs(2));
        options.build().unwrap();
        assert!(format!("{:?}", options.extra_roots()).contains("certificates: 1"));
    }

    #[cfg(not(feature = "ring"))]
    #[test]
    fn without_ring_the_process_default_is_used_and_none_is_an_error() {
        let options = ClientOptions::new(Duration::from_secs(2));
        assert!(matches!(
            options.build(),
            Err(ClientError::NoCryptoProvider)
        ));
        let ring = Arc::new(rustls::crypto::ring::default_provider());
        assert!(
            options
                .clone()
                .with_crypto_provider(ring.clone())
                .build()
                .is_ok()
        );
        // Installed by the program, the default is what the client uses.
        let _ = ring.as_ref().clone().install_default();
        assert!(options.build().is_ok());
    }
}
