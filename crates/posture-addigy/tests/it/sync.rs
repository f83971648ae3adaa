//! Inventory sync (`ADDIGY_SYNC_INTERVAL`): the same decisions as live lookups, device by
//! device; fall-back for devices enrolled since; a sync failing midway; the client-side
//! limit that keeps Addigy's 24-hour block away.

use std::sync::Arc;
use std::time::Duration;

use posture_addigy::{AddigyConfig, AddigyProvider};
use posture_conformance::sync;
use posture_conformance::{sync_fixture, sync_scenarios};
use posture_fakes::addigy::{FakeAddigy, FakeAddigyDevice, STAFF_POLICY_ID};

use crate::support::{assert_never_blocked, decide, fake, paced, provider, scaled_down};

/// Rules that every kind of device below trips one way or another, at the highest
/// client-side rate, so that the live lookups of the whole fleet stay quick.
fn strict(config: AddigyConfig) -> AddigyConfig {
    config
        .with_policies([STAFF_POLICY_ID, "Lab Macs"])
        .with_require_compliant(true)
        .with_max_requests_per_second(posture_addigy::MAX_REQUESTS_PER_SECOND)
        .unwrap()
}

fn hourly(config: AddigyConfig) -> AddigyConfig {
    config.with_sync(sync::hourly()).unwrap()
}

/// Every state Addigy reports, over two pages of 100, and the identifiers a lookup may ask
/// for (including unknown and malformed ones).
fn populate(addigy: &FakeAddigy) -> Vec<String> {
    let mut serials = Vec::new();
    let mut add = |device: FakeAddigyDevice| {
        if !serials.contains(&device.serial_number) {
            serials.push(device.serial_number.clone());
        }
        addigy.add_device(device);
    };
    for n in 0..140 {
        let device = FakeAddigyDevice::new(format!("C02SYNC{n:05}"));
        add(match n % 6 {
            0 => device.with_mdm(false),
            1 => device.with_compliant(false),
            2 => device.with_policy("p-guest", "Guests"),
            3 => device.with_policy("p-lab", "Lab Macs"),
            _ => device,
        });
    }
    // One serial, two records: without MDM, then enrolled again.
    let mut old = FakeAddigyDevice::new("C02SYNCTWICE").with_mdm(false);
    old.agent_id = "agent-old".to_owned();
    add(old);
    add(FakeAddigyDevice::new("C02SYNCTWICE"));
    // A record no lookup can name.
    add(FakeAddigyDevice::new("NOT A SERIAL"));
    serials.retain(|s| s != "NOT A SERIAL");
    serials.extend(
        [
            "C02NOTTHERE1",
            "c02sync00004",
            "x",
            "00008103-001A2B3C4D5E001E",
        ]
        .map(str::to_owned),
    );
    serials
}

#[tokio::test]
async fn synced_decisions_equal_live_decisions_device_by_device() {
    let addigy = Fixture(fake().await);
    let serials = populate(&addigy.0);
    let live = provider(&addigy.0, strict);
    let synced = provider(&addigy.0, |c| hourly(strict(c)));
    let run = sync::synced_decisions_equal_live(&addigy, &synced, &live, &serials).await;
    assert_eq!(run.report.devices, 141, "140 Macs and one serial twice");
    assert_eq!(run.report.calls, 2, "143 records in pages of 100");
    run.tally.assert_mixed(40, 60);
    // The live provider searched once per distinct well-formed serial (142: the
    // lower-cased one comes from its cache); the synced one only for the serial Addigy
    // doesn't have.
    assert_eq!(run.requests, 142 + 1);
    assert_eq!(addigy.0.stats().rate_limited, 0);
}

sync_fixture! {
    /// The Addigy provider and its fake, for the sync scenarios every provider runs.
    struct Fixture(FakeAddigy) -> AddigyProvider;
    kind = posture_addigy::KIND;
    page_size = 100;
    synced(addigy) = provider(addigy, hourly);
}

sync_scenarios!(Fixture(fake().await));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_shares_the_client_side_limit_with_lookups_and_never_gets_the_key_blocked() {
    // The provider sends at most 3 a second (about 27 per 10 s), sync pages and lookups
    // together.
    let addigy = scaled_down((0..450).map(|n| format!("C02SYNC{n:05}"))).await;
    let synced = Arc::new(provider(&addigy, |c| {
        paced(hourly(c), 3, Duration::from_secs(10))
    }));
    let started = tokio::time::Instant::now();
    let lookups = posture_fakes::at_once(4, |n| {
        let synced = synced.clone();
        async move { decide(&*synced, &format!("C02SYNC{n:05}")).await }
    });
    let (report, decisions) = tokio::join!(synced.sync_inventory(), lookups);
    let report = report.unwrap();
    assert_eq!((report.devices, report.calls), (450, 5));
    assert!(decisions.iter().all(|d| d.is_allowed()));
    // Nine requests at three per 1.1 s take at least three windows.
    assert!(
        started.elapsed() >= Duration::from_millis(2200),
        "{:?}",
        started.elapsed()
    );
    assert_never_blocked(&addigy);
}
