//! Fleet's host JSON, read leniently, and the enrichment data.
//!
//! Lenient means: unknown keys are ignored; a missing or `null` field is empty; ids may be
//! numbers or strings; the team may be called `team_*` or, since Fleet's 2026 rename,
//! `fleet_*` (answers carry both during the transition; the `fleet_*` pair is read first);
//! the end user's address may be `idp_username` or `idp_email`. What is not lenient: a body
//! without a `host` object is an error.

use posture_core::Enrichment;
use serde_json::{Map, Value, json};

/// The parts of a host the decision and the enrichment use.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct Host {
    pub(crate) id: String,
    pub(crate) hardware_serial: String,
    pub(crate) uuid: String,
    pub(crate) name: String,
    pub(crate) hostname: String,
    pub(crate) platform: String,
    pub(crate) os_version: String,
    /// `None` for a host in no team.
    pub(crate) team: Option<(String, String)>,
    pub(crate) enrollment_status: String,
    pub(crate) connected_to_fleet: Option<bool>,
    pub(crate) labels: Vec<(String, String)>,
    /// id, name, response (`"pass"`, `"fail"`, `""` when not yet run).
    pub(crate) policies: Vec<(String, String, String)>,
    pub(crate) failing_policies_count: Option<u64>,
    pub(crate) user_email: String,
    pub(crate) user_name: String,
}

/// Reads the answer of `GET /api/v1/fleet/hosts/identifier/{id}`: `{"host": {…}}`.
pub(crate) fn host(body: &Value) -> Option<Host> {
    Some(record(body.get("host")?.as_object()?))
}

/// Reads one host object: the detail's `host`, or an item of list hosts' `hosts`.
pub(crate) fn record(host: &Map<String, Value>) -> Host {
    let get_text = |key: &str| host.get(key).map(text).unwrap_or_default();
    let mdm = host.get("mdm").and_then(Value::as_object);
    let mdm_text = |key: &str| mdm.and_then(|m| m.get(key)).map(text).unwrap_or_default();
    let team = ["fleet", "team"].iter().find_map(|prefix| {
        let id = host
            .get(&format!("{prefix}_id"))
            .map(text)
            .unwrap_or_default();
        let name = host
            .get(&format!("{prefix}_name"))
            .map(text)
            .unwrap_or_default();
        (!id.is_empty() || !name.is_empty()).then_some((id, name))
    });
    let objects = |key: &str| -> Vec<&Map<String, Value>> {
        host.get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default()
    };
    let field =
        |object: &Map<String, Value>, key: &str| object.get(key).map(text).unwrap_or_default();
    let labels = objects("labels")
        .into_iter()
        .map(|l| (field(l, "id"), field(l, "name")))
        .collect();
    let policies = objects("policies")
        .into_iter()
        .map(|p| (field(p, "id"), field(p, "name"), field(p, "response")))
        .collect();
    let failing_policies_count = host
        .get("issues")
        .and_then(|i| i.get("failing_policies_count"))
        .and_then(Value::as_u64);
    let end_user = objects("end_users").into_iter().next();
    let mut user_email = end_user.map(end_user_email).unwrap_or_default();
    if user_email.is_empty() {
        user_email = mapping_email(host);
    }
    let user_name = end_user
        .map(|u| field(u, "idp_full_name"))
        .unwrap_or_default();
    let name = ["display_name", "computer_name", "hostname"]
        .iter()
        .map(|k| text(host.get(*k).unwrap_or(&Value::Null)))
        .find(|n| !n.is_empty())
        .unwrap_or_default();
    Host {
        id: get_text("id"),
        hardware_serial: get_text("hardware_serial"),
        uuid: get_text("uuid"),
        name,
        hostname: get_text("hostname"),
        platform: get_text("platform"),
        os_version: get_text("os_version"),
        team,
        enrollment_status: mdm_text("enrollment_status"),
        connected_to_fleet: mdm
            .and_then(|m| m.get("connected_to_fleet"))
            .and_then(Value::as_bool),
        labels,
        policies,
        failing_policies_count,
        user_email,
        user_name,
    }
}

/// The keys of a host object that a decision or the enrichment reads and that list hosts
/// carries only when asked (`populate_labels`, `populate_policies`, `populate_users`,
/// `device_mapping`), or not at all in Fleet versions older than the parameter.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct Needs {
    /// `labels`: `FLEET_LABELS` or the enrichment.
    pub(crate) labels: bool,
    /// `policies`: `FLEET_POLICIES`.
    pub(crate) policies: bool,
    /// `issues.failing_policies_count`: the enrichment, or `FLEET_POLICIES=*` for a host
    /// without policies.
    pub(crate) issues: bool,
    /// `end_users` (and `device_mapping` when they name no e-mail): the enrichment.
    pub(crate) users: bool,
}

/// Why a listed host can't be decided as its live lookup would be, if it can't: a key the
/// decision needs that the list left out, or an e-mail only `device_mapping` names (the
/// enrichment's user then depends on whether the host detail carries `device_mapping`,
/// which current Fleet versions leave out of it).
pub(crate) fn unlike_detail(host: &Map<String, Value>, needs: Needs) -> Option<&'static str> {
    let has = |key: &str| host.contains_key(key);
    if !host.get("mdm").is_some_and(Value::is_object) {
        return Some("mdm");
    }
    if needs.labels && !has("labels") {
        return Some("labels");
    }
    if needs.policies && !has("policies") {
        return Some("policies");
    }
    let count = host
        .get("issues")
        .and_then(|i| i.get("failing_policies_count"));
    if needs.issues && !count.is_some_and(Value::is_u64) {
        return Some("issues.failing_policies_count");
    }
    if needs.users {
        if !has("end_users") {
            return Some("end_users");
        }
        let from_users = host
            .get("end_users")
            .and_then(Value::as_array)
            .and_then(|users| users.iter().find_map(Value::as_object))
            .map(end_user_email)
            .unwrap_or_default();
        if from_users.is_empty() {
            if !has("device_mapping") {
                return Some("device_mapping");
            }
            if !mapping_email(host).is_empty() {
                return Some("device_mapping (its only e-mail)");
            }
        }
    }
    None
}

/// An end user's address: `idp_username`, or `idp_email` in earlier versions.
fn end_user_email(user: &Map<String, Value>) -> String {
    let get = |key: &str| user.get(key).map(text).unwrap_or_default();
    let username = get("idp_username");
    if username.is_empty() {
        get("idp_email")
    } else {
        username
    }
}

/// The first e-mail of `device_mapping`.
fn mapping_email(host: &Map<String, Value>) -> String {
    host.get("device_mapping")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("email"))
        .map(text)
        .find(|e| !e.is_empty())
        .unwrap_or_default()
}

impl Host {
    /// Enrolled in an MDM: `mdm.enrollment_status` is `On` or starts with `On ` (`On
    /// (automatic)`, `On (company-owned)`, `On (manual)`, `On (personal)`, `On (manual -
    /// personal)`); `Pending`, `Off`, `null` and anything else are not.
    pub(crate) fn is_enrolled(&self) -> bool {
        self.enrollment_status == "On" || self.enrollment_status.starts_with("On ")
    }

    /// The number of failing policies: Fleet's count when it gave one, else the policies
    /// answering `fail`.
    pub(crate) fn failing_policies(&self) -> u64 {
        self.failing_policies_count
            .unwrap_or_else(|| self.policies.iter().filter(|(_, _, r)| r == "fail").count() as u64)
    }

    /// The enrichment data (documented in the crate root).
    pub(crate) fn enrichment(&self) -> Enrichment {
        let (team_id, team_name) = self.team.clone().unwrap_or_default();
        let value = json!({
            "host": {
                "id": self.id,
                "name": self.name,
                "hostname": self.hostname,
                "serial_number": self.hardware_serial,
                "platform": self.platform,
                "os_version": self.os_version,
            },
            "team": {"id": team_id, "name": team_name},
            "labels": self.labels.iter().map(|(_, name)| name).collect::<Vec<_>>(),
            "failing_policies": self.failing_policies(),
            "user": {"email": self.user_email, "name": self.user_name},
        });
        posture_http::provider::enrichment(value)
    }
}

/// A string; `null` is empty; numbers and booleans are taken as their text.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §5.6 of the shared notes: a host as Fleet's documentation shapes it.
    const DOCUMENTED: &str = r#"{"host":{
      "id":42,"uuid":"2D3F","hardware_serial":"C02XL0GJJG5J","platform":"darwin",
      "hostname":"bettys-mbp.local","display_name":"Betty's MacBook Pro","os_version":"macOS 14.4.1",
      "team_id":3,"team_name":"Engineering","fleet_id":3,"fleet_name":"Engineering",
      "issues":{"failing_policies_count":0,"critical_vulnerabilities_count":0,"total_issues_count":0},
      "labels":[{"id":6,"name":"All Hosts","label_type":"builtin"},{"id":17,"name":"wifi-allowed"}],
      "policies":[{"id":1,"name":"Gatekeeper enabled","response":"pass","critical":false}],
      "mdm":{"enrollment_status":"On (automatic)","name":"Fleet","connected_to_fleet":true},
      "end_users":[{"idp_id":"f26f","idp_username":"betty@example.com","idp_full_name":"Betty Jackson"}]
    }}"#;

    #[test]
    fn reads_the_documented_host() {
        let host = host(&serde_json::from_str(DOCUMENTED).unwrap()).unwrap();
        assert_eq!(host.id, "42");
        assert_eq!(host.name, "Betty's MacBook Pro");
        assert_eq!(host.team, Some(("3".into(), "Engineering".into())));
        assert!(host.is_enrolled());
        assert_eq!(host.connected_to_fleet, Some(true));
        assert_eq!(host.labels[1], ("17".into(), "wifi-allowed".into()));
        assert_eq!(host.policies[0].2, "pass");
        assert_eq!(host.failing_policies(), 0);
        assert_eq!(host.user_email, "betty@example.com");
        let data = host.enrichment().to_value();
        assert_eq!(data["team"]["name"], "Engineering");
        assert_eq!(data["labels"], json!(["All Hosts", "wifi-allowed"]));
        assert_eq!(data["user"]["name"], "Betty Jackson");
    }

    #[test]
    fn reads_every_documented_variant() {
        let only_fleet: Value = serde_json::from_str(
            r#"{"host":{"hardware_serial":"X","fleet_id":9,"fleet_name":"Workstations",
                "mdm":{"enrollment_status":"Pending"},
                "end_users":[{"idp_email":"old@example.com"}],
                "policies":[{"id":"4","name":"Disk","response":"fail"}]}}"#,
        )
        .unwrap();
        let host = host(&only_fleet).unwrap();
        assert_eq!(host.team, Some(("9".into(), "Workstations".into())));
        assert!(!host.is_enrolled());
        assert_eq!(host.user_email, "old@example.com");
        assert_eq!(host.failing_policies(), 1);
        let no_team: Value = serde_json::from_str(
            r#"{"host":{"team_id":null,"team_name":null,"mdm":{"enrollment_status":null},
                "device_mapping":[{"email":"dm@example.com","source":"custom"}]}}"#,
        )
        .unwrap();
        let host = super::host(&no_team).unwrap();
        assert_eq!(host.team, None);
        assert_eq!(host.user_email, "dm@example.com");
        for (status, enrolled) in [
            ("On (company-owned)", true),
            ("On (manual - personal)", true),
            ("On", true),
            ("Off", false),
            ("Online", false),
            ("", false),
        ] {
            let h = Host {
                enrollment_status: status.into(),
                ..Host::default()
            };
            assert_eq!(h.is_enrolled(), enrolled, "{status}");
        }
        assert!(super::host(&json!({"message": "Resource Not Found"})).is_none());
        assert!(super::host(&json!({"host": []})).is_none());
    }
}
