//! Payment cards and phone numbers in folded text, recognised by structure rather than by
//! digit count: a card is 13–19 digits in a card brand's IIN range and length with a
//! valid Luhn sum, however its groups are separated; a phone number is `+` and 7–15
//! digits, a national number laid out in phone-shaped groups, or an unformatted national
//! number with its trunk `0`. Digit runs glued to letters are part of a word (a digest,
//! a UUID, an error code) and are no phone; a card is a card even there. Dates, year
//! ranges, decimals, thousands and versions are not phones. It reports spans only.

use super::{Span, Tag};

/// Characters that may join the digit groups of one number.
fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/')
}

/// Separators allowed in a row between two groups (`) - ` in `(555) - 123`, `  -  `).
const MAX_SEPS: usize = 5;

/// Characters that join a card's groups when used alike throughout (`4111+1111+…` in
/// a form-encoded value, `4111_1111_…`), though they join no phone number.
const CARD_ONLY_SEPS: [u8; 4] = [b'+', b'_', b',', b':'];

/// One run of digit groups.
struct Run<'t, 'g> {
    /// Start of the run in the text, including a leading `+` or `(`.
    start: usize,
    end: usize,
    /// The groups' byte ranges.
    groups: &'g [(usize, usize)],
    plus: bool,
    paren: bool,
    glued_left: bool,
    glued_right: bool,
    text: &'t [u8],
}

impl Run<'_, '_> {
    fn digits(&self, from: usize, to: usize) -> Vec<u8> {
        self.groups[from..to]
            .iter()
            .flat_map(|(s, e)| self.text[*s..*e].iter().map(|b| b - b'0'))
            .collect()
    }
    /// The separator text before group `g` (`g > 0`).
    fn sep(&self, g: usize) -> &[u8] {
        &self.text[self.groups[g - 1].1..self.groups[g].0]
    }
    fn len(&self, g: usize) -> usize {
        self.groups[g].1 - self.groups[g].0
    }
    fn n(&self) -> usize {
        (0..self.groups.len()).map(|g| self.len(g)).sum()
    }
    fn seps(&self) -> Seps {
        let mut s = Seps::default();
        for w in self.groups.windows(2) {
            for b in &self.text[w[0].1..w[1].0] {
                match b {
                    b' ' => s.space = true,
                    b'.' => s.dot = true,
                    b'(' | b')' => s.paren = true,
                    _ => s.other = true,
                }
            }
        }
        s
    }
}

#[derive(Default)]
struct Seps {
    space: bool,
    dot: bool,
    paren: bool,
    other: bool,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Appends card spans (both levels) and, when `phones`, phone spans to `out`.
pub(super) fn find(t: &str, phones: bool, windows: bool, out: &mut Vec<Span>) {
    let b = t.as_bytes();
    // One buffer for every run's groups.
    let mut groups = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !starts_run(b, i) {
            i += 1;
            continue;
        }
        if let Some(end) = hex_token_end(b, i) {
            i = end;
            continue;
        }
        let run = scan(b, i, &mut groups);
        let next = run.end;
        let found_card = cards(&run, windows, out);
        if phones && !found_card && is_phone(&run) {
            out.push(Span::new(run.start, run.end, Tag::Phone));
        }
        i = next.max(i + 1);
    }
    if b.iter().any(|c| CARD_ONLY_SEPS.contains(c)) {
        cards_joined_by_other_separators(b, out);
    }
}

/// Whether a run of digits starts at `i`.
fn starts_run(b: &[u8], i: usize) -> bool {
    b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit())
}

/// Cards whose groups are joined by one of [`CARD_ONLY_SEPS`], the same one throughout.
fn cards_joined_by_other_separators(b: &[u8], out: &mut Vec<Span>) {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !starts_run(b, i) {
            i += 1;
            continue;
        }
        groups.clear();
        groups.push((i, i));
        let mut sep = None;
        let mut j = i;
        loop {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if let Some(last) = groups.last_mut() {
                last.1 = j;
            }
            let next = b.get(j).copied();
            let joins =
                next.is_some_and(|c| CARD_ONLY_SEPS.contains(&c) && sep.is_none_or(|s| s == c));
            if joins && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
                sep = next;
                j += 1;
                groups.push((j, j));
                continue;
            }
            break;
        }
        let digits: usize = groups.iter().map(|(s, e)| e - s).sum();
        if groups.len() > 1 && digits >= 13 {
            let run = Run {
                start: i,
                end: j,
                groups: &groups,
                plus: false,
                paren: false,
                glued_left: false,
                glued_right: false,
                text: b,
            };
            cards(&run, false, out);
        }
        i = j.max(i + 1);
    }
}

/// Digests and UUIDs are identifiers of things, not people, and their digit runs are
/// no numbers: the end of the hex token (24 or more hex digits with a letter among them,
/// or a UUID) that the digit at `i` is part of, if it is one.
fn hex_token_end(b: &[u8], i: usize) -> Option<usize> {
    let is_hex = |c: u8| c.is_ascii_hexdigit();
    let word = |k: Option<usize>| {
        k.and_then(|k| b.get(k))
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    };
    let around = |joiner: bool| {
        let ok = |c: u8| is_hex(c) || (joiner && c == b'-');
        let mut start = i;
        while start > 0 && ok(b[start - 1]) {
            start -= 1;
        }
        let mut end = i;
        while end < b.len() && ok(b[end]) {
            end += 1;
        }
        (start, end)
    };
    let (start, end) = around(false);
    let digest = end - start >= 24 && b[start..end].iter().any(u8::is_ascii_alphabetic);
    if digest && !word(start.checked_sub(1)) && !word(Some(end)) {
        return Some(end);
    }
    let (start, end) = around(true);
    let uuid = end - start == 36
        && b[start..end].iter().enumerate().all(|(k, c)| match k {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => is_hex(*c),
        });
    (uuid && !word(start.checked_sub(1)) && !word(Some(end))).then_some(end)
}

fn scan<'t, 'g>(b: &'t [u8], first: usize, groups: &'g mut Vec<(usize, usize)>) -> Run<'t, 'g> {
    let plus = first > 0 && b[first - 1] == b'+';
    let paren = first > 0 && b[first - 1] == b'(';
    let start = if plus || paren { first - 1 } else { first };
    groups.clear();
    let mut j = first;
    loop {
        let g = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        groups.push((g, j));
        let mut k = j;
        while k < b.len() && k < j + MAX_SEPS && is_sep(b[k]) {
            k += 1;
        }
        if k > j && k < b.len() && b[k].is_ascii_digit() {
            j = k;
            continue;
        }
        break;
    }
    let end = j;
    let close_paren = paren && b.get(end) == Some(&b')');
    Run {
        start,
        end: if close_paren { end + 1 } else { end },
        glued_left: start > 0 && is_word(b[start - 1]),
        glued_right: b.get(end).is_some_and(|c| is_word(*c)),
        groups,
        plus,
        paren,
        text: b,
    }
}

/// Cards among consecutive groups of `run` (a quantity before a card, a card glued to
/// a word); with `windows`, also inside one long group (the personal record, where a
/// card glued to other digits must still go). Returns whether the whole run was one.
fn cards(run: &Run, windows: bool, out: &mut Vec<Span>) -> bool {
    let ng = run.groups.len();
    let mut g = 0;
    let mut whole = false;
    while g < ng {
        let mut found = None;
        let mut n = 0;
        for h in g..ng {
            n += run.len(h);
            // A card's groups hold two digits or more: `2 3 4 5 …` is a list.
            if ng > 1 && run.len(h) < 2 {
                break;
            }
            // A dot joins a card's groups only when every separator is one (a decimal
            // point beside a space is two numbers: `-67.091011 107.327377`).
            if n > 19 || (h > g && run.sep(h).contains(&b'.') != run.sep(g + 1).contains(&b'.')) {
                break;
            }
            if n >= 13 && is_card(&run.digits(g, h + 1)) {
                found = Some(h);
            }
        }
        if let Some(h) = found {
            whole |= g == 0 && h == ng - 1;
            out.push(Span::new(run.groups[g].0, run.groups[h].1, Tag::Card));
            g = h + 1;
            continue;
        }
        if windows && run.len(g) > 13 && contains_card(&run.digits(g, g + 1)) {
            out.push(Span::new(run.groups[g].0, run.groups[g].1, Tag::Card));
            whole |= ng == 1;
        }
        g += 1;
    }
    whole
}

fn contains_card(d: &[u8]) -> bool {
    (13..=19).any(|len| d.windows(len).any(is_card))
}

/// A payment card number: a brand's IIN range and length, and the Luhn sum; zeros in
/// front (`0004111…`, padding) do not hide one.
pub(crate) fn is_card(d: &[u8]) -> bool {
    let unpadded = &d[d.iter().take_while(|x| **x == 0).count()..];
    let card = |d: &[u8]| (13..=19).contains(&d.len()) && brand_length(d) && luhn_valid(d);
    card(d) || (unpadded.len() < d.len() && card(unpadded))
}

/// Whether some card brand issues numbers of this length under this prefix (ISO/IEC
/// 7812 IIN ranges of the brands in use). 13 digits is Visa's old length; a 13-digit
/// number that is also a valid EAN-13 is read as the barcode it far more likely is.
fn brand_length(d: &[u8]) -> bool {
    let p = |k: usize| d[..k].iter().fold(0u32, |a, x| a * 10 + u32::from(*x));
    let n = d.len();
    let long = (16..=19).contains(&n);
    match d[0] {
        4 => n == 16 || n == 19 || (n == 13 && !ean13_valid(d)),
        5 => (51..=55).contains(&p(2)) && n == 16 || matches!(p(2), 50 | 56..=58) && long,
        2 => (2221..=2720).contains(&p(4)) && n == 16 || (2200..=2204).contains(&p(4)) && long,
        3 => {
            matches!(p(2), 34 | 37) && n == 15
                || (matches!(p(3), 300..=305) || matches!(p(2), 36 | 38 | 39))
                    && (14..=19).contains(&n)
                || (3528..=3589).contains(&p(4)) && long
        }
        // Discover (6011, 644–649, 65), RuPay (60), UnionPay (62), Maestro (6304, 67xx).
        6 => long && (matches!(p(2), 60 | 62 | 64 | 65 | 67) || p(4) == 6304),
        8 => matches!(p(2), 81 | 82) && n == 16,
        9 => p(4) == 9792 && n == 16,
        _ => false,
    }
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

fn ean13_valid(d: &[u8]) -> bool {
    let sum: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, x)| u32::from(*x) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(d[12])
}

fn isbn10_valid(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, x)| u32::from(*x) * (10 - i as u32))
        .sum();
    d.len() == 10 && sum.is_multiple_of(11)
}

fn is_phone(run: &Run) -> bool {
    let n = run.n();
    if run.plus {
        return (7..=15).contains(&n);
    }
    if run.glued_left || run.glued_right {
        return false;
    }
    // "00" is the international prefix: what follows is what follows a "+".
    let intl = run.text[run.groups[0].0..].starts_with(b"00") && run.len(0) >= 2;
    if intl && run.groups.len() > 1 {
        return (9..=17).contains(&n);
    }
    if run.groups.len() == 1 {
        // Bare numbers are phones only with a trunk or international `0` in front.
        if run.text[run.groups[0].0] != b'0' || !(9..=15).contains(&n) {
            return false;
        }
        let d = run.digits(0, 1);
        return bare_national(&d) || bare_international(&d);
    }
    (7..=12).contains(&n) && phone_layout(run)
}

/// An unformatted national number: trunk `0`, then 8–10 digits (`07911123456`,
/// `0612345678`); a valid ISBN-10 is a book.
fn bare_national(d: &[u8]) -> bool {
    let n = d.len();
    (9..=11).contains(&n) && d[0] == 0 && d[1] != 0 && !(n == 10 && isbn10_valid(d))
}

/// An unformatted number after the international prefix: `00`, a country code, the
/// national number (`004915123456789`); a valid EAN-13 or UPC-A (`00…` is a US
/// product code) is a barcode.
fn bare_international(d: &[u8]) -> bool {
    let n = d.len();
    let barcode = match n {
        13 => ean13_valid(d),
        12 => ean13_valid(&[&[0], d].concat()),
        _ => false,
    };
    (11..=15).contains(&n) && d[0] == 0 && d[1] == 0 && d[2] != 0 && !barcode
}

fn phone_layout(run: &Run) -> bool {
    let seps = run.seps();
    let ng = run.groups.len();
    let lens: Vec<usize> = (0..ng).map(|g| run.len(g)).collect();
    let dots_only = seps.dot && !seps.space && !seps.paren && !seps.other;
    // Dotted numbers are decimals (two groups), thousands (`12.345.678`) and versions
    // (`12.25.123`); a dotted phone has a last group of four (`555.123.4567`) or five
    // and more groups (`06.12.34.56.78`).
    if dots_only && (ng == 2 || is_thousands(&lens) || (ng == 3 && lens[2] < 4)) {
        return false;
    }
    if seps.dot && seps.space && !seps.paren {
        return false; // coordinates and price lists: "12.99 14.99"
    }
    let spaces_only = seps.space && !seps.dot && !seps.paren && !seps.other;
    if spaces_only && lens[0] <= 2 && is_thousands(&lens) {
        return false; // 12 345 678 (a Spanish 612 345 678 stays a phone)
    }
    if is_date(run, &lens) || all_years(run, &lens) || is_range(run, &lens) {
        return false;
    }
    let first = run.text[run.groups[0].0];
    let trunk = first == b'0' || run.paren;
    let nanp_one = lens[0] == 1 && first == b'1' && ng >= 3;
    lens.iter().enumerate().all(|(g, l)| match g {
        0 => (2..=5).contains(l) || nanp_one,
        _ if g == ng - 1 => (2..=5).contains(l) || (ng == 2 && trunk && *l <= 8),
        _ => (2..=5).contains(l),
    })
}

/// `1.234.567`, `12 345 678`: thousands separators (every group after the first is three
/// digits, the first one to three).
fn is_thousands(lens: &[usize]) -> bool {
    lens[0] <= 3 && lens[1..].iter().all(|l| *l == 3)
}

/// Group `g`'s number, saturating: a group can be any length (fuzzing found a ten-digit
/// one overflowing the `u32` this used to be), and every caller compares it with small
/// bounds.
fn value(run: &Run, g: usize) -> u64 {
    let (s, e) = run.groups[g];
    run.text[s..e].iter().fold(0u64, |a, b| {
        a.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    })
}

/// A run that starts with a date — `2026-11-29`, `29.11.2026`, `11/29/2026`,
/// `12/31/26` — and perhaps goes on with its time (`2026-11-29 12:30`).
fn is_date(run: &Run, lens: &[usize]) -> bool {
    if lens.len() < 3 {
        return false;
    }
    let year = |g| (1900..=2099).contains(&value(run, g));
    let dm = |a, b| {
        let (x, y) = (value(run, a), value(run, b));
        (1..=31).contains(&x) && (1..=31).contains(&y) && (x <= 12 || y <= 12)
    };
    match lens[..3] {
        [4, 2, 2] => year(0) && dm(1, 2),
        [2, 2, 4] => year(2) && dm(0, 1),
        // Two-digit years only with slashes: `06.12.34` is more likely a phone.
        [2, 2, 2] => run.sep(1) == b"/" && run.sep(2) == b"/" && dm(0, 1),
        _ => false,
    }
}

/// `2019-2024`, `2019-2024-2025`.
fn all_years(run: &Run, lens: &[usize]) -> bool {
    lens.iter()
        .enumerate()
        .all(|(g, l)| *l == 4 && (1900..=2099).contains(&value(run, g)))
}

/// `1000-5000`, `100-2000`: a range of round numbers.
fn is_range(run: &Run, lens: &[usize]) -> bool {
    lens.len() == 2
        && run.sep(1).contains(&b'-')
        && value(run, 0).is_multiple_of(10)
        && value(run, 1).is_multiple_of(10)
        && value(run, 1) > value(run, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(t: &str, phones: bool) -> Vec<(&str, Tag)> {
        let mut out = Vec::new();
        find(t, phones, false, &mut out);
        out.iter().map(|s| (&t[s.start..s.end], s.tag)).collect()
    }

    fn phone(t: &str) -> bool {
        spans(t, true).iter().any(|(_, tag)| *tag == Tag::Phone)
    }

    fn card(t: &str) -> bool {
        spans(t, true).iter().any(|(_, tag)| *tag == Tag::Card)
    }

    /// Found by fuzzing (FUZZING.md): a group of ten or more digits in a date, year or
    /// range test overflowed (a panic with overflow checks, a wrapped value without).
    #[test]
    fn long_groups_do_not_overflow() {
        for t in [
            "6666666666-6000",
            "66666666666666666666-10",
            "99999999999.11.2026",
            "2026-11-99999999999",
        ] {
            let _ = spans(t, true);
        }
        assert!(!phone("6666666660-7000000000"));
    }

    #[test]
    fn phones() {
        for p in [
            "+1 (555) 123-4567",
            "+44 20 7946 0958",
            "+1.555.123.4567",
            "+4915123456789",
            "(555) 123-4567",
            "555-123-4567",
            "555.123.4567",
            "555 123 4567",
            "1-800-555-0199",
            "555-1234",
            "1234 5678",
            "12 34 56 78",
            "06 12 34 56 78",
            "030 12345678",
            "089/1234567",
            "07911123456",
            "0612345678",
            "0044 20 7946 0958",
            "06.12.34.56.78",
            "004915123456789",
            "tel 0033612345678 x",
            "612 345 678",
        ] {
            assert!(phone(p), "{p}");
        }
    }

    #[test]
    fn not_phones() {
        for p in [
            "1764547200",
            "1764547200123",
            "4006381333931",
            "9780306406157",
            "0306406152",
            "2147483648",
            "20261129",
            "2026-11-29",
            "29.11.2026",
            "11/29/2026",
            "2019-2024",
            "1299.99",
            "12.345.678",
            "12.25.123",
            "120.0.6099.109",
            "52.520008 13.404954",
            "12.99 14.99",
            "d4fe8ca7-f123456789bd27",
            "0c4407ce-2564-4388-a76f-e4dd09342898",
            "a2cb5ac3a045ca5f4110827297529534",
            "-67.091011 107.327377",
            "6a123456789",
            "err_123456789",
            "978-3-16-148410-0",
            "123456789012",
            "2026-11-29 12:30:45",
            "12/31/26 23:59",
            "2024.01.15.1234",
            "12 345 678",
            "price 1 299 000 RUB",
            "price 1000-5000",
            "pages 100-2000",
            "2019-2024-2025",
            "0036000291452",
        ] {
            assert!(!phone(p), "{p}");
        }
    }

    #[test]
    fn cards_by_brand_length_and_luhn() {
        for c in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111.1111.1111.1111",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "3530 1113 3330 0000",
            "6011111111111117",
            "6200000000000005",
            "36227206271667",
            "4222222222222",
            "qty 2 4111 1111 1111 1111",
            "card4111111111111111",
            "4111 1111-1111 1111",
            "0004111111111111111",
            "4111+1111+1111+1111",
            "4111_1111_1111_1111",
            "4111:1111:1111:1111",
            "4111  -  1111  -  1111  -  1111",
            "1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8 4111 1111 1111 1111",
        ] {
            assert!(card(c), "{c}");
        }
        for c in [
            "1764547200121",                    // epoch milliseconds that pass Luhn
            "4006381333924",                    // an EAN-13 that passes Luhn too
            "9780306406156",                    // ISBN-13-shaped, Luhn-valid
            "4111111111111112",                 // bad Luhn
            "1234567890123452",                 // no brand
            "a2cb5ac3a045ca5f4110827297529534", // inside a digest
            "sha-a2cb5ac3a045ca5f4110827297529534",
            "-67.091011 107.327377", // two coordinates, not one number
            "2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8", // a list of digits
        ] {
            assert!(!card(c), "{c}");
        }
    }

    #[test]
    fn luhn() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn_valid(&d("4111111111111111")));
        assert!(luhn_valid(&d("79927398713")));
        assert!(!luhn_valid(&d("4111111111111112")));
        assert!(!luhn_valid(&[]));
    }
}
