//! The configuration parser, `Config::from_vars`, on arbitrary variables.
//!
//! Input: lines. A line starting with a byte below 0x80 sets one of the variables the server
//! and its providers declare (the byte picks which) to the rest of the line; any other line is
//! a raw `KEY=VALUE`. The values `@cert`, `@key`, `@devices` and `@secrets` become paths of real
//! files, so the fuzzer can reach configurations that validate.
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use step_posture_connector::config::{self, Config};
use step_posture_connector::providers::Providers;

/// Every variable the server and its built-in providers declare, so the byte that picks one
/// reaches every validator; taken from the declarations, so it never goes stale.
fn names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| config::known_variables(&Providers::builtin()))
}

struct Files {
    cert: PathBuf,
    key: PathBuf,
    devices: PathBuf,
    secrets: PathBuf,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("spc-fuzz-config-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            let _ = std::fs::write(&path, text);
            path
        };
        Files {
            cert: write("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            key: write("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"),
            devices: write("devices.json", r#"{"devices":[{"identifier":"A"}]}"#),
            secrets: write(
                "secrets",
                "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==\n",
            ),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let files = files();
    let mut vars = HashMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&first, rest)) = line.split_first() else {
            continue;
        };
        let (key, value) = if first < 0x80 {
            (
                names()[usize::from(first) % names().len()].to_owned(),
                String::from_utf8_lossy(rest).into_owned(),
            )
        } else {
            let text = String::from_utf8_lossy(rest).into_owned();
            match text.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (text, String::new()),
            }
        };
        let value = match value.as_str() {
            "@cert" => files.cert.display().to_string(),
            "@key" => files.key.display().to_string(),
            "@devices" => files.devices.display().to_string(),
            "@secrets" => files.secrets.display().to_string(),
            _ => value,
        };
        vars.insert(key, value);
    }
    match Config::from_vars(&vars) {
        Ok(config) => {
            let _ = config.warnings();
            let _ = format!("{config:?}");
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error names at least one problem");
            let text = errors.to_string();
            assert!(!text.is_empty());
        }
    }
});
