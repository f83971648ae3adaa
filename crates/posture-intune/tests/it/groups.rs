//! The optional Entra ID group, checked through the device object.

use posture_conformance::support::{assert_denied, permanent, transient};
use posture_fakes::Fault;
use posture_fakes::intune::{FakeIntune, FakeManagedDevice};
use posture_intune::{IntuneConfig, IntuneProvider};

use crate::support::{code, decide, fake, lookup, provider};

const GROUP: &str = "c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01";
const OTHER_GROUP: &str = "d0d0d0d0-7f3e-4a55-9c1e-2f0f3a1d9e02";

#[tokio::test]
async fn members_are_allowed_and_everyone_else_is_not_compliant() {
    let intune = fake().await;
    intune
        .add_device(FakeManagedDevice::new("C02MEMBER001").with_entra_groups([OTHER_GROUP, GROUP]));
    intune.add_device(FakeManagedDevice::new("C02OUTSIDE01").with_entra_groups([OTHER_GROUP]));
    intune.add_device(FakeManagedDevice::new("C02NOENTRA01").with_azure_ad_device_id(""));
    intune.add_device(
        FakeManagedDevice::new("C02ZEROID001")
            .with_azure_ad_device_id("00000000-0000-0000-0000-000000000000"),
    );
    let intune_provider = provider(&intune, |c| {
        c.with_group_id(&GROUP.to_ascii_uppercase()).unwrap()
    });

    assert!(decide(&intune_provider, "C02MEMBER001").await.is_allowed());
    let checks = intune.requests_to("/checkMemberGroups");
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].body, format!("{{\"groupIds\":[\"{GROUP}\"]}}"));

    for (serial, why) in [
        ("C02OUTSIDE01", "checkMemberGroups did not list it"),
        ("C02NOENTRA01", "not registered in Entra ID"),
        ("C02ZEROID001", "not registered in Entra ID"),
    ] {
        let decision = decide(&intune_provider, serial).await;
        assert_eq!(code(&decision), Some("notCompliant"), "{serial}");
        let message = decision.deny_message().unwrap();
        assert!(
            message.starts_with(&format!(
                "{serial} is not a member of Entra ID group {GROUP}"
            )),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
    }
    // Unregistered devices cost no Entra call.
    assert_eq!(intune.stats().entra_requests, 2);
}

#[tokio::test]
async fn the_compliance_state_is_checked_before_the_group() {
    let intune = fake().await;
    intune.add_device(
        FakeManagedDevice::new("C02NONCOMP01")
            .with_compliance_state("noncompliant")
            .with_entra_groups([GROUP]),
    );
    let intune_provider = provider(&intune, |c| c.with_group_id(GROUP).unwrap());
    let decision = decide(&intune_provider, "C02NONCOMP01").await;
    assert_denied(&decision, "notCompliant", "compliance state");
    assert_eq!(intune.stats().member_checks, 0);
}

#[tokio::test]
async fn entra_object_ids_are_cached() {
    let (intune, intune_provider) = one_member_uncached(|c| c).await;
    for _ in 0..3 {
        assert!(decide(&intune_provider, "C02MEMBER001").await.is_allowed());
    }
    let stats = intune.stats();
    assert_eq!(
        (
            stats.device_requests,
            stats.entra_requests,
            stats.member_checks
        ),
        (3, 1, 3)
    );
}

#[tokio::test]
async fn a_missing_directory_permission_names_it_and_directory_outages_are_transient() {
    let (intune, intune_provider) =
        one_member_uncached(|c| c.with_negative_cache_ttl(std::time::Duration::ZERO)).await;
    intune.set_directory_fault(Some(Fault::Status(403)));
    let err = permanent(lookup(&intune_provider, "C02MEMBER001").await);
    assert!(
        err.to_string()
            .contains("grant the app registration the Device.Read.All application permission"),
        "{err}"
    );

    intune.set_directory_fault(Some(Fault::TooManyRequests {
        retry_after_secs: 1,
    }));
    let err = transient(lookup(&intune_provider, "C02MEMBER001").await);
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(1)));

    // Once the directory has recovered and its Retry-After has passed, answers come back.
    intune.set_directory_fault(None);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(decide(&intune_provider, "C02MEMBER001").await.is_allowed());

    // With the device object cached, checkMemberGroups alone is refused: it needs the same
    // Device.Read.All, not GroupMember.Read.All.
    intune.set_directory_fault(Some(Fault::Status(403)));
    let err = lookup(&intune_provider, "C02MEMBER001").await.unwrap_err();
    let last = intune.requests().pop().unwrap();
    assert!(last.path.ends_with("/checkMemberGroups"), "{last:?}");
    assert!(
        err.to_string().ends_with(
            "grant the app registration the Device.Read.All application permission (with admin consent)"
        ),
        "{err}"
    );
    assert!(err.to_string().contains("checkMemberGroups"), "{err}");
}

/// A fake whose one device, C02MEMBER001, is a member of [`GROUP`], and a provider checking
/// the group that caches no decision, tuned further by `tune`.
async fn one_member_uncached(
    tune: impl FnOnce(IntuneConfig) -> IntuneConfig,
) -> (FakeIntune, IntuneProvider) {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new("C02MEMBER001").with_entra_groups([GROUP]));
    let intune_provider = provider(&intune, |c| {
        tune(
            c.with_group_id(GROUP)
                .unwrap()
                .with_cache_ttl(std::time::Duration::ZERO),
        )
    });
    (intune, intune_provider)
}
