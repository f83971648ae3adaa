//! Inventory sync (`MOSYLE_SYNC_INTERVAL`): the same decisions as live lookups, device by
//! device and mode by mode; fall-back for devices enrolled since; a sync failing midway.

use std::time::Duration;

use posture_core::{DeviceMode, PostureProvider, ProviderKind};
use posture_fakes::Fault;
use posture_fakes::mosyle::{FakeMosyle, FakeMosyleDevice, FakeMosyleGroup};
use posture_http::sync::{FromIndex, SyncSettings};
use posture_mosyle::{Group, MosyleConfig, MosyleProvider};

use crate::support::{decide, fake, lookup, provider};

/// Groups by ID and by name (one of Macs, one of iPads), so that the sync resolves names
/// per `os` and reads members as the live check does.
fn strict(config: MosyleConfig) -> MosyleConfig {
    config.with_groups(["210", "Staff iPads", "Lab Macs"].map(Group::parse))
}

fn hourly(config: MosyleConfig) -> MosyleConfig {
    config
        .with_sync(SyncSettings::new("", "").every(Duration::from_secs(3600)))
        .unwrap()
}

/// Every device state the provider tells apart, over three pages of Macs, and the
/// identifiers a lookup may ask for (including unknown and malformed ones).
fn populate(mosyle: &FakeMosyle) -> Vec<String> {
    let mut serials = Vec::new();
    let mut staff = Vec::new();
    let mut lab = Vec::new();
    let mut add = |device: FakeMosyleDevice| {
        if !serials.contains(&device.serial_number) {
            serials.push(device.serial_number.clone());
        }
        mosyle.add_device(device);
    };
    for n in 0..230 {
        let device = FakeMosyleDevice::new(format!("C02SYNC{n:05}"));
        match n % 8 {
            0 => staff.push(device.udid.clone()),
            1 => lab.push(device.udid.clone()),
            _ => {}
        }
        add(match n % 8 {
            2 => device.with_status("UNINSTALLED"),
            3 => device.with_status("enrolled"),
            4 => device.deleted(),
            5 => device.with_status(""),
            6 => {
                let mut orphan = device;
                orphan.udid = String::new();
                orphan
            }
            _ => device,
        });
    }
    let mut ipad_members = Vec::new();
    for n in 0..12 {
        let device = FakeMosyleDevice::ipad(format!("DMPSYNC{n:05}"));
        if n % 2 == 0 {
            ipad_members.push(device.udid.clone());
        }
        add(device);
    }
    add(FakeMosyleDevice::ipad("APPLETVSYNC1").with_os("tvos"));
    // One serial, two Mac records: removed, then enrolled again.
    let mut old = FakeMosyleDevice::new("C02SYNCTWICE").with_status("UNINSTALLED");
    old.udid = "UDID-OLD".to_owned();
    add(old);
    add(FakeMosyleDevice::new("C02SYNCTWICE"));
    staff.push("udid-c02synctwice".to_owned()); // Mosyle's case may differ
    // One serial as an unenrolled Mac and an enrolled iPad: the mode decides.
    add(FakeMosyleDevice::new("C02SYNCBOTH1").with_status("UNINSTALLED"));
    let both = FakeMosyleDevice::ipad("C02SYNCBOTH1");
    ipad_members.push(both.udid.clone());
    add(both);
    // A record no lookup can name.
    add(FakeMosyleDevice::new("NOT A SERIAL"));
    serials.retain(|s| s != "NOT A SERIAL");
    let staff: Vec<&str> = staff.iter().map(String::as_str).collect();
    let lab: Vec<&str> = lab.iter().map(String::as_str).collect();
    mosyle.add_group(FakeMosyleGroup::new("210", "Staff Macs", &staff));
    mosyle.add_group(FakeMosyleGroup::new("220", "Lab Macs", &lab));
    let members: Vec<&str> = ipad_members.iter().map(String::as_str).collect();
    let mut ipads = FakeMosyleGroup::new("310", "Staff iPads", &members);
    ipads.os = "ios".to_owned();
    mosyle.add_group(ipads);
    serials.extend(
        [
            "C02NOTTHERE1",
            "c02sync00008",
            "x",
            "00008103-001A2B3C4D5E001E",
        ]
        .map(str::to_owned),
    );
    serials
}

fn calls(mosyle: &FakeMosyle) -> u64 {
    let stats = mosyle.stats();
    stats.device_requests + stats.group_requests
}

#[tokio::test]
async fn synced_decisions_equal_live_decisions_device_by_device() {
    let mosyle = fake().await;
    let serials = populate(&mosyle);
    let live = provider(&mosyle, strict);
    let synced = provider(&mosyle, |c| hourly(strict(c)));
    let report = synced.sync_inventory().await.unwrap();
    // Devices are indexed per os: 232 Mac serials, 13 iPad serials, an Apple TV.
    assert_eq!(report.devices, 232 + 13 + 1);
    // Macs in 3 pages of 100, one page each for ios, tvos and visionos; group names
    // resolved for mac, ios and tvos; the members of groups 210, 220 and 310.
    assert_eq!(report.calls, 3 + 3 + 3 + 3);
    let after_sync = calls(&mosyle);
    let mut allowed = 0;
    for serial in &serials {
        let from_index = decide(&synced, serial).await;
        assert_eq!(from_index, decide(&live, serial).await, "{serial}");
        allowed += usize::from(from_index.is_allowed());
    }
    assert!(
        allowed > 40 && serials.len() - allowed > 150,
        "the rules allow some and deny others: {allowed} allowed"
    );
    // The synced provider called Mosyle only for the one serial it doesn't have: its
    // four `os` lists.
    let live_calls = {
        let probe = provider(&mosyle, strict);
        let before = calls(&mosyle);
        for serial in &serials {
            decide(&probe, serial).await;
        }
        calls(&mosyle) - before
    };
    assert!(live_calls > 250, "{live_calls}");
    let synced_calls = calls(&mosyle) - after_sync - 2 * live_calls;
    assert_eq!(synced_calls, 4);
    // Each mode too: a Mac asked for as a mobile device, or an iPad as a computer, is not
    // in that os's index and is looked up live, to the same answer.
    for mode in [DeviceMode::Computer, DeviceMode::MobileDevice] {
        for serial in &serials {
            assert_eq!(
                lookup(&synced, serial, mode).await.unwrap(),
                lookup(&live, serial, mode).await.unwrap(),
                "{serial} {mode:?}"
            );
        }
    }
    let both = lookup(&synced, "C02SYNCBOTH1", DeviceMode::MobileDevice)
        .await
        .unwrap();
    assert!(both.is_allowed(), "{both:?}");
    assert!(!decide(&synced, "C02SYNCBOTH1").await.is_allowed());
}

#[tokio::test]
async fn mosyle_business_syncs_in_its_own_dialect() {
    let mosyle = fake().await;
    for n in 0..150 {
        let device = FakeMosyleDevice::new(format!("C02SYNC{n:05}"));
        mosyle.add_device(if n % 3 == 0 {
            device.with_status("UNINSTALLED")
        } else {
            device
        });
    }
    mosyle.set_not_found_status(true);
    let c = mosyle.connection();
    let business = MosyleConfig::new(&c.business_url, c.access_token, c.email, c.password)
        .unwrap()
        .with_sync(SyncSettings::new("", "").every(Duration::from_secs(3600)))
        .unwrap();
    let synced = MosyleProvider::new(business.clone()).unwrap();
    let live = MosyleProvider::new(business.with_sync(SyncSettings::new("", "")).unwrap()).unwrap();
    let report = synced.sync_inventory().await.unwrap();
    // Two pages of Macs; ios, tvos and visionos answer DEVICES_NOTFOUND.
    assert_eq!((report.devices, report.calls), (150, 2 + 3));
    for n in [0, 1, 149] {
        let serial = format!("C02SYNC{n:05}");
        assert_eq!(
            decide(&synced, &serial).await,
            decide(&live, &serial).await,
            "{serial}"
        );
    }
}

#[tokio::test]
async fn a_device_enrolled_after_the_sync_is_looked_up_live() {
    let mosyle = fake().await;
    mosyle.add_device(FakeMosyleDevice::new("C02SYNCFIRST"));
    let synced = provider(&mosyle, hourly);
    synced.sync_inventory().await.unwrap();
    mosyle.add_device(FakeMosyleDevice::new("C02SYNCLATER"));
    assert_eq!(
        synced.inventory().lookup("C02SYNCLATER/mac"),
        FromIndex::NotListed
    );
    let before = calls(&mosyle);
    assert!(decide(&synced, "C02SYNCLATER").await.is_allowed());
    assert_eq!(calls(&mosyle), before + 1, "one list of Macs");
    // The next sync lists it: no more calls for it.
    synced.sync_inventory().await.unwrap();
    synced.clear_cache();
    let before = calls(&mosyle);
    assert!(decide(&synced, "C02SYNCLATER").await.is_allowed());
    assert_eq!(calls(&mosyle), before);
}

#[tokio::test]
async fn a_sync_failing_midway_keeps_the_previous_inventory() {
    let mosyle = fake().await;
    for n in 0..150 {
        mosyle.add_device(FakeMosyleDevice::new(format!("C02SYNC{n:05}")));
    }
    let synced = provider(&mosyle, hourly);
    synced.sync_inventory().await.unwrap();
    // The first page is served, the second refused: nothing of the first replaces the index.
    mosyle.add_device(FakeMosyleDevice::new("C02SYNCNEW00"));
    mosyle.fail_after(1, Fault::Status(403), 1);
    let err = synced.sync_inventory().await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    assert!(matches!(
        synced.inventory().lookup("C02SYNC00149/mac"),
        FromIndex::Decided(d) if d.is_allowed()
    ));
    assert_eq!(
        synced.inventory().lookup("C02SYNCNEW00/mac"),
        FromIndex::NotListed
    );
    assert!(synced.report().iter().any(|line| line.contains("403")));
    // Readiness still holds without a request: the index is younger than the maximum age.
    mosyle.set_fault(Some(Fault::Status(503)));
    mosyle.expire_tokens();
    synced.check_ready().await.unwrap();
}

#[tokio::test]
async fn a_rate_limited_page_is_retried_after_retry_after() {
    let mosyle = fake().await;
    for n in 0..101 {
        mosyle.add_device(FakeMosyleDevice::new(format!("C02SYNC{n:05}")));
    }
    let synced = provider(&mosyle, hourly);
    mosyle.fail_after(
        1,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let report = synced.sync_inventory().await.unwrap();
    // Two pages of Macs (the second twice), one each for ios, tvos and visionos.
    assert_eq!((report.devices, report.calls), (101, 2 + 1 + 3));
}

#[tokio::test]
async fn sync_settings_come_from_the_environment_and_show_in_check_config() {
    let mosyle = fake().await;
    let mut vars = mosyle.env_vars();
    vars.push(("MOSYLE_SYNC_INTERVAL".to_owned(), "900".to_owned()));
    let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let config = MosyleConfig::from_env(get).unwrap();
    assert_eq!(config.sync().interval(), Duration::from_secs(900));
    assert_eq!(config.sync().oldest(), Duration::from_secs(2700));
    let summary = posture_mosyle::KIND.configure(&get).unwrap().summary();
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with("inventory sync: every 900 s")),
        "{summary:?}"
    );
    let provider = MosyleProvider::new(config).unwrap();
    let report = provider.report().join("\n");
    assert!(report.contains("inventory sync: every 900 s"), "{report}");
    assert!(report.contains("inventory index: none yet"), "{report}");
    vars.push(("MOSYLE_SYNC_MAX_AGE".to_owned(), "600".to_owned()));
    let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let err = MosyleConfig::from_env(get).unwrap_err().to_string();
    assert!(err.contains("MOSYLE_SYNC_MAX_AGE=\"600\""), "{err}");
}
