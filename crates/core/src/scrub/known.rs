//! Known values — the event's own identifiers, the user's profile values — found in every
//! layout: both sides are compared as *skeletons* (folded, then only letters and digits
//! kept), so case, Unicode form, percent-encoding and separators (`Alice Smith`,
//! `ALICE-SMITH`, `alice.smith`, `4111 1111…`) do not hide a value. Natural-language values
//! match at word edges only, so a short name does not eat the middle of other words. It
//! owns the needles and the matching, not where the needles come from (`policy`, `state`).

use super::fold::{FoldOptions, Folded};
use super::{Span, Tag};

/// Known values whose skeleton is shorter than this are not searched for: a two-letter
/// id would otherwise erase those letters from every string.
pub const MIN_KNOWN_LEN: usize = 4;

/// Digit-only needles shorter than this must match a whole number (a postal code is
/// not removed from the middle of a timestamp); longer ones match anywhere.
const SHORT_NUMBER: usize = 7;

/// How a needle may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedleKind {
    /// Anywhere, even inside a longer word (identifiers, card numbers, e-mail addresses).
    Token,
    /// Not inside a longer word: letters may not continue a letter edge, digits may not
    /// continue a digit edge (names, address parts).
    Word,
}

/// One known value, prepared for matching.
#[derive(Clone, PartialEq, Eq)]
pub struct Needle {
    skel: Box<str>,
    edges: Edges,
    /// the mask (`mask_bit` of each byte) of `skel`: a text whose mask lacks one of its bits cannot hold it.
    mask: u64,
    digits_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edges {
    Free,
    Word,
    WholeNumber,
}

impl std::fmt::Debug for Needle {
    // Needles are personal data: their text never reaches a log or an error.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Needle({} chars, {:?})",
            self.skel.chars().count(),
            self.edges
        )
    }
}

/// What a needle is besides its skeleton (how it matches, and its quick-test summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Traits {
    edges: Edges,
    mask: u64,
    digits_only: bool,
}

impl Traits {
    /// The traits of a skeleton of `len` characters whose mask and digit-only-ness the
    /// caller computed (while writing it, for ASCII ids); `None` when it is too short to
    /// search for.
    fn from_counts(len: usize, mask: u64, digits_only: bool, kind: NeedleKind) -> Option<Traits> {
        if len < MIN_KNOWN_LEN {
            return None;
        }
        let edges = match kind {
            _ if digits_only && len < SHORT_NUMBER => Edges::WholeNumber,
            NeedleKind::Token => Edges::Free,
            NeedleKind::Word => Edges::Word,
        };
        Some(Traits {
            edges,
            mask,
            digits_only,
        })
    }

    /// The traits of skeleton `skel` for a value of `kind`; `None` when it is too short
    /// to search for.
    fn of(skel: &str, kind: NeedleKind) -> Option<Traits> {
        let (mask, letters) = skel.bytes().fold((0, false), |(m, l), b| {
            (m | mask_bit(b), l || !b.is_ascii_digit())
        });
        Traits::from_counts(skel.chars().count(), mask, !letters, kind)
    }
}

impl Needle {
    /// The needle for `value`, or `None` when its skeleton is too short to search for.
    pub fn new(value: &str, kind: NeedleKind) -> Option<Needle> {
        let skel = skeleton(value);
        let t = Traits::of(&skel, kind)?;
        Some(Needle {
            skel: skel.into_boxed_str(),
            edges: t.edges,
            mask: t.mask,
            digits_only: t.digits_only,
        })
    }

    /// The skeleton's length in bytes.
    pub fn skeleton_len(&self) -> usize {
        self.skel.len()
    }

    pub(super) fn view(&self) -> NeedleRef<'_> {
        NeedleRef {
            skel: &self.skel,
            edges: self.edges,
            mask: self.mask,
            digits_only: self.digits_only,
        }
    }
}

/// A needle as the matchers see it, wherever its skeleton is kept (a profile's own
/// [`Needle`], or the event's ids, which share one buffer per event).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct NeedleRef<'n> {
    skel: &'n str,
    edges: Edges,
    mask: u64,
    digits_only: bool,
}

impl NeedleRef<'_> {
    /// The skeleton's length in bytes.
    pub(super) fn len(&self) -> usize {
        self.skel.len()
    }

    /// The skeleton's digits, when it has nothing else (numbers are matched on these).
    pub(super) fn digits(&self) -> Option<&str> {
        self.digits_only.then_some(self.skel)
    }

    /// Whether the needle could occur in a text of `len` bytes whose mask is `m`.
    pub(super) fn could_be_in(&self, m: u64, len: usize) -> bool {
        self.mask & !m == 0 && self.skel.len() <= len
    }

    /// Whether the decimal digits of a JSON number hold this value.
    pub(super) fn in_number(&self, digits: &str) -> bool {
        match (self.digits(), self.edges) {
            (Some(d), Edges::WholeNumber) => digits == d,
            (Some(d), _) => occurrences(digits.as_bytes(), d.as_bytes())
                .next()
                .is_some(),
            (None, _) => false,
        }
    }
}

/// Needles with their skeletons in one buffer, shortest first: the event's ids (made
/// for every event, so one allocation rather than one per id) and a profile's values
/// (held for every user, so one allocation and 24 bytes per needle).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeedleSet {
    /// The skeletons back to back.
    buf: String,
    spans: Vec<(u32, u32, Traits)>,
    /// The shortest digit-only needle's length (`u32::MAX`: none), for [`super::Known`].
    min_digits: u32,
}

/// The skeleton byte of an ASCII byte: letters lower-cased, digits kept, the rest 0.
const SKELETON_BYTE: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            0
        };
        b += 1;
    }
    t
};

impl NeedleSet {
    /// No needles.
    pub const EMPTY: NeedleSet = NeedleSet {
        buf: String::new(),
        spans: Vec::new(),
        min_digits: u32::MAX,
    };

    /// Needles for `ids` (identifiers: matched anywhere).
    pub fn of_ids<'i>(ids: impl Iterator<Item = &'i str> + Clone) -> NeedleSet {
        NeedleSet::of(ids.map(|id| (id, NeedleKind::Token)))
    }

    /// Needles for `values`, each matched as its kind says; values too short to search
    /// for are left out, and a value given twice is one needle.
    pub fn of<'v>(values: impl Iterator<Item = (&'v str, NeedleKind)> + Clone) -> NeedleSet {
        let cap = values.clone().map(|(v, _)| v.len()).sum();
        let mut buf: Vec<u8> = Vec::with_capacity(cap);
        let mut spans: Vec<(u32, u32, Traits)> = Vec::with_capacity(values.clone().count());
        for (value, kind) in values {
            let start = buf.len();
            let traits = if value.is_ascii() && !value.contains('%') {
                // One pass, one table lookup per byte, the traits on the way: the ids'
                // needles are made for every event.
                let (mut mask, mut letters) = (0u64, false);
                for b in value.bytes() {
                    let s = SKELETON_BYTE[usize::from(b & 0x7f)];
                    if s != 0 {
                        buf.push(s);
                        mask |= mask_bit(s);
                        letters |= !s.is_ascii_digit();
                    }
                }
                Traits::from_counts(buf.len() - start, mask, !letters, kind)
            } else {
                buf.extend_from_slice(skeleton(value).as_bytes());
                std::str::from_utf8(&buf[start..])
                    .ok()
                    .and_then(|skel| Traits::of(skel, kind))
            };
            let skel = &buf[start..];
            let twice = spans
                .iter()
                .any(|(s, e, t)| Some(*t) == traits && &buf[*s as usize..*e as usize] == skel);
            match traits {
                Some(t) if !twice => spans.push((start as u32, buf.len() as u32, t)),
                _ => buf.truncate(start),
            }
        }
        spans.sort_by_key(|(s, e, _)| e - s);
        // Profiles' sets live as long as the user: no slack kept (ids' sets, made per
        // event, have none, so they skip the reallocation).
        if spans.capacity() > spans.len() {
            spans.shrink_to_fit();
        }
        let min_digits = spans
            .iter()
            .filter(|(_, _, t)| t.digits_only)
            .map(|(s, e, _)| e - s)
            .min()
            .unwrap_or(u32::MAX);
        NeedleSet {
            // Whole skeletons, each valid UTF-8, back to back: valid UTF-8.
            buf: String::from_utf8(buf).unwrap_or_default(),
            spans,
            min_digits,
        }
    }

    /// How many needles.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether `value` of `kind` is one of the needles.
    pub fn holds(&self, value: &str, kind: NeedleKind) -> bool {
        Needle::new(value, kind).is_some_and(|n| self.iter().any(|r| r == n.view()))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = NeedleRef<'_>> + Clone {
        self.spans.iter().map(|(s, e, t)| NeedleRef {
            skel: &self.buf[*s as usize..*e as usize],
            edges: t.edges,
            mask: t.mask,
            digits_only: t.digits_only,
        })
    }

    /// The shortest needle's length, and the shortest digit-only one's (`usize::MAX`
    /// for none).
    pub(super) fn shortest(&self) -> (usize, usize) {
        let first = self
            .spans
            .first()
            .map_or(usize::MAX, |(s, e, _)| (e - s) as usize);
        let digits = if self.min_digits == u32::MAX {
            usize::MAX
        } else {
            self.min_digits as usize
        };
        (first, digits)
    }

    /// Whether a needle could occur in a text of `len` bytes whose mask is `m`.
    pub(super) fn possible(&self, m: u64, len: usize) -> bool {
        self.iter()
            .take_while(|n| n.skel.len() <= len)
            .any(|n| n.could_be_in(m, len))
    }
}

/// `value` folded, letters and digits only.
pub fn skeleton(value: &str) -> String {
    if value.is_ascii() && !value.contains('%') {
        // The common case (ids, once per event): one exact allocation, no fold.
        let mut out = Vec::with_capacity(value.len());
        out.extend(
            value
                .bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| b.to_ascii_lowercase()),
        );
        // ASCII in, ASCII out: the conversion cannot fail.
        return String::from_utf8(out).unwrap_or_default();
    }
    Folded::new(value, FoldOptions::default())
        .text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// One bit per letter and digit a text holds (either case), non-ASCII bytes hashed into
/// the rest: a 64-bit summary that rules most needles out of most strings at once.
pub(super) fn mask_bit(b: u8) -> u64 {
    MASK_BITS[usize::from(b)]
}

const MASK_BITS: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'a'..=b'z' => 1 << (c - b'a'),
            b'A'..=b'Z' => 1 << (c - b'A'),
            b'0'..=b'9' => 1 << (26 + c - b'0'),
            0x80.. => 1 << (36 + c % 28),
            _ => 0,
        };
        b += 1;
    }
    t
};

/// [`mask_bit`] of every byte of `s` (the scrubber computes it in its counting pass).
#[cfg(test)]
fn mask(s: &str) -> u64 {
    s.bytes().fold(0, |m, b| m | mask_bit(b))
}

/// Appends a span for every occurrence of every needle in folded text `t`, whose
/// the mask (`mask_bit` of each byte) is `m`.
pub(super) fn find<'n>(
    t: &str,
    m: u64,
    needles: impl Iterator<Item = NeedleRef<'n>>,
    out: &mut Vec<Span>,
) {
    // The text's skeleton, built on the first needle that could match, and where each
    // of its bytes starts in `t`.
    let mut skel = String::new();
    let mut at: Vec<u32> = Vec::new();
    for n in needles {
        if n.mask & !m != 0 || n.skel.len() > t.len() {
            continue;
        }
        if skel.is_empty() {
            skel.reserve(t.len());
            at.reserve(t.len());
            for (i, c) in t.char_indices() {
                if c.is_alphanumeric() {
                    skel.push(c.to_ascii_lowercase());
                    at.extend(std::iter::repeat_n(i as u32, c.len_utf8()));
                }
            }
        }
        for pos in occurrences(skel.as_bytes(), n.skel.as_bytes()) {
            let start = at[pos] as usize;
            let last = at[pos + n.skel.len() - 1] as usize;
            let end = last + t[last..].chars().next().map_or(1, char::len_utf8);
            if edges_ok(t, start, end, n.edges) {
                out.push(Span::new(start, end, Tag::Known));
            }
        }
    }
}

/// Where `needle` (non-empty) starts in `hay`, without overlaps. The texts are short
/// and most candidate positions fail at the first byte, so a first-byte scan beats
/// building a two-way searcher per needle and string.
fn occurrences<'h>(hay: &'h [u8], needle: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
    let mut from = 0;
    std::iter::from_fn(move || {
        let first = *needle.first()?;
        while from + needle.len() <= hay.len() {
            let at = from;
            from += 1;
            if hay[at] == first && hay[at..].starts_with(needle) {
                from = at + needle.len();
                return Some(at);
            }
        }
        None
    })
}

fn edges_ok(t: &str, start: usize, end: usize, edges: Edges) -> bool {
    let before = t[..start].chars().next_back();
    let after = t[end..].chars().next();
    let first = t[start..].chars().next();
    let last = t[..end].chars().next_back();
    let continues = |edge: Option<char>, next: Option<char>| match (edge, next) {
        (Some(e), Some(n)) => {
            (e.is_alphabetic() && n.is_alphabetic()) || (e.is_numeric() && n.is_numeric())
        }
        _ => false,
    };
    match edges {
        Edges::Free => true,
        Edges::Word => !continues(first, before) && !continues(last, after),
        Edges::WholeNumber => {
            !before.is_some_and(char::is_numeric) && !after.is_some_and(char::is_numeric)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(t: &str, needles: &[Needle]) -> Vec<String> {
        let f = Folded::new(t, FoldOptions::default());
        let mut out = Vec::new();
        find(
            &f.text,
            mask(&f.text),
            needles.iter().map(Needle::view),
            &mut out,
        );
        out.iter()
            .map(|s| t[f.source(s.start, s.end)].to_string())
            .collect()
    }

    #[test]
    fn any_layout_matches() {
        let name = [Needle::new("Alice Smith", NeedleKind::Word).unwrap()];
        assert_eq!(spans("hi ALICE-SMITH!", &name), ["ALICE-SMITH"]);
        assert_eq!(spans("alice.smith@x.org", &name), ["alice.smith"]);
        assert_eq!(
            spans("Ａｌｉｃｅ　Ｓｍｉｔｈ", &name),
            ["Ａｌｉｃｅ　Ｓｍｉｔｈ"]
        );
        assert_eq!(spans("alice%20smith", &name), ["alice%20smith"]);
        let card = [Needle::new("4111 1111 1111 1111", NeedleKind::Token).unwrap()];
        assert_eq!(
            spans("n=4111–1111–1111–1111.", &card),
            ["4111–1111–1111–1111"]
        );
    }

    #[test]
    fn words_match_at_word_edges_only() {
        let name = [Needle::new("Ann Lee", NeedleKind::Word).unwrap()];
        assert!(spans("plan nleeway", &name).is_empty());
        assert_eq!(spans("ann lee2024", &name), ["ann lee"]);
        let zip = [Needle::new("10115", NeedleKind::Word).unwrap()];
        assert!(spans("1764510115000", &zip).is_empty());
        assert_eq!(spans("Berlin 10115", &zip), ["10115"]);
    }

    #[test]
    fn short_values_are_not_needles() {
        assert!(Needle::new("ab", NeedleKind::Token).is_none());
        assert!(Needle::new("a-b-c", NeedleKind::Token).is_none());
        assert!(format!("{:?}", Needle::new("secret-id", NeedleKind::Token)).contains("8 chars"));
    }
}
