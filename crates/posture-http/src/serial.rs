use std::fmt;

/// A checked Apple serial number, upper-cased: 8 to 14 ASCII letters and digits.
///
/// Only serials reach an MDM: they can't escape the quotes of a filter (RSQL, OData) or add
/// path segments, and anything else (a UDID, an empty string) is refused before any call.
///
/// ```
/// use posture_http::Serial;
/// assert_eq!(Serial::check("c02xl0gjjg5j", "Jamf").unwrap().as_str(), "C02XL0GJJG5J");
/// let reason = Serial::check("00008103-001A2B3C4D5E001E", "Intune").unwrap_err();
/// assert!(reason.contains("is a UDID, not a serial number; Intune looks devices up by serial number"));
/// ```
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Serial(String);

impl Serial {
    /// The serial, upper-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks that `identifier` can be an Apple serial number: 8 to 14 ASCII letters and
    /// digits, as the Go version requires. Lower case is accepted (Go accepts it too) and
    /// upper-cased, since Apple serials are upper case; the upper-cased form is what the MDM
    /// is asked and what caches are keyed by.
    ///
    /// On failure, returns the reason for an `invalidIdentifier` deny message; `service`
    /// names the MDM in it (`"Jamf"`). UDIDs get their own explanation: Apple's provisioning
    /// UDID is what a device attests when the ACME payload doesn't ask for the serial.
    pub fn check(identifier: &str, service: &str) -> Result<Self, String> {
        check(identifier, service)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shortest and longest identifiers accepted, as in the Go version (`alphanum,min=8,max=14`).
/// Apple serials have been 10-12 characters; the 10-character randomized format arrived in 2021.
const MIN_LEN: usize = 8;
const MAX_LEN: usize = 14;

fn check(identifier: &str, service: &str) -> Result<Serial, String> {
    let shown = shown(identifier);
    if identifier.is_empty() {
        return Err(format!(
            "the permanent identifier is empty; {service} looks devices up by serial number"
        ));
    }
    if looks_like_udid(identifier) {
        return Err(format!(
            "{shown} is a UDID, not a serial number; {service} looks devices up by serial \
             number, so the device must attest its serial number"
        ));
    }
    if !identifier.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "{shown} is not a serial number: expected only letters A-Z and digits"
        ));
    }
    let len = identifier.len();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(format!(
            "{shown} is not a serial number: expected {MIN_LEN} to {MAX_LEN} characters, got {len}"
        ));
    }
    Ok(Serial(identifier.to_ascii_uppercase()))
}

/// The identifier for a message: quoted and escaped, and cut to 64 characters.
fn shown(identifier: &str) -> String {
    const LIMIT: usize = 64;
    if identifier.chars().count() > LIMIT {
        let cut: String = identifier.chars().take(LIMIT).collect();
        format!("{cut:?}…")
    } else {
        format!("{identifier:?}")
    }
}

/// UDID shapes: Apple's 40-hex-digit UDID of older devices, the 25-character
/// `00008103-001A2B3C4D5E001E` form of newer ones, and the RFC 4122 form Macs report.
fn looks_like_udid(identifier: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = identifier.split('-').collect();
    match parts.as_slice() {
        [one] => one.len() == 40 && hex(one),
        [a, b] => a.len() == 8 && b.len() == 16 && hex(a) && hex(b),
        [a, b, c, d, e] => {
            [a.len(), b.len(), c.len(), d.len(), e.len()] == [8, 4, 4, 4, 12]
                && parts.iter().all(|p| hex(p))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_serials_and_upper_cases_them() {
        for (given, expected) in [
            ("C02XL0GJJG5J", "C02XL0GJJG5J"),
            ("c02xl0gjjg5j", "C02XL0GJJG5J"),
            ("DMPXK2ABCD", "DMPXK2ABCD"),
            ("ABCDEFGH", "ABCDEFGH"),
            ("ABCDEFGHIJKLMN", "ABCDEFGHIJKLMN"),
        ] {
            assert_eq!(check(given, "Jamf").unwrap().as_str(), expected);
        }
    }

    #[test]
    fn refuses_udids_with_their_own_reason() {
        for udid in [
            "00008103-001A2B3C4D5E001E",
            "270aae10800b6e61a2ee2bbc285eb967050b5984",
            "000DF0BF-00FF-D00B-FA00-000F0DA0FE00",
        ] {
            let reason = check(udid, "Jamf").unwrap_err();
            assert!(reason.contains("is a UDID"), "{udid}: {reason}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for (bad, why) in [
            ("", "empty"),
            ("C02XL0G", "8 to 14 characters, got 7"),
            ("C02XL0GJJG5JABC", "got 15"),
            ("C02XL0GJ JG5J", "only letters"),
            ("C02XL0GJ/G5J", "only letters"),
            ("C02\"XL0GJG5J", "only letters"),
            ("C02XL0GJJG5É", "only letters"),
            ("hardware.serialNumber==\"x\"", "only letters"),
        ] {
            let reason = check(bad, "Jamf").unwrap_err();
            assert!(reason.contains(why), "{bad:?}: {reason}");
        }
        let long = "x".repeat(500);
        assert!(check(&long, "Jamf").unwrap_err().len() < 200);
    }
}
