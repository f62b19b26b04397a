//! Free-text scrubbing: finds e-mail addresses, IP addresses, payment-card numbers and
//! phone-like digit runs in a string, and replaces them with fixed placeholders; also
//! replaces caller-supplied known values (the event's own identifiers, the user's profile
//! values). It owns the detection rules and nothing else: it never decides *whether* a
//! field is copied (that is `policy`'s job) and it never logs what it finds.
//!
//! Detection errs on the side of removing: a long digit run that is not a phone number
//! (an order number, an epoch time) is removed too, because analytics loses little by it
//! and a missed identifier cannot be taken back.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Placeholder for an e-mail address.
pub const EMAIL: &str = "[email]";
/// Placeholder for an IPv4 or IPv6 address.
pub const IP: &str = "[ip]";
/// Placeholder for a Luhn-valid payment-card number.
pub const CARD: &str = "[card]";
/// Placeholder for a phone number or any other long digit run.
pub const PHONE: &str = "[phone]";
/// Placeholder for a known identifier or profile value.
pub const KNOWN: &str = "[id]";

/// Known values shorter than this are not searched for: a two-letter user id would
/// otherwise erase every occurrence of those letters in every string.
pub const MIN_KNOWN_LEN: usize = 4;

/// What to remove from a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Everything: e-mails, IPs, cards, phones and known values (the anonymous record).
    All,
    /// Payment cards and the known values given (the personal record, where identifiers
    /// are allowed but card and government-id numbers never are).
    CardsOnly,
}

/// Scrubs `text` at `level`, also replacing every occurrence of each of `known`.
/// Returns the input borrowed when nothing matched, which is the common case.
pub fn scrub<'a>(text: &'a str, level: Level, known: &[&str]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    // Substring search has a set-up cost per needle; most strings are shorter than the
    // identifiers or lack one of their bytes, which a byte-set check tells exactly.
    let mut present: Option<ByteSet> = None;
    for needle in known {
        if needle.len() >= MIN_KNOWN_LEN
            && needle.len() <= out.len()
            && present
                .get_or_insert_with(|| ByteSet::of(&out))
                .has_all(needle)
            && out.contains(needle)
        {
            out = Cow::Owned(out.replace(needle, KNOWN));
            present = None;
        }
    }
    let stats = Stats::of(&out);
    if level == Level::All
        && stats.at
        && let Some(s) = replace_emails(&out)
    {
        out = Cow::Owned(s);
    }
    if level == Level::All
        && (stats.colons >= 2 || stats.dots >= 3)
        && let Some(s) = replace_ips(&out)
    {
        out = Cow::Owned(s);
    }
    if stats.digits >= 7
        && let Some(s) = replace_digit_runs(&out, level)
    {
        out = Cow::Owned(s);
    }
    out
}

/// The set of bytes occurring in a string.
struct ByteSet([u64; 4]);

impl ByteSet {
    fn of(s: &str) -> ByteSet {
        let mut set = [0u64; 4];
        for b in s.bytes() {
            set[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        ByteSet(set)
    }
    /// False when some byte of `needle` never occurs (so it cannot be a substring).
    fn has_all(&self, needle: &str) -> bool {
        needle
            .bytes()
            .all(|b| self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0)
    }
}

/// Cheap counts that let most strings skip every detector.
struct Stats {
    at: bool,
    colons: usize,
    dots: usize,
    digits: usize,
}

impl Stats {
    fn of(s: &str) -> Stats {
        let mut st = Stats {
            at: false,
            colons: 0,
            dots: 0,
            digits: 0,
        };
        for b in s.bytes() {
            match b {
                b'@' => st.at = true,
                b':' => st.colons += 1,
                b'.' => st.dots += 1,
                b'0'..=b'9' => st.digits += 1,
                _ => {}
            }
        }
        st
    }
}

fn is_local_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-!#$&'*/=?^`{|}~".contains(&b)
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// Replaces `local@domain.tld` spans. The domain needs a dot and an alphabetic TLD of two
/// or more letters, so `a@b` in free text survives but every deliverable address goes.
fn replace_emails(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'@' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > copied && is_local_part(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < bytes.len() && is_domain(bytes[end]) {
            end += 1;
        }
        // Trailing dots and hyphens are sentence punctuation, not part of the domain.
        while end > i + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if start < i && valid_domain(&s[i + 1..end]) {
            out.push_str(&s[copied..start]);
            out.push_str(EMAIL);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

fn valid_domain(d: &str) -> bool {
    let Some((_, tld)) = d.rsplit_once('.') else {
        return false;
    };
    tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()) && !d.starts_with('.')
}

fn is_ip_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Replaces IPv4 and IPv6 addresses (IPv4-mapped IPv6 included). A dotted run is
/// removed whole when any four consecutive groups of it form an IPv4 address, so an
/// address glued to a version number does not slip through.
fn replace_ips(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_ip_char(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ip_char(bytes[i]) {
            i += 1;
        }
        let run = &s[start..i];
        if looks_like_ip(run) {
            out.push_str(&s[copied..start]);
            out.push_str(IP);
            copied = i;
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

fn looks_like_ip(run: &str) -> bool {
    let trimmed = run.trim_matches('.');
    if trimmed.contains(':') {
        return trimmed.split(':').any(has_ipv4_window) || has_ipv6(trimmed);
    }
    has_ipv4_window(trimmed)
}

/// An IPv6 address in a run of hex digits, colons and dots. Hex letters glued to the
/// front ("abc2001:db8::1") or trailing colons would defeat a whole-run parse, so a few
/// leading characters are dropped in turn (bounded, so a long run costs little).
fn has_ipv6(run: &str) -> bool {
    const MAX_GLUED: usize = 8;
    let run = run.trim_end_matches(':');
    (0..=MAX_GLUED.min(run.len().saturating_sub(2)))
        .any(|start| run.is_char_boundary(start) && run[start..].parse::<Ipv6Addr>().is_ok())
}

fn has_ipv4_window(run: &str) -> bool {
    let groups: Vec<&str> = run.split('.').collect();
    if groups.len() < 4 {
        return false;
    }
    groups
        .windows(4)
        .any(|w| w.join(".").parse::<Ipv4Addr>().is_ok())
}

fn is_run_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/')
}

/// Replaces digit runs (digits joined by single separators such as spaces, dashes, dots
/// and parentheses): Luhn-valid 13–19 digits are cards; 9+ digits, `+` followed by 7+
/// digits, or a `ddd-dddd` local number are phones. At `Level::CardsOnly` only cards go.
fn replace_digit_runs(s: &str, level: Level) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let plus = i > 0 && bytes[i - 1] == b'+';
        let open_paren = i > 0 && bytes[i - 1] == b'(';
        let start = if plus || open_paren { i - 1 } else { i };
        let mut end = i;
        let mut digits: Vec<u8> = Vec::with_capacity(20);
        let mut j = i;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                digits.push(b - b'0');
                j += 1;
                end = j;
                continue;
            }
            // A separator counts only when a digit follows it (at most two separators,
            // for ") " in "(555) 123").
            let mut k = j;
            while k < bytes.len() && k < j + 2 && is_run_sep(bytes[k]) {
                k += 1;
            }
            if k > j && k < bytes.len() && bytes[k].is_ascii_digit() {
                j = k;
                continue;
            }
            break;
        }
        let kind = classify_run(&s[i..end], &digits, plus, level);
        if let Some(placeholder) = kind {
            out.push_str(&s[copied..start]);
            out.push_str(placeholder);
            copied = end;
        }
        i = end.max(i + 1);
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

fn classify_run(run: &str, digits: &[u8], plus: bool, level: Level) -> Option<&'static str> {
    let n = digits.len();
    if (13..=19).contains(&n) && luhn_valid(digits) {
        return Some(CARD);
    }
    if level == Level::CardsOnly {
        // Cards embedded in a longer run (glued to other digits) are still cards.
        return (n > 13 && contains_card(digits)).then_some(CARD);
    }
    if is_version_like(run) {
        return None;
    }
    if n >= 9 || (plus && n >= 7) || is_local_phone(run) {
        return Some(PHONE);
    }
    None
}

fn contains_card(digits: &[u8]) -> bool {
    (13..=19).any(|len| digits.windows(len).any(luhn_valid))
}

/// `120.0.6099.109`: dot-joined groups with three or more dots or a one-digit group are
/// software versions, not phone numbers (IPv4 addresses were removed before this runs).
fn is_version_like(run: &str) -> bool {
    run.contains('.')
        && !run.contains([' ', '-', '(', ')', '/'])
        && (run.matches('.').count() >= 3 || run.split('.').any(|g| g.len() == 1))
}

/// `ddd-dddd` or `ddd dddd` or `ddd.dddd`: a seven-digit local number.
fn is_local_phone(run: &str) -> bool {
    let b = run.as_bytes();
    b.len() == 8
        && b[..3].iter().all(u8::is_ascii_digit)
        && matches!(b[3], b'-' | b' ' | b'.')
        && b[4..].iter().all(u8::is_ascii_digit)
}

/// The Luhn checksum payment cards carry.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// True when a JSON number's decimal digits form a Luhn-valid card number: a card sent as
/// a number rather than a string must not slip past the string scrubber.
pub fn number_is_card(n: &serde_json::Number) -> bool {
    let Some(u) = n.as_u64() else {
        return false;
    };
    let digits: Vec<u8> = u.to_string().bytes().map(|b| b - b'0').collect();
    (13..=19).contains(&digits.len()) && luhn_valid(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &str) -> String {
        scrub(s, Level::All, &[]).into_owned()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("hello world", "hello world"),
            ("mail alice@example.com now", "mail [email] now"),
            ("A.B+tag@sub.example.co.uk.", "[email]."),
            ("not an address a@b", "not an address a@b"),
            ("from 203.0.113.7 today", "from [ip] today"),
            ("v=10.0.0.1.5", "v=[ip]"),
            ("addr 2001:db8::1 x", "addr [ip] x"),
            ("glued abc2001:db8::1", "glued [ip]"),
            ("mapped ::ffff:192.0.2.1", "mapped [ip]"),
            ("at 12:30:45 sharp", "at 12:30:45 sharp"),
            ("card 4111 1111 1111 1111 ok", "card [card] ok"),
            ("card 4111-1111-1111-1111", "card [card]"),
            ("card 4111111111111111", "card [card]"),
            ("call +1 (555) 123-4567", "call [phone]"),
            ("call +44 20 7946 0958", "call [phone]"),
            ("call 555-1234", "call [phone]"),
            ("order 123456789012", "order [phone]"),
            ("on 2026-11-29 at 10:00", "on 2026-11-29 at 10:00"),
            ("price 1299.99", "price 1299.99"),
            ("Chrome/120.0.6099.109", "Chrome/120.0.6099.109"),
        ];
        for (input, want) in cases {
            assert_eq!(&all(input), want, "input {input:?}");
        }
    }

    #[test]
    fn unchanged_input_is_borrowed() {
        assert!(matches!(
            scrub("plain text", Level::All, &[]),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn known_values_are_replaced_but_short_ones_ignored() {
        let out = scrub("user u_8f3k2 bought; ab", Level::All, &["u_8f3k2", "ab"]);
        assert_eq!(out, "user [id] bought; ab");
    }

    #[test]
    fn cards_only_keeps_emails_and_phones() {
        let s = "alice@example.com +1 555 123 4567, 4111111111111111";
        assert_eq!(
            scrub(s, Level::CardsOnly, &[]),
            "alice@example.com +1 555 123 4567, [card]"
        );
    }

    #[test]
    fn luhn() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn_valid(&d("4111111111111111")));
        assert!(luhn_valid(&d("79927398713")));
        assert!(!luhn_valid(&d("4111111111111112")));
        assert!(!luhn_valid(&[]));
    }

    #[test]
    fn card_numbers_as_json_numbers() {
        let n: serde_json::Number = serde_json::from_str("4111111111111111").unwrap();
        assert!(number_is_card(&n));
        let n: serde_json::Number = serde_json::from_str("1299").unwrap();
        assert!(!number_is_card(&n));
    }
}
