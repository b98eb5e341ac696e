//! One pass over bytes handed over as `json`: are they one JSON value as `serde_json` reads
//! it into a `serde_json::Value`, nesting at most a given depth? What every backend's
//! `save_bytes` and every `json` file written through `open` ask before anything is stored
//! (through `TypeInfo::check_bytes` and `TypeInfo::check_reader` in `codec.rs`), so that
//! whatever a save accepts loads (design §1.1).
//!
//! The grammar is RFC 8259 as `serde_json` (with `float_roundtrip`) holds to it: one value
//! with optional whitespace (space, tab, LF, CR) around it; no trailing commas, no leading
//! zeros, no `NaN`; strings are UTF-8 without raw control characters, with the escapes
//! `\" \\ \/ \b \f \n \r \t \uXXXX`, and a `\u` surrogate only as a leading one followed by
//! a `\u` trailing one; numbers must be finite as `f64` (`1e400` is refused).
//!
//! Invariants: nothing recurses and the state kept is at most `limit + 1` levels plus the
//! text of one number, so the scan holds on a small stack whatever the input; bytes may
//! arrive in pieces split anywhere (inside an escape, a UTF-8 sequence, a number) with the
//! same verdict as in one piece; the first problem found is the verdict, and scanning stops
//! there.

/// Why bytes are not an acceptable `json` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonProblem {
    /// Arrays and objects nest deeper than the limit.
    TooDeep,
    /// The bytes are not JSON; a sentence saying what is wrong and at which byte.
    NotJson(String),
}

/// Whether `bytes` are one JSON value nesting at most `limit` levels.
pub(crate) fn check_json(bytes: &[u8], limit: usize) -> Result<(), JsonProblem> {
    let mut scan = JsonScan::new(limit);
    scan.feed(bytes);
    scan.finish()
}

/// What the scan expects next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// A value (at the top, after `:`, after `,` in an array).
    Value,
    /// A value or `]`, just after `[`.
    FirstItem,
    /// A key or `}`, just after `{`.
    FirstKey,
    /// A key, after `,` in an object.
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the end of the enclosing container (or, at the top, only whitespace).
    AfterValue,
    /// Inside a string (a key if `key`).
    Str { key: bool },
    /// After a backslash in a string.
    Escape { key: bool },
    /// Reading the 4 hex digits of a `\u` escape: `left` to go, `code` so far; `trailing`
    /// if it follows a leading surrogate (and so must be a trailing one).
    Hex {
        key: bool,
        left: u8,
        code: u16,
        trailing: bool,
    },
    /// After a leading surrogate: `\` then (`u_next`) `u` must follow.
    Trailing { key: bool, u_next: bool },
    /// The rest of `true`, `false` or `null`.
    Literal(&'static [u8]),
    /// Inside a number, in the given part.
    Number(NumPart),
}

/// Where in a number's grammar the scan is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NumPart {
    /// After `-`: a digit must follow.
    Minus,
    /// After a leading `0`: no more integer digits.
    Zero,
    /// In integer digits after a non-zero first digit.
    Int,
    /// After `.`: a digit must follow.
    Dot,
    /// In fraction digits.
    Frac,
    /// After `e`/`E`: a sign or digit must follow.
    Exp,
    /// After the exponent's sign: a digit must follow.
    ExpSign,
    /// In exponent digits.
    ExpDigits,
}

impl NumPart {
    /// The part after `b`, if `b` continues a number in this part.
    fn next(self, b: u8) -> Option<NumPart> {
        use NumPart::*;
        Some(match (self, b) {
            (Minus, b'0') => Zero,
            (Minus, b'1'..=b'9') => Int,
            (Int, b'0'..=b'9') => Int,
            (Zero | Int, b'.') => Dot,
            (Dot | Frac, b'0'..=b'9') => Frac,
            (Zero | Int | Frac, b'e' | b'E') => Exp,
            (Exp, b'+' | b'-') => ExpSign,
            (Exp | ExpSign | ExpDigits, b'0'..=b'9') => ExpDigits,
            _ => return None,
        })
    }

    /// Whether a number may end in this part.
    fn complete(self) -> bool {
        matches!(
            self,
            NumPart::Zero | NumPart::Int | NumPart::Frac | NumPart::ExpDigits
        )
    }
}

/// A streaming check of JSON text (see the module docs).
pub(crate) struct JsonScan {
    limit: usize,
    /// One entry per open container: `true` for an object.
    open: Vec<bool>,
    state: State,
    /// Bytes consumed so far, for error messages.
    offset: u64,
    /// The text of the number being read.
    number: String,
    /// Inside a string: continuation bytes still due for the current UTF-8 sequence, and the
    /// range the next one must fall in.
    utf8_left: u8,
    utf8_next: (u8, u8),
    verdict: Option<JsonProblem>,
}

impl JsonScan {
    pub(crate) fn new(limit: usize) -> Self {
        JsonScan {
            limit,
            open: Vec::new(),
            state: State::Value,
            offset: 0,
            number: String::new(),
            utf8_left: 0,
            utf8_next: (0x80, 0xbf),
            verdict: None,
        }
    }

    /// Whether a problem has been found already (scanning more changes nothing).
    pub(crate) fn failed(&self) -> bool {
        self.verdict.is_some()
    }

    /// Scans the next piece of the text.
    pub(crate) fn feed(&mut self, piece: &[u8]) {
        for &b in piece {
            if self.verdict.is_some() {
                return;
            }
            if let Err(problem) = self.step(b) {
                self.verdict = Some(problem);
                return;
            }
            self.offset += 1;
        }
    }

    /// The verdict once all the text has been fed.
    pub(crate) fn finish(mut self) -> Result<(), JsonProblem> {
        if let Some(problem) = self.verdict {
            return Err(problem);
        }
        if let State::Number(part) = self.state
            && part.complete()
        {
            self.end_number()?;
        }
        if self.state == State::AfterValue && self.open.is_empty() {
            Ok(())
        } else if self.offset == 0 {
            Err(JsonProblem::NotJson("the text is empty".to_owned()))
        } else {
            Err(self.not_json("the text ends inside the value"))
        }
    }

    fn not_json(&self, what: &str) -> JsonProblem {
        JsonProblem::NotJson(format!("{what} (at byte {})", self.offset))
    }

    fn unexpected(&self, b: u8, wanted: &str) -> JsonProblem {
        let found = if b.is_ascii_graphic() {
            format!("`{}`", b as char)
        } else {
            format!("byte 0x{b:02x}")
        };
        self.not_json(&format!("expected {wanted}, found {found}"))
    }

    fn step(&mut self, b: u8) -> Result<(), JsonProblem> {
        let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        match self.state {
            State::Value | State::FirstItem if ws => Ok(()),
            State::FirstItem if b == b']' => self.close(b),
            State::Value | State::FirstItem => self.value(b),
            State::FirstKey | State::Key | State::Colon | State::AfterValue if ws => Ok(()),
            State::FirstKey if b == b'}' => self.close(b),
            State::FirstKey | State::Key if b == b'"' => {
                self.state = State::Str { key: true };
                Ok(())
            }
            State::FirstKey | State::Key => Err(self.unexpected(b, "a string key")),
            State::Colon if b == b':' => {
                self.state = State::Value;
                Ok(())
            }
            State::Colon => Err(self.unexpected(b, "`:`")),
            State::AfterValue => self.after_value(b),
            State::Str { key } => self.string(b, key),
            State::Escape { key } => self.escape(b, key),
            State::Hex {
                key,
                left,
                code,
                trailing,
            } => self.hex(b, key, left, code, trailing),
            State::Trailing { key, u_next } => {
                let wanted = if u_next { b'u' } else { b'\\' };
                if b != wanted {
                    return Err(self.not_json("a leading surrogate is not followed by `\\u`"));
                }
                self.state = if u_next {
                    State::Hex {
                        key,
                        left: 4,
                        code: 0,
                        trailing: true,
                    }
                } else {
                    State::Trailing { key, u_next: true }
                };
                Ok(())
            }
            State::Literal(rest) => {
                if rest.first() != Some(&b) {
                    return Err(self.unexpected(b, "`true`, `false` or `null`"));
                }
                if rest.len() == 1 {
                    self.value_done();
                } else {
                    self.state = State::Literal(&rest[1..]);
                }
                Ok(())
            }
            State::Number(part) => match part.next(b) {
                Some(next) => {
                    self.number.push(b as char);
                    self.state = State::Number(next);
                    Ok(())
                }
                None if part.complete() => {
                    self.end_number()?;
                    self.step(b)
                }
                None => Err(self.unexpected(b, "a digit")),
            },
        }
    }

    /// The first byte of a value.
    fn value(&mut self, b: u8) -> Result<(), JsonProblem> {
        self.state = match b {
            b'[' | b'{' => {
                if self.open.len() >= self.limit {
                    return Err(JsonProblem::TooDeep);
                }
                self.open.push(b == b'{');
                if b == b'{' {
                    State::FirstKey
                } else {
                    State::FirstItem
                }
            }
            b'"' => State::Str { key: false },
            b't' => State::Literal(b"rue"),
            b'f' => State::Literal(b"alse"),
            b'n' => State::Literal(b"ull"),
            b'-' => State::Number(NumPart::Minus),
            b'0'..=b'9' => State::Number(if b == b'0' {
                NumPart::Zero
            } else {
                NumPart::Int
            }),
            _ => return Err(self.unexpected(b, "a value")),
        };
        if let State::Number(_) = self.state {
            self.number.clear();
            self.number.push(b as char);
        }
        Ok(())
    }

    /// `]` or `}` closing the innermost container.
    fn close(&mut self, b: u8) -> Result<(), JsonProblem> {
        match self.open.last() {
            Some(&object) if b == if object { b'}' } else { b']' } => {
                self.open.pop();
                self.value_done();
                Ok(())
            }
            Some(&object) => {
                Err(self.unexpected(b, if object { "`,` or `}`" } else { "`,` or `]`" }))
            }
            None => Err(self.unexpected(b, "the end of the text after the value")),
        }
    }

    fn after_value(&mut self, b: u8) -> Result<(), JsonProblem> {
        match (self.open.last(), b) {
            (Some(true), b',') => self.state = State::Key,
            (Some(false), b',') => self.state = State::Value,
            _ => return self.close(b),
        }
        Ok(())
    }

    /// A value ended (a key ends in [`State::Colon`] instead).
    fn value_done(&mut self) {
        self.state = State::AfterValue;
    }

    fn end_number(&mut self) -> Result<(), JsonProblem> {
        // serde_json reads integers outside `i64`/`u64` and every other number as `f64`,
        // correctly rounded; one that rounds to infinity is refused.
        if !self.number.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(self.not_json(&format!(
                "the number {} is out of range of a double",
                self.number
            )));
        }
        self.value_done();
        Ok(())
    }

    fn string(&mut self, b: u8, key: bool) -> Result<(), JsonProblem> {
        if self.utf8_left > 0 {
            let (lo, hi) = self.utf8_next;
            if !(lo..=hi).contains(&b) {
                return Err(self.not_json("a string is not valid UTF-8"));
            }
            self.utf8_left -= 1;
            self.utf8_next = (0x80, 0xbf);
            return Ok(());
        }
        match b {
            b'"' if key => self.state = State::Colon,
            b'"' => self.value_done(),
            b'\\' => self.state = State::Escape { key },
            0x00..=0x1f => {
                return Err(self.not_json("a string holds a raw control character"));
            }
            0x20..=0x7f => {}
            // The first byte of a multi-byte UTF-8 sequence: how many follow and the range
            // of the next (which rules out overlong forms, surrogates and code points past
            // U+10FFFF).
            _ => {
                let (left, next) = match b {
                    0xc2..=0xdf => (1, (0x80, 0xbf)),
                    0xe0 => (2, (0xa0, 0xbf)),
                    0xed => (2, (0x80, 0x9f)),
                    0xe1..=0xef => (2, (0x80, 0xbf)),
                    0xf0 => (3, (0x90, 0xbf)),
                    0xf1..=0xf3 => (3, (0x80, 0xbf)),
                    0xf4 => (3, (0x80, 0x8f)),
                    _ => return Err(self.not_json("a string is not valid UTF-8")),
                };
                self.utf8_left = left;
                self.utf8_next = next;
            }
        }
        Ok(())
    }

    fn escape(&mut self, b: u8, key: bool) -> Result<(), JsonProblem> {
        self.state = match b {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => State::Str { key },
            b'u' => State::Hex {
                key,
                left: 4,
                code: 0,
                trailing: false,
            },
            _ => return Err(self.unexpected(b, "an escape (one of \"\\/bfnrtu)")),
        };
        Ok(())
    }

    /// One hex digit of a `\u` escape.
    fn hex(
        &mut self,
        b: u8,
        key: bool,
        left: u8,
        code: u16,
        trailing: bool,
    ) -> Result<(), JsonProblem> {
        let digit = (b as char)
            .to_digit(16)
            .ok_or_else(|| self.unexpected(b, "a hex digit"))?;
        // Four digits fit a `u16`; `digit` is below 16.
        let code = code << 4 | digit as u16;
        if left > 1 {
            self.state = State::Hex {
                key,
                left: left - 1,
                code,
                trailing,
            };
            return Ok(());
        }
        self.state = match (trailing, code) {
            (false, 0xd800..=0xdbff) => State::Trailing { key, u_next: false },
            (false, 0xdc00..=0xdfff) | (true, 0..=0xdbff | 0xe000..) => {
                return Err(self.not_json("a `\\u` escape is a lone surrogate"));
            }
            _ => State::Str { key },
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const LIMIT: usize = 64;

    /// The scan's verdict against serde_json's (which reads these shallow texts safely).
    fn agrees(text: &[u8]) {
        let ours = check_json(text, LIMIT);
        let theirs = serde_json::from_slice::<Value>(text);
        assert_eq!(
            ours.is_ok(),
            theirs.is_ok(),
            "{:?}: ours {ours:?}, serde_json {theirs:?}",
            String::from_utf8_lossy(text)
        );
        // Fed a byte at a time, the verdict is the same.
        let mut scan = JsonScan::new(LIMIT);
        text.chunks(1).for_each(|piece| scan.feed(piece));
        assert_eq!(
            scan.finish(),
            ours,
            "{:?} in pieces",
            String::from_utf8_lossy(text)
        );
    }

    #[test]
    fn the_verdict_is_serde_json_s_on_edge_cases() {
        let cases: &[&[u8]] = &[
            b"",
            b" ",
            b"1",
            b" 1 ",
            b"1 2",
            b"{not json",
            b"{}",
            b"[]",
            b"[1,]",
            b"[,1]",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{1:2}",
            b"[1]]",
            b"]",
            b"[}",
            b"{]",
            b"01",
            b"-",
            b"-0",
            b"-01",
            b"1.",
            b".5",
            b"1e",
            b"1e+",
            b"1E-5",
            b"+1",
            b"0.5e10",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"18446744073709551616",
            b"-9223372036854775809",
            b"1.7976931348623157e308",
            b"1.7976931348623159e308",
            b"NaN",
            b"Infinity",
            b"nul",
            b"nulll",
            b"true",
            b"truefalse",
            b"\"a\"",
            b"\"a",
            b"\"\\q\"",
            b"\"\\u12\"",
            b"\"\\u00e9\"",
            b"\"\\ud83d\\ude00\"",
            b"\"\\ud83d\"",
            b"\"\\ude00\"",
            b"\"\\ud83dx\"",
            b"\"\\ud83d\\n\"",
            b"\"\\ud83d\\u0041\"",
            b"\"\\ud83d\\ud83d\"",
            b"\"\t\"",
            b"\"\x7f\"",
            "\"é😀\"".as_bytes(),
            b"\"\xff\"",
            b"\"\xc0\xaf\"",
            b"\"\xe0\x80\xaf\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xf4\x90\x80\x80\"",
            b"\"\xe9\"",
            b"\xef\xbb\xbf1",
            b"[1\x0c]",
            b"{\"a\":[{\"b\":null}],\"c\":\"\\\"\"}",
        ];
        for text in cases {
            agrees(text);
        }
    }

    #[test]
    fn the_verdict_is_serde_json_s_on_random_text() {
        // Short texts over an alphabet that makes JSON often and breaks it in every way.
        const ALPHABET: &[u8] = b"[]{}:,\"\\ -+.0123456789eEutrfalsn\xc3\xa9\xed\x01";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for _ in 0..200_000 {
            let len = (next() % 12) as usize;
            let text: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            agrees(&text);
            accepted += usize::from(check_json(&text, LIMIT).is_ok());
        }
        assert!(
            accepted > 1_000,
            "only {accepted} texts were JSON: a weak test"
        );
    }

    #[test]
    fn depth_is_refused_past_the_limit_only() {
        let nested = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert_eq!(check_json(nested(LIMIT).as_bytes(), LIMIT), Ok(()));
        assert_eq!(
            check_json(nested(LIMIT + 1).as_bytes(), LIMIT),
            Err(JsonProblem::TooDeep)
        );
        assert_eq!(check_json(b"{\"a\":[]}", 1), Err(JsonProblem::TooDeep));
        assert_eq!(check_json(b"\"[[\"", 0), Ok(()));
    }

    #[test]
    fn a_problem_names_its_byte() {
        assert_eq!(
            check_json(b"[1, x]", LIMIT),
            Err(JsonProblem::NotJson(
                "expected a value, found `x` (at byte 4)".to_owned()
            ))
        );
    }
}
