/// Formats 16 random bytes as a version-4 GUID (RFC 9562 version and variant bits set), the
/// form Microsoft's APIs show for request and token IDs and step-ca uses for webhook IDs.
///
/// ```
/// let id = posture_http::guid_v4([0xff; 16]);
/// assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
/// assert!(posture_http::env::is_guid(&posture_http::guid_v4([0; 16])));
/// ```
pub fn guid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Hex digits as certificate tools show a fingerprint: upper case, in colon-separated pairs.
///
/// ```
/// assert_eq!(posture_http::colon_hex("ab12cd"), "AB:12:CD");
/// ```
pub fn colon_hex(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}
