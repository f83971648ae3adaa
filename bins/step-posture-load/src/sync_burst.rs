//! The inventory-sync benchmark: a burst of distinct devices against each fake MDM with
//! sync off and on, the file provider as the baseline, and the synced index's memory.
//!
//! Providers are built from their `ProviderKind` with the fake's variables, as the server
//! builds them, and asked directly: the figures are the provider's decision latency, without
//! TLS or HTTP in front. A burst asks about every device once, `concurrency` at a time; with
//! sync on, `added` of the devices are enrolled in the fake only after the first sync, so
//! they take the live fall-back.

use std::any::Any;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use posture_core::{
    CounterSample, Decision, DenyCode, Enrichment, LookupRequest, ProviderError, ProviderKind,
};
use posture_fakes::Fake;
use posture_fakes::addigy::Addigy;
use posture_fakes::fleet::Fleet;
use posture_fakes::intune::Intune;
use posture_fakes::jamf::{FakeDevice, Jamf};
use posture_fakes::kandji::Kandji;
use posture_fakes::mdm::Mdm;
use posture_fakes::mosyle::Mosyle;
use posture_http::sync::{Inventory, Pull, SyncSettings, SyncSource};
use tokio::task::JoinSet;

/// Providers the burst can run against.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub(crate) enum Vendor {
    /// The device file (the baseline: no MDM at all).
    File,
    /// Jamf Pro (computers).
    Jamf,
    /// Microsoft Intune.
    Intune,
    /// Kandji (Iru).
    Kandji,
    /// Fleet.
    Fleet,
    /// Mosyle Manager.
    Mosyle,
    /// Addigy.
    Addigy,
}

impl Vendor {
    pub(crate) const ALL: &[Self] = &[
        Self::File,
        Self::Jamf,
        Self::Intune,
        Self::Kandji,
        Self::Fleet,
        Self::Mosyle,
        Self::Addigy,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Jamf => "jamf",
            Self::Intune => "intune",
            Self::Kandji => "kandji",
            Self::Fleet => "fleet",
            Self::Mosyle => "mosyle",
            Self::Addigy => "addigy",
        }
    }

    fn kind(self) -> &'static dyn ProviderKind {
        match self {
            Self::File => &posture_file::KIND,
            Self::Jamf => &posture_jamf::KIND,
            Self::Intune => &posture_intune::KIND,
            Self::Kandji => &posture_kandji::KIND,
            Self::Fleet => &posture_fleet::KIND,
            Self::Mosyle => &posture_mosyle::KIND,
            Self::Addigy => &posture_addigy::KIND,
        }
    }

    /// The variable that turns sync on; `None` for the file.
    fn sync_variable(self) -> Option<&'static str> {
        match self {
            Self::File => None,
            Self::Jamf => Some("JAMF_SYNC_INTERVAL"),
            Self::Intune => Some("INTUNE_SYNC_INTERVAL"),
            Self::Kandji => Some("KANDJI_SYNC_INTERVAL"),
            Self::Fleet => Some("FLEET_SYNC_INTERVAL"),
            Self::Mosyle => Some("MOSYLE_SYNC_INTERVAL"),
            Self::Addigy => Some("ADDIGY_SYNC_INTERVAL"),
        }
    }

    /// Starts the fake with `serials` enrolled, answering after `latency` (Fleet's and
    /// Addigy's at once).
    async fn start(
        self,
        serials: &[String],
        latency: Duration,
        dir: &std::path::Path,
    ) -> anyhow::Result<Fixture> {
        match self {
            Self::File => {
                let path = dir.join("burst-devices.json");
                let devices: Vec<serde_json::Value> = serials
                    .iter()
                    .map(|s| serde_json::json!({"identifier": s, "data": {"source": "burst"}}))
                    .collect();
                let devices = serde_json::json!({ "devices": devices });
                std::fs::write(&path, serde_json::to_vec(&devices)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                Ok(Fixture {
                    env: vec![
                        ("FILE_PATH".to_owned(), path.display().to_string()),
                        ("FILE_TYPE".to_owned(), "json".to_owned()),
                    ],
                    enrol: Box::new(|_| {}),
                    calls: Box::new(|| 0),
                    _fake: Box::new(()),
                })
            }
            Self::Jamf => {
                // Match requests count too, which Jamf's upstream requests leave out.
                let mut fixture = Fixture::start_fake_counting::<Jamf>(
                    latency,
                    serials,
                    |fake, serial| fake.add_computer(FakeDevice::new(serial)),
                    |fake| {
                        let stats = fake.stats();
                        stats.token_requests
                            + stats.lookup_requests
                            + stats.match_requests
                            + stats.department_requests
                    },
                )
                .await?;
                // The burst's devices are Macs; a request without `?mode=` asks for this.
                fixture
                    .env
                    .push(("JAMF_DEFAULT_MODE".to_owned(), "computer".to_owned()));
                Ok(fixture)
            }
            Self::Intune => Fixture::start_fake::<Intune>(latency, serials).await,
            Self::Kandji => Fixture::start_fake::<Kandji>(latency, serials).await,
            Self::Fleet => Fixture::start_fake::<Fleet>(AT_ONCE, serials).await,
            Self::Mosyle => Fixture::start_fake::<Mosyle>(latency, serials).await,
            Self::Addigy => Fixture::start_fake::<Addigy>(AT_ONCE, serials).await,
        }
    }
}

/// The latency of Fleet's and Addigy's fakes in a burst: none, as the burst table's heading
/// states.
const AT_ONCE: Duration = Duration::ZERO;

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A running fake and how to reach it.
struct Fixture {
    env: Vec<(String, String)>,
    /// Enrols one more device.
    enrol: Box<dyn Fn(&str) + Send + Sync>,
    /// Requests the fake has answered.
    calls: Box<dyn Fn() -> u64 + Send + Sync>,
    _fake: Box<dyn Any + Send + Sync>,
}

impl Fixture {
    /// Starts `M`'s fake, answering after `latency`, with `serials` (and later devices)
    /// enrolled as devices a provider with default rules allows ([`Mdm::enrol`]); its calls
    /// are the requests the MDM counts as upstream ([`Mdm::upstream_requests`]).
    async fn start_fake<M: Mdm>(latency: Duration, serials: &[String]) -> anyhow::Result<Self> {
        Self::start_fake_counting(latency, serials, M::enrol, |fake| {
            M::upstream_requests(&fake.stats())
        })
        .await
    }

    /// Starts `M`'s fake, answering after `latency`, with `serials` enrolled through
    /// `enrol`, which also enrols later devices, and `calls` counting the requests the fake
    /// has answered.
    async fn start_fake_counting<M: Mdm>(
        latency: Duration,
        serials: &[String],
        enrol: fn(&Fake<M>, &str),
        calls: fn(&Fake<M>) -> u64,
    ) -> anyhow::Result<Self> {
        let fake = Arc::new(Fake::<M>::start().await?);
        fake.set_latency(latency);
        for serial in serials {
            enrol(&fake, serial);
        }
        let (enrolling, counting) = (fake.clone(), fake.clone());
        Ok(Self {
            env: fake.env_vars(),
            enrol: Box::new(move |serial| enrol(&enrolling, serial)),
            calls: Box::new(move || calls(&counting)),
            _fake: Box::new(fake),
        })
    }
}

/// What to measure.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) devices: usize,
    pub(crate) added: usize,
    pub(crate) concurrency: usize,
    pub(crate) vendors: Vec<Vendor>,
    pub(crate) work_dir: std::path::PathBuf,
    /// How long the fakes that can wait take to answer.
    pub(crate) latency: Duration,
    /// No new lookup starts after this long; those not asked are counted.
    pub(crate) max_burst: Duration,
}

/// One burst's figures.
#[derive(Clone, Debug)]
pub(crate) struct BurstRow {
    provider: &'static str,
    sync: Option<bool>,
    calls: u64,
    sync_time: Option<Duration>,
    allowed: usize,
    denied: usize,
    errors: usize,
    not_asked: usize,
    p50: Duration,
    p99: Duration,
    wall: Duration,
}

/// Runs every burst.
pub(crate) async fn bursts(options: &Options) -> anyhow::Result<Vec<BurstRow>> {
    std::fs::create_dir_all(&options.work_dir)
        .with_context(|| format!("creating {}", options.work_dir.display()))?;
    let serials: Vec<String> = (0..options.devices)
        .map(|n| format!("C02B{n:08}"))
        .collect();
    let mut rows = Vec::new();
    for &vendor in &options.vendors {
        let modes: &[bool] = if vendor.sync_variable().is_some() {
            &[false, true]
        } else {
            &[false]
        };
        for &sync in modes {
            crate::orchestrate::say(&format!(
                "sync burst: {} devices against {}, sync {}",
                options.devices,
                vendor.name(),
                if sync { "on" } else { "off" }
            ));
            rows.push(burst(vendor, sync, &serials, options).await?);
        }
    }
    Ok(rows)
}

async fn burst(
    vendor: Vendor,
    sync: bool,
    serials: &[String],
    options: &Options,
) -> anyhow::Result<BurstRow> {
    let late = if sync {
        options.added.min(serials.len())
    } else {
        0
    };
    let (first, after) = serials.split_at(serials.len() - late);
    let fixture = vendor
        .start(first, options.latency, &options.work_dir)
        .await?;
    let mut env = fixture.env.clone();
    env.push(("PROVIDER".to_owned(), vendor.name().to_owned()));
    if let (true, Some(variable)) = (sync, vendor.sync_variable()) {
        env.push((variable.to_owned(), "3600".to_owned()));
    }
    let get = |name: &str| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let setup = vendor
        .kind()
        .configure(&get)
        .map_err(|problems| anyhow::anyhow!("{}: {problems}", vendor.name()))?;
    let started = Instant::now();
    let built = setup
        .build()
        .map_err(|err| anyhow::anyhow!("{}: {err}", vendor.name()))?;
    let sync_time = if sync {
        wait_for_index(&built, first.len()).await?;
        Some(started.elapsed())
    } else {
        None
    };
    for serial in after {
        (fixture.enrol)(serial);
    }
    let provider = built.provider().clone();
    let mut latencies = Vec::with_capacity(serials.len());
    let (mut allowed, mut denied, mut errors) = (0, 0, 0);
    let wall = Instant::now();
    let mut in_flight = JoinSet::new();
    let mut next = serials.iter();
    let mut not_asked = 0;
    loop {
        while in_flight.len() < options.concurrency.max(1) {
            if wall.elapsed() > options.max_burst {
                not_asked += next.by_ref().count();
            }
            let Some(serial) = next.next() else { break };
            let provider = provider.clone();
            let request = LookupRequest::new(serial.as_str());
            in_flight.spawn(async move {
                let asked = Instant::now();
                let outcome = provider.lookup_boxed(&request).await;
                (asked.elapsed(), outcome)
            });
        }
        let Some(done) = in_flight.join_next().await else {
            break;
        };
        let (latency, outcome) = done.context("a lookup task panicked")?;
        latencies.push(latency);
        match outcome {
            Ok(Decision::Allow { .. }) => allowed += 1,
            Ok(decision) => {
                if denied == 0 {
                    crate::orchestrate::say(&format!(
                        "  first deny: {}",
                        decision.deny_message().unwrap_or_default()
                    ));
                }
                denied += 1;
            }
            Err(err) => {
                if errors == 0 {
                    crate::orchestrate::say(&format!("  first error: {err}"));
                }
                errors += 1;
            }
        }
    }
    let wall = wall.elapsed();
    latencies.sort_unstable();
    Ok(BurstRow {
        provider: vendor.name(),
        sync: vendor.sync_variable().map(|_| sync),
        calls: (fixture.calls)(),
        sync_time,
        allowed,
        denied,
        errors,
        not_asked,
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
        wall,
    })
}

/// Waits until the provider's inventory gauge shows `devices`.
async fn wait_for_index(built: &posture_core::BuiltProvider, devices: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let listed = built.counters().and_then(|counters| {
            counters
                .samples()
                .into_iter()
                .find(|s: &CounterSample| s.name == "provider_inventory_devices")
                .map(|s| s.value)
        });
        if listed == Some(devices as u64) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the first sync did not finish within 10 minutes (index: {listed:?})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Milliseconds, or microseconds below one.
fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} µs", ms * 1e3)
    }
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * percent)
        .div_ceil(100)
        .clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The bursts as a Markdown table.
pub(crate) fn burst_table(rows: &[BurstRow], options: &Options) -> String {
    let mut out = format!(
        "Burst of {} distinct devices, {} lookups in flight, fakes answering after {} ms (Fleet's \
         and Addigy's at once); with sync on, {} of them enrolled after the first sync. No \
         lookup starts after {} s.\n\n\
         | provider | sync | MDM requests | first sync | allowed | denied | errors | not asked | p50 | p99 | burst wall time |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        options.devices,
        options.concurrency,
        options.latency.as_millis(),
        options.added,
        options.max_burst.as_secs()
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
            row.provider,
            match row.sync {
                None => "n/a",
                Some(true) => "on",
                Some(false) => "off",
            },
            row.calls,
            row.sync_time
                .map_or_else(|| "–".to_owned(), |t| format!("{:.2} s", t.as_secs_f64())),
            row.allowed,
            row.denied,
            row.errors,
            row.not_asked,
            millis(row.p50),
            millis(row.p99),
            row.wall.as_secs_f64(),
        );
    }
    out
}

/// The memory of a synced index of `devices` devices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IndexMemory {
    devices: usize,
    index_bytes: usize,
    /// Resident memory the index kept once the sync's working set was freed.
    resident_after: u64,
    /// The peak resident memory the sync added while pulling and building.
    peak_during: u64,
    sync_time: Duration,
}

/// A source of `devices` synthetic devices in pages of 300 (Kandji's page), each allowed
/// with enrichment shaped like Kandji's, every tenth denied.
struct Synthetic {
    inventory: Inventory,
    devices: u32,
}

impl SyncSource for Synthetic {
    type Record = u32;

    fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    async fn pull(&self, pull: &mut Pull<u32>) -> Result<(), ProviderError> {
        const PAGE: u32 = 300;
        let mut start = 0;
        while start < self.devices {
            let end = (start + PAGE).min(self.devices);
            let page = pull
                .page("synthetic page", || async move { Ok(start..end) })
                .await?;
            for n in page {
                pull.add(serial(n), n);
            }
            start = end;
        }
        Ok(())
    }

    fn decide(&self, key: &str, records: Vec<u32>) -> Decision {
        let n = records.first().copied().unwrap_or_default();
        if n % 10 == 9 {
            return Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!("{key} is in blueprint \"Lab\", not one of \"Engineering Macs\""),
            );
        }
        let json = serde_json::json!({
            "device": {
                "id": format!("{n:08x}-8e9c-420d-a498-f2a1123091c7"),
                "name": format!("Mac {key}"),
                "serial_number": key,
                "model": "MacBook Air (M1, 2020)",
                "platform": "Mac",
                "os_version": "14.4.1",
                "asset_tag": "",
                "last_check_in": "2026-11-23T14:11:37.150080Z",
            },
            "blueprint": {"id": "ab102b9d-8e9c-420d-a498-f2a1123091c7", "name": "Engineering Macs"},
            "user": {
                "id": format!("{n:08x}-8823-4b37-8d6e-8515fc7c3a0a"),
                "name": format!("User {n}"),
                "email": format!("user{n}@example.com"),
            },
            "tags": ["engineering"],
        });
        match Enrichment::from_json(json.to_string()) {
            Ok(enrichment) => Decision::allow_with(enrichment),
            Err(_) => Decision::allow(),
        }
    }
}

fn serial(n: u32) -> String {
    format!("C02B{n:08}")
}

/// Syncs a synthetic inventory of each size and measures the index.
pub(crate) async fn index_memory(sizes: &[usize]) -> anyhow::Result<Vec<IndexMemory>> {
    let pid = std::process::id();
    let mut rows = Vec::new();
    for &devices in sizes {
        crate::orchestrate::say(&format!("sync index memory: {devices} devices"));
        let before = crate::procfs::memory(pid)?;
        let settings = SyncSettings::new("BENCH_SYNC_INTERVAL", "BENCH_SYNC_MAX_AGE")
            .every(Duration::from_secs(3600));
        let source = Synthetic {
            inventory: Inventory::new("synthetic", settings),
            devices: u32::try_from(devices).context("too many devices")?,
        };
        let started = Instant::now();
        let report = posture_http::sync::sync_now(&source)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let sync_time = started.elapsed();
        let after = crate::procfs::memory(pid)?;
        rows.push(IndexMemory {
            devices: report.devices,
            index_bytes: report.index_bytes,
            resident_after: after.rss.saturating_sub(before.rss),
            peak_during: after.peak_rss.saturating_sub(before.rss),
            sync_time,
        });
        drop(source);
    }
    Ok(rows)
}

/// The index memory as a Markdown table.
pub(crate) fn memory_table(rows: &[IndexMemory]) -> String {
    let mut out = String::from(
        "| devices | index (heap) | per device | RSS kept after the sync | peak RSS added during it | sync time (in memory) |\n\
         |--:|--:|--:|--:|--:|--:|\n",
    );
    for row in rows {
        let per_device = row.index_bytes as f64 / row.devices.max(1) as f64;
        let _ = writeln!(
            out,
            "| {} | {:.1} MB | {:.0} B | {:.1} MB | {:.1} MB | {:.2} s |",
            row.devices,
            crate::report::mb(row.index_bytes as u64),
            per_device,
            crate::report::mb(row.resident_after),
            crate::report::mb(row.peak_during),
            row.sync_time.as_secs_f64(),
        );
    }
    out
}
