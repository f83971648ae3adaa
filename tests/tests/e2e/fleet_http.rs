//! The real server with `PROVIDER=fleet` and `PROVIDER=http` (the generic inventory against a
//! fake Snipe-IT), alone and combined with `file` under both policies.

use http::StatusCode;
use posture_fakes::Fault;
use posture_fakes::fleet::{FakeFleet, FakeFleetHost};
use posture_fakes::snipeit::{FakeAsset, FakeSnipeIt};
use serde_json::json;
use step_posture_connector::commands::check_config;
use step_posture_connector::providers::Providers;
use step_posture_tests::pki::Pki;

use crate::providers::{Deployment, LISTED_KEY, LISTED_MAC, base_vars};

/// Known to the inventory under test but not in the file.
const INVENTORY_ONLY: &str = "DMPINVONLY01";

async fn fake_fleet() -> FakeFleet {
    let fleet = FakeFleet::start().await.unwrap();
    fleet.add_host(FakeFleetHost::new(LISTED_MAC));
    fleet.add_host(FakeFleetHost::new(INVENTORY_ONLY));
    fleet.add_host(FakeFleetHost::new("C02PENDING01").with_enrollment_status(Some("Pending")));
    fleet.add_host(FakeFleetHost::new("C02NOWIFI001").with_labels(&[(6, "All Hosts")]));
    // Named after another device's serial: Fleet's identifier route finds it first.
    fleet.add_host(FakeFleetHost::new("C02IMPOSTER1").with_hostname("C02HOSTNAME1"));
    fleet
}

async fn fake_snipe() -> FakeSnipeIt {
    let snipe = FakeSnipeIt::start().await.unwrap();
    snipe.add_asset(FakeAsset::new(LISTED_MAC));
    snipe.add_asset(FakeAsset::new(INVENTORY_ONLY).unassigned());
    snipe.add_asset(FakeAsset::new("C02INSTOCK01").with_status("Ready to Deploy", "deployable"));
    snipe
}

const SNIPE_RULES: [(&str, &str); 2] = [
    ("HTTP_REQUIRE", "/status_label/status_meta=deployed"),
    (
        "HTTP_ENRICH",
        "user=/assigned_to/username,location=/location/name",
    ),
];

#[tokio::test]
async fn fleet_allows_enrolled_labelled_hosts_over_tls() {
    let fleet = fake_fleet().await;
    let d = Deployment::start(
        fleet.env_vars(),
        &[
            ("PROVIDER", "fleet"),
            ("FLEET_LABELS", "wifi-allowed"),
            ("FLEET_TEAMS", "Engineering"),
        ],
    )
    .await;
    let (status, body) = d.ask(LISTED_MAC).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["team"]["name"], "Engineering", "{body}");
    assert_eq!(body["data"]["user"]["email"], "betty@example.com", "{body}");
    assert_eq!(body["data"]["host"]["serial_number"], LISTED_MAC, "{body}");
    let (_, body) = d.ask("C02PENDING01").await;
    assert_eq!(body["error"]["code"], "notManaged", "{body}");
    let (_, body) = d.ask("C02NOWIFI001").await;
    assert_eq!(body["error"]["code"], "notCompliant", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wifi-allowed"),
        "{body}"
    );
    let (_, body) = d.ask("C02HOSTNAME1").await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
    fleet.set_fault(Some(Fault::Status(503)));
    let (status, _) = d.ask("C02UNKNOWN01").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    fleet.set_fault(Some(Fault::Status(401)));
    let (status, body) = d.ask("C02UNKNOWN02").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], "providerError", "{body}");
}

#[tokio::test]
async fn http_inventory_asks_snipe_it_over_tls() {
    let snipe = fake_snipe().await;
    let mut extra = vec![("PROVIDER", "http")];
    extra.extend(SNIPE_RULES);
    let d = Deployment::start(snipe.env_vars(), &extra).await;
    let (status, body) = d.ask(LISTED_MAC).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!({"user": "alice", "location": "HQ"}),
        "{body}"
    );
    // Checked in to nobody: allowed, the absent user left out.
    let (_, body) = d.ask(INVENTORY_ONLY).await;
    assert_eq!(body["data"], json!({"location": "HQ"}), "{body}");
    let (_, body) = d.ask("C02INSTOCK01").await;
    assert_eq!(body["error"]["code"], "notCompliant", "{body}");
    let (_, body) = d.ask("C02UNKNOWN01").await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Asset does not exist."),
        "{body}"
    );
    snipe.set_fault(Some(Fault::TooManyRequests {
        retry_after_secs: 1,
    }));
    let (status, _) = d.ask("C02UNKNOWN02").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

/// `PROVIDER=file,<name>` under `POLICY=all`, then `POLICY=any`.
async fn combined_with_the_file(name: &str, vars: Vec<(String, String)>, extra: &[(&str, &str)]) {
    let provider = format!("file,{name}");
    let mut all_extra: Vec<(&str, &str)> = vec![("PROVIDER", &provider), ("POLICY", "all")];
    all_extra.extend_from_slice(extra);
    let d = Deployment::start(vars.clone(), &all_extra).await;
    // In both: allowed, each provider's data under its name.
    let (status, body) = d.ask(LISTED_MAC).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["allow"], true, "{body}");
    assert_eq!(
        body["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["file", name],
        "{body}"
    );
    // In the file only: the inventory's deny, named.
    let (_, body) = d.ask(LISTED_KEY).await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{name}: ")),
        "{body}"
    );
    // In the inventory only: the file's deny.
    let (_, body) = d.ask(INVENTORY_ONLY).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("file: "),
        "{body}"
    );
    drop(d);

    let mut any_extra: Vec<(&str, &str)> = vec![("PROVIDER", &provider), ("POLICY", "any")];
    any_extra.extend_from_slice(extra);
    let d = Deployment::start(vars, &any_extra).await;
    // The file allows first: its data only.
    let (_, body) = d.ask(LISTED_MAC).await;
    assert_eq!(
        body["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["file"],
        "{body}"
    );
    // Only the inventory knows it: allowed by it.
    let (_, body) = d.ask(INVENTORY_ONLY).await;
    assert_eq!(body["allow"], true, "{body}");
    assert!(body["data"].get(name).is_some(), "{body}");
    // Neither: every reason.
    let (_, body) = d.ask("C02NOBODY001").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("file: ") && message.contains(&format!("; {name}: ")),
        "{message}"
    );
}

#[tokio::test]
async fn fleet_combines_with_the_file_under_both_policies() {
    let fleet = fake_fleet().await;
    combined_with_the_file("fleet", fleet.env_vars(), &[]).await;
}

#[tokio::test]
async fn http_combines_with_the_file_under_both_policies() {
    let snipe = fake_snipe().await;
    combined_with_the_file("http", snipe.env_vars(), &SNIPE_RULES).await;
}

#[tokio::test]
async fn check_config_shows_fleet_and_the_header_names_but_no_secret() {
    let pki = Pki::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fleet = fake_fleet().await;
    let snipe = fake_snipe().await;
    let headers = dir.path().join("snipe-headers");
    std::fs::write(
        &headers,
        format!(
            "Authorization: Bearer {}\n",
            posture_fakes::snipeit::API_TOKEN
        ),
    )
    .unwrap();
    let mut vars = base_vars(&pki, dir.path());
    vars.extend(fleet.env_vars());
    vars.extend(snipe.env_vars());
    vars.remove("HTTP_HEADERS");
    vars.insert(
        "HTTP_HEADERS_FILE".to_owned(),
        headers.display().to_string(),
    );
    vars.insert("PROVIDER".to_owned(), "fleet,http".to_owned());
    let summary = check_config(&vars, &Providers::builtin()).await.unwrap();
    assert!(
        summary.contains("providers: fleet,http with POLICY=all (ready)"),
        "{summary}"
    );
    assert!(
        summary.contains("HTTP_HEADERS: authorization (values not shown)"),
        "{summary}"
    );
    assert!(summary.contains("FLEET_REQUIRE_CONNECTED=1"), "{summary}");
    assert!(
        !summary.contains(posture_fakes::snipeit::API_TOKEN),
        "{summary}"
    );
    assert!(
        !summary.contains(posture_fakes::fleet::API_TOKEN),
        "{summary}"
    );

    // A refused token stops check-config, naming the variable.
    vars.insert("FLEET_API_TOKEN".to_owned(), "stale-token-x9".to_owned());
    let err = check_config(&vars, &Providers::builtin())
        .await
        .unwrap_err();
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(
        chain.contains("all(fleet,http)") && chain.contains("refused FLEET_API_TOKEN"),
        "{chain}"
    );
    assert!(!chain.contains("stale-token-x9"), "{chain}");
}
