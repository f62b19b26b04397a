//! Free-text scrubbing: finds e-mail addresses, IP addresses, payment-card numbers, phone
//! numbers and caller-supplied known values (the event's own identifiers, the user's
//! profile values) in a string, and replaces each with a fixed placeholder. It owns the
//! detection rules and nothing else: it never decides *whether* a field is copied (that
//! is `policy`'s job) and it never logs what it finds.
//!
//! One pass: the string is folded once (`fold`: percent-decoded, Unicode compatibility
//! form, lower case, every digit, dash and space of every script in its ASCII form), the
//! detectors report spans over the folded text, overlapping spans merge, and the source
//! bytes behind them are replaced — so what is not an identifier comes through byte for
//! byte. Detection is structural (`digits`: brand ranges and Luhn for cards, phone
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
pub use known::{MIN_KNOWN_LEN, Needle, NeedleKind, skeleton};

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

/// The known values to remove: the event's own needles and a shared slice (a profile's,
/// prepared once when the profile was loaded).
#[derive(Debug, Clone, Default)]
pub struct Known<'a> {
    own: Vec<Needle>,
    shared: &'a [Needle],
    more: &'a [Needle],
}

impl<'a> Known<'a> {
    /// No known values.
    pub const NONE: Known<'static> = Known {
        own: Vec::new(),
        shared: &[],
        more: &[],
    };

    /// `own` plus the two shared slices.
    pub fn new(own: Vec<Needle>, shared: &'a [Needle], more: &'a [Needle]) -> Known<'a> {
        Known { own, shared, more }
    }

    fn iter(&self) -> impl Iterator<Item = &Needle> + Clone {
        self.own.iter().chain(self.shared).chain(self.more)
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
    if nothing_to_find(text, level, known) {
        return Vec::new();
    }
    let folded = fold::Folded::new(text, opts);
    let t = &folded.text;
    let mut spans = Vec::new();
    known::find(t, known.iter(), &mut spans);
    if level == Level::All {
        email::find(t, &mut spans);
        ip::find(t, &mut spans);
    }
    digits::find(
        t,
        level == Level::All,
        level == Level::CardsOnly,
        &mut spans,
    );
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

/// The cheap test most strings stop at: ASCII, no escape, and too few of the characters
/// every detector needs (digits for cards and phones, `@`, dots and colons for
/// addresses), and no needle whose bytes all occur.
fn nothing_to_find(text: &str, level: Level, known: &Known) -> bool {
    let (mut digits, mut dots, mut colons, mut at) = (0, 0, 0, false);
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            b':' => colons += 1,
            b'@' => at = true,
            b'%' | 0x80.. => return false,
            _ => {}
        }
    }
    let detectors = match level {
        Level::All => digits >= 7 || at || colons >= 2 || (dots >= 3 && digits >= 4),
        Level::CardsOnly => digits >= 13,
    };
    !detectors && !known::possible(text, known.iter())
}

/// The decimal digits of a JSON number's integral part (sign dropped), when it has one
/// that is exact: a card or a phone sent as a number is read from these.
fn number_digits(n: &serde_json::Number) -> Option<String> {
    if let Some(u) = n.as_u64() {
        return Some(u.to_string());
    }
    if let Some(i) = n.as_i64() {
        return Some(i.unsigned_abs().to_string());
    }
    let f = n.as_f64()?.abs().trunc();
    // Below 2^64 the integral part prints exactly; above, digits are already lost.
    (f.is_finite() && f < 1.8e19).then(|| format!("{f:.0}"))
}

/// The placeholder a JSON number becomes, if any: a card number (negative and
/// floating-point forms included) or one of `known` in digits. Other numbers pass
/// unchanged (a phone number is not recognisable as a bare number).
pub fn scrub_number(n: &serde_json::Number, known: &Known) -> Option<&'static str> {
    let digits = number_digits(n)?;
    let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    if digits::is_card(&d) {
        return Some(CARD);
    }
    known.iter().any(|k| k.in_number(&digits)).then_some(KNOWN)
}

#[cfg(test)]
mod tests;
