//! Mosyle's JSON shapes, read leniently, and the enrichment data.
//!
//! Every value may arrive as a string (`"1"`, `"0"`, `"1328"`); `tags` as a comma-separated
//! string or a list; `response` as an object (Mosyle Manager) or a list of objects (Mosyle
//! Business, and Manager's group list). A logical error comes as HTTP 200 with a `status`
//! other than `OK`, at the top or inside `response`.

use posture_core::Enrichment;
use posture_http::Serial;
use posture_http::lenient::{flag, strings, text};
use serde_json::{Value, json};

/// The status that means no device matched.
pub(crate) const DEVICES_NOTFOUND: &str = "DEVICES_NOTFOUND";

/// A device of `listdevices`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct Device {
    pub(crate) udid: String,
    pub(crate) serial_number: String,
    pub(crate) device_name: String,
    pub(crate) os: String,
    pub(crate) os_version: String,
    pub(crate) status: String,
    pub(crate) is_deleted: Option<bool>,
    pub(crate) asset_tag: String,
    pub(crate) user_id: String,
    pub(crate) user_name: String,
    pub(crate) user_email: String,
    pub(crate) user_type: String,
    pub(crate) tags: Vec<String>,
}

/// The statuses that mean the MDM profile is installed.
pub(crate) const MANAGED_STATUSES: [&str; 2] = ["INSTALLED", "ENROLLED"];

impl Device {
    fn from_value(value: &Value) -> Self {
        let field = |name: &str| value.get(name).map(text).unwrap_or_default();
        Self {
            udid: field("deviceudid"),
            serial_number: field("serial_number"),
            device_name: field("device_name"),
            os: field("os"),
            os_version: field("osversion"),
            status: field("status"),
            is_deleted: value.get("is_deleted").and_then(flag),
            asset_tag: field("asset_tag"),
            user_id: field("userid"),
            user_name: field("username"),
            user_email: field("useremail"),
            user_type: field("usertype"),
            tags: value.get("tags").map(strings).unwrap_or_default(),
        }
    }

    /// Whether the record is `serial`'s: its `serial_number`, trimmed, equals it ignoring case
    /// (the `serial_numbers` filter may be ignored, so every record returned is compared).
    pub(crate) fn has_serial(&self, serial: &Serial) -> bool {
        self.serial_number
            .trim()
            .eq_ignore_ascii_case(serial.as_str())
    }

    /// Whether Mosyle says the device is enrolled: `status` `INSTALLED` or `ENROLLED` (any
    /// case), and not deleted.
    pub(crate) fn is_managed(&self) -> bool {
        self.is_deleted != Some(true)
            && MANAGED_STATUSES
                .iter()
                .any(|s| self.status.trim().eq_ignore_ascii_case(s))
    }

    /// The enrichment data (documented in the crate root).
    pub(crate) fn enrichment(&self) -> Enrichment {
        let value = json!({
            "device": {
                "udid": self.udid,
                "name": self.device_name,
                "serial_number": self.serial_number,
                "os": self.os,
                "os_version": self.os_version,
                "asset_tag": self.asset_tag,
            },
            "user": {
                "id": self.user_id,
                "name": self.user_name,
                "email": self.user_email,
                "type": self.user_type,
            },
            "tags": self.tags,
        });
        posture_http::provider::enrichment(value)
    }
}

/// What a device list said.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum Listing {
    /// The devices returned (possibly none), and the page size Mosyle used.
    Devices {
        devices: Vec<Device>,
        page_size: Option<u64>,
        page: Option<u64>,
    },
    /// `DEVICES_NOTFOUND`.
    NotFound,
}

/// The `status` of a body or a `response` element, and its `info`, when not `OK`.
fn refusal(value: &Value) -> Option<String> {
    let status = value.get("status").map(text)?;
    if status.eq_ignore_ascii_case("OK") || status.is_empty() {
        return None;
    }
    Some(
        match value.get("info").map(text).filter(|i| !i.is_empty()) {
            Some(info) => format!("{status} ({info})"),
            None => status,
        },
    )
}

/// The `response` elements: the object itself, or each object of a list.
fn elements(body: &Value) -> Result<Vec<&Value>, String> {
    match body.get("response") {
        Some(Value::Object(_)) => Ok(body.get("response").into_iter().collect()),
        Some(Value::Array(items)) => Ok(items.iter().filter(|i| i.is_object()).collect()),
        Some(_) | None => Err("no \"response\" object".to_owned()),
    }
}

fn number(value: Option<&Value>) -> Option<u64> {
    value.map(text).and_then(|t| t.trim().parse().ok())
}

/// Reads the answer to `listdevices` (Manager) or `devices` (Business). `Err` carries what
/// was wrong: a body of another shape, or a status other than `OK` (`DEVICES_NOTFOUND`
/// aside, which is [`Listing::NotFound`]).
pub(crate) fn listing(body: &Value) -> Result<Listing, String> {
    if !body.is_object() {
        return Err("not a JSON object".to_owned());
    }
    let elements = elements(body);
    let statuses = std::iter::once(body).chain(elements.iter().flatten().copied());
    let mut refused = None;
    for value in statuses {
        match refusal(value) {
            Some(status) if status.starts_with(DEVICES_NOTFOUND) => return Ok(Listing::NotFound),
            Some(status) => refused = refused.or(Some(status)),
            None => {}
        }
    }
    if let Some(status) = refused {
        return Err(format!("status {status}"));
    }
    let elements = elements?;
    let mut devices = Vec::new();
    let (mut page_size, mut page) = (None, None);
    for element in elements {
        match element.get("devices") {
            Some(Value::Array(items)) => devices.extend(
                items
                    .iter()
                    .filter(|d| d.is_object())
                    .map(Device::from_value),
            ),
            Some(Value::Null) | None => {}
            Some(_) => return Err("\"devices\" is not a list".to_owned()),
        }
        page_size = page_size.or(number(element.get("page_size")));
        page = page.or(number(element.get("page")));
    }
    Ok(Listing::Devices {
        devices,
        page_size,
        page,
    })
}

/// A device group's ID and name.
pub(crate) type GroupEntry = (String, String);

/// The device groups of `listdevicegroups`, and the page size Mosyle used.
pub(crate) fn groups(body: &Value) -> Result<(Vec<GroupEntry>, Option<u64>), String> {
    if let Some(status) = refusal(body) {
        return Err(format!("status {status}"));
    }
    let mut found = Vec::new();
    let mut page_size = None;
    for element in elements(body)? {
        if let Some(status) = refusal(element) {
            return Err(format!("status {status}"));
        }
        if let Some(Value::Array(groups)) = element.get("groups") {
            found.extend(groups.iter().map(|g| {
                (
                    g.get("id").map(text).unwrap_or_default(),
                    g.get("name").map(text).unwrap_or_default(),
                )
            }));
        }
        page_size = page_size.or(number(element.get("page_size")));
    }
    Ok((found, page_size))
}

/// The UDIDs of `listdevicesbygroup` (`udids`, or `deviceudids` as
/// `listdevicegroupsdevices` names them).
pub(crate) fn group_udids(body: &Value) -> Result<Vec<String>, String> {
    if let Some(status) = refusal(body) {
        return Err(format!("status {status}"));
    }
    let mut udids = Vec::new();
    for element in elements(body)? {
        if let Some(status) = refusal(element) {
            return Err(format!("status {status}"));
        }
        for key in ["udids", "deviceudids"] {
            udids.extend(element.get(key).map(strings).unwrap_or_default());
        }
    }
    Ok(udids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reads_the_documented_manager_shape() {
        let body = parse(
            r#"{"status":"OK","response":{"devices":[{"deviceudid":"001D","total_disk":"256.0",
                "os":"mac","serial_number":"C02ABC123DEF","device_name":"Betty's MacBook",
                "osversion":"14.4.1","status":"ENROLLED","is_supervised":"1","userid":"betty",
                "useremail":"betty@school.org","username":"Betty Jackson","usertype":"STAFF",
                "tags":"staff,macs"}],"rows":"1","page_size":100,"page":1}}"#,
        );
        let Listing::Devices {
            devices,
            page_size,
            page,
        } = listing(&body).unwrap()
        else {
            panic!("not a listing");
        };
        assert_eq!((page_size, page), (Some(100), Some(1)));
        let d = &devices[0];
        assert!(d.is_managed());
        assert_eq!(d.tags, ["staff", "macs"]);
        assert_eq!(d.user_type, "STAFF");
        let data = d.enrichment().to_value();
        assert_eq!(data["user"]["email"], "betty@school.org");
        assert_eq!(data["device"]["os_version"], "14.4.1");
    }

    #[test]
    fn reads_the_business_list_wrapper_and_string_booleans() {
        let body = parse(
            r#"{"status":"OK","response":[{"devices":[{"serial_number":"X","status":"INSTALLED",
                "is_deleted":"1","tags":["a","b"]}],"rows":"1","page_size":"50","page":"0"}]}"#,
        );
        let Listing::Devices {
            devices, page_size, ..
        } = listing(&body).unwrap()
        else {
            panic!("not a listing");
        };
        assert_eq!(page_size, Some(50));
        assert_eq!(devices[0].is_deleted, Some(true));
        assert!(!devices[0].is_managed());
        assert_eq!(devices[0].tags, ["a", "b"]);
    }

    #[test]
    fn not_found_and_errors() {
        for body in [
            r#"{"status":"DEVICES_NOTFOUND"}"#,
            r#"{"status":"OK","response":{"status":"DEVICES_NOTFOUND","info":"No devices"}}"#,
            r#"{"status":"OK","response":[{"status":"DEVICES_NOTFOUND"}]}"#,
        ] {
            assert_eq!(listing(&parse(body)), Ok(Listing::NotFound), "{body}");
        }
        let empty = listing(&parse(r#"{"status":"OK","response":{"devices":[]}}"#)).unwrap();
        assert!(matches!(empty, Listing::Devices { devices, .. } if devices.is_empty()));
        let missing = listing(&parse(
            r#"{"status":"OK","response":[{"status":"MISSING_DATA","info":"Missing key: os"}]}"#,
        ))
        .unwrap_err();
        assert_eq!(missing, "status MISSING_DATA (Missing key: os)");
        assert!(listing(&parse("[]")).is_err());
        assert!(listing(&parse(r#"{"status":"OK"}"#)).is_err());
        assert!(listing(&parse(r#"{"status":"OK","response":{"devices":"x"}}"#)).is_err());
    }

    #[test]
    fn groups_and_members() {
        let body = parse(
            r#"{"status":"OK","response":[{"groups":[{"id":"210","name":"Staff Macs","device_numbers":"3"}],"rows":1,"page_size":50,"page":1}]}"#,
        );
        let (groups, page_size) = groups(&body).unwrap();
        assert_eq!(groups, [("210".to_owned(), "Staff Macs".to_owned())]);
        assert_eq!(page_size, Some(50));
        let body = parse(r#"{"status":"OK","response":{"group_name":"Class","udids":["A","B"]}}"#);
        assert_eq!(group_udids(&body).unwrap(), ["A", "B"]);
        assert!(group_udids(&parse(r#"{"status":"ACCESS_DENIED"}"#)).is_err());
    }
}
