//! The checks `doctor` makes: what the CA publishes against how this server is configured.
//! Pure functions of the two, so every rule is tested without a network.

use std::net::IpAddr;

use serde::Serialize;
use url::Url;

use super::ca::{CaSnapshot, Provisioner, Webhook};
use crate::handler::{SCEP_CHALLENGE_PATH, SCEP_NOTIFY_PATH, WEBHOOK_PATH};

/// The paths this server serves webhooks on, and the kinds and provisioner type each takes.
const ENDPOINTS: [(&str, &[&str], &str); 3] = [
    (WEBHOOK_PATH, &["ENRICHING", "AUTHORIZING"], "ACME"),
    (SCEP_CHALLENGE_PATH, &["SCEPCHALLENGE"], "SCEP"),
    (SCEP_NOTIFY_PATH, &["NOTIFYING"], "SCEP"),
];

/// How serious a finding is.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub(crate) enum Level {
    /// Checked and right.
    Ok,
    /// Works, but probably not as intended, or weaker than it could be.
    Warning,
    /// Certificates will be refused, or issued without the gate.
    Error,
}

impl Level {
    /// `ok`, `warning` or `error`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[non_exhaustive]
pub(crate) struct Finding {
    /// How serious it is.
    pub(crate) level: Level,
    /// A stable name for the check, for automation: `version`, `webhook-id`, `url`, …
    pub(crate) check: &'static str,
    /// What it is about: `provisioner "acme" webhook "posture"`, or the CA.
    pub(crate) subject: String,
    /// What was found.
    pub(crate) message: String,
    /// What to do about it; empty for `ok`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) fix: String,
}

impl Finding {
    fn new(level: Level, check: &'static str, subject: &str, message: String, fix: &str) -> Self {
        Self {
            level,
            check,
            subject: subject.to_owned(),
            message,
            fix: fix.to_owned(),
        }
    }
}

/// This server's side of the wiring, from its configuration.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub(crate) struct OurSide {
    /// `WEBHOOK_IDS`.
    pub(crate) webhook_ids: Vec<String>,
    /// DNS names in the server certificate (lower case; `*.` wildcards kept).
    pub(crate) dns_names: Vec<String>,
    /// IP addresses in the server certificate.
    pub(crate) ip_addresses: Vec<IpAddr>,
    /// `PORT`.
    pub(crate) port: u16,
    /// Whether `ENABLE_MTLS` is on.
    pub(crate) mtls: bool,
    /// Provisioner names to treat as admin provisioners, besides every JWK provisioner.
    pub(crate) admin_provisioners: Vec<String>,
    /// `WEBHOOK_MTLS_ONLY_IDS`: webhooks authenticated by the client certificate alone.
    pub(crate) mtls_only_ids: Vec<String>,
}

/// The first step-ca release whose webhook signatures are right.
const SIGNATURES_FIXED: (u64, u64, u64) = (0, 25, 0);
/// The first step-ca release that passes a deny's reason on to the device.
const DENY_REASONS: (u64, u64, u64) = (0, 28, 1);
/// The first step-ca release with the fix for "Authorization Bypass in ACME and SCEP
/// Provisioners" (#2491).
const AUTHORIZATION_BYPASS_FIXED: (u64, u64, u64) = (0, 29, 0);

/// Every finding, errors first.
pub(crate) fn check(ca: &CaSnapshot, us: &OurSide) -> Vec<Finding> {
    let mut findings = vec![check_version(&ca.version.version)];
    let mut ours = 0;
    for provisioner in &ca.provisioners {
        let mut gated = false;
        for webhook in &provisioner.options.webhooks {
            let target = Target::parse(&webhook.url);
            let configured = us.webhook_ids.contains(&webhook.id);
            let names_us = target.as_ref().is_some_and(|t| t.names(us));
            if !configured && !names_us {
                continue;
            }
            ours += 1;
            let subject = format!(
                "provisioner {:?} webhook {:?} ({})",
                provisioner.name, webhook.name, webhook.id
            );
            let before = findings.len();
            check_webhook(
                provisioner,
                webhook,
                target.as_ref(),
                configured,
                us,
                &subject,
                &mut findings,
            );
            // Renewal bypasses the gate only where devices get certificates.
            gated |= ["ACME", "SCEP"]
                .iter()
                .any(|kind| provisioner.kind.eq_ignore_ascii_case(kind));
            if findings[before..].iter().all(|f| f.level == Level::Ok) {
                findings.push(Finding::new(
                    Level::Ok,
                    "webhook",
                    &subject,
                    format!(
                        "{} on {} provisioner, calls {}",
                        webhook.kind.to_ascii_uppercase(),
                        provisioner.kind,
                        webhook.url
                    ),
                    "",
                ));
            }
        }
        if gated {
            check_renewal(provisioner, &mut findings);
        }
    }
    for id in &us.webhook_ids {
        let known = ca
            .provisioners
            .iter()
            .flat_map(|p| &p.options.webhooks)
            .any(|w| w.id == *id);
        if !known {
            findings.push(Finding::new(
                Level::Warning,
                "webhook-id",
                &format!("WEBHOOK_IDS entry {id}"),
                "no provisioner on the CA has a webhook with this ID".to_owned(),
                "remove it from WEBHOOK_IDS and WEBHOOK_SECRETS, or add the webhook to the CA \
                 (a rotated webhook gets a new ID)",
            ));
        }
    }
    if ours == 0 {
        findings.push(Finding::new(
            Level::Error,
            "gate",
            "the CA",
            format!(
                "no webhook on any of the CA's {} provisioners calls this server: devices are \
                 not gated",
                ca.provisioners.len()
            ),
            "add one with `step ca provisioner webhook add <provisioner> <name> --url \
             https://<this server>/webhook/device-attest`, then put its ID and secret in \
             WEBHOOK_IDS and WEBHOOK_SECRETS",
        ));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.level));
    findings
}

fn check_version(text: &str) -> Finding {
    let subject = "the CA";
    let Some(version) = parse_version(text) else {
        return Finding::new(
            Level::Warning,
            "version",
            subject,
            format!("step-ca reports version {text:?}, which doesn't read as x.y.z"),
            "check the CA's version by hand: 0.28.1 or later is needed",
        );
    };
    let shown = format!("{}.{}.{}", version.0, version.1, version.2);
    if version < SIGNATURES_FIXED {
        Finding::new(
            Level::Error,
            "version",
            subject,
            format!(
                "step-ca {shown} signs webhook requests wrongly (fixed in 0.25.0): every \
                 request is refused"
            ),
            "upgrade step-ca to 0.29.0 or later",
        )
    } else if version < DENY_REASONS {
        Finding::new(
            Level::Warning,
            "version",
            subject,
            format!(
                "step-ca {shown} drops a deny's reason (passed on since 0.28.1): devices see \
                 only a generic refusal"
            ),
            "upgrade step-ca to 0.29.0 or later",
        )
    } else if version < AUTHORIZATION_BYPASS_FIXED {
        Finding::new(
            Level::Warning,
            "version",
            subject,
            format!(
                "step-ca {shown} lacks the fix for the ACME and SCEP authorization bypass \
                 (#2491, fixed in 0.29.0)"
            ),
            "upgrade step-ca to 0.29.0 or later",
        )
    } else {
        Finding::new(
            Level::Ok,
            "version",
            subject,
            format!("step-ca {shown}"),
            "",
        )
    }
}

/// `0.28.1`, `v0.28.1`, `0.28.1-rc2`, `Smallstep CA/0.28.1` → `(0, 28, 1)`.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let core: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = core.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().and_then(Result::ok).unwrap_or(0);
    Some((major, minor, patch))
}

/// A webhook URL, as far as it can be read without rendering its template: `url` is `None`
/// when template actions (`{{ … }}`) keep it from parsing, so only step-ca knows where it
/// goes.
struct Target {
    url: Option<Url>,
}

impl Target {
    /// `None` for text that is neither a URL nor a template.
    fn parse(text: &str) -> Option<Self> {
        let url = Url::parse(text).ok();
        if url.is_none() && !text.contains("{{") {
            return None;
        }
        Some(Self { url })
    }

    fn host(&self) -> Option<String> {
        self.url.as_ref().and_then(|u| u.host_str()).map(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase()
        })
    }

    /// Whether the host is one of this server's certificate names.
    fn names(&self, us: &OurSide) -> bool {
        self.host()
            .is_some_and(|host| certificate_covers(us, &host))
    }
}

/// Whether the server certificate is valid for `host` (RFC 6125: a `*.` wildcard matches one
/// whole left-most label).
fn certificate_covers(us: &OurSide, host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return us.ip_addresses.contains(&ip);
    }
    let host = host.trim_end_matches('.');
    us.dns_names.iter().any(|name| {
        let name = name.trim_end_matches('.');
        match name.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => name == host,
        }
    })
}

fn check_webhook(
    provisioner: &Provisioner,
    webhook: &Webhook,
    target: Option<&Target>,
    configured: bool,
    us: &OurSide,
    subject: &str,
    findings: &mut Vec<Finding>,
) {
    let mut add = |level, check, message: String, fix: &str| {
        findings.push(Finding::new(level, check, subject, message, fix));
    };
    if !configured {
        add(
            Level::Error,
            "webhook-id",
            format!(
                "calls this server ({}) with an ID that is not in WEBHOOK_IDS: every request is \
                 refused with 401 and issuance fails",
                webhook.url
            ),
            "add the ID to WEBHOOK_IDS and its secret (shown once by `step ca provisioner \
             webhook add`) to WEBHOOK_SECRETS, or remove the webhook from the CA",
        );
    }
    if us.mtls_only_ids.contains(&webhook.id) {
        add(
            Level::Ok,
            "mtls-only",
            "is authenticated by step-ca's client certificate only (WEBHOOK_MTLS_ONLY_IDS: a \
             ca.json webhook, signed with an empty key)"
                .to_owned(),
            "",
        );
    }
    if is_admin(provisioner, us) {
        add(
            Level::Error,
            "admin",
            format!(
                "is on {} provisioner {:?}, which issues admin tokens: a deny here locks \
                 administrators out of the CA",
                provisioner.kind, provisioner.name
            ),
            "remove the webhook from that provisioner; gate only the ACME (device-attest-01) \
             and SCEP provisioners devices use",
        );
    }
    let Some(target) = target else {
        add(
            Level::Error,
            "url",
            format!("its URL {:?} is not a URL", webhook.url),
            "set the webhook's URL to https://<this server>:<PORT>/webhook/device-attest",
        );
        return;
    };
    check_url(webhook, target, us, &mut add);
    check_kind(provisioner, webhook, target, &mut add);
    if webhook.disable_tls_client_auth && us.mtls {
        add(
            Level::Error,
            "mtls",
            "has disableTLSClientAuth set, so step-ca presents no client certificate, but this \
             server requires one (ENABLE_MTLS=1): every handshake fails"
                .to_owned(),
            "clear disableTLSClientAuth on the webhook, or turn ENABLE_MTLS off",
        );
    }
}

type Add<'a> = dyn FnMut(Level, &'static str, String, &str) + 'a;

fn check_url(webhook: &Webhook, target: &Target, us: &OurSide, add: &mut Add<'_>) {
    let Some(url) = &target.url else {
        add(
            Level::Warning,
            "url",
            format!(
                "its URL {:?} is a template that only step-ca can render; its host, port and \
                 path can't be checked",
                webhook.url
            ),
            "check the rendered URL by hand, or use a plain URL",
        );
        return;
    };
    if url.scheme() != "https" {
        add(
            Level::Error,
            "url",
            format!(
                "its URL uses {}:, but step-ca calls webhooks over https only",
                url.scheme()
            ),
            "use an https URL",
        );
    }
    match target.host() {
        Some(host) if !certificate_covers(us, &host) => add(
            Level::Warning,
            "url",
            format!(
                "its host {host} is not among this server's certificate names ({}): step-ca's \
                 TLS handshake fails unless a proxy in front of this server answers for it",
                names(us)
            ),
            "add the name to the server certificate (TLS_CERT_PATH), or point the URL at a \
             name it has",
        ),
        _ => {}
    }
    let port = url.port_or_known_default().unwrap_or(443);
    if us.port != 0 && port != us.port {
        add(
            Level::Warning,
            "url",
            format!(
                "its URL names port {port}, but this server listens on PORT={}",
                us.port
            ),
            "use the server's port in the URL, unless a proxy forwards that port to it",
        );
    }
    if !ENDPOINTS.iter().any(|(path, _, _)| url.path() == *path) && !url.path().contains("{{") {
        add(
            Level::Error,
            "url",
            format!(
                "its path {} is not one this server serves ({WEBHOOK_PATH}, \
                 {SCEP_CHALLENGE_PATH}, {SCEP_NOTIFY_PATH})",
                url.path()
            ),
            "set the path to /webhook/device-attest (ACME), /webhook/scep-challenge or \
             /webhook/scep-notify (SCEP)",
        );
    }
    for (key, value) in url.query_pairs() {
        if key == "mode"
            && !value.contains("{{")
            && !["computer", "mobiledevice", "auto"].contains(&value.as_ref())
        {
            add(
                Level::Error,
                "url",
                format!("its mode={value} is not one this server accepts"),
                "use mode=computer, mode=mobiledevice or mode=auto (or leave it out)",
            );
        }
    }
}

fn check_kind(provisioner: &Provisioner, webhook: &Webhook, target: &Target, add: &mut Add<'_>) {
    let kind = webhook.kind.to_ascii_uppercase();
    let path = target.url.as_ref().map(Url::path);
    if let Some(&(path, kinds, provisioner_kind)) =
        ENDPOINTS.iter().skip(1).find(|(p, _, _)| Some(*p) == path)
    {
        check_scep_kind(
            provisioner,
            webhook,
            &kind,
            path,
            kinds[0],
            provisioner_kind,
            add,
        );
        return;
    }
    let device_attest = path.is_none_or(|p| p == WEBHOOK_PATH || p.contains("{{"));
    if !device_attest {
        return;
    }
    if kind != "ENRICHING" && kind != "AUTHORIZING" {
        add(
            Level::Error,
            "kind",
            format!(
                "is a {kind} webhook, but {WEBHOOK_PATH} answers ENRICHING and AUTHORIZING \
                 calls only"
            ),
            "recreate it with --kind ENRICHING (or AUTHORIZING)",
        );
    }
    if webhook.cert_type.eq_ignore_ascii_case("SSH") {
        add(
            Level::Error,
            "kind",
            "has certType SSH, so step-ca never calls it for the X.509 certificates ACME issues"
                .to_owned(),
            "recreate it with --cert-type X509 (or ALL)",
        );
    }
    if !provisioner.kind.eq_ignore_ascii_case("ACME") {
        add(
            Level::Error,
            "provisioner",
            format!(
                "is on a {} provisioner, whose requests carry no attested device identifier, \
                 so every one is denied",
                provisioner.kind
            ),
            "attach it to an ACME provisioner with the device-attest-01 challenge",
        );
        return;
    }
    let challenges: Vec<String> = provisioner
        .challenges
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if !challenges.iter().any(|c| c == "device-attest-01") {
        add(
            Level::Error,
            "provisioner",
            format!(
                "is on ACME provisioner {:?}, which does not offer device-attest-01 ({}): its \
                 orders carry no attested identifier, so every one is denied",
                provisioner.name,
                if challenges.is_empty() {
                    "step-ca's default challenges".to_owned()
                } else {
                    challenges.join(", ")
                }
            ),
            "step ca provisioner update <name> --challenge device-attest-01",
        );
    } else if challenges.len() > 1 {
        add(
            Level::Warning,
            "provisioner",
            format!(
                "ACME provisioner {:?} offers {} besides device-attest-01; orders validated \
                 with those carry no attested identifier and are denied",
                provisioner.name,
                challenges
                    .iter()
                    .filter(|c| *c != "device-attest-01")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "offer only device-attest-01 on the gated provisioner (a separate provisioner can \
             serve the other challenges)",
        );
    }
}

/// A webhook at one of the SCEP paths: the one kind that path takes, on a SCEP provisioner.
fn check_scep_kind(
    provisioner: &Provisioner,
    webhook: &Webhook,
    kind: &str,
    path: &str,
    expected: &str,
    provisioner_kind: &str,
    add: &mut Add<'_>,
) {
    if kind != expected {
        add(
            Level::Error,
            "kind",
            format!("is a {kind} webhook, but {path} answers {expected} calls only"),
            &format!("recreate it with --kind {expected}, or point it at the path for {kind}"),
        );
    }
    if webhook.cert_type.eq_ignore_ascii_case("SSH") {
        add(
            Level::Error,
            "kind",
            "has certType SSH, so step-ca never calls it for SCEP".to_owned(),
            "recreate it with --cert-type X509 (or ALL)",
        );
    }
    if !provisioner.kind.eq_ignore_ascii_case(provisioner_kind) {
        add(
            Level::Error,
            "provisioner",
            format!(
                "is on a {} provisioner, but step-ca calls {expected} webhooks only from SCEP \
                 provisioners",
                provisioner.kind
            ),
            "attach it to the SCEP provisioner devices enrol with",
        );
    }
}

fn check_renewal(provisioner: &Provisioner, findings: &mut Vec<Finding>) {
    if provisioner.claims.disable_renewal == Some(true) {
        return;
    }
    findings.push(Finding::new(
        Level::Warning,
        "renewal",
        &format!("provisioner {:?}", provisioner.name),
        "allows renewal, and /renew never calls webhooks: a device that leaves management keeps \
         renewing its certificate (unless the CA-wide claims, which /provisioners doesn't show, \
         disable it)"
            .to_owned(),
        &format!(
            "step ca provisioner update {} --disable-renewal (claims.disableRenewal: true), \
             and let devices get new certificates through the gate",
            provisioner.name
        ),
    ));
}

fn is_admin(provisioner: &Provisioner, us: &OurSide) -> bool {
    provisioner.kind.eq_ignore_ascii_case("JWK")
        || us.admin_provisioners.contains(&provisioner.name)
}

fn names(us: &OurSide) -> String {
    let mut all: Vec<String> = us.dns_names.clone();
    all.extend(us.ip_addresses.iter().map(ToString::to_string));
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::super::ca::{Claims, Options, VersionInfo};
    use super::*;

    const ID: &str = "0b5b0b2e-4f0d-4b4e-9f0c-1f2e3d4c5b6a";
    const URL: &str = "https://posture.example.com:9443/webhook/device-attest?mode=computer";

    /// Whether `findings` hold one from `check` at `level`.
    fn has(findings: &[Finding], check: &str, level: Level) -> bool {
        findings
            .iter()
            .any(|f| f.check == check && f.level == level)
    }

    fn us() -> OurSide {
        OurSide {
            webhook_ids: vec![ID.to_owned()],
            dns_names: vec![
                "posture.example.com".to_owned(),
                "*.internal.example.com".to_owned(),
            ],
            ip_addresses: vec!["10.0.0.5".parse().unwrap()],
            port: 9443,
            mtls: false,
            admin_provisioners: Vec::new(),
            mtls_only_ids: Vec::new(),
        }
    }

    fn webhook(url: &str, kind: &str) -> Webhook {
        Webhook {
            id: ID.to_owned(),
            name: "posture".to_owned(),
            url: url.to_owned(),
            kind: kind.to_owned(),
            cert_type: "X509".to_owned(),
            disable_tls_client_auth: false,
        }
    }

    fn acme(webhooks: Vec<Webhook>) -> Provisioner {
        Provisioner {
            kind: "ACME".to_owned(),
            name: "acme-da".to_owned(),
            challenges: vec!["device-attest-01".to_owned()],
            attestation_formats: vec!["apple".to_owned()],
            claims: Claims {
                disable_renewal: Some(true),
            },
            options: Options { webhooks },
        }
    }

    fn ca(version: &str, provisioners: Vec<Provisioner>) -> CaSnapshot {
        CaSnapshot {
            url: "https://ca.example.com".to_owned(),
            version: VersionInfo {
                version: version.to_owned(),
            },
            provisioners,
        }
    }

    fn levels(findings: &[Finding]) -> Vec<(Level, &'static str)> {
        findings.iter().map(|f| (f.level, f.check)).collect()
    }

    #[test]
    fn a_right_wiring_is_all_ok() {
        let findings = check(
            &ca("0.29.0", vec![acme(vec![webhook(URL, "ENRICHING")])]),
            &us(),
        );
        assert_eq!(
            levels(&findings),
            [(Level::Ok, "version"), (Level::Ok, "webhook")],
            "{findings:#?}"
        );
        assert!(
            findings[1]
                .message
                .contains("ENRICHING on ACME provisioner")
        );
    }

    #[test]
    fn versions() {
        for (version, level, words) in [
            ("0.24.2", Level::Error, "signs webhook requests wrongly"),
            ("v0.28.0", Level::Warning, "drops a deny's reason"),
            ("0.28.4-rc1", Level::Warning, "#2491"),
            ("0.30.2", Level::Ok, "step-ca 0.30.2"),
            (
                "Smallstep CA/0.29.0 (linux/amd64)",
                Level::Ok,
                "step-ca 0.29.0",
            ),
            ("dev", Level::Warning, "doesn't read as x.y.z"),
        ] {
            let finding = check_version(version);
            assert_eq!(finding.level, level, "{version}");
            assert!(finding.message.contains(words), "{version}: {finding:?}");
        }
    }

    #[test]
    fn an_unknown_id_pointing_here_is_an_error_and_a_stale_id_a_warning() {
        let mut ours = us();
        ours.webhook_ids = vec!["stale-id".to_owned()];
        let findings = check(
            &ca("0.29.0", vec![acme(vec![webhook(URL, "ENRICHING")])]),
            &ours,
        );
        let errors: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{findings:#?}");
        assert_eq!(errors[0].check, "webhook-id");
        assert!(errors[0].fix.contains("WEBHOOK_IDS"));
        assert!(
            findings
                .iter()
                .any(|f| f.level == Level::Warning && f.subject.contains("stale-id"))
        );
    }

    #[test]
    fn nothing_calling_us_is_an_error() {
        let elsewhere = Webhook {
            id: "other".to_owned(),
            ..webhook("https://other.example.net/hook", "ENRICHING")
        };
        let findings = check(&ca("0.29.0", vec![acme(vec![elsewhere])]), &us());
        assert!(has(&findings, "gate", Level::Error), "{findings:#?}");
    }

    #[test]
    fn url_problems() {
        for (url, level, words) in [
            (
                "http://posture.example.com:9443/webhook/device-attest",
                Level::Error,
                "https only",
            ),
            (
                "https://posture.example.com:9443/webhook/attest",
                Level::Error,
                "is not one this server serves",
            ),
            (
                "https://posture.example.com:9443/webhook/device-attest?mode=laptop",
                Level::Error,
                "mode=laptop",
            ),
            (
                "https://posture.example.com/webhook/device-attest",
                Level::Warning,
                "port 443",
            ),
            (
                "https://posture.other.org:9443/webhook/device-attest",
                Level::Warning,
                "not among this server's certificate names",
            ),
            (
                "https://{{ .Host }}/webhook/device-attest",
                Level::Warning,
                "template",
            ),
        ] {
            let findings = check(
                &ca("0.29.0", vec![acme(vec![webhook(url, "ENRICHING")])]),
                &us(),
            );
            assert!(
                findings
                    .iter()
                    .any(|f| f.level == level && f.check == "url" && f.message.contains(words)),
                "{url}: {findings:#?}"
            );
        }
        // Wildcards and IP SANs count as this server's names.
        for url in [
            "https://a.internal.example.com:9443/webhook/device-attest",
            "https://10.0.0.5:9443/webhook/device-attest",
        ] {
            let findings = check(
                &ca("0.29.0", vec![acme(vec![webhook(url, "ENRICHING")])]),
                &us(),
            );
            assert!(
                findings.iter().all(|f| f.level == Level::Ok),
                "{url}: {findings:#?}"
            );
        }
        let mut deep = us();
        deep.dns_names = vec!["*.example.com".to_owned()];
        assert!(!certificate_covers(&deep, "a.b.example.com"));
        assert!(certificate_covers(&deep, "b.example.com"));
    }

    #[test]
    fn kinds_and_provisioners() {
        let scep_kind = check(
            &ca("0.29.0", vec![acme(vec![webhook(URL, "SCEPCHALLENGE")])]),
            &us(),
        );
        assert!(has(&scep_kind, "kind", Level::Error));

        let mut ssh = webhook(URL, "ENRICHING");
        ssh.cert_type = "SSH".to_owned();
        let findings = check(&ca("0.29.0", vec![acme(vec![ssh])]), &us());
        assert!(findings.iter().any(|f| f.message.contains("certType SSH")));

        let mut no_attest = acme(vec![webhook(URL, "AUTHORIZING")]);
        no_attest.challenges = vec!["http-01".to_owned()];
        let findings = check(&ca("0.29.0", vec![no_attest]), &us());
        assert!(
            findings.iter().any(|f| f.level == Level::Error
                && f.message.contains("does not offer device-attest-01"))
        );

        let mut mixed = acme(vec![webhook(URL, "ENRICHING")]);
        mixed.challenges = vec!["device-attest-01".to_owned(), "http-01".to_owned()];
        let findings = check(&ca("0.29.0", vec![mixed]), &us());
        assert!(
            findings
                .iter()
                .any(|f| f.level == Level::Warning && f.message.contains("offers http-01"))
        );

        let mut oidc = acme(vec![webhook(URL, "ENRICHING")]);
        oidc.kind = "OIDC".to_owned();
        let findings = check(&ca("0.29.0", vec![oidc]), &us());
        assert!(has(&findings, "provisioner", Level::Error));
    }

    #[test]
    fn scep_webhooks_fit_their_paths() {
        let scep = |webhooks| Provisioner {
            kind: "SCEP".to_owned(),
            name: "wifi".to_owned(),
            claims: Claims {
                disable_renewal: Some(true),
            },
            options: Options { webhooks },
            ..Provisioner::default()
        };
        let challenge = "https://posture.example.com:9443/webhook/scep-challenge";
        let notify = "https://posture.example.com:9443/webhook/scep-notify";
        let mut notifying = webhook(notify, "NOTIFYING");
        notifying.id = "second".to_owned();
        let mut ours = us();
        ours.webhook_ids.push("second".to_owned());
        let findings = check(
            &ca(
                "0.29.0",
                vec![scep(vec![webhook(challenge, "SCEPCHALLENGE"), notifying])],
            ),
            &ours,
        );
        assert!(
            findings.iter().all(|f| f.level == Level::Ok),
            "{findings:#?}"
        );
        // Swapped kinds, and a SCEP path on an ACME provisioner.
        let findings = check(
            &ca("0.29.0", vec![scep(vec![webhook(challenge, "NOTIFYING")])]),
            &us(),
        );
        assert!(has(&findings, "kind", Level::Error));
        let findings = check(
            &ca(
                "0.29.0",
                vec![acme(vec![webhook(challenge, "SCEPCHALLENGE")])],
            ),
            &us(),
        );
        assert!(
            findings
                .iter()
                .any(|f| f.check == "provisioner" && f.message.contains("only from SCEP")),
            "{findings:#?}"
        );
    }

    #[test]
    fn admin_provisioners_are_errors() {
        let mut jwk = acme(vec![webhook(URL, "ENRICHING")]);
        jwk.kind = "JWK".to_owned();
        jwk.name = "admin".to_owned();
        let findings = check(&ca("0.29.0", vec![jwk]), &us());
        assert!(has(&findings, "admin", Level::Error));

        let mut named = us();
        named.admin_provisioners = vec!["acme-da".to_owned()];
        let findings = check(
            &ca("0.29.0", vec![acme(vec![webhook(URL, "ENRICHING")])]),
            &named,
        );
        assert!(findings.iter().any(|f| f.check == "admin"));
    }

    #[test]
    fn mtls_only_webhooks_are_reported() {
        let mut ours = us();
        ours.mtls_only_ids = vec![ID.to_owned()];
        let findings = check(
            &ca("0.30.0", vec![acme(vec![webhook(URL, "ENRICHING")])]),
            &ours,
        );
        assert!(has(&findings, "mtls-only", Level::Ok), "{findings:#?}");
    }

    #[test]
    fn renewal_and_mtls() {
        let mut renewing = acme(vec![webhook(URL, "ENRICHING")]);
        renewing.claims.disable_renewal = None;
        let findings = check(&ca("0.29.0", vec![renewing]), &us());
        let renewal: Vec<&Finding> = findings.iter().filter(|f| f.check == "renewal").collect();
        assert_eq!(renewal.len(), 1);
        assert_eq!(renewal[0].level, Level::Warning);
        assert!(renewal[0].fix.contains("--disable-renewal"));

        let mut no_client_auth = webhook(URL, "ENRICHING");
        no_client_auth.disable_tls_client_auth = true;
        let mut mtls = us();
        mtls.mtls = true;
        let findings = check(&ca("0.29.0", vec![acme(vec![no_client_auth])]), &mtls);
        assert!(has(&findings, "mtls", Level::Error));
    }

    #[test]
    fn errors_come_first() {
        let mut ours = us();
        ours.webhook_ids.clear();
        let findings = check(
            &ca("0.24.0", vec![acme(vec![webhook(URL, "ENRICHING")])]),
            &ours,
        );
        assert!(findings.windows(2).all(|w| w[0].level >= w[1].level));
        assert_eq!(findings[0].level, Level::Error);
    }
}
