use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use posture_core::{
    Decision, DenyCode, DeviceMode, DynPostureProvider, LookupRequest, PostureProvider,
};
use posture_file::{DeviceList, FileFormat, FileProvider, FileVersion, LoadError, LoadOptions};
use serde_json::json;

use crate::fixture;

const VERSION_1: &str = "Identifier,user\nC02XL0GJJG5J,alice\nC02YM1HKKH6K,bob\n";
const VERSION_2: &str =
    "Identifier,user\nC02XL0GJJG5J,alice2\nFVFZK2ABCDEF,carol\nDMPXQ3NZLMNO,dave\n";

/// Replaces `path` the safe way: write a sibling, then rename it over.
fn replace(path: &Path, content: &[u8]) {
    let staging = path.with_extension("staging");
    std::fs::write(&staging, content).expect("write the staging file");
    std::fs::rename(&staging, path).expect("rename over the file");
}

/// A `devices.csv` holding `content`, in a temporary directory removed when the returned
/// guard drops.
fn csv_file(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("devices.csv");
    replace(&path, content);
    (dir, path)
}

fn user(decision: &Decision) -> Option<String> {
    decision
        .enrichment()
        .map(|data| data.to_value()["user"].as_str().expect("a user").to_owned())
}

async fn decide(provider: &FileProvider, identifier: &str) -> Decision {
    provider
        .lookup(&LookupRequest::new(identifier))
        .await
        .expect("the file provider never fails")
}

#[tokio::test]
async fn answers_from_the_file() {
    let provider = FileProvider::load(fixture("devices.json"), FileFormat::Json).unwrap();
    assert_eq!(PostureProvider::name(&provider), "file");
    assert_eq!(provider.path(), Some(fixture("devices.json").as_path()));
    assert_eq!(provider.format(), FileFormat::Json);
    assert!(provider.check_ready().await.is_ok());

    let allowed = decide(&provider, "C02XL0GJJG5J").await;
    assert_eq!(user(&allowed).as_deref(), Some("alice"));
    assert_eq!(decide(&provider, "DMPXQ3NZLMNO").await, Decision::allow());
    let denied = decide(&provider, "C02NOTLISTED").await;
    assert_eq!(denied.deny_code(), Some(&DenyCode::DEVICE_NOT_FOUND));
}

#[tokio::test]
async fn ignores_the_device_mode() {
    let provider = FileProvider::load(fixture("devices.csv"), FileFormat::Csv).unwrap();
    for mode in [
        DeviceMode::Unspecified,
        DeviceMode::Computer,
        DeviceMode::MobileDevice,
        DeviceMode::Auto,
    ] {
        let request = LookupRequest::new("C02XL0GJJG5J").with_mode(mode);
        let decision = provider.lookup(&request).await.unwrap();
        assert_eq!(user(&decision).as_deref(), Some("alice"), "{mode}");
    }
}

#[tokio::test]
async fn works_behind_the_dyn_form() {
    let provider: Arc<dyn DynPostureProvider> =
        Arc::new(FileProvider::load(fixture("devices.csv"), FileFormat::Csv).unwrap());
    assert_eq!(provider.name(), "file");
    let request = LookupRequest::new("C02YM1HKKH6K");
    let decision = provider.lookup_boxed(&request).await.unwrap();
    assert_eq!(
        decision.enrichment().unwrap().to_value(),
        json!({"user": "bob", "email": "bob@example.com", "department": "Sales", "groups": "sales"})
    );
    assert!(provider.check_ready_boxed().await.is_ok());
}

#[test]
fn load_errors_name_the_path() {
    let err = FileProvider::load("/nonexistent/devices.csv", FileFormat::Csv).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read device file /nonexistent/devices.csv"
    );
    let LoadError::Io { path, source } = err else {
        panic!("expected an I/O error");
    };
    assert_eq!(path, Path::new("/nonexistent/devices.csv"));
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);

    let path = fixture("devices-ragged.csv");
    let err = FileProvider::load(&path, FileFormat::Csv).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{} line 3: ", path.display())),
        "{err}"
    );
}

#[tokio::test]
async fn reload_picks_up_a_change() {
    let (_dir, path) = csv_file(VERSION_1.as_bytes());
    let provider = FileProvider::load(&path, FileFormat::Csv).unwrap();
    assert_eq!(provider.snapshot().len(), 2);
    let old = provider.snapshot();

    replace(&path, VERSION_2.as_bytes());
    assert_eq!(provider.reload().unwrap(), 3);
    assert_eq!(provider.snapshot().len(), 3);
    let alice = decide(&provider, "C02XL0GJJG5J").await;
    assert_eq!(user(&alice).as_deref(), Some("alice2"));
    assert!(decide(&provider, "FVFZK2ABCDEF").await.is_allowed());
    assert!(!decide(&provider, "C02YM1HKKH6K").await.is_allowed());

    // A snapshot taken before stays whole.
    assert_eq!(old.len(), 2);
    assert_eq!(user(&old.decide("C02XL0GJJG5J")).as_deref(), Some("alice"));

    // An edit in place (no rename) is picked up too.
    std::fs::write(&path, VERSION_1).unwrap();
    assert_eq!(provider.reload().unwrap(), 2);
    assert!(decide(&provider, "C02YM1HKKH6K").await.is_allowed());
}

/// Loads VERSION_1, breaks the file with `break_it`, and checks that reload fails with an
/// error satisfying `check` and the list is untouched.
async fn failed_reload_keeps_the_list(
    break_it: impl FnOnce(&Path),
    check: impl FnOnce(&LoadError, &Path),
) {
    let (_dir, path) = csv_file(VERSION_1.as_bytes());
    let provider = FileProvider::load(&path, FileFormat::Csv).expect("the first version loads");
    let before = provider.snapshot();

    break_it(&path);
    let err = provider
        .reload()
        .expect_err("the broken file must not load");
    check(&err, &path);

    let after = provider.snapshot();
    assert!(Arc::ptr_eq(&before, &after), "the list was replaced");
    assert_eq!(after.len(), 2);
    let alice = decide(&provider, "C02XL0GJJG5J").await;
    assert_eq!(user(&alice).as_deref(), Some("alice"));
    assert!(decide(&provider, "C02YM1HKKH6K").await.is_allowed());
}

#[tokio::test]
async fn a_corrupt_file_keeps_the_previous_list() {
    failed_reload_keeps_the_list(
        |path| replace(path, b"Serial,user\nX,y\n"),
        |err, _| assert!(matches!(err, LoadError::BadHeader { .. }), "{err}"),
    )
    .await;
    failed_reload_keeps_the_list(
        |path| replace(path, b"Identifier,user\nA,x\nA,y\n"),
        |err, _| {
            assert!(
                matches!(err, LoadError::DuplicateIdentifier { .. }),
                "{err}"
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_truncated_file_keeps_the_previous_list() {
    // Cut in the middle of a record, as a writer caught half-way leaves it.
    failed_reload_keeps_the_list(
        |path| std::fs::write(path, &VERSION_2.as_bytes()[..40]).unwrap(),
        |err, _| assert!(matches!(err, LoadError::RaggedRow { line: 3, .. }), "{err}"),
    )
    .await;
    // Truncated to nothing, as `>` in a shell leaves it before the writer starts.
    failed_reload_keeps_the_list(
        |path| std::fs::write(path, b"").unwrap(),
        |err, _| assert!(matches!(err, LoadError::EmptyFile { .. }), "{err}"),
    )
    .await;
    // Only the header left.
    failed_reload_keeps_the_list(
        |path| std::fs::write(path, b"Identifier,user\n").unwrap(),
        |err, _| assert!(matches!(err, LoadError::NoDevices { .. }), "{err}"),
    )
    .await;
}

#[tokio::test]
async fn a_truncated_json_file_keeps_the_previous_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");
    let full = std::fs::read(fixture("devices.json")).unwrap();
    std::fs::write(&path, &full).unwrap();
    let provider = FileProvider::load(&path, FileFormat::Json).unwrap();
    // Every proper prefix of a JSON file is invalid, so every cut is caught.
    for cut in [1, full.len() / 3, full.len() / 2, full.len() - 2] {
        std::fs::write(&path, &full[..cut]).unwrap();
        let err = provider.reload().unwrap_err();
        assert!(
            matches!(err, LoadError::InvalidJson { .. }),
            "cut {cut}: {err}"
        );
        assert_eq!(provider.snapshot().len(), 5);
    }
}

#[tokio::test]
async fn a_deleted_file_keeps_the_previous_list() {
    failed_reload_keeps_the_list(
        |path| std::fs::remove_file(path).unwrap(),
        |err, path| {
            assert_eq!(
                err.to_string(),
                format!("cannot read device file {}", path.display())
            );
            assert!(matches!(err, LoadError::Io { .. }));
        },
    )
    .await;
}

#[tokio::test]
async fn a_list_built_in_memory_cannot_be_reloaded() {
    let list = DeviceList::parse(VERSION_1.as_bytes(), FileFormat::Csv, "inline").unwrap();
    let provider = FileProvider::from_list(list);
    assert_eq!(provider.path(), None);
    assert_eq!(provider.format(), FileFormat::Csv);
    let err = provider.reload().unwrap_err();
    assert!(matches!(err, LoadError::NotReloadable));
    assert_eq!(
        err.to_string(),
        "no device file to reload: the provider was built from an in-memory list"
    );
    assert!(decide(&provider, "C02YM1HKKH6K").await.is_allowed());
}

#[test]
fn reload_keeps_the_options_it_was_loaded_with() {
    let (_dir, path) = csv_file(VERSION_1.as_bytes());
    let options = LoadOptions::new().allow_empty(true).allow_shrink(true);
    let provider = FileProvider::load_with(&path, FileFormat::Csv, options).unwrap();
    replace(&path, b"Identifier,user\n");
    assert_eq!(provider.reload().unwrap(), 0);
    assert!(provider.snapshot().is_empty());
}

/// A CSV of `count` devices `D00000…`, each with `user` set to `user`.
fn csv_of(count: usize, user: &str) -> String {
    let mut csv = String::from("Identifier,user\n");
    for i in 0..count {
        csv.push_str(&format!("D{i:05},{user}\n"));
    }
    csv
}

#[test]
fn a_file_that_changes_while_it_is_read_is_not_loaded() {
    let (_dir, path) = csv_file(VERSION_1.as_bytes());
    let provider = FileProvider::load(&path, FileFormat::Csv).unwrap();
    let before = provider.snapshot();
    // Large enough that reading it takes far longer than one append.
    std::fs::write(&path, csv_of(100_000, "old")).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            // Whole rows, one write each, so that the file is valid CSV at every moment;
            // for at most 2 s, so that a reader chasing the end of the file finishes.
            let started = std::time::Instant::now();
            let mut appended = 0_u32;
            while !done.load(Ordering::Relaxed) && started.elapsed().as_secs() < 2 {
                let row = format!("E{appended:07},late\n");
                file.write_all(row.as_bytes()).unwrap();
                appended += 1;
            }
        })
    };
    let result = provider.reload();
    done.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, LoadError::Changed { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} changed while it was read: not loaded (replace the file by renaming a \
             complete new file over it)",
            path.display()
        )
    );
    assert!(
        Arc::ptr_eq(&before, &provider.snapshot()),
        "the list was replaced"
    );
    // Once the file stays still, it loads, and the provider knows which version it serves.
    let devices = provider.reload().unwrap();
    assert!(devices > 100_000, "{devices}");
    assert_eq!(provider.version(), Some(FileVersion::of(&path).unwrap()));
}

#[test]
fn a_reload_expecting_another_version_is_not_loaded() {
    let (_dir, path) = csv_file(VERSION_1.as_bytes());
    let provider = FileProvider::load(&path, FileFormat::Csv).unwrap();
    let served = provider.version().unwrap();
    assert_eq!(served, FileVersion::of(&path).unwrap());
    let loaded_at = provider.loaded_at();

    // The caller saw this version settle, but the file changed again before the reload.
    replace(&path, VERSION_2.as_bytes());
    let settled = FileVersion::of(&path).unwrap();
    std::fs::write(&path, VERSION_2.replace("carol", "carol-again")).unwrap();
    let err = provider.reload_if_unchanged(settled).unwrap_err();
    assert!(matches!(err, LoadError::Changed { .. }), "{err}");
    assert_eq!(provider.version(), Some(served));
    assert_eq!(provider.loaded_at(), loaded_at);
    assert_eq!(provider.snapshot().len(), 2);

    let now = FileVersion::of(&path).unwrap();
    assert_eq!(provider.reload_if_unchanged(now).unwrap(), 3);
    assert_eq!(provider.version(), Some(now));
    assert!(provider.loaded_at() >= loaded_at);
}

#[test]
fn a_reload_that_drops_more_than_half_the_devices_is_refused_unless_allowed() {
    let (_dir, path) = csv_file(csv_of(2000, "first").as_bytes());
    let provider = FileProvider::load(&path, FileFormat::Csv).unwrap();
    let served = provider.version();

    replace(&path, csv_of(999, "cut").as_bytes());
    let err = provider.reload().unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Shrunk {
                devices: 999,
                served: 2000,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} lists 999 devices, fewer than half of the 2000 in the list being served: \
             refused as a probable partial export",
            path.display()
        )
    );
    assert_eq!(provider.snapshot().len(), 2000);
    assert_eq!(provider.version(), served, "still serving the first file");

    // Exactly half is not more than half.
    replace(&path, csv_of(1000, "half").as_bytes());
    assert_eq!(provider.reload().unwrap(), 1000);

    let options = LoadOptions::new().allow_shrink(true);
    let provider = FileProvider::load_with(&path, FileFormat::Csv, options).unwrap();
    replace(&path, csv_of(10, "few").as_bytes());
    assert_eq!(provider.reload().unwrap(), 10);
    assert!(!provider.snapshot().contains("D00010"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_during_reloads_always_see_a_whole_list() {
    let (_dir, path) = csv_file(VERSION_1.as_bytes());
    let provider = Arc::new(FileProvider::load(&path, FileFormat::Csv).unwrap());
    let done = Arc::new(AtomicBool::new(false));

    let mut readers = Vec::new();
    for _ in 0..8 {
        let provider = Arc::clone(&provider);
        let done = Arc::clone(&done);
        readers.push(tokio::spawn(async move {
            let mut lookups = 0_u32;
            while !done.load(Ordering::Relaxed) || lookups < 1000 {
                // C02XL0GJJG5J is in both versions, with different data.
                let decision = provider
                    .lookup(&LookupRequest::new("C02XL0GJJG5J"))
                    .await
                    .unwrap();
                let user = user(&decision);
                assert!(
                    matches!(user.as_deref(), Some("alice" | "alice2")),
                    "{decision:?}"
                );
                // Within one snapshot, the two devices agree on the version.
                let snapshot = provider.snapshot();
                let v1 = snapshot.contains("C02YM1HKKH6K");
                let v2 = snapshot.contains("FVFZK2ABCDEF");
                assert!(v1 != v2, "a mixed list");
                lookups += 1;
                tokio::task::yield_now().await;
            }
            lookups
        }));
    }

    let reloader = {
        let provider = Arc::clone(&provider);
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let mut good = 0;
            for round in 0..60 {
                let content: &[u8] = match round % 3 {
                    0 => VERSION_2.as_bytes(),
                    1 => b"Identifier,user\nbroken,row,too,wide\n",
                    _ => VERSION_1.as_bytes(),
                };
                replace(&path, content);
                if provider.reload().is_ok() {
                    good += 1;
                }
            }
            good
        })
    };

    let good = reloader.await.unwrap();
    assert_eq!(good, 40);
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.unwrap() >= 1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_provider_conforms() {
    // The upstream checks need a backend and the identifier check a serial rule; the file
    // provider has neither (it looks any identifier up exactly), so those are skipped.
    let provider = FileProvider::load(fixture("devices.json"), FileFormat::Json).unwrap();
    let allowed: Vec<String> = ["C02XL0GJJG5J"].map(str::to_owned).to_vec();
    assert!(decide(&provider, &allowed[0]).await.is_allowed());
    let subject = posture_conformance::Subject::new(Arc::new(provider))
        .with_allowed(allowed)
        .without_identifier_checks();
    let report = posture_conformance::run(&subject).await;
    report.assert_passed();
    assert_eq!(report.passed.len(), 3, "{report:?}");
}
