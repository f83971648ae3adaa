use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::Ordering;

use posture_core::{Decision, DenyCode, ProviderError};
use posture_http::sync::{Inventory, Pull, SyncReport};
use posture_http::{
    Answer, BaseUrl, CacheClass, CacheConfig, CacheStats, Front, LookupCache, Serial, StatusCode,
    TokenStats, Url, decode_json,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::client::{Call, GraphClient, SERVICE, odata_query};
use crate::config::{
    ComplianceState, ENTRA_OBJECT_CACHE_TTL, IntuneConfig, IntuneCredential, ManagementAgent,
    agent_list,
};
use crate::error::IntuneError;
use crate::model::{
    Collection, EntraDevice, ManagedDevice, MemberGroups, SELECT, most_recent, most_recent_by,
};

/// How many managed devices one lookup asks for. One serial should match one record; a few
/// more allow for duplicates left by re-enrolment.
const PAGE_SIZE: usize = 25;

/// How many pages one lookup reads at most. Only a filter Graph honoured is followed past
/// the first page, so every record is one of ours: more than 100 records for one serial is
/// no re-enrolment history, and the lookup stops rather than guess.
const MAX_PAGES: usize = 4;

/// The page size of the inventory sync's `managedDevices` pages: the most Intune returns in
/// one page (also its default).
const SYNC_PAGE_SIZE: usize = 1000;

/// The page size of the inventory sync's directory pages (`/devices`, a group's
/// `transitiveMembers`): the directory's largest `$top`.
const DIRECTORY_PAGE_SIZE: usize = 999;

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

/// A [`PostureProvider`](posture_core::PostureProvider) backed by Microsoft Intune, through
/// Microsoft Graph.
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
    /// The serial check, the synced inventory (`INTUNE_SYNC_INTERVAL`) lookups ask first,
    /// the decision cache and the readiness memo (a success counts for a minute, so
    /// frequent probes cost few Graph calls).
    front: Front,
    entra_devices: LookupCache<String, Option<String>>,
}

impl IntuneProvider {
    /// Builds the provider and its HTTP client. Does no I/O: the first lookup or
    /// [`check_ready`](posture_core::PostureProvider::check_ready) fetches the token.
    pub fn new(config: IntuneConfig) -> Result<Self, IntuneError> {
        config.check_bounds()?;
        let http = posture_http::provider_client!(config.common(), crate::client::SERVICE)?;
        let client = GraphClient::new(http, &config);
        let front = Front::with_settings("Intune", config.common(), config.sync().clone());
        let entra_devices = LookupCache::new(
            CacheConfig::new(ENTRA_OBJECT_CACHE_TTL, config.negative_cache_ttl())
                .with_max_entries(config.cache_capacity()),
        );
        Ok(Self {
            config,
            client,
            front,
            entra_devices,
        })
    }

    /// The settings.
    pub fn config(&self) -> &IntuneConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> IntuneStats {
        IntuneStats {
            token: self.client.session().token_stats(),
            decisions: self.front.stats(),
            entra_devices: self.entra_devices.stats(),
            graph_requests: self.client.requests.load(Ordering::Relaxed),
            retries_after_401: self.client.session().retries_after_401(),
        }
    }

    /// The synced inventory (empty while `INTUNE_SYNC_INTERVAL` is 0).
    pub fn inventory(&self) -> &Inventory {
        self.front.inventory()
    }

    /// Forgets every cached decision and Entra ID object ID (not the token).
    pub fn clear_cache(&self) {
        self.front.clear();
        self.entra_devices.clear();
    }

    /// The management-agent and compliance rules for the record that counts: the deny, or
    /// `None` when the device may go on to the group check. Live lookups and the inventory
    /// sync both decide with it.
    fn check_rules(&self, serial: &Serial, device: &ManagedDevice) -> Option<Decision> {
        if let Some(deny) = self.check_management_agent(serial, device) {
            return Some(deny);
        }
        let state = device.compliance_state.trim();
        let allowed = state
            .parse::<ComplianceState>()
            .is_ok_and(|state| self.config.allowed_states().contains(&state));
        if allowed {
            return None;
        }
        let shown = if state.is_empty() { "unknown" } else { state };
        tracing::debug!(%serial, state = shown, "compliance state not allowed");
        Some(Decision::deny(
            DenyCode::NOT_COMPLIANT,
            format!(
                "{serial} has compliance state {shown:?} in Intune; allowed: {}",
                self.allowed_list()
            ),
        ))
    }

    /// The decision for a record that passed [`check_rules`](Self::check_rules), given what
    /// the group check found (live, or from the synced directory).
    fn conclude(&self, serial: &Serial, device: &ManagedDevice, group: GroupCheck) -> Decision {
        if let (Some(group), GroupCheck::Failed(why)) = (self.config.group_id(), group) {
            tracing::debug!(%serial, group, "not in the Entra ID group");
            return Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!("{serial} is not a member of Entra ID group {group}: {why}"),
            );
        }
        tracing::debug!(%serial, state = device.compliance_state.trim(), "allowed");
        posture_http::allow(self.config.enrich(), || device.enrichment())
    }

    /// A record whose `managementAgent` does not mean MDM management (Exchange ActiveSync
    /// only, Configuration Manager alone, unknown, missing) is denied whatever its
    /// compliance: Intune reports such records as compliant when no policy applies to them.
    fn check_management_agent(&self, serial: &Serial, device: &ManagedDevice) -> Option<Decision> {
        let agent = device.management_agent.trim();
        let allowed_agents = self.config.allowed_management_agents();
        if agent
            .parse::<ManagementAgent>()
            .is_ok_and(|agent| allowed_agents.contains(&agent))
        {
            return None;
        }
        tracing::debug!(%serial, agent, "management agent not allowed");
        let what = if agent.is_empty() {
            "no management agent".to_owned()
        } else {
            format!("management agent {agent:?}")
        };
        Some(Decision::deny(
            DenyCode::NOT_MANAGED,
            format!(
                "{serial} has {what} in Intune, so it is not managed by an MDM; allowed: {}",
                agent_list(allowed_agents)
            ),
        ))
    }

    fn allowed_list(&self) -> String {
        self.config
            .allowed_states()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `GET /v1.0/deviceManagement/managedDevices?$filter=serialNumber eq '…'&$select=…`,
    /// following `@odata.nextLink`.
    ///
    /// Graph silently ignores filters it doesn't support and returns every device, so the
    /// serial is checked again here. Records with another serial mean the filter was
    /// ignored: if none has ours, that is an error, not "not found"; and with more pages to
    /// come, the records of ours can't all be seen without reading the whole inventory, so
    /// that is an error too. Several records with our serial (re-enrolment) resolve to the
    /// most recently synced, which is why every page of an honoured filter is read.
    async fn find_device(&self, serial: &Serial) -> Result<Option<ManagedDevice>, ProviderError> {
        let mut url = self
            .client
            .graph()
            .join(&["v1.0", "deviceManagement", "managedDevices"]);
        let filter = format!("serialNumber eq '{serial}'");
        let page_size = PAGE_SIZE.to_string();
        url.set_query(Some(&odata_query(&[
            ("$filter", &filter),
            ("$select", SELECT),
            ("$top", &page_size),
        ])));
        let first_request = format!("GET /v1.0/deviceManagement/managedDevices (serial {serial})");
        let mut matching = Vec::new();
        let mut returned = 0;
        let mut ignored_filter = false;
        for page_number in 1..=MAX_PAGES {
            let request = if page_number == 1 {
                first_request.clone()
            } else {
                format!("{first_request}, page {page_number}")
            };
            let page: Collection<ManagedDevice> = self
                .get_page(
                    &url,
                    &request,
                    "DeviceManagementManagedDevices.Read.All",
                    false,
                )
                .await?;
            returned += page.value.len();
            for device in page.value {
                if device
                    .serial_number
                    .trim()
                    .eq_ignore_ascii_case(serial.as_str())
                {
                    matching.push(device);
                } else {
                    ignored_filter = true;
                }
            }
            let more = !page.next_link.is_empty();
            if ignored_filter && (matching.is_empty() || more) {
                return Err(ProviderError::permanent(format!(
                    "Microsoft Graph ignored the serialNumber filter of {first_request}: it \
                     returned {returned} devices{}, {}",
                    if more { " and more pages" } else { "" },
                    if matching.is_empty() {
                        format!("none with serial number {serial}")
                    } else {
                        format!(
                            "so not every record of {serial} can be seen without reading the whole inventory"
                        )
                    }
                )));
            }
            if !more {
                if ignored_filter {
                    tracing::warn!(
                        %serial,
                        returned,
                        "Microsoft Graph returned devices with other serial numbers; they were ignored"
                    );
                }
                if matching.len() > 1 {
                    tracing::debug!(%serial, records = matching.len(), "several Intune records; using the most recently synced");
                }
                return Ok(most_recent(matching));
            }
            url = next_page(self.client.graph(), &page.next_link, &request)?;
        }
        Err(ProviderError::permanent(format!(
            "Intune has more than {} managed-device records with serial number {serial}; \
             the lookup stops after {MAX_PAGES} pages, so it can't tell which one was synced last",
            MAX_PAGES * PAGE_SIZE
        )))
    }

    /// Checks membership of the Entra ID group through the device object found from
    /// `azureADDeviceId`.
    async fn group_check(
        &self,
        device: &ManagedDevice,
        group: &str,
    ) -> Result<GroupCheck, ProviderError> {
        let Some(device_id) = device.entra_device_id() else {
            return Ok(GroupCheck::not_registered());
        };
        let Some(object_id) = self.entra_object_id(&device_id).await? else {
            return Ok(GroupCheck::unknown_to_entra(&device_id));
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
            return Ok(GroupCheck::Failed(format!(
                "Entra ID has no device object {object_id}"
            )));
        }
        if answer.status != StatusCode::OK {
            return Err(graph_error(&answer, &request, "Device.Read.All"));
        }
        let groups: MemberGroups = decode_json(SERVICE, &request, &answer.body)?;
        let member = groups
            .value
            .iter()
            .any(|id| id.as_str().is_some_and(|id| id.eq_ignore_ascii_case(group)));
        Ok(if member {
            GroupCheck::Passed
        } else {
            GroupCheck::not_listed()
        })
    }

    /// One page of a Graph collection: `GET url` through the client (token, 401 retry,
    /// `Retry-After`), the status judged (a 403 names `permission`), the body read. With
    /// `absent_is_empty`, a 404 (a collection of an object Entra doesn't know) is an empty
    /// last page.
    async fn get_page<T: DeserializeOwned>(
        &self,
        url: &Url,
        request: &str,
        permission: &str,
        absent_is_empty: bool,
    ) -> Result<Collection<T>, ProviderError> {
        let answer = self
            .client
            .call(url.clone(), Call::Get { query: "" }, request)
            .await?;
        if absent_is_empty && answer.status == StatusCode::NOT_FOUND {
            tracing::warn!(
                request,
                "Microsoft Graph has no such object (404); read as empty"
            );
            return Ok(Collection {
                value: Vec::new(),
                next_link: String::new(),
            });
        }
        if answer.status != StatusCode::OK {
            return Err(graph_error(&answer, request, permission));
        }
        decode_json(SERVICE, request, &answer.body)
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
                let class = CacheClass::positive_if(found.is_some());
                Ok((found, class))
            })
            .await
    }
}

posture_http::front_provider! {
    impl PostureProvider for IntuneProvider {
        name: "intune",
        calls: "Graph",
        /// Fetches a token, then reads one managed device (`$top=1`), so refused
        /// credentials, a wrong URL and a missing `DeviceManagementManagedDevices.Read.All`
        /// permission each fail fast with an error naming the setting. A success counts for
        /// a minute and a failure for 10 s, and concurrent checks share the one in flight,
        /// so no probe rate makes more than one Graph check at a time, nor more than one per
        /// 10 s while Graph fails.
        ///
        /// With inventory sync on, a synced inventory younger than `INTUNE_SYNC_MAX_AGE` is
        /// ready without a request; none past that age is not ready.
        check_ready;
    }
}

impl IntuneProvider {
    async fn fetch_decision(&self, serial: &Serial) -> Result<Decision, ProviderError> {
        let Some(device) = self.find_device(serial).await? else {
            tracing::debug!(%serial, "not found in Intune");
            return Ok(not_found(serial));
        };
        if let Some(deny) = self.check_rules(serial, &device) {
            return Ok(deny);
        }
        let group = match self.config.group_id() {
            Some(group) => self.group_check(&device, group).await?,
            None => GroupCheck::Passed,
        };
        Ok(self.conclude(serial, &device, group))
    }

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

    /// The endpoints, the credential and the scope in use, and the permission each call
    /// needs. No secret or key material.
    fn report_lines(&self) -> Vec<String> {
        let graph = self.client.graph().join(&[]).origin().ascii_serialization();
        let credential = match self.config.credential() {
            IntuneCredential::Certificate(certificate) => format!(
                "client certificate ({}, x5t#S256 {})",
                certificate.algorithm(),
                certificate.x5t_s256()
            ),
            IntuneCredential::Secret(_) => "client secret".to_owned(),
        };
        let mut lines = vec![
            format!(
                "devices: GET {graph}/v1.0/deviceManagement/managedDevices (Microsoft Graph v1.0, \
                 DeviceManagementManagedDevices.Read.All)"
            ),
            format!(
                "token: {}, {credential}, scope {}",
                self.client.token_url(),
                self.config.scope()
            ),
            format!(
                "managed: managementAgent in {}; compliant: complianceState in {}",
                agent_list(self.config.allowed_management_agents()),
                self.allowed_list()
            ),
        ];
        if let Some(group) = self.config.group_id() {
            lines.push(format!(
                "group check: GET /v1.0/devices?$filter=deviceId eq '…', then POST \
                 /v1.0/devices/{{id}}/checkMemberGroups for {group} (Device.Read.All)"
            ));
            if self.front.inventory().settings().is_on() {
                lines.push(format!(
                    "group sync: GET /v1.0/devices and GET /v1.0/groups/{group}/transitiveMembers \
                     (Device.Read.All, GroupMember.Read.All)"
                ));
            }
        }
        self.front.report(lines)
    }
}

impl IntuneProvider {
    /// Syncs the whole inventory now (after any sync in progress) and answers from it; the
    /// server runs this on `INTUNE_SYNC_INTERVAL`. A failed sync keeps the previous
    /// inventory.
    pub async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
        let pull = async |pull: &mut Pull<Listed>| self.pull_inventory(pull).await;
        self.front
            .sync_with(pull, |serial, records| self.decide_listed(&serial, records))
            .await
    }

    /// The whole inventory, read as lookups read it: `managedDevices` with the lookup's
    /// `$select`, in pages of [`SYNC_PAGE_SIZE`] following `@odata.nextLink`; with
    /// `INTUNE_GROUP_ID`, the directory's devices and the group's members too.
    async fn pull_inventory(&self, pull: &mut Pull<Listed>) -> Result<(), ProviderError> {
        let top = SYNC_PAGE_SIZE.to_string();
        let url = self.graph_url(
            &["deviceManagement", "managedDevices"],
            &[("$select", SELECT), ("$top", &top)],
        );
        let mut records: HashMap<String, Vec<ManagedDevice>> = HashMap::new();
        self.list_all(
            pull,
            url,
            (
                "/v1.0/deviceManagement/managedDevices",
                "DeviceManagementManagedDevices.Read.All",
                false,
            ),
            |page: Vec<ManagedDevice>| {
                for device in page {
                    // A record no lookup could name (no valid serial) is left out.
                    if let Ok(serial) = Serial::check(device.serial_number.trim(), "Intune") {
                        records
                            .entry(serial.as_str().to_owned())
                            .or_default()
                            .push(device);
                    }
                }
            },
        )
        .await?;
        let directory = match self.config.group_id() {
            Some(group) => Some(self.pull_directory(pull, group).await?),
            None => None,
        };
        for (serial, devices) in records {
            // A live lookup of a serial with more records than it reads is an error: leave
            // the serial out so that lookups still get that error.
            if devices.len() > MAX_PAGES * PAGE_SIZE {
                continue;
            }
            for device in devices {
                let group = directory
                    .as_ref()
                    .map_or(GroupCheck::Passed, |directory| directory.check(&device));
                pull.add(serial.clone(), Listed { device, group });
            }
        }
        Ok(())
    }

    /// The decision for `serial` from the records a sync listed: the most recently synced
    /// one, through the live lookup's rules and its group check as the directory found it.
    fn decide_listed(&self, serial: &Serial, records: Vec<Listed>) -> Decision {
        let Some(Listed { device, group }) = most_recent_by(records, |listed| &listed.device)
        else {
            return not_found(serial);
        };
        if let Some(deny) = self.check_rules(serial, &device) {
            return deny;
        }
        self.conclude(serial, &device, group)
    }

    /// Reads every page of the collection at `url`, one request at a time, each through
    /// [`Pull::page`] (counted, retried after a transient error) and the client's token and
    /// `Retry-After` gates, following `@odata.nextLink` on the Graph origin only. `each`
    /// gets every page's items. A 404 is an empty collection when `absent_is_empty`.
    async fn list_all<T: DeserializeOwned + Send, R>(
        &self,
        pull: &mut Pull<R>,
        mut url: Url,
        (what, permission, absent_is_empty): (&str, &str, bool),
        mut each: impl FnMut(Vec<T>) + Send,
    ) -> Result<(), ProviderError> {
        for page_number in 1.. {
            let request = format!("GET {what} (inventory sync, page {page_number})");
            let page: Collection<T> = pull
                .page(&request, || {
                    self.get_page(&url, &request, permission, absent_is_empty)
                })
                .await?;
            each(page.value);
            if page.next_link.is_empty() {
                break;
            }
            url = next_page(self.client.graph(), &page.next_link, &request)?;
        }
        Ok(())
    }

    /// A URL of Graph v1.0 with an OData query.
    fn graph_url(&self, path: &[&str], query: &[(&str, &str)]) -> Url {
        let mut segments = vec!["v1.0"];
        segments.extend_from_slice(path);
        let mut url = self.client.graph().join(&segments);
        url.set_query(Some(&odata_query(query)));
        url
    }

    /// The facts the group check needs, for every device at once: each Entra ID device's
    /// object ID by its `deviceId` (`GET /v1.0/devices`) and the group's members, nested
    /// ones included (`GET /v1.0/groups/{id}/transitiveMembers`), as `checkMemberGroups`
    /// counts them. A group Entra doesn't know (404) has no members, as `checkMemberGroups`
    /// then lists none.
    async fn pull_directory(
        &self,
        pull: &mut Pull<Listed>,
        group: &str,
    ) -> Result<Directory, ProviderError> {
        let top = DIRECTORY_PAGE_SIZE.to_string();
        let mut directory = Directory::default();
        let url = self.graph_url(&["devices"], &[("$select", "id,deviceId"), ("$top", &top)]);
        let devices = ("/v1.0/devices", "Device.Read.All", false);
        self.list_all(pull, url, devices, |page| {
            for object in page {
                let EntraDevice { id, device_id } = object;
                if !id.is_empty() {
                    // The first object with a deviceId is the one the live lookup finds.
                    directory
                        .objects
                        .entry(device_id.trim().to_ascii_lowercase())
                        .or_insert(id);
                }
            }
        })
        .await?;
        // Object IDs are unique across the directory, so a member's ID is a device's only
        // if the device is the member; no type filter (an OData cast would need advanced
        // queries) is needed.
        let url = self.graph_url(
            &["groups", group, "transitiveMembers"],
            &[("$select", "id"), ("$top", &top)],
        );
        let what = format!("/v1.0/groups/{group}/transitiveMembers");
        self.list_all(pull, url, (&what, "GroupMember.Read.All", true), |page| {
            directory.members.extend(
                page.into_iter()
                    .map(|member: EntraDevice| member.id.to_ascii_lowercase()),
            );
        })
        .await?;
        Ok(directory)
    }
}

/// What the Entra ID group check found.
#[derive(Clone, Debug, Eq, PartialEq)]
enum GroupCheck {
    /// A member, or no group is required.
    Passed,
    /// Not a member, and why.
    Failed(String),
}

impl GroupCheck {
    fn not_registered() -> Self {
        Self::Failed("the device is not registered in Entra ID (no azureADDeviceId)".to_owned())
    }

    fn unknown_to_entra(device_id: &str) -> Self {
        Self::Failed(format!("Entra ID has no device with deviceId {device_id}"))
    }

    fn not_listed() -> Self {
        Self::Failed("checkMemberGroups did not list it".to_owned())
    }
}

fn not_found(serial: &Serial) -> Decision {
    Decision::deny(
        DenyCode::DEVICE_NOT_FOUND,
        format!("no managed device with serial number {serial} in Intune"),
    )
}

/// The directory as one inventory sync read it (with `INTUNE_GROUP_ID` only).
#[derive(Debug, Default)]
struct Directory {
    /// Entra ID object IDs by lower-case `deviceId`.
    objects: HashMap<String, String>,
    /// The group's members' object IDs, lower case.
    members: HashSet<String>,
}

impl Directory {
    /// The group check of `device`, as [`IntuneProvider::group_check`] would find it.
    fn check(&self, device: &ManagedDevice) -> GroupCheck {
        let Some(device_id) = device.entra_device_id() else {
            return GroupCheck::not_registered();
        };
        match self.objects.get(&device_id) {
            None => GroupCheck::unknown_to_entra(&device_id),
            Some(object) if self.members.contains(&object.to_ascii_lowercase()) => {
                GroupCheck::Passed
            }
            Some(_) => GroupCheck::not_listed(),
        }
    }
}

/// One managed-device record of a sync, with its group check.
struct Listed {
    device: ManagedDevice,
    group: GroupCheck,
}

impl fmt::Debug for IntuneProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        posture_http::debug_provider(f, "IntuneProvider", &self.config, &self.stats())
    }
}

/// The URL of Graph's `@odata.nextLink`, which must stay on the configured Graph origin:
/// the bearer token is sent with it, so a link elsewhere is refused, not followed.
fn next_page(graph: &BaseUrl, link: &str, request: &str) -> Result<Url, ProviderError> {
    let expected = graph.join(&[]).origin();
    match Url::parse(link) {
        Ok(url) if url.origin() == expected => Ok(url),
        _ => Err(ProviderError::permanent(format!(
            "Microsoft Graph answered {request} with an @odata.nextLink outside \
             INTUNE_GRAPH_URL ({graph}); it was not followed"
        ))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_must_stay_on_the_graph_origin() {
        let graph = BaseUrl::parse("https://graph.microsoft.com").unwrap();
        let next = next_page(
            &graph,
            "https://graph.microsoft.com/v1.0/deviceManagement/managedDevices?$skiptoken=X",
            "GET x",
        )
        .unwrap();
        assert_eq!(next.query(), Some("$skiptoken=X"));
        for link in [
            "https://attacker.example/v1.0/deviceManagement/managedDevices",
            "http://graph.microsoft.com/v1.0/deviceManagement/managedDevices",
            "https://graph.microsoft.com:8443/v1.0/x",
            "/v1.0/deviceManagement/managedDevices",
        ] {
            let err = next_page(&graph, link, "GET x").unwrap_err();
            assert!(!err.is_transient());
            assert_eq!(
                err.message(),
                "Microsoft Graph answered GET x with an @odata.nextLink outside \
                 INTUNE_GRAPH_URL (https://graph.microsoft.com); it was not followed",
                "{link}"
            );
        }
    }
}
