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
//! - `GET /api/v1/fleet/me`: the API-only user;
//! - a static bearer token; anything else gets 401 `{"message":"Authentication required",…}`.
//!
//! A host's team is rendered as `team_id`/`team_name`, as `fleet_id`/`fleet_name` (Fleet's
//! 2026 rename), or both ([`TeamFields`]). Faults ([`Fault`]) apply to host lookups: a
//! status with Fleet's error body, 429 with `Retry-After`, hanging, garbage, the wrong JSON
//! shape, and [`Fault::IgnoreFilter`] (the first host, whatever was asked).
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
//!     .get(format!("{}/api/v1/fleet/hosts/identifier/C02XL0GJJG5J?exclude_software=true", c.url))
//!     .bearer_auth(c.api_token)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(answer["host"]["mdm"]["enrollment_status"], "On (automatic)");
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::Fault;
use crate::fault::Wording;
use crate::server::{
    FakeRequest, FakeResponse, FakeServer, FaultSlot, Method, StatusCode, html_response,
    json_response, lock,
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
}

/// Counters of what the fake served.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeFleetStats {
    /// Requests of any kind.
    pub requests: u64,
    /// Host lookups by identifier.
    pub host_requests: u64,
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
#[derive(Debug)]
pub struct FakeFleet {
    server: FakeServer,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    hosts: Mutex<Vec<FakeFleetHost>>,
    team_fields: Mutex<TeamFields>,
    fault: FaultSlot<Fault>,
    requests: AtomicU64,
    host_requests: AtomicU64,
    unauthorized: AtomicU64,
}

impl FakeFleet {
    /// Starts a fake with no hosts.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let server = FakeServer::start_with(shared.clone(), handle).await?;
        Ok(Self { server, shared })
    }

    /// The `FLEET_URL` to configure.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The `FLEET_URL` and `FLEET_API_TOKEN` variables that point a server at this fake.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("FLEET_URL".to_owned(), self.url()),
            ("FLEET_API_TOKEN".to_owned(), API_TOKEN.to_owned()),
        ]
    }

    /// The URL and the token the fake accepts.
    pub fn connection(&self) -> FleetConnection {
        FleetConnection {
            url: self.url(),
            api_token: API_TOKEN,
        }
    }

    /// Adds a host; it gets the next id when its own is 0. Lookups find hosts in the order
    /// added.
    pub fn add_host(&self, mut host: FakeFleetHost) {
        let mut hosts = lock(&self.shared.hosts);
        if host.id == 0 {
            host.id = hosts.len() as u64 + 1;
        }
        hosts.push(host);
    }

    /// How the team is named in answers (both pairs by default).
    pub fn set_team_fields(&self, fields: TeamFields) {
        *lock(&self.shared.team_fields) = fields;
    }

    /// Injects `fault` into every host lookup, or stops injecting with `None`.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.fault.set(fault);
    }

    /// Injects `fault` into the next `times` host lookups only.
    pub fn fail_next(&self, fault: Fault, times: usize) {
        self.shared.fault.fail_next(fault, times);
    }

    /// The counters.
    pub fn stats(&self) -> FakeFleetStats {
        let s = &self.shared;
        FakeFleetStats {
            requests: s.requests.load(Ordering::SeqCst),
            host_requests: s.host_requests.load(Ordering::SeqCst),
            unauthorized: s.unauthorized.load(Ordering::SeqCst),
        }
    }
}

impl posture_conformance::Upstream for FakeFleet {
    fn requests(&self) -> u64 {
        self.stats().requests
    }

    fn inject(&self, fault: posture_conformance::Fault) {
        self.set_fault(Some(fault.into()));
    }

    fn heal(&self) {
        self.set_fault(None);
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

/// How Fleet words injected failures.
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

async fn handle(shared: Arc<Shared>, request: FakeRequest) -> FakeResponse {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let segments = request.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (version, rest) = match segments.as_slice() {
        ["api", version, "fleet", rest @ ..] => (*version, rest),
        _ => return html_response(StatusCode::NOT_FOUND, "Not Found"),
    };
    if !matches!(version, "v1" | "latest") || request.method != Method::GET {
        return html_response(StatusCode::NOT_FOUND, "Not Found");
    }
    let is_host = matches!(rest, ["hosts", "identifier", _]);
    if is_host {
        shared.host_requests.fetch_add(1, Ordering::SeqCst);
    }
    if request.bearer() != Some(API_TOKEN) {
        shared.unauthorized.fetch_add(1, Ordering::SeqCst);
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
        ["hosts", "identifier", identifier] => match shared.fault.take() {
            Some(fault) => match fault.answer(&WORDING).await {
                Some(injected) => injected,
                None => host(&shared, None),
            },
            None => host(&shared, Some(identifier)),
        },
        _ => error(StatusCode::NOT_FOUND, "Resource Not Found", "not found"),
    }
}

/// The first host the identifier names (any host when `None`).
fn host(shared: &Shared, identifier: Option<&str>) -> FakeResponse {
    let hosts = lock(&shared.hosts);
    let fields = *lock(&shared.team_fields);
    let found = hosts.iter().find(|h| {
        identifier.is_none_or(|id| {
            [&h.hostname, &h.uuid, &h.hardware_serial]
                .iter()
                .any(|v| *v == id)
        })
    });
    match found {
        Some(h) => json_response(StatusCode::OK, &json!({"host": host_json(h, fields)})),
        None => error(
            StatusCode::NOT_FOUND,
            "Resource Not Found",
            "Host was not found in the datastore",
        ),
    }
}

fn host_json(h: &FakeFleetHost, fields: TeamFields) -> Value {
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
        "labels": h.labels.iter().map(|(id, name)| json!({
            "id": id, "name": name,
            "label_type": if *id < 10 { "builtin" } else { "regular" },
            "label_membership_type": "dynamic",
        })).collect::<Vec<_>>(),
        "policies": h.policies.iter().map(|(id, name, response)| json!({
            "id": id, "name": name, "query": "SELECT 1;", "response": response, "critical": false,
        })).collect::<Vec<_>>(),
        "mdm": {
            "enrollment_status": h.enrollment_status,
            "name": if h.connected_to_fleet { "Fleet" } else { "Jamf Pro" },
            "connected_to_fleet": h.connected_to_fleet,
            "server_url": "https://fleet.example.com/mdm/apple/mdm",
            "device_status": "unlocked",
            "pending_action": "",
        },
        "end_users": h.end_user.iter().map(|(email, name)| json!({
            "idp_id": "f26f", "idp_username": email, "idp_full_name": name,
            "idp_groups": ["Engineering"], "other_emails": [],
        })).collect::<Vec<_>>(),
    });
    let (id, name) = match &h.team {
        Some((id, name)) => (json!(id), json!(name)),
        None => (Value::Null, Value::Null),
    };
    if let Some(map) = host.as_object_mut() {
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
