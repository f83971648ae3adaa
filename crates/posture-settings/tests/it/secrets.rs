//! Secrets: inline or in the file their `_FILE` form names, never both, never blank, files
//! capped at 64 KiB; and never shown in a problem or a summary.

use std::path::{Path, PathBuf};

use posture_settings::{MAX_SECRET_FILE_BYTES, Setting, read_capped, read_secret_file, summary};
use tempfile::TempDir;

use crate::fixtures::TOKEN;
use crate::{read, read_ok, read_refused};

const SECRET: &str = "Sup3r-S3cret-T0ken";
const CAP: usize = 64 * 1024;

/// A temporary directory holding `token`, with `content`; the directory and the path as text.
fn token_file(content: impl AsRef<[u8]>) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("token");
    std::fs::write(&path, content).expect("the token file written");
    (dir, path)
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// Reads `TOKEN` (declared optional, then required) over `pairs`: both values and every
/// problem, each checked not to show the secret.
fn read_token(pairs: &[(&str, &str)]) -> (Option<Option<String>>, Option<String>, Vec<String>) {
    let ((optional, required), problems) = read(pairs, |r| {
        (r.secret(&TOKEN.optional()), r.required_secret(&TOKEN))
    });
    for problem in &problems {
        assert!(!problem.contains(SECRET), "{problem}");
    }
    (optional, required, problems)
}

/// The one problem a file holding `content` gets, displayed, and checked not to show it.
fn file_problem(content: impl AsRef<[u8]>) -> String {
    let (_dir, path) = token_file(content);
    let (optional, required, problems) = read_token(&[("ACME_TOKEN_FILE", text(&path))]);
    assert_eq!((optional, required), (None, None));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0], problems[1]);
    let prefix = format!(
        "ACME_TOKEN_FILE={:?} is invalid: expected a readable file holding the API token (",
        text(&path)
    );
    assert!(problems[0].starts_with(&prefix), "{}", problems[0]);
    problems[0].clone()
}

#[test]
fn the_cap_is_64_kib() {
    assert_eq!(MAX_SECRET_FILE_BYTES, 65_536);
}

#[test]
fn an_inline_secret_is_taken_as_it_is() {
    for value in [SECRET, " with spaces\t"] {
        let (optional, required, problems) = read_token(&[("ACME_TOKEN", value)]);
        assert_eq!(optional, Some(Some(value.to_owned())));
        assert_eq!(required.as_deref(), Some(value));
        assert!(problems.is_empty(), "{problems:?}");
    }
}

#[test]
fn a_secret_file_is_read_without_its_one_trailing_newline() {
    for (content, secret) in [
        (format!("{SECRET}\n"), SECRET.to_owned()),
        (format!("{SECRET}\r\n"), SECRET.to_owned()),
        (SECRET.to_owned(), SECRET.to_owned()),
        (format!("{SECRET}\n\n"), format!("{SECRET}\n")),
        (format!(" {SECRET} \n"), format!(" {SECRET} ")),
        ("a\r\nb\r\n".to_owned(), "a\r\nb".to_owned()),
    ] {
        let (_dir, path) = token_file(&content);
        // The variable naming the file is trimmed; the file's content is not.
        let padded = format!(" {} ", text(&path));
        let (optional, required, problems) = read_token(&[("ACME_TOKEN_FILE", &padded)]);
        assert_eq!(optional, Some(Some(secret.clone())), "{content:?}");
        assert_eq!(required, Some(secret.clone()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(read_secret_file(&path), Ok(secret));
    }
}

#[test]
fn a_blank_inline_secret_counts_as_unset() {
    let (_dir, path) = token_file(SECRET);
    let (optional, _, problems) =
        read_token(&[("ACME_TOKEN", "  "), ("ACME_TOKEN_FILE", text(&path))]);
    assert_eq!(optional, Some(Some(SECRET.to_owned())));
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn an_unset_secret_is_none_when_optional_and_a_problem_when_required() {
    for pairs in [
        &[][..],
        &[("ACME_TOKEN", ""), ("ACME_TOKEN_FILE", "")],
        &[("ACME_TOKEN", " \t"), ("ACME_TOKEN_FILE", "  ")],
    ] {
        let (optional, required, problems) = read_token(pairs);
        assert_eq!(optional, Some(None), "{pairs:?}");
        assert_eq!(required, None);
        assert_eq!(
            problems,
            ["ACME_TOKEN is not set: expected the API token (or ACME_TOKEN_FILE)"]
        );
    }
}

#[test]
fn a_secret_given_both_ways_is_refused_without_showing_it() {
    let (_dir, path) = token_file(SECRET);
    let (optional, required, problems) =
        read_token(&[("ACME_TOKEN", SECRET), ("ACME_TOKEN_FILE", text(&path))]);
    assert_eq!((optional, required), (None, None));
    assert_eq!(
        problems,
        ["ACME_TOKEN is invalid (value not shown, it is a secret): expected either ACME_TOKEN \
             or ACME_TOKEN_FILE, not both"; 2]
    );
}

#[test]
fn an_empty_or_white_space_file_is_refused() {
    for content in ["", "\n", "\r\n", " \n\n", "\t \r\n", "   "] {
        let problem = file_problem(content);
        assert!(problem.ends_with("(the file is empty)"), "{problem}");
        let (_dir, path) = token_file(content);
        assert_eq!(
            read_secret_file(&path),
            Err("the file is empty".to_owned()),
            "{content:?}"
        );
    }
}

#[test]
fn a_missing_file_is_refused_with_the_systems_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing");
    let reason = std::fs::File::open(&path).unwrap_err().to_string();
    let (optional, _, problems) = read_token(&[("ACME_TOKEN_FILE", text(&path))]);
    assert_eq!(optional, None);
    assert_eq!(
        problems[0],
        format!(
            "ACME_TOKEN_FILE={:?} is invalid: expected a readable file holding the API token \
             ({reason})",
            text(&path)
        )
    );
    assert_eq!(read_secret_file(&path), Err(reason.clone()));
    assert_eq!(read_capped(&path), Err(reason));
}

#[test]
fn a_file_of_exactly_64_kib_is_read_whole() {
    let content = "k".repeat(CAP);
    let (_dir, path) = token_file(&content);
    assert_eq!(read_capped(&path).unwrap().len(), CAP);
    assert_eq!(read_secret_file(&path).unwrap().len(), CAP);
    // With its newline, the file is one byte over the cap.
    let (_dir, path) = token_file(format!("{content}\n"));
    assert_eq!(
        read_secret_file(&path),
        Err("larger than 65536 bytes".to_owned())
    );
}

#[test]
fn a_file_over_64_kib_is_refused_as_too_large() {
    for len in [CAP + 1, CAP + 2, 1024 * 1024] {
        let (_dir, path) = token_file("k".repeat(len));
        assert_eq!(
            read_capped(&path),
            Err("larger than 65536 bytes".to_owned()),
            "{len}"
        );
        assert_eq!(
            read_secret_file(&path),
            Err("larger than 65536 bytes".to_owned())
        );
    }
    let problem = file_problem("k".repeat(CAP + 1));
    assert!(problem.ends_with("(larger than 65536 bytes)"), "{problem}");
}

#[test]
fn a_file_over_64_kib_is_too_large_even_when_the_cap_falls_inside_a_character() {
    // 65536 ASCII bytes, then "é" (2 bytes), the first of which is the byte over the cap.
    let content = format!("{}é{}", "k".repeat(CAP), "k".repeat(100));
    let (_dir, path) = token_file(&content);
    assert_eq!(
        read_capped(&path),
        Err("larger than 65536 bytes".to_owned())
    );
}

#[test]
fn a_binary_file_over_64_kib_is_refused_as_too_large() {
    // A wrong path, such as a disk image: its size is the reason, not its encoding.
    let (_dir, path) = token_file(vec![0xff_u8; 4 * CAP]);
    assert_eq!(
        read_secret_file(&path),
        Err("larger than 65536 bytes".to_owned())
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused_without_its_content() {
    let mut content = SECRET.as_bytes().to_vec();
    content.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let problem = file_problem(&content);
    assert!(
        problem.ends_with("(stream did not contain valid UTF-8)"),
        "{problem}"
    );
}

#[test]
fn read_capped_keeps_the_content_as_it_is() {
    let (_dir, path) = token_file(" a\nb\n\n");
    assert_eq!(read_capped(&path), Ok(" a\nb\n\n".to_owned()));
    let (_dir, path) = token_file("");
    assert_eq!(read_capped(&path), Ok(String::new()));
}

#[test]
fn a_required_secret_is_required_whatever_the_declaration() {
    let optional = TOKEN.optional();
    assert_eq!(
        read_refused(&[], |r| r.required_secret(&optional)),
        ["ACME_TOKEN is not set: expected the API token (or ACME_TOKEN_FILE)"]
    );
    assert_eq!(
        read_ok(&[("ACME_TOKEN", SECRET)], |r| r.required_secret(&optional)).as_deref(),
        Some(SECRET)
    );
}

#[test]
fn a_secret_declaration_is_secret_required_and_has_its_file_form() {
    assert!(TOKEN.is_secret());
    // Required: unset, it is a problem.
    let (value, problems) = read(&[], |r| r.secret(&TOKEN));
    assert_eq!((value, problems.len()), (None, 1));
    assert_eq!(TOKEN.file_form(), Some("ACME_TOKEN_FILE"));
    assert_eq!(
        TOKEN.names().collect::<Vec<_>>(),
        ["ACME_TOKEN", "ACME_TOKEN_FILE"]
    );
    assert_eq!(TOKEN.default_text(), None);
    assert_eq!(TOKEN.expected(), "the API token");
    assert_eq!(
        TOKEN.optional().expected(),
        "the API token (or ACME_TOKEN_FILE)"
    );
    for other in [
        Setting::text("A", "text"),
        Setting::url("A", "a URL"),
        Setting::path("A", "a path"),
        Setting::flag("A", true, "a flag"),
    ] {
        assert!(!other.is_secret(), "{other:?}");
        assert_eq!(other.file_form(), None);
        assert_eq!(other.names().collect::<Vec<_>>(), ["A"]);
    }
}

#[test]
fn the_summary_never_shows_a_secret_or_its_file() {
    let (_dir, path) = token_file(SECRET);
    let settings = [TOKEN];
    for pairs in [
        &[("ACME_TOKEN", SECRET)][..],
        &[("ACME_TOKEN_FILE", text(&path))],
        &[("ACME_TOKEN", SECRET), ("ACME_TOKEN_FILE", text(&path))],
    ] {
        let lines = summary(&settings, &posture_settings::vars(pairs));
        assert_eq!(lines, ["ACME_TOKEN=(set, not shown)"], "{pairs:?}");
    }
    assert!(summary(&settings, &posture_settings::vars(&[("ACME_TOKEN", " ")])).is_empty());
}
