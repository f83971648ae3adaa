//! The complete bundled server, plus a provider of its own named `static`.
//!
//! `static` allows the identifiers listed in `STATIC_ALLOW` (comma-separated) with
//! `{"source":"static"}` as enrichment, and denies every other one with `deviceNotFound`.
//! Everything else is the bundled server's: `serve`, `check-config`, `lookup`, `demo`,
//! `simulate`, `healthcheck`, `doctor`, configuration from the environment and `.env`,
//! combined policies (`PROVIDER=file,static` with `POLICY=all` or `any`), TLS and mTLS, hot
//! reload, metrics, health and logs.
//!
//! ```text
//! PROVIDER=static STATIC_ALLOW=C02XL0GJJG5J,DMPVL0FFHG7K \
//!   cargo run -p step-posture-examples --example custom_server -- lookup C02XL0GJJG5J
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use posture_core::posture_settings::{ConfigProblem, ConfigProblems, Reader, Setting};
use posture_core::{
    BuildError, BuiltProvider, Decision, DenyCode, Enrichment, Kind, LookupRequest,
    PostureProvider, ProviderError, ProviderSetup,
};
use step_posture_connector::providers::Providers;

/// The one variable `static` reads, declared once: `check-config`, the list of known
/// variables and the problem messages all come from this.
const STATIC_ALLOW: Setting =
    Setting::list("STATIC_ALLOW", "the identifiers to allow, comma-separated").required();

/// `PROVIDER=static`: its name, its variables and how to read them; `StaticConfig` does the
/// rest.
static STATIC: Kind<StaticConfig> = Kind::new("static", &[STATIC_ALLOW], StaticConfig::from_vars);

/// `STATIC_ALLOW`, validated.
#[derive(Debug)]
struct StaticConfig {
    allowed: Vec<String>,
}

impl StaticConfig {
    fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigProblems> {
        let mut reader = Reader::new(get);
        let allowed = reader.list(&STATIC_ALLOW);
        if allowed.is_empty() {
            reader.problem(ConfigProblem::missing(
                STATIC_ALLOW.name,
                STATIC_ALLOW.expected(),
            ));
        }
        reader.finish()?;
        Ok(Self { allowed })
    }
}

impl ProviderSetup for StaticConfig {
    fn summary(&self) -> Vec<String> {
        vec![format!(
            "STATIC_ALLOW={} ({} identifiers)",
            self.allowed.join(","),
            self.allowed.len()
        )]
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let enrichment = Enrichment::from_json(r#"{"source":"static"}"#)
            .map_err(|err| BuildError::new("the static provider's enrichment", err))?;
        Ok(BuiltProvider::new(Arc::new(StaticProvider {
            allowed: self.allowed.clone(),
            enrichment,
        })))
    }
}

/// Allows the listed identifiers.
#[derive(Debug)]
struct StaticProvider {
    allowed: Vec<String>,
    enrichment: Enrichment,
}

impl PostureProvider for StaticProvider {
    fn name(&self) -> &str {
        "static"
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        Ok(
            if self.allowed.iter().any(|id| id == request.identifier()) {
                Decision::allow_with(self.enrichment.clone())
            } else {
                Decision::deny(
                    DenyCode::DEVICE_NOT_FOUND,
                    format!("{} is not listed in STATIC_ALLOW", request.identifier()),
                )
            },
        )
    }
}

fn main() -> ExitCode {
    step_posture_connector::cli::main(Providers::builtin().with(&STATIC))
}
