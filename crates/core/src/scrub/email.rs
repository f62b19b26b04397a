//! E-mail addresses in folded text (RFC 5321 shapes with RFC 6531's non-ASCII local parts
//! and domains, quoted local parts and address literals). It only reports spans; the
//! caller replaces them.

use super::{Span, Tag};

/// Appends the span of every address in `t` (folded text) to `out`.
pub(super) fn find(t: &str, out: &mut Vec<Span>) {
    let b = t.as_bytes();
    let mut floor = 0;
    for (at, _) in t.match_indices('@') {
        if at < floor {
            continue;
        }
        let start = local_start(t, at, floor);
        let Some(end) = domain_end(t, at + 1) else {
            continue;
        };
        if start < at {
            out.push(Span::new(start, end, Tag::Email));
            floor = end;
        } else if b.get(at + 1) == Some(&b'[') {
            // "@[…]" without a local part is not an address.
            continue;
        }
    }
}

/// RFC 5322 `atext` without `=`, `&`, `?` and `/`: those are legal in a local part but
/// almost never used there, and they delimit the address in query strings and paths
/// (`email=alice@example.com` keeps its `email=`).
fn is_local_ascii(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-!#$'*^`{|}~".contains(&b)
}

/// Where the local part before `at` starts (`at` when there is none).
fn local_start(t: &str, at: usize, floor: usize) -> usize {
    let b = t.as_bytes();
    if at > floor && b[at - 1] == b'"' {
        // A quoted local part: "john doe"@example.com. Not JSON text, where a quote
        // before an '@' closes some other string ({"handle":"@news"}). The opening
        // quote may come before the end of the address found last (`"x a@b.com y"@c.com`
        // is one address around another; the spans merge): stopping there left
        // `"x [email] y"@c.com`, an address once the inner one was gone, and a second
        // pass removed it (found by fuzzing, FUZZING.md).
        if let Some(open) = t[..at - 1].rfind('"') {
            let inner = &t[open + 1..at - 1];
            if !inner.is_empty() && !inner.contains([':', ',', '{', '}', '[', ']']) {
                return open;
            }
        }
    }
    let mut start = at;
    for (i, c) in t[floor..at].char_indices().rev() {
        let ok = if c.is_ascii() {
            is_local_ascii(c as u8)
        } else {
            is_non_ascii_word(c)
        };
        if !ok {
            break;
        }
        start = floor + i;
    }
    start
}

/// Where the domain after `from` ends, when it is one: labels of letters, digits and
/// hyphens (any script) with an alphabetic top-level label of two or more letters, or
/// an address literal in brackets.
fn domain_end(t: &str, from: usize) -> Option<usize> {
    let rest = &t[from..];
    if let Some(lit) = rest.strip_prefix('[') {
        let close = lit.find(']')?;
        return is_address_literal(&lit[..close]).then_some(from + close + 2);
    }
    let mut end = from;
    for (i, c) in rest.char_indices() {
        let ok =
            c.is_alphanumeric() || c == '.' || c == '-' || (!c.is_ascii() && is_non_ascii_word(c));
        if !ok {
            break;
        }
        end = from + i + c.len_utf8();
    }
    // Trailing dots, hyphens and symbols are punctuation (or an emoji after the
    // address), not part of the domain.
    while let Some(c) = t[from..end].chars().next_back()
        && !c.is_alphanumeric()
    {
        end -= c.len_utf8();
    }
    if valid_domain(&t[from..end]) {
        return Some(end);
    }
    // A domain glued to what follows (`bob@example.com-5550123`, `a@b.co4111…`,
    // `a@b.com-9040-19.211`): the address ends where the letters of one of its labels
    // end, the last such label that gives a valid domain. Every label, not only the
    // last: what is glued on may hold dots itself, and once the phone detector has
    // replaced it the next pass would find the address a pass before had missed
    // (found by fuzzing, FUZZING.md).
    let domain = &t[from..end];
    let mut label_end = domain.len();
    loop {
        let label_start = domain[..label_end].rfind('.').map_or(0, |i| i + 1);
        let letters = domain[label_start..label_end]
            .char_indices()
            .find(|(_, c)| !c.is_alphabetic())
            .map_or(label_end, |(i, _)| label_start + i);
        if letters > label_start && letters < domain.len() && valid_domain(&domain[..letters]) {
            return Some(from + letters);
        }
        if label_start == 0 {
            return None;
        }
        label_end = label_start - 1;
    }
}

/// What may stand between the brackets of an address literal (RFC 5321 4.1.3): a dotted
/// IPv4 address (`192.0.2.1`), or a tag and its content (`ipv6:2001:db8::1`, folded to
/// lower case). A bare word is none: the scrubber's own placeholders (`bob@[ip]`,
/// `x@[phone]`) would otherwise read as addresses, and a second pass over an output
/// would remove what the first had left (found by fuzzing, FUZZING.md).
fn is_address_literal(inner: &str) -> bool {
    let chars_ok = inner
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':'));
    let dotted = inner.contains('.') && inner.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let tagged = inner
        .split_once(':')
        .is_some_and(|(tag, content)| !tag.is_empty() && !content.is_empty());
    chars_ok && (dotted || tagged)
}

/// Non-ASCII characters an address may hold (RFC 6531 allows any): letters and digits of
/// every script, symbols and emoji, the Catalan middle dot — not spaces, quotes or
/// brackets, which end an address in text.
fn is_non_ascii_word(c: char) -> bool {
    let cp = u32::from(c);
    c.is_alphanumeric()
        || c == '\u{b7}'
        || (0x2190..=0x2BFF).contains(&cp)
        || (0x1F000..=0x1FAFF).contains(&cp)
        || (0xFE00..=0xFE0F).contains(&cp)
}

fn valid_domain(d: &str) -> bool {
    let Some((head, tld)) = d.rsplit_once('.') else {
        return false;
    };
    if head.is_empty() || head.starts_with('.') {
        return false;
    }
    // `logo@2x.png`: a high-density image's file name, not an address.
    let retina = head
        .strip_suffix(['x', 'X'])
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    const IMAGES: [&str; 7] = ["png", "jpg", "jpeg", "gif", "webp", "svg", "avif"];
    if retina && IMAGES.iter().any(|e| tld.eq_ignore_ascii_case(e)) {
        return false;
    }
    let punycode = tld.len() > 4 && tld.as_bytes()[..4].eq_ignore_ascii_case(b"xn--");
    punycode || (tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(t: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(t, &mut out);
        out.iter().map(|s| &t[s.start..s.end]).collect()
    }

    #[test]
    fn shapes() {
        assert_eq!(
            spans("mail a.b+tag@sub.example.co.uk."),
            ["a.b+tag@sub.example.co.uk"]
        );
        assert_eq!(spans("josé@exämple.de"), ["josé@exämple.de"]);
        assert_eq!(spans("用户@例子.广告"), ["用户@例子.广告"]);
        assert_eq!(
            spans("\"john doe\"@example.com"),
            ["\"john doe\"@example.com"]
        );
        assert_eq!(spans("root@[192.0.2.1] x"), ["root@[192.0.2.1]"]);
        // Fuzzing found these: a domain glued to a number was not an address at all.
        assert_eq!(spans("mail bob@example.com-5550123"), ["bob@example.com"]);
        assert_eq!(
            spans("utm_source=tiktjones39@axample.oamplrgb-4155550123"),
            ["tiktjones39@axample.oamplrgb"]
        );
        assert_eq!(spans("a@b.co4111111111111111"), ["a@b.co"]);
        // Fuzzing found this one: what is glued on holds a dot, so the last label is a
        // number; the address must still be found, or a second pass (after the phone
        // is replaced) finds what the first missed.
        assert_eq!(
            spans("196.tiktjones39@axample.oamplrgb-9040-19.211"),
            ["196.tiktjones39@axample.oamplrgb"]
        );
        assert_eq!(spans("mail bob@example.com.5550123"), ["bob@example.com"]);
        assert!(spans("pkg@1.2.3-4.5 x@a.b.c.1").is_empty());
        assert_eq!(spans("a@xn--p1ai.xn--p1ai"), ["a@xn--p1ai.xn--p1ai"]);
        assert!(spans("not an address a@b").is_empty());
        assert!(spans("pkg@1.2.3 @types/node").is_empty());
        assert_eq!(
            spans("user@[ipv6:2001:db8::1]"),
            ["user@[ipv6:2001:db8::1]"]
        );
        // Placeholders are no address literals: `bob@10.0.0.1` leaves `bob@[ip]`.
        assert!(spans("bob@[ip] x@[phone] y@[card] z@[id]").is_empty());
        assert_eq!(spans("root@[010.000.001.002]"), ["root@[010.000.001.002]"]);
        // One address quoted around another: both found, the outer from its quote.
        assert_eq!(
            spans("say \"x alice@example.com y\"@b.com"),
            ["alice@example.com", "\"x alice@example.com y\"@b.com"]
        );
        assert_eq!(spans("alice😀@example.com"), ["alice😀@example.com"]);
        assert_eq!(spans("alice@i❤.ws"), ["alice@i❤.ws"]);
        assert_eq!(spans("mail alice@example.com😀!"), ["alice@example.com"]);
        assert_eq!(spans("col·legi@example.cat"), ["col·legi@example.cat"]);
        assert!(spans("logo@2x.png icon@1.5x.webp").is_empty());
        assert!(spans(r#"{"handle":"@news.today"}"#).is_empty());
    }
}
