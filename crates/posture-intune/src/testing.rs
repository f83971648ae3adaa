//! A fake Intune / Microsoft Graph for tests (feature `test-support`).
//!
//! [`FakeIntune`] listens on `127.0.0.1` over plain HTTP and serves, from one address, both
//! the Microsoft identity platform and the Graph endpoints the provider uses, in their
//! documented shapes:
//!
//! - `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant, checking the tenant,
//!   the credentials and that the scope ends in `/.default`, answering
//!   `{"token_type","expires_in","ext_expires_in","access_token"}` or an Entra error
//!   (`{"error","error_description":"AADSTS…","error_codes",…}`);
//! - `GET /v1.0/deviceManagement/managedDevices` with `$filter=serialNumber eq '…'`,
//!   `$select` projection and `$top` paging (`@odata.nextLink`). Like Graph, a filter it
//!   doesn't understand is silently ignored and every device is returned;
//! - `GET /v1.0/devices?$filter=deviceId eq '…'` (Entra ID device objects);
//! - `POST /v1.0/devices/{object-id}/checkMemberGroups`;
//! - bearer tokens that expire on time and can be revoked (401 with Graph's error body).
//!
//! Several records may share a serial (re-enrolment). Faults: a status, 429 with
//! `Retry-After`, hanging, garbage, the wrong JSON shape, an ignored filter.
//!
//! ```
//! use posture_core::{LookupRequest, PostureProvider};
//! use posture_intune::IntuneProvider;
//! use posture_intune::testing::{FakeIntune, FakeManagedDevice};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let intune = FakeIntune::start().await?;
//! intune.add_device(FakeManagedDevice::new("C02XL0GJJG5J"));
//! let provider = IntuneProvider::new(intune.config()?)?;
//! let decision = provider.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
//! assert_eq!(decision.enrichment().unwrap().to_value()["user"]["upn"], "alice@contoso.com");
//! assert_eq!(intune.stats().token_requests, 1);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use posture_http::StatusCode;
use posture_http::reqwest::Method;
use posture_http::testing::{
    BoxResponse, FakeRequest, FakeResponse, FakeServer, FaultSlot, hang, html_response,
    json_response, lock, response, with_retry_after,
};
use serde_json::{Map, Value, json};

use crate::{IntuneConfig, IntuneConfigError};

/// The tenant ID the fake accepts.
pub const TENANT_ID: &str = "8d6e3f8b-55a4-4a1f-9d0b-3c6f2b9e1a10";

/// The application (client) ID the fake accepts.
pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";

/// The client secret the fake accepts.
pub const CLIENT_SECRET: &str = "fake-intune-client-secret";

/// An Intune managed device; its Entra ID device object is registered with it when
/// `azure_ad_device_id` is a real GUID.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeManagedDevice {
    /// The Intune record ID.
    pub id: String,
    /// The serial number, as Intune stores it.
    pub serial_number: String,
    /// `deviceName`.
    pub device_name: String,
    /// `operatingSystem`.
    pub operating_system: String,
    /// `osVersion`.
    pub os_version: String,
    /// `model`.
    pub model: String,
    /// `manufacturer`.
    pub manufacturer: String,
    /// `managedDeviceOwnerType`: `company` or `personal`.
    pub ownership: String,
    /// `complianceState`.
    pub compliance_state: String,
    /// `managementAgent`.
    pub management_agent: String,
    /// `lastSyncDateTime`.
    pub last_sync: String,
    /// `azureADDeviceId` (the Entra ID `deviceId`); empty or all zeros when unregistered.
    pub azure_ad_device_id: String,
    /// `userId`.
    pub user_id: String,
    /// `userPrincipalName`.
    pub user_principal_name: String,
    /// `emailAddress`.
    pub email_address: String,
    /// `userDisplayName`.
    pub user_display_name: String,
    /// Object IDs of the Entra ID groups the device object is a (transitive) member of.
    pub entra_groups: Vec<String>,
}

impl FakeManagedDevice {
    /// A compliant, company-owned Mac of Alice's, synced on 2024-05-01, registered in Entra
    /// ID, in no group.
    pub fn new(serial_number: impl Into<String>) -> Self {
        let serial_number = serial_number.into();
        Self {
            id: guid_from(&format!("record-{serial_number}")),
            device_name: format!("Mac {serial_number}"),
            operating_system: "macOS".to_owned(),
            os_version: "14.4.1".to_owned(),
            model: "MacBookPro18,3".to_owned(),
            manufacturer: "Apple".to_owned(),
            ownership: "company".to_owned(),
            compliance_state: "compliant".to_owned(),
            management_agent: "mdm".to_owned(),
            last_sync: "2024-05-01T10:00:00Z".to_owned(),
            azure_ad_device_id: guid_from(&format!("entra-{serial_number}")),
            user_id: "b0a8c1d2-0000-4000-8000-00000000a11c".to_owned(),
            user_principal_name: "alice@contoso.com".to_owned(),
            email_address: "alice@contoso.com".to_owned(),
            user_display_name: "Alice Example".to_owned(),
            entra_groups: Vec::new(),
            serial_number,
        }
    }

    /// Sets `complianceState`.
    #[must_use]
    pub fn with_compliance_state(mut self, state: impl Into<String>) -> Self {
        self.compliance_state = state.into();
        self
    }

    /// Sets `lastSyncDateTime`, and gives the record its own ID (a re-enrolment).
    #[must_use]
    pub fn with_last_sync(mut self, last_sync: impl Into<String>) -> Self {
        self.last_sync = last_sync.into();
        self.id = guid_from(&format!("record-{}-{}", self.serial_number, self.last_sync));
        self
    }

    /// Sets `azureADDeviceId`.
    #[must_use]
    pub fn with_azure_ad_device_id(mut self, id: impl Into<String>) -> Self {
        self.azure_ad_device_id = id.into();
        self
    }

    /// Sets the Entra ID groups (object IDs) the device object belongs to.
    #[must_use]
    pub fn with_entra_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entra_groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// The Entra ID object ID the fake gives this device's directory object.
    pub fn entra_object_id(&self) -> String {
        guid_from(&format!(
            "object-{}",
            self.azure_ad_device_id.to_ascii_lowercase()
        ))
    }

    fn registered(&self) -> bool {
        posture_http::env::is_guid(&self.azure_ad_device_id)
            && self
                .azure_ad_device_id
                .bytes()
                .any(|b| b != b'0' && b != b'-')
    }
}

/// A failure the fake injects into Graph calls (not the token endpoint), after the token
/// check: into managed-device requests with [`FakeIntune::set_fault`], into directory
/// requests with [`FakeIntune::set_directory_fault`].
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer this status with a Graph error body.
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
    /// Answer 200 with JSON of the wrong shape (`{"error":"nope"}`).
    WrongShape,
    /// Ignore `$filter` on managed devices and return every device, as Graph does with
    /// filters it doesn't support.
    IgnoreFilter,
}

/// A failure the fake injects into the token endpoint.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum TokenFault {
    /// Answer this status with no body.
    Status(u16),
    /// Answer 200 with an HTML page.
    HtmlPage,
    /// Answer 200 with JSON that holds no token.
    NotAToken,
    /// Never answer.
    Hang,
}

/// Counters of what the fake served.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeStats {
    /// Token requests, whatever their outcome.
    pub token_requests: u64,
    /// Graph requests of any kind, whatever their outcome.
    pub graph_requests: u64,
    /// `managedDevices` requests.
    pub device_requests: u64,
    /// Entra ID `devices` requests.
    pub entra_requests: u64,
    /// `checkMemberGroups` requests.
    pub member_checks: u64,
    /// Requests answered 401 for a missing, unknown, expired or revoked token.
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
    /// The body, as text.
    pub body: String,
}

/// A fake Intune on `127.0.0.1`. Stops when dropped.
#[derive(Debug)]
pub struct FakeIntune {
    server: FakeServer,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    fault: FaultSlot<Fault>,
    directory_fault: FaultSlot<Fault>,
    token_requests: AtomicU64,
    graph_requests: AtomicU64,
    device_requests: AtomicU64,
    entra_requests: AtomicU64,
    member_checks: AtomicU64,
    unauthorized: AtomicU64,
}

#[derive(Debug)]
struct State {
    base_url: String,
    devices: Vec<FakeManagedDevice>,
    tokens: HashMap<String, Instant>,
    next_token: u64,
    token_lifetime: Duration,
    latency: Duration,
    token_fault: Option<TokenFault>,
    requests: Vec<RecordedRequest>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            devices: Vec::new(),
            tokens: HashMap::new(),
            next_token: 0,
            token_lifetime: Duration::from_secs(3599),
            latency: Duration::ZERO,
            token_fault: None,
            requests: Vec::new(),
        }
    }
}

/// Requests kept for [`FakeIntune::requests`]; older ones are dropped.
const MAX_RECORDED: usize = 10_000;

impl FakeIntune {
    /// Starts a fake with no devices.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let handler_state = shared.clone();
        let server = FakeServer::start(Arc::new(move |request| {
            let shared = handler_state.clone();
            Box::pin(async move { handle(&shared, request).await }) as BoxResponse
        }))
        .await?;
        lock(&shared.state).base_url = server.url();
        Ok(Self { server, shared })
    }

    /// The URL to use for both `INTUNE_AUTHORITY_URL` and `INTUNE_GRAPH_URL`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The variables that point a server at this fake: tenant, client ID and secret, and
    /// both URLs.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("INTUNE_TENANT_ID".to_owned(), TENANT_ID.to_owned()),
            ("INTUNE_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
            ("INTUNE_CLIENT_SECRET".to_owned(), CLIENT_SECRET.to_owned()),
            ("INTUNE_AUTHORITY_URL".to_owned(), self.url()),
            ("INTUNE_GRAPH_URL".to_owned(), self.url()),
        ]
    }

    /// A provider configuration for this fake, with every default.
    pub fn config(&self) -> Result<IntuneConfig, IntuneConfigError> {
        IntuneConfig::new(TENANT_ID, CLIENT_ID, CLIENT_SECRET)?
            .with_authority_url(&self.url())?
            .with_graph_url(&self.url())
    }

    /// Adds a managed-device record. Records may share a serial, as after a re-enrolment.
    pub fn add_device(&self, device: FakeManagedDevice) {
        lock(&self.shared.state).devices.push(device);
    }

    /// Removes every record with this serial.
    pub fn remove_device(&self, serial_number: &str) {
        lock(&self.shared.state)
            .devices
            .retain(|d| !d.serial_number.eq_ignore_ascii_case(serial_number));
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.state).latency = latency;
    }

    /// Sets the lifetime of tokens issued from now on (whole seconds; default 3599 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.shared.state).token_lifetime = lifetime;
    }

    /// Injects `fault` into every managed-device request, or stops injecting with `None`.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.fault.set(fault);
    }

    /// Injects `fault` into the next `times` managed-device requests only.
    pub fn fail_next(&self, fault: Fault, times: usize) {
        self.shared.fault.fail_next(fault, times);
    }

    /// Injects `fault` into every Entra ID directory request (`/devices`,
    /// `checkMemberGroups`), or stops injecting with `None`.
    pub fn set_directory_fault(&self, fault: Option<Fault>) {
        self.shared.directory_fault.set(fault);
    }

    /// Injects a failure into the token endpoint, or stops with `None`.
    pub fn set_token_fault(&self, fault: Option<TokenFault>) {
        lock(&self.shared.state).token_fault = fault;
    }

    /// Revokes every token issued so far: Graph answers 401 to them.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.state).tokens.clear();
    }

    /// The counters.
    pub fn stats(&self) -> FakeStats {
        let s = &self.shared;
        FakeStats {
            token_requests: s.token_requests.load(Ordering::SeqCst),
            graph_requests: s.graph_requests.load(Ordering::SeqCst),
            device_requests: s.device_requests.load(Ordering::SeqCst),
            entra_requests: s.entra_requests.load(Ordering::SeqCst),
            member_checks: s.member_checks.load(Ordering::SeqCst),
            unauthorized: s.unauthorized.load(Ordering::SeqCst),
        }
    }

    /// The requests received, oldest first (at most the last 10 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }
}

async fn handle(shared: &Shared, request: FakeRequest) -> FakeResponse {
    let latency = {
        let mut state = lock(&shared.state);
        if state.requests.len() >= MAX_RECORDED {
            state.requests.remove(0);
        }
        state.requests.push(RecordedRequest {
            method: request.method.to_string(),
            path: request.path.clone(),
            query: request.query.clone(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        });
        state.latency
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let segments = request.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (&request.method, segments.as_slice()) {
        (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => {
            token(shared, tenant, &request).await
        }
        (_, ["v1.0", ..]) => {
            shared.graph_requests.fetch_add(1, Ordering::SeqCst);
            if let Some(denied) = check_token(shared, request.bearer()) {
                return denied;
            }
            let fault = match segments.get(1) {
                Some(&"deviceManagement") => shared.fault.take(),
                _ => shared.directory_fault.take(),
            };
            match fault {
                Some(Fault::Status(code)) => {
                    let status =
                        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    return graph_error(status, "injectedFailure", "injected failure");
                }
                Some(Fault::TooManyRequests { retry_after_secs }) => {
                    return with_retry_after(
                        graph_error(
                            StatusCode::TOO_MANY_REQUESTS,
                            "TooManyRequests",
                            "Too many requests",
                        ),
                        retry_after_secs,
                    );
                }
                Some(Fault::Hang) => return hang().await,
                Some(Fault::Garbage) => {
                    return response(
                        StatusCode::OK,
                        "application/json",
                        "{\"value\": [{\"id\": \"1\", \"serialNumber\": ",
                    );
                }
                Some(Fault::WrongShape) => {
                    return json_response(StatusCode::OK, &json!({"error": "nope"}));
                }
                Some(Fault::IgnoreFilter) | None => {}
            }
            let ignore_filter = fault == Some(Fault::IgnoreFilter);
            match (&request.method, &segments[1..]) {
                (&Method::GET, ["deviceManagement", "managedDevices"]) => {
                    shared.device_requests.fetch_add(1, Ordering::SeqCst);
                    managed_devices(shared, &request, ignore_filter)
                }
                (&Method::GET, ["devices"]) => {
                    shared.entra_requests.fetch_add(1, Ordering::SeqCst);
                    entra_devices(shared, &request)
                }
                (&Method::POST, ["devices", object_id, "checkMemberGroups"]) => {
                    shared.member_checks.fetch_add(1, Ordering::SeqCst);
                    check_member_groups(shared, object_id, &request)
                }
                _ => graph_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "Resource not found for the segment.",
                ),
            }
        }
        _ => html_response(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn token(shared: &Shared, tenant: &str, request: &FakeRequest) -> FakeResponse {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let fault = lock(&shared.state).token_fault.clone();
    match fault {
        Some(TokenFault::Status(code)) => {
            return response(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "text/plain",
                "",
            );
        }
        Some(TokenFault::HtmlPage) => return html_response(StatusCode::OK, "Sign in"),
        Some(TokenFault::NotAToken) => {
            return json_response(StatusCode::OK, &json!({"token_type": "Bearer"}));
        }
        Some(TokenFault::Hang) => return hang().await,
        None => {}
    }
    let form: HashMap<String, String> = request.form().into_iter().collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if !tenant.eq_ignore_ascii_case(TENANT_ID) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    if field("grant_type") != Some("client_credentials") {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != Some(CLIENT_ID) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if field("client_secret") != Some(CLIENT_SECRET) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    if !field("scope").is_some_and(|scope| scope.ends_with("/.default")) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        );
    }
    let mut state = lock(&shared.state);
    state.next_token += 1;
    let token = format!("fake-graph-token-{}", state.next_token);
    let lifetime = state.token_lifetime;
    state
        .tokens
        .insert(token.clone(), Instant::now() + lifetime);
    json_response(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "ext_expires_in": lifetime.as_secs(),
            "access_token": token,
        }),
    )
}

/// 401 for a missing, unknown or expired token; `None` when the token is good.
fn check_token(shared: &Shared, bearer: Option<&str>) -> Option<FakeResponse> {
    let valid = bearer.is_some_and(|token| {
        lock(&shared.state)
            .tokens
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    });
    if valid {
        return None;
    }
    shared.unauthorized.fetch_add(1, Ordering::SeqCst);
    Some(graph_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "Access token has expired or is not yet valid.",
    ))
}

fn managed_devices(shared: &Shared, request: &FakeRequest, ignore_filter: bool) -> FakeResponse {
    let state = lock(&shared.state);
    let wanted = request
        .query_value("$filter")
        .and_then(|filter| parse_eq(filter, "serialNumber"));
    let select: Option<Vec<&str>> = request
        .query_value("$select")
        .map(|s| s.split(',').map(str::trim).collect());
    let top = request
        .query_value("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(1000)
        .max(1);
    // Graph's skip tokens are opaque; here one is simply the index of the page's first record.
    let skip = request
        .query_value("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let matching: Vec<Value> = state
        .devices
        .iter()
        .filter(|d| {
            ignore_filter
                || wanted
                    .as_deref()
                    .is_none_or(|w| d.serial_number.eq_ignore_ascii_case(w))
        })
        .map(|d| project(managed_device_json(d), select.as_deref()))
        .collect();
    let more = matching.len() > skip.saturating_add(top);
    let value: Vec<Value> = matching.into_iter().skip(skip).take(top).collect();
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#deviceManagement/managedDevices", state.base_url),
        "value": value,
    });
    if more && let Some(map) = body.as_object_mut() {
        // Like Graph's, the link repeats the request's query, with the next skip token.
        let mut next = format!("{}/v1.0/deviceManagement/managedDevices", state.base_url);
        let mut separator = '?';
        for (name, value) in request.query.iter().filter(|(n, _)| n != "$skiptoken") {
            next.push(separator);
            next.push_str(&format!("{name}={}", query_encode(value)));
            separator = '&';
        }
        next.push(separator);
        next.push_str(&format!("$skiptoken={}", skip + top));
        map.insert("@odata.nextLink".to_owned(), json!(next));
    }
    json_response(StatusCode::OK, &body)
}

/// Percent-encodes a query value as Graph writes its links (`$` and `,` kept).
fn query_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b',' | b'$') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn managed_device_json(d: &FakeManagedDevice) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.managedDevice",
        "id": d.id,
        "userId": d.user_id,
        "deviceName": d.device_name,
        "managedDeviceOwnerType": d.ownership,
        "enrolledDateTime": "2024-01-26T16:15:36Z",
        "lastSyncDateTime": d.last_sync,
        "operatingSystem": d.operating_system,
        "complianceState": d.compliance_state,
        "jailBroken": "Unknown",
        "managementAgent": d.management_agent,
        "osVersion": d.os_version,
        "azureADRegistered": d.registered(),
        "deviceEnrollmentType": "appleBulkWithUser",
        "emailAddress": d.email_address,
        "azureADDeviceId": d.azure_ad_device_id,
        "deviceRegistrationState": "registered",
        "isSupervised": true,
        "isEncrypted": true,
        "userPrincipalName": d.user_principal_name,
        "model": d.model,
        "manufacturer": d.manufacturer,
        "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z",
        "serialNumber": d.serial_number,
        "userDisplayName": d.user_display_name,
        "activationLockBypassCode": "never-select-this",
        "notes": null,
    })
}

fn entra_devices(shared: &Shared, request: &FakeRequest) -> FakeResponse {
    let state = lock(&shared.state);
    let Some(wanted) = request
        .query_value("$filter")
        .and_then(|filter| parse_eq(filter, "deviceId"))
    else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported or invalid query filter clause specified.",
        );
    };
    let select: Option<Vec<&str>> = request
        .query_value("$select")
        .map(|s| s.split(',').map(str::trim).collect());
    let mut seen = Vec::new();
    let value: Vec<Value> = state
        .devices
        .iter()
        .filter(|d| d.registered() && d.azure_ad_device_id.eq_ignore_ascii_case(&wanted))
        .filter(|d| {
            let object = d.entra_object_id();
            let new = !seen.contains(&object);
            seen.push(object);
            new
        })
        .map(|d| {
            project(
                json!({
                    "@odata.type": "#microsoft.graph.device",
                    "id": d.entra_object_id(),
                    "deviceId": d.azure_ad_device_id,
                    "displayName": d.device_name,
                    "isCompliant": d.compliance_state == "compliant",
                    "isManaged": true,
                    "accountEnabled": true,
                    "operatingSystem": d.operating_system,
                }),
                select.as_deref(),
            )
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/v1.0/$metadata#devices", state.base_url),
            "value": value,
        }),
    )
}

fn check_member_groups(shared: &Shared, object_id: &str, request: &FakeRequest) -> FakeResponse {
    let state = lock(&shared.state);
    let Some(device) = state
        .devices
        .iter()
        .find(|d| d.registered() && d.entra_object_id().eq_ignore_ascii_case(object_id))
    else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{object_id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let asked: Vec<String> = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|body| body.get("groupIds").cloned())
        .and_then(|ids| serde_json::from_value(ids).ok())
        .unwrap_or_default();
    if asked.is_empty() || asked.len() > 20 {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "groupIds must hold 1 to 20 group IDs.",
        );
    }
    let member: Vec<&String> = asked
        .iter()
        .filter(|id| {
            device
                .entra_groups
                .iter()
                .any(|g| g.eq_ignore_ascii_case(id))
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/v1.0/$metadata#Collection(Edm.String)", state.base_url),
            "value": member,
        }),
    )
}

/// Keeps only the `$select`ed properties (and the OData annotations).
fn project(value: Value, select: Option<&[&str]>) -> Value {
    let (Some(select), Value::Object(map)) = (select, &value) else {
        return value;
    };
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.starts_with('@') || select.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// Reads `property eq 'value'`; `None` for anything else (Graph then ignores the filter).
fn parse_eq(filter: &str, property: &str) -> Option<String> {
    let rest = filter.trim().strip_prefix(property)?.trim_start();
    let rest = rest.strip_prefix("eq")?.trim_start();
    let value = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    (!value.contains('\'')).then(|| value.to_owned())
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> FakeResponse {
    json_response(
        status,
        &json!({"error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2024-07-23T14:11:37",
                "request-id": "5b0b4e7e-0000-4000-8000-000000000001",
                "client-request-id": "5b0b4e7e-0000-4000-8000-000000000001",
            },
        }}),
    )
}

fn entra_error(status: StatusCode, error: &str, code: u32, description: &str) -> FakeResponse {
    json_response(
        status,
        &json!({
            "error": error,
            "error_description": format!("{description}\r\nTrace ID: 0000\r\nCorrelation ID: 0000\r\nTimestamp: 2024-07-23 14:11:37Z"),
            "error_codes": [code],
            "timestamp": "2024-07-23 14:11:37Z",
            "trace_id": "00000000-0000-0000-0000-000000000000",
            "correlation_id": "00000000-0000-0000-0000-000000000000",
        }),
    )
}

/// A stable GUID-shaped ID derived from `seed` (FNV-1a), so fixtures are reproducible.
fn guid_from(seed: &str) -> String {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in seed.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    let hex = format!("{hash:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_odata_equality_filters() {
        assert_eq!(
            parse_eq("serialNumber eq 'C02XL0GJJG5J'", "serialNumber").as_deref(),
            Some("C02XL0GJJG5J")
        );
        assert_eq!(parse_eq("serialNumber ne 'C02'", "serialNumber"), None);
        assert_eq!(
            parse_eq("startswith(serialNumber,'C02')", "serialNumber"),
            None
        );
        assert!(posture_http::env::is_guid(&guid_from("x")));
        assert_ne!(guid_from("a"), guid_from("b"));
    }
}
