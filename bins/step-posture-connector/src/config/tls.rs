//! The TLS settings: the server's certificate and key, and mTLS with the names step-ca's
//! client certificate may carry.

use posture_settings::Reader;

use posture_settings::split_list;

use posture_http::env::is_dns_name;

use super::env::{Declared, RawEnv};
use super::{ConfigError, MtlsSettings, TlsSettings, settings};

pub(super) fn tls_settings(
    raw: &RawEnv,
    declared: &mut Declared<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<TlsSettings> {
    let cert_path = declared
        .read(Reader::file, &settings::TLS_CERT_PATH, errors)
        .flatten();
    let key_path = declared
        .read(Reader::file, &settings::TLS_KEY_PATH, errors)
        .flatten();
    let enable_mtls = declared.read(Reader::flag, &settings::ENABLE_MTLS, errors);
    let require_server_auth =
        declared.read(Reader::flag, &settings::MTLS_REQUIRE_SERVER_AUTH, errors);
    let allowed_names = split_list(raw.mtls_allowed_names.as_deref().unwrap_or(""));
    for name in &allowed_names {
        if name.contains('*') {
            // Names are compared literally with the certificate's DNS names, so a wildcard
            // would match only a certificate that itself says `*.example.com`: refused rather
            // than silently never (or wrongly) matching.
            errors.push(ConfigError::invalid(
                "MTLS_ALLOWED_NAMES",
                name,
                "exact DNS names such as ca.example.com; wildcards are not supported (each \
                 entry is compared literally with the client certificate's DNS names, so list \
                 step-ca's name itself)",
            ));
        } else if !is_dns_name(name) {
            errors.push(ConfigError::invalid(
                "MTLS_ALLOWED_NAMES",
                name,
                "comma-separated DNS names such as ca.example.com",
            ));
        }
    }
    let mtls = match enable_mtls? {
        false => None,
        true => {
            let ca_path = declared
                .read(Reader::file, &settings::TLS_CA_PATH.required(), errors)
                .flatten();
            Some(MtlsSettings {
                ca_path: ca_path?,
                allowed_names,
                require_server_auth: require_server_auth?,
            })
        }
    };
    Some(TlsSettings {
        cert_path: cert_path?,
        key_path: key_path?,
        mtls,
    })
}
