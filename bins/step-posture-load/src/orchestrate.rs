//! `all`: builds the server, generates the device files and a PKI, then, for each of
//! several runs, starts the ceiling server and the real server binary in each
//! configuration as child processes, loads each with the same client, and prints every
//! figure of BENCHMARKS.md as the median over the runs, with ratios to the ceiling
//! measured in the same run.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};
use smallstep_webhook::WebhookSecret;
use step_posture_connector::client::{Connection, client_config};
use step_posture_connector::commands::random_uuid;
use step_posture_connector::handler::WEBHOOK_PATH;
use step_posture_connector::logging::filter_for_level;
use step_posture_connector::pki::generate_demo_pki;

use crate::devices::{self, Format, SIZES};
use crate::load::{self, CsrPool, Report, Stop, Target};
use crate::procfs::{self, ClockTicks};
use crate::report::{BURST_DEVICES, Results, Startup, mb};

/// Settings of `all`.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Runs of every scenario; figures are medians over them.
    pub(crate) runs: usize,
    /// Measured time of each load.
    pub(crate) duration: Duration,
    /// Keep-alive connections.
    pub(crate) connections: usize,
    /// Devices each load asks about (spread over the list).
    pub(crate) pool: usize,
    /// Where device files, certificates and the server binary copy go.
    pub(crate) work_dir: PathBuf,
    /// The server binary; built with cargo when not given.
    pub(crate) server_bin: Option<PathBuf>,
    /// Also measure a SIGHUP reload of the 1M-device file under load.
    pub(crate) reload: bool,
    /// Upstream latency of the fake Jamf.
    pub(crate) jamf_latency: Duration,
    /// The groups of scenarios to run.
    pub(crate) groups: Vec<Group>,
}

/// A group of scenarios `all` runs, so one part can be measured again on its own.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub(crate) enum Group {
    /// The ceiling, the file provider at every size (CSV), and JSON start-up.
    File,
    /// Jamf with a warm and a cold cache.
    Jamf,
    /// Jamf token requests per token lifetime.
    Tokens,
    /// A burst of distinct devices: the file provider against a synced Kandji.
    Sync,
}

impl Group {
    /// Every group, the default.
    pub(crate) const ALL: [Self; 4] = [Self::File, Self::Jamf, Self::Tokens, Self::Sync];
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::File => "file",
            Self::Jamf => "jamf",
            Self::Tokens => "tokens",
            Self::Sync => "sync",
        })
    }
}

/// Fixed parts of every server's environment.
struct Setup {
    dir: PathBuf,
    server_bin: PathBuf,
    harness_bin: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    webhook_id: String,
    secret: WebhookSecret,
    clock: ClockTicks,
}

impl Setup {
    fn base_vars(&self) -> HashMap<String, String> {
        [
            ("TLS_CERT_PATH", self.cert.display().to_string()),
            ("TLS_KEY_PATH", self.key.display().to_string()),
            ("WEBHOOK_IDS", self.webhook_id.clone()),
            ("WEBHOOK_SECRETS", self.secret.to_base64()),
            ("BIND_ADDRESS", "127.0.0.1".to_owned()),
            ("PORT", "0".to_owned()),
            ("LOGGING_LEVEL", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn file_vars(&self, devices: usize, format: Format) -> HashMap<String, String> {
        let mut vars = self.base_vars();
        vars.insert("PROVIDER".into(), "file".into());
        vars.insert(
            "FILE_PATH".into(),
            devices::path(&self.dir, devices, format)
                .display()
                .to_string(),
        );
        vars.insert("FILE_TYPE".into(), format.as_str().into());
        vars
    }

    fn target(&self, port: u16, query: &str, connections: usize, warmup: u64) -> Target {
        let url = format!("https://127.0.0.1:{port}{WEBHOOK_PATH}{query}");
        Target {
            url: url
                .parse()
                .unwrap_or_else(|_| Uri::from_static("https://127.0.0.1/")),
            ca: self.ca.clone(),
            webhook_id: self.webhook_id.clone(),
            secret: self.secret.clone(),
            connections,
            warmup,
            server_pid: None,
        }
    }
}

/// Runs everything and returns the results.
pub(crate) async fn all(options: &Options) -> anyhow::Result<Results> {
    if cfg!(debug_assertions) {
        say("warning: the harness is a debug build; run it with --release");
    }
    std::fs::create_dir_all(&options.work_dir)
        .with_context(|| format!("creating {}", options.work_dir.display()))?;
    let setup = prepare(options)?;
    let mut pool = CsrPool::default();
    let mut results = Results::new(options);

    say(&format!(
        "device pools: {} devices per run, each with its own key and CSR",
        options.pool
    ));
    let mut bodies = HashMap::new();
    for devices in SIZES {
        let started = Instant::now();
        bodies.insert(
            devices,
            pool.bodies(&devices::sample(devices, options.pool))?,
        );
        say(&format!(
            "  {devices} devices: {} CSRs ready in {:.2} s",
            bodies.get(&devices).map_or(0, Vec::len),
            started.elapsed().as_secs_f64()
        ));
    }
    let jamf_ids = devices::sample(1_000, 1_000);
    let jamf_bodies = pool.bodies(&jamf_ids)?;
    let wants = |group| options.groups.contains(&group);
    let (burst_ids, burst_bodies) = if wants(Group::Sync) {
        let ids = devices::sample(100_000, BURST_DEVICES);
        let started = Instant::now();
        let bodies = pool.bodies(&ids)?;
        say(&format!(
            "  burst: {} CSRs ready in {:.2} s",
            bodies.len(),
            started.elapsed().as_secs_f64()
        ));
        (ids, bodies)
    } else {
        (Vec::new(), Vec::new())
    };

    for run in 1..=options.runs {
        say(&format!("== run {run} of {}", options.runs));

        // The ceiling first, then the server on the same settings.
        if wants(Group::File) {
            // A load of the file provider's bodies for `devices` devices.
            let file_load = async |program, vars: &HashMap<String, String>, devices: usize| {
                let bodies = bodies.get(&devices).cloned().unwrap_or_default();
                load_process(&setup, options, program, vars, "", bodies).await
            };
            let ceiling_vars = setup.file_vars(1_000, Format::Csv);
            let (report, _) = file_load(Program::Ceiling, &ceiling_vars, 1_000).await?;
            say(&format!("ceiling: {}", report.summary()));
            results.ceiling.push(report);

            for devices in SIZES {
                let vars = setup.file_vars(devices, Format::Csv);
                let (report, startup) = file_load(Program::Server, &vars, devices).await?;
                say(&format!(
                    "file, {devices} devices (CSV): listening after {:.0} ms, ready after {:.0} ms ({:.1} MB resident); {}",
                    startup.listening.as_secs_f64() * 1000.0,
                    startup.ready.as_secs_f64() * 1000.0,
                    mb(startup.rss),
                    report.summary()
                ));
                results.file.entry(devices).or_default().push(report);
                results
                    .startup
                    .entry((devices, Format::Csv))
                    .or_default()
                    .push(startup);
            }

            // The same as 1,000 devices, with only the decision lines filtered out.
            let mut vars = setup.file_vars(1_000, Format::Csv);
            vars.insert(
                "RUST_LOG".into(),
                format!(
                    "{},step_posture_connector::decision=off",
                    filter_for_level(0)
                ),
            );
            let (report, _) = file_load(Program::Server, &vars, 1_000).await?;
            say(&format!(
                "file, 1000 devices, decision lines off: {}",
                report.summary()
            ));
            results.unlogged.push(report);

            for devices in [100_000, 1_000_000] {
                let vars = setup.file_vars(devices, Format::Json);
                let mut process = Spawned::start(&setup, Program::Server, &vars)?;
                let startup = process.wait_ready(&setup).await?;
                process.stop();
                say(&format!(
                    "file, {devices} devices (JSON): started in {:.0} ms, peak RSS {:.1} MB",
                    startup.ready.as_secs_f64() * 1000.0,
                    mb(startup.peak_rss)
                ));
                results
                    .startup
                    .entry((devices, Format::Json))
                    .or_default()
                    .push(startup);
            }
        }

        if wants(Group::Jamf) {
            let (warm, cold) = jamf(&setup, options, &jamf_ids, &jamf_bodies).await?;
            results.jamf_warm.push(warm);
            results.jamf_cold.push(cold);
        }

        if wants(Group::Sync) {
            let (file, kandji, calls) = burst(&setup, options, &burst_ids, &burst_bodies).await?;
            results.burst_file.push(file);
            results.burst_kandji.push(kandji);
            results.burst_kandji_calls.push(calls);
        }

        if run == 1 && wants(Group::Tokens) {
            results.tokens = Some(jamf_tokens(&setup, options, &jamf_ids, &jamf_bodies).await?);
        }

        if options.reload {
            let report = reload(
                &setup,
                options,
                bodies.get(&1_000_000).cloned().unwrap_or_default(),
            )
            .await?;
            results.reload.push(report);
        }
    }
    Ok(results)
}

/// Which program a child process runs.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Program {
    /// The real server binary.
    Server,
    /// This harness's ceiling server.
    Ceiling,
}

/// Starts `program`, waits until it is ready, loads it for the configured duration, and
/// stops it.
async fn load_process(
    setup: &Setup,
    options: &Options,
    program: Program,
    vars: &HashMap<String, String>,
    query: &str,
    bodies: Vec<smallstep_webhook::RequestBody>,
) -> anyhow::Result<(Report, Startup)> {
    let mut process = Spawned::start(setup, program, vars)?;
    let startup = process.wait_ready(setup).await?;
    let mut target = setup.target(startup.port, query, options.connections, 20);
    target.server_pid = Some(process.pid);
    let report = load::run(&target, bodies, Stop::After(options.duration), setup.clock).await;
    process.stop();
    Ok((report?, startup))
}

/// The Jamf figures of one run: warm-cache load and cold-cache latency.
async fn jamf(
    setup: &Setup,
    options: &Options,
    ids: &[String],
    bodies: &[smallstep_webhook::RequestBody],
) -> anyhow::Result<(Report, Report)> {
    // Warm: every device asked once (cold), then load on a warm cache.
    let fake = fake_jamf(ids, options.jamf_latency).await?;
    let vars = jamf_vars(setup, &fake, "3600");
    let mut process = Spawned::start(setup, Program::Server, &vars)?;
    let startup = process.wait_ready(setup).await?;
    let mut target = setup.target(startup.port, "?mode=computer", options.connections, 0);
    let warming = load::run(
        &target,
        bodies.to_vec(),
        Stop::Requests(bodies.len() as u64),
        setup.clock,
    )
    .await?;
    target.server_pid = Some(process.pid);
    target.warmup = 20;
    let before = fake.stats();
    let warm = load::run(
        &target,
        bodies.to_vec(),
        Stop::After(options.duration),
        setup.clock,
    )
    .await;
    let after = fake.stats();
    process.stop();
    let warm = warm?;
    say(&format!(
        "jamf, warm cache ({} devices, warmed with {} requests): {}; Jamf lookups during the load: {}",
        ids.len(),
        warming.requests(),
        warm.summary(),
        after.lookup_requests - before.lookup_requests
    ));

    // Cold: a new server (empty cache) and a new fake; every device asked once.
    let fake = fake_jamf(ids, options.jamf_latency).await?;
    let vars = jamf_vars(setup, &fake, "3600");
    let mut process = Spawned::start(setup, Program::Server, &vars)?;
    let startup = process.wait_ready(setup).await?;
    let mut target = setup.target(startup.port, "?mode=computer", options.connections, 0);
    target.server_pid = Some(process.pid);
    let cold = load::run(
        &target,
        bodies.to_vec(),
        Stop::Requests(bodies.len() as u64),
        setup.clock,
    )
    .await;
    process.stop();
    let cold = cold?;
    let stats = fake.stats();
    say(&format!(
        "jamf, cold cache (upstream latency {} ms): {}; Jamf token requests {}, lookups {}",
        options.jamf_latency.as_millis(),
        cold.summary(),
        stats.token_requests,
        stats.lookup_requests
    ));
    Ok((warm, cold))
}

/// A burst of distinct devices, each asked once: the file provider (100,000 devices, CSV)
/// against a Kandji with inventory sync on (the same devices, 50 ms upstream), after its first
/// sync. Returns both reports and the Kandji requests during the burst.
async fn burst(
    setup: &Setup,
    options: &Options,
    ids: &[String],
    bodies: &[smallstep_webhook::RequestBody],
) -> anyhow::Result<(Report, Report, u64)> {
    let requests = Stop::Requests(bodies.len() as u64);
    let vars = setup.file_vars(100_000, Format::Csv);
    let mut process = Spawned::start(setup, Program::Server, &vars)?;
    let startup = process.wait_ready(setup).await?;
    let mut target = setup.target(startup.port, "", options.connections, 0);
    target.server_pid = Some(process.pid);
    let file = load::run(&target, bodies.to_vec(), requests, setup.clock).await;
    process.stop();
    let file = file?;
    say(&format!(
        "file, burst of {} devices: {}",
        ids.len(),
        file.summary()
    ));

    let fake = FakeKandji::start()
        .await
        .context("starting the fake Kandji")?;
    for id in ids {
        fake.add_device(FakeKandjiDevice::new(id.clone()));
    }
    fake.set_latency(options.jamf_latency);
    let mut vars = setup.base_vars();
    vars.insert("PROVIDER".into(), "kandji".into());
    vars.extend(fake.env_vars());
    vars.insert("KANDJI_SYNC_INTERVAL".into(), "3600".into());
    let mut process = Spawned::start(setup, Program::Server, &vars)?;
    let startup = process.wait_ready(setup).await?;
    // The first sync reads every page of 300, then swaps the index in.
    let pages = ids.len().div_ceil(300) as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.stats().device_requests < pages + 1 {
        if Instant::now() > deadline {
            anyhow::bail!("the synced Kandji's first sync did not finish within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = fake.stats().requests;
    let mut target = setup.target(startup.port, "", options.connections, 0);
    target.server_pid = Some(process.pid);
    let kandji = load::run(&target, bodies.to_vec(), requests, setup.clock).await;
    let calls = fake.stats().requests - before;
    process.stop();
    let kandji = kandji?;
    say(&format!(
        "kandji synced, burst of {} devices: {}; Kandji requests during the burst: {calls}",
        ids.len(),
        kandji.summary()
    ));
    Ok((file, kandji, calls))
}

/// Token requests per lifetime: a short token lifetime, no lookup cache, so every request
/// needs a token, at full concurrency.
async fn jamf_tokens(
    setup: &Setup,
    options: &Options,
    ids: &[String],
    bodies: &[smallstep_webhook::RequestBody],
) -> anyhow::Result<crate::report::Tokens> {
    const LIFETIME: Duration = Duration::from_secs(4);
    let fake = fake_jamf(ids, options.jamf_latency).await?;
    fake.set_token_lifetime(LIFETIME);
    let vars = jamf_vars(setup, &fake, "0");
    let mut process = Spawned::start(setup, Program::Server, &vars)?;
    let startup = process.wait_ready(setup).await?;
    let target = setup.target(startup.port, "?mode=computer", options.connections, 0);
    let duration = Duration::from_secs(10);
    let report = load::run(&target, bodies.to_vec(), Stop::After(duration), setup.clock).await;
    let server_life = process.started.elapsed();
    process.stop();
    let report = report?;
    let stats = fake.stats();
    let tokens = crate::report::Tokens {
        lifetime: LIFETIME,
        // Tokens shorter than twice the 30 s renewal margin are renewed at half-life.
        renewal: LIFETIME / 2,
        server_life,
        token_requests: stats.token_requests,
        lookups: stats.lookup_requests,
        max_concurrent: stats.max_concurrent_requests,
        errors: report.errors,
    };
    say(&format!(
        "jamf tokens: lifetime {} s, {} requests ({} errors) over {:.1} s at {} connections: {} token requests, {} lookups, at most {} Jamf requests at once",
        LIFETIME.as_secs(),
        report.requests(),
        report.errors,
        server_life.as_secs_f64(),
        options.connections,
        stats.token_requests,
        stats.lookup_requests,
        stats.max_concurrent_requests
    ));
    Ok(tokens)
}

/// A SIGHUP reload of the 1M-device file in the middle of a load.
async fn reload(
    setup: &Setup,
    options: &Options,
    bodies: Vec<smallstep_webhook::RequestBody>,
) -> anyhow::Result<Report> {
    let vars = setup.file_vars(1_000_000, Format::Csv);
    let mut process = Spawned::start(setup, Program::Server, &vars)?;
    let startup = process.wait_ready(setup).await?;
    let mut target = setup.target(startup.port, "", options.connections, 20);
    target.server_pid = Some(process.pid);
    let pid = process.pid;
    let duration = options.duration * 2;
    let signal = tokio::spawn(async move {
        tokio::time::sleep(duration / 4).await;
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
    });
    let report = load::run(&target, bodies, Stop::After(duration), setup.clock).await;
    let signalled = signal.await;
    let exited = process.child.try_wait().ok().flatten();
    process.stop();
    let report = report?;
    match signalled {
        Ok(Ok(status)) if status.success() => {}
        other => bail!("could not send SIGHUP: {other:?}"),
    }
    if let Some(status) = exited {
        bail!("the server exited on SIGHUP ({status}): this branch has no reload");
    }
    say(&format!(
        "reload of 1M devices under load: {}",
        report.summary()
    ));
    Ok(report)
}

async fn fake_jamf(ids: &[String], latency: Duration) -> anyhow::Result<FakeJamf> {
    let fake = FakeJamf::start().await.context("starting the fake Jamf")?;
    for id in ids {
        fake.add_computer(
            FakeDevice::new(id.clone())
                .with_groups(["Compliant Macs"])
                .with_department("1", "Engineering"),
        );
    }
    fake.add_department("1", "Engineering");
    fake.set_latency(latency);
    Ok(fake)
}

fn jamf_vars(setup: &Setup, fake: &FakeJamf, cache_ttl: &str) -> HashMap<String, String> {
    let mut vars = setup.base_vars();
    vars.insert("PROVIDER".into(), "jamf".into());
    vars.extend(fake.env_vars());
    vars.insert("JAMF_COMPUTER_GROUP".into(), "Compliant Macs".into());
    vars.insert("JAMF_COMPUTER_ENRICH".into(), "1".into());
    vars.insert("JAMF_CACHE_TTL".into(), cache_ttl.into());
    vars.insert("JAMF_NEGATIVE_CACHE_TTL".into(), cache_ttl.into());
    vars
}

/// Builds (or takes) the server binary, writes the PKI and the device files.
fn prepare(options: &Options) -> anyhow::Result<Setup> {
    let dir = options.work_dir.clone();
    let server_bin = match &options.server_bin {
        Some(path) => path.clone(),
        None => build_server(&dir)?,
    };
    let harness_bin = std::env::current_exe().context("finding the harness binary")?;
    let pki = generate_demo_pki()?;
    let ca = dir.join("ca.pem");
    let cert = dir.join("server.pem");
    let key = dir.join("server-key.pem");
    for (path, text) in [
        (&ca, &pki.ca_pem),
        (&cert, &pki.cert_pem),
        (&key, &pki.key_pem),
    ] {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    for devices in SIZES {
        for format in [Format::Json, Format::Csv] {
            let started = Instant::now();
            let path = devices::write(&dir, devices, format)?;
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            say(&format!(
                "wrote {} ({:.1} MB) in {:.2} s",
                path.display(),
                mb(size),
                started.elapsed().as_secs_f64()
            ));
        }
    }
    Ok(Setup {
        dir,
        server_bin,
        harness_bin,
        ca,
        cert,
        key,
        webhook_id: random_uuid()?,
        secret: WebhookSecret::generate().context("generating a webhook secret")?,
        clock: ClockTicks::query()?,
    })
}

/// `cargo build --release` of the server binary from this workspace, copied into
/// `dir` so that another build sharing the target directory can't replace it mid-run.
fn build_server(dir: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    say("building the server: cargo build --release -p step-posture-connector");
    let output = Command::new(cargo)
        .args(["build", "--release", "--bin", "step-posture-connector"])
        .args(["-p", "step-posture-connector", "--message-format=json"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !output.status.success() {
        bail!("cargo build of the server failed: {}", output.status);
    }
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains("\"compiler-artifact\""))
        .filter(|line| line.contains("\"name\":\"step-posture-connector\""))
        .find_map(|line| {
            let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = start + line[start..].find('"')?;
            Some(PathBuf::from(&line[start..end]))
        })
        .context("cargo build did not report the server executable")?;
    let copy = dir.join("step-posture-connector");
    std::fs::copy(&built, &copy)
        .with_context(|| format!("copying {} to {}", built.display(), copy.display()))?;
    Ok(copy)
}

/// A child process: the server or the ceiling.
struct Spawned {
    child: Child,
    pid: u32,
    started: Instant,
    listening: mpsc::Receiver<(String, Instant)>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Spawned {
    fn start(
        setup: &Setup,
        program: Program,
        vars: &HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let mut command = match program {
            Program::Server => Command::new(&setup.server_bin),
            Program::Ceiling => {
                let mut command = Command::new(&setup.harness_bin);
                command.arg("ceiling");
                command
            }
        };
        command
            .env_clear()
            .envs(vars)
            .current_dir(&setup.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {program:?}"))?;
        let pid = child.id();
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (sender, listening) = mpsc::channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let lines = tail.clone();
        std::thread::spawn(move || {
            // Reads (and drops) every log line, so the server never blocks on a full pipe.
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on https://").nth(1) {
                    let address = rest.split('/').next().unwrap_or("").to_owned();
                    let _ = sender.send((address, Instant::now()));
                }
                let mut tail = lines.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() == 20 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        Ok(Self {
            child,
            pid,
            started,
            listening,
            tail,
        })
    }

    /// Waits for the listening line, then for `/readyz` to answer 200.
    async fn wait_ready(&mut self, setup: &Setup) -> anyhow::Result<Startup> {
        let deadline = self.started + Duration::from_secs(60);
        let (address, listening_at) = loop {
            match self.listening.try_recv() {
                Ok(found) => break found,
                Err(mpsc::TryRecvError::Empty) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        bail!(
                            "the process exited ({status}) before listening:\n{}",
                            self.tail()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(_) => bail!("the process did not start listening:\n{}", self.tail()),
            }
        };
        let port: u16 = address
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .with_context(|| format!("no port in the listening line ({address:?})"))?;
        let url: Uri = format!("https://127.0.0.1:{port}/readyz").parse()?;
        let tls = client_config(Some(&setup.ca), None)?;
        let mut connection = Connection::open(&url, tls).await?;
        loop {
            let (status, _) = connection
                .send(Method::GET, &url, &HeaderMap::new(), Bytes::new())
                .await?;
            if status == StatusCode::OK {
                break;
            }
            if Instant::now() > deadline {
                bail!("/readyz answered {status} for a minute");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let ready = self.started.elapsed();
        let memory = procfs::memory(self.pid)?;
        Ok(Startup {
            port,
            listening: listening_at.duration_since(self.started),
            ready,
            rss: memory.rss,
            peak_rss: memory.peak_rss,
        })
    }

    fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Progress on stderr.
pub(crate) fn say(line: &str) {
    #[allow(clippy::disallowed_macros)] // the harness reports progress on stderr
    {
        eprintln!("{line}");
    }
}
