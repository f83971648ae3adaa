//! Inventory sync (`JAMF_SYNC_INTERVAL`): both device families listed in pages through the
//! Jamf Pro API, decided by the same [`JamfProvider::judge`] as live lookups.
//!
//! What a live lookup reads per device, a sync reads per page: the same sections (groups
//! included, so group rules need no extra call), and the department names an enriched
//! allow needs from one listing of `/api/v1/departments` instead of one request per
//! department. A family the sync can't list is left out of the index, so its lookups go live
//! and get the answer (or the error) they get today: one served by the Classic API only
//! (which has no pages and no group sections), or one the API role may not read when no
//! setting needs it.
//!
//! Between syncs, [`JamfProvider::refresh_device`] (a Jamf Pro webhook event, through the
//! server's `POST /webhook/jamf-events`) reads one device again, past the decision cache,
//! and stores its decision in the inventory's overlay, so the next lookup answers it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use posture_core::{BoxFuture, Decision, DenyCode, DeviceMode, DeviceRefresher, ProviderError};
use posture_http::sync::{Inventory, Pull, SyncReport, SyncSource};
use posture_http::{Serial, StatusCode, decode_json};

use super::{JamfProvider, Judged, answer_error, department_to_fetch, forbidden, lock, pick};
use crate::client::SERVICE;
use crate::model::{Department, Device, SearchResults, pro_results};
use crate::routes::{Endpoint, Kind};

/// How many records one sync page asks for. Jamf's schema declares no maximum for
/// `page-size`; 2000 is the size admin tooling lists whole inventories with (and a common
/// server-side cap). A server that sends fewer per page than asked is followed at its size.
const SYNC_PAGE_SIZE: usize = 2000;

/// The most pages one listing reads: 100 million records at 2000 a page. Only a server that
/// ignores `page` and sends no `totalCount` gets near it, and the sync then fails rather
/// than reading forever.
const MAX_PAGES: usize = 50_000;

/// The index key of a device: the family and the serial as lookups check it, since Jamf keeps
/// computers and mobile devices apart and a lookup names the family (its mode).
pub(super) fn key(kind: Kind, serial: &Serial) -> String {
    format!("{}/{serial}", family(kind))
}

fn family(kind: Kind) -> &'static str {
    match kind {
        Kind::Computer => "computer",
        Kind::MobileDevice => "mobiledevice",
    }
}

fn parse_key(key: &str) -> Option<(Kind, &str)> {
    let (tag, serial) = key.split_once('/')?;
    let kind = Kind::ALL.into_iter().find(|kind| family(*kind) == tag)?;
    Some((kind, serial))
}

/// Sort orders that page stably (a unique last key) and keep Jamf's default order
/// (`general.name`, `displayName`) first, so a serial's duplicate records come in the order a
/// live search returns them and [`pick`] chooses the same one.
fn sort(kind: Kind) -> &'static str {
    match kind {
        Kind::Computer => "general.name:asc,id:asc",
        Kind::MobileDevice => "displayName:asc,mobileDeviceId:asc",
    }
}

impl JamfProvider {
    /// Syncs both device families now (after any sync in progress) and answers from them;
    /// the server runs this on `JAMF_SYNC_INTERVAL`. A failed sync keeps the previous
    /// inventory.
    pub async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
        let synced = Synced::new(self);
        let report = posture_http::sync::sync_now(&synced).await?;
        *lock(&self.unsynced) = std::mem::take(&mut *lock(&synced.unsynced));
        Ok(report)
    }

    /// Reads the device with serial `identifier` from Jamf Pro now (the live lookup's
    /// request, past the decision cache), within `TIMEOUT` for each family, and stores its
    /// decision in the synced inventory, so the next lookup answers it without waiting for
    /// a sync; its cached decisions are forgotten. A serial Jamf no longer has in a family
    /// is unlisted there, so lookups of it go live (and `auto` mode on to mobile devices).
    /// `family` names computers or mobile devices; any other mode reads both. A serial that
    /// isn't one is a permanent error, before any call; with sync off nothing is stored.
    pub async fn refresh_device(
        &self,
        identifier: &str,
        family: DeviceMode,
    ) -> Result<(), ProviderError> {
        let serial = Serial::check(identifier, "Jamf").map_err(ProviderError::permanent)?;
        let kinds: &[Kind] = match family {
            DeviceMode::Computer => &[Kind::Computer],
            DeviceMode::MobileDevice => &[Kind::MobileDevice],
            _ => &Kind::ALL,
        };
        let timeout = self.config.timeout();
        for &kind in kinds {
            let decision = tokio::time::timeout(timeout, self.fetch_decision(kind, &serial))
                .await
                .map_err(|_| posture_http::timed_out("Jamf Pro", timeout))??;
            let key = key(kind, &serial);
            if decision.deny_code() == Some(&DenyCode::DEVICE_NOT_FOUND) {
                self.front.inventory().unlist(&key);
            } else {
                self.front.inventory().refresh(&key, decision);
            }
            self.front.invalidate(&(kind, serial.clone())).await;
            tracing::debug!(%serial, kind = kind.noun(), "refreshed from Jamf Pro");
        }
        Ok(())
    }
}

impl DeviceRefresher for JamfProvider {
    fn refresh<'a>(
        &'a self,
        identifier: &'a str,
        family: DeviceMode,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.refresh_device(identifier, family))
    }
}

/// How listing one family at one endpoint went.
enum Listing {
    /// Every page was read.
    Done,
    /// 404 on the first page: the endpoint doesn't exist on this Jamf Pro.
    NoRoute,
    /// 403 on the first page: the API role may not read this family.
    Forbidden(ProviderError),
}

/// One page of one family, as the sync reads it.
enum Page {
    /// The records, and `totalCount` when Jamf sent it.
    Listed(Option<u64>, Vec<Device>),
    /// 404: the endpoint doesn't exist on this Jamf Pro.
    NoRoute,
    /// 403: the API role may not read this family.
    Forbidden(ProviderError),
}

/// The provider as a [`SyncSource`], over its private device model, for one sync.
struct Synced<'a> {
    jamf: &'a JamfProvider,
    /// Department IDs whose names an enriched allow needs.
    wanted_departments: Mutex<HashSet<String>>,
    /// Their names, listed once the devices are in.
    departments: Mutex<HashMap<String, String>>,
    /// The families left out, and why.
    unsynced: Mutex<Vec<String>>,
}

impl<'a> Synced<'a> {
    fn new(jamf: &'a JamfProvider) -> Self {
        Self {
            jamf,
            wanted_departments: Mutex::new(HashSet::new()),
            departments: Mutex::new(HashMap::new()),
            unsynced: Mutex::new(Vec::new()),
        }
    }

    /// Every record of `kind` into `pull`, from the first Jamf Pro API endpoint that exists
    /// (remembered for lookups too), or the family left out (see the module documentation).
    async fn pull_kind(&self, kind: Kind, pull: &mut Pull<Device>) -> Result<(), ProviderError> {
        let jamf = self.jamf;
        for endpoint in jamf.routes.order(kind) {
            if endpoint.is_classic() {
                continue;
            }
            match self.pull_endpoint(endpoint, kind, pull).await? {
                Listing::Done => {
                    jamf.remember(kind, endpoint);
                    return Ok(());
                }
                Listing::NoRoute => jamf.routes.forget(kind, endpoint),
                Listing::Forbidden(err) => {
                    // The route exists; lookups needn't look for another.
                    jamf.remember(kind, endpoint);
                    return self.leave_out(kind, err);
                }
            }
        }
        let classic = jamf.routes.candidates(kind).iter().any(|e| e.is_classic());
        if classic {
            self.left_out(
                kind,
                "they are served by the Classic API, which can't list them in pages",
            );
            return Ok(());
        }
        self.leave_out(kind, jamf.no_route(kind))
    }

    /// Leaves `kind` out of the index when nothing requires it (its lookups then fail live,
    /// as without sync); fails the sync when a setting does, as readiness would.
    fn leave_out(&self, kind: Kind, err: ProviderError) -> Result<(), ProviderError> {
        match self.jamf.required(kind) {
            Some(variable) => Err(ProviderError::new(
                err.kind(),
                format!("{err} ({} are needed because of {variable})", kind.plural()),
            )),
            None => {
                self.left_out(kind, &err.to_string());
                Ok(())
            }
        }
    }

    fn left_out(&self, kind: Kind, why: &str) {
        tracing::warn!(
            "the Jamf Pro inventory sync leaves {} out, so they are looked up live: {why}",
            kind.plural()
        );
        lock(&self.unsynced).push(format!(
            "inventory sync: {} are not synced and are looked up live: {why}",
            kind.plural()
        ));
    }

    /// Reads every page of `endpoint` into `pull`. Answers [`Listing::NoRoute`] or
    /// [`Listing::Forbidden`] only for the first page, before any record is added; on a
    /// later page either is an error that abandons the sync.
    async fn pull_endpoint(
        &self,
        endpoint: Endpoint,
        kind: Kind,
        pull: &mut Pull<Device>,
    ) -> Result<Listing, ProviderError> {
        let enrich = self.jamf.wants(kind).1;
        let mut size = SYNC_PAGE_SIZE;
        let mut seen: u64 = 0;
        for page in 0..MAX_PAGES {
            let listed = self.page(endpoint, kind, page, size, pull).await?;
            let (total, devices) = match listed {
                Page::Listed(total, devices) => (total, devices),
                Page::NoRoute if page == 0 => return Ok(Listing::NoRoute),
                Page::Forbidden(err) if page == 0 => return Ok(Listing::Forbidden(err)),
                Page::NoRoute => {
                    return Err(ProviderError::transient(format!(
                        "Jamf Pro stopped serving {} during the inventory sync (404 on page \
                         {page})",
                        endpoint.route()
                    )));
                }
                Page::Forbidden(err) => return Err(err),
            };
            let returned = devices.len();
            seen += returned as u64;
            for device in devices {
                // A record no lookup could name (no valid serial) is left out.
                let Ok(serial) = Serial::check(&device.serial_number, "Jamf") else {
                    continue;
                };
                if enrich && let Some(id) = department_to_fetch(&device) {
                    lock(&self.wanted_departments).insert(id);
                }
                pull.add(key(kind, &serial), device);
            }
            let more = match total {
                Some(total) => seen < total,
                None => returned == size,
            };
            if returned == 0 || !more {
                return Ok(Listing::Done);
            }
            if page == 0 && returned < size {
                // The server caps pages below what was asked: ask for its size from now on,
                // so page numbers count its pages.
                size = returned;
            }
        }
        Err(too_many_pages(&endpoint.route()))
    }

    /// Page `page` of `size` records, through the provider's client (token, connection cap,
    /// `Retry-After`), retried by [`Pull::page`] on a transient error.
    async fn page(
        &self,
        endpoint: Endpoint,
        kind: Kind,
        page: usize,
        size: usize,
        pull: &mut Pull<Device>,
    ) -> Result<Page, ProviderError> {
        let jamf = self.jamf;
        let (page_text, size_text) = (page.to_string(), size.to_string());
        let mut query = jamf.sections(kind);
        query.extend([
            ("page", page_text.as_str()),
            ("page-size", size_text.as_str()),
            ("sort", sort(kind)),
        ]);
        let request = format!("GET {} (inventory sync, page {page})", endpoint.route());
        let (query, request) = (&query, &request);
        pull.page(request, || async move {
            let url = jamf.client.base().join(endpoint.path());
            let answer = jamf.client.get(url, query, request).await?;
            match answer.status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(Page::NoRoute),
                StatusCode::FORBIDDEN => return Ok(Page::Forbidden(forbidden(kind, request))),
                _ => return Err(answer_error(&answer, request)),
            }
            let (total, devices) = pro_results(kind, request, &answer.body)?;
            Ok(Page::Listed(total, devices))
        })
        .await
    }

    /// The names of every department (`GET /api/v1/departments`, in pages), for the IDs
    /// enriched allows carry. Where a live lookup would get an empty name (the API role may
    /// not read departments: 403; no such route: 404), every name is empty here too.
    async fn pull_departments(&self, pull: &mut Pull<Device>) -> Result<(), ProviderError> {
        let client = &self.jamf.client;
        let size_text = SYNC_PAGE_SIZE.to_string();
        let mut names = HashMap::new();
        for page in 0..MAX_PAGES {
            let page_text = page.to_string();
            let query = [
                ("page", page_text.as_str()),
                ("page-size", size_text.as_str()),
            ];
            let request = format!("GET /api/v1/departments (inventory sync, page {page})");
            let (query, request) = (&query, &request);
            let listed = pull
                .page(request, || async move {
                    let url = client.base().join(&["api", "v1", "departments"]);
                    let answer = client.get(url, query, request).await?;
                    match answer.status {
                        StatusCode::OK => {
                            decode_json::<SearchResults<Department>>(SERVICE, request, &answer.body)
                                .map(|results| Some(results.into_page()))
                        }
                        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Ok(None),
                        _ => Err(answer_error(&answer, request)),
                    }
                })
                .await?;
            let Some((total, departments)) = listed else {
                tracing::warn!(
                    "Jamf Pro refused {request}: give the API role the Read Departments \
                     privilege to get department names; sending empty departments"
                );
                return self.keep_departments(HashMap::new());
            };
            let returned = departments.len();
            names.extend(departments.into_iter().map(|d| (d.id, d.name)));
            let more = match total {
                Some(total) => (names.len() as u64) < total,
                None => returned == SYNC_PAGE_SIZE,
            };
            if returned == 0 || !more {
                return self.keep_departments(names);
            }
        }
        Err(too_many_pages("/api/v1/departments"))
    }

    fn keep_departments(&self, names: HashMap<String, String>) -> Result<(), ProviderError> {
        *lock(&self.departments) = names;
        Ok(())
    }
}

fn too_many_pages(route: &str) -> ProviderError {
    ProviderError::permanent(format!(
        "Jamf Pro kept sending pages of {route} past {MAX_PAGES} without saying how many \
         records there are; the inventory sync stops"
    ))
}

/// Both families through the Jamf Pro API, a page of [`SYNC_PAGE_SIZE`] at a time, one
/// request at a time through the same connection cap, token and `Retry-After` handling as
/// lookups; then the department names if enriched allows need them.
impl SyncSource for Synced<'_> {
    type Record = Device;

    fn inventory(&self) -> &Inventory {
        self.jamf.front.inventory()
    }

    async fn pull(&self, pull: &mut Pull<Device>) -> Result<(), ProviderError> {
        for kind in Kind::ALL {
            self.pull_kind(kind, pull).await?;
        }
        let wanted = !lock(&self.wanted_departments).is_empty();
        if wanted {
            self.pull_departments(pull).await?;
        }
        Ok(())
    }

    fn decide(&self, key: &str, records: Vec<Device>) -> Decision {
        let Some((kind, serial)) = parse_key(key) else {
            return Decision::deny(
                DenyCode::INVALID_IDENTIFIER,
                format!("{key:?} is not a Jamf inventory key"),
            );
        };
        let serial = match Serial::check(serial, "Jamf") {
            Ok(serial) => serial,
            Err(reason) => return Decision::deny(DenyCode::INVALID_IDENTIFIER, reason),
        };
        match self.jamf.judge(kind, &serial, pick(records)) {
            Judged::Final(decision) => decision,
            Judged::Enrich(mut device) => {
                if let Some(id) = department_to_fetch(&device) {
                    // An ID Jamf doesn't list gets an empty name, as its 404 does live.
                    device.user.department = lock(&self.departments)
                        .get(&id)
                        .cloned()
                        .unwrap_or_default();
                }
                Decision::allow_with(device.enrichment())
            }
        }
    }
}
