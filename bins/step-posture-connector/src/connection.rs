//! One admitted client connection: HTTP/1.1 or HTTP/2 (by ALPN on the webhook port; plain
//! HTTP/1.1 on the metrics listener) with header limits, a first-request deadline, a
//! header-read timeout, a keep-alive idle timeout, and graceful shutdown.
//!
//! hyper's own HTTP/1 header-read timer also runs while a kept-alive connection waits for
//! its next request, so it would close idle connections after `HEADER_READ_TIMEOUT` (10 s),
//! well before step-ca's client gives up on them (90 s): step-ca could then send a request on
//! a connection we had just closed. So hyper's timer is off, and a small watchdog here
//! ([`crate::activity`]) tells the cases apart:
//!
//! * **first request**: no request has reached the handler within `HEADER_READ_TIMEOUT` of
//!   the accept (TLS handshake included), over HTTP/1.1 and HTTP/2 alike: the connection is
//!   dropped. A connection that says nothing holds its slot no longer than that;
//! * **header read**: the first byte of a later HTTP/1.1 request has arrived, and the request
//!   has not reached the handler within `HEADER_READ_TIMEOUT`: the connection is dropped;
//! * **idle**: no request is in flight and no byte of a new one has arrived for
//!   `IDLE_TIMEOUT`: the connection is shut down gracefully;
//! * **yield**: the listener is full and this is the connection idle longest
//!   ([`crate::admission`]): it is shut down gracefully.
//!
//! While a request is in flight, none runs: the handler's `TIMEOUT` bounds it, body
//! included. A connection shut down gracefully half-closes and then reads what the client
//! still sends, briefly ([`crate::linger`]), so that the last answer is not lost to a reset.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::activity::{Activity, Expiry};
use crate::admission::Slot;
use crate::config::Limits;
use crate::linger::{LINGER_TIME, Lingering};

/// HTTP/2 streams per connection.
const MAX_CONCURRENT_STREAMS: u32 = 64;

/// How long a connection shut down for idleness (or to yield its slot) may take to close
/// before it is dropped, once no request is in flight.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Most bytes a closing connection reads and discards: a few bodies' worth, and at least
/// 1 MiB, so that a client sending a body over the cap still reads its 413.
fn linger_bytes(limits: &Limits) -> usize {
    limits.max_body_bytes.saturating_mul(4).max(1 << 20)
}

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
            // Off: the watchdog times header reads (see the module docs).
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

/// Marks a request finished when dropped, so a request cancelled mid-way (client gone)
/// still counts as finished.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Serves one admitted connection until it ends, its watchdog expires, or `shutdown` turns
/// true (then it finishes the requests in flight). `handler` answers each request; the
/// connection gives up `slot` when it ends.
pub(crate) async fn serve<S, H, F>(
    stream: S,
    http2: bool,
    handler: H,
    protocols: Arc<Protocols>,
    shutdown: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
    slot: Slot,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let activity = slot.activity().clone();
    if http2 {
        activity.set_http2();
    }
    // Reads are reported to the watchdog; closing lingers (see the module docs).
    let io = TokioIo::new(Lingering::new(
        stream,
        activity.clone(),
        linger_bytes(&protocols.limits),
        LINGER_TIME,
    ));
    let max_headers = protocols.limits.max_headers;
    let service_activity = activity.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        // The handler throttles and summarises refusals per client address.
        request
            .extensions_mut()
            .insert(crate::handler::ClientAddr::new(peer));
        service_activity.request_started();
        let guard = InFlight(service_activity.clone());
        // HTTP/1.1 counts headers in hyper; HTTP/2 only bounds their total size.
        let answer = (request.headers().len() <= max_headers).then(|| handler(request));
        async move {
            let _guard = guard;
            Ok::<_, std::convert::Infallible>(match answer {
                Some(answer) => answer.await,
                None => too_many_headers(),
            })
        }
    });
    let watch = Watch {
        activity: &activity,
        limits: &protocols.limits,
        shutdown,
        peer,
    };
    if http2 {
        let connection = protocols.http2.serve_connection(io, service);
        watch
            .drive(Box::pin(connection), |c| c.graceful_shutdown())
            .await;
    } else {
        let connection = protocols.http1.serve_connection(io, service);
        watch
            .drive(Box::pin(connection), |c| c.graceful_shutdown())
            .await;
    }
    drop(slot);
}

/// What a connection of either protocol is driven under: its watchdog, the listener's limits
/// and the server's shutdown signal.
struct Watch<'a> {
    activity: &'a Activity,
    limits: &'a Limits,
    shutdown: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
}

impl Watch<'_> {
    /// Runs `connection` until it ends, its watchdog expires, or the server shuts down;
    /// `graceful_shutdown` is the protocol's own.
    async fn drive<C>(self, mut connection: Pin<Box<C>>, graceful_shutdown: impl Fn(Pin<&mut C>))
    where
        C: Future<Output = Result<(), hyper::Error>>,
    {
        let Self {
            activity,
            limits,
            mut shutdown,
            peer,
        } = self;
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
                expiry = activity.expired(limits.header_read_timeout, limits.idle_timeout), if closing.is_none() => match expiry {
                    Expiry::FirstRequest => {
                        tracing::debug!(%peer, "no request within HEADER_READ_TIMEOUT of the accept, closing");
                        return;
                    }
                    Expiry::HeaderRead => {
                        tracing::debug!(%peer, "request headers not received within HEADER_READ_TIMEOUT, closing");
                        return;
                    }
                    Expiry::Idle | Expiry::Yield => {
                        if expiry == Expiry::Idle {
                            tracing::debug!(%peer, "connection idle for IDLE_TIMEOUT, closing");
                        } else {
                            tracing::debug!(%peer, "connection idle while the listener is full, closing to admit another");
                        }
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
                }, if closing.is_some() => {
                    // A request that arrived just as the connection was chosen to close is
                    // answered first (hyper closes right after it); TIMEOUT bounds it.
                    if activity.in_flight() == 0 {
                        return;
                    }
                    closing = Some(Box::pin(tokio::time::sleep(CLOSE_GRACE)));
                }
            }
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
