//! A fake Mosyle for tests.
//!
//! [`FakeMosyle`] listens on `127.0.0.1` over plain HTTP and serves Mosyle's documented
//! shapes, for both products, under the path prefix that names them:
//!
//! - **Mosyle Manager** under `/v2`: `POST /v2/login` with `{"accessToken","email","password"}`
//!   answers `200 {"UserID","email"}` with the JWT in the `Authorization: Bearer …` response
//!   header; `POST /v2/listdevices` `{"accessToken","options":{"os",…}}` answers
//!   `{"status":"OK","response":{"devices":[…],"rows":"1","page_size":100,"page":0}}`;
//!   `POST /v2/listdevicegroups` and `POST /v2/listdevicesbygroup` list device groups and
//!   their members' UDIDs.
//! - **Mosyle Business** under `/v1`: the access token comes as an `accessToken` **header**
//!   on `/v1/login`; devices are `POST /v1/devices` with `"operation":"list"`, and
//!   `response` is a **list** of one object.
//!
//! Every call after the login needs both the JWT (`Authorization: Bearer`) and the access
//! token (in the body or the header); anything else answers 401. `options.os` is required
//! (`{"status":"OK","response":[{"status":"MISSING_DATA","info":"Missing key: os"}]}`
//! otherwise). Every value is rendered as a string, as Mosyle does (`"1"`/`"0"`, `"rows"`);
//! `tags` as a comma-separated string, or a list with [`FakeMosyle::set_tags_as_list`].
//! A serial no device has is answered with an empty list, or with `DEVICES_NOTFOUND`
//! ([`FakeMosyle::set_not_found_status`]). Tokens expire when told
//! ([`FakeMosyle::expire_tokens`]).
//!
//! Faults ([`Fault`](crate::Fault)) apply to device and group lists: a status, 429 with `Retry-After`,
//! hanging, garbage, the wrong JSON shape, an ignored `serial_numbers` filter (every device
//! of the `os`, a page at a time).
//!
//! ```
//! use std::time::Duration;
//! use posture_fakes::mosyle::{FakeMosyle, FakeMosyleDevice};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mosyle = FakeMosyle::start().await?;
//! mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
//! let c = mosyle.connection();
//! let http = posture_http::ClientOptions::new(Duration::from_secs(2)).build()?;
//! let login = http
//!     .post(posture_http::Url::parse(&format!("{}/login", c.manager_url))?)
//!     .json(&serde_json::json!({"accessToken": c.access_token, "email": c.email, "password": c.password}))
//!     .send()
//!     .await?;
//! assert!(login.headers()["authorization"].to_str()?.starts_with("Bearer "));
//! # Ok(())
//! # }
//! ```

use std::sync::Mutex;

use hyper::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Value, json};

use crate::Wording;
use crate::mdm::{Fake, FakeState, Mdm, owned_vars};
use crate::server::{
    FakeRequest, FakeResponse, Method, StatusCode, html_response, json_response, lock, window,
};

/// The API access token the fake accepts.
pub const ACCESS_TOKEN: &str = "fake-mosyle-access-token";
/// The administrator's email the fake accepts.
pub const EMAIL: &str = "api-admin@school.example";
/// The administrator's password the fake accepts.
pub const PASSWORD: &str = "fake-mosyle-password";

/// How many devices a page of `listdevices` holds: 100, as Mosyle's documented answer
/// (`"page_size": 100`); Mosyle documents no option to change it. Pages are numbered from 0
/// ("Pagination start with 0"), `page` in the answer echoes the one asked, and `rows`
/// counts every matching device.
pub const PAGE_SIZE: usize = 100;

/// How many device groups a page of `listdevicegroups` holds, as documented (`"page_size": 50`).
pub const GROUP_PAGE_SIZE: usize = 50;

/// A device in the fake inventory.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeMosyleDevice {
    /// `deviceudid`.
    pub udid: String,
    /// `serial_number`.
    pub serial_number: String,
    /// `os`: `mac`, `ios`, `tvos` or `visionos`.
    pub os: String,
    /// `device_name`.
    pub device_name: String,
    /// `osversion`.
    pub os_version: String,
    /// `status`: `INSTALLED` for a managed device.
    pub status: String,
    /// `is_deleted`.
    pub is_deleted: bool,
    /// `userid`, `username`, `useremail`, `usertype`; `None` for no user.
    pub user: Option<(String, String, String, String)>,
    /// `tags`.
    pub tags: Vec<String>,
}

impl FakeMosyleDevice {
    /// An enrolled Mac (`status` `INSTALLED`), assigned to the staff member Betty.
    pub fn new(serial_number: impl Into<String>) -> Self {
        let serial_number = serial_number.into();
        Self {
            udid: format!("UDID-{serial_number}"),
            os: "mac".to_owned(),
            device_name: format!("Mac {serial_number}"),
            os_version: "14.4.1".to_owned(),
            status: "INSTALLED".to_owned(),
            is_deleted: false,
            user: Some((
                "betty".to_owned(),
                "Betty Jackson".to_owned(),
                "betty@school.example".to_owned(),
                "STAFF".to_owned(),
            )),
            tags: vec!["staff".to_owned(), "macs".to_owned()],
            serial_number,
        }
    }

    /// An enrolled iPad (`os` `ios`) with no user.
    pub fn ipad(serial_number: impl Into<String>) -> Self {
        let mut device = Self::new(serial_number);
        device.os = "ios".to_owned();
        device.device_name = format!("iPad {}", device.serial_number);
        device.os_version = "17.5".to_owned();
        device.user = None;
        device.tags = Vec::new();
        device
    }

    /// Sets `os`.
    #[must_use]
    pub fn with_os(mut self, os: impl Into<String>) -> Self {
        self.os = os.into();
        self
    }

    /// Sets `status` (`ENROLLED`, `UNINSTALLED`, …).
    #[must_use]
    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.status = status.into();
        self
    }

    /// Marks the device deleted (`is_deleted: "1"`).
    #[must_use]
    pub fn deleted(mut self) -> Self {
        self.is_deleted = true;
        self
    }
}

/// A device group: its ID, name, `os`, and members' UDIDs.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeMosyleGroup {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// The `os` whose group list shows it.
    pub os: String,
    /// The members' UDIDs.
    pub udids: Vec<String>,
}

impl FakeMosyleGroup {
    /// A Mac group.
    pub fn new(id: impl Into<String>, name: impl Into<String>, udids: &[&str]) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            os: "mac".to_owned(),
            udids: udids.iter().map(|u| (*u).to_owned()).collect(),
        }
    }
}

/// Counters of what the fake served.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeMosyleStats {
    /// Requests of any kind.
    pub requests: u64,
    /// Logins answered with a token.
    pub logins: u64,
    /// Device-list requests.
    pub device_requests: u64,
    /// Group requests (`listdevicegroups`, `listdevicesbygroup`).
    pub group_requests: u64,
    /// Requests answered 401.
    pub unauthorized: u64,
}

/// What a provider needs to reach a [`FakeMosyle`].
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct MosyleConnection {
    /// The Mosyle Manager API URL, `http://127.0.0.1:<port>/v2`.
    pub manager_url: String,
    /// The Mosyle Business API URL, `http://127.0.0.1:<port>/v1`.
    pub business_url: String,
    /// [`ACCESS_TOKEN`].
    pub access_token: &'static str,
    /// [`EMAIL`].
    pub email: &'static str,
    /// [`PASSWORD`].
    pub password: &'static str,
}

/// A fake Mosyle on `127.0.0.1`. Stops when dropped.
pub type FakeMosyle = Fake<Mosyle>;

/// Mosyle's part of a [`FakeMosyle`]: its devices and groups, its tokens and how it
/// answers. Faults apply to device and group lists.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Mosyle {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    devices: Vec<FakeMosyleDevice>,
    groups: Vec<FakeMosyleGroup>,
    tokens: Vec<String>,
    /// Logins answered, which number the tokens.
    logins: u64,
    not_found_status: bool,
    tags_as_list: bool,
}

/// The products, by the path prefix that names them.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Product {
    Manager,
    Business,
}

impl Fake<Mosyle> {
    /// The URLs and credentials.
    pub fn connection(&self) -> MosyleConnection {
        MosyleConnection {
            manager_url: self.url(),
            business_url: format!("{}/v1", self.root_url()),
            access_token: ACCESS_TOKEN,
            email: EMAIL,
            password: PASSWORD,
        }
    }

    /// Adds a device record. Records may share a serial.
    pub fn add_device(&self, device: FakeMosyleDevice) {
        lock(&self.mdm().state).devices.push(device);
    }

    /// Adds a device group.
    pub fn add_group(&self, group: FakeMosyleGroup) {
        lock(&self.mdm().state).groups.push(group);
    }

    /// Answers a serial no device has with `{"status":"DEVICES_NOTFOUND"}` instead of an
    /// empty list.
    pub fn set_not_found_status(&self, on: bool) {
        lock(&self.mdm().state).not_found_status = on;
    }

    /// Renders `tags` as a JSON list instead of a comma-separated string.
    pub fn set_tags_as_list(&self, on: bool) {
        lock(&self.mdm().state).tags_as_list = on;
    }

    /// Makes every JWT handed out so far invalid (401), as after 24 hours.
    pub fn expire_tokens(&self) {
        lock(&self.mdm().state).tokens.clear();
    }
}

impl Mdm for Mosyle {
    type Stats = FakeMosyleStats;

    /// Mosyle Manager's API, so that [`Fake::url`] is its `MOSYLE_API_URL`.
    const API_PATH: &'static str = "/v2";

    const WORDING: Wording = Wording {
        error: |status| {
            json_response(
                status,
                &json!({"status": "ERROR", "info": "injected failure"}),
            )
        },
        too_many: || {
            json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"status": "ERROR", "info": "Too many requests"}),
            )
        },
        garbage: "{\"status\":\"OK\",\"response\":{\"devices\":[{\"serial_number\":",
        wrong_shape: || json!(["not", "a", "response"]),
    };

    async fn handle(fake: &FakeState<Self>, request: FakeRequest) -> FakeResponse {
        fake.count(|s| s.requests += 1);
        fake.delay().await;
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (product, endpoint) = match segments.as_slice() {
            ["v2", endpoint] => (Product::Manager, *endpoint),
            ["v1", endpoint] => (Product::Business, *endpoint),
            _ => return html_response(StatusCode::NOT_FOUND, "Not Found"),
        };
        if request.method != Method::POST {
            return html_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        }
        let body = request.json_body();
        let access_token = body
            .get("accessToken")
            .and_then(Value::as_str)
            .or(request.header("accesstoken"));
        if endpoint == "login" {
            return login(fake, &body, access_token);
        }
        let jwt_ok = request
            .bearer()
            .is_some_and(|jwt| lock(&fake.mdm.state).tokens.iter().any(|t| t == jwt));
        if !jwt_ok || access_token != Some(ACCESS_TOKEN) {
            fake.count(|s| s.unauthorized += 1);
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"status": "UNAUTHORIZED", "info": "Invalid or expired token"}),
            );
        }
        let options = body.get("options").cloned().unwrap_or(Value::Null);
        let answer = match (product, endpoint) {
            (Product::Manager, "listdevices") => Endpoint::Devices,
            (Product::Business, "devices")
                if body.get("operation").and_then(Value::as_str) == Some("list") =>
            {
                Endpoint::Devices
            }
            (_, "listdevicegroups") => Endpoint::Groups,
            (_, "listdevicesbygroup") => Endpoint::Members,
            _ => return html_response(StatusCode::NOT_FOUND, "Not Found"),
        };
        fake.faulted(|ignore_filter| {
            let state = lock(&fake.mdm.state);
            match answer {
                Endpoint::Devices => {
                    fake.count(|s| s.device_requests += 1);
                    devices(&state, product, &options, ignore_filter)
                }
                Endpoint::Groups => {
                    fake.count(|s| s.group_requests += 1);
                    groups(&state, &options)
                }
                Endpoint::Members => {
                    fake.count(|s| s.group_requests += 1);
                    members(&state, &options)
                }
            }
        })
        .await
    }

    /// The variables that point a server at this fake (Mosyle Manager).
    fn env_vars(fake: &Fake<Self>) -> Vec<(String, String)> {
        owned_vars(&[
            ("MOSYLE_API_URL", &fake.url()),
            ("MOSYLE_ACCESS_TOKEN", ACCESS_TOKEN),
            ("MOSYLE_EMAIL", EMAIL),
            ("MOSYLE_PASSWORD", PASSWORD),
        ])
    }

    /// An enrolled Mac.
    fn enrol(fake: &Fake<Self>, serial: &str) {
        fake.add_device(FakeMosyleDevice::new(serial));
    }

    fn upstream_requests(stats: &FakeMosyleStats) -> u64 {
        stats.requests
    }
}

enum Endpoint {
    Devices,
    Groups,
    Members,
}

fn login(fake: &FakeState<Mosyle>, body: &Value, access_token: Option<&str>) -> FakeResponse {
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    if access_token != Some(ACCESS_TOKEN)
        || field("email") != Some(EMAIL)
        || field("password") != Some(PASSWORD)
    {
        fake.count(|s| s.unauthorized += 1);
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"status": "WRONG_CREDENTIALS", "info": "Invalid credentials"}),
        );
    }
    fake.count(|s| s.logins += 1);
    let mut state = lock(&fake.mdm.state);
    state.logins += 1;
    let jwt = format!("eyJhbGciOiJIUzI1NiJ9.fake-mosyle-{}.sig", state.logins);
    state.tokens.push(jwt.clone());
    drop(state);
    let mut answer = json_response(StatusCode::OK, &json!({"UserID": "42", "email": EMAIL}));
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {jwt}")) {
        answer.headers_mut().insert(AUTHORIZATION, value);
    }
    answer
}

fn missing(key: &str) -> FakeResponse {
    json_response(
        StatusCode::OK,
        &json!({"status": "OK", "response": [{"status": "MISSING_DATA", "info": format!("Missing key: {key}")}]}),
    )
}

fn devices(state: &State, product: Product, options: &Value, ignore_filter: bool) -> FakeResponse {
    let Some(os) = options.get("os").and_then(Value::as_str) else {
        return missing("os");
    };
    let serials: Vec<String> = match options.get("serial_numbers") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let page = options
        .get("page")
        .and_then(|p| {
            p.as_u64()
                .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0) as usize;
    let matching: Vec<&FakeMosyleDevice> = state
        .devices
        .iter()
        .filter(|d| d.os == os)
        .filter(|d| ignore_filter || serials.is_empty() || serials.contains(&d.serial_number))
        .collect();
    if matching.is_empty() && state.not_found_status {
        return json_response(
            StatusCode::OK,
            &json!({"status": "DEVICES_NOTFOUND", "info": "No devices found"}),
        );
    }
    let rows = matching.len();
    let devices: Vec<Value> = window(&matching, page.saturating_mul(PAGE_SIZE), PAGE_SIZE)
        .iter()
        .map(|d| device_json(d, state.tags_as_list))
        .collect();
    let inner = json!({
        "devices": devices,
        "rows": rows.to_string(),
        "page_size": PAGE_SIZE,
        "page": page,
    });
    let response = match product {
        Product::Manager => inner,
        Product::Business => json!([inner]),
    };
    json_response(
        StatusCode::OK,
        &json!({"status": "OK", "response": response}),
    )
}

fn groups(state: &State, options: &Value) -> FakeResponse {
    let Some(os) = options.get("os").and_then(Value::as_str) else {
        return missing("os");
    };
    let groups: Vec<Value> = state
        .groups
        .iter()
        .filter(|g| g.os == os)
        .map(|g| json!({"id": g.id, "name": g.name, "device_numbers": g.udids.len().to_string()}))
        .collect();
    let rows = groups.len();
    json_response(
        StatusCode::OK,
        &json!({"status": "OK", "response": [{"groups": groups, "rows": rows, "page_size": GROUP_PAGE_SIZE, "page": 1}]}),
    )
}

fn members(state: &State, options: &Value) -> FakeResponse {
    let id = options
        .get("iddevicegroup")
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    if id.is_empty() {
        return missing("iddevicegroup");
    }
    match state.groups.iter().find(|g| g.id == id) {
        Some(group) => json_response(
            StatusCode::OK,
            &json!({"status": "OK", "response": {"group_name": group.name, "udids": group.udids}}),
        ),
        None => json_response(
            StatusCode::OK,
            &json!({"status": "GROUP_NOTFOUND", "info": "Device group not found"}),
        ),
    }
}

fn device_json(d: &FakeMosyleDevice, tags_as_list: bool) -> Value {
    let (userid, username, useremail, usertype) = d.user.clone().unwrap_or_default();
    let tags = if tags_as_list {
        json!(d.tags)
    } else {
        json!(d.tags.join(","))
    };
    json!({
        "deviceudid": d.udid,
        "total_disk": "256.0000000000",
        "os": d.os,
        "serial_number": d.serial_number,
        "device_name": d.device_name,
        "osversion": d.os_version,
        "status": d.status,
        "is_supervised": "1",
        "is_deleted": if d.is_deleted { "1" } else { "0" },
        "date_last_beat": "1721740000",
        "userid": userid,
        "useremail": useremail,
        "username": username,
        "usertype": usertype,
        "tags": tags,
        "asset_tag": "",
    })
}
