//! The generic HTTP inventory provider as a server composes it: `PROVIDER=http`.

use std::sync::Arc;

use posture_core::{BuildError, BuiltProvider, Kind, ProviderSetup};

use crate::{HttpInventoryConfig, HttpInventoryProvider};

posture_http::shared_settings! {
    prefix: "HTTP",
    service: "the inventory",
    ca_path: "extra PEM CA certificates (a private CA, a proxy, a test server)",
    sync: false,
    own: {
        /// the lookup URL with {identifier} (and optionally {mode}), such as https://assets.example.com/api/v1/hardware/byserial/{identifier}
        pub(crate) const URL = url("HTTP_URL").required();
        /// extra request headers, one Name: value a line (such as Authorization: Bearer …)
        pub(crate) const HEADERS = secret("HTTP_HEADERS", "HTTP_HEADERS_FILE").optional();
        /// a JSON pointer to the device record in the answer, such as /rows/0 (default: the whole answer)
        pub(crate) const RECORD = text("HTTP_RECORD");
        /// a JSON pointer, in the record, to the field that must equal the identifier, such as /serial
        pub(crate) const MATCH = text("HTTP_MATCH").required();
        /// conditions that must all hold, pointer=value or pointer (must be true), comma-separated
        pub(crate) const REQUIRE = list("HTTP_REQUIRE");
        /// name=pointer pairs building the enrichment data, comma-separated (0 or unset: none)
        pub(crate) const ENRICH = list("HTTP_ENRICH");
    }
}

/// `PROVIDER=http`, for a server's list of providers: reads [`SETTINGS`] with
/// [`HttpInventoryConfig::from_env`].
///
/// ```
/// use posture_core::ProviderKind;
/// let get = |name: &str| match name {
///     "HTTP_URL" => Some("https://assets.example.com/api/v1/hardware/byserial/{identifier}".to_owned()),
///     "HTTP_HEADERS" => Some("Authorization: Bearer s3cr3t".to_owned()),
///     "HTTP_MATCH" => Some("/serial".to_owned()),
///     _ => None,
/// };
/// let setup = posture_http_inventory::KIND.configure(&get).unwrap();
/// let summary = setup.summary().join("\n");
/// assert!(summary.contains("HTTP_HEADERS: authorization (values not shown)"), "{summary}");
/// assert!(!summary.contains("s3cr3t"));
/// ```
pub static KIND: Kind<HttpInventoryConfig> =
    Kind::new("http", SETTINGS, |get| HttpInventoryConfig::from_env(get));

impl ProviderSetup for HttpInventoryConfig {
    fn summary(&self) -> Vec<String> {
        // The variables themselves are in the declared summary check-config prints, header
        // values redacted; what is derived from them follows.
        let names = self.header_names();
        vec![
            format!(
                "HTTP_HEADERS: {} (values not shown)",
                posture_settings::listed(&names, "none")
            ),
            format!(
                "device record: {}; must equal the identifier: {}",
                if self.record().is_empty() {
                    "the whole answer"
                } else {
                    self.record()
                },
                self.match_pointer()
            ),
        ]
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let provider =
            Arc::new(HttpInventoryProvider::new(self.clone()).map_err(|err| {
                BuildError::new("cannot set up the HTTP inventory provider", err)
            })?);
        Ok(BuiltProvider::new(provider.clone()).with_counters(provider))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &[(&str, &str)] = &[
        (
            "HTTP_URL",
            "https://assets.example.com/hardware/{identifier}",
        ),
        ("HTTP_MATCH", "/serial"),
    ];
    posture_conformance::settings_tests! {
        kind: KIND,
        shared: ["TIMEOUT"],
        base: BASE,
    }
}
