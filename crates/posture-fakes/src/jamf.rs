//! A fake Jamf Pro server for tests and benchmarks.
//!
//! [`FakeJamf`] listens on `127.0.0.1` over plain HTTP and speaks the documented shapes of
//! the endpoints the provider uses:
//!
//! - `POST /api/oauth/token` (and `/api/v1/oauth/token`): client credentials in a form,
//!   answering `{"access_token","scope","token_type","expires_in"}` or an RFC 6749
//!   `invalid_client` error;
//! - `GET /JSSResource/computers/serialnumber/{sn}` and `/JSSResource/mobiledevices/…`,
//!   whole or as `/subset/General&Location&…`: Classic records with only the subsets asked
//!   for, JSON only when `Accept: application/json` is sent (XML otherwise, as Jamf does),
//!   an HTML 404 page for unknown serials, and group lists in any of the shapes Jamf has
//!   been seen to use ([`GroupShape`]);
//! - `GET /JSSResource/{computers,mobiledevices}/match/{pattern}`: Classic searches (`*`
//!   wildcards) over names and serial numbers;
//! - `GET /api/v1/computers-inventory`, `/api/v3/…` and `/api/v4/…` (v4 with its renamed
//!   `lastContact`) and `GET /api/v2/mobile-devices/detail`: `{"totalCount","results"}` with
//!   only the requested `section`s filled and an RSQL `filter` on the serial;
//! - `GET /api/v1/departments/{id}`, and `GET /api/v1/departments` in pages;
//! - pages as the Jamf Pro API serves them: `page` from 0, `page-size` (default 100, at most
//!   [`MAX_PAGE_SIZE`]), and `totalCount` for all pages;
//! - bearer tokens that expire on time and can be revoked, answering 401.
//!
//! Like a real Jamf Pro it can lack endpoints (removed in a later release, or not yet added:
//! [`FakeJamf::remove_endpoint`]) and its API role can lack privileges
//! ([`FakeJamf::revoke_privilege`]), answering 404 or 403 as Jamf does. It can add latency,
//! inject faults ([`Fault`](crate::Fault), [`TokenFault`]), and counts everything, including the most
//! requests in flight at once.
//!
//! Point a provider at it with [`FakeJamf::connection`]: in posture-jamf's tests,
//! `JamfConfig::new(&c.base_url, c.client_id, c.client_secret)`.
//!
//! ```
//! use std::time::Duration;
//! use posture_fakes::jamf::{FakeDevice, FakeJamf};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let jamf = FakeJamf::start().await?;
//! jamf.add_computer(FakeDevice::new("C02XL0GJJG5J").with_groups(["Compliant Macs"]));
//! let c = jamf.connection();
//! let http = posture_http::ClientOptions::new(Duration::from_secs(2)).build()?;
//! let token: serde_json::Value = http
//!     .post(posture_http::Url::parse(&format!("{}/api/oauth/token", c.base_url))?)
//!     .form(&[
//!         ("grant_type", "client_credentials"),
//!         ("client_id", c.client_id),
//!         ("client_secret", c.client_secret),
//!     ])
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(token["token_type"], "Bearer");
//! assert_eq!(jamf.stats().token_requests, 1);
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::header::ACCEPT;
use serde_json::{Value, json};

use crate::fault::TokenWording;
use crate::mdm::{Fake, FakeState, Mdm, RequestLog, owned_vars};
use crate::oauth::Tokens;
use crate::server::{
    FakeRequest, FakeResponse, Method, StatusCode, json_response, lock, parse_pairs,
    percent_decode, response, window,
};
use crate::{TokenFault, Wording};

/// The client ID the fake accepts.
pub const CLIENT_ID: &str = "5b8e6f44-2a0e-4a4e-9a43-0f4c9f8c1a11";

/// The client secret the fake accepts.
pub const CLIENT_SECRET: &str = "fake-client-secret";

/// A device in the fake inventory: a computer or a mobile device, depending on which list it
/// is added to.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeDevice {
    /// The serial number, as Jamf stores it.
    pub serial_number: String,
    /// The UDID.
    pub udid: String,
    /// The device name.
    pub name: String,
    /// Whether the device is managed; `None` renders the flag as `null`, as a partial
    /// record would.
    pub managed: Option<bool>,
    /// The assigned user's short name.
    pub username: String,
    /// The assigned user's full name.
    pub realname: String,
    /// The assigned user's email address.
    pub email_address: String,
    /// The assigned user's position.
    pub position: String,
    /// The department name (Classic, and the Jamf Pro API for mobile devices).
    pub department: String,
    /// The department ID (Jamf Pro API); `-1` for none.
    pub department_id: String,
    /// The names of the groups the device belongs to.
    pub groups: Vec<String>,
}

impl FakeDevice {
    /// A managed device with a user, in no group and no department.
    pub fn new(serial_number: impl Into<String>) -> Self {
        let serial_number = serial_number.into();
        Self {
            udid: format!("UDID-{serial_number}"),
            name: format!("Device {serial_number}"),
            serial_number,
            managed: Some(true),
            username: "alice".to_owned(),
            realname: "Alice Example".to_owned(),
            email_address: "alice@example.com".to_owned(),
            position: "Engineer".to_owned(),
            department: String::new(),
            department_id: "-1".to_owned(),
            groups: Vec::new(),
        }
    }

    /// Sets the group names.
    #[must_use]
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the department's ID and name. Add the department with
    /// [`FakeJamf::add_department`] for the Jamf Pro API to resolve it.
    #[must_use]
    pub fn with_department(mut self, id: impl Into<String>, name: impl Into<String>) -> Self {
        self.department_id = id.into();
        self.department = name.into();
        self
    }

    /// Marks the device as not managed.
    #[must_use]
    pub fn unmanaged(mut self) -> Self {
        self.managed = Some(false);
        self
    }

    /// Leaves the management flag out of the record (`null`).
    #[must_use]
    pub fn management_unreported(mut self) -> Self {
        self.managed = None;
        self
    }
}

/// An inventory endpoint the fake serves unless it is removed.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum FakeEndpoint {
    /// Every `/JSSResource/computers/…` route (deprecated by Jamf in 11.15).
    ClassicComputers,
    /// Every `/JSSResource/mobiledevices/…` route.
    ClassicMobileDevices,
    /// `/api/v1/computers-inventory`.
    ComputersV1,
    /// `/api/v3/computers-inventory` (deprecated in 11.30).
    ComputersV3,
    /// `/api/v4/computers-inventory` (added in 11.30).
    ComputersV4,
    /// `/api/v2/mobile-devices/detail`.
    MobileDevicesV2,
}

/// A privilege of the fake's API role; all are granted until revoked.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum FakePrivilege {
    /// Read Computers: every computer inventory route.
    ReadComputers,
    /// Read Mobile Devices: every mobile-device inventory route.
    ReadMobileDevices,
    /// Read Departments: `/api/v1/departments/{id}`.
    ReadDepartments,
}

/// How Classic group lists are rendered.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum GroupShape {
    /// `["A","B"]` for computers (what real tenants return), `[{"id":1,"name":"A"}]` for
    /// mobile devices.
    #[default]
    Flat,
    /// Jamf's documentation example for computers, `[{"group":"A"},{"group":"B"}]`; mobile
    /// devices as in [`Flat`](Self::Flat).
    GroupObjects,
    /// The XML-ish form: `{"size":2,"group":["A","B"]}` for computers,
    /// `[{"size":1},{"mobile_device_group":{"id":1,"name":"A"}}]` for mobile devices.
    SizeWrapped,
}

/// Counters of what the fake served.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeStats {
    /// Token requests, whatever their outcome.
    pub token_requests: u64,
    /// Inventory lookups (Classic records and Jamf Pro API searches), whatever their
    /// outcome.
    pub lookup_requests: u64,
    /// Classic `match` searches, whatever their outcome.
    pub match_requests: u64,
    /// Department requests.
    pub department_requests: u64,
    /// Requests answered 401 for a missing, unknown, expired or revoked token.
    pub unauthorized: u64,
    /// The most requests (of any kind) in progress at once, latency included.
    pub max_concurrent_requests: u64,
}

pub use crate::mdm::RecordedRequest;

/// What a provider needs to reach a [`FakeJamf`]: `JAMF_BASE_URL`, `JAMF_CLIENT_ID`,
/// `JAMF_CLIENT_SECRET`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct JamfConnection {
    /// The base URL, such as `http://127.0.0.1:40123/jamf`.
    pub base_url: String,
    /// The API client ID ([`CLIENT_ID`]).
    pub client_id: &'static str,
    /// The API client secret ([`CLIENT_SECRET`]).
    pub client_secret: &'static str,
}

/// A fake Jamf Pro on `127.0.0.1`. Stops when dropped.
pub type FakeJamf = Fake<Jamf>;

/// Jamf Pro's part of a [`FakeJamf`]: its inventory, tokens, endpoints and privileges, and
/// how it answers. Faults apply to inventory lookups.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Jamf {
    state: Mutex<State>,
    requests: RequestLog,
    in_flight: AtomicU64,
}

#[derive(Debug)]
struct State {
    prefix: String,
    computers: HashMap<String, FakeDevice>,
    mobile_devices: HashMap<String, FakeDevice>,
    departments: HashMap<String, String>,
    tokens: Tokens,
    group_shape: GroupShape,
    removed: HashSet<FakeEndpoint>,
    revoked: HashSet<FakePrivilege>,
    stale_computers: Vec<FakeDevice>,
    max_page_size: usize,
}

impl Default for State {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            computers: HashMap::new(),
            mobile_devices: HashMap::new(),
            departments: HashMap::new(),
            tokens: Tokens::new(Duration::from_secs(1200)),
            group_shape: GroupShape::Flat,
            removed: HashSet::new(),
            revoked: HashSet::new(),
            stale_computers: Vec::new(),
            max_page_size: MAX_PAGE_SIZE,
        }
    }
}

/// The largest `page-size` served by default; a larger one gets this many, as a server
/// with a page cap answers. Jamf's schema names no maximum.
pub const MAX_PAGE_SIZE: usize = 2000;

impl Fake<Jamf> {
    /// Starts a fake serving under a path prefix such as `/jamf`, as an on-premises Jamf
    /// behind a reverse proxy might.
    pub async fn start_with_prefix(prefix: &str) -> std::io::Result<Self> {
        let jamf = Self::start().await?;
        lock(&jamf.mdm().state).prefix = prefix.trim_end_matches('/').to_owned();
        Ok(jamf)
    }

    /// The base URL to configure, such as `http://127.0.0.1:40123/jamf`.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.url(), lock(&self.mdm().state).prefix)
    }

    /// The base URL and the credentials the fake accepts.
    pub fn connection(&self) -> JamfConnection {
        JamfConnection {
            base_url: self.base_url(),
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
        }
    }

    /// Adds (or replaces) a computer.
    pub fn add_computer(&self, device: FakeDevice) {
        let key = device.serial_number.to_ascii_uppercase();
        lock(&self.mdm().state).computers.insert(key, device);
    }

    /// Adds a second, stale computer record for a serial, as a re-enrolment or a logic-board
    /// swap leaves behind. Jamf Pro API searches return it before the live record; Classic
    /// lookups by serial don't see it.
    pub fn add_stale_computer(&self, device: FakeDevice) {
        lock(&self.mdm().state).stale_computers.push(device);
    }

    /// Adds (or replaces) a mobile device.
    pub fn add_mobile_device(&self, device: FakeDevice) {
        let key = device.serial_number.to_ascii_uppercase();
        lock(&self.mdm().state).mobile_devices.insert(key, device);
    }

    /// Removes the computer and the mobile device with this serial, as deleting them in
    /// Jamf Pro does.
    pub fn remove_device(&self, serial_number: &str) {
        let key = serial_number.to_ascii_uppercase();
        let mut state = lock(&self.mdm().state);
        state.computers.remove(&key);
        state.mobile_devices.remove(&key);
    }

    /// Adds (or renames) a department.
    pub fn add_department(&self, id: impl Into<String>, name: impl Into<String>) {
        lock(&self.mdm().state)
            .departments
            .insert(id.into(), name.into());
    }

    /// Sets the lifetime of tokens issued from now on (whole seconds in `expires_in`;
    /// default 1200 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.mdm().state).tokens.set_lifetime(lifetime);
    }

    /// Serves at most `size` records a page (default [`MAX_PAGE_SIZE`]), whatever
    /// `page-size` asks, as a server with a lower cap would.
    pub fn set_max_page_size(&self, size: usize) {
        lock(&self.mdm().state).max_page_size = size.max(1);
    }

    /// Injects a failure into the token endpoint, or stops with `None`.
    pub fn set_token_fault(&self, fault: Option<TokenFault>) {
        lock(&self.mdm().state).tokens.set_fault(fault);
    }

    /// Renders Classic group lists in this shape.
    pub fn set_group_shape(&self, shape: GroupShape) {
        lock(&self.mdm().state).group_shape = shape;
    }

    /// Removes an endpoint, as a Jamf Pro release that dropped it (or predates it) would:
    /// its routes answer 404, an HTML page for Classic and an `ApiError` for the Jamf Pro API.
    pub fn remove_endpoint(&self, endpoint: FakeEndpoint) {
        lock(&self.mdm().state).removed.insert(endpoint);
    }

    /// Serves a removed endpoint again.
    pub fn restore_endpoint(&self, endpoint: FakeEndpoint) {
        lock(&self.mdm().state).removed.remove(&endpoint);
    }

    /// Takes a privilege from the API role: the routes it guards answer 403.
    pub fn revoke_privilege(&self, privilege: FakePrivilege) {
        lock(&self.mdm().state).revoked.insert(privilege);
    }

    /// Grants a revoked privilege again.
    pub fn grant_privilege(&self, privilege: FakePrivilege) {
        lock(&self.mdm().state).revoked.remove(&privilege);
    }

    /// Revokes every token issued so far: requests bearing them get 401, as after a token
    /// was invalidated on the Jamf side.
    pub fn revoke_tokens(&self) {
        lock(&self.mdm().state).tokens.revoke_all();
    }

    /// The requests received, oldest first (at most the last 10 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.mdm().requests.all()
    }

    /// The requests received at a path ending with `suffix`, such as `/api/v1/computers-inventory`, oldest
    /// first.
    pub fn requests_to(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.mdm().requests.to(suffix)
    }
}

type Answer = FakeResponse;

/// What Jamf's handlers are given.
type Shared = FakeState<Jamf>;

impl Mdm for Jamf {
    type Stats = FakeStats;

    const WORDING: Wording = Wording {
        error: |status| api_error(status, "FAULT", "injected failure"),
        too_many: || {
            api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "slow down",
            )
        },
        garbage: "{\"computer\": {\"general\": [1, 2",
        wrong_shape: || json!({"error": "nope"}),
    };

    async fn handle(shared: &Shared, request: FakeRequest) -> FakeResponse {
        let accept = request.header(ACCEPT).map(str::to_owned);
        let bearer = request.bearer().map(str::to_owned);
        let prefix = lock(&shared.mdm.state).prefix.clone();
        let Some(path) = request.path.strip_prefix(prefix.as_str()) else {
            return html(StatusCode::NOT_FOUND, "Not Found");
        };
        shared.mdm.requests.record(&request, path);
        let path = path.to_owned();
        let FakeRequest {
            method,
            query,
            body,
            ..
        } = request;
        let now = shared.mdm.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.count(|s| s.max_concurrent_requests = s.max_concurrent_requests.max(now));
        let _in_flight = InFlight(&shared.mdm.in_flight);
        shared.delay().await;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (&method, segments.as_slice()) {
            (&Method::POST, ["api", "oauth", "token"] | ["api", "v1", "oauth", "token"]) => {
                token(shared, &body).await
            }
            (
                &Method::GET,
                [
                    "JSSResource",
                    collection @ ("computers" | "mobiledevices"),
                    rest @ ..,
                ],
            ) => {
                let computer = *collection == "computers";
                let endpoint = if computer {
                    FakeEndpoint::ClassicComputers
                } else {
                    FakeEndpoint::ClassicMobileDevices
                };
                let rest: Vec<String> = rest.iter().map(|s| percent_decode(s)).collect();
                let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
                let route = match rest.as_slice() {
                    ["serialnumber", serial] => ClassicRoute::Record(serial, None),
                    ["serialnumber", serial, "subset", subsets] => {
                        ClassicRoute::Record(serial, Some(subsets))
                    }
                    ["match", pattern] => ClassicRoute::Match(pattern),
                    _ => return html(StatusCode::NOT_FOUND, "Not Found"),
                };
                let count: fn(&mut FakeStats) = match route {
                    ClassicRoute::Record(..) => |s| s.lookup_requests += 1,
                    ClassicRoute::Match(_) => |s| s.match_requests += 1,
                };
                if let Some(missing) = removed(shared, count, endpoint, true) {
                    return missing;
                }
                let privilege = inventory_privilege(computer);
                inventory(
                    shared,
                    bearer.as_deref(),
                    true,
                    privilege,
                    |_| match route {
                        ClassicRoute::Record(serial, subsets) => {
                            classic(shared, computer, serial, subsets, accept.as_deref())
                        }
                        ClassicRoute::Match(pattern) => classic_match(shared, computer, pattern),
                    },
                )
                .await
            }
            (&Method::GET, ["api", version @ ("v1" | "v3" | "v4"), "computers-inventory"]) => {
                let endpoint = match *version {
                    "v1" => FakeEndpoint::ComputersV1,
                    "v3" => FakeEndpoint::ComputersV3,
                    _ => FakeEndpoint::ComputersV4,
                };
                if let Some(missing) = removed(shared, LOOKUP, endpoint, false) {
                    return missing;
                }
                let v4 = *version == "v4";
                let privilege = inventory_privilege(true);
                inventory(shared, bearer.as_deref(), false, privilege, |ignore| {
                    pro(shared, true, v4, &query, ignore)
                })
                .await
            }
            (&Method::GET, ["api", "v2", "mobile-devices", "detail"]) => {
                if let Some(missing) = removed(shared, LOOKUP, FakeEndpoint::MobileDevicesV2, false)
                {
                    return missing;
                }
                let privilege = inventory_privilege(false);
                inventory(shared, bearer.as_deref(), false, privilege, |ignore| {
                    pro(shared, false, false, &query, ignore)
                })
                .await
            }
            (&Method::GET, ["api", "v1", "departments"]) => {
                shared.count(|s| s.department_requests += 1);
                if let Some(denied) = departments_denied(shared, bearer.as_deref()) {
                    return denied;
                }
                let state = lock(&shared.mdm.state);
                // Jamf's default sort for departments is `id:asc`; IDs are numbers.
                let mut all: Vec<(&String, &String)> = state.departments.iter().collect();
                all.sort_by_key(|(id, _)| (id.parse::<u64>().unwrap_or(u64::MAX), id.as_str()));
                let listed: Vec<Value> = paged(&query, state.max_page_size, &all)
                    .iter()
                    .map(|(id, name)| json!({"id": id, "name": name}))
                    .collect();
                json_response(
                    StatusCode::OK,
                    &json!({"totalCount": all.len(), "results": listed}),
                )
            }
            (&Method::GET, ["api", "v1", "departments", id]) => {
                shared.count(|s| s.department_requests += 1);
                if let Some(denied) = departments_denied(shared, bearer.as_deref()) {
                    return denied;
                }
                let name = lock(&shared.mdm.state).departments.get(*id).cloned();
                match name {
                    Some(name) => json_response(StatusCode::OK, &json!({"id": id, "name": name})),
                    None => api_error(StatusCode::NOT_FOUND, "INVALID_ID", "Department not found"),
                }
            }
            _ => html(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    /// The `JAMF_BASE_URL`, `JAMF_CLIENT_ID` and `JAMF_CLIENT_SECRET` variables that point a
    /// server at this fake.
    fn env_vars(fake: &Fake<Self>) -> Vec<(String, String)> {
        owned_vars(&[
            ("JAMF_BASE_URL", &fake.base_url()),
            ("JAMF_CLIENT_ID", CLIENT_ID),
            ("JAMF_CLIENT_SECRET", CLIENT_SECRET),
        ])
    }

    /// A mobile device: what a lookup with no mode asks Jamf for.
    fn enrol(fake: &Fake<Self>, serial: &str) {
        fake.add_mobile_device(FakeDevice::new(serial));
    }

    /// Token, inventory and department requests.
    fn upstream_requests(stats: &FakeStats) -> u64 {
        stats.token_requests + stats.lookup_requests + stats.department_requests
    }
}

/// Counts an inventory lookup.
const LOOKUP: fn(&mut FakeStats) = |s| s.lookup_requests += 1;

/// 401 without a valid token, 403 without Read Departments.
fn departments_denied(shared: &Shared, bearer: Option<&str>) -> Option<Answer> {
    if let Some(denied) = check_token(shared, bearer, false) {
        return Some(denied);
    }
    lock(&shared.mdm.state)
        .revoked
        .contains(&FakePrivilege::ReadDepartments)
        .then(|| api_error(StatusCode::FORBIDDEN, "FORBIDDEN", "Forbidden"))
}

/// The items of the page `query` asks for: `page` from 0 (default 0), `page-size` items
/// (default 100, at most `max`).
fn paged<'a, T>(query: &[(String, String)], max: usize, items: &'a [T]) -> &'a [T] {
    let number = |name: &str, default: usize| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let size = number("page-size", 100).min(max);
    window(items, number("page", 0).saturating_mul(size), size)
}

/// What a Classic inventory request asks for.
enum ClassicRoute<'a> {
    /// One record by serial number, whole or in the named subsets (`General&Location`).
    Record(&'a str, Option<&'a str>),
    /// A search.
    Match(&'a str),
}

/// The 404 for a removed endpoint: an HTML page from Classic, an `ApiError` from the Jamf
/// Pro API. Jamf routes before it authenticates, so no token is needed to get it.
fn removed(
    shared: &Shared,
    count: fn(&mut FakeStats),
    endpoint: FakeEndpoint,
    classic: bool,
) -> Option<Answer> {
    shared.count(count);
    if !lock(&shared.mdm.state).removed.contains(&endpoint) {
        return None;
    }
    Some(if classic {
        html(StatusCode::NOT_FOUND, "Not Found")
    } else {
        api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not Found")
    })
}

/// The privilege that guards one family's inventory.
fn inventory_privilege(computer: bool) -> FakePrivilege {
    if computer {
        FakePrivilege::ReadComputers
    } else {
        FakePrivilege::ReadMobileDevices
    }
}

async fn token(shared: &Shared, body: &[u8]) -> Answer {
    shared.count(|s| s.token_requests += 1);
    let fault = lock(&shared.mdm.state).tokens.fault();
    if let Some(fault) = fault {
        return fault.answer(&TOKEN_WORDING).await;
    }
    let form: HashMap<String, String> = parse_pairs(&String::from_utf8_lossy(body))
        .into_iter()
        .collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"}),
        );
    }
    if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({
                "error": "invalid_client",
                "error_description": "Client authentication failed",
                "error_uri": "https://datatracker.ietf.org/doc/html/rfc6749#section-5.2",
            }),
        );
    }
    let (token, lifetime) = lock(&shared.mdm.state).tokens.issue("fake-token-");
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "scope": "api-role:1",
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
        }),
    )
}

/// 401 for a missing, unknown or expired token; `None` when the token is good.
fn check_token(shared: &Shared, bearer: Option<&str>, classic: bool) -> Option<Answer> {
    let valid = bearer.is_some_and(|token| lock(&shared.mdm.state).tokens.is_valid(token));
    if valid {
        return None;
    }
    shared.count(|s| s.unauthorized += 1);
    Some(if classic {
        html(StatusCode::UNAUTHORIZED, "Unauthorized")
    } else {
        api_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "Unauthorized")
    })
}

/// The common path of inventory lookups: count, check the token and the privilege, inject
/// faults, answer.
async fn inventory(
    shared: &Shared,
    bearer: Option<&str>,
    classic: bool,
    privilege: FakePrivilege,
    answer: impl FnOnce(bool) -> Answer,
) -> Answer {
    if let Some(denied) = check_token(shared, bearer, classic) {
        return denied;
    }
    if lock(&shared.mdm.state).revoked.contains(&privilege) {
        return if classic {
            html(StatusCode::FORBIDDEN, "Forbidden")
        } else {
            api_error(
                StatusCode::FORBIDDEN,
                "INVALID_PRIVILEGE",
                "Forbidden: the API role lacks the privilege to read this inventory",
            )
        };
    }
    shared.faulted(answer).await
}

/// How Jamf's token endpoint, or what stands in front of it, words injected failures.
const TOKEN_WORDING: TokenWording = TokenWording {
    html,
    page_title: "Welcome to nginx!",
    not_a_token: || json!({"status": "ok"}),
};

struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn classic(
    shared: &Shared,
    computer: bool,
    serial: &str,
    subsets: Option<&str>,
    accept: Option<&str>,
) -> Answer {
    let state = lock(&shared.mdm.state);
    let devices = if computer {
        &state.computers
    } else {
        &state.mobile_devices
    };
    let Some(device) = devices.get(&serial.to_ascii_uppercase()) else {
        return html(StatusCode::NOT_FOUND, "Not Found");
    };
    if !accept.is_some_and(|a| a.contains("application/json")) {
        let root = if computer {
            "computer"
        } else {
            "mobile_device"
        };
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><{root}><general><serial_number>{}</serial_number></general></{root}>",
            device.serial_number
        );
        return response(StatusCode::OK, "text/xml;charset=UTF-8", xml);
    }
    // Subset names are case-insensitive in Jamf; a record without a subset list is whole.
    let wanted: Option<Vec<String>> =
        subsets.map(|list| list.split('&').map(str::to_ascii_lowercase).collect());
    let has = |subset: &str| {
        wanted
            .as_ref()
            .is_none_or(|w| w.iter().any(|s| s == subset))
    };
    let location = json!({
        "username": device.username,
        "realname": device.realname,
        "real_name": device.realname,
        "email_address": device.email_address,
        "position": device.position,
        "phone": "",
        "phone_number": "",
        "department": device.department,
        "building": "",
        "room": "",
    });
    let mut record = serde_json::Map::new();
    if computer {
        let groups = match state.group_shape {
            GroupShape::Flat => json!(device.groups),
            GroupShape::GroupObjects => Value::Array(
                device
                    .groups
                    .iter()
                    .map(|name| json!({"group": name}))
                    .collect(),
            ),
            GroupShape::SizeWrapped => json!({"size": device.groups.len(), "group": device.groups}),
        };
        if has("general") {
            record.insert(
                "general".into(),
                json!({
                    "id": 82,
                    "name": device.name,
                    "mac_address": "00:00:00:A0:FE:00",
                    "serial_number": device.serial_number,
                    "udid": device.udid,
                    "platform": "Mac",
                    "report_date": "2020-09-11 23:06:00",
                    "remote_management": {"managed": device.managed, "management_username": "jamfadmin"},
                }),
            );
        }
        if has("location") {
            record.insert("location".into(), location);
        }
        if has("groupsaccounts") {
            record.insert(
                "groups_accounts".into(),
                json!({
                    "computer_group_memberships": groups,
                    "local_accounts": [{"name": device.username, "realname": device.realname, "uid": "501"}],
                }),
            );
        }
        if has("software") {
            // What makes whole Classic records large; never part of a subset the provider asks for.
            record.insert(
                "software".into(),
                json!({"applications": [{"name": "Safari.app", "version": "17.4"}]}),
            );
        }
        json_response(StatusCode::OK, &json!({"computer": record}))
    } else {
        let groups: Vec<Value> =
            match state.group_shape {
                GroupShape::Flat | GroupShape::GroupObjects => device
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(i, name)| json!({"id": i + 1, "name": name}))
                    .collect(),
                GroupShape::SizeWrapped => std::iter::once(json!({"size": device.groups.len()}))
                    .chain(device.groups.iter().enumerate().map(
                        |(i, name)| json!({"mobile_device_group": {"id": i + 1, "name": name}}),
                    ))
                    .collect(),
            };
        if has("general") {
            record.insert(
                "general".into(),
                json!({
                    "id": 1,
                    "display_name": device.name,
                    "device_name": device.name,
                    "name": device.name,
                    "serial_number": device.serial_number,
                    "udid": device.udid,
                    "os_type": "iOS",
                    "managed": device.managed,
                    "supervised": true,
                }),
            );
        }
        if has("location") {
            record.insert("location".into(), location);
        }
        if has("security") {
            record.insert(
                "security_object".into(),
                json!({"passcode_present": true, "passcode_compliant": true}),
            );
        }
        if has("mobiledevicegroups") {
            record.insert("mobile_device_groups".into(), Value::Array(groups));
        }
        json_response(StatusCode::OK, &json!({"mobile_device": record}))
    }
}

/// `GET /JSSResource/{computers,mobiledevices}/match/{pattern}`: devices whose name or serial
/// number matches the pattern (`*` matches any run of characters), case-insensitively.
fn classic_match(shared: &Shared, computer: bool, pattern: &str) -> Answer {
    let state = lock(&shared.mdm.state);
    let devices = if computer {
        &state.computers
    } else {
        &state.mobile_devices
    };
    let mut found: Vec<&FakeDevice> = devices
        .values()
        .filter(|d| wildcard_match(pattern, &d.name) || wildcard_match(pattern, &d.serial_number))
        .collect();
    found.sort_by(|a, b| a.serial_number.cmp(&b.serial_number));
    let items: Vec<Value> = found
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({
                "id": i + 1,
                "name": d.name,
                "udid": d.udid,
                "serial_number": d.serial_number,
                "username": d.username,
            })
        })
        .collect();
    let key = if computer {
        "computers"
    } else {
        "mobile_devices"
    };
    json_response(StatusCode::OK, &json!({ key: items }))
}

/// Case-insensitive match of `text` against `pattern`, where `*` is any run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn pro(
    shared: &Shared,
    computer: bool,
    v4: bool,
    query: &[(String, String)],
    ignore_filter: bool,
) -> Answer {
    let state = lock(&shared.mdm.state);
    let sections: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "section")
        .map(|(_, v)| v.as_str())
        .collect();
    let has = |section: &str| sections.contains(&section);
    let field = if computer {
        "hardware.serialNumber"
    } else {
        "serialNumber"
    };
    let wanted = query
        .iter()
        .find(|(k, _)| k == "filter")
        .map(|(_, filter)| parse_filter(filter, field));
    let wanted = match wanted {
        None => None,
        Some(Some(serial)) => Some(serial),
        Some(None) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "INVALID_FILTER",
                "filter not supported",
            );
        }
    };
    let devices = if computer {
        &state.computers
    } else {
        &state.mobile_devices
    };
    let selected = |d: &&FakeDevice| {
        ignore_filter
            || wanted
                .as_deref()
                .is_none_or(|w| d.serial_number.eq_ignore_ascii_case(w))
    };
    let mut matching: Vec<&FakeDevice> = devices.values().filter(selected).collect();
    matching.sort_by(|a, b| a.serial_number.cmp(&b.serial_number));
    if computer {
        let stale: Vec<&FakeDevice> = state.stale_computers.iter().filter(selected).collect();
        matching.splice(0..0, stale);
    }
    let total = matching.len();
    let numbered: Vec<(usize, &FakeDevice)> = matching.into_iter().enumerate().collect();
    let results: Vec<Value> = paged(query, state.max_page_size, &numbered)
        .iter()
        .map(|&(i, d)| {
            if computer {
                pro_computer(i + 1, d, v4, has)
            } else {
                pro_mobile(i + 1, d, has)
            }
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"totalCount": total, "results": results}),
    )
}

fn pro_computer(id: usize, d: &FakeDevice, v4: bool, has: impl Fn(&str) -> bool) -> Value {
    let section = |name: &str, value: Value| if has(name) { value } else { Value::Null };
    let mut general = json!({
        "name": d.name,
        "platform": "Mac",
        "remoteManagement": {"managed": d.managed, "managementUsername": "jamfadmin"},
        "supervised": true,
        "mdmCapable": {"capable": true},
        "reportDate": "2018-10-31T18:04:13Z",
    });
    // The one difference between the versions in what the fake renders: v4 renamed
    // `lastContactTime` and added `lastCheckIn`.
    let contact = if v4 {
        json!({"lastContact": "2018-10-31T18:04:13Z", "lastCheckIn": "2018-10-31T19:12:44Z"})
    } else {
        json!({"lastContactTime": "2018-10-31T18:04:13Z", "lastReportedIp": "10.0.0.2"})
    };
    if let (Value::Object(general), Value::Object(contact)) = (&mut general, contact) {
        general.extend(contact);
    }
    json!({
        "id": id.to_string(),
        "udid": d.udid,
        "general": section("GENERAL", general),
        "hardware": section("HARDWARE", json!({
            "make": "Apple",
            "model": "MacBook Pro",
            "serialNumber": d.serial_number,
        })),
        "userAndLocation": section("USER_AND_LOCATION", json!({
            "username": d.username,
            "realname": d.realname,
            "email": d.email_address,
            "position": d.position,
            "phone": "",
            "departmentId": d.department_id,
            "buildingId": "-1",
            "room": "",
            "extensionAttributes": [],
        })),
        "groupMemberships": section("GROUP_MEMBERSHIPS", pro_groups(d, "smartGroup", true)),
    })
}

fn pro_mobile(id: usize, d: &FakeDevice, has: impl Fn(&str) -> bool) -> Value {
    let section = |name: &str, value: Value| if has(name) { value } else { Value::Null };
    json!({
        "mobileDeviceId": id.to_string(),
        "deviceType": "iOS",
        "general": section("GENERAL", json!({
            "udid": d.udid,
            "displayName": d.name,
            "osVersion": "17.4",
            "managed": d.managed,
            "supervised": true,
        })),
        "hardware": section("HARDWARE", json!({
            "serialNumber": d.serial_number,
            "model": "iPhone 15",
        })),
        "userAndLocation": section("USER_AND_LOCATION", json!({
            "username": d.username,
            "realName": d.realname,
            "emailAddress": d.email_address,
            "position": d.position,
            "phoneNumber": "",
            "departmentId": d.department_id,
            "department": d.department,
        })),
        "groups": section("GROUPS", pro_groups(d, "smart", false)),
    })
}

/// A device's groups as the Jamf Pro API lists them, each with its smart-group flag under
/// `smart_key` (`smartGroup` for computers, `smart` for mobile devices).
fn pro_groups(d: &FakeDevice, smart_key: &str, smart: bool) -> Value {
    d.groups
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "groupId": (i + 1).to_string(),
                "groupName": name,
                "groupDescription": "",
                smart_key: smart,
            })
        })
        .collect()
}

/// Reads `field=="value"` or `field==value`; `None` for anything else.
fn parse_filter(filter: &str, field: &str) -> Option<String> {
    let value = filter.strip_prefix(field)?.strip_prefix("==")?;
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    (!value.contains(['"', ';', ','])).then(|| value.to_owned())
}

fn html(status: StatusCode, title: &str) -> Answer {
    let page = format!(
        "<html>\n<head>\n<title>{title}</title>\n</head>\n<body>\n<p>{title}</p>\n<p>You can get technical details here.</p>\n</body>\n</html>\n"
    );
    response(status, "text/html;charset=UTF-8", page)
}

fn api_error(status: StatusCode, code: &str, description: &str) -> Answer {
    json_response(
        status,
        &json!({
            "httpStatus": status.as_u16(),
            "errors": [{"code": code, "field": null, "description": description, "id": "0"}],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_and_filters() {
        assert_eq!(
            parse_pairs("grant_type=client_credentials&client_secret=a%2Bb+c%3D"),
            [
                ("grant_type".to_owned(), "client_credentials".to_owned()),
                ("client_secret".to_owned(), "a+b c=".to_owned())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(
            parse_filter("hardware.serialNumber==\"C02\"", "hardware.serialNumber").as_deref(),
            Some("C02")
        );
        assert_eq!(
            parse_filter("serialNumber==C02", "serialNumber").as_deref(),
            Some("C02")
        );
        assert_eq!(parse_filter("udid==\"x\"", "serialNumber"), None);
    }
}
