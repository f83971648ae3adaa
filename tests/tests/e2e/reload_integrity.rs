//! Data integrity of device-file reloads, through the real server over TLS: a file caught
//! half-written is never served, a reload that would drop most devices is refused, and a
//! device list that has fallen out of date says so in `step_posture_devices_stale_seconds`.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use step_posture_connector::reload::ReloadError;

use super::ops::{METRICS, Ops, POLL, eventually, replace, scrape, value};

const STALE: &str = "step_posture_devices_stale_seconds";
const FAILURES: &str = "step_posture_reloads_total{target=\"devices\",result=\"failure\"}";

/// A CSV of `count` devices `SN00000…`, each with an email at `domain`.
fn devices_csv(count: usize, domain: &str) -> String {
    let mut csv = String::from("Identifier,email_address\n");
    for i in 0..count {
        csv.push_str(&format!("SN{i:05},user{i:05}@{domain}\n"));
    }
    csv
}

/// The email the server returns for `serial`, or why it did not allow it.
async fn email(ops: &Ops, serial: &str) -> Result<String, String> {
    let (status, body) = ops.ask(serial).await;
    match (
        status,
        body["allow"].as_bool(),
        body["data"]["email_address"].as_str(),
    ) {
        (StatusCode::OK, Some(true), Some(email)) => Ok(email.to_owned()),
        _ => Err(format!("{serial}: HTTP {status} {body}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_rewritten_in_place_with_a_pause_is_never_served_half_written() {
    let poll = Duration::from_millis(25);
    let settle = Duration::from_secs(1);
    let pause = Duration::from_millis(300);
    assert!(pause > poll * 10 && pause < settle);
    let old = devices_csv(2000, "old.example.com");
    let ops =
        Arc::new(Ops::start_with(Some(poll), settle, ("devices.csv", &old), &[METRICS]).await);
    let new = devices_csv(2000, "new.example.com");
    // Cut inside device 1000's email, as a writer that flushes a buffer leaves it.
    let cut = new.find("SN01000,user01000@ne").unwrap() + "SN01000,user01000@ne".len();

    // The writer truncates the file and rewrites it where it is, pausing half-way for
    // many polls.
    let path = ops.file("devices.csv");
    let written = Arc::new(AtomicBool::new(false));
    let writer = {
        let (written, new) = (written.clone(), new.clone());
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&path).unwrap();
            file.write_all(&new.as_bytes()[..cut]).unwrap();
            std::thread::sleep(pause);
            file.write_all(&new.as_bytes()[cut..]).unwrap();
            drop(file);
            written.store(true, Ordering::SeqCst);
        })
    };

    // Throughout, a device of the second half is allowed, and the device cut in two is
    // given a whole email, old or new.
    let started = Instant::now();
    let mut checks = 0;
    while !written.load(Ordering::SeqCst) || started.elapsed() < pause + settle / 2 {
        for serial in ["SN01500", "SN01000"] {
            let email = email(&ops, serial).await.unwrap_or_else(|err| {
                panic!("after {:?}: {err}", started.elapsed());
            });
            let number = &serial[2..];
            assert!(
                email == format!("user{number}@old.example.com")
                    || email == format!("user{number}@new.example.com"),
                "after {:?}: {serial} served with {email:?}",
                started.elapsed()
            );
        }
        checks += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.join().unwrap();
    assert!(checks > 10, "only {checks} checks");

    // Once the writer has finished and the file has settled, the new list serves, whole.
    eventually("the new list is served", || async {
        email(&ops, "SN01999").await.as_deref() == Ok("user01999@new.example.com")
    })
    .await;
    assert_eq!(
        email(&ops, "SN00000").await.as_deref(),
        Ok("user00000@new.example.com")
    );
    let metrics = scrape(&ops).await;
    assert_eq!(value(&metrics, "step_posture_devices"), Some(2000.0));
    assert_eq!(value(&metrics, FAILURES), Some(0.0), "{metrics}");
    assert_eq!(value(&metrics, STALE), Some(0.0), "{metrics}");
    Arc::into_inner(ops).unwrap().stop().await;
}

#[tokio::test]
async fn the_stale_gauge_rises_after_a_failed_reload_and_returns_to_zero_after_a_good_one() {
    let ops = Ops::start(POLL, &[METRICS]).await;
    assert_eq!(value(&scrape(&ops).await, STALE), Some(0.0));

    replace(&ops.file("devices.json"), "{\"devices\":[");
    eventually("the failed reload is counted", || async {
        value(&scrape(&ops).await, FAILURES) == Some(1.0)
    })
    .await;
    let first = value(&scrape(&ops).await, STALE).unwrap();
    assert!(first > 0.0, "{first}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = value(&scrape(&ops).await, STALE).unwrap();
    assert!(later >= first + 0.15, "{first} then {later}");
    // The previous list still serves.
    assert_eq!(ops.ask("F4KQ2J9XN7").await.1["allow"], true);

    replace(
        &ops.file("devices.json"),
        r#"{"devices":[{"identifier":"C02XL0GJJG5J"},{"identifier":"F4KQ2J9XN7"},{"identifier":"C02FIXED0001"}]}"#,
    );
    eventually("the good file is served", || async {
        ops.ask("C02FIXED0001").await.1["allow"] == true
    })
    .await;
    eventually("the gauge is back to 0", || async {
        value(&scrape(&ops).await, STALE) == Some(0.0)
    })
    .await;
    ops.stop().await;
}

#[tokio::test]
async fn a_reload_to_fewer_than_half_the_devices_is_refused_unless_allowed() {
    let one_device = r#"{"devices":[{"identifier":"C02XL0GJJG5J","data":{"user":"only"}}]}"#;

    let ops = Ops::start(POLL, &[METRICS]).await;
    replace(&ops.file("devices.json"), one_device);
    eventually("the refused reload is counted", || async {
        value(&scrape(&ops).await, FAILURES) == Some(1.0)
    })
    .await;
    // The old list keeps serving, whole, and is reported out of date.
    assert_eq!(ops.ask("F4KQ2J9XN7").await.1["allow"], true);
    assert_eq!(ops.ask("13804722").await.1["allow"], true);
    let metrics = scrape(&ops).await;
    assert_eq!(value(&metrics, "step_posture_devices"), Some(3.0));
    assert!(value(&metrics, STALE).unwrap() > 0.0, "{metrics}");
    // Asked again, as on SIGHUP, it is refused the same way, naming the setting.
    let err = ops.reloader.reload_devices().await.unwrap().unwrap_err();
    assert!(matches!(err, ReloadError::Shrunk(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("lists 1 devices, fewer than half of the 3 in the list being served")
            && message.ends_with("set RELOAD_ALLOW_SHRINK=1 to accept such a change"),
        "{message}"
    );
    ops.stop().await;

    let ops = Ops::start(POLL, &[METRICS, ("RELOAD_ALLOW_SHRINK", "1")]).await;
    replace(&ops.file("devices.json"), one_device);
    eventually("the shrunk list is served", || async {
        ops.ask("F4KQ2J9XN7").await.1["error"]["code"] == "deviceNotFound"
    })
    .await;
    assert_eq!(
        ops.ask("C02XL0GJJG5J").await.1,
        serde_json::json!({"allow": true, "data": {"user": "only"}})
    );
    let metrics = scrape(&ops).await;
    assert_eq!(value(&metrics, "step_posture_devices"), Some(1.0));
    assert_eq!(value(&metrics, FAILURES), Some(0.0));
    assert_eq!(value(&metrics, STALE), Some(0.0));
    ops.stop().await;
}
