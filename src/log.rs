//! Minimal structured logging to stderr: one line per event, `time level message`.
//! It owns the format only. Callers pass messages that never contain personal data:
//! counts, codes, topic names, partitions and offsets, never record contents.

use std::io::Write;

fn line(level: &str, msg: &str) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut err = std::io::stderr().lock();
    // A log line that cannot be written (closed stderr) is not worth failing for.
    let _ = writeln!(err, "{now} {level} {msg}");
}

/// Informational.
pub fn info(msg: &str) {
    line("INFO", msg);
}

/// Something is wrong but the worker goes on.
pub fn warn(msg: &str) {
    line("WARN", msg);
}

/// The worker stops.
pub fn error(msg: &str) {
    line("ERROR", msg);
}

/// librdkafka's own log lines (syslog levels: 0–3 errors, 4 warnings, the rest debug).
/// Only warnings and worse are shown; they carry broker addresses and codes, not data.
pub fn kafka(level: i32, facility: &str, msg: &str) {
    if level <= 4 {
        line("WARN", &format!("librdkafka {facility}: {msg}"));
    }
}
