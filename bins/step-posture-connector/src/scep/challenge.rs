//! SCEP challenge passwords: the static one, and signed ones this server issues.
//!
//! A signed challenge is `v1.<claims>.<mac>`: the claims are compact JSON
//! (`{"iat":…,"exp":…,"jti":"…","sub":"…"}`, `sub` only when bound to a device), both parts
//! in standard base64 without padding, so the whole stays within the ASN.1 PrintableString
//! alphabet Windows encodes challenges in, and under the 255 characters PKCS #9 allows. The
//! MAC is HMAC-SHA256 over a domain-separation prefix and `v1.<claims>`, under the first of
//! the configured keys; any of them verifies, so a key can be rotated by putting the new one
//! first and removing the old one a TTL later.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ring::digest;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// What PKCS #9 allows for a challengePassword.
pub(crate) const MAX_CHALLENGE_LEN: usize = 255;

/// The domain every signed challenge's MAC is computed in, so no other HMAC this server (or
/// anyone sharing the key by mistake) makes can pass for a challenge.
const DOMAIN: &[u8] = b"step-posture-connector/scep-challenge\x00";

/// How far in the future an `iat` may be (clock skew between replicas).
const MAX_SKEW_SECS: u64 = 60;

/// The most challenges remembered for replay detection; past it, the oldest expiring ones
/// go first.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    iat: u64,
    exp: u64,
    jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
}

/// Why a challenge was refused. Messages never include the challenge.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ChallengeError {
    /// Not a signed challenge of a version this server knows.
    #[error("not a signed challenge")]
    Malformed,
    /// No configured key made its MAC.
    #[error("signature does not verify with any SCEP_CHALLENGE_KEY")]
    BadSignature,
    /// Its lifetime is over, or hasn't begun.
    #[error("expired or not yet valid")]
    Expired,
    /// Bound to another device than the CSR names.
    #[error("issued for device {bound:?}, but the CSR names {presented:?}")]
    OtherDevice {
        /// The identifier the challenge is bound to.
        bound: String,
        /// The identifier the CSR names.
        presented: String,
    },
    /// Already used with another public key: a replay, not a retry.
    #[error("already used with another public key")]
    Replayed,
    /// The identifier doesn't fit in a challenge.
    #[error("identifier too long for a challenge of at most 255 characters")]
    TooLong,
}

/// What a verified signed challenge says.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) struct VerifiedChallenge {
    /// The device it is bound to, if any.
    pub(crate) bound_to: Option<String>,
    /// Its unique ID.
    pub(crate) id: String,
    /// When it expires (Unix seconds).
    pub(crate) expires: u64,
}

/// Issues and verifies signed challenges, and remembers which public key each was used
/// with until it expires.
pub(crate) struct SignedChallenges {
    keys: Vec<hmac::Key>,
    ttl: Duration,
    rng: SystemRandom,
    /// Challenge ID → (SHA-256 of the public key it was first used with, expiry).
    used: Mutex<HashMap<String, ([u8; 32], u64)>>,
}

impl std::fmt::Debug for SignedChallenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedChallenges")
            .field("keys", &self.keys.len())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SignedChallenges {
    /// Challenges signed with the first of `keys` (any verifies), valid for `ttl`.
    pub(crate) fn new(keys: &[&[u8]], ttl: Duration) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|key| hmac::Key::new(hmac::HMAC_SHA256, key))
                .collect(),
            ttl,
            rng: SystemRandom::new(),
            used: Mutex::new(HashMap::new()),
        }
    }

    /// How long issued challenges are valid.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new challenge, bound to `identifier` when given.
    pub(crate) fn issue(&self, identifier: Option<&str>) -> Result<String, ChallengeError> {
        self.issue_at(identifier, now(), self.ttl)
    }

    /// A new challenge valid for `ttl` (at most the configured TTL).
    pub(crate) fn issue_for(
        &self,
        identifier: Option<&str>,
        ttl: Duration,
    ) -> Result<String, ChallengeError> {
        self.issue_at(identifier, now(), ttl.min(self.ttl))
    }

    pub(crate) fn issue_at(
        &self,
        identifier: Option<&str>,
        now: u64,
        ttl: Duration,
    ) -> Result<String, ChallengeError> {
        let key = self.keys.first().ok_or(ChallengeError::BadSignature)?;
        let mut nonce = [0u8; 12];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| ChallengeError::Malformed)?;
        let claims = Claims {
            iat: now,
            exp: now.saturating_add(ttl.as_secs()),
            jti: STANDARD_NO_PAD.encode(nonce),
            sub: identifier.map(str::to_owned),
        };
        let json = serde_json::to_vec(&claims).map_err(|_| ChallengeError::Malformed)?;
        let signed = format!("v1.{}", STANDARD_NO_PAD.encode(json));
        let tag = hmac::sign(key, &message(&signed));
        let challenge = format!("{signed}.{}", STANDARD_NO_PAD.encode(tag.as_ref()));
        if challenge.len() > MAX_CHALLENGE_LEN {
            return Err(ChallengeError::TooLong);
        }
        Ok(challenge)
    }

    /// Checks `challenge` for a CSR naming `identifier` with public key `public_key`.
    pub(crate) fn verify(
        &self,
        challenge: &str,
        identifier: &str,
        public_key: &[u8],
    ) -> Result<VerifiedChallenge, ChallengeError> {
        self.verify_at(challenge, identifier, public_key, now())
    }

    pub(crate) fn verify_at(
        &self,
        challenge: &str,
        identifier: &str,
        public_key: &[u8],
        now: u64,
    ) -> Result<VerifiedChallenge, ChallengeError> {
        if challenge.len() > MAX_CHALLENGE_LEN {
            return Err(ChallengeError::Malformed);
        }
        let mut parts = challenge.split('.');
        let (Some("v1"), Some(claims_b64), Some(mac_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ChallengeError::Malformed);
        };
        let mac = STANDARD_NO_PAD
            .decode(mac_b64)
            .map_err(|_| ChallengeError::Malformed)?;
        let signed = &challenge[..challenge.len() - mac_b64.len() - 1];
        let message = message(signed);
        // Verify before parsing: nothing in the claims is read unless a key made the MAC.
        if !self
            .keys
            .iter()
            .any(|key| hmac::verify(key, &message, &mac).is_ok())
        {
            return Err(ChallengeError::BadSignature);
        }
        let json = STANDARD_NO_PAD
            .decode(claims_b64)
            .map_err(|_| ChallengeError::Malformed)?;
        let claims: Claims =
            serde_json::from_slice(&json).map_err(|_| ChallengeError::Malformed)?;
        if claims.iat > now.saturating_add(MAX_SKEW_SECS)
            || now >= claims.exp
            || claims.exp.saturating_sub(claims.iat) > self.ttl.as_secs()
        {
            return Err(ChallengeError::Expired);
        }
        if let Some(bound) = &claims.sub
            && bound != identifier
        {
            return Err(ChallengeError::OtherDevice {
                bound: bound.clone(),
                presented: identifier.to_owned(),
            });
        }
        self.remember(&claims.jti, public_key, claims.exp, now)?;
        Ok(VerifiedChallenge {
            bound_to: claims.sub,
            id: claims.jti,
            expires: claims.exp,
        })
    }

    /// Records the first public key a challenge is used with: the same key again is a retry
    /// (step-ca's, or the client's), another key a replay.
    fn remember(
        &self,
        id: &str,
        public_key: &[u8],
        expires: u64,
        now: u64,
    ) -> Result<(), ChallengeError> {
        let fingerprint: [u8; 32] = digest::digest(&digest::SHA256, public_key)
            .as_ref()
            .try_into()
            .map_err(|_| ChallengeError::Malformed)?;
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, _)) = used.get(id) {
            return if *seen == fingerprint {
                Ok(())
            } else {
                Err(ChallengeError::Replayed)
            };
        }
        if used.len() >= MAX_REMEMBERED {
            used.retain(|_, (_, exp)| *exp > now);
        }
        if used.len() >= MAX_REMEMBERED {
            // Still full of live challenges: forget the one closest to expiry, which can be
            // replayed for the shortest time.
            if let Some(oldest) = used
                .iter()
                .min_by_key(|(_, (_, exp))| *exp)
                .map(|(k, _)| k.clone())
            {
                used.remove(&oldest);
            }
        }
        used.insert(id.to_owned(), (fingerprint, expires));
        Ok(())
    }
}

/// A secret value compared in constant time: the static challenge, and the issuing
/// routes' Basic credentials.
pub(crate) struct StaticChallenge {
    key: hmac::Key,
    tag: hmac::Tag,
}

impl std::fmt::Debug for StaticChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticChallenge([not shown])")
    }
}

impl StaticChallenge {
    /// The expected challenge.
    pub(crate) fn new(expected: &[u8]) -> Self {
        // A MAC of the expected value under a random key, compared with ring's constant-time
        // verify: the time taken doesn't depend on how much of a guess matches.
        let rng = SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            hmac::Key::new(hmac::HMAC_SHA256, b"step-posture-connector static")
        });
        let tag = hmac::sign(&key, expected);
        Self { key, tag }
    }

    /// Whether `presented` is the expected challenge.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        self.matches_bytes(presented.as_bytes())
    }

    /// Whether `presented` is the expected value, as bytes (such as decoded Basic
    /// credentials, which need not be UTF-8).
    pub(crate) fn matches_bytes(&self, presented: &[u8]) -> bool {
        hmac::verify(&self.key, presented, self.tag.as_ref()).is_ok()
    }
}

fn message(signed: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + signed.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(signed.as_bytes());
    message
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether every character of `text` is in the ASN.1 PrintableString repertoire.
pub(crate) fn is_printable_string(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const KEY_B: &[u8] = b"fedcba9876543210fedcba9876543210";
    const HOUR: Duration = Duration::from_secs(3600);

    /// A signer with `KEY_A`, and a challenge it issued at 1_000_000 for `bound`.
    fn issued(bound: Option<&str>) -> (SignedChallenges, String) {
        let signer = SignedChallenges::new(&[KEY_A], HOUR);
        let challenge = signer.issue_at(bound, 1_000_000, HOUR).unwrap();
        (signer, challenge)
    }

    #[test]
    fn issued_challenges_verify_and_fit_printable_string() {
        let signer = SignedChallenges::new(&[KEY_A], HOUR);
        for bound in [
            None,
            Some("C02XL0GJJG5J"),
            Some("urn:uuid:0b5b0b2e-4f0d-4b4e-9f0c-1f2e3d4c5b6a"),
        ] {
            let challenge = signer.issue_at(bound, 1_000_000, HOUR).unwrap();
            assert!(challenge.starts_with("v1."), "{challenge}");
            assert!(challenge.len() <= MAX_CHALLENGE_LEN);
            assert!(is_printable_string(&challenge), "{challenge}");
            let identifier = bound.unwrap_or("ANYDEVICE01");
            let verified = signer
                .verify_at(&challenge, identifier, b"key-1", 1_000_010)
                .unwrap();
            assert_eq!(verified.bound_to.as_deref(), bound);
            assert_eq!(verified.expires, 1_003_600);
        }
    }

    #[test]
    fn refusals() {
        let (signer, challenge) = issued(Some("C02XL0GJJG5J"));
        // Expired, and not yet valid.
        assert_eq!(
            signer.verify_at(&challenge, "C02XL0GJJG5J", b"k", 1_003_600),
            Err(ChallengeError::Expired)
        );
        assert_eq!(
            signer.verify_at(&challenge, "C02XL0GJJG5J", b"k", 999_000),
            Err(ChallengeError::Expired)
        );
        // Another device.
        assert!(matches!(
            signer.verify_at(&challenge, "C02OTHER0001", b"k", 1_000_001),
            Err(ChallengeError::OtherDevice { .. })
        ));
        // Another key signed it.
        let other = SignedChallenges::new(&[KEY_B], HOUR);
        assert_eq!(
            other.verify_at(&challenge, "C02XL0GJJG5J", b"k", 1_000_001),
            Err(ChallengeError::BadSignature)
        );
        // Tampered claims: the MAC no longer fits.
        let mut parts: Vec<&str> = challenge.split('.').collect();
        let forged_claims = STANDARD_NO_PAD
            .encode(br#"{"iat":1000000,"exp":9999999999,"jti":"x","sub":"C02XL0GJJG5J"}"#);
        parts[1] = &forged_claims;
        assert_eq!(
            signer.verify_at(&parts.join("."), "C02XL0GJJG5J", b"k", 1_000_001),
            Err(ChallengeError::BadSignature)
        );
        for garbage in [
            "",
            "v1",
            "v1.a.b.c",
            "v2.abc.def",
            "static-password-1234",
            &"v1.".repeat(100),
        ] {
            assert!(
                matches!(
                    signer.verify_at(garbage, "C02XL0GJJG5J", b"k", 1_000_001),
                    Err(ChallengeError::Malformed | ChallengeError::BadSignature)
                ),
                "{garbage}"
            );
        }
        // A TTL longer than configured (issued under an older, longer setting) is refused.
        let long = SignedChallenges::new(&[KEY_A], HOUR * 10)
            .issue_at(None, 1_000_000, HOUR * 10)
            .unwrap();
        assert_eq!(
            signer.verify_at(&long, "X", b"k", 1_000_001),
            Err(ChallengeError::Expired)
        );
    }

    #[test]
    fn a_retry_with_the_same_key_passes_and_another_key_is_a_replay() {
        let (signer, challenge) = issued(None);
        for now in [1_000_001, 1_000_002] {
            let verified = signer.verify_at(&challenge, "A1", b"public-key-1", now);
            assert!(verified.is_ok(), "at {now}: {verified:?}");
        }
        assert_eq!(
            signer.verify_at(&challenge, "A2", b"public-key-2", 1_000_003),
            Err(ChallengeError::Replayed)
        );
    }

    #[test]
    fn keys_rotate() {
        let (old, challenge) = issued(None);
        let rotated = SignedChallenges::new(&[KEY_B, KEY_A], HOUR);
        assert!(rotated.verify_at(&challenge, "A1", b"k", 1_000_001).is_ok());
        let fresh = rotated.issue_at(None, 1_000_000, HOUR).unwrap();
        assert_eq!(
            old.verify_at(&fresh, "A1", b"k", 1_000_001),
            Err(ChallengeError::BadSignature)
        );
    }

    #[test]
    fn too_long_identifiers_are_refused_at_issue() {
        let signer = SignedChallenges::new(&[KEY_A], HOUR);
        assert_eq!(
            signer.issue_at(Some(&"A".repeat(200)), 1, HOUR),
            Err(ChallengeError::TooLong)
        );
    }

    #[test]
    fn static_challenges_match_exactly() {
        let expected = StaticChallenge::new(b"a-long-shared-challenge");
        assert!(expected.matches("a-long-shared-challenge"));
        assert!(!expected.matches("a-long-shared-challengE"));
        assert!(!expected.matches("a-long-shared-challenge "));
        assert!(!expected.matches(""));
        assert!(!format!("{expected:?}").contains("shared"));
    }

    #[test]
    fn printable_string_repertoire() {
        assert!(is_printable_string("v1.AbC+/=.-'(),:?"));
        assert!(!is_printable_string("a_b"));
        assert!(!is_printable_string("é"));
        assert!(!is_printable_string("a*b"));
    }
}
