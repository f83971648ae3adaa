//! The plain-HTTP listener for `/metrics`, `/livez` and `/readyz` (`METRICS_ADDR`), with
//! the webhook port's admission rules and connection handling.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Metrics;
use crate::admission::{self, Admission};
use crate::config::Limits;
use crate::connection::{self, Protocols};
use crate::handler::{self, App};

/// Connections the metrics listener serves at once; Prometheus and the probes need a few.
pub(crate) const MAX_METRICS_CONNECTIONS: usize = 32;

/// Connections one client address may hold on the metrics listener: a quarter, as
/// `MAX_CONNECTIONS_PER_ADDRESS` is by default on the webhook port.
pub(crate) const MAX_METRICS_CONNECTIONS_PER_ADDRESS: usize = MAX_METRICS_CONNECTIONS / 4;

/// The OpenMetrics text content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics`, and `/livez` and `/readyz` as the webhook port does, over plain
/// HTTP/1.1 until `shutdown` completes. Nothing else: the webhook is never served here.
///
/// The health endpoints are here too so that probes work when the webhook port requires
/// a client certificate (`ENABLE_MTLS=1`), which kubelets and Docker don't have. So this
/// listener has the webhook port's admission rules and timeouts from `limits`, with
/// [`MAX_METRICS_CONNECTIONS`] connections of which [`MAX_METRICS_CONNECTIONS_PER_ADDRESS`]
/// per client address: a flood of idle sockets cannot fail the probes.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let protocols = Arc::new(Protocols::new(limits));
    let admission = Admission::new(MAX_METRICS_CONNECTIONS, MAX_METRICS_CONNECTIONS_PER_ADDRESS);
    // Dropped at the end: every connection then closes gracefully.
    let (_stop, stopping) = watch::channel(false);
    let shutdown = std::pin::pin!(shutdown);
    admission::accept_loop(
        &listener,
        &admission,
        shutdown,
        "metrics",
        move |tcp, peer, slot| {
            let metrics = metrics.clone();
            let app = app.clone();
            let handler = move |request: Request<Incoming>| {
                let metrics = metrics.clone();
                let app = app.clone();
                async move { route(&metrics, app, request).await }
            };
            tokio::spawn(connection::serve(
                tcp,
                false,
                handler,
                protocols.clone(),
                stopping.clone(),
                peer,
                slot,
            ));
        },
    )
    .await;
}

async fn route(
    metrics: &Metrics,
    app: Arc<App>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    match (request.uri().path(), request.method()) {
        ("/metrics", &Method::GET) => match metrics.encode() {
            Ok(text) => {
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
                response
            }
            Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
        },
        ("/livez" | "/readyz", _) => match handler::handle(app, request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        ("/metrics", _) => status(StatusCode::METHOD_NOT_ALLOWED),
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
