//! Inventory sync (`KANDJI_SYNC_INTERVAL`): the same decisions as live lookups, device by
//! device; fall-back for devices enrolled since; a sync failing midway.

use std::time::Duration;

use posture_core::PostureProvider;
use posture_fakes::Fault;
use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};
use posture_http::sync::{FromIndex, SyncSettings};
use posture_kandji::{Blueprint, KandjiConfig, KandjiProvider};

use crate::support::{decide, fake, provider};

/// Rules that every kind of device below trips one way or another.
fn strict(config: KandjiConfig) -> KandjiConfig {
    config
        .with_blueprints([Blueprint::parse("Engineering Macs")])
        .with_require_agent(true)
        .with_deny_missing(true)
}

fn hourly(config: KandjiConfig) -> KandjiConfig {
    strict(config)
        .with_sync(SyncSettings::new("", "").every(Duration::from_secs(3600)))
        .unwrap()
}

/// A fleet of every state Kandji reports, over two pages of 300, and the serials a
/// lookup may ask for (including unknown and malformed ones).
fn populate(kandji: &FakeKandji) -> Vec<String> {
    let mut serials = Vec::new();
    let mut add = |device: FakeKandjiDevice| {
        serials.push(device.serial_number.clone());
        kandji.add_device(device);
    };
    for n in 0..310 {
        let serial = format!("C02SYNC{n:05}");
        let device = FakeKandjiDevice::new(serial);
        add(match n % 7 {
            0 => device.with_mdm_enabled(false),
            1 => device.with_agent_installed(false),
            2 => device.missing(),
            3 => device.with_blueprint("c0ffee00-0000-4000-8000-000000000000", "Lab"),
            4 => device.removed(),
            _ => device,
        });
    }
    add(FakeKandjiDevice::iphone("DMPSYNC00001"));
    // One serial, two records: removed, then enrolled again.
    let mut old = FakeKandjiDevice::new("C02SYNCTWICE").removed();
    old.device_id = "dev-old".to_owned();
    add(old);
    add(FakeKandjiDevice::new("C02SYNCTWICE"));
    serials.extend([
        "C02NOTTHERE1".to_owned(),
        "c02sync00005".to_owned(),
        "x".to_owned(),
    ]);
    serials
}

#[tokio::test]
async fn synced_decisions_equal_live_decisions_device_by_device() {
    let kandji = fake().await;
    let serials = populate(&kandji);
    // Two providers at 50 a second each: more than one tenant's limit.
    kandji.set_rate_limits(1000, 100_000);
    let live = provider(&kandji, strict);
    let synced = provider(&kandji, hourly);
    let report = synced.sync_inventory().await.unwrap();
    assert_eq!(report.devices, 312, "310 Macs, an iPhone, one serial twice");
    assert_eq!(report.calls, 2, "313 records in pages of 300");
    let after_sync = kandji.stats().requests;
    let mut allowed = 0;
    for serial in &serials {
        let from_index = decide(&synced, serial).await;
        assert_eq!(from_index, decide(&live, serial).await, "{serial}");
        allowed += usize::from(from_index.is_allowed());
    }
    assert!(
        allowed > 80 && serials.len() - allowed > 200,
        "the rules allow some and deny others: {allowed} allowed"
    );
    // The live provider called Kandji once a distinct well-formed serial (313: the serial
    // listed twice and the lower-cased one come from its cache); the synced one only for
    // the one serial Kandji doesn't have.
    assert_eq!(kandji.stats().requests - after_sync, 313 + 1);
}

#[tokio::test]
async fn a_device_enrolled_after_the_sync_is_looked_up_live() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new("C02SYNCFIRST"));
    let synced = provider(&kandji, hourly);
    synced.sync_inventory().await.unwrap();
    kandji.add_device(FakeKandjiDevice::new("C02SYNCLATER"));
    assert_eq!(
        synced.inventory().lookup("C02SYNCLATER"),
        FromIndex::NotListed
    );
    let before = kandji.stats().requests;
    assert!(decide(&synced, "C02SYNCLATER").await.is_allowed());
    assert_eq!(kandji.stats().requests, before + 1);
    // The next sync lists it: no more calls for it.
    synced.sync_inventory().await.unwrap();
    synced.clear_cache();
    let before = kandji.stats().requests;
    assert!(decide(&synced, "C02SYNCLATER").await.is_allowed());
    assert_eq!(kandji.stats().requests, before);
}

#[tokio::test]
async fn a_sync_failing_midway_keeps_the_previous_inventory() {
    let kandji = fake().await;
    for n in 0..400 {
        kandji.add_device(FakeKandjiDevice::new(format!("C02SYNC{n:05}")));
    }
    let synced = provider(&kandji, hourly);
    synced.sync_inventory().await.unwrap();
    // The first page is served, the second refused: nothing of the first replaces the index.
    kandji.add_device(FakeKandjiDevice::new("C02SYNCNEW00"));
    kandji.fail_after(1, Fault::Status(403), 1);
    let err = synced.sync_inventory().await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    assert!(matches!(
        synced.inventory().lookup("C02SYNC00399"),
        FromIndex::Decided(d) if d.is_allowed()
    ));
    assert_eq!(
        synced.inventory().lookup("C02SYNCNEW00"),
        FromIndex::NotListed
    );
    assert!(synced.report().iter().any(|line| line.contains("403")));
    // Readiness still holds: the index is younger than the maximum age.
    kandji.set_fault(Some(Fault::Status(503)));
    synced.check_ready().await.unwrap();
}

#[tokio::test]
async fn a_rate_limited_page_is_retried_after_retry_after() {
    let kandji = fake().await;
    for n in 0..301 {
        kandji.add_device(FakeKandjiDevice::new(format!("C02SYNC{n:05}")));
    }
    let synced = provider(&kandji, hourly);
    kandji.fail_after(
        1,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let report = synced.sync_inventory().await.unwrap();
    assert_eq!((report.devices, report.calls), (301, 3));
}

#[tokio::test]
async fn sync_settings_come_from_the_environment_and_show_in_check_config() {
    let kandji = fake().await;
    let mut vars = kandji.env_vars();
    vars.push(("KANDJI_SYNC_INTERVAL".to_owned(), "900".to_owned()));
    let config =
        KandjiConfig::from_env(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap();
    assert_eq!(config.sync().interval(), Duration::from_secs(900));
    assert_eq!(config.sync().oldest(), Duration::from_secs(2700));
    let provider = KandjiProvider::new(config).unwrap();
    let report = provider.report().join("\n");
    assert!(report.contains("inventory sync: every 900 s"), "{report}");
    assert!(report.contains("inventory index: none yet"), "{report}");
}
