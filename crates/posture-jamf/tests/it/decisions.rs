//! Allow, deny and enrichment, for both device kinds and both APIs.

use std::time::Duration;

use posture_conformance::support::assert_denied;
use posture_core::{DeviceMode, LookupRequest, PostureProvider};
use posture_fakes::jamf::{FakeDevice, FakeJamf, GroupShape};
use posture_jamf::{JamfApi, JamfConfig};
use serde_json::json;

use crate::support::{APIS, allowed, code, decide, denial, fake, inventory, provider};

const MAC: &str = "C02XL0GJJG5J";
const IPHONE: &str = "DMPXK2ABCD12";

#[tokio::test]
async fn found_and_not_found_for_both_kinds() {
    for api in APIS {
        let jamf = inventory().await;
        let jamf_provider = provider(&jamf, api, |c| c);
        let allowed = decide(&jamf_provider, MAC, DeviceMode::Computer).await;
        assert!(allowed.is_allowed(), "{api}: {allowed:?}");
        assert_eq!(
            allowed.enrichment(),
            None,
            "{api}: enrichment is off by default"
        );
        assert!(crate::support::allowed(&jamf_provider, IPHONE, DeviceMode::MobileDevice).await);

        let missing = decide(&jamf_provider, "C02MISSING01", DeviceMode::Computer).await;
        assert_eq!(
            denial(&missing),
            (
                "deviceNotFound",
                "no computer with serial number C02MISSING01 in Jamf Pro"
            ),
            "{api}"
        );
        let missing = decide(&jamf_provider, "DMPMISSING01", DeviceMode::MobileDevice).await;
        assert_eq!(
            denial(&missing),
            (
                "deviceNotFound",
                "no mobile device with serial number DMPMISSING01 in Jamf Pro"
            ),
            "{api}"
        );
        // The inventories are separate: a Mac is not a mobile device.
        let wrong_kind = decide(&jamf_provider, MAC, DeviceMode::MobileDevice).await;
        assert_eq!(code(&wrong_kind), Some("deviceNotFound"), "{api}");
    }
}

#[tokio::test]
async fn compliance_groups_per_kind() {
    for api in APIS {
        let jamf = inventory().await;
        jamf.add_computer(FakeDevice::new("C02OUTSIDE01").with_groups(["All Managed Clients"]));
        jamf.add_mobile_device(FakeDevice::new("DMPOUTSIDE01").with_groups(["Compliant Macs"]));
        let jamf_provider = provider(&jamf, api, |c| {
            c.with_computer_group("Compliant Macs")
                .with_device_group("Compliant iPhones")
        });
        assert!(
            decide(&jamf_provider, MAC, DeviceMode::Computer)
                .await
                .is_allowed(),
            "{api}"
        );
        assert!(
            decide(&jamf_provider, IPHONE, DeviceMode::MobileDevice)
                .await
                .is_allowed(),
            "{api}"
        );

        let denied = decide(&jamf_provider, "C02OUTSIDE01", DeviceMode::Computer).await;
        assert_eq!(
            denial(&denied),
            (
                "notCompliant",
                "C02OUTSIDE01 is not a member of supplied compliance group \"Compliant Macs\""
            ),
            "{api}"
        );
        // The computer group doesn't count for mobile devices.
        let denied = decide(&jamf_provider, "DMPOUTSIDE01", DeviceMode::MobileDevice).await;
        assert_denied(&denied, "notCompliant", "\"Compliant iPhones\"");
    }
}

#[tokio::test]
async fn group_names_match_exactly() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_computer(
            FakeDevice::new(MAC).with_groups(["compliant macs", "Compliant Macs (old)"]),
        );
        let jamf_provider = provider(&jamf, api, |c| c.with_computer_group("Compliant Macs"));
        let denied = decide(&jamf_provider, MAC, DeviceMode::Computer).await;
        assert_eq!(code(&denied), Some("notCompliant"), "{api}");
    }
}

#[tokio::test]
async fn a_group_only_for_the_other_kind_leaves_this_kind_alone() {
    for api in APIS {
        let jamf = inventory().await;
        jamf.add_computer(FakeDevice::new("C02NOGROUP01"));
        let jamf_provider = provider(&jamf, api, |c| c.with_device_group("Compliant iPhones"));
        assert!(allowed(&jamf_provider, "C02NOGROUP01", DeviceMode::Computer).await);
    }
}

#[tokio::test]
async fn classic_groups_in_the_size_wrapped_shape() {
    let jamf = inventory().await;
    jamf.set_group_shape(GroupShape::SizeWrapped);
    let jamf_provider = provider(&jamf, JamfApi::Classic, |c| {
        c.with_computer_group("Compliant Macs")
            .with_device_group("Compliant iPhones")
            .with_device_enrich(true)
    });
    assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
    let decision = decide(&jamf_provider, IPHONE, DeviceMode::MobileDevice).await;
    assert_eq!(
        decision.enrichment().unwrap().to_value()["groups"],
        json!(["All Managed iPhones", "Compliant iPhones"])
    );
}

/// Each family's enrichment setting enriches that family only: `JAMF_COMPUTER_ENRICH`
/// doesn't turn on mobile-device enrichment (the Go bug), nor the other way round.
#[tokio::test]
async fn each_enrichment_setting_enriches_its_own_family_only() {
    let computers: fn(JamfConfig) -> JamfConfig = |c| c.with_computer_enrich(true);
    let mobile_devices: fn(JamfConfig) -> JamfConfig = |c| c.with_device_enrich(true);
    let mac = (MAC, DeviceMode::Computer);
    let iphone = (IPHONE, DeviceMode::MobileDevice);
    for (tune, (serial, mode), department, groups, (plain, plain_mode)) in [
        (
            computers,
            mac,
            "Engineering",
            ["All Managed Clients", "Compliant Macs"],
            iphone,
        ),
        (
            mobile_devices,
            iphone,
            "Sales",
            ["All Managed iPhones", "Compliant iPhones"],
            mac,
        ),
    ] {
        for api in APIS {
            let jamf = inventory().await;
            let jamf_provider = provider(&jamf, api, tune);
            let enriched = decide(&jamf_provider, serial, mode).await;
            assert_eq!(
                enriched.enrichment().unwrap().to_value(),
                json!({
                    "device": {"udid": format!("UDID-{serial}"), "serial_number": serial, "name": format!("Device {serial}")},
                    "user": {
                        "username": "alice",
                        "realname": "Alice Example",
                        "email_address": "alice@example.com",
                        "position": "Engineer",
                        "department": department,
                    },
                    "groups": groups,
                }),
                "{api}"
            );
            let other = decide(&jamf_provider, plain, plain_mode).await;
            assert!(other.is_allowed());
            assert_eq!(other.enrichment(), None, "{api}");
            if mode == DeviceMode::MobileDevice {
                // Mobile devices carry their department name: no department lookup.
                assert_eq!(jamf.stats().department_requests, 0, "{api}");
            }
        }
    }
}

#[tokio::test]
async fn pro_api_department_names_are_resolved_and_cached() {
    let jamf = inventory().await;
    jamf.add_computer(FakeDevice::new("C02SAMEDEPT1").with_department("7", "ignored by Pro"));
    jamf.add_computer(FakeDevice::new("C02NODEPT001"));
    jamf.add_computer(FakeDevice::new("C02GONEDEPT1").with_department("99", "deleted"));
    let jamf_provider = provider(&jamf, JamfApi::Pro, |c| c.with_computer_enrich(true));
    let department = |d: &posture_core::Decision| {
        d.enrichment().unwrap().to_value()["user"]["department"].clone()
    };
    assert_eq!(
        department(&decide(&jamf_provider, MAC, DeviceMode::Computer).await),
        "Engineering"
    );
    assert_eq!(
        department(&decide(&jamf_provider, "C02SAMEDEPT1", DeviceMode::Computer).await),
        "Engineering"
    );
    assert_eq!(
        jamf.stats().department_requests,
        1,
        "department 7 is cached"
    );
    assert_eq!(
        department(&decide(&jamf_provider, "C02NODEPT001", DeviceMode::Computer).await),
        ""
    );
    assert_eq!(
        jamf.stats().department_requests,
        1,
        "no department, no request"
    );
    assert_eq!(
        department(&decide(&jamf_provider, "C02GONEDEPT1", DeviceMode::Computer).await),
        ""
    );
    assert_eq!(jamf.stats().department_requests, 2);
}

/// A device Jamf reports unmanaged, or reports without a management state, is denied as
/// not managed, in both families and through every API.
#[tokio::test]
async fn unmanaged_devices_and_devices_without_a_management_state_are_denied() {
    let unmanaged: fn(FakeDevice) -> FakeDevice = FakeDevice::unmanaged;
    let unreported: fn(FakeDevice) -> FakeDevice = FakeDevice::management_unreported;
    for (state, reason) in [
        (unmanaged, "{noun} {serial} is in Jamf Pro but not managed"),
        (
            unreported,
            "Jamf Pro did not report whether {noun} {serial} is managed",
        ),
    ] {
        for api in APIS {
            let jamf = fake().await;
            jamf.add_computer(state(FakeDevice::new(MAC)));
            jamf.add_mobile_device(state(FakeDevice::new(IPHONE)));
            let jamf_provider = provider(&jamf, api, |c| c);
            for (serial, mode, noun) in [
                (MAC, DeviceMode::Computer, "computer"),
                (IPHONE, DeviceMode::MobileDevice, "mobile device"),
            ] {
                let decision = decide(&jamf_provider, serial, mode).await;
                assert_eq!(code(&decision), Some("notManaged"), "{api}");
                let message = reason.replace("{noun}", noun).replace("{serial}", serial);
                assert_eq!(decision.deny_message(), Some(message.as_str()), "{api}");
            }
        }
    }
}

#[tokio::test]
async fn requests_have_the_documented_shape() {
    let jamf = inventory().await;
    let classic = provider(&jamf, JamfApi::Classic, |c| c);
    decide(&classic, MAC, DeviceMode::Computer).await;
    decide(&classic, IPHONE, DeviceMode::MobileDevice).await;
    let pro = provider(&jamf, JamfApi::Pro, |c| {
        c.with_computer_group("Compliant Macs")
            .with_device_enrich(true)
    });
    decide(&pro, MAC, DeviceMode::Computer).await;
    decide(&pro, IPHONE, DeviceMode::MobileDevice).await;

    let requests = jamf.requests();
    let lookups: Vec<_> = requests.iter().filter(|r| r.method == "GET").collect();
    assert_eq!(lookups.len(), 4);
    // Classic asks only for the subsets it reads; the `&`s stay unescaped in the path.
    assert_eq!(
        lookups[0].path,
        format!("/JSSResource/computers/serialnumber/{MAC}/subset/General&Location&GroupsAccounts")
    );
    assert_eq!(
        lookups[1].path,
        format!(
            "/JSSResource/mobiledevices/serialnumber/{IPHONE}/subset/General&Location&MobileDeviceGroups"
        )
    );
    for request in &lookups {
        assert_eq!(request.accept.as_deref(), Some("application/json"));
    }
    let param = |i: usize, name: &str| -> Vec<String> {
        lookups[i]
            .query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(lookups[2].path, "/api/v4/computers-inventory");
    // A group but no enrichment: no USER_AND_LOCATION section.
    assert_eq!(
        param(2, "section"),
        ["GENERAL", "HARDWARE", "GROUP_MEMBERSHIPS"]
    );
    assert_eq!(
        param(2, "filter"),
        [format!("hardware.serialNumber==\"{MAC}\"")]
    );
    assert_eq!(lookups[3].path, "/api/v2/mobile-devices/detail");
    assert_eq!(
        param(3, "section"),
        ["GENERAL", "HARDWARE", "USER_AND_LOCATION", "GROUPS"]
    );
    assert_eq!(param(3, "filter"), [format!("serialNumber==\"{IPHONE}\"")]);
    assert_eq!(param(3, "page-size"), ["10"]);
}

#[tokio::test]
async fn lower_case_serials_are_upper_cased() {
    for api in APIS {
        let jamf = inventory().await;
        let jamf_provider = provider(&jamf, api, |c| c);
        assert!(allowed(&jamf_provider, &MAC.to_lowercase(), DeviceMode::Computer).await);
        assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
        assert_eq!(
            jamf.stats().lookup_requests,
            1,
            "{api}: one cache entry for both spellings"
        );
        let last = jamf.requests().pop().unwrap();
        let sent = format!("{} {:?}", last.path, last.query);
        assert!(sent.contains(MAC), "{sent}");
    }
}

#[tokio::test]
async fn pro_api_answers_are_checked_against_the_serial() {
    let jamf = inventory().await;
    jamf.add_computer(FakeDevice::new("C02OTHER0001"));
    jamf.set_fault(Some(posture_fakes::Fault::IgnoreFilter));
    let jamf_provider = provider(&jamf, JamfApi::Pro, |c| c.with_computer_enrich(true));
    // The filter is ignored and every computer comes back: only the matching one counts.
    let decision = decide(&jamf_provider, "C02OTHER0001", DeviceMode::Computer).await;
    assert_eq!(
        decision.enrichment().unwrap().to_value()["device"]["serial_number"],
        "C02OTHER0001"
    );
    let missing = decide(&jamf_provider, "C02NOTTHERE1", DeviceMode::Computer).await;
    assert_eq!(code(&missing), Some("deviceNotFound"));
}

#[tokio::test]
async fn auto_mode_tries_computers_then_mobile_devices() {
    for api in APIS {
        let jamf = inventory().await;
        jamf.add_computer(FakeDevice::new("C02OUTSIDE01"));
        let jamf_provider = provider(&jamf, api, |c| {
            c.with_computer_group("Compliant Macs")
                .with_device_enrich(true)
        });

        assert!(
            decide(&jamf_provider, MAC, DeviceMode::Auto)
                .await
                .is_allowed(),
            "{api}"
        );
        assert_eq!(
            jamf.stats().lookup_requests,
            1,
            "{api}: a computer needs one lookup"
        );

        let iphone = decide(&jamf_provider, IPHONE, DeviceMode::Auto).await;
        assert_eq!(
            iphone.enrichment().unwrap().to_value()["device"]["serial_number"],
            IPHONE
        );
        assert_eq!(
            jamf.stats().lookup_requests,
            3,
            "{api}: computers first, then mobile devices"
        );

        // A computer outside the group is denied; mobile devices aren't tried.
        let denied = decide(&jamf_provider, "C02OUTSIDE01", DeviceMode::Auto).await;
        assert_eq!(code(&denied), Some("notCompliant"), "{api}");
        assert_eq!(jamf.stats().lookup_requests, 4, "{api}");

        let missing = decide(&jamf_provider, "XYZMISSING01", DeviceMode::Auto).await;
        assert_eq!(
            denial(&missing),
            (
                "deviceNotFound",
                "no computer or mobile device with serial number XYZMISSING01 in Jamf Pro"
            ),
            "{api}"
        );
    }
}

#[tokio::test]
async fn no_mode_uses_the_configured_default() {
    let jamf = inventory().await;
    let go_default = provider(&jamf, JamfApi::Classic, |c| c);
    let request = LookupRequest::new(IPHONE);
    assert!(
        go_default.lookup(&request).await.unwrap().is_allowed(),
        "mobiledevice by default"
    );
    let mac = go_default.lookup(&LookupRequest::new(MAC)).await.unwrap();
    assert_eq!(code(&mac), Some("deviceNotFound"));

    let computers = provider(&jamf, JamfApi::Classic, |c| {
        c.with_default_mode(DeviceMode::Computer)
    });
    assert!(
        computers
            .lookup(&LookupRequest::new(MAC))
            .await
            .unwrap()
            .is_allowed()
    );
    let auto = provider(&jamf, JamfApi::Classic, |c| {
        c.with_default_mode(DeviceMode::Auto)
    });
    assert!(
        auto.lookup(&LookupRequest::new(MAC))
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(
        auto.lookup(&LookupRequest::new(IPHONE))
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn base_url_with_a_path_prefix_and_trailing_slash() {
    let jamf = FakeJamf::start_with_prefix("/jamf").await.unwrap();
    jamf.add_computer(FakeDevice::new(MAC));
    for api in APIS {
        let config = posture_jamf::JamfConfig::new(
            &format!("{}/", jamf.base_url()),
            posture_fakes::jamf::CLIENT_ID,
            posture_fakes::jamf::CLIENT_SECRET,
        )
        .unwrap()
        .with_api(api);
        let jamf_provider = posture_jamf::JamfProvider::new(config).unwrap();
        jamf_provider.check_ready().await.unwrap();
        assert!(
            decide(&jamf_provider, MAC, DeviceMode::Computer)
                .await
                .is_allowed(),
            "{api}"
        );
    }
    assert!(jamf.requests().iter().all(|r| !r.path.starts_with("/jamf")));
}

#[tokio::test]
async fn debug_output_holds_no_secret_or_token() {
    let jamf = inventory().await;
    let jamf_provider = provider(&jamf, JamfApi::Classic, |c| {
        c.with_timeout(Duration::from_secs(2)).unwrap()
    });
    decide(&jamf_provider, MAC, DeviceMode::Computer).await;
    let debug = format!("{jamf_provider:?}");
    assert!(
        !debug.contains(posture_fakes::jamf::CLIENT_SECRET),
        "{debug}"
    );
    assert!(!debug.contains("fake-token"), "{debug}");
}
