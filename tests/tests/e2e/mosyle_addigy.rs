//! The real server with `PROVIDER=mosyle` and `PROVIDER=addigy`, alone and combined with
//! `file` under both policies, against fakes that speak the MDMs' documented shapes.

use http::StatusCode;
use posture_fakes::addigy::{AcceptedAuth, FakeAddigy, FakeAddigyDevice};
use posture_fakes::mosyle::{FakeMosyle, FakeMosyleDevice, FakeMosyleGroup};
use step_posture_tests::deployment::Expect;

use crate::ops::{http_get, value};
use crate::providers::{ConfigCheck, LISTED_KEY, LISTED_MAC, combined_with_the_file};
use crate::{against, assert_contains_all, assert_contains_none};

// ---- Mosyle ------------------------------------------------------------------------------

async fn fake_mosyle() -> FakeMosyle {
    let mosyle = FakeMosyle::start().await.unwrap();
    // In Mosyle and in the file.
    mosyle.add_device(FakeMosyleDevice::new(LISTED_MAC));
    // In Mosyle only.
    mosyle.add_device(FakeMosyleDevice::ipad("DMPMOSYLE001"));
    mosyle.add_device(FakeMosyleDevice::new("C02UNINSTAL1").with_status("UNINSTALLED"));
    mosyle.add_device(FakeMosyleDevice::new("C02OUTSIDE01"));
    let mut ipads = FakeMosyleGroup::new("310", "Staff iPads", &["UDID-DMPMOSYLE001"]);
    ipads.os = "ios".to_owned();
    mosyle.add_group(ipads);
    mosyle.add_group(FakeMosyleGroup::new(
        "210",
        "Staff Macs",
        &[&format!("UDID-{LISTED_MAC}"), "UDID-C02UNINSTAL1"],
    ));
    mosyle.set_not_found_status(true);
    mosyle
}

#[tokio::test]
async fn mosyle_allows_enrolled_group_members_with_its_enrichment_and_counts_on_metrics() {
    let mosyle = fake_mosyle().await;
    let d = against(
        &mosyle.env_vars(),
        &[
            ("PROVIDER", "mosyle"),
            ("MOSYLE_GROUPS", "Staff Macs,310"),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    )
    .await;
    let staff_mac = Expect::allowed()
        .with_data("/user/email", "betty@school.example")
        .with_data("/device/os", "mac")
        .with_data("/tags", serde_json::json!(["staff", "macs"]));
    d.expect(&[
        (LISTED_MAC, staff_mac),
        (
            "DMPMOSYLE001",
            Expect::allowed().with_data("/device/os", "ios"),
        ),
        ("C02UNINSTAL1", Expect::denied("notManaged")),
        ("C02OUTSIDE01", Expect::denied("notCompliant")),
        ("C02UNKNOWN01", Expect::denied("deviceNotFound")),
    ])
    .await;
    // One login for the readiness check and every lookup.
    assert_eq!(mosyle.stats().logins, 1);

    let metrics_addr = d.server.metrics_addr().unwrap();
    let (code, metrics) = http_get(metrics_addr, "GET", "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(
        value(
            &metrics,
            "step_posture_provider_token_requests_total{provider=\"mosyle\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        value(
            &metrics,
            "step_posture_provider_requests_total{provider=\"mosyle\"}"
        )
        .is_some_and(|n| n >= 5.0),
        "{metrics}"
    );

    // Mosyle down: 503, so step-ca retries.
    mosyle.set_fault(Some(posture_fakes::Fault::Status(503)));
    let unavailable = Expect::status(StatusCode::SERVICE_UNAVAILABLE);
    d.expect(&[("C02FRESH0001", unavailable)]).await;
}

#[tokio::test]
async fn mosyle_with_file_under_all_and_any() {
    let mosyle = fake_mosyle().await;
    let with_serial = Expect::allowed().with_data("/mosyle/device/serial_number", LISTED_MAC);
    combined_with_the_file(
        "mosyle",
        &mosyle.env_vars(),
        &[],
        "DMPMOSYLE001",
        [
            &[(LISTED_MAC, with_serial)],
            &[("C02UNINSTAL1", Expect::denied("notManaged"))],
        ],
    )
    .await;
}

// ---- Addigy ------------------------------------------------------------------------------

async fn fake_addigy() -> FakeAddigy {
    let addigy = FakeAddigy::start().await.unwrap();
    addigy.add_device(FakeAddigyDevice::new(LISTED_MAC));
    addigy.add_device(FakeAddigyDevice::new("C02ADDIGY001"));
    addigy.add_device(FakeAddigyDevice::new("C02NONCOMP01").with_compliant(false));
    addigy.add_device(FakeAddigyDevice::new("C02GUESTS001").with_policy("p-guest", "Guests"));
    addigy.add_device(FakeAddigyDevice::new("C02AGENTONLY").with_mdm(false));
    addigy
}

#[tokio::test]
async fn addigy_allows_compliant_devices_in_the_allowed_policies() {
    let addigy = fake_addigy().await;
    // The key only works as x-api-key: the bearer form falls back once, then sticks.
    addigy.set_auth(AcceptedAuth::ApiKey);
    let d = against(
        &addigy.env_vars(),
        &[
            ("PROVIDER", "addigy"),
            ("ADDIGY_POLICIES", "Staff Macs"),
            ("ADDIGY_REQUIRE_COMPLIANT", "1"),
            ("ADDIGY_MAX_REQUESTS_PER_SECOND", "10"),
        ],
    )
    .await;
    let staff_mac = Expect::allowed()
        .with_data("/user/email", "jason@example.com")
        .with_data("/policies/names", serde_json::json!(["Staff Macs"]));
    d.expect(&[
        (LISTED_MAC, staff_mac),
        ("C02NONCOMP01", Expect::denied("notCompliant")),
        ("C02GUESTS001", Expect::denied("notCompliant")),
        ("C02AGENTONLY", Expect::denied("notManaged")),
        ("C02UNKNOWN01", Expect::denied("deviceNotFound")),
    ])
    .await;
    assert_eq!(
        addigy.stats().unauthorized,
        1,
        "one fallback, then remembered"
    );
    assert!(!addigy.stats().blocked);
    addigy.set_fault(Some(posture_fakes::Fault::Status(500)));
    let unavailable = Expect::status(StatusCode::SERVICE_UNAVAILABLE);
    d.expect(&[("C02FRESH0001", unavailable)]).await;
}

#[tokio::test]
async fn addigy_with_file_under_all_and_any() {
    let addigy = fake_addigy().await;
    let vars = addigy.env_vars();
    let with_serial = Expect::allowed().with_data("/addigy/device/serial_number", LISTED_MAC);
    combined_with_the_file(
        "addigy",
        &vars,
        &[],
        "C02ADDIGY001",
        [&[(LISTED_MAC, with_serial)], &[]],
    )
    .await;
    // Addigy first under any: the same answers.
    let d = against(&vars, &[("PROVIDER", "addigy,file"), ("POLICY", "any")]).await;
    d.expect(&[
        (
            "C02ADDIGY001",
            Expect::allowed().with_data_keys(&["addigy"]),
        ),
        (LISTED_KEY, Expect::allowed()),
        ("C02NEITHER01", Expect::denied("deviceNotFound")),
    ])
    .await;
}

#[tokio::test]
async fn check_config_summarises_mosyle_and_addigy_without_their_secrets() {
    let mosyle = fake_mosyle().await;
    let addigy = fake_addigy().await;
    let mut check = ConfigCheck::new(
        &[mosyle.env_vars(), addigy.env_vars()],
        &[("PROVIDER", "mosyle,addigy"), ("POLICY", "any")],
    );
    let summary = check.summary().await;
    assert_contains_all(
        &summary,
        &[
            "providers: mosyle,addigy with POLICY=any (ready)",
            &format!("MOSYLE_API_URL={}", mosyle.url()),
            "product: Mosyle Manager; groups allowed: (any)",
            "ADDIGY_MAX_REQUESTS_PER_SECOND=20 (default)",
            "ADDIGY_REQUIRE_COMPLIANT=0 (default)",
            "policies allowed: (any)",
        ],
    );
    assert_contains_none(
        &summary,
        &[
            posture_fakes::mosyle::ACCESS_TOKEN,
            posture_fakes::mosyle::PASSWORD,
            posture_fakes::addigy::API_TOKEN,
        ],
    );
    assert_eq!(mosyle.stats().logins, 1);

    // Refused Mosyle credentials stop the combination, naming the provider and the setting.
    check.set("MOSYLE_PASSWORD", "wrong");
    let err = format!("{:#}", check.refusal().await);
    assert!(err.contains("MOSYLE_EMAIL"), "{err}");
    assert!(!err.contains("wrong"), "{err}");
}
