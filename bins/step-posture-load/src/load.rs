//! The load generator: plays step-ca against a webhook over N keep-alive TLS connections
//! and measures latency, outcomes and the server process's CPU time and peak memory.
//!
//! Every request is a fresh step-ca ENRICHING device-attest body for one device of a pool,
//! each device with its own real CSR (an ECDSA P-256 key and a PKCS#10 request whose
//! common name is the serial), stamped with the current time and signed with the webhook
//! secret exactly as step-ca does. Keys and CSRs are made before the run, so key
//! generation does not compete with the server for CPU while it is measured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderValue, Uri};
use smallstep_webhook::{RequestBody, Signer, WebhookSecret};
use step_posture_connector::client::{Connection, client_config};
use tokio::sync::Barrier;

use crate::procfs::{self, ClockTicks};

/// Step-ca-shaped bodies, one per device, each with its own real CSR. Bodies are made once
/// per identifier and reused across runs.
#[derive(Debug, Default)]
pub(crate) struct CsrPool {
    bodies: HashMap<String, RequestBody>,
}

impl CsrPool {
    /// The bodies for `identifiers`, generating a key and CSR for those not seen before.
    pub(crate) fn bodies(&mut self, identifiers: &[String]) -> anyhow::Result<Vec<RequestBody>> {
        let mut out = Vec::with_capacity(identifiers.len());
        for id in identifiers {
            if !self.bodies.contains_key(id) {
                let body = device_body(id)?;
                self.bodies.insert(id.clone(), body);
            }
            if let Some(body) = self.bodies.get(id) {
                out.push(body.clone());
            }
        }
        Ok(out)
    }
}

/// The body step-ca sends when a device-attest-01 order for `serial` is finalised with a
/// CSR whose common name is the serial.
fn device_body(serial: &str) -> anyhow::Result<RequestBody> {
    let key = rcgen::KeyPair::generate().context("generating a device key")?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, serial);
    let csr = params.serialize_request(&key).context("building a CSR")?;
    RequestBody::device_attest_enriching(serial, csr.der(), time::OffsetDateTime::now_utc())
        .context("building a device-attest body")
}

/// When a run stops.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stop {
    /// After this long (requests in flight finish).
    After(Duration),
    /// After this many requests in all.
    Requests(u64),
}

/// Where to send and how hard.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The webhook URL.
    pub(crate) url: Uri,
    /// The CA certificate that issued the server's certificate.
    pub(crate) ca: PathBuf,
    /// The webhook ID.
    pub(crate) webhook_id: String,
    /// The webhook secret.
    pub(crate) secret: WebhookSecret,
    /// Keep-alive connections, each with one request in flight.
    pub(crate) connections: usize,
    /// Requests each connection sends, unmeasured, before the measurement starts.
    pub(crate) warmup: u64,
    /// The server process to measure, if any.
    pub(crate) server_pid: Option<u32>,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Report {
    /// Requests answered 200 with `"allow":true`.
    pub(crate) allows: u64,
    /// Requests answered 200 with `"allow":false`.
    pub(crate) denies: u64,
    /// Requests that failed or got another status.
    pub(crate) errors: u64,
    /// The first error, for the record.
    pub(crate) first_error: Option<String>,
    /// Wall time of the measured part.
    pub(crate) elapsed: Duration,
    /// Latency of every measured request, in microseconds, sorted.
    pub(crate) latencies_us: Vec<u32>,
    /// Server CPU time (user + system) during the measured part.
    pub(crate) server_cpu: Option<Duration>,
    /// The server's peak resident memory (`VmHWM`) after the run, in bytes.
    pub(crate) peak_rss: Option<u64>,
}

impl Report {
    /// Requests measured.
    pub(crate) fn requests(&self) -> u64 {
        self.allows + self.denies + self.errors
    }

    /// Requests per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p` quantile (0 to 1) of latency, in milliseconds (nearest rank).
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies_us.len() as f64) * p).ceil() as usize;
        let index = rank.clamp(1, self.latencies_us.len()) - 1;
        f64::from(self.latencies_us[index]) / 1000.0
    }

    /// Server CPU microseconds per measured request.
    pub(crate) fn cpu_us_per_request(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.requests() > 0).then(|| cpu.as_secs_f64() * 1e6 / self.requests() as f64)
    }

    /// One line for the log.
    pub(crate) fn summary(&self) -> String {
        let mut line = format!(
            "{} requests in {:.2} s: {:.0} req/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; allow {}, deny {}, error {}",
            self.requests(),
            self.elapsed.as_secs_f64(),
            self.throughput(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.90),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0),
            self.allows,
            self.denies,
            self.errors,
        );
        if let Some(cpu) = self.cpu_us_per_request() {
            line.push_str(&format!("; server CPU {cpu:.1} µs/request"));
        }
        if let Some(rss) = self.peak_rss {
            line.push_str(&format!(
                "; server peak RSS {:.1} MB",
                crate::report::mb(rss)
            ));
        }
        if let Some(err) = &self.first_error {
            line.push_str(&format!("; first error: {err}"));
        }
        line
    }
}

#[derive(Default)]
struct TaskStats {
    allows: u64,
    denies: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

/// Runs the load: opens the connections, lets each send its warm-up requests, then
/// measures until `stop`. `bodies` are shared out among the connections, which cycle
/// through their share.
pub(crate) async fn run(
    target: &Target,
    bodies: Vec<RequestBody>,
    stop: Stop,
    clock: ClockTicks,
) -> anyhow::Result<Report> {
    if bodies.is_empty() || target.connections == 0 {
        bail!("nothing to send: no devices or no connections");
    }
    let tls = client_config(Some(&target.ca), None)?;
    let signer = Arc::new(
        Signer::new(target.webhook_id.clone(), target.secret.clone())
            .context("webhook ID for the signer")?,
    );
    let connections = target.connections;
    let mut shares: Vec<Vec<RequestBody>> = vec![Vec::new(); connections];
    for (i, body) in bodies.iter().enumerate() {
        shares[i % connections].push(body.clone());
    }
    for (i, share) in shares.iter_mut().enumerate() {
        if share.is_empty() {
            share.push(bodies[i % bodies.len()].clone());
        }
    }
    let quota = |task: usize| match stop {
        Stop::After(_) => u64::MAX,
        Stop::Requests(total) => {
            let n = connections as u64;
            total / n + u64::from((task as u64) < total % n)
        }
    };

    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(Connection::open(&target.url, tls.clone()));
    }
    let mut open_connections = Vec::with_capacity(connections);
    for connection in opened {
        open_connections.push(connection.await?);
    }

    let barrier = Arc::new(Barrier::new(connections + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for (task, (connection, share)) in open_connections.into_iter().zip(shares).enumerate() {
        let barrier = barrier.clone();
        let signer = signer.clone();
        let url = target.url.clone();
        let warmup = target.warmup;
        let quota = quota(task);
        tasks.spawn(async move {
            let mut client = Client {
                connection,
                url,
                signer,
                bodies: share,
                next: 0,
                task,
                sent: 0,
            };
            for _ in 0..warmup {
                let _ = client.send().await;
            }
            barrier.wait().await;
            let deadline = match stop {
                Stop::After(duration) => Some(Instant::now() + duration),
                Stop::Requests(_) => None,
            };
            let mut stats = TaskStats::default();
            let mut done = 0;
            while done < quota && deadline.is_none_or(|deadline| Instant::now() < deadline) {
                let began = Instant::now();
                let outcome = client.send().await;
                let latency = began.elapsed();
                stats
                    .latencies_us
                    .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                match outcome {
                    Ok(Outcome::Allow) => stats.allows += 1,
                    Ok(Outcome::Deny) => stats.denies += 1,
                    Ok(Outcome::Refused(reason)) => {
                        stats.errors += 1;
                        stats.first_error.get_or_insert(reason);
                    }
                    Err(err) => {
                        // The connection is gone: this task stops.
                        stats.errors += 1;
                        stats.first_error.get_or_insert(format!("{err:#}"));
                        break;
                    }
                }
                done += 1;
            }
            stats
        });
    }

    barrier.wait().await;
    let cpu_before = target
        .server_pid
        .map(|pid| procfs::cpu_time(pid, clock))
        .transpose()?;
    let started = Instant::now();
    let mut report = Report::default();
    while let Some(joined) = tasks.join_next().await {
        let stats = joined.context("a load task panicked")?;
        report.allows += stats.allows;
        report.denies += stats.denies;
        report.errors += stats.errors;
        if report.first_error.is_none() {
            report.first_error = stats.first_error;
        }
        report.latencies_us.extend(stats.latencies_us);
    }
    report.elapsed = started.elapsed();
    if let (Some(pid), Some(before)) = (target.server_pid, cpu_before) {
        let after = procfs::cpu_time(pid, clock)?;
        report.server_cpu = Some(after.saturating_sub(before));
        report.peak_rss = Some(procfs::memory(pid)?.peak_rss);
    }
    report.latencies_us.sort_unstable();
    Ok(report)
}

enum Outcome {
    Allow,
    Deny,
    /// Another status, or a body that is not a webhook response.
    Refused(String),
}

struct Client {
    connection: Connection,
    url: Uri,
    signer: Arc<Signer>,
    bodies: Vec<RequestBody>,
    next: usize,
    task: usize,
    sent: u64,
}

impl Client {
    /// Sends the next device's body, freshly stamped and signed. An error means the
    /// connection failed.
    async fn send(&mut self) -> anyhow::Result<Outcome> {
        let index = self.next % self.bodies.len();
        self.next = self.next.wrapping_add(1);
        let body = &mut self.bodies[index];
        body.timestamp = Some(time::OffsetDateTime::now_utc());
        let mut signed = self.signer.sign_body(body);
        self.sent += 1;
        // step-ca (v0.26+) names the CA request that triggered the webhook.
        if let Ok(id) = HeaderValue::try_from(format!("load-{}-{}", self.task, self.sent)) {
            signed
                .headers
                .insert(smallstep_webhook::REQUEST_ID_HEADER, id);
        }
        let (status, answer) = self
            .connection
            .post(&self.url, &signed.headers, Bytes::from(signed.body))
            .await?;
        Ok(if status != http::StatusCode::OK {
            Outcome::Refused(format!(
                "HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&answer)
            ))
        } else if answer.starts_with(b"{\"allow\":true") {
            Outcome::Allow
        } else if answer.starts_with(b"{\"allow\":false") {
            Outcome::Deny
        } else {
            Outcome::Refused(format!(
                "not a webhook response: {}",
                String::from_utf8_lossy(&answer)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let report = Report {
            allows: 100,
            latencies_us: (1..=100).map(|ms| ms * 1000).collect(),
            elapsed: Duration::from_secs(2),
            server_cpu: Some(Duration::from_millis(5)),
            ..Report::default()
        };
        assert_eq!(report.percentile_ms(0.5), 50.0);
        assert_eq!(report.percentile_ms(0.99), 99.0);
        assert_eq!(report.percentile_ms(1.0), 100.0);
        assert_eq!(report.throughput(), 50.0);
        assert_eq!(report.cpu_us_per_request(), Some(50.0));
    }

    #[test]
    fn pool_bodies_carry_a_real_csr_for_each_device() {
        let mut pool = CsrPool::default();
        let bodies = pool
            .bodies(&["C02000000001".to_owned(), "C02000000002".to_owned()])
            .unwrap();
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[1].permanent_identifier(), Some("C02000000002"));
        assert_eq!(
            bodies[1].csr_common_name().unwrap().as_deref(),
            Some("C02000000002")
        );
        assert_ne!(bodies[0].csr_der(), bodies[1].csr_der());
    }
}
