//! Decisions, deny codes and enrichment data: what a provider answers.

use posture_core::{Decision, DenyCode, Enrichment};

#[test]
fn only_an_allow_is_allowed() {
    let data = Enrichment::from_json(r#"{"user":"alice"}"#).unwrap();
    let cases = [
        (Decision::allow(), true),
        (Decision::allow_with(data), true),
        (Decision::deny(DenyCode::NOT_MANAGED, "not managed"), false),
    ];
    for (decision, allowed) in cases {
        assert_eq!(decision.is_allowed(), allowed, "{decision:?}");
    }
}

/// Display is the bare code step-ca pastes into its URN; Debug quotes it, like a string.
#[test]
fn a_deny_code_displays_bare_and_debugs_quoted() {
    let custom = DenyCode::new("deviceLost").unwrap();
    for (code, text) in [
        (DenyCode::NOT_COMPLIANT, "notCompliant"),
        (custom, "deviceLost"),
    ] {
        assert_eq!(code.to_string(), text);
        assert_eq!(format!("{code:?}"), format!("\"{text}\""));
    }
}

#[test]
fn enrichment_bytes_are_the_json_as_given() {
    let text = r#"{ "user": "alice" }"#;
    let data = Enrichment::from_json(text).unwrap();
    assert_eq!(data.to_bytes(), text.as_bytes());
}

/// Debug shows the JSON text, so a logged decision reads as the data step-ca receives.
#[test]
fn enrichment_debugs_as_its_json_text() {
    let data = Enrichment::from_json(r#"{"user":"alice"}"#).unwrap();
    assert_eq!(format!("{data:?}"), r#"Enrichment("{\"user\":\"alice\"}")"#);
    assert_eq!(
        format!("{:?}", Decision::allow_with(data)),
        r#"Allow { enrichment: Some(Enrichment("{\"user\":\"alice\"}")) }"#
    );
}
