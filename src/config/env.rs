//! Environment overrides (`CONSENT_ENRICHER__SECTION__KEY`) and TOML errors, without ever
//! repeating a value: string keys take the value verbatim, other keys parse it as TOML,
//! and error messages keep positions and key names but not the values they quote.

use super::{ConfigError, ENV_PREFIX};

/// A TOML error without the configuration's text: toml's own rendering quotes the line
/// (and serde's message the value) that failed, which may be a secret. Line and column
/// (when there is a file) and the message with its value removed are enough to find it.
pub(super) fn toml_error(e: &toml::de::Error, text: Option<&str>) -> String {
    let msg = redact(e.message());
    let at = e.span().zip(text).map(|(span, text)| {
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
        format!("line {line}, column {column}: ")
    });
    format!("{}{msg}", at.unwrap_or_default())
}

/// serde's messages carry the offending value (`invalid type: string "hunter2", expected
/// u16`, ``unknown variant `x`, expected one of …``); keep the kind and what was
/// expected, drop the value. Messages naming keys (`unknown field`, `missing field`) stay.
pub(super) fn redact(msg: &str) -> String {
    let valued = ["invalid type: ", "invalid value: ", "unknown variant "];
    if !valued.iter().any(|p| msg.starts_with(p)) {
        return msg.to_string();
    }
    // The value comes first and may contain anything, ", expected" included; what serde
    // appends after it does not, so the last ", expected" is serde's.
    let Some(tail) = msg.rfind(", expected") else {
        return msg
            .split(['"', '`'])
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_string();
    };
    let head = msg
        .get(..tail)
        .unwrap_or_default()
        .split(['"', '`'])
        .next()
        .unwrap_or_default()
        .trim_end();
    format!("{head}{}", msg.get(tail..).unwrap_or_default())
}

/// The `[kafka.*]` maps of librdkafka properties: every value in them is a string.
const STRING_MAPS: [&str; 3] = ["client", "consumer", "producer"];

/// True when the key at `path` holds a string in the defaults (or is a librdkafka
/// property): such a key takes an environment value verbatim.
pub(super) fn takes_string(defaults: &toml::Table, path: &[String]) -> bool {
    if let [section, map, _] = path
        && section == "kafka"
        && STRING_MAPS.contains(&map.as_str())
    {
        return true;
    }
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = defaults;
    for p in parents {
        match cur.get(p) {
            Some(toml::Value::Table(t)) => cur = t,
            _ => return false,
        }
    }
    matches!(cur.get(last), Some(toml::Value::String(_)))
}

pub(super) fn apply_env(
    table: &mut toml::Table,
    defaults: &toml::Table,
    rest: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| {
            ConfigError::Invalid(format!("{ENV_PREFIX}{rest}: {p} is not a section"))
        })?;
    }
    let v = if takes_string(defaults, &path) {
        toml::Value::String(value.to_string())
    } else {
        env_value(value)
    };
    cur.insert(last.clone(), v);
    Ok(())
}

/// A value for a key that does not hold a string is TOML when it parses as such (`10`,
/// `true`, `["a","b"]`); otherwise it stays a string, for the type check to refuse
/// (without echoing it). String keys never come here: a password of `12345` or
/// `"quoted"` must arrive as written.
pub(super) fn env_value(value: &str) -> toml::Value {
    format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()))
}
