//! W3C Trace Context (`traceparent`, `tracestate`) read from an input record's headers and
//! validated strictly, so that what continues a trace is only what the grammar allows and
//! nothing a producer planted around it. It owns that grammar and the rules for headers
//! given twice or too long; it returns a re-encoded context, never the input's bytes. It
//! must not decide where a context goes (the Kafka edge puts it on personal records only)
//! and does no I/O: it sees header names and values, not Kafka.

use super::trace::hex;

/// Longest trace header read. The W3C limit for `tracestate` (what a vendor must carry);
/// a `traceparent` of a future version is refused beyond it too, so no header larger than
/// this is ever looked into, let alone carried.
pub const HEADER_MAX: usize = 512;
/// Most list-members a `tracestate` may have.
pub const TRACESTATE_MEMBERS_MAX: usize = 32;
/// The trace-flags bits this version defines: `sampled` and (Level 2) `random`. Other
/// bits are reserved and must be sent as zero, so they cannot carry anything onward.
const KNOWN_FLAGS: u8 = 0x03;

/// A validated trace context: the parent's ids and flags, re-encoded as version 00, and
/// its `tracestate` when that was valid too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// Trace id (never all zeros).
    pub trace_id: [u8; 16],
    /// The upstream span (never all zeros).
    pub parent_id: [u8; 8],
    /// Trace flags, reserved bits cleared.
    pub flags: u8,
    traceparent: String,
    tracestate: Option<String>,
}

impl TraceContext {
    /// The context of a record with these headers (name, value), or `None` without a
    /// single valid `traceparent`. A header given twice is ambiguous and refused: two
    /// `traceparent`s give no context, two `tracestate`s no `tracestate`. Names compare
    /// case-insensitively: Kafka's are case-sensitive, but these come from HTTP where
    /// they are not, and two spellings of one name are the same header given twice.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> Option<TraceContext> {
        let (mut parent, mut parents) = (None, 0u32);
        let (mut state, mut states) = (None, 0u32);
        for (name, value) in headers {
            if name.eq_ignore_ascii_case(b"traceparent") {
                parents += 1;
                parent = value;
            } else if name.eq_ignore_ascii_case(b"tracestate") {
                states += 1;
                state = value;
            }
        }
        if parents != 1 {
            return None;
        }
        let (trace_id, parent_id, flags) = parse_traceparent(parent?)?;
        let tracestate = if states == 1 {
            state.and_then(parse_tracestate)
        } else {
            None
        };
        Some(TraceContext {
            trace_id,
            parent_id,
            flags,
            traceparent: format!("00-{}-{}-{flags:02x}", hex(&trace_id), hex(&parent_id)),
            tracestate,
        })
    }

    /// The `traceparent` to send on: version 00, the validated ids and flags only (a
    /// future version's extra fields are not carried).
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` to send on, re-joined without optional white space or empty
    /// members; `None` when the input's was absent, ambiguous or invalid.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }
}

/// Parses a `traceparent` by the W3C grammar: `00-<32 hex>-<16 hex>-<2 hex>` exactly
/// (lowercase hex, ids not all zeros); a higher version is read by that prefix, which
/// must end the value or be followed by `-`; version `ff` is invalid. Nothing is trimmed.
pub fn parse_traceparent(v: &[u8]) -> Option<([u8; 16], [u8; 8], u8)> {
    if v.len() < 55 || v.len() > HEADER_MAX {
        return None;
    }
    let mut version = [0u8; 1];
    hex_into(&v[..2], &mut version)?;
    match version[0] {
        0xff => return None,
        0x00 if v.len() != 55 => return None,
        _ if v.len() > 55 && v[55] != b'-' => return None,
        _ => {}
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let mut trace = [0u8; 16];
    let mut parent = [0u8; 8];
    let mut flags = [0u8; 1];
    hex_into(&v[3..35], &mut trace)?;
    hex_into(&v[36..52], &mut parent)?;
    hex_into(&v[53..55], &mut flags)?;
    if trace == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace, parent, flags[0] & KNOWN_FLAGS))
}

/// Validates a `tracestate` by the W3C grammar and returns its members re-joined by `,`
/// (`None` if invalid, over [`HEADER_MAX`] bytes, or with no member). `list-member 0*31(
/// OWS "," OWS list-member )`: at most 32 members, white space only beside a comma, a
/// member empty or `key=value`, each key once.
pub fn parse_tracestate(v: &[u8]) -> Option<String> {
    if v.len() > HEADER_MAX {
        return None;
    }
    let parts: Vec<&[u8]> = v.split(|&c| c == b',').collect();
    if parts.len() > TRACESTATE_MEMBERS_MAX {
        return None;
    }
    let last = parts.len() - 1;
    let mut members: Vec<&[u8]> = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        if part.iter().all(|&c| is_ows(c)) {
            continue; // an empty member: allowed, not carried
        }
        // OWS belongs to the separator: trimmed only on a side that has a comma.
        let mut m: &[u8] = part;
        if i > 0 {
            m = trim_start(m);
        }
        if i < last {
            m = trim_end(m);
        }
        let eq = m.iter().position(|&c| c == b'=')?;
        let (key, value) = (&m[..eq], &m[eq + 1..]);
        if !valid_key(key) || !valid_value(value) {
            return None;
        }
        if members
            .iter()
            .any(|o| o.starts_with(key) && o.get(key.len()) == Some(&b'='))
        {
            return None; // a key given twice is ambiguous
        }
        members.push(m);
    }
    if members.is_empty() {
        return None;
    }
    // Every byte kept was checked to be printable ASCII.
    let joined = members.join(&b","[..]);
    String::from_utf8(joined).ok()
}

fn is_ows(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [c, rest @ ..] = s {
        if !is_ows(*c) {
            break;
        }
        s = rest;
    }
    s
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., c] = s {
        if !is_ows(*c) {
            break;
        }
        s = rest;
    }
    s
}

/// `lcalpha / DIGIT / "_" / "-" / "*" / "/"`: what follows a key's first character.
fn key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// A simple key `lcalpha 0*255(key_char)`, or a multi-tenant key `tenant@system` with
/// tenant `(lcalpha / DIGIT) 0*240(key_char)` and system `lcalpha 0*13(key_char)`.
fn valid_key(k: &[u8]) -> bool {
    match k.iter().position(|&c| c == b'@') {
        None => {
            k.len() <= 256
                && k.first().is_some_and(u8::is_ascii_lowercase)
                && k[1..].iter().all(|&c| key_char(c))
        }
        Some(at) => {
            let (tenant, system) = (&k[..at], &k[at + 1..]);
            (1..=241).contains(&tenant.len())
                && tenant
                    .first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && tenant[1..].iter().all(|&c| key_char(c))
                && (1..=14).contains(&system.len())
                && system.first().is_some_and(u8::is_ascii_lowercase)
                && system[1..].iter().all(|&c| key_char(c))
        }
    }
}

/// `0*255(chr) nblk-chr`: 1 to 256 printable ASCII characters other than `,` and `=`,
/// the last not a space.
fn valid_value(v: &[u8]) -> bool {
    (1..=256).contains(&v.len())
        && v.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && v.last() != Some(&b' ')
}

fn hex_val(c: u8) -> Option<u8> {
    // Lowercase only: the grammar's HEXDIGLC.
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_into(src: &[u8], dst: &mut [u8]) -> Option<()> {
    if src.len() != dst.len() * 2 {
        return None;
    }
    for (d, pair) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *d = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn ctx(headers: &[(&str, &str)]) -> Option<TraceContext> {
        TraceContext::from_headers(
            headers
                .iter()
                .map(|(k, v)| (k.as_bytes(), Some(v.as_bytes()))),
        )
    }

    fn state(v: &str) -> Option<String> {
        parse_tracestate(v.as_bytes())
    }

    #[test]
    fn a_valid_traceparent_is_parsed_and_re_encoded() {
        let (t, p, f) = parse_traceparent(TP.as_bytes()).unwrap();
        assert_eq!(hex(&t), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&p), "00f067aa0ba902b7");
        assert_eq!(f, 1);
        let c = ctx(&[("traceparent", TP)]).unwrap();
        assert_eq!(c.traceparent(), TP);
        assert_eq!(c.tracestate(), None);
    }

    #[test]
    fn traceparent_grammar_edge_cases_are_refused() {
        let long_ok = format!(
            "01-{}-{}-01-{}",
            "a".repeat(32),
            "b".repeat(16),
            "x".repeat(400)
        );
        assert!(parse_traceparent(long_ok.as_bytes()).is_some());
        let too_long = format!(
            "01-{}-{}-01-{}",
            "a".repeat(32),
            "b".repeat(16),
            "x".repeat(500)
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper-case hex
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", // 00 is exact
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // no trimming
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", // dash misplaced
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", // short
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", // future, no dash
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7.01",
            "alice@example.com",
            "",
            &too_long,
        ] {
            assert!(parse_traceparent(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(
            parse_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b\xff-01")
                .is_none()
        );
    }

    #[test]
    fn a_future_version_continues_as_version_00_without_its_extra_fields() {
        let c = ctx(&[(
            "traceparent",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-alice@example.com",
        )])
        .unwrap();
        assert_eq!(c.traceparent(), TP);
        let exact = ctx(&[(
            "traceparent",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        assert_eq!(exact.unwrap().traceparent(), TP);
    }

    #[test]
    fn reserved_flag_bits_are_cleared() {
        let c = ctx(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
        )]);
        let c = c.unwrap();
        assert_eq!(c.flags, 0x03);
        assert!(c.traceparent().ends_with("-03"));
    }

    #[test]
    fn tracestate_members_keys_and_values() {
        assert_eq!(state("vendor=abc").as_deref(), Some("vendor=abc"));
        assert_eq!(
            state("a=1 , b=2,\t,c=x y").as_deref(),
            Some("a=1,b=2,c=x y"),
            "white space beside commas and empty members dropped"
        );
        assert_eq!(
            state("tenant1@sys=v,0t@s-*/_9=~!").as_deref(),
            Some("tenant1@sys=v,0t@s-*/_9=~!")
        );
        let key256 = format!("k{}", "0".repeat(255));
        let value256 = "v".repeat(256);
        let ok = format!("{key256}={}", "x".repeat(200));
        assert!(state(&ok).is_some(), "a 256-character key");
        assert!(
            state(&format!("k={value256}")).is_some(),
            "a 256-character value"
        );
        let tenant241 = format!("t{}@s", "0".repeat(240));
        assert!(state(&format!("{tenant241}=v")).is_some());
        assert!(state(&format!("t@s{}=v", "0".repeat(13))).is_some());
        assert!(state("k= leading-space-is-a-value-char").is_some());
        for bad in [
            "",
            " ",
            ",",
            "Vendor=abc",       // upper-case key
            "1vendor=abc",      // simple key starts with a letter
            "vendor",           // no '='
            "vendor=",          // empty value
            "vendor=a=b",       // '=' in the value
            "vendor=abc ",      // trailing space not beside a comma
            " vendor=abc",      // leading space not beside a comma
            "vendor=ab\u{7f}",  // not printable
            "vendor=caf\u{e9}", // not ASCII
            "vendor=a\tb",      // tab in the value
            "a=1,a=2",          // key twice
            "t@=v",             // empty system id
            "@s=v",             // empty tenant id
            "t@S=v",            // a system id starts with a lower-case letter
            "t@1s=v",
            "t@s@x=v",
            "_t@s=v",
            "k.x=v", // '.' is not a key character
        ] {
            assert_eq!(state(bad), None, "{bad:?}");
        }
        assert_eq!(
            state(&format!("k{}=v", "0".repeat(256))),
            None,
            "257-character key"
        );
        assert_eq!(
            state(&format!("k={value256}x")),
            None,
            "257-character value"
        );
        assert_eq!(
            state(&format!("t{}@s=v", "0".repeat(241))),
            None,
            "242-character tenant"
        );
        assert_eq!(
            state(&format!("t@s{}=v", "0".repeat(14))),
            None,
            "15-character system"
        );
    }

    #[test]
    fn tracestate_limits_members_and_bytes() {
        let members = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(state(&members(32)).is_some());
        assert_eq!(state(&members(33)), None, "33 members");
        assert_eq!(
            state(&format!("{},", members(32))),
            None,
            "33 with an empty one"
        );
        let sized = |n: usize| format!("k={},j={}", "v".repeat(n), "w".repeat(256));
        assert_eq!(sized(251).len(), HEADER_MAX);
        assert!(state(&sized(251)).is_some());
        assert_eq!(state(&sized(252)), None, "513 bytes, every member valid");
    }

    #[test]
    fn headers_given_twice_or_without_a_value_are_refused() {
        assert_eq!(ctx(&[("traceparent", TP), ("traceparent", TP)]), None);
        assert_eq!(ctx(&[("traceparent", TP), ("TraceParent", TP)]), None);
        assert_eq!(ctx(&[("Traceparent", TP)]).unwrap().traceparent(), TP);
        let twice = ctx(&[
            ("traceparent", TP),
            ("tracestate", "a=1"),
            ("tracestate", "a=1"),
        ]);
        assert_eq!(
            twice.unwrap().tracestate(),
            None,
            "tracestate dropped, traceparent kept"
        );
        let kept = ctx(&[
            ("x-user-id", "u1"),
            ("tracestate", "a=1"),
            ("traceparent", TP),
        ]);
        assert_eq!(kept.unwrap().tracestate(), Some("a=1"));
        let null = TraceContext::from_headers([(&b"traceparent"[..], None)]);
        assert_eq!(null, None);
        let null_state = TraceContext::from_headers([
            (&b"traceparent"[..], Some(TP.as_bytes())),
            (b"tracestate", None),
        ]);
        assert_eq!(null_state.unwrap().tracestate(), None);
    }

    #[test]
    fn tracestate_needs_a_valid_traceparent() {
        assert_eq!(ctx(&[("tracestate", "a=1")]), None);
        assert_eq!(
            ctx(&[("traceparent", "alice@example.com"), ("tracestate", "a=1")]),
            None
        );
        let bad_state = ctx(&[
            ("traceparent", TP),
            ("tracestate", "user=alice@example.com "),
        ]);
        assert_eq!(
            bad_state.unwrap().tracestate(),
            None,
            "invalid tracestate, traceparent kept"
        );
    }
}
