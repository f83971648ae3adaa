//! Helpers shared by the test modules.

pub(crate) use posture_conformance::support::{decide, denial};
use posture_fakes::snipeit::FakeSnipeIt;
use posture_http_inventory::{HttpInventoryConfig, HttpInventoryProvider};

/// A provider configured by the fake's variables, with `extra` set over them (an empty value
/// unsets one).
pub(crate) fn provider(snipe: &FakeSnipeIt, extra: &[(&str, &str)]) -> HttpInventoryProvider {
    let mut env = snipe.env_vars();
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    let config = HttpInventoryConfig::from_env(|name| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    })
    .unwrap();
    HttpInventoryProvider::new(config).unwrap()
}
