//! Cuts the usual shape of a JSON device file, `{"devices":[{…},{…},…]}`, into its device
//! objects as the file is read, so that each can be parsed from a slice: serde_json parses
//! a slice three to four times as fast as a stream, which it reads a byte at a time.
//!
//! Only the framing is read here: where each object ends, found by counting brackets
//! outside strings. serde_json still parses every byte of every object, so an object cut
//! in the wrong place (only possible in an invalid file) fails to parse.

use std::io::{self, Read};

use crate::list::READ_BUFFER;

/// JSON whitespace.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// A file being read in blocks.
#[derive(Debug)]
pub(crate) struct Blocks<R> {
    reader: R,
    /// Bytes `start..end` are read but not yet consumed; the rest is room to read into.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> Blocks<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            buffer: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
        }
    }

    /// What is read but not yet consumed.
    fn pending(&self) -> &[u8] {
        self.buffer.get(self.start..self.end).unwrap_or_default()
    }

    /// Reads more, after moving what is pending to the front; false at the end of the file.
    fn fill(&mut self) -> io::Result<bool> {
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buffer.len() {
            // An object longer than the buffer: doubling keeps reading it linear.
            self.buffer.resize(self.buffer.len() * 2, 0);
        }
        loop {
            match self
                .reader
                .read(self.buffer.get_mut(self.end..).unwrap_or_default())
            {
                Ok(read) => {
                    self.end += read;
                    return Ok(read > 0);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// The next byte after any whitespace, which it skips; `None` at the end of the file.
    pub(crate) fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            while let Some(&byte) = self.pending().first() {
                if !is_space(byte) {
                    return Ok(Some(byte));
                }
                self.start += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Skips whitespace and then `byte`, if that is what comes next.
    pub(crate) fn eat(&mut self, byte: u8) -> io::Result<bool> {
        let next = self.peek()?;
        if next == Some(byte) {
            self.start += 1;
        }
        Ok(next == Some(byte))
    }

    /// Skips whitespace and then `word`, if it comes next, ignoring ASCII case.
    pub(crate) fn eat_ignoring_case(&mut self, word: &[u8]) -> io::Result<bool> {
        self.peek()?;
        while self.pending().len() < word.len() {
            if !self.fill()? {
                return Ok(false);
            }
        }
        let found = self
            .pending()
            .get(..word.len())
            .is_some_and(|next| next.eq_ignore_ascii_case(word));
        if found {
            self.start += word.len();
        }
        Ok(found)
    }

    /// Skips whitespace and returns the value that starts with the next byte, up to its
    /// matching closing bracket, consumed: an object or array whole, or a single byte of
    /// anything else. `None` if the file ends first.
    pub(crate) fn value(&mut self) -> io::Result<Option<&[u8]>> {
        self.peek()?;
        let mut nesting = Nesting::default();
        let mut scanned = 0;
        loop {
            let rest = self.pending().get(scanned..).unwrap_or_default();
            if let Some(length) = nesting.close(rest) {
                let value = self.start..self.start + scanned + length;
                self.start = value.end;
                return Ok(self.buffer.get(value));
            }
            scanned = self.pending().len();
            if !self.fill()? {
                return Ok(None);
            }
        }
    }
}

/// Where a value ends, found by counting brackets outside strings.
#[derive(Debug, Default)]
struct Nesting {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Nesting {
    /// Reads on through `bytes`; returns how many it took to close the value, if they do.
    fn close(&mut self, bytes: &[u8]) -> Option<usize> {
        for (at, &byte) in bytes.iter().enumerate() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            if self.depth == 0 {
                return Some(at + 1);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, so every value spans reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&byte, rest)), Some(slot)) => {
                    *slot = byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn cuts_values_at_their_closing_bracket() {
        let text = br#" {"a":"}]\"{","b":[{}]} [1,[2]] x {"open":"#;
        let expected = [&br#"{"a":"}]\"{","b":[{}]}"#[..], b"[1,[2]]", b"x"].map(<[u8]>::to_vec);
        fn values(mut blocks: Blocks<impl Read>) -> Vec<Vec<u8>> {
            std::iter::from_fn(|| blocks.value().unwrap().map(<[u8]>::to_vec)).collect()
        }
        assert_eq!(values(Blocks::new(&text[..])), expected);
        assert_eq!(values(Blocks::new(Trickle(text))), expected);
    }

    #[test]
    fn reads_values_longer_than_the_buffer() {
        let long = format!("{{\"data\":\"{}\"}} {{}}", "x".repeat(3 * READ_BUFFER));
        let mut blocks = Blocks::new(long.as_bytes());
        let first = blocks.value().unwrap().map(<[u8]>::len);
        assert_eq!(first, Some(3 * READ_BUFFER + 11));
        assert_eq!(blocks.value().unwrap(), Some(&b"{}"[..]));
        assert_eq!(blocks.value().unwrap(), None);
    }

    #[test]
    fn eats_words_and_bytes_after_whitespace() {
        let mut blocks = Blocks::new(Trickle(b" \n{\t\"Devices\" :\r\n[]"));
        assert!(blocks.eat(b'{').unwrap());
        assert!(!blocks.eat_ignoring_case(b"\"devicez\"").unwrap());
        assert!(blocks.eat_ignoring_case(b"\"devices\"").unwrap());
        assert!(!blocks.eat(b'[').unwrap());
        assert!(blocks.eat(b':').unwrap());
        assert!(blocks.eat(b'[').unwrap());
        assert!(blocks.eat(b']').unwrap());
        assert_eq!(blocks.peek().unwrap(), None);
        assert!(!blocks.eat_ignoring_case(b"x").unwrap());
    }
}
