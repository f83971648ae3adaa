//! The command line of the server, for the bundled binary and for builds that add
//! providers of their own ([`main`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use posture_core::{Decision, DeviceMode};

use crate::commands::{self, ScepSimulation, SimulateOptions};
use crate::config::{Config, gather_environment};
use crate::error::{OrFail as _, ServerError};
use crate::providers::Providers;
use crate::{doctor, health};

/// Like `println!`, but a closed stdout (`… | head`) is not an error worth a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Like `eprintln!`, without panicking when stderr is closed.
macro_rules! complain {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// The command line: a subcommand, `serve` when none is given.
#[derive(Parser)]
#[command(name = "step-posture-connector", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook (the default), configured from the environment and `.env`.
    Serve,
    /// Start a throwaway server with a self-made certificate and the example devices.
    Demo {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 9443)]
        port: u16,
    },
    /// Act as step-ca: send a signed device-attest request and print the decision.
    Simulate {
        /// Webhook URL, e.g. https://127.0.0.1:9443/webhook/device-attest?mode=computer
        #[arg(long)]
        url: String,
        /// Webhook ID.
        #[arg(long)]
        webhook_id: String,
        /// Webhook secret, base64 as step-ca prints it.
        #[arg(long, env = "SIMULATE_SECRET", hide_env_values = true)]
        secret: String,
        /// Device serial number (the attested permanent identifier).
        #[arg(long)]
        serial: String,
        /// Common name for the CSR, when it should differ from the serial.
        #[arg(long)]
        common_name: Option<String>,
        /// Send an AUTHORIZING body instead of an ENRICHING one.
        #[arg(long)]
        authorizing: bool,
        /// CA certificate(s) to trust, PEM; default: the Mozilla root store.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// Client certificate for mTLS, PEM.
        #[arg(long, requires = "client_key")]
        client_cert: Option<PathBuf>,
        /// Client private key for mTLS, PEM.
        #[arg(long, requires = "client_cert")]
        client_key: Option<PathBuf>,
        /// Play a SCEP provisioner: send a SCEPCHALLENGE with this challenge password (the
        /// serial goes into the CSR subject's serialNumber attribute).
        #[arg(long, conflicts_with_all = ["authorizing", "scep_notify"])]
        scep_challenge: Option<String>,
        /// Play a SCEP provisioner: send a NOTIFYING body, success or failure.
        #[arg(long, value_parser = ["success", "failure"], conflicts_with = "authorizing")]
        scep_notify: Option<String>,
    },
    /// Signed SCEP challenges (SCEP_CHALLENGE=signed).
    Challenge {
        #[command(subcommand)]
        command: ChallengeCommand,
    },
    /// Validate the configuration and bootstrap the provider, then print a summary.
    CheckConfig,
    /// Ask the configured provider about one device and print the decision.
    Lookup {
        /// The device identifier (serial number).
        identifier: String,
        /// computer, mobiledevice or auto.
        #[arg(long, default_value = "")]
        mode: String,
    },
    /// Read step-ca's provisioners and check its webhooks against this configuration;
    /// exits 1 when a finding is an error.
    Doctor {
        /// The CA's URL, e.g. https://ca.example.com:9000
        #[arg(long)]
        ca_url: String,
        /// The CA's root certificate, PEM; default: the Mozilla root store.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Treat this provisioner as an admin provisioner too (JWK ones always are).
        #[arg(long = "admin-provisioner", value_name = "NAME")]
        admin_provisioners: Vec<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask the running server's /livez (for container health checks); exits 0 or 1.
    Healthcheck {
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
}

#[derive(Subcommand)]
enum ChallengeCommand {
    /// Print a new signed challenge.
    Issue {
        /// Bind it to this device: only a CSR naming it passes.
        #[arg(long)]
        identifier: Option<String>,
        /// Seconds it stays valid (at most SCEP_CHALLENGE_TTL, the default).
        #[arg(long)]
        ttl: Option<u64>,
    },
}

/// Runs the command line of a server that accepts `providers` in `PROVIDER`: parses the
/// arguments, reads the environment and `.env`, runs the subcommand (`serve` by default,
/// `demo`, `simulate`, `challenge issue`, `check-config`, `lookup`, `doctor`,
/// `healthcheck`) and returns the exit status. A build of the bundled server with
/// providers of its own is this one call:
///
/// ```no_run
/// use step_posture_connector::providers::Providers;
///
/// fn main() -> std::process::ExitCode {
///     step_posture_connector::cli::main(Providers::builtin())
/// }
/// ```
pub fn main(providers: Providers) -> ExitCode {
    let cli = Cli::parse();
    let runtime = match crate::logging::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            complain!("step-posture-connector: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), &providers));
    // Stopping the workers writes out the log lines they still hold, before any error.
    drop(runtime);
    match outcome {
        Ok(code) => code,
        Err(err) => {
            let prefix = match err {
                ServerError::Config(_) => "configuration error",
                _ => "error",
            };
            for line in format!("{err:#}").lines() {
                complain!("step-posture-connector: {prefix}: {line}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}

async fn run(command: Command, providers: &Providers) -> Result<ExitCode, ServerError> {
    let environment = || gather_environment(std::path::Path::new("."));
    match command {
        Command::Serve => commands::serve(&environment()?, providers).await?,
        Command::Demo { port } => {
            let exe =
                std::env::current_exe().unwrap_or_else(|_| PathBuf::from("step-posture-connector"));
            commands::demo(port, &exe).await?;
        }
        Command::Simulate {
            url,
            webhook_id,
            secret,
            serial,
            common_name,
            authorizing,
            ca_cert,
            client_cert,
            client_key,
            scep_challenge,
            scep_notify,
        } => {
            let mut options = SimulateOptions::new(url, webhook_id, secret, serial);
            options.common_name = common_name;
            options.authorizing = authorizing;
            options.ca_cert = ca_cert;
            options.client_identity = client_cert.zip(client_key);
            options.scep = match (scep_challenge, scep_notify.as_deref()) {
                (Some(challenge), _) => Some(ScepSimulation::Challenge(challenge)),
                (None, Some("success")) => Some(ScepSimulation::NotifySuccess),
                (None, Some(_)) => Some(ScepSimulation::NotifyFailure),
                (None, None) => None,
            };
            let result = commands::simulate(&options)
                .await
                .or_fail(ServerError::Other)?;
            say!("{}", result.summary());
            return Ok(if result.allowed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Healthcheck { timeout } => {
            // Docker reserves exit status 2, so every failure here is 1.
            return match healthcheck(timeout, providers).await {
                Ok(url) => {
                    say!("ok: {url}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    complain!(
                        "step-posture-connector: unhealthy: {}",
                        format!("{err:#}").replace('\n', "; ")
                    );
                    Ok(ExitCode::from(1))
                }
            };
        }
        Command::Challenge {
            command: ChallengeCommand::Issue { identifier, ttl },
        } => say!(
            "{}",
            commands::issue_challenge(
                &environment()?,
                providers,
                identifier.as_deref(),
                ttl.map(std::time::Duration::from_secs)
            )?
        ),
        Command::CheckConfig => say!(
            "{}",
            commands::check_config(&environment()?, providers).await?
        ),
        Command::Doctor {
            ca_url,
            root,
            admin_provisioners,
            json,
        } => {
            let mut options = doctor::DoctorOptions::new(ca_url);
            options.root = root;
            options.admin_provisioners = admin_provisioners;
            let report = doctor::doctor(&environment()?, providers, &options).await?;
            if json {
                say!("{}", report.json());
            } else {
                std::io::Write::write_all(&mut std::io::stdout(), report.text().as_bytes()).ok();
            }
            return Ok(ExitCode::from(u8::from(report.has_errors())));
        }
        Command::Lookup { identifier, mode } => {
            let mode: DeviceMode = mode.parse().or_fail(ServerError::Other)?;
            let decision = commands::lookup(&environment()?, providers, &identifier, mode).await?;
            print_decision(&decision);
            return Ok(if decision.is_allowed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn healthcheck(timeout: u64, providers: &Providers) -> Result<String, ServerError> {
    let config =
        Config::from_vars_with(&gather_environment(std::path::Path::new("."))?, providers)?;
    let target = health::target(&config).or_fail(ServerError::Other)?;
    health::check(&target, std::time::Duration::from_secs(timeout))
        .await
        .or_fail(ServerError::Network)?;
    Ok(target.url())
}

fn print_decision(decision: &Decision) {
    match decision {
        Decision::Allow { enrichment } => {
            say!("ALLOW");
            match enrichment {
                Some(data) => say!(
                    "data: {}",
                    serde_json::to_string_pretty(&data.to_value()).unwrap_or_default()
                ),
                None => say!("data: (none)"),
            }
        }
        Decision::Deny { code, message } => say!("DENY\ncode: {code}\nmessage: {message}"),
        other => say!("{other:?}"),
    }
}
