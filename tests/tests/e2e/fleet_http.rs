//! The real server with `PROVIDER=fleet` and `PROVIDER=http` (the generic inventory against a
//! fake Snipe-IT), alone and combined with `file` under both policies.

use http::StatusCode;
use posture_fakes::Fault;
use posture_fakes::fleet::{FakeFleet, FakeFleetHost};
use posture_fakes::snipeit::{FakeAsset, FakeSnipeIt};
use serde_json::json;
use step_posture_tests::deployment::Expect;

use crate::providers::{ConfigCheck, LISTED_MAC, combined_with_the_file};
use crate::{against, assert_contains_all, assert_contains_none};

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
    let d = against(
        &fleet.env_vars(),
        &[
            ("PROVIDER", "fleet"),
            ("FLEET_LABELS", "wifi-allowed"),
            ("FLEET_TEAMS", "Engineering"),
        ],
    )
    .await;
    let enrolled = Expect::allowed()
        .with_data("/team/name", "Engineering")
        .with_data("/user/email", "betty@example.com")
        .with_data("/host/serial_number", LISTED_MAC);
    d.expect(&[
        (LISTED_MAC, enrolled),
        ("C02PENDING01", Expect::denied("notManaged")),
        (
            "C02NOWIFI001",
            Expect::denied("notCompliant").containing("wifi-allowed"),
        ),
        ("C02HOSTNAME1", Expect::denied("deviceNotFound")),
    ])
    .await;
    fleet.set_fault(Some(Fault::Status(503)));
    let unavailable = Expect::status(StatusCode::SERVICE_UNAVAILABLE);
    d.expect(&[("C02UNKNOWN01", unavailable)]).await;
    fleet.set_fault(Some(Fault::Status(401)));
    d.expect(&[("C02UNKNOWN02", Expect::denied("providerError"))])
        .await;
}

#[tokio::test]
async fn http_inventory_asks_snipe_it_over_tls() {
    let snipe = fake_snipe().await;
    let mut extra = vec![("PROVIDER", "http")];
    extra.extend(SNIPE_RULES);
    let d = against(&snipe.env_vars(), &extra).await;
    let user_and_location = json!({"user": "alice", "location": "HQ"});
    d.expect(&[
        (
            LISTED_MAC,
            Expect::allowed().with_data("", user_and_location),
        ),
        // Checked in to nobody: allowed, the absent user left out.
        (
            INVENTORY_ONLY,
            Expect::allowed().with_data("", json!({"location": "HQ"})),
        ),
        ("C02INSTOCK01", Expect::denied("notCompliant")),
        (
            "C02UNKNOWN01",
            Expect::denied("deviceNotFound").containing("Asset does not exist."),
        ),
    ])
    .await;
    snipe.set_fault(Some(Fault::TooManyRequests {
        retry_after_secs: 1,
    }));
    let unavailable = Expect::status(StatusCode::SERVICE_UNAVAILABLE);
    d.expect(&[("C02UNKNOWN02", unavailable)]).await;
}

#[tokio::test]
async fn fleet_combines_with_the_file_under_both_policies() {
    let fleet = fake_fleet().await;
    let vars = fleet.env_vars();
    combined_with_the_file("fleet", &vars, &[], INVENTORY_ONLY, [&[], &[]]).await;
}

#[tokio::test]
async fn http_combines_with_the_file_under_both_policies() {
    let snipe = fake_snipe().await;
    let vars = snipe.env_vars();
    combined_with_the_file("http", &vars, &SNIPE_RULES, INVENTORY_ONLY, [&[], &[]]).await;
}

#[tokio::test]
async fn check_config_shows_fleet_and_the_header_names_but_no_secret() {
    let fleet = fake_fleet().await;
    let snipe = fake_snipe().await;
    let mut check = ConfigCheck::new(
        &[fleet.env_vars(), snipe.env_vars()],
        &[("PROVIDER", "fleet,http")],
    );
    let headers = check.dir.path().join("snipe-headers");
    std::fs::write(
        &headers,
        format!(
            "Authorization: Bearer {}\n",
            posture_fakes::snipeit::API_TOKEN
        ),
    )
    .unwrap();
    check.vars.remove("HTTP_HEADERS");
    check.set("HTTP_HEADERS_FILE", &headers.display().to_string());
    let summary = check.summary().await;
    assert_contains_all(
        &summary,
        &[
            "providers: fleet,http with POLICY=all (ready)",
            "HTTP_HEADERS: authorization (values not shown)",
            "FLEET_REQUIRE_CONNECTED=1",
        ],
    );
    assert_contains_none(
        &summary,
        &[
            posture_fakes::snipeit::API_TOKEN,
            posture_fakes::fleet::API_TOKEN,
        ],
    );

    // A refused token stops check-config, naming the variable.
    check.set("FLEET_API_TOKEN", "stale-token-x9");
    let err = check.refusal().await;
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
