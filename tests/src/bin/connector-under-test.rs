//! The server binary's `main` (`bins/step-posture-connector/src/main.rs`), built in this
//! package because Cargo gives a test the path of its own package's binaries only: the soak
//! test runs it as a child process, to measure the server's memory apart from its clients.

use std::process::ExitCode;

use step_posture_connector::providers::Providers;

fn main() -> ExitCode {
    step_posture_connector::cli::main(Providers::builtin())
}
