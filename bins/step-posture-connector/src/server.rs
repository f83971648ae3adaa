//! The HTTPS listener: admission (the `admission` module: a cap on concurrent connections,
//! a share per client address, idle connections yielding), TLS handshakes under a deadline,
//! and graceful shutdown. Each connection is served by the `connection` module (HTTP/1.1 or
//! HTTP/2, header limits, first-request, header-read and idle timeouts).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::admission::{self, Admission};
use crate::config::Limits;
use crate::connection::{self, Protocols};
use crate::error::{Cause, ServerError};
use crate::handler::{self, App};
use crate::metrics::HandshakeFailure;
use crate::tls::TlsState;

/// Serves HTTPS on `listener` until `shutdown` completes, then lets requests in flight finish
/// (for at most `drain`).
///
/// The TLS configuration is read from `tls` for every new connection, so swapping it
/// (certificate rotation) affects new connections only.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ArcSwap<TlsState>>,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let protocols = Arc::new(Protocols::new(limits));
    let admission = Admission::new(limits.max_connections, limits.max_connections_per_address);
    // Every connection holds a receiver: `true` asks it to finish, and once all receivers
    // are gone every connection has closed.
    let (stop, stopping) = watch::channel(false);
    // The first request is due HEADER_READ_TIMEOUT after the accept, so a handshake may not
    // take longer than that either.
    let handshake_timeout = limits.handshake_timeout.min(limits.header_read_timeout);
    let shutdown = std::pin::pin!(shutdown);
    admission::accept_loop(
        &listener,
        &admission,
        shutdown,
        "webhook",
        move |tcp, peer, slot| {
            let _ = tcp.set_nodelay(true);
            let acceptor = TlsAcceptor::from(tls.load().config.clone());
            let app = app.clone();
            let protocols = protocols.clone();
            let stopping = stopping.clone();
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            app.metrics()
                                .record_handshake_failure(HandshakeFailure::Error);
                            tracing::debug!(%peer, error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            app.metrics()
                                .record_handshake_failure(HandshakeFailure::Timeout);
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                let handler = move |request: http::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        match handler::handle(app, request).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        }
                    }
                };
                connection::serve(stream, http2, handler, protocols, stopping, peer, slot).await;
            });
        },
    )
    .await;
    drop(listener);
    stop.send_replace(true);
    tokio::select! {
        () = stop.closed() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(drain) => tracing::warn!("shutdown: connections still open after {} s, closing", drain.as_secs()),
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Binds the listening socket; a failure is a [`ServerError::Network`] that names the
/// address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| ServerError::Network(Cause::msg(format!("cannot listen on {addr}: {err}"))))
}
