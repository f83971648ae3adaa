//! Environment-style settings for step-ca posture providers and the server, declared once.
//!
//! A crate declares each of its variables once, as a [`Setting`]: its name, type, default,
//! bounds, whether it is a secret (with its `_FILE` form) and a doc line. From that
//! declaration come the parsing ([`Reader`]), problems that name the variable, the value and
//! what was expected ([`ConfigProblem`]), the `check-config` summary with secrets redacted
//! ([`summary`]), the README tables ([`markdown_table`]) and the list of known variables
//! ([`variable_names`]). Secret files are read by one size-capped reader
//! ([`read_secret_file`]).
//!
//! ```
//! use posture_settings::{Reader, Setting};
//!
//! const ENRICH: Setting = Setting::flag("ACME_ENRICH", true, "return enrichment data");
//! let get = |name: &str| (name == "ACME_ENRICH").then(|| "0".to_owned());
//! let mut reader = Reader::new(&get);
//! assert_eq!(reader.flag(&ENRICH), Some(false));
//! assert!(reader.finish().is_ok());
//! ```

mod cases;
mod declare;
mod problem;
mod setting;
mod spelled;
mod vars;

pub use cases::{EnvCases, Lookup};
pub use problem::{ConfigProblem, ConfigProblems, redact_userinfo};
pub use setting::{
    BOOL_EXPECTED, Kind, MAX_SECRET_FILE_BYTES, Reader, Setting, declaration_mismatches,
    markdown_table, parse_bool, parser_disagreements, read_capped, read_secret_file,
    seconds_expected, split_list, summary, variable_names, variables_read,
};
pub use spelled::{listed, one_of, spelled_list};
pub use vars::{given, vars};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
