use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use posture_core::{Decision, DenyCode, LookupRequest, PostureProvider, ProviderError};
use posture_http::{
    Answer, CacheClass, CacheConfig, CacheStats, ClientOptions, LookupCache, RecentSuccess, Serial,
    StatusCode, TokenStats, decode_json,
};
use serde_json::json;

use crate::client::{Call, GraphClient, SERVICE, odata_query};
use crate::config::{ComplianceState, ENTRA_OBJECT_CACHE_TTL, IntuneConfig};
use crate::error::IntuneError;
use crate::model::{Collection, EntraDevice, ManagedDevice, MemberGroups, SELECT, most_recent};

/// How many managed devices one lookup asks for. One serial should match one record; a few
/// more allow for duplicates left by re-enrolment.
const PAGE_SIZE: &str = "25";

/// How long a successful readiness check counts, so frequent probes cost few Graph calls.
const READY_WINDOW: Duration = Duration::from_secs(60);

/// Counters for metrics: one snapshot of an [`IntuneProvider`]'s activity since it was built.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct IntuneStats {
    /// Token requests to the Microsoft identity platform, failures, invalidations after a 401.
    pub token: TokenStats,
    /// The decision cache: hits, misses (each one an Intune lookup), coalesced waiters,
    /// errors.
    pub decisions: CacheStats,
    /// The cache of Entra ID device object IDs (with `INTUNE_GROUP_ID` only).
    pub entra_devices: CacheStats,
    /// Authenticated requests sent to Graph, retries included.
    pub graph_requests: u64,
    /// Requests retried with a renewed token after Graph answered 401.
    pub retries_after_401: u64,
}

/// A [`PostureProvider`] backed by Microsoft Intune, through Microsoft Graph.
///
/// It looks devices up by serial number in Intune's managed devices, allows those whose
/// `complianceState` is allowed (and, optionally, that are members of an Entra ID group),
/// and returns enrichment data about the device and its user. See the crate documentation
/// for the whole behaviour.
///
/// ```no_run
/// use posture_core::{LookupRequest, PostureProvider};
/// use posture_intune::{IntuneConfig, IntuneProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = IntuneConfig::from_env(|name| std::env::var(name).ok())?;
/// let intune = IntuneProvider::new(config)?; // no I/O
/// intune.check_ready().await?; // a token and one Graph call: fails fast on bad settings
/// let decision = intune.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
/// assert!(decision.is_allowed() || decision.deny_code().is_some());
/// # Ok(())
/// # }
/// ```
pub struct IntuneProvider {
    config: IntuneConfig,
    client: GraphClient,
    decisions: LookupCache<Serial, Decision>,
    entra_devices: LookupCache<String, Option<String>>,
    ready: RecentSuccess,
}

impl IntuneProvider {
    /// Builds the provider and its HTTP client. Does no I/O: the first lookup or
    /// [`check_ready`](PostureProvider::check_ready) fetches the token.
    pub fn new(config: IntuneConfig) -> Result<Self, IntuneError> {
        let http = ClientOptions::new(config.timeout())
            .with_extra_roots(config.extra_roots().clone())
            .with_user_agent(concat!(
                "step-posture-connector posture-intune/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(IntuneError::client)?;
        let client = GraphClient::new(http, &config);
        let decisions = LookupCache::new(
            CacheConfig::new(config.cache_ttl(), config.negative_cache_ttl())
                .with_max_entries(config.cache_capacity()),
        );
        let entra_devices = LookupCache::new(
            CacheConfig::new(ENTRA_OBJECT_CACHE_TTL, config.negative_cache_ttl())
                .with_max_entries(config.cache_capacity()),
        );
        Ok(Self {
            config,
            client,
            decisions,
            entra_devices,
            ready: RecentSuccess::new(READY_WINDOW),
        })
    }

    /// The settings.
    pub fn config(&self) -> &IntuneConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> IntuneStats {
        IntuneStats {
            token: self.client.tokens().stats(),
            decisions: self.decisions.stats(),
            entra_devices: self.entra_devices.stats(),
            graph_requests: self.client.requests.load(Ordering::Relaxed),
            retries_after_401: self.client.retries_after_401.load(Ordering::Relaxed),
        }
    }

    /// Forgets every cached decision and Entra ID object ID (not the token).
    pub fn clear_cache(&self) {
        self.decisions.clear();
        self.entra_devices.clear();
    }

    async fn fetch_decision(&self, serial: &Serial) -> Result<Decision, ProviderError> {
        let Some(device) = self.find_device(serial).await? else {
            tracing::debug!(%serial, "not found in Intune");
            return Ok(Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("no managed device with serial number {serial} in Intune"),
            ));
        };
        let state = device.compliance_state.trim();
        let allowed = state
            .parse::<ComplianceState>()
            .is_ok_and(|state| self.config.allowed_states().contains(&state));
        if !allowed {
            let shown = if state.is_empty() { "unknown" } else { state };
            tracing::debug!(%serial, state = shown, "compliance state not allowed");
            return Ok(Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!(
                    "{serial} has compliance state {shown:?} in Intune; allowed: {}",
                    self.allowed_list()
                ),
            ));
        }
        if let Some(group) = self.config.group_id()
            && let Some(deny) = self.check_group(serial, &device, group).await?
        {
            return Ok(deny);
        }
        tracing::debug!(%serial, state, "allowed");
        Ok(Decision::allow_with(device.enrichment()))
    }

    fn allowed_list(&self) -> String {
        self.config
            .allowed_states()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `GET /v1.0/deviceManagement/managedDevices?$filter=serialNumber eq '…'&$select=…`.
    ///
    /// Graph silently ignores filters it doesn't support and returns every device, so the
    /// serial is checked again here. Records with another serial mean the filter was
    /// ignored: if none has ours, that is an error, not "not found". Several records with our
    /// serial (re-enrolment) resolve to the most recently synced.
    async fn find_device(&self, serial: &Serial) -> Result<Option<ManagedDevice>, ProviderError> {
        let url = self
            .client
            .graph()
            .join(&["v1.0", "deviceManagement", "managedDevices"]);
        let filter = format!("serialNumber eq '{serial}'");
        let query = odata_query(&[
            ("$filter", &filter),
            ("$select", SELECT),
            ("$top", PAGE_SIZE),
        ]);
        let request = format!("GET /v1.0/deviceManagement/managedDevices (serial {serial})");
        let answer = self
            .client
            .call(url, Call::Get { query: &query }, &request)
            .await?;
        if answer.status != StatusCode::OK {
            return Err(graph_error(
                &answer,
                &request,
                "DeviceManagementManagedDevices.Read.All",
            ));
        }
        let page: Collection<ManagedDevice> = decode_json(SERVICE, &request, &answer.body)?;
        let returned = page.value.len();
        let (matching, others): (Vec<_>, Vec<_>) = page
            .value
            .into_iter()
            .partition(|d| d.serial_number.trim().eq_ignore_ascii_case(serial.as_str()));
        if matching.is_empty() && (!others.is_empty() || !page.next_link.is_empty()) {
            return Err(ProviderError::permanent(format!(
                "Microsoft Graph ignored the serialNumber filter of {request}: it returned \
                 {returned} devices{}, none with serial number {serial}",
                if page.next_link.is_empty() {
                    ""
                } else {
                    " and more pages"
                }
            )));
        }
        if !others.is_empty() {
            tracing::warn!(
                %serial,
                returned,
                "Microsoft Graph returned devices with other serial numbers; they were ignored"
            );
        }
        if matching.len() > 1 {
            tracing::debug!(%serial, records = matching.len(), "several Intune records; using the most recently synced");
        }
        Ok(most_recent(matching))
    }

    /// Checks membership of the Entra ID group through the device object found from
    /// `azureADDeviceId`. Returns the deny, or `None` when the device is a member.
    async fn check_group(
        &self,
        serial: &Serial,
        device: &ManagedDevice,
        group: &str,
    ) -> Result<Option<Decision>, ProviderError> {
        let not_member = |why: String| {
            Some(Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!("{serial} is not a member of Entra ID group {group}: {why}"),
            ))
        };
        let Some(device_id) = device.entra_device_id() else {
            return Ok(not_member(
                "the device is not registered in Entra ID (no azureADDeviceId)".to_owned(),
            ));
        };
        let Some(object_id) = self.entra_object_id(&device_id).await? else {
            return Ok(not_member(format!(
                "Entra ID has no device with deviceId {device_id}"
            )));
        };
        let url = self
            .client
            .graph()
            .join(&["v1.0", "devices", &object_id, "checkMemberGroups"]);
        let request = format!("POST /v1.0/devices/{object_id}/checkMemberGroups");
        let body = json!({ "groupIds": [group] });
        let answer = self
            .client
            .call(url, Call::PostJson { body: &body }, &request)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(not_member(format!(
                "Entra ID has no device object {object_id}"
            )));
        }
        if answer.status != StatusCode::OK {
            return Err(graph_error(
                &answer,
                &request,
                "GroupMember.Read.All (or Directory.Read.All)",
            ));
        }
        let groups: MemberGroups = decode_json(SERVICE, &request, &answer.body)?;
        let member = groups
            .value
            .iter()
            .any(|id| id.as_str().is_some_and(|id| id.eq_ignore_ascii_case(group)));
        if member {
            Ok(None)
        } else {
            tracing::debug!(%serial, group, "not in the Entra ID group");
            Ok(not_member("checkMemberGroups did not list it".to_owned()))
        }
    }

    /// The Entra ID object ID of the device whose `deviceId` is `device_id`
    /// (`GET /v1.0/devices?$filter=deviceId eq '…'`), cached for an hour.
    async fn entra_object_id(&self, device_id: &str) -> Result<Option<String>, ProviderError> {
        self.entra_devices
            .get_or_fetch(device_id.to_owned(), async {
                let url = self.client.graph().join(&["v1.0", "devices"]);
                let filter = format!("deviceId eq '{device_id}'");
                let query = odata_query(&[("$filter", &filter), ("$select", "id,deviceId")]);
                let request = format!("GET /v1.0/devices (deviceId {device_id})");
                let answer = self
                    .client
                    .call(url, Call::Get { query: &query }, &request)
                    .await?;
                if answer.status != StatusCode::OK {
                    return Err(graph_error(&answer, &request, "Device.Read.All"));
                }
                let page: Collection<EntraDevice> = decode_json(SERVICE, &request, &answer.body)?;
                let found = page
                    .value
                    .into_iter()
                    .find(|d| d.device_id.eq_ignore_ascii_case(device_id) && !d.id.is_empty())
                    .map(|d| d.id);
                let class = if found.is_some() {
                    CacheClass::Positive
                } else {
                    CacheClass::Negative
                };
                Ok((found, class))
            })
            .await
    }
}

impl PostureProvider for IntuneProvider {
    fn name(&self) -> &str {
        "intune"
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        let serial = match Serial::check(request.identifier(), "Intune") {
            Ok(serial) => serial,
            Err(reason) => {
                tracing::debug!(%reason, "identifier refused before any Graph call");
                return Ok(Decision::deny(DenyCode::INVALID_IDENTIFIER, reason));
            }
        };
        let timeout = self.config.timeout();
        self.decisions
            .get_or_fetch(serial.clone(), async {
                let decision = tokio::time::timeout(timeout, self.fetch_decision(&serial))
                    .await
                    .map_err(|_| timed_out(timeout))??;
                let class = if decision.is_allowed() {
                    CacheClass::Positive
                } else {
                    CacheClass::Negative
                };
                Ok((decision, class))
            })
            .await
    }

    /// Fetches a token, then reads one managed device (`$top=1`), so refused credentials, a
    /// wrong URL and a missing `DeviceManagementManagedDevices.Read.All` permission each fail
    /// fast with an error naming the setting. A success counts for a minute.
    async fn check_ready(&self) -> Result<(), ProviderError> {
        if self.ready.is_fresh() {
            return Ok(());
        }
        let result = self.probe().await;
        match &result {
            Ok(()) => self.ready.record(),
            Err(_) => self.ready.forget(),
        }
        result
    }
}

impl IntuneProvider {
    async fn probe(&self) -> Result<(), ProviderError> {
        let timeout = self.config.timeout();
        let probe = async {
            let url = self
                .client
                .graph()
                .join(&["v1.0", "deviceManagement", "managedDevices"]);
            let query = odata_query(&[("$select", "id"), ("$top", "1")]);
            let request = "GET /v1.0/deviceManagement/managedDevices?$top=1";
            let answer = self
                .client
                .call(url, Call::Get { query: &query }, request)
                .await?;
            if answer.status != StatusCode::OK {
                return Err(graph_error(
                    &answer,
                    request,
                    "DeviceManagementManagedDevices.Read.All",
                ));
            }
            decode_json::<Collection<serde_json::Value>>(SERVICE, request, &answer.body)?;
            Ok(())
        };
        tokio::time::timeout(timeout, probe).await.map_err(|_| {
            ProviderError::transient(format!(
                "Intune did not answer the readiness check within {} s (TIMEOUT)",
                timeout.as_secs_f32()
            ))
        })?
    }
}

impl fmt::Debug for IntuneProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntuneProvider")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A Graph error; a 403 names the application permission to grant.
fn graph_error(answer: &Answer, request: &str, permission: &str) -> ProviderError {
    let err = answer.error(SERVICE, request);
    if answer.status == StatusCode::FORBIDDEN {
        return ProviderError::permanent(format!(
            "{err}; grant the app registration the {permission} application permission (with admin consent)"
        ));
    }
    err
}

fn timed_out(timeout: Duration) -> ProviderError {
    ProviderError::transient(format!(
        "Intune did not answer within {} s (TIMEOUT)",
        timeout.as_secs_f32()
    ))
}
