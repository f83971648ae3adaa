//! The signed SCEP challenge on its own: issued and verified at fuzzed times, for fuzzed
//! devices and public keys, against fuzzed and altered challenges
//! (`step_posture_connector::fuzzing::ChallengeVerifier`, the gate's issuer and verifier).
//!
//! Input: eight bytes of issue time (Unix seconds, any `u64`), two of the time of
//! verification relative to it (`i16` seconds), two of the lifetime asked for (seconds; the
//! configured one is an hour), two naming a character to replace in the issued challenge
//! (position, character); then lines: the device to bind to (none when empty), the device
//! the CSR names (when not bound), a challenge text, two public keys.
//!
//! Asserts: an issued challenge has at most 255 characters, all in the PrintableString
//! repertoire; it verifies exactly when its lifetime, the configured maximum and the clock
//! skew allowed say so, and then returns the device it was issued for; a challenge bound to
//! one device never verifies for another; one used with a public key is refused with any
//! other (a replay) and accepted again with the same (a retry); a key rotated behind a new
//! one still verifies, a challenge signed with the new key does not verify under the old;
//! no other string verifies, whether altered from an issued one or made up.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use step_posture_connector::fuzzing::{ChallengeVerifier, is_printable_string};

const OLD_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const NEW_KEY: &[u8] = b"fedcba9876543210fedcba9876543210";
/// `SCEP_CHALLENGE_TTL`.
const TTL: u64 = 3600;
/// How far in the future an `iat` may be.
const MAX_SKEW: u64 = 60;

fn lines(mut rest: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        out.push(line);
        rest = tail;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((header, rest)) = data.split_first_chunk::<14>() else {
        return;
    };
    let issued_at = u64::from_le_bytes(header[..8].try_into().expect("eight bytes"));
    let offset = i64::from(i16::from_le_bytes([header[8], header[9]]));
    let lifetime = u64::from(u16::from_le_bytes([header[10], header[11]]));
    let (position, replacement) = (header[12], header[13]);
    let fields = lines(rest, 5);
    let text = |i: usize| String::from_utf8_lossy(fields[i]).into_owned();
    let bound = Some(text(0)).filter(|t| !t.is_empty());
    let named = bound.clone().unwrap_or_else(|| text(1));
    let other_device = text(1);
    let made_up = text(2);
    let (key, other_key) = (fields[3], fields[4]);
    let at = issued_at.saturating_add_signed(offset);

    let old = ChallengeVerifier::new(&[OLD_KEY], Duration::from_secs(TTL));
    let Ok(challenge) = old.issue_at(bound.as_deref(), issued_at, Duration::from_secs(lifetime))
    else {
        // Only a device too long for a challenge of 255 characters is refused.
        assert!(bound.is_some(), "an unbound challenge was refused");
        return;
    };
    assert!(challenge.len() <= 255, "{} characters", challenge.len());
    assert!(is_printable_string(&challenge), "{challenge}");
    assert!(challenge.starts_with("v1."), "{challenge}");

    // Valid exactly within its lifetime, no longer than configured, and not from the future.
    let expires = issued_at.saturating_add(lifetime);
    let valid =
        issued_at <= at.saturating_add(MAX_SKEW) && at < expires && expires - issued_at <= TTL;
    let verified = old.verify_at(&challenge, &named, key, at);
    assert_eq!(
        verified.is_ok(),
        valid,
        "{verified:?} at {at} for {challenge}"
    );
    if let Ok(device) = &verified {
        assert_eq!(device, &bound);
    }

    // Bound to one device, never another.
    if let Some(bound) = &bound
        && *bound != other_device
    {
        let fresh = ChallengeVerifier::new(&[OLD_KEY], Duration::from_secs(TTL));
        assert!(fresh.verify_at(&challenge, &other_device, key, at).is_err());
    }

    // Once used with a key: a retry with it passes, another key is a replay.
    if verified.is_ok() {
        assert!(old.verify_at(&challenge, &named, key, at).is_ok());
        if other_key != key {
            assert!(old.verify_at(&challenge, &named, other_key, at).is_err());
        }
    }

    // Rotation: the old key still verifies behind the new one; the new one's challenges are
    // unknown to a server with the old key only.
    let rotated = ChallengeVerifier::new(&[NEW_KEY, OLD_KEY], Duration::from_secs(TTL));
    assert_eq!(
        rotated.verify_at(&challenge, &named, key, at).is_ok(),
        valid
    );
    if let Ok(newer) = rotated.issue_at(bound.as_deref(), issued_at, Duration::from_secs(lifetime))
    {
        let fresh = ChallengeVerifier::new(&[OLD_KEY], Duration::from_secs(TTL));
        assert!(fresh.verify_at(&newer, &named, key, at).is_err());
    }

    // No other string passes: a character replaced, or anything made up.
    let mut altered = challenge.clone().into_bytes();
    let i = usize::from(position) % altered.len();
    altered[i] = replacement;
    if let Ok(altered) = String::from_utf8(altered)
        && altered != challenge
    {
        let fresh = ChallengeVerifier::new(&[NEW_KEY, OLD_KEY], Duration::from_secs(TTL));
        let result = fresh.verify_at(&altered, &named, key, at);
        assert!(result.is_err(), "{altered} verified as {result:?}");
    }
    if made_up != challenge {
        let fresh = ChallengeVerifier::new(&[NEW_KEY, OLD_KEY], Duration::from_secs(TTL));
        let result = fresh.verify_at(&made_up, &named, key, at);
        assert!(result.is_err(), "{made_up:?} verified as {result:?}");
    }
});
