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

impl Needle {
    /// The needle for `value`, or `None` when its skeleton is too short to search for.
    pub fn new(value: &str, kind: NeedleKind) -> Option<Needle> {
        let skel = skeleton(value);
        if skel.chars().count() < MIN_KNOWN_LEN {
            return None;
        }
        let digits_only = skel.bytes().all(|b| b.is_ascii_digit());
        let edges = match kind {
            _ if digits_only && skel.len() < SHORT_NUMBER => Edges::WholeNumber,
            NeedleKind::Token => Edges::Free,
            NeedleKind::Word => Edges::Word,
        };
        Some(Needle {
            skel: skel.into(),
            edges,
        })
    }

    /// The skeleton's digits, when it has nothing else (numbers are matched on these).
    fn digits(&self) -> Option<&str> {
        self.skel
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then_some(&*self.skel)
    }

    /// Whether the decimal digits of a JSON number hold this value.
    pub(super) fn in_number(&self, digits: &str) -> bool {
        match (self.digits(), self.edges) {
            (Some(d), Edges::WholeNumber) => digits == d,
            (Some(d), _) => digits.contains(d),
            (None, _) => false,
        }
    }
}

/// `value` folded, letters and digits only.
pub fn skeleton(value: &str) -> String {
    Folded::new(value, FoldOptions::default())
        .text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The set of bytes occurring in a string: a needle with a byte the text lacks cannot
/// occur in it, which is most needles for most strings.
pub(super) struct ByteSet([u64; 4]);

impl ByteSet {
    pub(super) fn of(s: &str) -> ByteSet {
        let mut set = [0u64; 4];
        for b in s.bytes() {
            let b = b.to_ascii_lowercase();
            set[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        ByteSet(set)
    }
    fn has_all(&self, needle: &str) -> bool {
        needle
            .bytes()
            .all(|b| self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0)
    }
}

/// Whether any needle could occur in ASCII `text` (its bytes are all there).
pub(super) fn possible<'n>(text: &str, mut needles: impl Iterator<Item = &'n Needle>) -> bool {
    let set = ByteSet::of(text);
    needles.any(|n| n.skel.len() <= text.len() && set.has_all(&n.skel))
}

/// Appends a span for every occurrence of every needle in folded text `t`.
pub(super) fn find<'n>(t: &str, needles: impl Iterator<Item = &'n Needle>, out: &mut Vec<Span>) {
    let mut skel = String::new();
    let mut at: Vec<(u32, u32)> = Vec::new();
    let set = ByteSet::of(t);
    for n in needles {
        if !set.has_all(&n.skel) {
            continue;
        }
        if skel.is_empty() {
            for (i, c) in t.char_indices() {
                if c.is_alphanumeric() {
                    skel.push(c);
                    let r = (i as u32, (i + c.len_utf8()) as u32);
                    at.extend(std::iter::repeat_n(r, c.len_utf8()));
                }
            }
        }
        for (pos, m) in skel.match_indices(&*n.skel) {
            let start = at[pos].0 as usize;
            let end = at[pos + m.len() - 1].1 as usize;
            if edges_ok(t, start, end, n.edges) {
                out.push(Span::new(start, end, Tag::Known));
            }
        }
    }
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
        find(&f.text, needles.iter(), &mut out);
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
