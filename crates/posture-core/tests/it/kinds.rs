//! How a provider describes itself to a server: `Kind`, the defaults of `ProviderSetup` and
//! `ReloadableList`, the hooks of `BuiltProvider`, and counter samples.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use posture_core::posture_settings::{ConfigProblems, Reader, Setting};
use posture_core::{
    BoxFuture, BuildError, BuiltProvider, CounterSample, DeviceMode, DeviceRefresher, FileVersion,
    Kind, ProviderCounters, ProviderError, ProviderKind, ProviderSetup, ReloadFailure,
    ReloadableList,
};

use crate::Fixed;

const ALLOW: Setting = Setting::list("ONLY_ALLOW", "the identifiers to allow");

/// `ONLY_ALLOW`, validated; it sets none of the optional `ProviderSetup` methods.
#[derive(Debug)]
struct OnlyConfig;

impl OnlyConfig {
    fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigProblems> {
        let reader = Reader::new(get);
        reader.list(&ALLOW);
        reader.finish()?;
        Ok(Self)
    }

    /// Reads `ONLY_DENY` too, which its kind forgets to declare.
    fn from_vars_and_more(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigProblems> {
        let _ = get("ONLY_DENY");
        Self::from_vars(get)
    }
}

impl ProviderSetup for OnlyConfig {
    fn summary(&self) -> Vec<String> {
        Vec::new()
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        Ok(BuiltProvider::new(Arc::new(Fixed("only"))))
    }
}

static ONLY: Kind<OnlyConfig> = Kind::new("only", &[ALLOW], OnlyConfig::from_vars);
static SLOPPY: Kind<OnlyConfig> = Kind::new("sloppy", &[ALLOW], OnlyConfig::from_vars_and_more);

#[test]
fn a_kind_gives_its_name_and_settings_to_a_server() {
    let kind: &dyn ProviderKind = &ONLY;
    assert_eq!(kind.name(), "only");
    let names: Vec<&str> = kind.settings().iter().flat_map(Setting::names).collect();
    assert_eq!(names, ["ONLY_ALLOW"]);
}

/// A server logs its kinds; the configure function means nothing in a log.
#[test]
fn a_kind_debugs_as_its_name() {
    assert_eq!(format!("{ONLY:?}"), r#"Kind { name: "only" }"#);
}

#[test]
fn declaration_mismatches_name_a_variable_read_but_not_declared() {
    assert!(ONLY.declaration_mismatches(&[], &[]).is_empty());
    assert_eq!(
        SLOPPY.declaration_mismatches(&[], &[]),
        ["ONLY_DENY is read but not declared"]
    );
    assert!(
        SLOPPY
            .declaration_mismatches(&["ONLY_DENY"], &[])
            .is_empty()
    );
}

#[test]
fn a_setup_has_no_warnings_or_watched_files_unless_it_says() {
    let setup = ONLY.configure(&|_| None).unwrap();
    assert!(setup.warnings().is_empty());
    assert!(setup.watched_files().is_empty());
}

/// A list of `len` entries, read from `path` when there is one.
#[derive(Debug)]
struct List {
    path: Option<PathBuf>,
    len: usize,
}

impl List {
    fn new(path: Option<&str>, len: usize) -> Self {
        Self {
            path: path.map(PathBuf::from),
            len,
        }
    }
}

impl ReloadableList for List {
    fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn version(&self) -> Option<FileVersion> {
        None
    }

    fn reload(&self, _: Option<FileVersion>) -> Result<usize, ReloadFailure> {
        Ok(self.len)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn loaded_at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
    }
}

#[test]
fn a_list_describes_itself_by_its_path() {
    let cases = [
        (Some("/etc/devices.csv"), "/etc/devices.csv"),
        (None, "(no file)"),
    ];
    for (path, described) in cases {
        assert_eq!(List::new(path, 1).describe(), described);
    }
}

#[test]
fn a_list_is_empty_only_without_entries() {
    for (len, empty) in [(0, true), (1, false), (2, false)] {
        assert_eq!(List::new(None, len).is_empty(), empty, "{len} entries");
    }
}

#[derive(Debug)]
struct Requests;

impl ProviderCounters for Requests {
    fn samples(&self) -> Vec<CounterSample> {
        vec![CounterSample::new(CounterSample::REQUESTS, 3)]
    }
}

#[derive(Debug)]
struct Refresher;

impl DeviceRefresher for Refresher {
    fn refresh<'a>(
        &'a self,
        _: &'a str,
        _: DeviceMode,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
}

#[test]
fn a_built_provider_hands_back_the_hooks_it_was_given() {
    let bare = BuiltProvider::new(Arc::new(Fixed("file")));
    assert!(bare.reloadable().is_none());
    assert!(bare.counters().is_none());
    assert!(bare.refresher().is_none());

    let list: Arc<dyn ReloadableList> = Arc::new(List::new(Some("/etc/devices.csv"), 2));
    let counters: Arc<dyn ProviderCounters> = Arc::new(Requests);
    let refresher: Arc<dyn DeviceRefresher> = Arc::new(Refresher);
    let built = bare
        .with_reloadable(Arc::clone(&list))
        .with_counters(Arc::clone(&counters))
        .with_refresher(Arc::clone(&refresher));
    assert!(Arc::ptr_eq(built.reloadable().unwrap(), &list));
    assert!(Arc::ptr_eq(built.counters().unwrap(), &counters));
    assert!(Arc::ptr_eq(built.refresher().unwrap(), &refresher));
}

/// A gauge is exported without `_total`, so the flag is what tells it from a counter.
#[test]
fn a_gauge_sample_is_marked_as_a_gauge_and_a_counter_sample_is_not() {
    const QUOTA: (&str, &str) = ("provider_hourly_quota_left", "Requests left this hour.");
    let gauge = CounterSample::gauge(QUOTA, 9_000);
    assert_eq!(
        (gauge.name, gauge.help, gauge.value, gauge.gauge),
        (QUOTA.0, QUOTA.1, 9_000, true)
    );
    assert!(!CounterSample::new(QUOTA, 9_000).gauge);
}
