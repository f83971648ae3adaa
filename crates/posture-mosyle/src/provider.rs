use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use posture_core::{Decision, DenyCode, DeviceMode, LookupRequest, PostureProvider, ProviderError};
use posture_http::header::{AUTHORIZATION, HeaderMap};
use posture_http::sync::{FromIndex, Inventory, Pull, SyncReport, SyncSource};
use posture_http::{
    AccessToken, Answer, CacheStats, FetchedToken, Front, Serial, StatusCode, TokenSession,
    TokenStats, decode_json, secret_header, send_bearer, send_json,
};
use serde_json::{Value, json};

use crate::config::{Flavor, Group, MosyleConfig};
use crate::error::MosyleError;
use crate::model::{self, Device, Listing};

pub(crate) const SERVICE: &str = "Mosyle";

/// How long a Mosyle JWT lives: "The token will expire every 24 hours".
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How long before expiry a token is renewed.
const TOKEN_MARGIN: Duration = Duration::from_secs(3600);

/// The largest answer read.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// How many pages one lookup reads at most when Mosyle ignores the serial filter.
const MAX_PAGES: u64 = 10;

/// How many pages of device groups are read at most to find a group by name.
const MAX_GROUP_PAGES: u64 = 10;

/// The `os` values, in the order `auto` tries them.
const EVERY_OS: [&str; 4] = ["mac", "ios", "tvos", "visionos"];

/// Counters for metrics: one snapshot of a [`MosyleProvider`]'s activity since it was
/// built.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct MosyleStats {
    /// The decision cache.
    pub decisions: CacheStats,
    /// Authenticated requests sent to Mosyle (device lists, group lists).
    pub requests: u64,
    /// Logins (JWT fetches) and their failures.
    pub tokens: TokenStats,
}

/// A [`PostureProvider`] backed by Mosyle Manager or Mosyle Business.
///
/// See the crate documentation for the whole behaviour.
///
/// ```no_run
/// use posture_core::{LookupRequest, PostureProvider};
/// use posture_mosyle::{MosyleConfig, MosyleProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = MosyleConfig::from_env(|name| std::env::var(name).ok())?;
/// let mosyle = MosyleProvider::new(config)?; // no I/O
/// mosyle.check_ready().await?; // logs in: fails fast on refused credentials
/// let decision = mosyle.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
/// assert!(decision.is_allowed() || decision.deny_code().is_some());
/// # Ok(())
/// # }
/// ```
pub struct MosyleProvider {
    config: MosyleConfig,
    http: posture_http::HttpClient,
    /// The synced inventory (`MOSYLE_SYNC_INTERVAL`) lookups ask first, the decision cache
    /// (by serial and `os`), the readiness memo and the request counter.
    front: Front<(Serial, &'static str)>,
    session: TokenSession,
}

impl MosyleProvider {
    /// Builds the provider and its HTTP client. Does no I/O.
    pub fn new(config: MosyleConfig) -> Result<Self, MosyleError> {
        let common = config.common();
        let http = posture_http::provider_client!(common, SERVICE)?;
        let front = Front::with_settings(SERVICE, common, config.sync().clone());
        Ok(Self {
            session: TokenSession::with_backoff(TOKEN_MARGIN, common.backoff()),
            http,
            front,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &MosyleConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> MosyleStats {
        MosyleStats {
            decisions: self.front.stats(),
            requests: self.front.requests(),
            tokens: self.session.token_stats(),
        }
    }

    /// The synced inventory (empty while `MOSYLE_SYNC_INTERVAL` is 0).
    pub fn inventory(&self) -> &Inventory {
        self.front.inventory()
    }

    /// Forgets every cached decision.
    pub fn clear_cache(&self) {
        self.front.clear();
    }

    /// `POST /login`: the JWT comes back in the `Authorization` response header. The access
    /// token goes in the body (Mosyle Manager) and in an `accessToken` header (Mosyle
    /// Business); each product ignores the other's.
    async fn login(&self) -> Result<FetchedToken, ProviderError> {
        const REQUEST: &str = "POST /login";
        let url = self.config.api_url().join(&["login"]);
        let body = json!({
            "accessToken": self.config.access_token().expose(),
            "email": self.config.email(),
            "password": self.config.password().expose(),
        });
        let builder = self
            .http
            .post(url)
            .header(
                "accessToken",
                secret_header(self.config.access_token().expose(), SERVICE)?,
            )
            .json(&body);
        let answer = send_json(builder, SERVICE, REQUEST, MAX_BODY).await?;
        // The login runs within the pass of the request that needed it (or of the readiness
        // check), so it only notes a Retry-After; taking a pass of its own here would find
        // that request's probe in progress and refuse.
        self.session.backoff().note(answer.status, &answer.headers);
        match answer.status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(ProviderError::permanent(format!(
                    "Mosyle at MOSYLE_API_URL ({}) refused the login of MOSYLE_EMAIL ({}) with \
                     MOSYLE_PASSWORD and MOSYLE_ACCESS_TOKEN ({}): check all three, and that \
                     the administrator has API access",
                    self.config.api_url(),
                    self.config.email(),
                    answer.status
                )));
            }
            _ => return Err(self.answer_error(&answer, REQUEST)),
        }
        match jwt(&answer.headers) {
            Some(token) => Ok(FetchedToken::new(token, TOKEN_LIFETIME)),
            None => {
                let status = serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .and_then(|b| b.get("status").map(posture_http::lenient::text))
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(" (status {s})"))
                    .unwrap_or_default();
                Err(ProviderError::permanent(format!(
                    "Mosyle answered {REQUEST} for MOSYLE_EMAIL ({}) without a bearer token in \
                     its Authorization header{status}: check MOSYLE_ACCESS_TOKEN, MOSYLE_EMAIL \
                     and MOSYLE_PASSWORD, and that MOSYLE_API_URL ({}) is Mosyle's API",
                    self.config.email(),
                    self.config.api_url()
                )))
            }
        }
    }

    /// A token outside a request (the readiness check), in a backoff pass of its own.
    async fn token(&self) -> Result<AccessToken, ProviderError> {
        let pass = self.session.backoff().check(SERVICE)?;
        let token = self.session.token(|| self.login()).await?;
        pass.answered();
        Ok(token)
    }

    /// `POST <path>` with the JWT and the access token (in the body and a header), as every
    /// Mosyle call wants. A 401 drops the JWT and logs in again, once.
    async fn call(
        &self,
        path: &str,
        mut body: Value,
        request: &str,
    ) -> Result<Value, ProviderError> {
        if let Value::Object(map) = &mut body {
            map.insert(
                "accessToken".to_owned(),
                Value::String(self.config.access_token().expose().to_owned()),
            );
        }
        let url = self.config.api_url().join(&[path]);
        let access_header = secret_header(self.config.access_token().expose(), SERVICE)?;
        let send = |token: AccessToken| {
            self.front.count_request();
            let builder = self
                .http
                .post(url.clone())
                .header("accessToken", access_header.clone())
                .json(&body);
            async move { send_bearer(builder, token.secret(), SERVICE, request, MAX_BODY).await }
        };
        let refused = || {
            ProviderError::permanent(format!(
                "Mosyle refused a fresh login's token for {request} (401 Unauthorized): \
                 check that the administrator MOSYLE_EMAIL ({}) may use the API",
                self.config.email()
            ))
        };
        let answer = self
            .session
            .send(SERVICE, request, || self.login(), send, refused)
            .await?;
        match answer.status {
            StatusCode::OK => decode_json(SERVICE, request, &answer.body),
            _ => Err(self.answer_error(&answer, request)),
        }
    }

    fn answer_error(&self, answer: &Answer, request: &str) -> ProviderError {
        match answer.status {
            StatusCode::FORBIDDEN => ProviderError::permanent(format!(
                "Mosyle denied {request} (403 Forbidden): give the administrator MOSYLE_EMAIL \
                 ({}) API access to devices",
                self.config.email()
            )),
            StatusCode::NOT_FOUND => ProviderError::permanent(format!(
                "MOSYLE_API_URL ({}) does not look like Mosyle's API: {request} answered 404 \
                 Not Found; use https://managerapi.mosyle.com/v2 (Manager) or \
                 https://businessapi.mosyle.com/v1 (Business)",
                self.config.api_url()
            )),
            _ => self
                .config
                .common()
                .cap_retry_after(answer.error(SERVICE, request)),
        }
    }

    /// One page of the devices of `os` with `serial`, or of all of them (Manager:
    /// `POST /listdevices`; Business: `POST /devices` with `"operation": "list"`).
    async fn list_page(
        &self,
        os: &str,
        serial: Option<&Serial>,
        page: Option<u64>,
    ) -> Result<Listing, ProviderError> {
        let mut options = json!({"os": os});
        if let Value::Object(map) = &mut options {
            if let Some(serial) = serial {
                map.insert("serial_numbers".to_owned(), json!([serial.as_str()]));
            }
            if let Some(page) = page {
                map.insert("page".to_owned(), json!(page));
            }
        }
        let (path, body) = match self.config.flavor() {
            Flavor::Manager => ("listdevices", json!({"options": options})),
            Flavor::Business => ("devices", json!({"operation": "list", "options": options})),
        };
        let serial = serial.map_or_else(|| "any".to_owned(), ToString::to_string);
        let request = match page {
            Some(page) => format!("POST /{path} (os {os}, serial {serial}, page {page})"),
            None => format!("POST /{path} (os {os}, serial {serial})"),
        };
        let body = self.call(path, body, &request).await?;
        model::listing(&body).map_err(|why| {
            ProviderError::permanent(format!(
                "Mosyle answered {request} with a body that is not the expected device list \
                 ({why})"
            ))
        })
    }

    /// Every record of `os` whose serial is exactly `serial`. The `serial_numbers` filter
    /// may be ignored, so every device is compared, and when a full page came back without
    /// the serial, the next page is read: at most [`MAX_PAGES`], stopping early at a short
    /// page or one that repeats what was seen.
    async fn exact_matches(&self, os: &str, serial: &Serial) -> Result<Vec<Device>, ProviderError> {
        let mut seen = HashSet::new();
        let mut matching = Vec::new();
        let mut page = None;
        for _ in 0..MAX_PAGES {
            let (devices, page_size, answered_page) =
                match self.list_page(os, Some(serial), page).await? {
                    Listing::NotFound => return Ok(matching),
                    Listing::Devices {
                        devices,
                        page_size,
                        page,
                    } => (devices, page_size, page),
                };
            let returned = devices.len() as u64;
            let mut new = 0;
            for device in devices {
                let key = (device.udid.clone(), device.serial_number.clone());
                if seen.insert(key) {
                    new += 1;
                    if device.has_serial(serial) {
                        matching.push(device);
                    }
                }
            }
            if !matching.is_empty() || !is_full(page_size, returned) || new == 0 {
                return Ok(matching);
            }
            tracing::debug!(%serial, os, "Mosyle ignored the serial filter; reading the next page");
            page = Some(next_page(answered_page, page));
        }
        Err(ProviderError::permanent(format!(
            "Mosyle ignored the serial_numbers filter and listed more than {MAX_PAGES} full \
             pages of {os} devices without {serial}; the lookup stops there rather than read \
             the whole inventory"
        )))
    }

    async fn fetch_decision(
        &self,
        serial: &Serial,
        oses: &'static [&'static str],
    ) -> Result<Decision, ProviderError> {
        for os in oses {
            let matching = self.exact_matches(os, serial).await?;
            if let Some(device) = current(matching) {
                return self.decide(serial, &device).await;
            }
        }
        tracing::debug!(%serial, "not found in Mosyle");
        Ok(not_found(serial, oses))
    }

    async fn decide(&self, serial: &Serial, device: &Device) -> Result<Decision, ProviderError> {
        // Only an enrolled device reaches the group check, as in `verdict`.
        let in_group = if device.is_managed() && !self.config.groups().is_empty() {
            self.in_any_group(device).await?
        } else {
            true
        };
        Ok(self.verdict(serial, device, in_group))
    }

    /// The decision for `device` once its group membership is known (`in_group`: in one of
    /// `MOSYLE_GROUPS`, or no groups set), shared by live lookups and the inventory sync.
    pub(crate) fn verdict(&self, serial: &Serial, device: &Device, in_group: bool) -> Decision {
        if device.is_deleted == Some(true) {
            return Decision::deny(
                DenyCode::NOT_MANAGED,
                format!("{serial} is deleted in Mosyle"),
            );
        }
        if !device.is_managed() {
            return Decision::deny(
                DenyCode::NOT_MANAGED,
                format!(
                    "{serial} is in Mosyle with status {:?}, not enrolled (INSTALLED or ENROLLED)",
                    device.status
                ),
            );
        }
        let groups = self.config.groups();
        if !in_group {
            let wanted: Vec<String> = groups.iter().map(ToString::to_string).collect();
            return Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!(
                    "{serial} (UDID {}) is in none of the Mosyle device groups {}",
                    if device.udid.is_empty() {
                        "unknown"
                    } else {
                        device.udid.as_str()
                    },
                    wanted.join(", ")
                ),
            );
        }
        tracing::debug!(%serial, os = %device.os, "allowed");
        posture_http::allow(self.config.enrich(), || device.enrichment())
    }

    /// Whether the device's UDID is a member of one of `MOSYLE_GROUPS`: names are resolved
    /// to IDs with `listdevicegroups` (for the device's `os`), members read with
    /// `listdevicesbygroup`.
    async fn in_any_group(&self, device: &Device) -> Result<bool, ProviderError> {
        if device.udid.trim().is_empty() {
            return Ok(false);
        }
        let mut ids: Vec<String> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for group in self.config.groups() {
            match group {
                Group::Id(id) => ids.push(id.clone()),
                Group::Name(name) => names.push(name),
            }
        }
        if !names.is_empty() {
            ids.extend(self.group_ids(&device.os, &names).await?);
        }
        for id in ids {
            let udids = self.group_members(&id).await?;
            if udids
                .iter()
                .any(|udid| udid.trim().eq_ignore_ascii_case(device.udid.trim()))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The UDIDs of the members of device group `id` (`listdevicesbygroup`).
    async fn group_members(&self, id: &str) -> Result<Vec<String>, ProviderError> {
        let request = format!("POST /listdevicesbygroup (group {id})");
        let body = self
            .call(
                "listdevicesbygroup",
                json!({"options": {"iddevicegroup": id}}),
                &request,
            )
            .await?;
        model::group_udids(&body).map_err(|why| {
            ProviderError::permanent(format!(
                "Mosyle answered {request} with a body that is not the expected group ({why})"
            ))
        })
    }

    /// The IDs of the device groups of `os` called one of `names` (exactly).
    async fn group_ids(&self, os: &str, names: &[&str]) -> Result<Vec<String>, ProviderError> {
        let os = group_os(os);
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        for page in 0..MAX_GROUP_PAGES {
            let request = format!("POST /listdevicegroups (os {os}, page {page})");
            let body = self
                .call(
                    "listdevicegroups",
                    json!({"options": {"os": os, "page": page}}),
                    &request,
                )
                .await?;
            let (groups, page_size) = model::groups(&body).map_err(|why| {
                ProviderError::permanent(format!(
                    "Mosyle answered {request} with a body that is not the expected group list \
                     ({why})"
                ))
            })?;
            let returned = groups.len() as u64;
            let mut new = 0;
            for (id, name) in groups {
                if seen.insert(id.clone()) {
                    new += 1;
                    if names.contains(&name.as_str()) {
                        ids.push(id);
                    }
                }
            }
            if !is_full(page_size, returned) || new == 0 {
                break;
            }
        }
        Ok(ids)
    }

    async fn probe(&self) -> Result<(), ProviderError> {
        let setting = format!("MOSYLE_API_URL ({})", self.config.api_url());
        posture_http::probe_within("Mosyle", &setting, self.config.common().timeout(), async {
            self.token().await.map(drop)
        })
        .await
    }
}

/// The bearer token of an `Authorization: Bearer <JWT>` response header (the scheme in any
/// case; a bare token is taken as it is).
fn jwt(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        Some(_) => return None,
        None if value.eq_ignore_ascii_case("bearer") => return None,
        None => value,
    };
    (!token.is_empty()).then(|| token.to_owned())
}

/// Whether a page of `returned` items was full, so that another may follow.
fn is_full(page_size: Option<u64>, returned: u64) -> bool {
    page_size.is_some_and(|size| size > 0 && returned >= size)
}

/// The page to ask for after the one answered: Mosyle's own `page` + 1 (its documentation
/// says pages start at 0, its example answers 1), else the one asked + 1.
fn next_page(answered: Option<u64>, asked: Option<u64>) -> u64 {
    answered.or(asked).map_or(1, |p| p + 1)
}

/// The `os` whose device groups a device's group names are looked up in.
fn group_os(os: &str) -> &str {
    match os.trim() {
        "" => "mac",
        os => os,
    }
}

fn not_found(serial: &Serial, oses: &[&str]) -> Decision {
    Decision::deny(
        DenyCode::DEVICE_NOT_FOUND,
        format!(
            "no device with serial number {serial} in Mosyle (os {})",
            oses.join(", ")
        ),
    )
}

/// Which of several records for one serial counts: an enrolled one first, then Mosyle's
/// order.
pub(crate) fn current(devices: Vec<Device>) -> Option<Device> {
    let mut best: Option<Device> = None;
    for device in devices {
        match &best {
            Some(b) if b.is_managed() || !device.is_managed() => {}
            _ => best = Some(device),
        }
    }
    best
}

/// The `os` values a lookup in `mode` tries, in order.
pub(crate) fn oses(mode: DeviceMode) -> &'static [&'static str] {
    match mode {
        DeviceMode::Computer => &EVERY_OS[..1],
        DeviceMode::MobileDevice => &EVERY_OS[1..2],
        _ => &EVERY_OS,
    }
}

impl PostureProvider for MosyleProvider {
    fn name(&self) -> &str {
        "mosyle"
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        let serial = match self.front.serial(request, SERVICE) {
            Ok(serial) => serial,
            Err(deny) => return Ok(deny),
        };
        let oses = oses(request.mode());
        let inventory = self.front.inventory();
        if inventory.settings().is_on() {
            // The index holds a device under each `os` it is listed in; the first of the
            // lookup's `os` values it holds answers, as the live lookup's order would.
            let keys: Vec<String> = oses.iter().map(|os| index_key(&serial, os)).collect();
            if let FromIndex::Decided(decision) =
                inventory.lookup_first(keys.iter().map(String::as_str))
            {
                return Ok(decision);
            }
        }
        let key = match oses {
            [one] => (serial.clone(), *one),
            _ => (serial.clone(), "auto"),
        };
        self.front
            .decide(key, || self.fetch_decision(&serial, oses))
            .await
    }

    /// Logs in (or reuses the JWT, valid for a day): refused credentials fail fast, naming
    /// the settings. A success counts for a minute.
    ///
    /// With inventory sync on, a synced inventory younger than `MOSYLE_SYNC_MAX_AGE` is
    /// ready without a request; none past that age is not ready.
    async fn check_ready(&self) -> Result<(), ProviderError> {
        self.front.check_ready(self.probe()).await
    }

    fn report(&self) -> Vec<String> {
        let api = self.config.api_url();
        let list = match self.config.flavor() {
            Flavor::Manager => api.join(&["listdevices"]),
            Flavor::Business => api.join(&["devices"]),
        };
        let lines = vec![format!(
            "devices: POST {list} ({}), logged in as {}",
            self.config.flavor(),
            self.config.email()
        )];
        self.front.report(lines)
    }
}

/// The index key of a serial's records listed under `os`.
fn index_key(serial: &Serial, os: &str) -> String {
    format!("{serial}/{os}")
}

impl MosyleProvider {
    /// Syncs the whole inventory now (after any sync in progress) and answers from it; the
    /// server runs this on `MOSYLE_SYNC_INTERVAL`. A failed sync keeps the previous
    /// inventory.
    pub async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
        let synced = Synced {
            mosyle: self,
            groups: OnceLock::new(),
        };
        posture_http::sync::sync_now(&synced).await
    }
}

/// The provider as a [`SyncSource`], over its private device model, with the members of
/// `MOSYLE_GROUPS` as this sync read them.
struct Synced<'a> {
    mosyle: &'a MosyleProvider,
    groups: OnceLock<Membership>,
}

/// The members of `MOSYLE_GROUPS`, read once per sync so that no device needs a call of
/// its own: the groups named by ID, those named by name per device `os`, and each one's
/// UDIDs (lower-cased, as the live check compares them ignoring case).
#[derive(Debug, Default)]
struct Membership {
    ids: Vec<String>,
    named: HashMap<String, Vec<String>>,
    udids: HashMap<String, HashSet<String>>,
}

impl Membership {
    /// Whether `device` is in one of the groups, as `in_any_group` would say.
    fn contains(&self, device: &Device) -> bool {
        let udid = device.udid.trim().to_ascii_lowercase();
        if udid.is_empty() {
            return false;
        }
        let named = self.named.get(group_os(&device.os)).into_iter().flatten();
        self.ids.iter().chain(named).any(|id| {
            self.udids
                .get(id)
                .is_some_and(|udids| udids.contains(&udid))
        })
    }
}

/// The whole inventory, read as lookups read it: every `os`, page after page in Mosyle's
/// numbering until a short page or one that repeats the last, through the same login,
/// `Retry-After` and backoff; then, with `MOSYLE_GROUPS`, each group's members once.
impl SyncSource for Synced<'_> {
    type Record = Device;

    fn inventory(&self) -> &Inventory {
        self.mosyle.front.inventory()
    }

    async fn pull(&self, pull: &mut Pull<Device>) -> Result<(), ProviderError> {
        let mosyle = self.mosyle;
        // The `os` values whose group names an enrolled device's check would resolve.
        let mut group_oses = BTreeSet::new();
        for os in EVERY_OS {
            let mut seen = HashSet::new();
            let mut page = None;
            loop {
                let what = format!("Mosyle inventory sync, os {os}, page {page:?}");
                let listing = pull
                    .page(&what, || mosyle.list_page(os, None, page))
                    .await?;
                let Listing::Devices {
                    devices,
                    page_size,
                    page: answered,
                } = listing
                else {
                    break;
                };
                let returned = devices.len() as u64;
                let mut new = 0;
                for device in devices {
                    if !seen.insert((device.udid.clone(), device.serial_number.clone())) {
                        continue;
                    }
                    new += 1;
                    // A record no lookup could name (no valid serial) is left out.
                    let Ok(serial) = Serial::check(device.serial_number.trim(), SERVICE) else {
                        continue;
                    };
                    if device.is_managed() && !device.udid.trim().is_empty() {
                        group_oses.insert(group_os(&device.os).to_owned());
                    }
                    pull.add(index_key(&serial, os), device);
                }
                if !is_full(page_size, returned) || new == 0 {
                    break;
                }
                page = Some(next_page(answered, page));
            }
        }
        let membership = self.membership(pull, &group_oses).await?;
        // Set once: each sync has its own `Synced`.
        let _ = self.groups.set(membership);
        Ok(())
    }

    fn decide(&self, key: &str, records: Vec<Device>) -> Decision {
        let (serial, os) = key.split_once('/').unwrap_or((key, ""));
        let mosyle = self.mosyle;
        mosyle
            .front
            .decide_synced(serial, |serial| match current(records) {
                Some(device) => {
                    let in_group = mosyle.config.groups().is_empty()
                        || self.groups.get().is_some_and(|m| m.contains(&device));
                    mosyle.verdict(&serial, &device, in_group)
                }
                None => not_found(&serial, &[os]),
            })
    }
}

impl Synced<'_> {
    /// Reads the members of `MOSYLE_GROUPS`: names resolved for each of `oses`, then every
    /// group's UDIDs. A group Mosyle can't list fails the sync, as it fails the lookups
    /// that reach it.
    async fn membership(
        &self,
        pull: &mut Pull<Device>,
        oses: &BTreeSet<String>,
    ) -> Result<Membership, ProviderError> {
        let mosyle = self.mosyle;
        let mut membership = Membership::default();
        let mut names = Vec::new();
        for group in mosyle.config.groups() {
            match group {
                Group::Id(id) => membership.ids.push(id.clone()),
                Group::Name(name) => names.push(name.as_str()),
            }
        }
        if !names.is_empty() {
            for os in oses {
                let what = format!("Mosyle inventory sync, device groups of os {os}");
                let ids = pull.page(&what, || mosyle.group_ids(os, &names)).await?;
                membership.named.insert(os.clone(), ids);
            }
        }
        let wanted: BTreeSet<String> = membership
            .ids
            .iter()
            .chain(membership.named.values().flatten())
            .cloned()
            .collect();
        for id in wanted {
            let what = format!("Mosyle inventory sync, members of group {id}");
            let udids = pull.page(&what, || mosyle.group_members(&id)).await?;
            let udids = udids
                .iter()
                .map(|udid| udid.trim().to_ascii_lowercase())
                .collect();
            membership.udids.insert(id, udids);
        }
        Ok(membership)
    }
}

impl fmt::Debug for MosyleProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        posture_http::debug_provider(f, "MosyleProvider", &self.config, &self.stats())
    }
}

impl posture_core::ProviderCounters for MosyleProvider {
    fn samples(&self) -> Vec<posture_core::CounterSample> {
        let mut samples = self.front.samples();
        samples.extend(posture_http::token_counters(&self.session.token_stats()));
        samples
    }
}

#[cfg(test)]
mod tests {
    use posture_http::header::HeaderValue;

    use super::*;

    #[test]
    fn modes_choose_the_os() {
        assert_eq!(oses(DeviceMode::Computer), ["mac"]);
        assert_eq!(oses(DeviceMode::MobileDevice), ["ios"]);
        assert_eq!(oses(DeviceMode::Auto), ["mac", "ios", "tvos", "visionos"]);
        assert_eq!(oses(DeviceMode::Unspecified), oses(DeviceMode::Auto));
    }

    #[test]
    fn the_jwt_comes_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(jwt(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer eyJ.a.b"));
        assert_eq!(jwt(&headers).as_deref(), Some("eyJ.a.b"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer  eyJ.c "));
        assert_eq!(jwt(&headers).as_deref(), Some("eyJ.c"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(jwt(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(jwt(&headers), None);
    }

    #[test]
    fn enrolled_records_win() {
        let record = |udid: &str, status: &str| Device {
            udid: udid.to_owned(),
            status: status.to_owned(),
            ..Device::default()
        };
        let picked = current(vec![
            record("old", "UNINSTALLED"),
            record("new", "INSTALLED"),
            record("newer", "ENROLLED"),
        ])
        .unwrap();
        assert_eq!(picked.udid, "new");
        assert_eq!(current(vec![record("only", "")]).unwrap().udid, "only");
        assert!(current(Vec::new()).is_none());
    }
}
