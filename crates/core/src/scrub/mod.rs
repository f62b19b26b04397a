//! Free-text scrubbing: finds e-mail addresses, IP addresses, payment-card numbers, phone
//! numbers and caller-supplied known values (the event's own identifiers, the user's
//! profile values) in a string, and replaces each with a fixed placeholder. It owns the
//! detection rules and nothing else: it never decides *whether* a field is copied (that
//! is `policy`'s job) and it never logs what it finds.
//!
//! A cheap table pass first counts what each detector needs (digits, dots, colons, `@`)
//! and sums the string's letters and digits into a mask the needles are tested against;
//! most strings stop there. The rest are folded once (`fold`: percent-decoded, Unicode
//! compatibility form, case folded, every digit, dash and space of every script in its
//! ASCII form), the detectors that can match report spans over the folded text,
//! overlapping spans merge, and the source bytes behind them are replaced — so what is
//! not an identifier comes through byte for byte. Detection is structural (`digits`: brand ranges and Luhn for cards, phone
//! layouts for phones; `email`; `ip`; `known`), so timestamps, barcodes, digests, sizes
//! and versions are kept; README "What the scrubber cannot know" lists the limits.

mod digits;
mod email;
mod fold;
mod ip;
mod known;

use std::borrow::Cow;
use std::ops::Range;

pub use digits::luhn_valid;
pub use fold::FoldOptions;
pub(crate) use ip::{HostKind, label_has_dashed_ipv4, label_has_dashed_ipv6, whatwg_host};
pub use known::{MIN_KNOWN_LEN, Needle, NeedleKind, NeedleSet, skeleton};

/// Placeholder for an e-mail address.
pub const EMAIL: &str = "[email]";
/// Placeholder for an IPv4 or IPv6 address.
pub const IP: &str = "[ip]";
/// Placeholder for a payment-card number.
pub const CARD: &str = "[card]";
/// Placeholder for a phone number.
pub const PHONE: &str = "[phone]";
/// Placeholder for a known identifier or profile value.
pub const KNOWN: &str = "[id]";

/// What to remove from a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Everything: e-mails, IPs, cards, phones and known values (the anonymous record).
    All,
    /// Payment cards and the known values given (the personal record, where identifiers
    /// are allowed but card and government-id numbers never are).
    CardsOnly,
}

/// What a span is; the order is the priority when spans overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tag {
    Known,
    Email,
    Card,
    Ip,
    Phone,
}

impl Tag {
    fn placeholder(self) -> &'static str {
        match self {
            Tag::Known => KNOWN,
            Tag::Email => EMAIL,
            Tag::Card => CARD,
            Tag::Ip => IP,
            Tag::Phone => PHONE,
        }
    }
}

/// A detector's finding, in folded-text bytes.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    tag: Tag,
}

impl Span {
    fn new(start: usize, end: usize, tag: Tag) -> Span {
        Span { start, end, tag }
    }
}

/// The known values to remove: the event's own identifiers, and the sets a profile
/// brings (prepared once, when it was loaded).
#[derive(Debug, Clone, Default)]
pub struct Known<'a> {
    ids: NeedleSet,
    own: Vec<Needle>,
    sets: [Option<&'a NeedleSet>; 2],
    /// The fewest digits a digit-only needle has (`usize::MAX` when there is none): a
    /// shorter number holds none of them.
    min_digit_needle: usize,
    /// The shortest needle's length in bytes: a shorter text holds no needle.
    shortest: usize,
}

impl<'a> Known<'a> {
    /// No known values.
    pub const NONE: Known<'static> = Known {
        ids: NeedleSet::EMPTY,
        own: Vec::new(),
        sets: [None, None],
        min_digit_needle: usize::MAX,
        shortest: usize::MAX,
    };

    /// The needles `own`.
    pub fn new(own: Vec<Needle>) -> Known<'static> {
        let mut k = Known { own, ..Known::NONE };
        k.note_digit_needles();
        k
    }

    /// The needles of `sets` (a profile's).
    pub fn of(sets: [Option<&'a NeedleSet>; 2]) -> Known<'a> {
        let mut k = Known {
            sets,
            ..Known::NONE
        };
        k.note_digit_needles();
        k
    }

    /// The event's identifiers `ids` (matched anywhere, in any layout) plus `sets`.
    pub fn with_ids<'i>(
        ids: impl Iterator<Item = &'i str> + Clone,
        sets: [Option<&'a NeedleSet>; 2],
    ) -> Known<'a> {
        let mut k = Known {
            ids: NeedleSet::of_ids(ids),
            sets,
            ..Known::NONE
        };
        k.note_digit_needles();
        k
    }

    /// Notes the shortest needle and the shortest digit-only one, from what each set
    /// noted when it was made.
    fn note_digit_needles(&mut self) {
        let sets = std::iter::once(&self.ids).chain(self.sets.iter().flatten().copied());
        let (mut shortest, mut digits) = sets
            .map(NeedleSet::shortest)
            .fold((usize::MAX, usize::MAX), |(a, b), (x, y)| {
                (a.min(x), b.min(y))
            });
        for n in self.own.iter().map(Needle::view) {
            shortest = shortest.min(n.len());
            if let Some(d) = n.digits() {
                digits = digits.min(d.len());
            }
        }
        self.shortest = shortest;
        self.min_digit_needle = digits;
    }

    /// Whether any needle could occur in a text of `len` bytes whose mask is `m`. Set
    /// by set (a chained iterator costs more than the test itself), each shortest
    /// first, stopping at the first needle longer than the text: most strings are short.
    fn possible(&self, m: u64, len: usize) -> bool {
        self.ids.possible(m, len)
            || self.own.iter().any(|n| n.view().could_be_in(m, len))
            || self.sets.iter().flatten().any(|s| s.possible(m, len))
    }

    fn iter(&self) -> impl Iterator<Item = known::NeedleRef<'_>> + Clone {
        self.ids
            .iter()
            .chain(self.own.iter().map(Needle::view))
            .chain(self.sets.iter().flatten().flat_map(|s| s.iter()))
    }
}

/// Scrubs `text` at `level`, also replacing every occurrence of each of `known`.
/// Returns the input borrowed when nothing matched, which is the common case.
pub fn scrub<'a>(text: &'a str, level: Level, known: &Known) -> Cow<'a, str> {
    scrub_with(text, level, known, FoldOptions::default())
}

/// [`scrub`] with the text read under `opts`.
pub fn scrub_with<'a>(
    text: &'a str,
    level: Level,
    known: &Known,
    opts: FoldOptions,
) -> Cow<'a, str> {
    let spans = find(text, level, known, opts);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (r, tag) in spans {
        out.push_str(&text[copied..r.start]);
        out.push_str(tag);
        copied = r.end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The source byte ranges `scrub` would replace, in order, disjoint.
pub(crate) fn find(
    text: &str,
    level: Level,
    known: &Known,
    opts: FoldOptions,
) -> Vec<(Range<usize>, &'static str)> {
    // Most strings stop here: ASCII, no escape, too few of the characters every
    // detector needs, and no needle whose letters and digits all occur.
    let masked = text.len() >= known.shortest;
    let raw = Stats::of(text, masked);
    let (e, i, d) = raw.detectors(level);
    let could_know = masked && known.possible(raw.mask, text.len());
    if !(raw.slow || e || i || d || could_know) {
        return Vec::new();
    }
    let folded = fold::Folded::new(text, opts);
    let t = &folded.text;
    // A text that needed the fold is counted again as the detectors will read it.
    let st = if raw.slow { Stats::of(t, true) } else { raw };
    let (email, ip, digits) = st.detectors(level);
    let mut spans = Vec::new();
    if !raw.slow && could_know || raw.slow && known.possible(st.mask, t.len()) {
        known::find(t, st.mask, known.iter(), &mut spans);
    }
    if email {
        email::find(t, &mut spans);
    }
    if ip {
        ip::find(t, &mut spans);
    }
    if digits {
        digits::find(
            t,
            level == Level::All,
            level == Level::CardsOnly,
            &mut spans,
        );
    }
    if spans.is_empty() {
        return Vec::new();
    }
    spans.sort_by_key(|s| (s.start, s.tag));
    let mut merged: Vec<(Range<usize>, Tag)> = Vec::with_capacity(spans.len());
    for s in spans {
        let r = folded.source(s.start, s.end);
        match merged.last_mut() {
            Some((last, tag)) if r.start < last.end => {
                last.end = last.end.max(r.end);
                *tag = (*tag).min(s.tag);
            }
            _ => merged.push((r, s.tag)),
        }
    }
    merged
        .into_iter()
        .map(|(r, t)| (r, t.placeholder()))
        .collect()
}

const DIGIT: u8 = 1;
const DOT: u8 = 2;
const COLON: u8 = 3;
const AT: u8 = 8;
const SLOW: u8 = 16;

/// What each byte counts as for [`Stats::of`]: the low three bits say which count
/// it adds to, the others flag `@` and what needs the full fold (`%`, non-ASCII).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b'0'..=b'9' => DIGIT,
            b'.' => DOT,
            b':' => COLON,
            b'@' => AT,
            b'%' | 0x80.. => SLOW,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// The increment of the packed counts for each class (digits in bits 0–23, dots in
/// 24–47, colons from 48; strings are far shorter than 2^24 bytes).
const COUNT: [u64; 8] = [0, 1, 1 << 24, 1 << 48, 0, 0, 0, 0];

/// What one pass over a text tells: the counts each detector needs before it can find
/// anything, whether the text needs the full fold, and its letter/digit mask.
#[derive(Clone, Copy)]
struct Stats {
    digits: u64,
    dots: u64,
    colons: u64,
    at: bool,
    slow: bool,
    mask: u64,
}

impl Stats {
    /// One branch-free pass: every byte adds its class to the counts (digits, dots and
    /// colons in separate bit fields of one word) and, with `masked`, its bit to the mask
    /// (skipped when the text is shorter than every needle: most keys and short values).
    fn of(text: &str, masked: bool) -> Stats {
        let (mut counts, mut flags, mut mask) = (0u64, 0u8, 0u64);
        if masked {
            for b in text.bytes() {
                let c = CLASS[usize::from(b)];
                counts += COUNT[usize::from(c & 7)];
                flags |= c;
                mask |= known::mask_bit(b);
            }
        } else {
            for b in text.bytes() {
                let c = CLASS[usize::from(b)];
                counts += COUNT[usize::from(c & 7)];
                flags |= c;
            }
        }
        Stats {
            digits: counts & 0xFF_FFFF,
            dots: (counts >> 24) & 0xFF_FFFF,
            colons: counts >> 48,
            at: flags & AT != 0,
            slow: flags & SLOW != 0,
            mask,
        }
    }

    /// Which detectors could find something: (e-mail, IP, digits).
    fn detectors(&self, level: Level) -> (bool, bool, bool) {
        match level {
            Level::All => (
                self.at,
                self.colons >= 2 || (self.dots >= 3 && self.digits >= 4),
                self.digits >= 7,
            ),
            Level::CardsOnly => (false, false, self.digits >= 13),
        }
    }
}

/// A JSON number's integral part, sign dropped, when it is exact: a card or a phone sent
/// as a number is read from its digits. Below 2^64 a float's integral part is exact;
/// above, its digits are already lost.
fn integral(n: &serde_json::Number) -> Option<u64> {
    match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), _, _) => Some(u),
        (None, Some(i), _) => Some(i.unsigned_abs()),
        (None, None, Some(f)) => {
            let f = f.abs().trunc();
            // Integral and in range: the conversion is exact.
            (f.is_finite() && f < 1.8e19).then_some(f as u64)
        }
        _ => None,
    }
}

/// The decimal digits of `v`, written into the end of `buf`.
fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[at..];
        }
    }
}

/// The placeholder a JSON number becomes, if any: a card number (negative and
/// floating-point forms included) or one of `known` in digits. Other numbers pass
/// unchanged (a phone number is not recognisable as a bare number).
pub fn scrub_number(n: &serde_json::Number, known: &Known) -> Option<&'static str> {
    let v = integral(n)?;
    // Below 10^12 a number is too short for a card, and most numbers in events (counts,
    // sizes) are shorter than every digit needle too (`usize::MAX` digits when none).
    let below_needles = v < 10u64.saturating_pow(known.min_digit_needle.saturating_sub(1) as u32);
    if v < 1_000_000_000_000 && below_needles {
        return None;
    }
    let mut buf = [0u8; 20];
    let text = decimal(v, &mut buf);
    let mut values = [0u8; 20];
    for (v, b) in values.iter_mut().zip(text) {
        *v = b - b'0';
    }
    if digits::is_card(&values[..text.len()]) {
        return Some(CARD);
    }
    // ASCII digits: always a str.
    let digits = std::str::from_utf8(text).ok()?;
    known.iter().any(|k| k.in_number(digits)).then_some(KNOWN)
}

#[cfg(test)]
mod tests;
