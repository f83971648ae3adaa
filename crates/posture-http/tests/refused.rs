//! HTTP/2 servers that refuse a request unprocessed: the client sends it again, a bounded
//! number of times, and only for refusals that promise nothing was done.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use h2::Reason;
use posture_http::{CaBundle, ClientOptions, HttpClient, Method, Url};
use rcgen::{CertificateParams, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// An HTTP/2-only TLS server on 127.0.0.1 that resets the first `refusals` streams it is
/// sent with `reason` and answers later ones `200 done`; it counts every stream.
struct RefusingServer {
    url: Url,
    streams: Arc<AtomicU32>,
    client: HttpClient,
}

async fn refusing_server(refusals: u32, reason: Reason) -> RefusingServer {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!(
        "https://{}/devices",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    let streams = Arc::new(AtomicU32::new(0));
    let counted = streams.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counted) = (acceptor.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut connection) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok((_request, mut respond))) = connection.accept().await {
                    if counted.fetch_add(1, Ordering::SeqCst) < refusals {
                        respond.send_reset(reason);
                        continue;
                    }
                    let response = http::Response::new(());
                    if let Ok(mut body) = respond.send_response(response, false) {
                        let _ = body.send_data(Bytes::from_static(b"done"), true);
                    }
                }
            });
        }
    });
    let roots = CaBundle::from_pem(cert.pem().as_bytes()).unwrap();
    let options = ClientOptions::new(Duration::from_secs(5)).with_extra_roots(roots);
    let options = if cfg!(feature = "ring") {
        options
    } else {
        options.with_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
    };
    RefusingServer {
        url,
        streams,
        client: options.build().unwrap(),
    }
}

#[tokio::test]
async fn a_refused_stream_is_sent_again_and_answered() {
    let server = refusing_server(2, Reason::REFUSED_STREAM).await;
    // A POST too: the server promised it did nothing with the refused streams.
    let response = server
        .client
        .request(Method::POST, server.url.clone())
        .json(&serde_json::json!({"page": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    assert_eq!(server.streams.load(Ordering::SeqCst), 3);
}

/// How many streams a GET took before it failed, against a server that resets the first
/// `refusals` with `reason`.
async fn streams_until_failure(refusals: u32, reason: Reason) -> u32 {
    let server = refusing_server(refusals, reason).await;
    let err = server
        .client
        .get(server.url.clone())
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_connect(), "{err}");
    server.streams.load(Ordering::SeqCst)
}

#[tokio::test]
async fn refusals_past_the_bound_are_an_error() {
    assert_eq!(
        streams_until_failure(u32::MAX, Reason::REFUSED_STREAM).await,
        3
    );
}

#[tokio::test]
async fn other_resets_are_not_sent_again() {
    assert_eq!(streams_until_failure(1, Reason::INTERNAL_ERROR).await, 1);
}
