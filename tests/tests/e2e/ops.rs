//! Operations: hot reload of the device list and the TLS files with nothing dropped,
//! `/readyz` following the provider, and the Prometheus metrics, scraped over the real
//! listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode};
use posture_fakes::TokenFault;
use posture_fakes::intune::{FakeIntune, FakeManagedDevice};
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use step_posture_connector::client::{Connection, client_config};
use step_posture_connector::config::Config;
use step_posture_connector::reload::Reloader;
use step_posture_connector::tls::sha256_hex;
use step_posture_tests::raw::{connect_with, http1_request, read_response};
use step_posture_tests::server::{
    DEVICES_JSON, ENRICHING_ID, ENRICHING_SECRET, TestServer, default_vars, enriching_body,
    enriching_signer, json, set_vars, signed_enriching, with_vars,
};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A certificate and key in PEM, with the certificate's SHA-256.
struct Leaf {
    cert: String,
    key: String,
    fingerprint: String,
}

/// One CA, and server certificates for 127.0.0.1 from it.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Reload Test Root");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Self {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn leaf(&self) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            fingerprint: sha256_hex(cert.der()),
        }
    }
}

/// Replaces a file the way deployment tools should: a complete new file renamed over it.
pub(super) fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

/// Files checked for changes every 25 ms.
pub(super) const POLL: Option<Duration> = Some(Duration::from_millis(25));
/// The plain-HTTP metrics and health listener, on a free port.
pub(super) const METRICS: (&str, &str) = ("METRICS_ADDR", "127.0.0.1:0");

/// A server on 127.0.0.1 with its files in a directory the test can change.
pub(super) struct Ops {
    authority: Authority,
    first: Leaf,
    server: TestServer,
    pub(super) metrics_addr: Option<SocketAddr>,
    pub(super) reloader: Reloader,
    tls: Arc<ClientConfig>,
}

impl Ops {
    /// Starts a file-provider server. `poll` sets how often files are checked for changes
    /// (`None`: never; reloads only on demand, as on SIGHUP). A changed file is reloaded
    /// once it has stayed the same for 50 ms.
    pub(super) async fn start(poll: Option<Duration>, extra: &[(&str, &str)]) -> Self {
        Self::start_with(
            poll,
            Duration::from_millis(50),
            ("devices.json", DEVICES_JSON),
            extra,
        )
        .await
    }

    /// As [`Ops::start`], with `settle` for `RELOAD_SETTLE` and the device file `name`
    /// (`.json` or `.csv`) holding `devices`.
    pub(super) async fn start_with(
        poll: Option<Duration>,
        settle: Duration,
        (name, devices): (&str, &str),
        extra: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let authority = Authority::new();
        let first = authority.leaf();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("ca.pem"), authority.issuer.pem()).unwrap();
        std::fs::write(path("server.pem"), &first.cert).unwrap();
        std::fs::write(path("server-key.pem"), &first.key).unwrap();
        std::fs::write(path(name), devices).unwrap();
        let mut vars = default_vars(&path(name), &path("server.pem"), &path("server-key.pem"));
        // The ENRICHING webhook only.
        set_vars(
            &mut vars,
            &[
                ("WEBHOOK_IDS", ENRICHING_ID),
                ("WEBHOOK_SECRETS", ENRICHING_SECRET),
            ],
        );
        set_vars(&mut vars, extra);
        let mut config = Config::from_vars(&vars).unwrap();
        config.reload_interval = poll.unwrap_or(Duration::ZERO);
        config.reload_settle = settle;
        let tls = client_config(Some(&path("ca.pem")), None).unwrap();
        let server = TestServer::run(config, dir, None, None).await.unwrap();
        Self {
            authority,
            first,
            metrics_addr: server.metrics_addr(),
            reloader: server.reloader().clone(),
            server,
            tls,
        }
    }

    pub(super) fn file(&self, name: &str) -> PathBuf {
        self.server.dir().join(name)
    }

    fn webhook_url(&self) -> http::Uri {
        self.server.webhook_url()
    }

    /// Asks about `serial` on a new connection; returns the status and `allow`.
    pub(super) async fn ask(&self, serial: &str) -> (StatusCode, serde_json::Value) {
        let (headers, body) = signed_enriching(serial).unwrap();
        let url = self.webhook_url();
        let mut connection = Connection::open(&url, self.tls.clone()).await.unwrap();
        let (status, body) = connection.post(&url, &headers, body.into()).await.unwrap();
        (status, json(&body))
    }

    /// The fingerprint of the certificate a new handshake is given.
    async fn served_fingerprint(&self) -> String {
        let tcp = TcpStream::connect(self.server.addr()).await.unwrap();
        let stream = TlsConnector::from(self.tls.clone())
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap();
        let leaf = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
        sha256_hex(&leaf)
    }

    pub(super) async fn stop(self) {
        self.server.stop_cleanly().await.unwrap();
    }
}

/// Polls `check` every 20 ms until it holds, for at most 5 s.
pub(super) async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(5), check).await;
}

async fn eventually_within<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GETs `path` from the plain-HTTP metrics listener.
pub(super) async fn http_get(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub(super) async fn scrape(ops: &Ops) -> String {
    let (status, body) = http_get(ops.metrics_addr.unwrap(), "GET", "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the series `line_start` (name and labels, exactly), or `None`.
pub(super) fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[tokio::test]
async fn a_device_added_to_the_file_is_allowed_after_the_change_without_a_restart() {
    let ops = Ops::start(POLL, &[]).await;
    let (_, body) = ops.ask("C02NEWDEVICE").await;
    assert_eq!(body["error"]["code"], "deviceNotFound");

    let grown = DEVICES_JSON.replace(
        r#"{"identifier":"13804722"}"#,
        r#"{"identifier":"13804722"},{"identifier":"C02NEWDEVICE","data":{"user":"new"}}"#,
    );
    assert_ne!(grown, DEVICES_JSON);
    replace(&ops.file("devices.json"), &grown);
    eventually("the new device is allowed", || async {
        ops.ask("C02NEWDEVICE").await.1["allow"] == true
    })
    .await;
    let (status, body) = ops.ask("C02NEWDEVICE").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"allow": true, "data": {"user": "new"}})
    );
    // The devices that were there are still there.
    assert_eq!(ops.ask("C02XL0GJJG5J").await.1["allow"], true);
    ops.stop().await;
}

#[tokio::test]
async fn a_corrupt_device_file_keeps_the_previous_list_and_counts_one_failure() {
    let ops = Ops::start(POLL, &[METRICS]).await;
    let failures = "step_posture_reloads_total{target=\"devices\",result=\"failure\"}";
    // Truncated JSON, as an interrupted copy would leave it.
    replace(
        &ops.file("devices.json"),
        &DEVICES_JSON[..DEVICES_JSON.len() / 2],
    );
    eventually("the failed reload is counted", || async {
        value(&scrape(&ops).await, failures) == Some(1.0)
    })
    .await;
    for serial in ["C02XL0GJJG5J", "F4KQ2J9XN7", "13804722"] {
        assert_eq!(ops.ask(serial).await.1["allow"], true, "{serial}");
    }
    // Reported once, not at every poll.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let metrics = scrape(&ops).await;
    assert_eq!(value(&metrics, failures), Some(1.0), "{metrics}");
    assert_eq!(
        value(&metrics, "step_posture_devices"),
        Some(3.0),
        "{metrics}"
    );

    // An empty list is refused too: never an empty inventory.
    let report = {
        replace(&ops.file("devices.json"), r#"{"devices":[]}"#);
        ops.reloader.reload_devices().await.unwrap()
    };
    assert!(report.is_err());
    assert_eq!(ops.ask("C02XL0GJJG5J").await.1["allow"], true);
    ops.stop().await;
}

#[tokio::test]
async fn a_replaced_certificate_is_served_on_new_handshakes_and_old_connections_finish() {
    let ops = Ops::start(POLL, &[]).await;
    assert_eq!(ops.served_fingerprint().await, ops.first.fingerprint);
    // A keep-alive connection made before the change.
    let url = ops.webhook_url();
    let mut old = Connection::open(&url, ops.tls.clone()).await.unwrap();

    let second = ops.authority.leaf();
    replace(&ops.file("server-key.pem"), &second.key);
    replace(&ops.file("server.pem"), &second.cert);
    eventually("new handshakes get the new certificate", || async {
        ops.served_fingerprint().await == second.fingerprint
    })
    .await;

    let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
    let (status, body) = old.post(&url, &headers, body.into()).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["allow"], true);

    // A certificate that doesn't match the key is refused whole: the second stays.
    let third = ops.authority.leaf();
    replace(&ops.file("server.pem"), &third.cert);
    assert!(ops.reloader.reload_tls().await.is_err());
    assert_eq!(ops.served_fingerprint().await, second.fingerprint);
    ops.stop().await;
}

/// Writes a webhook request's head and the first half of its body, so the server is
/// mid-request; returns the rest, to send later.
async fn start_request<S: AsyncWrite + Unpin>(
    stream: &mut S,
    body: &[u8],
    headers: &HeaderMap,
) -> Vec<u8> {
    let request = http1_request("POST", "/webhook/device-attest", headers, body);
    let (sent, rest) = request.split_at(request.len() - (body.len() - body.len() / 2));
    stream.write_all(sent).await.unwrap();
    stream.flush().await.unwrap();
    rest.to_vec()
}

#[tokio::test]
async fn requests_in_flight_during_reloads_all_complete() {
    let ops = Ops::start(None, &[]).await;
    let signer = enriching_signer().unwrap();
    // Twenty requests stopped halfway through their bodies, on connections made with the
    // first certificate.
    let mut pending = Vec::new();
    for _ in 0..20 {
        let signed = signer.sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
        let mut stream = connect_with(ops.tls.clone(), ops.server.addr())
            .await
            .unwrap();
        let rest = start_request(&mut stream, &signed.body, &signed.headers).await;
        pending.push((stream, rest));
    }
    // Meanwhile: a new certificate and a new device list, which keeps the device asked
    // about in flight and adds another.
    let second = ops.authority.leaf();
    replace(&ops.file("server-key.pem"), &second.key);
    replace(&ops.file("server.pem"), &second.cert);
    replace(
        &ops.file("devices.json"),
        r#"{"devices":[{"identifier":"C02XL0GJJG5J"},{"identifier":"C02NEWDEVICE"}]}"#,
    );
    let report = ops.reloader.reload_all().await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(ops.served_fingerprint().await, second.fingerprint);

    // The requests begun before the reload finish on their old connections.
    for (mut stream, rest) in pending {
        stream.write_all(&rest).await.unwrap();
        let (status, answer) = read_response(&mut stream).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            json(&answer)["allow"],
            true,
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    // A steady stream of new requests while reloads keep happening.
    let load = (0..4)
        .map(|_| {
            let tls = ops.tls.clone();
            let url = ops.webhook_url();
            tokio::spawn(async move {
                let mut answered = 0;
                for _ in 0..15 {
                    let (headers, body) = signed_enriching("C02NEWDEVICE").unwrap();
                    let mut connection = Connection::open(&url, tls.clone()).await.unwrap();
                    let (status, body) =
                        connection.post(&url, &headers, body.into()).await.unwrap();
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(json(&body)["allow"], true);
                    answered += 1;
                }
                answered
            })
        })
        .collect::<Vec<_>>();
    for _ in 0..10 {
        assert!(ops.reloader.reload_all().await.is_ok());
    }

    let mut answered = 0;
    for task in load {
        answered += task.await.unwrap();
    }
    assert_eq!(answered, 60);
    ops.stop().await;
}

#[tokio::test]
async fn metrics_name_every_series_and_count_what_happened() {
    let ops = Ops::start(None, &[METRICS]).await;
    // Two allows, a deny, an invalid mode, a forged signature.
    for serial in ["C02XL0GJJG5J", "F4KQ2J9XN7", "C02UNKNOWN00"] {
        ops.ask(serial).await;
    }
    let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
    let url = ops.server.url("/webhook/device-attest?mode=laptop");
    let mut connection = Connection::open(&url, ops.tls.clone()).await.unwrap();
    connection
        .post(&url, &headers, body.clone().into())
        .await
        .unwrap();
    let mut forged = headers.clone();
    forged.insert("x-smallstep-signature", "00".repeat(32).parse().unwrap());
    let (status, _) = connection
        .post(&ops.webhook_url(), &forged, body.into())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A client that doesn't trust the server abandons the handshake.
    let stranger = client_config(None, None).unwrap();
    assert!(
        Connection::open(&ops.webhook_url(), stranger)
            .await
            .is_err()
    );
    // One good reload of each kind, and one failed.
    assert!(ops.reloader.reload_all().await.is_ok());
    std::fs::write(ops.file("devices.json"), "garbage").unwrap();
    assert!(ops.reloader.reload_devices().await.unwrap().is_err());

    eventually("the abandoned handshake is counted", || async {
        value(
            &scrape(&ops).await,
            "step_posture_tls_handshake_failures_total{reason=\"error\"}",
        ) == Some(1.0)
    })
    .await;
    let metrics = scrape(&ops).await;
    let id = ENRICHING_ID;
    let expected = [
        (format!("step_posture_decisions_total{{outcome=\"allow\",code=\"\",webhook_id=\"{id}\",mode=\"unspecified\"}}"), 2.0),
        (format!("step_posture_decisions_total{{outcome=\"deny\",code=\"deviceNotFound\",webhook_id=\"{id}\",mode=\"unspecified\"}}"), 1.0),
        (format!("step_posture_decisions_total{{outcome=\"deny\",code=\"invalidMode\",webhook_id=\"{id}\",mode=\"unspecified\"}}"), 1.0),
        (format!("step_posture_decisions_total{{outcome=\"unauthorized\",code=\"\",webhook_id=\"{id}\",mode=\"unspecified\"}}"), 1.0),
        ("step_posture_request_duration_seconds_count".to_owned(), 5.0),
        ("step_posture_provider_lookup_duration_seconds_count{provider=\"file\",result=\"allow\"}".to_owned(), 2.0),
        ("step_posture_provider_lookup_duration_seconds_count{provider=\"file\",result=\"deny\"}".to_owned(), 1.0),
        ("step_posture_provider_lookup_duration_seconds_count{provider=\"file\",result=\"error\"}".to_owned(), 0.0),
        ("step_posture_tls_handshake_failures_total{reason=\"error\"}".to_owned(), 1.0),
        ("step_posture_reloads_total{target=\"tls\",result=\"success\"}".to_owned(), 1.0),
        ("step_posture_reloads_total{target=\"devices\",result=\"success\"}".to_owned(), 1.0),
        ("step_posture_reloads_total{target=\"devices\",result=\"failure\"}".to_owned(), 1.0),
        ("step_posture_devices".to_owned(), 3.0),
        (format!("step_posture_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")), 1.0),
    ];
    for (series, count) in expected {
        assert_eq!(
            value(&metrics, &series),
            Some(count),
            "{series} in\n{metrics}"
        );
    }
    let expiry = value(
        &metrics,
        "step_posture_tls_certificate_expiry_timestamp_seconds",
    )
    .unwrap();
    assert!(expiry > 1.7e9, "{expiry}");
    assert!(metrics.contains("step_posture_request_duration_seconds_bucket{le=\"0.0005\"}"));

    // The health endpoints are on the metrics listener too; the webhook is not.
    let metrics_addr = ops.metrics_addr.unwrap();
    assert_eq!(http_get(metrics_addr, "GET", "/livez").await.0, 200);
    assert_eq!(http_get(metrics_addr, "GET", "/readyz").await.0, 200);
    assert_eq!(
        http_get(metrics_addr, "POST", "/webhook/device-attest")
            .await
            .0,
        404
    );
    assert_eq!(http_get(metrics_addr, "POST", "/metrics").await.0, 405);
    ops.stop().await;
}

#[tokio::test]
async fn readyz_follows_jamf_and_its_cache_and_token_counters_are_exported() {
    let jamf = FakeJamf::start().await.unwrap();
    // No `mode` in the URL means a mobile device, as in the Go version.
    jamf.add_mobile_device(FakeDevice::new("C02XL0GJJG5J"));
    // Short tokens, so that readiness asks Jamf for a new one soon.
    jamf.set_token_lifetime(Duration::from_secs(1));
    let vars = jamf.env_vars();
    let extra = [("PROVIDER", "jamf"), METRICS];
    let ops = Ops::start(None, &with_vars(&vars, &extra)).await;
    let readyz = ops.server.url("/readyz");
    let ready = || async {
        let mut connection = Connection::open(&readyz, ops.tls.clone()).await.unwrap();
        let (status, body) = connection
            .send(Method::GET, &readyz, &HeaderMap::new(), bytes::Bytes::new())
            .await
            .unwrap();
        // No details for an attacker, whatever the state.
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(!text.contains("Jamf") && !text.contains("token"), "{text}");
        status
    };
    assert_eq!(ready().await, StatusCode::OK);

    for _ in 0..2 {
        assert_eq!(ops.ask("C02XL0GJJG5J").await.1["allow"], true);
    }
    let metrics = scrape(&ops).await;
    for (series, count) in [
        (
            "step_posture_provider_cache_hits_total{provider=\"jamf\",cache=\"decisions\"}",
            1.0,
        ),
        (
            "step_posture_provider_cache_misses_total{provider=\"jamf\",cache=\"decisions\"}",
            1.0,
        ),
        (
            "step_posture_provider_lookup_duration_seconds_count{provider=\"jamf\",result=\"allow\"}",
            2.0,
        ),
    ] {
        assert_eq!(
            value(&metrics, series),
            Some(count),
            "{series} in\n{metrics}"
        );
    }
    let tokens = value(
        &metrics,
        "step_posture_provider_token_requests_total{provider=\"jamf\"}",
    )
    .unwrap();
    assert!(tokens >= 1.0, "{metrics}");

    jamf.set_token_fault(Some(TokenFault::Status(500)));
    eventually("/readyz turns unready", || async {
        ready().await == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let metrics = scrape(&ops).await;
    assert!(
        value(
            &metrics,
            "step_posture_provider_token_failures_total{provider=\"jamf\"}"
        )
        .unwrap()
            >= 1.0
    );
    jamf.set_token_fault(None);
    // A failed readiness check is reused for 10 s, so that probes can't hammer a failing
    // Jamf: the recovery shows within that.
    eventually_within(
        "/readyz is ready again",
        Duration::from_secs(12),
        || async { ready().await == StatusCode::OK },
    )
    .await;
    ops.stop().await;
}

#[tokio::test]
async fn intune_and_kandji_counters_reach_metrics_the_way_jamfs_do() {
    let intune = FakeIntune::start().await.unwrap();
    intune.add_device(FakeManagedDevice::new("C02XL0GJJG5J"));
    let kandji = FakeKandji::start().await.unwrap();
    kandji.add_device(FakeKandjiDevice::new("C02XL0GJJG5J"));
    let mut vars = intune.env_vars();
    vars.extend(kandji.env_vars());
    let extra = [("PROVIDER", "intune,kandji"), METRICS];
    let ops = Ops::start(None, &with_vars(&vars, &extra)).await;
    for _ in 0..2 {
        assert_eq!(ops.ask("C02XL0GJJG5J").await.1["allow"], true);
    }
    let metrics = scrape(&ops).await;
    for provider in ["intune", "kandji"] {
        let hits = format!(
            "step_posture_provider_cache_hits_total{{provider=\"{provider}\",cache=\"decisions\"}}"
        );
        assert_eq!(value(&metrics, &hits), Some(1.0), "{hits} in\n{metrics}");
        let requests = format!("step_posture_provider_requests_total{{provider=\"{provider}\"}}");
        assert!(
            value(&metrics, &requests).is_some_and(|n| n >= 1.0),
            "{requests} in\n{metrics}"
        );
    }
    let tokens = "step_posture_provider_token_requests_total{provider=\"intune\"}";
    assert_eq!(value(&metrics, tokens), Some(1.0), "{metrics}");
    // One family per name, whichever providers report it.
    assert_eq!(
        metrics
            .matches("# TYPE step_posture_provider_requests counter")
            .count(),
        1,
        "{metrics}"
    );
    ops.stop().await;
}
