//! JSON exactly as Go's `encoding/json` writes it, and the serde helpers for Go's encodings.

use std::fmt;
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;

/// Serializes `value` to the bytes Go's `json.Marshal` would produce for the same data.
///
/// The output is compact (no whitespace, no trailing newline). In strings, `<`, `>` and `&`
/// are written as `\u003c`, `\u003e` and `\u0026`, and U+2028 and U+2029 as `\u2028` and
/// `\u2029`, as Go does. Control characters are escaped the way Go 1.22 and later escape
/// them (`\b`, `\f`, `\n`, `\r`, `\t`, else `\u00XX`). Embedded
/// [`RawValue`](serde_json::value::RawValue)s are compacted and HTML-escaped, as Go does
/// with `json.RawMessage`.
///
/// Field order and `null`-versus-omitted are decided by the type's `Serialize`
/// implementation. The wire types of this crate follow step-ca's Go structs, so parsing a
/// body step-ca sent and serializing it again gives the same bytes.
///
/// ```
/// use smallstep_webhook::{RequestBody, to_go_json};
/// let sent = include_bytes!("../tests/data/03-ssh-enriching.json");
/// let body: RequestBody = serde_json::from_slice(sent)?;
/// assert_eq!(to_go_json(&body), sent);
///
/// assert_eq!(to_go_json(&"<a & b>"), br#""\u003ca \u0026 b\u003e""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Panics
///
/// Panics only if `T`'s own `Serialize` implementation fails, for example a map whose keys
/// are not strings or numbers. The types of this crate never fail.
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    if let Err(err) = value.serialize(&mut serializer) {
        // Writing into a Vec cannot fail, so this is the value's own Serialize impl failing.
        panic!("to_go_json: the value's Serialize implementation failed: {err}");
    }
    out
}

/// A compact formatter that escapes like Go's `encoding/json`.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        write_go_escaped(writer, fragment.as_bytes())
    }

    fn write_raw_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        // Go compacts a json.RawMessage and HTML-escapes it (encoding/json `compact`).
        let bytes = fragment.as_bytes();
        let mut in_string = false;
        let mut escaped = false;
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else if b == b'"' {
                in_string = true;
            } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                write_go_escaped(writer, &bytes[start..i])?;
                start = i + 1;
            }
        }
        write_go_escaped(writer, &bytes[start..])
    }
}

/// Writes `bytes` (UTF-8), replacing the characters Go's HTML-safe encoder escapes.
fn write_go_escaped<W: ?Sized + io::Write>(writer: &mut W, bytes: &[u8]) -> io::Result<()> {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (escape, len): (&[u8], usize) = match bytes[i] {
            b'<' => (b"\\u003c", 1),
            b'>' => (b"\\u003e", 1),
            b'&' => (b"\\u0026", 1),
            0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA8) => {
                (b"\\u2028", 3)
            }
            0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA9) => {
                (b"\\u2029", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        writer.write_all(&bytes[start..i])?;
        writer.write_all(escape)?;
        i += len;
        start = i;
    }
    writer.write_all(&bytes[start..])
}

/// Formats a timestamp as Go's `time.Time.MarshalJSON` does (RFC 3339 with nanoseconds).
///
/// The fraction is trimmed of trailing zeros and omitted when zero; a zero offset is `Z`,
/// any other offset `±hh:mm`.
pub(crate) fn format_go_time(t: OffsetDateTime) -> String {
    let year = t.year();
    let mut out = if year < 0 {
        format!("-{:04}", year.unsigned_abs())
    } else {
        format!("{year:04}")
    };
    out.push_str(&format!(
        "-{:02}-{:02}T{:02}:{:02}:{:02}",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ));
    let nanos = t.nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let offset = t.offset().whole_seconds();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.unsigned_abs() / 60;
        out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    }
    out
}

/// Go's zero `time.Time`, which `json.Marshal` writes for an unset non-pointer time.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A Go `time.Time` field (never omitted): `None` is written as Go's zero time, and `null` or
/// a missing field reads as `None`.
pub(crate) mod go_time {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(t) => serializer.serialize_str(&format_go_time(*t)),
            None => serializer.serialize_str(GO_ZERO_TIME),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let Some(text) = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? else {
            return Ok(None);
        };
        OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map(Some)
            .map_err(|_| de::Error::custom("timestamp is not RFC 3339"))
    }
}

/// A Go `[]byte` field: standard base64 with padding; `None` (Go `nil`) is `null`.
pub(crate) mod go_bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&STANDARD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let Some(text) = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? else {
            return Ok(None);
        };
        STANDARD
            .decode(text.as_bytes())
            .map(Some)
            .map_err(|_| de::Error::custom("byte field is not standard base64"))
    }
}

/// Reads a Go value-typed field (string, number, bool): `null` gives the zero value, as in Go.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads an x509util `MultiString`-like field: `null`, one string, or a list of strings.
pub(crate) fn opt_multi_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    deserializer.deserialize_any(MultiStringVisitor)
}

/// Like [`opt_multi_string`], for `omitempty` fields where `null` means empty.
pub(crate) fn multi_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    Ok(opt_multi_string(deserializer)?.unwrap_or_default())
}

struct MultiStringVisitor;

impl<'de> Visitor<'de> for MultiStringVisitor {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null, a string or a list of strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(vec![v.to_owned()]))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(vec![v]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<String>()? {
            out.push(item);
        }
        Ok(Some(out))
    }
}

/// Writes an empty list as `null`, as x509util's `KeyUsage` (a bit set) does when no bit is set.
pub(crate) fn empty_as_null<S: Serializer>(
    value: &[String],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if value.is_empty() {
        serializer.serialize_none()
    } else {
        value.serialize(serializer)
    }
}

/// `skip_serializing_if` for Go `omitempty` strings.
pub(crate) fn is_none_or_empty(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

/// `skip_serializing_if` for Go `omitempty` ints.
pub(crate) fn is_none_or_zero(value: &Option<i64>) -> bool {
    value.is_none_or(|v| v == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn go_time_format() {
        assert_eq!(
            format_go_time(datetime!(2025-06-02 14:19:31 UTC)),
            "2025-06-02T14:19:31Z"
        );
        assert_eq!(
            format_go_time(datetime!(2025-06-02 16:05:44.090172635 +02:00)),
            "2025-06-02T16:05:44.090172635+02:00"
        );
        assert_eq!(
            format_go_time(datetime!(2025-06-02 16:05:44.5 -05:30)),
            "2025-06-02T16:05:44.5-05:30"
        );
        assert_eq!(
            format_go_time(datetime!(0001-01-01 00:00:00.000001 UTC)),
            "0001-01-01T00:00:00.000001Z"
        );
    }

    #[test]
    fn escapes_like_go() {
        // Go leaves DEL (0x7f) as it is and uses short escapes for \b \f \n \r \t.
        let expected =
            "\"a\\u003cb\\u003ec\\u0026d\\u2028e\\u2029f\u{7f}\\u0001\\b\\f\\n\\r\\t\\\\\\\"\"";
        assert_eq!(
            String::from_utf8_lossy(&to_go_json(
                &"a<b>c&d\u{2028}e\u{2029}f\u{7f}\u{1}\u{8}\u{c}\n\r\t\\\""
            )),
            expected
        );
    }

    #[test]
    fn raw_fragments_are_compacted_and_escaped() {
        let raw = serde_json::value::RawValue::from_string(
            "{ \"a\" : [1, 2],\n \"b\": \"x <y> & \\\" z\" }".to_owned(),
        )
        .ok();
        assert_eq!(
            to_go_json(&raw),
            br#"{"a":[1,2],"b":"x \u003cy\u003e \u0026 \" z"}"#
        );
    }
}
