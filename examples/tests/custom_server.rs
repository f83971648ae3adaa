//! The `custom_server` example is the complete server with an extra provider: `static`
//! alone and combined with `file` under both policies, through `check-config`, `lookup`
//! and `serve` (answering `simulate` over TLS), run as a user runs it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use smallstep_webhook::WebhookSecret;

const WEBHOOK_ID: &str = "2f0f4c57-3a52-4d2b-9b1e-7f4a54a0c0de";

/// `cargo test` builds the package's examples next to its test binaries' directory.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(Path::parent).unwrap();
    let path = debug.join("examples").join("custom_server");
    assert!(path.exists(), "{} is not built", path.display());
    path
}

struct Setup {
    dir: tempfile::TempDir,
    secret: String,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = step_posture_connector::pki::generate_demo_pki().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &pki.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &pki.key_pem).unwrap();
        // BOTH0000001 is in the file and in STATIC_ALLOW; FILEONLY001 only in the file.
        std::fs::write(
            dir.path().join("devices.json"),
            r#"{"devices":[{"identifier":"BOTH0000001","data":{"user":"alice"}},{"identifier":"FILEONLY001"}]}"#,
        )
        .unwrap();
        let secret = WebhookSecret::generate().unwrap().to_base64();
        Self { dir, secret }
    }

    fn command(&self, provider: &str, policy: &str) -> Command {
        let mut command = Command::new(example());
        command
            .current_dir(self.dir.path())
            .env_clear()
            .env("PROVIDER", provider)
            .env("POLICY", policy)
            .env("STATIC_ALLOW", "BOTH0000001,STATICONLY1")
            .env("FILE_PATH", "devices.json")
            .env("FILE_TYPE", "json")
            .env("TLS_CERT_PATH", "cert.pem")
            .env("TLS_KEY_PATH", "key.pem")
            .env("WEBHOOK_IDS", WEBHOOK_ID)
            .env("WEBHOOK_SECRETS", &self.secret)
            .env("BIND_ADDRESS", "127.0.0.1")
            .env("PORT", "0")
            .env("LOGGING_LEVEL", "0");
        command
    }

    fn run(&self, provider: &str, policy: &str, args: &[&str]) -> Output {
        self.command(provider, policy).args(args).output().unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn check_config_describes_the_static_provider_alone_and_combined() {
    let setup = Setup::new();
    let alone = setup.run("static", "all", &["check-config"]);
    assert!(alone.status.success(), "{alone:?}");
    let text = stdout(&alone);
    assert!(text.contains("provider: static (ready)"), "{text}");
    assert!(
        text.contains("  STATIC_ALLOW=BOTH0000001,STATICONLY1 (2 identifiers)"),
        "{text}"
    );

    let combined = setup.run("file,static", "any", &["check-config"]);
    assert!(combined.status.success(), "{combined:?}");
    let text = stdout(&combined);
    assert!(
        text.contains("providers: file,static with POLICY=any (ready)"),
        "{text}"
    );
    assert!(
        text.contains("  FILE_PATH=devices.json FILE_TYPE=json"),
        "{text}"
    );

    // Its setting is checked like a built-in one, naming the variable.
    let missing = setup
        .command("static", "all")
        .env("STATIC_ALLOW", " , ")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let errors = String::from_utf8_lossy(&missing.stderr);
    assert!(
        errors.contains("STATIC_ALLOW is not set: expected the identifiers to allow"),
        "{errors}"
    );
}

#[test]
fn lookup_allows_listed_devices_alone_and_under_both_policies() {
    let setup = Setup::new();
    let cases = [
        // (provider, policy, identifier, allowed)
        ("static", "all", "STATICONLY1", true),
        ("static", "all", "FILEONLY001", false),
        ("file,static", "all", "BOTH0000001", true),
        ("file,static", "all", "STATICONLY1", false),
        ("file,static", "all", "FILEONLY001", false),
        ("file,static", "any", "STATICONLY1", true),
        ("file,static", "any", "FILEONLY001", true),
        ("file,static", "any", "NOWHERE0001", false),
    ];
    for (provider, policy, identifier, allowed) in cases {
        let output = setup.run(provider, policy, &["lookup", identifier]);
        let text = stdout(&output);
        let case = format!("PROVIDER={provider} POLICY={policy} {identifier}: {text}");
        if allowed {
            assert_eq!(output.status.code(), Some(0), "{case}");
            assert!(text.starts_with("ALLOW"), "{case}");
            if provider == "static" {
                assert!(text.contains("\"source\": \"static\""), "{case}");
            }
        } else {
            assert_eq!(output.status.code(), Some(1), "{case}");
            assert!(text.starts_with("DENY"), "{case}");
            assert!(text.contains("code: deviceNotFound"), "{case}");
        }
    }
    // Under POLICY=all both providers' data come back, each under its name.
    let both = stdout(&setup.run("file,static", "all", &["lookup", "BOTH0000001"]));
    assert!(
        both.contains("\"static\"") && both.contains("\"file\""),
        "{both}"
    );
    assert!(both.contains("\"alice\""), "{both}");
}

/// A running `serve`, killed when dropped.
struct Serving {
    child: Child,
    url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(setup: &Setup, provider: &str, policy: &str) -> Serving {
    let mut child = setup
        .command(provider, policy)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (found, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = found.send(url);
            }
        }
    });
    let url = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the server announces where it listens");
    Serving { child, url }
}

fn simulate(setup: &Setup, serving: &Serving, serial: &str) -> Output {
    Command::new(example())
        .current_dir(setup.dir.path())
        .env_clear()
        .args(["simulate", "--url", &serving.url, "--ca-cert", "ca.pem"])
        .args(["--webhook-id", WEBHOOK_ID, "--serial", serial])
        .env("SIMULATE_SECRET", &setup.secret)
        .output()
        .unwrap()
}

#[test]
fn serve_answers_step_ca_over_tls_alone_and_combined() {
    let setup = Setup::new();
    let started = Instant::now();
    for (provider, policy, allowed, denied) in [
        ("static", "all", "STATICONLY1", "FILEONLY001"),
        ("file,static", "all", "BOTH0000001", "STATICONLY1"),
        ("file,static", "any", "FILEONLY001", "NOWHERE0001"),
    ] {
        let serving = serve(&setup, provider, policy);
        let allow = simulate(&setup, &serving, allowed);
        let case = format!("PROVIDER={provider} POLICY={policy}");
        assert_eq!(allow.status.code(), Some(0), "{case}: {allow:?}");
        assert!(stdout(&allow).contains("ALLOW"), "{case}: {allow:?}");
        let deny = simulate(&setup, &serving, denied);
        assert_eq!(deny.status.code(), Some(1), "{case}: {deny:?}");
        assert!(stdout(&deny).contains("deviceNotFound"), "{case}: {deny:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(120));
}
