//! What the Fleet provider decides, and why.

use posture_conformance::support::assert_allowed_plainly;
use posture_fakes::Fault;
use posture_fakes::fleet::{FakeFleet, FakeFleetHost, TeamFields};
use serde_json::json;

use crate::support::{decide, denial, fake, provider};

async fn fleet_with(hosts: Vec<FakeFleetHost>) -> FakeFleet {
    let fleet = fake().await;
    for host in hosts {
        fleet.add_host(host);
    }
    fleet
}

#[tokio::test]
async fn an_enrolled_connected_host_is_allowed_with_the_documented_enrichment() {
    let fleet = fleet_with(vec![FakeFleetHost::new("C02XL0GJJG5J")]).await;
    let p = provider(&fleet, |c| c);
    let decision = decide(&p, "c02xl0gjjg5j").await;
    let data = decision.enrichment().unwrap().to_value();
    assert_eq!(
        data,
        json!({
            "host": {"id": "1", "name": "Mac C02XL0GJJG5J", "hostname": "c02xl0gjjg5j.local",
                     "serial_number": "C02XL0GJJG5J", "platform": "darwin", "os_version": "macOS 14.4.1"},
            "team": {"id": "3", "name": "Engineering"},
            "labels": ["All Hosts", "wifi-allowed"],
            "failing_policies": 0,
            "user": {"email": "betty@example.com", "name": "Betty Jackson"}
        })
    );
    let quiet = provider(&fleet, |c| c.with_enrich(false));
    assert_allowed_plainly(&decide(&quiet, "C02XL0GJJG5J").await);
}

#[tokio::test]
async fn a_hostname_that_is_another_devices_serial_is_not_that_device() {
    // Fleet's identifier route matches hostnames too, first match wins.
    let fleet = fleet_with(vec![
        FakeFleetHost::new("C02IMPOSTER1").with_hostname("C02XL0GJJG5J"),
        FakeFleetHost::new("C02XL0GJJG5J"),
    ])
    .await;
    let p = provider(&fleet, |c| c);
    let decision = decide(&p, "C02XL0GJJG5J").await;
    let (code, message) = denial(&decision);
    assert_eq!(code, "deviceNotFound");
    assert!(
        message.contains("matched host 1 by name or UUID; its serial is \"C02IMPOSTER1\""),
        "{message}"
    );
    // The same when Fleet returns any host it likes.
    fleet.fail_next(Fault::IgnoreFilter, 1);
    let decision = decide(&p, "C02OTHER0001").await;
    assert_eq!(denial(&decision).0, "deviceNotFound");
}

#[tokio::test]
async fn enrollment_and_connection_are_management() {
    let fleet = fleet_with(vec![
        FakeFleetHost::new("C02PENDING01").with_enrollment_status(Some("Pending")),
        FakeFleetHost::new("C02OFF000001").with_enrollment_status(Some("Off")),
        FakeFleetHost::new("C02NULL00001").with_enrollment_status(None),
        FakeFleetHost::new("C02JAMF00001").disconnected(),
        FakeFleetHost::new("C02PERSONAL1").with_enrollment_status(Some("On (manual - personal)")),
        FakeFleetHost::new("C02COMPANY01").with_enrollment_status(Some("On (company-owned)")),
    ])
    .await;
    let p = provider(&fleet, |c| c);
    for (serial, status) in [
        ("C02PENDING01", "enrollment status \"Pending\""),
        ("C02OFF000001", "enrollment status \"Off\""),
        ("C02NULL00001", "enrollment status none"),
        ("C02JAMF00001", "not connected to this Fleet"),
    ] {
        let decision = decide(&p, serial).await;
        let (code, message) = denial(&decision);
        assert_eq!(code, "notManaged", "{serial}");
        assert!(message.contains(status), "{serial}: {message}");
    }
    for serial in ["C02PERSONAL1", "C02COMPANY01"] {
        assert!(decide(&p, serial).await.is_allowed(), "{serial}");
    }
    let lenient = provider(&fleet, |c| c.with_require_connected(false));
    assert!(decide(&lenient, "C02JAMF00001").await.is_allowed());
}

#[tokio::test]
async fn teams_by_name_or_id_in_either_field_pair() {
    let fleet = fleet_with(vec![
        FakeFleetHost::new("C02XL0GJJG5J"),
        FakeFleetHost::new("C02SALES0001").with_team(Some((8, "Sales"))),
        FakeFleetHost::new("C02NOTEAM001").with_team(None),
    ])
    .await;
    for fields in [TeamFields::Team, TeamFields::Fleet, TeamFields::Both] {
        fleet.set_team_fields(fields);
        let by_name = provider(&fleet, |c| c.with_teams(["Engineering"]));
        assert!(
            decide(&by_name, "C02XL0GJJG5J").await.is_allowed(),
            "{fields:?}"
        );
        let by_id = provider(&fleet, |c| c.with_teams(["8"]));
        assert!(
            decide(&by_id, "C02SALES0001").await.is_allowed(),
            "{fields:?}"
        );
        let decision = decide(&by_name, "C02SALES0001").await;
        let (code, message) = denial(&decision);
        assert_eq!(code, "notCompliant");
        assert_eq!(
            message,
            "C02SALES0001 is in team \"Sales\" (8), not one of FLEET_TEAMS (Engineering)"
        );
        let decision = decide(&by_name, "C02NOTEAM001").await;
        assert!(
            denial(&decision).1.contains("is in no team"),
            "{decision:?}"
        );
    }
}

#[tokio::test]
async fn labels_must_all_be_carried() {
    let fleet = fleet_with(vec![
        FakeFleetHost::new("C02XL0GJJG5J"),
        FakeFleetHost::new("C02NOWIFI001").with_labels(&[(6, "All Hosts")]),
    ])
    .await;
    let p = provider(&fleet, |c| c.with_labels(["wifi-allowed", "6"]));
    assert!(decide(&p, "C02XL0GJJG5J").await.is_allowed());
    let decision = decide(&p, "C02NOWIFI001").await;
    assert_eq!(
        denial(&decision),
        (
            "notCompliant",
            "C02NOWIFI001 does not carry the label(s) wifi-allowed (FLEET_LABELS)"
        )
    );
}

#[tokio::test]
async fn named_policies_and_every_policy() {
    let fleet = fleet_with(vec![
        FakeFleetHost::new("C02XL0GJJG5J"),
        FakeFleetHost::new("C02FAILING01").with_policy(2, "FileVault on", "fail"),
        FakeFleetHost::new("C02NOTRUN001").with_policy(3, "Firewall on", ""),
    ])
    .await;
    let named = provider(&fleet, |c| c.with_policies(["Gatekeeper enabled", "2"]));
    let decision = decide(&named, "C02XL0GJJG5J").await;
    let (code, message) = denial(&decision);
    assert_eq!(code, "notCompliant");
    assert!(
        message.ends_with("\"2\": not a policy of this host"),
        "{message}"
    );
    let decision = decide(&named, "C02FAILING01").await;
    assert!(
        denial(&decision).1.ends_with("\"FileVault on\" (2): fail"),
        "{decision:?}"
    );
    let every = provider(&fleet, |c| c.with_policies(["*"]));
    assert!(decide(&every, "C02XL0GJJG5J").await.is_allowed());
    let decision = decide(&every, "C02FAILING01").await;
    assert_eq!(
        denial(&decision),
        (
            "notCompliant",
            "C02FAILING01 does not pass every policy (FLEET_POLICIES=*): \"FileVault on\" (2): fail"
        )
    );
    let decision = decide(&every, "C02NOTRUN001").await;
    assert!(
        denial(&decision)
            .1
            .contains("\"Firewall on\" (3): not yet run"),
        "{decision:?}"
    );
    let data = decide(&provider(&fleet, |c| c), "C02FAILING01").await;
    assert_eq!(data.enrichment().unwrap().to_value()["failing_policies"], 1);
}
