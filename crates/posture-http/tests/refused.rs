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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The client's request timeout when the server pauses before refusing: long enough for two
/// pauses, too short for three.
const SLOW_TIMEOUT: Duration = Duration::from_secs(1);

/// How the server refuses a stream.
#[derive(Clone, Copy)]
enum Refusal {
    /// `RST_STREAM` with this reason.
    Reset(Reason),
    /// `REFUSED_STREAM`, each after this pause.
    SlowReset(Duration),
    /// `GOAWAY` (`NO_ERROR`) saying no stream was processed, then the connection closes: a
    /// server shutting down gracefully while a request was on its way.
    GoAway,
}

/// An HTTP/2-only TLS server on 127.0.0.1 that refuses the first `refusals` streams it is
/// sent and answers later ones `200 done`; it counts every stream.
struct RefusingServer {
    url: Url,
    streams: Arc<AtomicU32>,
    client: HttpClient,
}

impl RefusingServer {
    /// A GET that must fail, and how.
    async fn failed_get(&self) -> posture_http::TransportError {
        self.client.get(self.url.clone()).send().await.unwrap_err()
    }
}

async fn refusing_server(refusals: u32, refusal: Refusal) -> RefusingServer {
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
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if matches!(refusal, Refusal::GoAway) && counted.load(Ordering::SeqCst) < refusals {
                    if go_away_at_the_first_stream(&mut tls).await.is_ok() {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    return;
                }
                let Ok(mut connection) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok((_request, mut respond))) = connection.accept().await {
                    if counted.fetch_add(1, Ordering::SeqCst) < refusals {
                        match refusal {
                            Refusal::Reset(reason) => respond.send_reset(reason),
                            Refusal::SlowReset(pause) => {
                                tokio::spawn(async move {
                                    tokio::time::sleep(pause).await;
                                    respond.send_reset(Reason::REFUSED_STREAM);
                                });
                            }
                            Refusal::GoAway => {}
                        }
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
    let timeout = match refusal {
        Refusal::SlowReset(_) => SLOW_TIMEOUT,
        Refusal::Reset(_) | Refusal::GoAway => Duration::from_secs(5),
    };
    let options = ClientOptions::new(timeout).with_extra_roots(roots);
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

/// Speaks just enough HTTP/2 by hand to refuse the first stream with a graceful `GOAWAY`,
/// which h2's server API can't be made to send before a stream is processed: the server's
/// empty `SETTINGS`, then, once the client's first `HEADERS` frame arrives, `GOAWAY` with
/// last stream 0 and `NO_ERROR`.
async fn go_away_at_the_first_stream(
    tls: &mut tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) -> std::io::Result<()> {
    const HEADERS: u8 = 0x1;
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    let frame = |kind: u8, payload: &[u8]| {
        let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut frame = vec![length[1], length[2], length[3], kind, 0, 0, 0, 0, 0];
        frame.extend_from_slice(payload);
        frame
    };
    let mut preface = [0; 24];
    tls.read_exact(&mut preface).await?;
    assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    tls.write_all(&frame(SETTINGS, &[])).await?;
    tls.flush().await?;
    loop {
        let mut header = [0; 9];
        tls.read_exact(&mut header).await?;
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
        let mut payload = vec![0; length as usize];
        tls.read_exact(&mut payload).await?;
        if header[3] == HEADERS {
            break;
        }
    }
    // Last stream 0 (none processed), error code 0 (NO_ERROR).
    tls.write_all(&frame(GOAWAY, &[0; 8])).await?;
    tls.flush().await?;
    tls.shutdown().await
}

#[tokio::test]
async fn a_refused_stream_is_sent_again_and_answered() {
    let server = refusing_server(2, Refusal::Reset(Reason::REFUSED_STREAM)).await;
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
async fn streams_until_failure(refusals: u32, refusal: Refusal) -> u32 {
    let server = refusing_server(refusals, refusal).await;
    let err = server.failed_get().await;
    assert!(!err.is_connect(), "{err}");
    server.streams.load(Ordering::SeqCst)
}

#[tokio::test]
async fn refusals_past_the_bound_are_an_error() {
    assert_eq!(
        streams_until_failure(u32::MAX, Refusal::Reset(Reason::REFUSED_STREAM)).await,
        3
    );
}

#[tokio::test]
async fn other_resets_are_not_sent_again() {
    assert_eq!(
        streams_until_failure(1, Refusal::Reset(Reason::INTERNAL_ERROR)).await,
        1
    );
}

#[tokio::test]
async fn a_stream_left_out_by_a_graceful_goaway_is_sent_again_on_a_new_connection() {
    let server = refusing_server(1, Refusal::GoAway).await;
    let response = server.client.get(server.url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    assert_eq!(server.streams.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_request_timeout_bounds_every_attempt_together() {
    // Three refusals 400 ms apart end in a refusal error after 1.2 s unless the timeout of
    // 1 s, counted once for all attempts, ends the request first.
    let server = refusing_server(u32::MAX, Refusal::SlowReset(Duration::from_millis(400))).await;
    let started = std::time::Instant::now();
    let err = server.failed_get().await;
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < 2 * SLOW_TIMEOUT, "{err}");
    assert!(server.streams.load(Ordering::SeqCst) >= 2, "{err}");
}
