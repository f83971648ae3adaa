use std::fmt;
use std::sync::atomic::Ordering;

use posture_core::{Decision, DenyCode, DeviceMode, LookupRequest, PostureProvider, ProviderError};
use posture_http::{
    Answer, CacheClass, CacheConfig, CacheStats, ClientOptions, LookupCache, Serial, StatusCode,
    TokenStats, decode_json, status_error,
};

use crate::client::{JamfClient, SERVICE};
use crate::config::{DEPARTMENT_CACHE_TTL, JamfApi, JamfConfig};
use crate::error::JamfError;
use crate::model::{
    ClassicComputerEnvelope, ClassicMobileEnvelope, Department, Device, ProComputer, ProMobile,
    SearchResults,
};

/// How many inventory records one Jamf Pro API search may return. One serial should match one
/// record; a few more allow for duplicates left by re-enrolment.
const PAGE_SIZE: &str = "10";

/// The two inventories Jamf keeps.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
enum Kind {
    Computer,
    MobileDevice,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Self::Computer => "computer",
            Self::MobileDevice => "mobile device",
        }
    }

    fn classic_collection(self) -> &'static str {
        match self {
            Self::Computer => "computers",
            Self::MobileDevice => "mobiledevices",
        }
    }
}

/// Counters for metrics: one snapshot of a [`JamfProvider`]'s activity since it was built.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct JamfStats {
    /// Token requests (`POST /api/oauth/token`), failures, and invalidations after a 401.
    pub token: TokenStats,
    /// The decision cache: hits, misses (each one a Jamf lookup), coalesced waiters, errors.
    pub decisions: CacheStats,
    /// The department-name cache (Jamf Pro API only).
    pub departments: CacheStats,
    /// Authenticated GETs sent to Jamf (inventory and departments), retries included.
    pub jamf_requests: u64,
    /// GETs retried with a renewed token after Jamf answered 401.
    pub retries_after_401: u64,
}

/// A [`PostureProvider`] backed by Jamf Pro.
///
/// It looks devices up by serial number in the Classic API or the Jamf Pro API
/// ([`JamfApi`]), denies devices that are unknown, unmanaged or outside the configured
/// compliance group, and returns the Go version's enrichment data when asked. See the crate
/// documentation for the whole behaviour.
///
/// ```no_run
/// use posture_core::{DeviceMode, LookupRequest, PostureProvider};
/// use posture_jamf::{JamfConfig, JamfProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = JamfConfig::from_env(|name| std::env::var(name).ok())?;
/// let jamf = JamfProvider::new(config)?; // no I/O
/// jamf.check_ready().await?; // fetches a token: fails fast on bad settings
/// let request = LookupRequest::new("C02XL0GJJG5J").with_mode(DeviceMode::Computer);
/// let decision = jamf.lookup(&request).await?;
/// assert!(decision.is_allowed() || decision.deny_code().is_some());
/// # Ok(())
/// # }
/// ```
pub struct JamfProvider {
    config: JamfConfig,
    client: JamfClient,
    decisions: LookupCache<(Kind, Serial), Decision>,
    departments: LookupCache<String, String>,
}

impl JamfProvider {
    /// Builds the provider and its HTTP client. Does no I/O: the first lookup or
    /// [`check_ready`](PostureProvider::check_ready) fetches the token.
    pub fn new(config: JamfConfig) -> Result<Self, JamfError> {
        let http = ClientOptions::new(config.timeout())
            .with_extra_roots(config.extra_roots().clone())
            .with_user_agent(concat!(
                "step-posture-connector posture-jamf/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(JamfError::client)?;
        let client = JamfClient::new(
            http,
            config.base_url().clone(),
            config.client_id().to_owned(),
            config.client_secret().clone(),
            config.token_renewal_margin(),
        );
        let decisions = LookupCache::new(
            CacheConfig::new(config.cache_ttl(), config.negative_cache_ttl())
                .with_max_entries(config.cache_capacity()),
        );
        let departments = LookupCache::new(
            CacheConfig::new(DEPARTMENT_CACHE_TTL, config.negative_cache_ttl())
                .with_max_entries(1_000),
        );
        Ok(Self {
            config,
            client,
            decisions,
            departments,
        })
    }

    /// The settings.
    pub fn config(&self) -> &JamfConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> JamfStats {
        JamfStats {
            token: self.client.tokens().stats(),
            decisions: self.decisions.stats(),
            departments: self.departments.stats(),
            jamf_requests: self.client.requests.load(Ordering::Relaxed),
            retries_after_401: self.client.retries_after_401.load(Ordering::Relaxed),
        }
    }

    /// Forgets every cached decision and department name (not the token).
    pub fn clear_cache(&self) {
        self.decisions.clear();
        self.departments.clear();
    }

    async fn decide(&self, mode: DeviceMode, serial: &Serial) -> Result<Decision, ProviderError> {
        match mode {
            DeviceMode::Computer => self.decide_kind(Kind::Computer, serial).await,
            DeviceMode::MobileDevice => self.decide_kind(Kind::MobileDevice, serial).await,
            DeviceMode::Auto => {
                let computer = self.decide_kind(Kind::Computer, serial).await?;
                if computer.deny_code() != Some(&DenyCode::DEVICE_NOT_FOUND) {
                    return Ok(computer);
                }
                let mobile = self.decide_kind(Kind::MobileDevice, serial).await?;
                if mobile.deny_code() != Some(&DenyCode::DEVICE_NOT_FOUND) {
                    return Ok(mobile);
                }
                Ok(Decision::deny(
                    DenyCode::DEVICE_NOT_FOUND,
                    format!("no computer or mobile device with serial number {serial} in Jamf Pro"),
                ))
            }
            other => Ok(Decision::deny(
                DenyCode::INVALID_MODE,
                format!(
                    "mode {other} is not supported by the Jamf provider: use computer, mobiledevice or auto"
                ),
            )),
        }
    }

    /// One kind's decision, from the cache or from Jamf (one call for concurrent askers).
    async fn decide_kind(&self, kind: Kind, serial: &Serial) -> Result<Decision, ProviderError> {
        self.decisions
            .decide(
                (kind, serial.clone()),
                "Jamf Pro",
                self.config.timeout(),
                || self.fetch_decision(kind, serial),
            )
            .await
    }

    async fn fetch_decision(&self, kind: Kind, serial: &Serial) -> Result<Decision, ProviderError> {
        let found = match self.config.api() {
            JamfApi::Pro => self.pro_lookup(kind, serial).await?,
            JamfApi::Classic => self.classic_lookup(kind, serial).await?,
        };
        let Some(mut device) = found else {
            tracing::debug!(%serial, kind = kind.noun(), "not found in Jamf Pro");
            return Ok(Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("no {} with serial number {serial} in Jamf Pro", kind.noun()),
            ));
        };
        if device.managed == Some(false) {
            tracing::debug!(%serial, kind = kind.noun(), "found but not managed");
            return Ok(Decision::deny(
                DenyCode::NOT_MANAGED,
                format!("{} {serial} is in Jamf Pro but not managed", kind.noun()),
            ));
        }
        let (group, enrich) = match kind {
            Kind::Computer => (self.config.computer_group(), self.config.computer_enrich()),
            Kind::MobileDevice => (self.config.device_group(), self.config.device_enrich()),
        };
        if let Some(group) = group
            && !device.in_group(group)
        {
            tracing::debug!(%serial, kind = kind.noun(), group, "not in the compliance group");
            // The Go version's wording, kept for anyone matching on it.
            return Ok(Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!("{serial} is not a member of supplied compliance group \"{group}\""),
            ));
        }
        tracing::debug!(%serial, kind = kind.noun(), enrich, "allowed");
        if !enrich {
            return Ok(Decision::allow());
        }
        if device.user.department.is_empty() && is_department_id(&device.user.department_id) {
            device.user.department = self.department_name(&device.user.department_id).await?;
        }
        Ok(Decision::allow_with(device.enrichment()))
    }

    /// `GET /JSSResource/{computers,mobiledevices}/serialnumber/{serial}`: 404 is not found.
    async fn classic_lookup(
        &self,
        kind: Kind,
        serial: &Serial,
    ) -> Result<Option<Device>, ProviderError> {
        let collection = kind.classic_collection();
        let url =
            self.client
                .base()
                .join(&["JSSResource", collection, "serialnumber", serial.as_str()]);
        let request = format!("GET /JSSResource/{collection}/serialnumber/{serial}");
        let answer = self.client.get(url, &[], &request).await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(answer_error(&answer, &request)),
        }
        let device: Device = match kind {
            Kind::Computer => {
                decode_json::<ClassicComputerEnvelope>(SERVICE, &request, &answer.body)?.into()
            }
            Kind::MobileDevice => {
                decode_json::<ClassicMobileEnvelope>(SERVICE, &request, &answer.body)?.into()
            }
        };
        if !device.serial_number.is_empty()
            && !device.serial_number.eq_ignore_ascii_case(serial.as_str())
        {
            tracing::debug!(%serial, answered = %device.serial_number, "Jamf answered another serial; treating as not found");
            return Ok(None);
        }
        Ok(Some(device))
    }

    /// The Jamf Pro API inventory search, with only the sections needed. The serial is
    /// checked again in the answer, in case a filter was ignored.
    async fn pro_lookup(
        &self,
        kind: Kind,
        serial: &Serial,
    ) -> Result<Option<Device>, ProviderError> {
        let (group, enrich) = match kind {
            Kind::Computer => (self.config.computer_group(), self.config.computer_enrich()),
            Kind::MobileDevice => (self.config.device_group(), self.config.device_enrich()),
        };
        let (path, filter_field, groups_section): (&[&str], &str, &str) = match kind {
            Kind::Computer => (
                &["api", "v3", "computers-inventory"],
                "hardware.serialNumber",
                "GROUP_MEMBERSHIPS",
            ),
            Kind::MobileDevice => (
                &["api", "v2", "mobile-devices", "detail"],
                "serialNumber",
                "GROUPS",
            ),
        };
        // The serial is ASCII letters and digits only (checked), so it can't escape the quotes.
        let filter = format!("{filter_field}==\"{serial}\"");
        let mut query = vec![("section", "GENERAL"), ("section", "HARDWARE")];
        if enrich {
            query.push(("section", "USER_AND_LOCATION"));
        }
        if enrich || group.is_some() {
            query.push(("section", groups_section));
        }
        query.extend([
            ("page", "0"),
            ("page-size", PAGE_SIZE),
            ("filter", filter.as_str()),
        ]);
        let url = self.client.base().join(path);
        let request = format!("GET /{} (serial {serial})", path.join("/"));
        let answer = self.client.get(url, &query, &request).await?;
        if answer.status != StatusCode::OK {
            let err = answer_error(&answer, &request);
            if answer.status == StatusCode::NOT_FOUND {
                return Err(ProviderError::permanent(format!(
                    "{err}: this Jamf Pro lacks the endpoint; set JAMF_API=classic"
                )));
            }
            return Err(err);
        }
        let matches = |found: &str| found.eq_ignore_ascii_case(serial.as_str());
        let devices: Vec<Device> = match kind {
            Kind::Computer => {
                decode_json::<SearchResults<ProComputer>>(SERVICE, &request, &answer.body)?
                    .into_results()
                    .into_iter()
                    .filter(|c| matches(c.serial_number()))
                    .map(Device::from)
                    .collect()
            }
            Kind::MobileDevice => {
                decode_json::<SearchResults<ProMobile>>(SERVICE, &request, &answer.body)?
                    .into_results()
                    .into_iter()
                    .filter(|m| matches(m.serial_number()))
                    .map(Device::from)
                    .collect()
            }
        };
        // Duplicates come from re-enrolment; prefer the managed record.
        let mut devices = devices.into_iter();
        let first = devices.next();
        Ok(match first {
            Some(device) if device.managed == Some(false) => {
                Some(devices.find(|d| d.managed != Some(false)).unwrap_or(device))
            }
            other => other,
        })
    }

    /// A department's name from its ID (`GET /api/v1/departments/{id}`), cached for an hour.
    /// An unknown department, or one the API client may not read, gives an empty name rather
    /// than failing the lookup.
    async fn department_name(&self, id: &str) -> Result<String, ProviderError> {
        self.departments
            .get_or_fetch(id.to_owned(), async {
                let url = self.client.base().join(&["api", "v1", "departments", id]);
                let request = format!("GET /api/v1/departments/{id}");
                let answer = self.client.get(url, &[], &request).await?;
                match answer.status {
                    StatusCode::OK => {
                        let department: Department = decode_json(SERVICE, &request, &answer.body)?;
                        Ok((department.name, CacheClass::Positive))
                    }
                    StatusCode::NOT_FOUND => Ok((String::new(), CacheClass::Negative)),
                    StatusCode::FORBIDDEN => {
                        tracing::warn!(
                            "Jamf Pro denied {request}: give the API role the Read Departments \
                             privilege to get department names; sending an empty department"
                        );
                        Ok((String::new(), CacheClass::Negative))
                    }
                    _ => Err(answer_error(&answer, &request)),
                }
            })
            .await
    }
}

impl PostureProvider for JamfProvider {
    fn name(&self) -> &str {
        "jamf"
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        let serial = match Serial::check(request.identifier(), "Jamf") {
            Ok(serial) => serial,
            Err(reason) => {
                tracing::debug!(%reason, "identifier refused before any Jamf call");
                return Ok(Decision::deny(DenyCode::INVALID_IDENTIFIER, reason));
            }
        };
        let mode = match request.mode() {
            DeviceMode::Unspecified => self.config.default_mode(),
            mode => mode,
        };
        let timeout = self.config.timeout();
        tokio::time::timeout(timeout, self.decide(mode, &serial))
            .await
            .map_err(|_| posture_http::timed_out("Jamf Pro", timeout))?
    }

    /// Fetches a token (or finds a valid one cached). Bad credentials, an unreachable
    /// `JAMF_BASE_URL` and a URL that isn't Jamf Pro each give an error naming the setting.
    async fn check_ready(&self) -> Result<(), ProviderError> {
        let timeout = self.config.timeout();
        match tokio::time::timeout(timeout, self.client.token()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(ProviderError::transient(format!(
                "Jamf Pro at JAMF_BASE_URL ({}) did not issue a token within {} s (TIMEOUT)",
                self.config.base_url(),
                timeout.as_secs_f32()
            ))),
        }
    }
}

impl fmt::Debug for JamfProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JamfProvider")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn answer_error(answer: &Answer, request: &str) -> ProviderError {
    status_error(SERVICE, request, answer.status, &answer.headers)
}

/// Jamf uses `-1` (and sometimes an empty string) for "no department".
fn is_department_id(id: &str) -> bool {
    !id.is_empty() && id != "-1" && id != "0" && id.bytes().all(|b| b.is_ascii_digit())
}
