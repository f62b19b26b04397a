//! Reading the worker's HTTP endpoints as a scraper would: a minimal HTTP/1.1 GET and a
//! strict parser of the Prometheus text exposition (types, help, label escaping), so the
//! telemetry tests assert on parsed samples rather than on substrings.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use consent_enricher::telemetry::prometheus::CATALOGUE;

/// A minimal HTTP/1.1 GET: status and body.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let length: Option<usize> = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse().unwrap())
    });
    if let Some(n) = length {
        assert_eq!(body.len(), n, "Content-Length matches the body");
    }
    Ok((status, body.to_string()))
}

/// One parsed sample.
#[derive(Debug, Clone)]
pub(crate) struct PromSample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// Parses Prometheus text exposition 0.0.4 strictly: HELP/TYPE comments, samples with
/// quoted, escaped label values; every sample must belong to a family with a TYPE.
pub(crate) fn parse_exposition(
    text: &str,
) -> Result<(BTreeMap<String, String>, Vec<PromSample>), String> {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for (no, line) in text.lines().enumerate() {
        let err = |what: &str| format!("line {}: {what}: {line:?}", no + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !valid_name(name)
                        || !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                    {
                        return Err(err("bad TYPE"));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(err("duplicate TYPE"));
                    }
                }
                (Some("HELP"), Some(name), _) if valid_name(name) => {}
                _ => return Err(err("bad comment")),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| err("no value"))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(err("bad metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let end = loop {
                let Some((i, c)) = chars.next() else {
                    return Err(err("unterminated labels"));
                };
                if c == '}' {
                    break i;
                }
                if c == ',' {
                    continue;
                }
                let start = i;
                let mut eq = None;
                for (j, c) in chars.by_ref() {
                    if c == '=' {
                        eq = Some(j);
                        break;
                    }
                }
                let eq = eq.ok_or_else(|| err("label without ="))?;
                let lname = &r[start..eq];
                if !valid_name(lname) {
                    return Err(err("bad label name"));
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(err("unquoted label value"));
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c @ ('\\' | '"'))) => value.push(c),
                            _ => return Err(err("bad escape")),
                        },
                        Some((_, '"')) => break,
                        Some((_, c)) => value.push(c),
                        None => return Err(err("unterminated label value")),
                    }
                }
                labels.insert(lname.to_string(), value);
                if let Some((_, c)) = chars.peek()
                    && *c != ','
                    && *c != '}'
                {
                    return Err(err("junk after label"));
                }
            };
            rest = &r[end + 1..];
        }
        let mut fields = rest.split_whitespace();
        let value = match fields.next().ok_or_else(|| err("no value"))? {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse::<f64>().map_err(|_| err("bad value"))?,
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| err("bad timestamp"))?;
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        if !types.contains_key(family) {
            return Err(err("sample without a TYPE"));
        }
        samples.push(PromSample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok((types, samples))
}

/// The value of `name` with exactly `labels` (0 when absent).
pub(crate) fn value(samples: &[PromSample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

pub(crate) fn scrape(addr: SocketAddr) -> Vec<PromSample> {
    let (status, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let (types, samples) = parse_exposition(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    for d in CATALOGUE {
        assert_eq!(
            types.get(d.name).map(String::as_str),
            Some(d.kind.word()),
            "{} is exposed with its type",
            d.name
        );
    }
    samples
}

// ---------------------------------------------------------------- in-test OTLP collector
