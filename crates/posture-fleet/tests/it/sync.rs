//! Inventory sync (`FLEET_SYNC_INTERVAL`): the same decisions as live lookups, host by
//! host; hosts the list can't decide alike left to live lookups; fall-back for hosts
//! enrolled since; a sync failing midway; a rate-limited page.

use posture_conformance::{sync, sync_fixture, sync_scenarios};
use posture_core::{LookupRequest, PostureProvider};
use posture_fakes::fleet::{FakeFleet, FakeFleetHost};
use posture_fleet::{FleetConfig, FleetProvider, SYNC_PAGE_SIZE};
use posture_http::sync::FromIndex;

use crate::support::{fake, provider};

/// Rules that every kind of host below trips one way or another, with the enrichment on.
fn strict(config: FleetConfig) -> FleetConfig {
    config
        .with_teams(["Engineering"])
        .with_labels(["wifi-allowed"])
        .with_policies(["*"])
}

fn hourly(config: FleetConfig) -> FleetConfig {
    config.with_sync(sync::hourly()).unwrap()
}

fn strict_hourly(config: FleetConfig) -> FleetConfig {
    hourly(strict(config))
}

/// Hosts in every state the provider tells apart, over two pages, and the identifiers a
/// lookup may ask for (unknown, lower-case and malformed ones too).
fn populate(fleet: &FakeFleet) -> Vec<String> {
    let mut serials = Vec::new();
    let mut add = |host: FakeFleetHost| {
        serials.push(host.hardware_serial.clone());
        fleet.add_host(host);
    };
    // Listed first, so Fleet's identifier route finds it for the victim's serial.
    add(FakeFleetHost::new("C02IMPOSTER1").with_hostname("C02SYNCVICTIM"));
    for n in 0..SYNC_PAGE_SIZE + 20 {
        let host = FakeFleetHost::new(format!("C02SYNC{n:05}"));
        add(match n % 10 {
            0 => host.with_enrollment_status(Some("Pending")),
            1 => host.with_enrollment_status(Some("Off")),
            2 => host.with_enrollment_status(None),
            3 => host.disconnected(),
            4 => host.with_team(Some((8, "Sales"))),
            5 => host.with_labels(&[(6, "All Hosts")]),
            6 => host.with_policy(2, "FileVault on", "fail"),
            7 => host.with_policy(3, "Firewall on", ""),
            8 => host.without_end_user(),
            _ => host.with_enrollment_status(Some("On (manual)")),
        });
    }
    add(FakeFleetHost::new("C02SYNCVICTIM"));
    // Its only e-mail is in device_mapping, which the host detail doesn't carry.
    add(FakeFleetHost::new("C02SYNCDEVMAP")
        .without_end_user()
        .with_device_mapping("chrome@example.com", "google_chrome_profiles"));
    // A Linux VM: no serial, so no lookup names it.
    add(FakeFleetHost::new("").with_hostname("build-runner-1"));
    serials.extend([
        "C02NOTTHERE1".to_owned(),
        "c02sync00009".to_owned(),
        "x".to_owned(),
        "00008103-001A2B3C4D5E001E".to_owned(),
    ]);
    serials
}

#[tokio::test]
async fn synced_decisions_equal_live_decisions_host_by_host() {
    let fixture = Fixture(fake().await);
    let fleet = &fixture.0;
    let serials = populate(fleet);
    let listed = (SYNC_PAGE_SIZE + 24) as u64;
    let live = provider(fleet, strict);
    let synced = provider(fleet, strict_hourly);
    let run = sync::synced_decisions_equal_live(&fixture, &synced, &live, &serials).await;
    let report = run.report;
    // Left out: no serial (1), the victim and the impostor's hostname (1), device_mapping (1).
    assert_eq!(report.devices as u64, listed - 3);
    assert_eq!(
        report.calls, 2,
        "{listed} hosts in pages of {SYNC_PAGE_SIZE}"
    );
    assert_eq!(fleet.stats().list_requests, 2);
    let lines = synced.report().join("\n");
    assert!(
        lines.contains(&format!(
            "inventory sync: {listed} hosts listed, 3 left out of the index and looked up live \
             (1 without a valid hardware_serial, 1 whose list record lacks a key the rules or \
             the enrichment read [device_mapping (its only e-mail)], 1 whose serial is another \
             host's serial, hostname or UUID too)"
        )),
        "{lines}"
    );
    run.tally.assert_mixed(100, 300);
    let user = |serial: &str| {
        let decision = match synced.inventory().lookup(serial) {
            FromIndex::Decided(decision) => decision,
            other => panic!("{serial}: {other:?}"),
        };
        decision.enrichment().unwrap().to_value()["user"].clone()
    };
    assert_eq!(user("C02SYNC00019")["email"], "betty@example.com");
    assert_eq!(user("C02SYNC00018")["email"], "");
    // The live provider asked Fleet once a distinct well-formed serial (not for "", "x"
    // and the UDID; the lower-cased one comes from its cache); the synced one only for the
    // victim, the device_mapping host and the serial Fleet doesn't have.
    let distinct = serials.len() as u64 - 3 - 1;
    assert_eq!(run.requests, distinct + 3, "{distinct} live, 3 synced");
}

#[tokio::test]
async fn hosts_an_older_fleet_lists_without_the_keys_needed_are_looked_up_live() {
    let fleet = fake().await;
    for n in 0..30 {
        let host = FakeFleetHost::new(format!("C02OLD{n:06}"));
        fleet.add_host(if n % 3 == 0 {
            host.with_labels(&[(6, "All Hosts")])
        } else {
            host
        });
    }
    // A Fleet older than populate_labels and populate_users.
    fleet.ignore_list_params(&["populate_labels", "populate_users"]);
    let live = provider(&fleet, strict);
    let synced = provider(&fleet, strict_hourly);
    let report = synced.sync_inventory().await.unwrap();
    assert_eq!((report.devices, report.calls), (0, 1));
    let lines = synced.report().join("\n");
    assert!(
        lines.contains(
            "30 hosts listed, 30 left out of the index and looked up live (0 without a valid \
             hardware_serial, 30 whose list record lacks a key the rules or the enrichment read \
             [labels]"
        ),
        "{lines}"
    );
    let before = fleet.stats().host_requests;
    let requests: Vec<LookupRequest> = (0..30)
        .map(|n| LookupRequest::new(format!("C02OLD{n:06}")))
        .collect();
    sync::assert_same_decisions(&synced, &live, &requests).await;
    assert_eq!(
        fleet.stats().host_requests - before,
        60,
        "every host live, twice"
    );
    // Rules and an enrichment that read neither list: every host is indexed.
    let plain = provider(&fleet, |c| hourly(c.with_enrich(false).with_teams(["3"])));
    let report = plain.sync_inventory().await.unwrap();
    assert_eq!(report.devices, 30);
    assert!(
        plain
            .report()
            .iter()
            .any(|line| line.contains("0 left out of the index")),
        "{:?}",
        plain.report()
    );
}

sync_fixture! {
    /// The Fleet provider and its fake, for the sync scenarios every provider runs.
    struct Fixture(FakeFleet) -> FleetProvider;
    kind = posture_fleet::KIND;
    page_size = SYNC_PAGE_SIZE;
    synced(fleet) = provider(fleet, strict_hourly);
}

sync_scenarios!(Fixture(fake().await));

#[tokio::test]
async fn a_full_last_page_ends_the_sync_when_fleet_says_so() {
    let fleet = fake().await;
    for n in 0..2 * SYNC_PAGE_SIZE {
        fleet.add_host(FakeFleetHost::new(format!("C02SYNC{n:05}")));
    }
    let synced = provider(&fleet, strict_hourly);
    // Without meta, only an empty third page tells the list is over.
    let report = synced.sync_inventory().await.unwrap();
    assert_eq!((report.devices, report.calls), (2 * SYNC_PAGE_SIZE, 3));
    fleet.set_list_meta(true);
    let report = synced.sync_inventory().await.unwrap();
    assert_eq!((report.devices, report.calls), (2 * SYNC_PAGE_SIZE, 2));
}
