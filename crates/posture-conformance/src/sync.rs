//! The inventory-sync scenarios every provider with `<PROVIDER>_SYNC_INTERVAL` runs.
//!
//! A provider's tests describe the provider and its fake MDM as a [`SyncFixture`] and call
//! each scenario; a scenario panics, naming what went wrong, when the provider fails it:
//!
//! | scenario | what must hold |
//! |---|---|
//! | [`a_device_enrolled_after_the_sync_is_looked_up_live`] | a device the index doesn't list is looked up live with one request; once a sync lists it, and every synced device, is answered without one |
//! | [`a_sync_failing_midway_keeps_the_previous_inventory`] | a sync refused (403) after its first page swaps nothing in, says so in the report, and readiness still holds without a request while the MDM is down |
//! | [`a_rate_limited_page_is_retried_after_retry_after`] | a page answered 429 is sent again after `Retry-After`, and the sync completes |
//! | [`sync_settings_come_from_the_environment`] | `<PROVIDER>_SYNC_INTERVAL` and `<PROVIDER>_SYNC_MAX_AGE` are read, shown by `check-config` and the provider's report, off by default, and refused by name when invalid |
//!
//! [`assert_same_decisions`] runs the heart of each provider's own equivalence test: the
//! synced provider answers every request as the live one does.

use std::future::Future;
use std::time::Duration;

use posture_core::{BuiltProvider, LookupRequest, PostureProvider, ProviderError, ProviderKind};
pub use posture_http::sync::{FromIndex, Inventory, SyncReport, SyncSettings};

use crate::support::answer;
use crate::{Fault, Upstream};

/// How a [`SyncFixture`]'s fake fails one page of a sync.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum PageFault {
    /// Answer `403 Forbidden`: a permission the sync needs is missing.
    Forbidden,
    /// Answer `429 Too Many Requests` with `Retry-After: <seconds>`.
    RateLimited {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
}

impl PageFault {
    /// This fault in a fake's own vocabulary `T`: `status` makes the answer with an error
    /// status, and a 429 is the suite's [`Fault::RateLimited`] converted.
    ///
    /// ```
    /// use posture_conformance::Fault;
    /// use posture_conformance::sync::PageFault;
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum FakeFault {
    ///     Status(u16),
    ///     TooMany(u64),
    /// }
    /// impl From<Fault> for FakeFault {
    ///     fn from(fault: Fault) -> Self {
    ///         match fault {
    ///             Fault::RateLimited { retry_after_secs } => Self::TooMany(retry_after_secs),
    ///             _ => Self::Status(503),
    ///         }
    ///     }
    /// }
    ///
    /// assert_eq!(PageFault::Forbidden.to_fake(FakeFault::Status), FakeFault::Status(403));
    /// let throttled = PageFault::RateLimited { retry_after_secs: 2 };
    /// assert_eq!(throttled.to_fake(FakeFault::Status), FakeFault::TooMany(2));
    /// ```
    pub fn to_fake<T: From<Fault>>(self, status: impl FnOnce(u16) -> T) -> T {
        match self {
            Self::Forbidden => status(403),
            Self::RateLimited { retry_after_secs } => {
                T::from(Fault::RateLimited { retry_after_secs })
            }
        }
    }
}

/// A provider with inventory sync and the fake MDM behind it, as the scenarios drive them.
///
/// [`sync_fixture!`](crate::sync_fixture) writes an impl for one of `posture_fakes`' fakes.
pub trait SyncFixture: Send + Sync {
    /// The provider under test.
    type Provider: PostureProvider;

    /// The provider's kind, which reads its environment variables.
    fn kind(&self) -> &'static dyn ProviderKind;

    /// The environment variables that point the provider at the fake, sync off.
    fn env_vars(&self) -> Vec<(String, String)>;

    /// Adds a device that a provider with default rules allows and a sync lists: by default
    /// the fake's own ([`Upstream::enrol`]).
    fn enrol(&self, serial: &str) {
        self.upstream().enrol(serial);
    }

    /// How many of the devices [`enrol`](Self::enrol) adds one page of the sync lists.
    fn page_size(&self) -> usize;

    /// The requests a sync sends besides the pages of enrolled devices (other device
    /// families, group lists), when it succeeds at the first attempt.
    fn other_sync_calls(&self) -> u64 {
        0
    }

    /// A provider with default rules that syncs hourly (and has not synced yet).
    fn synced(&self) -> Self::Provider;

    /// Runs one sync of `provider` now.
    fn sync(
        &self,
        provider: &Self::Provider,
    ) -> impl Future<Output = Result<SyncReport, ProviderError>> + Send;

    /// `provider`'s synced inventory.
    fn inventory<'p>(&self, provider: &'p Self::Provider) -> &'p Inventory;

    /// Empties `provider`'s caches of live answers.
    fn clear_cache(&self, provider: &Self::Provider);

    /// The index key of an enrolled device.
    fn key(&self, serial: &str) -> String {
        serial.to_owned()
    }

    /// The request that looks an enrolled device up.
    fn request(&self, serial: &str) -> LookupRequest {
        LookupRequest::new(serial)
    }

    /// What the error of a sync refused with 403 names besides the status, such as the
    /// permission the MDM wants.
    fn refused_sync_names(&self) -> &[&'static str] {
        &[]
    }

    /// The fake MDM.
    fn upstream(&self) -> &dyn Upstream;

    /// The requests the fake has received: by default every request, tokens included.
    fn requests(&self) -> u64 {
        self.upstream().requests()
    }

    /// Serves `pages` more requests, then answers one with `fault`.
    fn fail_page_after(&self, pages: usize, fault: PageFault);

    /// Fails every lookup from now on, as an MDM outage does: by default with 503.
    fn go_down(&self) {
        self.upstream().inject(Fault::Unavailable);
    }
}

/// Declares a [`SyncFixture`]: a tuple struct around a fake, and its impl.
///
/// The fake is one of `posture_fakes`' (the expansion names `posture_fakes::Fault`): its
/// `env_vars`, `fail_after` and [`Upstream`] impl serve `env_vars`, `fail_page_after`,
/// `upstream`, `requests`, `enrol` and `go_down`; the provider's `sync_inventory`,
/// `inventory` and `clear_cache` serve `sync`, `inventory` and `clear_cache`. The invocation gives the rest
/// and may add or override any other trait method after them.
///
/// ```
/// use posture_conformance::sync::{Inventory, SyncFixture, SyncReport, SyncSettings};
/// use posture_conformance::{Fault as SuiteFault, Upstream, sync_fixture};
/// use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
///
/// # mod posture_fakes {
/// #     #[derive(Debug)]
/// #     pub enum Fault { Status(u16), Other }
/// #     impl From<posture_conformance::Fault> for Fault {
/// #         fn from(_: posture_conformance::Fault) -> Self { Self::Other }
/// #     }
/// # }
/// /// A stand-in for one of `posture_fakes`' fakes.
/// struct FakeMdm;
/// impl FakeMdm {
///     fn env_vars(&self) -> Vec<(String, String)> {
///         vec![("ACME_URL".to_owned(), "http://127.0.0.1:9".to_owned())]
///     }
///     fn fail_after(&self, _skip: usize, _fault: posture_fakes::Fault, _times: usize) {}
/// }
/// impl Upstream for FakeMdm {
///     fn requests(&self) -> u64 { 0 }
///     fn inject(&self, _: SuiteFault) {}
///     fn heal(&self) {}
///     fn enrol(&self, _serial: &str) {}
///     fn set_latency(&self, _: std::time::Duration) {}
/// }
///
/// /// A stand-in for a synced provider.
/// #[derive(Debug)]
/// struct AcmeProvider(Inventory);
/// impl AcmeProvider {
///     async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
///         Err(ProviderError::permanent("no MDM"))
///     }
///     fn inventory(&self) -> &Inventory { &self.0 }
///     fn clear_cache(&self) {}
/// }
/// impl PostureProvider for AcmeProvider {
///     fn name(&self) -> &str { "acme" }
///     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
///         Ok(Decision::allow())
///     }
/// }
/// # #[derive(Debug)]
/// # struct AcmeKind;
/// # impl posture_core::ProviderKind for AcmeKind {
/// #     fn name(&self) -> &'static str { "acme" }
/// #     fn settings(&self) -> &'static [posture_core::posture_settings::Setting] { &[] }
/// #     fn configure(
/// #         &self,
/// #         _: &dyn Fn(&str) -> Option<String>,
/// #     ) -> Result<Box<dyn posture_core::ProviderSetup>, posture_core::posture_settings::ConfigProblems> {
/// #         Err(posture_core::posture_settings::ConfigProblems::new(Vec::new()))
/// #     }
/// # }
/// # static KIND: AcmeKind = AcmeKind;
///
/// sync_fixture! {
///     /// Acme and its fake.
///     struct Fixture(FakeMdm) -> AcmeProvider;
///     kind = KIND;
///     page_size = 500;
///     synced(_fake) = AcmeProvider(Inventory::new("Acme", SyncSettings::new("", "")));
///
///     fn key(&self, serial: &str) -> String {
///         format!("computer/{serial}")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let fixture = Fixture(FakeMdm);
/// assert_eq!(fixture.key("C02XL0GJJG5J"), "computer/C02XL0GJJG5J");
/// assert!(fixture.sync(&fixture.synced()).await.is_err());
/// # }
/// ```
#[macro_export]
macro_rules! sync_fixture {
    (
        $(#[$meta:meta])*
        struct $name:ident($fake:ty) -> $provider:ty;
        kind = $kind:expr;
        page_size = $page_size:expr;
        synced($synced_fake:ident) = $synced:expr;
        $($extra:item)*
    ) => {
        $(#[$meta])*
        struct $name($fake);

        impl $crate::sync::SyncFixture for $name {
            type Provider = $provider;

            fn kind(&self) -> &'static dyn ::posture_core::ProviderKind {
                &$kind
            }

            fn env_vars(&self) -> ::std::vec::Vec<(::std::string::String, ::std::string::String)> {
                self.0.env_vars()
            }

            fn page_size(&self) -> usize {
                $page_size
            }

            fn synced(&self) -> $provider {
                let $synced_fake = &self.0;
                $synced
            }

            fn sync(
                &self,
                provider: &$provider,
            ) -> impl ::std::future::Future<
                Output = ::std::result::Result<
                    $crate::sync::SyncReport,
                    ::posture_core::ProviderError,
                >,
            > + Send {
                provider.sync_inventory()
            }

            fn inventory<'p>(&self, provider: &'p $provider) -> &'p $crate::sync::Inventory {
                provider.inventory()
            }

            fn clear_cache(&self, provider: &$provider) {
                provider.clear_cache();
            }

            fn upstream(&self) -> &dyn $crate::Upstream {
                &self.0
            }

            fn fail_page_after(&self, pages: usize, fault: $crate::sync::PageFault) {
                self.0
                    .fail_after(pages, fault.to_fake(posture_fakes::Fault::Status), 1);
            }

            $($extra)*
        }
    };
}

/// Writes a `#[tokio::test]` for each scenario, running it on the fixture `$fixture`
/// evaluates to (in an async context, so it may `.await`).
///
/// ```
/// # use posture_conformance::sync::{Inventory, SyncFixture, SyncReport, SyncSettings};
/// # use posture_conformance::{Fault as SuiteFault, Upstream};
/// use posture_conformance::{sync_fixture, sync_scenarios};
/// # use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
/// #
/// # mod posture_fakes {
/// #     #[derive(Debug)]
/// #     pub enum Fault { Status(u16), Other }
/// #     impl From<posture_conformance::Fault> for Fault {
/// #         fn from(_: posture_conformance::Fault) -> Self { Self::Other }
/// #     }
/// # }
/// # /// A stand-in for one of `posture_fakes`' fakes.
/// # struct FakeMdm;
/// # impl FakeMdm {
/// #     fn env_vars(&self) -> Vec<(String, String)> {
/// #         vec![("ACME_URL".to_owned(), "http://127.0.0.1:9".to_owned())]
/// #     }
/// #     fn fail_after(&self, _skip: usize, _fault: posture_fakes::Fault, _times: usize) {}
/// # }
/// # impl Upstream for FakeMdm {
/// #     fn requests(&self) -> u64 { 0 }
/// #     fn inject(&self, _: SuiteFault) {}
/// #     fn heal(&self) {}
/// #     fn enrol(&self, _serial: &str) {}
/// #     fn set_latency(&self, _: std::time::Duration) {}
/// # }
/// #
/// # /// A stand-in for a synced provider.
/// # #[derive(Debug)]
/// # struct AcmeProvider(Inventory);
/// # impl AcmeProvider {
/// #     async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
/// #         Err(ProviderError::permanent("no MDM"))
/// #     }
/// #     fn inventory(&self) -> &Inventory { &self.0 }
/// #     fn clear_cache(&self) {}
/// # }
/// # impl PostureProvider for AcmeProvider {
/// #     fn name(&self) -> &str { "acme" }
/// #     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
/// #         Ok(Decision::allow())
/// #     }
/// # }
/// # #[derive(Debug)]
/// # struct AcmeKind;
/// # impl posture_core::ProviderKind for AcmeKind {
/// #     fn name(&self) -> &'static str { "acme" }
/// #     fn settings(&self) -> &'static [posture_core::posture_settings::Setting] { &[] }
/// #     fn configure(
/// #         &self,
/// #         _: &dyn Fn(&str) -> Option<String>,
/// #     ) -> Result<Box<dyn posture_core::ProviderSetup>, posture_core::posture_settings::ConfigProblems> {
/// #         Err(posture_core::posture_settings::ConfigProblems::new(Vec::new()))
/// #     }
/// # }
/// # static KIND: AcmeKind = AcmeKind;
/// #
/// sync_fixture! {
///     /// Acme and its fake.
///     struct Fixture(FakeMdm) -> AcmeProvider;
///     kind = KIND;
///     page_size = 500;
///     synced(_fake) = AcmeProvider(Inventory::new("Acme", SyncSettings::new("", "")));
///
///     fn key(&self, serial: &str) -> String {
///         format!("computer/{serial}")
///     }
/// }
///
/// sync_scenarios!(Fixture(FakeMdm));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! sync_scenarios {
    ($fixture:expr) => {
        $crate::sync_scenarios!(
            @each $fixture;
            a_device_enrolled_after_the_sync_is_looked_up_live,
            a_sync_failing_midway_keeps_the_previous_inventory,
            a_rate_limited_page_is_retried_after_retry_after,
            sync_settings_come_from_the_environment,
        );
    };
    (@each $fixture:expr; $($scenario:ident,)*) => {
        $(
            #[::tokio::test]
            async fn $scenario() {
                $crate::sync::$scenario(&$fixture).await;
            }
        )*
    };
}

/// How many of a run of decisions allowed and denied.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct Tally {
    /// Decisions that allowed.
    pub allowed: usize,
    /// Decisions that denied.
    pub denied: usize,
}

impl Tally {
    /// Panics unless more than `allowed` decisions allowed and more than `denied` denied:
    /// a comparison is only worth as much as the rules it exercised.
    #[track_caller]
    pub fn assert_mixed(&self, allowed: usize, denied: usize) {
        assert!(
            self.allowed > allowed && self.denied > denied,
            "the rules allow some and deny others: {self:?}"
        );
    }
}

/// Asks `synced` and `live` every request in turn and panics, naming the request, where
/// their decisions differ or either fails.
///
/// ```
/// use posture_conformance::sync::assert_same_decisions;
/// use posture_core::{Decision, DenyCode, LookupRequest, PostureProvider, ProviderError};
///
/// #[derive(Debug)]
/// struct Macs;
/// impl PostureProvider for Macs {
///     fn name(&self) -> &str { "macs" }
///     async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
///         Ok(if request.identifier().starts_with("C02") {
///             Decision::allow()
///         } else {
///             Decision::deny(DenyCode::DEVICE_NOT_FOUND, "not a Mac")
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let requests = ["C02XL0GJJG5J", "DMPXK2ABCD12"].map(LookupRequest::new);
/// let tally = assert_same_decisions(&Macs, &Macs, &requests).await;
/// tally.assert_mixed(0, 0);
/// # }
/// ```
pub async fn assert_same_decisions<'r, P: PostureProvider>(
    synced: &P,
    live: &P,
    requests: impl IntoIterator<Item = &'r LookupRequest>,
) -> Tally {
    let mut tally = Tally::default();
    for request in requests {
        let from_index = answer(synced, request).await;
        assert_eq!(
            from_index,
            answer(live, request).await,
            "{} {:?}",
            request.identifier(),
            request.mode()
        );
        if from_index.is_allowed() {
            tally.allowed += 1;
        } else {
            tally.denied += 1;
        }
    }
    tally
}

/// What [`synced_decisions_equal_live`] found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Equivalence {
    /// The report of the sync.
    pub report: SyncReport,
    /// The synced provider's decisions.
    pub tally: Tally,
    /// The requests the fake received while both providers answered.
    pub requests: u64,
}

/// Syncs `synced`, then asks it and `live` for each of `serials` (as
/// [`SyncFixture::request`] asks for it) and panics, naming the serial, where the answers
/// differ.
pub async fn synced_decisions_equal_live<F: SyncFixture>(
    fixture: &F,
    synced: &F::Provider,
    live: &F::Provider,
    serials: &[String],
) -> Equivalence {
    let report = sync_ok(fixture, synced).await;
    let requests: Vec<LookupRequest> = serials.iter().map(|s| fixture.request(s)).collect();
    let before = fixture.requests();
    let tally = assert_same_decisions(synced, live, &requests).await;
    Equivalence {
        report,
        tally,
        requests: fixture.requests() - before,
    }
}

/// Sync settings that sync every hour, for a provider's `with_sync`.
///
/// ```
/// let settings = posture_conformance::sync::hourly();
/// assert_eq!(settings.interval().as_secs(), 3600);
/// ```
pub fn hourly() -> SyncSettings {
    SyncSettings::new("", "").every(Duration::from_secs(3600))
}

fn enrol_numbered<F: SyncFixture>(fixture: &F, count: usize) {
    for n in 0..count {
        fixture.enrol(&numbered(n));
    }
}

fn numbered(n: usize) -> String {
    format!("C02SYNC{n:05}")
}

fn listed_and_allowed(inventory: &Inventory, key: &str) -> bool {
    matches!(inventory.lookup(key), FromIndex::Decided(d) if d.is_allowed())
}

/// A device enrolled after the sync is looked up live, with one request; once the next
/// sync lists it, neither it nor a device synced before costs a request.
pub async fn a_device_enrolled_after_the_sync_is_looked_up_live<F: SyncFixture>(fixture: &F) {
    fixture.enrol("C02SYNCFIRST");
    let synced = fixture.synced();
    sync_ok(fixture, &synced).await;
    fixture.enrol("C02SYNCLATER");
    let later = fixture.request("C02SYNCLATER");
    assert_eq!(
        fixture
            .inventory(&synced)
            .lookup(&fixture.key("C02SYNCLATER")),
        FromIndex::NotListed
    );
    let before = fixture.requests();
    assert!(answer(&synced, &later).await.is_allowed());
    assert_eq!(fixture.requests(), before + 1, "one live lookup");
    // The next sync lists it: no more calls for it.
    sync_ok(fixture, &synced).await;
    fixture.clear_cache(&synced);
    let before = fixture.requests();
    assert!(answer(&synced, &later).await.is_allowed());
    let first = fixture.request("C02SYNCFIRST");
    assert!(answer(&synced, &first).await.is_allowed());
    assert_eq!(fixture.requests(), before);
}

/// A sync whose second page is refused (403) keeps the index of the sync before, reports
/// the failure, and readiness still holds, without a request, while the MDM is down.
/// Returns the sync's error.
pub async fn a_sync_failing_midway_keeps_the_previous_inventory<F: SyncFixture>(
    fixture: &F,
) -> ProviderError {
    let count = fixture.page_size() + fixture.page_size() / 2;
    enrol_numbered(fixture, count);
    let synced = fixture.synced();
    sync_ok(fixture, &synced).await;
    // The first page is served, the second refused: nothing of the first replaces the index.
    fixture.enrol("C02SYNCNEW00");
    fixture.fail_page_after(1, PageFault::Forbidden);
    let Err(err) = fixture.sync(&synced).await else {
        panic!("a sync refused midway succeeded");
    };
    for name in ["403"].iter().chain(fixture.refused_sync_names()) {
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    let inventory = fixture.inventory(&synced);
    let last = numbered(count - 1);
    assert!(listed_and_allowed(inventory, &fixture.key(&last)), "{last}");
    assert_eq!(
        inventory.lookup(&fixture.key("C02SYNCNEW00")),
        FromIndex::NotListed
    );
    let report = synced.report();
    assert!(report.iter().any(|line| line.contains("403")), "{report:?}");
    // Readiness still holds without a request: the index is younger than the maximum age.
    fixture.go_down();
    let before = fixture.requests();
    if let Err(not_ready) = synced.check_ready().await {
        panic!("not ready with a fresh index: {not_ready}");
    }
    assert_eq!(fixture.requests(), before, "readiness asked the MDM");
    err
}

/// A page answered 429 is sent again once `Retry-After` has passed, and the sync
/// completes. Returns the sync's report.
pub async fn a_rate_limited_page_is_retried_after_retry_after<F: SyncFixture>(
    fixture: &F,
) -> SyncReport {
    let count = fixture.page_size() + 1;
    enrol_numbered(fixture, count);
    let synced = fixture.synced();
    fixture.fail_page_after(
        1,
        PageFault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let report = sync_ok(fixture, &synced).await;
    // Two pages, the second twice.
    assert_eq!(report.devices, count);
    assert_eq!(report.calls, 3 + fixture.other_sync_calls());
    assert!(report.duration >= Duration::from_secs(1), "{report:?}");
    assert!(listed_and_allowed(
        fixture.inventory(&synced),
        &fixture.key(&numbered(count - 1))
    ));
    report
}

/// `<PROVIDER>_SYNC_INTERVAL` and `<PROVIDER>_SYNC_MAX_AGE` come from the environment: the
/// `check-config` summary and the provider's report show them, sync is off (and said so)
/// without them, and invalid values are refused by name. Returns the provider built with
/// sync every 900 s, for the provider's own checks.
///
/// Call it on a current-thread runtime: building the provider spawns its sync, which must
/// not run before the report of a provider that has not synced yet is read.
pub async fn sync_settings_come_from_the_environment<F: SyncFixture>(fixture: &F) -> BuiltProvider {
    let kind = fixture.kind();
    let variable = |suffix: &str| {
        kind.settings()
            .iter()
            .map(|setting| setting.name)
            .find(|name| name.ends_with(suffix))
            .unwrap_or_else(|| panic!("{} has no *{suffix} setting", kind.name()))
    };
    let (interval, max_age) = (variable("_SYNC_INTERVAL"), variable("_SYNC_MAX_AGE"));
    let configure = |extra: &[(&str, &str)]| {
        let mut vars = fixture.env_vars();
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        kind.configure(&|name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    };

    let setup = match configure(&[(interval, "900")]) {
        Ok(setup) => setup,
        Err(problems) => panic!("{interval}=900 is refused: {problems}"),
    };
    let summary = setup.summary();
    assert!(
        summary.iter().any(|line| line.starts_with(
            "inventory sync: every 900 s, answering from an index at most 2700 s old"
        )),
        "{summary:?}"
    );
    let built = build(setup.as_ref());
    let report = built.provider().report().join("\n");
    assert!(report.contains("inventory sync: every 900 s"), "{report}");
    assert!(report.contains("inventory index: none yet"), "{report}");

    // Off by default, and then the report says nothing of it.
    let Ok(off) = configure(&[]) else {
        panic!("the fake's own variables are refused");
    };
    let line = format!("inventory sync: off ({interval}=0), every device is looked up live");
    assert!(off.summary().contains(&line), "{:?}", off.summary());
    let report = build(off.as_ref()).provider().report().join("\n");
    assert!(!report.contains("inventory"), "{report}");

    for (extra, refused, value) in [
        (&[(interval, "60")][..], interval, "60"),
        (&[(interval, "900"), (max_age, "600")][..], max_age, "600"),
    ] {
        let Err(problems) = configure(extra) else {
            panic!("{refused}={value} is accepted");
        };
        assert_eq!(problems.problems()[0].variable, refused, "{problems}");
        let text = problems.to_string();
        let named = format!("{refused}=\"{value}\" is invalid");
        assert!(text.starts_with(&named), "{text}");
    }
    built
}

fn build(setup: &dyn posture_core::ProviderSetup) -> BuiltProvider {
    match setup.build() {
        Ok(built) => built,
        Err(err) => panic!("cannot build the provider: {err}"),
    }
}

async fn sync_ok<F: SyncFixture>(fixture: &F, provider: &F::Provider) -> SyncReport {
    match fixture.sync(provider).await {
        Ok(report) => report,
        Err(err) => panic!("the sync failed: {err}"),
    }
}
