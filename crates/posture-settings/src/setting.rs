//! One declaration per variable, and the reader that parses variables by their declarations.

use std::path::Path;
use std::time::Duration;

use crate::{ConfigProblem, ConfigProblems};

/// What a boolean variable accepts.
pub const BOOL_EXPECTED: &str = "0 or 1 (or true/false)";

/// The largest secret file read, in bytes. A secret, or a list of them, is far smaller; a
/// bigger file is a wrong path (a log, a disk image) that must not be read into memory.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The type of a variable's value, with its default and bounds.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Kind {
    /// Free text.
    Text,
    /// A secret, given inline or in the file named by the `file` variable (not both). Never
    /// shown.
    Secret {
        /// The variable naming a file that holds the secret, such as `JAMF_CLIENT_SECRET_FILE`.
        file: &'static str,
    },
    /// A flag in Go's `strconv.ParseBool` spellings.
    Flag {
        /// The value when unset.
        default: bool,
    },
    /// A whole number of seconds.
    Seconds {
        /// The value when unset.
        default: u64,
        /// The smallest value accepted; when 0, 0 is documented as "disables".
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A whole number of something.
    Number {
        /// The value when unset.
        default: u64,
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
        /// What it counts, in the plural, such as `"connections"`.
        unit: &'static str,
    },
    /// A comma-separated list; items trimmed, empty ones dropped.
    List,
    /// A file system path.
    Path,
    /// A URL.
    Url,
    /// One of a fixed set of words.
    Choice {
        /// The words accepted.
        values: &'static [&'static str],
        /// The value when unset; `None` when one must be given.
        default: Option<&'static str>,
    },
}

/// The declaration of one variable: its name, type, default, bounds, whether it is a secret
/// (with its `_FILE` form) and a doc line. Parsing ([`Reader`]), problem messages
/// ([`Setting::expected`]), the `check-config` summary ([`summary`]), documentation tables
/// ([`markdown_table`]) and the list of known variables all come from it.
///
/// ```
/// use posture_settings::Setting;
///
/// const CACHE_TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 86_400, "how long an answer is cached");
/// assert_eq!(CACHE_TTL.expected(), "a whole number of seconds from 0 to 86400 (0 disables)");
/// assert_eq!(CACHE_TTL.default_text().as_deref(), Some("60"));
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Setting {
    /// The variable's name, such as `JAMF_BASE_URL`.
    pub name: &'static str,
    /// Its type, default and bounds.
    pub kind: Kind,
    /// Whether it must be set.
    pub required: bool,
    /// One line saying what it is for; for text, paths, URLs and secrets also what a valid
    /// value looks like in problem messages.
    pub doc: &'static str,
    /// What problem messages say a valid value looks like, when the type's own wording
    /// ([`Setting::expected`]) is not precise enough.
    pub expecting: Option<&'static str>,
    /// The value an unset text, path or URL variable stands for
    /// ([`defaulting_to`](Self::defaulting_to)).
    pub fallback: Option<&'static str>,
}

impl Setting {
    const fn new(name: &'static str, kind: Kind, doc: &'static str) -> Self {
        Self {
            name,
            kind,
            required: false,
            doc,
            expecting: None,
            fallback: None,
        }
    }

    /// Free text, optional.
    pub const fn text(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, Kind::Text, doc)
    }

    /// A secret, inline in `name` or in the file named by `file`; required.
    pub const fn secret(name: &'static str, file: &'static str, doc: &'static str) -> Self {
        Self::new(name, Kind::Secret { file }, doc).required()
    }

    /// A flag, `default` when unset.
    pub const fn flag(name: &'static str, default: bool, doc: &'static str) -> Self {
        Self::new(name, Kind::Flag { default }, doc)
    }

    /// Whole seconds from `min` to `max`, `default` when unset.
    pub const fn seconds(
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
        doc: &'static str,
    ) -> Self {
        Self::new(name, Kind::Seconds { default, min, max }, doc)
    }

    /// A whole number of `unit` from `min` to `max`, `default` when unset.
    pub const fn number(
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
        unit: &'static str,
        doc: &'static str,
    ) -> Self {
        Self::new(
            name,
            Kind::Number {
                default,
                min,
                max,
                unit,
            },
            doc,
        )
    }

    /// A comma-separated list, empty when unset.
    pub const fn list(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, Kind::List, doc)
    }

    /// A path, optional.
    pub const fn path(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, Kind::Path, doc)
    }

    /// A URL, optional.
    pub const fn url(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, Kind::Url, doc)
    }

    /// One of `values`, `default` when unset (`None`: required).
    pub const fn choice(
        name: &'static str,
        values: &'static [&'static str],
        default: Option<&'static str>,
        doc: &'static str,
    ) -> Self {
        Self::new(name, Kind::Choice { values, default }, doc)
    }

    /// The same declaration, required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The same declaration, with problem messages saying `expected` is what a valid value
    /// looks like.
    ///
    /// ```
    /// use posture_settings::Setting;
    /// const PORT: Setting = Setting::number("PORT", 9443, 0, 65_535, "ports", "where to listen")
    ///     .expecting("a TCP port from 1 to 65535 (0 picks a free one)");
    /// assert_eq!(PORT.expected(), "a TCP port from 1 to 65535 (0 picks a free one)");
    /// ```
    pub const fn expecting(mut self, expected: &'static str) -> Self {
        self.expecting = Some(expected);
        self
    }

    /// The same text, path or URL declaration, read as `value` when unset: the readers return
    /// it, the summary and the README table show it as the default. (Other kinds declare
    /// their defaults in their constructors.)
    ///
    /// ```
    /// use posture_settings::{Reader, Setting};
    /// const URL: Setting = Setting::url("ACME_URL", "the Acme API URL")
    ///     .defaulting_to("https://api.acme.example");
    /// assert_eq!(URL.default_text().as_deref(), Some("https://api.acme.example"));
    /// let mut reader = Reader::new(&|_| None);
    /// assert_eq!(reader.required_text(&URL).as_deref(), Some("https://api.acme.example"));
    /// ```
    pub const fn defaulting_to(mut self, value: &'static str) -> Self {
        self.fallback = Some(value);
        self
    }

    /// The same declaration, optional.
    pub const fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Whether the value is a secret, never shown.
    pub const fn is_secret(&self) -> bool {
        matches!(self.kind, Kind::Secret { .. })
    }

    /// The variable naming a file that holds the secret, for secrets.
    pub const fn file_form(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Secret { file } => Some(file),
            _ => None,
        }
    }

    /// The variable's names: its own and, for a secret, its `_FILE` form.
    ///
    /// ```
    /// use posture_settings::Setting;
    /// let token = Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "the API token");
    /// assert_eq!(token.names().collect::<Vec<_>>(), ["ACME_TOKEN", "ACME_TOKEN_FILE"]);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &'static str> + use<> {
        std::iter::once(self.name).chain(self.file_form())
    }

    /// The default as text, when there is one.
    pub fn default_text(&self) -> Option<String> {
        match self.kind {
            Kind::Flag { default } => Some(u8::from(default).to_string()),
            Kind::Seconds { default, .. } | Kind::Number { default, .. } => {
                Some(default.to_string())
            }
            Kind::Choice { default, .. } => default.map(str::to_owned),
            Kind::Text | Kind::List | Kind::Path | Kind::Url => self.fallback.map(str::to_owned),
            Kind::Secret { .. } => None,
        }
    }

    /// What a valid value looks like, as problem messages say it.
    pub fn expected(&self) -> String {
        if let Some(expected) = self.expecting {
            return expected.to_owned();
        }
        match self.kind {
            Kind::Flag { .. } => BOOL_EXPECTED.to_owned(),
            Kind::Seconds { min, max, .. } => seconds_expected(min, max),
            Kind::Number { min, max, unit, .. } => {
                format!("a whole number of {unit} from {min} to {max}")
            }
            Kind::Choice { values, .. } => crate::one_of(values),
            Kind::Secret { file } if !self.required => format!("{} (or {file})", self.doc),
            Kind::Text | Kind::Secret { .. } | Kind::List | Kind::Path | Kind::Url => {
                self.doc.to_owned()
            }
        }
    }
}

impl Setting {
    /// Checks text given in code (a builder's argument, not a variable) as
    /// [`Reader::parsed`] checks the variable: trimmed, not empty, and accepted by `parse`,
    /// with the problem the variable would get.
    ///
    /// ```
    /// use posture_settings::Setting;
    /// const GROUP: Setting = Setting::text("ACME_GROUP", "a group ID (digits)");
    /// let digits = |text: &str| text.parse::<u32>().map_err(|_| GROUP.expected());
    /// assert_eq!(GROUP.given(" 42 ", digits), Ok(42));
    /// assert_eq!(
    ///     GROUP.given("ops", digits).unwrap_err().to_string(),
    ///     "ACME_GROUP=\"ops\" is invalid: expected a group ID (digits)"
    /// );
    /// assert!(GROUP.given("", digits).is_err());
    /// ```
    pub fn given<T>(
        &self,
        text: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigProblem> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConfigProblem::missing(self.name, self.expected()));
        }
        parse(text).map_err(|expected| ConfigProblem::invalid(self.name, text, expected))
    }

    /// Checks a number given in code (a builder's value, not a variable) against the declared
    /// bounds, with the same problem a variable with that value gets. Kinds without bounds
    /// accept anything.
    ///
    /// ```
    /// use posture_settings::Setting;
    /// const RATE: Setting = Setting::number("ACME_RATE", 50, 1, 50, "requests a second", "rate limit");
    /// assert_eq!(RATE.check(8), Ok(8));
    /// assert_eq!(
    ///     RATE.check(51).unwrap_err().to_string(),
    ///     "ACME_RATE=\"51\" is invalid: expected a whole number of requests a second from 1 to 50"
    /// );
    /// ```
    pub fn check(&self, value: u64) -> Result<u64, ConfigProblem> {
        match self.kind {
            Kind::Seconds { min, max, .. } | Kind::Number { min, max, .. }
                if !(min..=max).contains(&value) =>
            {
                Err(ConfigProblem::invalid(
                    self.name,
                    &value.to_string(),
                    self.expected(),
                ))
            }
            _ => Ok(value),
        }
    }

    /// Checks a duration given in code against the declared bounds in seconds (fractions
    /// allowed between them), with the same problem a variable gets.
    ///
    /// ```
    /// use std::time::Duration;
    /// use posture_settings::Setting;
    /// const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 86_400, "cache lifetime");
    /// assert!(TTL.check_duration(Duration::from_millis(1500)).is_ok());
    /// assert!(TTL.check_duration(Duration::from_secs(86_401)).is_err());
    /// ```
    pub fn check_duration(&self, value: Duration) -> Result<Duration, ConfigProblem> {
        match self.kind {
            Kind::Seconds { min, max, .. } | Kind::Number { min, max, .. }
                if value < Duration::from_secs(min) || value > Duration::from_secs(max) =>
            {
                Err(ConfigProblem::invalid(
                    self.name,
                    &value.as_secs_f64().to_string(),
                    self.expected(),
                ))
            }
            _ => Ok(value),
        }
    }
}

/// Checks that a parser agrees with the declarations, each value tried on top of `base` (a
/// set of variables the parser accepts): for every number or number of seconds, its bounds
/// are accepted and the values just outside them and a word are refused naming the variable;
/// every flag accepts `1` and `0` and refuses `maybe`; every choice refuses a value it does
/// not list; a URL refuses `not a url`, a path a file that is not there, and a
/// secret's `_FILE` form (the inline form unset) a file that is not there, each naming its
/// variable. `parse` runs the parser. Returns one line per disagreement, so a test asserts
/// the list is empty.
///
/// ```
/// use posture_settings::{Reader, Setting, parser_disagreements};
/// const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 600, "cache lifetime");
/// let parse = |get: &dyn Fn(&str) -> Option<String>| {
///     let mut reader = Reader::new(get);
///     reader.seconds(&TTL);
///     reader.finish()
/// };
/// assert!(parser_disagreements(&[TTL], &[], parse).is_empty());
/// // A parser with other bounds than its declaration is caught.
/// const WIDER: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 900, "cache lifetime");
/// assert_eq!(parser_disagreements(&[WIDER], &[], parse).len(), 1);
/// ```
pub fn parser_disagreements(
    settings: &[Setting],
    base: &[(&str, &str)],
    parse: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<(), ConfigProblems>,
) -> Vec<String> {
    // Whether the parser names `named` among its problems, with `set` on top of `base` and
    // `unset` left out; `None` when it accepts the whole configuration.
    let names = |named: &str, set: (&str, &str), unset: Option<&str>| {
        let get = |key: &str| {
            if key == set.0 {
                Some(set.1.to_owned())
            } else if Some(key) == unset {
                None
            } else {
                base.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        match parse(&get) {
            Ok(()) => None,
            Err(problems) => Some(problems.problems().iter().any(|p| p.variable == named)),
        }
    };
    let mut disagreements = Vec::new();
    for setting in settings {
        let name = setting.name;
        let (accepted, refused): (Vec<String>, Vec<String>) = match setting.kind {
            Kind::Seconds { min, max, .. } | Kind::Number { min, max, .. } => {
                // No value is above `u64::MAX`.
                let mut refused: Vec<String> = max
                    .checked_add(1)
                    .map(|n| n.to_string())
                    .into_iter()
                    .collect();
                refused.push("soon".to_owned());
                if min > 0 {
                    refused.push((min - 1).to_string());
                }
                (vec![min.to_string(), max.to_string()], refused)
            }
            Kind::Flag { .. } => (
                vec!["1".to_owned(), "0".to_owned()],
                vec!["maybe".to_owned()],
            ),
            // Whether a listed value is accepted may depend on other variables (a signature
            // algorithm only with a certificate): only the refusal is checked.
            Kind::Choice { .. } => (Vec::new(), vec!["none-of-these".to_owned()]),
            Kind::Url => (Vec::new(), vec!["not a url".to_owned()]),
            Kind::Path => (Vec::new(), vec![MISSING_FILE.to_owned()]),
            Kind::Secret { file } => {
                // The file form, with the inline form unset: a file that is not there.
                if names(file, (file, MISSING_FILE), Some(name)) != Some(true) {
                    disagreements.push(format!(
                        "{file}={MISSING_FILE} names no readable file but the parser does not name it"
                    ));
                }
                continue;
            }
            Kind::Text | Kind::List => continue,
        };
        for value in accepted {
            if names(name, (name, &value), None) == Some(true) {
                disagreements.push(format!(
                    "{name}={value} is declared valid but the parser refuses it"
                ));
            }
        }
        for value in refused {
            if names(name, (name, &value), None) != Some(true) {
                disagreements.push(format!(
                    "{name}={value} is declared invalid but the parser does not name it"
                ));
            }
        }
    }
    disagreements
}

/// A path no test machine has, for the checks that a path variable names a readable file.
const MISSING_FILE: &str = "/nonexistent/posture-settings/missing";

/// Everything on which a parser and its declarations disagree: variables it reads that are
/// not declared (besides `shared` ones such as the server's `TIMEOUT`), declared ones it never
/// reads, and bounds it does not enforce as declared ([`parser_disagreements`]). A provider's
/// test asserts the list is empty.
///
/// ```
/// use posture_settings::{Reader, Setting, declaration_mismatches};
/// const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 600, "cache lifetime");
/// let parse = |get: &dyn Fn(&str) -> Option<String>| {
///     let mut reader = Reader::new(get);
///     reader.seconds(&TTL);
///     let _ = reader.value("TIMEOUT");
///     reader.finish()
/// };
/// assert!(declaration_mismatches(&[TTL], &["TIMEOUT"], &[], parse).is_empty());
/// assert_eq!(declaration_mismatches(&[TTL], &[], &[], parse), ["TIMEOUT is read but not declared"]);
/// ```
pub fn declaration_mismatches(
    settings: &[Setting],
    shared: &[&str],
    base: &[(&str, &str)],
    parse: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<(), ConfigProblems>,
) -> Vec<String> {
    let asked = variables_read(|get| {
        let _ = parse(get);
    });
    let declared = variable_names(settings);
    let mut mismatches: Vec<String> = asked
        .iter()
        .filter(|name| !declared.contains(&name.as_str()) && !shared.contains(&name.as_str()))
        .map(|name| format!("{name} is read but not declared"))
        .collect();
    mismatches.extend(
        declared
            .iter()
            .filter(|name| !asked.contains(**name))
            .map(|name| format!("{name} is declared but never read")),
    );
    mismatches.extend(parser_disagreements(settings, base, parse));
    mismatches
}

/// What a number of seconds from `min` to `max` must be; when `min` is 0, saying that 0
/// disables.
///
/// ```
/// assert_eq!(posture_settings::seconds_expected(1, 60), "a whole number of seconds from 1 to 60");
/// ```
pub fn seconds_expected(min: u64, max: u64) -> String {
    let zero = if min == 0 { " (0 disables)" } else { "" };
    format!("a whole number of seconds from {min} to {max}{zero}")
}

/// Go's `strconv.ParseBool` spellings, which the Go version accepted for its 0/1 flags.
///
/// ```
/// assert_eq!(posture_settings::parse_bool("True"), Some(true));
/// assert_eq!(posture_settings::parse_bool("0"), Some(false));
/// assert_eq!(posture_settings::parse_bool("yes"), None);
/// ```
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A comma-separated list: items trimmed, empty items dropped.
///
/// ```
/// assert_eq!(posture_settings::split_list(" a, ,b "), ["a", "b"]);
/// ```
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads a file of at most [`MAX_SECRET_FILE_BYTES`] as UTF-8, whole. On failure, returns
/// the reason, never the content.
pub fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|err| err.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    // The size first: the byte past the cap may cut a character (or the file be binary), and
    // the reason is its size, not its encoding.
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!("larger than {MAX_SECRET_FILE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "stream did not contain valid UTF-8".to_owned())
}

/// Reads a file holding one secret: at most [`MAX_SECRET_FILE_BYTES`], one trailing newline
/// (`\n` or `\r\n`) removed, not empty or white space only. On failure, returns the reason
/// (never the content).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("posture-settings-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("token");
/// std::fs::write(&path, "s3cret\n").unwrap();
/// assert_eq!(posture_settings::read_secret_file(&path).unwrap(), "s3cret");
/// std::fs::write(&path, "\n").unwrap();
/// assert_eq!(posture_settings::read_secret_file(&path).unwrap_err(), "the file is empty");
/// std::fs::write(&path, " \n\n").unwrap();
/// assert_eq!(posture_settings::read_secret_file(&path).unwrap_err(), "the file is empty");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let mut text = read_capped(path)?;
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
    } else if text.ends_with('\n') {
        text.truncate(text.len() - 1);
    }
    if text.trim().is_empty() {
        return Err("the file is empty".to_owned());
    }
    Ok(text)
}

/// Reads variables by their declarations, collecting every problem rather than stopping at
/// the first. Each getter returns `None` when the value was refused (the problem is kept);
/// optional values come as `Option<Option<T>>`.
///
/// ```
/// use posture_settings::{Reader, Setting};
///
/// const URL: Setting = Setting::url("ACME_URL", "the tenant URL, such as https://acme.example.com").required();
/// const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 86_400, "how long an answer is cached");
/// const TOKEN: Setting = Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "the API token");
///
/// let get = |name: &str| match name {
///     "ACME_URL" => Some("https://acme.example.com".to_owned()),
///     "ACME_CACHE_TTL" => Some("soon".to_owned()),
///     _ => None,
/// };
/// let mut reader = Reader::new(&get);
/// assert_eq!(reader.required_text(&URL).as_deref(), Some("https://acme.example.com"));
/// assert_eq!(reader.seconds(&TTL), None);
/// assert_eq!(reader.required_secret(&TOKEN), None);
/// let problems = reader.finish().unwrap_err();
/// assert_eq!(problems.to_string().lines().collect::<Vec<_>>(), [
///     "ACME_CACHE_TTL=\"soon\" is invalid: expected a whole number of seconds from 0 to 86400 (0 disables)",
///     "ACME_TOKEN is not set: expected the API token (or ACME_TOKEN_FILE)",
/// ]);
/// ```
pub struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<ConfigProblem>,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl<'a> Reader<'a> {
    /// Reads through `get`, which returns a variable's value, or `None` when unset.
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            get,
            problems: Vec::new(),
        }
    }

    /// A variable's value, trimmed; `None` when unset or empty.
    pub fn value(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Keeps a problem found by the caller's own checks.
    pub fn problem(&mut self, problem: ConfigProblem) {
        self.problems.push(problem);
    }

    /// Keeps several problems.
    pub fn problems_from(&mut self, problems: impl IntoIterator<Item = ConfigProblem>) {
        self.problems.extend(problems);
    }

    /// Whether a problem has been found so far.
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// `Ok` when every value was accepted, else every problem, in the order found.
    pub fn finish(self) -> Result<(), ConfigProblems> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigProblems::new(self.problems))
        }
    }

    /// Ends reading: every problem found, or else what `build` makes of the values read.
    /// A value the reader gave as `None` always came with a problem, so `build` can take
    /// each with `?`; should one not have, the result is still an error, never a default.
    ///
    /// ```
    /// use posture_settings::{Reader, Setting};
    /// const URL: Setting = Setting::url("ACME_URL", "the tenant URL").required();
    /// const ENRICH: Setting = Setting::flag("ACME_ENRICH", true, "return enrichment data");
    ///
    /// let read = |get: &dyn Fn(&str) -> Option<String>| {
    ///     let mut reader = Reader::new(get);
    ///     let url = reader.required_text(&URL);
    ///     let enrich = reader.flag(&ENRICH);
    ///     reader.finish_with(|| Some((url?, enrich?)))
    /// };
    /// assert_eq!(
    ///     read(&|name| (name == "ACME_URL").then(|| "https://acme.example.com".to_owned())),
    ///     Ok(("https://acme.example.com".to_owned(), true))
    /// );
    /// let problems = read(&|name| (name == "ACME_ENRICH").then(|| "maybe".to_owned())).unwrap_err();
    /// assert_eq!(problems.problems().len(), 2);
    /// ```
    pub fn finish_with<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ConfigProblems> {
        self.finish()?;
        // A reader that returned None without a problem is a bug in the caller; say so rather
        // than fail without a word.
        build().ok_or_else(|| {
            ConfigProblems::one(ConfigProblem::missing(
                "a setting",
                "every value to be read or to come with a problem (a bug in this configuration's parser)",
            ))
        })
    }

    /// The problems found so far, leaving none.
    pub fn take_problems(&mut self) -> Vec<ConfigProblem> {
        std::mem::take(&mut self.problems)
    }

    /// Optional text (also paths and URLs, unparsed): its declared default when unset
    /// ([`Setting::defaulting_to`]), else `Some(None)`, or `None` when required.
    pub fn text(&mut self, setting: &Setting) -> Option<Option<String>> {
        let value = self
            .value(setting.name)
            .or_else(|| setting.fallback.map(str::to_owned));
        match value {
            Some(text) => Some(Some(text)),
            None if setting.required => {
                self.problems
                    .push(ConfigProblem::missing(setting.name, setting.expected()));
                None
            }
            None => Some(None),
        }
    }

    /// Required text: its declared default when unset, else `None` (with a problem).
    pub fn required_text(&mut self, setting: &Setting) -> Option<String> {
        self.required_parsed(setting, |text| Ok(text.to_owned()))
    }

    /// A value checked by `parse`, which returns it or says what a valid value looks like:
    /// `Some(None)` when unset and optional; `None`, with a problem, when required and unset
    /// or when `parse` refused it (the problem names the variable, shows the value as problems
    /// do, and says `parse`'s expectation).
    ///
    /// ```
    /// use posture_settings::{Reader, Setting};
    /// const GROUP: Setting = Setting::text("ACME_GROUP", "a group ID (digits)");
    /// let digits = |text: &str| text.parse::<u32>().map_err(|_| GROUP.expected());
    ///
    /// let get = |name: &str| (name == "ACME_GROUP").then(|| "ops".to_owned());
    /// let mut reader = Reader::new(&get);
    /// assert_eq!(reader.parsed(&GROUP, digits), None);
    /// assert_eq!(
    ///     reader.finish().unwrap_err().to_string(),
    ///     "ACME_GROUP=\"ops\" is invalid: expected a group ID (digits)"
    /// );
    /// assert_eq!(Reader::new(&|_| None).parsed(&GROUP, digits), Some(None));
    /// ```
    pub fn parsed<T>(
        &mut self,
        setting: &Setting,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        let Some(text) = self.text(setting)? else {
            return Some(None);
        };
        match parse(&text) {
            Ok(value) => Some(Some(value)),
            Err(expected) => {
                self.problems
                    .push(ConfigProblem::invalid(setting.name, &text, expected));
                None
            }
        }
    }

    /// A comma-separated list of a spelled enum's values ([`spelled_list`](crate::spelled_list):
    /// `names` are its spellings, `one` names a single value), or `default` when unset; `None`
    /// (with a problem) when refused.
    ///
    /// ```
    /// use posture_settings::{Reader, Setting};
    /// const DAYS: Setting = Setting::list("ACME_DAYS", "days of the week, comma-separated");
    /// posture_settings::spelled_enum! {
    ///     /// A working day.
    ///     #[derive(Clone, Copy, Debug, Eq, PartialEq)]
    ///     pub enum Day {
    ///         /// Monday.
    ///         Mon = "mon",
    ///         /// Friday.
    ///         Fri = "fri",
    ///     }
    ///     /// Not a day.
    ///     pub struct UnknownDay("day");
    ///     parse: any_case
    /// }
    /// let get = |_: &str| Some("Fri, mon".to_owned());
    /// let mut reader = Reader::new(&get);
    /// let days = reader.spelled_list(&DAYS, &Day::NAMES, "day", Vec::new);
    /// assert_eq!(days, Some(vec![Day::Fri, Day::Mon]));
    /// let mut unset = Reader::new(&|_| None);
    /// let days = unset.spelled_list(&DAYS, &Day::NAMES, "day", || vec![Day::Mon]);
    /// assert_eq!(days, Some(vec![Day::Mon]));
    /// ```
    pub fn spelled_list<T: PartialEq + std::str::FromStr>(
        &mut self,
        setting: &Setting,
        names: &[&str],
        one: &str,
        default: impl FnOnce() -> Vec<T>,
    ) -> Option<Vec<T>> {
        self.parsed(setting, |text| crate::spelled_list(text, names, one))
            .map(|list| list.unwrap_or_else(default))
    }

    /// [`parsed`](Self::parsed) for a value that must be set, whether or not its declaration
    /// says so: `None` (with a problem) when it is unset, or when `parse` refused it.
    pub fn required_parsed<T>(
        &mut self,
        setting: &Setting,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.parsed(setting, parse)? {
            Some(value) => Some(value),
            None => {
                self.problems
                    .push(ConfigProblem::missing(setting.name, setting.expected()));
                None
            }
        }
    }

    /// A path that must name an existing file: `Some(None)` when unset and optional, `None`
    /// (with a problem) when required and unset, or when no file is there.
    pub fn file(&mut self, setting: &Setting) -> Option<Option<std::path::PathBuf>> {
        let text = self.text(setting)?;
        let Some(text) = text else {
            return Some(None);
        };
        let path = std::path::PathBuf::from(&text);
        if path.is_file() {
            Some(Some(path))
        } else {
            self.problems.push(ConfigProblem::invalid(
                setting.name,
                &text,
                format!("{}; no readable file is there", setting.expected()),
            ));
            None
        }
    }

    /// A flag; its default when unset.
    pub fn flag(&mut self, setting: &Setting) -> Option<bool> {
        let default = match setting.kind {
            Kind::Flag { default } => default,
            _ => false,
        };
        match self.value(setting.name) {
            None => Some(default),
            Some(text) => parse_bool(&text).or_else(|| {
                self.problems
                    .push(ConfigProblem::invalid(setting.name, &text, BOOL_EXPECTED));
                None
            }),
        }
    }

    /// A whole number within the declared bounds; the default when unset.
    pub fn number(&mut self, setting: &Setting) -> Option<u64> {
        let (default, min, max) = match setting.kind {
            Kind::Seconds { default, min, max }
            | Kind::Number {
                default, min, max, ..
            } => (default, min, max),
            _ => (0, 0, u64::MAX),
        };
        match self.value(setting.name) {
            None => Some(default),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Some(n),
                _ => {
                    self.problems.push(ConfigProblem::invalid(
                        setting.name,
                        &text,
                        setting.expected(),
                    ));
                    None
                }
            },
        }
    }

    /// A number of seconds within the declared bounds; the default when unset.
    pub fn seconds(&mut self, setting: &Setting) -> Option<Duration> {
        self.number(setting).map(Duration::from_secs)
    }

    /// A comma-separated list; empty when unset.
    pub fn list(&self, setting: &Setting) -> Vec<String> {
        self.value(setting.name)
            .as_deref()
            .map(split_list)
            .unwrap_or_default()
    }

    /// One of the declared words; the default when unset.
    pub fn choice(&mut self, setting: &Setting) -> Option<&'static str> {
        let Kind::Choice { values, default } = setting.kind else {
            return None;
        };
        match self.value(setting.name) {
            None => default.or_else(|| {
                self.problems
                    .push(ConfigProblem::missing(setting.name, setting.expected()));
                None
            }),
            Some(text) => values
                .iter()
                .copied()
                .find(|value| value.eq_ignore_ascii_case(&text))
                .or_else(|| {
                    self.problems.push(ConfigProblem::invalid(
                        setting.name,
                        &text,
                        setting.expected(),
                    ));
                    None
                }),
        }
    }

    /// A secret, inline (taken as it is, untrimmed) or from its `_FILE` form (read with
    /// [`read_secret_file`]), not both. When neither is set (a blank value counts as unset):
    /// `Some(None)` if it is declared optional, else `None` with a problem.
    pub fn secret(&mut self, setting: &Setting) -> Option<Option<String>> {
        let file_variable = setting.file_form().unwrap_or("");
        let inline = (self.get)(setting.name).filter(|v| !v.trim().is_empty());
        let file = self.value(file_variable);
        match (inline, file) {
            (Some(secret), None) => Some(Some(secret)),
            (None, Some(path)) => match read_secret_file(Path::new(&path)) {
                Ok(secret) => Some(Some(secret)),
                Err(reason) => {
                    self.problems.push(ConfigProblem::invalid(
                        file_variable,
                        &path,
                        format!("a readable file holding {} ({reason})", setting.doc),
                    ));
                    None
                }
            },
            (Some(_), Some(_)) => {
                self.problems.push(ConfigProblem::secret(
                    setting.name,
                    format!("either {} or {file_variable}, not both", setting.name),
                ));
                None
            }
            (None, None) if setting.required => {
                self.problems.push(ConfigProblem::missing(
                    setting.name,
                    format!("{} (or {file_variable})", setting.doc),
                ));
                None
            }
            (None, None) => Some(None),
        }
    }

    /// A required secret: `None` (with a problem) when neither form is set.
    pub fn required_secret(&mut self, setting: &Setting) -> Option<String> {
        self.secret(&setting.required())?
    }
}

/// `NAME=value` for every declared variable that is set, secrets shown as `(set, not
/// shown)`, for a `check-config` summary.
///
/// ```
/// use posture_settings::{Setting, summary};
/// const SETTINGS: &[Setting] = &[
///     Setting::url("ACME_URL", "the tenant URL"),
///     Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "the API token"),
///     Setting::seconds("ACME_CACHE_TTL", 60, 0, 86_400, "cache lifetime"),
/// ];
/// let get = |name: &str| match name {
///     "ACME_URL" => Some("https://acme.example.com".to_owned()),
///     "ACME_TOKEN" => Some("s3cret".to_owned()),
///     _ => None,
/// };
/// assert_eq!(summary(SETTINGS, &get), [
///     "ACME_URL=https://acme.example.com",
///     "ACME_TOKEN=(set, not shown)",
///     "ACME_CACHE_TTL=60 s (default)",
/// ]);
/// ```
pub fn summary(settings: &[Setting], get: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let reader = Reader::new(get);
    settings
        .iter()
        .filter_map(|setting| {
            let unit = match setting.kind {
                Kind::Seconds { .. } => " s",
                _ => "",
            };
            let set = setting.names().find_map(|name| reader.value(name));
            match (set, setting.is_secret()) {
                (Some(_), true) => Some(format!("{}=(set, not shown)", setting.name)),
                // As problems show values: a URL's user information may be a credential, an
                // email address is not.
                (Some(value), false) => Some(format!(
                    "{}={}{unit}",
                    setting.name,
                    crate::problem::shown_value(setting.name, &value)
                )),
                (None, _) => setting
                    .default_text()
                    .map(|default| format!("{}={default}{unit} (default)", setting.name)),
            }
        })
        .collect()
}

/// A Markdown table of the declared variables (name, default, description), as the READMEs
/// show them; their tests compare the two.
///
/// ```
/// use posture_settings::{Setting, markdown_table};
/// const SETTINGS: &[Setting] = &[Setting::flag("ACME_ENRICH", true, "return enrichment data")];
/// assert_eq!(markdown_table(SETTINGS), "\
/// | Variable | Default | Description |
/// |---|---|---|
/// | `ACME_ENRICH` | `1` | return enrichment data |
/// ");
/// ```
pub fn markdown_table(settings: &[Setting]) -> String {
    let mut table = String::from("| Variable | Default | Description |\n|---|---|---|\n");
    for setting in settings {
        let name = match setting.file_form() {
            Some(file) => format!("`{}` / `{file}`", setting.name),
            None => format!("`{}`", setting.name),
        };
        let default = match (setting.default_text(), setting.required) {
            (Some(default), _) => format!("`{default}`"),
            (None, true) => "required".to_owned(),
            (None, false) => String::new(),
        };
        table.push_str(&format!("| {name} | {default} | {} |\n", setting.doc));
    }
    table
}

/// Every variable name the declarations use (`_FILE` forms included), for fuzzing, property
/// tests and warnings about unknown variables.
pub fn variable_names(settings: &[Setting]) -> Vec<&'static str> {
    settings.iter().flat_map(Setting::names).collect()
}

/// The names of the variables `read` asks for, for a test that a crate's declarations
/// match what its parser reads. The values given are all unset.
///
/// ```
/// use posture_settings::{Reader, Setting, variables_read};
/// const URL: Setting = Setting::url("ACME_URL", "the tenant URL");
/// let asked = variables_read(|get| {
///     let mut reader = Reader::new(get);
///     let _ = reader.text(&URL);
///     let _ = reader.value("ACME_UNDECLARED");
/// });
/// assert_eq!(asked.iter().map(String::as_str).collect::<Vec<_>>(), ["ACME_UNDECLARED", "ACME_URL"]);
/// ```
pub fn variables_read(
    read: impl FnOnce(&dyn Fn(&str) -> Option<String>),
) -> std::collections::BTreeSet<String> {
    let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    read(&|name: &str| {
        asked.borrow_mut().insert(name.to_owned());
        None
    });
    asked.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: &[Setting] = &[
        Setting::url("ACME_URL", "the tenant URL"),
        Setting::text("ACME_EMAIL", "the administrator's email"),
        Setting::text("ACME_PROXY", "a proxy URL"),
    ];

    #[test]
    fn a_parser_that_lets_a_bad_value_through_is_caught_for_every_kind() {
        const SETTINGS: &[Setting] = &[
            Setting::seconds("A_TTL", 60, 0, 600, "a lifetime"),
            Setting::choice("A_MODE", &["x", "y"], Some("x"), "a mode"),
            Setting::url("A_URL", "a URL"),
            Setting::path("A_PATH", "a file"),
            Setting::secret("A_TOKEN", "A_TOKEN_FILE", "a token").optional(),
        ];
        // Reads every variable, and refuses nothing: a disagreement for each kind.
        let lenient = |get: &dyn Fn(&str) -> Option<String>| {
            for name in variable_names(SETTINGS) {
                let _ = get(name);
            }
            Ok(())
        };
        assert_eq!(
            parser_disagreements(SETTINGS, &[], lenient),
            [
                "A_TTL=601 is declared invalid but the parser does not name it",
                "A_TTL=soon is declared invalid but the parser does not name it",
                "A_MODE=none-of-these is declared invalid but the parser does not name it",
                "A_URL=not a url is declared invalid but the parser does not name it",
                "A_PATH=/nonexistent/posture-settings/missing is declared invalid but the parser \
                 does not name it",
                "A_TOKEN_FILE=/nonexistent/posture-settings/missing names no readable file but \
                 the parser does not name it",
            ]
        );
        // The layer's readers refuse each of them, naming the variable.
        let strict = |get: &dyn Fn(&str) -> Option<String>| {
            let mut reader = Reader::new(get);
            reader.seconds(&SETTINGS[0]);
            reader.choice(&SETTINGS[1]);
            reader.parsed(&SETTINGS[2], |text| {
                if text.contains("://") {
                    Ok(())
                } else {
                    Err("a URL".to_owned())
                }
            });
            reader.file(&SETTINGS[3]);
            reader.secret(&SETTINGS[4]);
            reader.finish()
        };
        assert!(parser_disagreements(SETTINGS, &[], strict).is_empty());
    }

    #[test]
    fn a_secret_is_inline_or_in_its_file_never_blank_never_both() {
        const TOKEN: Setting = Setting::secret("T", "T_FILE", "the token").optional();
        let dir =
            std::env::temp_dir().join(format!("posture-settings-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let path_text = path.to_str().unwrap().to_owned();
        let read = |inline: Option<&str>, file: Option<&str>| {
            let get = |name: &str| match name {
                "T" => inline.map(str::to_owned),
                "T_FILE" => file.map(str::to_owned),
                _ => None,
            };
            let mut reader = Reader::new(&get);
            let optional = reader.secret(&TOKEN);
            let required = reader.secret(&TOKEN.required());
            let problems: Vec<String> = reader
                .take_problems()
                .iter()
                .map(ToString::to_string)
                .collect();
            (optional, required, problems)
        };

        std::fs::write(&path, "from-file\r\n").unwrap();
        let (optional, _, problems) = read(None, Some(&path_text));
        assert_eq!(optional, Some(Some("from-file".to_owned())), "{problems:?}");
        let (optional, _, _) = read(Some(" in line "), None);
        assert_eq!(optional, Some(Some(" in line ".to_owned())));

        // Blank counts as unset: optional gives none, required a problem.
        let (optional, required, problems) = read(Some("  "), Some(" "));
        assert_eq!((optional, required), (Some(None), None));
        assert_eq!(problems, ["T is not set: expected the token (or T_FILE)"]);

        let (optional, _, problems) = read(Some("in-line"), Some(&path_text));
        assert_eq!(optional, None);
        assert_eq!(
            problems[0],
            "T is invalid (value not shown, it is a secret): expected either T or T_FILE, not both"
        );

        std::fs::write(&path, " \n\n").unwrap();
        let (optional, _, problems) = read(None, Some(&path_text));
        assert_eq!(optional, None);
        assert!(
            problems[0].starts_with(&format!("T_FILE=\"{path_text}\" is invalid")),
            "{problems:?}"
        );
        assert!(problems[0].ends_with("(the file is empty)"), "{problems:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_summary_hides_url_credentials_but_shows_an_email() {
        let get = |name: &str| match name {
            "ACME_URL" => Some("admin:pa55@acme.example.com".to_owned()),
            "ACME_EMAIL" => Some("api@school.org".to_owned()),
            "ACME_PROXY" => Some("http://proxy:s3cr3t@10.0.0.1:3128".to_owned()),
            _ => None,
        };
        assert_eq!(
            summary(SETTINGS, &get),
            [
                "ACME_URL=admin:[redacted]@acme.example.com",
                "ACME_EMAIL=api@school.org",
                "ACME_PROXY=http://[redacted]@10.0.0.1:3128",
            ]
        );
    }
}
