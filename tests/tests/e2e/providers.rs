//! The real server with `PROVIDER=intune`, `PROVIDER=kandji`, and combined policies
//! (`PROVIDER=file,jamf`, `PROVIDER=jamf,intune`), against fakes on loopback that speak the
//! MDMs' documented shapes.

use std::collections::HashMap;

use http::StatusCode;
use posture_fakes::intune::{FakeIntune, FakeManagedDevice, TestCertificate};
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};
use serde_json::json;
use step_posture_connector::ServerError;
use step_posture_connector::commands::check_config;
use step_posture_connector::config::Config;
use step_posture_connector::providers::Providers;
use step_posture_tests::deployment::Expect;
use step_posture_tests::pki::Pki;

use crate::{against, assert_contains_all, assert_contains_none};

/// In the file provider's [`DEVICES_JSON`](step_posture_tests::server::DEVICES_JSON).
pub(crate) const LISTED_MAC: &str = "C02XL0GJJG5J";
/// In the file too, without data.
pub(crate) const LISTED_KEY: &str = "13804722";

/// `PROVIDER=file,<name>` under `POLICY=all`, then `POLICY=any`, configured by `vars` and
/// `extra`: each asked about [`LISTED_MAC`] (in both), [`LISTED_KEY`] (in the file only),
/// `inventory_only` and a device neither knows, then about `also`'s cases under each policy.
pub(crate) async fn combined_with_the_file(
    name: &str,
    vars: &[(String, String)],
    extra: &[(&str, &str)],
    inventory_only: &str,
    also: [&[(&str, Expect)]; 2],
) {
    let provider = format!("file,{name}");
    let theirs = format!("{name}: ");
    let under = |policy| {
        let mut all = vec![("PROVIDER", provider.as_str()), ("POLICY", policy)];
        all.extend_from_slice(extra);
        all
    };
    let d = against(vars, &under("all")).await;
    d.expect(&[
        // In both: allowed, each provider's data under its name.
        (
            LISTED_MAC,
            Expect::allowed().with_data_keys(&["file", name]),
        ),
        // In the file only: the inventory's deny, named.
        (
            LISTED_KEY,
            Expect::denied("deviceNotFound").starting(&theirs),
        ),
        // In the inventory only: the file's deny.
        (
            inventory_only,
            Expect::denied("deviceNotFound").starting("file: "),
        ),
    ])
    .await;
    d.expect(also[0]).await;
    drop(d);

    let d = against(vars, &under("any")).await;
    let every_reason = Expect::denied("deviceNotFound").starting("file: ");
    d.expect(&[
        // The file allows first: its data only.
        (LISTED_MAC, Expect::allowed().with_data_keys(&["file"])),
        (LISTED_KEY, Expect::allowed()),
        // Only the inventory knows it: allowed by it, its data only.
        (inventory_only, Expect::allowed().with_data_keys(&[name])),
        // Neither: every reason.
        (
            "C02NOBODY001",
            every_reason.containing(&format!("; {theirs}")),
        ),
    ])
    .await;
    d.expect(also[1]).await;
}

// ---- Intune ------------------------------------------------------------------------------

const GROUP: &str = "c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01";

async fn fake_intune() -> FakeIntune {
    let intune = FakeIntune::start().await.unwrap();
    intune.add_device(FakeManagedDevice::new(LISTED_MAC).with_entra_groups([GROUP]));
    intune.add_device(FakeManagedDevice::new("C02NONCOMP01").with_compliance_state("noncompliant"));
    intune.add_device(FakeManagedDevice::new("C02OUTSIDE01"));
    intune
}

#[tokio::test]
async fn intune_allows_compliant_group_members_with_the_documented_enrichment() {
    let intune = fake_intune().await;
    let d = against(
        &intune.env_vars(),
        &[("PROVIDER", "intune"), ("INTUNE_GROUP_ID", GROUP)],
    )
    .await;
    let documented = Expect::allowed()
        .with_data("/device/serial_number", LISTED_MAC)
        .with_data("/device/operating_system", "macOS")
        .with_data("/device/ownership", "company")
        .with_data("/user/upn", "alice@contoso.com")
        .with_data("/user/display_name", "Alice Example");
    d.expect(&[
        (LISTED_MAC, documented),
        (
            "C02NONCOMP01",
            Expect::denied("notCompliant").containing("\"noncompliant\""),
        ),
        (
            "C02OUTSIDE01",
            Expect::denied("notCompliant").containing(GROUP),
        ),
        ("C02UNKNOWN00", Expect::denied("deviceNotFound")),
    ])
    .await;

    let before = intune.stats().graph_requests;
    let udid = "00008103-001A2B3C4D5E001E";
    d.expect(&[(udid, Expect::denied("invalidIdentifier"))])
        .await;
    assert_eq!(intune.stats().graph_requests, before);
}

#[tokio::test]
async fn intune_throttling_is_a_503_and_garbage_a_provider_error() {
    let intune = fake_intune().await;
    let d = against(
        &intune.env_vars(),
        &[
            ("PROVIDER", "intune"),
            ("INTUNE_CACHE_TTL", "0"),
            ("INTUNE_NEGATIVE_CACHE_TTL", "0"),
        ],
    )
    .await;
    intune.set_fault(Some(posture_fakes::Fault::Garbage));
    d.expect(&[(LISTED_MAC, Expect::denied("providerError"))])
        .await;

    intune.set_fault(Some(posture_fakes::Fault::TooManyRequests {
        retry_after_secs: 1,
    }));
    let throttled_at = std::time::Instant::now();
    let unavailable = Expect::refused(StatusCode::SERVICE_UNAVAILABLE);
    d.expect(&[(LISTED_MAC, unavailable)]).await;
    // Graph has recovered, but it asked for a second of quiet: step-ca's retry still gets
    // a 503, and Graph sees no request.
    intune.set_fault(None);
    let sent = intune.stats().graph_requests;
    let (status, _) = d.ask(LISTED_MAC).await.unwrap();
    if throttled_at.elapsed() < std::time::Duration::from_millis(900) {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(intune.stats().graph_requests, sent);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    d.expect(&[(LISTED_MAC, Expect::allowed())]).await;
}

#[tokio::test]
async fn intune_with_certificate_credentials_allows_and_check_config_shows_the_certificate() {
    let intune = fake_intune().await;
    let dir = tempfile::tempdir().unwrap();
    let certificate = TestCertificate::generate().unwrap();
    intune.register_certificate(certificate.der()).unwrap();
    let (cert_path, key_path) = certificate.write_to(dir.path()).unwrap();
    let vars = intune.certificate_env_vars(&cert_path, &key_path);
    let d = against(&vars, &[("PROVIDER", "intune")]).await;
    d.expect(&[
        (LISTED_MAC, Expect::allowed()),
        ("C02NONCOMP01", Expect::denied("notCompliant")),
    ])
    .await;
    // Every token request carried a client assertion, none a secret.
    let tokens = intune.requests_to("/oauth2/v2.0/token");
    assert!(!tokens.is_empty());
    for token in &tokens {
        assert!(token.body.contains("client_assertion="), "{}", token.body);
        assert!(!token.body.contains("client_secret"), "{}", token.body);
    }

    let check = ConfigCheck::new(
        &[vars],
        &[
            ("PROVIDER", "intune"),
            ("INTUNE_CLIENT_ASSERTION_ALG", "RS256"),
        ],
    );
    let summary = check.summary().await;
    let thumbprint = ring::digest::digest(&ring::digest::SHA256, certificate.der())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    assert_contains_all(
        &summary,
        &[
            &format!("INTUNE_CLIENT_CERT_PATH={}", cert_path.display()),
            &format!("INTUNE_CLIENT_KEY_PATH={}", key_path.display()),
            &format!("  client certificate: SHA-256 {thumbprint}, Entra thumbprint "),
            ", signing with RS256",
            &format!(
                "  token: {}/{}/oauth2/v2.0/token, client certificate (RS256, x5t#S256 {}), scope https://graph.microsoft.com/.default",
                intune.url(),
                posture_fakes::intune::TENANT_ID,
                certificate.x5t_s256()
            ),
            "  scope https://graph.microsoft.com/.default (default); ",
        ],
    );
    let key_body = certificate.key_pem().lines().nth(1).unwrap();
    assert_contains_none(&summary, &["PRIVATE KEY", key_body]);
}

#[tokio::test]
async fn intune_denies_devices_no_mdm_manages() {
    let intune = fake_intune().await;
    intune.add_device(FakeManagedDevice::new("C02EASONLY01").with_management_agent("eas"));
    let d = against(&intune.env_vars(), &[("PROVIDER", "intune")]).await;
    let eas = "C02EASONLY01 has management agent \"eas\" in Intune, so it is not managed by an MDM";
    d.expect(&[("C02EASONLY01", Expect::denied("notManaged").starting(eas))])
        .await;
    // Allowing eas explicitly allows it: the setting is what decides.
    let d = against(
        &intune.env_vars(),
        &[
            ("PROVIDER", "intune"),
            ("INTUNE_ALLOWED_MANAGEMENT_AGENTS", "mdm,eas"),
        ],
    )
    .await;
    d.expect(&[("C02EASONLY01", Expect::allowed())]).await;
}

// ---- Kandji ------------------------------------------------------------------------------

#[tokio::test]
async fn kandji_allows_enrolled_devices_in_the_allowed_blueprints() {
    let kandji = FakeKandji::start().await.unwrap();
    kandji.add_device(FakeKandjiDevice::new(LISTED_MAC));
    kandji.add_device(FakeKandjiDevice::iphone("DMPXK2ABCD12"));
    kandji.add_device(FakeKandjiDevice::new("C02NOMDM0001").with_mdm_enabled(false));
    kandji.set_string_booleans(true);
    let d = against(
        &kandji.env_vars(),
        &[
            ("PROVIDER", "kandji"),
            ("KANDJI_BLUEPRINTS", "Engineering Macs,Shared iPhones"),
            ("KANDJI_REQUIRE_AGENT", "1"),
        ],
    )
    .await;
    let in_blueprint = Expect::allowed()
        .with_data("/blueprint/name", "Engineering Macs")
        .with_data("/user/email", "alice@example.com");
    let no_user = json!({"id": "", "name": "", "email": ""});
    d.expect(&[
        (LISTED_MAC, in_blueprint),
        // No user assigned: empty user fields, still allowed.
        (
            "DMPXK2ABCD12",
            Expect::allowed().with_data("/user", no_user),
        ),
        ("C02NOMDM0001", Expect::denied("notManaged")),
        // A partial serial is not a device.
        ("C02XL0GJ", Expect::denied("deviceNotFound")),
    ])
    .await;
}

#[tokio::test]
async fn kandji_bursts_stay_within_its_per_second_limit() {
    // Kandji's gateway allows 50 requests a second; scaled down to 5 on both sides.
    let kandji = FakeKandji::start().await.unwrap();
    kandji.set_rate_limits(5, 10_000);
    let serials: Vec<String> = (0..12).map(|i| format!("C02BURST{i:04}")).collect();
    for serial in &serials {
        kandji.add_device(FakeKandjiDevice::new(serial));
    }
    let d = std::sync::Arc::new(
        against(
            &kandji.env_vars(),
            &[
                ("PROVIDER", "kandji"),
                ("KANDJI_MAX_REQUESTS_PER_SECOND", "5"),
                // Room for 12 lookups at 5 a second: the limit is tested, not TIMEOUT.
                ("TIMEOUT", "10"),
            ],
        )
        .await,
    );
    let mut asks = tokio::task::JoinSet::new();
    for serial in serials {
        let d = d.clone();
        asks.spawn(async move { (d.ask(&serial).await.unwrap(), serial) });
    }
    for (answer, serial) in asks.join_all().await {
        Expect::allowed().check(&serial, &answer);
    }
    let stats = kandji.stats();
    assert_eq!(
        stats.device_requests, 13,
        "12 lookups and the readiness check"
    );
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert!(stats.busiest_second <= 5, "{stats:?}");
}

#[tokio::test]
async fn kandji_moved_to_another_host_is_named_by_check_config() {
    let old = FakeKandji::start().await.unwrap();
    let new = FakeKandji::start().await.unwrap();
    old.set_moved(Some(new.url()));
    let check = ConfigCheck::new(&[old.env_vars()], &[("PROVIDER", "kandji")]);
    let err = format!("{:#}", check.refusal().await);
    assert!(
        err.contains(&format!(
            "KANDJI_API_URL ({}) redirects to {}; set KANDJI_API_URL to it",
            old.url(),
            new.url()
        )),
        "{err}"
    );
    assert!(!err.contains(posture_fakes::kandji::API_TOKEN), "{err}");
    assert_eq!(old.stats().requests, 1);
    assert_eq!(
        new.stats().requests,
        0,
        "the token never followed the redirect"
    );
}

// ---- Combined policies -------------------------------------------------------------------

async fn fake_jamf() -> FakeJamf {
    let jamf = FakeJamf::start().await.unwrap();
    // In Jamf and in the file: allowed by both.
    jamf.add_mobile_device(FakeDevice::new(LISTED_MAC));
    // In Jamf only.
    jamf.add_mobile_device(FakeDevice::new("DMPJAMFONLY1"));
    jamf
}

#[tokio::test]
async fn all_requires_every_provider_and_merges_enrichment_by_name() {
    let jamf = fake_jamf().await;
    let d = against(
        &jamf.env_vars(),
        &[
            ("PROVIDER", "file,jamf"),
            ("POLICY", "all"),
            ("JAMF_DEVICE_ENRICH", "1"),
        ],
    )
    .await;
    let file = json!({"user": {"email_address": "alice@example.com", "department": "Engineering"}, "groups": ["Compliant Macs"]});
    let merged = Expect::allowed()
        .with_data("/file", file)
        .with_data("/jamf/device/serial_number", LISTED_MAC)
        .with_data_keys(&["file", "jamf"]);
    d.expect(&[
        (LISTED_MAC, merged),
        // Listed in the file but unknown to Jamf: Jamf's deny, named.
        (
            LISTED_KEY,
            Expect::denied("deviceNotFound").starting("jamf: "),
        ),
    ])
    .await;
    // Known to Jamf but not in the file: the file's deny, and Jamf is not asked.
    let before = jamf.stats().lookup_requests;
    let files = Expect::denied("deviceNotFound").starting("file: ");
    d.expect(&[("DMPJAMFONLY1", files)]).await;
    assert_eq!(jamf.stats().lookup_requests, before);

    // Jamf down: transient, 503, even though the file allows.
    jamf.set_fault(Some(posture_fakes::Fault::Status(503)));
    let unavailable = Expect::status(StatusCode::SERVICE_UNAVAILABLE);
    d.expect(&[("F4KQ2J9XN7", unavailable)]).await;
}

#[tokio::test]
async fn any_takes_the_first_provider_that_allows_during_a_migration() {
    let jamf = fake_jamf().await;
    let intune = fake_intune().await;
    intune.add_device(FakeManagedDevice::new("C02MIGRATED1"));
    let mut vars = jamf.env_vars();
    vars.extend(intune.env_vars());
    let d = against(
        &vars,
        &[
            ("PROVIDER", "jamf,intune"),
            ("POLICY", "any"),
            ("JAMF_DEVICE_ENRICH", "1"),
            ("INTUNE_NEGATIVE_CACHE_TTL", "0"),
        ],
    )
    .await;
    // Still in Jamf: Jamf allows, Intune is not asked.
    let before = intune.stats().device_requests;
    let by_jamf = Expect::allowed().with_data_keys(&["jamf"]);
    d.expect(&[("DMPJAMFONLY1", by_jamf)]).await;
    assert_eq!(intune.stats().device_requests, before);
    let by_intune = |serial| Expect::allowed().with_data("/intune/device/serial_number", serial);
    d.expect(&[
        // Moved to Intune: Intune allows, its data under its name.
        ("C02MIGRATED1", by_intune("C02MIGRATED1")),
        // Neither allows: every reason, the most specific code.
        (
            "C02NONCOMP01",
            Expect::denied("notCompliant")
                .starting("jamf: no mobile device with serial number C02NONCOMP01")
                .containing("; intune: C02NONCOMP01 has compliance state"),
        ),
    ])
    .await;
    // Jamf down but Intune allows: one allow is enough, whatever Jamf would have said.
    intune.add_device(FakeManagedDevice::new("C02MIGRATED3"));
    jamf.set_fault(Some(posture_fakes::Fault::Status(503)));
    d.expect(&[("C02MIGRATED3", by_intune("C02MIGRATED3"))])
        .await;
    jamf.set_fault(None);
    // Intune down and Jamf doesn't know the device: it might have allowed, so 503.
    intune.set_fault(Some(posture_fakes::Fault::Status(503)));
    let unavailable = Expect::status(StatusCode::SERVICE_UNAVAILABLE);
    d.expect(&[("C02MIGRATED2", unavailable)]).await;
}

// ---- Configuration -----------------------------------------------------------------------

fn base_vars(pki: &Pki, dir: &std::path::Path) -> HashMap<String, String> {
    let devices = dir.join("devices.json");
    std::fs::write(&devices, step_posture_tests::server::DEVICES_JSON).unwrap();
    [
        ("FILE_PATH", devices.display().to_string()),
        ("FILE_TYPE", "json".to_owned()),
        ("TLS_CERT_PATH", pki.server.cert.display().to_string()),
        ("TLS_KEY_PATH", pki.server.key.display().to_string()),
        (
            "WEBHOOK_IDS",
            step_posture_tests::server::ENRICHING_ID.to_owned(),
        ),
        (
            "WEBHOOK_SECRETS",
            step_posture_tests::server::ENRICHING_SECRET.to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What `check-config` is given: a server's own variables ([`base_vars`]), then the fakes',
/// then the test's; and the certificates and the directory they name.
pub(crate) struct ConfigCheck {
    /// The variables, for a test to change between checks.
    pub(crate) vars: HashMap<String, String>,
    /// Holds the device file, and any other file a test writes for its variables.
    pub(crate) dir: tempfile::TempDir,
    _pki: Pki,
}

impl ConfigCheck {
    /// [`base_vars`], every fake's variables in `fakes`, then `extra` (`PROVIDER`, settings).
    pub(crate) fn new(fakes: &[Vec<(String, String)>], extra: &[(&str, &str)]) -> Self {
        let pki = Pki::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut vars = base_vars(&pki, dir.path());
        vars.extend(fakes.iter().flatten().cloned());
        for (name, value) in extra {
            vars.insert((*name).to_owned(), (*value).to_owned());
        }
        Self {
            vars,
            dir,
            _pki: pki,
        }
    }

    /// Sets the variable `name` to `value`.
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    /// The summary of a configuration `check-config` accepts; panics if it refuses it.
    pub(crate) async fn summary(&self) -> String {
        check_config(&self.vars, &Providers::builtin())
            .await
            .unwrap()
    }

    /// Why `check-config` refuses the configuration; panics if it accepts it.
    pub(crate) async fn refusal(&self) -> ServerError {
        check_config(&self.vars, &Providers::builtin())
            .await
            .unwrap_err()
    }
}

#[tokio::test]
async fn provider_lists_and_policies_are_validated() {
    let pki = Pki::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = base_vars(&pki, dir.path());
    let problems = |extra: &[(&str, &str)]| {
        let mut vars = base.clone();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_vars(&vars).unwrap_err().to_string()
    };
    let text = problems(&[("PROVIDER", "file,jamf,file")]);
    assert_eq!(
        text,
        "PROVIDER=\"file,jamf,file\" is invalid: expected each provider once (file is named twice)"
    );
    let text = problems(&[("PROVIDER", "file,jumpcloud")]);
    assert!(
        text.starts_with(
            "PROVIDER=\"file,jumpcloud\" is invalid: expected file, jamf, intune, kandji, fleet, http, mosyle or addigy"
        ),
        "{text}"
    );
    let text = problems(&[("PROVIDER", "file"), ("POLICY", "both")]);
    assert_eq!(text, "POLICY=\"both\" is invalid: expected all or any");
    // Every provider's own problems are reported, each naming its variable.
    let text = problems(&[("PROVIDER", "intune,kandji")]);
    for variable in [
        "INTUNE_TENANT_ID",
        "INTUNE_CLIENT_ID",
        "INTUNE_CLIENT_SECRET",
        "KANDJI_API_URL",
        "KANDJI_API_TOKEN",
    ] {
        assert!(
            text.contains(&format!("{variable} is not set")),
            "{variable}: {text}"
        );
    }

    let mut vars = base.clone();
    vars.insert("PROVIDER".to_owned(), " file , kandji ".to_owned());
    vars.insert(
        "KANDJI_API_URL".to_owned(),
        "https://example.api.kandji.io".to_owned(),
    );
    vars.insert("KANDJI_API_TOKEN".to_owned(), "t".to_owned());
    let config = Config::from_vars(&vars).unwrap();
    assert_eq!(
        config.provider.policy,
        posture_core::Policy::All,
        "all is the default"
    );
    assert_eq!(config.provider.names(), ["file", "kandji"]);
    // Kandji is now Iru: a kandji.io host still works, with a warning naming its successor.
    let moving = config
        .warnings()
        .into_iter()
        .filter(|w| w.starts_with("KANDJI_API_URL (https://example.api.kandji.io)"))
        .collect::<Vec<_>>();
    assert_eq!(moving.len(), 1, "{moving:?}");
    assert!(
        moving[0].ends_with(
            "set KANDJI_API_URL=https://example.api.iru.com, the same tenant's Iru host"
        ),
        "{moving:?}"
    );
    vars.insert(
        "KANDJI_API_URL".to_owned(),
        "https://example.api.eu.iru.com".to_owned(),
    );
    let config = Config::from_vars(&vars).unwrap();
    assert!(
        config
            .warnings()
            .iter()
            .all(|w| !w.contains("KANDJI_API_URL")),
        "{:?}",
        config.warnings()
    );
    vars.insert("KANDJI_MAX_REQUESTS_PER_SECOND".to_owned(), "80".to_owned());
    let text = Config::from_vars(&vars).unwrap_err().to_string();
    assert!(
        text.starts_with("KANDJI_MAX_REQUESTS_PER_SECOND=\"80\" is invalid: expected a whole number of requests a second from 1 to 50"),
        "{text}"
    );
}

#[tokio::test]
async fn check_config_bootstraps_every_provider_of_a_combination() {
    let kandji = FakeKandji::start().await.unwrap();
    let intune = FakeIntune::start().await.unwrap();
    let check = ConfigCheck::new(
        &[kandji.env_vars(), intune.env_vars()],
        &[
            ("PROVIDER", "kandji,intune"),
            ("POLICY", "any"),
            ("KANDJI_MAX_RETRY_AFTER", "30"),
        ],
    );
    let summary = check.summary().await;
    assert_contains_all(
        &summary,
        &[
            "providers: kandji,intune with POLICY=any (ready)",
            "KANDJI_API_URL=",
            "KANDJI_MAX_REQUESTS_PER_SECOND=50",
            "KANDJI_MAX_RETRY_AFTER=30 s",
            "INTUNE_MAX_RETRY_AFTER=60 s",
        ],
    );
    // What Kandji told the readiness check, under its provider's name.
    for line in [
        format!(
            "  kandji: devices: GET {}/api/v1/devices (Kandji/Iru API v1), at most 50 requests a second",
            kandji.url()
        ),
        "  kandji: host: 127.0.0.1 is neither an Iru (iru.com) nor a Kandji (kandji.io) host: a proxy or a test server".to_owned(),
        "  kandji: hourly quota: 9999 of 10000 requests left (X-RateLimit-Remaining-Hour)".to_owned(),
    ] {
        assert!(summary.lines().any(|l| l == line), "{line:?} in\n{summary}");
    }
    assert!(
        summary.contains("compliance states allowed: compliant;"),
        "{summary}"
    );
    assert_contains_none(
        &summary,
        &[
            posture_fakes::kandji::API_TOKEN,
            posture_fakes::intune::CLIENT_SECRET,
        ],
    );
    assert_eq!(intune.stats().token_requests, 1);
    assert_eq!(kandji.stats().device_requests, 1);

    // One provider not ready stops the whole combination, naming it.
    intune.set_token_fault(Some(posture_fakes::TokenFault::Status(401)));
    let err = check.refusal().await.to_string();
    assert!(err.contains("any(kandji,intune)"), "{err}");
}

#[tokio::test]
async fn check_config_with_intune_scep_validation_gets_both_tokens_and_the_service_url() {
    let intune = fake_intune().await;
    let check = ConfigCheck::new(
        &[intune.env_vars()],
        &[("PROVIDER", "intune"), ("SCEP_CHALLENGE", "intune")],
    );
    let summary = check.summary().await;
    assert!(
        summary.contains(&format!(
            "ScepRequestValidationFEService at {} (discovered)",
            intune.scep_service_url()
        )),
        "{summary}"
    );
    assert!(
        intune
            .token_scopes()
            .contains(&"https://api.manage.microsoft.com//.default".to_owned())
    );
    assert!(
        !summary.contains(posture_fakes::intune::CLIENT_SECRET),
        "{summary}"
    );
}
