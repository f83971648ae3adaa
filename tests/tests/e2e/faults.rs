//! Faults behind the server: a provider that errors, hangs or is slow; an MDM whose token
//! endpoint fails while lookups are under way; a device file deleted or truncated while
//! serving. The server answers within its deadline and fails closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use posture_fakes::TokenFault;
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use posture_file::{FileFormat, FileProvider};
use step_posture_connector::config::Config;
use step_posture_tests::pki::Pki;
use step_posture_tests::providers::{Behaviour, Scripted};
use step_posture_tests::server::{
    Client, DEVICES_JSON, Options, TestServer, enriching_body, enriching_signer, json,
};

use crate::against;

async fn ask(
    server: &TestServer,
    client: &Client,
    serial: &str,
) -> (StatusCode, serde_json::Value, Duration) {
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body(serial, None).unwrap());
    let started = Instant::now();
    let (status, body) = client
        .post(
            &server.url("/webhook/device-attest?mode=computer"),
            &signed.headers,
            signed.body,
        )
        .await
        .unwrap();
    (status, json(&body), started.elapsed())
}

async fn with_provider(
    pki: &Pki,
    behaviour: Behaviour,
    timeout: Duration,
) -> (TestServer, Arc<Scripted>) {
    let provider = Arc::new(Scripted::new(behaviour));
    let tweak = move |config: &mut Config| config.timeout = timeout;
    let server = TestServer::start_with(
        pki,
        &[],
        Options {
            tweak: Some(&tweak),
            provider: Some(provider.clone()),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    (server, provider)
}

#[tokio::test]
async fn provider_faults_are_answered_within_the_deadline_and_fail_closed() {
    let pki = Pki::generate().unwrap();
    let client = Client::new(&pki).unwrap();
    let deadline = Duration::from_millis(600);
    // (behaviour, status, body check)
    let cases: [(Behaviour, StatusCode, Option<&str>); 5] = [
        (Behaviour::Transient, StatusCode::SERVICE_UNAVAILABLE, None),
        (Behaviour::Permanent, StatusCode::OK, Some("providerError")),
        (Behaviour::Hang, StatusCode::SERVICE_UNAVAILABLE, None),
        // Slower than the deadline: the same as hanging.
        (
            Behaviour::Slow(Duration::from_secs(5)),
            StatusCode::SERVICE_UNAVAILABLE,
            None,
        ),
        // Slow but inside the deadline: answered normally.
        (
            Behaviour::Slow(Duration::from_millis(200)),
            StatusCode::OK,
            None,
        ),
    ];
    for (behaviour, status, code) in cases {
        let (server, provider) = with_provider(&pki, behaviour.clone(), deadline).await;
        let (got, body, took) = ask(&server, &client, "C02XL0GJJG5J").await;
        assert_eq!(got, status, "{behaviour:?}: {body}");
        match (status, code) {
            (StatusCode::SERVICE_UNAVAILABLE, _) => {
                assert_eq!(body, serde_json::json!({"allow": false}), "{behaviour:?}");
            }
            (_, Some(code)) => {
                assert_eq!(body["allow"], false, "{behaviour:?}");
                assert_eq!(body["error"]["code"], code, "{behaviour:?}");
                // The device learns the inventory failed, not how.
                let message = body["error"]["message"].as_str().unwrap();
                assert!(!message.contains("credentials"), "{message}");
            }
            (_, None) => assert_eq!(body["allow"], true, "{behaviour:?}"),
        }
        assert!(
            took < deadline + Duration::from_millis(1000),
            "{behaviour:?} took {took:?} with a {deadline:?} deadline"
        );
        assert_eq!(provider.lookups(), 1, "{behaviour:?}");
        server.stop().await;
    }
}

/// Twenty lookups at once while Jamf's token endpoint fails: one token request (not
/// twenty), every answer a 503 or a providerError deny, and the server recovers with Jamf.
#[tokio::test]
async fn a_failing_token_endpoint_under_load_causes_no_stampede() {
    let jamf = FakeJamf::start().await.unwrap();
    jamf.add_computer(FakeDevice::new("C02XL0GJJG5J"));
    jamf.set_latency(Duration::from_millis(50));
    let mut extra = vec![("PROVIDER", "jamf"), ("TIMEOUT", "2")];
    extra.extend(crate::jamf::UNCACHED);
    let d = Arc::new(against(&jamf.env_vars(), &extra).await);
    // The server took its token at start-up; now Jamf forgets it and its token endpoint fails.
    jamf.revoke_tokens();
    jamf.set_token_fault(Some(TokenFault::Status(500)));
    let before = jamf.stats().token_requests;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let d = d.clone();
        tasks.spawn(async move { ask(&d.server, &d.client, "C02XL0GJJG5J").await });
    }
    while let Some(result) = tasks.join_next().await {
        let (status, body, took) = result.unwrap();
        let clear = status == StatusCode::SERVICE_UNAVAILABLE
            || (status == StatusCode::OK && body["error"]["code"] == "providerError");
        assert!(clear, "{status} {body}");
        assert_eq!(body["allow"], false);
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    let token_requests = jamf.stats().token_requests - before;
    assert!(
        (1..=2).contains(&token_requests),
        "{token_requests} token requests for 20 concurrent lookups"
    );
    // Jamf recovers: so does the server.
    jamf.set_token_fault(None);
    let (status, body, _) = ask(&d.server, &d.client, "C02XL0GJJG5J").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allow"], true, "{body}");
}

/// The device file is deleted, then truncated, while the server runs: each reload fails
/// and the last good list keeps answering, through the real server.
#[tokio::test]
async fn a_deleted_or_truncated_device_file_leaves_the_last_good_list_serving() {
    let pki = Pki::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");
    std::fs::write(&path, DEVICES_JSON).unwrap();
    let provider = Arc::new(FileProvider::load(&path, FileFormat::Json).unwrap());
    let server = TestServer::start_with(
        &pki,
        &[],
        Options {
            provider: Some(provider.clone()),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let client = Client::new(&pki).unwrap();
    let (_, body, _) = ask(&server, &client, "C02XL0GJJG5J").await;
    assert_eq!(body["allow"], true);

    std::fs::remove_file(&path).unwrap();
    assert!(provider.reload().is_err(), "reloading a deleted file fails");
    let (status, body, _) = ask(&server, &client, "C02XL0GJJG5J").await;
    assert_eq!(
        (status, &body["allow"]),
        (StatusCode::OK, &serde_json::json!(true)),
        "{body}"
    );

    for truncated in [&DEVICES_JSON[..DEVICES_JSON.len() / 2], ""] {
        std::fs::write(&path, truncated).unwrap();
        assert!(provider.reload().is_err(), "reloading {truncated:?} fails");
        let (status, body, _) = ask(&server, &client, "13804722").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["allow"], true, "{body}");
        let (_, body, _) = ask(&server, &client, "C02UNKNOWN00").await;
        assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
    }
    let (status, _) = client
        .send(
            http::Method::GET,
            &server.url("/readyz"),
            &http::HeaderMap::new(),
            "",
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "the last good list is still a ready provider"
    );

    // A good file again (with at least half as many devices): the new list serves.
    std::fs::write(
        &path,
        r#"{"devices":[{"identifier":"NEWDEVICE01"},{"identifier":"NEWDEVICE02"}]}"#,
    )
    .unwrap();
    assert_eq!(provider.reload().unwrap(), 2);
    let (_, body, _) = ask(&server, &client, "C02XL0GJJG5J").await;
    assert_eq!(body["error"]["code"], "deviceNotFound");
    let (_, body, _) = ask(&server, &client, "NEWDEVICE01").await;
    assert_eq!(body["allow"], true);
}
