//! What comes from the declarations besides parsing: defaults and expectations as text, the
//! `check-config` summary, README tables and the names of the variables.

use posture_settings::{Setting, markdown_table, summary, variable_names, variables_read};

use crate::fixtures::{API, ENRICH, FORMAT, GROUPS, STRICT, TOKEN, URL, WORKERS};

const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 86_400, "cache lifetime");
const REGION: Setting = Setting::text("ACME_REGION", "the region").defaulting_to("eu");
const CA: Setting = Setting::path("ACME_CA", "a CA bundle");
const PROXY: Setting = Setting::url("ACME_PROXY", "a proxy").defaulting_to("http://proxy:3128");
const ADMIN: Setting = Setting::text("ACME_ADMIN", "the administrator's email");

const SETTINGS: &[Setting] = &[
    URL, TOKEN, TTL, WORKERS, ENRICH, STRICT, API, FORMAT, GROUPS, REGION, CA, PROXY, ADMIN,
];

#[test]
fn default_text_gives_each_kinds_default() {
    assert_eq!(TTL.default_text().as_deref(), Some("60"));
    assert_eq!(WORKERS.default_text().as_deref(), Some("4"));
    assert_eq!(ENRICH.default_text().as_deref(), Some("1"));
    assert_eq!(STRICT.default_text().as_deref(), Some("0"));
    assert_eq!(API.default_text().as_deref(), Some("auto"));
    assert_eq!(FORMAT.default_text(), None);
    assert_eq!(REGION.default_text().as_deref(), Some("eu"));
    assert_eq!(PROXY.default_text().as_deref(), Some("http://proxy:3128"));
    assert_eq!(
        GROUPS.defaulting_to("Staff").default_text().as_deref(),
        Some("Staff")
    );
    assert_eq!(
        CA.defaulting_to("/etc/ca.pem").default_text().as_deref(),
        Some("/etc/ca.pem")
    );
    for none in [URL, TOKEN, GROUPS, CA, ADMIN] {
        assert_eq!(none.default_text(), None, "{}", none.name);
    }
}

#[test]
fn expected_says_what_each_kind_accepts() {
    assert_eq!(
        TTL.expected(),
        "a whole number of seconds from 0 to 86400 (0 disables)"
    );
    assert_eq!(
        Setting::seconds("A", 5, 1, 10, "").expected(),
        "a whole number of seconds from 1 to 10"
    );
    assert_eq!(
        WORKERS.expected(),
        "a whole number of connections from 1 to 8"
    );
    assert_eq!(ENRICH.expected(), "0 or 1 (or true/false)");
    assert_eq!(API.expected(), "auto or classic");
    assert_eq!(FORMAT.expected(), "json or csv");
    assert_eq!(URL.expected(), "the tenant URL");
    assert_eq!(GROUPS.expected(), "groups a device must be in");
    assert_eq!(CA.expected(), "a CA bundle");
    assert_eq!(ADMIN.expected(), "the administrator's email");
    assert_eq!(TOKEN.expected(), "the API token");
    assert_eq!(
        TOKEN.optional().expected(),
        "the API token (or ACME_TOKEN_FILE)"
    );
    assert_eq!(
        WORKERS.expecting("1 to 8 workers").expected(),
        "1 to 8 workers"
    );
    assert_eq!(TOKEN.optional().expecting("a token").expected(), "a token");
}

#[test]
fn the_summary_shows_set_values_and_marks_defaults() {
    let get = posture_settings::vars(&[
        ("ACME_URL", " https://acme.example.com "),
        ("ACME_TOKEN", "s3cret"),
        ("ACME_CACHE_TTL", "90"),
        ("ACME_STRICT", "true"),
        ("ACME_GROUPS", "Staff, Macs"),
        ("ACME_CA", "/etc/acme/ca.pem"),
        ("ACME_WORKERS", "  "),
    ]);
    assert_eq!(
        summary(SETTINGS, &get),
        [
            "ACME_URL=https://acme.example.com",
            "ACME_TOKEN=(set, not shown)",
            "ACME_CACHE_TTL=90 s",
            "ACME_WORKERS=4 (default)",
            "ACME_ENRICH=1 (default)",
            "ACME_STRICT=true",
            "ACME_API=auto (default)",
            "ACME_GROUPS=Staff, Macs",
            "ACME_REGION=eu (default)",
            "ACME_CA=/etc/acme/ca.pem",
            "ACME_PROXY=http://proxy:3128 (default)",
        ]
    );
}

#[test]
fn the_summary_of_nothing_set_is_the_defaults() {
    assert_eq!(
        summary(SETTINGS, &|_| None),
        [
            "ACME_CACHE_TTL=60 s (default)",
            "ACME_WORKERS=4 (default)",
            "ACME_ENRICH=1 (default)",
            "ACME_STRICT=0 (default)",
            "ACME_API=auto (default)",
            "ACME_REGION=eu (default)",
            "ACME_PROXY=http://proxy:3128 (default)",
        ]
    );
}

#[test]
fn the_summary_hides_url_credentials_but_shows_an_email() {
    let get = posture_settings::vars(&[
        ("ACME_URL", "https://admin:pa55@acme.example.com/api"),
        ("ACME_PROXY", "http://proxy:s3cr3t@10.0.0.1:3128"),
        ("ACME_ADMIN", "it@school.example"),
        ("ACME_REGION", "user:pw@eu"),
    ]);
    let lines = summary(SETTINGS, &get);
    for line in &lines {
        assert!(
            !line.contains("pa55") && !line.contains("s3cr3t") && !line.contains(":pw"),
            "{line}"
        );
    }
    assert!(lines.contains(&"ACME_URL=https://[redacted]@acme.example.com/api".to_owned()));
    assert!(lines.contains(&"ACME_PROXY=http://[redacted]@10.0.0.1:3128".to_owned()));
    assert!(lines.contains(&"ACME_ADMIN=it@school.example".to_owned()));
    assert!(lines.contains(&"ACME_REGION=user:[redacted]@eu".to_owned()));
}

#[test]
fn the_markdown_table_lists_names_defaults_and_docs() {
    assert_eq!(
        markdown_table(&[
            URL,
            TOKEN,
            TOKEN.optional(),
            TTL,
            ENRICH,
            API,
            FORMAT,
            REGION,
            ADMIN
        ]),
        "\
| Variable | Default | Description |
|---|---|---|
| `ACME_URL` | required | the tenant URL |
| `ACME_TOKEN` / `ACME_TOKEN_FILE` | required | the API token |
| `ACME_TOKEN` / `ACME_TOKEN_FILE` |  | the API token |
| `ACME_CACHE_TTL` | `60` | cache lifetime |
| `ACME_ENRICH` | `1` | return enrichment data |
| `ACME_API` | `auto` | which API |
| `ACME_FORMAT` |  | json or csv |
| `ACME_REGION` | `eu` | the region |
| `ACME_ADMIN` |  | the administrator's email |
"
    );
}

#[test]
fn the_markdown_table_of_no_settings_is_its_header() {
    assert_eq!(
        markdown_table(&[]),
        "| Variable | Default | Description |\n|---|---|---|\n"
    );
}

#[test]
fn variable_names_lists_every_name_in_order_with_file_forms() {
    assert_eq!(
        variable_names(&[URL, TOKEN, TTL]),
        [
            "ACME_URL",
            "ACME_TOKEN",
            "ACME_TOKEN_FILE",
            "ACME_CACHE_TTL"
        ]
    );
    assert!(variable_names(&[]).is_empty());
}

#[test]
fn variables_read_lists_what_a_parser_asks_for_once_each_sorted() {
    let asked = variables_read(|get| {
        let mut reader = posture_settings::Reader::new(get);
        let _ = reader.flag(&ENRICH);
        let _ = reader.secret(&TOKEN);
        let _ = reader.flag(&ENRICH);
        let _ = reader.value("ACME_ZONE");
    });
    assert_eq!(
        asked.iter().map(String::as_str).collect::<Vec<_>>(),
        ["ACME_ENRICH", "ACME_TOKEN", "ACME_TOKEN_FILE", "ACME_ZONE"]
    );
    assert!(variables_read(|_| {}).is_empty());
}
