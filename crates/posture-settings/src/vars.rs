//! Variables given in code rather than read from the environment.

use crate::{ConfigProblem, ConfigProblems, Setting};

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

/// A variable lookup over values given in code (a constructor's arguments) for these
/// settings, to read with the same parser as the environment.
///
/// In the environment an empty variable stands for its default; in code an empty value is a
/// mistake, so one given for a setting that has a default
/// ([`defaulting_to`](crate::Setting::defaulting_to)) is refused. Other values are left to
/// the parser, which reports them as it would the variables.
///
/// ```
/// use posture_settings::Setting;
/// const URL: Setting = Setting::url("ACME_URL", "the Acme URL").defaulting_to("https://api.acme.example");
/// const TOKEN: Setting = Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "an API token");
///
/// let get = posture_settings::given(&[(&URL, "https://eu.acme.example"), (&TOKEN, "t0k3n")])?;
/// assert_eq!(get("ACME_TOKEN").as_deref(), Some("t0k3n"));
/// assert_eq!(get("ACME_TOKEN_FILE"), None);
///
/// let refused = posture_settings::given(&[(&URL, " "), (&TOKEN, "t0k3n")]).err().unwrap();
/// assert_eq!(refused.to_string(), "ACME_URL is not set: expected the Acme URL");
/// # Ok::<(), posture_settings::ConfigProblems>(())
/// ```
pub fn given<'a>(
    values: &'a [(&'a Setting, &'a str)],
) -> Result<impl Fn(&str) -> Option<String> + 'a, ConfigProblems> {
    let problems: Vec<ConfigProblem> = values
        .iter()
        .filter(|(setting, _)| setting.fallback.is_some())
        .filter_map(|(setting, value)| setting.given(value, |_| Ok(())).err())
        .collect();
    if !problems.is_empty() {
        return Err(ConfigProblems::new(problems));
    }
    Ok(move |name: &str| {
        values
            .iter()
            .find(|(setting, _)| setting.name == name)
            .map(|(_, value)| (*value).to_owned())
    })
}
