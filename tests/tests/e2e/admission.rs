//! Connection admission, against the attack run's findings (docs/security.md, "Connection
//! admission"): connections that ask nothing, from one address or many, must not keep
//! others out, on the webhook port and on the metrics and health listener; and an HTTP/1.1
//! `413` must reach a client still sending its body. Limits are small so the tests are
//! quick; every flood is bounded in sockets and reopenings, and stays on 127.0.0.0/8.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode};
use step_posture_tests::deployment::{Deployment, Expect};
use step_posture_tests::flood::{Flood, FloodTls, Silence, UNFINISHED_HTTP2};
use step_posture_tests::raw::{
    connect, connect_with, exchange, http1_request, loopback, read_response, tcp_from, tls_config,
    tls_over, wait_for_close,
};
use step_posture_tests::server::{Options, enriching_signer, json, signed_enriching};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A server with `MAX_CONNECTIONS` and `MAX_CONNECTIONS_PER_ADDRESS` set.
async fn start(max: &str, per_address: &str) -> Deployment {
    crate::start(&[
        ("MAX_CONNECTIONS", max),
        ("MAX_CONNECTIONS_PER_ADDRESS", per_address),
    ])
    .await
}

/// `GET /livez` on an open HTTP/1.1 connection; the status.
async fn livez<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> u16 {
    let none = HeaderMap::new();
    exchange(stream, "GET", "/livez", &none, b"")
        .await
        .unwrap()
        .0
}

/// The attack run's first finding: connections that send nothing were kept for the idle
/// timeout (120 s) in one global pool, so one address could keep every slot. Here one
/// address keeps four times `MAX_CONNECTIONS` connections open in every kind of silence,
/// reopening each one the server closes; requests from another address are still answered,
/// each within 1 s.
#[tokio::test]
async fn silent_connections_from_one_address_do_not_keep_another_out() {
    let d = crate::start(&[("MAX_CONNECTIONS", "16")]).await;
    let (pki, server) = (&d.pki, &d.server);
    let flood = Flood::start(
        &FloodTls::trusting(pki).unwrap(),
        server.addr(),
        loopback(2),
        64,
        &[Silence::Tcp, Silence::Tls, Silence::Http2],
    );
    assert!(
        flood.until_held(16, Duration::from_secs(5)).await,
        "the flood never reached the server's limit"
    );
    for attempt in 0..10 {
        let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(1), d.post(&headers, body)).await;
        let answer = answer
            .unwrap_or_else(|_| panic!("request {attempt} not answered within 1 s"))
            .unwrap();
        Expect::allowed().check(&format!("request {attempt}"), &answer);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    flood.stop().await;
}

/// A connection must have sent its first request's headers within `HEADER_READ_TIMEOUT` of
/// being accepted, TLS handshake included, whatever it speaks: one that never starts the
/// handshake, one that completes it and asks nothing, and an HTTP/2 one that stops inside its
/// first HEADERS frame are all closed then, not at `IDLE_TIMEOUT` (120 s).
#[tokio::test]
async fn a_connection_must_send_its_first_request_within_the_header_read_timeout() {
    let options = Options::tweak(&|config| {
        config.limits.header_read_timeout = Duration::from_millis(500);
    });
    let d = Deployment::start_with(&[], options).await.unwrap();
    let (pki, server) = (&d.pki, &d.server);
    let started = Instant::now();
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let mut http1 = connect(pki, server.addr()).await.unwrap();
    let mut http2 = connect_with(tls_config(pki, &[b"h2"]).unwrap(), server.addr())
        .await
        .unwrap();
    assert_eq!(http2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    http2.write_all(UNFINISHED_HTTP2).await.unwrap();
    let within = Duration::from_secs(3);
    let (tcp, http1, http2) = tokio::join!(
        wait_for_close(&mut tcp, within),
        wait_for_close(&mut http1, within),
        wait_for_close(&mut http2, within),
    );
    for (what, closed) in [("TCP only", tcp), ("HTTP/1.1", http1), ("HTTP/2", http2)] {
        assert!(
            closed.is_some(),
            "{what}: a connection without a request was kept past the header-read timeout"
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "closed too early: {took:?}"
    );
}

/// When every slot is taken, the connection idle longest is closed gracefully (TLS
/// close_notify, then end of stream) to admit a new client at once; the others stay usable.
#[tokio::test]
async fn idle_connections_yield_their_slots_to_new_clients_when_the_server_is_full() {
    let d = start("4", "0").await;
    let (pki, server) = (&d.pki, &d.server);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(pki, server.addr()).await.unwrap();
        assert_eq!(livez(&mut stream).await, 200);
        idle.push(stream);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        d.client
            .send(Method::GET, &server.url("/livez"), &HeaderMap::new(), ""),
    )
    .await
    .expect("a new client waited while every slot held an idle connection")
    .unwrap();
    assert_eq!(answer.0, StatusCode::OK);
    let mut buf = [0_u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), idle[0].read(&mut buf))
        .await
        .expect("the longest-idle connection was not closed");
    assert_eq!(
        read.unwrap(),
        0,
        "the longest-idle connection was not closed cleanly"
    );
    for stream in &mut idle[1..] {
        assert_eq!(livez(stream).await, 200);
    }
}

/// `GET /livez` on the plain-HTTP metrics listener from 127.0.0.1, on a new connection.
async fn probe(addr: SocketAddr) -> anyhow::Result<u16> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(b"GET /livez HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await?;
    Ok(read_response(&mut tcp).await?.0)
}

/// The attack run's second finding: the metrics and health listener (`METRICS_ADDR`), which
/// the mTLS deployment probes, took 32 connections in all, so idle sockets failed every
/// probe. Here four addresses open 40 sockets each, one address sending nothing, three asking
/// once and then staying idle; `/livez` from a fifth address is answered within 1 s each time.
#[tokio::test]
async fn the_metrics_listener_answers_probes_under_a_flood_of_idle_sockets() {
    let d = crate::start(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let (pki, server) = (&d.pki, &d.server);
    let metrics = server.metrics_addr().unwrap();
    let tls = FloodTls::trusting(pki).unwrap();
    let floods = [
        Flood::start(&tls, metrics, loopback(2), 40, &[Silence::Tcp]),
        Flood::start(&tls, metrics, loopback(3), 40, &[Silence::PlainIdle]),
        Flood::start(&tls, metrics, loopback(4), 40, &[Silence::PlainIdle]),
        Flood::start(&tls, metrics, loopback(5), 40, &[Silence::PlainIdle]),
    ];
    let deadline = Instant::now() + Duration::from_secs(5);
    while floods.iter().map(Flood::held).sum::<usize>() < 32 {
        assert!(
            Instant::now() < deadline,
            "the flood never reached the listener's limit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for attempt in 0..5 {
        let status = tokio::time::timeout(Duration::from_secs(1), probe(metrics))
            .await
            .unwrap_or_else(|_| panic!("probe {attempt} not answered within 1 s"))
            .unwrap();
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for flood in floods {
        flood.stop().await;
    }
}

/// The attack run's third finding: the server answered a body over `MAX_BODY_BYTES` with 413
/// and closed the connection under a client still sending it, so the client's send failed
/// on the reset and the answer was lost. Every one of 50 attempts, sending eight times the
/// cap with `Content-Length` and then reading, must read the 413. The client's send buffer
/// is small, as on a slow link, so the body cannot hide in the kernel's buffers.
#[tokio::test]
async fn an_oversized_http1_body_is_answered_413_in_every_attempt() {
    let d = crate::start(&[("MAX_BODY_BYTES", "65536")]).await;
    let (pki, server) = (&d.pki, &d.server);
    let body = vec![b' '; 8 * 65536];
    let headers = enriching_signer().unwrap().headers(&body);
    let request = http1_request("POST", "/webhook/device-attest", &headers, &body);
    let tls = tls_config(pki, &[b"http/1.1"]).unwrap();
    let mut lost = Vec::new();
    for attempt in 0..50 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(16 * 1024).unwrap();
        let tcp = socket.connect(server.addr()).await.unwrap();
        let mut stream = tls_over(tls.clone(), tcp).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), async {
            stream.write_all(&request).await?;
            stream.flush().await?;
            read_response(&mut stream).await
        })
        .await;
        match answer {
            Ok(Ok((413, body))) => assert_eq!(json(&body), serde_json::json!({"allow": false})),
            other => lost.push(format!("attempt {attempt}: {other:?}")),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of 50 lost the 413: {lost:#?}",
        lost.len()
    );
}

/// The per-address limit counts client addresses, not connections: one address past it is
/// refused at once, and another address is admitted.
#[tokio::test]
async fn one_address_gets_at_most_max_connections_per_address() {
    let d = start("16", "2").await;
    let (pki, server) = (&d.pki, &d.server);
    let tls = tls_config(pki, &[b"http/1.1"]).unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        let tcp = tcp_from(loopback(6), server.addr()).await.unwrap();
        held.push(tls_over(tls.clone(), tcp).await.unwrap());
    }
    let mut third = tcp_from(loopback(6), server.addr()).await.unwrap();
    let closed = wait_for_close(&mut third, Duration::from_secs(1)).await;
    assert!(
        closed.is_some(),
        "a third connection from one address was kept"
    );
    let tcp = tcp_from(loopback(7), server.addr()).await.unwrap();
    let mut other = tls_over(tls, tcp).await.unwrap();
    assert_eq!(livez(&mut other).await, 200);
    for stream in &mut held {
        assert_eq!(livez(stream).await, 200);
    }
}
