//! The small parsers and wordings every provider shares: `parse_bool`, `split_list`,
//! `seconds_expected`, `one_of`, `listed`, `spelled_list` and `spelled_enum!`.

use posture_settings::{listed, one_of, parse_bool, seconds_expected, spelled_list, split_list};

use crate::fixtures::{State, UnknownState};

#[test]
fn parse_bool_accepts_every_go_spelling() {
    for text in ["1", "t", "T", "true", "TRUE", "True"] {
        assert_eq!(parse_bool(text), Some(true), "{text:?}");
    }
    for text in ["0", "f", "F", "false", "FALSE", "False"] {
        assert_eq!(parse_bool(text), Some(false), "{text:?}");
    }
}

#[test]
fn parse_bool_refuses_anything_else() {
    for text in [
        "", "yes", "no", "on", "off", "y", "n", "2", "-1", "tRUE", "fAlse", " 1", "1 ", "01",
        "truee",
    ] {
        assert_eq!(parse_bool(text), None, "{text:?}");
    }
}

#[test]
fn split_list_trims_items_and_drops_empty_ones() {
    assert_eq!(split_list(" a, ,b "), ["a", "b"]);
    assert_eq!(split_list("a,b,c"), ["a", "b", "c"]);
    assert_eq!(split_list("\tLab Macs ,Staff\n"), ["Lab Macs", "Staff"]);
    assert_eq!(split_list("only"), ["only"]);
    assert_eq!(split_list(",,a,,"), ["a"]);
    // Duplicates are kept: a list is what was written.
    assert_eq!(split_list("a,a"), ["a", "a"]);
}

#[test]
fn split_list_of_nothing_is_empty() {
    for text in ["", " ", ",", " , ,\t,"] {
        assert!(split_list(text).is_empty(), "{text:?}");
    }
}

#[test]
fn seconds_expected_says_zero_disables_only_when_zero_is_allowed() {
    assert_eq!(
        seconds_expected(0, 600),
        "a whole number of seconds from 0 to 600 (0 disables)"
    );
    assert_eq!(
        seconds_expected(1, 60),
        "a whole number of seconds from 1 to 60"
    );
}

#[test]
fn one_of_lists_like_a_sentence() {
    assert_eq!(one_of(&[]), "");
    assert_eq!(one_of(&["json"]), "json");
    assert_eq!(one_of(&["json", "csv"]), "json or csv");
    assert_eq!(one_of(&["auto", "classic", "pro"]), "auto, classic or pro");
}

#[test]
fn listed_joins_entries_or_names_the_empty_case() {
    assert_eq!(listed(&["Staff", "Macs"], "any"), "Staff, Macs");
    assert_eq!(listed(&["Staff"], "any"), "Staff");
    assert_eq!(listed(&[1, 2, 3], "none"), "1, 2, 3");
    assert_eq!(listed::<&str>(&[], "any"), "(any)");
    assert_eq!(listed::<&str>(&[], "none"), "(none)");
}

#[test]
fn spelled_list_keeps_the_order_given_and_each_value_once() {
    assert_eq!(
        spelled_list::<State>(
            "ingraceperiod, Compliant,compliant , INGRACEPERIOD",
            &State::NAMES,
            "state"
        ),
        Ok(vec![State::InGracePeriod, State::Compliant])
    );
    assert_eq!(
        spelled_list::<State>("noncompliant", &State::NAMES, "state"),
        Ok(vec![State::Noncompliant])
    );
}

#[test]
fn spelled_list_names_the_first_unknown_value_and_every_spelling() {
    assert_eq!(
        spelled_list::<State>("compliant, unknown, other", &State::NAMES, "state"),
        Err(
            "a comma-separated list of compliant, inGracePeriod, noncompliant (\"unknown\" is \
             not one)"
                .to_owned()
        )
    );
}

#[test]
fn spelled_list_needs_at_least_one_value() {
    for text in ["", " ", " , ,"] {
        assert_eq!(
            spelled_list::<State>(text, &State::NAMES, "compliance state"),
            Err("at least one compliance state".to_owned()),
            "{text:?}"
        );
    }
}

#[test]
fn any_case_spelled_enum_trims_and_ignores_case_and_keeps_its_spelling() {
    assert_eq!(" INGRACEPERIOD\t".parse(), Ok(State::InGracePeriod));
    assert_eq!(State::InGracePeriod.to_string(), "inGracePeriod");
    assert_eq!(State::InGracePeriod.as_str(), "inGracePeriod");
    assert_eq!(
        State::ALL,
        [State::Compliant, State::InGracePeriod, State::Noncompliant]
    );
    assert_eq!(State::NAMES, ["compliant", "inGracePeriod", "noncompliant"]);
    let err = " pending ".parse::<State>().unwrap_err();
    assert_eq!(err, UnknownState("pending".to_owned()));
    assert_eq!(
        err.to_string(),
        "unknown compliance state \"pending\": expected compliant, inGracePeriod or noncompliant"
    );
    let _: &dyn std::error::Error = &err;
}
