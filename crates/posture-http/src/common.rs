//! What the settings of every HTTP-based provider share, declared by the provider and read
//! once here: `TIMEOUT`, the two cache TTLs, `*_MAX_RETRY_AFTER` and `*_CA_PATH`; and the
//! readiness probe that names the provider's URL setting.

use std::hash::Hash;
use std::time::Duration;

use posture_core::{CounterSample, Decision, ProviderError};
use posture_settings::{ConfigProblem, ConfigProblems, Reader, Setting};

use crate::{
    Backoff, CaBundle, CacheConfig, CacheStats, ClientError, ClientOptions,
    DEFAULT_MAX_RETRY_AFTER, LookupCache, env,
};

/// The declarations of a provider's common settings (its own names, such as
/// `MOSYLE_CACHE_TTL`).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CommonNames {
    /// `TIMEOUT`: seconds a whole lookup may take.
    pub timeout: &'static Setting,
    /// `*_CACHE_TTL`.
    pub cache_ttl: &'static Setting,
    /// `*_NEGATIVE_CACHE_TTL`.
    pub negative_cache_ttl: &'static Setting,
    /// `*_MAX_RETRY_AFTER`.
    pub max_retry_after: &'static Setting,
    /// `*_CA_PATH`.
    pub ca_path: &'static Setting,
}

impl CommonNames {
    /// The five declarations, in that order.
    pub const fn new(
        timeout: &'static Setting,
        cache_ttl: &'static Setting,
        negative_cache_ttl: &'static Setting,
        max_retry_after: &'static Setting,
        ca_path: &'static Setting,
    ) -> Self {
        Self {
            timeout,
            cache_ttl,
            negative_cache_ttl,
            max_retry_after,
            ca_path,
        }
    }
}

impl CommonNames {
    /// The server's [`TIMEOUT`](crate::env::TIMEOUT) and a provider's four declarations.
    ///
    /// ```
    /// use posture_http::{CommonNames, cache_ttl_setting, max_retry_after_setting, negative_cache_ttl_setting};
    /// use posture_settings::Setting;
    /// const TTL: Setting = cache_ttl_setting("ACME_CACHE_TTL", "allow TTL");
    /// const NEG: Setting = negative_cache_ttl_setting("ACME_NEGATIVE_CACHE_TTL", "deny TTL");
    /// const RETRY: Setting = max_retry_after_setting("ACME_MAX_RETRY_AFTER", "longest wait");
    /// const CA: Setting = Setting::path("ACME_CA_PATH", "extra CAs");
    /// const NAMES: CommonNames = CommonNames::of(&TTL, &NEG, &RETRY, &CA);
    /// assert_eq!(NAMES.timeout.name, "TIMEOUT");
    /// ```
    pub const fn of(
        cache_ttl: &'static Setting,
        negative_cache_ttl: &'static Setting,
        max_retry_after: &'static Setting,
        ca_path: &'static Setting,
    ) -> Self {
        Self::new(
            &env::TIMEOUT,
            cache_ttl,
            negative_cache_ttl,
            max_retry_after,
            ca_path,
        )
    }
}

/// The values of a provider's common settings.
///
/// ```
/// use std::time::Duration;
/// use posture_http::{CommonNames, CommonSettings};
/// use posture_settings::{Reader, Setting};
///
/// const TIMEOUT: Setting = Setting::seconds("TIMEOUT", 4, 1, 60, "lookup time");
/// const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 86_400, "allow TTL");
/// const NEG: Setting = Setting::seconds("ACME_NEGATIVE_CACHE_TTL", 10, 0, 86_400, "deny TTL");
/// const RETRY: Setting = Setting::seconds("ACME_MAX_RETRY_AFTER", 60, 1, 3600, "longest wait");
/// const CA: Setting = Setting::path("ACME_CA_PATH", "extra CAs");
/// const NAMES: CommonNames = CommonNames::new(&TIMEOUT, &TTL, &NEG, &RETRY, &CA);
///
/// let get = |name: &str| (name == "ACME_CACHE_TTL").then(|| "0".to_owned());
/// let mut reader = Reader::new(&get);
/// let common = CommonSettings::read(&mut reader, NAMES).unwrap();
/// assert_eq!(common.cache_ttl(), Duration::ZERO);
/// assert_eq!(common.timeout(), Duration::from_secs(4));
/// assert!(common.clone().with_timeout(Duration::ZERO).is_err());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CommonSettings {
    names: CommonNames,
    timeout: Duration,
    cache_ttl: Duration,
    negative_cache_ttl: Duration,
    cache_capacity: u64,
    max_retry_after: Duration,
    extra_roots: CaBundle,
}

impl CommonSettings {
    /// Every declared default, a cache of 10 000 answers and no extra CA.
    pub fn defaults(names: CommonNames) -> Self {
        let default = |setting: &Setting| {
            setting
                .default_text()
                .and_then(|text| text.parse().ok())
                .map_or(Duration::ZERO, Duration::from_secs)
        };
        Self {
            timeout: default(names.timeout),
            cache_ttl: default(names.cache_ttl),
            negative_cache_ttl: default(names.negative_cache_ttl),
            cache_capacity: 10_000,
            max_retry_after: match default(names.max_retry_after) {
                Duration::ZERO => DEFAULT_MAX_RETRY_AFTER,
                declared => declared,
            },
            extra_roots: CaBundle::empty(),
            names,
        }
    }

    /// Reads the five settings, keeping problems in `reader`; `None` when one was refused.
    pub fn read(reader: &mut Reader<'_>, names: CommonNames) -> Option<Self> {
        let timeout = reader.seconds(names.timeout);
        let cache_ttl = reader.seconds(names.cache_ttl);
        let negative_cache_ttl = reader.seconds(names.negative_cache_ttl);
        let max_retry_after = reader.seconds(names.max_retry_after);
        let extra_roots = env::read_ca_bundle(reader, names.ca_path);
        Some(Self {
            timeout: timeout?,
            cache_ttl: cache_ttl?,
            negative_cache_ttl: negative_cache_ttl?,
            max_retry_after: max_retry_after?,
            extra_roots: extra_roots?,
            ..Self::defaults(names)
        })
    }

    /// Sets `TIMEOUT`; fails outside its declared bounds.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigProblems> {
        self.timeout = in_bounds(self.names.timeout, timeout)?;
        Ok(self)
    }

    /// Sets `*_MAX_RETRY_AFTER`; fails outside its declared bounds.
    pub fn with_max_retry_after(mut self, delay: Duration) -> Result<Self, ConfigProblems> {
        self.max_retry_after = in_bounds(self.names.max_retry_after, delay)?;
        Ok(self)
    }

    /// Sets `*_CACHE_TTL`; zero disables.
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Sets `*_NEGATIVE_CACHE_TTL`; zero disables.
    #[must_use]
    pub fn with_negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_cache_ttl = ttl;
        self
    }

    /// Sets how many answers the cache holds at most.
    #[must_use]
    pub fn with_cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Trusts these CA certificates besides the Mozilla roots.
    #[must_use]
    pub fn with_extra_roots(mut self, roots: CaBundle) -> Self {
        self.extra_roots = roots;
        self
    }

    /// `TIMEOUT`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `*_CACHE_TTL`.
    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    /// `*_NEGATIVE_CACHE_TTL`.
    pub fn negative_cache_ttl(&self) -> Duration {
        self.negative_cache_ttl
    }

    /// The most answers the cache holds.
    pub fn cache_capacity(&self) -> u64 {
        self.cache_capacity
    }

    /// `*_MAX_RETRY_AFTER`.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// `*_CA_PATH`, read.
    pub fn extra_roots(&self) -> &CaBundle {
        &self.extra_roots
    }

    /// The cache TTLs and `*_MAX_RETRY_AFTER` as a `check-config` summary line names them,
    /// such as `ACME_CACHE_TTL=60 s ACME_NEGATIVE_CACHE_TTL=10 s ACME_MAX_RETRY_AFTER=60 s`.
    pub fn summary(&self) -> String {
        format!(
            "{}={} s {}={} s {}={} s",
            self.names.cache_ttl.name,
            self.cache_ttl.as_secs(),
            self.names.negative_cache_ttl.name,
            self.negative_cache_ttl.as_secs(),
            self.names.max_retry_after.name,
            self.max_retry_after.as_secs()
        )
    }

    /// The provider's HTTP client: `TIMEOUT`, the extra CA certificates, `user_agent`.
    pub fn client(&self, user_agent: &str) -> Result<crate::HttpClient, ClientError> {
        ClientOptions::for_provider(self.timeout, &self.extra_roots, user_agent)
    }

    /// A decision cache with the two TTLs and the capacity.
    pub fn decision_cache<K>(&self) -> LookupCache<K, Decision>
    where
        K: Hash + Eq + Send + Sync + 'static,
    {
        LookupCache::new(self.cache_config())
    }

    /// The provider's `Retry-After` gate, capped at `*_MAX_RETRY_AFTER`.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.max_retry_after)
    }

    /// The decision cache's configuration.
    pub fn cache_config(&self) -> CacheConfig {
        CacheConfig::new(self.cache_ttl, self.negative_cache_ttl)
            .with_max_entries(self.cache_capacity)
    }

    /// The `Retry-After` of `err`, at most `*_MAX_RETRY_AFTER`: the wait a caller is told
    /// matches the one the provider's [`Backoff`](crate::Backoff) keeps.
    pub fn cap_retry_after(&self, err: ProviderError) -> ProviderError {
        match err.retry_after() {
            Some(delay) if delay > self.max_retry_after => {
                err.with_retry_after(self.max_retry_after)
            }
            _ => err,
        }
    }

    /// Checks the four durations against their declarations, then `more` (a provider's own
    /// bounded values), so that settings built in code meet the bounds a variable would,
    /// with the same problems. `Ok` when every check passed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use posture_http::{CommonNames, CommonSettings};
    /// # use posture_settings::{ConfigProblem, Setting};
    /// # const TIMEOUT: Setting = Setting::seconds("TIMEOUT", 4, 1, 60, "lookup time");
    /// # const TTL: Setting = posture_http::cache_ttl_setting("ACME_CACHE_TTL", "allow TTL");
    /// # const NEG: Setting = posture_http::negative_cache_ttl_setting("ACME_NEGATIVE_CACHE_TTL", "deny TTL");
    /// # const RETRY: Setting = posture_http::max_retry_after_setting("ACME_MAX_RETRY_AFTER", "longest wait");
    /// # const CA: Setting = Setting::path("ACME_CA_PATH", "extra CAs");
    /// let common = CommonSettings::defaults(CommonNames::new(&TIMEOUT, &TTL, &NEG, &RETRY, &CA));
    /// assert!(common.check_bounds([]).is_ok());
    /// let long = common.with_cache_ttl(Duration::from_secs(86_401));
    /// let rate = Err(ConfigProblem::invalid("ACME_RATE", "0", "1 to 50"));
    /// let problems = long.check_bounds([rate]).unwrap_err();
    /// assert_eq!(problems.problems()[0].variable, "ACME_CACHE_TTL");
    /// assert_eq!(problems.problems()[1].variable, "ACME_RATE");
    /// ```
    pub fn check_bounds(
        &self,
        more: impl IntoIterator<Item = Result<(), ConfigProblem>>,
    ) -> Result<(), ConfigProblems> {
        let names = &self.names;
        ConfigProblems::from_checks(
            [
                (names.timeout, self.timeout),
                (names.cache_ttl, self.cache_ttl),
                (names.negative_cache_ttl, self.negative_cache_ttl),
                (names.max_retry_after, self.max_retry_after),
            ]
            .into_iter()
            .map(|(setting, value)| setting.check_duration(value).map(drop))
            .chain(more),
        )
    }
}

/// A provider's `*_CACHE_TTL` declaration: seconds an allowed answer is reused, 60 by
/// default, 0 (off) to a day; `doc` says what is cached.
///
/// ```
/// const TTL: posture_settings::Setting = posture_http::cache_ttl_setting("ACME_CACHE_TTL", "allow TTL");
/// assert_eq!(TTL.default_text().as_deref(), Some("60"));
/// ```
pub const fn cache_ttl_setting(name: &'static str, doc: &'static str) -> Setting {
    Setting::seconds(name, 60, 0, MAX_CACHE_TTL_SECS, doc)
}

/// A provider's `*_NEGATIVE_CACHE_TTL` declaration: seconds a deny is reused, 10 by default,
/// 0 (off) to a day.
///
/// ```
/// const NEG: posture_settings::Setting =
///     posture_http::negative_cache_ttl_setting("ACME_NEGATIVE_CACHE_TTL", "deny TTL");
/// assert_eq!(NEG.default_text().as_deref(), Some("10"));
/// ```
pub const fn negative_cache_ttl_setting(name: &'static str, doc: &'static str) -> Setting {
    Setting::seconds(name, 10, 0, MAX_CACHE_TTL_SECS, doc)
}

/// A provider's `*_MAX_RETRY_AFTER` declaration: the longest `Retry-After` honoured,
/// [`DEFAULT_MAX_RETRY_AFTER`] by default, 1 s to [`MAX_RETRY_AFTER`](crate::MAX_RETRY_AFTER).
///
/// ```
/// const RETRY: posture_settings::Setting =
///     posture_http::max_retry_after_setting("ACME_MAX_RETRY_AFTER", "longest wait");
/// assert_eq!(RETRY.default_text().as_deref(), Some("60"));
/// ```
pub const fn max_retry_after_setting(name: &'static str, doc: &'static str) -> Setting {
    Setting::seconds(
        name,
        DEFAULT_MAX_RETRY_AFTER.as_secs(),
        1,
        crate::MAX_RETRY_AFTER.as_secs(),
        doc,
    )
}

/// The longest cache TTL a provider accepts, in seconds: one day.
pub const MAX_CACHE_TTL_SECS: u64 = 86_400;

/// The counters a provider with one decision cache exports on `/metrics`: cache hits and
/// misses (labelled `cache="decisions"`) and requests sent.
///
/// ```
/// let samples = posture_http::decision_counters(&posture_http::CacheStats::default(), 3);
/// assert_eq!(samples.len(), 3);
/// ```
pub fn decision_counters(decisions: &CacheStats, requests: u64) -> Vec<CounterSample> {
    let mut samples = crate::cache_counters(&[("decisions", decisions)]);
    samples.push(CounterSample::new(CounterSample::REQUESTS, requests));
    samples
}

/// A duration within a seconds setting's declared bounds, or the problem naming it.
fn in_bounds(setting: &Setting, value: Duration) -> Result<Duration, ConfigProblems> {
    setting.check_duration(value).map_err(ConfigProblems::one)
}

/// Gives a provider's configuration type, which keeps its [`CommonSettings`] in a field
/// named `common`, the methods that reach them: `common()` and `map_common(…)`; with
/// `setters`, also one setter and one getter a setting (`with_timeout`, `timeout`,
/// `with_cache_ttl`, `cache_ttl`, …), which delegate to [`CommonSettings`] and keep its
/// bounds and problems. The configuration's error type must be [`ConfigProblems`].
///
/// ```
/// use std::time::Duration;
/// use posture_http::{CommonNames, CommonSettings};
/// use posture_settings::Setting;
///
/// const TIMEOUT: Setting = Setting::seconds("TIMEOUT", 4, 1, 60, "lookup time");
/// const TTL: Setting = posture_http::cache_ttl_setting("ACME_CACHE_TTL", "allow TTL");
/// const NEG: Setting = posture_http::negative_cache_ttl_setting("ACME_NEGATIVE_CACHE_TTL", "deny TTL");
/// const RETRY: Setting = posture_http::max_retry_after_setting("ACME_MAX_RETRY_AFTER", "longest wait");
/// const CA: Setting = Setting::path("ACME_CA_PATH", "extra CAs");
///
/// /// An Acme provider's settings.
/// #[derive(Clone, Debug)]
/// pub struct AcmeConfig {
///     common: CommonSettings,
/// }
/// posture_http::common_settings_accessors!(AcmeConfig, setters);
///
/// let config = AcmeConfig {
///     common: CommonSettings::defaults(CommonNames::new(&TIMEOUT, &TTL, &NEG, &RETRY, &CA)),
/// };
/// let config = config.with_cache_ttl(Duration::ZERO).with_timeout(Duration::from_secs(2))?;
/// assert_eq!(config.cache_ttl(), Duration::ZERO);
/// assert_eq!(config.common().timeout(), Duration::from_secs(2));
/// assert!(config.with_max_retry_after(Duration::ZERO).is_err());
/// # Ok::<(), posture_settings::ConfigProblems>(())
/// ```
#[macro_export]
macro_rules! common_settings_accessors {
    ($config:ty) => {
        impl $config {
            /// Changes the common settings (`TIMEOUT`, the cache TTLs, `*_MAX_RETRY_AFTER`,
            /// `*_CA_PATH`).
            #[must_use]
            pub fn map_common(
                mut self,
                change: impl FnOnce($crate::CommonSettings) -> $crate::CommonSettings,
            ) -> Self {
                self.common = change(self.common);
                self
            }

            /// `TIMEOUT`, the cache TTLs, `*_MAX_RETRY_AFTER` and `*_CA_PATH`.
            pub fn common(&self) -> &$crate::CommonSettings {
                &self.common
            }
        }
    };
    ($config:ty, setters) => {
        $crate::common_settings_accessors!($config);

        impl $config {
            /// Sets how long one lookup may take, every call included (`TIMEOUT`). Fails
            /// outside 1–60 s.
            pub fn with_timeout(
                mut self,
                timeout: ::std::time::Duration,
            ) -> ::std::result::Result<Self, $crate::env::ConfigProblems> {
                self.common = self.common.with_timeout(timeout)?;
                Ok(self)
            }

            /// Sets the longest `Retry-After` honoured (`*_MAX_RETRY_AFTER`): when the MDM
            /// asks for a longer wait, one request probes after this long. Fails outside
            /// 1 s–1 h.
            pub fn with_max_retry_after(
                mut self,
                delay: ::std::time::Duration,
            ) -> ::std::result::Result<Self, $crate::env::ConfigProblems> {
                self.common = self.common.with_max_retry_after(delay)?;
                Ok(self)
            }

            /// Sets how long allowed answers are reused; zero disables.
            #[must_use]
            pub fn with_cache_ttl(self, ttl: ::std::time::Duration) -> Self {
                self.map_common(|common| common.with_cache_ttl(ttl))
            }

            /// Sets how long denies are reused; zero disables.
            #[must_use]
            pub fn with_negative_cache_ttl(self, ttl: ::std::time::Duration) -> Self {
                self.map_common(|common| common.with_negative_cache_ttl(ttl))
            }

            /// Sets how many answers the cache holds at most.
            #[must_use]
            pub fn with_cache_capacity(self, entries: u64) -> Self {
                self.map_common(|common| common.with_cache_capacity(entries))
            }

            /// Trusts these CA certificates in addition to the Mozilla roots.
            #[must_use]
            pub fn with_extra_roots(self, roots: $crate::CaBundle) -> Self {
                self.map_common(|common| common.with_extra_roots(roots))
            }

            /// `TIMEOUT`.
            pub fn timeout(&self) -> ::std::time::Duration {
                self.common.timeout()
            }

            /// `*_CACHE_TTL`.
            pub fn cache_ttl(&self) -> ::std::time::Duration {
                self.common.cache_ttl()
            }

            /// `*_NEGATIVE_CACHE_TTL`.
            pub fn negative_cache_ttl(&self) -> ::std::time::Duration {
                self.common.negative_cache_ttl()
            }

            /// The most answers the cache holds.
            pub fn cache_capacity(&self) -> u64 {
                self.common.cache_capacity()
            }

            /// `*_MAX_RETRY_AFTER`.
            pub fn max_retry_after(&self) -> ::std::time::Duration {
                self.common.max_retry_after()
            }

            /// `*_CA_PATH`, read.
            pub fn extra_roots(&self) -> &$crate::CaBundle {
                self.common.extra_roots()
            }
        }
    };
}

/// Gives a provider's configuration type, which keeps its [`SyncSettings`](crate::sync::SyncSettings)
/// in a field named `sync`, `with_sync(…)` and `sync()`: the setter refuses an interval or
/// maximum age that the declarations `$interval` and `$max_age` would, naming them. The
/// configuration's error type must be [`ConfigProblems`].
///
/// ```
/// use std::time::Duration;
/// use posture_http::sync::{SyncSettings, interval_setting, max_age_setting};
/// use posture_settings::Setting;
///
/// const INTERVAL: Setting = interval_setting("ACME_SYNC_INTERVAL");
/// const MAX_AGE: Setting = max_age_setting("ACME_SYNC_MAX_AGE");
///
/// /// An Acme provider's settings.
/// #[derive(Clone, Debug)]
/// pub struct AcmeConfig {
///     sync: SyncSettings,
/// }
/// posture_http::sync_settings_accessors!(AcmeConfig, INTERVAL, MAX_AGE);
///
/// let config = AcmeConfig { sync: SyncSettings::new(INTERVAL.name, MAX_AGE.name) };
/// let hourly = SyncSettings::new("", "").every(Duration::from_secs(3600));
/// let synced = config.clone().with_sync(hourly)?;
/// assert_eq!(synced.sync().oldest(), Duration::from_secs(3 * 3600));
/// let too_often = SyncSettings::new("", "").every(Duration::from_secs(10));
/// let err = config.with_sync(too_often).unwrap_err();
/// assert!(err.to_string().starts_with("ACME_SYNC_INTERVAL=\"10\" is invalid"));
/// # Ok::<(), posture_settings::ConfigProblems>(())
/// ```
#[macro_export]
macro_rules! sync_settings_accessors {
    ($config:ty, $interval:expr, $max_age:expr) => {
        impl $config {
            /// Syncs the whole inventory on `sync`'s interval and answers from it (see
            /// [`posture_http::sync`]). Fails for an interval or maximum age the
            /// `*_SYNC_INTERVAL` and `*_SYNC_MAX_AGE` variables would refuse.
            pub fn with_sync(
                mut self,
                sync: $crate::sync::SyncSettings,
            ) -> ::std::result::Result<Self, $crate::env::ConfigProblems> {
                self.sync = sync
                    .checked_as(&$interval, &$max_age)
                    .map_err($crate::env::ConfigProblems::one)?;
                Ok(self)
            }

            /// The inventory sync settings (`*_SYNC_INTERVAL`, `*_SYNC_MAX_AGE`).
            pub fn sync(&self) -> &$crate::sync::SyncSettings {
                &self.sync
            }
        }
    };
}

/// Declares a provider's variables and its `SETTINGS`: the provider's `own` declarations,
/// written as for [`posture_settings::declare!`], then the variables every HTTP provider reads
/// under its own prefix, declared here once for all of them: `CACHE_TTL`,
/// `NEGATIVE_CACHE_TTL`, `MAX_RETRY_AFTER` and `CA_PATH` (with `COMMON`, their
/// [`CommonNames`]), and unless `sync: false`, `SYNC_INTERVAL` and `SYNC_MAX_AGE` (inventory
/// sync). Each shared one is a `pub(crate) const` [`Setting`](posture_settings::Setting)
/// named `<PREFIX>_…`. `SETTINGS` lists the `own` settings first, in their order, then these.
///
/// ```
/// posture_http::shared_settings! {
///     prefix: "ACME",
///     service: "Acme MDM",
///     ca_path: "extra PEM CA certificates for an on-premises Acme server",
///     own: {
///         /// the Acme MDM URL
///         pub(crate) const URL = url("ACME_URL").required();
///         /// return device data as enrichment
///         pub(crate) const ENRICH = flag("ACME_ENRICH", true);
///     }
/// }
/// assert_eq!(URL.doc, "the Acme MDM URL");
/// assert_eq!(CACHE_TTL.name, "ACME_CACHE_TTL");
/// assert_eq!(MAX_RETRY_AFTER.doc, "the longest Retry-After from Acme MDM that is honoured");
/// assert_eq!(COMMON.ca_path.name, "ACME_CA_PATH");
/// let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
/// assert_eq!(names[..2], ["ACME_URL", "ACME_ENRICH"]);
/// assert_eq!(names.last(), Some(&"ACME_SYNC_MAX_AGE"));
/// ```
#[macro_export]
macro_rules! shared_settings {
    (
        prefix: $prefix:literal,
        service: $service:literal,
        ca_path: $ca_doc:literal,
        $(sync: $sync:ident,)?
        own: {$(
            #[doc = $doc:literal]
            $vis:vis const $name:ident = $constructor:ident($($arg:expr),* $(,)?)
                $(.$method:ident($($method_arg:expr),* $(,)?))*;
        )*} $(,)?
    ) => {
        $crate::env::declare! {$(
            #[doc = $doc]
            $vis const $name = $constructor($($arg),*) $(.$method($($method_arg),*))*;
        )*}
        $crate::shared_settings!(@sync $($sync)? ; $prefix, $service, $ca_doc, [$($name),*]);
    };
    (@sync false ; $prefix:literal, $service:literal, $ca_doc:literal, [$($own:ident),*]) => {
        $crate::shared_settings!(@common $prefix, $service, $ca_doc, [$($own),*], []);
    };
    (@sync ; $prefix:literal, $service:literal, $ca_doc:literal, [$($own:ident),*]) => {
        pub(crate) const SYNC_INTERVAL: $crate::env::Setting =
            $crate::sync::interval_setting(concat!($prefix, "_SYNC_INTERVAL"));
        pub(crate) const SYNC_MAX_AGE: $crate::env::Setting =
            $crate::sync::max_age_setting(concat!($prefix, "_SYNC_MAX_AGE"));
        $crate::shared_settings!(
            @common $prefix, $service, $ca_doc, [$($own),*], [SYNC_INTERVAL, SYNC_MAX_AGE]
        );
    };
    (
        @common $prefix:literal, $service:literal, $ca_doc:literal,
        [$($own:ident),*], [$($sync:ident),*]
    ) => {
        /// Every variable this provider reads (besides the server's `TIMEOUT`): its own, then
        /// the cache TTLs, the `Retry-After` cap, the CA path and, when it syncs, inventory
        /// sync.
        pub const SETTINGS: &[$crate::env::Setting] = &[
            $($own,)*
            CACHE_TTL,
            NEGATIVE_CACHE_TTL,
            MAX_RETRY_AFTER,
            CA_PATH,
            $($sync,)*
        ];
        pub(crate) const CACHE_TTL: $crate::env::Setting = $crate::cache_ttl_setting(
            concat!($prefix, "_CACHE_TTL"),
            "how long an allowed answer is cached",
        );
        pub(crate) const NEGATIVE_CACHE_TTL: $crate::env::Setting =
            $crate::negative_cache_ttl_setting(
                concat!($prefix, "_NEGATIVE_CACHE_TTL"),
                "how long a deny is cached",
            );
        pub(crate) const MAX_RETRY_AFTER: $crate::env::Setting = $crate::max_retry_after_setting(
            concat!($prefix, "_MAX_RETRY_AFTER"),
            concat!("the longest Retry-After from ", $service, " that is honoured"),
        );
        pub(crate) const CA_PATH: $crate::env::Setting =
            $crate::env::Setting::path(concat!($prefix, "_CA_PATH"), $ca_doc);
        /// The settings every HTTP provider shares, under this provider's names.
        pub(crate) const COMMON: $crate::CommonNames =
            $crate::CommonNames::of(&CACHE_TTL, &NEGATIVE_CACHE_TTL, &MAX_RETRY_AFTER, &CA_PATH);
    };
}
