//! A fake Addigy for tests.
//!
//! [`FakeAddigy`] listens on `127.0.0.1` over plain HTTP and serves Addigy's API v2 device
//! search in its documented shape:
//!
//! - `POST /api/v2/devices` with `{"page","per_page","query":{"filters":[…]}}` answers
//!   `{"items":[{"agentid","facts":{"serial_number":{"value":…},…}}],
//!   "metadata":{"page","per_page","page_count","total"}}`; a filter
//!   `{"audit_field":"serial_number","operation":"=","value":…}` matches exactly, other
//!   filters are ignored;
//! - the API token as `Authorization: Bearer` (Addigy's guide) or `x-api-key` (Swagger
//!   clients): [`FakeAddigy::set_auth`] chooses which the fake accepts; anything else gets
//!   401;
//! - Addigy's rate limit, 1,000 requests per 10 s by default
//!   ([`FakeAddigy::set_rate_limit`]), counted in fixed 10 s windows: a request over it is
//!   answered 429 and the key is **blocked** from then on (Addigy blocks it for 24 hours),
//!   every request 429, until [`FakeAddigy::unblock`].
//!
//! Faults ([`Fault`](crate::Fault)): a status, 429 with `Retry-After`, hanging, garbage, the wrong JSON
//! shape, an ignored filter (every device, a page at a time).
//!
//! ```
//! use std::time::Duration;
//! use posture_fakes::addigy::{FakeAddigy, FakeAddigyDevice};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let addigy = FakeAddigy::start().await?;
//! addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
//! let c = addigy.connection();
//! let http = posture_http::ClientOptions::new(Duration::from_secs(2)).build()?;
//! let found: serde_json::Value = http
//!     .post(posture_http::Url::parse(&format!("{}/api/v2/devices", c.api_url))?)
//!     .bearer_auth(c.api_token)
//!     .json(&serde_json::json!({"page": 1, "per_page": 100, "query": {"filters": [
//!         {"audit_field": "serial_number", "operation": "=", "type": "string", "value": "C02XL0GJJG5J"}
//!     ]}}))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(found["items"][0]["facts"]["device_name"]["value"], "Mac C02XL0GJJG5J");
//! # Ok(())
//! # }
//! ```

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::Wording;
use crate::mdm::{ApiConnection, Fake, FakeState, Mdm, TokenMdm};
use crate::server::{
    FakeRequest, FakeResponse, Method, StatusCode, html_response, json_response, lock, unix_now,
    window,
};

/// The API token the fake accepts.
pub const API_TOKEN: &str = "fake-addigy-api-token";

/// The ID of the policy devices are in unless told otherwise.
pub const STAFF_POLICY_ID: &str = "5b5b5b5b-0000-4000-8000-0000000000aa";

/// A device in the fake inventory.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeAddigyDevice {
    /// `agentid`.
    pub agent_id: String,
    /// The `serial_number` fact.
    pub serial_number: String,
    /// `device_name`.
    pub device_name: String,
    /// `device_model_name`.
    pub model: String,
    /// `os_version`.
    pub os_version: String,
    /// `identity_email`.
    pub user_email: String,
    /// `is_compliant`.
    pub is_compliant: bool,
    /// `has_mdm`.
    pub has_mdm: bool,
    /// `policy_id` and `policy_name`.
    pub policy: (String, String),
}

impl FakeAddigyDevice {
    /// A compliant Mac with MDM, in the "Staff Macs" policy, used by Jason.
    pub fn new(serial_number: impl Into<String>) -> Self {
        let serial_number = serial_number.into();
        Self {
            agent_id: format!("agent-{}", serial_number.to_ascii_lowercase()),
            device_name: format!("Mac {serial_number}"),
            model: "MacBook Pro".to_owned(),
            os_version: "14.4.1".to_owned(),
            user_email: "jason@example.com".to_owned(),
            is_compliant: true,
            has_mdm: true,
            policy: (STAFF_POLICY_ID.to_owned(), "Staff Macs".to_owned()),
            serial_number,
        }
    }

    /// Sets `is_compliant`.
    #[must_use]
    pub fn with_compliant(mut self, compliant: bool) -> Self {
        self.is_compliant = compliant;
        self
    }

    /// Sets `has_mdm`.
    #[must_use]
    pub fn with_mdm(mut self, has_mdm: bool) -> Self {
        self.has_mdm = has_mdm;
        self
    }

    /// Puts the device in another policy.
    #[must_use]
    pub fn with_policy(mut self, id: impl Into<String>, name: impl Into<String>) -> Self {
        self.policy = (id.into(), name.into());
        self
    }
}

/// Which ways of sending the token the fake accepts.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum AcceptedAuth {
    /// `Authorization: Bearer` only.
    #[default]
    Bearer,
    /// `x-api-key` only.
    ApiKey,
}

/// Counters of what the fake served.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeAddigyStats {
    /// Requests of any kind.
    pub requests: u64,
    /// Device searches answered (not refused).
    pub device_requests: u64,
    /// Requests answered 401.
    pub unauthorized: u64,
    /// Requests answered 429 for the rate limit or the block.
    pub rate_limited: u64,
    /// The most requests that arrived in one 10 s window.
    pub busiest_window: u64,
    /// Whether the key is blocked.
    pub blocked: bool,
}

/// What a provider needs to reach a [`FakeAddigy`]: `ADDIGY_API_URL` and `ADDIGY_API_TOKEN`
/// ([`API_TOKEN`]).
pub type AddigyConnection = ApiConnection;

/// A fake Addigy on `127.0.0.1`. Stops when dropped.
pub type FakeAddigy = Fake<Addigy>;

/// Addigy's part of a [`FakeAddigy`]: its devices, its rate limit and how it answers.
/// Faults apply to device searches.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Addigy {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    devices: Vec<FakeAddigyDevice>,
    auth: AcceptedAuth,
    limit: u64,
    window: u64,
    in_window: u64,
    blocked: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            auth: AcceptedAuth::Bearer,
            limit: 1000,
            window: 0,
            in_window: 0,
            blocked: false,
        }
    }
}

impl Fake<Addigy> {
    /// Adds a device record.
    pub fn add_device(&self, device: FakeAddigyDevice) {
        lock(&self.mdm().state).devices.push(device);
    }

    /// Chooses how the token must be sent.
    pub fn set_auth(&self, auth: AcceptedAuth) {
        lock(&self.mdm().state).auth = auth;
    }

    /// Sets the requests allowed per 10 s window (Addigy's: 1,000).
    pub fn set_rate_limit(&self, per_10_seconds: u64) {
        lock(&self.mdm().state).limit = per_10_seconds;
    }

    /// Lifts the block that going over the limit set.
    pub fn unblock(&self) {
        lock(&self.mdm().state).blocked = false;
    }
}

impl TokenMdm for Addigy {
    const API_TOKEN: &'static str = API_TOKEN;
}

impl Mdm for Addigy {
    type Stats = FakeAddigyStats;

    const WORDING: Wording = Wording {
        error: |status| json_response(status, &json!({"error": "injected failure"})),
        too_many: || {
            json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"error": "rate limit exceeded"}),
            )
        },
        garbage: "{\"items\":[{\"agentid\":\"a1\",\"facts\":",
        wrong_shape: || json!({"error": "nope"}),
    };

    async fn handle(fake: &FakeState<Self>, request: FakeRequest) -> FakeResponse {
        fake.count(|s| s.requests += 1);
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        if (&request.method, segments.as_slice())
            != (&Method::POST, ["api", "v2", "devices"].as_slice())
        {
            return html_response(StatusCode::NOT_FOUND, "Not Found");
        }
        // The limit counts every request the gateway sees, refused or not.
        if let Some(refused) = admit(fake) {
            return refused;
        }
        fake.delay().await;
        let accepted = match lock(&fake.mdm.state).auth {
            AcceptedAuth::Bearer => request.bearer() == Some(API_TOKEN),
            AcceptedAuth::ApiKey => request.header("x-api-key") == Some(API_TOKEN),
        };
        if !accepted {
            fake.count(|s| s.unauthorized += 1);
            return json_response(StatusCode::UNAUTHORIZED, &json!({"error": "unauthorized"}));
        }
        fake.faulted(|ignore_filter| {
            fake.count(|s| s.device_requests += 1);
            search(&lock(&fake.mdm.state), &request.json_body(), ignore_filter)
        })
        .await
    }

    /// `ADDIGY_API_URL` and `ADDIGY_API_TOKEN`.
    fn env_vars(fake: &Fake<Self>) -> Vec<(String, String)> {
        fake.connection()
            .env_vars("ADDIGY_API_URL", "ADDIGY_API_TOKEN")
    }

    /// A compliant Mac with MDM.
    fn enrol(fake: &Fake<Self>, serial: &str) {
        fake.add_device(FakeAddigyDevice::new(serial));
    }

    fn upstream_requests(stats: &FakeAddigyStats) -> u64 {
        stats.requests
    }

    fn report(&self, counted: FakeAddigyStats) -> FakeAddigyStats {
        FakeAddigyStats {
            blocked: lock(&self.state).blocked,
            ..counted
        }
    }
}

/// Counts the request in its 10 s window; `Some(429)` when over the limit or blocked.
fn admit(fake: &FakeState<Addigy>) -> Option<FakeResponse> {
    let now = unix_now();
    let mut state = lock(&fake.mdm.state);
    if now / 10 != state.window {
        (state.window, state.in_window) = (now / 10, 0);
    }
    state.in_window += 1;
    let in_window = state.in_window;
    fake.count(|s| s.busiest_window = s.busiest_window.max(in_window));
    if state.in_window > state.limit {
        state.blocked = true;
    }
    if state.blocked {
        fake.count(|s| s.rate_limited += 1);
        return Some(json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": "rate limit exceeded; further requests will be rejected for 24 hours"}),
        ));
    }
    None
}

fn search(state: &State, body: &Value, ignore_filter: bool) -> FakeResponse {
    let number = |key: &str, default: u64| body.get(key).and_then(Value::as_u64).unwrap_or(default);
    let page = number("page", 1).max(1);
    let per_page = number("per_page", 100).clamp(1, 100);
    let serial = body
        .pointer("/query/filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|f| {
            f.get("audit_field").and_then(Value::as_str) == Some("serial_number")
                && f.get("operation").and_then(Value::as_str) == Some("=")
        })
        .and_then(|f| f.get("value").and_then(Value::as_str))
        .filter(|_| !ignore_filter);
    let matching: Vec<&FakeAddigyDevice> = state
        .devices
        .iter()
        .filter(|d| serial.is_none_or(|s| d.serial_number == s))
        .collect();
    let total = matching.len() as u64;
    let page_count = total.div_ceil(per_page).max(1);
    let first = (page - 1).saturating_mul(per_page) as usize;
    let items: Vec<Value> = window(&matching, first, per_page as usize)
        .iter()
        .map(|d| device_json(d))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "items": items,
            "metadata": {"page": page, "per_page": per_page, "page_count": page_count, "total": total},
        }),
    )
}

fn device_json(d: &FakeAddigyDevice) -> Value {
    let fact = |value: Value| json!({"value": value});
    json!({
        "agentid": d.agent_id,
        "facts": {
            "serial_number": fact(json!(d.serial_number)),
            "device_name": fact(json!(d.device_name)),
            "device_model_name": fact(json!(d.model)),
            "os_version": fact(json!(d.os_version)),
            "identity_email": fact(json!(d.user_email)),
            "is_compliant": fact(json!(d.is_compliant)),
            "has_mdm": fact(json!(d.has_mdm)),
            "policy_id": fact(json!(d.policy.0)),
            "policy_name": fact(json!(d.policy.1)),
            "online": fact(json!(true)),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn going_over_the_limit_blocks_the_key() {
        let addigy = FakeAddigy::start().await.unwrap();
        addigy.set_rate_limit(2);
        let c = addigy.connection();
        let http = posture_http::ClientOptions::new(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let answer = http
                .post(posture_http::Url::parse(&format!("{}/api/v2/devices", c.api_url)).unwrap())
                .bearer_auth(c.api_token)
                .json(&json!({"page": 1}))
                .send()
                .await
                .unwrap();
            statuses.push(answer.status().as_u16());
        }
        // Two windows may be crossed once; the block outlives them.
        assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
        assert!(addigy.stats().blocked);
    }
}
