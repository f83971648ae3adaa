//! `POST /webhook/jamf-events`: Jamf Pro webhook events that say a device changed, each one
//! reading that device again into the synced Jamf inventory (`JAMF_SYNC_INTERVAL`), so a
//! device removed from a compliance group, unenrolled or newly added is answered as Jamf
//! holds it now rather than as the last sync read it.
//!
//! Served on the webhook port only when `JAMF_WEBHOOK_SECRET` (or `_FILE`) is set, which
//! the configuration accepts only with `PROVIDER` naming `jamf` and `JAMF_SYNC_INTERVAL`
//! above 0. Jamf Pro authenticates a webhook with Basic credentials or a header it sends as
//! given: the secret is accepted as the Basic password (any user name) or as
//! `Authorization: Bearer <secret>`, compared in constant time.
//!
//! The events read (JSON; Jamf's XML content type is refused): computers `ComputerAdded`,
//! `ComputerCheckIn`, `ComputerInventoryCompleted`, `ComputerPolicyFinished`,
//! `ComputerPushCapabilityChanged`; mobile devices `MobileDeviceEnrolled`,
//! `MobileDeviceUnEnrolled`, `MobileDeviceCheckIn`, `MobileDeviceCommandCompleted`,
//! `MobileDevicePushSent`. The serial is
//! `event.serialNumber` (`ComputerAdded`, the mobile-device events) or
//! `event.computer.serialNumber` (`ComputerCheckIn`, `ComputerInventoryCompleted`,
//! `ComputerPolicyFinished`); both shapes are accepted for every event. Any other event
//! (smart-group changes name record IDs, not serials) is answered 200 and ignored.

use std::sync::Arc;

use base64::Engine as _;
use http::HeaderMap;
use posture_core::{DeviceMode, DeviceRefresher};
use serde_json::Value;

use crate::scep::challenge::StaticChallenge;

/// The path Jamf Pro posts its events to.
pub const JAMF_EVENTS_PATH: &str = "/webhook/jamf-events";

/// The largest event accepted.
pub(crate) const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The events that name one computer.
const COMPUTER_EVENTS: &[&str] = &[
    "ComputerAdded",
    "ComputerCheckIn",
    "ComputerInventoryCompleted",
    "ComputerPolicyFinished",
    "ComputerPushCapabilityChanged",
];

/// The events that name one mobile device.
const MOBILE_DEVICE_EVENTS: &[&str] = &[
    "MobileDeviceEnrolled",
    "MobileDeviceUnEnrolled",
    "MobileDeviceCheckIn",
    "MobileDeviceCommandCompleted",
    "MobileDevicePushSent",
];

/// The route's secret and the provider it refreshes.
#[derive(Debug)]
pub(crate) struct JamfEvents {
    secret: StaticChallenge,
    refresher: Arc<dyn DeviceRefresher>,
}

impl JamfEvents {
    /// Events authenticated with `secret` refresh devices through `refresher`.
    pub(crate) fn new(secret: &str, refresher: Arc<dyn DeviceRefresher>) -> Self {
        Self {
            secret: StaticChallenge::new(secret.as_bytes()),
            refresher,
        }
    }

    /// Whether the request carries the secret: as the password of Basic credentials (any
    /// user name), or as a bearer token. One `Authorization` header only.
    pub(crate) fn authenticates(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let Ok(value) = value.to_str() else {
            return false;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            self.secret.matches_bytes(rest.as_bytes())
        } else if scheme.eq_ignore_ascii_case("basic") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return false;
            };
            match decoded.iter().position(|&b| b == b':') {
                Some(colon) => decoded
                    .get(colon + 1..)
                    .is_some_and(|password| self.secret.matches_bytes(password)),
                None => false,
            }
        } else {
            false
        }
    }

    /// The provider the events refresh.
    pub(crate) fn refresher(&self) -> &Arc<dyn DeviceRefresher> {
        &self.refresher
    }
}

/// What one event asks for.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Event {
    /// Read this device again.
    Device {
        /// `webhook.webhookEvent`.
        name: String,
        /// The serial number the event names.
        serial: String,
        /// Computers or mobile devices.
        family: DeviceMode,
    },
    /// An event about no one device: answered and ignored.
    Ignored {
        /// `webhook.webhookEvent`, at most 64 characters of it.
        name: String,
    },
}

/// Reads a Jamf Pro webhook event; the error says why it isn't one this route can use.
pub(crate) fn parse(body: &[u8]) -> Result<Event, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| format!("not a JSON Jamf Pro event: {err}"))?;
    let name = value
        .pointer("/webhook/webhookEvent")
        .and_then(Value::as_str)
        .ok_or("not a Jamf Pro event: no webhook.webhookEvent")?;
    let family = if COMPUTER_EVENTS.contains(&name) {
        DeviceMode::Computer
    } else if MOBILE_DEVICE_EVENTS.contains(&name) {
        DeviceMode::MobileDevice
    } else {
        return Ok(Event::Ignored {
            name: name.chars().take(64).collect(),
        });
    };
    let serial = ["/event/serialNumber", "/event/computer/serialNumber"]
        .into_iter()
        .filter_map(|pointer| value.pointer(pointer).and_then(Value::as_str))
        .map(str::trim)
        .find(|serial| !serial.is_empty())
        .ok_or_else(|| {
            format!("{name} event without event.serialNumber or event.computer.serialNumber")
        })?;
    Ok(Event::Device {
        name: name.to_owned(),
        serial: serial.to_owned(),
        family,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_serial_shapes_are_read() {
        let added =
            br#"{"webhook":{"id":1,"name":"n","webhookEvent":"ComputerAdded","eventTimestamp":1},
            "event":{"jssID":2,"serialNumber":"C02XL0GJJG5J","udid":"x"}}"#;
        assert_eq!(
            parse(added).unwrap(),
            Event::Device {
                name: "ComputerAdded".into(),
                serial: "C02XL0GJJG5J".into(),
                family: DeviceMode::Computer
            }
        );
        let inventory = br#"{"event":{"computer":{"serialNumber":" C02XL0GJJG5J ","jssID":2},
            "trigger":"CLIENT_CHECKIN","username":""},"webhook":{"webhookEvent":"ComputerInventoryCompleted"}}"#;
        assert!(matches!(
            parse(inventory).unwrap(),
            Event::Device { serial, family: DeviceMode::Computer, .. } if serial == "C02XL0GJJG5J"
        ));
        let mobile = br#"{"webhook":{"webhookEvent":"MobileDeviceUnEnrolled"},
            "event":{"serialNumber":"DMPXK2ABCD12","udid":"u"}}"#;
        assert!(matches!(
            parse(mobile).unwrap(),
            Event::Device {
                family: DeviceMode::MobileDevice,
                ..
            }
        ));
    }

    #[test]
    fn other_events_are_ignored_and_garbage_refused() {
        let group = br#"{"webhook":{"webhookEvent":"SmartGroupComputerMembershipChange"},
            "event":{"groupAddedDevicesIds":[7]}}"#;
        assert_eq!(
            parse(group).unwrap(),
            Event::Ignored {
                name: "SmartGroupComputerMembershipChange".into()
            }
        );
        let long = format!(r#"{{"webhook":{{"webhookEvent":"{}"}}}}"#, "x".repeat(500));
        assert!(
            matches!(parse(long.as_bytes()).unwrap(), Event::Ignored { name } if name.len() == 64)
        );
        for garbage in [
            &b""[..],
            b"<webhook/>",
            b"[]",
            b"null",
            b"{\"webhook\":{\"webhookEvent\":7}}",
            b"{\"event\":{\"serialNumber\":\"C02XL0GJJG5J\"}}",
        ] {
            assert!(
                parse(garbage).is_err(),
                "{:?}",
                String::from_utf8_lossy(garbage)
            );
        }
        let no_serial = br#"{"webhook":{"webhookEvent":"ComputerCheckIn"},"event":{"computer":{"serialNumber":""}}}"#;
        assert!(parse(no_serial).unwrap_err().contains("ComputerCheckIn"));
        let not_text =
            br#"{"webhook":{"webhookEvent":"MobileDeviceCheckIn"},"event":{"serialNumber":5}}"#;
        assert!(parse(not_text).is_err());
    }

    #[derive(Debug)]
    struct Nothing;

    impl DeviceRefresher for Nothing {
        fn refresh<'a>(
            &'a self,
            _: &'a str,
            _: DeviceMode,
        ) -> posture_core::BoxFuture<'a, Result<(), posture_core::ProviderError>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_secret_is_the_basic_password_or_a_bearer_token() {
        let events = JamfEvents::new("correct horse battery", Arc::new(Nothing));
        let basic = |user_pass: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(user_pass)
            )
        };
        assert!(events.authenticates(&with(&basic("jamf:correct horse battery"))));
        assert!(events.authenticates(&with(&basic(":correct horse battery"))));
        assert!(events.authenticates(&with("Bearer correct horse battery")));
        assert!(events.authenticates(&with("bearer   correct horse battery")));
        assert!(!events.authenticates(&with(&basic("jamf:wrong"))));
        assert!(!events.authenticates(&with(&basic("correct horse battery"))));
        assert!(!events.authenticates(&with("Bearer wrong")));
        assert!(!events.authenticates(&with("Basic !!!")));
        assert!(!events.authenticates(&with("correct horse battery")));
        assert!(!events.authenticates(&HeaderMap::new()));
        let mut twice = with("Bearer correct horse battery");
        twice.append(
            http::header::AUTHORIZATION,
            "Bearer correct horse battery".parse().unwrap(),
        );
        assert!(!events.authenticates(&twice));
    }
}
