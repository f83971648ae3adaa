//! Addigy's API v2 shapes, read leniently, and the enrichment data.
//!
//! `POST /api/v2/devices` answers `{"items":[…],"metadata":{"page","per_page","page_count",
//! "total"}}`; each item carries `agentid` and `facts`, each fact a `{"value": …}` object (a
//! bare value is accepted too). Fact names beyond `serial_number` and `device_name` are not
//! documented firmly: several spellings are read (see [`Device::from_value`]).

use posture_core::Enrichment;
use posture_http::Serial;
use posture_http::lenient::{flag, strings, text};
use serde_json::{Value, json};

/// A device of `POST /api/v2/devices`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct Device {
    pub(crate) agent_id: String,
    pub(crate) serial_number: String,
    pub(crate) device_name: String,
    pub(crate) model: String,
    pub(crate) os_version: String,
    pub(crate) user_email: String,
    pub(crate) is_compliant: Option<bool>,
    pub(crate) has_mdm: Option<bool>,
    pub(crate) policy_ids: Vec<String>,
    pub(crate) policy_names: Vec<String>,
}

/// The first of `names` that `facts` (or the item itself) has, not empty.
fn first<'a>(item: &'a Value, names: &[&str]) -> Option<&'a Value> {
    let facts = item.get("facts");
    names.iter().find_map(|name| {
        [facts.and_then(|f| f.get(name)), item.get(name)]
            .into_iter()
            .flatten()
            .find(|v| !text(v).trim().is_empty() || v.is_array() || flag(v).is_some())
    })
}

/// Every string the facts (and the item) hold under any of `names`, lists flattened; a list
/// of `{"id","name"}` objects gives their `key`.
fn all(item: &Value, names: &[&str], key: &str) -> Vec<String> {
    let facts = item.get("facts");
    let mut found = Vec::new();
    for name in names {
        for value in [facts.and_then(|f| f.get(name)), item.get(name)]
            .into_iter()
            .flatten()
        {
            let value = value.get("value").unwrap_or(value);
            match value {
                Value::Array(items) if items.iter().any(Value::is_object) => found.extend(
                    items
                        .iter()
                        .filter_map(|i| i.get(key))
                        .map(text)
                        .filter(|t| !t.is_empty()),
                ),
                Value::Object(map) => {
                    if let Some(v) = map.get(key) {
                        found.push(text(v));
                    }
                }
                other => found.extend(strings(other)),
            }
        }
    }
    found.retain(|f| !f.trim().is_empty());
    found.dedup();
    found
}

impl Device {
    /// Reads one item. Facts read, each under the first name present:
    /// serial `serial_number` (also `device_serial_number`); name `device_name`; model
    /// `device_model_name` (also `hardware_model`, `product_name`); OS `os_version`; user
    /// `identity_email` (also `user_email`, `assigned_user`); compliance `is_compliant`;
    /// MDM `has_mdm`; policies `policy_id`/`policy_ids`/`policies` (IDs, or objects with
    /// `id` and `name`) and `policy_name`/`policy_names`, as facts or item keys.
    pub(crate) fn from_value(item: &Value) -> Self {
        let one = |names: &[&str]| first(item, names).map(text).unwrap_or_default();
        Self {
            agent_id: one(&["agentid", "agent_id", "id"]),
            serial_number: one(&["serial_number", "device_serial_number"]),
            device_name: one(&["device_name"]),
            model: one(&["device_model_name", "hardware_model", "product_name"]),
            os_version: one(&["os_version"]),
            user_email: one(&["identity_email", "user_email", "assigned_user"]),
            is_compliant: first(item, &["is_compliant"]).and_then(flag),
            has_mdm: first(item, &["has_mdm"]).and_then(flag),
            policy_ids: all(item, &["policy_id", "policy_ids", "policies"], "id"),
            policy_names: all(item, &["policy_name", "policy_names", "policies"], "name"),
        }
    }

    /// Whether the record is `serial`'s: its `serial_number` fact, trimmed, equals it
    /// ignoring case (the search filter may not be applied, so every record is compared).
    pub(crate) fn has_serial(&self, serial: &Serial) -> bool {
        self.serial_number
            .trim()
            .eq_ignore_ascii_case(serial.as_str())
    }

    /// Whether the device is in the policy `wanted`: an ID (any case) or a name (exactly).
    pub(crate) fn in_policy(&self, wanted: &str) -> bool {
        self.policy_ids
            .iter()
            .any(|id| id.trim().eq_ignore_ascii_case(wanted))
            || self.policy_names.iter().any(|name| name == wanted)
    }

    /// The enrichment data (documented in the crate root).
    pub(crate) fn enrichment(&self) -> Enrichment {
        let value = json!({
            "device": {
                "id": self.agent_id,
                "name": self.device_name,
                "serial_number": self.serial_number,
                "model": self.model,
                "os_version": self.os_version,
            },
            "user": {"email": self.user_email},
            "policies": {"ids": self.policy_ids, "names": self.policy_names},
            "compliant": self.is_compliant.map_or_else(String::new, |c| c.to_string()),
        });
        posture_http::provider::enrichment(value)
    }
}

/// One page of the device search.
#[derive(Debug, Default, Eq, PartialEq)]
pub(crate) struct Page {
    pub(crate) devices: Vec<Device>,
    /// `metadata.page_count`, when given.
    pub(crate) page_count: Option<u64>,
}

/// Reads an answer of `POST /api/v2/devices`. `Err` says what was wrong.
pub(crate) fn page(body: &Value) -> Result<Page, String> {
    let items = match body.get("items") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) => return Ok(Page::default()),
        Some(_) => return Err("\"items\" is not a list".to_owned()),
        None => return Err("no \"items\" list".to_owned()),
    };
    let page_count = body
        .get("metadata")
        .and_then(|m| m.get("page_count"))
        .map(text)
        .and_then(|t| t.trim().parse().ok());
    Ok(Page {
        devices: items
            .iter()
            .filter(|i| i.is_object())
            .map(Device::from_value)
            .collect(),
        page_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reads_the_documented_envelope_and_facts() {
        let body = parse(
            r#"{"items":[{"agentid":"114x11c3","facts":{"serial_number":{"value":"C02ABC123DEF"},
                "device_name":{"value":"Jasons-iMac"},"is_compliant":{"value":true},
                "device_model_name":{"value":"iMac"},"identity_email":{"value":"jason@x.io"},
                "policy_id":{"value":"5b5b"},"policy_name":{"value":"Staff Macs"},
                "has_mdm":{"value":"True"}}}],
                "metadata":{"page":1,"per_page":100,"page_count":1,"total":1}}"#,
        );
        let page = page(&body).unwrap();
        assert_eq!(page.page_count, Some(1));
        let d = &page.devices[0];
        assert_eq!(d.serial_number, "C02ABC123DEF");
        assert_eq!(d.is_compliant, Some(true));
        assert_eq!(d.has_mdm, Some(true));
        assert!(d.in_policy("5B5B") && d.in_policy("Staff Macs") && !d.in_policy("staff macs"));
        let data = d.enrichment().to_value();
        assert_eq!(data["user"]["email"], "jason@x.io");
        assert_eq!(data["compliant"], "true");
        assert_eq!(data["device"]["model"], "iMac");
    }

    #[test]
    fn accepts_bare_values_and_item_level_policies() {
        let body = parse(
            r#"{"items":[{"agentid":"a1","policy_id":"p-1","policies":[{"id":"p-2","name":"Parent"}],
                "facts":{"serial_number":"C02X","is_compliant":"false","user_email":"u@x.io"}}]}"#,
        );
        let d = &page(&body).unwrap().devices[0];
        assert_eq!(d.serial_number, "C02X");
        assert_eq!(d.is_compliant, Some(false));
        assert_eq!(d.user_email, "u@x.io");
        assert_eq!(d.policy_ids, ["p-1", "p-2"]);
        assert_eq!(d.policy_names, ["Parent"]);
        assert_eq!(d.has_mdm, None);
    }

    #[test]
    fn refuses_other_shapes() {
        assert!(page(&parse(r#"{"error":"nope"}"#)).is_err());
        assert!(page(&parse(r#"{"items":{}}"#)).is_err());
        assert_eq!(page(&parse(r#"{"items":null}"#)).unwrap(), Page::default());
        assert!(page(&parse(r#"{"items":[]}"#)).unwrap().devices.is_empty());
    }
}
