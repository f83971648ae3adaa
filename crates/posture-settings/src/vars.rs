//! Variables given in code rather than read from the environment.

/// A variable lookup over fixed `(name, value)` pairs, every other variable unset: the
/// environment of a test, an example or a configuration built from a table.
///
/// ```
/// let get = posture_settings::vars(&[("ACME_URL", "https://acme.example")]);
/// assert_eq!(get("ACME_URL").as_deref(), Some("https://acme.example"));
/// assert_eq!(get("ACME_TOKEN"), None);
/// ```
pub fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}
