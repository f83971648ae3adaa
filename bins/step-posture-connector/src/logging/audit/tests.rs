//! The decision line's bytes, against `tracing-subscriber`'s own formatting of the same
//! event and against lines captured from it (golden lines).

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use posture_core::DeviceMode;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use super::{DecisionLine, Style, latency_ms, timestamp};
use crate::logging::tests::captured;
use crate::logging::{batch_this_thread, filter_for_level, flush_this_thread, runtime};

thread_local! {
    /// Lines formatted on this thread by the formatter of its own.
    pub(super) static FORMATTED: Cell<usize> = const { Cell::new(0) };
}

/// 2026-12-03T18:52:33.012345Z, the instant of every golden line.
fn at() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_796_323_953, 12_345_678)
}

/// `tracing-subscriber`'s timer for [`at`], fixed.
struct AtTimer;

impl FormatTime for AtTimer {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        w.write_str("2026-12-03T18:52:33.012345Z")
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8(bytes).unwrap()
    }
}

impl io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The line as the subscriber [`crate::logging::init`] installs writes it (colours off),
/// at [`at`].
fn reference(style: Style, line: &DecisionLine<'_>) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let builder = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_target(false)
        .with_timer(AtTimer);
    let dispatch = match style {
        Style::Text => tracing::Dispatch::new(builder.finish()),
        Style::Json => tracing::Dispatch::new(builder.json().flatten_event(true).finish()),
    };
    tracing::dispatcher::with_default(&dispatch, || line.emit_via_tracing());
    buffer.text()
}

/// The line from the formatter of its own, at [`at`].
fn fast(style: Style, line: &DecisionLine<'_>) -> String {
    let mut out = Vec::new();
    line.format(style, at(), &mut out);
    String::from_utf8(out).unwrap()
}

fn allow() -> DecisionLine<'static> {
    DecisionLine {
        outcome: "allow",
        status: 200,
        code: "",
        identifier: "C02XK1JHJG5H",
        webhook_id: "0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d",
        request_id: "6f1c2a9e-77d0-4c1b-b1f4-3f5f0e8d9a10",
        provisioner: "devices",
        mode: DeviceMode::Computer,
        provider: "file",
        webhook: "device-attest",
        client: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
        reason: "device is managed and compliant",
        latency: Duration::from_nanos(1_234_567),
    }
}

/// A deny whose client-supplied fields need escaping: quotes, a backslash, control
/// characters (an ANSI colour sequence among them) and non-ASCII.
fn deny() -> DecisionLine<'static> {
    DecisionLine {
        outcome: "deny",
        status: 200,
        code: "deviceNotFound",
        identifier: "C02\"X\\K\t1é",
        webhook_id: "0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d",
        request_id: "r\u{1b}[31m\n\u{7f}Z\u{0}",
        provisioner: "Ünïcødé ✓ 'prov'",
        mode: DeviceMode::MobileDevice,
        provider: "jamf",
        webhook: "device-attest",
        client: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        reason: "device \"C02\\\"X\" not found: é\u{7}",
        latency: Duration::from_micros(125),
    }
}

/// A provider that failed for now: 503, no mode, no client.
fn transient() -> DecisionLine<'static> {
    DecisionLine {
        outcome: "error",
        status: 503,
        code: "",
        identifier: "C02XK1JHJG5H",
        webhook_id: "0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d",
        request_id: "",
        provisioner: "devices",
        mode: DeviceMode::Unspecified,
        provider: "kandji",
        webhook: "device-attest",
        client: None,
        reason: "provider unavailable: upstream timed out after 4 s",
        latency: Duration::from_millis(4_003),
    }
}

/// Refused before authentication: no identifier, no provisioner.
fn refused() -> DecisionLine<'static> {
    DecisionLine {
        outcome: "unauthorized",
        status: 401,
        code: "",
        identifier: "",
        webhook_id: "",
        request_id: "",
        provisioner: "",
        mode: DeviceMode::Unspecified,
        provider: "file",
        webhook: "scep-challenge",
        client: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
        reason: "missing X-Smallstep-Signature header",
        latency: Duration::from_nanos(48_000),
    }
}

/// The lines `tracing-subscriber` 0.3.23 wrote for these decisions before the formatter
/// of its own: text, then JSON.
/// A decision, its golden text line and its golden JSON line.
type Golden = (fn() -> DecisionLine<'static>, &'static str, &'static str);

const GOLDEN: [Golden; 4] = [
    (allow, GOLDEN_ALLOW_TEXT, GOLDEN_ALLOW_JSON),
    (deny, GOLDEN_DENY_TEXT, GOLDEN_DENY_JSON),
    (transient, GOLDEN_TRANSIENT_TEXT, GOLDEN_TRANSIENT_JSON),
    (refused, GOLDEN_REFUSED_TEXT, GOLDEN_REFUSED_JSON),
];

const GOLDEN_ALLOW_TEXT: &str = "2026-12-03T18:52:33.012345Z  INFO decision outcome=\"allow\" status=200 code=\"\" identifier=\"C02XK1JHJG5H\" webhook_id=\"0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d\" request_id=\"6f1c2a9e-77d0-4c1b-b1f4-3f5f0e8d9a10\" provisioner=\"devices\" mode=computer provider=\"file\" webhook=\"device-attest\" client=10.0.0.7 reason=device is managed and compliant latency_ms=1.23\n";
const GOLDEN_ALLOW_JSON: &str = "{\"timestamp\":\"2026-12-03T18:52:33.012345Z\",\"level\":\"INFO\",\"message\":\"decision\",\"outcome\":\"allow\",\"status\":200,\"code\":\"\",\"identifier\":\"\\\"C02XK1JHJG5H\\\"\",\"webhook_id\":\"\\\"0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d\\\"\",\"request_id\":\"\\\"6f1c2a9e-77d0-4c1b-b1f4-3f5f0e8d9a10\\\"\",\"provisioner\":\"\\\"devices\\\"\",\"mode\":\"computer\",\"provider\":\"file\",\"webhook\":\"device-attest\",\"client\":\"10.0.0.7\",\"reason\":\"device is managed and compliant\",\"latency_ms\":\"1.23\"}\n";
const GOLDEN_DENY_TEXT: &str = "2026-12-03T18:52:33.012345Z  INFO decision outcome=\"deny\" status=200 code=\"deviceNotFound\" identifier=\"C02\\\"X\\\\K\\t1é\" webhook_id=\"0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d\" request_id=\"r\\u{1b}[31m\\n\\u{7f}Z\\0\" provisioner=\"Ünïcødé ✓ 'prov'\" mode=mobiledevice provider=\"jamf\" webhook=\"device-attest\" client=::1 reason=device \"C02\\\"X\" not found: é\u{7} latency_ms=0.12\n";
const GOLDEN_DENY_JSON: &str = "{\"timestamp\":\"2026-12-03T18:52:33.012345Z\",\"level\":\"INFO\",\"message\":\"decision\",\"outcome\":\"deny\",\"status\":200,\"code\":\"deviceNotFound\",\"identifier\":\"\\\"C02\\\\\\\"X\\\\\\\\K\\\\t1é\\\"\",\"webhook_id\":\"\\\"0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d\\\"\",\"request_id\":\"\\\"r\\\\u{1b}[31m\\\\n\\\\u{7f}Z\\\\0\\\"\",\"provisioner\":\"\\\"Ünïcødé ✓ 'prov'\\\"\",\"mode\":\"mobiledevice\",\"provider\":\"jamf\",\"webhook\":\"device-attest\",\"client\":\"::1\",\"reason\":\"device \\\"C02\\\\\\\"X\\\" not found: é\\u0007\",\"latency_ms\":\"0.12\"}\n";
const GOLDEN_TRANSIENT_TEXT: &str = "2026-12-03T18:52:33.012345Z  INFO decision outcome=\"error\" status=503 code=\"\" identifier=\"C02XK1JHJG5H\" webhook_id=\"0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d\" request_id=\"\" provisioner=\"devices\" mode=unspecified provider=\"kandji\" webhook=\"device-attest\" client= reason=provider unavailable: upstream timed out after 4 s latency_ms=4003.00\n";
const GOLDEN_TRANSIENT_JSON: &str = "{\"timestamp\":\"2026-12-03T18:52:33.012345Z\",\"level\":\"INFO\",\"message\":\"decision\",\"outcome\":\"error\",\"status\":503,\"code\":\"\",\"identifier\":\"\\\"C02XK1JHJG5H\\\"\",\"webhook_id\":\"\\\"0d0e3b1c-5a64-4b6e-9c1e-7b8f1f0a2c3d\\\"\",\"request_id\":\"\\\"\\\"\",\"provisioner\":\"\\\"devices\\\"\",\"mode\":\"unspecified\",\"provider\":\"kandji\",\"webhook\":\"device-attest\",\"client\":\"\",\"reason\":\"provider unavailable: upstream timed out after 4 s\",\"latency_ms\":\"4003.00\"}\n";
const GOLDEN_REFUSED_TEXT: &str = "2026-12-03T18:52:33.012345Z  INFO decision outcome=\"unauthorized\" status=401 code=\"\" identifier=\"\" webhook_id=\"\" request_id=\"\" provisioner=\"\" mode=unspecified provider=\"file\" webhook=\"scep-challenge\" client=203.0.113.9 reason=missing X-Smallstep-Signature header latency_ms=0.05\n";
const GOLDEN_REFUSED_JSON: &str = "{\"timestamp\":\"2026-12-03T18:52:33.012345Z\",\"level\":\"INFO\",\"message\":\"decision\",\"outcome\":\"unauthorized\",\"status\":401,\"code\":\"\",\"identifier\":\"\\\"\\\"\",\"webhook_id\":\"\\\"\\\"\",\"request_id\":\"\\\"\\\"\",\"provisioner\":\"\\\"\\\"\",\"mode\":\"unspecified\",\"provider\":\"file\",\"webhook\":\"scep-challenge\",\"client\":\"203.0.113.9\",\"reason\":\"missing X-Smallstep-Signature header\",\"latency_ms\":\"0.05\"}\n";

#[test]
fn golden_lines_are_what_the_subscriber_wrote_and_what_the_formatter_writes() {
    for (line, text, json) in GOLDEN {
        let line = line();
        assert_eq!(reference(Style::Text, &line), text, "subscriber, text");
        assert_eq!(reference(Style::Json, &line), json, "subscriber, json");
        assert_eq!(fast(Style::Text, &line), text, "formatter, text");
        assert_eq!(fast(Style::Json, &line), json, "formatter, json");
    }
}

#[test]
fn every_field_is_escaped_as_the_subscriber_escapes_it() {
    let corpus = [
        "",
        "plain",
        "with space",
        "'single'",
        "\"double\"",
        "back\\slash",
        "tab\tnewline\nreturn\r",
        "nul\0bell\u{7}backspace\u{8}formfeed\u{c}vt\u{b}",
        "\u{1b}[31mred\u{1b}[0m",
        "del\u{7f}",
        "c1\u{85}\u{9b}",
        "é日本語😀",
        "zero\u{200b}width\u{feff}",
        "\u{301}combining first, then a\u{301}",
        "\u{ad}soft hyphen",
        "\u{2028}line separator",
        "\u{e000}private\u{10ffff}",
        "{\"json\":[1,2]}",
        "mixed \" \\ \n é \u{1}",
    ];
    for s in corpus {
        let mut line = deny();
        let fields: [fn(&mut DecisionLine<'static>, &'static str); 8] = [
            |l, s| l.outcome = s,
            |l, s| l.code = s,
            |l, s| l.identifier = s,
            |l, s| l.webhook_id = s,
            |l, s| l.request_id = s,
            |l, s| l.provisioner = s,
            |l, s| l.provider = s,
            |l, s| l.reason = s,
        ];
        for (i, set) in fields.iter().enumerate() {
            set(&mut line, s);
            for style in [Style::Text, Style::Json] {
                assert_eq!(
                    fast(style, &line),
                    reference(style, &line),
                    "field {i}, {style:?}, {s:?}"
                );
            }
        }
        line.webhook = s;
        for style in [Style::Text, Style::Json] {
            assert_eq!(fast(style, &line), reference(style, &line), "{s:?}");
        }
    }
}

#[test]
fn modes_addresses_statuses_and_latencies_are_written_as_the_subscriber_writes_them() {
    let modes = [
        DeviceMode::Unspecified,
        DeviceMode::Computer,
        DeviceMode::MobileDevice,
        DeviceMode::Auto,
    ];
    let clients = [
        None,
        Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        Some(IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255))),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
        Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        Some("2001:db8::8a2e:370:7334".parse().unwrap()),
        Some("::ffff:192.0.2.1".parse().unwrap()),
    ];
    let mut line = allow();
    for (i, mode) in modes.into_iter().enumerate() {
        for (j, client) in clients.into_iter().enumerate() {
            line.mode = mode;
            line.client = client;
            line.status = [0, 200, 401, 413, 429, 503, 65_535][j];
            line.latency = Duration::from_nanos([0, 1, 4_999, 5_000, 994_999_999, 7][i]);
            for style in [Style::Text, Style::Json] {
                assert_eq!(fast(style, &line), reference(style, &line));
            }
        }
    }
}

#[test]
fn latencies_round_as_the_float_formatter_rounds() {
    let check = |nanos: u64| {
        let latency = Duration::from_nanos(nanos);
        let mut out = Vec::new();
        latency_ms(latency, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{:.2}", latency.as_secs_f64() * 1000.0),
            "{nanos} ns"
        );
    };
    // Every 7 ns up to 2 ms, every tie (5 µs steps) up to 100 ms and around it, and spread
    // values up to a day.
    (0..2_000_000).step_by(7).for_each(check);
    for tie in (0..100_000_000_u64).step_by(5_000) {
        for nanos in [tie.saturating_sub(1), tie, tie + 1] {
            check(nanos);
        }
    }
    let mut nanos = 1_u64;
    while nanos < 86_400_000_000_000 {
        check(nanos);
        nanos = nanos * 3 + 7;
    }
    check(u64::MAX);
}

fn stamp(time: SystemTime) -> String {
    let mut out = Vec::new();
    timestamp(time, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn timestamps_are_utc_with_microseconds() {
    let cases = [
        (0, 0, "1970-01-01T00:00:00.000000Z"),
        (1_796_323_953, 12_345_678, "2026-12-03T18:52:33.012345Z"),
        (951_782_400, 999_999_999, "2000-02-29T00:00:00.999999Z"),
        (4_107_542_399, 1_000, "2100-02-28T23:59:59.000001Z"),
        (4_107_542_400, 0, "2100-03-01T00:00:00.000000Z"),
        (253_402_300_799, 0, "9999-12-31T23:59:59.000000Z"),
        (253_402_300_800, 0, "+10000-01-01T00:00:00.000000Z"),
    ];
    for (secs, nanos, expected) in cases {
        assert_eq!(stamp(UNIX_EPOCH + Duration::new(secs, nanos)), expected);
    }
    assert_eq!(
        stamp(UNIX_EPOCH - Duration::new(1, 500_000_000)),
        "1969-12-31T23:59:58.500000Z"
    );
    // Seconds apart on one thread: the cached second never leaks into the next.
    for secs in [10, 11, 10, 86_399, 86_400, 10] {
        let expected = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        assert_eq!(
            stamp(UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())),
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z",
                expected.year(),
                u8::from(expected.month()),
                expected.day(),
                expected.hour(),
                expected.minute(),
                expected.second()
            )
        );
    }
}

#[test]
fn dates_agree_with_the_time_crate_from_1970_to_9999() {
    let mut secs = 0_i64;
    while secs < 253_402_300_800 {
        let expected = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        assert_eq!(
            super::civil(secs),
            (
                i64::from(expected.year()),
                u8::from(expected.month()),
                expected.day(),
                expected.hour(),
                expected.minute(),
                expected.second()
            ),
            "{secs}"
        );
        secs += 7_919_993;
    }
}

#[test]
fn the_timestamp_is_the_one_the_subscriber_timer_would_write() {
    let timer = tracing_subscriber::fmt::time::SystemTime;
    let before = stamp(SystemTime::now());
    let mut theirs = String::new();
    timer.format_time(&mut Writer::new(&mut theirs)).unwrap();
    let after = stamp(SystemTime::now());
    // Fixed width, so the text orders as the instants do.
    assert_eq!(theirs.len(), before.len());
    assert!(
        before <= theirs && theirs <= after,
        "{before} {theirs} {after}"
    );
}

fn tagged(tag: &str, i: usize) -> String {
    format!("{tag}-{i}")
}

fn count_lines_with(tag: &str) -> usize {
    String::from_utf8_lossy(&captured())
        .lines()
        .filter(|line| line.contains(tag))
        .count()
}

#[test]
fn a_filtered_out_target_formats_nothing() {
    let tag = "filtered-5b8d1e";
    let mut line = allow();
    line.request_id = tag;
    let off = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(format!(
            "{},step_posture_connector::decision=off",
            filter_for_level(0)
        )))
        .with_writer(io::sink)
        .finish();
    let before = FORMATTED.with(Cell::get);
    tracing::subscriber::with_default(off, || {
        line.log_as(Some(Style::Text));
        line.log_as(Some(Style::Json));
        line.log_as(None);
    });
    assert_eq!(FORMATTED.with(Cell::get), before, "nothing formatted");
    assert_eq!(count_lines_with(tag), 0, "nothing written");

    let on = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter_for_level(0)))
        .with_writer(io::sink)
        .finish();
    tracing::subscriber::with_default(on, || line.log_as(Some(Style::Json)));
    assert_eq!(FORMATTED.with(Cell::get), before + 1);
    assert_eq!(count_lines_with(tag), 1, "written at once on this thread");
}

#[test]
fn lines_on_a_batching_thread_wait_for_the_flush() {
    let tag = "batched-0c7f3a";
    std::thread::spawn(move || {
        batch_this_thread();
        let mut line = allow();
        line.request_id = tag;
        super::super::write_line(|out| line.format(Style::Text, at(), out));
        assert_eq!(count_lines_with(tag), 0);
        flush_this_thread();
        assert_eq!(count_lines_with(tag), 1);
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

#[test]
fn lines_written_just_before_shutdown_are_not_lost() {
    let tag = "shutdown-9e41b2";
    let lines = 500;
    let runtime = runtime().unwrap();
    runtime.block_on(async {
        // Wait for the workers to park once, so that from then on they batch.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let tasks: Vec<_> = (0..lines)
            .map(|i| {
                tokio::spawn(async move {
                    let request_id = tagged(tag, i);
                    let mut line = allow();
                    line.request_id = &request_id;
                    super::super::write_line(|out| line.format(Style::Json, at(), out));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    // The lines may still sit in the workers' batches; stopping the runtime writes them.
    drop(runtime);
    let written = String::from_utf8_lossy(&captured()).into_owned();
    for i in 0..lines {
        let id = format!("\"request_id\":\"\\\"{}\\\"\"", tagged(tag, i));
        assert_eq!(written.matches(&id).count(), 1, "line {i}");
    }
}
