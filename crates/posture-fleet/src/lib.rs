//! A [`PostureProvider`](posture_core::PostureProvider) backed by [Fleet](https://fleetdm.com),
//! the open-source device management server.
//!
//! step-ca asks, for each attested device, whether it may get a certificate; this provider
//! answers by looking the attested serial number up in Fleet.
//!
//! ```
//! use posture_core::{LookupRequest, PostureProvider};
//! use posture_fakes::fleet::{FakeFleet, FakeFleetHost};
//! use posture_fleet::{FleetConfig, FleetProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fleet = FakeFleet::start().await?; // a fake Fleet on 127.0.0.1
//! fleet.add_host(FakeFleetHost::new("C02XL0GJJG5J"));
//! fleet.add_host(FakeFleetHost::new("C02PENDING01").with_enrollment_status(Some("Pending")));
//!
//! let c = fleet.connection();
//! let config = FleetConfig::new(&c.url, c.api_token)?.with_teams(["Engineering"]);
//! let provider = FleetProvider::new(config)?;
//! provider.check_ready().await?;
//!
//! let mac = provider.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
//! assert_eq!(mac.enrichment().unwrap().to_value()["user"]["email"], "betty@example.com");
//!
//! let pending = provider.lookup(&LookupRequest::new("C02PENDING01")).await?;
//! assert_eq!(pending.deny_code().map(|c| c.as_str()), Some("notManaged"));
//! # Ok(())
//! # }
//! ```
//!
//! # What a lookup does
//!
//! 1. **Identifier hygiene.** The identifier must look like an Apple serial number (8 to 14
//!    ASCII letters and digits, upper-cased); anything else is denied with
//!    `invalidIdentifier` and Fleet is not called.
//! 2. **Lookup**, through the cache: `GET /api/v1/fleet/hosts/identifier/{serial}?exclude_software=true`
//!    with the API token as a bearer token. A 404 carrying Fleet's JSON error is
//!    `deviceNotFound`; a 404 without it means `FLEET_URL` is not a Fleet server (a permanent
//!    error, never "not found").
//! 3. **Exact re-check.** Fleet's identifier route matches `hostname`, `uuid`,
//!    `osquery_host_id` and `node_key` as well as `hardware_serial`, and returns the first
//!    match: a host whose hostname is another device's serial would be found instead. The
//!    host's `hardware_serial` must equal the serial (ignoring ASCII case); otherwise
//!    `deviceNotFound`, naming the host that matched.
//! 4. **Decision**, in this order: `mdm.enrollment_status` is not `On` or `On (…)`
//!    (`Pending`, `Off`, `null`) → `notManaged`; with `FLEET_REQUIRE_CONNECTED` (on by
//!    default) `mdm.connected_to_fleet` is not `true` → `notManaged`; outside `FLEET_TEAMS`
//!    → `notCompliant`; missing one of `FLEET_LABELS` → `notCompliant`; failing (or not yet
//!    having run) one of `FLEET_POLICIES` → `notCompliant`. Every message names the
//!    reason: the status, the team, the labels or the policies with their responses.
//! 5. **Allowed**, with this enrichment data unless `FLEET_ENRICH=0` (ids as strings; the
//!    user's fields are empty when Fleet knows no end user):
//!
//!    ```json
//!    {
//!      "host": {"id": "42", "name": "Betty's MacBook Pro", "hostname": "bettys-mbp.local",
//!               "serial_number": "C02XL0GJJG5J", "platform": "darwin", "os_version": "macOS 14.4.1"},
//!      "team": {"id": "3", "name": "Engineering"},
//!      "labels": ["All Hosts", "wifi-allowed"],
//!      "failing_policies": 0,
//!      "user": {"email": "betty@example.com", "name": "Betty Jackson"}
//!    }
//!    ```
//!
//! # Documented variants accepted
//!
//! - The team: `fleet_id`/`fleet_name` (Fleet's 2026 rename) or `team_id`/`team_name`; during
//!   the rename answers carry both, and `fleet_*` is read first. `FLEET_TEAMS` entries match
//!   the team's id or its exact name; `null` is "no team".
//! - Enrollment: `On (automatic)` (the legacy name the API still returns), `On
//!   (company-owned)`, `On (manual)`, `On (personal)`, `On (manual - personal)`; `Pending`,
//!   `Off` and `null` are not enrolled.
//! - The end user: `end_users[0].idp_username`, or `idp_email` in earlier versions, and
//!   `idp_full_name`; without end users, the first `device_mapping[].email`.
//! - Policies: `FLEET_POLICIES` entries match a policy's id or exact name; `*` requires every
//!   policy of the host to answer `pass`, so a policy that hasn't run yet (`""`) denies
//!   (fail closed).
//!
//! # Errors
//!
//! No answer within `TIMEOUT`, connection failures, 5xx, 408 and 429 (with its
//! `Retry-After`, honoured up to `FLEET_MAX_RETRY_AFTER`: nothing is sent until it has
//! passed, then one request goes first) are transient
//! [`ProviderError`](posture_core::ProviderError)s: the server answers 503 and step-ca
//! retries once. A refused token (401), a missing permission (403), a URL that isn't Fleet's,
//! redirects (never followed) and malformed answers are permanent.
//!
//! # API token permissions
//!
//! Create an **API-only user** (`fleetctl user create --api-only`) with the **Observer**
//! role, globally or on the teams whose hosts may get certificates, and use its token. The
//! lookup reads one host (`GET /api/v1/fleet/hosts/identifier/…`); the readiness check reads
//! the user itself (`GET /api/v1/fleet/me`); the inventory sync lists hosts
//! (`GET /api/v1/fleet/hosts`), which the same role may.
//!
//! # Caching
//!
//! Decisions are cached per serial: allowed answers for `FLEET_CACHE_TTL` (60 s), denies for
//! `FLEET_NEGATIVE_CACHE_TTL` (10 s); `0` disables either. Concurrent lookups of one serial
//! make one request. Errors are never cached.
//!
//! # Inventory sync
//!
//! With `FLEET_SYNC_INTERVAL` set (seconds, 300 to 604 800), the provider lists every host at
//! start-up and then on the interval with `GET /api/v1/fleet/hosts` (`page` from 0,
//! `per_page` [`SYNC_PAGE_SIZE`], `order_key=id`; one request at a time,
//! through the same client and `Retry-After` gate as lookups), asking with
//! `populate_labels`, `populate_policies`, `populate_users` and `device_mapping` for the
//! lists the rules and the enrichment read, until a short page (or
//! `meta.has_next_results: false`). It decides every host with the lookup's rules and
//! answers from that index (see `posture_http::sync`); a serial it doesn't hold goes to a
//! live lookup. 10 000 hosts cost 20 or 21 requests.
//!
//! A host is left out of the index, so that its decision stays the live lookup's, when:
//!
//! - its `hardware_serial` is empty or not a serial number (no lookup names it);
//! - its list record lacks a key the configured rules or the enrichment read, as Fleet
//!   versions older than a `populate_*` parameter answer: `labels` (`FLEET_LABELS`, the
//!   enrichment), `policies` (`FLEET_POLICIES`), `issues.failing_policies_count` and
//!   `end_users` (the enrichment), or `mdm`;
//! - with the enrichment on, its end users name no e-mail and `device_mapping` is missing
//!   or names one: the host detail a lookup reads doesn't carry `device_mapping` in
//!   current Fleet versions, so only a live lookup tells which user it shows;
//! - another host carries its serial as serial, hostname or UUID (ignoring case): Fleet's
//!   identifier route answers the first match, which only a live lookup sees. Matches on
//!   `osquery_host_id` and `node_key` can't be seen in the list and are not checked.
//!
//! The report (`doctor`, `lookup`) counts them by reason, and the gauge
//! `provider_inventory_left_out` has their total.
//!
//! # Crate features
//!
//! - `ring` (default): the HTTP client uses rustls's *ring* provider; without it, the
//!   provider the program installs as the process default (see posture-http's README).
//!
//! Built with `--cfg fuzzing`, as `cargo fuzz` builds it, the crate has a `fuzzing` module:
//! the reader of Fleet's host answer as a plain function, for the fuzz targets in the repository's `fuzz/`.
//!
//! The fake Fleet the tests use is `posture_fakes::fleet::FakeFleet`, in the repository's
//! unpublished `posture-fakes` crate.

mod config;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
mod kind;
mod model;
mod provider;
mod sync;

pub use config::{
    ALL_POLICIES, DEFAULT_CACHE_TTL, DEFAULT_NEGATIVE_CACHE_TTL, DEFAULT_TIMEOUT, FleetConfig,
};
pub use error::FleetError;
pub use kind::{KIND, SETTINGS};
pub use posture_http::CacheStats;
pub use provider::{FleetProvider, FleetStats};
pub use sync::SYNC_PAGE_SIZE;

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
