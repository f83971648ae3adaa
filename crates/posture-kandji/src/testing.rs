//! A fake Kandji for tests (feature `test-support`).
//!
//! [`FakeKandji`] listens on `127.0.0.1` over plain HTTP and serves
//! `GET /api/v1/devices` in Kandji's documented shape:
//!
//! - a JSON **array** of devices (`[]` when none matches);
//! - `serial_number` is a **contains** match, as in Kandji ("all devices containing the
//!   partial string"), case-insensitive; `limit` (at most 300) and `offset` page;
//! - `user` is an object, or the empty string `""` when no user is assigned;
//! - booleans can be rendered as Kandji's strings (`"True"`, `"False"`), as its details
//!   endpoint does, with [`FakeKandji::set_string_booleans`];
//! - a static bearer token; anything else gets 401 `{"detail":…}`.
//!
//! Faults: a status, 429 with `Retry-After`, hanging, garbage, the wrong JSON shape.
//!
//! ```
//! use posture_core::{LookupRequest, PostureProvider};
//! use posture_kandji::KandjiProvider;
//! use posture_kandji::testing::{FakeKandji, FakeKandjiDevice};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kandji = FakeKandji::start().await?;
//! kandji.add_device(FakeKandjiDevice::new("FVHHFKF7Q6L4"));
//! let provider = KandjiProvider::new(kandji.config()?)?;
//! let decision = provider.lookup(&LookupRequest::new("FVHHFKF7Q6L4")).await?;
//! assert_eq!(decision.enrichment().unwrap().to_value()["blueprint"]["name"], "Engineering Macs");
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use posture_http::StatusCode;
use posture_http::reqwest::Method;
use posture_http::testing::{
    BoxResponse, FakeRequest, FakeResponse, FakeServer, FaultSlot, hang, html_response,
    json_response, lock, response, with_retry_after,
};
use serde_json::{Value, json};

use crate::{KandjiConfig, KandjiConfigError};

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

/// A failure the fake injects into device lists, after the token check.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer this status with a `{"detail":…}` body.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// Never answer.
    Hang,
    /// Answer 200 with a body that is not valid JSON.
    Garbage,
    /// Answer 200 with JSON of the wrong shape (`{"detail":"nope"}`).
    WrongShape,
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
}

/// One request the fake received.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
}

/// A fake Kandji on `127.0.0.1`. Stops when dropped.
#[derive(Debug)]
pub struct FakeKandji {
    server: FakeServer,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    fault: FaultSlot<Fault>,
    requests: AtomicU64,
    device_requests: AtomicU64,
    unauthorized: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    devices: Vec<FakeKandjiDevice>,
    latency: Duration,
    string_booleans: bool,
    requests: Vec<RecordedRequest>,
}

/// Requests kept for [`FakeKandji::requests`]; older ones are dropped.
const MAX_RECORDED: usize = 10_000;

impl FakeKandji {
    /// Starts a fake with no devices.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let handler_state = shared.clone();
        let server = FakeServer::start(Arc::new(move |request| {
            let shared = handler_state.clone();
            Box::pin(async move { handle(&shared, request).await }) as BoxResponse
        }))
        .await?;
        Ok(Self { server, shared })
    }

    /// The `KANDJI_API_URL` to configure.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The `KANDJI_API_URL` and `KANDJI_API_TOKEN` variables that point a server at this
    /// fake.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("KANDJI_API_URL".to_owned(), self.url()),
            ("KANDJI_API_TOKEN".to_owned(), API_TOKEN.to_owned()),
        ]
    }

    /// A provider configuration for this fake, with every default.
    pub fn config(&self) -> Result<KandjiConfig, KandjiConfigError> {
        KandjiConfig::new(&self.url(), API_TOKEN)
    }

    /// Adds a device record. Records may share a serial, as after a re-enrolment.
    pub fn add_device(&self, device: FakeKandjiDevice) {
        lock(&self.shared.state).devices.push(device);
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.state).latency = latency;
    }

    /// Renders booleans as Kandji's strings `"True"` / `"False"`.
    pub fn set_string_booleans(&self, strings: bool) {
        lock(&self.shared.state).string_booleans = strings;
    }

    /// Injects `fault` into every device list, or stops injecting with `None`.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.fault.set(fault);
    }

    /// Injects `fault` into the next `times` device lists only.
    pub fn fail_next(&self, fault: Fault, times: usize) {
        self.shared.fault.fail_next(fault, times);
    }

    /// The counters.
    pub fn stats(&self) -> FakeStats {
        let s = &self.shared;
        FakeStats {
            requests: s.requests.load(Ordering::SeqCst),
            device_requests: s.device_requests.load(Ordering::SeqCst),
            unauthorized: s.unauthorized.load(Ordering::SeqCst),
        }
    }

    /// The requests received, oldest first (at most the last 10 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }
}

async fn handle(shared: &Shared, request: FakeRequest) -> FakeResponse {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let latency = {
        let mut state = lock(&shared.state);
        if state.requests.len() >= MAX_RECORDED {
            state.requests.remove(0);
        }
        state.requests.push(RecordedRequest {
            method: request.method.to_string(),
            path: request.path.clone(),
            query: request.query.clone(),
        });
        state.latency
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let segments = request.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (&request.method, segments.as_slice()) {
        (&Method::GET, ["api", "v1", "devices"]) => {
            shared.device_requests.fetch_add(1, Ordering::SeqCst);
            if request.bearer() != Some(API_TOKEN) {
                shared.unauthorized.fetch_add(1, Ordering::SeqCst);
                let detail = if request.bearer().is_some() {
                    "Invalid token."
                } else {
                    "Authentication credentials were not provided."
                };
                return json_response(StatusCode::UNAUTHORIZED, &json!({"detail": detail}));
            }
            match shared.fault.take() {
                Some(Fault::Status(code)) => {
                    let status =
                        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    json_response(status, &json!({"detail": "injected failure"}))
                }
                Some(Fault::TooManyRequests { retry_after_secs }) => with_retry_after(
                    json_response(
                        StatusCode::TOO_MANY_REQUESTS,
                        &json!({"detail": "Request was throttled."}),
                    ),
                    retry_after_secs,
                ),
                Some(Fault::Hang) => hang().await,
                Some(Fault::Garbage) => response(
                    StatusCode::OK,
                    "application/json",
                    "[{\"device_id\": \"03f8\", \"serial_number\": ",
                ),
                Some(Fault::WrongShape) => {
                    json_response(StatusCode::OK, &json!({"detail": "nope"}))
                }
                None => list(shared, &request),
            }
        }
        _ => html_response(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn list(shared: &Shared, request: &FakeRequest) -> FakeResponse {
    let state = lock(&shared.state);
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
        .map(str::to_ascii_uppercase);
    let devices: Vec<Value> = state
        .devices
        .iter()
        .filter(|d| {
            wanted
                .as_deref()
                .is_none_or(|w| d.serial_number.to_ascii_uppercase().contains(w))
        })
        .skip(offset)
        .take(limit)
        .map(|d| device_json(d, state.string_booleans))
        .collect();
    json_response(StatusCode::OK, &Value::Array(devices))
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
