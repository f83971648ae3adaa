//! Reading MDM answers that write one field several ways: numbers and booleans as strings
//! (`"1"`, `"True"`), lists as comma-separated strings, values wrapped in `{"value": …}`.
//!
//! ```
//! use serde_json::json;
//! use posture_http::lenient;
//!
//! assert_eq!(lenient::text(&json!(42)), "42");
//! assert_eq!(lenient::text(&json!({"value": "C02XL0GJJG5J"})), "C02XL0GJJG5J");
//! assert_eq!(lenient::flag(&json!("1")), Some(true));
//! assert_eq!(lenient::flag(&json!("False")), Some(false));
//! assert_eq!(lenient::flag(&json!("")), None);
//! assert_eq!(lenient::strings(&json!("staff, macs")), ["staff", "macs"]);
//! assert_eq!(lenient::strings(&json!(["a", 2, null])), ["a", "2"]);
//! ```

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A value as text: strings as they are, numbers and booleans as their JSON text, a
/// `{"value": …}` wrapper unwrapped; anything else (`null`, lists, other objects) is empty.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(map) => map.get("value").map(text).unwrap_or_default(),
        _ => String::new(),
    }
}

/// A serde `deserialize_with` for a text field of a typed model: strings as they are, numbers
/// and booleans as their JSON text, anything else (`null`, lists, objects) empty. Unlike
/// [`text`], a `{"value": …}` wrapper is not unwrapped.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Device {
///     #[serde(deserialize_with = "posture_http::lenient::deserialize_text")]
///     id: String,
/// }
///
/// let device: Device = serde_json::from_str(r#"{"id": 42}"#).unwrap();
/// assert_eq!(device.id, "42");
/// let device: Device = serde_json::from_str(r#"{"id": {"value": "x"}}"#).unwrap();
/// assert_eq!(device.id, "");
/// ```
pub fn deserialize_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    })
}

/// A boolean written as JSON `true`/`false`, `1`/`0`, or the strings `"true"`/`"false"`,
/// `"1"`/`"0"`, `"yes"`/`"no"` (any case), possibly in a `{"value": …}` wrapper. Anything
/// else is unknown (`None`), so a check on it can fail closed.
pub fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        Value::Number(n) => match n.as_u64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::Object(map) => map.get("value").and_then(flag),
        _ => None,
    }
}

/// A list of strings: a JSON list (its strings and numbers; other items dropped) or a
/// comma-separated string (items trimmed, empty ones dropped), possibly in a
/// `{"value": …}` wrapper.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter(|item| matches!(item, Value::String(_) | Value::Number(_)))
            .map(text)
            .collect(),
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Number(_) => vec![text(value)],
        Value::Object(map) => map.get("value").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    }
}
