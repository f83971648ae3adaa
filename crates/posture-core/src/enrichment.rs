use std::fmt;

use bytes::Bytes;

/// Enrichment data: a JSON object, kept serialised.
///
/// step-ca exposes it to certificate templates as `.Webhooks.<webhook name>`. It is stored
/// as the bytes of the object, not as a tree of maps, so a provider holding a million
/// devices keeps them compactly and answering a request copies nothing but a reference
/// count.
///
/// ```
/// use posture_core::Enrichment;
/// let data = Enrichment::from_json(r#"{"user":{"email":"alice@example.com"}}"#)?;
/// assert_eq!(data.to_value()["user"]["email"], "alice@example.com");
/// assert!(Enrichment::from_json("[1,2]").is_err());
/// # Ok::<(), posture_core::InvalidEnrichment>(())
/// ```
#[derive(Clone, Eq, Hash, PartialEq)]
pub struct Enrichment(Bytes);

/// The text given as enrichment was not a single JSON object.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("enrichment data must be one JSON object: {reason}")]
pub struct InvalidEnrichment {
    reason: String,
}

impl Enrichment {
    /// Checks that `json` is exactly one JSON object (surrounding whitespace allowed) and
    /// keeps its bytes as they are.
    pub fn from_json(json: impl Into<Bytes>) -> Result<Self, InvalidEnrichment> {
        let bytes = json.into();
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|err| InvalidEnrichment {
                reason: err.to_string(),
            })?;
        if !value.is_object() {
            return Err(InvalidEnrichment {
                reason: "the value is not an object".to_owned(),
            });
        }
        Ok(Self(bytes))
    }

    /// Serialises a JSON object map.
    pub fn from_map(map: &serde_json::Map<String, serde_json::Value>) -> Self {
        // Serialising a map of `Value`s cannot fail: every key is a string.
        let bytes = serde_json::to_vec(map).unwrap_or_else(|_| b"{}".to_vec());
        Self(Bytes::from(bytes))
    }

    /// Wraps bytes the caller has already checked to be exactly one JSON object, without
    /// checking again.
    ///
    /// This is for providers that validate a whole inventory when they load it and then hand
    /// out slices of it. Passing anything else produces an invalid webhook response; it can't
    /// cause memory unsafety.
    pub fn from_checked_json(json: Bytes) -> Self {
        Self(json)
    }

    /// The serialised object.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The serialised object as a cheap shared handle.
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// Parses the object into a [`serde_json::Value`], for tests and tools. A value built
    /// with [`Self::from_checked_json`] from bad bytes parses as `null`.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Enrichment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Enrichment")
            .field(&String::from_utf8_lossy(&self.0))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_verbatim() {
        let text = "{ \"b\": 1, \"a\": 2 }";
        assert_eq!(
            Enrichment::from_json(text).unwrap().as_bytes(),
            text.as_bytes()
        );
    }

    #[test]
    fn refuses_everything_but_one_object() {
        for bad in ["", "null", "[]", "\"x\"", "{} {}", "{", "1"] {
            assert!(Enrichment::from_json(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn from_map_round_trips() {
        let mut map = serde_json::Map::new();
        map.insert("user".into(), "alice".into());
        let data = Enrichment::from_map(&map);
        assert_eq!(data.to_value(), serde_json::json!({"user": "alice"}));
    }
}
