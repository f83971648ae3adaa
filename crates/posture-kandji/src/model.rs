//! Kandji's JSON shapes, read leniently, and the enrichment data.
//!
//! Lenient means: unknown keys are ignored; a missing or `null` field is empty; booleans may
//! be JSON booleans or Kandji's strings (`"True"`, `"False"`); `user` may be an object or the
//! empty string `""` (no user assigned). What is not lenient: a body that is neither a JSON
//! array of devices nor a single device object is an error.

use posture_core::Enrichment;
use posture_http::lenient::deserialize_text as text;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A device of `GET /api/v1/devices`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(default)]
pub(crate) struct Device {
    #[serde(deserialize_with = "text")]
    pub(crate) device_id: String,
    #[serde(deserialize_with = "text")]
    pub(crate) device_name: String,
    #[serde(deserialize_with = "text")]
    pub(crate) model: String,
    #[serde(deserialize_with = "text")]
    pub(crate) serial_number: String,
    #[serde(deserialize_with = "text")]
    pub(crate) platform: String,
    #[serde(deserialize_with = "text")]
    pub(crate) os_version: String,
    #[serde(deserialize_with = "text")]
    pub(crate) last_check_in: String,
    #[serde(deserialize_with = "user")]
    pub(crate) user: User,
    #[serde(deserialize_with = "text")]
    pub(crate) asset_tag: String,
    #[serde(deserialize_with = "text")]
    pub(crate) blueprint_id: String,
    #[serde(deserialize_with = "text")]
    pub(crate) blueprint_name: String,
    #[serde(deserialize_with = "flag")]
    pub(crate) mdm_enabled: Option<bool>,
    #[serde(deserialize_with = "flag")]
    pub(crate) agent_installed: Option<bool>,
    #[serde(deserialize_with = "flag")]
    pub(crate) is_missing: Option<bool>,
    #[serde(deserialize_with = "flag")]
    pub(crate) is_removed: Option<bool>,
    #[serde(deserialize_with = "tags")]
    pub(crate) tags: Vec<String>,
}

/// The assigned user; every field empty when none is assigned (`"user": ""`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(default)]
pub(crate) struct User {
    #[serde(deserialize_with = "text")]
    pub(crate) id: String,
    #[serde(deserialize_with = "text")]
    pub(crate) name: String,
    #[serde(deserialize_with = "text")]
    pub(crate) email: String,
}

impl Device {
    pub(crate) fn is_mac(&self) -> bool {
        self.platform.eq_ignore_ascii_case("Mac")
    }

    fn last_check_in(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(self.last_check_in.trim(), &Rfc3339).ok()
    }

    /// The enrichment data (documented in the crate root).
    pub(crate) fn enrichment(&self) -> Enrichment {
        let value = json!({
            "device": {
                "id": self.device_id,
                "name": self.device_name,
                "serial_number": self.serial_number,
                "model": self.model,
                "platform": self.platform,
                "os_version": self.os_version,
                "asset_tag": self.asset_tag,
                "last_check_in": self.last_check_in,
            },
            "blueprint": {
                "id": self.blueprint_id,
                "name": self.blueprint_name,
            },
            "user": {
                "id": self.user.id,
                "name": self.user.name,
                "email": self.user.email,
            },
            "tags": self.tags,
        });
        posture_http::provider::enrichment(value)
    }
}

/// The devices of an answer: Kandji's list is a JSON array; one of its documented examples
/// shows a bare object, which is accepted as a list of one. Anything else is `None`.
pub(crate) fn devices(body: &Value) -> Option<Result<Vec<Device>, serde_json::Error>> {
    match body {
        Value::Array(_) => Some(Vec::<Device>::deserialize(body)),
        Value::Object(map) if map.contains_key("serial_number") => {
            Some(Device::deserialize(body).map(|device| vec![device]))
        }
        _ => None,
    }
}

/// Which of several records for one serial counts: one that is not removed, then the most
/// recent `last_check_in`; among equals, Kandji's order wins.
pub(crate) fn current(devices: Vec<Device>) -> Option<Device> {
    let rank = |d: &Device| (d.is_removed != Some(true), d.last_check_in());
    let mut best: Option<Device> = None;
    for device in devices {
        match &best {
            Some(b) if rank(&device) <= rank(b) => {}
            _ => best = Some(device),
        }
    }
    best
}

/// A boolean: JSON `true`/`false`, or Kandji's strings `"True"`/`"False"` (any case), or
/// `1`/`0`. Anything else (`null`, `""`) is unknown.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Bool(b) => Some(b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_u64().and_then(|n| match n {
            1 => Some(true),
            0 => Some(false),
            _ => None,
        }),
        _ => None,
    })
}

/// The user object, or nobody for `""`, `null` or anything else.
fn user<'de, D: Deserializer<'de>>(deserializer: D) -> Result<User, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::Object(_) => User::deserialize(value).unwrap_or_default(),
        _ => User::default(),
    })
}

/// Tags as strings; anything that isn't a list is none.
fn tags<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_shapes() {
        let body: Value = serde_json::from_str(
            r#"[{"device_id":"03f8","serial_number":"FVHHFKF7Q6L4","platform":"Mac",
                 "user":{"email":"a@x.io","name":"A","id":"5344","is_archived":false},
                 "mdm_enabled":true,"agent_installed":"True","is_removed":"False","is_missing":"True",
                 "tags":["t1",2,null],"blueprint_name":"main hive","asset_tag":null},
                {"serial_number":"DMP","platform":"iPhone","user":"","mdm_enabled":"false",
                 "agent_installed":null}]"#,
        )
        .unwrap();
        let list = devices(&body).unwrap().unwrap();
        assert_eq!(list[0].user.email, "a@x.io");
        assert_eq!(list[0].agent_installed, Some(true));
        assert_eq!(list[0].is_removed, Some(false));
        assert_eq!(list[0].is_missing, Some(true));
        assert_eq!(list[0].tags, ["t1", "2"]);
        assert!(list[0].is_mac());
        assert_eq!(list[1].user, User::default());
        assert_eq!(list[1].mdm_enabled, Some(false));
        assert_eq!(list[1].agent_installed, None);

        let one: Value = serde_json::from_str(r#"{"serial_number":"X","user":""}"#).unwrap();
        assert_eq!(devices(&one).unwrap().unwrap().len(), 1);
        let wrong: Value = serde_json::from_str(r#"{"detail":"Not found."}"#).unwrap();
        assert!(devices(&wrong).is_none());
        let bad: Value = serde_json::from_str("[1,2]").unwrap();
        assert!(devices(&bad).unwrap().is_err());
    }

    #[test]
    fn prefers_live_and_recent_records() {
        let record = |id: &str, removed: bool, check_in: &str| Device {
            device_id: id.to_owned(),
            is_removed: Some(removed),
            last_check_in: check_in.to_owned(),
            ..Device::default()
        };
        let picked = current(vec![
            record("removed-recent", true, "2024-09-01T00:00:00Z"),
            record("old", false, "2024-01-01T00:00:00Z"),
            record("recent", false, "2024-07-23T14:11:37.150080Z"),
        ])
        .unwrap();
        assert_eq!(picked.device_id, "recent");
        let picked = current(vec![record("only", true, "")]).unwrap();
        assert_eq!(picked.device_id, "only");
        assert!(current(Vec::new()).is_none());
    }
}
