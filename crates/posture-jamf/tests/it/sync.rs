//! Inventory sync (`JAMF_SYNC_INTERVAL`): the same decisions as live lookups, device by
//! device and mode by mode; fall-back for devices enrolled since; a sync failing midway;
//! pages retried after `Retry-After`; families the sync can't list.

use posture_conformance::{sync, sync_fixture, sync_scenarios};
use posture_core::{DeviceMode, LookupRequest, PostureProvider, ProviderKind};
use posture_fakes::jamf::{FakeDevice, FakeEndpoint, FakeJamf, FakePrivilege};
use posture_http::sync::FromIndex;
use posture_jamf::{JamfApi, JamfConfig, JamfProvider};

use crate::support::{allowed, decide, fake, lookup, provider};

const MODES: [DeviceMode; 3] = [
    DeviceMode::Computer,
    DeviceMode::MobileDevice,
    DeviceMode::Auto,
];

/// Rules that every kind of device below trips one way or another.
fn strict(config: JamfConfig) -> JamfConfig {
    config
        .with_computer_group("Compliant Macs")
        .with_device_group("Compliant iPhones")
        .with_computer_enrich(true)
        .with_device_enrich(true)
}

fn hourly(config: JamfConfig) -> JamfConfig {
    strict(config).with_sync(sync::hourly()).unwrap()
}

fn hourly_plain(config: JamfConfig) -> JamfConfig {
    config.with_sync(sync::hourly()).unwrap()
}

/// A fleet of every state the provider tells apart, in both families, and the serials a
/// lookup may ask for (including unknown and malformed ones). The serials the index lists,
/// by family, come second.
fn populate(jamf: &FakeJamf) -> (Vec<String>, Vec<(DeviceMode, String)>) {
    jamf.add_department("7", "Engineering");
    jamf.add_department("8", "Sales");
    let mut listed = Vec::new();
    for n in 0..230 {
        let serial = format!("C02SYNC{n:05}");
        let device = FakeDevice::new(&serial);
        jamf.add_computer(match n % 6 {
            0 => device.unmanaged().with_groups(["Compliant Macs"]),
            1 => device.management_unreported(),
            2 => device.with_groups(["Lab Macs"]),
            3 => device
                .with_groups(["Compliant Macs", "All Managed Clients"])
                .with_department("7", "ignored by the Jamf Pro API"),
            // A department Jamf no longer has: an empty name, as live.
            4 => device
                .with_groups(["Compliant Macs"])
                .with_department("99", ""),
            _ => device.with_groups(["Compliant Macs"]),
        });
        listed.push((DeviceMode::Computer, serial));
    }
    for n in 0..120 {
        let serial = format!("DMPSYNC{n:05}");
        let device = FakeDevice::new(&serial);
        jamf.add_mobile_device(match n % 4 {
            0 => device.unmanaged(),
            1 => device.with_groups(["Other"]),
            2 => device
                .with_groups(["Compliant iPhones"])
                .with_department("8", "Sales"),
            _ => device.with_groups(["Compliant iPhones"]),
        });
        listed.push((DeviceMode::MobileDevice, serial));
    }
    // Re-enrolments: a stale record Jamf lists first. Managed live record: it wins. Neither
    // managed: the first one (stale, no management state) is the answer.
    jamf.add_stale_computer(FakeDevice::new("C02SYNCTWICE").unmanaged());
    jamf.add_computer(FakeDevice::new("C02SYNCTWICE").with_groups(["Compliant Macs"]));
    jamf.add_stale_computer(FakeDevice::new("C02SYNCSTALE").management_unreported());
    jamf.add_computer(FakeDevice::new("C02SYNCSTALE").unmanaged());
    // A record no lookup could name: left out of the index.
    jamf.add_computer(FakeDevice::new("not a serial!"));
    for serial in ["C02SYNCTWICE", "C02SYNCSTALE"] {
        listed.push((DeviceMode::Computer, serial.to_owned()));
    }
    let mut asked: Vec<String> = listed.iter().map(|(_, serial)| serial.clone()).collect();
    asked.extend(
        [
            "C02NOTTHERE1",
            "c02sync00005",
            "x",
            "00008103-001A2B3C4D5E001E",
            "not a serial!",
        ]
        .map(str::to_owned),
    );
    let auto: Vec<(DeviceMode, String)> = listed
        .iter()
        .map(|(_, serial)| (DeviceMode::Auto, serial.clone()))
        .collect();
    listed.extend(auto);
    (asked, listed)
}

fn requests(jamf: &FakeJamf) -> u64 {
    let stats = jamf.stats();
    stats.lookup_requests + stats.match_requests + stats.department_requests
}

#[tokio::test]
async fn synced_decisions_equal_live_decisions_device_by_device() {
    let jamf = fake().await;
    let (asked, listed) = populate(&jamf);
    // A server capping pages at 100 records: the sync follows its page size.
    jamf.set_max_page_size(100);
    let live = provider(&jamf, JamfApi::Auto, strict);
    let synced = provider(&jamf, JamfApi::Auto, hourly);
    let before = requests(&jamf);
    let report = synced.sync_inventory().await.unwrap();
    assert_eq!(report.devices, 232 + 120, "each serial once per family");
    // 235 computer records in pages of 100, 120 mobile devices, one department page.
    assert_eq!(report.calls, 3 + 2 + 1);
    assert_eq!(requests(&jamf) - before, report.calls);

    // Every listed device, in its family's mode and in auto mode: from the index, no call.
    let before = requests(&jamf);
    let mut allowed = 0;
    for (mode, serial) in &listed {
        let from_index = decide(&synced, serial, *mode).await;
        allowed += usize::from(from_index.is_allowed());
        assert!(
            matches!(
                from_index.deny_code().map(|c| c.as_str()),
                None | Some("notManaged" | "notCompliant")
            ),
            "{serial} {mode:?}: {from_index:?}"
        );
    }
    assert_eq!(requests(&jamf), before, "listed devices cost no Jamf call");
    assert!(
        allowed > 200 && listed.len() - allowed > 300,
        "the rules allow some and deny others: {allowed} allowed"
    );

    // And every identifier in every mode gives the live decision, listed or not.
    for serial in &asked {
        for mode in MODES {
            let from_index = lookup(&synced, serial, mode)
                .await
                .map_err(|e| e.to_string());
            let from_jamf = lookup(&live, serial, mode).await.map_err(|e| e.to_string());
            assert_eq!(from_index, from_jamf, "{serial} {mode:?}");
        }
    }
}

#[tokio::test]
async fn a_large_fleet_is_read_in_pages_of_2000() {
    let jamf = fake().await;
    for n in 0..2001 {
        jamf.add_computer(FakeDevice::new(format!("C02PAGE{n:05}")));
    }
    jamf.add_mobile_device(FakeDevice::new("DMPPAGE00001"));
    let synced = provider(&jamf, JamfApi::Auto, hourly_plain);
    let report = synced.sync_inventory().await.unwrap();
    assert_eq!((report.devices, report.calls), (2002, 3));
    let pages: Vec<String> = jamf
        .requests_to("computers-inventory")
        .iter()
        .map(|r| {
            let get = |name: &str| r.query_value(name).unwrap_or_default();
            format!("{} {} {}", get("page"), get("page-size"), get("sort"))
        })
        .collect();
    assert_eq!(
        pages,
        [
            "0 2000 general.name:asc,id:asc",
            "1 2000 general.name:asc,id:asc"
        ]
    );
    let before = requests(&jamf);
    for serial in ["C02PAGE00000", "C02PAGE02000"] {
        assert!(allowed(&synced, serial, DeviceMode::Computer).await);
    }
    assert!(allowed(&synced, "DMPPAGE00001", DeviceMode::Auto).await);
    assert_eq!(requests(&jamf), before);
}

sync_fixture! {
    /// The Jamf provider and its fake, for the sync scenarios every provider runs.
    struct Fixture(FakeJamf) -> JamfProvider;
    kind = posture_jamf::KIND;
    page_size = 100;
    synced(jamf) = provider(jamf, JamfApi::Auto, hourly_plain);

    /// A computer: the family the sync lists first.
    fn enrol(&self, serial: &str) {
        self.0.add_computer(FakeDevice::new(serial));
    }

    /// The mobile devices' page.
    fn other_sync_calls(&self) -> u64 {
        1
    }

    /// Devices are indexed per family.
    fn key(&self, serial: &str) -> String {
        format!("computer/{serial}")
    }

    fn request(&self, serial: &str) -> LookupRequest {
        LookupRequest::new(serial).with_mode(DeviceMode::Computer)
    }
}

/// A Jamf capping pages at 100 records, as some servers do.
async fn fixture() -> Fixture {
    let jamf = fake().await;
    jamf.set_max_page_size(100);
    Fixture(jamf)
}

sync_scenarios!(fixture().await);

#[tokio::test]
async fn families_the_sync_cannot_list_are_looked_up_live() {
    let jamf = fake().await;
    jamf.add_computer(FakeDevice::new("C02SYNCMAC01"));
    jamf.add_mobile_device(FakeDevice::new("DMPSYNCIPH01"));
    // Mobile devices only through Classic; computers not readable, and nothing needs them.
    jamf.remove_endpoint(FakeEndpoint::MobileDevicesV2);
    jamf.revoke_privilege(FakePrivilege::ReadComputers);
    let synced = provider(&jamf, JamfApi::Auto, hourly_plain);
    let live = provider(&jamf, JamfApi::Auto, |c| c);
    let report = synced.sync_inventory().await.unwrap();
    assert_eq!(report.devices, 0);
    let lines = synced.report().join("\n");
    assert!(
        lines.contains("computers are not synced") && lines.contains("Read Computers"),
        "{lines}"
    );
    assert!(
        lines.contains("mobile devices are not synced") && lines.contains("Classic"),
        "{lines}"
    );
    // Readiness still checks Jamf: the families left out are looked up there.
    let before = requests(&jamf);
    synced.check_ready().await.unwrap();
    assert!(requests(&jamf) > before);
    for serial in ["C02SYNCMAC01", "DMPSYNCIPH01", "C02NOTTHERE1"] {
        for mode in MODES {
            assert_eq!(
                lookup(&synced, serial, mode)
                    .await
                    .map_err(|e| e.to_string()),
                lookup(&live, serial, mode).await.map_err(|e| e.to_string()),
                "{serial} {mode:?}"
            );
        }
    }
    // A family a setting needs must be listed: the sync fails, as readiness would.
    let needs_computers = provider(&jamf, JamfApi::Auto, |c| {
        hourly_plain(c.with_computer_group("Compliant Macs"))
    });
    let err = needs_computers.sync_inventory().await.unwrap_err();
    assert!(err.to_string().contains("JAMF_COMPUTER_GROUP"), "{err}");
}

#[tokio::test]
async fn the_classic_api_cannot_sync_and_check_config_says_so() {
    let jamf = fake().await;
    let mut vars = jamf.env_vars();
    vars.push(("JAMF_SYNC_INTERVAL".to_owned(), "900".to_owned()));
    let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert!(
        posture_jamf::KIND
            .configure(&get)
            .unwrap()
            .warnings()
            .is_empty()
    );
    vars.push(("JAMF_API".to_owned(), "classic".to_owned()));
    let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let setup = posture_jamf::KIND.configure(&get).unwrap();
    assert!(setup.warnings()[0].contains("JAMF_API=classic"));
}

#[tokio::test]
async fn a_refreshed_device_is_answered_at_once_without_waiting_for_a_sync() {
    let jamf = fake().await;
    jamf.add_computer(FakeDevice::new("C02HOOK00001").with_groups(["Compliant Macs"]));
    jamf.add_mobile_device(FakeDevice::new("DMPHOOK00001").with_groups(["Compliant iPhones"]));
    let synced = provider(&jamf, JamfApi::Auto, |config| {
        hourly_plain(config)
            .with_computer_group("Compliant Macs")
            .with_device_group("Compliant iPhones")
    });
    synced.sync_inventory().await.unwrap();
    assert!(allowed(&synced, "C02HOOK00001", DeviceMode::Computer).await);

    // Removed from the compliance group in Jamf: the index still allows it until refreshed.
    jamf.add_computer(FakeDevice::new("C02HOOK00001").with_groups(["Lab Macs"]));
    assert!(allowed(&synced, "C02HOOK00001", DeviceMode::Computer).await);
    let before = jamf.stats().lookup_requests;
    synced
        .refresh_device("c02hook00001", DeviceMode::Computer)
        .await
        .unwrap();
    assert_eq!(
        jamf.stats().lookup_requests,
        before + 1,
        "one read, no cache"
    );
    let denied = decide(&synced, "C02HOOK00001", DeviceMode::Computer).await;
    assert_eq!(denied.deny_code().map(|c| c.as_str()), Some("notCompliant"));
    // Answered from the refreshed inventory: no further call.
    assert_eq!(jamf.stats().lookup_requests, before + 1);

    // Deleted from Jamf: unlisted, so lookups go live and find nothing; auto mode goes on
    // to mobile devices as live.
    jamf.remove_device("DMPHOOK00001");
    synced
        .refresh_device("DMPHOOK00001", DeviceMode::Unspecified)
        .await
        .unwrap();
    assert_eq!(
        synced.inventory().lookup("mobiledevice/DMPHOOK00001"),
        FromIndex::NotListed
    );
    let gone = decide(&synced, "DMPHOOK00001", DeviceMode::Auto).await;
    assert_eq!(gone.deny_code().map(|c| c.as_str()), Some("deviceNotFound"));

    // Not a serial: refused before any call.
    let before = jamf.stats().lookup_requests;
    assert!(
        synced
            .refresh_device("not a serial!", DeviceMode::Computer)
            .await
            .is_err()
    );
    assert_eq!(jamf.stats().lookup_requests, before);

    // The next sync reads the group change itself and drops the refresh.
    synced.sync_inventory().await.unwrap();
    assert_eq!(synced.inventory().refreshed_devices(), 0);
    let denied = decide(&synced, "C02HOOK00001", DeviceMode::Computer).await;
    assert_eq!(denied.deny_code().map(|c| c.as_str()), Some("notCompliant"));
}

#[tokio::test]
async fn the_kind_registers_the_refresher_only_with_sync_on() {
    let jamf = fake().await;
    let mut vars = jamf.env_vars();
    let build = |vars: &[(String, String)]| {
        let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        posture_jamf::KIND.configure(&get).unwrap().build().unwrap()
    };
    assert!(build(&vars).refresher().is_none());
    vars.push(("JAMF_SYNC_INTERVAL".to_owned(), "3600".to_owned()));
    assert!(build(&vars).refresher().is_some());
}
