//! Logging setup: `LOGGING_LEVEL` (0, 1, 2) and `LOG_FORMAT` (text, json); `RUST_LOG`
//! overrides the level.
//!
//! # Where lines go, and when
//!
//! The subscriber formats each line whole, then hands it to `LogSink`. On a thread that
//! called `batch_this_thread` (the runtime's workers, see `runtime`) the line joins a
//! per-thread batch, written with one `write` when the worker runs out of work and parks,
//! when the batch reaches 64 KiB, or when the thread stops. Anywhere else the line is
//! written at once. stderr is usually a pipe to a log collector, and each `write` to a
//! pipe wakes its reader: one per decision line cost more than verifying and deciding the
//! request (BENCHMARKS.md, "decision lines off"). A worker parks as soon as it is idle,
//! so when traffic is light every line still goes out immediately; under load, lines wait
//! at most for the batch to fill.
//!
//! # The decision line
//!
//! The per-decision audit line has a formatter of its own (`audit`): the same bytes as the
//! subscriber's `text` or `json` line for the same event, written straight into the batch
//! above, with none of the subscriber's per-field machinery. It still obeys the filter
//! (`RUST_LOG`, `LOGGING_LEVEL`) for its target, `step_posture_connector::decision`, and
//! joins the same batches. Every other line goes through `tracing-subscriber`.
//!
//! # Refused requests
//!
//! Every request that was authenticated gets its decision line. Requests refused before
//! authentication (401, 413, 429, an unreadable body) are unauthenticated and cheap to send,
//! so one line each would let anyone fill the disk: `RefusalLog` writes their lines only
//! while they come at most `REFUSED_LINES_PER_SECOND` a second, and past that counts them
//! and writes one summary line per `REFUSAL_SUMMARY_INTERVAL` instead. Every refused
//! request is either on a line of its own or counted in a summary.
//!
//! Writes go to a duplicate of the stderr descriptor rather than through
//! `std::io::stderr()`, whose lock the workers would otherwise contend for. Batches end on
//! line boundaries, so lines never interleave. A process killed outright loses at most the
//! lines of its workers' current batches; a clean shutdown stops the workers, which writes
//! them.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

mod audit;

pub(crate) use audit::DecisionLine;

/// A batch is written once it holds this much.
const BATCH_BYTES: usize = 64 * 1024;

thread_local! {
    /// This thread's batch, when it batches.
    static BATCH: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// stderr, duplicated once for the process; `None` if it could not be.
#[cfg_attr(test, allow(dead_code))]
fn stderr_file() -> Option<&'static Arc<File>> {
    static STDERR: OnceLock<Option<Arc<File>>> = OnceLock::new();
    STDERR
        .get_or_init(|| {
            io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(|fd| Arc::new(File::from(fd)))
        })
        .as_ref()
}

fn write_out(bytes: &[u8]) -> io::Result<()> {
    #[cfg(test)]
    return tests::capture(bytes);
    #[cfg(not(test))]
    match stderr_file() {
        Some(file) => (&**file).write_all(bytes),
        None => io::stderr().lock().write_all(bytes),
    }
}

/// Makes the calling thread batch its log lines until [`flush_this_thread`]. For threads
/// that flush when idle, such as the runtime's workers.
pub(crate) fn batch_this_thread() {
    BATCH.with(|batch| {
        batch
            .borrow_mut()
            .get_or_insert_with(|| Vec::with_capacity(BATCH_BYTES));
    });
}

/// Writes the calling thread's batch, if it has one.
pub(crate) fn flush_this_thread() {
    BATCH.with(|batch| {
        if let Ok(mut batch) = batch.try_borrow_mut()
            && let Some(pending) = batch.as_mut()
            && !pending.is_empty()
        {
            // Nowhere to report a failed write to stderr; the lines are dropped rather than
            // kept growing.
            let _ = write_out(pending);
            pending.clear();
        }
    });
}

/// Formats one line with `format` straight into the calling thread's batch, or, on a
/// thread that does not batch, into a buffer written at once.
pub(crate) fn write_line(format: impl FnOnce(&mut Vec<u8>)) {
    let mut format = Some(format);
    let _ = BATCH.try_with(|batch| {
        if let Ok(mut batch) = batch.try_borrow_mut()
            && let Some(pending) = batch.as_mut()
            && let Some(format) = format.take()
        {
            format(pending);
            if pending.len() >= BATCH_BYTES {
                let _ = write_out(pending);
                pending.clear();
            }
        }
    });
    if let Some(format) = format {
        let mut line = Vec::with_capacity(512);
        format(&mut line);
        let _ = write_out(&line);
    }
}

/// The multi-threaded runtime the server runs on, its workers batching log lines.
///
/// A worker starts batching the first time it parks, and writes its batch every time it
/// parks. The blocking pool's threads never park this way, so they never batch: a line
/// logged there (a device-list reload, say) is written at once rather than when the
/// thread retires.
pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(|| {
            flush_this_thread();
            batch_this_thread();
        })
        .on_thread_stop(flush_this_thread)
        .build()
}

/// The subscriber's writer: batches on batching threads, writes at once elsewhere.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogSink;

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        Self
    }
}

impl Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let batched = BATCH.with(|batch| {
            let Ok(mut batch) = batch.try_borrow_mut() else {
                return false;
            };
            let Some(pending) = batch.as_mut() else {
                return false;
            };
            pending.extend_from_slice(bytes);
            if pending.len() >= BATCH_BYTES {
                let _ = write_out(pending);
                pending.clear();
            }
            true
        });
        if !batched {
            write_out(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Past this many refused requests in a second, they are summarised instead of logged one
/// by one.
pub(crate) const REFUSED_LINES_PER_SECOND: u32 = 10;

/// How often a summary of refused requests is written while they are being summarised.
pub(crate) const REFUSAL_SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// Distinct client addresses counted per summary; more are counted together.
const MAX_SUMMARY_ADDRESSES: usize = 1024;

/// Addresses a summary names.
const TOP_ADDRESSES: usize = 5;

/// Decides which refused (unauthenticated) requests get a log line of their own, and
/// summarises the rest.
///
/// While refused requests come at most [`REFUSED_LINES_PER_SECOND`] in any second, each
/// gets its own line. Once a second holds more, the log switches to summaries: refused
/// requests are only counted, and every [`REFUSAL_SUMMARY_INTERVAL`] one line says how many
/// there were, for which reasons, from how many addresses and which sent the most. It
/// switches back after an interval in which no second held more than the threshold.
#[derive(Debug)]
pub(crate) struct RefusalLog {
    per_second: u32,
    interval: Duration,
    state: Mutex<RefusalState>,
}

#[derive(Debug)]
struct RefusalState {
    second_started: Instant,
    this_second: u32,
    /// The busiest second of this interval.
    peak: u32,
    summarising: bool,
    interval_started: Instant,
    tally: RefusalSummary,
}

/// What a summary line reports: the refused requests of one interval.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) struct RefusalSummary {
    /// Refused requests in the interval.
    pub(crate) refused: u64,
    /// Of those, how many were logged on a line of their own.
    pub(crate) logged: u64,
    /// Of those, how many were only counted here.
    pub(crate) suppressed: u64,
    /// How long the interval lasted.
    pub(crate) interval: Duration,
    /// Refused requests per reason.
    pub(crate) reasons: BTreeMap<&'static str, u64>,
    /// Refused requests per client address (at most 1024 addresses).
    pub(crate) clients: HashMap<Option<IpAddr>, u64>,
    /// Refused requests from addresses beyond those counted one by one.
    pub(crate) other_clients: u64,
}

impl RefusalSummary {
    /// The addresses that sent the most, most first, at most `n`.
    pub(crate) fn top_clients(&self, n: usize) -> Vec<(Option<IpAddr>, u64)> {
        let mut clients: Vec<(Option<IpAddr>, u64)> = self
            .clients
            .iter()
            .map(|(ip, count)| (*ip, *count))
            .collect();
        clients.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        clients.truncate(n);
        clients
    }

    /// Writes the summary line (target `step_posture_connector::decision`, level warn).
    pub(crate) fn log(&self) {
        let mut reasons = String::new();
        for (reason, count) in &self.reasons {
            let _ = write!(
                reasons,
                "{}{reason}={count}",
                if reasons.is_empty() { "" } else { " " }
            );
        }
        let mut top = String::new();
        for (ip, count) in self.top_clients(TOP_ADDRESSES) {
            let ip = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
            let _ = write!(top, "{}{ip}={count}", if top.is_empty() { "" } else { " " });
        }
        tracing::warn!(
            target: "step_posture_connector::decision",
            refused = self.refused,
            logged = self.logged,
            suppressed = self.suppressed,
            interval_s = self.interval.as_secs(),
            reasons = %reasons,
            clients = self.clients.len() + usize::from(self.other_clients > 0),
            top_clients = %top,
            "refused requests summarised"
        );
    }
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self::new(REFUSED_LINES_PER_SECOND, REFUSAL_SUMMARY_INTERVAL)
    }
}

impl RefusalLog {
    /// Lines of their own for up to `per_second` refused requests a second, and a summary
    /// every `interval` past that.
    pub(crate) fn new(per_second: u32, interval: Duration) -> Self {
        Self {
            per_second,
            interval: interval.max(Duration::from_secs(1)),
            state: Mutex::new(RefusalState::new(Instant::now())),
        }
    }

    /// Counts one refused request, refused for `reason` from `client` at `now`. Returns
    /// whether it gets a line of its own; if not, it is counted in the next summary. Writes
    /// the previous interval's summary first if it is due.
    pub(crate) fn admit(&self, reason: &'static str, client: Option<IpAddr>, now: Instant) -> bool {
        let (own_line, due) = {
            let mut guard = self.lock();
            let due = self.roll(&mut guard, now, false);
            let state = &mut *guard;
            if now.saturating_duration_since(state.second_started) >= Duration::from_secs(1) {
                state.second_started = now;
                state.this_second = 0;
            }
            state.this_second = state.this_second.saturating_add(1);
            state.peak = state.peak.max(state.this_second);
            if state.this_second > self.per_second {
                state.summarising = true;
            }
            let summarising = state.summarising;
            let tally = &mut state.tally;
            tally.refused += 1;
            *tally.reasons.entry(reason).or_default() += 1;
            if let Some(count) = tally.clients.get_mut(&client) {
                *count += 1;
            } else if tally.clients.len() < MAX_SUMMARY_ADDRESSES {
                tally.clients.insert(client, 1);
            } else {
                tally.other_clients += 1;
            }
            if summarising {
                tally.suppressed += 1;
            } else {
                tally.logged += 1;
            }
            (!summarising, due)
        };
        if let Some(summary) = due {
            summary.log();
        }
        own_line
    }

    /// Ends the current interval if it is over (or at once, with `force`) and returns its
    /// summary when it has requests that were not logged one by one.
    pub(crate) fn take_summary(&self, now: Instant, force: bool) -> Option<RefusalSummary> {
        self.roll(&mut self.lock(), now, force)
    }

    /// Writes the summary that is due, if any; with `force`, ends the interval now (at
    /// shutdown, so no refused request goes uncounted).
    pub(crate) fn flush(&self, now: Instant, force: bool) {
        if let Some(summary) = self.take_summary(now, force) {
            summary.log();
        }
    }

    /// Calls [`flush`](Self::flush) every second until `stop` completes, so a summary is
    /// written even when no further request comes.
    pub(crate) async fn run(&self, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => self.flush(Instant::now(), false),
                () = &mut stop => return,
            }
        }
    }

    /// Ends the interval if due; the summary to write, if it suppressed anything.
    fn roll(
        &self,
        current: &mut RefusalState,
        now: Instant,
        force: bool,
    ) -> Option<RefusalSummary> {
        let elapsed = now.saturating_duration_since(current.interval_started);
        if !force && elapsed < self.interval {
            return None;
        }
        let mut tally = std::mem::take(&mut current.tally);
        tally.interval = elapsed;
        // Keep summarising while the last interval still had a second over the threshold.
        current.summarising = current.peak > self.per_second;
        current.peak = 0;
        current.interval_started = now;
        (tally.suppressed > 0).then_some(tally)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RefusalState> {
        // Counters only: one left half-updated by a panic is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RefusalState {
    fn new(now: Instant) -> Self {
        Self {
            second_started: now,
            this_second: 0,
            peak: 0,
            summarising: false,
            interval_started: now,
            tally: RefusalSummary::default(),
        }
    }
}

/// The filter for a Go-style `LOGGING_LEVEL`. Targets match by prefix, so `posture` covers
/// every `posture_*` crate, built-in providers and added ones alike; `RUST_LOG` overrides it.
pub fn filter_for_level(level: u8) -> &'static str {
    match level {
        // One line per decision, plus start-up and problems.
        0 => "warn,step_posture_connector=info,posture=info",
        // Verbose: what each provider does.
        1 => "info,step_posture_connector=debug,posture=debug",
        // Debug: everything, including the HTTP and TLS stacks.
        _ => "debug",
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub(crate) fn init(level: u8, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(filter_for_level(level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogSink)
        .with_target(false);
    let ansi = std::io::stderr().is_terminal();
    let builder = builder.with_ansi(ansi);
    let installed = match format {
        LogFormat::Text => builder.try_init().is_ok(),
        LogFormat::Json => builder.json().flatten_event(true).try_init().is_ok(),
    };
    // The decision line copies the subscriber's format; coloured text (a terminal) is
    // left to the subscriber.
    if installed {
        match format {
            LogFormat::Text if ansi => {}
            LogFormat::Text => audit::install(audit::Style::Text),
            LogFormat::Json => audit::install(audit::Style::Json),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What unit tests write instead of stderr.
    static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    pub(super) fn capture(bytes: &[u8]) -> io::Result<()> {
        CAPTURED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(())
    }

    /// Everything written so far.
    pub(super) fn captured() -> Vec<u8> {
        CAPTURED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn batched() -> Option<usize> {
        BATCH.with(|batch| batch.borrow().as_ref().map(Vec::len))
    }

    fn ip(n: u32) -> Option<std::net::IpAddr> {
        Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(n)))
    }

    #[test]
    fn refusal_log_admits_a_few_lines_a_second_and_summarises_the_rest() {
        use super::RefusalLog;
        use std::time::{Duration, Instant};

        let log = RefusalLog::new(2, Duration::from_secs(10));
        let now = Instant::now();
        let own_lines = (0..5)
            .filter(|_| log.admit("missingSignature", None, now))
            .count();
        assert_eq!(own_lines, 2);
        let summary = log
            .take_summary(now + Duration::from_secs(10), false)
            .unwrap();
        assert_eq!(
            (summary.refused, summary.logged, summary.suppressed),
            (5, 2, 3)
        );
        assert_eq!(summary.reasons["missingSignature"], 5);
    }

    #[test]
    fn refused_requests_past_the_rate_are_counted_not_lost() {
        let log = RefusalLog::new(10, Duration::from_secs(10));
        let start = Instant::now();
        let mut own_lines = 0;
        let mut summaries = Vec::new();
        // 1,000 refusals over 5 s from 3 addresses, then quiet.
        for i in 0..1000_u32 {
            let now = start + Duration::from_millis(u64::from(i) * 5);
            let reason = if i % 4 == 0 {
                "bodyTooLarge"
            } else {
                "missingSignature"
            };
            if log.admit(reason, ip(i % 3), now) {
                own_lines += 1;
            }
            summaries.extend(log.take_summary(now, false));
        }
        summaries.extend(log.take_summary(start + Duration::from_secs(30), true));
        assert_eq!(own_lines, 10, "only the first second's ten get lines");
        let suppressed: u64 = summaries.iter().map(|s| s.suppressed).sum();
        assert_eq!(own_lines + suppressed, 1000);
        for summary in &summaries {
            assert_eq!(summary.refused, summary.logged + summary.suppressed);
            assert_eq!(summary.reasons.values().sum::<u64>(), summary.refused);
            assert_eq!(summary.clients.values().sum::<u64>(), summary.refused);
        }
        let top = summaries[0].top_clients(2);
        assert_eq!(top.len(), 2);
        assert!(top[0].1 >= top[1].1);

        // After a quiet interval, refusals get their own lines again.
        let later = start + Duration::from_secs(60);
        assert!(log.take_summary(later, false).is_none());
        let quiet = later + Duration::from_secs(11);
        assert!(log.take_summary(quiet, false).is_none());
        assert!(log.admit("missingSignature", ip(1), quiet));
    }

    #[test]
    fn a_summary_counts_at_most_so_many_addresses_one_by_one() {
        let log = RefusalLog::new(0, Duration::from_secs(10));
        let now = Instant::now();
        let spray = u32::try_from(MAX_SUMMARY_ADDRESSES).unwrap() + 500;
        for i in 0..spray {
            assert!(!log.admit("signatureMismatch", ip(i), now));
        }
        let summary = log.take_summary(now, true).unwrap();
        assert_eq!(summary.clients.len(), MAX_SUMMARY_ADDRESSES);
        assert_eq!(summary.other_clients, 500);
        assert_eq!(summary.refused, u64::from(spray));
    }

    #[test]
    fn worker_lines_wait_for_the_flush_and_other_lines_do_not() {
        std::thread::spawn(|| {
            // A thread that does not batch writes at once and keeps nothing.
            assert!(LogSink.write_all(b"").is_ok());
            assert_eq!(batched(), None);

            batch_this_thread();
            assert!(LogSink.write_all(b"").is_ok());
            // Flushing writes to the real stderr, so the "lines" are kept to a space each.
            let line = b" ";
            let mut sink = LogSink;
            assert_eq!(sink.write(line).ok(), Some(line.len()));
            assert_eq!(sink.write(line).ok(), Some(line.len()));
            assert_eq!(batched(), Some(2 * line.len()));
            flush_this_thread();
            assert_eq!(batched(), Some(0));
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    }

    #[test]
    fn runtime_workers_batch_and_blocking_threads_do_not() {
        let runtime = runtime().unwrap_or_else(|err| panic!("runtime: {err}"));
        let (on_worker, on_blocking) = runtime.block_on(async {
            // Idle workers park, and from then on batch; give a busy machine time to get
            // there.
            let mut on_worker = false;
            for _ in 0..200 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                on_worker = tokio::spawn(async { batched().is_some() })
                    .await
                    .unwrap_or(false);
                if on_worker {
                    break;
                }
            }
            let on_blocking = tokio::task::spawn_blocking(|| batched().is_some())
                .await
                .unwrap_or(true);
            (on_worker, on_blocking)
        });
        assert!(on_worker, "workers batch their lines");
        assert!(!on_blocking, "blocking threads write at once");
        drop(runtime);
        assert_eq!(
            batched(),
            None,
            "the thread that built the runtime does not batch"
        );
    }
}
