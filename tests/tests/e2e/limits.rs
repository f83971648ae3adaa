//! Every resource limit, crossed: body size, header count and size, header-read timeout,
//! TLS handshake timeout, keep-alive idle timeout, concurrent connections, and the
//! per-request deadline. Limits are set far shorter than their defaults so the tests are
//! quick; each test fails if its protection is removed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use step_posture_connector::config::Config;
use step_posture_tests::deployment::{Deployment, Expect};
use step_posture_tests::providers::{Behaviour, Scripted};
use step_posture_tests::raw::{
    connect, connect_with, dribble, exchange, http1_request, read_response, tls_config,
    wait_for_close,
};
use step_posture_tests::server::{Options, enriching_signer, json, signed_enriching};
use tokio::io::AsyncWriteExt;

const WEBHOOK: &str = "/webhook/device-attest";

/// A file-provider server with `tweak` applied to its configuration.
async fn tweaked(tweak: &dyn Fn(&mut Config)) -> Deployment {
    Deployment::start_with(&[], Options::tweak(tweak))
        .await
        .unwrap()
}

/// A request whose body has no declared length (chunked) must be cut at the cap too.
#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused_with_413() {
    let d = crate::start(&[("MAX_BODY_BYTES", "4096")]).await;
    let big = vec![b' '; 5000];
    let mut headers = enriching_signer().unwrap().headers(&big);
    headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
    let mut request = b"POST /webhook/device-attest HTTP/1.1\r\nhost: localhost\r\n".to_vec();
    for (name, value) in &headers {
        request.extend_from_slice(format!("{name}: ").as_bytes());
        request.extend_from_slice(value.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    for chunk in big.chunks(1000) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut stream = connect(&d.pki, d.server.addr()).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let (status, body) = read_response(&mut stream).await.unwrap();
    assert_eq!(status, 413);
    assert_eq!(json(&body), serde_json::json!({"allow": false}));
}

/// A header block past a limit is refused over HTTP/1.1 (431) and HTTP/2 (431, or the
/// stream reset where `h2_may_reset`); within the limit, both protocols answer.
async fn refused_over_http1_and_http2(d: &Deployment, too_much: &HeaderMap, h2_may_reset: bool) {
    let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
    let mut big = headers.clone();
    big.extend(too_much.clone());
    // HTTP/1.1: hyper refuses the head.
    let mut stream = connect(&d.pki, d.server.addr()).await.unwrap();
    let (status, _) = exchange(&mut stream, "POST", WEBHOOK, &big, &body)
        .await
        .unwrap();
    assert_eq!(status, 431);
    // HTTP/2: the server counts them.
    match h2_post(&d.pki, &d.server, &big, body.clone()).await {
        Ok((status, _)) => assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(err) => assert!(h2_may_reset && !err.to_string().is_empty(), "{err}"),
    }
    let (status, response) = h2_post(&d.pki, &d.server, &headers, body.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&response)["allow"], true);
    d.expect_post(
        "HTTP/1.1 within the limit",
        &headers,
        body,
        &Expect::allowed(),
    )
    .await;
}

#[tokio::test]
async fn too_many_headers_are_refused_over_http1_and_http2() {
    let d = crate::start(&[("MAX_HEADERS", "16")]).await;
    let mut many = HeaderMap::new();
    for i in 0..20 {
        many.insert(
            HeaderName::from_bytes(format!("x-padding-{i}").as_bytes()).unwrap(),
            HeaderValue::from_static("1"),
        );
    }
    refused_over_http1_and_http2(&d, &many, false).await;
}

#[tokio::test]
async fn an_oversized_header_block_is_refused_over_http1_and_http2() {
    let d = crate::start(&[("MAX_HEADER_BYTES", "4096")]).await;
    let mut big = HeaderMap::new();
    big.insert(
        "x-padding",
        HeaderValue::from_str(&"a".repeat(5000)).unwrap(),
    );
    // HTTP/2 refuses the stream (hyper answers 431 or resets it).
    refused_over_http1_and_http2(&d, &big, true).await;
}

/// Slowloris: the request line and a header arrive, then one byte every 100 ms. The server
/// must drop the connection once `HEADER_READ_TIMEOUT` has passed since the first byte.
#[tokio::test]
async fn headers_dribbled_slowly_are_cut_off_at_the_header_read_timeout() {
    let d = tweaked(&|config| {
        config.limits.header_read_timeout = Duration::from_millis(400);
    })
    .await;
    let mut stream = connect(&d.pki, d.server.addr()).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /webhook/device-attest HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    // 40 more bytes at 100 ms each would take 4 s; the server must cut in well before.
    let written = dribble(&mut stream, &[b'x'; 40], Duration::from_millis(100)).await;
    let took = started.elapsed();
    assert!(written < 40, "the server accepted {written} dribbled bytes");
    assert!(
        took < Duration::from_millis(2500),
        "cut off after {took:?}, HEADER_READ_TIMEOUT is 400 ms"
    );
    assert!(
        took >= Duration::from_millis(350),
        "cut off too early: {took:?}"
    );
}

#[tokio::test]
async fn a_client_that_never_completes_the_tls_handshake_is_dropped() {
    let d = tweaked(&|config| {
        config.limits.handshake_timeout = Duration::from_millis(300);
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(d.server.addr())
        .await
        .unwrap();
    let closed = wait_for_close(&mut tcp, Duration::from_secs(3)).await;
    let (_, after) = closed.expect("the server kept a silent TCP connection open");
    assert!(
        after >= Duration::from_millis(250),
        "closed too early: {after:?}"
    );
    // A client that does complete it is served.
    let (status, _) = d
        .client
        .send(Method::GET, &d.server.url("/livez"), &HeaderMap::new(), "")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

/// A kept-alive connection stays usable for longer than the header-read timeout (step-ca
/// reuses connections for up to 90 s) and is closed once `IDLE_TIMEOUT` passes.
#[tokio::test]
async fn idle_connections_live_until_the_idle_timeout_and_no_longer() {
    let d = tweaked(&|config| {
        config.limits.header_read_timeout = Duration::from_millis(200);
        config.limits.idle_timeout = Duration::from_millis(800);
    })
    .await;
    let mut stream = connect(&d.pki, d.server.addr()).await.unwrap();
    for _ in 0..2 {
        let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
        let (status, response) = exchange(&mut stream, "POST", WEBHOOK, &headers, &body)
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(json(&response)["allow"], true);
        // Idle for twice the header-read timeout: the connection must survive it.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let closed = wait_for_close(&mut stream, Duration::from_secs(3)).await;
    let (_, after) = closed.expect("the idle connection was never closed");
    // 400 ms of the 800 ms idle period had passed before waiting.
    assert!(
        after >= Duration::from_millis(250),
        "closed too early: {after:?}"
    );
}

/// With `MAX_CONNECTIONS=2` and two connections held open, neither idle (both still owe
/// their first request), a third client waits; once a slot frees, it is served. The server
/// neither crashes nor stalls. (One address holds both: the per-address limit is off here;
/// `admission.rs` tests it.)
#[tokio::test]
async fn past_max_connections_clients_wait_and_are_served_when_a_slot_frees() {
    let d = crate::start(&[
        ("MAX_CONNECTIONS", "2"),
        ("MAX_CONNECTIONS_PER_ADDRESS", "0"),
    ])
    .await;
    let first = connect(&d.pki, d.server.addr()).await.unwrap();
    let mut second = connect(&d.pki, d.server.addr()).await.unwrap();
    let url = d.server.url("/livez");
    let waiting = tokio::spawn({
        let client = d.client.clone();
        let url = url.clone();
        async move { client.send(Method::GET, &url, &HeaderMap::new(), "").await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served while two held the only slots"
    );
    // The held connections still work.
    let (status, _) = exchange(&mut second, "GET", "/livez", &HeaderMap::new(), b"")
        .await
        .unwrap();
    assert_eq!(status, 200);
    drop(first);
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting client was not served after a slot freed")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

/// A provider that never answers: the server answers 503 within `TIMEOUT`, and the
/// connection is free again (the next request on it is answered too).
#[tokio::test]
async fn a_hanging_provider_is_answered_with_503_within_the_request_deadline() {
    let provider = Arc::new(Scripted::new(Behaviour::Hang));
    let options = Options {
        provider: Some(provider.clone()),
        ..Options::tweak(&|config: &mut Config| config.timeout = Duration::from_millis(500))
    };
    let d = Deployment::start_with(&[], options).await.unwrap();
    let mut stream = connect(&d.pki, d.server.addr()).await.unwrap();
    for _ in 0..2 {
        let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
        let started = Instant::now();
        let (status, response) = exchange(&mut stream, "POST", WEBHOOK, &headers, &body)
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(status, 503);
        assert_eq!(json(&response), serde_json::json!({"allow": false}));
        assert!(took >= Duration::from_millis(450), "{took:?}");
        assert!(took < Duration::from_millis(2000), "{took:?}");
    }
    assert_eq!(provider.lookups(), 2);
}

/// A body sent slower than the deadline allows is answered 503 at the deadline, not held.
#[tokio::test]
async fn a_body_dribbled_past_the_deadline_is_answered_at_the_deadline() {
    let d = tweaked(&|config| {
        config.timeout = Duration::from_millis(500);
    })
    .await;
    let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
    let request = http1_request("POST", WEBHOOK, &headers, &body);
    let head_len = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut stream = connect(&d.pki, d.server.addr()).await.unwrap();
    let started = Instant::now();
    stream.write_all(&request[..head_len + 10]).await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(stream);
    let dribbler = tokio::spawn(async move {
        dribble(
            &mut writer,
            &request[head_len + 10..],
            Duration::from_millis(50),
        )
        .await
    });
    let (status, _) = read_response(&mut reader).await.unwrap();
    let took = started.elapsed();
    dribbler.abort();
    assert_eq!(status, 503);
    assert!(took < Duration::from_millis(2000), "{took:?}");
}

async fn h2_post(
    pki: &step_posture_tests::pki::Pki,
    server: &step_posture_tests::server::TestServer,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let stream = connect_with(tls_config(pki, &[b"h2"])?, server.addr()).await?;
    anyhow::ensure!(
        stream.get_ref().1.alpn_protocol() == Some(b"h2"),
        "the server did not negotiate h2"
    );
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(Method::POST)
        .uri(format!(
            "https://localhost:{}/webhook/device-attest",
            server.addr().port()
        ))
        .body(Full::new(Bytes::from(body)))?;
    *request.headers_mut() = headers.clone();
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}
