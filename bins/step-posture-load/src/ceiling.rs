//! The ceiling server: the same TLS configuration (`tls::build_server_config`, so the same
//! certificate, protocol versions, cipher suites and ALPN) and the same hyper connection
//! builder as the real server, answering every POST with a fixed small JSON body. It does
//! what any HTTPS webhook server must do and nothing else, so it is the limit of the stack:
//! the real server's figures are reported as ratios to it.
//!
//! It reads the real server's environment variables (only `TLS_*`, `BIND_ADDRESS` and
//! `PORT` matter; the rest must be valid, as for the server), so it runs on exactly the
//! settings of the server it is compared with.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use step_posture_connector::config::Config;
use step_posture_connector::tls::build_server_config;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the ceiling answers to every POST.
const ANSWER: &[u8] = b"{\"allow\":true}";

/// A bound ceiling server.
pub(crate) struct Ceiling {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    http: Arc<auto::Builder<TokioExecutor>>,
}

impl Ceiling {
    /// Builds the TLS configuration from the server's variables and binds the port.
    pub(crate) async fn bind(vars: &HashMap<String, String>) -> anyhow::Result<Self> {
        let config = Config::from_vars(vars)?;
        let tls = build_server_config(&config.tls).context("TLS configuration")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.limits.header_read_timeout);
        http.http2().timer(TokioTimer::new());
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(tls.config),
            http: Arc::new(http),
        })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped or the process killed.
    pub(crate) async fn run(self) {
        loop {
            let Ok((tcp, _)) = self.listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = self.acceptor.clone();
            let http = self.http.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = http
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    }
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match *request.method() {
        Method::POST | Method::GET | Method::HEAD => StatusCode::OK,
        _ => StatusCode::METHOD_NOT_ALLOWED,
    };
    // Read the whole body, as any webhook must before answering.
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(ANSWER)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
