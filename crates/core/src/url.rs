//! URL reduction for the anonymous record: keeps scheme, host and path, reduces the query
//! string to an allow-list, drops user-info, port and fragment, and replaces path segments
//! that look like identifiers. Also reduces a referrer to its host. It is a small,
//! deliberately strict parser: anything it cannot read confidently yields `None` (the
//! field becomes `null`), never a partially-copied string.

use std::borrow::Cow;

use crate::scrub::{self, Level};

/// Placeholder for a path segment that held an e-mail address.
pub const SEG_EMAIL: &str = ":email";
/// Placeholder for a path segment that was a long digit run.
pub const SEG_NUMBER: &str = ":num";
/// Placeholder for a path segment that was a UUID.
pub const SEG_UUID: &str = ":uuid";
/// Placeholder for any other segment the scrubber changed.
pub const SEG_REDACTED: &str = ":redacted";
/// Host used when the URL's host was an IP address literal.
pub const IP_HOST: &str = "ip.invalid";

/// Digit runs at least this long in a path segment are treated as identifiers.
const LONG_DIGITS: usize = 6;

struct Parts<'a> {
    scheme: &'a str,
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme.as_bytes()[0].is_ascii_alphabetic()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let rest = rest.split('#').next().unwrap_or("");
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    // User-info ends at the last '@' of the authority: "a@b@host" has user-info "a@b".
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = strip_port(host_port)?;
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    Some(Parts {
        scheme,
        host,
        path,
        query,
    })
}

fn strip_port(host_port: &str) -> Option<&str> {
    if let Some(v6) = host_port.strip_prefix('[') {
        let end = v6.find(']')?;
        return Some(&host_port[..end + 2]);
    }
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    ok.then_some(host)
}

fn clean_host(host: &str, known: &[&str]) -> String {
    let lower = host.to_ascii_lowercase();
    let bare = lower.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return IP_HOST.to_string();
    }
    let labels: Vec<Cow<'_, str>> = lower
        .split('.')
        .map(|label| {
            if scrub::scrub(label, Level::All, known) != label {
                Cow::Borrowed("redacted")
            } else {
                Cow::Borrowed(label)
            }
        })
        .collect();
    labels.join(".")
}

/// Reduces `url` for the anonymous record: `scheme://host/path?allowed-query`.
pub fn anonymize(url: &str, query_allow: &[String], known: &[&str]) -> Option<String> {
    let parts = split(url)?;
    let mut out = String::with_capacity(url.len());
    out.push_str(&parts.scheme.to_ascii_lowercase());
    out.push_str("://");
    out.push_str(&clean_host(parts.host, known));
    if parts.path.is_empty() {
        out.push('/');
    }
    for seg in parts.path.split('/').skip(1) {
        out.push('/');
        out.push_str(&clean_segment(seg, known));
    }
    if let Some(q) = parts.query {
        let mut first = true;
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(k);
            let Some(allowed) = query_allow.iter().find(|a| **a == key) else {
                continue;
            };
            out.push(if first { '?' } else { '&' });
            first = false;
            out.push_str(allowed);
            out.push('=');
            out.push_str(&clean_query_value(v, known));
        }
    }
    Some(out)
}

fn clean_segment<'a>(seg: &'a str, known: &[&str]) -> Cow<'a, str> {
    if seg.is_empty() {
        return Cow::Borrowed(seg);
    }
    let decoded = percent_decode(seg);
    if decoded.contains('@') && scrub::scrub(&decoded, Level::All, &[]).contains(scrub::EMAIL) {
        return Cow::Borrowed(SEG_EMAIL);
    }
    if is_uuid(&decoded) {
        return Cow::Borrowed(SEG_UUID);
    }
    if longest_digit_run(&decoded) >= LONG_DIGITS {
        return Cow::Borrowed(SEG_NUMBER);
    }
    if scrub::scrub(&decoded, Level::All, known) != decoded {
        return Cow::Borrowed(SEG_REDACTED);
    }
    if !seg
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\'))
    {
        return Cow::Owned(percent_encode(&decoded));
    }
    Cow::Borrowed(seg)
}

fn clean_query_value<'a>(v: &'a str, known: &[&str]) -> Cow<'a, str> {
    let decoded = percent_decode(&v.replace('+', " ")).into_owned();
    let scrubbed = scrub::scrub(&decoded, Level::All, known);
    if scrubbed == decoded && v.bytes().all(|b| b.is_ascii_graphic()) {
        return Cow::Borrowed(v);
    }
    Cow::Owned(percent_encode(&scrubbed))
}

/// Reduces a referrer to its lower-case host (IP literals become `ip.invalid`).
pub fn referrer_host(url: &str, known: &[&str]) -> Option<String> {
    split(url).map(|p| clean_host(p.host, known))
}

/// The full URL for the personal record, with card numbers and `never` values removed.
/// Percent-encoding and `+` would hide a card's separators from the scrubber, so the
/// decoded form is checked; it is returned (decoded) only when something was removed.
pub fn scrub_cards<'a>(url: &'a str, never: &[&str]) -> Cow<'a, str> {
    let direct = scrub::scrub(url, Level::CardsOnly, never);
    if matches!(direct, Cow::Owned(_)) {
        return direct;
    }
    let decoded = percent_decode(&url.replace('+', " ")).into_owned();
    match scrub::scrub(&decoded, Level::CardsOnly, never) {
        Cow::Owned(s) => Cow::Owned(s),
        Cow::Borrowed(_) => Cow::Borrowed(url),
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn longest_digit_run(s: &str) -> usize {
    let mut best = 0;
    let mut cur = 0;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// Decodes `%XX` escapes; invalid escapes stay as they are and invalid UTF-8 is replaced,
/// so the result is always safe to inspect.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$'()*,;".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow() -> Vec<String> {
        [
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn table() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "https://shop.example.com/p/shoes?utm_source=news&q=red&email=a%40b.com#top",
                Some("https://shop.example.com/p/shoes?utm_source=news"),
            ),
            (
                "https://bob:secret@Shop.Example.com:8443/a",
                Some("https://shop.example.com/a"),
            ),
            ("https://x.com", Some("https://x.com/")),
            (
                "https://x.com/users/alice@example.com/orders/12345678",
                Some("https://x.com/users/:email/orders/:num"),
            ),
            (
                "https://x.com/u/alice%40example.com",
                Some("https://x.com/u/:email"),
            ),
            (
                "https://x.com/o/123e4567-e89b-12d3-a456-426614174000/",
                Some("https://x.com/o/:uuid/"),
            ),
            (
                "https://x.com/?utm_term=call+555-123-4567",
                Some("https://x.com/?utm_term=call%20%5Bphone%5D"),
            ),
            ("http://203.0.113.9/x", Some("http://ip.invalid/x")),
            ("http://[2001:db8::1]:80/x", Some("http://ip.invalid/x")),
            ("not a url", None),
            ("javascript:alert(1)", None),
            ("https:///nohost", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                anonymize(input, &allow(), &[]).as_deref(),
                *want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn known_identifiers_leave_path_and_host() {
        let out = anonymize(
            "https://u-secret1.x.com/p/u-secret1",
            &allow(),
            &["u-secret1"],
        );
        assert_eq!(out.as_deref(), Some("https://redacted.x.com/p/:redacted"));
    }

    #[test]
    fn referrer_is_host_only() {
        assert_eq!(
            referrer_host("https://user@www.Google.com/search?q=alice", &[]).as_deref(),
            Some("www.google.com")
        );
        assert_eq!(referrer_host("android-app://", &[]), None);
    }

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%ff%41"), "\u{fffd}A");
    }
}
