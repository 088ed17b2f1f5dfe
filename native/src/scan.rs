//! The configured roots of a JSON value, read without building the rest.

use std::borrow::Cow;

/// A value read at a location: what the Python path's checks need to know of it.
pub enum Val<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    /// A float, a boolean, an integer beyond i64, an array or an object: not read here.
    Other,
}

/// A captured root: its value (None: absent or null) and its configured subkeys' values.
pub struct Root<'a> {
    pub whole: Option<Val<'a>>,
    pub subs: Vec<Option<Val<'a>>>,
}

pub struct RootSpec {
    pub name: String,
    pub subs: Vec<String>,
}

// -- the JSON value, only the configured roots read ------------------------------------------
//
// A strict scanner over ASCII input (the caller checks): RFC 8259's grammar, strings without
// control characters and with paired surrogate escapes, integers kept when they fit an i64
// (and none read of more than MAX_INT_DIGITS digits).
// It rejects (None) anything it is unsure of, and a rejected value goes the exact way, so it
// only has to accept a subset of what the standard parser accepts, with the same values.

/// Nesting deeper than this is left to the exact path.
const MAX_DEPTH: usize = 64;
/// Integers with more digits than this are left to the exact path: the standard parser
/// refuses an integer longer than `sys.get_int_max_str_digits()` (4,300 by default, never
/// set below 640) and orjson one beyond a double, so such a value is not JSON to `decode`.
const MAX_INT_DIGITS: usize = 640;

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        self.i += 4;
        Some(v)
    }

    /// The text of b[start..end]: ASCII, as `read_roots` checked first.
    #[inline]
    fn text(&self, start: usize, end: usize) -> &'a str {
        let bytes = &self.b[start..end];
        debug_assert!(bytes.is_ascii());
        // SAFETY: read_roots reads only ASCII values (checked before scanning), and every
        // ASCII byte sequence is UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Moves to the next quote, backslash or control character in a string (or the end).
    #[inline]
    fn skip_to_special(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let b = self.b;
        let mut i = self.i;
        while i + 8 <= b.len() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&b[i..i + 8]);
            let w = u64::from_le_bytes(word);
            let quote = w ^ (ONES * b'"' as u64);
            let slash = w ^ (ONES * b'\\' as u64);
            // the lowest flagged byte is exact (bytes are below 0x80)
            let found = ((quote.wrapping_sub(ONES) & !quote)
                | (slash.wrapping_sub(ONES) & !slash)
                | (w.wrapping_sub(ONES * 0x20) & !w))
                & HIGH;
            if found != 0 {
                self.i = i + (found.trailing_zeros() / 8) as usize;
                return;
            }
            i += 8;
        }
        while i < b.len() {
            let c = b[i];
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            i += 1;
        }
        self.i = i;
    }

    /// A string (at its opening quote): its text, borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.i += 1;
        let start = self.i;
        self.skip_to_special();
        let b = self.b;
        if *b.get(self.i)? == b'"' {
            self.i += 1;
            return Some(Cow::Borrowed(self.text(start, self.i - 1)));
        }
        let mut out = String::from(self.text(start, self.i));
        loop {
            let c = *b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return Some(Cow::Owned(out)),
                b'\\' => out.push(self.escape()?),
                c if c < 0x20 => return None,
                c => {
                    out.push(c as char);
                    let from = self.i;
                    self.skip_to_special();
                    out.push_str(self.text(from, self.i));
                }
            }
        }
    }

    /// The character of an escape (after its backslash), surrogate pairs joined; None for an
    /// escape the standard parser rejects (a lone surrogate among them).
    fn escape(&mut self) -> Option<char> {
        let b = self.b;
        let e = *b.get(self.i)?;
        self.i += 1;
        Some(match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let u = self.hex4()?;
                if (0xD800..0xDC00).contains(&u) {
                    if b.get(self.i..self.i + 2)? != b"\\u" {
                        return None;
                    }
                    self.i += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    char::from_u32(u)? // a lone low surrogate: None
                }
            }
            _ => return None,
        })
    }

    /// Past a string (at its opening quote), checked as `string` checks it, nothing built.
    fn skip_string(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            self.skip_to_special();
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    self.i += 1;
                    self.escape()?;
                }
                _ => return None, // a control character
            }
        }
    }

    /// Past any value, checked as `value` checks it, nothing built.
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    self.skip_string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => self.number().map(|_| ()),
        }
    }

    /// A number: Some(Some(i)) for an integer that fits an i64, Some(None) for any other;
    /// None for an integer of more than MAX_INT_DIGITS digits.
    fn number(&mut self) -> Option<Option<i64>> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = self.i;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        let digits = self.i - digits;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if integer && digits > MAX_INT_DIGITS {
            return None;
        }
        if !integer || self.i - start > 20 {
            return Some(None);
        }
        Some(self.text(start, self.i).parse::<i64>().ok())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// Any value, read (a string, an integer, null) or skipped; `subs`: when it is an object,
    /// the subkeys whose values are captured.
    fn value(&mut self, depth: usize, subs: &[String]) -> Option<Captured<'a>> {
        let leaf = |val| {
            Some(Captured {
                val,
                subs: Vec::new(),
            })
        };
        match self.peek()? {
            b'"' => leaf(Some(Val::Str(self.string()?))),
            b'n' => {
                self.literal(b"null")?;
                leaf(None)
            }
            b't' => {
                self.literal(b"true")?;
                leaf(Some(Val::Other))
            }
            b'f' => {
                self.literal(b"false")?;
                leaf(Some(Val::Other))
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return leaf(Some(Val::Other));
                }
                loop {
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return leaf(Some(Val::Other));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let mut found: Vec<Option<Val<'a>>> = Vec::new();
                found.resize_with(subs.len(), || None);
                self.object(depth, |key, scan| {
                    match subs.iter().position(|s| *s == *key) {
                        Some(i) => found[i] = scan.value(depth + 1, &[])?.val,
                        None => scan.skip(depth + 1)?,
                    }
                    Some(())
                })?;
                Some(Captured {
                    val: Some(Val::Other),
                    subs: found,
                })
            }
            _ => leaf(self.number()?.map(Val::Int).or(Some(Val::Other))),
        }
    }

    /// An object (at its opening brace): `member(key, scan)` reads each member's value.
    fn object(
        &mut self,
        _depth: usize,
        mut member: impl FnMut(&Cow<'a, str>, &mut Scan<'a>) -> Option<()>,
    ) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            member(&key, self)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

struct Captured<'a> {
    val: Option<Val<'a>>,
    subs: Vec<Option<Val<'a>>>,
}

/// The configured roots of a JSON object (None: not an object, or not read here).
pub fn read_roots<'a>(value: &'a [u8], roots: &[RootSpec]) -> Option<Vec<Root<'a>>> {
    if !value.is_ascii() {
        return None;
    }
    let mut scan = Scan { b: value, i: 0 };
    let mut out: Vec<Root<'a>> = Vec::with_capacity(roots.len());
    for spec in roots {
        let mut subs = Vec::new();
        subs.resize_with(spec.subs.len(), || None);
        out.push(Root { whole: None, subs });
    }
    scan.ws();
    if scan.peek()? != b'{' {
        return None;
    }
    scan.object(0, |key, scan| {
        match roots.iter().position(|r| *r.name == **key) {
            Some(i) => {
                let captured = scan.value(1, &roots[i].subs)?;
                let root = &mut out[i];
                root.whole = captured.val;
                if captured.subs.is_empty() {
                    for s in root.subs.iter_mut() {
                        *s = None;
                    }
                } else {
                    root.subs = captured.subs;
                }
            }
            None => scan.skip(1)?,
        }
        Some(())
    })?;
    scan.ws();
    if scan.i != value.len() {
        return None;
    }
    Some(out)
}
