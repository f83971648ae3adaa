//! A fake Intune / Microsoft Graph for tests.
//!
//! [`FakeIntune`] listens on `127.0.0.1` over plain HTTP and serves at its root, from one
//! address, both the Microsoft identity platform and the Graph endpoints the provider uses,
//! in their documented shapes, so it is pointed at exactly as a real tenant is (same
//! default scope, no path prefix):
//!
//! - `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant, checking the tenant
//!   and the credentials — the client secret, or a JWT client assertion verified as Entra
//!   does (a registered certificate's `x5t#S256`, its signature with `PS256` or `RS256`,
//!   `aud` equal to this token URL, `iss` = `sub` = the client ID, `nbf`/`exp`, a `jti`
//!   never seen before) — and that the scope is `<a Graph resource>/.default`, answering
//!   `{"token_type","expires_in","ext_expires_in","access_token"}` or an Entra error
//!   (`{"error","error_description":"AADSTS…","error_codes",…}`): `AADSTS700027` for an
//!   unregistered or expired certificate or a bad signature, `AADSTS700024` for an assertion
//!   outside its time range, `AADSTS500011` (`invalid_resource`) for a scope whose resource
//!   is not Microsoft Graph;
//! - `GET /v1.0/deviceManagement/managedDevices` with `$filter=serialNumber eq '…'`,
//!   `$select` projection and `$top` paging (`@odata.nextLink`, at most 1000 a page, 1000
//!   without `$top`). Like Graph, a filter it doesn't understand is silently ignored and
//!   every device is returned;
//! - `GET /v1.0/devices?$filter=deviceId eq '…'` (Entra ID device objects), or without a
//!   filter every device object, in pages of `$top` (1–999, 100 without it; 400 otherwise,
//!   as the directory answers);
//! - `GET /v1.0/groups/{id}/transitiveMembers` (the device objects of the group, nested or
//!   not; 404 for a group no device belongs to), paged like `/devices`;
//! - `POST /v1.0/devices/{object-id}/checkMemberGroups`;
//! - bearer tokens that expire on time and can be revoked (401 with Graph's error body).
//!
//! Intune's SCEP validation service, for posture-intune's `scep` module:
//!
//! - tokens for the Intune API (`https://api.manage.microsoft.com//.default`, with or without
//!   the double slash), accepted only by the service (and Graph tokens only by Graph);
//! - `GET /v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints`,
//!   listing `PkiConnectorFEService` and `ScepRequestValidationFEService` at
//!   [`FakeIntune::scep_service_url`];
//! - `POST {that URL}/ScepActions/{validateRequest|successNotification|failureNotification}`,
//!   checking the `api-version` header, a UUID `client-request-id` and the body's keys and
//!   formats (400 otherwise), recording each call ([`FakeIntune::scep_calls`]), and
//!   answering as [`FakeIntune::set_scep_answer`] says (validateRequest only; notifications
//!   succeed).
//!
//! Several records may share a serial (re-enrolment). Faults ([`Fault`], [`TokenFault`]): a
//! status, 429 with `Retry-After`, hanging, garbage, the wrong JSON shape, an ignored filter.
//!
//! Point a provider at it with [`FakeIntune::connection`]: in posture-intune's tests,
//! `IntuneConfig::new(c.tenant_id, c.client_id, c.client_secret)` with `c.url` as both the
//! authority and the Graph URL.
//!
//! ```
//! use std::time::Duration;
//! use posture_fakes::intune::{FakeIntune, FakeManagedDevice};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let intune = FakeIntune::start().await?;
//! intune.add_device(FakeManagedDevice::new("C02XL0GJJG5J"));
//! let c = intune.connection();
//! let http = posture_http::ClientOptions::new(Duration::from_secs(2)).build()?;
//! let token: serde_json::Value = http
//!     .post(posture_http::Url::parse(&format!("{}/{}/oauth2/v2.0/token", c.url, c.tenant_id))?)
//!     .form(&[
//!         ("grant_type", "client_credentials"),
//!         ("client_id", c.client_id),
//!         ("client_secret", c.client_secret),
//!         ("scope", "https://graph.microsoft.com/.default"),
//!     ])
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(token["token_type"], "Bearer");
//! assert_eq!(intune.stats().token_requests, 1);
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::fault::TokenWording;
use crate::mdm::{Fake, FakeState, Mdm, RequestLog, owned_vars};
use crate::oauth::Tokens;
use crate::server::{
    FakeRequest, FakeResponse, FaultSlot, Method, StatusCode, html_response, json_response, lock,
    unix_now,
};
use crate::{Fault, TokenFault, Wording};

/// The tenant ID the fake accepts.
pub const TENANT_ID: &str = "8d6e3f8b-55a4-4a1f-9d0b-3c6f2b9e1a10";

/// The application (client) ID the fake accepts.
pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";

/// The client secret the fake accepts.
pub const CLIENT_SECRET: &str = "fake-intune-client-secret";

/// A 2048-bit RSA key in PKCS#8 PEM, for tests only (it is public: never trust it).
pub const TEST_RSA_KEY: &str = include_str!("../testdata/rsa-a.pk8.pem");

/// [`TEST_RSA_KEY`] in PKCS#1 (`RSA PRIVATE KEY`) PEM.
pub const TEST_RSA_KEY_PKCS1: &str = include_str!("../testdata/rsa-a.pk1.pem");

/// Another 2048-bit RSA key in PKCS#8 PEM, for tests only: one that belongs to no
/// certificate made from [`TEST_RSA_KEY`].
pub const OTHER_TEST_RSA_KEY: &str = include_str!("../testdata/rsa-b.pk8.pem");

/// The `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The application ID of Intune's service principal, whose endpoints list the SCEP
/// validation service.
pub const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";

/// The `api-version` the SCEP validation service requires.
pub const SCEP_API_VERSION: &str = "2018-02-20";

/// The Microsoft Graph resources of Microsoft's clouds, and Graph's application ID: the
/// resources the fake grants tokens for.
const GRAPH_RESOURCES: [&str; 5] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
    "00000003-0000-0000-c000-000000000000",
];

/// A self-signed client certificate made with rcgen, for the certificate credentials of
/// the fake's app registration.
///
/// ```
/// use posture_fakes::intune::{FakeIntune, TestCertificate};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let intune = FakeIntune::start().await?;
/// let certificate = TestCertificate::generate()?;
/// intune.register_certificate(certificate.der())?;
/// let dir = std::env::temp_dir();
/// let (cert_path, key_path) = certificate.write_to(&dir)?;
/// let vars = intune.certificate_env_vars(&cert_path, &key_path);
/// assert!(vars.iter().all(|(name, _)| name != "INTUNE_CLIENT_SECRET"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TestCertificate {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl TestCertificate {
    /// A certificate for [`TEST_RSA_KEY`], valid from an hour ago for a year.
    pub fn generate() -> Result<Self, rcgen::Error> {
        let now = OffsetDateTime::now_utc();
        Self::new(
            TEST_RSA_KEY,
            now - time::Duration::hours(1),
            now + time::Duration::days(365),
        )
    }

    /// A certificate for `key_pem` (PKCS#8 PEM: RSA, or any key rcgen signs with), valid
    /// from `not_before` to `not_after`.
    pub fn new(
        key_pem: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, rcgen::Error> {
        let key = rcgen::KeyPair::from_pem(key_pem)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "step-posture-connector test client",
        );
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key_pem.to_owned(),
            der: cert.der().to_vec(),
        })
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Its private key, PEM, as given.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Its `x5t#S256`: base64url of the SHA-256 of the DER.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &self.der))
    }

    /// Writes the certificate and the key to PEM files in `dir`, named after the
    /// certificate, and returns their paths (certificate, key).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        let name: String = self
            .x5t_s256()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let cert = dir.join(format!("intune-client-{name}.crt"));
        let key = dir.join(format!("intune-client-{name}.key"));
        std::fs::write(&cert, &self.cert_pem)?;
        std::fs::write(&key, &self.key_pem)?;
        Ok((cert, key))
    }
}

/// A certificate uploaded to the fake's app registration.
#[derive(Clone, Debug)]
struct RegisteredCertificate {
    x5t_s256: String,
    /// The DER `RSAPublicKey` ring verifies with.
    public_key: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

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
    /// `managementAgent`: `mdm` unless set.
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
    /// Whether Entra ID has the device object of a registered `azure_ad_device_id` (true
    /// unless [`without_entra_object`](Self::without_entra_object)).
    pub entra_object: bool,
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
            entra_object: true,
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

    /// Sets `managementAgent`, such as `eas` (Exchange ActiveSync only); empty leaves the
    /// property out of Graph's answer.
    #[must_use]
    pub fn with_management_agent(mut self, agent: impl Into<String>) -> Self {
        self.management_agent = agent.into();
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

    /// Keeps the `azureADDeviceId` but removes the Entra ID device object (deleted from the
    /// directory since): Entra knows no device with that `deviceId`.
    #[must_use]
    pub fn without_entra_object(mut self) -> Self {
        self.entra_object = false;
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
        is_guid(&self.azure_ad_device_id)
            && self
                .azure_ad_device_id
                .bytes()
                .any(|b| b != b'0' && b != b'-')
    }

    /// Whether Entra ID has this device's object.
    fn in_entra(&self) -> bool {
        self.registered() && self.entra_object
    }
}

/// How the fake's SCEP validation service answers `validateRequest`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ScepAnswer {
    /// `{"code":"Success"}`.
    Success,
    /// `{"code":<this>,"errorDescription":…}`.
    Code(String),
    /// This HTTP status with an error body.
    Status(u16),
}

/// One call the fake's SCEP validation service received with a valid token.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ScepCall {
    /// `validateRequest`, `successNotification` or `failureNotification`.
    pub action: String,
    /// The `api-version` header.
    pub api_version: Option<String>,
    /// The `client-request-id` header.
    pub client_request_id: Option<String>,
    /// The body.
    pub body: Value,
    /// Why the shape was refused (400), if it was.
    pub refused: Option<String>,
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
    /// `groups/{id}/transitiveMembers` requests.
    pub group_member_requests: u64,
    /// `checkMemberGroups` requests.
    pub member_checks: u64,
    /// Requests answered 401 for a missing, unknown, expired or revoked token.
    pub unauthorized: u64,
}

pub use crate::mdm::RecordedRequest;

/// What a provider needs to reach a [`FakeIntune`]: `INTUNE_TENANT_ID`, `INTUNE_CLIENT_ID`,
/// `INTUNE_CLIENT_SECRET`, and one URL for both `INTUNE_AUTHORITY_URL` and
/// `INTUNE_GRAPH_URL`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct IntuneConnection {
    /// The tenant ID ([`TENANT_ID`]).
    pub tenant_id: &'static str,
    /// The application (client) ID ([`CLIENT_ID`]).
    pub client_id: &'static str,
    /// The client secret ([`CLIENT_SECRET`]).
    pub client_secret: &'static str,
    /// The authority and Graph URL, such as `http://127.0.0.1:40123`.
    pub url: String,
}

/// A fake Intune on `127.0.0.1`. Stops when dropped.
pub type FakeIntune = Fake<Intune>;

/// Intune's part of a [`FakeIntune`]: its devices, the identity platform's tokens and
/// certificates, the SCEP validation service, and how they answer. Faults apply to
/// managed-device requests; directory requests have their own
/// ([`FakeIntune::set_directory_fault`]).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Intune {
    state: Mutex<State>,
    directory_fault: FaultSlot<Fault>,
    requests: RequestLog,
}

#[derive(Debug)]
struct State {
    devices: Vec<FakeManagedDevice>,
    tokens: Tokens,
    certificates: Vec<RegisteredCertificate>,
    used_jtis: HashSet<String>,
    intune_tokens: HashSet<String>,
    token_scopes: Vec<String>,
    scep_answer: Option<ScepAnswer>,
    scep_calls: Vec<ScepCall>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            tokens: Tokens::new(Duration::from_secs(3599)),
            certificates: Vec::new(),
            used_jtis: HashSet::new(),
            intune_tokens: HashSet::new(),
            token_scopes: Vec::new(),
            scep_answer: None,
            scep_calls: Vec::new(),
        }
    }
}

/// What Intune's handlers are given.
type Shared = FakeState<Intune>;

impl Fake<Intune> {
    /// The variables that point a server at this fake with certificate credentials: like
    /// [`env_vars`](Self::env_vars), with `INTUNE_CLIENT_CERT_PATH` and
    /// `INTUNE_CLIENT_KEY_PATH` instead of the secret. Register the certificate first.
    pub fn certificate_env_vars(&self, cert_path: &Path, key_path: &Path) -> Vec<(String, String)> {
        let mut vars = self.env_vars();
        vars.retain(|(name, _)| name != "INTUNE_CLIENT_SECRET");
        vars.extend(owned_vars(&[
            ("INTUNE_CLIENT_CERT_PATH", &cert_path.display().to_string()),
            ("INTUNE_CLIENT_KEY_PATH", &key_path.display().to_string()),
        ]));
        vars
    }

    /// Uploads a certificate (DER) to the fake's app registration: client assertions whose
    /// `x5t#S256` names it and that its key signed are accepted while it is valid.
    pub fn register_certificate(&self, der: &[u8]) -> std::io::Result<()> {
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|err| invalid(err.to_string()))?;
        let registered = RegisteredCertificate {
            x5t_s256: URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der)),
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
        };
        lock(&self.mdm().state).certificates.push(registered);
        Ok(())
    }

    /// The tenant, the credentials and the URL the fake accepts and serves at.
    pub fn connection(&self) -> IntuneConnection {
        IntuneConnection {
            tenant_id: TENANT_ID,
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
            url: self.url(),
        }
    }

    /// Adds a managed-device record. Records may share a serial, as after a re-enrolment.
    pub fn add_device(&self, device: FakeManagedDevice) {
        lock(&self.mdm().state).devices.push(device);
    }

    /// Removes every record with this serial.
    pub fn remove_device(&self, serial_number: &str) {
        lock(&self.mdm().state)
            .devices
            .retain(|d| !d.serial_number.eq_ignore_ascii_case(serial_number));
    }

    /// Sets the lifetime of tokens issued from now on (whole seconds; default 3599 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.mdm().state).tokens.set_lifetime(lifetime);
    }

    /// Injects `fault` into every Entra ID directory request (`/devices`,
    /// `transitiveMembers`, `checkMemberGroups`), or stops injecting with `None`.
    pub fn set_directory_fault(&self, fault: Option<Fault>) {
        self.mdm().directory_fault.set(fault);
    }

    /// Injects a failure into the token endpoint, or stops with `None`.
    pub fn set_token_fault(&self, fault: Option<TokenFault>) {
        lock(&self.mdm().state).tokens.set_fault(fault);
    }

    /// Revokes every token issued so far: Graph answers 401 to them.
    pub fn revoke_tokens(&self) {
        lock(&self.mdm().state).tokens.revoke_all();
    }

    /// The URL of the fake's SCEP validation service (what discovery finds).
    pub fn scep_service_url(&self) -> String {
        format!("{}/{SCEP_SERVICE_PATH}", self.url())
    }

    /// How `validateRequest` answers from now on (`Success` at first).
    pub fn set_scep_answer(&self, answer: ScepAnswer) {
        lock(&self.mdm().state).scep_answer = Some(answer);
    }

    /// The SCEP validation calls received with a valid Intune token, in order.
    pub fn scep_calls(&self) -> Vec<ScepCall> {
        lock(&self.mdm().state).scep_calls.clone()
    }

    /// The scopes of every token request, in order.
    pub fn token_scopes(&self) -> Vec<String> {
        lock(&self.mdm().state).token_scopes.clone()
    }

    /// The requests received, oldest first (at most the last 10 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.mdm().requests.all()
    }

    /// The requests received at a path ending with `suffix`, such as `/oauth2/v2.0/token`
    /// or `/managedDevices`, oldest first.
    pub fn requests_to(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.mdm().requests.to(suffix)
    }
}

impl Mdm for Intune {
    type Stats = FakeStats;

    const WORDING: Wording = Wording {
        error: |status| graph_error(status, "injectedFailure", "injected failure"),
        too_many: || {
            graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests",
            )
        },
        garbage: "{\"value\": [{\"id\": \"1\", \"serialNumber\": ",
        wrong_shape: || json!({"error": "nope"}),
    };

    async fn handle(shared: &Shared, request: FakeRequest) -> FakeResponse {
        shared.mdm.requests.record(&request, &request.path);
        shared.delay().await;
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (&request.method, segments.as_slice()) {
            (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => {
                token(shared, tenant, &request).await
            }
            (&Method::POST, ["scep", "Gateway", "ScepActions", action]) => {
                scep_action(shared, action, &request)
            }
            (_, ["v1.0", ..]) => {
                shared.count(|s| s.graph_requests += 1);
                if let Some(denied) = check_token(shared, request.bearer()) {
                    return denied;
                }
                if let (&Method::GET, ["servicePrincipals", app, "endpoints"]) =
                    (&request.method, &segments[1..])
                {
                    return service_endpoints(shared, app);
                }
                let slot = match segments.get(1) {
                    Some(&"deviceManagement") => &shared.fault,
                    _ => &shared.mdm.directory_fault,
                };
                Shared::guarded(slot, |ignore_filter| {
                    match (&request.method, &segments[1..]) {
                        (&Method::GET, ["deviceManagement", "managedDevices"]) => {
                            shared.count(|s| s.device_requests += 1);
                            managed_devices(shared, &request, ignore_filter)
                        }
                        (&Method::GET, ["devices"]) => {
                            shared.count(|s| s.entra_requests += 1);
                            entra_devices(shared, &request)
                        }
                        (&Method::GET, ["groups", group_id, "transitiveMembers"]) => {
                            shared.count(|s| s.group_member_requests += 1);
                            group_members(shared, group_id, &request)
                        }
                        (&Method::POST, ["devices", object_id, "checkMemberGroups"]) => {
                            shared.count(|s| s.member_checks += 1);
                            check_member_groups(shared, object_id, &request)
                        }
                        _ => graph_error(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            "Resource not found for the segment.",
                        ),
                    }
                })
                .await
            }
            _ => html_response(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    /// The variables that point a server at this fake: tenant, client ID and secret, and
    /// both URLs.
    fn env_vars(fake: &Fake<Self>) -> Vec<(String, String)> {
        let url = fake.url();
        owned_vars(&[
            ("INTUNE_TENANT_ID", TENANT_ID),
            ("INTUNE_CLIENT_ID", CLIENT_ID),
            ("INTUNE_CLIENT_SECRET", CLIENT_SECRET),
            ("INTUNE_AUTHORITY_URL", &url),
            ("INTUNE_GRAPH_URL", &url),
        ])
    }

    /// A compliant, managed Mac.
    fn enrol(fake: &Fake<Self>, serial: &str) {
        fake.add_device(FakeManagedDevice::new(serial));
    }

    /// Token and Graph requests.
    fn upstream_requests(stats: &FakeStats) -> u64 {
        stats.token_requests + stats.graph_requests
    }
}

async fn token(shared: &Shared, tenant: &str, request: &FakeRequest) -> FakeResponse {
    shared.count(|s| s.token_requests += 1);
    let fault = lock(&shared.mdm.state).tokens.fault();
    if let Some(fault) = fault {
        return fault.answer(&TOKEN_WORDING).await;
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
    match (field("client_secret"), field("client_assertion")) {
        (Some(_), Some(_)) => {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90023,
                "AADSTS90023: Only one client credential may be presented: client_secret or client_assertion.",
            );
        }
        (None, None) => {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
        (Some(secret), None) if secret != CLIENT_SECRET => {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "AADSTS7000215: Invalid client secret provided.",
            );
        }
        (Some(_), None) => {}
        (None, Some(assertion)) => {
            if field("client_assertion_type") != Some(ASSERTION_TYPE) {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    90023,
                    &format!("AADSTS90023: client_assertion_type must be {ASSERTION_TYPE}."),
                );
            }
            let mut state = lock(&shared.mdm.state);
            let audience = format!("{}/{tenant}/oauth2/v2.0/token", shared.root_url());
            if let Some(refused) = check_assertion(&mut state, assertion, &audience) {
                return refused;
            }
        }
    }
    let Some(scope) = field("scope") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "AADSTS900144: The request body must contain the following parameter: 'scope'.",
        );
    };
    let Some(resource) = scope.strip_suffix("/.default") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        );
    };
    let resource = resource.trim_end_matches('/');
    let intune = resource.eq_ignore_ascii_case(INTUNE_RESOURCE);
    lock(&shared.mdm.state).token_scopes.push(scope.to_owned());
    if !intune
        && !GRAPH_RESOURCES
            .iter()
            .any(|graph| graph.eq_ignore_ascii_case(resource))
    {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            &format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        );
    }
    let mut state = lock(&shared.mdm.state);
    let (token, lifetime) = if intune {
        let issued = state.tokens.issue("fake-intune-token-");
        state.intune_tokens.insert(issued.0.clone());
        issued
    } else {
        state.tokens.issue("fake-graph-token-")
    };
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

/// How the identity platform's token endpoint, or what stands in front of it, words
/// injected failures.
const TOKEN_WORDING: TokenWording = TokenWording {
    html: html_response,
    page_title: "Sign in",
    not_a_token: || json!({"token_type": "Bearer"}),
};

/// Verifies a client assertion as Entra does: Entra's refusal, or `None` when accepted. A verified
/// assertion's `jti` is remembered, so it can't be used again.
fn check_assertion(state: &mut State, assertion: &str, audience: &str) -> Option<FakeResponse> {
    let refuse = |code: u32, message: &str| {
        entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            &format!("AADSTS{code}: {message}"),
        )
    };
    let malformed = || refuse(50027, "JWT token is invalid or malformed.");
    let decode_json = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
    };
    let mut parts = assertion.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some(malformed());
    };
    let (Some(head), Some(body), Ok(signature)) = (
        decode_json(header),
        decode_json(claims),
        URL_SAFE_NO_PAD.decode(signature),
    ) else {
        return Some(malformed());
    };
    let text = |map: &Map<String, Value>, key: &str| {
        map.get(key).and_then(Value::as_str).map(str::to_owned)
    };
    let algorithm: &'static dyn ring::signature::VerificationAlgorithm =
        match text(&head, "alg").as_deref() {
            Some("PS256") => &RSA_PSS_2048_8192_SHA256,
            Some("RS256") => &RSA_PKCS1_2048_8192_SHA256,
            _ => {
                return Some(refuse(
                    5002738,
                    "Invalid JWT token. 'alg' must be PS256 or RS256.",
                ));
            }
        };
    let thumbprint = text(&head, "x5t#S256").unwrap_or_default();
    let Some(certificate) = state.certificates.iter().find(|c| c.x5t_s256 == thumbprint) else {
        return Some(refuse(
            700027,
            &format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}']"
            ),
        ));
    };
    let now = OffsetDateTime::now_utc();
    if now < certificate.not_before || now > certificate.not_after {
        return Some(refuse(
            700027,
            &format!(
                "Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '{thumbprint}', Found key 'Start={}, End={}']",
                show_time(certificate.not_before),
                show_time(certificate.not_after)
            ),
        ));
    }
    let signed = &assertion[..header.len() + 1 + claims.len()];
    if UnparsedPublicKey::new(algorithm, &certificate.public_key)
        .verify(signed.as_bytes(), &signature)
        .is_err()
    {
        return Some(refuse(
            700027,
            "Client assertion failed signature validation.",
        ));
    }
    let (iss, sub) = (text(&body, "iss"), text(&body, "sub"));
    if iss.as_deref() != Some(CLIENT_ID) || sub.as_deref() != Some(CLIENT_ID) {
        return Some(refuse(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    if text(&body, "aud").as_deref() != Some(audience) {
        return Some(refuse(
            50013,
            &format!("Assertion failed audience validation: the audience must be {audience}."),
        ));
    }
    let seconds = |key: &str| body.get(key).and_then(Value::as_i64);
    let now_secs = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    match (seconds("nbf"), seconds("exp")) {
        (Some(nbf), Some(exp)) if nbf <= now_secs && now_secs < exp => {}
        (nbf, exp) => {
            return Some(refuse(
                700024,
                &format!(
                    "Client assertion is not within its valid time range. Current time: {now_secs}, assertion valid from {}, expiry time of assertion {}.",
                    nbf.map_or("(none)".to_owned(), |t| t.to_string()),
                    exp.map_or("(none)".to_owned(), |t| t.to_string())
                ),
            ));
        }
    }
    let jti = text(&body, "jti").unwrap_or_default();
    if jti.is_empty() || !state.used_jtis.insert(jti.clone()) {
        return Some(refuse(
            50013,
            &format!(
                "Assertion is invalid: the assertion with jti '{jti}' was already used (replayed)."
            ),
        ));
    }
    None
}

/// 401 for a missing, unknown or expired token; `None` when the token is good.
fn check_token(shared: &Shared, bearer: Option<&str>) -> Option<FakeResponse> {
    check_audience(shared, bearer, false)
}

/// Refuses a missing, unknown or expired token, or one for the other resource (Graph or
/// the Intune API).
fn check_audience(shared: &Shared, bearer: Option<&str>, intune: bool) -> Option<FakeResponse> {
    let valid = bearer.is_some_and(|token| {
        let state = lock(&shared.mdm.state);
        state.intune_tokens.contains(token) == intune && state.tokens.is_valid(token)
    });
    if valid {
        return None;
    }
    shared.count(|s| s.unauthorized += 1);
    Some(graph_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "Access token has expired or is not yet valid.",
    ))
}

fn managed_devices(shared: &Shared, request: &FakeRequest, ignore_filter: bool) -> FakeResponse {
    let state = lock(&shared.mdm.state);
    let wanted = request
        .query_value("$filter")
        .and_then(|filter| parse_eq(filter, "serialNumber"));
    let select = selected(request);
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
    // Intune's pages hold at most 1000 devices (and 1000 without `$top`); a larger `$top`
    // is not an error, the page is just capped.
    let top = request
        .query_value("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(MANAGED_DEVICES_PAGE)
        .clamp(1, MANAGED_DEVICES_PAGE);
    paged(
        shared.root_url(),
        "deviceManagement/managedDevices",
        request,
        matching,
        top,
    )
}

/// The most managed devices Intune returns in one page.
const MANAGED_DEVICES_PAGE: usize = 1000;

/// The directory's page sizes (`/devices`, `transitiveMembers`): 100 without `$top`, at
/// most 999.
const DIRECTORY_PAGE: usize = 100;
const DIRECTORY_MAX_PAGE: usize = 999;

/// One page of a directory collection (`/devices`, `transitiveMembers`): `$top` is 1–999,
/// 100 when absent; the directory refuses other sizes with 400.
fn directory_page(
    base_url: &str,
    path: &str,
    request: &FakeRequest,
    items: Vec<Value>,
) -> FakeResponse {
    let top = match request.query_value("$top") {
        None => DIRECTORY_PAGE,
        Some(top) => match top.parse::<usize>() {
            Ok(n) if (1..=DIRECTORY_MAX_PAGE).contains(&n) => n,
            _ => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    &format!(
                        "Invalid page size specified: '{top}'. Must be between 1 and {DIRECTORY_MAX_PAGE} inclusive."
                    ),
                );
            }
        },
    };
    paged(base_url, path, request, items, top)
}

/// The `$select`ed properties, if any.
fn selected(request: &FakeRequest) -> Option<Vec<&str>> {
    request
        .query_value("$select")
        .map(|s| s.split(',').map(str::trim).collect())
}

/// One page of `items` at `path` (under `/v1.0/`): from the `$skiptoken`, `top` of them,
/// with an `@odata.nextLink` repeating the request's query when more follow, as Graph's do.
fn paged(
    base_url: &str,
    path: &str,
    request: &FakeRequest,
    items: Vec<Value>,
    top: usize,
) -> FakeResponse {
    // Graph's skip tokens are opaque; here one is simply the index of the page's first item.
    let skip = request
        .query_value("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let more = items.len() > skip.saturating_add(top);
    let value: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
    let mut body = json!({
        "@odata.context": format!("{base_url}/v1.0/$metadata#{path}"),
        "value": value,
    });
    if more && let Some(map) = body.as_object_mut() {
        let mut next = format!("{base_url}/v1.0/{path}");
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
        "managementAgent": if d.management_agent.is_empty() { Value::Null } else { json!(d.management_agent) },
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
    let state = lock(&shared.mdm.state);
    let select = selected(request);
    let filter = request.query_value("$filter");
    let wanted = filter.and_then(|filter| parse_eq(filter, "deviceId"));
    if filter.is_some() && wanted.is_none() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported or invalid query filter clause specified.",
        );
    }
    let value: Vec<Value> = entra_objects(&state.devices)
        .filter(|d| {
            wanted
                .as_deref()
                .is_none_or(|w| d.azure_ad_device_id.eq_ignore_ascii_case(w))
        })
        .map(|d| project(entra_device_json(d), select.as_deref()))
        .collect();
    if wanted.is_some() {
        // One device ID: one object at most, in one page.
        return json_response(
            StatusCode::OK,
            &json!({
                "@odata.context": format!("{}/v1.0/$metadata#devices", shared.root_url()),
                "value": value,
            }),
        );
    }
    directory_page(shared.root_url(), "devices", request, value)
}

/// `GET /groups/{id}/transitiveMembers`: the group's device objects; 404 for a group no
/// device belongs to (Entra doesn't know it).
fn group_members(shared: &Shared, group_id: &str, request: &FakeRequest) -> FakeResponse {
    let state = lock(&shared.mdm.state);
    let select = selected(request);
    let in_group = |d: &FakeManagedDevice| {
        d.entra_groups
            .iter()
            .any(|g| g.eq_ignore_ascii_case(group_id))
    };
    if !state.devices.iter().any(in_group) {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{group_id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    }
    let value: Vec<Value> = entra_objects(&state.devices)
        .filter(|d| in_group(d))
        .map(|d| project(entra_device_json(d), select.as_deref()))
        .collect();
    let path = format!("groups/{group_id}/transitiveMembers");
    directory_page(shared.root_url(), &path, request, value)
}

/// The records whose Entra ID device object exists, one per object.
fn entra_objects(devices: &[FakeManagedDevice]) -> impl Iterator<Item = &FakeManagedDevice> {
    let mut seen = HashSet::new();
    devices
        .iter()
        .filter(|d| d.in_entra())
        .filter(move |d| seen.insert(d.entra_object_id()))
}

fn entra_device_json(d: &FakeManagedDevice) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.device",
        "id": d.entra_object_id(),
        "deviceId": d.azure_ad_device_id,
        "displayName": d.device_name,
        "isCompliant": d.compliance_state == "compliant",
        "isManaged": true,
        "accountEnabled": true,
        "operatingSystem": d.operating_system,
    })
}

fn check_member_groups(shared: &Shared, object_id: &str, request: &FakeRequest) -> FakeResponse {
    let state = lock(&shared.mdm.state);
    let Some(device) = state
        .devices
        .iter()
        .find(|d| d.in_entra() && d.entra_object_id().eq_ignore_ascii_case(object_id))
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
            "@odata.context": format!("{}/v1.0/$metadata#Collection(Edm.String)", shared.root_url()),
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

/// A certificate date in RFC 3339, such as `2024-01-01T00:00:00Z`, as Entra shows it.
fn show_time(time: OffsetDateTime) -> String {
    time.format(&Rfc3339)
        .unwrap_or_else(|_| time.unix_timestamp().to_string())
}

/// Whether `text` is a GUID: 8-4-4-4-12 hex digits.
fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The Intune API resource the fake grants SCEP validation tokens for.
const INTUNE_RESOURCE: &str = "https://api.manage.microsoft.com";

/// Where the fake serves its SCEP validation service, under its root.
const SCEP_SERVICE_PATH: &str = "scep/Gateway";

fn service_endpoints(shared: &Shared, app: &str) -> FakeResponse {
    if app != format!("appId={INTUNE_APP_ID}") {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "Resource does not exist.",
        );
    }
    let base = shared.root_url();
    json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals('x')/endpoints",
            "value": [
                {"id": "1", "capability": "", "providerId": "", "providerResourceId": "",
                 "providerName": "PkiConnectorFEService", "uri": format!("{base}/pki/Gateway")},
                {"id": "2", "capability": "", "providerId": "", "providerResourceId": "",
                 "providerName": "ScepRequestValidationFEService",
                 "uri": format!("{base}/{SCEP_SERVICE_PATH}")},
            ],
        }),
    )
}

/// Why a SCEP action's request does not have the documented shape, if it doesn't.
fn scep_shape(
    action: &str,
    api_version: Option<&str>,
    request_id: Option<&str>,
    body: &Value,
) -> Option<String> {
    if api_version != Some(SCEP_API_VERSION) {
        return Some(format!("api-version header {api_version:?}"));
    }
    let uuid = request_id.is_some_and(is_guid);
    if !uuid {
        return Some(format!("client-request-id {request_id:?} is not a UUID"));
    }
    let (outer, keys): (&str, &[&str]) = match action {
        "validateRequest" => (
            "request",
            &["transactionId", "certificateRequest", "callerInfo"],
        ),
        "successNotification" => (
            "notification",
            &[
                "transactionId",
                "certificateRequest",
                "certificateThumbprint",
                "certificateSerialNumber",
                "certificateExpirationDateUtc",
                "issuingCertificateAuthority",
                "callerInfo",
                "caConfiguration",
                "certificateAuthority",
            ],
        ),
        "failureNotification" => (
            "notification",
            &[
                "transactionId",
                "certificateRequest",
                "hResult",
                "errorDescription",
                "callerInfo",
            ],
        ),
        other => return Some(format!("unknown action {other}")),
    };
    let Some(inner) = body.get(outer).and_then(Value::as_object) else {
        return Some(format!("no {outer} object"));
    };
    if body.as_object().map(Map::len) != Some(1) {
        return Some("keys beside the outer object".to_owned());
    }
    let mut names: Vec<&str> = inner.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut wanted = keys.to_vec();
    wanted.sort_unstable();
    if names != wanted {
        return Some(format!("keys {names:?}, expected {wanted:?}"));
    }
    let csr_ok = inner
        .get("certificateRequest")
        .and_then(Value::as_str)
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .is_some_and(|der| der.first() == Some(&0x30));
    if !csr_ok {
        return Some("certificateRequest is not a base64 DER CSR".to_owned());
    }
    let text = |key: &str| inner.get(key).and_then(Value::as_str).unwrap_or("");
    if text("transactionId").is_empty() || text("callerInfo").is_empty() {
        return Some("empty transactionId or callerInfo".to_owned());
    }
    match action {
        "successNotification" => {
            let thumbprint = text("certificateThumbprint");
            if thumbprint.len() != 40 || !thumbprint.chars().all(|c| c.is_ascii_hexdigit()) {
                return Some("certificateThumbprint is not a SHA-1 in hex".to_owned());
            }
            if time::OffsetDateTime::parse(
                text("certificateExpirationDateUtc"),
                &time::format_description::well_known::Rfc3339,
            )
            .is_err()
            {
                return Some("certificateExpirationDateUtc is not ISO 8601".to_owned());
            }
            if text("certificateSerialNumber").is_empty()
                || text("issuingCertificateAuthority").is_empty()
            {
                return Some("empty serial or issuer".to_owned());
            }
        }
        "failureNotification" => {
            if !inner.get("hResult").is_some_and(Value::is_i64) {
                return Some("hResult is not an integer".to_owned());
            }
            if text("errorDescription").chars().count() > 255 {
                return Some("errorDescription over 255 characters".to_owned());
            }
        }
        _ => {}
    }
    None
}

fn scep_action(shared: &Shared, action: &str, request: &FakeRequest) -> FakeResponse {
    if let Some(denied) = check_audience(shared, request.bearer(), true) {
        return denied;
    }
    let header = |name: &str| request.header(name).map(str::to_owned);
    let api_version = header("api-version");
    let client_request_id = header("client-request-id");
    let body = request.json_body();
    let json_type = header("content-type").is_some_and(|t| t.starts_with("application/json"));
    let refused = if json_type {
        scep_shape(
            action,
            api_version.as_deref(),
            client_request_id.as_deref(),
            &body,
        )
    } else {
        Some("Content-Type is not application/json".to_owned())
    };
    let mut state = lock(&shared.mdm.state);
    state.scep_calls.push(ScepCall {
        action: action.to_owned(),
        api_version,
        client_request_id,
        body,
        refused: refused.clone(),
    });
    if let Some(reason) = refused {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"code": "BadRequest", "message": reason}}),
        );
    }
    let answer = match action {
        "validateRequest" => state.scep_answer.clone().unwrap_or(ScepAnswer::Success),
        _ => ScepAnswer::Success,
    };
    drop(state);
    match answer {
        ScepAnswer::Success => json_response(
            StatusCode::OK,
            &json!({"code": "Success", "errorDescription": ""}),
        ),
        ScepAnswer::Code(code) => json_response(
            StatusCode::OK,
            &json!({"code": code, "errorDescription": "refused by the fake"}),
        ),
        ScepAnswer::Status(status) => json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &json!({"error": {"code": "InternalError", "message": "injected"}}),
        ),
    }
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
        assert!(is_guid(&guid_from("x")));
        assert!(!is_guid("not-a-guid"));
        assert_ne!(guid_from("a"), guid_from("b"));
    }
}
