//! The HTTP client every provider talks to its MDM with: hyper over rustls, built with an
//! explicit crypto provider (*ring* with the `ring` feature) so nothing is installed process-wide, and no reqwest, so
//! depending on posture-http never changes another crate's HTTP or TLS behaviour.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use crate::{ClientError, ClientOptions};

/// The body a caller reads without naming a limit ([`HttpResponse::text`],
/// [`HttpResponse::json`]).
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// A pooled HTTPS client for one provider, made by [`ClientOptions::build`].
///
/// Cloning is cheap and shares the pool. Requests never follow redirects (an API that
/// redirects is misconfigured, and following would take the credentials along), and the
/// options' timeouts bound every request.
///
/// ```
/// # use std::time::Duration;
/// use posture_http::{ClientOptions, Url};
/// let client = ClientOptions::new(Duration::from_secs(4)).build()?;
/// let request = client
///     .get(Url::parse("https://example.jamfcloud.com/api/v1/departments")?)
///     .query(&[("page", "0")]);
/// assert_eq!(request.url().as_str(), "https://example.jamfcloud.com/api/v1/departments?page=0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<TimedConnector<HttpsConnector<HttpConnector>>, Full<Bytes>>,
    user_agent: HeaderValue,
    request_timeout: Duration,
    read_timeout: Duration,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("user_agent", &self.user_agent)
            .field("request_timeout", &self.request_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    pub(crate) fn new(options: &ClientOptions) -> Result<Self, ClientError> {
        let mut tls =
            crate::client::tls_config_with(options.extra_roots(), options.crypto_provider()?)?;
        // The connector below offers h2 and http/1.1 itself, and refuses a preset list.
        tls.alpn_protocols.clear();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        // As reqwest did: a pooled connection a middlebox dropped is noticed.
        tcp.set_keepalive(Some(Duration::from_secs(15)));
        let connector = TimedConnector {
            inner: hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(tcp),
            timeout: options.connect_timeout(),
        };
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(options.pool_idle_timeout())
            .pool_max_idle_per_host(options.pool_max_idle_per_host())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let user_agent =
            HeaderValue::from_str(options.user_agent()).map_err(|_| ClientError::UserAgent {
                value: options.user_agent().to_owned(),
            })?;
        Ok(Self {
            inner,
            user_agent,
            request_timeout: options.request_timeout(),
            read_timeout: options.read_timeout(),
        })
    }

    /// A `GET` request to `url`.
    pub fn get(&self, url: Url) -> HttpRequest {
        self.request(Method::GET, url)
    }

    /// A `POST` request to `url`.
    pub fn post(&self, url: Url) -> HttpRequest {
        self.request(Method::POST, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: Url) -> HttpRequest {
        HttpRequest {
            client: self.clone(),
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            problem: None,
        }
    }
}

/// `by` from now; a timeout too long to represent means a year (no panic).
fn later(by: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(by)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

/// Waits for `step` (the answer's head, or the next piece of its body) for at most the read
/// timeout, and not past the request's deadline; the error names whichever ran out.
async fn read_step<T>(
    step: impl Future<Output = T>,
    read_timeout: Duration,
    deadline: Instant,
    request_timeout: Duration,
) -> Result<T, TransportError> {
    let pause_limit = later(read_timeout);
    tokio::time::timeout_at(pause_limit.min(deadline), step)
        .await
        .map_err(|_| TransportError::TimedOut {
            after: if pause_limit < deadline {
                read_timeout
            } else {
                request_timeout
            },
        })
}

/// A connector whose connect timeout covers the TCP connection and the TLS handshake
/// together, as the client's connect timeout always has: a server that accepts and then
/// stalls the handshake is "cannot connect", not a request that ran out of time.
#[derive(Clone, Debug)]
struct TimedConnector<C> {
    inner: C,
    timeout: Duration,
}

/// The connection (TCP and TLS) took longer than the connect timeout.
#[derive(Debug, thiserror::Error)]
#[error("no connection within {} s (TCP and TLS)", .0.as_secs_f32())]
struct ConnectTimedOut(Duration);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<C> tower_service::Service<Uri> for TimedConnector<C>
where
    C: tower_service::Service<Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(ConnectTimedOut(timeout).into()),
            }
        })
    }
}

/// A request being put together; [`send`](Self::send) sends it.
///
/// A header or body that cannot be encoded is remembered and reported by `send` as a
/// [`TransportError::Build`], so the calls chain like a builder. `Debug` shows the body's
/// length only (a token request's form holds the client secret), and sensitive headers as
/// `Sensitive`.
#[must_use = "a request does nothing until it is sent"]
pub struct HttpRequest {
    client: HttpClient,
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Bytes,
    problem: Option<String>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    /// The URL as it will be sent, query included.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The headers set so far (the `User-Agent` is added when sending).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Appends `pairs`, URL-encoded, to the query string.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use posture_http::{ClientOptions, Url};
    /// # let client = ClientOptions::new(Duration::from_secs(4)).build()?;
    /// let request = client
    ///     .get(Url::parse("https://mdm.example.com/devices?limit=1")?)
    ///     .query(&[("serial_number", "C02 X")]);
    /// assert_eq!(request.url().query(), Some("limit=1&serial_number=C02+X"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query<T: Serialize + ?Sized>(mut self, pairs: &T) -> Self {
        match serde_urlencoded::to_string(pairs) {
            Ok(encoded) if encoded.is_empty() => {}
            Ok(encoded) => {
                let query = match self.url.query() {
                    Some(existing) if !existing.is_empty() => format!("{existing}&{encoded}"),
                    _ => encoded,
                };
                self.url.set_query(Some(&query));
            }
            Err(err) => self.remember(format!("cannot encode the query: {err}")),
        }
        self
    }

    /// Sets a header, replacing any earlier value of the same name.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.insert(name, value);
            }
            _ => self.remember("a header name or value is not valid HTTP".to_owned()),
        }
        self
    }

    /// Sets `Authorization: Bearer <token>`, marked sensitive so it is never logged.
    pub fn bearer_auth(mut self, token: &str) -> Self {
        match HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, value);
            }
            Err(_) => self.remember("the bearer token is not a valid header value".to_owned()),
        }
        self
    }

    /// Sends `body` as it is; set its `Content-Type` with [`header`](Self::header).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends `value` as a JSON body (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Bytes::from(body);
                self.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Err(err) => self.remember(format!("cannot encode the JSON body: {err}")),
        }
        self
    }

    /// Sends `pairs` as a form body (`Content-Type: application/x-www-form-urlencoded`).
    pub fn form<T: Serialize + ?Sized>(mut self, pairs: &T) -> Self {
        match serde_urlencoded::to_string(pairs) {
            Ok(body) => {
                self.body = Bytes::from(body);
                self.headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
            }
            Err(err) => self.remember(format!("cannot encode the form: {err}")),
        }
        self
    }

    fn remember(&mut self, problem: String) {
        self.problem.get_or_insert(problem);
    }

    /// Sends the request and waits for the status and headers; the body is read from the
    /// [`HttpResponse`]. The request timeout counts from here to the end of the body; the
    /// read timeout bounds each attempt's wait for the head (connecting and sending
    /// included) and each pause in the body.
    pub async fn send(self) -> Result<HttpResponse, TransportError> {
        let Self {
            client,
            method,
            url,
            mut headers,
            body,
            problem,
        } = self;
        if let Some(reason) = problem {
            return Err(TransportError::Build { reason });
        }
        headers
            .entry(USER_AGENT)
            .or_insert_with(|| client.user_agent.clone());
        let uri: Uri =
            url.as_str()
                .parse()
                .map_err(|err: http::uri::InvalidUri| TransportError::Build {
                    reason: err.to_string(),
                })?;
        let deadline = later(client.request_timeout);
        let mut refusals = 0;
        let response = loop {
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            let sent = read_step(
                client.inner.request(request),
                client.read_timeout,
                deadline,
                client.request_timeout,
            )
            .await?;
            match sent {
                Ok(response) => break response,
                Err(err) if refusals < MAX_REFUSALS && refused_unprocessed(&err) => {
                    refusals += 1;
                    tracing::debug!(%uri, %err, refusals, "the server refused the request unprocessed; sending it again");
                }
                Err(err) if err.is_connect() => return Err(TransportError::Connect(Box::new(err))),
                Err(err) => return Err(TransportError::Exchange(Box::new(err))),
            }
        };
        let (head, body) = response.into_parts();
        Ok(HttpResponse {
            status: head.status,
            headers: head.headers,
            body,
            deadline,
            request_timeout: client.request_timeout,
            read_timeout: client.read_timeout,
        })
    }
}

/// How many times one request is sent again after an HTTP/2 server refused it unprocessed.
const MAX_REFUSALS: u32 = 2;

/// Whether an HTTP/2 server said it did not process the request, so that sending it again
/// (on a new stream, or a new connection) is safe whatever its method: a graceful `GOAWAY`
/// (`NO_ERROR`) that left the stream out, or `REFUSED_STREAM` (RFC 9113, section 8.7). A
/// server restarting or rotating connections says this, and the request deserves an answer
/// rather than a transient error.
fn refused_unprocessed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.is_remote()
                && ((h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR))
                    || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)));
        }
        cause = err.source();
    }
    false
}

/// An answer whose body has not been read yet.
#[derive(Debug)]
pub struct HttpResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
    deadline: Instant,
    request_timeout: Duration,
    read_timeout: Duration,
}

/// Reading a body failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body was longer than the limit.
    #[error("the body is longer than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection failed or timed out before the end of the body.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The body is not the JSON asked for.
    #[error("the body is not the expected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl HttpResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Reads the whole body, refusing more than `limit` bytes, within the request timeout
    /// and with no pause between reads longer than the read timeout.
    pub async fn bytes_within(mut self, limit: usize) -> Result<Bytes, BodyError> {
        let announced = hyper::body::Body::size_hint(&self.body).exact();
        if announced.is_some_and(|length| length > limit as u64) {
            return Err(BodyError::TooLarge { limit });
        }
        let mut collected = BytesMut::new();
        loop {
            let frame = read_step(
                self.body.frame(),
                self.read_timeout,
                self.deadline,
                self.request_timeout,
            )
            .await?;
            let Some(frame) = frame else {
                return Ok(collected.freeze());
            };
            let frame = frame.map_err(|err| TransportError::Body(Box::new(err)))?;
            if let Ok(data) = frame.into_data() {
                if collected.len() + data.len() > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                collected.extend_from_slice(&data);
            }
        }
    }

    /// The body as text (invalid UTF-8 replaced), at most [`DEFAULT_BODY_LIMIT`] bytes.
    pub async fn text(self) -> Result<String, BodyError> {
        let body = self.bytes_within(DEFAULT_BODY_LIMIT).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// The body parsed as JSON, at most [`DEFAULT_BODY_LIMIT`] bytes.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, BodyError> {
        let body = self.bytes_within(DEFAULT_BODY_LIMIT).await?;
        Ok(serde_json::from_slice(&body)?)
    }
}

/// A request got no complete answer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::time::Duration;
/// let client = posture_http::ClientOptions::new(Duration::from_secs(1)).build()?;
/// let err = client.get(posture_http::Url::parse("http://[::1]:1/")?).send().await.unwrap_err();
/// assert!(err.is_connect());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The request could not be built (a header or body that cannot be encoded).
    #[error("the request could not be built: {reason}")]
    Build {
        /// What was wrong.
        reason: String,
    },
    /// No connection: DNS, TCP or the TLS handshake failed.
    #[error("connection failed")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The time allowed ran out.
    #[error("no answer within {} s", after.as_secs_f32())]
    TimedOut {
        /// The timeout that ran out.
        after: Duration,
    },
    /// The connection failed while the request was sent or the answer's head was read.
    #[error("the exchange failed")]
    Exchange(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The connection failed while the body was read.
    #[error("the answer was cut short")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl TransportError {
    /// Whether the time allowed ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
    }

    /// Whether no connection could be made.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }

    /// Whether the request could not even be built (a permanent failure).
    pub fn is_builder(&self) -> bool {
        matches!(self, Self::Build { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> HttpClient {
        crate::client::test_options(Duration::from_secs(2))
            .build()
            .unwrap()
    }

    #[test]
    fn queries_append_to_the_existing_query() {
        let url = Url::parse("https://h.example/p").unwrap();
        let request = client()
            .get(url.clone())
            .query(&[("a", "1")])
            .query(&[("b", "x y")]);
        assert_eq!(request.url().as_str(), "https://h.example/p?a=1&b=x+y");
        let empty: [(&str, &str); 0] = [];
        let request = client().get(url).query(&empty);
        assert_eq!(request.url().query(), None);
    }

    #[tokio::test]
    async fn bad_headers_are_reported_when_sending() {
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        let err = client()
            .get(url.clone())
            .header("x-ok", "fine")
            .header("x-bad", "a\nb")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_builder(), "{err}");
        let request = client().get(url).bearer_auth("t0k3n");
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
    }

    #[test]
    fn bodies_set_their_content_type() {
        let url = Url::parse("https://h.example/token").unwrap();
        let request = client()
            .post(url.clone())
            .form(&[("grant_type", "client_credentials")]);
        assert_eq!(
            request.headers()[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(&request.body[..], b"grant_type=client_credentials");
        let secret = client()
            .post(Url::parse("https://h.example/token").unwrap())
            .form(&[("client_secret", "s3cr3t")])
            .bearer_auth("t0k3n");
        let shown = format!("{secret:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
            "{shown}"
        );
        let request = client().post(url).json(&serde_json::json!({"a": 1}));
        assert_eq!(request.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(&request.body[..], br#"{"a":1}"#);
    }
}
