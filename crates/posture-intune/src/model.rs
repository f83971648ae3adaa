//! Microsoft Graph's JSON shapes, read leniently, and the enrichment data.
//!
//! Lenient means: unknown keys are ignored, and a missing or `null` property is empty. What
//! is not lenient: a body that is not JSON, or lacks the collection's `value` array, is an
//! error.

use posture_core::Enrichment;
use posture_http::lenient::deserialize_text as text;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The properties asked for with `$select` (never `activationLockBypassCode`).
pub(crate) const SELECT: &str = "id,deviceName,serialNumber,complianceState,managementAgent,\
lastSyncDateTime,userId,userPrincipalName,userDisplayName,emailAddress,azureADDeviceId,\
operatingSystem,osVersion,managedDeviceOwnerType,model,manufacturer";

/// A page of a Graph collection: `{"value":[…],"@odata.nextLink":"…"}`.
#[derive(Deserialize)]
pub(crate) struct Collection<T> {
    pub(crate) value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default, deserialize_with = "text")]
    pub(crate) next_link: String,
}

/// An Intune `managedDevice`, with the properties in [`SELECT`].
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ManagedDevice {
    #[serde(deserialize_with = "text")]
    pub(crate) id: String,
    #[serde(deserialize_with = "text")]
    pub(crate) device_name: String,
    #[serde(deserialize_with = "text")]
    pub(crate) serial_number: String,
    #[serde(deserialize_with = "text")]
    pub(crate) compliance_state: String,
    #[serde(deserialize_with = "text")]
    pub(crate) management_agent: String,
    #[serde(deserialize_with = "text")]
    pub(crate) last_sync_date_time: String,
    #[serde(deserialize_with = "text")]
    pub(crate) user_id: String,
    #[serde(deserialize_with = "text")]
    pub(crate) user_principal_name: String,
    #[serde(deserialize_with = "text")]
    pub(crate) user_display_name: String,
    #[serde(deserialize_with = "text")]
    pub(crate) email_address: String,
    #[serde(rename = "azureADDeviceId", deserialize_with = "text")]
    pub(crate) azure_ad_device_id: String,
    #[serde(deserialize_with = "text")]
    pub(crate) operating_system: String,
    #[serde(deserialize_with = "text")]
    pub(crate) os_version: String,
    #[serde(deserialize_with = "text")]
    pub(crate) managed_device_owner_type: String,
    #[serde(deserialize_with = "text")]
    pub(crate) model: String,
    #[serde(deserialize_with = "text")]
    pub(crate) manufacturer: String,
}

impl ManagedDevice {
    /// When the device last checked in; `None` when missing or unreadable, which ranks
    /// below any real time.
    pub(crate) fn last_sync(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(self.last_sync_date_time.trim(), &Rfc3339).ok()
    }

    /// The Entra ID device ID, when the device is registered: empty and all-zero GUIDs mean
    /// it is not. Only GUIDs are returned, so the value can go into a filter.
    pub(crate) fn entra_device_id(&self) -> Option<String> {
        let id = self.azure_ad_device_id.trim().to_ascii_lowercase();
        let registered =
            posture_http::env::is_guid(&id) && id.bytes().any(|b| b != b'0' && b != b'-');
        registered.then_some(id)
    }

    /// The enrichment data (documented in the crate root):
    /// `{"device":{…},"user":{…}}`.
    pub(crate) fn enrichment(&self) -> Enrichment {
        let value = json!({
            "device": {
                "id": self.id,
                "name": self.device_name,
                "serial_number": self.serial_number,
                "operating_system": self.operating_system,
                "os_version": self.os_version,
                "model": self.model,
                "manufacturer": self.manufacturer,
                "ownership": self.managed_device_owner_type,
                "compliance_state": self.compliance_state,
                "management_agent": self.management_agent,
                "last_sync": self.last_sync_date_time,
                "azure_ad_device_id": self.azure_ad_device_id,
            },
            "user": {
                "id": self.user_id,
                "upn": self.user_principal_name,
                "email": self.email_address,
                "display_name": self.user_display_name,
            },
        });
        posture_http::provider::enrichment(value)
    }
}

/// Which of several records for one serial counts: the most recently synced. Records
/// without a readable `lastSyncDateTime` rank last; among equals, Graph's order wins.
pub(crate) fn most_recent(devices: Vec<ManagedDevice>) -> Option<ManagedDevice> {
    most_recent_by(devices, |device| device)
}

/// [`most_recent`] among items that each carry a record (the inventory sync's).
pub(crate) fn most_recent_by<T>(items: Vec<T>, record: impl Fn(&T) -> &ManagedDevice) -> Option<T> {
    let mut best: Option<(Option<OffsetDateTime>, T)> = None;
    for item in items {
        let synced = record(&item).last_sync();
        match &best {
            Some((best_sync, _)) if synced <= *best_sync => {}
            _ => best = Some((synced, item)),
        }
    }
    best.map(|(_, item)| item)
}

/// An Entra ID `device` object, as `GET /devices?$filter=deviceId eq '…'` returns it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct EntraDevice {
    #[serde(deserialize_with = "text")]
    pub(crate) id: String,
    #[serde(deserialize_with = "text")]
    pub(crate) device_id: String,
}

/// `checkMemberGroups`' answer: the group IDs, of those asked, the object is a member of.
#[derive(Deserialize)]
pub(crate) struct MemberGroups {
    pub(crate) value: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, last_sync: &str) -> ManagedDevice {
        ManagedDevice {
            id: id.to_owned(),
            last_sync_date_time: last_sync.to_owned(),
            ..ManagedDevice::default()
        }
    }

    #[test]
    fn picks_the_most_recently_synced_record() {
        let picked = most_recent(vec![
            device("old", "2024-01-01T00:00:00Z"),
            device("new", "2024-03-01T09:00:00.1234567+01:00"),
            device("unreadable", "yesterday"),
            device("never", "0001-01-01T00:00:00Z"),
        ])
        .unwrap();
        assert_eq!(picked.id, "new");
        // Offsets count: 08:30Z is later than 09:00+01:00.
        let picked = most_recent(vec![
            device("a", "2024-03-01T09:00:00+01:00"),
            device("b", "2024-03-01T08:30:00Z"),
        ])
        .unwrap();
        assert_eq!(picked.id, "b");
        let picked = most_recent(vec![device("first", ""), device("second", "")]).unwrap();
        assert_eq!(picked.id, "first");
        assert!(most_recent(Vec::new()).is_none());
    }

    #[test]
    fn entra_ids_must_be_real_guids() {
        let mut d = ManagedDevice::default();
        for (given, expected) in [
            ("", None),
            ("00000000-0000-0000-0000-000000000000", None),
            ("x' or 1 eq 1", None),
            (
                "0F0F0F0F-1111-2222-3333-444444444444",
                Some("0f0f0f0f-1111-2222-3333-444444444444"),
            ),
        ] {
            d.azure_ad_device_id = given.to_owned();
            assert_eq!(d.entra_device_id().as_deref(), expected, "{given:?}");
        }
    }

    #[test]
    fn reads_graph_leniently() {
        let page: Collection<ManagedDevice> = serde_json::from_str(
            r#"{"@odata.context":"x","value":[{"id":"1","serialNumber":"C02","deviceName":null,"isEncrypted":true,"userId":7}]}"#,
        )
        .unwrap();
        assert_eq!(page.value[0].serial_number, "C02");
        assert_eq!(page.value[0].device_name, "");
        assert_eq!(page.value[0].user_id, "7");
        assert!(page.next_link.is_empty());
        assert!(serde_json::from_str::<Collection<ManagedDevice>>(r#"{"error":"x"}"#).is_err());
    }
}
