//! `step-posture-connector`: a step-ca webhook that allows device certificates only for
//! devices an inventory knows and deems compliant. Everything lives in the library; a build
//! with providers of its own calls [`step_posture_connector::cli::main`] the same way.

use std::process::ExitCode;

use step_posture_connector::providers::Providers;

fn main() -> ExitCode {
    step_posture_connector::cli::main(Providers::builtin())
}
