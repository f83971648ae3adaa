//! The skeleton every fake is built on: a loopback HTTP server and its helpers.
//!
//! Each fake ([`FakeJamf`](crate::jamf::FakeJamf), [`FakeIntune`](crate::intune::FakeIntune),
//! [`FakeKandji`](crate::kandji::FakeKandji), …) is a [`FakeServer`] on `127.0.0.1` over plain
//! HTTP with a handler that speaks the MDM's documented shapes, inside the shell of
//! [`mdm`](crate::mdm). This module holds what every fake needs: the accept loop, a parsed
//! [`FakeRequest`], response helpers, query and form decoding, and a [`FaultSlot`] for
//! injected failures. A test can build its own fake with them.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use posture_fakes::server::{BoxResponse, FakeRequest, FakeServer, StatusCode, json_response};
//! use posture_http::ClientOptions;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = FakeServer::start(Arc::new(|request: FakeRequest| {
//!     Box::pin(async move {
//!         json_response(StatusCode::OK, &serde_json::json!({"path": request.path}))
//!     }) as BoxResponse
//! }))
//! .await?;
//! let client = ClientOptions::new(Duration::from_secs(2)).build()?;
//! let body = client.get(posture_http::Url::parse(&format!("{}/hello", server.url()))?).send().await?.text().await?;
//! assert_eq!(body, r#"{"path":"/hello"}"#);
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{
    AUTHORIZATION, AsHeaderName, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER,
};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use hyper::{Method, StatusCode};

/// A response from a fake.
pub type FakeResponse = Response<Full<Bytes>>;

/// The future a fake's handler returns.
pub type BoxResponse = Pin<Box<dyn Future<Output = FakeResponse> + Send>>;

/// A fake's request handler.
pub type Handler = Arc<dyn Fn(FakeRequest) -> BoxResponse + Send + Sync>;

/// One request, read completely.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FakeRequest {
    /// The method.
    pub method: Method,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl FakeRequest {
    /// The token of an `Authorization: Bearer …` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header(AUTHORIZATION)?.strip_prefix("Bearer ")
    }

    /// The value of the header `name`, if the request has it and it is text (an example is
    /// at [`json_body`](Self::json_body)).
    pub fn header(&self, name: impl AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first query parameter called `key`.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        first_value(&self.query, key)
    }

    /// The body as JSON; `null` when it is not JSON.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use posture_fakes::server::{FakeServer, StatusCode, json_response};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let echo = FakeServer::start_with(Arc::new(()), |_, request| async move {
    ///     let answer = json!({"serial": request.json_body()["serial"], "key": request.header("x-api-key")});
    ///     json_response(StatusCode::OK, &answer)
    /// })
    /// .await?;
    /// let client = posture_http::ClientOptions::new(Duration::from_secs(2)).build()?;
    /// let answer: serde_json::Value = client
    ///     .post(posture_http::Url::parse(&echo.url())?)
    ///     .header("x-api-key", "k-1")
    ///     .json(&json!({"serial": "C02XL0GJJG5J"}))
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// assert_eq!(answer, json!({"serial": "C02XL0GJJG5J", "key": "k-1"}));
    /// # Ok(())
    /// # }
    /// ```
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body decoded as an `application/x-www-form-urlencoded` form.
    pub fn form(&self) -> Vec<(String, String)> {
        // From the bytes: a form's escapes decode to bytes, which only then must be UTF-8.
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    /// The path's segments, percent-decoded, without the leading slash.
    pub fn segments(&self) -> Vec<String> {
        self.path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect()
    }
}

/// A fake server on `127.0.0.1`, plain HTTP/1.1. Stops when dropped.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl FakeServer {
    /// Binds a free port on `127.0.0.1` and serves every request with `handler`.
    pub async fn start(handler: Handler) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(serve(listener, handler));
        Ok(Self { addr, accept })
    }

    /// Binds a free port on `127.0.0.1` and serves every request with `handle`, given the
    /// fake's shared `state`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use posture_fakes::server::{FakeServer, StatusCode, response};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let hits = Arc::new(AtomicU64::new(0));
    /// let server = FakeServer::start_with(hits.clone(), |hits, _request| async move {
    ///     hits.fetch_add(1, Ordering::SeqCst);
    ///     response(StatusCode::NO_CONTENT, "text/plain", "")
    /// })
    /// .await?;
    /// assert!(server.url().starts_with("http://127.0.0.1:"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_with<S, F, Fut>(state: Arc<S>, handle: F) -> std::io::Result<Self>
    where
        S: Send + Sync + 'static,
        F: Fn(Arc<S>, FakeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FakeResponse> + Send + 'static,
    {
        Self::start(Arc::new(move |request| {
            Box::pin(handle(state.clone(), request)) as BoxResponse
        }))
        .await
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(listener: TcpListener, handler: Handler) {
    // Owning the connections here means aborting this task stops them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let handler = handler.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = match body.collect().await {
                                Ok(collected) => collected.to_bytes(),
                                Err(_) => Bytes::new(),
                            };
                            let request = FakeRequest {
                                method: parts.method,
                                path: parts.uri.path().to_owned(),
                                query: parse_pairs(parts.uri.query().unwrap_or("")),
                                headers: parts.headers,
                                body,
                            };
                            Ok::<_, Infallible>(handler(request).await)
                        }
                    });
                    // A client that goes away mid-request is normal here (timeouts under test).
                    let _closed = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A response with a body and a content type.
pub fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> FakeResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A JSON response.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> FakeResponse {
    response(status, "application/json", value.to_string())
}

/// An HTML page, as a web server that is not the MDM would answer.
pub fn html_response(status: StatusCode, title: &str) -> FakeResponse {
    response(
        status,
        "text/html;charset=UTF-8",
        format!(
            "<html>\n<head><title>{title}</title></head>\n<body><p>{title}</p></body>\n</html>\n"
        ),
    )
}

/// Adds `Retry-After: <seconds>`.
pub fn with_retry_after(mut response: FakeResponse, seconds: u64) -> FakeResponse {
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// Never answers (for an hour, which outlives any test).
pub async fn hang() -> FakeResponse {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    response(StatusCode::GATEWAY_TIMEOUT, "text/plain", "")
}

/// A failure to inject: forever, for the next few requests only, or for a few requests
/// after some that succeed (a sync failing midway).
///
/// ```
/// use posture_fakes::server::FaultSlot;
/// let slot = FaultSlot::default();
/// slot.fail_next(503u16, 2);
/// assert_eq!((slot.take(), slot.take(), slot.take()), (Some(503), Some(503), None));
/// slot.set(Some(500));
/// assert_eq!((slot.take(), slot.take()), (Some(500), Some(500)));
/// slot.fail_after(1, 403, 1);
/// assert_eq!((slot.take(), slot.take(), slot.take()), (None, Some(403), None));
/// ```
#[derive(Debug)]
pub struct FaultSlot<F> {
    fault: Mutex<Option<Planned<F>>>,
}

/// A fault and when it strikes.
#[derive(Debug)]
struct Planned<F> {
    fault: F,
    /// Requests still to let through first.
    skip: usize,
    /// Requests still to fail; `None` for all.
    times: Option<usize>,
}

impl<F> Default for FaultSlot<F> {
    fn default() -> Self {
        Self {
            fault: Mutex::new(None),
        }
    }
}

impl<F: Clone> FaultSlot<F> {
    /// Injects `fault` into every request from now on, or stops with `None`.
    pub fn set(&self, fault: Option<F>) {
        *self.lock() = fault.map(|fault| Planned {
            fault,
            skip: 0,
            times: None,
        });
    }

    /// Injects `fault` into the next `times` requests only.
    pub fn fail_next(&self, fault: F, times: usize) {
        self.fail_after(0, fault, times);
    }

    /// Lets the next `skip` requests through, then injects `fault` into `times` requests.
    pub fn fail_after(&self, skip: usize, fault: F, times: usize) {
        *self.lock() = (times > 0).then_some(Planned {
            fault,
            skip,
            times: Some(times),
        });
    }

    /// The fault for this request, if any (counting it down).
    pub fn take(&self) -> Option<F> {
        let mut slot = self.lock();
        let planned = slot.as_mut()?;
        if planned.skip > 0 {
            planned.skip -= 1;
            return None;
        }
        let fault = planned.fault.clone();
        match &mut planned.times {
            Some(1) => *slot = None,
            Some(times) => *times -= 1,
            None => {}
        }
        Some(fault)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Planned<F>>> {
        // The slot is replaced whole, so a panicking test thread can't leave it torn.
        self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The items from the `first`, at most `size` of them: one page of an inventory list, empty
/// past its end.
///
/// ```
/// use posture_fakes::server::window;
/// let devices = ["a", "b", "c", "d", "e"];
/// assert_eq!(window(&devices, 2 * 2, 2), ["e"]);
/// assert!(window(&devices, 10, 2).is_empty());
/// ```
pub fn window<T>(items: &[T], first: usize, size: usize) -> &[T] {
    let start = first.min(items.len());
    let end = first.saturating_add(size).min(items.len());
    &items[start..end]
}

/// Seconds since the Unix epoch (0 for a clock set before it): the time of the fakes' rate
/// limit windows and of JWT claims.
///
/// ```
/// assert!(posture_fakes::server::unix_now() > 1_700_000_000);
/// ```
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Locks a fake's state, ignoring poisoning: the state is replaced field by field between
/// statements, so a panicking test thread can't leave it torn.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `call(0)` … `call(n - 1)` at once, each in its own task, and returns their outputs
/// (in the order they finish): a burst of concurrent lookups or readiness probes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut squares = posture_fakes::at_once(4, |i| async move { i * i }).await;
/// squares.sort_unstable();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// # }
/// ```
pub async fn at_once<F, Fut>(n: usize, call: F) -> Vec<Fut::Output>
where
    F: Fn(usize) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let mut tasks = JoinSet::new();
    for i in 0..n {
        tasks.spawn(call(i));
    }
    tasks.join_all().await
}

/// The value of the first of `pairs` called `key`.
pub(crate) fn first_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Decodes `a=b&c=d` as forms and queries encode it (`+` is a space); a malformed escape is
/// kept as it is, bytes that are not UTF-8 become U+FFFD, and empty pairs are skipped.
///
/// ```
/// use posture_fakes::server::parse_pairs;
/// assert_eq!(parse_pairs("a=b%2Bc+d&e"), [("a".into(), "b+c d".into()), ("e".into(), String::new())]);
/// assert_eq!(
///     parse_pairs("a=%zz%4&&b=%FF&c=x=y"),
///     [("a".into(), "%zz%4".into()), ("b".into(), "\u{FFFD}".into()), ("c".into(), "x=y".into())]
/// );
/// ```
pub fn parse_pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are, and bytes that are not
/// UTF-8 become U+FFFD.
///
/// ```
/// use posture_fakes::server::percent_decode;
/// assert_eq!(percent_decode("a%20b+%2B%zz%4"), "a b++%zz%4");
/// assert_eq!(percent_decode("%C3%BC%FF"), "\u{FC}\u{FFFD}");
/// ```
pub fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}
