//! What a provider is asked: device modes, webhook kinds and the request itself.

use posture_core::{DeviceMode, LookupRequest, UnknownDeviceMode, WebhookKind};

/// Every mode, its spelling in the webhook URL's `mode` parameter, and how logs show it.
const MODES: [(DeviceMode, &str, &str); 4] = [
    (DeviceMode::Unspecified, "", "unspecified"),
    (DeviceMode::Computer, "computer", "computer"),
    (DeviceMode::MobileDevice, "mobiledevice", "mobiledevice"),
    (DeviceMode::Auto, "auto", "auto"),
];

#[test]
fn every_device_mode_parses_back_from_its_url_spelling() {
    for (mode, spelled, shown) in MODES {
        assert_eq!(mode.as_str(), spelled);
        assert_eq!(spelled.parse(), Ok(mode));
        assert_eq!(mode.to_string(), shown);
    }
}

/// The spelling is exactly the Go version's: no other case, no padding, and the word logs
/// show for no mode is not one.
#[test]
fn a_device_mode_refuses_any_other_spelling() {
    for bad in ["Computer", "laptop", " auto", "unspecified"] {
        assert_eq!(
            bad.parse::<DeviceMode>(),
            Err(UnknownDeviceMode(bad.to_owned()))
        );
    }
    assert_eq!(
        UnknownDeviceMode("laptop".to_owned()).to_string(),
        r#"unknown device mode "laptop": expected computer, mobiledevice or auto"#
    );
}

#[test]
fn webhook_kinds_are_named_as_step_ca_names_them() {
    let kinds = [
        (WebhookKind::Enriching, "enriching"),
        (WebhookKind::Authorizing, "authorizing"),
    ];
    for (kind, name) in kinds {
        assert_eq!(kind.as_str(), name);
        assert_eq!(kind.to_string(), name);
    }
}

#[test]
fn a_request_keeps_the_context_it_was_given() {
    let bare = LookupRequest::new("C02XL0GJJG5J");
    assert_eq!(
        (bare.mode(), bare.provisioner(), bare.kind()),
        (DeviceMode::Unspecified, None, WebhookKind::Enriching)
    );
    let request = bare
        .with_mode(DeviceMode::MobileDevice)
        .with_provisioner("acme-da")
        .with_kind(WebhookKind::Authorizing);
    assert_eq!(
        (request.mode(), request.provisioner(), request.kind()),
        (
            DeviceMode::MobileDevice,
            Some("acme-da"),
            WebhookKind::Authorizing
        )
    );
    assert_eq!(request.identifier(), "C02XL0GJJG5J");
}
