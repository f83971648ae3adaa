//! The generic provider against Snipe-IT's documented `GET /api/v1/hardware/byserial/{serial}`.

use std::time::Duration;

use posture_conformance::backoff;
use posture_conformance::support::{assert_allowed_plainly, assert_reported, permanent};
use posture_core::{DeviceMode, LookupRequest, PostureProvider};
use posture_fakes::Fault;
use posture_fakes::snipeit::{FakeAsset, FakeSnipeIt, NotFound};
use serde_json::json;

use crate::support::{decide, denial, provider};

async fn fake() -> FakeSnipeIt {
    let snipe = FakeSnipeIt::start().await.unwrap();
    snipe.add_asset(FakeAsset::new("C02XL0GJJG5J"));
    snipe.add_asset(
        FakeAsset::new("C02INSTOCK01")
            .with_status("Ready to Deploy", "deployable")
            .unassigned(),
    );
    snipe
}

#[tokio::test]
async fn deployed_assets_are_allowed_with_the_configured_enrichment() {
    let snipe = fake().await;
    let p = provider(
        &snipe,
        &[
            (
                "HTTP_REQUIRE",
                "/status_label/status_meta=deployed,/status_label/id=2",
            ),
            (
                "HTTP_ENRICH",
                "user=/assigned_to/username,email=/assigned_to/email,department=/assigned_to/department/name,asset=/asset_tag,model=/model",
            ),
        ],
    );
    let decision = decide(&p, "c02xl0gjjg5j").await;
    assert_eq!(
        decision.enrichment().unwrap().to_value(),
        json!({"user": "alice", "email": "alice@example.com", "asset": "A-C02XL0GJJG5J",
               "model": {"id": 1, "name": "MacBook Pro 14"}})
    );
    let decision = decide(&p, "C02INSTOCK01").await;
    assert_eq!(
        denial(&decision),
        (
            "notCompliant",
            "C02INSTOCK01 fails the HTTP_REQUIRE condition /status_label/status_meta=deployed \
             (the inventory has \"deployable\")"
        )
    );
    // No HTTP_ENRICH: allowed without data.
    let plain = provider(&snipe, &[]);
    assert_allowed_plainly(&decide(&plain, "C02XL0GJJG5J").await);
}

#[tokio::test]
async fn every_documented_not_found_is_device_not_found() {
    let snipe = fake().await;
    let p = provider(&snipe, &[("HTTP_NEGATIVE_CACHE_TTL", "0")]);
    for (style, why) in [
        (
            NotFound::StatusError,
            "/rows/0 (HTTP_RECORD) is missing; it answered \"Asset does not exist.\"",
        ),
        (
            NotFound::EmptyRows,
            "/rows/0 (HTTP_RECORD) is missing from its answer",
        ),
        (NotFound::Http404, "it answered 404 Not Found"),
    ] {
        snipe.set_not_found(style);
        let decision = decide(&p, "C02UNKNOWN01").await;
        assert_eq!(
            denial(&decision),
            (
                "deviceNotFound",
                format!("no device with serial number C02UNKNOWN01 in the inventory: {why}")
                    .as_str()
            ),
            "{style:?}"
        );
    }
}

#[tokio::test]
async fn a_record_for_another_device_is_not_this_device() {
    let snipe = fake().await;
    let p = provider(&snipe, &[]);
    // As a search API that ignores its filter: the first row is another asset.
    snipe.fail_next(Fault::IgnoreFilter, 1);
    let decision = decide(&p, "C02INSTOCK01").await;
    assert_eq!(
        denial(&decision),
        (
            "deviceNotFound",
            "no device with serial number C02INSTOCK01 in the inventory: the record it answered \
             has /serial (HTTP_MATCH) = \"C02XL0GJJG5J\", not C02INSTOCK01"
        )
    );
    let missing = provider(&snipe, &[("HTTP_MATCH", "/serial_number")]);
    let decision = decide(&missing, "C02XL0GJJG5J").await;
    assert!(
        denial(&decision)
            .1
            .ends_with("has /serial_number (HTTP_MATCH) = missing, not C02XL0GJJG5J"),
        "{decision:?}"
    );
}

#[tokio::test]
async fn credentials_go_in_headers_and_a_refusal_is_named() {
    let snipe = fake().await;
    let p = provider(&snipe, &[("HTTP_HEADERS", "Authorization: Bearer wrong")]);
    let err = permanent(p.lookup(&LookupRequest::new("C02XL0GJJG5J")).await);
    assert!(
        err.message()
            .contains("check the credentials in HTTP_HEADERS"),
        "{err}"
    );
    assert!(!err.message().contains("wrong"), "{err}");
    let err = p.check_ready().await.unwrap_err();
    assert!(
        err.message()
            .contains("refused GET /api/v1/hardware/byserial/READINESSPROBE"),
        "{err}"
    );
    assert_eq!(snipe.stats().unauthorized, 2);
    let good = provider(&snipe, &[]);
    good.check_ready().await.unwrap();
    good.check_ready().await.unwrap();
    assert_eq!(snipe.stats().requests, 3);
}

#[tokio::test]
async fn the_mode_goes_into_the_url_and_the_cache_key() {
    let snipe = fake().await;
    let url = format!(
        "{}/api/v1/hardware/byserial/{{identifier}}?kind={{mode}}",
        snipe.url()
    );
    let p = provider(&snipe, &[("HTTP_URL", url.as_str())]);
    for mode in [
        DeviceMode::Computer,
        DeviceMode::MobileDevice,
        DeviceMode::Computer,
    ] {
        let request = LookupRequest::new("C02XL0GJJG5J").with_mode(mode);
        assert!(p.lookup(&request).await.unwrap().is_allowed());
    }
    assert_eq!(snipe.stats().requests, 2);
    assert_reported(&p, "?kind={mode} with header(s) authorization");
}

#[tokio::test]
async fn transient_and_permanent_failures() {
    let snipe = fake().await;
    let p = provider(&snipe, &[("TIMEOUT", "1")]);
    for (fault, transient, serial) in [
        (Fault::Status(503), true, "C02AAAAAAAA1"),
        (Fault::Status(500), true, "C02AAAAAAAA2"),
        (Fault::Status(400), false, "C02AAAAAAAA3"),
        (Fault::Garbage, false, "C02AAAAAAAA4"),
        (Fault::Hang, true, "C02AAAAAAAA5"),
    ] {
        snipe.set_fault(Some(fault.clone()));
        let err = p.lookup(&LookupRequest::new(serial)).await.unwrap_err();
        assert_eq!(err.is_transient(), transient, "{fault:?}: {err}");
    }
    let err = backoff::a_retry_after_is_honoured_without_a_request(
        &p,
        &snipe,
        20,
        &LookupRequest::new("C02AAAAAAAA6"),
        &LookupRequest::new("C02XL0GJJG5J"),
    )
    .await;
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
}
