//! One client connection after its TLS handshake: HTTP/1.1 or HTTP/2 (by ALPN) with header
//! limits, a header-read timeout, a keep-alive idle timeout, and graceful shutdown.
//!
//! hyper's own HTTP/1 header-read timer also runs while a kept-alive connection waits for
//! its next request, so it would close idle connections after `HEADER_READ_TIMEOUT` (10 s),
//! well before step-ca's client gives up on them (90 s): step-ca could then send a request on
//! a connection we had just closed. So hyper's timer is off, and a small watchdog here tells
//! the two cases apart:
//!
//! * **header read**: the first byte of an HTTP/1.1 request has arrived, and the request has
//!   not reached the handler within `HEADER_READ_TIMEOUT`: the connection is dropped;
//! * **idle**: no request is in flight and no byte of a new one has arrived for
//!   `IDLE_TIMEOUT`: the connection is shut down gracefully.
//!
//! While a request is in flight, neither runs: the handler's `TIMEOUT` bounds it, body
//! included.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::config::Limits;
use crate::handler::{self, App};

/// HTTP/2 streams per connection.
const MAX_CONCURRENT_STREAMS: u32 = 64;

/// How long a connection shut down for idleness may take to close before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The HTTP settings shared by every connection.
#[derive(Debug)]
pub(crate) struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    limits: Limits,
}

impl Protocols {
    pub(crate) fn new(limits: Limits) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            // Off: the watchdog below times header reads (see the module docs).
            .header_read_timeout(None)
            .max_headers(limits.max_headers)
            .max_header_size(limits.max_header_bytes)
            // hyper's read buffer; a header block still incomplete at this size is refused too.
            .max_buf_size(limits.max_header_bytes.max(8192));
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        Self {
            http1,
            http2,
            limits,
        }
    }
}

/// Why the watchdog ended a connection.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Expiry {
    HeaderRead,
    Idle,
}

/// What the watchdog knows about a connection. Times are milliseconds since `epoch`.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// Whether a byte read while no request is in flight starts the header-read timer
    /// (HTTP/1.1 only: HTTP/2 exchanges control frames between requests).
    times_headers: bool,
    in_flight: AtomicUsize,
    /// When the connection last became quiet: opened, or its last request answered.
    quiet_since: AtomicU64,
    /// When the first byte of a request not yet handed to the handler arrived; `NONE` if none.
    head_started: AtomicU64,
    changed: Notify,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn new(times_headers: bool) -> Self {
        Self {
            epoch: Instant::now(),
            times_headers,
            in_flight: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn bytes_read(&self) {
        if self.times_headers
            && self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started
                .compare_exchange(NONE, self.now(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NONE, Ordering::Release);
        self.changed.notify_one();
    }

    fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.quiet_since.store(self.now(), Ordering::Release);
        }
        self.changed.notify_one();
    }

    /// Resolves when the connection has been idle, or reading one request head, for too long.
    async fn expired(&self, limits: &Limits) -> Expiry {
        let header_ms = duration_ms(limits.header_read_timeout);
        let idle_ms = duration_ms(limits.idle_timeout);
        loop {
            let deadline = if self.in_flight.load(Ordering::Acquire) > 0 {
                None
            } else {
                match self.head_started.load(Ordering::Acquire) {
                    NONE => Some((
                        self.quiet_since
                            .load(Ordering::Acquire)
                            .saturating_add(idle_ms),
                        Expiry::Idle,
                    )),
                    started => Some((started.saturating_add(header_ms), Expiry::HeaderRead)),
                }
            };
            match deadline {
                Some((at, expiry)) if at <= self.now() => return expiry,
                Some((at, _)) => {
                    let at = self.epoch + Duration::from_millis(at);
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}

/// The client stream, reporting reads to the watchdog.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Marks a request finished when dropped, so a request cancelled mid-way (client gone)
/// still counts as finished.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Serves one connection until it ends, its watchdog expires, or `shutdown` turns true
/// (then it finishes the requests in flight).
pub(crate) async fn serve<S>(
    stream: S,
    http2: bool,
    app: Arc<App>,
    protocols: Arc<Protocols>,
    shutdown: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new(!http2));
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let max_headers = protocols.limits.max_headers;
    let service_activity = activity.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        // The handler throttles and summarises refusals per client address.
        request
            .extensions_mut()
            .insert(handler::ClientAddr::new(peer));
        let app = app.clone();
        service_activity.request_started();
        let guard = InFlight(service_activity.clone());
        async move {
            let _guard = guard;
            // HTTP/1.1 counts headers in hyper; HTTP/2 only bounds their total size.
            if request.headers().len() > max_headers {
                return Ok(too_many_headers());
            }
            handler::handle(app, request).await
        }
    });
    if http2 {
        let connection = Box::pin(protocols.http2.serve_connection(io, service));
        drive(
            connection,
            |c| c.graceful_shutdown(),
            &activity,
            &protocols.limits,
            shutdown,
            peer,
        )
        .await;
    } else {
        let connection = Box::pin(protocols.http1.serve_connection(io, service));
        drive(
            connection,
            |c| c.graceful_shutdown(),
            &activity,
            &protocols.limits,
            shutdown,
            peer,
        )
        .await;
    }
}

/// Runs `connection` under the watchdog and the server's shutdown signal.
async fn drive<C>(
    mut connection: Pin<Box<C>>,
    graceful_shutdown: impl Fn(Pin<&mut C>),
    activity: &Activity,
    limits: &Limits,
    mut shutdown: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) where
    C: Future<Output = Result<(), hyper::Error>>,
{
    // After a graceful shutdown starts: how long the connection may take to close. For the
    // server's shutdown, its drain period bounds this instead.
    let mut closing: Option<Pin<Box<tokio::time::Sleep>>> = None;
    if *shutdown.borrow() {
        graceful_shutdown(connection.as_mut());
        closing = Some(Box::pin(tokio::time::sleep(FOREVER)));
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            expiry = activity.expired(limits), if closing.is_none() => match expiry {
                Expiry::HeaderRead => {
                    tracing::debug!(%peer, "request headers not received within HEADER_READ_TIMEOUT, closing");
                    return;
                }
                Expiry::Idle => {
                    tracing::debug!(%peer, "connection idle for IDLE_TIMEOUT, closing");
                    graceful_shutdown(connection.as_mut());
                    closing = Some(Box::pin(tokio::time::sleep(CLOSE_GRACE)));
                }
            },
            changed = shutdown.changed(), if closing.is_none() => {
                if changed.is_err() || *shutdown.borrow() {
                    graceful_shutdown(connection.as_mut());
                    closing = Some(Box::pin(tokio::time::sleep(FOREVER)));
                }
            }
            () = async {
                if let Some(sleep) = closing.as_mut() {
                    sleep.as_mut().await;
                }
            }, if closing.is_some() => return,
        }
    }
}

/// A sleep that outlasts any drain period.
const FOREVER: Duration = Duration::from_secs(365 * 86_400);

fn too_many_headers() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"allow\":false}")));
    *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
