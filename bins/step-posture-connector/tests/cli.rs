//! The real binary, run as a user would: configuration errors and exit codes, a Go-style
//! `.env`, `simulate`, `check-config`, `lookup` and `--version`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use step_posture_connector::pki::generate_demo_pki;

mod common;

use common::{BIN, SECRET, WEBHOOK_ID, assert_contains_all};

/// A working directory with certificates and device lists, like a Go deployment's.
struct Deployment {
    dir: tempfile::TempDir,
}

impl Deployment {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        common::write_deployment(dir.path());
        std::fs::write(
            dir.path().join("devices.csv"),
            include_str!("../../../examples/devices.csv"),
        )
        .unwrap();
        Self { dir }
    }

    /// A deployment with a Go-style `.env` serving `devices.json`.
    fn go_json() -> Self {
        let deployment = Self::new();
        deployment.write_go_dotenv("json");
        deployment
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `.env` a Go-version user of the file provider has.
    fn write_go_dotenv(&self, file_type: &str) {
        let text = format!(
            "PROVIDER=file\nFILE_PATH=devices.{file_type}\nFILE_TYPE={file_type}\n\
             TLS_CERT_PATH=server.pem\nTLS_KEY_PATH=server.key\n\
             WEBHOOK_IDS={WEBHOOK_ID}\nWEBHOOK_SECRETS={SECRET}\nLOGGING_LEVEL=0\nPORT=0\n"
        );
        std::fs::write(self.file(".env"), text).unwrap();
    }

    /// Takes `WEBHOOK_SECRETS` out of the `.env`, for a test that sets
    /// `WEBHOOK_SECRETS_FILE` instead: the two conflict, and an empty value in the
    /// environment can't unset one the `.env` sets.
    fn remove_secrets_from_dotenv(&self) {
        let dotenv = std::fs::read_to_string(self.file(".env")).unwrap();
        let without_secrets: String = dotenv
            .lines()
            .filter(|line| !line.starts_with("WEBHOOK_SECRETS="))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(self.file(".env"), without_secrets).unwrap();
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("BIND_ADDRESS", "127.0.0.1");
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Fails unless what `output` printed on stdout contains `needle`, showing it.
#[track_caller]
fn assert_stdout_contains(output: &Output, needle: &str) {
    assert_contains_all(&stdout(output), &[needle]);
}

/// Fails unless what `output` printed on stderr contains `needle`, showing it.
#[track_caller]
fn assert_stderr_contains(output: &Output, needle: &str) {
    assert_contains_all(&stderr(output), &[needle]);
}

/// A running server process, stopped with SIGTERM when dropped.
struct Running {
    child: Child,
    url: String,
    /// The lines it logs after start-up, as they come.
    events: std::sync::mpsc::Receiver<Result<String, String>>,
    /// Every line the server wrote to stderr.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(mut command: Command) -> Self {
        let (mut child, stderr) = common::spawn_with_stderr(&mut command);
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn({
            let log = log.clone();
            move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(start) = line.find("listening on https://") {
                        // Ends at a space (text logs) or a quote (JSON logs).
                        let url = line[start + "listening on ".len()..]
                            .split([' ', '"'])
                            .next()
                            .unwrap_or("")
                            .to_owned();
                        let _ = tx.send(Ok(url));
                    } else {
                        let _ = tx.send(Err(line.clone()));
                    }
                    log.lock().unwrap().push(line);
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(url)) => {
                    return Self {
                        child,
                        url,
                        events: rx,
                        log,
                        reader: Some(reader),
                    };
                }
                Ok(Err(line)) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("server did not start; it logged:\n{}", seen.join("\n"));
                }
            }
        }
    }

    /// Sends SIGHUP.
    fn hangup(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// The next logged line containing `needle` and the lines after it until the log is
    /// quiet for a moment (the rest of a multi-line message); fails after 10 s.
    fn log_from(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Ok(line) | Err(line)) if line.contains(needle) => {
                    let mut text = line;
                    while let Ok(Ok(line) | Err(line)) =
                        self.events.recv_timeout(Duration::from_millis(300))
                    {
                        text.push('\n');
                        text.push_str(&line);
                    }
                    return text;
                }
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} within 10 s"),
            }
        }
    }

    fn stop(self) -> std::process::ExitStatus {
        self.stop_with_log().0
    }

    /// Stops the server with SIGTERM; fails unless it exits successfully.
    #[track_caller]
    fn stop_cleanly(self) {
        let status = self.stop();
        assert!(status.success(), "exit after SIGTERM: {status:?}");
    }

    /// Stops the server with SIGTERM and returns its exit status and every line it logged.
    fn stop_with_log(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let log = std::mem::take(&mut *self.log.lock().unwrap());
        (status, log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn simulate(deployment: &Deployment, url: &str, serial: &str, extra: &[&str]) -> Output {
    simulate_with_secret(deployment, url, serial, extra, SECRET)
}

/// `simulate` signing with `secret` instead of the test webhook's.
fn simulate_with_secret(
    deployment: &Deployment,
    url: &str,
    serial: &str,
    extra: &[&str],
    secret: &str,
) -> Output {
    let ca = deployment.file("ca.pem");
    let mut args = vec![
        "simulate",
        "--url",
        url,
        "--ca-cert",
        ca.to_str().unwrap(),
        "--webhook-id",
        WEBHOOK_ID,
        "--serial",
        serial,
    ];
    args.extend_from_slice(extra);
    deployment.run(&args, &[("SIMULATE_SECRET", secret)])
}

#[test]
fn version_flag() {
    let output = Command::new(BIN).arg("--version").output().unwrap();
    assert!(output.status.success());
    assert!(stdout(&output).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn empty_environment_names_every_required_variable() {
    let deployment = Deployment::new();
    let output = deployment.run(&[], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    for variable in [
        "PROVIDER",
        "TLS_CERT_PATH",
        "TLS_KEY_PATH",
        "WEBHOOK_IDS",
        "WEBHOOK_SECRETS",
    ] {
        assert!(
            text.contains(&format!(
                "configuration error: {variable} is not set: expected"
            )),
            "{variable} missing from:\n{text}"
        );
    }
}

/// A file-provider server in a [`Deployment`], but for its webhooks.
const FILE_SERVER: [(&str, &str); 5] = [
    ("PROVIDER", "file"),
    ("FILE_PATH", "devices.json"),
    ("FILE_TYPE", "json"),
    ("TLS_CERT_PATH", "server.pem"),
    ("TLS_KEY_PATH", "server.key"),
];

#[test]
fn each_invalid_variable_is_named_with_its_value_and_what_is_expected() {
    let deployment = Deployment::new();
    let mut base = FILE_SERVER.to_vec();
    base.extend([("WEBHOOK_IDS", WEBHOOK_ID), ("WEBHOOK_SECRETS", SECRET)]);
    // Each case replaces one variable of a working configuration.
    let cases: &[(&str, &str, &str)] = &[
        (
            "PROVIDER",
            "jumpcloud",
            "PROVIDER=\"jumpcloud\" is invalid: expected file, jamf, intune, kandji, fleet, http, mosyle or addigy",
        ),
        (
            "PORT",
            "http",
            "PORT=\"http\" is invalid: expected a TCP port",
        ),
        (
            "PORT",
            "70000",
            "PORT=\"70000\" is invalid: expected a TCP port",
        ),
        (
            "LOGGING_LEVEL",
            "3",
            "LOGGING_LEVEL=\"3\" is invalid: expected 0 (decisions only), 1 (verbose) or 2 (debug)",
        ),
        (
            "LOG_FORMAT",
            "xml",
            "LOG_FORMAT=\"xml\" is invalid: expected text or json",
        ),
        (
            "ENABLE_MTLS",
            "yes",
            "ENABLE_MTLS=\"yes\" is invalid: expected 0 or 1",
        ),
        (
            "TIMEOUT",
            "0",
            "TIMEOUT=\"0\" is invalid: expected a whole number of seconds from 1 to 60",
        ),
        ("TIMEOUT", "4s", "TIMEOUT=\"4s\" is invalid"),
        (
            "FILE_TYPE",
            "xml",
            "FILE_TYPE=\"xml\" is invalid: expected json or csv",
        ),
        (
            "FILE_PATH",
            "nowhere.json",
            "FILE_PATH=\"nowhere.json\" is invalid: expected the path of a JSON or CSV device file; no readable file is there",
        ),
        (
            "TLS_CERT_PATH",
            "missing.pem",
            "TLS_CERT_PATH=\"missing.pem\" is invalid",
        ),
        (
            "TLS_KEY_PATH",
            "missing.key",
            "TLS_KEY_PATH=\"missing.key\" is invalid",
        ),
        (
            "WEBHOOK_IDS",
            "not-a-uuid",
            "WEBHOOK_IDS=\"not-a-uuid\" is invalid: expected webhook IDs as step-ca prints them",
        ),
        (
            "WEBHOOK_IDS",
            "d09736a5-780b-476e-abdb-e2e4c0439cf9,eeff6319-8883-419b-8d9b-0fe227dbe6b4",
            "expected as many IDs as WEBHOOK_SECRETS has secrets (2 IDs, 1 secrets)",
        ),
        (
            "WEBHOOK_SECRETS",
            "not base64!",
            "WEBHOOK_SECRETS item 1 (for webhook ID d09736a5-780b-476e-abdb-e2e4c0439cf9) is invalid (value not shown, it is a secret)",
        ),
        (
            "BIND_ADDRESS",
            "localhost",
            "BIND_ADDRESS=\"localhost\" is invalid: expected an IP address",
        ),
        ("MAX_BODY_BYTES", "10", "MAX_BODY_BYTES=\"10\" is invalid"),
        (
            "MTLS_ALLOWED_NAMES",
            "ca example",
            "MTLS_ALLOWED_NAMES=\"ca example\" is invalid: expected comma-separated DNS names",
        ),
        (
            "MTLS_REQUIRE_SERVER_AUTH",
            "maybe",
            "MTLS_REQUIRE_SERVER_AUTH=\"maybe\" is invalid: expected 0 or 1",
        ),
        (
            "MAX_CONNECTIONS",
            "0",
            "MAX_CONNECTIONS=\"0\" is invalid: expected a number of connections",
        ),
        (
            "MAX_REQUEST_AGE",
            "0",
            "MAX_REQUEST_AGE=\"0\" is invalid: expected a whole number of seconds from 1 to 3600",
        ),
        (
            "MAX_CLOCK_SKEW",
            "-1",
            "MAX_CLOCK_SKEW=\"-1\" is invalid: expected a whole number of seconds from 0 to 3600",
        ),
        (
            "TLS_HANDSHAKE_TIMEOUT",
            "0",
            "TLS_HANDSHAKE_TIMEOUT=\"0\" is invalid",
        ),
        (
            "HEADER_READ_TIMEOUT",
            "999",
            "HEADER_READ_TIMEOUT=\"999\" is invalid",
        ),
        (
            "RELOAD_SETTLE",
            "301",
            "RELOAD_SETTLE=\"301\" is invalid: expected a whole number of seconds from 0 to 300",
        ),
        (
            "RELOAD_ALLOW_SHRINK",
            "maybe",
            "RELOAD_ALLOW_SHRINK=\"maybe\" is invalid: expected 0 or 1",
        ),
        (
            "WEBHOOK_SECRETS_FILE",
            "secrets.txt",
            "WEBHOOK_SECRETS is invalid (value not shown, it is a secret): expected either WEBHOOK_SECRETS or WEBHOOK_SECRETS_FILE, not both",
        ),
    ];
    for (variable, value, expected) in cases {
        let env: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .filter(|(key, _)| key != variable)
            .chain([(*variable, *value)])
            .collect();
        let output = deployment.run(&[], &env);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{variable}={value}: {text}");
        assert!(
            text.contains(expected),
            "{variable}={value}: expected {expected:?} in:\n{text}"
        );
        assert!(!text.contains(SECRET), "the secret leaked:\n{text}");
    }
}

#[test]
fn a_short_webhook_secret_stops_start_up_naming_the_webhook_id() {
    let deployment = Deployment::new();
    let other_id = "eeff6319-8883-419b-8d9b-0fe227dbe6b4";
    // A human-chosen secret such as a dictionary attack finds, and one byte short of 32.
    for weak in ["tr0ub4dor&3", "0123456789abcdef0123456789abcde"] {
        let encoded = smallstep_webhook::WebhookSecret::from_bytes(weak.as_bytes())
            .unwrap()
            .to_base64();
        let ids = format!("{WEBHOOK_ID},{other_id}");
        let secrets = format!("{SECRET},{encoded}");
        let mut base = FILE_SERVER.to_vec();
        base.extend([
            ("WEBHOOK_IDS", ids.as_str()),
            ("WEBHOOK_SECRETS", secrets.as_str()),
        ]);
        for args in [&[][..], &["check-config"]] {
            // A server that accepted the secret would serve until stopped.
            let mut child = deployment
                .command(args, &base)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let started = std::time::Instant::now();
            while child.try_wait().unwrap().is_none() {
                if started.elapsed() > Duration::from_secs(60) {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{args:?}: started with the secret {weak:?}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let output = child.wait_with_output().unwrap();
            let text = format!("{}{}", stdout(&output), stderr(&output));
            assert_eq!(output.status.code(), Some(2), "{weak}: {text}");
            assert!(
                text.contains(&format!(
                    "WEBHOOK_SECRETS item 2 (for webhook ID {other_id}) is invalid (value not shown, it is a secret)"
                )),
                "{weak}: {text}"
            );
            assert!(text.contains("at least 32 bytes"), "{weak}: {text}");
            assert!(!text.contains(WEBHOOK_ID), "only the weak one: {text}");
            for shown in [weak, encoded.as_str(), SECRET] {
                assert!(!text.contains(shown), "{shown} leaked: {text}");
            }
        }
    }
}

#[test]
fn mtls_without_a_ca_is_a_configuration_error() {
    let deployment = Deployment::go_json();
    let output = deployment.run(&[], &[("ENABLE_MTLS", "1")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("TLS_CA_PATH is not set: expected"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_broken_device_file_stops_start_up_with_status_1() {
    let deployment = Deployment::new();
    deployment.write_go_dotenv("csv");
    std::fs::write(
        deployment.file("devices.csv"),
        "Identifier,user\nC02XL0GJJG5J,alice\nC02XL0GJJG5J,bob\n",
    )
    .unwrap();
    let output = deployment.run(&[], &[]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("devices.csv"), "{text}");
    assert!(text.contains("duplicate identifier"), "{text}");
}

#[test]
fn the_environment_wins_over_dotenv() {
    let deployment = Deployment::go_json();
    let output = deployment.run(&[], &[("PORT", "not-a-port")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("PORT=\"not-a-port\""));
}

#[test]
fn go_dotenv_json_and_csv_serve_allow_and_deny_then_stop_cleanly() {
    for file_type in ["json", "csv"] {
        let deployment = Deployment::new();
        deployment.write_go_dotenv(file_type);
        let server = Running::start(deployment.command(&[], &[]));

        let allowed = simulate(&deployment, &server.url, "C02XL0GJJG5J", &[]);
        let text = stdout(&allowed);
        assert!(
            allowed.status.success(),
            "{file_type}: {text}{}",
            stderr(&allowed)
        );
        assert!(text.starts_with("ALLOW (HTTP 200)"), "{text}");
        assert!(text.contains("alice@example.com"), "{text}");

        let authorizing = simulate(&deployment, &server.url, "F4KQ2J9XN7", &["--authorizing"]);
        assert!(authorizing.status.success(), "{}", stdout(&authorizing));

        let denied = simulate(&deployment, &server.url, "C02UNKNOWN00", &[]);
        let text = stdout(&denied);
        assert_eq!(denied.status.code(), Some(1), "{text}");
        assert!(text.contains("DENY (HTTP 200)"), "{text}");
        assert!(text.contains("code: deviceNotFound"), "{text}");

        let mismatch = simulate(
            &deployment,
            &server.url,
            "C02XL0GJJG5J",
            &["--common-name", "F4KQ2J9XN7"],
        );
        assert_stdout_contains(&mismatch, "code: identifierMismatch");

        server.stop_cleanly();
    }
}

#[test]
fn simulate_with_the_wrong_secret_is_refused() {
    let deployment = Deployment::go_json();
    let server = Running::start(deployment.command(&[], &[]));
    // A well-formed secret, but another webhook's.
    let wrong_secret =
        "Raje4mOlzC1LOxFk5v/rb8uwlZXPF41B+MFgjOB+Sp3jo9uq73XgQnqFbbFLVKhM0WiLaUDS+vtWQK5ucGev0Q==";
    let output = simulate_with_secret(&deployment, &server.url, "C02XL0GJJG5J", &[], wrong_secret);
    assert_eq!(output.status.code(), Some(1));
    assert_stdout_contains(&output, "REFUSED (HTTP 401)");
    server.stop();
}

#[test]
fn check_config_prints_a_redacted_summary() {
    let deployment = Deployment::new();
    deployment.write_go_dotenv("csv");
    let output = deployment.run(&["check-config"], &[]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert_contains_all(
        &text,
        &["configuration OK", "provider: file (ready)", WEBHOOK_ID],
    );
    assert!(!text.contains(SECRET), "{text}");

    let broken = deployment.run(&["check-config"], &[("FILE_TYPE", "yaml")]);
    assert_eq!(broken.status.code(), Some(2));
}

#[test]
fn lookup_prints_the_decision() {
    let deployment = Deployment::go_json();
    let found = deployment.run(&["lookup", "C02XL0GJJG5J"], &[]);
    assert!(found.status.success(), "{}", stderr(&found));
    assert!(stdout(&found).starts_with("ALLOW"));
    assert!(stdout(&found).contains("\"email_address\": \"alice@example.com\""));

    let missing = deployment.run(&["lookup", "NOPE1234"], &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stdout(&missing).contains("code: deviceNotFound"));

    let bad_mode = deployment.run(&["lookup", "C02XL0GJJG5J", "--mode", "laptop"], &[]);
    assert_eq!(bad_mode.status.code(), Some(1));
    assert!(stderr(&bad_mode).contains("unknown device mode \"laptop\""));
}

mod jamf {
    use posture_fakes::jamf::FakeJamf;

    use super::*;

    fn jamf_env(jamf: &FakeJamf) -> Vec<(String, String)> {
        let mut env = jamf.env_vars();
        env.push(("PROVIDER".to_owned(), "jamf".to_owned()));
        env
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn check_config_obtains_a_token_and_redacts_the_secret() {
        let jamf = FakeJamf::start().await.unwrap();
        let (ok, text) = check_config(&jamf, &[]).await;
        assert!(ok, "{text}");
        assert_contains_all(
            &text,
            &[
                "provider: jamf (ready)",
                "JAMF_COMPUTER_ENRICH=0",
                "JAMF_API=auto",
                "JAMF_MAX_CONNECTIONS=5",
                "JAMF_MAX_RETRY_AFTER=60 s",
            ],
        );
        assert!(!text.contains(posture_fakes::jamf::CLIENT_SECRET), "{text}");
        assert_eq!(jamf.stats().token_requests, 1);
    }

    /// Runs `check-config` with `extra` on top of the fake's variables.
    async fn check_config(jamf: &FakeJamf, extra: &[(&str, &str)]) -> (bool, String) {
        let deployment = Deployment::go_json();
        let mut env = jamf_env(jamf);
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let output = tokio::task::spawn_blocking({
            let dir = deployment.path().to_owned();
            move || {
                let mut command = Command::new(BIN);
                command.arg("check-config").current_dir(dir).env_clear();
                for (k, v) in &env {
                    command.env(k, v);
                }
                command.output().unwrap()
            }
        })
        .await
        .unwrap();
        (
            output.status.success(),
            format!("{}{}", stdout(&output), stderr(&output)),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn check_config_names_the_endpoint_each_device_family_uses() {
        use posture_fakes::jamf::FakeEndpoint;
        let jamf = FakeJamf::start().await.unwrap();
        let (ok, text) = check_config(&jamf, &[]).await;
        assert!(ok, "{text}");
        assert!(
            text.contains("  computers: GET /api/v4/computers-inventory (Jamf Pro API v4)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  mobile devices: GET /api/v2/mobile-devices/detail (Jamf Pro API v2)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  at most 5 requests in flight to Jamf Pro (JAMF_MAX_CONNECTIONS)"),
            "{text}"
        );

        // A Jamf Pro older than 11.30: v3, which Jamf has deprecated, says so.
        jamf.remove_endpoint(FakeEndpoint::ComputersV4);
        let (ok, text) = check_config(&jamf, &[]).await;
        assert!(ok, "{text}");
        assert!(
            text.contains(
                "  computers: GET /api/v3/computers-inventory (Jamf Pro API v3, deprecated by Jamf in 11.30)"
            ),
            "{text}"
        );

        // The Go settings' Classic API on a Jamf Pro that removed Classic computers, with
        // computers needed: not ready, naming what to set.
        jamf.restore_endpoint(FakeEndpoint::ComputersV4);
        jamf.remove_endpoint(FakeEndpoint::ClassicComputers);
        let (ok, text) = check_config(
            &jamf,
            &[
                ("JAMF_API", "classic"),
                ("JAMF_COMPUTER_GROUP", "Compliant Macs"),
            ],
        )
        .await;
        assert!(!ok, "{text}");
        assert!(
            text.contains("answered 404 for every computer endpoint (/JSSResource/computers)"),
            "{text}"
        );
        assert!(text.contains("JAMF_API=auto"), "{text}");
        assert!(text.contains("because of JAMF_COMPUTER_GROUP"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bad_credentials_and_unreachable_jamf_fail_fast_naming_the_setting() {
        let jamf = FakeJamf::start().await.unwrap();
        let deployment = Deployment::go_json();
        let mut bad_secret = jamf_env(&jamf);
        bad_secret.push(("JAMF_CLIENT_SECRET".to_owned(), "wrong".to_owned()));
        let mut unreachable = jamf_env(&jamf);
        unreachable.push(("JAMF_BASE_URL".to_owned(), "http://127.0.0.1:9".to_owned()));
        let mut remote_http = jamf_env(&jamf);
        remote_http.push((
            "JAMF_BASE_URL".to_owned(),
            "http://jamf.example.com".to_owned(),
        ));
        let cases = [
            (bad_secret, 1, "JAMF_CLIENT_SECRET"),
            (unreachable, 1, "JAMF_BASE_URL"),
            (
                remote_http,
                2,
                "JAMF_BASE_URL=\"http://jamf.example.com\" is invalid",
            ),
        ];
        for (env, code, expected) in cases {
            let dir = deployment.path().to_owned();
            let output = tokio::task::spawn_blocking(move || {
                let mut command = Command::new(BIN);
                command.current_dir(dir).env_clear();
                for (k, v) in &env {
                    command.env(k, v);
                }
                command.output().unwrap()
            })
            .await
            .unwrap();
            let text = stderr(&output);
            assert_eq!(output.status.code(), Some(code), "{expected}: {text}");
            assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
            assert!(!text.contains("wrong"), "the secret leaked: {text}");
        }
    }
}

#[test]
fn webhook_secrets_can_come_from_a_file() {
    let deployment = Deployment::go_json();
    deployment.remove_secrets_from_dotenv();
    std::fs::write(deployment.file("secrets.txt"), format!("{SECRET}\n")).unwrap();
    let output = deployment.run(
        &["check-config"],
        &[("WEBHOOK_SECRETS_FILE", "secrets.txt")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let missing = deployment.run(&["check-config"], &[("WEBHOOK_SECRETS_FILE", "nope.txt")]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("WEBHOOK_SECRETS_FILE=\"nope.txt\" is invalid"));
}

/// The lines the binary itself printed about an error (not the log).
fn error_lines(output: &Output) -> Vec<String> {
    stderr(output)
        .lines()
        .filter(|line| line.starts_with("step-posture-connector:"))
        .map(str::to_owned)
        .collect()
}

/// A broken setup: its name, the variables that break it, the exit status and a fragment of
/// the error.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], i32, &'a str);

#[test]
fn check_config_fails_with_the_same_errors_and_status_as_start_up() {
    let deployment = Deployment::go_json();
    let other = generate_demo_pki().unwrap();
    std::fs::write(deployment.file("other.key"), &other.key_pem).unwrap();
    std::fs::write(deployment.file("garbage.pem"), "not a certificate\n").unwrap();
    std::fs::write(deployment.file("broken.json"), "{\"devices\": [").unwrap();
    let cases: [Case<'_>; 5] = [
        (
            "invalid variables",
            &[("PORT", "99999"), ("METRICS_ADDR", "localhost")],
            2,
            "METRICS_ADDR=\"localhost\" is invalid",
        ),
        (
            "a broken device file",
            &[("FILE_PATH", "broken.json")],
            1,
            "broken.json",
        ),
        (
            "a file that holds no certificate",
            &[("TLS_CERT_PATH", "garbage.pem")],
            1,
            "garbage.pem",
        ),
        (
            "a key that does not match the certificate",
            &[("TLS_KEY_PATH", "other.key")],
            1,
            "TLS configuration",
        ),
        (
            "a missing secrets file",
            &[
                ("WEBHOOK_SECRETS", ""),
                ("WEBHOOK_SECRETS_FILE", "nope.txt"),
            ],
            2,
            "WEBHOOK_SECRETS",
        ),
    ];
    for (case, env, code, expected) in cases {
        // That case gets its own .env.
        if env.iter().any(|(k, _)| *k == "WEBHOOK_SECRETS_FILE") {
            deployment.remove_secrets_from_dotenv();
        }
        let env: Vec<(&str, &str)> = env
            .iter()
            .copied()
            .filter(|(k, _)| *k != "WEBHOOK_SECRETS")
            .collect();
        let serve = deployment.run(&[], &env);
        let check = deployment.run(&["check-config"], &env);
        assert_eq!(
            serve.status.code(),
            Some(code),
            "{case}: serve: {}",
            stderr(&serve)
        );
        assert_eq!(
            check.status.code(),
            Some(code),
            "{case}: check-config: {}",
            stderr(&check)
        );
        assert_eq!(error_lines(&serve), error_lines(&check), "{case}");
        assert!(
            stderr(&check).contains(expected),
            "{case}: {}",
            stderr(&check)
        );
        assert!(stdout(&check).is_empty(), "{case}: no summary on failure");
    }
}

#[test]
fn check_config_summarises_metrics_and_reload() {
    let deployment = Deployment::go_json();
    let output = deployment.run(
        &["check-config"],
        &[("METRICS_ADDR", "127.0.0.1:9464"), ("RELOAD_INTERVAL", "0")],
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert_contains_all(
        &text,
        &[
            "metrics: http://127.0.0.1:9464/metrics",
            "reload: on SIGHUP only",
            "loaded once unchanged for RELOAD_SETTLE=1 s (SIGHUP waits up to 10 s)",
            "RELOAD_ALLOW_SHRINK=0 (default)",
            "  a reload that drops more than half the devices is refused",
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn healthcheck_asks_livez_on_the_webhook_port_or_the_metrics_listener() {
    let deployment = Deployment::go_json();
    let port = free_port().to_string();
    let server = Running::start(deployment.command(&[], &[("PORT", &port)]));
    let healthy = deployment.run(&["healthcheck"], &[("PORT", &port)]);
    assert!(healthy.status.success(), "{}", stderr(&healthy));
    assert_eq!(
        stdout(&healthy).trim(),
        format!("ok: https://127.0.0.1:{port}/livez")
    );
    server.stop();
    let down = deployment.run(&["healthcheck", "--timeout", "2"], &[("PORT", &port)]);
    assert_eq!(down.status.code(), Some(1));
    assert_stderr_contains(&down, "unhealthy");

    // With mTLS the webhook port wants a client certificate: the metrics listener answers.
    let metrics = format!("127.0.0.1:{}", free_port());
    let ca = deployment.file("ca.pem");
    let mtls = [
        ("ENABLE_MTLS", "1"),
        ("TLS_CA_PATH", ca.to_str().unwrap()),
        ("MTLS_ALLOWED_NAMES", "ca.example.com"),
    ];
    let refused = deployment.run(&["healthcheck"], &mtls);
    assert_eq!(refused.status.code(), Some(1));
    assert_stderr_contains(&refused, "set METRICS_ADDR");
    let mut env = mtls.to_vec();
    env.push(("METRICS_ADDR", &metrics));
    let server = Running::start(deployment.command(&[], &env));
    let healthy = deployment.run(&["healthcheck"], &env);
    assert!(healthy.status.success(), "{}", stderr(&healthy));
    assert_eq!(
        stdout(&healthy).trim(),
        format!("ok: http://{metrics}/livez")
    );
    server.stop();
}

#[test]
fn sighup_reloads_the_device_list_without_a_restart() {
    let deployment = Deployment::go_json();
    // No polling: only the signal can make the change visible.
    let server = Running::start(deployment.command(&[], &[("RELOAD_INTERVAL", "0")]));
    let before = simulate(&deployment, &server.url, "C02NEWDEVICE", &[]);
    assert_stdout_contains(&before, "code: deviceNotFound");

    // Two devices for three: a reload may not drop more than half of them.
    let devices = r#"{"devices":[{"identifier":"C02NEWDEVICE","data":{"user":"new"}},{"identifier":"C02NEWDEVICE2"}]}"#;
    let staged = deployment.file("devices.json.new");
    std::fs::write(&staged, devices).unwrap();
    std::fs::rename(&staged, deployment.file("devices.json")).unwrap();
    server.hangup();

    // The reload runs in the background; give it a bounded moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let after = simulate(&deployment, &server.url, "C02NEWDEVICE", &[]);
        if after.status.success() {
            assert_stdout_contains(&after, "\"user\": \"new\"");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not reloaded: {}",
            stdout(&after)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The old list is gone whole.
    let old = simulate(&deployment, &server.url, "C02XL0GJJG5J", &[]);
    assert_stdout_contains(&old, "code: deviceNotFound");
    server.stop_cleanly();
}

/// A CSV of `count` devices `SN0000…`.
fn numbered_devices(count: usize) -> String {
    let mut csv = String::from("Identifier,email_address\n");
    for i in 0..count {
        csv.push_str(&format!("SN{i:04},user{i:04}@example.com\n"));
    }
    csv
}

#[test]
fn sighup_waits_for_the_device_file_to_settle_and_logs_what_failed() {
    use std::io::Write as _;
    let deployment = Deployment::new();
    deployment.write_go_dotenv("csv");
    let path = deployment.file("devices.csv");
    std::fs::write(&path, numbered_devices(100)).unwrap();
    let server = Running::start(
        deployment.command(&[], &[("RELOAD_INTERVAL", "0"), ("RELOAD_SETTLE", "1")]),
    );

    // The file is rewritten in place, 110 devices, with a pause after the first 50 (a
    // whole, loadable CSV of 50) during which SIGHUP arrives.
    let new = numbered_devices(110);
    let half = new.find("SN0050,").unwrap();
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&new.as_bytes()[..half]).unwrap();
    server.hangup();
    std::thread::sleep(Duration::from_millis(500));
    file.write_all(&new.as_bytes()[half..]).unwrap();
    drop(file);
    let summary = server.log_from("reload on SIGHUP");
    assert_contains_all(
        &summary,
        &["reload on SIGHUP: OK", "devices: reloaded, 110 devices"],
    );
    let device = simulate(&deployment, &server.url, "SN0105", &[]);
    assert!(device.status.success(), "{}", stdout(&device));

    // A broken file: the summary names the file and the error, and what still serves.
    let staged = deployment.file("devices.csv.new");
    std::fs::write(&staged, "Identifier,email_address\nSN0000\n").unwrap();
    std::fs::rename(&staged, &path).unwrap();
    server.hangup();
    let summary = server.log_from("reload on SIGHUP");
    assert_contains_all(
        &summary,
        &[
            "reload on SIGHUP: FAILED",
            "device file: FILE_PATH=devices.csv FILE_TYPE=csv",
            "devices: not reloaded: cannot load the device file: devices.csv line 2: the record \
             has 1 fields, but the header has 2",
            "still serving: 110 devices, loaded ",
            "out of date: the file on disk has differed from the list served since ",
            "TLS: reloaded",
        ],
    );
    let device = simulate(&deployment, &server.url, "SN0105", &[]);
    assert!(device.status.success(), "{}", stdout(&device));
    server.stop_cleanly();
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let deployment = Deployment::go_json();
    let mut child = deployment
        .command(&["lookup", "C02XL0GJJG5J"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `… | head -0`: the reader goes away before the answer is printed.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

/// A password an operator put in an MDM URL; it must never be printed.
const URL_PASSWORD: &str = "Hunter2-Url-Password";

/// URLs carrying [`URL_PASSWORD`] in their user information, valid and not.
fn urls_with_a_password(host: &str) -> Vec<String> {
    let p = URL_PASSWORD;
    vec![
        format!("https://admin:{p}@{host}"),
        format!("https://admin:{p}@{host}/prefix/"),
        format!("https://:{p}@{host}"),
        format!("https://{p}@{host}"),
        format!("https://admin:{p}@{host}/?query=1"),
        format!("http://admin:{p}@{host}"),
        format!("ftp://admin:{p}@{host}"),
        format!("https://admin:{p}@{host} with a space"),
        format!("https://admin:{p}/more@{host}"),
        format!("https://admin:{p}@@{host}"),
        format!("https:admin:{p}@{host}"),
        format!("admin:{p}@{host}"),
        format!("{p}@{host}"),
    ]
}

#[test]
fn a_password_in_an_mdm_url_never_appears_in_errors_or_check_config() {
    let deployment = Deployment::new();
    let server = [
        ("TLS_CERT_PATH", "server.pem"),
        ("TLS_KEY_PATH", "server.key"),
        ("WEBHOOK_IDS", WEBHOOK_ID),
        ("WEBHOOK_SECRETS", SECRET),
    ];
    let tenant = "0f0f0f0f-1111-2222-3333-444444444444";
    // The variable, the host its URL names, and the provider settings around it.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case<'_>; 4] = [
        (
            "JAMF_BASE_URL",
            "jamf.example.com",
            &[
                ("PROVIDER", "jamf"),
                ("JAMF_CLIENT_ID", "client"),
                ("JAMF_CLIENT_SECRET", "not-the-url-password"),
            ],
        ),
        (
            "INTUNE_AUTHORITY_URL",
            "login.microsoftonline.com",
            &[
                ("PROVIDER", "intune"),
                ("INTUNE_TENANT_ID", tenant),
                ("INTUNE_CLIENT_ID", tenant),
                ("INTUNE_CLIENT_SECRET", "not-the-url-password"),
            ],
        ),
        (
            "INTUNE_GRAPH_URL",
            "graph.microsoft.com",
            &[
                ("PROVIDER", "intune"),
                ("INTUNE_TENANT_ID", tenant),
                ("INTUNE_CLIENT_ID", tenant),
                ("INTUNE_CLIENT_SECRET", "not-the-url-password"),
            ],
        ),
        (
            "KANDJI_API_URL",
            "example.api.iru.com",
            &[
                ("PROVIDER", "kandji"),
                ("KANDJI_API_TOKEN", "not-the-url-password"),
            ],
        ),
    ];
    for (variable, host, provider) in cases {
        for url in urls_with_a_password(host) {
            let mut env: Vec<(&str, &str)> = server.to_vec();
            env.extend_from_slice(provider);
            env.push((variable, &url));
            for args in [&["check-config"][..], &[]] {
                let output = deployment.run(args, &env);
                let text = format!("{}{}", stdout(&output), stderr(&output));
                assert_eq!(output.status.code(), Some(2), "{args:?} {url}: {text}");
                assert!(text.contains(variable), "{args:?} {url}: {text}");
                assert!(
                    !text.contains(URL_PASSWORD),
                    "{args:?} {variable}={url} printed the password: {text}"
                );
            }
        }
    }
}

#[test]
fn a_password_in_the_simulate_url_is_never_printed() {
    let deployment = Deployment::new();
    for url in [
        format!("https://admin:{URL_PASSWORD}@127.0.0.1:1/webhook/device-attest"),
        format!("https://admin:{URL_PASSWORD}@127.0.0.1 :1/"),
    ] {
        let output = simulate(&deployment, &url, "C02XL0GJJG5J", &[]);
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(!output.status.success(), "{text}");
        assert!(text.contains("--url"), "{text}");
        assert!(!text.contains(URL_PASSWORD), "{url}: {text}");
    }
}

#[test]
fn a_password_in_a_url_never_appears_in_provider_constructor_errors() {
    for url in urls_with_a_password("mdm.example.com") {
        let jamf = posture_jamf::JamfConfig::new(&url, "client", "secret")
            .err()
            .map(|err| err.to_string());
        let kandji = posture_kandji::KandjiConfig::new(&url, "token")
            .err()
            .map(|err| err.to_string());
        for (provider, text) in [("jamf", jamf), ("kandji", kandji)] {
            let text = text.unwrap_or_else(|| panic!("{provider}: {url} was accepted"));
            assert!(!text.contains(URL_PASSWORD), "{provider}: {text}");
        }
    }
}

/// Runs `demo` with `TMPDIR=tmp` after `plant` (a shell snippet) has run in the shell that
/// then becomes the demo (`exec` keeps the process ID, so `$$` in `plant` is the demo's).
/// Returns the directory the demo says it wrote to, its key file's metadata (read while the
/// demo runs) and the demo's exit status after SIGTERM.
fn run_demo_after(
    tmp: &Path,
    plant: &str,
    victim: &Path,
) -> (PathBuf, std::fs::Metadata, std::fs::Metadata) {
    let script = format!("{plant}\nexec \"$BIN\" demo --port 0");
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TMPDIR", tmp)
        .env("VICTIM", victim)
        .env("BIN", BIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = common::watch_lines(child.stdout.take().unwrap(), |line| {
        let path = line.strip_prefix("device list:")?;
        Some(PathBuf::from(path.trim()))
    });
    // SIGTERM stops the demo cleanly (removing its directory) once it serves.
    let serving = common::watch_lines(child.stderr.take().unwrap(), |line| {
        line.contains("listening on https://").then_some(())
    });
    let devices = rx.recv_timeout(Duration::from_secs(60));
    let ready = serving.recv_timeout(Duration::from_secs(60));
    let (Ok(devices), Ok(())) = (devices, ready) else {
        let _ = child.kill();
        panic!("the demo did not print its device list and start serving");
    };
    let dir = devices.parent().unwrap().to_owned();
    let dir_meta = std::fs::symlink_metadata(&dir).unwrap();
    let key_meta = std::fs::symlink_metadata(dir.join("server-key.pem")).unwrap();
    // The SIGTERM handler is installed just after the listening line; until then SIGTERM
    // would kill the demo before it cleans up.
    let handles_sigterm = || {
        std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .ok()
            .and_then(|status| {
                let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
                u64::from_str_radix(mask.trim(), 16).ok()
            })
            .is_some_and(|mask| mask & (1 << 14) != 0)
    };
    for _ in 0..600 {
        if handles_sigterm() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    (dir, dir_meta, key_meta)
}

#[test]
fn demo_writes_a_fresh_private_directory_and_never_follows_planted_links() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    let tmp = tempfile::tempdir().unwrap();
    let victims = tempfile::tempdir().unwrap();
    let victim = victims.path().join("victim.txt");
    std::fs::write(&victim, "the victim's own content\n").unwrap();
    let victim_dir = victims.path().join("victim-dir");
    std::fs::create_dir(&victim_dir).unwrap();
    let old_path = "\"$TMPDIR/step-posture-connector-demo-$$\"";
    for (case, plant, target) in [
        (
            "the old path holds links to a victim file",
            format!(
                "mkdir {old_path} && for f in ca.pem server.pem server-key.pem devices.json; \
                 do ln -s \"$VICTIM\" {old_path}/$f; done"
            ),
            &victim,
        ),
        (
            "the old path is a link to a victim directory",
            format!("ln -s \"$VICTIM\" {old_path}"),
            &victim_dir,
        ),
    ] {
        let (dir, dir_meta, key_meta) = run_demo_after(tmp.path(), &plant, target);
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "the victim's own content\n",
            "{case}: the victim file was written"
        );
        assert_eq!(
            std::fs::read_dir(&victim_dir).unwrap().count(),
            0,
            "{case}: files appeared in the victim directory"
        );
        assert_eq!(dir.parent(), Some(tmp.path()), "{case}: {}", dir.display());
        assert!(dir_meta.is_dir(), "{case}: a real directory");
        assert_eq!(dir_meta.permissions().mode() & 0o777, 0o700, "{case}");
        assert_eq!(dir_meta.uid(), std::fs::metadata(tmp.path()).unwrap().uid());
        assert!(key_meta.is_file(), "{case}: the key is a regular file");
        assert_eq!(key_meta.permissions().mode() & 0o777, 0o600, "{case}");
        assert!(!dir.exists(), "{case}: the demo removes its directory");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_refused_requests_is_summarised_and_every_decision_is_still_logged() {
    use http::{HeaderMap, HeaderValue};
    use smallstep_webhook::{RequestBody, SIGNATURE_HEADER, Signer, WebhookSecret};
    use step_posture_connector::client::{Connection, client_config};

    const REFUSED: usize = 1000;
    const AUTHENTICATED_EVERY: usize = 20;
    let deployment = Deployment::go_json();
    // Throttling off, so that wrong signatures are answered at once.
    let server = Running::start(deployment.command(
        &[],
        &[
            ("LOG_FORMAT", "json"),
            ("AUTH_FAILURE_LIMIT", "0"),
            ("MAX_BODY_BYTES", "1024"),
        ],
    ));
    let url: http::Uri = server.url.parse().unwrap();
    let tls = client_config(Some(&deployment.file("ca.pem")), None).unwrap();
    let secret = WebhookSecret::from_base64(SECRET).unwrap();
    let signer = Signer::new(WEBHOOK_ID, secret).unwrap();
    let wrong = Signer::new(WEBHOOK_ID, WebhookSecret::generate().unwrap()).unwrap();

    let mut connection = Connection::open(&url, tls.clone()).await.unwrap();
    let mut authenticated = Vec::new();
    for i in 0..REFUSED {
        let body =
            RequestBody::device_attest_authorizing("C02XL0GJJG5J", time::OffsetDateTime::now_utc());
        let signed = signer.sign_body(&body);
        let (headers, payload, expected) = match i % 4 {
            0 => (HeaderMap::new(), signed.body.clone(), 401),
            1 => (wrong.headers(&signed.body), signed.body.clone(), 401),
            2 => {
                let mut headers = signed.headers.clone();
                headers.insert(SIGNATURE_HEADER, HeaderValue::from_static("not-hex"));
                (headers, signed.body.clone(), 401)
            }
            _ => (signed.headers.clone(), vec![b' '; 2048], 413),
        };
        if expected == 413 {
            // The server answers before reading such a body: a connection of its own.
            let mut once = Connection::open(&url, tls.clone()).await.unwrap();
            let (status, _) = once.post(&url, &headers, payload.into()).await.unwrap();
            assert_eq!(status.as_u16(), 413);
        } else {
            let (status, _) = connection
                .post(&url, &headers, payload.into())
                .await
                .unwrap();
            assert_eq!(status.as_u16(), expected, "request {i}");
        }
        if i % AUTHENTICATED_EVERY == 0 {
            let request_id = format!("authenticated-{i}");
            let serial = if i % 40 == 0 {
                "C02XL0GJJG5J"
            } else {
                "C02UNKNOWN00"
            };
            let body =
                RequestBody::device_attest_authorizing(serial, time::OffsetDateTime::now_utc());
            let mut signed = signer.sign_body(&body);
            signed
                .headers
                .insert("x-request-id", HeaderValue::from_str(&request_id).unwrap());
            let (status, _) = connection
                .post(&url, &signed.headers, signed.body.into())
                .await
                .unwrap();
            assert_eq!(status.as_u16(), 200);
            authenticated.push(request_id);
        }
    }
    let (status, log) = server.stop_with_log();
    assert!(status.success(), "{status:?}");

    let lines: Vec<serde_json::Value> = log
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let decisions: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "decision")
        .collect();
    let mut logged_ids: Vec<&str> = decisions
        .iter()
        // Logged with `?`, so quoted.
        .filter_map(|l| l["request_id"].as_str())
        .map(|id| id.trim_matches('"'))
        .filter(|id| id.starts_with("authenticated-"))
        .collect();
    logged_ids.sort_unstable();
    let mut expected_ids: Vec<&str> = authenticated.iter().map(String::as_str).collect();
    expected_ids.sort_unstable();
    assert_eq!(
        logged_ids, expected_ids,
        "every authenticated decision has its line"
    );

    let refused_lines = decisions
        .iter()
        .filter(|l| matches!(l["status"].as_u64(), Some(401 | 413)))
        .count();
    let summaries: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "refused requests summarised")
        .collect();
    assert!(
        !summaries.is_empty(),
        "no summary among {} lines",
        log.len()
    );
    let mut suppressed = 0;
    for summary in &summaries {
        let count = |field: &str| summary[field].as_u64().unwrap();
        assert_eq!(count("refused"), count("logged") + count("suppressed"));
        let by_reason: u64 = summary["reasons"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(|pair| pair.split_once('=').unwrap().1.parse::<u64>().unwrap())
            .sum();
        assert_eq!(by_reason, count("refused"), "{summary}");
        assert!(
            summary["top_clients"]
                .as_str()
                .unwrap()
                .contains("127.0.0.1="),
            "{summary}"
        );
        suppressed += count("suppressed");
    }
    assert_eq!(
        refused_lines + usize::try_from(suppressed).unwrap(),
        REFUSED,
        "each refused request is on a line or in a summary"
    );
    assert!(
        refused_lines + summaries.len() < REFUSED / 10,
        "{refused_lines} lines and {} summaries for {REFUSED} refused requests",
        summaries.len()
    );
}
