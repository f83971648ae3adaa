//! Allow, deny, the contains-match quirk, string booleans and enrichment.

use std::sync::Arc;
use std::time::Duration;

use posture_conformance::support::{assert_allowed_plainly, assert_denied, permanent};
use posture_fakes::kandji::{ENGINEERING_BLUEPRINT_ID, FakeKandjiDevice};
use posture_kandji::Blueprint;
use serde_json::json;

use crate::support::{code, decide, denial, fake, fake_with, provider};

const MAC: &str = "FVHHFKF7Q6L4";
const IPHONE: &str = "DMPXK2ABCD12";

#[tokio::test]
async fn an_enrolled_mac_is_allowed_with_the_documented_enrichment() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new(MAC));
    let kandji_provider = provider(&kandji, |c| c);
    let decision = decide(&kandji_provider, &MAC.to_ascii_lowercase()).await;
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(
        decision.enrichment().unwrap().to_value(),
        json!({
            "device": {
                "id": "dev-fvhhfkf7q6l4",
                "name": "Mac FVHHFKF7Q6L4",
                "serial_number": MAC,
                "model": "MacBook Air (M1, 2020)",
                "platform": "Mac",
                "os_version": "14.4.1",
                "asset_tag": "",
                "last_check_in": "2024-07-23T14:11:37.150080Z",
            },
            "blueprint": {"id": ENGINEERING_BLUEPRINT_ID, "name": "Engineering Macs"},
            "user": {
                "id": "5344c996-8823-4b37-8d6e-8515fc7c3a0a",
                "name": "Alice Example",
                "email": "alice@example.com",
            },
            "tags": ["engineering"],
        })
    );
    let request = &kandji.requests()[0];
    assert_eq!(request.path, "/api/v1/devices");
    assert_eq!(
        request.query,
        [
            ("serial_number".to_owned(), MAC.to_owned()),
            ("ordering".to_owned(), "serial_number,device_id".to_owned()),
            ("limit".to_owned(), "300".to_owned())
        ]
    );
}

#[tokio::test]
async fn an_unassigned_user_gives_empty_user_fields() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::iphone(IPHONE));
    let kandji_provider = provider(&kandji, |c| c);
    let decision = decide(&kandji_provider, IPHONE).await;
    assert!(decision.is_allowed(), "{decision:?}");
    let data = decision.enrichment().unwrap().to_value();
    assert_eq!(data["user"], json!({"id": "", "name": "", "email": ""}));
    assert_eq!(data["device"]["platform"], "iPhone");
}

#[tokio::test]
async fn partial_serial_matches_are_not_the_device() {
    let kandji = fake().await;
    // Kandji returns both for serial_number=FVHHFKF7Q6L4; only the exact one counts.
    kandji.add_device(FakeKandjiDevice::new("XFVHHFKF7Q6L4Z").with_mdm_enabled(false));
    kandji.add_device(FakeKandjiDevice::new(MAC));
    let kandji_provider = provider(&kandji, |c| c);
    let decision = decide(&kandji_provider, MAC).await;
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(
        decision.enrichment().unwrap().to_value()["device"]["serial_number"],
        MAC
    );
    // A serial that is only part of another's is not found.
    let decision = decide(&kandji_provider, "FVHHFKF7").await;
    assert_eq!(
        denial(&decision),
        (
            "deviceNotFound",
            "no device with serial number FVHHFKF7 in Kandji"
        ),
        "{decision:?}"
    );
}

#[tokio::test]
async fn removed_and_unmanaged_devices_are_not_managed() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new("C02REMOVED01").removed());
    kandji.add_device(FakeKandjiDevice::new("C02NOMDM0001").with_mdm_enabled(false));
    let kandji_provider = provider(&kandji, |c| c);
    let removed = decide(&kandji_provider, "C02REMOVED01").await;
    assert_eq!(
        denial(&removed),
        ("notManaged", "C02REMOVED01 was removed from Kandji")
    );
    let no_mdm = decide(&kandji_provider, "C02NOMDM0001").await;
    assert_denied(&no_mdm, "notManaged", "MDM is not enabled");
    // KANDJI_REQUIRE_MDM=0 lets it through.
    let lenient = provider(&kandji, |c| c.with_require_mdm(false));
    assert!(decide(&lenient, "C02NOMDM0001").await.is_allowed());
}

#[tokio::test]
async fn a_re_enrolled_device_is_judged_by_its_live_record() {
    let kandji = fake().await;
    kandji.add_device(
        FakeKandjiDevice::new(MAC)
            .with_last_check_in("2024-01-01T00:00:00Z")
            .removed(),
    );
    kandji.add_device(FakeKandjiDevice::new(MAC).with_last_check_in("2024-06-01T00:00:00Z"));
    let kandji_provider = provider(&kandji, |c| c);
    assert!(decide(&kandji_provider, MAC).await.is_allowed());
}

#[tokio::test]
async fn the_agent_check_applies_to_macs_only() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new("C02NOAGENT01").with_agent_installed(false));
    kandji.add_device(FakeKandjiDevice::iphone(IPHONE));
    let off = provider(&kandji, |c| c);
    assert!(decide(&off, "C02NOAGENT01").await.is_allowed());
    let on = provider(&kandji, |c| c.with_require_agent(true));
    let denied = decide(&on, "C02NOAGENT01").await;
    assert_eq!(
        denial(&denied),
        (
            "notCompliant",
            "C02NOAGENT01 does not have the Kandji agent installed"
        )
    );
    assert!(
        decide(&on, IPHONE).await.is_allowed(),
        "iPhones have no agent"
    );
}

#[tokio::test]
async fn string_booleans_are_read_like_json_booleans() {
    let kandji = fake().await;
    kandji.set_string_booleans(true);
    kandji.add_device(FakeKandjiDevice::new(MAC));
    kandji.add_device(FakeKandjiDevice::new("C02NOMDM0001").with_mdm_enabled(false));
    kandji.add_device(FakeKandjiDevice::new("C02NOAGENT01").with_agent_installed(false));
    kandji.add_device(FakeKandjiDevice::new("C02REMOVED01").removed());
    let kandji_provider = provider(&kandji, |c| c.with_require_agent(true));
    for (serial, denied_as) in [
        (MAC, None),
        ("C02NOMDM0001", Some("notManaged")),
        ("C02NOAGENT01", Some("notCompliant")),
        ("C02REMOVED01", Some("notManaged")),
    ] {
        let decision = decide(&kandji_provider, serial).await;
        assert_eq!(code(&decision), denied_as, "{serial}: {decision:?}");
    }
}

#[tokio::test]
async fn blueprints_allow_by_id_or_exact_name() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new(MAC));
    kandji.add_device(FakeKandjiDevice::iphone(IPHONE));
    kandji.add_device(
        FakeKandjiDevice::new("C02RENAMED01")
            .with_blueprint(ENGINEERING_BLUEPRINT_ID, "Eng (renamed)"),
    );
    let by_name = provider(&kandji, |c| {
        c.with_blueprints([Blueprint::parse("Engineering Macs")])
    });
    assert!(decide(&by_name, MAC).await.is_allowed());
    let denied = decide(&by_name, IPHONE).await;
    assert_eq!(
        denial(&denied),
        (
            "notCompliant",
            "DMPXK2ABCD12 is in blueprint \"Shared iPhones\" (5b5b5b5b-0000-4000-8000-0000000000ff), not one of \"Engineering Macs\""
        )
    );
    assert_eq!(
        code(&decide(&by_name, "C02RENAMED01").await),
        Some("notCompliant")
    );

    let by_id = provider(&kandji, |c| {
        c.with_blueprints([Blueprint::parse(
            &ENGINEERING_BLUEPRINT_ID.to_ascii_uppercase(),
        )])
    });
    assert!(decide(&by_id, "C02RENAMED01").await.is_allowed());
    assert_eq!(code(&decide(&by_id, IPHONE).await), Some("notCompliant"));
}

#[tokio::test]
async fn the_cache_keeps_kandji_requests_to_one_per_device() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new(MAC));
    kandji.set_latency(Duration::from_millis(40));
    let kandji_provider = Arc::new(provider(&kandji, |c| c));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let p = kandji_provider.clone();
        let serial = if i % 2 == 0 { MAC } else { "C02MISSING01" };
        tasks.spawn(async move { decide(&*p, serial).await.is_allowed() == (serial == MAC) });
    }
    while let Some(ok) = tasks.join_next().await {
        assert!(ok.unwrap());
    }
    for _ in 0..5 {
        assert!(decide(&*kandji_provider, MAC).await.is_allowed());
    }
    assert_eq!(kandji.stats().device_requests, 2);
    assert_eq!(kandji_provider.stats().kandji_requests, 2);
    assert_eq!(kandji_provider.stats().decisions.misses, 2);
}

/// `count` devices whose serials contain `serial` without being it.
fn longer_serials(serial: &str, count: usize) -> impl Iterator<Item = FakeKandjiDevice> + '_ {
    (0..count).map(move |i| FakeKandjiDevice::new(format!("{serial}{i:04}")))
}

#[tokio::test]
async fn the_exact_serial_is_found_behind_a_full_page_of_longer_ones() {
    let kandji = fake_with(longer_serials(MAC, 300).chain([FakeKandjiDevice::new(MAC)])).await;
    let kandji_provider = provider(&kandji, |c| c);
    let decision = decide(&kandji_provider, MAC).await;
    assert!(decision.is_allowed(), "{decision:?}");
    let requests = kandji.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].query,
        [
            ("serial_number".to_owned(), MAC.to_owned()),
            ("ordering".to_owned(), "serial_number,device_id".to_owned()),
            ("limit".to_owned(), "300".to_owned()),
            ("offset".to_owned(), "300".to_owned()),
        ]
    );
    // Both pages in the same, total order, so the second continues where the first ended.
    assert_eq!(requests[0].query[..3], requests[1].query[..3]);
    // Not there at all: the list ends on the short second page, so the answer is "not found".
    let kandji = fake_with(longer_serials(MAC, 301)).await;
    let kandji_provider = provider(&kandji, |c| c);
    assert_eq!(
        code(&decide(&kandji_provider, MAC).await),
        Some("deviceNotFound")
    );
    assert_eq!(kandji.stats().device_requests, 2);
}

#[tokio::test]
async fn a_live_record_on_a_later_page_beats_a_removed_one_on_the_first() {
    let removed = FakeKandjiDevice::new(MAC).removed();
    let live = FakeKandjiDevice::new(MAC);
    let kandji = fake_with(
        [removed]
            .into_iter()
            .chain(longer_serials(MAC, 299))
            .chain([live]),
    )
    .await;
    let kandji_provider = provider(&kandji, |c| c);
    let decision = decide(&kandji_provider, MAC).await;
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(kandji.stats().device_requests, 2);
}

#[tokio::test]
async fn a_flood_of_partial_matches_is_a_permanent_error_not_a_guess() {
    let kandji = fake_with(longer_serials(MAC, 1500).chain([FakeKandjiDevice::new(MAC)])).await;
    let kandji_provider = provider(&kandji, |c| c);
    let err = permanent(crate::support::lookup(&kandji_provider, MAC).await);
    assert_eq!(
        err.message(),
        "Kandji has more than 1500 devices whose serial number contains FVHHFKF7Q6L4; \
         the lookup stops after 5 pages of 300, so it can't tell which records are \
         FVHHFKF7Q6L4's"
    );
    assert_eq!(kandji.stats().device_requests, 5);
}

#[tokio::test]
async fn missing_devices_are_denied_only_when_asked() {
    let kandji = fake().await;
    kandji.set_string_booleans(true);
    kandji.add_device(FakeKandjiDevice::new(MAC).missing());
    kandji.add_device(FakeKandjiDevice::new("C02PRESENT01"));
    let lenient = provider(&kandji, |c| c);
    assert!(decide(&lenient, MAC).await.is_allowed());
    let strict = provider(&kandji, |c| c.with_deny_missing(true));
    let denied = decide(&strict, MAC).await;
    assert_eq!(
        denial(&denied),
        (
            "notCompliant",
            "FVHHFKF7Q6L4 is flagged as missing in Kandji: it has not checked in recently"
        )
    );
    assert!(decide(&strict, "C02PRESENT01").await.is_allowed());
}

#[tokio::test]
async fn enrichment_can_be_turned_off() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new(MAC));
    let quiet = provider(&kandji, |c| c.with_enrich(false));
    assert_allowed_plainly(&decide(&quiet, MAC).await);
}
