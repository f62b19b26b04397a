//! Byte-level writers for hand-built JSON: literals, numbers, strings, form-encoding, and
//! ids in a radix (base36/62, hex, UUIDs).
//!
//! It owns exactness: every number is printed from integers, so the text is the same on
//! every platform, and strings are escaped exactly as JSON requires. It must not decide
//! what is written — no draws, no field names; callers pass the values.

pub(crate) fn lit(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
}

pub(crate) fn push_bool(out: &mut Vec<u8>, b: bool) {
    lit(out, if b { b"true" } else { b"false" });
}

pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

pub(crate) fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// `n / 10^decimals` as a JSON number, from integers so the text is exact and portable.
pub(crate) fn push_fixed(out: &mut Vec<u8>, n: i64, decimals: u32) {
    if n < 0 {
        out.push(b'-');
    }
    let a = n.unsigned_abs();
    let scale = 10u64.pow(decimals);
    push_u64(out, a / scale);
    if decimals > 0 {
        out.push(b'.');
        let mut s = String::with_capacity(decimals as usize);
        push_dec_padded(&mut s, a % scale, decimals as usize);
        lit(out, s.as_bytes());
    }
}

/// A JSON string literal. Escapes what JSON requires (quote, backslash, controls) and
/// passes all other UTF-8 through unchanged.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => lit(out, b"\\\""),
                b'\\' => lit(out, b"\\\\"),
                b'\n' => lit(out, b"\\n"),
                b'\r' => lit(out, b"\\r"),
                b'\t' => lit(out, b"\\t"),
                0..=0x1F => {
                    lit(out, b"\\u00");
                    out.push(HEX_LOWER[usize::from(b >> 4)]);
                    out.push(HEX_LOWER[usize::from(b & 0xF)]);
                }
                _ => out.push(b),
            }
        }
    }
    out.push(b'"');
}

/// application/x-www-form-urlencoded, which also never needs JSON escaping.
pub(crate) fn push_pct(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX_UPPER[usize::from(b >> 4)]);
                out.push(HEX_UPPER[usize::from(b & 0xF)]);
            }
        }
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The low `width` digits of `n` in `digits`' base, most significant first, zero-padded.
fn push_radix(s: &mut String, mut n: u64, width: usize, digits: &[u8]) {
    let base = digits.len() as u64;
    let mut buf = [0u8; 64];
    let width = width.min(buf.len());
    for slot in buf[..width].iter_mut().rev() {
        *slot = digits[(n % base) as usize];
        n /= base;
    }
    s.extend(buf[..width].iter().map(|&b| b as char));
}

pub(crate) fn push_base36(s: &mut String, n: u64, width: usize) {
    push_radix(s, n, width, BASE36);
}

pub(crate) fn push_base62(s: &mut String, n: u64, width: usize) {
    push_radix(s, n, width, BASE62);
}

pub(crate) fn push_hex(s: &mut String, n: u64, width: usize) {
    push_radix(s, n, width, HEX_LOWER);
}

pub(crate) fn push_dec_padded(s: &mut String, n: u64, width: usize) {
    push_radix(s, n, width, b"0123456789");
}

pub(crate) fn push_dec(s: &mut String, n: u64) {
    let width = (1..20).find(|&w| n < 10u64.pow(w as u32)).unwrap_or(20);
    push_dec_padded(s, n, width);
}

/// 8-4-4-4-12 hex. Sets the version-4 and RFC 4122 variant bits.
pub(crate) fn push_uuid(s: &mut String, hi: u64, lo: u64, upper: bool) {
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
    let digits = if upper { HEX_UPPER } else { HEX_LOWER };
    for k in 0..32 {
        if matches!(k, 8 | 12 | 16 | 20) {
            s.push('-');
        }
        let word = if k < 16 { hi } else { lo };
        s.push(digits[((word >> (60 - 4 * (k % 16))) & 0xF) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_correctly() {
        let nasty = "quote \" backslash \\ nl \n tab \t nul \u{0} bell \u{7} unicode é 田 👍";
        let mut out = Vec::new();
        push_str(&mut out, nasty);
        let back: String = serde_json::from_slice(&out).expect("valid JSON string");
        assert_eq!(back, nasty);
        let mut n = Vec::new();
        push_fixed(&mut n, -500_000, 6);
        push_fixed(&mut n, 1234, 0);
        assert_eq!(n, b"-0.5000001234");
    }

    #[test]
    fn uuids_carry_version_and_variant() {
        let mut s = String::new();
        push_uuid(&mut s, u64::MAX, 0, false);
        assert_eq!(s, "ffffffff-ffff-4fff-8000-000000000000");
    }
}
