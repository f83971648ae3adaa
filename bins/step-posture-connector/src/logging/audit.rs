//! The decision (audit) line, formatted by a formatter of its own.
//!
//! Under load nearly every line the server writes is a decision line, one per request, and
//! `tracing-subscriber`'s generic path (a field visitor driving `fmt::Debug` for each
//! field, the timestamp formatted in full each time, the line built in a `String` and then
//! copied) cost more than deciding the request. [`DecisionLine::log`] writes the same bytes
//! the subscriber's `text` and `json` formats write for the `decision` event straight into
//! the worker's batch: the date and time of day formatted once a second per thread, the
//! fields copied with hand-written escaping, integers through `itoa`.
//!
//! What stays the same: the target (`step_posture_connector::decision`) and level (info),
//! so `RUST_LOG` and `LOGGING_LEVEL` filter it as before and nothing is formatted when it
//! is filtered out; the fields, their order and their escaping in both formats; the batch
//! (see the parent module) the line joins, so it is written when the worker parks and
//! when it stops. A text log on a terminal (colours on) and a process whose subscriber
//! [`init`](super::init) did not install go through `tracing` as before. Every other line,
//! the summaries of refused requests and the SCEP challenge lines included, still goes
//! through `tracing-subscriber`.

use std::cell::Cell;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use posture_core::DeviceMode;
use tracing::Level;

/// The decision lines' target.
pub(crate) const TARGET: &str = "step_posture_connector::decision";

/// Which of the subscriber's formats the decision line copies.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Style {
    /// `LOG_FORMAT=text` without colours.
    Text,
    /// `LOG_FORMAT=json`, fields flattened.
    Json,
}

/// Set by [`super::init`] once the global subscriber is installed.
static STYLE: OnceLock<Style> = OnceLock::new();

/// Makes decision lines take the formatter of their own, in `style`.
pub(crate) fn install(style: Style) {
    let _ = STYLE.set(style);
}

/// One decision's audit line: the fields of the `decision` event, in their order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecisionLine<'a> {
    /// `allow`, `deny`, `unauthorized` or `error`.
    pub(crate) outcome: &'a str,
    /// The HTTP status answered.
    pub(crate) status: u16,
    /// The deny code, or empty.
    pub(crate) code: &'a str,
    /// The device identifier, or empty.
    pub(crate) identifier: &'a str,
    /// The webhook ID the request claimed.
    pub(crate) webhook_id: &'a str,
    /// The request's `X-Request-Id`.
    pub(crate) request_id: &'a str,
    /// The provisioner, or empty.
    pub(crate) provisioner: &'a str,
    /// The device mode.
    pub(crate) mode: DeviceMode,
    /// The provider's name.
    pub(crate) provider: &'a str,
    /// The route (`device-attest`, …).
    pub(crate) webhook: &'a str,
    /// The client's address, if known.
    pub(crate) client: Option<IpAddr>,
    /// Why.
    pub(crate) reason: &'a str,
    /// From the request's arrival to the decision.
    pub(crate) latency: Duration,
}

impl DecisionLine<'_> {
    /// Writes the line unless the decision target is filtered out at info.
    pub(crate) fn log(&self) {
        self.log_as(STYLE.get().copied());
    }

    /// Writes the line in `style`, or through `tracing` without one.
    fn log_as(&self, style: Option<Style>) {
        if !tracing::enabled!(target: TARGET, Level::INFO) {
            return;
        }
        match style {
            Some(style) => super::write_line(|out| self.format(style, SystemTime::now(), out)),
            None => self.emit_via_tracing(),
        }
    }

    /// The line as an event, for the subscriber to format (the way every decision line
    /// was written before the formatter of its own).
    pub(crate) fn emit_via_tracing(&self) {
        let latency_ms = self.latency.as_secs_f64() * 1000.0;
        tracing::info!(
            target: TARGET,
            outcome = self.outcome,
            status = self.status,
            code = self.code,
            identifier = ?self.identifier,
            webhook_id = ?self.webhook_id,
            request_id = ?self.request_id,
            provisioner = ?self.provisioner,
            mode = %self.mode,
            provider = self.provider,
            webhook = self.webhook,
            client = %self.client.map_or_else(String::new, |ip| ip.to_string()),
            reason = %self.reason,
            latency_ms = format_args!("{latency_ms:.2}"),
            "decision"
        );
    }

    /// Appends the line, newline included, as of `now`.
    pub(crate) fn format(&self, style: Style, now: SystemTime, out: &mut Vec<u8>) {
        #[cfg(test)]
        tests::FORMATTED.with(|n| n.set(n.get() + 1));
        match style {
            Style::Text => self.text(now, out),
            Style::Json => self.json(now, out),
        }
    }

    /// `tracing-subscriber`'s `Full` format without colours or target: the message, then
    /// each field as `name=value`.
    fn text(&self, now: SystemTime, out: &mut Vec<u8>) {
        timestamp(now, out);
        out.extend_from_slice(b"  INFO decision");
        self.write_fields(out, (b" ", b"="), |field, out| field.text(out));
        out.push(b'\n');
    }

    /// `tracing-subscriber`'s `Json` format, flattened, without target or spans.
    fn json(&self, now: SystemTime, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(now, out);
        out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"decision\"");
        self.write_fields(out, (b",\"", b"\":"), |field, out| field.json(out));
        out.extend_from_slice(b"}\n");
    }

    /// Each field as `before name after value`, the value written by `write`.
    fn write_fields(
        &self,
        out: &mut Vec<u8>,
        (before, after): (&[u8], &[u8]),
        write: impl Fn(&Field<'_>, &mut Vec<u8>),
    ) {
        for (name, value) in self.fields() {
            out.extend_from_slice(before);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(after);
            write(&value, out);
        }
    }

    /// The fields in the order [`emit_via_tracing`](Self::emit_via_tracing) records them,
    /// each recorded the way it records it.
    fn fields(&self) -> [(&'static str, Field<'_>); 13] {
        [
            ("outcome", Field::Str(self.outcome)),
            ("status", Field::Number(self.status)),
            ("code", Field::Str(self.code)),
            ("identifier", Field::Debug(self.identifier)),
            ("webhook_id", Field::Debug(self.webhook_id)),
            ("request_id", Field::Debug(self.request_id)),
            ("provisioner", Field::Debug(self.provisioner)),
            ("mode", Field::Display(mode_name(self.mode))),
            ("provider", Field::Str(self.provider)),
            ("webhook", Field::Str(self.webhook)),
            ("client", Field::Client(self.client)),
            ("reason", Field::Display(self.reason)),
            ("latency_ms", Field::LatencyMs(self.latency)),
        ]
    }
}

/// One field's value, as `tracing` records it.
enum Field<'a> {
    /// A `&str` value: `fmt::Debug` in text, a JSON string.
    Str(&'a str),
    /// A `?` value: `fmt::Debug` in text, a JSON string holding that `fmt::Debug` form.
    Debug(&'a str),
    /// A `%` value: as it is in text, a JSON string.
    Display(&'a str),
    /// A number, as it is in both.
    Number(u16),
    /// The client's address, a `%` value (digits, dots and colons: nothing to escape).
    Client(Option<IpAddr>),
    /// The latency in milliseconds with two decimals, a `%` value.
    LatencyMs(Duration),
}

impl Field<'_> {
    fn text(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Str(s) | Self::Debug(s) => debug_str(s, out),
            Self::Display(s) => out.extend_from_slice(s.as_bytes()),
            Self::Number(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Self::Client(client) => ip(client, out),
            Self::LatencyMs(latency) => latency_ms(latency, out),
        }
    }

    fn json(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Str(s) | Self::Display(s) => json_str(s, out),
            Self::Debug(s) => json_debug_str(s, out),
            Self::Number(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Self::Client(_) | Self::LatencyMs(_) => {
                out.push(b'"');
                self.text(out);
                out.push(b'"');
            }
        }
    }
}

/// What `DeviceMode`'s `Display` writes.
fn mode_name(mode: DeviceMode) -> &'static str {
    match mode {
        DeviceMode::Unspecified => "unspecified",
        other => other.as_str(),
    }
}

/// Whether `fmt::Debug` writes `s` as it is between quotes, and JSON needs no escapes in
/// it: printable ASCII but `"` and `\`.
fn is_plain(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// `{s:?}`: quoted, escaped as Rust escapes a `str`.
fn debug_str(s: &str, out: &mut Vec<u8>) {
    if is_plain(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Control characters and non-ASCII: the standard library's own escaping, so
        // what counts as printable stays exactly the same.
        let _ = write!(out, "{s:?}");
    }
}

/// A JSON string holding `{s:?}`.
fn json_debug_str(s: &str, out: &mut Vec<u8>) {
    if is_plain(s) {
        out.extend_from_slice(b"\"\\\"");
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\\\"\"");
    } else {
        json_str(&format!("{s:?}"), out);
    }
}

/// A JSON string, escaped as `serde_json` escapes: `"`, `\` and the C0 controls, the
/// usual ones by letter and the rest as `\u00xx`; everything else as it is.
fn json_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The client's address as `Display` writes it; nothing for none.
fn ip(client: Option<IpAddr>, out: &mut Vec<u8>) {
    match client {
        None => {}
        Some(IpAddr::V4(v4)) => {
            let mut buffer = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(buffer.format(octet).as_bytes());
            }
        }
        Some(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// `format!("{:.2}", latency.as_secs_f64() * 1000.0)`, without the float formatter unless
/// the value is within a hair of a tie, where only it rounds exactly as before.
fn latency_ms(latency: Duration, out: &mut Vec<u8>) {
    let ms = latency.as_secs_f64() * 1000.0;
    let hundredths = ms * 100.0;
    // Below 1e9 hundredths the product's rounding error is under 1e-7, so away from a tie
    // rounding it gives the same digits as rounding `ms` exactly.
    if hundredths < 1e9 && (hundredths - hundredths.floor() - 0.5).abs() > 1e-6 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rounded = hundredths.round() as u64;
        out.extend_from_slice(itoa::Buffer::new().format(rounded / 100).as_bytes());
        let cents = u8::try_from(rounded % 100).unwrap_or(0);
        out.extend_from_slice(&[b'.', b'0' + cents / 10, b'0' + cents % 10]);
    } else {
        let _ = write!(out, "{ms:.2}");
    }
}

thread_local! {
    /// The second last formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
}

/// `now` as `tracing-subscriber`'s `SystemTime` timer writes it: UTC,
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn timestamp(now: SystemTime, out: &mut Vec<u8>) {
    let (secs, nanos) = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => (
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            since.subsec_nanos(),
        ),
        Err(err) => {
            let before = err.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-secs, 0),
                nanos => (-secs - 1, 1_000_000_000 - nanos),
            }
        }
    };
    let cached = SECOND
        .try_with(Cell::get)
        .ok()
        .filter(|(second, _)| *second == secs);
    let prefix = match cached {
        Some((_, prefix)) => prefix,
        None => {
            let Some(prefix) = second_prefix(secs) else {
                return timestamp_outside_years(secs, nanos, out);
            };
            let _ = SECOND.try_with(|cell| cell.set((secs, prefix)));
            prefix
        }
    };
    out.extend_from_slice(&prefix);
    let mut micros = nanos / 1_000;
    let mut fraction = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + u8::try_from(micros % 10).unwrap_or(0);
        micros /= 10;
    }
    out.extend_from_slice(&fraction);
}

/// `YYYY-MM-DDTHH:MM:SS` of a second since the epoch, for the years 0 to 9999.
fn second_prefix(secs: i64) -> Option<[u8; 19]> {
    let (year, month, day, hour, minute, second) = civil(secs);
    let year = u16::try_from(year).ok().filter(|year| *year <= 9999)?;
    let two = |n: u8| [b'0' + n / 10, b'0' + n % 10];
    let mut prefix = [0; 19];
    prefix[0] = b'0' + u8::try_from(year / 1000).unwrap_or(0);
    prefix[1] = b'0' + u8::try_from(year / 100 % 10).unwrap_or(0);
    prefix[2] = b'0' + u8::try_from(year / 10 % 10).unwrap_or(0);
    prefix[3] = b'0' + u8::try_from(year % 10).unwrap_or(0);
    prefix[4] = b'-';
    prefix[5..7].copy_from_slice(&two(month));
    prefix[7] = b'-';
    prefix[8..10].copy_from_slice(&two(day));
    prefix[10] = b'T';
    prefix[11..13].copy_from_slice(&two(hour));
    prefix[13] = b':';
    prefix[14..16].copy_from_slice(&two(minute));
    prefix[16] = b':';
    prefix[17..19].copy_from_slice(&two(second));
    Some(prefix)
}

/// Years before 0 or past 9999, as `tracing-subscriber` writes them.
fn timestamp_outside_years(secs: i64, nanos: u32, out: &mut Vec<u8>) {
    let (year, month, day, hour, minute, second) = civil(secs);
    let _ = if year > 9999 {
        write!(out, "+{year}")
    } else {
        write!(out, "{year:05}")
    };
    let _ = write!(
        out,
        "-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:06}Z",
        nanos / 1_000
    );
}

/// Year, month, day, hour, minute and second (UTC) of a second since the epoch, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil(secs: i64) -> (i64, u8, u8, u8, u8, u8) {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let of_era = z.rem_euclid(146_097);
    let year_of_era = (of_era - of_era / 1_460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let small = |n: i64| u8::try_from(n).unwrap_or(0);
    (
        year,
        small(month),
        small(day),
        small(of_day / 3_600),
        small(of_day / 60 % 60),
        small(of_day % 60),
    )
}

#[cfg(test)]
mod tests;
