//! The data files' line format and the field types the tables use: UTF-8, one entry a
//! line, fields separated by a tab, blank lines and lines starting with `#` skipped; inside
//! a field `\t`, `\n` and `\\` stand for a tab, a newline and a backslash (the linear-TSV
//! escapes), so any string fits on one line.
//!
//! It owns exact reading — numbers and coordinates are read as integers, never through
//! floats — and error messages that name the file and line. It must not know what any
//! table means; `tables` does.

use std::net::Ipv4Addr;

/// Where a row came from, for error messages.
pub(crate) struct At {
    file: &'static str,
    line: usize,
}

impl At {
    pub(crate) fn error(&self, msg: impl std::fmt::Display) -> String {
        format!("data/{}:{}: {msg}", self.file, self.line)
    }
}

pub(crate) struct Row<const N: usize> {
    pub(crate) at: At,
    pub(crate) fields: [String; N],
}

/// The data lines of a file, each with exactly `N` non-empty fields; an empty table is an
/// error too, as every table is drawn from.
pub(crate) fn rows<const N: usize>(file: &'static str, text: &str) -> Result<Vec<Row<N>>, String> {
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = At { file, line: k + 1 };
        let fields = line
            .split('\t')
            .map(|f| unescape(f).ok_or_else(|| at.error(format!("bad escape in {f:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if fields.iter().any(String::is_empty) {
            return Err(at.error("empty field"));
        }
        let got = fields.len();
        let fields = <[String; N]>::try_from(fields)
            .map_err(|_| at.error(format!("{got} fields, want {N}")))?;
        out.push(Row { at, fields });
    }
    if out.is_empty() {
        return Err(format!("data/{file}: no entries"));
    }
    Ok(out)
}

/// A one-column file.
pub(crate) fn list(file: &'static str, text: &str) -> Result<Vec<String>, String> {
    Ok(rows::<1>(file, text)?
        .into_iter()
        .map(|Row { fields: [f], .. }| f)
        .collect())
}

/// `None` for a backslash not followed by `t`, `n` or `\`.
fn unescape(field: &str) -> Option<String> {
    if !field.contains('\\') {
        return Some(field.to_string());
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            't' => '\t',
            'n' => '\n',
            '\\' => '\\',
            _ => return None,
        });
    }
    Some(out)
}

/// `-` for none.
pub(crate) fn optional(field: String) -> Option<String> {
    (field != "-").then_some(field)
}

pub(crate) fn number<T: std::str::FromStr>(at: &At, what: &str, s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| at.error(format!("{what}: {s:?} is not a number in range")))
}

/// `Rng::weighted` needs a positive total; a zero weight would be a line never drawn.
pub(crate) fn weight(at: &At, s: &str) -> Result<u32, String> {
    match number(at, "weight", s)? {
        0 => Err(at.error("weight 0")),
        w => Ok(w),
    }
}

/// `a.b.c.d/len`, aligned to `len`. At most /24: the address writer picks the last octet
/// itself (never .0 or .255), which would leave a longer prefix.
pub(crate) fn cidr(at: &At, s: &str) -> Result<(u32, u8), String> {
    let (addr, len) = s
        .split_once('/')
        .ok_or_else(|| at.error(format!("{s:?} is not a.b.c.d/len")))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| at.error(format!("{addr:?} is not an IPv4 address")))?;
    let len: u8 = number(at, "prefix length", len)?;
    if len > 24 {
        return Err(at.error(format!("{s}: prefix longer than /24")));
    }
    let base = u32::from(addr);
    if u64::from(base) & ((1u64 << (32 - u32::from(len))) - 1) != 0 {
        return Err(at.error(format!("{s}: address not aligned to its prefix")));
    }
    Ok((base, len))
}

/// `-12.345678` → -12_345_678: exactly six decimals, read as integers so that what the
/// file says is what gets printed.
pub(crate) fn micro_degrees(at: &At, s: &str, max_degrees: i32) -> Result<i32, String> {
    let bad = || {
        at.error(format!(
            "{s:?}: degrees with exactly six decimals, within ±{max_degrees}"
        ))
    };
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').ok_or_else(bad)?;
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(frac) || frac.len() != 6 || whole.len() > 3 {
        return Err(bad());
    }
    let whole: i32 = whole.parse().map_err(|_| bad())?;
    let frac: i32 = frac.parse().map_err(|_| bad())?;
    let micro = whole * 1_000_000 + frac;
    if micro > max_degrees * 1_000_000 {
        return Err(bad());
    }
    Ok(if negative { -micro } else { micro })
}

/// `+05:30` → 330 minutes.
pub(crate) fn utc_offset(at: &At, s: &str) -> Result<i32, String> {
    let bad = || at.error(format!("{s:?}: an offset like +05:30 or -08:00"));
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> At {
        At {
            file: "test.tsv",
            line: 7,
        }
    }

    #[test]
    fn fields_parse_exactly() {
        assert_eq!(micro_degrees(&at(), "-74.005974", 180), Ok(-74_005_974));
        assert_eq!(micro_degrees(&at(), "0.127758", 180), Ok(127_758));
        assert_eq!(micro_degrees(&at(), "-0.127758", 180), Ok(-127_758));
        for bad in [
            "1.23",
            "1.2345678",
            "91.000000",
            "+1.000000",
            "1e1.000000",
            ".000001",
        ] {
            assert!(micro_degrees(&at(), bad, 90).is_err(), "{bad}");
        }
        assert_eq!(utc_offset(&at(), "+05:30"), Ok(330));
        assert_eq!(utc_offset(&at(), "-08:00"), Ok(-480));
        assert_eq!(utc_offset(&at(), "+00:00"), Ok(0));
        for bad in ["05:30", "+5:30", "+05:60", "+15:00", "-0a:00"] {
            assert!(utc_offset(&at(), bad).is_err(), "{bad}");
        }
        assert_eq!(cidr(&at(), "73.0.0.0/8"), Ok((73 << 24, 8)));
        for bad in [
            "73.0.0.1/8",
            "73.0.0.0",
            "73.0.0.0/25",
            "73.0.0/8",
            "73.0.0.0/x",
        ] {
            assert!(cidr(&at(), bad).is_err(), "{bad}");
        }
        assert_eq!(unescape(r"a\tb\nc\\d").as_deref(), Some("a\tb\nc\\d"));
        assert_eq!(unescape(r"a\x"), None);
        assert_eq!(unescape("trailing\\"), None);
    }

    #[test]
    fn bad_files_are_refused_with_their_line() {
        let two = "# header\n\na\tb\nc\n";
        assert_eq!(
            rows::<2>("t.tsv", two).err().as_deref(),
            Some("data/t.tsv:4: 1 fields, want 2")
        );
        assert!(rows::<2>("t.tsv", "a\t\n").is_err(), "empty field");
        assert!(
            rows::<1>("t.tsv", "# only a header\n").is_err(),
            "empty table"
        );
        let ok = rows::<2>("t.tsv", "a\\tb\tc\r\n").expect("CRLF and escapes");
        assert_eq!(ok[0].fields, ["a\tb".to_string(), "c".to_string()]);
        assert!(weight(&at(), "0").is_err() && weight(&at(), "-1").is_err());
    }
}
