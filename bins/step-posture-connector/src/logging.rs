//! Logging setup: `LOGGING_LEVEL` (0, 1, 2) and `LOG_FORMAT` (text, json); `RUST_LOG`
//! overrides the level.
//!
//! # Where lines go, and when
//!
//! The subscriber formats each line whole, then hands it to [`LogSink`]. On a thread that
//! called [`batch_this_thread`] (the runtime's workers, see [`runtime`]) the line joins a
//! per-thread batch, written with one `write` when the worker runs out of work and parks,
//! when the batch reaches 64 KiB, or when the thread stops. Anywhere else the line is
//! written at once. stderr is usually a pipe to a log collector, and each `write` to a
//! pipe wakes its reader: one per decision line cost more than verifying and deciding the
//! request (BENCHMARKS.md, "decision lines off"). A worker parks as soon as it is idle,
//! so when traffic is light every line still goes out immediately; under load, lines wait
//! at most for the batch to fill.
//!
//! Writes go to a duplicate of the stderr descriptor rather than through
//! `std::io::stderr()`, whose lock the workers would otherwise contend for. Batches end on
//! line boundaries, so lines never interleave. A process killed outright loses at most the
//! lines of its workers' current batches; a clean shutdown stops the workers, which writes
//! them.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// A batch is written once it holds this much.
const BATCH_BYTES: usize = 64 * 1024;

thread_local! {
    /// This thread's batch, when it batches.
    static BATCH: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// stderr, duplicated once for the process; `None` if it could not be.
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
    match stderr_file() {
        Some(file) => (&**file).write_all(bytes),
        None => io::stderr().lock().write_all(bytes),
    }
}

/// Makes the calling thread batch its log lines until [`flush_this_thread`]. For threads
/// that flush when idle, such as the runtime's workers.
pub fn batch_this_thread() {
    BATCH.with(|batch| {
        batch
            .borrow_mut()
            .get_or_insert_with(|| Vec::with_capacity(BATCH_BYTES));
    });
}

/// Writes the calling thread's batch, if it has one.
pub fn flush_this_thread() {
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

/// The multi-threaded runtime the server runs on, its workers batching log lines.
///
/// A worker starts batching the first time it parks, and writes its batch every time it
/// parks. The blocking pool's threads never park this way, so they never batch: a line
/// logged there (a device-list reload, say) is written at once rather than when the
/// thread retires.
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
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
pub struct LogSink;

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

/// The filter for a Go-style `LOGGING_LEVEL`.
pub fn filter_for_level(level: u8) -> &'static str {
    match level {
        // One line per decision, plus start-up and problems.
        0 => {
            "warn,step_posture_connector=info,posture_file=info,posture_jamf=info,posture_http=info"
        }
        // Verbose: what each provider does.
        1 => {
            "info,step_posture_connector=debug,posture_core=debug,posture_file=debug,posture_jamf=debug,posture_http=debug"
        }
        // Debug: everything, including the HTTP and TLS stacks.
        _ => "debug",
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(level: u8, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(filter_for_level(level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogSink)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batched() -> Option<usize> {
        BATCH.with(|batch| batch.borrow().as_ref().map(Vec::len))
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
