use std::sync::atomic::AtomicBool;

use super::*;

/// A fake MDM listing: pages of `(serial, managed)`; a page can be made to fail.
struct Fleet {
    inventory: Inventory,
    pages: Mutex<Vec<Vec<(&'static str, bool)>>>,
    /// The page (by number) that fails, and whether transiently.
    failing: Mutex<Option<(usize, bool)>>,
    /// How many times the failing page fails before it answers.
    failures_left: AtomicU64,
    sent: AtomicU64,
    in_flight: AtomicU64,
    overlapped: AtomicBool,
}

impl Fleet {
    fn new(settings: SyncSettings, pages: Vec<Vec<(&'static str, bool)>>) -> Self {
        Self {
            inventory: Inventory::new("Fake", settings),
            pages: Mutex::new(pages),
            failing: Mutex::new(None),
            failures_left: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            overlapped: AtomicBool::new(false),
        }
    }

    fn fail(&self, page: usize, transient: bool, times: u64) {
        *lock(&self.failing) = Some((page, transient));
        self.failures_left.store(times, Ordering::Relaxed);
    }

    async fn fetch(&self, number: usize) -> Result<Vec<(&'static str, bool)>, ProviderError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if self.in_flight.fetch_add(1, Ordering::SeqCst) > 0 {
            self.overlapped.store(true, Ordering::SeqCst);
        }
        tokio::task::yield_now().await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some((page, transient)) = *lock(&self.failing)
            && page == number
            && self.failures_left.load(Ordering::Relaxed) > 0
        {
            self.failures_left.fetch_sub(1, Ordering::Relaxed);
            return Err(if transient {
                ProviderError::transient("503 from the fake").with_retry_after(Duration::ZERO)
            } else {
                ProviderError::permanent("403 from the fake")
            });
        }
        Ok(lock(&self.pages).get(number).cloned().unwrap_or_default())
    }
}

impl SyncSource for Fleet {
    type Record = bool;

    fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    async fn pull(&self, pull: &mut Pull<bool>) -> Result<(), ProviderError> {
        let count = lock(&self.pages).len();
        for number in 0..count {
            let page = pull.page("page", || self.fetch(number)).await?;
            for (serial, managed) in page {
                pull.add(serial, managed);
            }
        }
        Ok(())
    }

    fn decide(&self, key: &str, records: Vec<bool>) -> Decision {
        if records.contains(&true) {
            Decision::allow_with(
                Enrichment::from_json(format!(
                    r#"{{"serial":"{key}","records":{}}}"#,
                    records.len()
                ))
                .unwrap(),
            )
        } else {
            Decision::deny(DenyCode::NOT_MANAGED, format!("{key} is not managed"))
        }
    }
}

fn hourly() -> SyncSettings {
    SyncSettings::new("FAKE_SYNC_INTERVAL", "FAKE_SYNC_MAX_AGE").every(Duration::from_secs(3600))
}

fn two_pages() -> Vec<Vec<(&'static str, bool)>> {
    vec![
        vec![("A1", true), ("B2", false)],
        vec![("C3", true), ("A1", false)],
    ]
}

#[tokio::test]
async fn a_sync_answers_every_listed_device_as_decide_does() {
    let fleet = Fleet::new(hourly(), two_pages());
    let report = sync_now(&fleet).await.unwrap();
    assert_eq!((report.devices, report.calls), (3, 2));
    assert!(report.index_bytes > 0);
    let FromIndex::Decided(a1) = fleet.inventory.lookup("A1") else {
        panic!("A1 is listed")
    };
    // Both of A1's records, from two pages, reached decide.
    assert_eq!(a1, fleet.decide("A1", vec![true, false]));
    assert_eq!(
        fleet.inventory.lookup("B2"),
        FromIndex::Decided(Decision::deny(DenyCode::NOT_MANAGED, "B2 is not managed"))
    );
    assert_eq!(fleet.inventory.lookup("a1"), FromIndex::NotListed);
    assert_eq!(fleet.inventory.lookup("Z9"), FromIndex::NotListed);
}

#[tokio::test]
async fn lookup_first_answers_from_the_first_key_listed_and_counts_once() {
    let fleet = Fleet::new(hourly(), two_pages());
    sync_now(&fleet).await.unwrap();
    assert_eq!(
        fleet.inventory.lookup_first(["Z9", "B2", "A1"]),
        fleet.inventory.lookup("B2")
    );
    assert_eq!(
        fleet.inventory.lookup_first(["Z9", "Y8"]),
        FromIndex::NotListed
    );
    let count = |outcome: &str| {
        fleet
            .inventory
            .samples()
            .iter()
            .find(|s| s.labels.iter().any(|(_, v)| v == outcome))
            .map(|s| s.value)
    };
    assert_eq!((count("answered"), count("not_listed")), (Some(2), Some(1)));
}

#[tokio::test]
async fn every_decision_shape_survives_the_index() {
    for decision in [
        Decision::allow(),
        Decision::allow_with(Enrichment::from_json(r#"{"a":"line\nbreak","b":[1,2]}"#).unwrap()),
        Decision::deny(DenyCode::NOT_COMPLIANT, ""),
        Decision::deny(DenyCode::DEVICE_NOT_FOUND, "two\nlines, ünïcode"),
    ] {
        let mut bytes = Vec::new();
        assert!(encode(&decision, &mut bytes));
        assert_eq!(decode(Bytes::from(bytes)), Some(decision));
    }
    assert_eq!(decode(Bytes::from_static(b"")), None);
    assert_eq!(decode(Bytes::from_static(b"X")), None);
    assert_eq!(decode(Bytes::from_static(b"Dno-newline")), None);
}

#[tokio::test]
async fn off_answers_nothing_and_spawns_nothing() {
    let off = SyncSettings::new("FAKE_SYNC_INTERVAL", "FAKE_SYNC_MAX_AGE");
    let fleet = Arc::new(Fleet::new(off, two_pages()));
    assert_eq!(fleet.inventory.lookup("A1"), FromIndex::Off);
    assert_eq!(fleet.inventory.readiness().unwrap(), Readiness::Live);
    let settings = fleet.inventory.settings().clone();
    assert!(spawn(&fleet, &settings, |f| async move { sync_now(&*f).await }).is_none());
    assert!(fleet.inventory.samples().is_empty());
    assert_eq!(fleet.sent.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_sync_failing_midway_keeps_the_previous_index_whole() {
    let fleet = Fleet::new(hourly(), two_pages());
    sync_now(&fleet).await.unwrap();
    // The MDM changes: A1 leaves, D4 arrives; then page 1 is refused.
    *lock(&fleet.pages) = vec![vec![("B2", true), ("D4", true)], vec![("C3", true)]];
    fleet.fail(1, false, 1);
    let err = sync_now(&fleet).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    // Nothing of the half-read sync shows: A1 still there, B2 still denied, D4 unknown.
    assert!(matches!(fleet.inventory.lookup("A1"), FromIndex::Decided(d) if d.is_allowed()));
    assert!(matches!(fleet.inventory.lookup("B2"), FromIndex::Decided(d) if !d.is_allowed()));
    assert_eq!(fleet.inventory.lookup("D4"), FromIndex::NotListed);
    assert!(fleet.inventory.report().iter().any(|l| l.contains("403")));
    let failed = fleet
        .inventory
        .samples()
        .into_iter()
        .find(|s| {
            s.name == "provider_inventory_syncs" && s.labels.contains(&("result", "failed".into()))
        })
        .unwrap();
    assert_eq!(failed.value, 1);
    // The next sync succeeds and replaces the index whole.
    sync_now(&fleet).await.unwrap();
    assert_eq!(fleet.inventory.lookup("A1"), FromIndex::NotListed);
    assert!(matches!(fleet.inventory.lookup("D4"), FromIndex::Decided(d) if d.is_allowed()));
    assert_eq!(
        fleet
            .inventory
            .report()
            .iter()
            .filter(|l| l.contains("failed"))
            .count(),
        0
    );
}

#[tokio::test]
async fn a_transient_page_error_is_retried_and_counted() {
    let fleet = Fleet::new(hourly(), two_pages());
    fleet.fail(1, true, 2);
    let report = sync_now(&fleet).await.unwrap();
    assert_eq!(report.calls, 4, "page 0 once, page 1 three times");
    assert_eq!(report.devices, 3);
    // A third transient failure in a row ends the sync.
    fleet.fail(0, true, 3);
    assert!(sync_now(&fleet).await.unwrap_err().is_transient());
}

#[tokio::test(start_paused = true)]
async fn past_the_max_age_the_index_is_stale_and_the_provider_not_ready() {
    let settings = hourly().max_age(Duration::from_secs(7200));
    let fleet = Fleet::new(settings, two_pages());
    // Before any sync, within the max age of start-up: live readiness decides.
    assert_eq!(fleet.inventory.readiness().unwrap(), Readiness::Live);
    assert_eq!(fleet.inventory.lookup("A1"), FromIndex::Stale);
    sync_now(&fleet).await.unwrap();
    assert_eq!(fleet.inventory.readiness().unwrap(), Readiness::Fresh);
    tokio::time::advance(Duration::from_secs(7199)).await;
    assert!(matches!(
        fleet.inventory.lookup("A1"),
        FromIndex::Decided(_)
    ));
    // Every sync since fails; two seconds later the index is past its age.
    fleet.fail(0, false, u64::MAX);
    assert!(sync_now(&fleet).await.is_err());
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(fleet.inventory.lookup("A1"), FromIndex::Stale);
    let err = fleet.inventory.readiness().unwrap_err();
    let message = err.to_string();
    assert!(err.is_transient());
    assert!(message.contains("FAKE_SYNC_MAX_AGE=7200"), "{message}");
    assert!(message.contains("403 from the fake"), "{message}");
    let stale = fleet
        .inventory
        .samples()
        .into_iter()
        .find(|s| s.labels.contains(&("outcome", "stale".into())))
        .unwrap();
    assert_eq!(stale.value, 2);
}

#[tokio::test(start_paused = true)]
async fn without_any_sync_the_provider_is_not_ready_after_the_max_age() {
    let fleet = Fleet::new(hourly(), two_pages());
    fleet.fail(0, false, u64::MAX);
    assert!(sync_now(&fleet).await.is_err());
    tokio::time::advance(Duration::from_secs(3 * 3600 - 1)).await;
    assert_eq!(fleet.inventory.readiness().unwrap(), Readiness::Live);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(fleet.inventory.readiness().is_err());
}

#[tokio::test(start_paused = true)]
async fn the_background_task_syncs_on_the_interval_and_stops_with_the_provider() {
    let fleet = Arc::new(Fleet::new(hourly(), two_pages()));
    let task = spawn(&fleet, &hourly(), |f| async move { sync_now(&*f).await }).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fleet.sent.load(Ordering::Relaxed), 2, "one sync at start");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        fleet.sent.load(Ordering::Relaxed),
        4,
        "one more after the interval"
    );
    // A failed sync is tried again within a minute, not an hour.
    fleet.fail(0, false, 1);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let after_failure = fleet.sent.load(Ordering::Relaxed);
    assert_eq!(after_failure, 5);
    tokio::time::sleep(MAX_RETRY_DELAY + Duration::from_secs(1)).await;
    assert_eq!(fleet.sent.load(Ordering::Relaxed), 7);
    drop(fleet);
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    assert!(task.is_finished());
}

#[test]
fn settings_are_read_and_cross_checked() {
    const INTERVAL: Setting = interval_setting("FAKE_SYNC_INTERVAL");
    const MAX_AGE: Setting = max_age_setting("FAKE_SYNC_MAX_AGE");
    let read = |vars: &[(&str, &str)]| {
        let get = posture_settings::vars(vars);
        let mut reader = Reader::new(&get);
        let settings = SyncSettings::read(&mut reader, &INTERVAL, &MAX_AGE);
        reader.finish().map(|()| settings)
    };
    let off = read(&[]).unwrap();
    assert!(!off.is_on());
    assert!(off.summary().contains("off (FAKE_SYNC_INTERVAL=0)"));
    let hourly = read(&[("FAKE_SYNC_INTERVAL", "3600")]).unwrap();
    assert_eq!(hourly.oldest(), Duration::from_secs(3 * 3600));
    let set = read(&[
        ("FAKE_SYNC_INTERVAL", "3600"),
        ("FAKE_SYNC_MAX_AGE", "4000"),
    ])
    .unwrap();
    assert_eq!(set.oldest(), Duration::from_secs(4000));
    for (vars, variable) in [
        (&[("FAKE_SYNC_INTERVAL", "60")][..], "FAKE_SYNC_INTERVAL"),
        (
            &[("FAKE_SYNC_INTERVAL", "604801")][..],
            "FAKE_SYNC_INTERVAL",
        ),
        (
            &[("FAKE_SYNC_INTERVAL", "hourly")][..],
            "FAKE_SYNC_INTERVAL",
        ),
        (
            &[("FAKE_SYNC_INTERVAL", "3600"), ("FAKE_SYNC_MAX_AGE", "600")][..],
            "FAKE_SYNC_MAX_AGE",
        ),
    ] {
        let problems = read(vars).unwrap_err();
        assert_eq!(problems.problems()[0].variable, variable, "{vars:?}");
    }
    // A max age without sync is harmless.
    assert!(!read(&[("FAKE_SYNC_MAX_AGE", "600")]).unwrap().is_on());
}

#[tokio::test]
async fn concurrent_syncs_run_one_after_the_other() {
    let fleet = Arc::new(Fleet::new(hourly(), two_pages()));
    let (a, b) = tokio::join!(sync_now(&*fleet), sync_now(&*fleet));
    assert!(a.is_ok() && b.is_ok());
    assert!(!fleet.overlapped.load(Ordering::SeqCst));
    assert_eq!(fleet.sent.load(Ordering::Relaxed), 4);
}

/// `provider_inventory_refreshes` with this `result`.
fn refreshes(inventory: &Inventory, result: &str) -> u64 {
    inventory
        .samples()
        .into_iter()
        .find(|s| s.name == "provider_inventory_refreshes" && s.labels[0].1 == result)
        .unwrap()
        .value
}

fn left_the_group(key: &str) -> Decision {
    Decision::deny(DenyCode::NOT_COMPLIANT, format!("{key} left the group"))
}

#[tokio::test]
async fn a_refresh_answers_before_the_index_and_is_counted() {
    let fleet = Fleet::new(hourly(), two_pages());
    sync_now(&fleet).await.unwrap();
    assert!(fleet.inventory.refresh("C3", left_the_group("C3")));
    assert!(fleet.inventory.refresh("N4", Decision::allow()));
    assert_eq!(
        fleet.inventory.lookup("C3"),
        FromIndex::Decided(left_the_group("C3"))
    );
    // A device enrolled since the sync, refreshed: answered without a live lookup.
    assert_eq!(
        fleet.inventory.lookup("N4"),
        FromIndex::Decided(Decision::allow())
    );
    // Unlisted: looked up live, not answered from the index.
    assert!(fleet.inventory.unlist("B2"));
    assert_eq!(fleet.inventory.lookup("B2"), FromIndex::NotListed);
    // lookup_first goes on past an unlisted key to the next one.
    assert!(matches!(
        fleet.inventory.lookup_first(["B2", "A1"]),
        FromIndex::Decided(d) if d.is_allowed()
    ));
    assert_eq!(fleet.inventory.refreshed_devices(), 3);
    assert_eq!(refreshes(&fleet.inventory, "stored"), 3);
}

#[tokio::test]
async fn the_next_sync_drops_refreshes_recorded_before_it_started() {
    let fleet = Fleet::new(hourly(), two_pages());
    sync_now(&fleet).await.unwrap();
    fleet.inventory.refresh("C3", left_the_group("C3"));
    sync_now(&fleet).await.unwrap();
    assert!(matches!(fleet.inventory.lookup("C3"), FromIndex::Decided(d) if d.is_allowed()));
    assert_eq!(fleet.inventory.refreshed_devices(), 0);
}

/// A source that refreshes a device while its pull is under way, as a notification
/// arriving mid-sync would.
struct RefreshedMidway(Fleet);

impl SyncSource for RefreshedMidway {
    type Record = bool;

    fn inventory(&self) -> &Inventory {
        &self.0.inventory
    }

    async fn pull(&self, pull: &mut Pull<bool>) -> Result<(), ProviderError> {
        self.0.inventory.refresh("C3", left_the_group("C3"));
        self.0.pull(pull).await
    }

    fn decide(&self, key: &str, records: Vec<bool>) -> Decision {
        self.0.decide(key, records)
    }
}

#[tokio::test]
async fn a_refresh_recorded_during_the_pull_survives_the_swap() {
    let source = RefreshedMidway(Fleet::new(hourly(), two_pages()));
    source.0.inventory.refresh("A1", left_the_group("A1"));
    sync_now(&source).await.unwrap();
    // Recorded before the sync started: the index answers.
    assert!(matches!(source.0.inventory.lookup("A1"), FromIndex::Decided(d) if d.is_allowed()));
    // Recorded while it pulled (maybe after the pull read C3): kept.
    assert_eq!(
        source.0.inventory.lookup("C3"),
        FromIndex::Decided(left_the_group("C3"))
    );
}

#[tokio::test]
async fn refreshes_are_bounded_and_refused_while_sync_is_off() {
    let off = Inventory::new("Fake", SyncSettings::new("A", "B"));
    assert!(!off.refresh("A1", Decision::allow()));
    let fleet = Fleet::new(hourly(), two_pages());
    sync_now(&fleet).await.unwrap();
    for n in 0..MAX_REFRESHED {
        assert!(fleet.inventory.refresh(&format!("K{n}"), Decision::allow()));
    }
    assert!(!fleet.inventory.refresh("C3", left_the_group("C3")));
    // A device already in the overlay can still be refreshed again.
    assert!(fleet.inventory.refresh("K7", left_the_group("K7")));
    assert!(matches!(fleet.inventory.lookup("C3"), FromIndex::Decided(d) if d.is_allowed()));
    assert_eq!(refreshes(&fleet.inventory, "refused"), 1);
}
