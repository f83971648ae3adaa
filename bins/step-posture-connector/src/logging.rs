//! Logging setup: `LOGGING_LEVEL` (0, 1, 2) and `LOG_FORMAT` (text, json); `RUST_LOG`
//! overrides the level.
//!
//! The subscriber formats each line whole, then writes it with one `write` to a duplicate
//! of the stderr descriptor rather than through `std::io::stderr()`. Request threads then
//! don't contend for the standard library's stderr lock: under load that lock cost one
//! `futex` call per decision line (measured with `strace -c`; see BENCHMARKS.md). Lines
//! still arrive whole: a write of less than 4 KiB to a pipe is atomic, and decision lines
//! are a few hundred bytes. If the duplicate cannot be made, lines go through
//! `std::io::stderr()`.

use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

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

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(level: u8, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(filter_for_level(level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(stderr_lines())
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Where log lines go: stderr, unlocked when possible (see the module docs).
fn stderr_lines() -> BoxMakeWriter {
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(descriptor) => BoxMakeWriter::new(Arc::new(File::from(descriptor))),
        Err(_) => BoxMakeWriter::new(std::io::stderr),
    }
}
