//! Minimal structured logging to stderr: one line per event, `time LEVEL message k=v…`
//! (text) or `{"ts","level","msg",k…}` (JSON lines), filtered by a process-wide level set
//! once by [`init`] (before it: text at `info`). Structured fields ([`with`]) are typed
//! ([`Field`]: numbers, compile-time codes, partition lists, topic and facility names) so
//! that a field cannot carry record contents. It owns the format and the filter only.
//! Callers pass messages that never contain personal data: counts, codes, topic names,
//! partitions and offsets, never record contents, keys or header values.

use std::io::Write;
use std::sync::OnceLock;

use crate::config::LogFormat;

/// Log levels, least verbose first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The worker stops.
    Error,
    /// Something is wrong but the worker goes on.
    Warn,
    /// Start-up, readiness, rebalances, progress.
    Info,
    /// Detail for operators.
    Debug,
    /// Everything.
    Trace,
}

impl Level {
    /// Parses `error|warn|info|debug|trace`.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }

    fn upper(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    fn lower(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

static SETTINGS: OnceLock<(LogFormat, Level)> = OnceLock::new();

/// Sets the process-wide format and most verbose level (an unknown level means `info`).
/// The first call wins; later calls are ignored (the settings are immutable after init).
pub fn init(format: LogFormat, level: &str) {
    let _ = SETTINGS.set((format, Level::parse(level).unwrap_or(Level::Info)));
}

fn settings() -> (LogFormat, Level) {
    SETTINGS
        .get()
        .copied()
        .unwrap_or((LogFormat::Text, Level::Info))
}

/// Whether a line at `level` would be written.
pub fn enabled(level: Level) -> bool {
    level <= settings().1
}

/// A structured field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A number: a partition, an offset, a count.
    Int(i64),
    /// A fixed code (a reason, a decision, a mode).
    Code(&'static str),
    /// Partition numbers.
    Partitions(Vec<i32>),
    /// A configured topic name or a librdkafka facility: operator- or library-chosen
    /// words, never record contents.
    Name(String),
}

impl Field {
    fn json(&self) -> serde_json::Value {
        match self {
            Field::Int(v) => (*v).into(),
            Field::Code(v) => (*v).into(),
            Field::Partitions(v) => v.clone().into(),
            Field::Name(v) => v.as_str().into(),
        }
    }

    fn text(&self) -> String {
        match self {
            Field::Int(v) => v.to_string(),
            Field::Code(v) => (*v).to_string(),
            Field::Partitions(v) => format!("{v:?}").replace(' ', ""),
            Field::Name(v) => v.clone(),
        }
    }
}

/// The names the fixed JSON keys take; a field may not reuse one.
const RESERVED: [&str; 3] = ["ts", "level", "msg"];

/// One formatted line (no trailing newline).
fn format_line(
    format: LogFormat,
    level: Level,
    msg: &str,
    fields: &[(&'static str, Field)],
) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let fields = fields.iter().filter(|(k, _)| !RESERVED.contains(k));
    match format {
        LogFormat::Text => {
            let mut line = format!("{now} {} {msg}", level.upper());
            for (k, v) in fields {
                line.push_str(&format!(" {k}={}", v.text()));
            }
            line
        }
        LogFormat::Json => {
            let mut o = serde_json::Map::new();
            o.insert("ts".into(), now.into());
            o.insert("level".into(), level.lower().into());
            o.insert("msg".into(), msg.into());
            for (k, v) in fields {
                o.insert((*k).into(), v.json());
            }
            serde_json::Value::Object(o).to_string()
        }
    }
}

/// Writes `msg` at `level` if the configured level allows it.
pub fn log(level: Level, msg: &str) {
    with(level, msg, &[]);
}

/// Writes `msg` with structured `fields` at `level` if the configured level allows it.
pub fn with(level: Level, msg: &str, fields: &[(&'static str, Field)]) {
    let (format, max) = settings();
    if level > max {
        return;
    }
    let line = format_line(format, level, msg, fields);
    let mut err = std::io::stderr().lock();
    // A log line that cannot be written (closed stderr) is not worth failing for.
    let _ = writeln!(err, "{line}");
}

/// Informational.
pub fn info(msg: &str) {
    log(Level::Info, msg);
}

/// Something is wrong but the worker goes on.
pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

/// The worker stops.
pub fn error(msg: &str) {
    log(Level::Error, msg);
}

/// Detail for operators.
pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

/// Everything.
pub fn trace(msg: &str) {
    log(Level::Trace, msg);
}

/// The most verbose librdkafka log level worth asking for under the configured level. Set it
/// on every client (`ClientConfig::set_log_level`): rust-rdkafka otherwise derives it from
/// the `log` crate, which this program does not use, and librdkafka then drops everything
/// below errors before [`kafka`] sees it.
pub fn kafka_log_level() -> rdkafka::config::RDKafkaLogLevel {
    use rdkafka::config::RDKafkaLogLevel as K;
    match settings().1 {
        Level::Error => K::Error,
        Level::Warn => K::Warning,
        Level::Info => K::Info,
        Level::Debug | Level::Trace => K::Debug,
    }
}

/// librdkafka's own log lines (syslog levels: 0–3 error, 4 warning, 5–6 info, 7 debug),
/// filtered by the same level. librdkafka only emits debug lines for the contexts named
/// in its `debug` property; they carry topic names, partitions, offsets and broker
/// addresses, not message keys, values or headers (librdkafka 2.12 prints buffer hex dumps
/// only from its own test helpers; the log-leak test runs with `debug = "all"`).
pub fn kafka(level: i32, facility: &str, msg: &str) {
    let level = match level {
        i32::MIN..=3 => Level::Error,
        4 => Level::Warn,
        5 | 6 => Level::Info,
        _ => Level::Debug,
    };
    if enabled(level) {
        with(
            level,
            &format!("librdkafka {facility}: {msg}"),
            &[("facility", Field::Name(facility.to_string()))],
        );
    }
}

/// Receives what rust-rdkafka itself logs through the `log` crate (a rebalance error, an
/// event it ignored, a statistics document it could not parse): warnings and errors only,
/// written as `rdkafka: …` lines under the same level filter. Those lines carry error
/// codes and event names, never message contents; its `info` and below (`Client stats`
/// dumps, and anything a future version might print of a message) are not taken.
/// librdkafka's own lines do not come this way: every client context forwards them to
/// [`kafka`].
struct Bridge;

impl ::log::Log for Bridge {
    fn enabled(&self, meta: &::log::Metadata<'_>) -> bool {
        meta.level() <= ::log::Level::Warn && meta.target().starts_with("rdkafka")
    }

    fn log(&self, record: &::log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            ::log::Level::Error => Level::Error,
            _ => Level::Warn,
        };
        log(level, &format!("rdkafka: {}", record.args()));
    }

    fn flush(&self) {}
}

/// Installs [`Bridge`] as the `log` crate's logger (once per process; a second call, or a
/// logger set by someone else, is left as it is).
pub fn bridge() {
    static BRIDGE: Bridge = Bridge;
    if ::log::set_logger(&BRIDGE).is_ok() {
        ::log::set_max_level(::log::LevelFilter::Warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bridge_takes_rdkafka_warnings_only() {
        use ::log::Log;
        let meta = |level, target| {
            ::log::Metadata::builder()
                .level(level)
                .target(target)
                .build()
        };
        assert!(Bridge.enabled(&meta(::log::Level::Warn, "rdkafka::consumer")));
        assert!(Bridge.enabled(&meta(::log::Level::Error, "rdkafka::client")));
        assert!(!Bridge.enabled(&meta(::log::Level::Info, "rdkafka::client")));
        assert!(!Bridge.enabled(&meta(::log::Level::Warn, "some_other_crate")));
    }

    #[test]
    fn levels_order_and_parse() {
        assert!(Level::Error < Level::Trace);
        assert_eq!(Level::parse("DEBUG"), Some(Level::Debug));
        assert_eq!(Level::parse("loud"), None);
    }

    #[test]
    fn json_lines_escape_and_carry_ts_level_msg() {
        let line = format_line(LogFormat::Json, Level::Warn, "a \"quoted\"\nline", &[]);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["msg"], "a \"quoted\"\nline");
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v.as_object().unwrap().len(), 3);
        let text = format_line(LogFormat::Text, Level::Info, "hello", &[]);
        assert!(text.ends_with(" INFO hello"), "{text}");
    }

    #[test]
    fn fields_are_typed_keys_in_json_and_pairs_in_text() {
        let fields = [
            ("partition", Field::Int(3)),
            ("reason", Field::Code("invalid_json")),
            ("partitions", Field::Partitions(vec![0, 2])),
            ("msg", Field::Code("cannot overwrite the message")),
        ];
        let line = format_line(LogFormat::Json, Level::Info, "m", &fields);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["partition"], 3);
        assert_eq!(v["reason"], "invalid_json");
        assert_eq!(v["partitions"], serde_json::json!([0, 2]));
        assert_eq!(v["msg"], "m");
        let text = format_line(LogFormat::Text, Level::Info, "m", &fields);
        assert!(
            text.ends_with(" INFO m partition=3 reason=invalid_json partitions=[0,2]"),
            "{text}"
        );
    }
}
