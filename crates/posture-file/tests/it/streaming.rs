//! `DeviceList::load` streams the file; `DeviceList::parse` has it in memory. Both must
//! give the same list, or the same error, for every file.

use posture_file::{DeviceList, FileFormat, LoadError, LoadOptions};

use crate::fixture;

/// What a load gave, in comparable form: each device's identifier and enrichment, or the
/// error's message.
fn outcome(result: Result<DeviceList, LoadError>) -> Result<Vec<(String, Option<String>)>, String> {
    result
        .map(|list| {
            list.iter()
                .map(|device| {
                    let data = device
                        .enrichment()
                        .map(|data| String::from_utf8_lossy(data.as_bytes()).into_owned());
                    (device.identifier().to_owned(), data)
                })
                .collect()
        })
        .map_err(|err| err.to_string())
}

/// Loads `bytes` from a file and parses them in memory, with and without empty lists
/// allowed, and checks both ways agree. Returns the streamed outcome.
fn same_both_ways(
    bytes: &[u8],
    format: FileFormat,
) -> Result<Vec<(String, Option<String>)>, String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(format!("devices.{format}"));
    std::fs::write(&path, bytes).expect("write the device file");
    let name = path.display().to_string();
    let mut streamed = Err(String::new());
    for options in [LoadOptions::new(), LoadOptions::new().allow_empty(true)] {
        streamed = outcome(DeviceList::load_with(&path, format, options));
        let parsed = outcome(DeviceList::parse_with(bytes, format, &name, options));
        assert_eq!(
            streamed,
            parsed,
            "{options:?}: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    streamed
}

#[test]
fn every_fixture_loads_as_it_parses() {
    let mut failures = 0;
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let path = entry.unwrap().path();
        let format = match path.extension().and_then(|ext| ext.to_str()) {
            Some("csv") => FileFormat::Csv,
            Some("json") => FileFormat::Json,
            _ => continue,
        };
        let bytes = std::fs::read(&path).unwrap();
        failures += usize::from(same_both_ways(&bytes, format).is_err());
    }
    // Most fixtures are broken on purpose: make sure the error paths were compared.
    assert!(failures >= 15, "only {failures} fixtures failed to load");
}

#[test]
fn errors_keep_their_lines_and_columns() {
    for (format, text, expected) in [
        (
            FileFormat::Csv,
            "\nIdentifier,note\n\nA,\"x\ny\"\n\nA,z\n",
            "line 7: duplicate identifier \"A\" (first seen on line 4)",
        ),
        (
            FileFormat::Csv,
            "\n\nIdentifier,user\n\n\nA,alice\n\n\nB\n",
            "line 9: the record has 1 fields, but the header has 2",
        ),
        (
            FileFormat::Csv,
            "Identifier\r\n\r\nA\r\n\r\n \r\n",
            "line 5: identifier \" \" has leading or trailing whitespace",
        ),
        (
            FileFormat::Csv,
            "\n\n\nuser,Identifier\n",
            "line 4: the first header must be \"Identifier\", found \"user\"",
        ),
        (
            FileFormat::Json,
            "{\"devices\":[\n{\"identifier\":\"A\"},\n\n{\"identifier\":7}]}",
            "line 4 column 15: the identifier must be a string",
        ),
        (
            FileFormat::Json,
            "{\"devices\":[{\"identifier\":\"A\"},\n\n{\n\"data\":{}}]}",
            "line 3: device 2 has no identifier",
        ),
        (
            FileFormat::Json,
            "{\"devices\":[\n{\"identifier\":\"A\"},\n{\"identifier\":\"A\"}]}",
            "line 3: duplicate identifier \"A\" (first seen on line 2)",
        ),
        (
            FileFormat::Json,
            "{\"devices\":[\n{\"identifier\":\"A\",\n\"data\":[1]}]}",
            "line 3: the data of \"A\" must be an object or null, found an array",
        ),
        (
            FileFormat::Json,
            "{\"devices\":[\n{\"identifier\":\"A\"}\n{",
            "line 3 column 1: invalid JSON: expected `,` or `]`",
        ),
    ] {
        let err = same_both_ways(text.as_bytes(), format).unwrap_err();
        assert!(err.contains(expected), "{format}: {text:?}: {err}");
    }
}

#[test]
fn empty_and_whitespace_files_are_named_as_such() {
    for (bytes, format) in [
        (&b""[..], FileFormat::Csv),
        (b"\n\n", FileFormat::Csv),
        (b"  \r\n\t", FileFormat::Csv),
        (b"\xEF\xBB\xBF", FileFormat::Csv),
        (b"", FileFormat::Json),
        (b" \n", FileFormat::Json),
        (b"\xEF\xBB\xBF\n", FileFormat::Json),
    ] {
        let err = same_both_ways(bytes, format).unwrap_err();
        assert!(err.ends_with("is empty"), "{bytes:?}: {err}");
    }
}

#[test]
fn files_longer_than_the_read_buffer_load_whole() {
    let devices = 5_000;
    let mut csv = String::from("\u{feff}Identifier,user,note\r\n");
    let mut json = String::from("\u{feff}{\"devices\":[");
    for n in 0..devices {
        csv.push_str(&format!(
            "C02{n:09},user{n},\"a \"\"quoted\"\",\r\nline\"\r\n"
        ));
        let separator = if n + 1 < devices { ",\n" } else { "" };
        json.push_str(&format!(
            "{{\"identifier\":\"C02{n:09}\",\"data\":{{ \"user\" : \"user{n}\", \"n\": [{n}, 1.50] }}}}{separator}"
        ));
    }
    json.push_str("]}");
    let loaded = same_both_ways(csv.as_bytes(), FileFormat::Csv).unwrap();
    assert_eq!(loaded.len(), devices);
    assert_eq!(
        loaded[4_321].1.as_deref(),
        Some(r#"{"user":"user4321","note":"a \"quoted\",\nline"}"#)
    );
    let loaded = same_both_ways(json.as_bytes(), FileFormat::Json).unwrap();
    assert_eq!(loaded.len(), devices);
    assert_eq!(
        loaded[4_321].1.as_deref(),
        Some(r#"{ "user" : "user4321", "n": [4321, 1.50] }"#)
    );
}

#[test]
fn json_of_any_shape_loads() {
    for (json, devices) in [
        (
            r#" { "DEVICES" : [ { "data" : { "a" : 1 } , "identifier" : "A" } ] } "#,
            1,
        ),
        (
            r#"{"version":2,"devices":[{"identifier":"A"},{"identifier":"B"}]}"#,
            2,
        ),
        (
            r#"{"devices":[{"identifier":"A"}],"notes":{"devices":[]}}"#,
            1,
        ),
        (
            r#"{"dev\u0069ces":[{"identifier":"A","data":{"x":"}]"}}]}"#,
            1,
        ),
        (r#"{"devices":null}"#, 0),
        (
            "{\"devices\":[{\"identifier\":\"\\\"A\\\\\"},{\"identifier\":\"B\"}\n]}",
            2,
        ),
    ] {
        let loaded = same_both_ways(json.as_bytes(), FileFormat::Json).unwrap();
        assert_eq!(loaded.len(), devices, "{json}");
    }
    for json in [
        r#"{"devices":[{"identifier":"A"}]"#,
        r#"{"devices":[{"identifier":"A"},]}"#,
        r#"{"devices":[{"identifier":"A"} {"identifier":"B"}]}"#,
        r#"{"devices":[{"identifier":"A"}]}}"#,
        r#"{"devices":[{"identifier":"A"}]} []"#,
        r#"{"devices":[{"identifier":"A"}],"devices":[]}"#,
        r#"{"devices":[{"identifier":"A"}, null]}"#,
        r#"{"devices":[{"identifier":"A"}, {"identifier":"B"}}]}"#,
        r#"{"devices":[{"identifier":"A", "data": {"x": [}}]}"#,
    ] {
        same_both_ways(json.as_bytes(), FileFormat::Json).unwrap_err();
    }
}

#[test]
fn a_missing_file_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = DeviceList::load(dir.path().join("absent.csv"), FileFormat::Csv).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err}");
}
