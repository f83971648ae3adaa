//! Inventory sync (`FLEET_SYNC_INTERVAL`): list hosts in pages, key them by serial as
//! lookups are keyed, and leave out of the index every host whose list record could be
//! decided otherwise than its live lookup (it is then looked up live).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use posture_core::{Decision, DenyCode, ProviderError};
use posture_http::sync::Pull;
use posture_http::{Serial, StatusCode, Url, decode_json};
use serde_json::Value;

use crate::FleetConfig;
use crate::model::{self, Host, Needs};
use crate::provider::{FleetProvider, SERVICE};

/// Hosts asked for in one page of `GET /api/v1/fleet/hosts` during a sync.
///
/// Fleet documents no largest `per_page` (without one it answers every host at once). A
/// page is bounded instead by what it costs: Fleet reads the labels, policies and end users
/// of every host on the page one host at a time, and the answer must arrive within
/// `TIMEOUT`, like a lookup's. 500 hosts with their policies are a few MiB; 10 000 hosts
/// take 20 pages (21 when the last one is full and Fleet gives no `meta`).
pub const SYNC_PAGE_SIZE: usize = 500;

/// The largest page read: 500 hosts with dozens of policies each, with room to spare.
const MAX_PAGE_BODY: usize = 64 * 1024 * 1024;

/// The hosts a sync listed and left out of its index, by reason; lookups for them go live.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct LeftOut {
    /// Hosts listed.
    pub(crate) listed: u64,
    /// Without a `hardware_serial` that [`Serial::check`] accepts (Linux VMs, personal
    /// devices): no lookup can name them by serial.
    pub(crate) no_serial: u64,
    /// Their list record lacks a key the rules or the enrichment read.
    pub(crate) incomplete: u64,
    /// The keys those records lacked.
    pub(crate) missing: BTreeSet<&'static str>,
    /// Another host's serial, hostname or UUID is their serial too: Fleet's identifier route
    /// answers whichever it finds first, so only a live lookup knows which.
    pub(crate) shared: u64,
}

impl LeftOut {
    /// Hosts left out for any reason.
    pub(crate) fn total(&self) -> u64 {
        self.no_serial + self.incomplete + self.shared
    }
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "inventory sync: {} hosts listed, {} left out of the index and looked up live \
             ({} without a valid hardware_serial, {} whose list record lacks a key the rules or \
             the enrichment read",
            self.listed,
            self.total(),
            self.no_serial,
            self.incomplete,
        )?;
        if !self.missing.is_empty() {
            let missing: Vec<&str> = self.missing.iter().copied().collect();
            write!(f, " [{}]", missing.join(", "))?;
        }
        write!(
            f,
            ", {} whose serial is another host's serial, hostname or UUID too)",
            self.shared
        )
    }
}

/// The list record's keys that the configured rules and the enrichment read.
fn needs(config: &FleetConfig) -> Needs {
    Needs {
        labels: config.enrich() || !config.labels().is_empty(),
        policies: !config.policies().is_empty(),
        issues: config.enrich() || config.requires_every_policy(),
        users: config.enrich(),
    }
}

/// `GET /api/v1/fleet/hosts` for one page in id order (hosts enrolled during the sync come
/// last, so none is listed twice), asking for the lists the rules need and nothing else:
/// each `populate_*` costs Fleet a query a host.
fn page_url(config: &FleetConfig, needs: Needs, page: usize) -> Url {
    let mut url = config.url().join(&["api", "v1", "fleet", "hosts"]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("page", &page.to_string())
            .append_pair("per_page", &SYNC_PAGE_SIZE.to_string())
            .append_pair("order_key", "id")
            .append_pair("order_direction", "asc");
        for (wanted, param) in [
            (needs.labels, "populate_labels"),
            (needs.policies, "populate_policies"),
            (needs.users, "populate_users"),
            (needs.users, "device_mapping"),
        ] {
            if wanted {
                query.append_pair(param, "true");
            }
        }
    }
    url
}

/// One page: its hosts, and `meta.has_next_results` when Fleet gives it.
async fn list_page(
    fleet: &FleetProvider,
    url: Url,
    request: &str,
) -> Result<(Vec<Value>, Option<bool>), ProviderError> {
    let answer = fleet.get(url, request, MAX_PAGE_BODY).await?;
    if answer.status != StatusCode::OK {
        return Err(fleet.answer_error(&answer, request));
    }
    let mut body: Value = decode_json(SERVICE, request, &answer.body)?;
    let more = body
        .pointer("/meta/has_next_results")
        .and_then(Value::as_bool);
    match body.get_mut("hosts").map(Value::take) {
        Some(Value::Array(hosts)) => Ok((hosts, more)),
        // Go renders an empty list as null.
        Some(Value::Null) => Ok((Vec::new(), more)),
        _ => Err(ProviderError::permanent(format!(
            "Fleet answered {request} with a body that is not the expected JSON (no \"hosts\" \
             list)"
        ))),
    }
}

/// A listed host and why it can't be indexed, if it can't.
struct Listed {
    host: Host,
    unlike: Option<&'static str>,
}

impl FleetProvider {
    /// Every page of [`SYNC_PAGE_SIZE`] hosts, one at a time through the lookups' client and
    /// `Retry-After` gate, until a short page or `meta.has_next_results: false`.
    pub(crate) async fn pull_inventory(&self, pull: &mut Pull<Host>) -> Result<(), ProviderError> {
        let needs = needs(self.config());
        let mut listed = Vec::new();
        for page in 0usize.. {
            let url = page_url(self.config(), needs, page);
            let request = format!("GET /api/v1/fleet/hosts (inventory sync, page {page})");
            let (hosts, more) = pull
                .page(&request, || list_page(self, url.clone(), &request))
                .await?;
            let returned = hosts.len();
            listed.extend(
                hosts
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|object| Listed {
                        host: model::record(object),
                        unlike: model::unlike_detail(object, needs),
                    }),
            );
            if returned < SYNC_PAGE_SIZE || more == Some(false) {
                break;
            }
        }
        let left_out = add_indexable(pull, listed);
        if left_out.total() > 0 {
            tracing::info!(
                service = SERVICE,
                listed = left_out.listed,
                left_out = left_out.total(),
                no_serial = left_out.no_serial,
                incomplete = left_out.incomplete,
                shared = left_out.shared,
                missing = ?left_out.missing,
                "hosts left out of the synced inventory; they are looked up live"
            );
        }
        self.set_left_out(left_out);
        Ok(())
    }

    /// The decision for `serial` from the hosts a sync listed under it.
    pub(crate) fn decide_listed(&self, serial: &Serial, hosts: &[Host]) -> Decision {
        match hosts {
            [host] => self.decide(serial, host),
            // `pull_inventory` adds one host a serial (two would share it); a deny keeps this
            // closed.
            _ => Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("no single host with serial number {serial} in Fleet"),
            ),
        }
    }
}

/// Adds the hosts a live lookup would find and decide alike, keyed by their checked serial,
/// and counts the others.
fn add_indexable(pull: &mut Pull<Host>, listed: Vec<Listed>) -> LeftOut {
    // Fleet's identifier route matches the serial against hostnames and UUIDs as well,
    // ignoring case (MySQL's collation), and answers the first match: a serial that any
    // other host also carries as its serial, hostname or UUID has no answer known here.
    let mut claims: HashMap<String, u32> = HashMap::new();
    for entry in &listed {
        let host = &entry.host;
        let mut names: Vec<String> = [&host.hardware_serial, &host.hostname, &host.uuid]
            .into_iter()
            .filter(|name| !name.is_empty())
            .map(|name| name.to_ascii_uppercase())
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            *claims.entry(name).or_default() += 1;
        }
    }
    let mut left_out = LeftOut {
        listed: listed.len() as u64,
        ..LeftOut::default()
    };
    for entry in listed {
        let Ok(serial) = Serial::check(&entry.host.hardware_serial, SERVICE) else {
            left_out.no_serial += 1;
            continue;
        };
        if let Some(missing) = entry.unlike {
            left_out.incomplete += 1;
            left_out.missing.insert(missing);
            continue;
        }
        if claims.get(serial.as_str()).is_some_and(|n| *n > 1) {
            left_out.shared += 1;
            continue;
        }
        pull.add(serial.as_str(), entry.host);
    }
    left_out
}
