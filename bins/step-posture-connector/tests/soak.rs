//! A bounded soak run against the real binary on 127.0.0.1: a mix of good and hostile
//! traffic for `SOAK_SECONDS` (20 by default, as in CI; set it higher by hand, e.g.
//! `SOAK_SECONDS=600 cargo test --release -p step-posture-connector --test soak -- --nocapture`).
//!
//! It checks every answer, counts unexpected 5xx (there must be none), checks the server is
//! healthy afterwards, and compares its resident memory (`VmRSS`) after a warm-up with the
//! end of the run. The report is printed; run with `--nocapture` to see it.
//!
//! Meanwhile a flood of connections that ask nothing comes from three other loopback
//! addresses (127.0.0.2 to .4): 120 sockets at most, each opened again 200 ms after the
//! server closes it, silent over TCP, silent after the TLS handshake, stopped inside an
//! HTTP/2 HEADERS frame, or idle after one request. No legitimate exchange may fail for it.
//! And a flood of readiness probes: `PROBES` clients asking `/readyz` back to back, each of
//! which must be answered 200 within the exchange limit.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use smallstep_webhook::{RequestBody, SIGNATURE_HEADER, Signer, WEBHOOK_ID_HEADER, WebhookSecret};
use step_posture_connector::client::{Connection, client_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Mutex, watch};

mod common;

use common::{BIN, SECRET, WEBHOOK_ID};

const LISTED: &str = "C02XL0GJJG5J";
const UNLISTED: &str = "C02UNKNOWN00";
const MAX_BODY_BYTES: usize = 8192;
/// Concurrent clients.
const WORKERS: usize = 8;
/// Most the resident memory may grow between the end of the warm-up and the end of the run.
const MAX_RSS_GROWTH_KIB: u64 = 16 * 1024;
/// The server's `MAX_CONNECTIONS`; each address may hold a quarter (the default share), so
/// the flood's three addresses hold at most three quarters, and the workers' address the
/// rest. (Without the per-address share, the flood's 120 sockets would fill it.)
const MAX_CONNECTIONS: usize = 96;
/// Longest one exchange may take before it counts as failed: far above any answer's time,
/// so that a server that stops answering fails the soak instead of hanging it.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);
/// Clients that ask `/readyz` back to back, beside the workers (from 127.0.0.1 too).
const PROBES: usize = 4;

/// The pause between one readiness client's probes.
const PROBE_PAUSE: Duration = Duration::from_millis(5);

/// The flood's client addresses; the workers connect from 127.0.0.1.
const FLOOD_FROM: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
    Ipv4Addr::new(127, 0, 0, 4),
];
/// Flood sockets per address: more than its share of `MAX_CONNECTIONS`.
const FLOOD_SOCKETS: usize = 40;
/// The pause before a flood socket the server closed is opened again.
const FLOOD_PAUSE: Duration = Duration::from_millis(200);

/// How a flood socket keeps quiet.
#[derive(Clone, Copy, Debug)]
enum Quiet {
    /// Never starts the TLS handshake.
    Tcp,
    /// Completes the handshake, then sends nothing.
    Tls,
    /// HTTP/2: the preface, an empty SETTINGS frame and 10 bytes of a 100-byte HEADERS frame.
    Http2,
    /// One `GET /livez`, answered, then nothing.
    Idle,
}

const QUIET: [Quiet; 4] = [Quiet::Tcp, Quiet::Tls, Quiet::Http2, Quiet::Idle];

/// See [`Quiet::Http2`].
const UNFINISHED_HTTP2: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\
\x00\x00\x00\x04\x00\x00\x00\x00\x00\
\x00\x00\x64\x01\x04\x00\x00\x00\x01\
0123456789";

/// The kinds of traffic, in the order workers cycle through them.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
enum Kind {
    Allowed,
    UnknownDevice,
    BadSignature,
    UnknownId,
    Oversized,
    SlowClient,
    DroppedMidRequest,
    Health,
}

const MIX: [Kind; 12] = [
    Kind::Allowed,
    Kind::UnknownDevice,
    Kind::Allowed,
    Kind::BadSignature,
    Kind::Allowed,
    Kind::UnknownId,
    Kind::Oversized,
    Kind::Allowed,
    Kind::DroppedMidRequest,
    Kind::Health,
    Kind::SlowClient,
    Kind::UnknownDevice,
];

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    ca: std::path::PathBuf,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = common::write_deployment(dir.path());
        let started = common::start_server(
            Command::new(BIN)
                .current_dir(dir.path())
                .env_clear()
                .envs(common::file_server_env())
                .envs([
                    ("MAX_BODY_BYTES", MAX_BODY_BYTES.to_string().as_str()),
                    ("MAX_CONNECTIONS", MAX_CONNECTIONS.to_string().as_str()),
                    ("HEADER_READ_TIMEOUT", "1"),
                    ("TIMEOUT", "2"),
                    // The start-up line, not one line per decision.
                    ("RUST_LOG", "info,step_posture_connector::decision=warn"),
                ]),
        );
        let (child, addr) = (started.child, started.addr.parse().unwrap());
        Self {
            child,
            addr,
            _dir: dir,
            ca,
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server process is gone");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Traffic {
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
    /// Offers h2, for the flood.
    tls_h2: Arc<ClientConfig>,
    signer: Signer,
    /// CSRs by serial: a device puts its serial in the common name.
    csrs: BTreeMap<&'static str, Vec<u8>>,
}

impl Traffic {
    fn url(&self, path: &str) -> Uri {
        format!("https://{}{path}", self.addr).parse().unwrap()
    }

    fn body(&self, serial: &str) -> Vec<u8> {
        let csr = self.csrs.get(serial).map_or(&[][..], Vec::as_slice);
        let body =
            RequestBody::device_attest_enriching(serial, csr, time::OffsetDateTime::now_utc())
                .unwrap();
        smallstep_webhook::to_go_json(&body)
    }

    async fn raw(&self) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        self.tls_over(tcp, &self.tls).await
    }

    async fn tls_over(
        &self,
        tcp: TcpStream,
        tls: &Arc<ClientConfig>,
    ) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = ServerName::try_from("localhost")?;
        Ok(tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await?)
    }

    /// Opens a connection from `from` and brings it to its quiet state; an error if the
    /// server closed or refused it first.
    async fn quiet(
        &self,
        from: Ipv4Addr,
        quiet: Quiet,
    ) -> anyhow::Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
        let tcp = socket.connect(self.addr).await?;
        Ok(match quiet {
            Quiet::Tcp => Box::new(tcp),
            Quiet::Tls => Box::new(self.tls_over(tcp, &self.tls).await?),
            Quiet::Http2 => {
                let mut stream = self.tls_over(tcp, &self.tls_h2).await?;
                stream.write_all(UNFINISHED_HTTP2).await?;
                Box::new(stream)
            }
            Quiet::Idle => {
                let mut stream = self.tls_over(tcp, &self.tls).await?;
                stream
                    .write_all(b"GET /livez HTTP/1.1\r\nhost: localhost\r\n\r\n")
                    .await?;
                let answer = read_answer(&mut stream).await;
                anyhow::ensure!(answer.starts_with(b"HTTP/1.1 200"), "not answered");
                Box::new(stream)
            }
        })
    }

    /// Runs one exchange of `kind`; `Err` describes a wrong answer.
    async fn run(&self, kind: Kind, kept: &mut Option<Connection>) -> Result<Option<u16>, String> {
        let webhook = self.url("/webhook/device-attest");
        let (expected, headers, body) = match kind {
            Kind::Allowed => {
                let body = self.body(LISTED);
                (200, self.signer.headers(&body), body)
            }
            Kind::UnknownDevice => {
                let body = self.body(UNLISTED);
                (200, self.signer.headers(&body), body)
            }
            Kind::BadSignature => {
                let body = self.body(LISTED);
                let mut headers = self.signer.headers(&body);
                headers.insert(
                    SIGNATURE_HEADER,
                    HeaderValue::from_static(
                        "0000000000000000000000000000000000000000000000000000000000000000",
                    ),
                );
                (401, headers, body)
            }
            Kind::UnknownId => {
                let body = self.body(LISTED);
                let mut headers = self.signer.headers(&body);
                headers.insert(
                    WEBHOOK_ID_HEADER,
                    HeaderValue::from_static("11111111-2222-4333-8444-555555555555"),
                );
                (401, headers, body)
            }
            Kind::Oversized => {
                let body = vec![b' '; MAX_BODY_BYTES + 1000];
                (413, self.signer.headers(&body), body)
            }
            Kind::Health => (200, HeaderMap::new(), Vec::new()),
            Kind::SlowClient => return self.slow_client().await.map(Some),
            Kind::DroppedMidRequest => return self.dropped().await.map(|()| None),
        };
        let (method, url) = if kind == Kind::Health {
            (Method::GET, self.url("/readyz"))
        } else {
            (Method::POST, webhook)
        };
        // Reuse a kept-alive connection when there is one, as step-ca does.
        if kept.is_none() {
            *kept = Some(
                Connection::open(&url, self.tls.clone())
                    .await
                    .map_err(|e| format!("{kind:?}: connect: {e:#}"))?,
            );
        }
        let connection = kept.as_mut().unwrap();
        let result = connection
            .send(method, &url, &headers, Bytes::from(body))
            .await;
        let (status, response) = match result {
            Ok(ok) => ok,
            Err(err) => {
                *kept = None;
                // 413 may close the connection before the whole body is sent.
                if kind == Kind::Oversized {
                    return Ok(None);
                }
                return Err(format!("{kind:?}: {err:#}"));
            }
        };
        if kind == Kind::Oversized {
            *kept = None;
        }
        // Guesses from one address are throttled past AUTH_FAILURE_LIMIT: 429, not 401.
        let throttled = matches!(kind, Kind::BadSignature | Kind::UnknownId)
            && status == StatusCode::TOO_MANY_REQUESTS;
        if status.as_u16() != expected && !throttled {
            return Err(format!(
                "{kind:?}: expected {expected}, got {status}: {response:?}"
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(&response)
            .map_err(|e| format!("{kind:?}: not JSON ({e}): {response:?}"))?;
        let right = match kind {
            Kind::Allowed => value["allow"] == true && value["data"].is_object(),
            Kind::UnknownDevice => value["error"]["code"] == "deviceNotFound",
            Kind::BadSignature | Kind::UnknownId | Kind::Oversized => {
                value == serde_json::json!({"allow": false})
            }
            Kind::Health => value["status"] == "ready",
            Kind::SlowClient | Kind::DroppedMidRequest => true,
        };
        if !right {
            return Err(format!("{kind:?}: wrong body {value}"));
        }
        Ok(Some(status.as_u16()))
    }

    /// A raw connection and, to send on it, a signed request for a listed device as bytes,
    /// with its body's length; `what` names the client in errors.
    async fn raw_request(
        &self,
        what: &str,
    ) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>, usize), String> {
        let body = self.body(LISTED);
        let request = request_bytes(&self.signer.headers(&body), &body);
        let stream = self
            .raw()
            .await
            .map_err(|e| format!("{what}: connect: {e}"))?;
        Ok((stream, request, body.len()))
    }

    /// Sends a valid request a few bytes at a time over 300 ms (within every limit).
    async fn slow_client(&self) -> Result<u16, String> {
        let (mut stream, request, _) = self.raw_request("slow").await?;
        for chunk in request.chunks(request.len() / 6 + 1) {
            stream
                .write_all(chunk)
                .await
                .map_err(|e| format!("slow: write: {e}"))?;
            stream
                .flush()
                .await
                .map_err(|e| format!("slow: flush: {e}"))?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let response = read_answer(&mut stream).await;
        let text = String::from_utf8_lossy(&response);
        if text.starts_with("HTTP/1.1 200") && text.contains("\"allow\":true") {
            Ok(200)
        } else {
            Err(format!("slow: unexpected answer {text:?}"))
        }
    }

    /// Sends the head and half the body, then drops the connection.
    async fn dropped(&self) -> Result<(), String> {
        let (mut stream, request, body_len) = self.raw_request("drop").await?;
        let cut = request.len() - body_len / 2;
        stream
            .write_all(&request[..cut])
            .await
            .map_err(|e| format!("drop: write: {e}"))?;
        drop(stream);
        Ok(())
    }
}

/// Reads one small JSON answer (head and body) for at most 5 s.
async fn read_answer<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0_u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    response
}

/// Counts of the flood's connections.
#[derive(Debug, Default)]
struct FloodCounts {
    /// Connections that reached their quiet state (then held until the server closed them).
    held: AtomicU64,
    /// Connections refused (closed before their quiet state) or that failed otherwise.
    refused: AtomicU64,
}

/// Runs one flood socket from `from` until `stopped` turns true.
async fn flood_socket(
    traffic: Arc<Traffic>,
    from: Ipv4Addr,
    quiet: Quiet,
    counts: Arc<FloodCounts>,
    mut stopped: watch::Receiver<bool>,
) {
    let hold = async || match traffic.quiet(from, quiet).await {
        Ok(mut held) => {
            counts.held.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0_u8; 1024];
            while matches!(held.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        Err(_) => {
            counts.refused.fetch_add(1, Ordering::Relaxed);
        }
    };
    loop {
        tokio::select! {
            () = hold() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        tokio::select! {
            () = tokio::time::sleep(FLOOD_PAUSE) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}

fn request_bytes(headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = b"POST /webhook/device-attest HTTP/1.1\r\nhost: localhost\r\n".to_vec();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

#[derive(Default)]
struct Tally {
    by_kind: BTreeMap<String, u64>,
    failures: Vec<String>,
    unexpected_5xx: u64,
}

#[test]
#[allow(clippy::disallowed_macros)] // the soak report is this test's output
fn soak() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let total = Duration::from_secs(seconds.max(4));
    let warm_up = total / 5;
    let server = Server::start();
    let csrs = [LISTED, UNLISTED]
        .into_iter()
        .map(|serial| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, serial);
            (
                serial,
                params.serialize_request(&key).unwrap().der().to_vec(),
            )
        })
        .collect();
    let traffic = Arc::new(Traffic {
        addr: server.addr,
        tls: client_config(Some(&server.ca), None).unwrap(),
        tls_h2: {
            let mut tls = (*client_config(Some(&server.ca), None).unwrap()).clone();
            tls.alpn_protocols = vec![b"h2".to_vec()];
            Arc::new(tls)
        },
        signer: Signer::new(WEBHOOK_ID, WebhookSecret::from_base64(SECRET).unwrap()).unwrap(),
        csrs,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let flood_counts = Arc::new(FloodCounts::default());
    let (rss_after_warm_up, rss_end) = runtime.block_on(async {
        let (stop_flood, flood_stopped) = watch::channel(false);
        let flood: Vec<_> = FLOOD_FROM
            .iter()
            .flat_map(|from| (0..FLOOD_SOCKETS).map(move |n| (*from, QUIET[n % QUIET.len()])))
            .map(|(from, quiet)| {
                tokio::spawn(flood_socket(
                    traffic.clone(),
                    from,
                    quiet,
                    flood_counts.clone(),
                    flood_stopped.clone(),
                ))
            })
            .collect();
        let mut workers = Vec::new();
        for worker in 0..WORKERS {
            let traffic = traffic.clone();
            let tally = tally.clone();
            let stop = stop.clone();
            workers.push(tokio::spawn(async move {
                let mut kept = None;
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let kind = MIX[i % MIX.len()];
                    i += 1;
                    let result =
                        match tokio::time::timeout(EXCHANGE_LIMIT, traffic.run(kind, &mut kept))
                            .await
                        {
                            Ok(result) => result,
                            Err(_) => {
                                kept = None;
                                Err(format!("{kind:?}: no answer within {EXCHANGE_LIMIT:?}"))
                            }
                        };
                    let mut tally = tally.lock().await;
                    *tally.by_kind.entry(format!("{kind:?}")).or_default() += 1;
                    match result {
                        Ok(Some(status)) if status >= 500 => tally.unexpected_5xx += 1,
                        Ok(_) => {}
                        Err(failure) => {
                            if failure.contains(" 5") {
                                tally.unexpected_5xx += 1;
                            }
                            tally.failures.push(failure);
                        }
                    }
                }
            }));
        }
        for _ in 0..PROBES {
            let traffic = traffic.clone();
            let tally = tally.clone();
            let stop = stop.clone();
            workers.push(tokio::spawn(async move {
                let url = traffic.url("/readyz");
                let mut kept: Option<Connection> = None;
                while !stop.load(Ordering::Relaxed) {
                    let probe = async {
                        if kept.is_none() {
                            kept = Some(
                                Connection::open(&url, traffic.tls.clone())
                                    .await
                                    .map_err(|e| format!("readiness probe: connect: {e:#}"))?,
                            );
                        }
                        let connection = kept.as_mut().ok_or("readiness probe: no connection")?;
                        let (status, _) = connection
                            .send(Method::GET, &url, &HeaderMap::new(), Bytes::new())
                            .await
                            .map_err(|e| format!("readiness probe: {e:#}"))?;
                        if status == StatusCode::OK {
                            Ok(())
                        } else {
                            Err(format!("readiness probe: {status}"))
                        }
                    };
                    let result = match tokio::time::timeout(EXCHANGE_LIMIT, probe).await {
                        Ok(result) => result,
                        Err(_) => Err(format!(
                            "readiness probe: no answer within {EXCHANGE_LIMIT:?}"
                        )),
                    };
                    let mut tally = tally.lock().await;
                    *tally
                        .by_kind
                        .entry("ReadinessFlood".to_owned())
                        .or_default() += 1;
                    if let Err(failure) = result {
                        kept = None;
                        tally.failures.push(failure);
                    }
                    drop(tally);
                    // Some hundreds of probes a second: far past any prober's rate, while
                    // leaving the workers their share of two cores.
                    tokio::time::sleep(PROBE_PAUSE).await;
                }
            }));
        }
        tokio::time::sleep(warm_up).await;
        let after_warm_up = server.rss_kib();
        tokio::time::sleep(total - warm_up).await;
        let end = server.rss_kib();
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.await.unwrap();
        }
        stop_flood.send_replace(true);
        for socket in flood {
            socket.await.unwrap();
        }
        (after_warm_up, end)
    });
    let elapsed = started.elapsed();

    // Still healthy, and still right.
    let (ready, allowed) = runtime.block_on(async {
        let url = traffic.url("/readyz");
        let mut connection = Connection::open(&url, traffic.tls.clone()).await.unwrap();
        let ready = connection
            .send(Method::GET, &url, &HeaderMap::new(), Bytes::new())
            .await
            .unwrap()
            .0;
        let allowed = traffic.run(Kind::Allowed, &mut None).await;
        (ready, allowed)
    });
    let mut server = server;
    let alive = server.child.try_wait().unwrap().is_none();

    let tally = runtime.block_on(async { std::mem::take(&mut *tally.lock().await) });
    let requests: u64 = tally.by_kind.values().sum();
    let growth = rss_end as i64 - rss_after_warm_up as i64;
    println!(
        "soak: {:.1} s, {requests} exchanges ({:.0}/s) by {WORKERS} clients: {:?}",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        tally.by_kind
    );
    println!(
        "soak: VmRSS {rss_after_warm_up} KiB after the {:.0} s warm-up, {rss_end} KiB at the end: {growth:+} KiB",
        warm_up.as_secs_f64()
    );
    println!(
        "soak: flood of {} sockets from {} addresses: {} connections held until the server closed them, {} refused",
        FLOOD_FROM.len() * FLOOD_SOCKETS,
        FLOOD_FROM.len(),
        flood_counts.held.load(Ordering::Relaxed),
        flood_counts.refused.load(Ordering::Relaxed),
    );
    println!(
        "soak: {} wrong answers, {} unexpected 5xx",
        tally.failures.len(),
        tally.unexpected_5xx
    );
    assert!(alive, "the server process exited during the soak");
    assert_eq!(ready, StatusCode::OK, "not ready after the soak");
    assert_eq!(allowed, Ok(Some(200)), "a valid request after the soak");
    assert!(
        tally.failures.is_empty(),
        "wrong answers: {:#?}",
        &tally.failures[..tally.failures.len().min(20)]
    );
    assert_eq!(tally.unexpected_5xx, 0);
    for kind in [
        Kind::Allowed,
        Kind::UnknownDevice,
        Kind::BadSignature,
        Kind::UnknownId,
        Kind::Oversized,
        Kind::SlowClient,
        Kind::DroppedMidRequest,
    ] {
        assert!(
            tally
                .by_kind
                .get(&format!("{kind:?}"))
                .copied()
                .unwrap_or(0)
                > 0,
            "{kind:?} never ran"
        );
    }
    assert!(
        flood_counts.held.load(Ordering::Relaxed) > 0,
        "the flood never held a connection"
    );
    assert!(
        growth < MAX_RSS_GROWTH_KIB as i64,
        "resident memory grew by {growth} KiB after the warm-up"
    );
}
