//! What a `PolicyProvider` tells about itself besides its answers.

use std::sync::Arc;

use posture_core::{Policy, PolicyProvider};

use crate::Fixed;

/// `jamf` and `intune`, combined under `policy`.
fn jamf_and_intune(policy: Policy) -> PolicyProvider {
    PolicyProvider::new(
        policy,
        vec![Arc::new(Fixed("jamf")), Arc::new(Fixed("intune"))],
    )
    .unwrap()
}

#[test]
fn a_policy_provider_keeps_its_policy() {
    for policy in [Policy::All, Policy::Any] {
        assert_eq!(jamf_and_intune(policy).policy(), policy);
    }
}

/// Debug delegates to each provider's own Debug, which is where providers redact their
/// secrets; it adds only the policy.
#[test]
fn a_policy_provider_debugs_as_its_policy_and_providers() {
    assert_eq!(
        format!("{:?}", jamf_and_intune(Policy::Any)),
        r#"PolicyProvider { policy: Any, providers: [Fixed("jamf"), Fixed("intune")] }"#
    );
}
