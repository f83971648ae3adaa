//! `step-posture-load`: the load harness behind BENCHMARKS.md.
//!
//! ```text
//! cargo run --release -p step-posture-load -- all       # everything, prints the tables
//! cargo run --release -p step-posture-load -- devices --dir /tmp/devices
//! cargo run --release -p step-posture-load -- ceiling   # configured like the server
//! cargo run --release -p step-posture-load -- sync    # inventory sync: bursts and index memory
//! cargo run --release -p step-posture-load -- load --url … --ca-cert … --webhook-id … --secret … --pid …
//! ```
#![allow(clippy::disallowed_macros)] // a harness's job is to print its figures

mod ceiling;
mod devices;
mod load;
#[cfg(test)]
mod loopback_tests;
mod orchestrate;
mod procfs;
mod report;
mod sync_burst;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use smallstep_webhook::WebhookSecret;
use step_posture_connector::config::gather_environment;

use crate::devices::Format;
use crate::load::{CsrPool, Stop, Target};
use crate::orchestrate::say;

#[derive(Parser)]
#[command(about = "Load harness for step-posture-connector", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the server, generate the device files, run every scenario against the real
    /// server and the ceiling, and print the BENCHMARKS.md tables.
    All {
        /// Runs of every scenario (figures are medians).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Seconds of measured load per scenario.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Keep-alive TLS connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Devices asked about per scenario, spread over the list, each with its own CSR.
        #[arg(long, default_value_t = 1024)]
        pool: usize,
        /// Directory for device files, certificates and the server binary
        /// (default: step-posture-load in the system temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// The server binary to measure (default: `cargo build --release` it).
        #[arg(long)]
        server_bin: Option<PathBuf>,
        /// Also reload (SIGHUP) the 1M-device file under load; needs a server with reload.
        #[arg(long)]
        reload: bool,
        /// Fake Jamf latency, in milliseconds.
        #[arg(long, default_value_t = 50)]
        jamf_latency_ms: u64,
        /// Also write the tables to this file.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Run only these groups of scenarios (the others show as not measured).
        #[arg(long, value_delimiter = ',', default_values_t = orchestrate::Group::ALL)]
        only: Vec<orchestrate::Group>,
    },
    /// Inventory sync: a burst of distinct devices against each fake MDM with sync off and
    /// on (and the file provider as the baseline), then the synced index's memory.
    Sync {
        /// Distinct devices in the burst.
        #[arg(long, default_value_t = 20_000)]
        devices: usize,
        /// Of those, how many are enrolled only after the first sync.
        #[arg(long, default_value_t = 100)]
        added: usize,
        /// Lookups in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Milliseconds the fakes (those that can) take to answer.
        #[arg(long, default_value_t = 50)]
        latency_ms: u64,
        /// Seconds after which no new lookup of a burst starts (the rest count as not asked).
        #[arg(long, default_value_t = 120.0)]
        max_burst: f64,
        /// Providers to burst.
        #[arg(long, value_delimiter = ',', default_values_t = sync_burst::Vendor::ALL.to_vec())]
        providers: Vec<sync_burst::Vendor>,
        /// Index sizes to measure the memory of (0 to skip).
        #[arg(long, value_delimiter = ',', default_values_t = [100_000, 1_000_000])]
        index_sizes: Vec<usize>,
        /// Directory for the baseline's device file.
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Also write the tables to this file.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Write device files of the given sizes, in JSON and CSV.
    Devices {
        /// Where to write them.
        #[arg(long)]
        dir: PathBuf,
        /// Device counts.
        #[arg(long, value_delimiter = ',', default_values_t = devices::SIZES)]
        sizes: Vec<usize>,
    },
    /// Serve as the ceiling: bare hyper + rustls answering every POST with a fixed body,
    /// configured from the server's environment variables (TLS_*, BIND_ADDRESS, PORT, …).
    Ceiling,
    /// Load a running webhook as step-ca would and report latency, outcomes and, with
    /// --pid, the server's CPU per request and peak RSS.
    Load {
        /// Webhook URL, e.g. https://127.0.0.1:9443/webhook/device-attest
        #[arg(long)]
        url: String,
        /// CA certificate that issued the server's certificate, PEM.
        #[arg(long)]
        ca_cert: PathBuf,
        /// Webhook ID.
        #[arg(long)]
        webhook_id: String,
        /// Webhook secret, base64 as step-ca prints it.
        #[arg(long, env = "LOAD_SECRET", hide_env_values = true)]
        secret: String,
        /// The server's process ID, to read its CPU time and memory.
        #[arg(long)]
        pid: Option<u32>,
        /// Keep-alive TLS connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Seconds of measured load.
        #[arg(long, default_value_t = 5.0, conflicts_with = "requests")]
        duration: f64,
        /// Stop after this many measured requests instead.
        #[arg(long)]
        requests: Option<u64>,
        /// Devices in the server's list, named as `devices` names them.
        #[arg(long, default_value_t = 1000)]
        devices: usize,
        /// Devices to ask about, spread over the list.
        #[arg(long, default_value_t = 1024)]
        pool: usize,
        /// Unmeasured requests per connection first.
        #[arg(long, default_value_t = 20)]
        warmup: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("step-posture-load: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("step-posture-load: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::All {
            runs,
            duration,
            connections,
            pool,
            work_dir,
            server_bin,
            reload,
            jamf_latency_ms,
            output,
            only,
        } => {
            let options = orchestrate::Options {
                runs: runs.max(1),
                duration: seconds(duration)?,
                connections,
                pool,
                work_dir: work_dir
                    .unwrap_or_else(|| std::env::temp_dir().join("step-posture-load")),
                server_bin,
                reload,
                jamf_latency: Duration::from_millis(jamf_latency_ms),
                groups: only,
            };
            let header = machine();
            let results = orchestrate::all(&options).await?;
            let tables = format!("{header}\n{}", results.markdown());
            println!("{tables}");
            if let Some(path) = output {
                std::fs::write(&path, &tables)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Sync {
            devices,
            added,
            concurrency,
            latency_ms,
            max_burst,
            providers,
            index_sizes,
            work_dir,
            output,
        } => {
            let options = sync_burst::Options {
                devices,
                added,
                concurrency,
                vendors: providers,
                latency: Duration::from_millis(latency_ms),
                max_burst: seconds(max_burst)?,
                work_dir: work_dir
                    .unwrap_or_else(|| std::env::temp_dir().join("step-posture-load")),
            };
            // The index first, while the process is small: its RSS figures are deltas.
            let sizes: Vec<usize> = index_sizes.into_iter().filter(|&n| n > 0).collect();
            let memory = sync_burst::index_memory(&sizes).await?;
            let rows = sync_burst::bursts(&options).await?;
            let tables = format!(
                "{}\n{}\n{}",
                machine(),
                sync_burst::burst_table(&rows, &options),
                sync_burst::memory_table(&memory)
            );
            println!("{tables}");
            if let Some(path) = output {
                std::fs::write(&path, &tables)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Devices { dir, sizes } => {
            for devices in sizes {
                for format in [Format::Json, Format::Csv] {
                    let path = devices::write(&dir, devices, format)?;
                    println!("{}", path.display());
                }
            }
        }
        Command::Ceiling => {
            let vars = gather_environment(std::path::Path::new("."))?;
            let ceiling = ceiling::Ceiling::bind(&vars).await?;
            say(&format!(
                "ceiling: listening on https://{}/",
                ceiling.local_addr()?
            ));
            ceiling.run().await;
        }
        Command::Load {
            url,
            ca_cert,
            webhook_id,
            secret,
            pid,
            connections,
            duration,
            requests,
            devices,
            pool,
            warmup,
        } => {
            let target = Target {
                url: url.parse().with_context(|| format!("--url {url:?}"))?,
                ca: ca_cert,
                webhook_id,
                secret: WebhookSecret::from_base64(&secret)
                    .context("--secret is not a webhook secret")?,
                connections,
                warmup,
                server_pid: pid,
            };
            let stop = match requests {
                Some(n) => Stop::Requests(n),
                None => Stop::After(seconds(duration)?),
            };
            let bodies = CsrPool::default().bodies(&devices::sample(devices, pool))?;
            let clock = procfs::ClockTicks::query()?;
            let report = load::run(&target, bodies, stop, clock).await?;
            println!("{}", report.summary());
        }
    }
    Ok(())
}

fn seconds(value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("{value} is not a duration in seconds"))
}

/// The machine, for the record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "Machine: {cpu}, nproc = {cores}; load average at the end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}
