//! Inclusive bounds: a variable, `Setting::check`, `Setting::check_duration` and
//! `Setting::given` accept the minimum and the maximum and refuse one past either, with the
//! same problem.

use std::time::Duration;

use posture_settings::{ConfigProblem, Setting};

use crate::read;

const WORKERS: Setting =
    Setting::number("ACME_WORKERS", 4, 2, 8, "connections", "parallel requests");
const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 5, 600, "cache lifetime");
const DELAY: Setting = Setting::seconds("ACME_DELAY", 0, 0, 30, "delay before retrying");

const WORKERS_EXPECTED: &str = "a whole number of connections from 2 to 8";
const TTL_EXPECTED: &str = "a whole number of seconds from 5 to 600";

fn invalid(setting: &Setting, value: &str) -> ConfigProblem {
    ConfigProblem::invalid(setting.name, value, setting.expected())
}

/// Whether the variable set to `value` is accepted, and the problems it gets.
fn variable(setting: &Setting, value: u64) -> (Option<u64>, Vec<String>) {
    let text = value.to_string();
    read(&[(setting.name, text.as_str())], |r| r.number(setting))
}

#[test]
fn a_number_variable_accepts_its_bounds_and_refuses_one_past_them() {
    assert_eq!(variable(&WORKERS, 2), (Some(2), vec![]));
    assert_eq!(variable(&WORKERS, 8), (Some(8), vec![]));
    assert_eq!(
        variable(&WORKERS, 1),
        (
            None,
            vec![format!(
                "ACME_WORKERS=\"1\" is invalid: expected {WORKERS_EXPECTED}"
            )]
        )
    );
    assert_eq!(
        variable(&WORKERS, 9),
        (
            None,
            vec![format!(
                "ACME_WORKERS=\"9\" is invalid: expected {WORKERS_EXPECTED}"
            )]
        )
    );
}

#[test]
fn a_seconds_variable_accepts_its_bounds_and_refuses_one_past_them() {
    for (value, accepted) in [(5, true), (600, true), (4, false), (601, false)] {
        let text = value.to_string();
        let (read_value, problems) = read(&[("ACME_CACHE_TTL", &text)], |r| r.seconds(&TTL));
        if accepted {
            assert_eq!(read_value, Some(Duration::from_secs(value)));
            assert!(problems.is_empty(), "{problems:?}");
        } else {
            assert_eq!(read_value, None);
            assert_eq!(
                problems,
                [format!(
                    "ACME_CACHE_TTL=\"{value}\" is invalid: expected {TTL_EXPECTED}"
                )]
            );
        }
    }
}

#[test]
fn zero_is_accepted_when_it_is_the_minimum() {
    assert_eq!(variable(&DELAY, 0), (Some(0), vec![]));
    assert_eq!(DELAY.check(0), Ok(0));
    assert_eq!(DELAY.check_duration(Duration::ZERO), Ok(Duration::ZERO));
}

#[test]
fn check_accepts_the_bounds_and_returns_the_value() {
    assert_eq!(WORKERS.check(2), Ok(2));
    assert_eq!(WORKERS.check(5), Ok(5));
    assert_eq!(WORKERS.check(8), Ok(8));
    assert_eq!(TTL.check(5), Ok(5));
    assert_eq!(TTL.check(600), Ok(600));
}

#[test]
fn check_refuses_one_past_the_bounds_with_the_variables_problem() {
    assert_eq!(WORKERS.check(1), Err(invalid(&WORKERS, "1")));
    assert_eq!(WORKERS.check(9), Err(invalid(&WORKERS, "9")));
    assert_eq!(
        WORKERS.check(9).unwrap_err().to_string(),
        format!("ACME_WORKERS=\"9\" is invalid: expected {WORKERS_EXPECTED}")
    );
    assert_eq!(TTL.check(4), Err(invalid(&TTL, "4")));
    assert_eq!(TTL.check(601), Err(invalid(&TTL, "601")));
    assert_eq!(
        WORKERS.check(u64::MAX),
        Err(invalid(&WORKERS, &u64::MAX.to_string()))
    );
}

#[test]
fn check_gives_the_same_verdict_and_problem_as_the_variable() {
    for setting in [WORKERS, TTL, DELAY] {
        let (posture_settings::Kind::Number { min, max, .. }
        | posture_settings::Kind::Seconds { min, max, .. }) = setting.kind
        else {
            unreachable!("{setting:?} has bounds")
        };
        for value in [min.saturating_sub(1), min, min + 1, max - 1, max, max + 1] {
            let text = value.to_string();
            let pairs = [(setting.name, text.as_str())];
            let get = posture_settings::vars(&pairs);
            let mut reader = posture_settings::Reader::new(&get);
            let from_variable = reader.number(&setting).ok_or(());
            let problem = reader.take_problems().pop();
            match setting.check(value) {
                Ok(checked) => {
                    assert_eq!(from_variable, Ok(checked), "{} {value}", setting.name);
                    assert_eq!(problem, None);
                }
                Err(checked) => {
                    assert_eq!(from_variable, Err(()), "{} {value}", setting.name);
                    assert_eq!(problem, Some(checked));
                }
            }
        }
    }
}

#[test]
fn check_accepts_anything_for_kinds_without_bounds() {
    for setting in [
        Setting::flag("A", true, "a flag"),
        Setting::text("A", "text"),
        Setting::list("A", "a list"),
    ] {
        assert_eq!(setting.check(u64::MAX), Ok(u64::MAX));
        assert_eq!(setting.check(0), Ok(0));
        assert_eq!(setting.check_duration(Duration::MAX), Ok(Duration::MAX));
    }
}

#[test]
fn check_duration_accepts_its_bounds_and_fractions_between() {
    for value in [
        Duration::from_secs(5),
        Duration::from_millis(5_500),
        Duration::from_secs(600),
    ] {
        assert_eq!(TTL.check_duration(value), Ok(value));
    }
}

#[test]
fn check_duration_refuses_anything_past_the_bounds_even_by_a_nanosecond() {
    let one_ns = Duration::from_nanos(1);
    assert!(TTL.check_duration(Duration::from_secs(5) - one_ns).is_err());
    assert!(
        TTL.check_duration(Duration::from_secs(600) + one_ns)
            .is_err()
    );
    assert!(TTL.check_duration(Duration::ZERO).is_err());
    assert!(TTL.check_duration(Duration::MAX).is_err());
    assert_eq!(
        TTL.check_duration(Duration::from_millis(4_500)),
        Err(invalid(&TTL, "4.5"))
    );
    assert_eq!(
        TTL.check_duration(Duration::from_secs(601))
            .unwrap_err()
            .to_string(),
        format!("ACME_CACHE_TTL=\"601\" is invalid: expected {TTL_EXPECTED}")
    );
    assert_eq!(
        TTL.check_duration(Duration::from_millis(600_500)),
        Err(invalid(&TTL, "600.5"))
    );
}

#[test]
fn check_duration_applies_a_numbers_bounds_in_seconds() {
    assert_eq!(
        WORKERS.check_duration(Duration::from_secs(8)),
        Ok(Duration::from_secs(8))
    );
    assert_eq!(
        WORKERS.check_duration(Duration::from_secs(9)),
        Err(invalid(&WORKERS, "9"))
    );
    assert_eq!(
        WORKERS.check_duration(Duration::from_secs(1)),
        Err(invalid(&WORKERS, "1"))
    );
}

/// A builder's parser for `WORKERS`: digits, within the declared bounds.
fn workers(text: &str) -> Result<u64, String> {
    let n = text.parse::<u64>().map_err(|_| WORKERS.expected())?;
    WORKERS.check(n).map_err(|problem| problem.expected)
}

#[test]
fn given_applies_the_same_bounds_and_problem_as_the_variable() {
    assert_eq!(WORKERS.given("2", workers), Ok(2));
    assert_eq!(WORKERS.given(" 8 ", workers), Ok(8));
    for text in ["1", "9", "lots"] {
        let (_, from_variable) = read(&[("ACME_WORKERS", text)], |r| r.number(&WORKERS));
        let given = WORKERS.given(text, workers).unwrap_err().to_string();
        assert_eq!(vec![given], from_variable, "{text}");
    }
}

#[test]
fn given_trims_and_refuses_blank_as_missing() {
    assert_eq!(WORKERS.given(" \t7\n", workers), Ok(7));
    for blank in ["", "   "] {
        assert_eq!(
            WORKERS.given(blank, workers),
            Err(ConfigProblem::missing("ACME_WORKERS", WORKERS_EXPECTED))
        );
    }
    // The problem shows the trimmed text.
    assert_eq!(
        WORKERS.given("  nine ", workers),
        Err(ConfigProblem::invalid(
            "ACME_WORKERS",
            "nine",
            WORKERS_EXPECTED
        ))
    );
}
