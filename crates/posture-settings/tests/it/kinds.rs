//! Each kind read through `Reader`: accepted values, refused ones with the exact problem
//! (variable, value, expectation), and required, optional and `defaulting_to`.

use std::time::Duration;

use posture_settings::{BOOL_EXPECTED, ConfigProblem, Reader, Setting};

use crate::fixtures::{ENRICH, FORMAT, GROUPS, STRICT, State, WORKERS};
use crate::{read, read_ok, read_refused};

const NAME: Setting = Setting::text("ACME_NAME", "the tenant name");
const URL: Setting = Setting::url(
    "ACME_URL",
    "the tenant URL, such as https://acme.example.com",
);
const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 600, "cache lifetime");
const CA: Setting = Setting::path("ACME_CA", "a PEM file of CA certificates");
const API: Setting = Setting::choice(
    "ACME_API",
    &["auto", "classic", "pro"],
    Some("auto"),
    "which API",
);

/// A URL check as providers write them: something with a scheme.
fn url(text: &str) -> Result<String, String> {
    if text.contains("://") {
        Ok(text.to_owned())
    } else {
        Err(URL.expected())
    }
}

#[test]
fn text_is_trimmed_and_unset_or_blank_text_is_none() {
    assert_eq!(
        read_ok(&[("ACME_NAME", "  Acme Corp \t")], |r| r.text(&NAME)),
        Some(Some("Acme Corp".to_owned()))
    );

    for pairs in [&[][..], &[("ACME_NAME", "")], &[("ACME_NAME", " \t ")]] {
        assert_eq!(read_ok(pairs, |r| r.text(&NAME)), Some(None), "{pairs:?}");
    }
}

#[test]
fn required_text_unset_is_a_problem_naming_the_variable_and_its_doc() {
    assert_eq!(
        read_refused(&[("ACME_NAME", "  ")], |r| r.text(&NAME.required())),
        ["ACME_NAME is not set: expected the tenant name"]
    );

    assert_eq!(
        read_ok(&[("ACME_NAME", "Acme")], |r| r.text(&NAME.required())),
        Some(Some("Acme".to_owned()))
    );
}

#[test]
fn optional_undoes_required() {
    let setting = NAME.required().optional();
    assert!(!setting.required);
    assert_eq!(read_ok(&[], |r| r.text(&setting)), Some(None));
}

#[test]
fn expecting_replaces_the_wording_of_problems() {
    let setting = NAME
        .required()
        .expecting("the name shown in the Acme console");
    let (_, problems) = read(&[], |r| r.text(&setting));
    assert_eq!(
        problems,
        ["ACME_NAME is not set: expected the name shown in the Acme console"]
    );
}

#[test]
fn defaulting_to_stands_in_for_an_unset_value_even_when_required() {
    let setting = URL.defaulting_to("https://api.acme.example").required();
    for pairs in [&[][..], &[("ACME_URL", " ")]] {
        assert_eq!(
            read_ok(pairs, |r| r.text(&setting)),
            Some(Some("https://api.acme.example".to_owned()))
        );
        assert_eq!(
            read_ok(pairs, |r| r.required_text(&setting)).as_deref(),
            Some("https://api.acme.example")
        );
    }
    let (value, _) = read(&[("ACME_URL", "https://eu.acme.example")], |r| {
        r.required_text(&setting)
    });
    assert_eq!(value.as_deref(), Some("https://eu.acme.example"));
}

#[test]
fn required_text_returns_the_value_or_says_it_is_missing_whatever_the_declaration() {
    assert_eq!(
        read_ok(&[("ACME_NAME", " Acme ")], |r| r.required_text(&NAME)).as_deref(),
        Some("Acme")
    );

    // Declared optional, asked for as required: one problem, not two.
    assert_eq!(
        read_refused(&[], |r| r.required_text(&NAME)),
        ["ACME_NAME is not set: expected the tenant name"]
    );
    assert_eq!(
        read_refused(&[], |r| r.required_text(&NAME.required())),
        ["ACME_NAME is not set: expected the tenant name"]
    );
}

#[test]
fn parsed_gives_the_parsed_value_or_the_problem_with_the_parsers_expectation() {
    assert_eq!(
        read_ok(&[("ACME_URL", " https://acme.example.com ")], |r| {
            r.parsed(&URL, url)
        }),
        Some(Some("https://acme.example.com".to_owned()))
    );

    assert_eq!(
        read_refused(&[("ACME_URL", "acme.example.com")], |r| r.parsed(&URL, url)),
        [
            "ACME_URL=\"acme.example.com\" is invalid: expected the tenant URL, such as \
             https://acme.example.com"
        ]
    );

    assert_eq!(read_ok(&[], |r| r.parsed(&URL, url)), Some(None));
}

#[test]
fn required_parsed_gives_the_value_and_refuses_unset_or_invalid() {
    let digits = |text: &str| text.parse::<u32>().map_err(|_| "digits".to_owned());
    assert_eq!(
        read_ok(&[("ACME_NAME", "42")], |r| r.required_parsed(&NAME, digits)),
        Some(42)
    );

    assert_eq!(
        read_refused(&[], |r| r.required_parsed(&NAME, digits)),
        ["ACME_NAME is not set: expected the tenant name"]
    );

    assert_eq!(
        read_refused(&[("ACME_NAME", "x")], |r| r.required_parsed(&NAME, digits)),
        ["ACME_NAME=\"x\" is invalid: expected digits"]
    );
}

#[test]
fn a_refused_url_hides_its_password_but_names_the_variable() {
    let (_, problems) = read(&[("ACME_URL", "admin:pa55w0rd@acme.example.com")], |r| {
        r.parsed(&URL, url)
    });
    assert_eq!(
        problems,
        [
            "ACME_URL=\"admin:[redacted]@acme.example.com\" is invalid: expected the tenant \
             URL, such as https://acme.example.com"
        ]
    );
    let (_, problems) = read(
        &[("ACME_URL", "https://admin:pa55w0rd@acme.example.com")],
        |r| {
            r.parsed(&URL, |_| {
                Err::<(), _>("no credentials in the URL".to_owned())
            })
        },
    );
    assert_eq!(
        problems,
        [
            "ACME_URL=\"https://[redacted]@acme.example.com\" is invalid: expected no \
             credentials in the URL"
        ]
    );
}

#[test]
fn a_flag_takes_go_spellings_trimmed_and_its_default_when_unset() {
    for (text, expected) in [
        ("1", true),
        ("true", true),
        (" True ", true),
        ("0", false),
        ("F", false),
    ] {
        assert_eq!(
            read_ok(&[("ACME_ENRICH", text)], |r| r.flag(&ENRICH)),
            Some(expected),
            "{text:?}"
        );
    }
    assert_eq!(read(&[], |r| r.flag(&ENRICH)), (Some(true), vec![]));
    assert_eq!(read(&[], |r| r.flag(&STRICT)), (Some(false), vec![]));
    assert_eq!(
        read(&[("ACME_STRICT", " ")], |r| r.flag(&STRICT)),
        (Some(false), vec![])
    );
}

#[test]
fn a_flag_refuses_other_words_naming_the_value_and_the_spellings() {
    assert_eq!(
        read_refused(&[("ACME_ENRICH", "yes")], |r| r.flag(&ENRICH)),
        ["ACME_ENRICH=\"yes\" is invalid: expected 0 or 1 (or true/false)"]
    );
    assert_eq!(BOOL_EXPECTED, "0 or 1 (or true/false)");
}

#[test]
fn a_number_is_a_whole_number_within_its_bounds_or_its_default() {
    assert_eq!(read(&[], |r| r.number(&WORKERS)), (Some(4), vec![]));
    assert_eq!(
        read(&[("ACME_WORKERS", " 6 ")], |r| r.number(&WORKERS)),
        (Some(6), vec![])
    );
    for text in ["many", "-1", "2.5", "0x4", "1e1", "99999999999999999999999"] {
        let (value, problems) = read(&[("ACME_WORKERS", text)], |r| r.number(&WORKERS));
        assert_eq!(value, None, "{text:?}");
        assert_eq!(
            problems,
            [format!(
                "ACME_WORKERS={text:?} is invalid: expected a whole number of connections from 1 \
                 to 8"
            )]
        );
    }
}

#[test]
fn seconds_are_a_duration_within_their_bounds_or_the_default() {
    assert_eq!(
        read(&[], |r| r.seconds(&TTL)),
        (Some(Duration::from_secs(60)), vec![])
    );
    assert_eq!(
        read(&[("ACME_CACHE_TTL", "0")], |r| r.seconds(&TTL)),
        (Some(Duration::ZERO), vec![])
    );
    assert_eq!(
        read_refused(&[("ACME_CACHE_TTL", "1h")], |r| r.seconds(&TTL)),
        [
            "ACME_CACHE_TTL=\"1h\" is invalid: expected a whole number of seconds from 0 to 600 \
             (0 disables)"
        ]
    );
}

#[test]
fn a_list_is_split_on_commas_trimmed_without_empty_items() {
    assert_eq!(
        read(&[("ACME_GROUPS", " Staff , ,Macs,, Lab Macs ,")], |r| r
            .list(&GROUPS)),
        (
            vec!["Staff".to_owned(), "Macs".to_owned(), "Lab Macs".to_owned()],
            vec![]
        )
    );
    assert_eq!(
        read(&[("ACME_GROUPS", "Staff")], |r| r.list(&GROUPS)).0,
        ["Staff"]
    );
    assert!(read(&[], |r| r.list(&GROUPS)).0.is_empty());
    assert!(
        read(&[("ACME_GROUPS", " , ,")], |r| r.list(&GROUPS))
            .0
            .is_empty()
    );
}

#[test]
fn a_path_must_name_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ca.pem");
    std::fs::write(&file, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let file_text = file.to_str().unwrap();

    assert_eq!(
        read_ok(&[("ACME_CA", file_text)], |r| r.file(&CA)),
        Some(Some(file.clone()))
    );

    let missing = dir.path().join("missing.pem");
    let missing_text = missing.to_str().unwrap();
    assert_eq!(
        read_refused(&[("ACME_CA", missing_text)], |r| r.file(&CA)),
        [format!(
            "ACME_CA={missing_text:?} is invalid: expected a PEM file of CA certificates; no \
             readable file is there"
        )]
    );

    // A directory is not a file.
    let dir_text = dir.path().to_str().unwrap();
    let (value, problems) = read(&[("ACME_CA", dir_text)], |r| r.file(&CA));
    assert_eq!(value, None);
    assert_eq!(problems.len(), 1, "{problems:?}");

    assert_eq!(read(&[], |r| r.file(&CA)), (Some(None), vec![]));
    assert_eq!(
        read_refused(&[], |r| r.file(&CA.required())),
        ["ACME_CA is not set: expected a PEM file of CA certificates"]
    );
}

#[test]
fn a_choice_ignores_case_and_returns_the_declared_spelling() {
    assert_eq!(
        read(&[("ACME_API", " PRO ")], |r| r.choice(&API)),
        (Some("pro"), vec![])
    );
    assert_eq!(
        read(&[("ACME_API", "Classic")], |r| r.choice(&API)),
        (Some("classic"), vec![])
    );
    assert_eq!(read(&[], |r| r.choice(&API)), (Some("auto"), vec![]));
}

#[test]
fn a_choice_refuses_an_unlisted_value_listing_the_choices() {
    assert_eq!(
        read_refused(&[("ACME_API", "v2")], |r| r.choice(&API)),
        ["ACME_API=\"v2\" is invalid: expected auto, classic or pro"]
    );
}

#[test]
fn a_choice_without_a_default_must_be_set() {
    assert_eq!(
        read_refused(&[], |r| r.choice(&FORMAT)),
        ["ACME_FORMAT is not set: expected json or csv"]
    );
    assert_eq!(
        read(&[("ACME_FORMAT", "csv")], |r| r.choice(&FORMAT)),
        (Some("csv"), vec![])
    );
}

#[test]
fn a_choice_read_from_another_kind_is_none() {
    assert_eq!(read(&[("ACME_NAME", "x")], |r| r.choice(&NAME)).0, None);
}

const STATES: Setting = Setting::list("ACME_STATES", "compliance states, comma-separated");

#[test]
fn a_spelled_list_is_read_in_order_once_each_or_its_default() {
    assert_eq!(
        read_ok(
            &[("ACME_STATES", "Noncompliant, compliant ,noncompliant")],
            |r| r.spelled_list::<State>(&STATES, &State::NAMES, "state", Vec::new),
        ),
        Some(vec![State::Noncompliant, State::Compliant])
    );

    let (value, _) = read(&[], |r| {
        r.spelled_list(&STATES, &State::NAMES, "state", || {
            vec![State::InGracePeriod]
        })
    });
    assert_eq!(value, Some(vec![State::InGracePeriod]));
}

#[test]
fn a_spelled_list_refuses_an_unknown_or_no_value_naming_the_variable() {
    assert_eq!(
        read_refused(&[("ACME_STATES", "compliant, pending")], |r| {
            r.spelled_list::<State>(&STATES, &State::NAMES, "state", Vec::new)
        }),
        [
            "ACME_STATES=\"compliant, pending\" is invalid: expected a comma-separated list of \
             compliant, inGracePeriod, noncompliant (\"pending\" is not one)"
        ]
    );
    assert_eq!(
        read_refused(&[("ACME_STATES", ", ,")], |r| {
            r.spelled_list::<State>(&STATES, &State::NAMES, "state", Vec::new)
        }),
        ["ACME_STATES=\", ,\" is invalid: expected at least one state"]
    );
}

#[test]
fn the_reader_collects_every_problem_in_order() {
    let pairs = [
        ("ACME_WORKERS", "lots"),
        ("ACME_ENRICH", "maybe"),
        ("ACME_API", "v2"),
    ];
    let get = posture_settings::vars(&pairs);
    let mut reader = Reader::new(&get);
    assert!(!reader.has_problems());
    assert_eq!(reader.number(&WORKERS), None);
    assert!(reader.has_problems());
    assert_eq!(reader.flag(&ENRICH), None);
    assert_eq!(reader.choice(&API), None);
    assert_eq!(reader.text(&NAME.required()), None);
    let problems = reader.finish().unwrap_err();
    assert_eq!(
        problems.to_string(),
        "ACME_WORKERS=\"lots\" is invalid: expected a whole number of connections from 1 to 8\n\
         ACME_ENRICH=\"maybe\" is invalid: expected 0 or 1 (or true/false)\n\
         ACME_API=\"v2\" is invalid: expected auto, classic or pro\n\
         ACME_NAME is not set: expected the tenant name"
    );
}

#[test]
fn problems_found_by_the_caller_join_the_readers_in_order() {
    let get = |_: &str| None;
    let mut reader = Reader::new(&get);
    reader.problem(ConfigProblem::invalid("A", "1", "one"));
    assert!(reader.has_problems());
    reader.problems_from([
        ConfigProblem::invalid("B", "2", "two"),
        ConfigProblem::missing("C", "three"),
    ]);
    let taken = reader.take_problems();
    assert_eq!(
        taken
            .iter()
            .map(|p| p.variable.as_str())
            .collect::<Vec<_>>(),
        ["A", "B", "C"]
    );
    assert!(!reader.has_problems());
    assert!(reader.finish().is_ok());
}

#[test]
fn the_reader_debug_shows_its_problems_never_its_lookup() {
    let get = |_: &str| Some("s3cret-value".to_owned());
    let mut reader = Reader::new(&get);
    assert_eq!(format!("{reader:?}"), "Reader { problems: [], .. }");
    reader.problem(ConfigProblem::missing("A", "x"));
    let debug = format!("{reader:?}");
    assert!(
        debug.starts_with("Reader { problems: [ConfigProblem {"),
        "{debug}"
    );
    assert!(debug.contains("\"A\""), "{debug}");
    assert!(!debug.contains("s3cret-value"), "{debug}");
}

#[test]
fn finish_with_builds_only_when_every_value_was_read() {
    let get = posture_settings::vars(&[("ACME_WORKERS", "3")]);
    let mut reader = Reader::new(&get);
    let workers = reader.number(&WORKERS);
    let enrich = reader.flag(&ENRICH);
    assert_eq!(
        reader.finish_with(|| Some((workers?, enrich?))),
        Ok((3, true))
    );

    let get = posture_settings::vars(&[("ACME_WORKERS", "30")]);
    let mut reader = Reader::new(&get);
    let workers = reader.number(&WORKERS);
    let problems = reader
        .finish_with(|| -> Option<u64> { panic!("built despite a problem: {workers:?}") })
        .unwrap_err();
    assert_eq!(problems.problems().len(), 1);
    assert_eq!(problems.problems()[0].variable, "ACME_WORKERS");
}

#[test]
fn finish_with_a_value_missing_without_a_problem_is_an_error_not_a_default() {
    let get = |_: &str| None;
    let mut reader = Reader::new(&get);
    // A choice read from a declaration of another kind gives None without a problem.
    let format = reader.choice(&NAME);
    let problems = reader.finish_with(|| format).unwrap_err();
    assert_eq!(
        problems.to_string(),
        "a setting is not set: expected every value to be read or to come with a problem (a bug \
         in this configuration's parser)"
    );
}

#[test]
fn value_trims_and_treats_blank_as_unset() {
    let get = posture_settings::vars(&[("A", "  x  "), ("B", " \t\n")]);
    let reader = Reader::new(&get);
    assert_eq!(reader.value("A").as_deref(), Some("x"));
    assert_eq!(reader.value("B"), None);
    assert_eq!(reader.value("C"), None);
}
