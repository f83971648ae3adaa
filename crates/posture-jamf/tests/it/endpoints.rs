//! Which endpoint answers, against fakes of Jamf Pro releases that lack one: v4 absent
//! (before 11.30), v3 absent (after its removal), Classic computers removed. A missing route
//! is never a missing device.

use std::sync::Arc;
use std::time::Duration;

use posture_conformance::support::{permanent, refused_readiness, transient, unready};
use posture_core::{DeviceMode, PostureProvider};
use posture_fakes::jamf::{FakeDevice, FakeEndpoint, FakeJamf, FakePrivilege, GroupShape};
use posture_jamf::JamfApi;

use crate::support::{APIS, allowed, code, decide, fake, inventory, lookup, provider};

const MAC: &str = "C02XL0GJJG5J";
const IPHONE: &str = "DMPXK2ABCD12";

/// Paths of the GETs the fake received, in order.
fn paths(jamf: &FakeJamf) -> Vec<String> {
    jamf.requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path)
        .collect()
}

#[tokio::test]
async fn auto_reads_computers_with_v4_then_v3_then_v1_and_remembers() {
    for (removed, expected) in [
        (&[][..], "/api/v4/computers-inventory"),
        (
            &[FakeEndpoint::ComputersV4][..],
            "/api/v3/computers-inventory",
        ),
        (
            &[FakeEndpoint::ComputersV4, FakeEndpoint::ComputersV3][..],
            "/api/v1/computers-inventory",
        ),
    ] {
        let jamf = inventory().await;
        jamf.add_computer(FakeDevice::new("C02SECOND001"));
        for endpoint in removed {
            jamf.remove_endpoint(*endpoint);
        }
        let jamf_provider = provider(&jamf, JamfApi::Auto, |c| c);
        assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
        let first: Vec<String> = paths(&jamf);
        assert_eq!(first.len(), removed.len() + 1, "{first:?}");
        assert_eq!(first.last().map(String::as_str), Some(expected));
        // The next lookup goes straight to the endpoint that answered.
        assert!(allowed(&jamf_provider, "C02SECOND001", DeviceMode::Computer).await);
        let all = paths(&jamf);
        assert_eq!(all.len(), first.len() + 1, "{all:?}");
        assert_eq!(all.last().map(String::as_str), Some(expected));
        // Never the deprecated Classic computer endpoints.
        assert!(
            all.iter().all(|p| !p.starts_with("/JSSResource/computers")),
            "{all:?}"
        );
    }
}

#[tokio::test]
async fn auto_works_on_a_jamf_with_classic_computers_removed() {
    let jamf = inventory().await;
    jamf.remove_endpoint(FakeEndpoint::ClassicComputers);
    let jamf_provider = provider(&jamf, JamfApi::Auto, |c| {
        c.with_computer_group("Compliant Macs")
    });
    jamf_provider.check_ready().await.unwrap();
    assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
    let missing = decide(&jamf_provider, "C02MISSING01", DeviceMode::Computer).await;
    assert_eq!(code(&missing), Some("deviceNotFound"));
}

#[tokio::test]
async fn a_removed_classic_route_is_an_error_never_a_deny() {
    for (kind, endpoint, serial, mode) in [
        (
            "computer",
            FakeEndpoint::ClassicComputers,
            MAC,
            DeviceMode::Computer,
        ),
        (
            "mobile device",
            FakeEndpoint::ClassicMobileDevices,
            IPHONE,
            DeviceMode::MobileDevice,
        ),
    ] {
        let jamf = inventory().await;
        let jamf_provider = provider(&jamf, JamfApi::Classic, |c| c.with_default_mode(mode));
        // With the route present, a 404 for an unknown serial is confirmed by one search and
        // is a deny.
        let missing = decide(&jamf_provider, "C02MISSING01", mode).await;
        assert_eq!(code(&missing), Some("deviceNotFound"), "{kind}");
        assert_eq!(jamf.stats().match_requests, 1, "{kind}");

        // Jamf removes the family: every lookup, known device or not, is a transient error.
        jamf.remove_endpoint(endpoint);
        for serial in [serial, "C02UNKNOWN99"] {
            let err = transient(lookup(&jamf_provider, serial, mode).await);
            let text = err.to_string();
            assert!(
                text.contains(&format!("answered 404 for every {kind} endpoint")),
                "{text}"
            );
            assert!(text.contains("JAMF_API=auto"), "{text}");
        }
        unready(&jamf_provider).await;

        // Errors are not cached: once the route is back, the device is allowed again.
        jamf.restore_endpoint(endpoint);
        assert!(
            decide(&jamf_provider, serial, mode).await.is_allowed(),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_remembered_endpoint_that_disappears_is_replaced() {
    let jamf = inventory().await;
    jamf.remove_endpoint(FakeEndpoint::ComputersV4);
    let jamf_provider = provider(&jamf, JamfApi::Auto, |c| {
        c.with_negative_cache_ttl(Duration::ZERO)
            .with_cache_ttl(Duration::ZERO)
    });
    assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
    assert_eq!(
        paths(&jamf).last().map(String::as_str),
        Some("/api/v3/computers-inventory")
    );
    // An upgrade adds v4 and removes v3 while the server runs.
    jamf.restore_endpoint(FakeEndpoint::ComputersV4);
    jamf.remove_endpoint(FakeEndpoint::ComputersV3);
    assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
    let all = paths(&jamf);
    assert_eq!(
        &all[all.len() - 2..],
        ["/api/v3/computers-inventory", "/api/v4/computers-inventory"]
    );
}

#[tokio::test]
async fn mobile_devices_fall_back_to_classic_only_in_auto() {
    let jamf = inventory().await;
    jamf.remove_endpoint(FakeEndpoint::MobileDevicesV2);
    let auto = provider(&jamf, JamfApi::Auto, |c| c);
    assert!(allowed(&auto, IPHONE, DeviceMode::MobileDevice).await);
    assert!(
        paths(&jamf)
            .last()
            .is_some_and(|p| p.starts_with("/JSSResource/mobiledevices/serialnumber/")),
        "{:?}",
        paths(&jamf)
    );
    let pro = provider(&jamf, JamfApi::Pro, |c| c);
    let err = transient(lookup(&pro, IPHONE, DeviceMode::MobileDevice).await);
    assert!(
        err.to_string().contains(
            "answered 404 for every mobile device endpoint (/api/v2/mobile-devices/detail)"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn enrichment_is_the_same_bytes_from_every_endpoint() {
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    for (api, removed) in [
        (JamfApi::Classic, &[][..]),
        (JamfApi::Auto, &[][..]),
        (JamfApi::Auto, &[FakeEndpoint::ComputersV4][..]),
        (
            JamfApi::Pro,
            &[FakeEndpoint::ComputersV4, FakeEndpoint::ComputersV3][..],
        ),
    ] {
        let jamf = inventory().await;
        for endpoint in removed {
            jamf.remove_endpoint(*endpoint);
        }
        let jamf_provider = provider(&jamf, api, |c| c.with_computer_enrich(true));
        let decision = decide(&jamf_provider, MAC, DeviceMode::Computer).await;
        let bytes = decision.enrichment().unwrap().as_bytes().to_vec();
        // The last computer request is the one that answered.
        let served_by = paths(&jamf)
            .into_iter()
            .rev()
            .find(|p| p.contains("computers"))
            .unwrap_or_default();
        seen.push((served_by, bytes));
    }
    // The Go version marshals a map, so its keys come out sorted.
    let expected = br#"{"device":{"name":"Device C02XL0GJJG5J","serial_number":"C02XL0GJJG5J","udid":"UDID-C02XL0GJJG5J"},"groups":["All Managed Clients","Compliant Macs"],"user":{"department":"Engineering","email_address":"alice@example.com","position":"Engineer","realname":"Alice Example","username":"alice"}}"#;
    for (served_by, bytes) in &seen {
        assert_eq!(
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(expected),
            "{served_by}"
        );
    }
    let endpoints: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert!(endpoints[0].starts_with("/JSSResource/computers/"));
    assert_eq!(
        endpoints[1..],
        [
            "/api/v4/computers-inventory",
            "/api/v3/computers-inventory",
            "/api/v1/computers-inventory"
        ]
    );
}

#[tokio::test]
async fn classic_records_hold_only_the_subsets_asked_for() {
    let jamf = inventory().await;
    jamf.set_group_shape(GroupShape::GroupObjects);
    let jamf_provider = provider(&jamf, JamfApi::Classic, |c| {
        c.with_computer_group("Compliant Macs")
            .with_computer_enrich(true)
    });
    let decision = decide(&jamf_provider, MAC, DeviceMode::Computer).await;
    // Jamf's documented `[{"group":…}]` list shape is read like the others.
    assert!(decision.is_allowed(), "{decision:?}");
    let data = decision.enrichment().unwrap().to_value();
    assert_eq!(data["groups"][1], "Compliant Macs");
    assert_eq!(data["user"]["department"], "Engineering");
    let record = jamf.requests().pop().unwrap();
    assert!(
        record
            .path
            .ends_with("/subset/General&Location&GroupsAccounts"),
        "{}",
        record.path
    );
}

#[tokio::test]
async fn duplicates_prefer_the_managed_record() {
    // A search can return a stale record (no longer managed, or partial) before the live one.
    for stale in [
        FakeDevice::new(MAC).unmanaged(),
        FakeDevice::new(MAC).management_unreported(),
    ] {
        for api in [JamfApi::Auto, JamfApi::Pro] {
            let jamf = fake().await;
            jamf.add_stale_computer(stale.clone());
            jamf.add_computer(FakeDevice::new(MAC));
            let jamf_provider = provider(&jamf, api, |c| c);
            let decision = decide(&jamf_provider, MAC, DeviceMode::Computer).await;
            assert!(decision.is_allowed(), "{api}: {decision:?}");
        }
    }
    // Only the stale record: denied.
    let jamf = fake().await;
    jamf.add_stale_computer(FakeDevice::new(MAC).unmanaged());
    let jamf_provider = provider(&jamf, JamfApi::Auto, |c| c);
    let decision = decide(&jamf_provider, MAC, DeviceMode::Computer).await;
    assert_eq!(code(&decision), Some("notManaged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_connections_requests_are_in_flight() {
    let jamf = fake().await;
    let serials: Vec<String> = (0..20).map(|i| format!("C02CAP{i:06}")).collect();
    for serial in &serials {
        jamf.add_computer(FakeDevice::new(serial.clone()));
    }
    jamf.set_latency(Duration::from_millis(100));
    let jamf_provider = Arc::new(provider(&jamf, JamfApi::Auto, |c| {
        c.with_max_connections(2).unwrap()
    }));
    let mut tasks = tokio::task::JoinSet::new();
    for serial in serials {
        let jamf_provider = jamf_provider.clone();
        tasks.spawn(async move { decide(&*jamf_provider, &serial, DeviceMode::Computer).await });
    }
    while let Some(decision) = tasks.join_next().await {
        assert!(decision.unwrap().is_allowed());
    }
    let stats = jamf.stats();
    assert_eq!(stats.lookup_requests, 20);
    assert!(
        stats.max_concurrent_requests <= 2,
        "{} requests were in flight at once",
        stats.max_concurrent_requests
    );
    assert!(jamf_provider.stats().connection_waits > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_queued_past_its_timeout_fails_transiently() {
    let jamf = fake().await;
    for i in 0..3 {
        jamf.add_computer(FakeDevice::new(format!("C02SLOW{i:05}")));
    }
    let jamf_provider = Arc::new(provider(&jamf, JamfApi::Auto, |c| {
        c.with_max_connections(1)
            .unwrap()
            .with_timeout(Duration::from_secs(1))
            .unwrap()
    }));
    jamf_provider.check_ready().await.unwrap();
    jamf.set_latency(Duration::from_millis(700));
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..3 {
        let jamf_provider = jamf_provider.clone();
        tasks.spawn(async move {
            lookup(
                &*jamf_provider,
                &format!("C02SLOW{i:05}"),
                DeviceMode::Computer,
            )
            .await
        });
    }
    let mut timed_out = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(decision) => assert!(decision.is_allowed()),
            Err(err) => {
                assert!(err.is_transient(), "{err}");
                assert!(err.to_string().contains("TIMEOUT"), "{err}");
                timed_out += 1;
            }
        }
    }
    // One slot and 700 ms a request: the first fits in 1 s, the others wait too long.
    assert!(timed_out >= 1, "every queued lookup finished in time");
    assert!(started.elapsed() < Duration::from_millis(1900));
    assert_eq!(jamf.stats().max_concurrent_requests, 1);
}

#[tokio::test]
async fn auto_mode_finds_mobile_devices_when_computers_are_forbidden() {
    let jamf = inventory().await;
    jamf.revoke_privilege(FakePrivilege::ReadComputers);
    let jamf_provider = provider(&jamf, JamfApi::Auto, |c| {
        c.with_default_mode(DeviceMode::MobileDevice)
    });
    // Ready: nothing requires computers.
    jamf_provider.check_ready().await.unwrap();
    let report = PostureProvider::report(&jamf_provider);
    assert!(
        report
            .iter()
            .any(|l| l.starts_with("warning: computers: ") && l.contains("Read Computers")),
        "{report:?}"
    );
    assert!(allowed(&jamf_provider, IPHONE, DeviceMode::Auto).await);
    // A Mac can't be told apart from an unknown device: an error naming the privilege.
    let err = permanent(lookup(&jamf_provider, MAC, DeviceMode::Auto).await);
    assert!(
        err.to_string().contains("Read Computers privilege"),
        "{err}"
    );
    // The refusal is remembered: the next auto lookup asks only for mobile devices.
    let before = jamf.requests().len();
    let _ = lookup(&jamf_provider, "DMPOTHER0001", DeviceMode::Auto).await;
    let after: Vec<String> = paths(&jamf).into_iter().skip(before).collect();
    assert!(after.iter().all(|p| !p.contains("computers")), "{after:?}");
}

#[tokio::test]
async fn readiness_names_a_missing_privilege_that_settings_need() {
    for (revoked, privilege, tune, variable) in [
        (
            FakePrivilege::ReadMobileDevices,
            "Read Mobile Devices",
            DeviceMode::MobileDevice,
            "JAMF_DEFAULT_MODE",
        ),
        (
            FakePrivilege::ReadComputers,
            "Read Computers",
            DeviceMode::Computer,
            "JAMF_DEFAULT_MODE",
        ),
    ] {
        for api in APIS {
            let jamf = inventory().await;
            jamf.revoke_privilege(revoked);
            let jamf_provider = provider(&jamf, api, |c| c.with_default_mode(tune));
            let text = refused_readiness(&jamf_provider).await;
            assert!(
                text.contains(&format!("the {privilege} privilege")),
                "{text}"
            );
            assert!(text.contains(variable), "{text}");
        }
    }
    // A group names the family even when the default mode doesn't.
    let jamf = inventory().await;
    jamf.revoke_privilege(FakePrivilege::ReadComputers);
    let jamf_provider = provider(&jamf, JamfApi::Auto, |c| {
        c.with_computer_group("Compliant Macs")
    });
    let err = jamf_provider.check_ready().await.unwrap_err();
    assert!(err.to_string().contains("JAMF_COMPUTER_GROUP"), "{err}");
    // Neither family readable in auto mode: not ready either.
    let jamf = inventory().await;
    jamf.revoke_privilege(FakePrivilege::ReadComputers);
    jamf.revoke_privilege(FakePrivilege::ReadMobileDevices);
    let jamf_provider = provider(&jamf, JamfApi::Auto, |c| {
        c.with_default_mode(DeviceMode::Auto)
    });
    assert!(jamf_provider.check_ready().await.is_err());
}

#[tokio::test]
async fn the_report_names_each_familys_endpoint() {
    for (api, removed, computers, mobile) in [
        (
            JamfApi::Auto,
            &[][..],
            "computers: GET /api/v4/computers-inventory (Jamf Pro API v4)",
            "mobile devices: GET /api/v2/mobile-devices/detail (Jamf Pro API v2)",
        ),
        (
            JamfApi::Auto,
            &[FakeEndpoint::ComputersV4, FakeEndpoint::MobileDevicesV2][..],
            "computers: GET /api/v3/computers-inventory (Jamf Pro API v3, deprecated by Jamf in 11.30)",
            "mobile devices: GET /JSSResource/mobiledevices/serialnumber/{serial}/subset/General&Location&MobileDeviceGroups (Classic API)",
        ),
        (
            JamfApi::Classic,
            &[][..],
            "computers: GET /JSSResource/computers/serialnumber/{serial}/subset/General&Location&GroupsAccounts (Classic API, deprecated by Jamf in 11.15)",
            "mobile devices: GET /JSSResource/mobiledevices/serialnumber/{serial}/subset/General&Location&MobileDeviceGroups (Classic API)",
        ),
    ] {
        let jamf = inventory().await;
        for endpoint in removed {
            jamf.remove_endpoint(*endpoint);
        }
        let jamf_provider = provider(&jamf, api, |c| c.with_max_connections(3).unwrap());
        assert!(PostureProvider::report(&jamf_provider).is_empty());
        jamf_provider.check_ready().await.unwrap();
        assert_eq!(
            PostureProvider::report(&jamf_provider),
            [
                computers,
                mobile,
                "at most 3 requests in flight to Jamf Pro (JAMF_MAX_CONNECTIONS)"
            ],
            "{api}"
        );
        // Lookups then go straight to the endpoints readiness found.
        let before = jamf.requests().len();
        assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
        assert_eq!(jamf.requests().len(), before + 1, "{api}");
    }
}

#[tokio::test]
async fn short_lived_tokens_as_jamf_documents_them() {
    // Jamf's schema example is a 60 s token; renewal must cope with it.
    let jamf = inventory().await;
    jamf.set_token_lifetime(Duration::from_secs(60));
    let jamf_provider = provider(&jamf, JamfApi::Auto, |c| c.with_cache_ttl(Duration::ZERO));
    for _ in 0..3 {
        assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
    }
    assert_eq!(jamf.stats().token_requests, 1);
    assert_eq!(jamf.stats().unauthorized, 0);
}
