//! `doctor`: reads what step-ca publishes (`GET /version`, every page of
//! `GET /provisioners`) and checks its webhooks against this server's configuration: IDs,
//! URLs (scheme, host against the server certificate, port, path, `mode`), kinds and
//! provisioner types, admin provisioners, renewal, mTLS, and the CA's version.
//!
//! Most support questions about webhooks are wiring mistakes on the CA side; this finds them
//! before a device does.

mod ca;
mod checks;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

pub(crate) use ca::CaSnapshot;
pub(crate) use checks::{Finding, Level, OurSide, check};

use crate::config::Config;
use crate::error::{OrFail as _, ServerError};
use crate::tls::load_certificates;

/// What `doctor` was asked to do.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub(crate) struct DoctorOptions {
    /// The CA's URL, such as `https://ca.example.com:9000`.
    pub(crate) ca_url: String,
    /// The CA's root certificate (PEM), to trust its TLS certificate.
    pub(crate) root: Option<PathBuf>,
    /// Provisioner names to treat as admin provisioners, besides every JWK provisioner.
    pub(crate) admin_provisioners: Vec<String>,
}

impl DoctorOptions {
    /// Options for the CA at `ca_url`, trusting the Mozilla roots.
    pub(crate) fn new(ca_url: impl Into<String>) -> Self {
        Self {
            ca_url: ca_url.into(),
            ..Self::default()
        }
    }
}

/// The findings, with what they were made from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) struct DoctorReport {
    /// What the CA published.
    pub(crate) ca: CaSnapshot,
    /// Every finding, errors first.
    pub(crate) findings: Vec<Finding>,
}

impl DoctorReport {
    /// Whether any finding is an error (the command then exits non-zero).
    pub(crate) fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Error)
    }

    /// One line per finding, `error:`/`warning:`/`ok:`, each problem with its fix, and a
    /// closing count.
    pub(crate) fn text(&self) -> String {
        let mut text = format!(
            "CA {} (step-ca {}), {} provisioners\n",
            self.ca.url,
            if self.ca.version.version.is_empty() {
                "version unknown"
            } else {
                &self.ca.version.version
            },
            self.ca.provisioners.len()
        );
        for finding in &self.findings {
            let _ = writeln!(
                text,
                "{}: {}: {}",
                finding.level.as_str(),
                finding.subject,
                finding.message
            );
            if !finding.fix.is_empty() {
                let _ = writeln!(text, "  fix: {}", finding.fix);
            }
        }
        let count = |level| self.findings.iter().filter(|f| f.level == level).count();
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        let _ = writeln!(
            text,
            "{}, {}, {} ok",
            plural(count(Level::Error), "error"),
            plural(count(Level::Warning), "warning"),
            count(Level::Ok)
        );
        text
    }

    /// The report as one JSON object, for automation:
    /// `{"ca":{"url","version","provisioners"},"findings":[{"level","check","subject","message","fix"}],"errors","warnings"}`.
    pub(crate) fn json(&self) -> String {
        let count = |level| self.findings.iter().filter(|f| f.level == level).count();
        serde_json::json!({
            "ca": {
                "url": self.ca.url,
                "version": self.ca.version.version,
                "provisioners": self.ca.provisioners.len(),
            },
            "findings": self.findings,
            "errors": count(Level::Error),
            "warnings": count(Level::Warning),
        })
        .to_string()
    }

    /// A report from findings already made.
    pub(crate) fn new(ca: CaSnapshot, findings: Vec<Finding>) -> Self {
        Self { ca, findings }
    }
}

/// `doctor`: validates the configuration, reads the CA, and checks one against the other.
/// Reaches no MDM.
pub(crate) async fn doctor(
    vars: &HashMap<String, String>,
    providers: &crate::providers::Providers,
    options: &DoctorOptions,
) -> Result<DoctorReport, ServerError> {
    let config = Config::from_vars_with(vars, providers)?;
    let mut ours = our_side(&config).or_fail(ServerError::Tls)?;
    ours.admin_provisioners
        .clone_from(&options.admin_provisioners);
    let ca = ca::fetch(&options.ca_url, options.root.as_deref())
        .await
        .or_fail(ServerError::Network)?;
    let findings = check(&ca, &ours);
    Ok(DoctorReport::new(ca, findings))
}

/// This server's side: webhook IDs, the certificate's names, the port, mTLS.
pub(crate) fn our_side(config: &Config) -> anyhow::Result<OurSide> {
    let (dns_names, ip_addresses) = certificate_names(&config.tls.cert_path)?;
    Ok(OurSide {
        webhook_ids: config.webhooks.iter().map(|w| w.id.clone()).collect(),
        dns_names,
        ip_addresses,
        port: config.listen.port(),
        mtls: config.tls.mtls.is_some(),
        admin_provisioners: Vec::new(),
        mtls_only_ids: config
            .webhooks
            .iter()
            .filter(|w| w.secret.is_empty())
            .map(|w| w.id.clone())
            .collect(),
    })
}

/// The DNS names and IP addresses of the leaf certificate in `path`.
fn certificate_names(path: &Path) -> anyhow::Result<(Vec<String>, Vec<std::net::IpAddr>)> {
    let chain = load_certificates(path)?;
    let leaf = chain
        .first()
        .with_context(|| format!("{}: no certificate", path.display()))?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|err| anyhow::anyhow!("{}: not an X.509 certificate: {err}", path.display()))?;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(name) => dns.push(name.to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => {
                        let octets: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
                        ips.push(std::net::IpAddr::from(octets));
                    }
                    16 => {
                        let mut octets = [0u8; 16];
                        octets.copy_from_slice(bytes);
                        ips.push(std::net::IpAddr::from(octets));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok((dns, ips))
}

#[cfg(test)]
mod tests {
    use super::{CaSnapshot, DoctorReport, OurSide, check};

    #[test]
    fn the_text_report_puts_each_finding_on_a_line_and_counts_them() {
        let ca = CaSnapshot::default();
        let report = DoctorReport::new(ca.clone(), check(&ca, &OurSide::default()));
        let text = report.text();
        assert!(
            text.lines()
                .any(|l| l.starts_with("error: the CA: no webhook"))
        );
        assert!(text.ends_with("1 error, 1 warning, 0 ok\n"));
    }
}
