//! What the provider decides for each kind of device.

use std::time::Duration;

use posture_conformance::support::{assert_allowed_plainly, assert_denied};
use posture_fakes::Fault;
use posture_fakes::addigy::{FakeAddigyDevice, STAFF_POLICY_ID};
use serde_json::json;

use crate::support::{code, decide, fake, provider};

#[tokio::test]
async fn devices_are_allowed_with_the_documented_enrichment() {
    let addigy = fake().await;
    addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
    let p = provider(&addigy, |c| c);
    let decision = decide(&p, "c02xl0gjjg5j").await;
    assert_eq!(
        decision.enrichment().unwrap().to_value(),
        json!({
            "device": {"id": "agent-c02xl0gjjg5j", "name": "Mac C02XL0GJJG5J",
                       "serial_number": "C02XL0GJJG5J", "model": "MacBook Pro",
                       "os_version": "14.4.1"},
            "user": {"email": "jason@example.com"},
            "policies": {"ids": [STAFF_POLICY_ID], "names": ["Staff Macs"]},
            "compliant": "true"
        })
    );
    let plain = provider(&addigy, |c| c.with_enrich(false));
    assert_allowed_plainly(&decide(&plain, "C02XL0GJJG5J").await);
    assert_eq!(
        code(&decide(&p, "C02UNKNOWN01").await),
        Some("deviceNotFound")
    );
}

#[tokio::test]
async fn policies_by_id_or_name() {
    let addigy = fake().await;
    addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
    addigy.add_device(FakeAddigyDevice::new("C02GUESTS001").with_policy("p-guest", "Guests"));
    for policies in [
        vec![STAFF_POLICY_ID.to_ascii_uppercase()],
        vec!["Staff Macs".to_owned()],
    ] {
        let p = provider(&addigy, |c| c.with_policies(policies.clone()));
        assert!(
            decide(&p, "C02XL0GJJG5J").await.is_allowed(),
            "{policies:?}"
        );
        let d = decide(&p, "C02GUESTS001").await;
        assert_denied(&d, "notCompliant", "policy Guests, not one of");
    }
}

#[tokio::test]
async fn compliance_is_read_only_when_required() {
    let addigy = fake().await;
    addigy.add_device(FakeAddigyDevice::new("C02NONCOMP01").with_compliant(false));
    let lax = provider(&addigy, |c| c);
    assert!(decide(&lax, "C02NONCOMP01").await.is_allowed());
    let strict = provider(&addigy, |c| c.with_require_compliant(true));
    let d = decide(&strict, "C02NONCOMP01").await;
    assert_denied(&d, "notCompliant", "is_compliant fact is false");
}

#[tokio::test]
async fn a_device_without_mdm_is_not_managed() {
    let addigy = fake().await;
    addigy.add_device(FakeAddigyDevice::new("C02AGENTONLY").with_mdm(false));
    let p = provider(&addigy, |c| c);
    let d = decide(&p, "C02AGENTONLY").await;
    assert_denied(&d, "notManaged", "has_mdm");
}

#[tokio::test]
async fn an_ignored_filter_is_caught_by_the_exact_recheck() {
    let addigy = fake().await;
    for i in 0..150 {
        addigy.add_device(FakeAddigyDevice::new(format!("C02OTHER{i:04}")));
    }
    addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J").with_compliant(false));
    addigy.set_fault(Some(Fault::IgnoreFilter));
    let p = provider(&addigy, |c| {
        c.with_require_compliant(true)
            .map_common(|s| s.with_cache_ttl(Duration::ZERO))
    });
    // Found on the second page, and judged on its own facts, not the first device's.
    let d = decide(&p, "C02XL0GJJG5J").await;
    assert_eq!(code(&d), Some("notCompliant"), "{d:?}");
    assert_eq!(addigy.stats().device_requests, 2);
    let d = decide(&p, "C02NOBODY001").await;
    assert_eq!(code(&d), Some("deviceNotFound"), "{d:?}");
}
