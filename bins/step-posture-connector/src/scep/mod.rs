//! The SCEP gate: step-ca's SCEPCHALLENGE and NOTIFYING webhooks.
//!
//! A SCEP client's challenge password must pass one of the configured methods
//! (`SCEP_CHALLENGE`): a static password, a challenge this server signed (optionally bound
//! to one device), or one Microsoft Intune validates (`validateRequest`). Then, with
//! `SCEP_POSTURE=1`, the device the CSR names must be allowed by the configured provider,
//! exactly as a device-attest request would be. Notifications are written to the audit log
//! once each, however often step-ca delivers them; those of transactions Intune validated are
//! also forwarded to Intune, once.

pub(crate) mod challenge;
pub(crate) mod issuer;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use posture_core::ProviderError;
use posture_intune::scep::{
    HRESULT_DENIED, HRESULT_FAILED, IntuneScepClient, IssuedCertificate, ScepVerdict,
};
use ring::digest;
use smallstep_webhook::{CsrIdentity, RequestBody};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::{ChallengeMethod, IdentifierSource, ScepSettings};
pub(crate) use challenge::{SignedChallenges, StaticChallenge};

/// How long a delivered notification is remembered, so step-ca's retry of it is recognised.
const NOTIFICATION_MEMORY: Duration = Duration::from_secs(600);
/// The most notifications remembered at once.
const MAX_NOTIFICATIONS: usize = 10_000;
/// How long a transaction Intune validated is remembered, waiting for its NOTIFYING.
const INTUNE_MEMORY: Duration = Duration::from_secs(3600);
/// The most Intune-validated transactions remembered at once.
const MAX_INTUNE_TRANSACTIONS: usize = 10_000;

/// One call to Intune's SCEP validation service and how it ended, for the audit line and
/// the metrics.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) struct IntuneCall {
    /// `validateRequest`, `successNotification` or `failureNotification`.
    pub(crate) action: &'static str,
    /// `success`, `rejected`, `transient` or `error`: the metrics label.
    pub(crate) result: &'static str,
    /// For the audit line: never the CSR or the challenge, which Intune's answers don't
    /// carry either.
    pub(crate) description: String,
    /// How long the call took, token and discovery included.
    pub(crate) elapsed: Duration,
}

impl IntuneCall {
    /// Runs `call` and reads its outcome, timing it.
    async fn timed(
        action: &'static str,
        call: impl std::future::Future<Output = Result<ScepVerdict, ProviderError>>,
    ) -> Self {
        let started = Instant::now();
        let outcome = call.await;
        let mut call = Self::new(action, outcome);
        call.elapsed = started.elapsed();
        call
    }

    fn new(action: &'static str, outcome: Result<ScepVerdict, ProviderError>) -> Self {
        let (result, description) = match outcome {
            Ok(ScepVerdict::Success) => ("success", format!("Intune {action}: Success")),
            Ok(ScepVerdict::Rejected { code, description }) => {
                let description: String = description.chars().take(200).collect();
                (
                    "rejected",
                    format!("Intune {action}: {code} {description:?}"),
                )
            }
            Ok(other) => ("error", format!("Intune {action}: {other:?}")),
            Err(err) if err.is_transient() => {
                ("transient", format!("Intune {action} failed: {err}"))
            }
            Err(err) => ("error", format!("Intune {action} failed: {err}")),
        };
        Self {
            action,
            result,
            description,
            elapsed: Duration::ZERO,
        }
    }

    /// Whether Intune said `Success`.
    pub(crate) fn succeeded(&self) -> bool {
        self.result == "success"
    }
}

/// A challenge that passed, and the device the CSR names.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) struct Admitted {
    /// The device identifier read from the CSR.
    pub(crate) identifier: String,
    /// Which method the challenge passed.
    pub(crate) method: ChallengeMethod,
    /// The `validateRequest` call, when Intune was asked.
    pub(crate) intune: Option<IntuneCall>,
}

/// Why a SCEPCHALLENGE request is refused, for the audit log (step-ca shows SCEP clients no
/// reason).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) struct Refusal {
    /// What went wrong; never the challenge itself.
    pub(crate) reason: String,
    /// The device the CSR names, when it could be read.
    pub(crate) identifier: Option<String>,
    /// The `validateRequest` call, when Intune was asked.
    pub(crate) intune: Option<IntuneCall>,
}

impl Refusal {
    fn new(reason: impl Into<String>, identifier: Option<&str>) -> Self {
        Self {
            reason: reason.into(),
            identifier: identifier.map(str::to_owned),
            intune: None,
        }
    }

    /// Whether no method passed only because Intune could not answer now (429, 5xx, a
    /// timeout): worth a retry, so the webhook answers 503.
    pub(crate) fn is_transient(&self) -> bool {
        self.intune
            .as_ref()
            .is_some_and(|call| call.result == "transient")
    }
}

/// Keys remembered for `ttl` each, at most `max` at once, so that memory stays bounded
/// whatever the clients send.
#[derive(Debug)]
struct Memory<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    max: usize,
    ttl: Duration,
}

impl<V> Memory<V> {
    fn new(max: usize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max,
            ttl,
        }
    }

    /// The entries as of `now`, locked; when the memory is full, expired entries are
    /// dropped first.
    fn pruned(&self, now: Instant) -> Pruned<'_, V> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.max {
            entries.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
        }
        Pruned {
            entries,
            memory: self,
            now,
        }
    }
}

/// A [`Memory`]'s entries, locked, as of `now`.
struct Pruned<'a, V> {
    entries: std::sync::MutexGuard<'a, HashMap<String, (V, Instant)>>,
    memory: &'a Memory<V>,
    now: Instant,
}

impl<V> Pruned<'_, V> {
    fn fresh(&self, at: Instant) -> bool {
        self.now.duration_since(at) < self.memory.ttl
    }

    /// Whether `key` was remembered less than the memory's `ttl` ago.
    fn is_fresh(&self, key: &str) -> bool {
        self.entries.get(key).is_some_and(|(_, at)| self.fresh(*at))
    }

    /// Remembers `value` under `key`, unless the memory is full.
    fn insert_if_room(&mut self, key: &str, value: V) {
        if self.entries.len() < self.memory.max {
            self.entries.insert(key.to_owned(), (value, self.now));
        }
    }

    /// Forgets `key`, returning its value if it was still fresh.
    fn take_fresh(&mut self, key: &str) -> Option<V> {
        match self.entries.remove(key) {
            Some((value, at)) if self.fresh(at) => Some(value),
            _ => None,
        }
    }
}

/// The SCEP gate's state: the challenge methods and what it remembers.
#[derive(Debug)]
pub(crate) struct ScepGate {
    methods: Vec<ChallengeMethod>,
    identifiers: Vec<IdentifierSource>,
    posture: bool,
    static_challenge: Option<StaticChallenge>,
    signed: Option<SignedChallenges>,
    /// `user:password` of `SCEP_ISSUER_BASIC_AUTH`, ready for constant-time comparison.
    issuer: Option<StaticChallenge>,
    notifications: Memory<()>,
    intune: Option<IntuneScepClient>,
    /// Transactions Intune validated → (the base64 CSR, when), for their notifications.
    intune_transactions: Memory<String>,
}

impl ScepGate {
    /// The gate `settings` describe. Fails only when the Intune client cannot be built.
    pub(crate) fn new(settings: &ScepSettings) -> Result<Self, posture_intune::IntuneError> {
        let keys: Vec<&[u8]> = settings.challenge_keys.iter().map(|k| k.expose()).collect();
        let intune = settings
            .intune
            .as_deref()
            .map(IntuneScepClient::new)
            .transpose()?;
        Ok(Self {
            methods: settings.methods.clone(),
            identifiers: settings.identifiers.clone(),
            posture: settings.posture,
            static_challenge: settings
                .static_challenge
                .as_ref()
                .map(|c| StaticChallenge::new(c.expose())),
            signed: (!keys.is_empty())
                .then(|| SignedChallenges::new(&keys, settings.challenge_ttl)),
            issuer: settings.issuer_credentials.as_ref().map(|credentials| {
                let mut expected = credentials.username.as_bytes().to_vec();
                expected.push(b':');
                expected.extend_from_slice(credentials.password.expose());
                StaticChallenge::new(&expected)
            }),
            notifications: Memory::new(MAX_NOTIFICATIONS, NOTIFICATION_MEMORY),
            intune,
            intune_transactions: Memory::new(MAX_INTUNE_TRANSACTIONS, INTUNE_MEMORY),
        })
    }

    /// Whether an admitted device must also pass the provider (`SCEP_POSTURE`).
    pub(crate) fn posture(&self) -> bool {
        self.posture
    }

    /// The signed-challenge issuer, when `signed` is a method.
    pub(crate) fn signed(&self) -> Option<&SignedChallenges> {
        self.signed.as_ref()
    }

    /// Whether the issuing routes are served (`SCEP_ISSUER_BASIC_AUTH` is set) and, if so,
    /// whether `presented` (decoded Basic credentials, `user:password`) are theirs, compared
    /// in constant time. `None` when the routes are not served.
    pub(crate) fn issuer_accepts(&self, presented: Option<&[u8]>) -> Option<bool> {
        let expected = self.issuer.as_ref()?;
        Some(presented.is_some_and(|p| expected.matches_bytes(p)))
    }

    /// The device a verified SCEPCHALLENGE body's CSR names, by `SCEP_IDENTIFIER`.
    pub(crate) fn identifier(&self, csr: &CsrIdentity) -> Option<String> {
        self.identifiers.iter().find_map(|source| match source {
            IdentifierSource::SerialNumber => csr.serial_number.clone(),
            IdentifierSource::CommonName => csr.common_name.clone(),
            IdentifierSource::Uri => csr.uris.first().cloned(),
        })
    }

    /// Checks a verified SCEPCHALLENGE body: the CSR (read from its DER) must name a device,
    /// and the challenge must pass one of the methods, in the order configured.
    pub(crate) async fn check(&self, body: &RequestBody) -> Result<Admitted, Refusal> {
        let challenge = body
            .scep_challenge
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Refusal::new("the request has no scepChallenge", None))?;
        let csr = body.csr_identity().map_err(|err| {
            Refusal::new(
                format!("the certificate request cannot be read: {err}"),
                None,
            )
        })?;
        let identifier = self.identifier(&csr).ok_or_else(|| {
            Refusal::new(
                format!(
                    "the certificate request names no device in {} (SCEP_IDENTIFIER)",
                    self.identifiers
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            )
        })?;
        let mut reasons = Vec::new();
        let mut intune_call = None;
        for method in &self.methods {
            match method {
                ChallengeMethod::Static => match &self.static_challenge {
                    Some(expected) if expected.matches(challenge) => {
                        return Ok(Admitted {
                            identifier,
                            method: ChallengeMethod::Static,
                            intune: None,
                        });
                    }
                    _ => reasons.push("static: does not match".to_owned()),
                },
                ChallengeMethod::Signed => match &self.signed {
                    Some(signed) => match signed.verify(challenge, &identifier, &csr.public_key) {
                        Ok(_) => {
                            return Ok(Admitted {
                                identifier,
                                method: ChallengeMethod::Signed,
                                intune: None,
                            });
                        }
                        Err(err) => reasons.push(format!("signed: {err}")),
                    },
                    None => reasons.push("signed: no key".to_owned()),
                },
                ChallengeMethod::Intune => {
                    let (Some(client), Some(transaction), Some(der)) = (
                        &self.intune,
                        body.scep_transaction_id
                            .as_deref()
                            .filter(|t| !t.is_empty()),
                        body.csr_der(),
                    ) else {
                        reasons.push("intune: no client, scepTransactionID or CSR".to_owned());
                        continue;
                    };
                    // Intune reads the challenge from the CSR's challengePassword itself.
                    let csr = STANDARD.encode(der);
                    let call = IntuneCall::timed(
                        "validateRequest",
                        client.validate_request(transaction, &csr),
                    )
                    .await;
                    if call.succeeded() {
                        self.remember_intune(transaction, csr);
                        return Ok(Admitted {
                            identifier,
                            method: ChallengeMethod::Intune,
                            intune: Some(call),
                        });
                    }
                    reasons.push(format!("intune: {}", call.description));
                    intune_call = Some(call);
                }
            }
        }
        let mut refusal = Refusal::new(
            format!("the challenge passed no method ({})", reasons.join("; ")),
            Some(&identifier),
        );
        refusal.intune = intune_call;
        Err(refusal)
    }

    fn remember_intune(&self, transaction: &str, csr: String) {
        // Past the bound, a transaction is not remembered: its notification is not
        // forwarded, which Intune tolerates, rather than memory growing without end.
        let mut remembered = self.intune_transactions.pruned(Instant::now());
        remembered.insert_if_room(transaction, csr);
    }

    /// The Intune client and the base64 CSR of a transaction Intune validated, forgotten
    /// as it is taken, so each transaction is notified once.
    fn take_intune(&self, transaction: &str) -> Option<(&IntuneScepClient, String)> {
        let client = self.intune.as_ref()?;
        let mut remembered = self.intune_transactions.pruned(Instant::now());
        Some((client, remembered.take_fresh(transaction)?))
    }

    /// After Intune validated a request that the gate then refused (posture): tells Intune
    /// no certificate will come, since step-ca sends no NOTIFYING for a refused challenge.
    pub(crate) async fn intune_refused(
        &self,
        transaction: &str,
        reason: &str,
    ) -> Option<IntuneCall> {
        let (client, csr) = self.take_intune(transaction)?;
        let description = format!("refused by step-posture-connector: {reason}");
        Some(
            IntuneCall::timed(
                "failureNotification",
                client.failure_notification(transaction, &csr, HRESULT_DENIED, &description),
            )
            .await,
        )
    }

    /// Forwards a first-delivered NOTIFYING for a transaction Intune validated:
    /// `successNotification` with the issued certificate's details, or
    /// `failureNotification`. `None` for other transactions.
    pub(crate) async fn intune_notify(
        &self,
        notification: &Notification,
        body: &RequestBody,
    ) -> Option<IntuneCall> {
        let transaction = notification.transaction_id.as_str();
        let (client, csr) = self.take_intune(transaction)?;
        if !notification.success {
            return Some(
                IntuneCall::timed(
                    "failureNotification",
                    client.failure_notification(
                        transaction,
                        &csr,
                        HRESULT_FAILED,
                        &notification.failure,
                    ),
                )
                .await,
            );
        }
        let der = body
            .x509_certificate
            .as_ref()
            .and_then(|c| c.raw.as_deref())
            .unwrap_or_default();
        let certificate = IssuedCertificate::from_der(der);
        Some(
            IntuneCall::timed("successNotification", async {
                match certificate {
                    Ok(certificate) => {
                        client
                            .success_notification(transaction, &csr, &certificate)
                            .await
                    }
                    Err(err) => Err(ProviderError::permanent(err.to_string())),
                }
            })
            .await,
        )
    }

    /// Whether this notification was already delivered (step-ca retries once after a 5xx or
    /// a lost answer); remembers it otherwise.
    pub(crate) fn already_notified(&self, key: &str) -> bool {
        let mut seen = self.notifications.pruned(Instant::now());
        if seen.is_fresh(key) {
            return true;
        }
        seen.insert_if_room(key, ());
        false
    }
}

/// What a NOTIFYING body reports, for the audit line.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) struct Notification {
    /// `scepTransactionID`.
    pub(crate) transaction_id: String,
    /// Whether issuance succeeded.
    pub(crate) success: bool,
    /// The issued certificate's serial number, hex.
    pub(crate) serial: String,
    /// SHA-256 of the issued certificate's DER, hex.
    pub(crate) sha256: String,
    /// SHA-1 of the issued certificate's DER, hex (the thumbprint Intune and Windows show).
    pub(crate) sha1: String,
    /// The issued certificate's subject.
    pub(crate) subject: String,
    /// When it expires, RFC 3339.
    pub(crate) not_after: String,
    /// The failure description, for a failure.
    pub(crate) failure: String,
}

impl Notification {
    /// Reads a verified NOTIFYING body. A success must carry the issued certificate's DER.
    pub(crate) fn from_body(body: &RequestBody) -> Result<Self, String> {
        let transaction_id = body
            .scep_transaction_id
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or("the request has no scepTransactionID")?;
        let Some(certificate) = body.x509_certificate.as_ref() else {
            return Ok(Self {
                transaction_id,
                success: false,
                failure: body
                    .scep_error_description
                    .clone()
                    .unwrap_or_else(|| "(no description)".to_owned()),
                ..Self::default()
            });
        };
        let der = certificate
            .raw
            .as_deref()
            .ok_or("the success notification has no x509Certificate.raw")?;
        let (_, parsed) = X509Certificate::from_der(der)
            .map_err(|err| format!("the issued certificate cannot be read: {err}"))?;
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        Ok(Self {
            transaction_id,
            success: true,
            serial: hex(parsed.raw_serial()),
            sha256: hex(digest::digest(&digest::SHA256, der).as_ref()),
            sha1: hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
            subject: parsed.subject().to_string(),
            not_after: parsed
                .validity()
                .not_after
                .to_datetime()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            failure: String::new(),
        })
    }

    /// What identifies one delivery, for de-duplication.
    pub(crate) fn key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.transaction_id,
            if self.success { "ok" } else { "failed" },
            self.sha256
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Hidden;

    fn csr(serial: Option<&str>, cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        if let Some(serial) = serial {
            params.distinguished_name.push(
                rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]),
                rcgen::DnValue::PrintableString(serial.try_into().unwrap()),
            );
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.serialize_request(&key).unwrap().der().to_vec()
    }

    fn settings(methods: &[ChallengeMethod]) -> ScepSettings {
        let vars: HashMap<String, String> = [
            (
                "SCEP_CHALLENGE",
                methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "SCEP_CHALLENGE_KEY",
                "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=".to_owned(),
            ),
            (
                "SCEP_STATIC_CHALLENGE",
                "a-long-shared-challenge".to_owned(),
            ),
        ]
        .into_iter()
        .filter(|(k, _)| {
            (*k != "SCEP_CHALLENGE_KEY" || methods.contains(&ChallengeMethod::Signed))
                && (*k != "SCEP_STATIC_CHALLENGE" || methods.contains(&ChallengeMethod::Static))
        })
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut errors = Vec::new();
        crate::config::scep_settings(&vars, &mut errors)
            .flatten()
            .unwrap_or_else(|| panic!("{errors:?}"))
    }

    fn body(csr: &[u8], challenge: &str) -> RequestBody {
        RequestBody::scep_challenge(
            csr,
            challenge,
            "tx-1",
            "wifi",
            time::OffsetDateTime::now_utc(),
        )
        .unwrap()
    }

    #[test]
    fn the_identifier_follows_scep_identifier() {
        let gate = ScepGate::new(&settings(&[ChallengeMethod::Static])).unwrap();
        let with_serial = CsrIdentity::parse(&csr(Some("C02XL0GJJG5J"), "Alice's Mac")).unwrap();
        assert_eq!(
            gate.identifier(&with_serial).as_deref(),
            Some("C02XL0GJJG5J")
        );
        let cn_only = CsrIdentity::parse(&csr(None, "C02CNONLY001")).unwrap();
        assert_eq!(gate.identifier(&cn_only).as_deref(), Some("C02CNONLY001"));
    }

    #[tokio::test]
    async fn methods_in_order() {
        let gate = ScepGate::new(&settings(&[
            ChallengeMethod::Static,
            ChallengeMethod::Signed,
        ]))
        .unwrap();
        let der = csr(Some("C02XL0GJJG5J"), "x");
        let admitted = gate
            .check(&body(&der, "a-long-shared-challenge"))
            .await
            .unwrap();
        assert_eq!(admitted.method, ChallengeMethod::Static);
        assert_eq!(admitted.identifier, "C02XL0GJJG5J");
        let token = gate.signed().unwrap().issue(Some("C02XL0GJJG5J")).unwrap();
        assert_eq!(
            gate.check(&body(&der, &token)).await.unwrap().method,
            ChallengeMethod::Signed
        );
        let refusal = gate.check(&body(&der, "guess")).await.unwrap_err();
        assert_eq!(refusal.identifier.as_deref(), Some("C02XL0GJJG5J"));
        assert!(
            refusal.reason.contains("static: does not match"),
            "{refusal:?}"
        );
        assert!(
            refusal.reason.contains("signed: not a signed challenge"),
            "{refusal:?}"
        );
        assert!(!refusal.reason.contains("guess"));
        // A token bound to one device doesn't pass for another.
        let other = csr(Some("C02OTHER0001"), "x");
        let refusal = gate.check(&body(&other, &token)).await.unwrap_err();
        assert!(refusal.reason.contains("issued for device"), "{refusal:?}");
    }

    #[test]
    fn notifications_are_remembered() {
        let gate = ScepGate::new(&settings(&[ChallengeMethod::Static])).unwrap();
        assert!(!gate.already_notified("tx-1:ok:ab"));
        assert!(gate.already_notified("tx-1:ok:ab"));
        assert!(!gate.already_notified("tx-2:ok:ab"));
    }

    #[test]
    fn hidden_is_hidden() {
        assert_eq!(
            format!("{:?}", Hidden(b"secret".to_vec())),
            "[6 bytes, not shown]"
        );
    }
}
