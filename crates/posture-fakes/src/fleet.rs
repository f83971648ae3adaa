//! A fake Fleet for tests.
//!
//! [`FakeFleet`] listens on `127.0.0.1` over plain HTTP and serves, in the shapes of Fleet's
//! REST API documentation:
//!
//! - `GET /api/v1/fleet/hosts/identifier/{identifier}` (and the `/api/latest/` alias):
//!   `{"host": {…}}` for the **first** host whose `hostname`, `uuid` or `hardware_serial`
//!   equals the identifier, as Fleet's `WHERE ? IN (hostname, …, uuid, hardware_serial)
//!   LIMIT 1` does, so a host named after another's serial is found instead of it; else 404
//!   `{"message":"Resource Not Found","errors":[{"name":"base","reason":…}]}`;
//! - `GET /api/v1/fleet/hosts` (list hosts): `{"hosts": […]}`, paged as Fleet pages it
//!   (`page` from 0, `per_page`; without `per_page`, every host), ordered by `order_key`
//!   (`id`, `hostname`, `hardware_serial`; `order_direction` `asc` or `desc`; another key
//!   is 422). A listed host carries `labels`, `policies`, `end_users` and `device_mapping`
//!   only when asked with `populate_labels`, `populate_policies`, `populate_users` and
//!   `device_mapping` (`true`), and not when told to ignore them as an older Fleet does
//!   ([`FakeFleet::ignore_list_params`]). `meta.has_next_results` is added on request
//!   ([`FakeFleet::set_list_meta`]), since list hosts doesn't document it;
//! - `GET /api/v1/fleet/me`: the API-only user;
//! - a static bearer token; anything else gets 401 `{"message":"Authentication required",…}`.
//!
//! A host's team is rendered as `team_id`/`team_name`, as `fleet_id`/`fleet_name` (Fleet's
//! 2026 rename), or both ([`TeamFields`]). Faults ([`Fault`](crate::Fault)) apply to host lookups and host
//! lists: a
//! status with Fleet's error body, 429 with `Retry-After`, hanging, garbage, the wrong JSON
//! shape, and [`Fault::IgnoreFilter`](crate::Fault::IgnoreFilter) (the first host, whatever was asked).
//!
//! ```
//! use std::time::Duration;
//! use posture_fakes::fleet::{FakeFleet, FakeFleetHost};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fleet = FakeFleet::start().await?;
//! fleet.add_host(FakeFleetHost::new("C02XL0GJJG5J"));
//! let c = fleet.connection();
//! let http = posture_http::ClientOptions::new(Duration::from_secs(2)).build()?;
//! let answer: serde_json::Value = http
//!     .get(posture_http::Url::parse(&format!("{}/api/v1/fleet/hosts/identifier/C02XL0GJJG5J?exclude_software=true", c.url))?)
//!     .bearer_auth(c.api_token)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(answer["host"]["mdm"]["enrollment_status"], "On (automatic)");
//! # Ok(())
//! # }
//! ```

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::Wording;
use crate::mdm::{Fake, FakeState, Mdm, owned_vars, push_numbered};
use crate::server::{
    FakeRequest, FakeResponse, Method, StatusCode, html_response, json_response, lock, window,
};

/// The API token the fake accepts.
pub const API_TOKEN: &str = "fake-fleet-api-token";

/// How the fake names a host's team.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum TeamFields {
    /// `team_id` and `team_name` (Fleet before the 2026 rename).
    Team,
    /// `fleet_id` and `fleet_name` only.
    Fleet,
    /// Both pairs, as answers do during the rename.
    #[default]
    Both,
}

/// A host in the fake inventory.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeFleetHost {
    /// `id`.
    pub id: u64,
    /// `hardware_serial`.
    pub hardware_serial: String,
    /// `uuid`.
    pub uuid: String,
    /// `hostname`.
    pub hostname: String,
    /// `display_name`.
    pub display_name: String,
    /// `platform`.
    pub platform: String,
    /// `os_version`.
    pub os_version: String,
    /// The team's id and name; `None` for no team.
    pub team: Option<(u64, String)>,
    /// `mdm.enrollment_status`; `None` renders `null`.
    pub enrollment_status: Option<String>,
    /// `mdm.connected_to_fleet`.
    pub connected_to_fleet: bool,
    /// `labels[]`: id and name.
    pub labels: Vec<(u64, String)>,
    /// `policies[]`: id, name and response (`pass`, `fail`, `""`).
    pub policies: Vec<(u64, String, String)>,
    /// `end_users[0]`: e-mail (`idp_username`) and full name.
    pub end_user: Option<(String, String)>,
    /// `device_mapping[]`: e-mail and source, listed only by list hosts with
    /// `device_mapping=true` (Fleet's host detail doesn't carry it).
    pub device_mapping: Vec<(String, String)>,
}

impl FakeFleetHost {
    /// A Mac enrolled in this Fleet automatically (ADE), in team 3 "Engineering", with the
    /// labels "All Hosts" (6) and "wifi-allowed" (17), passing policy 1 "Gatekeeper
    /// enabled", used by Betty Jackson.
    pub fn new(serial: impl Into<String>) -> Self {
        let hardware_serial = serial.into();
        Self {
            id: 0,
            uuid: format!("UUID-{hardware_serial}"),
            hostname: format!("{}.local", hardware_serial.to_ascii_lowercase()),
            display_name: format!("Mac {hardware_serial}"),
            platform: "darwin".to_owned(),
            os_version: "macOS 14.4.1".to_owned(),
            team: Some((3, "Engineering".to_owned())),
            enrollment_status: Some("On (automatic)".to_owned()),
            connected_to_fleet: true,
            labels: vec![(6, "All Hosts".to_owned()), (17, "wifi-allowed".to_owned())],
            policies: vec![(1, "Gatekeeper enabled".to_owned(), "pass".to_owned())],
            end_user: Some(("betty@example.com".to_owned(), "Betty Jackson".to_owned())),
            device_mapping: Vec::new(),
            hardware_serial,
        }
    }

    /// Sets the team; `None` for no team.
    #[must_use]
    pub fn with_team(mut self, team: Option<(u64, &str)>) -> Self {
        self.team = team.map(|(id, name)| (id, name.to_owned()));
        self
    }

    /// Sets `mdm.enrollment_status` (`None`: `null`).
    #[must_use]
    pub fn with_enrollment_status(mut self, status: Option<&str>) -> Self {
        self.enrollment_status = status.map(str::to_owned);
        self
    }

    /// Enrolled in another MDM: `mdm.connected_to_fleet` false.
    #[must_use]
    pub fn disconnected(mut self) -> Self {
        self.connected_to_fleet = false;
        self
    }

    /// Sets the `hostname`.
    #[must_use]
    pub fn with_hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = hostname.into();
        self
    }

    /// Sets the labels.
    #[must_use]
    pub fn with_labels(mut self, labels: &[(u64, &str)]) -> Self {
        self.labels = labels
            .iter()
            .map(|(id, n)| (*id, (*n).to_owned()))
            .collect();
        self
    }

    /// Adds a policy with its response (`pass`, `fail`, or `""` when not yet run).
    #[must_use]
    pub fn with_policy(mut self, id: u64, name: &str, response: &str) -> Self {
        self.policies
            .push((id, name.to_owned(), response.to_owned()));
        self
    }

    /// No end user known.
    #[must_use]
    pub fn without_end_user(mut self) -> Self {
        self.end_user = None;
        self
    }

    /// Sets the `uuid`.
    #[must_use]
    pub fn with_uuid(mut self, uuid: impl Into<String>) -> Self {
        self.uuid = uuid.into();
        self
    }

    /// Adds a `device_mapping` entry (an e-mail and its source, such as `custom`).
    #[must_use]
    pub fn with_device_mapping(mut self, email: &str, source: &str) -> Self {
        self.device_mapping
            .push((email.to_owned(), source.to_owned()));
        self
    }
}

/// Counters of what the fake served.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeFleetStats {
    /// Requests of any kind.
    pub requests: u64,
    /// Host lookups by identifier.
    pub host_requests: u64,
    /// Host lists (pages of `GET /api/v1/fleet/hosts`).
    pub list_requests: u64,
    /// Requests answered 401.
    pub unauthorized: u64,
}

/// What a provider needs to reach a [`FakeFleet`]: `FLEET_URL` and `FLEET_API_TOKEN`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FleetConnection {
    /// The server URL, such as `http://127.0.0.1:40123`.
    pub url: String,
    /// The API token ([`API_TOKEN`]).
    pub api_token: &'static str,
}

/// A fake Fleet on `127.0.0.1`. Stops when dropped.
pub type FakeFleet = Fake<Fleet>;

/// Fleet's part of a [`FakeFleet`]: its hosts and how it answers. Faults apply to host
/// lookups and host lists.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Fleet {
    hosts: Mutex<Vec<FakeFleetHost>>,
    team_fields: Mutex<TeamFields>,
    /// List parameters treated as unknown, as by a Fleet older than them.
    ignored_list_params: Mutex<Vec<String>>,
    list_meta: Mutex<bool>,
}

impl Fake<Fleet> {
    /// The URL and the token the fake accepts.
    pub fn connection(&self) -> FleetConnection {
        FleetConnection {
            url: self.url(),
            api_token: API_TOKEN,
        }
    }

    /// Adds a host; it gets the next id when its own is 0. Lookups find hosts in the order
    /// added.
    pub fn add_host(&self, host: FakeFleetHost) {
        push_numbered(&mut lock(&self.mdm().hosts), host, |h| &mut h.id);
    }

    /// How the team is named in answers (both pairs by default).
    pub fn set_team_fields(&self, fields: TeamFields) {
        *lock(&self.mdm().team_fields) = fields;
    }

    /// Makes list hosts ignore these parameters (`populate_labels`, `populate_policies`,
    /// `populate_users`, `device_mapping`), as a Fleet older than them does: listed hosts
    /// then lack the keys they add.
    pub fn ignore_list_params(&self, params: &[&str]) {
        *lock(&self.mdm().ignored_list_params) = params.iter().map(|p| (*p).to_owned()).collect();
    }

    /// Adds `meta.has_next_results` and `meta.has_previous_results` to list hosts answers
    /// (as Fleet's other paged lists have them), or stops.
    pub fn set_list_meta(&self, meta: bool) {
        *lock(&self.mdm().list_meta) = meta;
    }
}

/// Fleet's error body.
fn error(status: StatusCode, message: &str, reason: &str) -> FakeResponse {
    json_response(
        status,
        &json!({
            "message": message,
            "errors": [{"name": "base", "reason": reason}],
            "uuid": "3b9a8c5e-0000-4000-8000-000000000000",
        }),
    )
}

impl Mdm for Fleet {
    type Stats = FakeFleetStats;

    const WORDING: Wording = Wording {
        error: |status| error(status, "injected failure", "injected failure"),
        too_many: || {
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "limit exceeded, retry after: 1s",
                "too many requests",
            )
        },
        garbage: "{\"host\": {\"id\": 42, \"hardware_serial\": ",
        wrong_shape: || json!({"hosts": []}),
    };

    async fn handle(fake: &FakeState<Self>, request: FakeRequest) -> FakeResponse {
        fake.count(|s| s.requests += 1);
        fake.delay().await;
        let fleet = &fake.mdm;
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (version, rest) = match segments.as_slice() {
            ["api", version, "fleet", rest @ ..] => (*version, rest),
            _ => return html_response(StatusCode::NOT_FOUND, "Not Found"),
        };
        if !matches!(version, "v1" | "latest") || request.method != Method::GET {
            return html_response(StatusCode::NOT_FOUND, "Not Found");
        }
        match rest {
            ["hosts", "identifier", _] => fake.count(|s| s.host_requests += 1),
            ["hosts"] => fake.count(|s| s.list_requests += 1),
            _ => {}
        }
        if request.bearer() != Some(API_TOKEN) {
            fake.count(|s| s.unauthorized += 1);
            return error(
                StatusCode::UNAUTHORIZED,
                "Authentication required",
                "Authentication required",
            );
        }
        match rest {
            ["me"] => json_response(
                StatusCode::OK,
                &json!({"user": {"id": 1, "name": "step-ca posture", "email": "posture@example.com",
                                  "global_role": "observer", "api_only": true}}),
            ),
            ["hosts", "identifier", identifier] => {
                fake.faulted(|ignore_filter| host(fleet, (!ignore_filter).then_some(*identifier)))
                    .await
            }
            ["hosts"] => fake.faulted(|_| list(fleet, &request)).await,
            _ => error(StatusCode::NOT_FOUND, "Resource Not Found", "not found"),
        }
    }

    /// The `FLEET_URL` and `FLEET_API_TOKEN` variables that point a server at this fake.
    fn env_vars(fake: &Fake<Self>) -> Vec<(String, String)> {
        owned_vars(&[("FLEET_URL", &fake.url()), ("FLEET_API_TOKEN", API_TOKEN)])
    }

    /// A Mac enrolled in Fleet's MDM.
    fn enrol(fake: &Fake<Self>, serial: &str) {
        fake.add_host(FakeFleetHost::new(serial));
    }

    fn upstream_requests(stats: &FakeFleetStats) -> u64 {
        stats.requests
    }
}

/// The first host the identifier names (any host when `None`).
fn host(fleet: &Fleet, identifier: Option<&str>) -> FakeResponse {
    let hosts = lock(&fleet.hosts);
    let fields = *lock(&fleet.team_fields);
    let found = hosts.iter().find(|h| {
        identifier.is_none_or(|id| {
            [&h.hostname, &h.uuid, &h.hardware_serial]
                .iter()
                .any(|v| *v == id)
        })
    });
    match found {
        Some(h) => json_response(
            StatusCode::OK,
            &json!({"host": host_json(h, fields, Populate::DETAIL)}),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "Resource Not Found",
            "Host was not found in the datastore",
        ),
    }
}

/// The list parameters Fleet's list hosts reads, each `true` or `1` to turn it on.
fn flag(request: &FakeRequest, ignored: &[String], name: &str) -> bool {
    !ignored.iter().any(|i| i == name)
        && request
            .query_value(name)
            .is_some_and(|v| v == "true" || v == "1")
}

/// `GET /api/v1/fleet/hosts`: one page in the order asked for.
fn list(fleet: &Fleet, request: &FakeRequest) -> FakeResponse {
    // The parameter that isn't a whole number, if one isn't.
    let number = |name: &'static str| -> Result<Option<usize>, &'static str> {
        request
            .query_value(name)
            .map(|v| v.parse::<usize>().map_err(|_| name))
            .transpose()
    };
    let (page, per_page) = match (number("page"), number("per_page")) {
        (Ok(page), Ok(per_page)) => (page.unwrap_or(0), per_page.filter(|n| *n > 0)),
        (Err(name), _) | (_, Err(name)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad request",
                &format!("invalid {name}"),
            );
        }
    };
    let ignored = lock(&fleet.ignored_list_params).clone();
    let populate = Populate {
        labels: flag(request, &ignored, "populate_labels"),
        policies: flag(request, &ignored, "populate_policies"),
        users: flag(request, &ignored, "populate_users"),
        device_mapping: flag(request, &ignored, "device_mapping"),
    };
    let fields = *lock(&fleet.team_fields);
    let mut hosts: Vec<FakeFleetHost> = lock(&fleet.hosts).clone();
    match request.query_value("order_key").unwrap_or("id") {
        "id" => hosts.sort_by_key(|h| h.id),
        "hostname" => hosts.sort_by(|a, b| a.hostname.cmp(&b.hostname)),
        "hardware_serial" => hosts.sort_by(|a, b| a.hardware_serial.cmp(&b.hardware_serial)),
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation Failed",
                "invalid order key",
            );
        }
    }
    if request.query_value("order_direction") == Some("desc") {
        hosts.reverse();
    }
    let total = hosts.len();
    let (first, size) = per_page.map_or((0, total), |n| (page.saturating_mul(n), n));
    let shown = window(&hosts, first, size);
    let (start, end) = (first.min(total), first.min(total) + shown.len());
    let listed: Vec<Value> = shown
        .iter()
        .map(|h| host_json(h, fields, populate))
        .collect();
    let mut body = json!({"hosts": listed});
    if *lock(&fleet.list_meta)
        && let Some(map) = body.as_object_mut()
    {
        map.insert(
            "meta".into(),
            json!({"has_next_results": end < total, "has_previous_results": start > 0}),
        );
    }
    json_response(StatusCode::OK, &body)
}

/// Which of a host's lists an answer carries.
#[derive(Clone, Copy, Debug)]
struct Populate {
    labels: bool,
    policies: bool,
    users: bool,
    device_mapping: bool,
}

impl Populate {
    /// The host detail: labels, policies and end users, but no device mapping.
    const DETAIL: Self = Self {
        labels: true,
        policies: true,
        users: true,
        device_mapping: false,
    };
}

fn host_json(h: &FakeFleetHost, fields: TeamFields, populate: Populate) -> Value {
    let failing = h.policies.iter().filter(|(_, _, r)| r == "fail").count();
    let mut host = json!({
        "id": h.id,
        "uuid": h.uuid,
        "hardware_serial": h.hardware_serial,
        "hostname": h.hostname,
        "display_name": h.display_name,
        "computer_name": h.display_name,
        "platform": h.platform,
        "os_version": h.os_version,
        "status": "online",
        "seen_time": "2026-07-01T10:00:00Z",
        "issues": {"failing_policies_count": failing, "critical_vulnerabilities_count": 0,
                   "total_issues_count": failing},
        "mdm": {
            "enrollment_status": h.enrollment_status,
            "name": if h.connected_to_fleet { "Fleet" } else { "Jamf Pro" },
            "connected_to_fleet": h.connected_to_fleet,
            "server_url": "https://fleet.example.com/mdm/apple/mdm",
            "device_status": "unlocked",
            "pending_action": "",
        },
    });
    let (id, name) = match &h.team {
        Some((id, name)) => (json!(id), json!(name)),
        None => (Value::Null, Value::Null),
    };
    if let Some(map) = host.as_object_mut() {
        if populate.labels {
            let labels = h.labels.iter().map(|(id, name)| {
                json!({
                    "id": id, "name": name,
                    "label_type": if *id < 10 { "builtin" } else { "regular" },
                    "label_membership_type": "dynamic",
                })
            });
            map.insert("labels".into(), labels.collect());
        }
        if populate.policies {
            let policies = h.policies.iter().map(|(id, name, response)| {
                json!({
                    "id": id, "name": name, "query": "SELECT 1;", "response": response,
                    "critical": false,
                })
            });
            map.insert("policies".into(), policies.collect());
        }
        if populate.users {
            let users = h.end_user.iter().map(|(email, name)| {
                json!({
                    "idp_id": "f26f", "idp_username": email, "idp_full_name": name,
                    "idp_groups": ["Engineering"], "other_emails": [],
                })
            });
            map.insert("end_users".into(), users.collect());
        }
        if populate.device_mapping {
            // Fleet answers null for a host without mappings.
            let mapping = if h.device_mapping.is_empty() {
                Value::Null
            } else {
                h.device_mapping
                    .iter()
                    .map(|(email, source)| json!({"email": email, "source": source}))
                    .collect()
            };
            map.insert("device_mapping".into(), mapping);
        }
        if fields != TeamFields::Fleet {
            map.insert("team_id".into(), id.clone());
            map.insert("team_name".into(), name.clone());
        }
        if fields != TeamFields::Team {
            map.insert("fleet_id".into(), id);
            map.insert("fleet_name".into(), name);
        }
    }
    host
}
