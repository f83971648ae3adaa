//! The checks every provider's tests run: `declaration_mismatches` and `parser_disagreements`
//! catch a parser that reads other variables than it declares or does not enforce its
//! declarations (each parser below is wrong on purpose in one way), and `EnvCases` and `vars`.

use std::time::Duration;

use posture_settings::{
    ConfigProblem, ConfigProblems, EnvCases, Lookup, Reader, Setting, declaration_mismatches,
    parse_bool, parser_disagreements,
};

use crate::fixtures::{API, ENRICH, GROUPS, TOKEN, URL};

const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 5, 600, "cache lifetime");
const WORKERS: Setting =
    Setting::number("ACME_WORKERS", 4, 0, 8, "connections", "parallel requests");
const CA: Setting = Setting::path("ACME_CA", "a CA bundle");
const NAME: Setting = Setting::text("ACME_NAME", "a display name");

const SETTINGS: &[Setting] = &[URL, TOKEN, TTL, WORKERS, ENRICH, API, CA, GROUPS, NAME];
/// What every parser below accepts, the token given inline.
const BASE: &[(&str, &str)] = &[
    ("ACME_URL", "https://acme.example.com"),
    ("ACME_TOKEN", "t0ken"),
];
/// What `parser_disagreements` says of `TTL` when the parser refuses both ends of its range.
const TTL_ENDS_REFUSED: [&str; 2] = [
    "ACME_CACHE_TTL=5 is declared valid but the parser refuses it",
    "ACME_CACHE_TTL=600 is declared valid but the parser refuses it",
];
const MISSING: &str = "/nonexistent/posture-settings/missing";

fn url(text: &str) -> Result<(), String> {
    if text.contains("://") {
        Ok(())
    } else {
        Err(URL.expected())
    }
}

/// The parser that runs `read` on a reader over the variables and then finishes it: most
/// parsers below differ only in what they read.
fn reading(read: impl Fn(&mut Reader<'_>)) -> impl Fn(Lookup<'_>) -> Result<(), ConfigProblems> {
    move |get| {
        let mut reader = Reader::new(get);
        read(&mut reader);
        reader.finish()
    }
}

/// Reads every declared variable as declared but `GROUPS`, which one parser below forgets.
fn all_but_groups(reader: &mut Reader<'_>) {
    reader.parsed(&URL, url);
    reader.required_secret(&TOKEN);
    reader.seconds(&TTL);
    reader.number(&WORKERS);
    reader.flag(&ENRICH);
    reader.choice(&API);
    reader.file(&CA);
    reader.text(&NAME);
}

/// Reads every declared variable as declared.
fn correct(get: Lookup<'_>) -> Result<(), ConfigProblems> {
    reading(|reader| {
        all_but_groups(reader);
        reader.list(&GROUPS);
    })(get)
}

/// A parser that reads `ACME_CACHE_TTL` by `ttl` rather than its declaration.
fn ttl_read_as(ttl: Setting) -> impl Fn(Lookup<'_>) -> Result<(), ConfigProblems> {
    reading(move |reader| {
        reader.seconds(&ttl);
    })
}

#[test]
fn a_parser_that_reads_as_declared_has_no_disagreements() {
    assert_eq!(
        parser_disagreements(SETTINGS, BASE, correct),
        Vec::<String>::new()
    );
    // Also without the base: each check looks for its own variable among the problems.
    assert_eq!(
        parser_disagreements(SETTINGS, &[], correct),
        Vec::<String>::new()
    );
    assert_eq!(
        declaration_mismatches(SETTINGS, &[], BASE, correct),
        Vec::<String>::new()
    );
}

#[test]
fn wider_bounds_than_declared_are_caught_at_each_end() {
    let wider = ttl_read_as(Setting::seconds(
        "ACME_CACHE_TTL",
        60,
        0,
        900,
        "cache lifetime",
    ));
    assert_eq!(
        parser_disagreements(&[TTL], &[], wider),
        [
            "ACME_CACHE_TTL=601 is declared invalid but the parser does not name it",
            "ACME_CACHE_TTL=4 is declared invalid but the parser does not name it",
        ]
    );
    let below = ttl_read_as(Setting::seconds(
        "ACME_CACHE_TTL",
        60,
        4,
        600,
        "cache lifetime",
    ));
    assert_eq!(
        parser_disagreements(&[TTL], &[], below),
        ["ACME_CACHE_TTL=4 is declared invalid but the parser does not name it"]
    );
}

#[test]
fn narrower_bounds_than_declared_are_caught_at_each_end() {
    let narrower = ttl_read_as(Setting::seconds(
        "ACME_CACHE_TTL",
        60,
        6,
        599,
        "cache lifetime",
    ));
    assert_eq!(
        parser_disagreements(&[TTL], &[], narrower),
        TTL_ENDS_REFUSED
    );
}

#[test]
fn a_number_from_zero_is_checked_above_only() {
    let loose = reading(|reader| {
        reader.number(&Setting::number("ACME_WORKERS", 4, 0, 9, "connections", ""));
    });
    assert_eq!(
        parser_disagreements(&[WORKERS], &[], loose),
        ["ACME_WORKERS=9 is declared invalid but the parser does not name it"]
    );
    let exact = reading(|reader| {
        reader.number(&WORKERS);
    });
    assert!(parser_disagreements(&[WORKERS], &[], exact).is_empty());
}

#[test]
fn a_problem_that_names_another_variable_does_not_count() {
    let misnamed = reading(|reader| {
        reader.seconds(&TTL);
        let problems = reader.take_problems().into_iter().map(|mut problem| {
            problem.variable = "CACHE_TTL".to_owned();
            problem
        });
        reader.problems_from(problems.collect::<Vec<_>>());
    });
    assert_eq!(
        parser_disagreements(&[TTL], &[], misnamed),
        [
            "ACME_CACHE_TTL=601 is declared invalid but the parser does not name it",
            "ACME_CACHE_TTL=soon is declared invalid but the parser does not name it",
            "ACME_CACHE_TTL=4 is declared invalid but the parser does not name it",
        ]
    );
}

#[test]
fn a_flag_must_take_1_and_0_and_refuse_maybe() {
    let lenient = reading(|reader| {
        let _ = reader
            .value("ACME_ENRICH")
            .map(|text| parse_bool(&text).unwrap_or(false));
    });
    assert_eq!(
        parser_disagreements(&[ENRICH], &[], lenient),
        ["ACME_ENRICH=maybe is declared invalid but the parser does not name it"]
    );
    let words_only = reading(|reader| {
        if let Some(text) = reader.value("ACME_ENRICH")
            && text != "true"
            && text != "false"
        {
            reader.problem(ConfigProblem::invalid(
                "ACME_ENRICH",
                &text,
                "true or false",
            ));
        }
    });
    assert_eq!(
        parser_disagreements(&[ENRICH], &[], words_only),
        [
            "ACME_ENRICH=1 is declared valid but the parser refuses it",
            "ACME_ENRICH=0 is declared valid but the parser refuses it",
        ]
    );
}

#[test]
fn a_choice_url_and_path_must_be_refused_when_invalid() {
    let unchecked = reading(|reader| {
        reader.text(&API);
        reader.text(&URL);
        reader.text(&CA);
    });
    assert_eq!(
        parser_disagreements(&[API, URL, CA], BASE, unchecked),
        [
            "ACME_API=none-of-these is declared invalid but the parser does not name it",
            "ACME_URL=not a url is declared invalid but the parser does not name it",
            format!("ACME_CA={MISSING} is declared invalid but the parser does not name it")
                .as_str(),
        ]
    );
}

#[test]
fn a_secret_file_that_is_not_there_must_be_blamed_on_the_file_variable() {
    let blames_inline = reading(|reader| {
        if reader.secret(&TOKEN).is_none() {
            let _ = reader.take_problems();
            reader.problem(ConfigProblem::secret("ACME_TOKEN", "a readable token"));
        }
    });
    let line =
        format!("ACME_TOKEN_FILE={MISSING} names no readable file but the parser does not name it");
    assert_eq!(
        parser_disagreements(&[TOKEN], BASE, blames_inline),
        std::slice::from_ref(&line)
    );
    // Checked with the inline form unset, though the base sets it.
    let strict = reading(|reader| {
        reader.secret(&TOKEN);
    });
    assert!(parser_disagreements(&[TOKEN], BASE, strict).is_empty());
    let inline_only = |get: Lookup<'_>| {
        let _ = get("ACME_TOKEN");
        Ok(())
    };
    assert_eq!(parser_disagreements(&[TOKEN], BASE, inline_only), [line]);
}

#[test]
fn text_and_lists_have_nothing_to_disagree_on() {
    let ignores = |_: Lookup<'_>| Ok(());
    assert!(parser_disagreements(&[GROUPS, NAME], &[], ignores).is_empty());
}

#[test]
fn a_parser_that_refuses_valid_values_for_its_own_reasons_is_caught() {
    let refuses = reading(|reader| {
        if let Some(text) = reader.value("ACME_CACHE_TTL") {
            reader.problem(ConfigProblem::invalid("ACME_CACHE_TTL", &text, "nothing"));
        }
    });
    assert_eq!(parser_disagreements(&[TTL], &[], refuses), TTL_ENDS_REFUSED);
}

#[test]
fn a_variable_read_but_not_declared_is_a_mismatch_unless_shared() {
    let reads_more = |get: Lookup<'_>| {
        let _ = get("TIMEOUT");
        let _ = get("ACME_EXTRA");
        correct(get)
    };
    assert_eq!(
        declaration_mismatches(SETTINGS, &[], BASE, reads_more),
        [
            "ACME_EXTRA is read but not declared",
            "TIMEOUT is read but not declared",
        ]
    );
    assert_eq!(
        declaration_mismatches(SETTINGS, &["TIMEOUT"], BASE, reads_more),
        ["ACME_EXTRA is read but not declared"]
    );
    assert_eq!(
        declaration_mismatches(SETTINGS, &["TIMEOUT", "ACME_EXTRA"], BASE, reads_more),
        Vec::<String>::new()
    );
    // A shared variable need not be read.
    assert_eq!(
        declaration_mismatches(SETTINGS, &["TIMEOUT", "PORT"], BASE, correct),
        Vec::<String>::new()
    );
}

#[test]
fn a_variable_declared_but_never_read_is_a_mismatch() {
    let forgets_groups = reading(all_but_groups);
    assert_eq!(
        declaration_mismatches(SETTINGS, &[], BASE, forgets_groups),
        ["ACME_GROUPS is declared but never read"]
    );
}

#[test]
fn a_secret_whose_file_form_is_never_read_is_a_mismatch() {
    let inline_only = reading(|reader| {
        let _ = reader.value("ACME_TOKEN");
    });
    assert_eq!(
        declaration_mismatches(&[TOKEN], &[], BASE, inline_only),
        [
            "ACME_TOKEN_FILE is declared but never read".to_owned(),
            format!(
                "ACME_TOKEN_FILE={MISSING} names no readable file but the parser does not name it"
            ),
        ]
    );
}

#[test]
fn declaration_mismatches_lists_undeclared_then_unread_then_disagreements() {
    let wrong = reading(|reader| {
        let _ = reader.value("ACME_TIMEOUT");
        reader.seconds(&Setting::seconds("ACME_CACHE_TTL", 60, 5, 900, ""));
    });
    assert_eq!(
        declaration_mismatches(&[TTL, NAME], &[], &[], wrong),
        [
            "ACME_TIMEOUT is read but not declared",
            "ACME_NAME is declared but never read",
            "ACME_CACHE_TTL=601 is declared invalid but the parser does not name it",
        ]
    );
}

#[derive(Debug, PartialEq)]
struct Config {
    url: String,
    token: String,
    ttl: Duration,
}

fn from_env(get: Lookup<'_>) -> Result<Config, ConfigProblems> {
    let mut reader = Reader::new(get);
    let url = reader.required_text(&URL);
    let token = reader.required_secret(&TOKEN);
    let ttl = reader.seconds(&TTL);
    reader.finish_with(|| {
        Some(Config {
            url: url?,
            token: token?,
            ttl: ttl?,
        })
    })
}

const CASES: EnvCases<'static, Config> = EnvCases::new(
    &[
        ("ACME_URL", "https://acme.example.com"),
        ("ACME_TOKEN", "t0p-s3cret"),
    ],
    "t0p-s3cret",
    from_env,
);

#[test]
fn env_cases_with_replaces_same_names_and_appends_the_rest() {
    assert_eq!(CASES.with(&[]), CASES.minimal);
    assert_eq!(
        CASES.with(&[
            ("ACME_CACHE_TTL", "90"),
            ("ACME_URL", "https://eu.acme.example")
        ]),
        [
            ("ACME_TOKEN", "t0p-s3cret"),
            ("ACME_CACHE_TTL", "90"),
            ("ACME_URL", "https://eu.acme.example"),
        ]
    );
}

#[test]
fn env_cases_parse_exactly_the_pairs_given() {
    assert_eq!(
        CASES.env(CASES.minimal),
        Ok(Config {
            url: "https://acme.example.com".to_owned(),
            token: "t0p-s3cret".to_owned(),
            ttl: Duration::from_secs(60),
        })
    );
    assert_eq!(
        CASES.env_with(&[("ACME_CACHE_TTL", "90")]).map(|c| c.ttl),
        Ok(Duration::from_secs(90))
    );
    assert_eq!(
        CASES.env(&[]).unwrap_err().problems().len(),
        2,
        "the URL and the token are unset"
    );
}

#[test]
fn env_cases_only_problem_gives_the_one_problem_displayed() {
    assert_eq!(
        CASES.only_problem(&CASES.with(&[("ACME_CACHE_TTL", "1h")])),
        "ACME_CACHE_TTL=\"1h\" is invalid: expected a whole number of seconds from 5 to 600"
    );
    assert_eq!(
        CASES.only_problem(&[("ACME_TOKEN", "t0p-s3cret")]),
        "ACME_URL is not set: expected the tenant URL"
    );
}

#[test]
#[should_panic(expected = "the settings should be refused")]
fn env_cases_only_problem_fails_when_the_settings_are_accepted() {
    CASES.only_problem(CASES.minimal);
}

#[test]
#[should_panic(expected = "ACME_URL is not set")]
fn env_cases_only_problem_fails_on_more_than_one_problem() {
    CASES.only_problem(&[]);
}

#[test]
fn env_cases_assertions_pass_on_what_the_parser_says() {
    assert_eq!(
        CASES.refusal("ACME_CACHE_TTL", " 1h "),
        "a whole number of seconds from 5 to 600"
    );
    CASES.assert_refused(&[("ACME_CACHE_TTL", "4", "a whole number of seconds")]);
    CASES.assert_required(&[("ACME_URL", "the tenant URL"), ("ACME_TOKEN", "")]);
    CASES.assert_read(
        "ACME_CACHE_TTL",
        |config| config.ttl,
        &[
            ("90", Duration::from_secs(90)),
            (" 5 ", Duration::from_secs(5)),
        ],
    );
}

#[test]
#[should_panic(expected = "ACME_CACHE_TTL=\"4\": a whole number of seconds from 5 to 600")]
fn env_cases_assert_refused_fails_on_another_expectation() {
    CASES.assert_refused(&[("ACME_CACHE_TTL", "4", "a number of minutes")]);
}

#[test]
#[should_panic(
    expected = "the problem should start \"ACME_CACHE_TTL=\\\"90\\\" is invalid: expected \""
)]
fn env_cases_refusal_fails_when_the_problem_is_not_the_value_given() {
    // The one problem is the unset URL, not the (valid) cache TTL.
    const UNREAD: EnvCases<'static, Config> =
        EnvCases::new(&[("ACME_TOKEN", "t0p-s3cret")], "t0p-s3cret", from_env);
    UNREAD.refusal("ACME_CACHE_TTL", "90");
}

#[test]
#[should_panic(expected = "one problem, one line")]
fn env_cases_refusal_fails_on_a_problem_of_two_lines() {
    fn two_lines(get: Lookup<'_>) -> Result<(), ConfigProblems> {
        let mut reader = Reader::new(get);
        if let Some(value) = reader.value("ACME_NAME") {
            reader.problem(ConfigProblem::invalid(
                "ACME_NAME",
                &value,
                "one line\nthen another",
            ));
        }
        reader.finish()
    }
    const TWO_LINES: EnvCases<'static, ()> = EnvCases::new(&[], "t0p-s3cret", two_lines);
    TWO_LINES.refusal("ACME_NAME", "x");
}

#[test]
#[should_panic(expected = "ACME_URL: the tenant URL")]
fn env_cases_assert_required_fails_on_another_expectation() {
    CASES.assert_required(&[("ACME_URL", "the API token")]);
}

#[test]
#[should_panic(expected = "the settings should be refused")]
fn env_cases_assert_required_fails_for_a_name_not_among_the_minimal_variables() {
    CASES.assert_required(&[("ACME_CACHE_TTL", "")]);
}

#[test]
#[should_panic(expected = "ACME_CACHE_TTL=\"4\" should be accepted")]
fn env_cases_assert_read_fails_when_the_text_is_refused() {
    CASES.assert_read(
        "ACME_CACHE_TTL",
        |config| config.ttl,
        &[("4", Duration::from_secs(4))],
    );
}

#[test]
#[should_panic(expected = "ACME_CACHE_TTL=\"90\"")]
fn env_cases_assert_read_fails_on_another_value() {
    CASES.assert_read(
        "ACME_CACHE_TTL",
        |config| config.ttl,
        &[("90", Duration::from_secs(60))],
    );
}

fn leaky(get: Lookup<'_>) -> Result<(), ConfigProblems> {
    let mut reader = Reader::new(get);
    if let Some(token) = reader.value("ACME_TOKEN") {
        reader.problem(ConfigProblem::invalid(
            "ACME_TOKEN",
            &token,
            "a longer token",
        ));
    }
    reader.finish()
}

#[test]
#[should_panic(expected = "ACME_TOKEN=\"t0p-s3cret\" is invalid")]
fn env_cases_only_problem_fails_when_a_problem_shows_the_secret() {
    const LEAKY: EnvCases<'static, ()> = EnvCases::new(&[], "t0p-s3cret", leaky);
    LEAKY.only_problem(&[("ACME_TOKEN", "t0p-s3cret")]);
}

#[test]
fn vars_gives_the_first_value_of_a_name_and_none_for_others() {
    let get = posture_settings::vars(&[("A", "1"), ("B", ""), ("A", "2")]);
    assert_eq!(get("A").as_deref(), Some("1"));
    assert_eq!(get("B").as_deref(), Some(""));
    assert_eq!(get("C"), None);
    assert_eq!(get("a"), None);
}

#[test]
fn a_number_without_an_upper_bound_is_checked_below_and_with_a_word() {
    const BYTES: Setting = Setting::number("ACME_MAX_BYTES", 0, 1, u64::MAX, "bytes", "a limit");
    let exact = reading(|reader| {
        reader.number(&BYTES);
    });
    assert!(parser_disagreements(&[BYTES], &[], exact).is_empty());
    let from_zero = reading(|reader| {
        reader.number(&Setting::number(
            "ACME_MAX_BYTES",
            0,
            0,
            u64::MAX,
            "bytes",
            "",
        ));
    });
    assert_eq!(
        parser_disagreements(&[BYTES], &[], from_zero),
        ["ACME_MAX_BYTES=0 is declared invalid but the parser does not name it"]
    );
}

#[test]
fn each_value_is_tried_with_the_other_variables_as_the_base_sets_them() {
    const CACHE: Setting = Setting::flag("ACME_CACHE", false, "cache answers");
    // A lifetime may only be set with the cache on.
    let dependent = reading(|reader| {
        let cache = reader.flag(&CACHE);
        let _ = reader.value("ACME_URL");
        if reader.value("ACME_CACHE_TTL").is_some() && cache != Some(true) {
            reader.problem(ConfigProblem::invalid(
                "ACME_CACHE_TTL",
                "set",
                "no lifetime without ACME_CACHE=1",
            ));
        } else {
            reader.seconds(&TTL);
        }
    });
    let base = [
        ("ACME_URL", "https://acme.example.com"),
        ("ACME_CACHE", "1"),
    ];
    assert!(parser_disagreements(&[TTL], &base, &dependent).is_empty());
    assert_eq!(
        parser_disagreements(&[TTL], &[("ACME_CACHE", "0")], dependent),
        TTL_ENDS_REFUSED
    );
}
