//! The real server with `PROVIDER=mosyle` and `PROVIDER=addigy`, alone and combined with
//! `file` under both policies, against fakes that speak the MDMs' documented shapes.

use http::StatusCode;
use posture_fakes::addigy::{AcceptedAuth, FakeAddigy, FakeAddigyDevice};
use posture_fakes::mosyle::{FakeMosyle, FakeMosyleDevice, FakeMosyleGroup};
use step_posture_connector::commands::check_config;
use step_posture_connector::providers::Providers;
use step_posture_tests::pki::Pki;

use crate::ops::{http_get, value};
use crate::providers::{Deployment, LISTED_KEY, LISTED_MAC, base_vars};

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
    let d = Deployment::start(
        mosyle.env_vars(),
        &[
            ("PROVIDER", "mosyle"),
            ("MOSYLE_GROUPS", "Staff Macs,310"),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    )
    .await;
    let (status, body) = d.ask(LISTED_MAC).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["allow"], true, "{body}");
    assert_eq!(body["data"]["user"]["email"], "betty@school.example");
    assert_eq!(body["data"]["device"]["os"], "mac");
    assert_eq!(body["data"]["tags"], serde_json::json!(["staff", "macs"]));
    let (_, body) = d.ask("DMPMOSYLE001").await;
    assert_eq!(body["allow"], true, "{body}");
    assert_eq!(body["data"]["device"]["os"], "ios");
    let (_, body) = d.ask("C02UNINSTAL1").await;
    assert_eq!(body["error"]["code"], "notManaged", "{body}");
    let (_, body) = d.ask("C02OUTSIDE01").await;
    assert_eq!(body["error"]["code"], "notCompliant", "{body}");
    let (_, body) = d.ask("C02UNKNOWN01").await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
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
    let (status, _) = d.ask("C02FRESH0001").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn mosyle_with_file_under_all_and_any() {
    let mosyle = fake_mosyle().await;
    let all = Deployment::start(
        mosyle.env_vars(),
        &[("PROVIDER", "file,mosyle"), ("POLICY", "all")],
    )
    .await;
    let (_, body) = all.ask(LISTED_MAC).await;
    assert_eq!(body["allow"], true, "{body}");
    assert_eq!(
        body["data"]["mosyle"]["device"]["serial_number"],
        LISTED_MAC
    );
    assert!(body["data"]["file"].is_object(), "{body}");
    // In Mosyle only: the file's deny.
    let (_, body) = all.ask("DMPMOSYLE001").await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("file: "),
        "{body}"
    );
    // In the file only: Mosyle's deny.
    let (_, body) = all.ask(LISTED_KEY).await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("mosyle: "),
        "{body}"
    );

    let any = Deployment::start(
        mosyle.env_vars(),
        &[("PROVIDER", "file,mosyle"), ("POLICY", "any")],
    )
    .await;
    let (_, body) = any.ask("DMPMOSYLE001").await;
    assert_eq!(body["allow"], true, "{body}");
    assert_eq!(
        body["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["mosyle"]
    );
    let (_, body) = any.ask(LISTED_KEY).await;
    assert_eq!(body["allow"], true, "{body}");
    let (_, body) = any.ask("C02UNINSTAL1").await;
    assert_eq!(body["error"]["code"], "notManaged", "{body}");
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
    let d = Deployment::start(
        addigy.env_vars(),
        &[
            ("PROVIDER", "addigy"),
            ("ADDIGY_POLICIES", "Staff Macs"),
            ("ADDIGY_REQUIRE_COMPLIANT", "1"),
            ("ADDIGY_MAX_REQUESTS_PER_SECOND", "10"),
        ],
    )
    .await;
    let (status, body) = d.ask(LISTED_MAC).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["allow"], true, "{body}");
    assert_eq!(body["data"]["user"]["email"], "jason@example.com");
    assert_eq!(
        body["data"]["policies"]["names"],
        serde_json::json!(["Staff Macs"])
    );
    for (serial, code) in [
        ("C02NONCOMP01", "notCompliant"),
        ("C02GUESTS001", "notCompliant"),
        ("C02AGENTONLY", "notManaged"),
        ("C02UNKNOWN01", "deviceNotFound"),
    ] {
        let (_, body) = d.ask(serial).await;
        assert_eq!(body["error"]["code"], code, "{serial}: {body}");
    }
    assert_eq!(
        addigy.stats().unauthorized,
        1,
        "one fallback, then remembered"
    );
    assert!(!addigy.stats().blocked);
    addigy.set_fault(Some(posture_fakes::Fault::Status(500)));
    let (status, _) = d.ask("C02FRESH0001").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn addigy_with_file_under_all_and_any() {
    let addigy = fake_addigy().await;
    let all = Deployment::start(
        addigy.env_vars(),
        &[("PROVIDER", "file,addigy"), ("POLICY", "all")],
    )
    .await;
    let (_, body) = all.ask(LISTED_MAC).await;
    assert_eq!(body["allow"], true, "{body}");
    assert_eq!(
        body["data"]["addigy"]["device"]["serial_number"],
        LISTED_MAC
    );
    let (_, body) = all.ask("C02ADDIGY001").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("file: "),
        "{body}"
    );
    let (_, body) = all.ask(LISTED_KEY).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("addigy: "),
        "{body}"
    );

    let any = Deployment::start(
        addigy.env_vars(),
        &[("PROVIDER", "addigy,file"), ("POLICY", "any")],
    )
    .await;
    let (_, body) = any.ask("C02ADDIGY001").await;
    assert_eq!(
        body["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["addigy"],
        "{body}"
    );
    let (_, body) = any.ask(LISTED_KEY).await;
    assert_eq!(body["allow"], true, "{body}");
    let (_, body) = any.ask("C02NEITHER01").await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
}

#[tokio::test]
async fn check_config_summarises_mosyle_and_addigy_without_their_secrets() {
    let pki = Pki::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mosyle = fake_mosyle().await;
    let addigy = fake_addigy().await;
    let mut vars = base_vars(&pki, dir.path());
    vars.extend(mosyle.env_vars());
    vars.extend(addigy.env_vars());
    vars.insert("PROVIDER".to_owned(), "mosyle,addigy".to_owned());
    vars.insert("POLICY".to_owned(), "any".to_owned());
    let summary = check_config(&vars, &Providers::builtin()).await.unwrap();
    assert!(
        summary.contains("providers: mosyle,addigy with POLICY=any (ready)"),
        "{summary}"
    );
    for line in [
        format!("MOSYLE_API_URL={} (Mosyle Manager)", mosyle.url()),
        "ADDIGY_MAX_REQUESTS_PER_SECOND=20".to_owned(),
        "ADDIGY_REQUIRE_COMPLIANT=0".to_owned(),
        "MOSYLE_GROUPS=(any)".to_owned(),
    ] {
        assert!(summary.contains(&line), "{line:?} in\n{summary}");
    }
    for secret in [
        posture_fakes::mosyle::ACCESS_TOKEN,
        posture_fakes::mosyle::PASSWORD,
        posture_fakes::addigy::API_TOKEN,
    ] {
        assert!(!summary.contains(secret), "{summary}");
    }
    assert_eq!(mosyle.stats().logins, 1);

    // Refused Mosyle credentials stop the combination, naming the provider and the setting.
    vars.insert("MOSYLE_PASSWORD".to_owned(), "wrong".to_owned());
    let err = format!(
        "{:#}",
        check_config(&vars, &Providers::builtin())
            .await
            .unwrap_err()
    );
    assert!(err.contains("MOSYLE_EMAIL"), "{err}");
    assert!(!err.contains("wrong"), "{err}");
}
