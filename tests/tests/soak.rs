//! A bounded soak run against the real binary on 127.0.0.1: a mix of good and hostile
//! traffic for `SOAK_SECONDS` (20 by default, as in CI; set it higher by hand, e.g.
//! `SOAK_SECONDS=600 cargo test --release -p step-posture-tests --test soak -- --nocapture`).
//! The binary is the server's `main` built in this package (`connector-under-test`), so
//! its memory is measured apart from the clients'.
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
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use smallstep_webhook::{RequestBody, SIGNATURE_HEADER, Signer, WEBHOOK_ID_HEADER};
use step_posture_connector::client::Connection;
use step_posture_tests::flood::{Flood, FloodTls, Reopening, Silence};
use step_posture_tests::pki::Pki;
use step_posture_tests::raw::{connect_with, http1_request, loopback, read_response};
use step_posture_tests::server::{
    DEVICES_JSON, default_vars, device_csr, enriching_signer, json, set_vars,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// The server, as a program of its own.
const SERVER_BIN: &str = env!("CARGO_BIN_EXE_connector-under-test");
/// In [`DEVICES_JSON`].
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

/// The last byte of the flood's client addresses (127.0.0.x); the workers connect from
/// 127.0.0.1.
const FLOOD_FROM: [u8; 3] = [2, 3, 4];
/// Flood sockets per address: more than its share of `MAX_CONNECTIONS`.
const FLOOD_SOCKETS: usize = 40;
/// A flood socket the server closed is opened again 200 ms later, for as long as the soak
/// runs.
const FLOOD_REOPENING: Reopening = Reopening {
    pause: Duration::from_millis(200),
    at_most: None,
};
/// How the flood's sockets keep quiet, in turn.
const QUIET: [Silence; 4] = [Silence::Tcp, Silence::Tls, Silence::Http2, Silence::TlsIdle];

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
    /// Holds the device file.
    _dir: tempfile::TempDir,
    pki: Pki,
}

impl Server {
    fn start() -> Self {
        let pki = Pki::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let devices = dir.path().join("devices.json");
        std::fs::write(&devices, DEVICES_JSON).unwrap();
        let mut vars = default_vars(&devices, &pki.server.cert, &pki.server.key);
        set_vars(
            &mut vars,
            &[
                ("MAX_BODY_BYTES", MAX_BODY_BYTES.to_string().as_str()),
                ("MAX_CONNECTIONS", MAX_CONNECTIONS.to_string().as_str()),
                ("HEADER_READ_TIMEOUT", "1"),
                ("TIMEOUT", "2"),
                // The start-up line, not one line per decision.
                ("RUST_LOG", "info,step_posture_connector::decision=warn"),
            ],
        );
        let mut child = Command::new(SERVER_BIN)
            // Away from any `.env` where the test runs.
            .current_dir(dir.path())
            .env_clear()
            .envs(&vars)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let addr = listening_addr(child.stderr.take().unwrap());
        Self {
            child,
            addr,
            _dir: dir,
            pki,
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

/// Waits up to 30 s for the server's `listening on https://` line and returns its address.
/// The rest of `stderr` is read to its end, so the server never blocks on a full pipe.
fn listening_addr(stderr: ChildStderr) -> SocketAddr {
    let (addr_tx, addr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some((_, rest)) = line.split_once("listening on https://") {
                // Ends at a slash (text logs) or a quote (JSON logs).
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':'))
                    .collect();
                let _ = addr_tx.send(addr);
            }
        }
    });
    addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server did not start")
        .parse()
        .unwrap()
}

struct Traffic {
    addr: SocketAddr,
    /// `http1` for the clients, both for the flood.
    tls: FloodTls,
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
                Connection::open(&url, self.tls.http1.clone())
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
        let request = http1_request(
            "POST",
            "/webhook/device-attest",
            &self.signer.headers(&body),
            &body,
        );
        let stream = connect_with(self.tls.http1.clone(), self.addr)
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
        let answer = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream)).await;
        match answer {
            Ok(Ok((200, body))) if json(&body)["allow"] == true => Ok(200),
            // The status follows a space: a 5xx here counts as unexpected.
            Ok(Ok((status, body))) => Err(format!(
                "slow: unexpected answer {status} {:?}",
                String::from_utf8_lossy(&body)
            )),
            Ok(Err(err)) => Err(format!("slow: {err:#}")),
            Err(_) => Err("slow: no answer within 5 s".to_owned()),
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
    // Made once: a fresh key for every request would spend the clients' time on keys.
    let csrs = [LISTED, UNLISTED]
        .into_iter()
        .map(|serial| (serial, device_csr(serial).unwrap()))
        .collect();
    let traffic = Arc::new(Traffic {
        addr: server.addr,
        tls: FloodTls::trusting(&server.pki).unwrap(),
        signer: enriching_signer().unwrap(),
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
    let (rss_after_warm_up, rss_end, flood_held, flood_refused) = runtime.block_on(async {
        let flood: Vec<_> = FLOOD_FROM
            .into_iter()
            .map(|n| {
                Flood::start_reopening(
                    &traffic.tls,
                    traffic.addr,
                    loopback(n),
                    FLOOD_SOCKETS,
                    &QUIET,
                    FLOOD_REOPENING,
                )
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
                                Connection::open(&url, traffic.tls.http1.clone())
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
        let held = flood.iter().map(Flood::held).sum::<usize>();
        let refused = flood.iter().map(Flood::refused).sum::<usize>();
        for flood in flood {
            flood.stop().await;
        }
        (after_warm_up, end, held, refused)
    });
    let elapsed = started.elapsed();

    // Still healthy, and still right.
    let (ready, allowed) = runtime.block_on(async {
        let url = traffic.url("/readyz");
        let mut connection = Connection::open(&url, traffic.tls.http1.clone())
            .await
            .unwrap();
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
        flood_held,
        flood_refused,
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
    assert!(flood_held > 0, "the flood never held a connection");
    assert!(
        growth < MAX_RSS_GROWTH_KIB as i64,
        "resident memory grew by {growth} KiB after the warm-up"
    );
}
