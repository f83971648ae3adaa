//! The JSON format: `{"devices":[{"identifier":"…","data":{…}}]}`.
//!
//! The file is parsed in one streaming pass: each device's `identifier` and `data` are
//! taken as raw JSON borrowed from the input, so `data` reaches the index byte for byte (as
//! its values and its shape, [`Layout::Shapes`], given back exactly) and nothing is built per
//! device but its index entry. As in the Go version (`encoding/json`),
//! the keys `devices`, `identifier` and `data` match regardless of ASCII case and other keys
//! are ignored. Unlike it, a key repeated within one object is an error, not "last wins".
//!
//! The same walk reads a file as a stream, taking each device's values as owned raw JSON
//! instead, so the file is never in memory whole.
//!
//! Positions: serde reports syntax errors where it finds them. For our own checks the raw
//! values are slices of the input, so their offset in it gives the line. A stream has no
//! such input, so its errors have no line for our checks;
//! [`DeviceList::load_with`](crate::DeviceList::load_with) reports those by parsing the
//! file again in memory.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

use crate::LoadError;
use crate::list::{check_identifier, full};
use crate::split_json::Blocks;
use posture_index::{Builder, Layout};

/// Parses a JSON device file in memory (without its byte-order mark) into a builder.
pub(crate) fn parse(input: &[u8], file: &str) -> Result<Builder, LoadError> {
    // The data values are slices of the input, so the input's size bounds them.
    let mut builder = Builder::with_data_capacity(input.len(), Layout::Shapes);
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let result = walk(&mut deserializer, |index, device: RawDevice<&RawValue>| {
        add_device(&mut builder, Some(input), file, index, &device)
    });
    outcome(result, builder, file)
}

/// Parses a JSON device file (without its byte-order mark) as it is read. `size` is the
/// file's length, which bounds the data. Errors from our own checks have no position (see
/// the module's documentation).
pub(crate) fn parse_reader(
    input: impl Read,
    size: usize,
    file: &str,
) -> Result<Builder, LoadError> {
    let mut builder = Builder::with_data_capacity(size, Layout::Shapes);
    let mut deserializer = serde_json::Deserializer::from_reader(input);
    let result = walk(
        &mut deserializer,
        |index, device: RawDevice<Box<RawValue>>| {
            add_device(&mut builder, None, file, index, &device)
        },
    );
    outcome(result, builder, file)
}

/// Parses a JSON device file (without its byte-order mark) of the usual shape,
/// `{"devices":[…]}` and nothing else, as it is read: each device is cut out of the stream
/// and parsed from its slice. `None` when the file has another shape (say, more keys at the
/// top, or escapes in `"devices"`); then [`parse_reader`] reads it. Errors from our own
/// checks have no position, as with [`parse_reader`].
pub(crate) fn parse_split(
    input: impl Read,
    size: usize,
    file: &str,
) -> Option<Result<Builder, LoadError>> {
    let mut blocks = Blocks::new(input);
    let mut builder = Builder::with_data_capacity(size, Layout::Shapes);
    let result = (|| {
        let opened = blocks.eat(b'{')?
            && blocks.eat_ignoring_case(b"\"devices\"")?
            && blocks.eat(b':')?
            && blocks.eat(b'[')?;
        if !opened {
            return Ok(false);
        }
        if blocks.eat(b']')? {
            return Ok(blocks.eat(b'}')? && blocks.peek()?.is_none());
        }
        for index in 0.. {
            let Some(device) = blocks.value()? else {
                return Ok(false);
            };
            if let Err(err) = parse_device(device, index, &mut builder, file) {
                return Err(Split::Rejected(err));
            }
            if !blocks.eat(b',')? {
                break;
            }
        }
        Ok(blocks.eat(b']')? && blocks.eat(b'}')? && blocks.peek()?.is_none())
    })();
    match result {
        Ok(true) => Some(Ok(builder)),
        Ok(false) => None,
        Err(Split::Rejected(err)) => Some(Err(err)),
        Err(Split::Io(err)) => Some(Err(LoadError::InvalidJson {
            file: file.to_owned(),
            line: 0,
            column: 0,
            reason: format!("cannot read the file: {err}"),
        })),
    }
}

/// Why [`parse_split`] stopped.
enum Split {
    Rejected(LoadError),
    Io(io::Error),
}

impl From<io::Error> for Split {
    fn from(err: io::Error) -> Self {
        Self::Io(err)
    }
}

/// Parses one device object, device `index` of the file, and adds it.
fn parse_device(
    object: &[u8],
    index: usize,
    builder: &mut Builder,
    file: &str,
) -> Result<(), LoadError> {
    let mut walker = Walker {
        sink: |index, device: RawDevice<&RawValue>| add_device(builder, None, file, index, &device),
        failure: None,
        locate: None,
        located: None,
        raw: PhantomData,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(object);
    let parsed = Device {
        walker: &mut walker,
        index,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    match parsed {
        Ok(()) => Ok(()),
        Err(err) => match walker.failure.take() {
            Some(Failure::Rejected(rejected)) => Err(rejected),
            Some(Failure::Stop) | None => Err(syntax_error(&err, file)),
        },
    }
}

fn outcome(
    result: Result<(), (serde_json::Error, Option<Failure>)>,
    builder: Builder,
    file: &str,
) -> Result<Builder, LoadError> {
    match result {
        Ok(()) => Ok(builder),
        Err((_, Some(Failure::Rejected(err)))) => Err(err),
        Err((err, Some(Failure::Stop) | None)) => Err(syntax_error(&err, file)),
    }
}

/// Validates one device and adds it. `input` is the whole file, when parsing in memory.
fn add_device<V: Deref<Target = RawValue>>(
    builder: &mut Builder,
    input: Option<&[u8]>,
    file: &str,
    index: usize,
    device: &RawDevice<V>,
) -> Result<(), Failure> {
    let Some(raw_id) = device.identifier.as_deref() else {
        return Err(Failure::Rejected(LoadError::MissingIdentifier {
            file: file.to_owned(),
            line: input.map_or(0, |input| device_start_line(input, index)),
            device: index + 1,
        }));
    };
    let line = || position(input, raw_id.get()).0;
    let identifier = match decode_identifier(raw_id) {
        Ok(Some(identifier)) => identifier,
        Ok(None) => {
            return Err(Failure::Rejected(LoadError::MissingIdentifier {
                file: file.to_owned(),
                line: line(),
                device: index + 1,
            }));
        }
        Err(found) => {
            let (line, column) = position(input, raw_id.get());
            return Err(Failure::Rejected(LoadError::InvalidJson {
                file: file.to_owned(),
                line,
                column,
                reason: format!("the identifier must be a string, found {found}"),
            }));
        }
    };
    check_identifier(&identifier, file, line).map_err(Failure::Rejected)?;
    let data = match device.data.as_deref().map(classify_data) {
        None | Some(Data::None) => &[][..],
        Some(Data::Object(json)) => {
            if let Err(err) = check_numbers(json) {
                let (line, column) = position(input, json);
                let (line, column) = if err.line() <= 1 {
                    (line, column + err.column().saturating_sub(1))
                } else {
                    (line + err.line() - 1, err.column())
                };
                return Err(Failure::Rejected(LoadError::InvalidJson {
                    file: file.to_owned(),
                    line,
                    column,
                    reason: format!(
                        "the data of {identifier:?} holds a number step-ca cannot read \
                         (it must fit a 64-bit float): {}",
                        error_message(&err)
                    ),
                }));
            }
            json.as_bytes()
        }
        Some(Data::Other(found)) => {
            let at = device
                .data
                .as_deref()
                .map_or(0, |raw| position(input, raw.get()).0);
            return Err(Failure::Rejected(LoadError::DataNotObject {
                file: file.to_owned(),
                line: at,
                identifier: identifier.into_owned(),
                found,
            }));
        }
    };
    builder
        .push(&identifier, data)
        .map_err(|err| Failure::Rejected(full(err, file)))
}

/// The line of device `wanted`'s identifier, found by walking the file again. Used only
/// to report a duplicate, so the fast path need not remember where every device was.
pub(crate) fn identifier_line(input: &[u8], wanted: usize) -> usize {
    let mut found = 0;
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let _stopped = walk(&mut deserializer, |index, device: RawDevice<&RawValue>| {
        if index < wanted {
            return Ok(());
        }
        if let Some(raw) = device.identifier {
            found = position(Some(input), raw.get()).0;
        }
        Err(Failure::Stop)
    });
    found
}

/// The line where device `wanted` (its `{`) starts, found by walking the file again. Used
/// only to report a device without an identifier.
fn device_start_line(input: &[u8], wanted: usize) -> usize {
    let mut walker = Walker {
        sink: |_: usize, _: RawDevice<&RawValue>| Ok(()),
        failure: None,
        locate: Some(wanted),
        located: None,
        raw: PhantomData,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let _stopped = Top(&mut walker).deserialize(&mut deserializer);
    walker
        .located
        .map_or(0, |address| line_at_address(input, address).0)
}

/// The JSON text of an identifier, decoded; `None` for `null`; the kind of value otherwise.
fn decode_identifier(raw: &RawValue) -> Result<Option<Cow<'_, str>>, &'static str> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => {
            let inner = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
            match inner {
                Some(inner) if !inner.contains('\\') => Ok(Some(Cow::Borrowed(inner))),
                _ => serde_json::from_str::<String>(text)
                    .map(|decoded| Some(Cow::Owned(decoded)))
                    .map_err(|_| "a malformed string"),
            }
        }
        Some(b'n') => Ok(None),
        Some(&byte) => Err(kind_of(byte)),
        None => Err("nothing"),
    }
}

enum Data<'a> {
    /// `null` or `{}`: no data, as the Go version omits an empty map from its response.
    None,
    /// A non-empty object, as written.
    Object(&'a str),
    /// Anything else, by kind.
    Other(&'static str),
}

fn classify_data(raw: &RawValue) -> Data<'_> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') => {
            let inner = text.strip_prefix('{').and_then(|t| t.strip_suffix('}'));
            if inner.is_some_and(|inner| inner.bytes().all(|b| b.is_ascii_whitespace())) {
                Data::None
            } else {
                Data::Object(text)
            }
        }
        Some(b'n') => Data::None,
        Some(&byte) => Data::Other(kind_of(byte)),
        None => Data::Other("nothing"),
    }
}

/// The kind of JSON value that starts with `byte`, for messages.
fn kind_of(byte: u8) -> &'static str {
    match byte {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// The line and column (from 1, in bytes) where `raw`, a slice of `input`, starts; zeros
/// when streaming, with no input to measure against.
fn position(input: Option<&[u8]>, raw: &str) -> (usize, usize) {
    input.map_or((0, 0), |input| line_at_address(input, raw.as_ptr().addr()))
}

/// The line and column of the byte of `input` at memory address `address`.
fn line_at_address(input: &[u8], address: usize) -> (usize, usize) {
    let offset = address.wrapping_sub(input.as_ptr().addr());
    let Some(before) = input.get(..offset) else {
        return (0, 0);
    };
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
    (line, column)
}

/// Checks that every number in the object `json` fits a 64-bit float. Raw values are
/// checked for syntax only, so `1e999` would load, and step-ca, decoding numbers as Go's
/// `float64`, would then refuse the whole webhook response. Only an exponent or more than
/// 308 digits can overflow, so objects without either skip the full parse.
fn check_numbers(json: &str) -> Result<(), serde_json::Error> {
    let mut digits = 0_usize;
    let might_overflow = json.bytes().any(|byte| {
        if byte.is_ascii_digit() {
            digits += 1;
            return digits > 308;
        }
        let exponent = digits > 0 && matches!(byte, b'e' | b'E');
        digits = 0;
        exponent
    });
    if might_overflow {
        serde_json::from_str::<serde_json::Value>(json)?;
    }
    Ok(())
}

/// A serde_json error's message without its position.
fn error_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

fn syntax_error(err: &serde_json::Error, file: &str) -> LoadError {
    let message = error_message(err);
    let message = message.as_str();
    let reason = if err.is_syntax() || err.is_eof() {
        format!("invalid JSON: {message}")
    } else {
        message.to_owned()
    };
    LoadError::InvalidJson {
        file: file.to_owned(),
        line: err.line(),
        column: err.column(),
        reason,
    }
}

/// A device's interesting values, as raw JSON: borrowed from the input (`&RawValue`) when
/// it is in memory, owned (`Box<RawValue>`) when it is streamed.
#[derive(Debug)]
struct RawDevice<V> {
    identifier: Option<V>,
    data: Option<V>,
}

/// Why a walk stopped early.
#[derive(Debug)]
enum Failure {
    /// A device failed a check.
    Rejected(LoadError),
    /// The caller has what it wanted.
    Stop,
}

/// Streams the devices `deserializer` reads to `sink`, numbering them from 0. On error,
/// returns serde's error (with its position) and the sink's failure, if the sink stopped
/// it.
fn walk<'de, R, V, F>(
    deserializer: &mut serde_json::Deserializer<R>,
    sink: F,
) -> Result<(), (serde_json::Error, Option<Failure>)>
where
    R: serde_json::de::Read<'de>,
    V: Deserialize<'de> + Deref<Target = RawValue>,
    F: FnMut(usize, RawDevice<V>) -> Result<(), Failure>,
{
    let mut walker = Walker {
        sink,
        failure: None,
        locate: None,
        located: None,
        raw: PhantomData,
    };
    let result = Top(&mut walker)
        .deserialize(&mut *deserializer)
        .and_then(|()| deserializer.end());
    result.map_err(|err| (err, walker.failure.take()))
}

struct Walker<F, V> {
    sink: F,
    failure: Option<Failure>,
    /// When set, stop at this device and record where it starts in `located`.
    locate: Option<usize>,
    located: Option<usize>,
    /// How raw values are held.
    raw: PhantomData<fn() -> V>,
}

/// The keys we look for, matched regardless of ASCII case as `encoding/json` does.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Key {
    Devices,
    Identifier,
    Data,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(if key.eq_ignore_ascii_case("devices") {
            Key::Devices
        } else if key.eq_ignore_ascii_case("identifier") {
            Key::Identifier
        } else if key.eq_ignore_ascii_case("data") {
            Key::Data
        } else {
            Key::Other
        })
    }
}

/// A raw JSON value as the walk holds it: borrowed from the input, or owned.
trait RawJson<'de>: Deserialize<'de> + Deref<Target = RawValue> {}

impl<'de, V: Deserialize<'de> + Deref<Target = RawValue>> RawJson<'de> for V {}

/// What the walk hands each device to, with its index.
trait Sink<V>: FnMut(usize, RawDevice<V>) -> Result<(), Failure> {}

impl<V, F: FnMut(usize, RawDevice<V>) -> Result<(), Failure>> Sink<V> for F {}

/// Each visitor below is also its own seed: it asks the deserializer for the JSON shape
/// (`$method`) it visits.
macro_rules! seed_visits {
    ($($visitor:ident: $method:ident),* $(,)?) => {$(
        impl<'de, F: Sink<V>, V: RawJson<'de>> DeserializeSeed<'de> for $visitor<'_, F, V> {
            type Value = ();

            fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
                deserializer.$method(self)
            }
        }
    )*};
}

seed_visits!(Top: deserialize_map, Devices: deserialize_option, Device: deserialize_map);

/// The top-level object.
struct Top<'w, F, V>(&'w mut Walker<F, V>);

impl<'de, F: Sink<V>, V: RawJson<'de>> Visitor<'de> for Top<'_, F, V> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a \"devices\" array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Devices {
                if seen {
                    return Err(de::Error::custom("more than one \"devices\" key"));
                }
                seen = true;
                map.next_value_seed(Devices(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `devices` value: an array, or `null` for none.
struct Devices<'w, F, V>(&'w mut Walker<F, V>);

impl<'de, F: Sink<V>, V: RawJson<'de>> Visitor<'de> for Devices<'_, F, V> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of devices")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            if self.0.locate == Some(index) {
                let raw: Option<V> = seq.next_element()?;
                self.0.located = raw.map(|raw| raw.get().as_ptr().addr());
                return Err(de::Error::custom("device located"));
            }
            let device = Device {
                walker: &mut *self.0,
                index,
            };
            if seq.next_element_seed(device)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// One element of `devices`.
struct Device<'w, F, V> {
    walker: &'w mut Walker<F, V>,
    index: usize,
}

impl<'de, F: Sink<V>, V: RawJson<'de>> Visitor<'de> for Device<'_, F, V> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a device object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut device = RawDevice {
            identifier: None,
            data: None,
        };
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Identifier => &mut device.identifier,
                Key::Data => &mut device.data,
                Key::Devices | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                let name = if key == Key::Data {
                    "data"
                } else {
                    "identifier"
                };
                return Err(de::Error::custom(format_args!(
                    "device {} has more than one {name:?} key",
                    self.index + 1
                )));
            }
            *slot = Some(map.next_value::<V>()?);
        }
        (self.walker.sink)(self.index, device).map_err(|failure| {
            self.walker.failure = Some(failure);
            de::Error::custom("device rejected")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(json: &str) -> Result<posture_index::Index, LoadError> {
        parse(json.as_bytes(), "t.json").map(|builder| builder.finish().unwrap())
    }

    #[test]
    fn keeps_data_bytes_verbatim() {
        let json =
            "{\"devices\":[{\"identifier\":\"A\",\"data\":{ \"b\" : [1, 2.50],\n \"a\":null }}]}";
        let index = parse_str(json).unwrap();
        assert_eq!(
            index.data(0).as_deref(),
            Some(&b"{ \"b\" : [1, 2.50],\n \"a\":null }"[..])
        );
    }

    #[test]
    fn matches_keys_regardless_of_case_and_ignores_others() {
        let json = r#"{"Devices":[{"IDENTIFIER":"A","Data":{"x":1},"notes":"spare"}],"version":2}"#;
        let index = parse_str(json).unwrap();
        assert_eq!(index.find("A"), Some(0));
        assert_eq!(index.data(0).as_deref(), Some(&br#"{"x":1}"#[..]));
    }

    #[test]
    fn decodes_escaped_identifiers() {
        let index = parse_str(r#"{"devices":[{"identifier":"C02\u0058\"Q"}]}"#).unwrap();
        assert_eq!(index.identifier(0), "C02X\"Q");
    }

    #[test]
    fn empty_or_null_data_is_no_data() {
        let json = r#"{"devices":[{"identifier":"A","data":{ }},{"identifier":"B","data":null}]}"#;
        let index = parse_str(json).unwrap();
        assert_eq!(index.data(0), None);
        assert_eq!(index.data(1), None);
    }

    #[test]
    fn null_devices_is_an_empty_list() {
        assert_eq!(parse_str(r#"{"devices":null}"#).unwrap().len(), 0);
        assert_eq!(parse_str(r#"{"other":[]}"#).unwrap().len(), 0);
    }

    #[test]
    fn cuts_out_devices_only_from_the_usual_shape() {
        let split = |json: &str| {
            parse_split(json.as_bytes(), json.len(), "t.json")
                .map(|parsed| parsed.map(|builder| builder.finish().unwrap().len()))
        };
        let usual = "\n{ \"Devices\" :[\n{\"identifier\":\"A\",\"data\":{\"a\":[1]}},\n{\"identifier\":\"B\"}\n] }\n";
        assert_eq!(split(usual).unwrap().unwrap(), 2);
        assert_eq!(split(r#"{"devices":[]}"#).unwrap().unwrap(), 0);
        let err = split(r#"{"devices":[{"identifier":7}]}"#)
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, LoadError::InvalidJson { .. }), "{err}");
        for other in [
            r#"{"version":1,"devices":[]}"#,
            r#"{"devices":[],"version":1}"#,
            r#"{"devices":null}"#,
            r#"{"devices":[{"identifier":"A"}"#,
            "",
        ] {
            assert!(split(other).is_none(), "{other}");
        }
    }

    #[test]
    fn reports_positions() {
        let json = "{\"devices\":[\n{\"identifier\":\"A\"},\n{\"identifier\":7}\n]}";
        let err = parse_str(json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.json line 3 column 15: the identifier must be a string, found a number"
        );

        let err =
            parse_str("{\"devices\":[{\"identifier\":\"A\"},\n\n{\n\"data\":{\"a\":1}\n}\n]}")
                .unwrap_err();
        assert_eq!(err.to_string(), "t.json line 3: device 2 has no identifier");

        let err = parse_str("{\"devices\":[{\"identifier\":null}]}").unwrap_err();
        assert_eq!(err.to_string(), "t.json line 1: device 1 has no identifier");
    }

    #[test]
    fn refuses_repeated_keys_and_wrong_shapes() {
        for (json, expected) in [
            (
                r#"{"devices":[],"devices":[]}"#,
                "t.json line 1 column 23: more than one \"devices\" key",
            ),
            (
                r#"{"devices":[{"identifier":"A","Identifier":"B"}]}"#,
                "t.json line 1 column 42: device 1 has more than one \"identifier\" key",
            ),
            (
                r#"[{"identifier":"A"}]"#,
                "t.json line 1 column 0: invalid type: sequence, expected an object with a \"devices\" array",
            ),
            (
                r#"{"devices":{"identifier":"A"}}"#,
                "t.json line 1 column 11: invalid type: map, expected an array of devices",
            ),
            (
                r#"{"devices":["A"]}"#,
                "t.json line 1 column 15: invalid type: string \"A\", expected a device object",
            ),
            (
                r#"{"devices":[]} x"#,
                "t.json line 1 column 16: invalid JSON: trailing characters",
            ),
        ] {
            assert_eq!(parse_str(json).unwrap_err().to_string(), expected, "{json}");
        }
    }
}
