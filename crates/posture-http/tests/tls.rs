//! The client over real TLS: rustls with ring, a private CA from a PEM bundle, and a refusal
//! without it.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use posture_http::{
    CaBundle, ClientOptions, HttpClient, HttpResponse, TransportError, Url, read_body,
    transport_error,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
    .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// Serves over TLS, offering h2 and http/1.1: `/ping` answers `ok <version>`, `/big` a
/// body of 4 KiB, `/moved` a redirect, `/stall` headers and then nothing, `/silent` nothing.
async fn serve(server: Arc<rustls::ServerConfig>) -> String {
    let mut server = (*server).clone();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/ping", listener.local_addr().unwrap());
    let acceptor = TlsAcceptor::from(Arc::new(server));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(answer);
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    url
}

type Body = StreamBody<ReceiverStream<Result<Frame<Bytes>, Infallible>>>;

async fn answer(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let body = StreamBody::new(ReceiverStream::new(receiver));
    let response = match request.uri().path() {
        "/ping" => {
            let text = format!("ok {:?}", request.version());
            let _ = sender.send(Ok(Frame::data(Bytes::from(text)))).await;
            Response::new(body)
        }
        "/big" => {
            let _ = sender
                .send(Ok(Frame::data(Bytes::from(vec![b'x'; 4096]))))
                .await;
            Response::new(body)
        }
        "/moved" => Response::builder()
            .status(302)
            .header("location", "https://elsewhere.example/ping")
            .body(body)
            .unwrap(),
        "/stall" => {
            let _ = sender
                .send(Ok(Frame::data(Bytes::from_static(b"par"))))
                .await;
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(sender);
            });
            Response::new(body)
        }
        _ => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Response::new(body)
        }
    };
    Ok(response)
}

/// Client options: without posture-http's `ring` feature the test passes *ring* itself.
fn options(timeout: Duration) -> ClientOptions {
    let options = ClientOptions::new(timeout);
    if cfg!(feature = "ring") {
        options
    } else {
        options.with_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
    }
}

/// A server whose CA the client trusts, and that client with `timeout`.
async fn private_server(timeout: Duration) -> (String, HttpClient) {
    private_server_with(options(timeout)).await
}

/// A server whose CA the client trusts, and a client with these options and that CA.
async fn private_server_with(options: ClientOptions) -> (String, HttpClient) {
    let pki = pki();
    let url = serve(pki.server.clone()).await;
    let roots = CaBundle::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let client = options.with_extra_roots(roots).build().unwrap();
    (url, client)
}

fn at(url: &str, path: &str) -> Url {
    Url::parse(url).unwrap().join(path).unwrap()
}

/// `GET path` on the test server, which must answer.
async fn fetch(client: &HttpClient, url: &str, path: &str) -> HttpResponse {
    client.get(at(url, path)).send().await.unwrap()
}

/// What `transport_error` makes of `err`, which must be transient (worth a retry).
fn transient(service: &str, request: &str, err: TransportError) -> posture_core::ProviderError {
    let err = transport_error(service, request, err);
    assert!(err.is_transient(), "{err}");
    err
}

/// `GET path` on a new test server, by a new client (2 s timeout) that trusts its CA.
async fn fetch_trusted(path: &str) -> HttpResponse {
    let (url, client) = private_server(Duration::from_secs(2)).await;
    fetch(&client, &url, path).await
}

#[tokio::test]
async fn trusts_a_private_ca_from_a_pem_bundle_and_speaks_h2() {
    let response = fetch_trusted("/ping").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok HTTP/2.0");
}

#[tokio::test]
async fn refuses_an_unknown_ca() {
    let pki = pki();
    let url = serve(pki.server.clone()).await;
    let client = options(Duration::from_secs(2)).build().unwrap();
    let err = client.get(at(&url, "/ping")).send().await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    let err = transient("Jamf Pro", "GET /ping", err);
    let text = err.to_string();
    assert!(
        text.starts_with("cannot connect to Jamf Pro for GET /ping"),
        "{text}"
    );
    assert!(text.contains("UnknownIssuer"), "{text}");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let (url, client) = private_server(Duration::from_secs(2)).await;
    let response = fetch(&client, &url, "/big").await;
    let err = read_body("S", "GET /big", response, 1024)
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        err.message(),
        "S answered GET /big with more than 1024 bytes"
    );
    let response = fetch(&client, &url, "/big").await;
    let body = read_body("S", "GET /big", response, 4096).await.unwrap();
    assert_eq!(body.len(), 4096);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let response = fetch_trusted("/moved").await;
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        "https://elsewhere.example/ping"
    );
}

#[tokio::test]
async fn the_request_timeout_bounds_the_head_and_the_body() {
    let (url, client) = private_server(Duration::from_millis(300)).await;
    let err = client.get(at(&url, "/silent")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let err = transient("S", "GET /silent", err);
    assert!(
        err.message()
            .starts_with("S did not answer GET /silent in time"),
        "{err}"
    );

    let response = fetch(&client, &url, "/stall").await;
    let err = read_body("S", "GET /stall", response, 1024)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.message().contains("in time"), "{err}");
}

#[tokio::test]
async fn the_read_timeout_bounds_the_wait_for_the_head_and_each_pause_in_the_body() {
    let read_timeout = Duration::from_millis(300);
    let (url, client) =
        private_server_with(options(Duration::from_secs(20)).with_read_timeout(read_timeout)).await;
    let started = std::time::Instant::now();
    let err = client.get(at(&url, "/silent")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.to_string(), "no answer within 0.3 s");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let response = fetch(&client, &url, "/stall").await;
    let started = std::time::Instant::now();
    let err = response.bytes_within(1024).await.unwrap_err();
    assert_eq!(err.to_string(), "no answer within 0.3 s");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_connect_timeout_covers_a_stalled_tls_handshake() {
    // Accepts the connection and never answers the ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/ping", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let client = options(Duration::from_secs(5))
        .with_connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = client.get(at(&url, "/ping")).send().await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let err = transient("Jamf Pro", "GET /ping", err);
    assert!(
        err.message()
            .contains("no connection within 0.3 s (TCP and TLS)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_timeout_too_long_to_represent_does_not_panic() {
    let client = options(Duration::MAX)
        .with_read_timeout(Duration::MAX)
        .build()
        .unwrap();
    // Nothing listens on port 1: the request fails at once, after its deadline was set.
    let refused = client
        .get(Url::parse("http://127.0.0.1:1/").unwrap())
        .send();
    assert!(refused.await.unwrap_err().is_connect());
}

#[cfg(feature = "ring")]
#[tokio::test]
async fn nothing_is_installed_process_wide() {
    let response = fetch_trusted("/ping").await;
    assert_eq!(response.status(), 200);
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "building and using a client must not set the process's rustls provider"
    );
}
