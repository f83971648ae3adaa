//! Rotating a webhook secret without a restart: the new webhook is added to the files, the
//! senders move to it, the old one is removed, and no correctly signed request fails on the
//! way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::StatusCode;
use smallstep_webhook::{Signer, WebhookSecret};
use step_posture_tests::pki::Pki;
use step_posture_tests::server::{Client, Options, TestServer, enriching_body, json};

const OLD_ID: &str = "0f0e0d0c-0000-4000-8000-00000000000a";
const NEW_ID: &str = "0f0e0d0c-0000-4000-8000-00000000000b";
const OLD_SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
const NEW_SECRET: &str =
    "Raje4mOlzC1LOxFk5v/rb8uwlZXPF41B+MFgjOB+Sp3jo9uq73XgQnqFbbFLVKhM0WiLaUDS+vtWQK5ucGev0Q==";

fn signer(id: &str, secret: &str) -> Signer {
    Signer::new(id, WebhookSecret::from_base64(secret).unwrap()).unwrap()
}

/// Writes `.env` and the secrets file the way an operator (or a Kubernetes volume) should:
/// whole, then renamed into place.
fn write_webhooks(dir: &std::path::Path, ids: &[&str], secrets: &[&str]) {
    let secrets_path = dir.join("webhook-secrets");
    let tmp = dir.join("webhook-secrets.tmp");
    std::fs::write(&tmp, secrets.join("\n")).unwrap();
    std::fs::rename(&tmp, &secrets_path).unwrap();
    let env = format!(
        "WEBHOOK_IDS={}\nWEBHOOK_SECRETS_FILE={}\n",
        ids.join(","),
        secrets_path.display()
    );
    let tmp = dir.join(".env.tmp");
    std::fs::write(&tmp, env).unwrap();
    std::fs::rename(&tmp, dir.join(".env")).unwrap();
}

/// Sends one request signed by `signer`; whether it was accepted (not refused with 401).
async fn accepted(client: &Client, server: &TestServer, signer: &Signer) -> bool {
    let signed = signer.sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let (status, body) = client
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    status == StatusCode::OK && json(&body)["allow"] == true
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_rotated_under_load_without_a_failed_request() {
    let pki = Pki::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_webhooks(dir.path(), &[OLD_ID], &[OLD_SECRET]);
    let server = TestServer::start_with(
        &pki,
        &[
            ("WEBHOOK_IDS", OLD_ID),
            ("WEBHOOK_SECRETS", OLD_SECRET),
            ("RELOAD_INTERVAL", "1"),
            ("RELOAD_SETTLE", "0"),
        ],
        Options {
            reload_webhooks_from: Some(dir.path()),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let server = Arc::new(server);
    let client = Client::new(&pki).unwrap();
    let old = signer(OLD_ID, OLD_SECRET);
    let new = signer(NEW_ID, NEW_SECRET);
    assert!(accepted(&client, &server, &old).await);
    assert!(!accepted(&client, &server, &new).await);

    // step-ca's calls, bounded: two senders until told to stop, at most 2 minutes.
    let current = Arc::new(ArcSwap::from_pointee(old.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (client, server, current) = (client.clone(), server.clone(), current.clone());
        let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
        senders.spawn(async move {
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(120) {
                let signer = current.load_full();
                if !accepted(&client, &server, &signer).await {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
        });
    }

    // 1. The new webhook joins the old one.
    write_webhooks(dir.path(), &[OLD_ID, NEW_ID], &[OLD_SECRET, NEW_SECRET]);
    wait_until("the new webhook is accepted", async || {
        accepted(&client, &server, &new).await
    })
    .await;
    // 2. step-ca moves to it.
    current.store(Arc::new(new.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // 3. The old one goes.
    write_webhooks(dir.path(), &[NEW_ID], &[NEW_SECRET]);
    wait_until("the old webhook is refused", async || {
        !accepted(&client, &server, &old).await
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    while senders.join_next().await.is_some() {}

    let (sent, failed) = (sent.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert!(sent > 20, "only {sent} requests were sent");
    assert_eq!(
        failed, 0,
        "{failed} of {sent} correctly signed requests failed"
    );

    // A broken file keeps the last good set.
    std::fs::write(dir.path().join(".env"), "WEBHOOK_IDS=\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(accepted(&client, &server, &new).await);
}
