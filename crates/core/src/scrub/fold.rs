//! The text the detectors read: the input percent-decoded, in Unicode compatibility form
//! (NFKC's mappings: full-width letters and digits, ligatures, superscripts), lower case,
//! with every Unicode decimal digit written as its ASCII digit, every dash as `-`, every
//! space separator as ` `, and invisible format characters and combining marks dropped —
//! together with where each folded byte came from in the input, so that a match found in
//! the folded text removes exactly its source bytes. Pure ASCII without escapes — most
//! strings — is read as it is, borrowed, in its own case: every detector compares ASCII
//! letters without regard to case. It owns that mapping only: it finds nothing and
//! replaces nothing.

use std::borrow::Cow;
use std::ops::Range;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// How a string is read before detection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldOptions {
    /// `+` stands for a space (URL query strings, form encoding), so `4111+1111+…` is
    /// read as the digit groups it is.
    pub plus_is_space: bool,
}

/// A folded string and its map back to the source.
#[derive(Debug)]
pub(crate) struct Folded<'a> {
    /// The folded text.
    pub text: Cow<'a, str>,
    /// For each byte of `text`, the source byte range of the character it came from;
    /// `None` when every folded byte is its source byte (ASCII without escapes).
    map: Option<Vec<(u32, u32)>>,
}

impl<'a> Folded<'a> {
    /// Folds `src`. Strings over 4 GiB cannot reach the core (the event size limit is
    /// far below), so offsets fit in `u32`.
    pub fn new(src: &'a str, opts: FoldOptions) -> Folded<'a> {
        if src.is_ascii() && !src.contains('%') {
            let odd =
                |b: u8| b.is_ascii_whitespace() && b != b' ' || (b == b'+' && opts.plus_is_space);
            let text = if src.bytes().any(odd) {
                Cow::Owned(src.bytes().map(|b| char::from(ascii(b, opts))).collect())
            } else {
                Cow::Borrowed(src)
            };
            return Folded { text, map: None };
        }
        let mut f = Builder {
            text: String::with_capacity(src.len()),
            map: Vec::with_capacity(src.len()),
            opts,
        };
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && escape_at(bytes, i).is_some() {
                i = f.escapes(src, i);
                continue;
            }
            let Some(c) = src[i..].chars().next() else {
                break;
            };
            f.push_char(c, i, i + c.len_utf8());
            i += c.len_utf8();
        }
        Folded {
            text: Cow::Owned(f.text),
            map: Some(f.map),
        }
    }

    /// The source byte range of folded bytes `start..end` (`start < end`).
    pub fn source(&self, start: usize, end: usize) -> Range<usize> {
        match &self.map {
            None => start..end,
            Some(m) => m[start].0 as usize..m[end - 1].1 as usize,
        }
    }
}

struct Builder {
    text: String,
    map: Vec<(u32, u32)>,
    opts: FoldOptions,
}

impl Builder {
    fn emit(&mut self, c: char, from: usize, to: usize) {
        self.text.push(c);
        for _ in 0..c.len_utf8() {
            self.map.push((from as u32, to as u32));
        }
    }

    /// Folds one source character spanning `from..to`.
    fn push_char(&mut self, c: char, from: usize, to: usize) {
        if c.is_ascii() {
            return self.emit(char::from(ascii(c as u8, self.opts)), from, to);
        }
        if let Some(m) = special(c) {
            return self.emit_mapped(m, from, to);
        }
        let mut parts: [char; 8] = ['\0'; 8];
        let mut n = 0;
        let mut overflow = false;
        decompose_compatible(c, |d| {
            if n < parts.len() {
                parts[n] = d;
                n += 1;
            } else {
                overflow = true;
            }
        });
        if overflow {
            // Only a handful of characters decompose into more than eight (U+FDFA):
            // they are words, not digits or separators.
            return self.emit_lower(c, from, to);
        }
        for d in &parts[..n] {
            match special(*d) {
                Some(m) => self.emit_mapped(m, from, to),
                None if d.is_ascii() => self.emit(char::from(ascii(*d as u8, self.opts)), from, to),
                None => self.emit_lower(*d, from, to),
            }
        }
    }

    fn emit_mapped(&mut self, m: Mapped, from: usize, to: usize) {
        if let Mapped::To(c) = m {
            self.emit(c, from, to);
        }
    }

    /// Lower case, with the case foldings `to_lowercase` leaves out (final sigma, dotless
    /// i, sharp s), so `ΟΔΥΣΣΕΥΣ`, `IŞIK` and `STRASSE` match `Οδυσσεύς`, `Işık`, `Straße`.
    fn emit_lower(&mut self, c: char, from: usize, to: usize) {
        for l in c.to_lowercase() {
            match l {
                'ς' => self.emit('σ', from, to),
                'ı' => self.emit('i', from, to),
                'ß' => {
                    self.emit('s', from, to);
                    self.emit('s', from, to);
                }
                _ if is_combining_mark(l) => {}
                _ => self.emit(l, from, to),
            }
        }
    }

    /// Decodes the run of `%XX` escapes starting at `i`; returns where it ends. The
    /// decoded bytes are read as UTF-8 (what is not valid becomes U+FFFD, a boundary
    /// to every detector) and each character is folded like a source character. An
    /// escaped `%` followed by two hex digits (`%2540`) is read through: URLs nested
    /// in URLs arrive encoded twice.
    fn escapes(&mut self, src: &str, mut i: usize) -> usize {
        let bytes = src.as_bytes();
        let mut decoded = Vec::new();
        let mut spans = Vec::new();
        while let Some(b) = escape_at(bytes, i) {
            if b == b'%'
                && let Some(inner) = hex_pair(bytes, i + 3)
            {
                decoded.push(inner);
                spans.push((i, i + 5));
                i += 5;
                continue;
            }
            decoded.push(b);
            spans.push((i, i + 3));
            i += 3;
        }
        let mut at = 0;
        for chunk in decoded.utf8_chunks() {
            for c in chunk.valid().chars() {
                let n = c.len_utf8();
                self.push_char(c, spans[at].0, spans[at + n - 1].1);
                at += n;
            }
            for _ in chunk.invalid() {
                self.emit('\u{fffd}', spans[at].0, spans[at].1);
                at += 1;
            }
        }
        i
    }
}

fn hex_pair(b: &[u8], i: usize) -> Option<u8> {
    let h = char::from(*b.get(i)?).to_digit(16)?;
    let l = char::from(*b.get(i + 1)?).to_digit(16)?;
    Some((h * 16 + l) as u8)
}

/// The byte a `%XX` escape at `i` stands for.
fn escape_at(b: &[u8], i: usize) -> Option<u8> {
    if b.get(i) != Some(&b'%') {
        return None;
    }
    hex_pair(b, i + 1)
}

fn ascii(b: u8, opts: FoldOptions) -> u8 {
    match b {
        b'+' if opts.plus_is_space => b' ',
        b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => b' ',
        _ => b.to_ascii_lowercase(),
    }
}

enum Mapped {
    To(char),
    Dropped,
}

/// Characters folded by our rules before (and after) compatibility decomposition:
/// decimal digits of every script, dashes, spaces, ideographic full stops, invisibles.
fn special(c: char) -> Option<Mapped> {
    if let Some(d) = decimal_digit(c) {
        return Some(Mapped::To(char::from(b'0' + d)));
    }
    let cp = u32::from(c);
    if is_dash(cp) {
        return Some(Mapped::To('-'));
    }
    if is_space(cp) {
        return Some(Mapped::To(' '));
    }
    // Browsers read these as dots in host names (UTS #46).
    if matches!(cp, 0x3002 | 0xFF0E | 0xFF61) {
        return Some(Mapped::To('.'));
    }
    if is_invisible(cp) || is_combining_mark(c) {
        return Some(Mapped::Dropped);
    }
    None
}

/// The code point of digit zero of every Unicode decimal-digit (Nd) block; each block
/// holds the ten digits in order (generated from the Unicode Character Database).
const DIGIT_ZEROS: [u32; 65] = [
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6,
    0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50,
    0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The value of a non-ASCII decimal digit. Blocks added after the table (Unicode 15
/// and later) are read by their shape: Unicode puts a script's ten digits in a row, so
/// a numeric character in a run of exactly ten numeric characters is digit
/// `offset % 10` of it.
pub(crate) fn decimal_digit(c: char) -> Option<u8> {
    let cp = u32::from(c);
    let i = DIGIT_ZEROS.partition_point(|z| *z <= cp);
    if let Some(zero) = i.checked_sub(1).and_then(|i| DIGIT_ZEROS.get(i))
        && cp - zero < 10
    {
        return Some((cp - zero) as u8);
    }
    if cp < 0x10000 || !c.is_numeric() {
        return None;
    }
    let numeric = |cp: u32| char::from_u32(cp).is_some_and(char::is_numeric);
    let mut start = cp;
    while start > cp - 10 && numeric(start - 1) {
        start -= 1;
    }
    let mut end = cp;
    while end < cp + 10 && numeric(end + 1) {
        end += 1;
    }
    // Exactly ten in a row: longer runs are number systems (Aegean, Roman), not digits.
    (end - start == 9 && !numeric(start - 1) && !numeric(end + 1)).then(|| (cp - start) as u8)
}

/// Dash punctuation (Pd), the minus signs, and the hyphen-like bullets.
fn is_dash(cp: u32) -> bool {
    matches!(
        cp,
        0x58A | 0x5BE | 0x1400 | 0x1806 | 0x2010
            ..=0x2015
                | 0x2043
                | 0x2212
                | 0x2E17
                | 0x2E1A
                | 0x2E3A
                | 0x2E3B
                | 0x2E40
                | 0x2E5D
                | 0x301C
                | 0x3030
                | 0x30A0
                | 0xFE31
                | 0xFE32
                | 0xFE58
                | 0xFE63
                | 0xFF0D
                | 0x10EAD
    )
}

/// Space separators (Zs) and the line and paragraph separators.
fn is_space(cp: u32) -> bool {
    matches!(
        cp,
        0x85 | 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000
    )
}

/// Format characters that render as nothing: a zero-width space inside a card number
/// must not split it.
fn is_invisible(cp: u32) -> bool {
    matches!(
        cp,
        0xAD | 0x34F
            | 0x61C
            | 0x115F
            | 0x1160
            | 0x17B4
            | 0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x1D173..=0x1D17A
            | 0x1BCA0..=0x1BCA3
            | 0x13430..=0x1343F
            | 0x110BD
            | 0x110CD
            | 0x600..=0x605
            | 0x6DD
            | 0x70F
            | 0x8E2
            | 0xE0000..=0xE0FFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        Folded::new(s, FoldOptions::default()).text.to_lowercase()
    }

    #[test]
    fn digits_separators_and_case() {
        assert_eq!(
            fold("４１１１\u{a0}1111–١١١١\u{200b}1111"),
            "4111 1111-11111111"
        );
        assert_eq!(fold("ALICE＠Example．COM"), "alice@example.com");
        assert_eq!(fold("José"), "jose");
        assert_eq!(fold("²³"), "23");
        assert_eq!(fold("a\tb"), "a b");
        assert_eq!(fold("ΟΔΥΣΣΕΥΣ"), fold("Οδυσσεύς"));
        assert_eq!(fold("IŞIK"), fold("Işık"));
        assert_eq!(fold("STRASSE"), fold("Straße"));
        assert_eq!(fold("a\u{1bca0}b"), "ab");
    }

    #[test]
    fn percent_escapes_decode_with_their_source_span() {
        let f = Folded::new("x%40y%E2%80%93z", FoldOptions::default());
        assert_eq!(f.text, "x@y-z");
        assert_eq!(f.source(1, 2), 1..4);
        assert_eq!(f.source(3, 4), 5..14);
        let bad = Folded::new("%ff%41", FoldOptions::default());
        assert_eq!(bad.text, "\u{fffd}a");
        let twice = Folded::new("a%2540b%252", FoldOptions::default());
        assert_eq!(twice.text, "a@b%2");
        assert_eq!(twice.source(1, 2), 1..6);
    }

    #[test]
    fn source_spans_cover_multibyte_input() {
        let s = "ab４１c";
        let f = Folded::new(s, FoldOptions::default());
        assert_eq!(f.text, "ab41c");
        assert_eq!(&s[f.source(2, 4)], "４１");
    }

    #[test]
    fn plus_as_space_only_when_asked() {
        let opts = FoldOptions {
            plus_is_space: true,
        };
        assert_eq!(Folded::new("a+b", opts).text, "a b");
        assert_eq!(fold("a+b"), "a+b");
    }

    #[test]
    fn every_decimal_digit_maps() {
        assert_eq!(decimal_digit('٣'), Some(3));
        assert_eq!(decimal_digit('𝟗'), Some(9));
        assert_eq!(decimal_digit('a'), None);
        assert_eq!(decimal_digit('\u{65f}'), None);
        // Kawi and Nag Mundari (Unicode 15), after the table was generated.
        assert_eq!(decimal_digit('\u{11F54}'), Some(4));
        assert_eq!(decimal_digit('\u{1E4F9}'), Some(9));
        assert_eq!(decimal_digit('\u{10107}'), None); // Aegean numbers are no digits
    }
}
