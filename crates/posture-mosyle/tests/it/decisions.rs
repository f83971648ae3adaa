//! What the provider decides for each kind of device.

use std::time::Duration;

use posture_conformance::support::{assert_allowed_plainly, assert_denied};
use posture_core::DeviceMode;
use posture_fakes::Fault;
use posture_fakes::mosyle::{FakeMosyleDevice, FakeMosyleGroup};
use posture_mosyle::{Group, MosyleConfig, MosyleProvider};
use serde_json::json;

use crate::support::{code, decide, fake, lookup, provider};

#[tokio::test]
async fn enrolled_devices_are_allowed_with_the_documented_enrichment() {
    let mosyle = fake().await;
    mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
    let p = provider(&mosyle, |c| c);
    let decision = decide(&p, "c02xl0gjjg5j").await;
    assert_eq!(
        decision.enrichment().unwrap().to_value(),
        json!({
            "device": {"udid": "UDID-C02XL0GJJG5J", "name": "Mac C02XL0GJJG5J",
                       "serial_number": "C02XL0GJJG5J", "os": "mac", "os_version": "14.4.1",
                       "asset_tag": ""},
            "user": {"id": "betty", "name": "Betty Jackson", "email": "betty@school.example",
                     "type": "STAFF"},
            "tags": ["staff", "macs"]
        })
    );
    // Tags as a list read the same.
    mosyle.set_tags_as_list(true);
    let p = provider(&mosyle, |c| {
        c.map_common(|s| s.with_cache_ttl(Duration::ZERO))
    });
    let decision = decide(&p, "C02XL0GJJG5J").await;
    assert_eq!(
        decision.enrichment().unwrap().to_value()["tags"],
        json!(["staff", "macs"])
    );
    let plain = provider(&mosyle, |c| c.with_enrich(false));
    assert_allowed_plainly(&decide(&plain, "C02XL0GJJG5J").await);
}

#[tokio::test]
async fn the_mode_chooses_the_os() {
    let mosyle = fake().await;
    mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
    mosyle.add_device(FakeMosyleDevice::ipad("DMPXK2ABCD12"));
    mosyle.add_device(FakeMosyleDevice::ipad("APPLETV00001").with_os("tvos"));
    mosyle.add_device(FakeMosyleDevice::ipad("VISIONPRO001").with_os("visionos"));
    let p = provider(&mosyle, |c| c);
    let mac = lookup(&p, "C02XL0GJJG5J", DeviceMode::Computer)
        .await
        .unwrap();
    assert!(mac.is_allowed());
    let before = mosyle.stats().device_requests;
    let ipad_as_mac = lookup(&p, "DMPXK2ABCD12", DeviceMode::Computer)
        .await
        .unwrap();
    assert_denied(&ipad_as_mac, "deviceNotFound", "(os mac)");
    assert_eq!(mosyle.stats().device_requests, before + 1);
    let ipad = lookup(&p, "DMPXK2ABCD12", DeviceMode::MobileDevice)
        .await
        .unwrap();
    assert!(ipad.is_allowed());
    let mac_as_mobile = lookup(&p, "C02XL0GJJG5J", DeviceMode::MobileDevice)
        .await
        .unwrap();
    assert_eq!(code(&mac_as_mobile), Some("deviceNotFound"));
    // auto tries mac, ios, tvos, visionos in turn.
    let before = mosyle.stats().device_requests;
    assert!(
        lookup(&p, "VISIONPRO001", DeviceMode::Auto)
            .await
            .unwrap()
            .is_allowed()
    );
    assert_eq!(mosyle.stats().device_requests, before + 4);
    assert!(
        lookup(&p, "APPLETV00001", DeviceMode::Unspecified)
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn unenrolled_and_deleted_devices_are_not_managed() {
    let mosyle = fake().await;
    mosyle.add_device(FakeMosyleDevice::new("C02ENROLLED1").with_status("ENROLLED"));
    mosyle.add_device(FakeMosyleDevice::new("C02UNINSTAL1").with_status("UNINSTALLED"));
    mosyle.add_device(FakeMosyleDevice::new("C02DELETED01").deleted());
    let p = provider(&mosyle, |c| c);
    assert!(decide(&p, "C02ENROLLED1").await.is_allowed());
    let d = decide(&p, "C02UNINSTAL1").await;
    assert_denied(&d, "notManaged", "\"UNINSTALLED\"");
    let d = decide(&p, "C02DELETED01").await;
    assert_denied(&d, "notManaged", "deleted");
}

#[tokio::test]
async fn both_not_found_shapes_mean_not_found() {
    let mosyle = fake().await;
    let p = provider(&mosyle, |c| {
        c.map_common(|s| s.with_negative_cache_ttl(Duration::ZERO))
    });
    for not_found_status in [false, true] {
        mosyle.set_not_found_status(not_found_status);
        let decision = decide(&p, "C02UNKNOWN01").await;
        assert_eq!(
            code(&decision),
            Some("deviceNotFound"),
            "not-found status {not_found_status}: {decision:?}"
        );
    }
}

#[tokio::test]
async fn an_ignored_filter_is_caught_by_the_exact_recheck() {
    let mosyle = fake().await;
    // More than a page of other Macs before the one asked for.
    for i in 0..220 {
        mosyle.add_device(FakeMosyleDevice::new(format!("C02OTHER{i:04}")));
    }
    mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J").with_status("UNINSTALLED"));
    mosyle.set_fault(Some(Fault::IgnoreFilter));
    let p = provider(&mosyle, |c| c);
    // The other devices are enrolled; the one asked for is not, and it is found on page 3.
    let d = lookup(&p, "C02XL0GJJG5J", DeviceMode::Computer)
        .await
        .unwrap();
    assert_eq!(code(&d), Some("notManaged"), "{d:?}");
    assert_eq!(mosyle.stats().device_requests, 3);
    // A serial nobody has: every page read, then not found.
    let d = lookup(&p, "C02NOBODY001", DeviceMode::Computer)
        .await
        .unwrap();
    assert_eq!(code(&d), Some("deviceNotFound"), "{d:?}");
}

#[tokio::test]
async fn groups_are_checked_by_udid_by_id_or_name() {
    let mosyle = fake().await;
    mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
    mosyle.add_device(FakeMosyleDevice::new("C02OUTSIDE01"));
    mosyle.add_device(FakeMosyleDevice::ipad("DMPXK2ABCD12"));
    mosyle.add_group(FakeMosyleGroup::new(
        "210",
        "Staff Macs",
        &["UDID-C02XL0GJJG5J"],
    ));
    let mut ipads = FakeMosyleGroup::new("310", "Staff iPads", &["UDID-DMPXK2ABCD12"]);
    ipads.os = "ios".to_owned();
    mosyle.add_group(ipads);
    for groups in [["210", "310"], ["Staff Macs", "Staff iPads"]] {
        let p = provider(&mosyle, |c| c.with_groups(groups.map(Group::parse)));
        assert!(decide(&p, "C02XL0GJJG5J").await.is_allowed());
        assert!(decide(&p, "DMPXK2ABCD12").await.is_allowed());
        let d = decide(&p, "C02OUTSIDE01").await;
        assert_denied(&d, "notCompliant", "UDID-C02OUTSIDE01");
    }
    // A name that no group has: nobody is a member.
    let p = provider(&mosyle, |c| c.with_groups([Group::parse("Nope")]));
    assert_eq!(
        code(&decide(&p, "C02XL0GJJG5J").await),
        Some("notCompliant")
    );
}

#[tokio::test]
async fn mosyle_business_speaks_its_own_dialect() {
    let mosyle = fake().await;
    mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
    let c = mosyle.connection();
    let config = MosyleConfig::new(&c.business_url, c.access_token, c.email, c.password).unwrap();
    let p = MosyleProvider::new(config).unwrap();
    assert!(decide(&p, "C02XL0GJJG5J").await.is_allowed());
    assert_eq!(
        code(&decide(&p, "C02UNKNOWN01").await),
        Some("deviceNotFound")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_login_serves_every_lookup_and_a_401_logs_in_again() {
    let mosyle = fake().await;
    for i in 0..20 {
        mosyle.add_device(FakeMosyleDevice::new(format!("C02BURST{i:04}")));
    }
    let p = std::sync::Arc::new(provider(&mosyle, |c| c));
    let results = posture_fakes::at_once(20, |i| {
        let p = p.clone();
        async move { lookup(p.as_ref(), &format!("C02BURST{i:04}"), DeviceMode::Computer).await }
    })
    .await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|d| d.is_allowed()))
    );
    assert_eq!(mosyle.stats().logins, 1);
    // The JWT expires early: one 401, one new login, the answer.
    mosyle.expire_tokens();
    p.clear_cache();
    assert!(decide(&p, "C02BURST0001").await.is_allowed());
    assert_eq!(mosyle.stats().logins, 2);
    assert_eq!(p.stats().tokens.invalidations, 1);
}
