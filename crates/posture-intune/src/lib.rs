//! A [`PostureProvider`](posture_core::PostureProvider) backed by Microsoft Intune, through
//! Microsoft Graph.
//!
//! step-ca asks, for each attested device, whether it may get a certificate; this provider
//! answers by looking the attested serial number up among Intune's managed devices.
//!
//! ```
//! use posture_core::{LookupRequest, PostureProvider};
//! use posture_fakes::intune::{FakeIntune, FakeManagedDevice};
//! use posture_intune::{IntuneConfig, IntuneProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let intune = FakeIntune::start().await?; // a fake Graph on 127.0.0.1
//! intune.add_device(FakeManagedDevice::new("C02XL0GJJG5J"));
//! intune.add_device(FakeManagedDevice::new("C02NONCOMPL1").with_compliance_state("noncompliant"));
//!
//! let c = intune.connection();
//! let config = IntuneConfig::new(c.tenant_id, c.client_id, c.client_secret)?
//!     .with_authority_url(&c.url)?
//!     .with_graph_url(&c.url)?;
//! let provider = IntuneProvider::new(config)?;
//! provider.check_ready().await?;
//!
//! let allowed = provider.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
//! let data = allowed.enrichment().unwrap().to_value();
//! assert_eq!(data["device"]["operating_system"], "macOS");
//! assert_eq!(data["user"]["upn"], "alice@contoso.com");
//!
//! let denied = provider.lookup(&LookupRequest::new("C02NONCOMPL1")).await?;
//! assert_eq!(denied.deny_code().map(|c| c.as_str()), Some("notCompliant"));
//! assert!(denied.deny_message().unwrap().contains("\"noncompliant\""));
//! # Ok(())
//! # }
//! ```
//!
//! # What a lookup does
//!
//! 1. **Identifier hygiene.** The identifier must look like an Apple serial number (8 to 14
//!    ASCII letters and digits, upper-cased); anything else, a UDID notably, is denied with
//!    `invalidIdentifier` and Graph is not called. Only such serials reach the OData filter,
//!    so they can't escape its quotes.
//! 2. **Lookup**, through the cache: `GET /v1.0/deviceManagement/managedDevices` with
//!    `$filter=serialNumber eq '<serial>'`, `$select` of the properties used, `$top=25`.
//! 3. **Re-check and paging.** Graph silently ignores filters it doesn't support and then
//!    returns every device, so the serial of every record is compared again (ignoring
//!    case). Records with another serial mean the filter was ignored: if none has ours, or
//!    if `@odata.nextLink` says more pages follow (a newer record of ours could be on any of
//!    them), the answer is a permanent error, never "not found" or a guess. An honoured
//!    filter's `@odata.nextLink` is followed, only on the Graph origin (the token goes with
//!    it), for at most 4 pages (100 records of one serial); beyond that, a permanent error.
//!    No record at all: `deviceNotFound`.
//! 4. **Duplicates.** Re-enrolment can leave several records with one serial. The rule: the
//!    record with the most recent `lastSyncDateTime` decides (the device that checked in
//!    last is the one in use). Records without a readable `lastSyncDateTime` rank last;
//!    among equals, Graph's order wins.
//! 5. **Management.** `managementAgent` must be one of `INTUNE_ALLOWED_MANAGEMENT_AGENTS`
//!    (default: every agent with an MDM channel, [`ManagementAgent::MDM_MANAGED`]); an
//!    Exchange-ActiveSync-only (`eas`), `configurationManagerClient`, `unknown` or missing
//!    agent is `notManaged`, naming it, whatever the compliance state.
//! 6. **Compliance.** `complianceState` must be one of `INTUNE_ALLOWED_COMPLIANCE_STATES`
//!    (default `compliant`); otherwise `notCompliant`, naming the state:
//!    `C02… has compliance state "noncompliant" in Intune; allowed: compliant`.
//! 7. **Entra ID group** (with `INTUNE_GROUP_ID`). Intune's `azureADDeviceId` is the Entra
//!    `deviceId`, not the directory object ID, so the object is found with
//!    `GET /v1.0/devices?$filter=deviceId eq '…'&$select=id,deviceId` (cached for an hour),
//!    then `POST /v1.0/devices/{object-id}/checkMemberGroups` with the group: one call,
//!    transitive membership. A device with an empty or all-zero `azureADDeviceId`, one Entra
//!    doesn't know, or one outside the group: `notCompliant`.
//! 8. **Allowed**, with this enrichment data unless `INTUNE_ENRICH=0` (every value a
//!    string, empty when Intune has none):
//!
//!    ```json
//!    {
//!      "device": {"id": "…", "name": "Betty's MacBook Pro", "serial_number": "C02ABC123DEF",
//!                 "operating_system": "macOS", "os_version": "14.4.1",
//!                 "model": "MacBookPro18,3", "manufacturer": "Apple", "ownership": "company",
//!                 "compliance_state": "compliant", "management_agent": "mdm",
//!                 "last_sync": "2024-05-01T10:00:00Z",
//!                 "azure_ad_device_id": "0f0f0f0f-1111-2222-3333-444444444444"},
//!      "user": {"id": "…", "upn": "betty@contoso.com", "email": "betty@contoso.com",
//!               "display_name": "Betty Jackson"}
//!    }
//!    ```
//!
//! # Errors
//!
//! No answer within `TIMEOUT`, connection failures, 5xx, 408 and 429 (with its
//! `Retry-After`) are transient [`ProviderError`](posture_core::ProviderError)s: the server
//! answers 503 and step-ca retries once. Refused credentials, a missing permission (403, the
//! message names the permission to grant), an ignored filter and malformed answers are
//! permanent. Nothing from Graph can cause a panic.
//!
//! # Tokens
//!
//! Client credentials: `POST {INTUNE_AUTHORITY_URL}/{tenant}/oauth2/v2.0/token` with a
//! client secret, or with a [`ClientCertificate`] (`INTUNE_CLIENT_CERT_PATH`,
//! `INTUNE_CLIENT_KEY_PATH`): a JWT client assertion signed for each request (`PS256` by
//! default, `x5t#S256` of the certificate, `aud` = the token URL, `iss` = `sub` = the client
//! ID, a random `jti`, five minutes of validity). The scope is `INTUNE_SCOPE`, by default the
//! Graph resource of the cloud `INTUNE_GRAPH_URL` names (`https://graph.microsoft.com/.default`
//! for any other host, such as a proxy). The token (about an hour) is cached and renewed five
//! minutes before it expires; renewal is single-flight. A 401 from Graph invalidates the
//! token, renews it once and retries once.
//!
//! # Graph application permissions
//!
//! | Permission | Needed for |
//! |---|---|
//! | `DeviceManagementManagedDevices.Read.All` | every lookup, and the readiness check |
//! | `Device.Read.All` | `INTUNE_GROUP_ID`: finding the Entra device object, and `checkMemberGroups` on it |
//!
//! Both are application permissions and need admin consent. `GroupMember.Read.All` is not
//! needed: Graph lists `Device.Read.All` for `checkMemberGroups` on a device. No user object
//! is read, so `User.Read.All` isn't either. The one exception: with `INTUNE_GROUP_ID` and
//! `INTUNE_SYNC_INTERVAL`, the inventory sync lists the group's members
//! (`GET /v1.0/groups/{id}/transitiveMembers`), which needs `GroupMember.Read.All`.
//!
//! # Caching
//!
//! Decisions are cached per serial: allowed answers for `INTUNE_CACHE_TTL` (60 s), denies for
//! `INTUNE_NEGATIVE_CACHE_TTL` (10 s); `0` disables either. Concurrent lookups of one serial
//! make one Graph call. Errors are never cached. Graph allows an app 1000 Intune requests per
//! 20 s per tenant.
//!
//! # SCEP validation
//!
//! [`scep::IntuneScepClient`] speaks to Intune's SCEP validation service for third-party
//! certification authorities (`validateRequest`, `successNotification`,
//! `failureNotification`), with the same tenant and credentials; see [`scep`].
//!
//! # Crate features
//!
//! - `ring` (default): the HTTP client uses rustls's *ring* provider; without it, the
//!   provider the program installs as the process default (see posture-http's README).
//!
//! Built with `--cfg fuzzing`, as `cargo fuzz` builds it, the crate has a `fuzzing` module:
//! the readers of the MDM's answers as plain functions, for the fuzz targets in the repository's `fuzz/`.
//!
//! The fake Intune / Graph the tests use is `posture_fakes::intune::FakeIntune`, in the
//! repository's unpublished `posture-fakes` crate.

mod client;
mod config;
mod credential;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
mod kind;
mod model;
mod provider;
pub mod scep;

pub use config::{
    ComplianceState, DEFAULT_AUTHORITY_URL, DEFAULT_CACHE_TTL, DEFAULT_GRAPH_URL,
    DEFAULT_NEGATIVE_CACHE_TTL, DEFAULT_TIMEOUT, ENTRA_OBJECT_CACHE_TTL, IntuneConfig,
    IntuneConfigError, IntuneCredential, ManagementAgent, UnknownComplianceState,
    UnknownManagementAgent,
};
pub use credential::{
    AssertionAlgorithm, ClientCertificate, ClientCertificateError, UnknownAssertionAlgorithm,
};
pub use error::IntuneError;
pub use kind::{KIND, SETTINGS};
pub use posture_http::env::ConfigProblem;
pub use posture_http::{CacheStats, TokenStats};
pub use provider::{IntuneProvider, IntuneStats};

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
