//! `ConfigProblem` and `ConfigProblems`: one line each naming the variable, the value (never a
//! secret's, never a URL's credentials) and what was expected.

use posture_settings::{ConfigProblem, ConfigProblems, redact_userinfo};

#[test]
fn an_invalid_value_names_the_variable_the_quoted_value_and_the_expectation() {
    let problem = ConfigProblem::invalid("ACME_TTL", "1h", "a whole number of seconds");
    assert_eq!(problem.variable, "ACME_TTL");
    assert_eq!(problem.value.as_deref(), Some("1h"));
    assert_eq!(problem.expected, "a whole number of seconds");
    assert!(!problem.secret);
    assert_eq!(
        problem.to_string(),
        "ACME_TTL=\"1h\" is invalid: expected a whole number of seconds"
    );
    // Quotes and control characters are escaped, so the value is one unambiguous token.
    assert_eq!(
        ConfigProblem::invalid("A", "say \"hi\"\n", "x").to_string(),
        "A=\"say \\\"hi\\\"\\n\" is invalid: expected x"
    );
    assert_eq!(
        ConfigProblem::invalid("A", "", "x").to_string(),
        "A=\"\" is invalid: expected x"
    );
}

/// Asserts that `problem` shows no value, is a secret's or not as `secret` says, and reads
/// `shown`.
fn assert_without_value(problem: &ConfigProblem, secret: bool, shown: &str) {
    assert_eq!((problem.value.as_deref(), problem.secret), (None, secret));
    assert_eq!(problem.to_string(), shown);
}

#[test]
fn a_missing_value_says_it_is_not_set() {
    assert_without_value(
        &ConfigProblem::missing("ACME_URL", "the tenant URL"),
        false,
        "ACME_URL is not set: expected the tenant URL",
    );
}

#[test]
fn a_secret_problem_never_has_a_value() {
    assert_without_value(
        &ConfigProblem::secret("ACME_TOKEN", "a token of 40 characters"),
        true,
        "ACME_TOKEN is invalid (value not shown, it is a secret): expected a token of 40 \
         characters",
    );
}

#[test]
fn invalid_hides_the_credentials_of_what_may_be_a_url() {
    let cases = [
        // Any variable: text with a `:` before its last `@`.
        (
            "ACME_PROXY",
            "http://proxy:s3cr3t@10.0.0.1:3128",
            "http://[redacted]@10.0.0.1:3128",
        ),
        ("ACME_HOST", "admin:pa55@host", "admin:[redacted]@host"),
        // A `_URL` variable: any `@`.
        (
            "ACME_URL",
            "t0ken@example.api.iru.com",
            "[redacted]@example.api.iru.com",
        ),
        // Not a URL: an email address stays.
        ("ACME_ADMIN", "ops@example.com", "ops@example.com"),
        ("ACME_NOTE", "a@b:c", "a@b:c"),
        // No `@`: nothing to hide.
        (
            "ACME_URL",
            "https://acme.example.com:8443/x",
            "https://acme.example.com:8443/x",
        ),
    ];
    for (variable, value, shown) in cases {
        let problem = ConfigProblem::invalid(variable, value, "x");
        assert_eq!(problem.value.as_deref(), Some(shown), "{value}");
        assert_eq!(
            problem.to_string(),
            format!("{variable}={shown:?} is invalid: expected x")
        );
    }
}

#[test]
fn a_problem_built_by_hand_hides_url_credentials_when_displayed() {
    let mut problem = ConfigProblem::missing("ACME_URL", "x");
    problem.value = Some("https://u:Hunter2@h.example.com".to_owned());
    assert_eq!(
        problem.to_string(),
        "ACME_URL=\"https://[redacted]@h.example.com\" is invalid: expected x"
    );
}

#[test]
fn redact_userinfo_hides_everything_from_the_authority_to_the_last_at() {
    let cases = [
        (
            "https://admin:pa55@jamf.example.com/jamf",
            "https://[redacted]@jamf.example.com/jamf",
        ),
        (
            "https://a:p/w@x@h.example.com",
            "https://[redacted]@h.example.com",
        ),
        (
            "https://user@h.example.com",
            "https://[redacted]@h.example.com",
        ),
        (
            "admin:pa55@jamf.example.com",
            "admin:[redacted]@jamf.example.com",
        ),
        ("t0ken@h.example.com", "[redacted]@h.example.com"),
        ("ssh+git.v2://u:p@h", "ssh+git.v2://[redacted]@h"),
        // Backslashes are slashes to URL parsers.
        ("https:\\\\u:p@h", "https:\\\\[redacted]@h"),
        ("https:/\\u:p@h", "https:/\\[redacted]@h"),
        // Leading white space is kept, and does not hide the scheme.
        ("  https://u:p@h", "  https://[redacted]@h"),
        ("\thttps://u:p@h", "\thttps://[redacted]@h"),
        // Not a scheme: from the start.
        ("1user:pw@host", "[redacted]@host"),
        ("my user:pw@host", "[redacted]@host"),
        (":pw@host", "[redacted]@host"),
        ("  user@host", "  [redacted]@host"),
        // An `@` before the first `:`: no scheme, hidden from the start.
        ("u@h:x", "[redacted]@h:x"),
    ];
    for (text, redacted) in cases {
        assert_eq!(redact_userinfo(text), redacted, "{text:?}");
    }
}

#[test]
fn redact_userinfo_leaves_text_without_an_at_as_it_is() {
    for text in ["https://jamf.example.com", "", "admin:pa55", "  "] {
        let shown = redact_userinfo(text);
        assert!(matches!(shown, std::borrow::Cow::Borrowed(_)), "{text:?}");
        assert_eq!(shown, text);
    }
}

#[test]
fn problems_display_one_per_line_in_order() {
    let problems = ConfigProblems::new(vec![
        ConfigProblem::invalid("A", "1", "one"),
        ConfigProblem::missing("B", "two"),
        ConfigProblem::secret("C", "three"),
    ]);
    assert_eq!(
        problems.to_string(),
        "A=\"1\" is invalid: expected one\nB is not set: expected two\nC is invalid (value not \
         shown, it is a secret): expected three"
    );
    assert_eq!(
        problems
            .problems()
            .iter()
            .map(|p| p.variable.as_str())
            .collect::<Vec<_>>(),
        ["A", "B", "C"]
    );
    let error: &dyn std::error::Error = &problems;
    assert_eq!(error.to_string().lines().count(), 3);
}

#[test]
fn one_problem_displays_without_a_newline() {
    let problem = ConfigProblem::missing("B", "two");
    let one = ConfigProblems::one(problem.clone());
    assert_eq!(one.to_string(), "B is not set: expected two");
    assert_eq!(one.problems(), std::slice::from_ref(&problem));
    assert_eq!(one, ConfigProblems::new(vec![problem]));
    assert_eq!(ConfigProblems::new(Vec::new()).to_string(), "");
}

#[test]
fn from_checks_is_ok_only_when_every_check_passed() {
    assert_eq!(
        ConfigProblems::from_checks([Ok::<u8, ConfigProblem>(1), Ok(2)]),
        Ok(())
    );
    assert_eq!(
        ConfigProblems::from_checks(Vec::<Result<(), ConfigProblem>>::new()),
        Ok(())
    );
    let a = ConfigProblem::invalid("A", "0", "more than 0");
    let c = ConfigProblem::missing("C", "something");
    assert_eq!(
        ConfigProblems::from_checks([Err(a.clone()), Ok(()), Err(c.clone())]),
        Err(ConfigProblems::new(vec![a, c]))
    );
}
