//! Provider errors passed on under another message: their causes stay findable and their
//! chains read `message: cause`.

use std::error::Error;

use posture_core::{ProviderError, find_cause};

/// A cause a provider attaches and later looks for.
#[derive(Debug, thiserror::Error)]
#[error("no privilege")]
struct NoPrivilege;

/// `err` and its sources, displayed, outermost first.
fn chain(err: &(dyn Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(err), |&err| err.source())
        .map(ToString::to_string)
        .collect()
}

#[test]
fn find_cause_looks_through_every_rewording() {
    let err = ProviderError::permanent("denied").with_source(NoPrivilege);
    assert!(find_cause::<NoPrivilege>(&err).is_some());
    let named = ProviderError::reworded(err, "jamf: denied");
    let renamed = ProviderError::reworded(named, "all(jamf): jamf: denied");
    assert!(find_cause::<NoPrivilege>(&renamed).is_some());
    assert!(find_cause::<std::io::Error>(&renamed).is_none());
    // The error itself is the first link of its chain.
    let itself = find_cause::<ProviderError>(&renamed).map(ProviderError::message);
    assert_eq!(itself, Some("all(jamf): jamf: denied"));
}

/// The copy's chain skips the original's message but keeps every cause below it.
#[test]
fn a_reworded_chain_reads_the_new_message_then_the_originals_causes() {
    let forbidden = ProviderError::permanent("HTTP 403").with_source(NoPrivilege);
    let original = ProviderError::transient("answered 403").with_source(forbidden);
    let named = ProviderError::reworded(original, "jamf: answered 403");
    assert_eq!(
        chain(&named),
        ["jamf: answered 403", "HTTP 403", "no privilege"]
    );
}

/// Display drops the original's message; Debug keeps the whole original, for logs.
#[test]
fn a_reworded_error_debugs_with_the_original() {
    let original = ProviderError::permanent("denied").with_source(NoPrivilege);
    let named = ProviderError::reworded(original, "jamf: denied");
    assert_eq!(
        format!("{named:?}"),
        "ProviderError { kind: Permanent, message: \"jamf: denied\", retry_after: None, \
         source: Some(SourceOf(ProviderError { kind: Permanent, message: \"denied\", \
         retry_after: None, source: Some(NoPrivilege) })) }"
    );
}
