//! How a provider crate describes itself to a server: its `PROVIDER` name, its settings, how
//! to build it, and the optional hooks a server uses for reloads, metrics, `check-config`
//! and readiness.
//!
//! A server holds a list of [`ProviderKind`]s; adding a provider is a new crate exporting
//! one, and one more entry in that list. The server never names a provider's type.
//!
//! A provider whose validated configuration is a type of its own declares itself in a few
//! lines: the configuration implements [`ProviderSetup`] (what `check-config` shows and how to
//! build the provider), and the crate exports a [`Kind`] naming it with its `PROVIDER` name,
//! its settings and the function that reads it from the variables. Hand-written
//! [`ProviderKind`]s work too.
//!
//! ```
//! use std::sync::Arc;
//! use posture_core::{
//!     BuildError, BuiltProvider, Decision, DenyCode, Kind, LookupRequest, PostureProvider,
//!     ProviderError, ProviderKind, ProviderSetup,
//! };
//! use posture_settings::{ConfigProblems, Reader, Setting};
//!
//! const ALLOW: Setting = Setting::list("ONLY_ALLOW", "the identifiers to allow").required();
//!
//! /// `PROVIDER=only`, for a server's list of providers.
//! static KIND: Kind<OnlyConfig> = Kind::new("only", &[ALLOW], OnlyConfig::from_vars);
//!
//! #[derive(Debug)]
//! struct Only(Vec<String>);
//!
//! impl PostureProvider for Only {
//!     fn name(&self) -> &str { "only" }
//!     async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
//!         Ok(if self.0.iter().any(|id| id == request.identifier()) {
//!             Decision::allow()
//!         } else {
//!             Decision::deny(DenyCode::DEVICE_NOT_FOUND, "not listed in ONLY_ALLOW")
//!         })
//!     }
//! }
//!
//! /// `ONLY_ALLOW`, validated.
//! #[derive(Debug)]
//! struct OnlyConfig(Vec<String>);
//!
//! impl OnlyConfig {
//!     fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigProblems> {
//!         let mut reader = Reader::new(get);
//!         let ids = reader.list(&ALLOW);
//!         reader.finish()?;
//!         Ok(Self(ids))
//!     }
//! }
//!
//! impl ProviderSetup for OnlyConfig {
//!     fn summary(&self) -> Vec<String> { vec![format!("ONLY_ALLOW={}", self.0.join(","))] }
//!     fn build(&self) -> Result<BuiltProvider, BuildError> {
//!         Ok(BuiltProvider::new(Arc::new(Only(self.0.clone()))))
//!     }
//! }
//!
//! let get = |name: &str| (name == "ONLY_ALLOW").then(|| "C02XL0GJJG5J".to_owned());
//! let setup = KIND.configure(&get).unwrap();
//! assert_eq!(setup.summary(), ["ONLY_ALLOW=C02XL0GJJG5J"]);
//! let built = setup.build().unwrap();
//! assert_eq!(built.provider().name(), "only");
//! assert!(KIND.declaration_mismatches(&[], &[("ONLY_ALLOW", "C02XL0GJJG5J")]).is_empty());
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use posture_settings::{ConfigProblems, Setting};

use crate::{BoxFuture, DeviceMode, DynPostureProvider, FileVersion, ProviderError};

/// A provider as a server sees it before configuration: a name for `PROVIDER`, the
/// variables it reads, and how to turn them into a [`ProviderSetup`].
///
/// A provider crate exports one as a `static` (`posture_file::KIND`, `posture_jamf::KIND`,
/// …), usually a [`Kind`] over its configuration type.
pub trait ProviderKind: Send + Sync + fmt::Debug {
    /// The name `PROVIDER` uses, lower case, such as `jamf`. Unique among a server's kinds.
    fn name(&self) -> &'static str;

    /// Every variable the provider reads, declared once. Variables the server reads itself
    /// (such as `TIMEOUT`) may be listed too, so the provider's documentation is complete.
    fn settings(&self) -> &'static [Setting];

    /// Validates the variables (`get` returns a variable's value, `None` when unset),
    /// reporting every problem, without network access or loading data.
    fn configure(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn ProviderSetup>, ConfigProblems>;
}

/// How a [`Kind`] reads its configuration: from the variables (`get` returns a variable's
/// value, `None` when unset), reporting every problem, without network access or loading
/// data. Usually the configuration's own `from_env`.
pub type Configure<C> = fn(&dyn Fn(&str) -> Option<String>) -> Result<C, ConfigProblems>;

/// The [`ProviderKind`] of a provider whose configuration `C` builds the provider
/// ([`ProviderSetup`]): its `PROVIDER` name, its declared settings and how to read `C` from
/// them are all a crate adds.
///
/// ```
/// use posture_core::{BuildError, BuiltProvider, Kind, ProviderKind, ProviderSetup};
/// use posture_settings::ConfigProblems;
///
/// #[derive(Debug)]
/// struct Nothing;
///
/// impl ProviderSetup for Nothing {
///     fn summary(&self) -> Vec<String> { vec!["nothing to configure".to_owned()] }
///     fn build(&self) -> Result<BuiltProvider, BuildError> {
///         Err(BuildError::new("the nothing provider", "it only shows the adapter"))
///     }
/// }
///
/// static KIND: Kind<Nothing> = Kind::new("nothing", &[], |_| Ok(Nothing));
/// assert_eq!(KIND.name(), "nothing");
/// assert_eq!(KIND.configure(&|_| None)?.summary(), ["nothing to configure"]);
/// # Ok::<(), ConfigProblems>(())
/// ```
#[non_exhaustive]
pub struct Kind<C> {
    name: &'static str,
    settings: &'static [Setting],
    configure: Configure<C>,
}

impl<C> Kind<C> {
    /// The kind named `name` in `PROVIDER` (lower case, unique among a server's kinds),
    /// reading the variables declared in `settings` with `configure`.
    pub const fn new(
        name: &'static str,
        settings: &'static [Setting],
        configure: Configure<C>,
    ) -> Self {
        Self {
            name,
            settings,
            configure,
        }
    }

    /// Everything on which `configure` and the declared settings disagree
    /// ([`posture_settings::declaration_mismatches`]): for the test every provider has,
    /// asserting it is empty. `base` sets the variables a valid configuration needs;
    /// `shared` names variables read but declared elsewhere, such as the server's `TIMEOUT`.
    pub fn declaration_mismatches(&self, shared: &[&str], base: &[(&str, &str)]) -> Vec<String> {
        posture_settings::declaration_mismatches(self.settings, shared, base, |get| {
            (self.configure)(get).map(drop)
        })
    }
}

impl<C> fmt::Debug for Kind<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kind").field("name", &self.name).finish()
    }
}

impl<C: ProviderSetup + 'static> ProviderKind for Kind<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn settings(&self) -> &'static [Setting] {
        self.settings
    }

    fn configure(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn ProviderSetup>, ConfigProblems> {
        (self.configure)(get).map(|config| Box::new(config) as Box<dyn ProviderSetup>)
    }
}

/// A validated provider configuration, not yet built.
pub trait ProviderSetup: Send + Sync + fmt::Debug {
    /// Lines for `check-config` with what the declared variables alone don't show (a
    /// certificate's thumbprint, the effective defaults of lists); secrets never. A server
    /// prints the declared variables as set before these
    /// ([`posture_settings::summary`]).
    fn summary(&self) -> Vec<String>;

    /// Settings that work but are probably not what the operator wants.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// Files the provider reads at build time, which a server stamps before building, so
    /// a change made meanwhile is reloaded ([`BuiltProvider::reloadable`]).
    fn watched_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Builds the provider. No network access happens here; data files are loaded.
    /// Readiness is [`DynPostureProvider::check_ready_boxed`].
    fn build(&self) -> Result<BuiltProvider, BuildError>;
}

/// Why a provider could not be built, such as a device file that does not load.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
#[non_exhaustive]
pub struct BuildError {
    /// What was being built, naming the variable where one is at fault, such as
    /// `FILE_PATH=/etc/devices.json: cannot load the device file`.
    pub context: String,
    /// The cause.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl BuildError {
    /// A failure to build, with what was being built.
    pub fn new(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// A built provider, with the hooks a server uses beyond lookups.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuiltProvider {
    provider: Arc<dyn DynPostureProvider>,
    reloadable: Option<Arc<dyn ReloadableList>>,
    counters: Option<Arc<dyn ProviderCounters>>,
    refresher: Option<Arc<dyn DeviceRefresher>>,
}

impl BuiltProvider {
    /// A provider with no reload or counter hooks.
    pub fn new(provider: Arc<dyn DynPostureProvider>) -> Self {
        Self {
            provider,
            reloadable: None,
            counters: None,
            refresher: None,
        }
    }

    /// Adds the hook that reloads the provider's list when its file changes.
    pub fn with_reloadable(mut self, list: Arc<dyn ReloadableList>) -> Self {
        self.reloadable = Some(list);
        self
    }

    /// Adds the provider's counters, read by a server's metrics at scrape time.
    pub fn with_counters(mut self, counters: Arc<dyn ProviderCounters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Adds the hook that reads one device again when the MDM says it changed (a provider
    /// answering from a synced inventory).
    pub fn with_refresher(mut self, refresher: Arc<dyn DeviceRefresher>) -> Self {
        self.refresher = Some(refresher);
        self
    }

    /// The provider lookups go to.
    pub fn provider(&self) -> &Arc<dyn DynPostureProvider> {
        &self.provider
    }

    /// The reload hook, for a provider serving a list read from a file.
    pub fn reloadable(&self) -> Option<&Arc<dyn ReloadableList>> {
        self.reloadable.as_ref()
    }

    /// The provider's counters, when it keeps any.
    pub fn counters(&self) -> Option<&Arc<dyn ProviderCounters>> {
        self.counters.as_ref()
    }

    /// The refresh hook, for a provider that answers from a synced inventory and can read
    /// one device again on a change notification.
    pub fn refresher(&self) -> Option<&Arc<dyn DeviceRefresher>> {
        self.refresher.as_ref()
    }
}

/// A provider answering from a synced inventory, which reads one device again when its MDM
/// says the device changed (a Jamf Pro webhook, say), so the next lookup answers what the
/// MDM holds now rather than what the last sync read.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use posture_core::{BoxFuture, DeviceMode, DeviceRefresher, ProviderError};
///
/// /// Remembers what it was asked to read again.
/// #[derive(Debug, Default)]
/// struct Noted(Mutex<Vec<String>>);
///
/// impl DeviceRefresher for Noted {
///     fn refresh<'a>(
///         &'a self,
///         identifier: &'a str,
///         family: DeviceMode,
///     ) -> BoxFuture<'a, Result<(), ProviderError>> {
///         Box::pin(async move {
///             self.0.lock().unwrap().push(format!("{family}/{identifier}"));
///             Ok(())
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ProviderError> {
/// let noted = Arc::new(Noted::default());
/// let hook: Arc<dyn DeviceRefresher> = noted.clone();
/// hook.refresh("C02XL0GJJG5J", DeviceMode::Computer).await?;
/// assert_eq!(*noted.0.lock().unwrap(), ["computer/C02XL0GJJG5J"]);
/// # Ok(())
/// # }
/// ```
pub trait DeviceRefresher: Send + Sync + fmt::Debug {
    /// Reads the device `identifier` from the MDM now, past every cache, and stores its
    /// decision in the provider's synced inventory, so the next lookup answers it.
    /// `family` is the device family the notification named ([`DeviceMode::Computer`] or
    /// [`DeviceMode::MobileDevice`]); [`DeviceMode::Unspecified`] or [`DeviceMode::Auto`]
    /// reads every family the provider knows. An identifier the provider can't look up is
    /// refused with a permanent error, before any call.
    fn refresh<'a>(
        &'a self,
        identifier: &'a str,
        family: DeviceMode,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
}

/// A provider serving a list read from a file, which a server reloads when the file
/// changes (on SIGHUP, or when polling finds a new [`FileVersion`]).
pub trait ReloadableList: Send + Sync + fmt::Debug {
    /// The file the list comes from; `None` when it was not read from a file.
    fn path(&self) -> Option<&Path>;

    /// The version of the file the served list was read from.
    fn version(&self) -> Option<FileVersion>;

    /// Reads the file again and swaps the list in whole, or keeps the old one on failure.
    /// With `expected`, the file must still be at that version, and must not change while it
    /// is read. Returns the new list's length.
    fn reload(&self, expected: Option<FileVersion>) -> Result<usize, ReloadFailure>;

    /// How many entries the served list holds.
    fn len(&self) -> usize;

    /// When the served list was loaded.
    fn loaded_at(&self) -> std::time::SystemTime;

    /// Where the list comes from, for a reload summary, such as
    /// `FILE_PATH=/etc/devices.json FILE_TYPE=json`.
    fn describe(&self) -> String {
        self.path()
            .map_or_else(|| "(no file)".to_owned(), |path| path.display().to_string())
    }

    /// Whether the served list is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a reload kept the old list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadFailure {
    /// The file changed while it was read, or is not at the expected version: not a
    /// failure of the file, the reload is retried once it settles.
    #[error(transparent)]
    Changed(Box<dyn std::error::Error + Send + Sync>),
    /// The new list would drop more entries than allowed.
    #[error(transparent)]
    Shrunk(Box<dyn std::error::Error + Send + Sync>),
    /// The file could not be read or is invalid.
    #[error(transparent)]
    Invalid(Box<dyn std::error::Error + Send + Sync>),
}

/// Counters a provider keeps (requests sent, tokens fetched, cache hits) and gauges it reads
/// (a quota left), which a server exports as metrics. Read at scrape time, so keep it cheap.
pub trait ProviderCounters: Send + Sync + fmt::Debug {
    /// The counters' current values.
    fn samples(&self) -> Vec<CounterSample>;
}

/// One counter's value. A server names the metric after `name` (for example
/// `step_posture_provider_requests_total`) and labels it with the provider's name, then
/// with `labels`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct CounterSample {
    /// The metric name without prefix or `_total`, such as `provider_requests`; the same
    /// name means the same metric across providers, so reuse the common ones
    /// ([`CounterSample::REQUESTS`] and the others) where they fit.
    pub name: &'static str,
    /// One line saying what is counted.
    pub help: &'static str,
    /// Labels besides `provider`, such as `("cache", "decisions")`.
    pub labels: Vec<(&'static str, String)>,
    /// The count since start, or for a gauge the current value.
    pub value: u64,
    /// Whether the value can go down (a quota left, a queue length) rather than count up.
    pub gauge: bool,
}

impl CounterSample {
    /// Authenticated requests sent to the backend, retries included.
    pub const REQUESTS: (&'static str, &'static str) = (
        "provider_requests",
        "Authenticated requests sent to the MDM, retries included.",
    );
    /// Access-token requests (the first token and renewals).
    pub const TOKEN_REQUESTS: (&'static str, &'static str) = (
        "provider_token_requests",
        "API token requests (first token and renewals).",
    );
    /// Access-token requests that failed.
    pub const TOKEN_FAILURES: (&'static str, &'static str) =
        ("provider_token_failures", "API token requests that failed.");
    /// Lookups answered from a cache (label `cache`).
    pub const CACHE_HITS: (&'static str, &'static str) = (
        "provider_cache_hits",
        "Lookups answered from the provider's cache.",
    );
    /// Lookups a cache could not answer (label `cache`).
    pub const CACHE_MISSES: (&'static str, &'static str) = (
        "provider_cache_misses",
        "Lookups the provider's cache could not answer, each one a request to the MDM.",
    );

    /// A sample of the counter `(name, help)` (one of the associated constants, or your
    /// own) with no labels besides `provider`.
    ///
    /// ```
    /// use posture_core::CounterSample;
    /// let sample = CounterSample::new(CounterSample::REQUESTS, 7).label("route", "computers");
    /// assert_eq!(sample.name, "provider_requests");
    /// assert_eq!(sample.labels, [("route", "computers".to_owned())]);
    /// ```
    pub fn new((name, help): (&'static str, &'static str), value: u64) -> Self {
        Self {
            name,
            help,
            labels: Vec::new(),
            value,
            gauge: false,
        }
    }

    /// A sample of a gauge `(name, help)`: a current value that can go down, such as a quota
    /// left, exported without `_total`.
    ///
    /// ```
    /// use posture_core::CounterSample;
    /// let left = CounterSample::gauge(("provider_hourly_quota_left", "Requests left this hour."), 9_000);
    /// assert!(left.gauge);
    /// ```
    pub fn gauge((name, help): (&'static str, &'static str), value: u64) -> Self {
        Self {
            gauge: true,
            ..Self::new((name, help), value)
        }
    }

    /// Adds a label.
    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.labels.push((name, value.into()));
        self
    }
}
