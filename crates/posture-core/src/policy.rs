use std::fmt;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::{
    Decision, DenyCode, DynPostureProvider, Enrichment, LookupRequest, PostureProvider,
    ProviderError,
};

posture_settings::spelled_enum! {
    /// How a [`PolicyProvider`] combines the answers of its providers: `all` or `any`, in
    /// any case.
    ///
    /// ```
    /// use posture_core::Policy;
    /// assert_eq!("ANY".parse(), Ok(Policy::Any));
    /// assert!("both".parse::<Policy>().is_err());
    /// ```
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
    #[non_exhaustive]
    pub enum Policy {
        /// Every provider must allow. They are asked in order; the first deny is the answer,
        /// and the first error is the error (so a transient error stays transient). Example:
        /// an explicit allowlist file *and* Jamf compliance.
        #[default]
        All = "all",
        /// The first provider that allows is the answer. They are asked in order until one
        /// allows. Example: Jamf *or* Intune during a migration.
        Any = "any",
    }
    /// The policy was neither `all` nor `any`.
    pub struct UnknownPolicy("policy");
    parse: any_case
}

/// A [`PolicyProvider`] could not be built.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No provider was given.
    #[error("a policy needs at least one provider")]
    Empty,
    /// Two providers have the same name, so their enrichment data would collide.
    #[error("provider {0:?} is named twice: each provider may appear once")]
    Duplicate(String),
}

/// A provider that asks several others and combines their answers under a [`Policy`].
///
/// # Answers
///
/// - **`all`**: the providers are asked in order. The first deny is the answer, its message
///   prefixed with the provider's name (`jamf: C02… is not a member of …`); its code is
///   kept. The first error is the error, prefixed likewise, of the same kind (a transient
///   error stays transient, so the server answers 503 and step-ca retries). Later providers
///   are not asked. When all allow, the answer is an allow.
/// - **`any`**: the providers are asked in order until one allows; that allow is the answer,
///   even when an earlier provider failed (its answer could only have been another allow
///   or a deny, and one allow is enough). When none allows: if any provider failed, the answer is an error — transient if any
///   failure was transient (a retry might reach the provider that would allow), permanent
///   otherwise. If all denied, the answer is a deny whose message lists every provider's
///   reason (`jamf: …; intune: …`) and whose code is the first that is neither
///   `deviceNotFound` nor `invalidIdentifier` (the provider that knows the device says more),
///   or else the first provider's.
///
/// # Enrichment
///
/// The data of each provider that allowed with data is placed under the provider's name:
/// `{"file":{…},"jamf":{…}}`. With `all` that is every provider that had data; with `any`,
/// the one that allowed. An allow without any data has none. (A single provider, not wrapped
/// in a policy, keeps its data at the top level.)
///
/// ```
/// use std::sync::Arc;
/// use posture_core::{Decision, DenyCode, Enrichment, LookupRequest, Policy, PolicyProvider,
///     PostureProvider, ProviderError};
///
/// #[derive(Debug)]
/// struct Fixed(&'static str, bool);
/// impl PostureProvider for Fixed {
///     fn name(&self) -> &str { self.0 }
///     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
///         Ok(if self.1 {
///             Decision::allow_with(Enrichment::from_json(r#"{"ok":true}"#)?)
///         } else {
///             Decision::deny(DenyCode::DEVICE_NOT_FOUND, "unknown device")
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let request = LookupRequest::new("C02XL0GJJG5J");
/// let both = PolicyProvider::new(Policy::All, vec![Arc::new(Fixed("file", true)), Arc::new(Fixed("jamf", true))])?;
/// let data = both.lookup(&request).await?.enrichment().unwrap().to_value();
/// assert_eq!(data, serde_json::json!({"file": {"ok": true}, "jamf": {"ok": true}}));
///
/// let strict = PolicyProvider::new(Policy::All, vec![Arc::new(Fixed("file", true)), Arc::new(Fixed("jamf", false))])?;
/// assert_eq!(strict.lookup(&request).await?.deny_message(), Some("jamf: unknown device"));
///
/// let either = PolicyProvider::new(Policy::Any, vec![Arc::new(Fixed("jamf", false)), Arc::new(Fixed("intune", true))])?;
/// let data = either.lookup(&request).await?.enrichment().unwrap().to_value();
/// assert_eq!(data, serde_json::json!({"intune": {"ok": true}}));
/// assert_eq!(either.name(), "any(jamf,intune)");
/// # Ok(())
/// # }
/// ```
pub struct PolicyProvider {
    policy: Policy,
    providers: Vec<Arc<dyn DynPostureProvider>>,
    name: String,
}

impl PolicyProvider {
    /// Combines `providers`, asked in the order given. Fails when there are none, or when
    /// two share a name.
    pub fn new(
        policy: Policy,
        providers: Vec<Arc<dyn DynPostureProvider>>,
    ) -> Result<Self, PolicyError> {
        if providers.is_empty() {
            return Err(PolicyError::Empty);
        }
        for (i, provider) in providers.iter().enumerate() {
            if providers[..i].iter().any(|p| p.name() == provider.name()) {
                return Err(PolicyError::Duplicate(provider.name().to_owned()));
            }
        }
        let names: Vec<&str> = providers.iter().map(|p| p.name()).collect();
        let name = format!("{policy}({})", names.join(","));
        Ok(Self {
            policy,
            providers,
            name,
        })
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The providers, in the order they are asked.
    pub fn providers(&self) -> &[Arc<dyn DynPostureProvider>] {
        &self.providers
    }

    async fn all(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        let mut data = Vec::new();
        for provider in &self.providers {
            match provider.lookup_boxed(request).await {
                Ok(Decision::Allow { enrichment }) => {
                    if let Some(enrichment) = enrichment {
                        data.push((provider.name(), enrichment));
                    }
                }
                Ok(Decision::Deny { code, message }) => {
                    return Ok(Decision::deny(
                        code,
                        format!("{}: {message}", provider.name()),
                    ));
                }
                Err(err) => return Err(named(provider.name(), err, "")),
            }
        }
        Ok(allow(&data))
    }

    async fn any(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        let mut denies: Vec<(&str, DenyCode, String)> = Vec::new();
        let mut errors: Vec<(&str, ProviderError)> = Vec::new();
        for provider in &self.providers {
            match provider.lookup_boxed(request).await {
                Ok(Decision::Allow { enrichment }) => {
                    let data: Vec<(&str, Enrichment)> = enrichment
                        .map(|e| (provider.name(), e))
                        .into_iter()
                        .collect();
                    return Ok(allow(&data));
                }
                Ok(Decision::Deny { code, message }) => {
                    denies.push((provider.name(), code, message));
                }
                Err(err) => errors.push((provider.name(), err)),
            }
        }
        let first_transient = errors.iter().position(|(_, err)| err.is_transient());
        if let Some(index) = first_transient.or((!errors.is_empty()).then_some(0)) {
            let (name, err) = errors.swap_remove(index);
            return Err(named(name, err, "; no other provider allowed the device"));
        }
        let code = denies
            .iter()
            .map(|(_, code, _)| code)
            .find(|code| {
                **code != DenyCode::DEVICE_NOT_FOUND && **code != DenyCode::INVALID_IDENTIFIER
            })
            .or_else(|| denies.first().map(|(_, code, _)| code))
            .cloned()
            .unwrap_or(DenyCode::DEVICE_NOT_FOUND);
        let message = denies
            .iter()
            .map(|(name, _, message)| format!("{name}: {message}"))
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Decision::deny(code, message))
    }
}

impl PostureProvider for PolicyProvider {
    /// `all(file,jamf)` or `any(jamf,intune)`.
    fn name(&self) -> &str {
        &self.name
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        match self.policy {
            Policy::All => self.all(request).await,
            Policy::Any => self.any(request).await,
        }
    }

    /// Ready when every provider is ready, whatever the policy: a misconfigured provider
    /// should stop the server at start-up, not hide behind the others. The first failure is
    /// returned, prefixed with the provider's name.
    async fn check_ready(&self) -> Result<(), ProviderError> {
        for provider in &self.providers {
            provider
                .check_ready_boxed()
                .await
                .map_err(|err| named(provider.name(), err, ""))?;
        }
        Ok(())
    }

    /// Every provider's lines, each prefixed with the provider's name.
    fn report(&self) -> Vec<String> {
        self.providers
            .iter()
            .flat_map(|provider| {
                let name = provider.name().to_owned();
                provider
                    .report()
                    .into_iter()
                    .map(move |line| format!("{name}: {line}"))
            })
            .collect()
    }
}

impl fmt::Debug for PolicyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyProvider")
            .field("policy", &self.policy)
            .field("providers", &self.providers)
            .finish()
    }
}

/// An allow whose data is each provider's data under its name; no data when none had any.
fn allow(data: &[(&str, Enrichment)]) -> Decision {
    if data.is_empty() {
        return Decision::allow();
    }
    let mut bytes = BytesMut::new();
    bytes.put_u8(b'{');
    for (i, (name, enrichment)) in data.iter().enumerate() {
        if i > 0 {
            bytes.put_u8(b',');
        }
        // A string always serialises.
        let key = serde_json::to_string(name).unwrap_or_else(|_| "\"provider\"".to_owned());
        bytes.put_slice(key.as_bytes());
        bytes.put_u8(b':');
        bytes.put_slice(enrichment.as_bytes());
    }
    bytes.put_u8(b'}');
    // Each part is one JSON object (the providers' contract), so the whole is one too.
    Decision::allow_with(Enrichment::from_checked_json(Bytes::from(bytes)))
}

/// The error, its message prefixed with the provider's name, of the same kind and with the
/// same `Retry-After`.
fn named(name: &str, err: ProviderError, suffix: &str) -> ProviderError {
    let message = format!("{name}: {}{suffix}", err.message());
    ProviderError::reworded(err, message)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A provider with a scripted answer that counts its calls.
    #[derive(Debug)]
    struct Scripted {
        name: &'static str,
        answer: fn() -> Result<Decision, ProviderError>,
        calls: AtomicUsize,
        ready: bool,
    }

    impl PostureProvider for Scripted {
        fn name(&self) -> &str {
            self.name
        }

        async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            (self.answer)()
        }

        fn report(&self) -> Vec<String> {
            vec![format!("scripted {}", self.name)]
        }

        async fn check_ready(&self) -> Result<(), ProviderError> {
            if self.ready {
                Ok(())
            } else {
                Err(ProviderError::transient("token endpoint down"))
            }
        }
    }

    fn scripted(
        name: &'static str,
        answer: fn() -> Result<Decision, ProviderError>,
    ) -> Arc<Scripted> {
        Arc::new(Scripted {
            name,
            answer,
            calls: AtomicUsize::new(0),
            ready: true,
        })
    }

    fn allow_a() -> Result<Decision, ProviderError> {
        Ok(Decision::allow_with(Enrichment::from_json(r#"{"a":1}"#)?))
    }
    fn allow_b() -> Result<Decision, ProviderError> {
        Ok(Decision::allow_with(Enrichment::from_json(r#"{"b":[2]}"#)?))
    }
    fn allow_bare() -> Result<Decision, ProviderError> {
        Ok(Decision::allow())
    }
    fn not_found() -> Result<Decision, ProviderError> {
        Ok(Decision::deny(DenyCode::DEVICE_NOT_FOUND, "no such device"))
    }
    fn not_compliant() -> Result<Decision, ProviderError> {
        Ok(Decision::deny(DenyCode::NOT_COMPLIANT, "not in the group"))
    }
    fn transient() -> Result<Decision, ProviderError> {
        Err(ProviderError::transient("answered 503")
            .with_retry_after(Duration::from_secs(4))
            .with_source(std::io::Error::other("connection reset")))
    }
    fn permanent() -> Result<Decision, ProviderError> {
        Err(ProviderError::permanent("refused the credentials"))
    }

    fn policy(policy: Policy, providers: &[&Arc<Scripted>]) -> PolicyProvider {
        let providers: Vec<Arc<dyn DynPostureProvider>> = providers
            .iter()
            .map(|p| (*p).clone() as Arc<dyn DynPostureProvider>)
            .collect();
        PolicyProvider::new(policy, providers).unwrap()
    }

    /// A scripted provider: its name and its answer.
    type Step = (&'static str, fn() -> Result<Decision, ProviderError>);

    /// Asks `policy` over providers scripted as `script` (name and answer, in order).
    /// Returns the answer and how often each provider was asked.
    async fn run(policy: Policy, script: &[Step]) -> (Result<Decision, ProviderError>, Vec<usize>) {
        let providers: Vec<_> = script
            .iter()
            .map(|&(name, answer)| scripted(name, answer))
            .collect();
        let combined = self::policy(policy, &providers.iter().collect::<Vec<_>>());
        let result = combined.lookup(&LookupRequest::new("C02XL0GJJG5J")).await;
        let calls = providers
            .iter()
            .map(|p| p.calls.load(Ordering::SeqCst))
            .collect();
        (result, calls)
    }

    #[tokio::test]
    async fn all_merges_enrichment_under_each_name() {
        let script: &[Step] = &[("file", allow_a), ("bare", allow_bare), ("jamf", allow_b)];
        let decision = run(Policy::All, script).await.0.unwrap();
        let data = decision.enrichment().unwrap();
        assert_eq!(data.as_bytes(), br#"{"file":{"a":1},"jamf":{"b":[2]}}"#);
        let none = run(Policy::All, &[("bare", allow_bare)]).await.0.unwrap();
        assert_eq!(none, Decision::allow());
    }

    #[tokio::test]
    async fn all_keeps_an_error_transient_and_its_retry_after() {
        let script: &[Step] = &[
            ("file", allow_a),
            ("jamf", transient),
            ("intune", not_found),
        ];
        let (err, calls) = run(Policy::All, script).await;
        let err = err.unwrap_err();
        assert!(err.is_transient());
        assert_eq!(err.message(), "jamf: answered 503");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(4)));
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("connection reset")
        );
        assert_eq!(calls[2], 0, "an error ends the evaluation");
        let err = run(Policy::All, &[("kandji", permanent)])
            .await
            .0
            .unwrap_err();
        assert!(!err.is_transient());
        assert_eq!(err.to_string(), "kandji: refused the credentials");
        assert!(err.source().is_none());
    }

    /// `all` ends at the first deny, named after its provider, and `any` at the first
    /// allow, its data under the provider's name; the providers after it are not asked.
    #[tokio::test]
    async fn the_deciding_answer_ends_the_evaluation() {
        let cases: [(Policy, &[Step], Decision); 2] = [
            (
                Policy::All,
                &[
                    ("file", allow_a),
                    ("jamf", not_compliant),
                    ("intune", allow_b),
                ],
                Decision::deny(DenyCode::NOT_COMPLIANT, "jamf: not in the group"),
            ),
            (
                Policy::Any,
                &[
                    ("jamf", not_found),
                    ("intune", allow_b),
                    ("kandji", allow_a),
                ],
                Decision::allow_with(Enrichment::from_json(r#"{"intune":{"b":[2]}}"#).unwrap()),
            ),
        ];
        for (policy, script, expected) in cases {
            let (decision, calls) = run(policy, script).await;
            assert_eq!(decision.unwrap(), expected, "{policy}");
            assert_eq!(calls, [1, 1, 0], "{policy}");
        }
    }

    #[tokio::test]
    async fn any_allows_after_an_earlier_error() {
        let script: &[Step] = &[("jamf", transient), ("file", allow_bare)];
        assert_eq!(run(Policy::Any, script).await.0.unwrap(), Decision::allow());
    }

    #[tokio::test]
    async fn any_denies_with_every_reason_and_the_most_specific_code() {
        let script: &[Step] = &[("jamf", not_found), ("intune", not_compliant)];
        let decision = run(Policy::Any, script).await.0.unwrap();
        assert_eq!(decision.deny_code(), Some(&DenyCode::NOT_COMPLIANT));
        assert_eq!(
            decision.deny_message(),
            Some("jamf: no such device; intune: not in the group")
        );
        let script: &[Step] = &[("jamf", not_found), ("file", not_found)];
        let both_missing = run(Policy::Any, script).await.0.unwrap();
        assert_eq!(both_missing.deny_code(), Some(&DenyCode::DEVICE_NOT_FOUND));
    }

    #[tokio::test]
    async fn any_fails_transiently_when_a_failed_provider_might_have_allowed() {
        let script: &[Step] = &[
            ("jamf", not_found),
            ("kandji", permanent),
            ("intune", transient),
        ];
        let err = run(Policy::Any, script).await.0.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(
            err.message(),
            "intune: answered 503; no other provider allowed the device"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(4)));
        let err = run(Policy::Any, &script[..2]).await.0.unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert!(err.message().starts_with("kandji: refused the credentials"));
    }

    #[tokio::test]
    async fn readiness_needs_every_provider() {
        let down = Arc::new(Scripted {
            name: "intune",
            answer: allow_a,
            calls: AtomicUsize::new(0),
            ready: false,
        });
        for p in [Policy::All, Policy::Any] {
            let combined = policy(p, &[&scripted("jamf", allow_a), &down]);
            let err = combined.check_ready().await.unwrap_err();
            assert_eq!(err.to_string(), "intune: token endpoint down");
            assert!(err.is_transient());
        }
        assert!(
            policy(Policy::Any, &[&scripted("jamf", allow_a)])
                .check_ready()
                .await
                .is_ok()
        );
    }

    #[test]
    fn report_names_each_provider() {
        let combined = policy(
            Policy::All,
            &[&scripted("jamf", allow_a), &scripted("kandji", allow_b)],
        );
        assert_eq!(
            PostureProvider::report(&combined),
            ["jamf: scripted jamf", "kandji: scripted kandji"]
        );
    }

    #[test]
    fn names_must_be_unique_and_present() {
        let a: Arc<dyn DynPostureProvider> = scripted("jamf", allow_a);
        let b: Arc<dyn DynPostureProvider> = scripted("jamf", allow_b);
        assert_eq!(
            PolicyProvider::new(Policy::All, vec![a.clone(), b]).unwrap_err(),
            PolicyError::Duplicate("jamf".to_owned())
        );
        assert_eq!(
            PolicyProvider::new(Policy::Any, Vec::new()).unwrap_err(),
            PolicyError::Empty
        );
        let one = PolicyProvider::new(Policy::All, vec![a]).unwrap();
        assert_eq!(PostureProvider::name(&one), "all(jamf)");
        assert_eq!(one.policy(), Policy::All);
        assert_eq!(one.providers().len(), 1);
    }
}
