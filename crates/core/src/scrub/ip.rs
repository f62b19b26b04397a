//! IP addresses: IPv4 and IPv6 (IPv4-mapped included) in folded free text, and the
//! WHATWG URL standard's IPv4 host parser (`http://3232235777/`, `0xC0.0250.1`, `127.1`),
//! so a host the browser would read as an address is read as one here. It reports
//! spans and verdicts; it replaces nothing.

use std::net::Ipv6Addr;

use super::{Span, Tag};

fn is_ip_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Appends the span of every IP address in `t` (folded text) to `out`. A dotted run is
/// removed whole when any four consecutive groups of it form an IPv4 address, so an
/// address glued to a version number does not slip through.
pub(super) fn find(t: &str, out: &mut Vec<Span>) {
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !is_ip_char(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_ip_char(b[i]) {
            i += 1;
        }
        if looks_like_ip(&t[start..i]) {
            out.push(Span::new(start, i, Tag::Ip));
        }
    }
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
/// leading characters are dropped in turn (bounded, so a long run costs little). A run
/// without a decimal digit (`a::b` of `Foo::Bar`) is a name, not an address.
fn has_ipv6(run: &str) -> bool {
    const MAX_GLUED: usize = 8;
    if !run.bytes().any(|b| b.is_ascii_digit()) || run.matches(':').count() < 2 {
        return false;
    }
    // After the last colon comes a hex group or, mapped, a dotted quad: `00:00:28.356`
    // of a timestamp is neither, and the parses below are the detector's dearest part.
    if let Some((_, tail)) = run.rsplit_once(':')
        && tail.contains('.')
        && tail.matches('.').count() != 3
    {
        return false;
    }
    // A trailing "::" is part of the address (`2001:db8::`); other trailing colons are not.
    let trimmed = run.trim_end_matches(':');
    let forms: &[&str] = if run.ends_with("::") {
        &[run, trimmed]
    } else {
        &[trimmed]
    };
    forms.iter().any(|run| {
        (0..=MAX_GLUED.min(run.len().saturating_sub(2)))
            .chain(compressed_starts(run))
            .any(|start| run.is_char_boundary(start) && run[start..].parse::<Ipv6Addr>().is_ok())
    })
}

/// Where an address that begins with `::` may start in `run`: at the last two colons of
/// every run of two or more, however far into the run (`…567:::::6` holds `::6`). The
/// glued-prefix bound above does not reach there, and once another detector had replaced
/// what came before (a phone number, here), a second pass found the address a first
/// pass had missed (found by fuzzing, FUZZING.md). Only where a decimal digit follows,
/// as for the whole run: a bare `::` at a run's end is punctuation, not the unspecified
/// address. One parse per colon run: a parse reads at most a few dozen bytes, so a
/// long run stays linear.
fn compressed_starts(run: &str) -> impl Iterator<Item = usize> + '_ {
    let b = run.as_bytes();
    (2..=b.len())
        .filter(move |&end| {
            b[end - 2] == b':'
                && b[end - 1] == b':'
                && b.get(end) != Some(&b':')
                && b[end..].iter().any(u8::is_ascii_digit)
        })
        .map(|end| end - 2)
}

/// Four consecutive dot-separated groups of 1–3 decimal digits, each at most 255
/// (zero-padded groups such as `010` count: they are still the address). A last group
/// of zero names a network, never a host (`10.0.0.0`), and is how four-part software
/// versions end (`1.0.0.0`): those are kept.
fn has_ipv4_window(run: &str) -> bool {
    let mut groups: Vec<&str> = run.split('.').collect();
    // Hex letters glued to either end (`abc203.0.113.7`) are not part of the address.
    if let Some(first) = groups.first_mut() {
        *first = first.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    }
    if let Some(last) = groups.last_mut() {
        *last = last.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    }
    groups.len() >= 4
        && groups
            .windows(4)
            .any(|w| w.iter().all(|g| is_octet(g)) && w[3].bytes().any(|b| b != b'0'))
}

fn is_octet(g: &str) -> bool {
    (1..=3).contains(&g.len())
        && g.bytes().all(|b| b.is_ascii_digit())
        && g.parse::<u16>().is_ok_and(|v| v <= 255)
}

/// A host label holding a dashed IPv4 address (`ip-10-0-0-1`, `203-0-113-7-static`).
pub(crate) fn label_has_dashed_ipv4(label: &str) -> bool {
    if label.bytes().filter(|b| *b == b'-').count() < 3 {
        return false;
    }
    let parts: Vec<&str> = label.split('-').collect();
    parts.windows(4).any(|w| w.iter().all(|g| is_octet(g)))
}

/// What the WHATWG host parser makes of an ASCII host that is not an IPv6 literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKind {
    /// A domain name.
    Domain,
    /// An IPv4 address, in any of the forms browsers accept.
    Ipv4,
    /// The last label is a number but the whole is no valid address: browsers refuse
    /// the URL.
    Invalid,
}

/// The WHATWG "ends in a number" rule and IPv4 parser: if the last label is decimal,
/// `0x` hex or all-digit, the host is an IPv4 address of one to four parts (decimal,
/// octal with a leading zero, or hex), the last filling the remaining bytes.
pub(crate) fn whatwg_host(host: &str) -> HostKind {
    let host = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    let Some(last) = parts.last() else {
        return HostKind::Domain;
    };
    let numeric_last = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    if !numeric_last && parse_part(last).is_none() {
        return HostKind::Domain;
    }
    if parts.len() > 4 {
        return HostKind::Invalid;
    }
    let mut values = Vec::with_capacity(4);
    for p in &parts {
        match parse_part(p) {
            Some(v) => values.push(v),
            None => return HostKind::Invalid,
        }
    }
    let (head, tail) = values.split_at(values.len() - 1);
    let room = 256u64.pow(5 - values.len() as u32);
    if head.iter().any(|v| *v > 255) || tail[0] >= room {
        return HostKind::Invalid;
    }
    HostKind::Ipv4
}

/// One IPv4 part: `0x`-prefixed hex, `0`-prefixed octal, or decimal, however many
/// leading zeros it has (`0x0000000000cb007107` is 0xcb007107 to a browser). A part too
/// large for 64 bits is `u64::MAX`: still a number, never a valid address.
fn parse_part(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Some(0);
    }
    Some(u64::from_str_radix(significant, radix).unwrap_or(u64::MAX))
}

/// A host label holding a dashed IPv6 address (`2001-db8--1`, as wildcard-DNS services
/// write them).
pub(crate) fn label_has_dashed_ipv6(label: &str) -> bool {
    let dashes = label.bytes().filter(|b| *b == b'-').count();
    dashes >= 2
        && label.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && label.replace('-', ":").parse::<Ipv6Addr>().is_ok()
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
    fn free_text() {
        assert_eq!(spans("from 203.0.113.7 today"), ["203.0.113.7"]);
        assert_eq!(spans("v=10.0.0.1.5"), ["10.0.0.1.5"]);
        assert_eq!(spans("padded 010.000.001.002"), ["010.000.001.002"]);
        assert_eq!(spans("glued abc203.0.113.7def"), ["abc203.0.113.7def"]);
        assert_eq!(spans("addr 2001:db8::1 x"), ["2001:db8::1"]);
        assert_eq!(spans("mapped ::ffff:192.0.2.1"), ["::ffff:192.0.2.1"]);
        assert_eq!(spans("net 2001:db8:: x"), ["2001:db8::"]);
        // Fuzzing found this: `::6` after more than the glued-prefix bound.
        assert_eq!(spans("v 000000.567:::::6t"), ["000000.567:::::6"]);
        assert_eq!(spans("v :::::6t"), [":::::6"]);
        assert!(spans("v 000000.567::: x").is_empty());
        assert!(spans("at 12:30:45 sharp").is_empty());
        assert!(spans("std::vector foo::bar").is_empty());
        assert!(spans("chrome/120.0.6099.109").is_empty());
        assert!(spans("assembly 1.0.0.0, net 10.0.0.0").is_empty());
    }

    #[test]
    fn browser_hosts() {
        for h in [
            "3232235777",
            "0xc0a80001",
            "0300.0250.0.1",
            "127.1",
            "192.168.1",
            "0x7f.1",
            "10.0.0.1.",
            "0x0000000000cb007107",
            "203.0.0x0000000000007107",
        ] {
            assert_eq!(whatwg_host(h), HostKind::Ipv4, "{h}");
        }
        for h in ["example.com", "1.example", "a.b.c"] {
            assert_eq!(whatwg_host(h), HostKind::Domain, "{h}");
        }
        for h in ["1.2.3.4.5", "256.0.0.1", "99999999999", "a.09", "x.0x"] {
            assert_eq!(whatwg_host(h), HostKind::Invalid, "{h}");
        }
        assert!(label_has_dashed_ipv4("ip-10-0-0-1"));
        assert!(!label_has_dashed_ipv4("2026-11-29"));
        assert!(label_has_dashed_ipv6("2001-db8--1"));
        assert!(!label_has_dashed_ipv6("my-shop"));
    }
}
