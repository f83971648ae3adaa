//! The decision line from the real binary: the lines of requests answered just before a
//! SIGTERM all reach stderr, whole, once each, in `LOG_FORMAT=json` and `LOG_FORMAT=text`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Uri};
use smallstep_webhook::{RequestBody, Signer, WebhookSecret};
use step_posture_connector::client::{Connection, client_config};

mod common;

use common::{BIN, SECRET, Started, WEBHOOK_ID};

const CONNECTIONS: usize = 8;
const REQUESTS_EACH: usize = 40;

/// Runs the server in `format`, sends the requests, stops it with SIGTERM as soon as the
/// last is answered, and returns everything it wrote to stderr.
fn lines_until_sigterm(format: &str, tag: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::write_deployment(dir.path());
    let Started {
        mut child,
        addr,
        log: reader,
    } = common::start_server(
        Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .envs(common::file_server_env())
            .envs([("LOGGING_LEVEL", "0"), ("LOG_FORMAT", format)]),
    );
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

/// The lines of `tag`'s requests from a server in `format`, each checked to be written
/// once (found by `request_id`).
fn decision_lines(format: &str, tag: &str, request_id: impl Fn(&str) -> String) -> Vec<String> {
    let lines = lines_until_sigterm(format, tag);
    check_every_line_written_once(&lines, tag, request_id);
    lines
        .into_iter()
        .filter(|line| line.contains(tag))
        .collect()
}

#[test]
fn json_lines_of_requests_answered_before_sigterm_are_all_written() {
    let written = decision_lines("json", "json-before-sigterm", |id| {
        format!("\"request_id\":\"\\\"{id}\\\"\"")
    });
    for line in &written {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["message"], "decision");
        assert_eq!(value["level"], "INFO");
    }
}

#[test]
fn text_lines_of_requests_answered_before_sigterm_are_all_written() {
    let written = decision_lines("text", "text-before-sigterm", |id| {
        format!(" request_id=\"{id}\" ")
    });
    for line in &written {
        assert_eq!(&line[26..44], "Z  INFO decision o", "{line}");
        assert!(line.contains(" latency_ms="), "{line}");
    }
}
