//! Inventory sync in the real server: `KANDJI_SYNC_INTERVAL` set, the server answers listed
//! devices from the synced index without calling Kandji, looks new ones up live, stays ready
//! while Kandji is down and the index is fresh, and exports the index's gauges.

use std::time::Duration;

use posture_fakes::Fault;
use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};

use step_posture_tests::deployment::Expect;

use crate::against;
use crate::ops::{eventually, http_get, value};
use crate::providers::LISTED_MAC;

const METRIC_DEVICES: &str = "step_posture_provider_inventory_devices{provider=\"kandji\"}";

#[tokio::test]
async fn a_synced_kandji_answers_from_its_index_and_looks_new_devices_up_live() {
    let kandji = FakeKandji::start().await.unwrap();
    kandji.add_device(FakeKandjiDevice::new(LISTED_MAC));
    kandji.add_device(FakeKandjiDevice::iphone("DMPXK2ABCD12"));
    kandji.add_device(FakeKandjiDevice::new("C02NOMDM0001").with_mdm_enabled(false));
    let d = against(
        &kandji.env_vars(),
        &[
            ("PROVIDER", "kandji"),
            ("KANDJI_SYNC_INTERVAL", "300"),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    )
    .await;
    let metrics_addr = d.server.metrics_addr().unwrap();
    eventually("the first sync is swapped in", || async {
        let (_, metrics) = http_get(metrics_addr, "GET", "/metrics").await;
        value(&metrics, METRIC_DEVICES) == Some(3.0)
    })
    .await;
    let before = kandji.stats().device_requests;
    let engineering = Expect::allowed().with_data("/blueprint/name", "Engineering Macs");
    d.expect(&[
        (LISTED_MAC, engineering),
        ("C02NOMDM0001", Expect::denied("notManaged")),
    ])
    .await;
    assert_eq!(
        kandji.stats().device_requests,
        before,
        "answered from the index"
    );

    // Enrolled after the sync: one live lookup.
    kandji.add_device(FakeKandjiDevice::new("C02ENROLLED1"));
    d.expect(&[("C02ENROLLED1", Expect::allowed())]).await;
    assert_eq!(kandji.stats().device_requests, before + 1);

    // Kandji down: listed devices are still answered, and the server stays ready.
    kandji.set_fault(Some(Fault::Status(503)));
    d.expect(&[("DMPXK2ABCD12", Expect::allowed())]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(http_get(metrics_addr, "GET", "/readyz").await.0, 200);

    let (_, metrics) = http_get(metrics_addr, "GET", "/metrics").await;
    for (metric, expected) in [
        (
            "step_posture_provider_inventory_lookups_total{provider=\"kandji\",outcome=\"answered\"}",
            3.0,
        ),
        (
            "step_posture_provider_inventory_lookups_total{provider=\"kandji\",outcome=\"not_listed\"}",
            1.0,
        ),
        (
            "step_posture_provider_inventory_syncs_total{provider=\"kandji\",result=\"ok\"}",
            1.0,
        ),
        (
            "step_posture_provider_inventory_last_sync_requests{provider=\"kandji\"}",
            1.0,
        ),
    ] {
        assert_eq!(
            value(&metrics, metric),
            Some(expected),
            "{metric}\n{metrics}"
        );
    }
    for gauge in [
        "step_posture_provider_inventory_index_bytes{provider=\"kandji\"}",
        "step_posture_provider_inventory_age_seconds{provider=\"kandji\"}",
        "step_posture_provider_inventory_last_sync_milliseconds{provider=\"kandji\"}",
    ] {
        assert!(value(&metrics, gauge).is_some(), "{gauge}\n{metrics}");
    }
}
