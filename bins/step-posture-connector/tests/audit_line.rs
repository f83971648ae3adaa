//! The decision line from the real binary: the lines of requests answered just before a
//! SIGTERM all reach stderr, whole, once each, in `LOG_FORMAT=json` and `LOG_FORMAT=text`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Uri};
use smallstep_webhook::{RequestBody, Signer, WebhookSecret};
use step_posture_connector::client::{Connection, client_config};
use step_posture_connector::pki::generate_demo_pki;

const BIN: &str = env!("CARGO_BIN_EXE_step-posture-connector");
const WEBHOOK_ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
const CONNECTIONS: usize = 8;
const REQUESTS_EACH: usize = 40;

/// Runs the server in `format`, sends the requests, stops it with SIGTERM as soon as the
/// last is answered, and returns everything it wrote to stderr.
fn lines_until_sigterm(format: &str, tag: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let pki = generate_demo_pki().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ca = write("ca.pem", &pki.ca_pem);
    write("server.pem", &pki.cert_pem);
    write("server.key", &pki.key_pem);
    write(
        "devices.json",
        include_str!("../../../examples/devices.json"),
    );
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("PROVIDER", "file"),
            ("FILE_PATH", "devices.json"),
            ("FILE_TYPE", "json"),
            ("TLS_CERT_PATH", "server.pem"),
            ("TLS_KEY_PATH", "server.key"),
            ("WEBHOOK_IDS", WEBHOOK_ID),
            ("WEBHOOK_SECRETS", SECRET),
            ("BIND_ADDRESS", "127.0.0.1"),
            ("PORT", "0"),
            ("LOGGING_LEVEL", "0"),
            ("LOG_FORMAT", format),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(start) = line.find("listening on https://") {
                let rest = &line[start + "listening on https://".len()..];
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                let _ = addr_tx.send(addr);
            }
            lines.push(line);
        }
        lines
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server did not start");
    let url: Uri = format!("https://{addr}/webhook/device-attest")
        .parse()
        .unwrap();
    let tls = client_config(Some(&ca), None).unwrap();
    let signer = Signer::new(WEBHOOK_ID, WebhookSecret::from_base64(SECRET).unwrap()).unwrap();
    let csr = {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "C02XL0GJJG5J");
        params.serialize_request(&key).unwrap().der().to_vec()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let connections = runtime.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            let (url, tls, signer) = (url.clone(), tls.clone(), signer.clone());
            let (tag, csr) = (tag.to_owned(), csr.clone());
            tasks.push(tokio::spawn(async move {
                let mut connection = Connection::open(&url, tls).await.unwrap();
                for i in 0..REQUESTS_EACH {
                    let body = RequestBody::device_attest_enriching(
                        "C02XL0GJJG5J",
                        &csr,
                        time::OffsetDateTime::now_utc(),
                    )
                    .unwrap();
                    let body = smallstep_webhook::to_go_json(&body);
                    let mut headers = signer.headers(&body);
                    headers.insert(
                        "x-request-id",
                        HeaderValue::from_str(&format!("{tag}-{c}-{i}")).unwrap(),
                    );
                    connection
                        .post(&url, &headers, Bytes::from(body))
                        .await
                        .unwrap();
                }
                connection
            }));
        }
        let mut connections = Vec::new();
        for task in tasks {
            connections.push(task.await.unwrap());
        }
        connections
    });
    // Every request is answered; their lines may still sit in the workers' batches.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(connections);
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(runtime);
    reader.join().unwrap()
}

fn check_every_line_written_once(
    lines: &[String],
    tag: &str,
    id_as_written: impl Fn(&str) -> String,
) {
    for c in 0..CONNECTIONS {
        for i in 0..REQUESTS_EACH {
            let id = id_as_written(&format!("{tag}-{c}-{i}"));
            let found = lines.iter().filter(|line| line.contains(&id)).count();
            assert_eq!(found, 1, "the line of {id}");
        }
    }
}

#[test]
fn json_lines_of_requests_answered_before_sigterm_are_all_written() {
    let tag = "json-before-sigterm";
    let lines = lines_until_sigterm("json", tag);
    check_every_line_written_once(&lines, tag, |id| format!("\"request_id\":\"\\\"{id}\\\"\""));
    for line in lines.iter().filter(|line| line.contains(tag)) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["message"], "decision");
        assert_eq!(value["level"], "INFO");
    }
}

#[test]
fn text_lines_of_requests_answered_before_sigterm_are_all_written() {
    let tag = "text-before-sigterm";
    let lines = lines_until_sigterm("text", tag);
    check_every_line_written_once(&lines, tag, |id| format!(" request_id=\"{id}\" "));
    for line in lines.iter().filter(|line| line.contains(tag)) {
        assert_eq!(&line[26..44], "Z  INFO decision o", "{line}");
        assert!(line.contains(" latency_ms="), "{line}");
    }
}
