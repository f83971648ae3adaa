//! Inventory sync (`MOSYLE_SYNC_INTERVAL`): the same decisions as live lookups, device by
//! device and mode by mode; fall-back for devices enrolled since; a sync failing midway.

use posture_conformance::{sync, sync_fixture, sync_scenarios};
use posture_core::{DeviceMode, LookupRequest};
use posture_fakes::Fault;
use posture_fakes::mosyle::{FakeMosyle, FakeMosyleDevice, FakeMosyleGroup};
use posture_http::sync::SyncSettings;
use posture_mosyle::{Group, MosyleConfig, MosyleProvider};

use crate::support::{decide, fake, lookup, provider};

/// Groups by ID and by name (one of Macs, one of iPads), so that the sync resolves names
/// per `os` and reads members as the live check does.
fn strict(config: MosyleConfig) -> MosyleConfig {
    config.with_groups(["210", "Staff iPads", "Lab Macs"].map(Group::parse))
}

fn hourly(config: MosyleConfig) -> MosyleConfig {
    config.with_sync(sync::hourly()).unwrap()
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
    let fixture = Fixture(fake().await);
    let mosyle = &fixture.0;
    let serials = populate(mosyle);
    let live = provider(mosyle, strict);
    let synced = provider(mosyle, |c| hourly(strict(c)));
    let run = sync::synced_decisions_equal_live(&fixture, &synced, &live, &serials).await;
    let report = run.report;
    // Devices are indexed per os: 232 Mac serials, 13 iPad serials, an Apple TV.
    assert_eq!(report.devices, 232 + 13 + 1);
    // Macs in 3 pages of 100, one page each for ios, tvos and visionos; group names
    // resolved for mac, ios and tvos; the members of groups 210, 220 and 310.
    assert_eq!(report.calls, 3 + 3 + 3 + 3);
    run.tally.assert_mixed(40, 150);
    // The synced provider called Mosyle only for the one serial it doesn't have: its
    // four `os` lists.
    let live_calls = {
        let probe = provider(mosyle, strict);
        let before = calls(mosyle);
        for serial in &serials {
            decide(&probe, serial).await;
        }
        calls(mosyle) - before
    };
    assert!(live_calls > 250, "{live_calls}");
    let synced_calls = run.requests - live_calls;
    assert_eq!(synced_calls, 4);
    // Each mode too: a Mac asked for as a mobile device, or an iPad as a computer, is not
    // in that os's index and is looked up live, to the same answer.
    for mode in [DeviceMode::Computer, DeviceMode::MobileDevice] {
        let requests = serials
            .iter()
            .map(|serial| LookupRequest::new(serial).with_mode(mode));
        sync::assert_same_decisions(&synced, &live, &requests.collect::<Vec<_>>()).await;
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
        .with_sync(sync::hourly())
        .unwrap();
    let synced = MosyleProvider::new(business.clone()).unwrap();
    let live = MosyleProvider::new(business.with_sync(SyncSettings::new("", "")).unwrap()).unwrap();
    let report = synced.sync_inventory().await.unwrap();
    // Two pages of Macs; ios, tvos and visionos answer DEVICES_NOTFOUND.
    assert_eq!((report.devices, report.calls), (150, 2 + 3));
    let requests = [0, 1, 149]
        .map(|n| LookupRequest::new(format!("C02SYNC{n:05}")).with_mode(DeviceMode::Auto));
    sync::assert_same_decisions(&synced, &live, &requests).await;
}

sync_fixture! {
    /// The Mosyle provider and its fake, for the sync scenarios every provider runs.
    struct Fixture(FakeMosyle) -> MosyleProvider;
    kind = posture_mosyle::KIND;
    page_size = 100;
    synced(mosyle) = provider(mosyle, hourly);

    /// One page each for ios, tvos and visionos.
    fn other_sync_calls(&self) -> u64 {
        3
    }

    /// Devices are indexed per `os`.
    fn key(&self, serial: &str) -> String {
        format!("{serial}/mac")
    }

    fn request(&self, serial: &str) -> LookupRequest {
        LookupRequest::new(serial).with_mode(DeviceMode::Auto)
    }

    /// Device and group lists: the requests lookups and syncs send.
    fn requests(&self) -> u64 {
        calls(&self.0)
    }

    /// Tokens expire too, so that readiness would have to ask for one.
    fn go_down(&self) {
        self.0.set_fault(Some(Fault::Status(503)));
        self.0.expire_tokens();
    }
}

sync_scenarios!(Fixture(fake().await));
