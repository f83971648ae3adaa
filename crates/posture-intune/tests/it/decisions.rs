//! Allow, deny, duplicates and enrichment.

use posture_conformance::support::{assert_allowed_plainly, permanent};
use posture_fakes::Fault;
use posture_fakes::intune::FakeManagedDevice;
use posture_intune::{ComplianceState, IntuneProvider, ManagementAgent};
use serde_json::json;

use crate::support::{code, decide, denial, fake, lookup, provider};

const MAC: &str = "C02XL0GJJG5J";

/// Panics unless `provider` denies each serial of `denials` with `deny_code` and exactly its
/// message.
async fn assert_each_denied(
    provider: &IntuneProvider,
    deny_code: &str,
    denials: impl IntoIterator<Item = (&str, String)>,
) {
    for (serial, message) in denials {
        let decision = decide(provider, serial).await;
        assert_eq!(denial(&decision), (deny_code, message.as_str()), "{serial}");
    }
}

#[tokio::test]
async fn a_compliant_device_is_allowed_with_the_documented_enrichment() {
    let intune = fake().await;
    let device = FakeManagedDevice::new(MAC);
    intune.add_device(device.clone());
    let intune_provider = provider(&intune, |c| c);
    let decision = decide(&intune_provider, &MAC.to_ascii_lowercase()).await;
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(
        decision.enrichment().unwrap().to_value(),
        json!({
            "device": {
                "id": device.id,
                "name": "Mac C02XL0GJJG5J",
                "serial_number": MAC,
                "operating_system": "macOS",
                "os_version": "14.4.1",
                "model": "MacBookPro18,3",
                "manufacturer": "Apple",
                "ownership": "company",
                "compliance_state": "compliant",
                "management_agent": "mdm",
                "last_sync": "2024-05-01T10:00:00Z",
                "azure_ad_device_id": device.azure_ad_device_id,
            },
            "user": {
                "id": "b0a8c1d2-0000-4000-8000-00000000a11c",
                "upn": "alice@contoso.com",
                "email": "alice@contoso.com",
                "display_name": "Alice Example",
            },
        })
    );
    // The request filtered by the upper-cased serial and selected only what is used.
    let request = intune.requests_to("/managedDevices").remove(0);
    assert_eq!(
        request.query_value("$filter"),
        Some("serialNumber eq 'C02XL0GJJG5J'")
    );
    let select = request.query_value("$select").unwrap();
    assert!(select.contains("complianceState") && select.contains("azureADDeviceId"));
    assert!(!select.contains("activationLockBypassCode"));
}

#[tokio::test]
async fn an_unknown_device_is_not_found() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new(MAC));
    let intune_provider = provider(&intune, |c| c);
    let decision = decide(&intune_provider, "C02MISSING01").await;
    assert_eq!(
        denial(&decision),
        (
            "deviceNotFound",
            "no managed device with serial number C02MISSING01 in Intune"
        )
    );
}

#[tokio::test]
async fn compliance_states_outside_the_allowed_set_are_denied_naming_the_state() {
    let intune = fake().await;
    // Each device's state, and how a deny shows it.
    let states = [
        ("C02NONCOMP01", "noncompliant", "\"noncompliant\""),
        ("C02GRACE0001", "inGracePeriod", "\"inGracePeriod\""),
        ("C02UNKNOWN01", "unknown", "\"unknown\""),
        (
            "C02FUTURE001",
            "unknownFutureValue",
            "\"unknownFutureValue\"",
        ),
        ("C02EMPTY0001", "", "\"unknown\""),
    ];
    for (serial, state, _) in states {
        intune.add_device(FakeManagedDevice::new(serial).with_compliance_state(state));
    }
    let strict = provider(&intune, |c| c);
    let denials = states.map(|(serial, _, shown)| {
        let message =
            format!("{serial} has compliance state {shown} in Intune; allowed: compliant");
        (serial, message)
    });
    assert_each_denied(&strict, "notCompliant", denials).await;
    let lenient = provider(&intune, |c| {
        c.with_allowed_states([ComplianceState::Compliant, ComplianceState::InGracePeriod])
    });
    assert!(decide(&lenient, "C02GRACE0001").await.is_allowed());
    let denied = decide(&lenient, "C02NONCOMP01").await;
    assert_eq!(
        denial(&denied),
        (
            "notCompliant",
            "C02NONCOMP01 has compliance state \"noncompliant\" in Intune; allowed: compliant, \
             inGracePeriod"
        )
    );
}

#[tokio::test]
async fn the_most_recently_synced_record_decides_among_duplicates() {
    let intune = fake().await;
    // An old compliant enrolment, the current noncompliant one, and one never synced.
    intune.add_device(FakeManagedDevice::new(MAC).with_last_sync("2024-01-01T00:00:00Z"));
    intune.add_device(
        FakeManagedDevice::new(MAC)
            .with_last_sync("2024-06-01T08:00:00.1234567-07:00")
            .with_compliance_state("noncompliant"),
    );
    intune.add_device(FakeManagedDevice::new(MAC).with_last_sync("0001-01-01T00:00:00Z"));
    let intune_provider = provider(&intune, |c| c);
    let decision = decide(&intune_provider, MAC).await;
    assert_eq!(code(&decision), Some("notCompliant"), "{decision:?}");

    // Re-enrolled and compliant now: the newest record allows.
    let other = "C02REENROLL1";
    intune.add_device(
        FakeManagedDevice::new(other)
            .with_last_sync("2024-01-01T00:00:00Z")
            .with_compliance_state("noncompliant"),
    );
    let newest = FakeManagedDevice::new(other).with_last_sync("2024-06-01T00:00:00Z");
    intune.add_device(newest.clone());
    let decision = decide(&intune_provider, other).await;
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(
        decision.enrichment().unwrap().to_value()["device"]["id"],
        newest.id
    );
}

#[tokio::test]
async fn an_ignored_filter_is_never_read_as_not_found() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new("C02OTHER0001"));
    intune.add_device(FakeManagedDevice::new("C02OTHER0002"));
    intune.add_device(FakeManagedDevice::new(MAC));
    intune.set_fault(Some(Fault::IgnoreFilter));
    let intune_provider = provider(&intune, |c| {
        c.with_cache_ttl(std::time::Duration::ZERO)
            .with_negative_cache_ttl(std::time::Duration::ZERO)
    });
    // Every device comes back: ours is still found by its serial, and only ours counts.
    let decision = decide(&intune_provider, MAC).await;
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(
        decision.enrichment().unwrap().to_value()["device"]["serial_number"],
        MAC
    );
    // Devices with other serials, none with ours: an error, not a deny.
    let err = permanent(lookup(&intune_provider, "C02MISSING01").await);
    assert!(
        err.to_string().contains("ignored the serialNumber filter"),
        "{err}"
    );
    assert!(err.to_string().contains("returned 3 devices"), "{err}");
}

#[tokio::test]
async fn decisions_are_cached_and_concurrent_lookups_share_one_call() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new(MAC));
    intune.set_latency(std::time::Duration::from_millis(50));
    let intune_provider = std::sync::Arc::new(provider(&intune, |c| c));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let p = intune_provider.clone();
        tasks.spawn(async move { decide(&*p, MAC).await.is_allowed() });
    }
    while let Some(allowed) = tasks.join_next().await {
        assert!(allowed.unwrap());
    }
    assert!(decide(&*intune_provider, MAC).await.is_allowed());
    let stats = intune.stats();
    assert_eq!((stats.token_requests, stats.device_requests), (1, 1));
    let own = intune_provider.stats();
    assert_eq!(own.decisions.misses, 1);
    assert_eq!(own.graph_requests, 1);

    // A removed device stays allowed for the TTL, then is seen as gone once cleared.
    intune.remove_device(MAC);
    assert!(decide(&*intune_provider, MAC).await.is_allowed());
    intune_provider.clear_cache();
    assert_eq!(
        code(&decide(&*intune_provider, MAC).await),
        Some("deviceNotFound")
    );
}

#[tokio::test]
async fn every_page_is_read_so_the_newest_record_decides() {
    let intune = fake().await;
    // 29 old compliant records fill the first page of 25; the current, noncompliant one is
    // on the second.
    for day in 1..=29 {
        intune.add_device(
            FakeManagedDevice::new(MAC).with_last_sync(format!("2024-01-{day:02}T00:00:00Z")),
        );
    }
    intune.add_device(
        FakeManagedDevice::new(MAC)
            .with_last_sync("2024-06-01T00:00:00Z")
            .with_compliance_state("noncompliant"),
    );
    let intune_provider = provider(&intune, |c| c);
    let decision = decide(&intune_provider, MAC).await;
    assert_eq!(code(&decision), Some("notCompliant"), "{decision:?}");
    assert_eq!(intune.stats().device_requests, 2);
    let second = intune
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1.0/deviceManagement/managedDevices")
        .nth(1)
        .unwrap();
    assert_eq!(second.query_value("$skiptoken"), Some("25"));
    assert_eq!(
        second.query_value("$filter"),
        Some("serialNumber eq 'C02XL0GJJG5J'")
    );
}

#[tokio::test]
async fn more_records_than_four_pages_is_a_permanent_error() {
    let intune = fake().await;
    for _ in 0..101 {
        intune.add_device(FakeManagedDevice::new(MAC));
    }
    let intune_provider = provider(&intune, |c| c);
    let err = permanent(lookup(&intune_provider, MAC).await);
    assert_eq!(
        err.message(),
        "Intune has more than 100 managed-device records with serial number C02XL0GJJG5J; \
         the lookup stops after 4 pages, so it can't tell which one was synced last"
    );
    assert_eq!(intune.stats().device_requests, 4);
}

#[tokio::test]
async fn an_ignored_filter_with_more_pages_is_not_crawled() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new(MAC));
    for i in 0..30 {
        intune.add_device(FakeManagedDevice::new(format!("C02OTHER{i:04}")));
    }
    intune.set_fault(Some(Fault::IgnoreFilter));
    let intune_provider = provider(&intune, |c| c);
    // Ours is on the first page, but a newer record of it could be on any later one.
    let err = permanent(lookup(&intune_provider, MAC).await);
    assert_eq!(
        err.message(),
        "Microsoft Graph ignored the serialNumber filter of GET \
         /v1.0/deviceManagement/managedDevices (serial C02XL0GJJG5J): it returned 25 devices \
         and more pages, so not every record of C02XL0GJJG5J can be seen without reading the \
         whole inventory"
    );
    assert_eq!(intune.stats().device_requests, 1);
}

#[tokio::test]
async fn enrichment_can_be_turned_off() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new(MAC));
    let quiet = provider(&intune, |c| c.with_enrich(false));
    assert_allowed_plainly(&decide(&quiet, MAC).await);
}

#[tokio::test]
async fn records_no_mdm_manages_are_not_managed_whatever_their_compliance() {
    let intune = fake().await;
    let unmanaged = [
        ("C02EASONLY01", "eas", "management agent \"eas\""),
        (
            "C02CMONLY001",
            "configurationManagerClient",
            "management agent \"configurationManagerClient\"",
        ),
        ("C02UNKNOWN02", "unknown", "management agent \"unknown\""),
        ("C02LATER0001", "msSense", "management agent \"msSense\""),
        ("C02NOAGENT01", "", "no management agent"),
    ];
    for (serial, agent, _) in unmanaged {
        intune.add_device(FakeManagedDevice::new(serial).with_management_agent(agent));
    }
    let managed: Vec<(String, ManagementAgent)> = ManagementAgent::MDM_MANAGED
        .into_iter()
        .enumerate()
        .map(|(i, agent)| (format!("C02MANAGED{i:02}"), agent))
        .collect();
    for (serial, agent) in &managed {
        intune.add_device(FakeManagedDevice::new(serial).with_management_agent(agent.as_str()));
    }
    let intune_provider = provider(&intune, |c| c);
    let denials = unmanaged.map(|(serial, _, shown)| {
        let message = format!(
            "{serial} has {shown} in Intune, so it is not managed by an MDM; allowed: mdm, \
             easMdm, intuneClient, easIntuneClient, configurationManagerClientMdm, \
             configurationManagerClientMdmEas, jamf, googleCloudDevicePolicyController, \
             microsoft365ManagedMdm"
        );
        (serial, message)
    });
    assert_each_denied(&intune_provider, "notManaged", denials).await;
    for (serial, agent) in &managed {
        let decision = decide(&intune_provider, serial).await;
        assert!(decision.is_allowed(), "{agent}: {decision:?}");
    }
    // The agent is checked first: an unmanaged noncompliant record is notManaged.
    intune.add_device(
        FakeManagedDevice::new("C02EASNONC01")
            .with_management_agent("eas")
            .with_compliance_state("noncompliant"),
    );
    let decision = decide(&intune_provider, "C02EASNONC01").await;
    assert_eq!(code(&decision), Some("notManaged"));

    let strict = provider(&intune, |c| {
        c.with_allowed_management_agents([ManagementAgent::Mdm])
    });
    let decision = decide(&strict, "C02MANAGED01").await;
    assert_eq!(code(&decision), Some("notManaged"));
    assert!(
        decision.deny_message().unwrap().ends_with(
            "management agent \"easMdm\" in Intune, so it is not managed by an MDM; allowed: mdm"
        ),
        "{decision:?}"
    );
    assert!(decide(&strict, "C02MANAGED00").await.is_allowed());
}
