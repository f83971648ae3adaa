//! The packaging files agree with the configuration: every variable the Compose file and the
//! Kubernetes ConfigMap set is one the server reads, their values pass the server's own
//! validation, and the ports, probes, health check and reload wiring match the code.
//! (Docker and Kubernetes can't run here; this is what can be checked without them.)
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use common::assert_contains_all;
use smallstep_webhook::WebhookSecret;
use step_posture_connector::config::{self, Config};
use step_posture_connector::providers::Providers;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("{}: {err}", full.display()))
}

/// Every variable name the server and its built-in providers read.
fn known_variables() -> BTreeSet<String> {
    config::known_variables(&Providers::builtin())
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// `(name, value, commented out)` for each `- NAME=value` line of the Compose file.
fn compose_environment() -> Vec<(String, String, bool)> {
    repo_file("docker-compose.yml")
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let (commented, rest) = match line.strip_prefix("# - ") {
                Some(rest) => (true, rest),
                None => (false, line.strip_prefix("- ")?),
            };
            let (name, value) = rest.split_once('=')?;
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_')
                .then(|| (name.to_owned(), value.to_owned(), commented))
        })
        .collect()
}

/// `(name, value, commented out)` for each variable of the server's ConfigMap.
fn configmap_environment() -> Vec<(String, String, bool)> {
    let text = repo_file("deploy/kubernetes/configmap.yaml");
    let first = text.split("\n---").next().unwrap();
    first
        .lines()
        .filter_map(|line| {
            // The data keys, and commented-out ones, are indented by exactly two spaces.
            if !line.starts_with("  ") || line.starts_with("   ") {
                return None;
            }
            let trimmed = line.trim_start();
            let (commented, rest) = match trimmed.strip_prefix("# ") {
                Some(rest) => (true, rest),
                None => (false, trimmed),
            };
            let (name, value) = rest.split_once(": ")?;
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_')
                .then(|| {
                    (
                        name.to_owned(),
                        value.trim_matches('"').to_owned(),
                        commented,
                    )
                })
        })
        .collect()
}

/// Validates `vars` as the server would, with every absolute path replaced by a real file
/// (the webhook secrets file holding one generated secret per webhook ID).
fn validate(vars: &[(String, String, bool)]) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let ids = vars
        .iter()
        .find(|(name, ..)| name == "WEBHOOK_IDS")
        .map(|(_, ids, _)| ids.split(',').count())
        .unwrap();
    let mut env = HashMap::new();
    for (index, (name, value, commented)) in vars.iter().enumerate() {
        if *commented {
            continue;
        }
        let value = if value.starts_with('/') {
            let file: PathBuf = dir.path().join(format!("file-{index}"));
            let content = match name.as_str() {
                "WEBHOOK_SECRETS_FILE" => (0..ids)
                    .map(|_| WebhookSecret::generate().unwrap().to_base64())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => "placeholder".to_owned(),
            };
            std::fs::write(&file, content).unwrap();
            file.display().to_string()
        } else {
            value.clone()
        };
        env.insert(name.clone(), value);
    }
    let config = Config::from_vars(&env);
    // Keep the files until validation is done.
    drop(dir);
    config.unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn compose_sets_only_known_variables_with_valid_values() {
    let known = known_variables();
    let vars = compose_environment();
    assert!(vars.len() > 30, "every setting is listed: {vars:?}");
    for (name, _, _) in &vars {
        assert!(
            known.contains(name),
            "docker-compose.yml sets unknown {name}"
        );
    }
    let config = validate(&vars);
    assert_eq!(config.listen.port(), 9443);
    assert_eq!(config.metrics_addr.map(|a| a.port()), Some(9464));
    assert!(config.tls.mtls.is_some());
    let text = repo_file("docker-compose.yml");
    assert!(text.contains("\"9443:9443\""));
    assert!(text.contains("\"127.0.0.1:9464:9464\""));
    assert!(text.contains("read_only: true"));
}

#[test]
fn the_kubernetes_configmap_sets_only_known_variables_with_valid_values() {
    let known = known_variables();
    let vars = configmap_environment();
    for (name, _, _) in &vars {
        assert!(known.contains(name), "configmap.yaml sets unknown {name}");
    }
    let config = validate(&vars);
    assert_eq!(config.listen.port(), 9443);
    assert_eq!(config.metrics_addr.map(|a| a.port()), Some(9464));
    // Mounted Secrets change in place: polling must be on for rotation without a restart.
    assert!(!config.reload_interval.is_zero());
    // Probes over HTTPS need the webhook port without client certificates.
    assert!(config.tls.mtls.is_none());
}

#[test]
fn the_deployment_probes_and_mounts_match_the_configuration() {
    let deployment = repo_file("deploy/kubernetes/deployment.yaml");
    let configmap = repo_file("deploy/kubernetes/configmap.yaml");
    assert_contains_all(
        &deployment,
        &[
            "replicas: 2",
            "containerPort: 9443",
            "containerPort: 9464",
            "path: /livez",
            "path: /readyz",
            "scheme: HTTPS",
            "runAsNonRoot: true",
            "readOnlyRootFilesystem: true",
            "allowPrivilegeEscalation: false",
            "requests:",
            "limits:",
            "mountPath: /etc/step-posture-connector/tls",
            "mountPath: /etc/step-posture-connector/devices",
            "mountPath: /run/secrets/step-posture-connector",
        ],
    );
    assert!(
        !deployment.contains("subPath:"),
        "subPath mounts never see updates"
    );
    // Every path the ConfigMap names lies under a mount.
    for (name, value, commented) in configmap_environment() {
        if !commented && value.starts_with('/') {
            let dir = Path::new(&value).parent().unwrap().display().to_string();
            assert!(
                deployment.contains(&format!("mountPath: {dir}")),
                "{name}={value} is not under a mounted volume"
            );
        }
    }
    assert!(configmap.contains("devices.json: |"));
    let service = repo_file("deploy/kubernetes/service.yaml");
    assert!(service.contains("targetPort: https"));
    let secrets = repo_file("deploy/kubernetes/secret.yaml");
    assert!(secrets.contains("webhook-secrets:") && secrets.contains("jamf-client-secret:"));
    assert!(secrets.contains("type: kubernetes.io/tls"));
}

#[test]
fn the_image_runs_as_nonroot_exposes_9443_and_checks_its_health_with_the_binary() {
    let dockerfile = repo_file("Dockerfile");
    assert_contains_all(
        &dockerfile,
        &[
            "FROM gcr.io/distroless/cc-debian12:nonroot",
            "USER nonroot:nonroot",
            "EXPOSE 9443",
            "\"healthcheck\"",
            "HEALTHCHECK",
            "cargo build --release --locked -p step-posture-connector",
        ],
    );
    // Two stages: the build tools stay out of the image.
    assert_eq!(
        dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .count(),
        2
    );
    let toolchain = repo_file("Cargo.toml");
    let version = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .unwrap();
    assert!(
        toolchain.contains(&format!("rust-version = \"{version}\"")),
        "the image builds with the workspace's Rust {version}"
    );
}

#[test]
fn the_systemd_unit_reloads_with_sighup_and_is_hardened() {
    let unit = repo_file("deploy/systemd/step-posture-connector.service");
    assert_contains_all(
        &unit,
        &[
            "ExecReload=/bin/kill -HUP $MAINPID",
            "ExecStart=/usr/local/bin/step-posture-connector serve",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "CapabilityBoundingSet=\n",
            "WorkingDirectory=/etc/step-posture-connector",
        ],
    );
    assert!(!unit.lines().any(|l| l.starts_with("User=root")));
}

/// The variables a README table documents: every `` `NAME` `` in the first column of the
/// table rows between the heading that names `PROVIDER=<provider>` and the next heading.
fn readme_table_variables(readme: &str, provider: &str) -> BTreeSet<String> {
    let heading = format!("(`PROVIDER={provider}`)");
    let section: Vec<&str> = readme
        .lines()
        .skip_while(|line| !(line.starts_with("### ") && line.contains(&heading)))
        .skip(1)
        .take_while(|line| !line.starts_with('#'))
        .collect();
    assert!(!section.is_empty(), "README has no section for {heading}");
    section
        .iter()
        .filter_map(|line| line.strip_prefix('|')?.split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn readme_tables_list_exactly_the_variables_each_provider_declares() {
    let readme = repo_file("README.md");
    for kind in Providers::builtin().kinds() {
        let documented = readme_table_variables(&readme, kind.name());
        let declared: BTreeSet<String> = posture_settings::variable_names(kind.settings())
            .into_iter()
            .map(str::to_owned)
            .collect();
        // TIMEOUT is the server's, shown in provider tables as a reminder.
        let documented: BTreeSet<String> = documented
            .into_iter()
            .filter(|name| name != "TIMEOUT")
            .collect();
        assert_eq!(
            documented,
            declared,
            "README's PROVIDER={} table (left) against the crate's SETTINGS (right)",
            kind.name()
        );
    }
}

#[test]
fn the_demo_serves_the_example_device_list() {
    // The crate carries its own copy (`demo/devices.json`, which `demo` serves) so that it
    // packages on its own; they must not drift.
    assert_eq!(
        repo_file("bins/step-posture-connector/demo/devices.json"),
        repo_file("examples/devices.json")
    );
}
