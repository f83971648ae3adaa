//! A fake Kandji for tests.
//!
//! [`FakeKandji`] listens on `127.0.0.1` over plain HTTP and serves
//! `GET /api/v1/devices` in Kandji's documented shape:
//!
//! - a JSON **array** of devices (`[]` when none matches);
//! - `serial_number` is a **contains** match, as in Kandji ("all devices containing the
//!   partial string"), case-insensitive; `limit` (at most 300) and `offset` page;
//!   `ordering` sorts by Kandji's documented fields, comma-separated, `-` for descending;
//! - `user` is an object, or the empty string `""` when no user is assigned;
//! - booleans can be rendered as Kandji's strings (`"True"`, `"False"`), as its details
//!   endpoint does, with [`FakeKandji::set_string_booleans`];
//! - a static bearer token; anything else gets 401 `{"detail":…}`;
//! - the rate limits of Kandji's gateway (Kong): 50 requests a second and 10 000 an hour by
//!   default ([`FakeKandji::set_rate_limits`]), counted in fixed windows that start on the
//!   second and on the hour; every answer carries Kong's headers
//!   (`X-RateLimit-Limit-Second`, `X-RateLimit-Remaining-Second`, `X-RateLimit-Limit-Hour`,
//!   `X-RateLimit-Remaining-Hour`, `RateLimit-Limit`, `RateLimit-Remaining`,
//!   `RateLimit-Reset`), and a request over a limit gets Kong's 429
//!   `{"message":"API rate limit exceeded"}` with `Retry-After`.
//!
//! Faults ([`Fault`](crate::Fault)): a status, 429 with `Retry-After`, hanging, garbage, the wrong JSON
//! shape, an ignored `serial_number`; and a host that has moved ([`FakeKandji::set_moved`]:
//! 301 to another URL for every request).
//!
//! Point a provider at it with [`FakeKandji::connection`]: in posture-kandji's tests,
//! `KandjiConfig::new(&c.api_url, c.api_token)`.
//!
//! ```
//! use std::time::Duration;
//! use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kandji = FakeKandji::start().await?;
//! kandji.add_device(FakeKandjiDevice::new("FVHHFKF7Q6L4"));
//! let c = kandji.connection();
//! let http = posture_http::ClientOptions::new(Duration::from_secs(2)).build()?;
//! let devices: serde_json::Value = http
//!     .get(posture_http::Url::parse(&format!("{}/api/v1/devices?serial_number=FVHHFKF7Q6L4", c.api_url))?)
//!     .bearer_auth(c.api_token)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(devices[0]["blueprint_name"], "Engineering Macs");
//! # Ok(())
//! # }
//! ```

use std::cmp;
use std::sync::Mutex;

use hyper::header::{HeaderName, HeaderValue, LOCATION};
use serde_json::{Value, json};
use url::Url;

use crate::Wording;
use crate::mdm::{ApiConnection, Fake, FakeState, Mdm, RequestLog, TokenMdm};
use crate::server::{
    FakeRequest, FakeResponse, Method, StatusCode, html_response, json_response, lock, unix_now,
    window, with_retry_after,
};

/// The API token the fake accepts.
pub const API_TOKEN: &str = "fake-kandji-api-token";

/// The ID of the blueprint devices are in unless told otherwise.
pub const ENGINEERING_BLUEPRINT_ID: &str = "ab102b9d-8e9c-420d-a498-f2a1123091c7";

/// A device in the fake inventory.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeKandjiDevice {
    /// `device_id`.
    pub device_id: String,
    /// `serial_number`.
    pub serial_number: String,
    /// `device_name`.
    pub device_name: String,
    /// `model`.
    pub model: String,
    /// `platform`: `Mac`, `iPhone`, `iPad` or `AppleTV`.
    pub platform: String,
    /// `os_version`.
    pub os_version: String,
    /// `asset_tag`.
    pub asset_tag: String,
    /// `last_check_in`.
    pub last_check_in: String,
    /// `blueprint_id`.
    pub blueprint_id: String,
    /// `blueprint_name`.
    pub blueprint_name: String,
    /// `mdm_enabled`.
    pub mdm_enabled: bool,
    /// `agent_installed`.
    pub agent_installed: bool,
    /// `is_missing`: not checked in for longer than the tenant's threshold.
    pub is_missing: bool,
    /// `is_removed`.
    pub is_removed: bool,
    /// The assigned user: ID, name, email; `None` renders `"user": ""`.
    pub user: Option<(String, String, String)>,
    /// `tags`.
    pub tags: Vec<String>,
}

impl FakeKandjiDevice {
    /// An enrolled Mac with the agent, in the "Engineering Macs" blueprint, assigned to
    /// Alice.
    pub fn new(serial_number: impl Into<String>) -> Self {
        let serial_number = serial_number.into();
        Self {
            device_id: format!("dev-{}", serial_number.to_ascii_lowercase()),
            device_name: format!("Mac {serial_number}"),
            model: "MacBook Air (M1, 2020)".to_owned(),
            platform: "Mac".to_owned(),
            os_version: "14.4.1".to_owned(),
            asset_tag: String::new(),
            last_check_in: "2024-07-23T14:11:37.150080Z".to_owned(),
            blueprint_id: ENGINEERING_BLUEPRINT_ID.to_owned(),
            blueprint_name: "Engineering Macs".to_owned(),
            mdm_enabled: true,
            agent_installed: true,
            is_missing: false,
            is_removed: false,
            user: Some((
                "5344c996-8823-4b37-8d6e-8515fc7c3a0a".to_owned(),
                "Alice Example".to_owned(),
                "alice@example.com".to_owned(),
            )),
            tags: vec!["engineering".to_owned()],
            serial_number,
        }
    }

    /// An enrolled iPhone with no user assigned (`"user": ""`) and no agent, in the
    /// "Shared iPhones" blueprint.
    pub fn iphone(serial_number: impl Into<String>) -> Self {
        let mut device = Self::new(serial_number);
        device.device_name = format!("iPhone {}", device.serial_number);
        device.model = "iPhone 15".to_owned();
        device.platform = "iPhone".to_owned();
        device.os_version = "17.5".to_owned();
        device.agent_installed = false;
        device.user = None;
        device.blueprint_id = "5b5b5b5b-0000-4000-8000-0000000000ff".to_owned();
        device.blueprint_name = "Shared iPhones".to_owned();
        device.tags = Vec::new();
        device
    }

    /// Puts the device in another blueprint.
    #[must_use]
    pub fn with_blueprint(mut self, id: impl Into<String>, name: impl Into<String>) -> Self {
        self.blueprint_id = id.into();
        self.blueprint_name = name.into();
        self
    }

    /// Sets `mdm_enabled`.
    #[must_use]
    pub fn with_mdm_enabled(mut self, enabled: bool) -> Self {
        self.mdm_enabled = enabled;
        self
    }

    /// Sets `agent_installed`.
    #[must_use]
    pub fn with_agent_installed(mut self, installed: bool) -> Self {
        self.agent_installed = installed;
        self
    }

    /// Flags the device as missing (`is_missing: true`).
    #[must_use]
    pub fn missing(mut self) -> Self {
        self.is_missing = true;
        self
    }

    /// Marks the device removed (`is_removed: true`), with its own record ID.
    #[must_use]
    pub fn removed(mut self) -> Self {
        self.is_removed = true;
        self.device_id.push_str("-removed");
        self
    }

    /// Sets `last_check_in`, with its own record ID (a re-enrolment).
    #[must_use]
    pub fn with_last_check_in(mut self, at: impl Into<String>) -> Self {
        self.last_check_in = at.into();
        self.device_id = format!("{}-{}", self.device_id, self.last_check_in.len());
        self
    }
}

/// Counters of what the fake served.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeStats {
    /// Requests of any kind, whatever their outcome.
    pub requests: u64,
    /// Device-list requests.
    pub device_requests: u64,
    /// Requests answered 401.
    pub unauthorized: u64,
    /// The most requests that arrived within one second (a window starting on the second,
    /// as Kong counts), refused ones included.
    pub busiest_second: u64,
    /// Requests refused with 429 for going over the per-second or hourly limit.
    pub rate_limited: u64,
}

pub use crate::mdm::RecordedRequest;

/// What a provider needs to reach a [`FakeKandji`]: `KANDJI_API_URL` and `KANDJI_API_TOKEN`
/// ([`API_TOKEN`]).
pub type KandjiConnection = ApiConnection;

/// A fake Kandji on `127.0.0.1`. Stops when dropped.
pub type FakeKandji = Fake<Kandji>;

/// Kandji's part of a [`FakeKandji`]: its devices, its gateway and how it answers. Faults
/// apply to device lists.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Kandji {
    state: Mutex<State>,
    quota: Mutex<Quota>,
    requests: RequestLog,
}

#[derive(Debug, Default)]
struct State {
    devices: Vec<FakeKandjiDevice>,
    string_booleans: bool,
    moved_to: Option<String>,
}

/// Kong's rate limiting: fixed windows starting on the second and on the hour (UTC).
#[derive(Debug)]
struct Quota {
    per_second: u64,
    per_hour: u64,
    second: u64,
    /// Requests let through in this second and this hour; refused ones don't count, as in
    /// Kong.
    used_second: u64,
    used_hour: u64,
    hour: u64,
    /// Requests that arrived in this second, refused ones included.
    arrived_second: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            per_second: 50,
            per_hour: 10_000,
            second: 0,
            used_second: 0,
            used_hour: 0,
            hour: 0,
            arrived_second: 0,
        }
    }
}

/// What Kong decided about one request, and the headers it sends with the answer.
#[derive(Debug)]
struct Admission {
    /// `Some(Retry-After)` when the request is refused.
    refused: Option<u64>,
    /// Requests that arrived in this second so far, this one and refused ones included.
    arrived_second: u64,
    headers: Vec<(&'static str, u64)>,
}

impl Quota {
    fn admit(&mut self) -> Admission {
        let now = unix_now();
        if now != self.second {
            (self.second, self.used_second, self.arrived_second) = (now, 0, 0);
        }
        if now / 3600 != self.hour {
            (self.hour, self.used_hour) = (now / 3600, 0);
        }
        self.arrived_second += 1;
        let hour_reset = 3600 - now % 3600;
        let hour_gone = self.used_hour >= self.per_hour;
        let refused = if hour_gone {
            Some(hour_reset)
        } else if self.used_second >= self.per_second {
            Some(1)
        } else {
            self.used_second += 1;
            self.used_hour += 1;
            None
        };
        let left_second = self.per_second.saturating_sub(self.used_second);
        let left_hour = self.per_hour.saturating_sub(self.used_hour);
        // RateLimit-* describe the window with the least left; on a tie, the longer one.
        let (limit, left, reset) = if left_hour <= left_second {
            (self.per_hour, left_hour, hour_reset)
        } else {
            (self.per_second, left_second, 1)
        };
        Admission {
            refused,
            arrived_second: self.arrived_second,
            headers: vec![
                ("x-ratelimit-limit-second", self.per_second),
                ("x-ratelimit-remaining-second", left_second),
                ("x-ratelimit-limit-hour", self.per_hour),
                ("x-ratelimit-remaining-hour", left_hour),
                ("ratelimit-limit", limit),
                ("ratelimit-remaining", left),
                ("ratelimit-reset", reset),
            ],
        }
    }
}

impl Fake<Kandji> {
    /// Adds a device record. Records may share a serial, as after a re-enrolment.
    pub fn add_device(&self, device: FakeKandjiDevice) {
        lock(&self.mdm().state).devices.push(device);
    }

    /// Renders booleans as Kandji's strings `"True"` / `"False"`.
    pub fn set_string_booleans(&self, strings: bool) {
        lock(&self.mdm().state).string_booleans = strings;
    }

    /// Sets the gateway's limits (Kandji's: 50 a second, 10 000 an hour). Requests over
    /// either get 429 `{"message":"API rate limit exceeded"}` with `Retry-After`: 1 for the
    /// second, the seconds left in the hour for the hour.
    pub fn set_rate_limits(&self, per_second: u64, per_hour: u64) {
        let mut quota = lock(&self.mdm().quota);
        quota.per_second = per_second;
        quota.per_hour = per_hour;
    }

    /// Answers every request, whatever its path or token, `301 Moved Permanently` with
    /// `Location: <url><path>?<query>`, as a host that has moved does (kandji.io to
    /// iru.com); `None` serves again.
    pub fn set_moved(&self, url: Option<String>) {
        lock(&self.mdm().state).moved_to = url;
    }

    /// The requests received, oldest first (at most the last 10 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.mdm().requests.all()
    }

    /// The requests received at a path ending with `suffix`, such as `/api/v1/devices`, oldest
    /// first.
    pub fn requests_to(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.mdm().requests.to(suffix)
    }
}

impl TokenMdm for Kandji {
    const API_TOKEN: &'static str = API_TOKEN;
}

impl Mdm for Kandji {
    type Stats = FakeStats;

    const WORDING: Wording = Wording {
        error: |status| json_response(status, &json!({"detail": "injected failure"})),
        too_many: || {
            json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"message": "API rate limit exceeded"}),
            )
        },
        garbage: "[{\"device_id\": \"03f8\", \"serial_number\": ",
        wrong_shape: || json!({"detail": "nope"}),
    };

    async fn handle(fake: &FakeState<Self>, request: FakeRequest) -> FakeResponse {
        fake.count(|s| s.requests += 1);
        let kandji = &fake.mdm;
        kandji.requests.record(&request, &request.path);
        let moved_to = lock(&kandji.state).moved_to.clone();
        if let Some(url) = moved_to {
            return moved(&url, &request);
        }
        // Kong counts a request when it arrives, before the API sees it.
        let admission = lock(&kandji.quota).admit();
        fake.count(|s| s.busiest_second = s.busiest_second.max(admission.arrived_second));
        fake.delay().await;
        let mut answer = match admission.refused {
            Some(retry_after) => {
                fake.count(|s| s.rate_limited += 1);
                with_retry_after((Self::WORDING.too_many)(), retry_after)
            }
            None => route(fake, &request).await,
        };
        for (name, value) in admission.headers {
            answer
                .headers_mut()
                .insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
        answer
    }

    /// `KANDJI_API_URL` and `KANDJI_API_TOKEN`.
    fn env_vars(fake: &Fake<Self>) -> Vec<(String, String)> {
        fake.connection()
            .env_vars("KANDJI_API_URL", "KANDJI_API_TOKEN")
    }

    /// An enrolled Mac.
    fn enrol(fake: &Fake<Self>, serial: &str) {
        fake.add_device(FakeKandjiDevice::new(serial));
    }

    /// Requests of any kind.
    fn upstream_requests(stats: &FakeStats) -> u64 {
        stats.requests
    }
}

fn moved(url: &str, request: &FakeRequest) -> FakeResponse {
    let mut answer = html_response(StatusCode::MOVED_PERMANENTLY, "Moved Permanently");
    if let Ok(mut target) = Url::parse(&format!("{}{}", url.trim_end_matches('/'), request.path)) {
        if !request.query.is_empty() {
            target.query_pairs_mut().extend_pairs(&request.query);
        }
        if let Ok(value) = HeaderValue::from_str(target.as_str()) {
            answer.headers_mut().insert(LOCATION, value);
        }
    }
    answer
}

async fn route(fake: &FakeState<Kandji>, request: &FakeRequest) -> FakeResponse {
    let segments = request.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (&request.method, segments.as_slice()) {
        (&Method::GET, ["api", "v1", "devices"]) => {
            fake.count(|s| s.device_requests += 1);
            if request.bearer() != Some(API_TOKEN) {
                fake.count(|s| s.unauthorized += 1);
                let detail = if request.bearer().is_some() {
                    "Invalid token."
                } else {
                    "Authentication credentials were not provided."
                };
                return json_response(StatusCode::UNAUTHORIZED, &json!({"detail": detail}));
            }
            fake.faulted(|ignore_filter| list(&fake.mdm, request, ignore_filter))
                .await
        }
        _ => html_response(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn list(kandji: &Kandji, request: &FakeRequest, ignore_filter: bool) -> FakeResponse {
    let state = lock(&kandji.state);
    let limit = match request.query_value("limit").map(str::parse::<usize>) {
        None => 300,
        Some(Ok(limit)) if (1..=300).contains(&limit) => limit,
        Some(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"limit": ["Ensure this value is less than or equal to 300."]}),
            );
        }
    };
    let offset = request
        .query_value("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let wanted = request
        .query_value("serial_number")
        .filter(|_| !ignore_filter)
        .map(str::to_ascii_uppercase);
    let mut matching: Vec<&FakeKandjiDevice> = state
        .devices
        .iter()
        .filter(|d| {
            wanted
                .as_deref()
                .is_none_or(|w| d.serial_number.to_ascii_uppercase().contains(w))
        })
        .collect();
    if let Some(ordering) = request.query_value("ordering") {
        order(&mut matching, ordering);
    }
    let devices: Vec<Value> = window(&matching, offset, limit)
        .iter()
        .map(|d| device_json(d, state.string_booleans))
        .collect();
    json_response(StatusCode::OK, &Value::Array(devices))
}

/// Sorts as Kandji's `ordering` does: comma-separated fields, each ascending or, with a
/// leading `-`, descending; fields it doesn't document are ignored (Django REST framework
/// drops them). The sort is stable, so ties keep the inventory's order.
fn order(devices: &mut [&FakeKandjiDevice], ordering: &str) {
    type Key = fn(&FakeKandjiDevice) -> &str;
    let keys: Vec<(bool, Key)> = ordering
        .split(',')
        .filter_map(|field| {
            let field = field.trim();
            let (descending, name) = match field.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, field),
            };
            let key: Key = match name {
                "asset_tag" => |d| &d.asset_tag,
                "blueprint_id" => |d| &d.blueprint_id,
                "device_id" => |d| &d.device_id,
                "device_name" => |d| &d.device_name,
                "last_check_in" => |d| &d.last_check_in,
                "model" => |d| &d.model,
                "platform" => |d| &d.platform,
                "os_version" => |d| &d.os_version,
                "serial_number" => |d| &d.serial_number,
                "user" => |d| d.user.as_ref().map_or("", |(_, name, _)| name.as_str()),
                _ => return None,
            };
            Some((descending, key))
        })
        .collect();
    devices.sort_by(|a, b| {
        keys.iter()
            .map(|(descending, key)| {
                let order = key(a).cmp(key(b));
                if *descending { order.reverse() } else { order }
            })
            .find(|order| order.is_ne())
            .unwrap_or(cmp::Ordering::Equal)
    });
}

fn device_json(d: &FakeKandjiDevice, string_booleans: bool) -> Value {
    let flag = |b: bool| {
        if string_booleans {
            json!(if b { "True" } else { "False" })
        } else {
            json!(b)
        }
    };
    let user = match &d.user {
        Some((id, name, email)) => {
            json!({"email": email, "name": name, "id": id, "is_archived": false})
        }
        None => json!(""),
    };
    json!({
        "device_id": d.device_id,
        "device_name": d.device_name,
        "model": d.model,
        "serial_number": d.serial_number,
        "platform": d.platform,
        "os_version": d.os_version,
        "supplemental_build_version": "23E224",
        "supplemental_os_version_extra": "",
        "last_check_in": d.last_check_in,
        "user": user,
        "asset_tag": d.asset_tag,
        "blueprint_id": d.blueprint_id,
        "mdm_enabled": flag(d.mdm_enabled),
        "agent_installed": flag(d.agent_installed),
        "is_missing": flag(d.is_missing),
        "is_removed": flag(d.is_removed),
        "agent_version": if d.agent_installed { "4.5.9 (5160)" } else { "" },
        "first_enrollment": "2024-01-26 16:15:36.087016+00:00",
        "last_enrollment": "2024-05-13 20:09:27.374451+00:00",
        "blueprint_name": d.blueprint_name,
        "lost_mode_status": "",
        "tags": d.tags,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Fault;

    #[tokio::test]
    async fn an_ignored_filter_lists_every_device() {
        let kandji = FakeKandji::start().await.unwrap();
        kandji.add_device(FakeKandjiDevice::new("FVHHFKF7Q6L4"));
        kandji.add_device(FakeKandjiDevice::iphone("DMPXK2ABCD12"));
        let c = kandji.connection();
        let http = posture_http::ClientOptions::new(Duration::from_secs(5))
            .build()
            .unwrap();
        let count = || async {
            let devices: Value = http
                .get(
                    posture_http::Url::parse(&format!(
                        "{}/api/v1/devices?serial_number=FVHHFKF7Q6L4",
                        c.api_url
                    ))
                    .unwrap(),
                )
                .bearer_auth(c.api_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            devices.as_array().map_or(0, Vec::len)
        };
        assert_eq!(count().await, 1);
        kandji.fail_next(Fault::IgnoreFilter, 1);
        assert_eq!(count().await, 2);
        assert_eq!(count().await, 1);
    }
}
