//! The client-credentials token: scope, caching, renewal, refusal.

use std::sync::Arc;
use std::time::Duration;

use posture_conformance::support::unready;
use posture_core::PostureProvider;
use posture_fakes::TokenFault;
use posture_fakes::intune::FakeManagedDevice;
use posture_intune::IntuneConfig;

use crate::support::{config_at, decide, fake, provider, refused_readiness};

const MAC: &str = "C02XL0GJJG5J";

#[tokio::test]
async fn one_token_for_many_concurrent_lookups_with_the_default_scope() {
    let intune = fake().await;
    intune.set_latency(Duration::from_millis(30));
    for i in 0..10 {
        intune.add_device(FakeManagedDevice::new(format!("C02XL0GJJG{i:02}")));
    }
    let intune_provider = Arc::new(provider(&intune, |c| c));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let p = intune_provider.clone();
        tasks.spawn(async move {
            decide(&*p, &format!("C02XL0GJJG{:02}", i % 10))
                .await
                .is_allowed()
        });
    }
    while let Some(allowed) = tasks.join_next().await {
        assert!(allowed.unwrap());
    }
    assert_eq!(intune.stats().token_requests, 1);
    assert_eq!(intune.stats().device_requests, 10);
    let token = intune.requests_to("/oauth2/v2.0/token").remove(0);
    assert_eq!(
        token.path,
        format!("/{}/oauth2/v2.0/token", posture_fakes::intune::TENANT_ID)
    );
    assert!(token.body.contains("grant_type=client_credentials"));
    // The fake's host is no Graph resource: the scope is the global cloud's, as for any
    // proxy, and the fake (like Entra) would refuse anything else.
    let scope = format!("scope={}", percent("https://graph.microsoft.com/.default"));
    assert!(token.body.contains(&scope), "{}", token.body);
    assert!(
        token.body.contains(&format!(
            "client_secret={}",
            percent(posture_fakes::intune::CLIENT_SECRET)
        )),
        "{}",
        token.body
    );
    assert!(!token.body.contains("client_assertion"), "{}", token.body);
}

#[tokio::test]
async fn a_scope_that_is_not_a_graph_resource_is_refused_as_entra_does() {
    let intune = fake().await;
    let intune_provider = provider(&intune, |c| {
        c.with_scope(&format!("{}/.default", intune.url())).unwrap()
    });
    let text = refused_readiness(&intune_provider).await;
    assert!(
        text.starts_with(&format!(
            "the Microsoft identity platform refused the token scope {}/.default (400 Bad Request: invalid_resource: AADSTS500011: The resource principal named {} was not found",
            intune.url(),
            intune.url()
        )),
        "{text}"
    );
    assert!(text.contains("set INTUNE_SCOPE"), "{text}");

    // Every cloud's Graph resource, and Graph's application ID, is a Graph resource.
    for scope in [
        "https://graph.microsoft.us/.default",
        "https://graph.microsoft.com//.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ] {
        let intune_provider = provider(&intune, |c| c.with_scope(scope).unwrap());
        intune_provider.check_ready().await.unwrap();
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn tokens_are_renewed_early_and_after_a_revocation() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new(MAC));
    intune.set_token_lifetime(Duration::from_secs(2));
    let intune_provider = provider(&intune, |c| c.with_cache_ttl(Duration::ZERO));
    assert!(decide(&intune_provider, MAC).await.is_allowed());
    // A 2 s token is renewed at half its life.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(decide(&intune_provider, MAC).await.is_allowed());
    assert_eq!(intune.stats().token_requests, 2);
    assert_eq!(intune.stats().unauthorized, 0);

    intune.set_token_lifetime(Duration::from_secs(3600));
    intune.revoke_tokens();
    assert!(decide(&intune_provider, MAC).await.is_allowed());
    assert_eq!(intune.stats().unauthorized, 1);
    assert_eq!(intune_provider.stats().retries_after_401, 1);
}

#[tokio::test]
async fn refused_credentials_name_the_settings_and_the_entra_error() {
    let intune = fake().await;
    let config = IntuneConfig::new(
        posture_fakes::intune::TENANT_ID,
        posture_fakes::intune::CLIENT_ID,
        "wrong-secret",
    )
    .unwrap()
    .with_authority_url(&intune.url())
    .unwrap()
    .with_graph_url(&intune.url())
    .unwrap();
    let intune_provider = posture_intune::IntuneProvider::new(config).unwrap();
    let text = refused_readiness(&intune_provider).await;
    assert!(
        text.contains("INTUNE_TENANT_ID / INTUNE_CLIENT_ID / INTUNE_CLIENT_SECRET"),
        "{text}"
    );
    assert!(
        text.contains(
            "401 Unauthorized: invalid_client: AADSTS7000215: Invalid client secret provided."
        ),
        "{text}"
    );
    assert!(!text.contains("wrong-secret"), "{text}");
    assert!(!text.contains("Trace ID"), "{text}");

    let config = config_at("11111111-2222-4333-8444-555555555555", &intune.url());
    let text = refused_readiness(&posture_intune::IntuneProvider::new(config).unwrap()).await;
    assert!(text.contains("AADSTS90002"), "{text}");
}

#[tokio::test]
async fn token_endpoint_failures_are_classified() {
    for (fault, transient, expected) in [
        (TokenFault::Status(503), true, "503 Service Unavailable"),
        (
            TokenFault::Status(404),
            false,
            "does not look like the Microsoft identity platform",
        ),
        (TokenFault::HtmlPage, false, "with an HTML page"),
        (TokenFault::NotAToken, false, "holds no access_token"),
    ] {
        let intune = fake().await;
        intune.set_token_fault(Some(fault.clone()));
        let intune_provider = provider(&intune, |c| c);
        let err = intune_provider.check_ready().await.unwrap_err();
        assert_eq!(err.is_transient(), transient, "{fault:?}: {err}");
        assert!(err.to_string().contains(expected), "{fault:?}: {err}");
    }
    let intune = fake().await;
    intune.set_token_fault(Some(TokenFault::Hang));
    let intune_provider = provider(&intune, |c| c.with_timeout(Duration::from_secs(1)).unwrap());
    unready(&intune_provider).await;
}

#[tokio::test]
async fn an_unreachable_authority_is_transient_and_named() {
    let intune = fake().await;
    let url = intune.url();
    drop(intune);
    let config = config_at(posture_fakes::intune::TENANT_ID, &url);
    let text = unready(&posture_intune::IntuneProvider::new(config).unwrap()).await;
    assert!(text.contains("INTUNE_AUTHORITY_URL"), "{text}");
}

#[tokio::test]
async fn the_report_names_the_endpoints_the_credential_the_scope_and_the_permissions() {
    let intune = fake().await;
    let group = "c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01";
    let intune_provider = provider(&intune, |c| c.with_group_id(group).unwrap());
    intune_provider.check_ready().await.unwrap();
    let report = intune_provider.report();
    assert_eq!(
        report,
        [
            format!(
                "devices: GET {}/v1.0/deviceManagement/managedDevices (Microsoft Graph v1.0, DeviceManagementManagedDevices.Read.All)",
                intune.url()
            ),
            format!(
                "token: {}/{}/oauth2/v2.0/token, client secret, scope https://graph.microsoft.com/.default",
                intune.url(),
                posture_fakes::intune::TENANT_ID
            ),
            "managed: managementAgent in mdm, easMdm, intuneClient, easIntuneClient, \
             configurationManagerClientMdm, configurationManagerClientMdmEas, jamf, \
             googleCloudDevicePolicyController, microsoft365ManagedMdm; compliant: \
             complianceState in compliant"
                .to_owned(),
            format!(
                "group check: GET /v1.0/devices?$filter=deviceId eq '…', then POST \
                 /v1.0/devices/{{id}}/checkMemberGroups for {group} (Device.Read.All)"
            ),
        ]
    );
    assert!(
        report
            .iter()
            .all(|line| !line.contains(posture_fakes::intune::CLIENT_SECRET))
    );

    let certificate = posture_fakes::intune::TestCertificate::generate().unwrap();
    let with_certificate = provider(&intune, |c| {
        c.with_client_certificate(crate::support::client_certificate(&certificate))
    });
    let report = with_certificate.report();
    assert!(
        report[1].contains(&format!(
            ", client certificate (PS256, x5t#S256 {}), ",
            certificate.x5t_s256()
        )),
        "{report:?}"
    );
    assert_eq!(report.len(), 3, "no group, no group line");
}
