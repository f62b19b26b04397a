//! Time: the millisecond units the generator counts in, and the RFC 3339 writer.
//!
//! Times are `i64` milliseconds since the Unix epoch throughout; this module turns them into
//! calendar text with integer arithmetic only, so the output is exact and portable. It must
//! not read the clock: every time comes from the config's start.

use crate::json::{lit, push_dec_padded};

pub(crate) const SECOND_MS: i64 = 1_000;
pub(crate) const MINUTE_MS: i64 = 60 * SECOND_MS;
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RFC 3339 with milliseconds: `Z` when `offset_min` is None, else that numeric offset
/// (same instant, local wall-clock digits).
pub(crate) fn push_time(out: &mut Vec<u8>, ms: i64, offset_min: Option<i32>) {
    let off = offset_min.unwrap_or(0);
    let local = ms + i64::from(off) * MINUTE_MS;
    let (y, mo, d) = civil_from_days(local.div_euclid(DAY_MS));
    let rem = local.rem_euclid(DAY_MS) as u64;
    let mut s = String::with_capacity(29);
    push_dec_padded(&mut s, y.clamp(0, 9999) as u64, 4);
    s.push('-');
    push_dec_padded(&mut s, mo, 2);
    s.push('-');
    push_dec_padded(&mut s, d, 2);
    s.push('T');
    push_dec_padded(&mut s, rem / 3_600_000, 2);
    s.push(':');
    push_dec_padded(&mut s, rem / 60_000 % 60, 2);
    s.push(':');
    push_dec_padded(&mut s, rem / 1000 % 60, 2);
    s.push('.');
    push_dec_padded(&mut s, rem % 1000, 3);
    match offset_min {
        None => s.push('Z'),
        Some(o) => {
            s.push(if o < 0 { '-' } else { '+' });
            let a = u64::from(o.unsigned_abs());
            push_dec_padded(&mut s, a / 60, 2);
            s.push(':');
            push_dec_padded(&mut s, a % 60, 2);
        }
    }
    out.push(b'"');
    lit(out, s.as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_START_MS;

    #[test]
    fn timestamps_format_exactly() {
        let fmt = |ms, off| {
            let mut out = Vec::new();
            push_time(&mut out, ms, off);
            String::from_utf8(out).expect("ascii")
        };
        assert_eq!(fmt(0, None), "\"1970-01-01T00:00:00.000Z\"");
        assert_eq!(fmt(DEFAULT_START_MS, None), "\"2026-11-01T00:00:00.000Z\"");
        assert_eq!(
            fmt(DEFAULT_START_MS + 123, Some(330)),
            "\"2026-11-01T05:30:00.123+05:30\""
        );
        assert_eq!(
            fmt(DEFAULT_START_MS, Some(-300)),
            "\"2026-10-31T19:00:00.000-05:00\""
        );
        assert_eq!(fmt(951_782_400_000, None), "\"2000-02-29T00:00:00.000Z\"");
    }
}
