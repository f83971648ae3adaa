//! Jamf's JSON shapes, read leniently, and the one device record both APIs turn into.
//!
//! Lenient means: unknown keys are ignored, a missing or `null` section or field is empty,
//! and a number where a string is expected is taken as its text. What is not lenient: a body
//! that is not JSON, or lacks the top-level key (`computer`, `mobile_device`, `results`),
//! is an error.

use posture_core::Enrichment;
use posture_core::ProviderError;
use posture_http::decode_json;
use posture_http::lenient::deserialize_text as text;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::client::SERVICE;
use crate::routes::Kind;
use serde_json::{Value, json};

/// What the provider needs to know about one device, from either API.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct Device {
    pub(crate) udid: String,
    pub(crate) serial_number: String,
    pub(crate) name: String,
    /// `None` when Jamf didn't say; only `Some(false)` denies.
    pub(crate) managed: Option<bool>,
    pub(crate) user: User,
    pub(crate) groups: Vec<String>,
}

#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct User {
    pub(crate) username: String,
    pub(crate) realname: String,
    pub(crate) email_address: String,
    pub(crate) position: String,
    /// The department name, when the API gave it.
    pub(crate) department: String,
    /// The department ID, when the API gave only that (Jamf Pro API computers).
    pub(crate) department_id: String,
}

impl Device {
    /// The Go version's enrichment shape, which step-ca templates read:
    /// `{"device":{"udid","serial_number","name"},"user":{"username","realname",
    /// "email_address","position","department"},"groups":[…]}`.
    pub(crate) fn enrichment(&self) -> Enrichment {
        let value = json!({
            "device": {
                "udid": self.udid,
                "serial_number": self.serial_number,
                "name": self.name,
            },
            "user": {
                "username": self.user.username,
                "realname": self.user.realname,
                "email_address": self.user.email_address,
                "position": self.user.position,
                "department": self.user.department,
            },
            "groups": self.groups,
        });
        posture_http::provider::enrichment(value)
    }

    pub(crate) fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

// ---- Classic API ------------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct ClassicComputerEnvelope {
    computer: ClassicComputer,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ClassicComputer {
    #[serde(deserialize_with = "or_default")]
    general: ClassicComputerGeneral,
    #[serde(deserialize_with = "or_default")]
    location: ClassicLocation,
    #[serde(deserialize_with = "or_default")]
    groups_accounts: ClassicGroupsAccounts,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ClassicComputerGeneral {
    #[serde(deserialize_with = "text")]
    udid: String,
    #[serde(deserialize_with = "text")]
    name: String,
    #[serde(deserialize_with = "text")]
    serial_number: String,
    #[serde(deserialize_with = "or_default")]
    remote_management: Managed,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Managed {
    #[serde(deserialize_with = "flag")]
    managed: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ClassicLocation {
    #[serde(deserialize_with = "text")]
    username: String,
    #[serde(deserialize_with = "text")]
    realname: String,
    #[serde(deserialize_with = "text")]
    email_address: String,
    #[serde(deserialize_with = "text")]
    position: String,
    #[serde(deserialize_with = "text")]
    department: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ClassicGroupsAccounts {
    computer_group_memberships: Value,
}

impl From<ClassicComputerEnvelope> for Device {
    fn from(envelope: ClassicComputerEnvelope) -> Self {
        let c = envelope.computer;
        Self {
            udid: c.general.udid,
            serial_number: c.general.serial_number,
            name: c.general.name,
            managed: c.general.remote_management.managed,
            user: c.location.into(),
            groups: group_names(&c.groups_accounts.computer_group_memberships),
        }
    }
}

impl From<ClassicLocation> for User {
    fn from(l: ClassicLocation) -> Self {
        Self {
            username: l.username,
            realname: l.realname,
            email_address: l.email_address,
            position: l.position,
            department: l.department,
            department_id: String::new(),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ClassicMobileEnvelope {
    mobile_device: ClassicMobile,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ClassicMobile {
    #[serde(deserialize_with = "or_default")]
    general: ClassicMobileGeneral,
    #[serde(deserialize_with = "or_default")]
    location: ClassicLocation,
    mobile_device_groups: Value,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ClassicMobileGeneral {
    #[serde(deserialize_with = "text")]
    udid: String,
    #[serde(deserialize_with = "text")]
    device_name: String,
    #[serde(deserialize_with = "text")]
    name: String,
    #[serde(deserialize_with = "text")]
    serial_number: String,
    #[serde(deserialize_with = "flag")]
    managed: Option<bool>,
}

impl From<ClassicMobileEnvelope> for Device {
    fn from(envelope: ClassicMobileEnvelope) -> Self {
        let m = envelope.mobile_device;
        // The Go version reads `device_name`; `name` is the same value in Jamf's examples.
        let name = if m.general.device_name.is_empty() {
            m.general.name
        } else {
            m.general.device_name
        };
        Self {
            udid: m.general.udid,
            serial_number: m.general.serial_number,
            name,
            managed: m.general.managed,
            user: m.location.into(),
            groups: group_names(&m.mobile_device_groups),
        }
    }
}

/// Group names from a Classic group list in any of the shapes seen: a list of names
/// (`["A","B"]`), a list of objects (`[{"id":1,"name":"A"}]`), or the XML-ish form with
/// `size` wrappers (`[{"size":1},{"mobile_device_group":{"id":1,"name":"A"}}]`,
/// `{"size":2,"computer_group":["A","B"]}`).
pub(crate) fn group_names(value: &Value) -> Vec<String> {
    let mut names = Vec::new();
    collect_group_names(value, &mut names, 0);
    names
}

fn collect_group_names(value: &Value, names: &mut Vec<String>, depth: usize) {
    // Real answers nest two or three levels; the bound only stops a hostile body.
    if depth > 8 {
        return;
    }
    match value {
        Value::String(name) => names.push(name.clone()),
        Value::Array(items) => {
            for item in items {
                collect_group_names(item, names, depth + 1);
            }
        }
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("name") {
                names.push(name.clone());
                return;
            }
            for (key, inner) in map {
                if key != "size" && key != "id" {
                    collect_group_names(inner, names, depth + 1);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

// ---- Jamf Pro API -----------------------------------------------------------------------

/// `ComputerInventorySearchResultsV3`, and the mobile devices' `MobileDeviceInventorySearchResults`.
#[derive(Deserialize)]
pub(crate) struct SearchResults<T> {
    /// Records across all pages; a sync reads pages until it has seen this many.
    #[serde(default, rename = "totalCount")]
    total_count: Option<u64>,
    results: Vec<T>,
}

impl<T> SearchResults<T> {
    /// `totalCount` (when Jamf sent it) and this page's records.
    pub(crate) fn into_page(self) -> (Option<u64>, Vec<T>) {
        (self.total_count, self.results)
    }
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ProComputer {
    #[serde(deserialize_with = "text")]
    udid: String,
    #[serde(deserialize_with = "or_default")]
    general: ProComputerGeneral,
    #[serde(deserialize_with = "or_default")]
    hardware: ProHardware,
    #[serde(deserialize_with = "or_default")]
    user_and_location: ProComputerUser,
    #[serde(deserialize_with = "or_default")]
    group_memberships: Vec<ProGroup>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ProComputerGeneral {
    #[serde(deserialize_with = "text")]
    name: String,
    #[serde(deserialize_with = "or_default")]
    remote_management: Managed,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ProHardware {
    #[serde(deserialize_with = "text")]
    serial_number: String,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ProComputerUser {
    #[serde(deserialize_with = "text")]
    username: String,
    #[serde(deserialize_with = "text")]
    realname: String,
    #[serde(deserialize_with = "text")]
    email: String,
    #[serde(deserialize_with = "text")]
    position: String,
    #[serde(deserialize_with = "text")]
    department_id: String,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ProGroup {
    #[serde(deserialize_with = "text")]
    group_name: String,
}

impl ProGroup {
    /// The groups' names, empty ones left out.
    fn names(groups: Vec<Self>) -> Vec<String> {
        groups
            .into_iter()
            .map(|g| g.group_name)
            .filter(|name| !name.is_empty())
            .collect()
    }
}

impl From<ProComputer> for Device {
    fn from(c: ProComputer) -> Self {
        Self {
            udid: c.udid,
            serial_number: c.hardware.serial_number,
            name: c.general.name,
            managed: c.general.remote_management.managed,
            user: User {
                username: c.user_and_location.username,
                realname: c.user_and_location.realname,
                email_address: c.user_and_location.email,
                position: c.user_and_location.position,
                department: String::new(),
                department_id: c.user_and_location.department_id,
            },
            groups: ProGroup::names(c.group_memberships),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ProMobile {
    #[serde(deserialize_with = "or_default")]
    general: ProMobileGeneral,
    #[serde(deserialize_with = "or_default")]
    hardware: ProHardware,
    #[serde(deserialize_with = "or_default")]
    user_and_location: ProMobileUser,
    #[serde(deserialize_with = "or_default")]
    groups: Vec<ProGroup>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ProMobileGeneral {
    #[serde(deserialize_with = "text")]
    udid: String,
    #[serde(deserialize_with = "text")]
    display_name: String,
    #[serde(deserialize_with = "flag")]
    managed: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ProMobileUser {
    #[serde(deserialize_with = "text")]
    username: String,
    #[serde(deserialize_with = "text")]
    real_name: String,
    #[serde(deserialize_with = "text")]
    email_address: String,
    #[serde(deserialize_with = "text")]
    position: String,
    #[serde(deserialize_with = "text")]
    department: String,
    #[serde(deserialize_with = "text")]
    department_id: String,
}

impl From<ProMobile> for Device {
    fn from(m: ProMobile) -> Self {
        Self {
            udid: m.general.udid,
            serial_number: m.hardware.serial_number,
            name: m.general.display_name,
            managed: m.general.managed,
            user: User {
                username: m.user_and_location.username,
                realname: m.user_and_location.real_name,
                email_address: m.user_and_location.email_address,
                position: m.user_and_location.position,
                department: m.user_and_location.department,
                department_id: m.user_and_location.department_id,
            },
            groups: ProGroup::names(m.groups),
        }
    }
}

/// `GET /api/v1/departments/{id}`, and each item of `GET /api/v1/departments`.
#[derive(Deserialize)]
pub(crate) struct Department {
    #[serde(default, deserialize_with = "text")]
    pub(crate) id: String,
    #[serde(deserialize_with = "text")]
    pub(crate) name: String,
}

// ---- lenient field readers --------------------------------------------------------------

/// A section that may be missing or `null`.
fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A yes/no field: `true`/`false`, `"true"`/`"false"`, 1/0; anything else unknown.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Bool(b) => Some(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        _ => None,
    })
}

/// A Jamf Pro API search answer of `kind`'s inventory: `totalCount` (when Jamf sent it) and
/// the records as devices.
pub(crate) fn pro_results(
    kind: Kind,
    request: &str,
    body: &[u8],
) -> Result<(Option<u64>, Vec<Device>), ProviderError> {
    fn page<T: DeserializeOwned + Into<Device>>(
        request: &str,
        body: &[u8],
    ) -> Result<(Option<u64>, Vec<Device>), ProviderError> {
        let (total, results) = decode_json::<SearchResults<T>>(SERVICE, request, body)?.into_page();
        Ok((total, results.into_iter().map(Into::into).collect()))
    }
    match kind {
        Kind::Computer => page::<ProComputer>(request, body),
        Kind::MobileDevice => page::<ProMobile>(request, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_computer_from_the_documented_shape() {
        let body = r#"{"computer":{"general":{"id":82,"name":"Test Machine","serial_number":"C02ABC123DEF",
            "udid":"000DF0BF-00FF-D00B-FA00-000F0DA0FE00","remote_management":{"managed":true,"management_username":"jamfadmin"}},
            "location":{"username":"test.user","realname":"Test User","real_name":"Test User","email_address":"test.user@example.com",
            "position":"Software Engineer","phone":"","department":"Engineering","building":"Boston","room":""},
            "groups_accounts":{"computer_group_memberships":["All Managed Clients","Compliant Macs"],"local_accounts":[]}}}"#;
        let device: Device = serde_json::from_str::<ClassicComputerEnvelope>(body)
            .unwrap()
            .into();
        assert_eq!(device.name, "Test Machine");
        assert_eq!(device.managed, Some(true));
        assert_eq!(device.user.department, "Engineering");
        assert_eq!(device.groups, ["All Managed Clients", "Compliant Macs"]);
        assert!(device.in_group("Compliant Macs"));
        assert!(!device.in_group("compliant macs"));
    }

    #[test]
    fn classic_mobile_with_numbers_nulls_and_size_wrappers() {
        let body = r#"{"mobile_device":{"general":{"id":1,"display_name":"Tinas iPad","device_name":"Tinas iPad",
            "name":"Tinas iPad","serial_number":"C02Q7KHTGFWF","udid":"270aae10800b6e61a2ee2bbc285eb967050b5984","managed":true},
            "location":{"username":"JBetty","realname":"Betty Jackson","email_address":"jbetty@company.com","position":null,
            "department":"Sales Staff","room":1159},
            "mobile_device_groups":[{"size":2},{"mobile_device_group":{"id":1,"name":"All Managed iPads"}},
            {"mobile_device_group":{"id":2,"name":"Compliant"}}]}}"#;
        let device: Device = serde_json::from_str::<ClassicMobileEnvelope>(body)
            .unwrap()
            .into();
        assert_eq!(device.name, "Tinas iPad");
        assert_eq!(device.user.position, "");
        assert_eq!(device.groups, ["All Managed iPads", "Compliant"]);
    }

    #[test]
    fn group_list_shapes() {
        for (value, expected) in [
            (json!(["A", "B"]), vec!["A", "B"]),
            (
                json!([{"id": 1, "name": "A"}, {"id": 2, "name": "B"}]),
                vec!["A", "B"],
            ),
            (
                json!([{"size": 1, "mobile_device_group": {"id": 1, "name": "A"}}]),
                vec!["A"],
            ),
            (
                json!({"size": 2, "computer_group": ["A", "B"]}),
                vec!["A", "B"],
            ),
            (json!({"size": 0}), vec![]),
            (json!(null), vec![]),
            (json!([]), vec![]),
        ] {
            assert_eq!(group_names(&value), expected, "{value}");
        }
    }

    #[test]
    fn a_missing_envelope_is_an_error() {
        assert!(serde_json::from_str::<ClassicComputerEnvelope>("{}").is_err());
        assert!(serde_json::from_str::<ClassicMobileEnvelope>(r#"{"computer":{}}"#).is_err());
        assert!(serde_json::from_str::<SearchResults<ProComputer>>(r#"{"totalCount":0}"#).is_err());
        assert!(serde_json::from_str::<ClassicComputerEnvelope>(r#"{"computer":null}"#).is_err());
        let empty: ClassicComputerEnvelope = serde_json::from_str(r#"{"computer":{}}"#).unwrap();
        assert_eq!(Device::from(empty).managed, None);
    }

    #[test]
    fn pro_shapes() {
        let body = r#"{"totalCount":1,"results":[{"id":"1","udid":"123","general":{"name":"Boalime",
            "remoteManagement":{"managed":false}},"hardware":{"serialNumber":"C02ZC2QYLVDL"},
            "userAndLocation":{"username":"madison","realname":"Madison Anderson","email":"m@example.com",
            "position":"IT Team Lead","departmentId":"1"},"groupMemberships":[{"groupId":"1","groupName":"groupOne","smartGroup":true}]}]}"#;
        let mut results = serde_json::from_str::<SearchResults<ProComputer>>(body)
            .unwrap()
            .into_page()
            .1;
        assert_eq!(results[0].hardware.serial_number, "C02ZC2QYLVDL");
        let device = Device::from(results.remove(0));
        assert_eq!(device.managed, Some(false));
        assert_eq!(device.user.department_id, "1");
        assert_eq!(device.groups, ["groupOne"]);

        let body = r#"{"totalCount":1,"results":[{"mobileDeviceId":"1","deviceType":"iOS","general":{"udid":"0dad",
            "displayName":"Banezicron","managed":true},"hardware":{"serialNumber":"DMPXK2ABCD"},
            "userAndLocation":{"username":"admin","realName":"IT Bob","emailAddress":"ITBob@jamf.com",
            "position":"IT Team Lead","departmentId":"1","department":"Department 1"},
            "groups":[{"groupId":"1","groupName":"Test Group","smart":false}]}]}"#;
        let mut results = serde_json::from_str::<SearchResults<ProMobile>>(body)
            .unwrap()
            .into_page()
            .1;
        let device = Device::from(results.remove(0));
        assert_eq!(device.name, "Banezicron");
        assert_eq!(device.user.realname, "IT Bob");
        assert_eq!(device.user.department, "Department 1");
    }

    #[test]
    fn enrichment_has_the_go_shape() {
        let device = Device {
            udid: "U".into(),
            serial_number: "S".into(),
            name: "N".into(),
            managed: Some(true),
            user: User {
                username: "u".into(),
                realname: "r".into(),
                email_address: "e".into(),
                position: "p".into(),
                department: "d".into(),
                department_id: "7".into(),
            },
            groups: vec!["G".into()],
        };
        assert_eq!(
            device.enrichment().to_value(),
            json!({
                "device": {"udid": "U", "serial_number": "S", "name": "N"},
                "user": {"username": "u", "realname": "r", "email_address": "e", "position": "p", "department": "d"},
                "groups": ["G"],
            })
        );
    }
}
