//! Logging setup: `LOGGING_LEVEL` (0, 1, 2) and `LOG_FORMAT` (text, json); `RUST_LOG`
//! overrides the level.
//!
//! Lines go to stderr through a writer thread. Request tasks hand each formatted line over
//! and move on; the thread writes whatever has queued up in one `write`, so under load the
//! audit trail costs one system call per batch rather than one per decision, and when idle
//! each line is written at once. Nothing is dropped: if stderr cannot keep up, the queue
//! fills and loggers wait, as they would on a direct write.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines that may wait for the writer thread before loggers wait too.
const QUEUED_LINES: usize = 16 * 1024;

/// Bytes gathered into one `write` when lines queue up.
const BATCH_BYTES: usize = 64 * 1024;

/// Keeps the writer thread alive; dropping it writes out every queued line and stops the
/// thread. Hold it for as long as the process logs.
#[must_use = "dropping the guard stops logging"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

use crate::config::LogFormat;

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

/// Installs the global subscriber and starts its writer thread. Safe to call more than
/// once: later calls change nothing and their guard holds no thread.
pub fn init(level: u8, format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(filter_for_level(level)));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(BATCH_BYTES, std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    LogGuard {
        _writer: installed.ok().map(|()| guard),
    }
}
