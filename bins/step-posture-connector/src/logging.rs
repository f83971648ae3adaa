//! Logging setup: `LOGGING_LEVEL` (0, 1, 2) and `LOG_FORMAT` (text, json); `RUST_LOG`
//! overrides the level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

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
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
