//! Inventory sync (`INTUNE_SYNC_INTERVAL`): the same decisions as live lookups, device by
//! device, group membership included; fall-back for devices enrolled since; a sync failing
//! midway; a throttled page.

use posture_conformance::{sync, sync_fixture, sync_scenarios};
use posture_core::{PostureProvider, ProviderCounters};
use posture_fakes::Fault;
use posture_fakes::intune::{FakeIntune, FakeManagedDevice};
use posture_http::sync::FromIndex;
use posture_intune::{IntuneConfig, IntuneProvider};

use crate::support::{decide, fake, provider};

const GROUP: &str = "c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01";
const OTHER_GROUP: &str = "d0d0d0d0-7f3e-4a55-9c1e-2f0f3a1d9e02";

/// The group rule on top of the defaults (MDM agents, `compliant`), so that every rule has
/// devices passing and failing it.
fn strict(config: IntuneConfig) -> IntuneConfig {
    config.with_group_id(GROUP).unwrap()
}

fn hourly(config: IntuneConfig) -> IntuneConfig {
    strict(config).with_sync(sync::hourly()).unwrap()
}

fn hourly_without_group(config: IntuneConfig) -> IntuneConfig {
    config.with_sync(sync::hourly()).unwrap()
}

/// Calls the fake received: tokens and Graph requests of every kind.
fn calls(intune: &FakeIntune) -> u64 {
    let stats = intune.stats();
    stats.token_requests + stats.graph_requests
}

/// A fleet of every state the provider tells apart, over two pages of 1000, and the
/// identifiers a lookup may ask for (including unknown and malformed ones).
fn populate(intune: &FakeIntune) -> Vec<String> {
    let mut serials = Vec::new();
    let mut add = |device: FakeManagedDevice| {
        serials.push(device.serial_number.clone());
        intune.add_device(device);
    };
    for n in 0..1010 {
        let device = FakeManagedDevice::new(format!("C02SYNC{n:05}"));
        add(match n % 10 {
            0 => device.with_compliance_state("noncompliant"),
            1 => device.with_compliance_state("inGracePeriod"),
            2 => device.with_management_agent("eas"),
            3 => device.with_management_agent(""),
            4 => device.with_azure_ad_device_id(""),
            5 => device.with_azure_ad_device_id("00000000-0000-0000-0000-000000000000"),
            6 => device.with_entra_groups([GROUP]).without_entra_object(),
            7 => device.with_entra_groups([OTHER_GROUP]),
            _ => device.with_entra_groups([OTHER_GROUP, GROUP]),
        });
    }
    // One serial, two records: the newer (noncompliant) decides, whatever the older says.
    add(FakeManagedDevice::new("C02SYNCTWICE").with_entra_groups([GROUP]));
    add(FakeManagedDevice::new("C02SYNCTWICE")
        .with_last_sync("2024-06-01T10:00:00Z")
        .with_compliance_state("noncompliant"));
    // And the other way round: the newer record is the compliant member (of one device
    // object in Entra ID: re-enrolment kept its azureADDeviceId).
    add(FakeManagedDevice::new("C02SYNCAGAIN")
        .with_compliance_state("noncompliant")
        .with_entra_groups([GROUP]));
    add(FakeManagedDevice::new("C02SYNCAGAIN")
        .with_last_sync("2024-06-01T10:00:00Z")
        .with_entra_groups([GROUP]));
    // Intune holds this one in lower case; lookups upper-case serials.
    add(FakeManagedDevice::new("c02synclower").with_entra_groups([GROUP]));
    // Records no lookup can name.
    add(FakeManagedDevice::new("not a serial"));
    add(FakeManagedDevice::new(""));
    serials.dedup();
    serials.extend([
        "C02NOTTHERE1".to_owned(),
        "c02sync00008".to_owned(),
        "x".to_owned(),
        "00008030-001A2B3C4D5E6F70".to_owned(),
    ]);
    serials
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_decisions_equal_live_decisions_device_by_device() {
    let intune = fake().await;
    let serials = populate(&intune);
    let live = std::sync::Arc::new(provider(&intune, strict));
    let synced = provider(&intune, hourly);
    let before = intune.stats();
    let report = synced.sync_inventory().await.unwrap();
    let after = intune.stats();
    assert_eq!(
        report.devices, 1013,
        "1010 + 3 serials; unnamable records left out"
    );
    assert_eq!(
        report.calls, 4,
        "1017 records in pages of 1000, the directory's devices and the group in one page each"
    );
    assert_eq!(
        (
            after.device_requests - before.device_requests,
            after.entra_requests - before.entra_requests,
            after.group_member_requests - before.group_member_requests,
            after.member_checks - before.member_checks,
        ),
        (2, 1, 1, 0)
    );

    // Every listed device is answered without a call; the unknown serial costs one lookup,
    // the malformed identifiers none.
    let before = calls(&intune);
    let mut from_index = Vec::new();
    for serial in &serials {
        from_index.push(decide(&synced, serial).await);
    }
    assert_eq!(calls(&intune) - before, 1);

    // The live lookups (some 2000 Graph calls) in a few parallel streams, to keep the test short.
    let mut streams = tokio::task::JoinSet::new();
    for (stream, chunk) in serials.chunks(serials.len().div_ceil(4)).enumerate() {
        let (live, chunk) = (live.clone(), chunk.to_vec());
        streams.spawn(async move {
            let mut decisions = Vec::new();
            for serial in chunk {
                decisions.push(decide(&*live, &serial).await);
            }
            (stream, decisions)
        });
    }
    let mut live_decisions = streams.join_all().await;
    live_decisions.sort_by_key(|(stream, _)| *stream);
    let live_decisions: Vec<_> = live_decisions
        .into_iter()
        .flat_map(|(_, decisions)| decisions)
        .collect();
    assert_eq!(live_decisions.len(), serials.len());
    let mut allowed = 0;
    for ((serial, synced_decision), live_decision) in
        serials.iter().zip(&from_index).zip(live_decisions)
    {
        assert_eq!(synced_decision, &live_decision, "{serial}");
        allowed += usize::from(live_decision.is_allowed());
    }
    assert_eq!(
        allowed,
        202 + 2 + 1,
        "members: 2 Macs in 10, the re-enrolled one, the lower-case one, and a lower-case lookup"
    );
    // Every rule denies some device, for the reason a live lookup gives.
    let messages: Vec<&str> = from_index.iter().filter_map(|d| d.deny_message()).collect();
    for reason in [
        "C02SYNC00000 has compliance state \"noncompliant\"",
        "C02SYNC00001 has compliance state \"inGracePeriod\"",
        "C02SYNC00002 has management agent \"eas\"",
        "C02SYNC00003 has no management agent",
        "C02SYNC00004 is not a member of Entra ID group c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01: \
         the device is not registered in Entra ID",
        "C02SYNC00005 is not a member of Entra ID group c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01: \
         the device is not registered in Entra ID",
        "C02SYNC00006 is not a member of Entra ID group c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01: \
         Entra ID has no device with deviceId",
        "C02SYNC00007 is not a member of Entra ID group c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01: \
         checkMemberGroups did not list it",
        "C02SYNCTWICE has compliance state \"noncompliant\"",
        "no managed device with serial number C02NOTTHERE1 in Intune",
        "is a UDID",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(reason)),
            "{reason}: {messages:#?}"
        );
    }
}

sync_fixture! {
    /// The Intune provider and its fake, for the sync scenarios every provider runs.
    struct Fixture(FakeIntune) -> IntuneProvider;
    kind = posture_intune::KIND;
    page_size = 1000;
    synced(intune) = provider(intune, hourly_without_group);

    fn refused_sync_names(&self) -> &[&'static str] {
        &["DeviceManagementManagedDevices.Read.All"]
    }
}

sync_scenarios!(Fixture(fake().await));

#[tokio::test]
async fn a_sync_failing_in_the_directory_keeps_the_previous_inventory() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new("C02SYNCMEMBR").with_entra_groups([GROUP]));
    let synced = provider(&intune, hourly);
    synced.sync_inventory().await.unwrap();
    intune.set_directory_fault(Some(Fault::Status(403)));
    let err = synced.sync_inventory().await.unwrap_err();
    assert!(err.to_string().contains("Device.Read.All"), "{err}");
    intune.set_directory_fault(None);
    assert!(matches!(
        synced.inventory().lookup("C02SYNCMEMBR"),
        FromIndex::Decided(d) if d.is_allowed()
    ));
}

#[tokio::test]
async fn a_group_entra_does_not_know_has_no_members_as_live() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new("C02SYNCNOGRP"));
    let live = provider(&intune, strict);
    let synced = provider(&intune, hourly);
    synced.sync_inventory().await.unwrap();
    let before = calls(&intune);
    let decision = decide(&synced, "C02SYNCNOGRP").await;
    assert_eq!(calls(&intune), before);
    assert!(!decision.is_allowed());
    assert_eq!(decision, decide(&live, "C02SYNCNOGRP").await);
}

#[tokio::test]
async fn a_throttled_page_costs_one_graph_request_more() {
    let fixture = Fixture(fake().await);
    sync::a_rate_limited_page_is_retried_after_retry_after(&fixture).await;
    // Two pages served, one answered 429 before it.
    let stats = fixture.0.stats();
    assert_eq!((stats.graph_requests, stats.device_requests), (3, 2));
}

#[tokio::test]
async fn a_synced_index_shows_in_the_report_and_the_metrics() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new("C02SYNCFIRST"));
    let synced = provider(&intune, hourly_without_group);
    synced.sync_inventory().await.unwrap();
    let report = synced.report().join("\n");
    assert!(
        report.contains("inventory index: 1 devices") && report.contains("with 1 requests"),
        "{report}"
    );
    let samples = format!("{:?}", synced.samples());
    assert!(samples.contains("provider_inventory_devices"), "{samples}");
}
