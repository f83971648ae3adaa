//! Inventory sync (`KANDJI_SYNC_INTERVAL`): the same decisions as live lookups, device by
//! device; fall-back for devices enrolled since; a sync failing midway.

use posture_conformance::{sync, sync_fixture, sync_scenarios};
use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};
use posture_kandji::{Blueprint, KandjiConfig, KandjiProvider};

use crate::support::{fake, provider};

/// Rules that every kind of device below trips one way or another.
fn strict(config: KandjiConfig) -> KandjiConfig {
    config
        .with_blueprints([Blueprint::parse("Engineering Macs")])
        .with_require_agent(true)
        .with_deny_missing(true)
}

fn hourly(config: KandjiConfig) -> KandjiConfig {
    strict(config).with_sync(sync::hourly()).unwrap()
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
    let kandji = Fixture(fake().await);
    let serials = populate(&kandji.0);
    // Two providers at 50 a second each: more than one tenant's limit.
    kandji.0.set_rate_limits(1000, 100_000);
    let live = provider(&kandji.0, strict);
    let synced = provider(&kandji.0, hourly);
    let run = sync::synced_decisions_equal_live(&kandji, &synced, &live, &serials).await;
    assert_eq!(
        run.report.devices, 312,
        "310 Macs, an iPhone, one serial twice"
    );
    assert_eq!(run.report.calls, 2, "313 records in pages of 300");
    run.tally.assert_mixed(80, 200);
    // The live provider called Kandji once a distinct well-formed serial (313: the serial
    // listed twice and the lower-cased one come from its cache); the synced one only for
    // the one serial Kandji doesn't have.
    assert_eq!(run.requests, 313 + 1);
}

sync_fixture! {
    /// The Kandji provider and its fake, for the sync scenarios every provider runs.
    struct Fixture(FakeKandji) -> KandjiProvider;
    kind = posture_kandji::KIND;
    page_size = 300;
    synced(kandji) = provider(kandji, hourly);
}

sync_scenarios!(Fixture(fake().await));
