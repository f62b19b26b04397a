//! The malformed-input corpus: every bad input produces exactly one dead letter with the
//! right stable code, its bytes untouched, and nothing panics.

use consent_enricher::model::DlqReason::{self, *};
use consent_enricher::pipeline::{DLQ_VALUE_PREFIX_BYTES, Outputs};
use consent_enricher::state::State;

use crate::support;

const OK_HEAD: &str =
    r#""event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00Z""#;

fn with(extra: &str) -> Vec<u8> {
    format!("{{{OK_HEAD},{extra}}}").into_bytes()
}

fn corpus() -> Vec<(&'static str, Vec<u8>, DlqReason)> {
    let deep = |n: usize| {
        format!(
            "{{{OK_HEAD},\"properties\":{}{}}}",
            "{\"a\":".repeat(n) + "1",
            "}".repeat(n)
        )
        .into_bytes()
    };
    let deep_array =
        |n: usize| format!("{{{OK_HEAD},\"x\":{}{}}}", "[".repeat(n), "]".repeat(n)).into_bytes();
    let huge_string = format!(
        "{{{OK_HEAD},\"properties\":{{\"s\":\"{}\"}}}}",
        "a".repeat(5 << 20)
    )
    .into_bytes();
    vec![
        ("empty", b"".to_vec(), InvalidJson),
        ("whitespace", b"   ".to_vec(), InvalidJson),
        (
            "truncated object",
            format!("{{{OK_HEAD}").into_bytes(),
            InvalidJson,
        ),
        (
            "truncated string",
            br#"{"event_id":"e1"#.to_vec(),
            InvalidJson,
        ),
        (
            "trailing garbage",
            format!("{{{OK_HEAD}}} x").into_bytes(),
            InvalidJson,
        ),
        (
            "two documents",
            format!("{{{OK_HEAD}}}{{{OK_HEAD}}}").into_bytes(),
            InvalidJson,
        ),
        ("NaN", with(r#""properties":{"x":NaN}"#), InvalidJson),
        (
            "Infinity",
            with(r#""properties":{"x":Infinity}"#),
            InvalidJson,
        ),
        (
            "overlong exponent",
            with(r#""properties":{"x":1e999999}"#),
            InvalidJson,
        ),
        (
            "overlong number",
            with(&format!(r#""properties":{{"x":{}e400}}"#, "9".repeat(400))),
            InvalidJson,
        ),
        ("single quotes", b"{'event_id':'e1'}".to_vec(), InvalidJson),
        (
            "trailing comma",
            format!("{{{OK_HEAD},}}").into_bytes(),
            InvalidJson,
        ),
        (
            "raw null byte",
            format!("{{{OK_HEAD},\"x\":\"a\0b\"}}").into_bytes(),
            InvalidJson,
        ),
        (
            "raw newline in string",
            format!("{{{OK_HEAD},\"x\":\"a\nb\"}}").into_bytes(),
            InvalidJson,
        ),
        ("bad escape", with(r#""x":"\q""#), InvalidJson),
        (
            "lone surrogate escape",
            with(r#""properties":{"x":"\ud800"}"#),
            InvalidJson,
        ),
        ("plain text", b"hello".to_vec(), InvalidJson),
        (
            "invalid utf-8",
            b"{\"event_id\":\"\xff\xfe\"}".to_vec(),
            InvalidUtf8,
        ),
        (
            "utf-16 bom bytes",
            b"\xff\xfe{\x00}\x00".to_vec(),
            InvalidUtf8,
        ),
        (
            "overlong utf-8",
            b"{\"event_id\":\"\xc0\xaf\"}".to_vec(),
            InvalidUtf8,
        ),
        ("10 000-deep properties", deep(10_000), TooDeep),
        ("40-deep properties", deep(40), TooDeep),
        ("10 000-deep unknown field", deep_array(10_000), TooDeep),
        ("5 MiB string", huge_string, TooLarge),
        ("array root", b"[1,2]".to_vec(), SchemaViolation),
        ("string root", b"\"x\"".to_vec(), SchemaViolation),
        ("null root", b"null".to_vec(), SchemaViolation),
        (
            "missing event_id",
            br#"{"event_type":"click","occurred_at":"2026-11-29T10:00:00Z"}"#.to_vec(),
            SchemaViolation,
        ),
        (
            "missing occurred_at",
            br#"{"event_id":"e","event_type":"click"}"#.to_vec(),
            SchemaViolation,
        ),
        (
            "numeric event_id",
            br#"{"event_id":7,"event_type":"click","occurred_at":"2026-11-29T10:00:00Z"}"#.to_vec(),
            SchemaViolation,
        ),
        (
            "empty event_id",
            br#"{"event_id":"","event_type":"click","occurred_at":"2026-11-29T10:00:00Z"}"#
                .to_vec(),
            SchemaViolation,
        ),
        (
            "control char in id",
            br#"{"event_id":"a\u0000b","event_type":"click","occurred_at":"2026-11-29T10:00:00Z"}"#
                .to_vec(),
            SchemaViolation,
        ),
        (
            "upper-case event_type",
            br#"{"event_id":"e","event_type":"Click","occurred_at":"2026-11-29T10:00:00Z"}"#
                .to_vec(),
            SchemaViolation,
        ),
        (
            "65-char event_type",
            format!(
                r#"{{"event_id":"e","event_type":"{}","occurred_at":"2026-11-29T10:00:00Z"}}"#,
                "a".repeat(65)
            )
            .into_bytes(),
            SchemaViolation,
        ),
        (
            "bad date",
            br#"{"event_id":"e","event_type":"click","occurred_at":"2026-13-45T10:00:00Z"}"#
                .to_vec(),
            SchemaViolation,
        ),
        (
            "date without zone",
            br#"{"event_id":"e","event_type":"click","occurred_at":"2026-11-29T10:00:00"}"#
                .to_vec(),
            SchemaViolation,
        ),
        ("bad ip", with(r#""ip":"999.1.1.1""#), SchemaViolation),
        ("numeric ip", with(r#""ip":12345"#), SchemaViolation),
        (
            "properties not an object",
            with(r#""properties":[1,2]"#),
            SchemaViolation,
        ),
        (
            "string lat",
            with(r#""location":{"lat":"north","lon":1}"#),
            SchemaViolation,
        ),
        (
            "location without lon",
            with(r#""location":{"lat":1}"#),
            SchemaViolation,
        ),
        ("app as string", with(r#""app":"shop""#), SchemaViolation),
        (
            "user_id as object",
            with(r#""user_id":{"id":1}"#),
            SchemaViolation,
        ),
        (
            "duplicate top-level key",
            format!("{{{OK_HEAD},\"event_id\":\"e2\"}}").into_bytes(),
            SchemaViolation,
        ),
        (
            "duplicate nested key",
            with(r#""properties":{"a":{"b":1,"b":2}}"#),
            SchemaViolation,
        ),
        (
            "257-char user id",
            with(&format!(r#""user_id":"{}""#, "u".repeat(257))),
            SchemaViolation,
        ),
    ]
}

#[test]
fn every_bad_input_is_one_dead_letter_with_the_right_code() {
    let core = support::core();
    let state = State::new(&[]);
    let corpus = corpus();
    assert!(corpus.len() >= 30);
    for (name, bytes, want) in corpus {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            support::run(&core, &state, &bytes)
        }))
        .unwrap_or_else(|_| panic!("{name}: panicked"));
        match out {
            Outputs::DeadLetter(d) => {
                assert_eq!(d.reason, want, "{name}: {:?}", d.headers);
                if want == DlqReason::TooLarge {
                    // Forwarding it whole is what could not be done: a bounded prefix.
                    let cut = bytes.len().min(DLQ_VALUE_PREFIX_BYTES);
                    assert!(d.value == bytes[..cut], "{name}: the value's prefix");
                } else {
                    assert!(d.value == bytes, "{name}: bytes must be unchanged");
                }
                assert!(
                    d.headers.iter().all(|(_, v)| v.len() < 200),
                    "{name}: detail too long"
                );
            }
            Outputs::Event { .. } => panic!("{name}: accepted"),
        }
    }
}

#[test]
fn null_values_are_dead_letters_too() {
    let core = support::core();
    let raw = consent_enricher::pipeline::RawRecord {
        key: None,
        value: None,
        source: consent_enricher::pipeline::Source {
            topic: "usage.raw",
            partition: 0,
            offset: 1,
        },
    };
    let Outputs::DeadLetter(d) = core.process(&raw, &State::new(&[]), support::now()) else {
        panic!()
    };
    assert_eq!(d.reason, InvalidJson);
    assert!(d.value.is_empty());
}

#[test]
fn details_never_quote_the_input() {
    let core = support::core();
    let state = State::new(&[]);
    let secret = "alice.secret@example.com";
    for extra in [
        format!(r#""ip":"{secret}""#),
        format!(r#""location":{{"lat":"{secret}","lon":1}}"#),
        format!(r#""app":"{secret}""#),
        format!(r#""properties":{{"{secret}":1,"{secret}":2}}"#),
        format!(r#""user_id":["{secret}"]"#),
    ] {
        let Outputs::DeadLetter(d) = support::run(&core, &state, &with(&extra)) else {
            panic!("{extra}")
        };
        for (k, v) in &d.headers {
            assert!(!v.contains("alice"), "{k}={v}");
        }
    }
}
