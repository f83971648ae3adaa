//! Load benchmark of the Jamf provider against the fake Jamf Pro with 50 ms of latency.
//!
//! 200 concurrent lookups over 100 devices (each device asked twice), with no token and an
//! empty cache, for each API; then the same 200 again with a warm cache. It prints the token
//! requests (must be 1), the Jamf lookups (at most 100), the most requests in flight at once
//! (at most `JAMF_MAX_CONNECTIONS`, 5) and the p50/p99 latency, and exits non-zero when a bound
//! is broken. With 5 connections and 50 ms a request, a cold round of 100 distinct devices
//! takes about a second: lookups queue for a slot, as Jamf asks.
//!
//! Run with
//! ```not_rust
//! cargo run --release -p posture-jamf --example jamf_load
//! ```
#![allow(clippy::disallowed_macros)] // a benchmark's job is to print its figures

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use posture_core::{DeviceMode, LookupRequest, PostureProvider};
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use posture_jamf::{JamfApi, JamfConfig, JamfProvider};

const DEVICES: usize = 100;
const REQUESTS: usize = 200;
const LATENCY: Duration = Duration::from_millis(50);

fn serial(i: usize) -> String {
    format!("C02LOAD{:05}", i % DEVICES)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("jamf_load: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    println!(
        "{REQUESTS} concurrent lookups over {DEVICES} devices, fake Jamf latency {} ms, {} worker threads",
        LATENCY.as_millis(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut ok = true;
    for api in [JamfApi::Auto, JamfApi::Classic, JamfApi::Pro] {
        let jamf = FakeJamf::start().await?;
        for i in 0..DEVICES {
            jamf.add_computer(
                FakeDevice::new(serial(i))
                    .with_groups(["Compliant Macs"])
                    .with_department("1", "Engineering"),
            );
        }
        jamf.add_department("1", "Engineering");
        jamf.set_latency(LATENCY);
        let c = jamf.connection();
        let config = JamfConfig::new(&c.base_url, c.client_id, c.client_secret)?
            .with_api(api)
            .with_computer_group("Compliant Macs")
            .with_computer_enrich(true);
        let provider = Arc::new(JamfProvider::new(config)?);

        let cold = round(&provider).await?;
        let fake = jamf.stats();
        let stats = provider.stats();
        println!(
            "{api:>7} cold: token requests {}, Jamf lookups {}, department requests {}, \
             cache misses {} / coalesced {} / hits {}, max concurrent Jamf requests {}",
            fake.token_requests,
            fake.lookup_requests,
            fake.department_requests,
            stats.decisions.misses,
            stats.decisions.coalesced,
            stats.decisions.hits,
            fake.max_concurrent_requests,
        );
        println!("{api:>7} cold: {}", cold.summary());
        let warm = round(&provider).await?;
        println!("{api:>7} warm: {}", warm.summary());
        let after = jamf.stats();
        println!(
            "{api:>7} warm: Jamf lookups added {}",
            after.lookup_requests - fake.lookup_requests
        );

        if fake.token_requests != 1 {
            eprintln!(
                "{api}: expected 1 token request, got {}",
                fake.token_requests
            );
            ok = false;
        }
        let cap = provider.config().max_connections() as u64;
        if fake.max_concurrent_requests > cap {
            eprintln!(
                "{api}: expected at most {cap} requests in flight, got {}",
                fake.max_concurrent_requests
            );
            ok = false;
        }
        if fake.lookup_requests > DEVICES as u64 {
            eprintln!(
                "{api}: expected at most {DEVICES} Jamf lookups, got {}",
                fake.lookup_requests
            );
            ok = false;
        }
    }
    Ok(ok)
}

struct Round {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Round {
    fn percentile(&self, p: f64) -> Duration {
        let rank = ((self.latencies.len() as f64) * p).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn summary(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, all {REQUESTS} done in {:.1} ms",
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            ms(self.percentile(1.0)),
            ms(self.wall),
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn round(provider: &Arc<JamfProvider>) -> Result<Round, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        let provider = provider.clone();
        tasks.spawn(async move {
            let request = LookupRequest::new(serial(i)).with_mode(DeviceMode::Computer);
            let begun = Instant::now();
            let decision = provider.lookup(&request).await;
            (begun.elapsed(), decision)
        });
    }
    let mut latencies = Vec::with_capacity(REQUESTS);
    while let Some(joined) = tasks.join_next().await {
        let (latency, decision) = joined?;
        if !decision?.is_allowed() {
            return Err("a lookup was denied".into());
        }
        latencies.push(latency);
    }
    latencies.sort();
    Ok(Round {
        latencies,
        wall: started.elapsed(),
    })
}
