//! A small, allocation-light JSON field scanner.
//!
//! Policies usually need one or two fields of a hook's payload. Parsing the
//! whole document into a [`serde_json::Value`] costs more than the rest of the
//! policy, so this module finds top-level fields (or a path of nested object
//! fields) by scanning the text once, without building a tree:
//!
//! * the whole document is validated while it is scanned (strings with their
//!   escapes, numbers, literals, nested objects and arrays up to
//!   [`MAX_DEPTH`] levels); malformed input gives an [`Error`], never a guess;
//! * when a key occurs more than once in an object, the **last** occurrence
//!   wins, as in `serde_json` (and the host's merge-patch application), so a
//!   policy checks the same value the rest of the pipeline will use;
//! * keys are compared after unescaping (`"n\u0061me"` is `name`);
//! * string values are returned borrowed when they contain no escape and
//!   unescaped into a fresh `String` otherwise (`\uXXXX` with surrogate pairs;
//!   a lone surrogate makes [`RawValue::as_str`] return `None`).

use std::borrow::Cow;
use std::fmt;

/// Deepest nesting of objects and arrays the scanner accepts (as `serde_json`).
pub const MAX_DEPTH: usize = 128;

/// Why a document could not be scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// Byte offset in the scanned text where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub message: &'static str,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for Error {}

/// The type of a JSON value, from its first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{...}`
    Object,
    /// `[...]`
    Array,
    /// `"..."`
    String,
    /// `-1.5e3`
    Number,
    /// `true` / `false`
    Bool,
    /// `null`
    Null,
}

/// A validated JSON value as a slice of the document it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawValue<'a> {
    raw: &'a str,
}

impl<'a> RawValue<'a> {
    /// The value's JSON text, exactly as it appears in the document.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The value's type.
    pub fn kind(&self) -> Kind {
        match self.raw.as_bytes()[0] {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            b'"' => Kind::String,
            b't' | b'f' => Kind::Bool,
            b'n' => Kind::Null,
            _ => Kind::Number,
        }
    }

    /// The unescaped string, if the value is a string (and has no lone surrogate).
    /// Borrowed when the string has no escape sequence.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        if self.kind() != Kind::String {
            return None;
        }
        let inner = &self.raw[1..self.raw.len() - 1];
        if inner.as_bytes().contains(&b'\\') { unescape(inner).map(Cow::Owned) } else { Some(Cow::Borrowed(inner)) }
    }

    /// The boolean, if the value is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.raw {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// The number, if the value is an integer that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        if self.kind() == Kind::Number { self.raw.parse().ok() } else { None }
    }

    /// The number, if the value is an integer that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        if self.kind() == Kind::Number { self.raw.parse().ok() } else { None }
    }

    /// The number as an `f64`, if the value is a number.
    pub fn as_f64(&self) -> Option<f64> {
        if self.kind() == Kind::Number { self.raw.parse().ok() } else { None }
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        self.raw == "null"
    }

    /// The member `key` of this value, if it is an object that has one (last occurrence wins).
    pub fn get(&self, key: &str) -> Option<RawValue<'a>> {
        if self.kind() != Kind::Object {
            return None;
        }
        // Already validated when this value was found: scanning cannot fail.
        field(self.raw, key).ok().flatten()
    }

    /// Parses the value with `serde_json` (for when a policy needs a whole sub-document).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(self.raw).map_err(|e| e.to_string())
    }

    /// Wraps the text of a value known to be valid (internal).
    fn new(raw: &'a str) -> Self {
        debug_assert!(!raw.is_empty());
        RawValue { raw }
    }
}

impl fmt::Display for RawValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// Checks that `doc` is one well-formed JSON value (surrounded by optional whitespace).
pub fn validate(doc: &str) -> Result<(), Error> {
    let mut s = Scanner::new(doc);
    s.ws();
    s.value(0)?;
    s.end()
}

/// Finds the top-level member `key` of the object `doc`.
///
/// `Ok(None)` when the key is absent or the document is not an object;
/// `Err` when the document is not well-formed JSON. The last occurrence of a
/// duplicated key wins.
pub fn field<'a>(doc: &'a str, key: &str) -> Result<Option<RawValue<'a>>, Error> {
    let [v] = fields(doc, [key])?;
    Ok(v)
}

/// Finds several top-level members of the object `doc` in one pass.
///
/// Same rules as [`field`]; result `i` belongs to `keys[i]`.
pub fn fields<'a, const N: usize>(doc: &'a str, keys: [&str; N]) -> Result<[Option<RawValue<'a>>; N], Error> {
    let mut out = [None; N];
    let mut s = Scanner::new(doc);
    s.ws();
    if s.peek() != Some(b'{') {
        // Not an object: validate anyway so malformed input is reported.
        s.value(0)?;
        s.end()?;
        return Ok(out);
    }
    s.object(1, |key, has_escape, value| {
        for (slot, want) in out.iter_mut().zip(keys.iter()) {
            if key_eq(key, has_escape, want) {
                *slot = Some(RawValue::new(value));
            }
        }
    })?;
    s.end()?;
    Ok(out)
}

/// Follows a path of object keys from the top of `doc` (`["custom", "token"]`
/// is `doc.custom.token`). An empty path gives the whole document.
///
/// `Ok(None)` when some step is missing or not an object; `Err` when the
/// document is not well-formed JSON.
pub fn path<'a>(doc: &'a str, path: &[&str]) -> Result<Option<RawValue<'a>>, Error> {
    let Some((first, rest)) = path.split_first() else {
        validate(doc)?;
        return Ok(Some(RawValue::new(doc.trim_matches(is_ws_char))));
    };
    let mut cur = match field(doc, first)? {
        Some(v) => v,
        None => return Ok(None),
    };
    for key in rest {
        cur = match cur.get(key) {
            Some(v) => v,
            None => return Ok(None),
        };
    }
    Ok(Some(cur))
}

/// Unescapes the inside of a JSON string literal (without its quotes).
///
/// Returns `None` on an invalid escape or a lone surrogate.
pub fn unescape(inner: &str) -> Option<String> {
    let b = inner.as_bytes();
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&inner[run..i]);
        let c = *b.get(i + 1)?;
        i += 2;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(b.get(i..i + 4)?)?;
                i += 4;
                let ch = match hi {
                    0xD800..=0xDBFF => {
                        if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
                            return None;
                        }
                        let lo = hex4(b.get(i + 2..i + 6)?)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return None;
                        }
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                    }
                    0xDC00..=0xDFFF => return None,
                    _ => char::from_u32(hi)?,
                };
                out.push(ch);
            }
            _ => return None,
        }
        run = i;
    }
    out.push_str(&inner[run..]);
    Some(out)
}

/// Escapes `s` as a JSON string literal, quotes included.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let esc: &str = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push_str(esc);
        }
        run = i + c.len_utf8();
    }
    out.push_str(&s[run..]);
    out.push('"');
    out
}

fn hex4(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

fn is_ws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Compares a raw (still escaped) key with the wanted key.
fn key_eq(raw: &str, has_escape: bool, want: &str) -> bool {
    if has_escape { unescape(raw).is_some_and(|k| k == want) } else { raw == want }
}

struct Scanner<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(src: &'a str) -> Self {
        Scanner { src, b: src.as_bytes(), i: 0 }
    }

    fn err(&self, message: &'static str) -> Error {
        Error { offset: self.i, message }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn end(&mut self) -> Result<(), Error> {
        self.ws();
        if self.i == self.b.len() { Ok(()) } else { Err(self.err("trailing characters after the document")) }
    }

    /// Skips one value (the scanner is on its first character).
    fn value(&mut self, depth: usize) -> Result<(), Error> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => self.object(depth + 1, |_, _, _| ()),
            Some(b'[') => self.array(depth + 1),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(_) => Err(self.err("expected a value")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    /// Skips a string; returns its inside (escaped) and whether it has escapes.
    fn string(&mut self) -> Result<(&'a str, bool), Error> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let inner = &self.src[start..self.i];
                    self.i += 1;
                    return Ok((inner, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            self.i += 1;
                            let hex = self.b.get(self.i..self.i + 4);
                            if hex.is_none_or(|h| !h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.err("invalid \\u escape"));
                            }
                            self.i += 4;
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(c) if c < 0x20 => return Err(self.err("control character in string")),
                Some(_) => self.i += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), Error> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number: no digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number: no digit in exponent"));
            }
        }
        Ok(())
    }

    fn literal(&mut self, lit: &'static str) -> Result<(), Error> {
        if self.b[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    /// Skips an object, calling `member(key, key_has_escape, raw_value)` for each member.
    fn object(&mut self, depth: usize, mut member: impl FnMut(&'a str, bool, &'a str)) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.i += 1; // '{'
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let (key, escaped) = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let start = self.i;
            self.value(depth)?;
            member(key, escaped, &self.src[start..self.i]);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.i += 1; // '['
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value(depth)?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(doc: &str, key: &str) -> Option<String> {
        field(doc, key).unwrap().and_then(|v| v.as_str().map(|c| c.into_owned()))
    }

    #[test]
    fn finds_plain_top_level_strings() {
        let doc = r#"{"appKey":"defaultApp","name":"B4E7-Cam","published":true}"#;
        assert_eq!(s(doc, "name").as_deref(), Some("B4E7-Cam"));
        assert_eq!(s(doc, "appKey").as_deref(), Some("defaultApp"));
        assert_eq!(s(doc, "missing"), None);
        // Borrowed when there is no escape.
        assert!(matches!(field(doc, "name").unwrap().unwrap().as_str(), Some(Cow::Borrowed("B4E7-Cam"))));
    }

    #[test]
    fn whitespace_everywhere() {
        let doc = " \n\t{ \"a\" :\r\n \"x\" , \"b\"\t:[ 1 , 2 ] ,\"c\": { } } \n";
        assert_eq!(s(doc, "a").as_deref(), Some("x"));
        assert_eq!(field(doc, "b").unwrap().unwrap().raw(), "[ 1 , 2 ]");
        assert_eq!(field(doc, "c").unwrap().unwrap().raw(), "{ }");
    }

    #[test]
    fn nested_keys_are_not_top_level() {
        let doc = r#"{"custom":{"name":"inner","x":[{"name":"deeper"}]},"other":["name","x"]}"#;
        assert_eq!(s(doc, "name"), None);
        let doc = r#"{"custom":{"name":"inner"},"name":"outer"}"#;
        assert_eq!(s(doc, "name").as_deref(), Some("outer"));
    }

    #[test]
    fn strings_with_escapes_are_skipped_correctly() {
        // The value of "a" contains an escaped quote, braces and a fake key.
        let doc = r#"{"a":"x\"}, \"name\": \"fake\" {","name":"real","b":"\\"}"#;
        assert_eq!(s(doc, "name").as_deref(), Some("real"));
        assert_eq!(s(doc, "a").as_deref(), Some(r#"x"}, "name": "fake" {"#));
        assert_eq!(s(doc, "b").as_deref(), Some("\\"));
    }

    #[test]
    fn unescapes_all_escapes() {
        let doc = r#"{"v":"q\" b\\ s\/ \b\f\n\r\t \u0041\u00e9\u4e2d \ud83d\ude00 end"}"#;
        assert_eq!(s(doc, "v").as_deref(), Some("q\" b\\ s/ \u{8}\u{c}\n\r\t Aé中 😀 end"));
        assert_eq!(unescape(r"\uD83D\uDE00").as_deref(), Some("😀"));
        assert_eq!(unescape("plain").as_deref(), Some("plain"));
        assert_eq!(unescape("").as_deref(), Some(""));
    }

    #[test]
    fn lone_surrogates_are_not_strings() {
        assert_eq!(s(r#"{"v":"\ud83d"}"#, "v"), None);
        assert_eq!(s(r#"{"v":"\ud83dx"}"#, "v"), None);
        assert_eq!(s(r#"{"v":"\ude00"}"#, "v"), None);
        assert_eq!(s(r#"{"v":"\ud83d\u0041"}"#, "v"), None);
        // ...but the document is still well-formed JSON and other fields work.
        assert_eq!(s(r#"{"v":"\ud83d","w":"ok"}"#, "w").as_deref(), Some("ok"));
    }

    #[test]
    fn escaped_keys_match_after_unescaping() {
        let doc = r#"{"n\u0061me":"cam","x\"y":"q"}"#;
        assert_eq!(s(doc, "name").as_deref(), Some("cam"));
        assert_eq!(s(doc, "x\"y").as_deref(), Some("q"));
        assert_eq!(s(doc, "n\\u0061me"), None);
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let doc = r#"{"name":"first","x":1,"name":"second"}"#;
        assert_eq!(s(doc, "name").as_deref(), Some("second"));
        // Same rule as serde_json.
        let v: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(v["name"], "second");
        // An escaped duplicate counts too.
        let doc = r#"{"name":"first","n\u0061me":"second"}"#;
        assert_eq!(s(doc, "name").as_deref(), Some("second"));
        // A later non-string duplicate hides the earlier string.
        let doc = r#"{"name":"first","name":5}"#;
        assert_eq!(s(doc, "name"), None);
        assert_eq!(field(doc, "name").unwrap().unwrap().as_i64(), Some(5));
    }

    #[test]
    fn non_string_values() {
        let doc = r#"{"n":-12.5e+3,"i":42,"big":18446744073709551615,"t":true,"f":false,"z":null,"o":{"a":[1,{"b":null}]},"a":[]}"#;
        assert_eq!(s(doc, "n"), None);
        let n = field(doc, "n").unwrap().unwrap();
        assert_eq!(n.kind(), Kind::Number);
        assert_eq!(n.as_f64(), Some(-12500.0));
        assert_eq!(n.as_i64(), None);
        assert_eq!(field(doc, "i").unwrap().unwrap().as_i64(), Some(42));
        assert_eq!(field(doc, "big").unwrap().unwrap().as_u64(), Some(u64::MAX));
        assert_eq!(field(doc, "t").unwrap().unwrap().as_bool(), Some(true));
        assert_eq!(field(doc, "f").unwrap().unwrap().as_bool(), Some(false));
        assert!(field(doc, "z").unwrap().unwrap().is_null());
        assert_eq!(field(doc, "z").unwrap().unwrap().kind(), Kind::Null);
        let o = field(doc, "o").unwrap().unwrap();
        assert_eq!(o.kind(), Kind::Object);
        assert_eq!(o.raw(), r#"{"a":[1,{"b":null}]}"#);
        assert_eq!(field(doc, "a").unwrap().unwrap().kind(), Kind::Array);
        assert_eq!(o.get("a").unwrap().kind(), Kind::Array);
        assert_eq!(field(doc, "i").unwrap().unwrap().get("x"), None);
        assert_eq!(field(doc, "t").unwrap().unwrap().as_str(), None);
    }

    #[test]
    fn paths() {
        let doc = r#"{"custom":{"token":"abc","deep":{"x":"\u0041"}},"token":"top","arr":[{"token":"no"}]}"#;
        let p = |path: &[&str]| path_str(doc, path);
        assert_eq!(p(&["custom", "token"]).as_deref(), Some("abc"));
        assert_eq!(p(&["custom", "deep", "x"]).as_deref(), Some("A"));
        assert_eq!(p(&["token"]).as_deref(), Some("top"));
        assert_eq!(p(&["custom", "missing"]), None);
        assert_eq!(p(&["token", "x"]), None);
        assert_eq!(p(&["arr", "token"]), None);
        assert_eq!(p(&["missing", "token"]), None);
        assert_eq!(path(doc, &[]).unwrap().unwrap().kind(), Kind::Object);
        assert_eq!(path(" 5 ", &[]).unwrap().unwrap().raw(), "5");
        // The custom object is a JSON string in some WCS setups: not an object, so no match.
        assert_eq!(path_str(r#"{"custom":"{\"token\":\"x\"}"}"#, &["custom", "token"]), None);
    }

    fn path_str(doc: &str, p: &[&str]) -> Option<String> {
        path(doc, p).unwrap().and_then(|v| v.as_str().map(Cow::into_owned))
    }

    #[test]
    fn several_fields_in_one_pass() {
        let doc = r#"{"status":"PUBLISHING","name":"a","status":"FAILED","info":null}"#;
        let [st, name, missing, info] = fields(doc, ["status", "name", "nope", "info"]).unwrap();
        assert_eq!(st.unwrap().as_str().as_deref(), Some("FAILED"));
        assert_eq!(name.unwrap().as_str().as_deref(), Some("a"));
        assert!(missing.is_none());
        assert!(info.unwrap().is_null());
    }

    #[test]
    fn non_object_documents_have_no_fields() {
        for doc in ["[1,2]", "\"name\"", "5", "null", " true "] {
            assert_eq!(field(doc, "name").unwrap(), None, "{doc}");
        }
    }

    #[test]
    fn malformed_documents_are_errors() {
        let bad = [
            "",
            "   ",
            "{",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":1",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{'a':1}",
            "{\"a\":1}}",
            "{\"a\":1} x",
            "{\"a\":\"unterminated}",
            "{\"a\":\"bad \\x escape\"}",
            "{\"a\":\"bad \\u12G4\"}",
            "{\"a\":\"short \\u12\"}",
            "{\"a\":\"raw\nnewline\"}",
            "{\"a\":[1,2}",
            "{\"a\":[1,]}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":1e}",
            "{\"a\":-}",
            "{\"a\":+1}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":True}",
            "{\"a\":NaN}",
            "{\"a\":1 2}",
            "{\"a\":1,\"b\"}",
            "{,}",
            "[",
            "nul",
        ];
        for doc in bad {
            assert!(field(doc, "a").is_err(), "accepted malformed {doc:?}");
            assert!(validate(doc).is_err(), "validate accepted {doc:?}");
            // serde_json agrees that these are not JSON.
            assert!(serde_json::from_str::<serde_json::Value>(doc).is_err(), "{doc:?}");
        }
        let e = field("{\"a\":1,}", "a").unwrap_err();
        assert_eq!(e.offset, 7);
        assert!(e.to_string().contains("byte 7"));
    }

    #[test]
    fn malformed_after_the_wanted_key_is_still_an_error() {
        // No early return: a document that is broken later is refused.
        assert!(field(r#"{"name":"x","b":[}"#, "name").is_err());
    }

    #[test]
    fn nesting_limit() {
        let ok = format!("{{\"a\":{}1{}}}", "[".repeat(127), "]".repeat(127));
        assert!(field(&ok, "a").unwrap().is_some());
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(field(&deep, "a").unwrap_err().message, "nesting too deep");
    }

    #[test]
    fn utf8_content_is_kept() {
        let doc = r#"{"name":"Ünïcødé 名前 🎥","k":"v"}"#;
        assert_eq!(s(doc, "name").as_deref(), Some("Ünïcødé 名前 🎥"));
        assert_eq!(s(doc, "k").as_deref(), Some("v"));
    }

    #[test]
    fn quote_round_trips() {
        for v in ["plain", "q\"b\\s", "nl\ncr\rtab\t", "\u{1}\u{1f}", "é中😀", ""] {
            let q = quote(v);
            let back: String = serde_json::from_str(&q).unwrap();
            assert_eq!(back, v);
            assert_eq!(unescape(&q[1..q.len() - 1]).as_deref(), Some(v));
        }
    }

    #[test]
    fn agrees_with_serde_json_on_a_realistic_payload() {
        let doc = r#"{"nodeId":"Hw47CFMBEchV0pBMDr29IxjudnJ1sj0Y@192.168.1.101","appKey":"defaultApp","sessionId":"/192.168.1.102:4388/192.168.1.101:8443","mediaSessionId":"56141d10-fddc-11e6-ac3a-4d67d5b3360d","name":"B4E7-Cam","published":true,"hasVideo":true,"status":"PUBLISHING","width":1280,"bitrate":2500,"audioState":{"muted":false},"custom":{"room":"Lobby-7","tags":["webrtc","edge-eu-1"]},"createDate":1488787878000,"fps":30}"#;
        let v: serde_json::Value = serde_json::from_str(doc).unwrap();
        for (k, val) in v.as_object().unwrap() {
            let raw = field(doc, k).unwrap().unwrap();
            let reparsed: serde_json::Value = serde_json::from_str(raw.raw()).unwrap();
            assert_eq!(&reparsed, val, "{k}");
        }
        assert_eq!(path_str(doc, &["custom", "room"]).as_deref(), Some("Lobby-7"));
    }
}
