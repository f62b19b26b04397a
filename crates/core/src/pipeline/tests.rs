//! The size contract of `Core::process`: bounded dead letters (prefix, size, SHA-256,
//! truncation headers) and `output_too_large` instead of outputs that would not fit.

use super::*;
use crate::enrich::GeoIp;
use crate::enrich::timezone::test_zones;
use crate::settings::{PersonalOutput, PolicyConfig};

fn core(max_event_bytes: usize, max_output_bytes: usize) -> Core {
    let settings = CoreSettings {
        policy: PolicyConfig::default(),
        personal_outputs: vec![PersonalOutput::single(
            &PolicyConfig::default(),
            "usage.personal",
        )],
        max_event_bytes,
        max_output_bytes,
        pseudonym_key: b"unit-test-key-0123456789".to_vec().into(),
    };
    Core::new(
        settings,
        Arc::new(Enricher::new(GeoIp::empty(), test_zones())),
    )
}

fn run(core: &Core, key: Option<&[u8]>, value: &[u8]) -> Outputs {
    let raw = RawRecord {
        key,
        value: Some(value),
        source: Source {
            topic: "usage.raw",
            partition: 2,
            offset: 41,
        },
    };
    let state = State::new(&PolicyConfig::default().profile_fields);
    core.process(&raw, &state, DateTime::<Utc>::UNIX_EPOCH)
}

fn dead(out: Outputs) -> DeadLetter {
    match out {
        Outputs::DeadLetter(d) => d,
        Outputs::Event { .. } => panic!("expected a dead letter"),
    }
}

fn header<'a>(d: &'a DeadLetter, name: &str) -> Option<&'a str> {
    d.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// A valid event whose `properties.note` is `n` bytes of text.
fn event_with_note(n: usize) -> Vec<u8> {
    let note = "lorem ipsum ".repeat(n / 12 + 1);
    format!(
        r#"{{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T09:00:00Z","properties":{{"note":"{}"}}}}"#,
        &note[..n]
    )
    .into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn too_large_keeps_a_prefix_with_size_and_digest() {
    let core = core(10_000, 1_000_000);
    let value = vec![b'x'; 25_000];
    let d = dead(run(&core, Some(b"u_1"), &value));
    assert_eq!(d.reason, DlqReason::TooLarge);
    assert_eq!(d.value, value[..DLQ_VALUE_PREFIX_BYTES]);
    assert_eq!(d.key.as_deref(), Some(&b"u_1"[..]));
    assert_eq!(header(&d, "dlq.reason"), Some("too_large"));
    assert_eq!(header(&d, "dlq.value.size"), Some("25000"));
    assert_eq!(header(&d, "dlq.value.sha256"), Some(hex(&value).as_str()));
    assert_eq!(header(&d, "dlq.value.truncated"), Some("true"));
    let digest = header(&d, "dlq.value.sha256").unwrap_or_default();
    assert!(
        digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(header(&d, "dlq.source.offset"), Some("41"));
}

#[test]
fn small_invalid_inputs_are_forwarded_whole() {
    let core = core(10_000, 1_000_000);
    let d = dead(run(&core, None, b"{not json"));
    assert_eq!(d.reason, DlqReason::InvalidJson);
    assert_eq!(d.value, b"{not json");
    for h in ["dlq.value.size", "dlq.value.sha256", "dlq.value.truncated"] {
        assert_eq!(header(&d, h), None, "{h} only on a bounded value");
    }
}

#[test]
fn an_invalid_input_that_would_not_fit_is_bounded_too() {
    // Within the event limit, above the output limit: copying it whole would be refused.
    let core = core(1 << 20, MIN_OUTPUT_BYTES);
    let value = vec![b'{'; 40_000];
    let d = dead(run(&core, None, &value));
    assert_eq!(d.reason, DlqReason::TooDeep);
    assert_eq!(d.value.len(), DLQ_VALUE_PREFIX_BYTES);
    assert_eq!(header(&d, "dlq.value.size"), Some("40000"));
    assert_eq!(header(&d, "dlq.value.truncated"), Some("true"));
    assert!(d.len() <= core.max_output_bytes());
}

#[test]
fn an_event_whose_output_would_not_fit_is_one_bounded_dead_letter() {
    let core = core(1 << 20, MIN_OUTPUT_BYTES);
    let value = event_with_note(60_000);
    let d = dead(run(&core, Some(b"u_1"), &value));
    assert_eq!(d.reason, DlqReason::OutputTooLarge);
    assert_eq!(header(&d, "dlq.reason"), Some("output_too_large"));
    let detail = header(&d, "dlq.detail").unwrap_or_default();
    assert!(
        detail.starts_with("anonymous record of ")
            && detail.ends_with(&format!("limit {MIN_OUTPUT_BYTES}")),
        "{detail}"
    );
    assert!(
        !detail.contains("lorem"),
        "the detail never holds the value"
    );
    assert_eq!(d.value, value[..DLQ_VALUE_PREFIX_BYTES]);
    assert_eq!(
        header(&d, "dlq.value.size"),
        Some(value.len().to_string().as_str())
    );
    assert_eq!(header(&d, "dlq.value.sha256"), Some(hex(&value).as_str()));
    assert!(d.len() <= core.max_output_bytes());

    let mut counts = Counts::default();
    counts.add(&Outputs::DeadLetter(d));
    assert_eq!(
        (counts.raw, counts.anonymous, counts.dead_letters),
        (1, 0, 1)
    );
    assert_eq!(counts.by_reason.get("output_too_large"), Some(&1));
}

#[test]
fn an_event_whose_outputs_fit_is_processed() {
    let core = core(1 << 20, MIN_OUTPUT_BYTES);
    let Outputs::Event { anonymous, .. } = run(&core, None, &event_with_note(8_000)) else {
        panic!("expected an event");
    };
    assert!(anonymous.len() <= MIN_OUTPUT_BYTES);
}

#[test]
fn a_short_input_with_too_large_an_output_says_it_is_not_truncated() {
    let core = core(1 << 20, MIN_OUTPUT_BYTES);
    let raw = RawRecord {
        key: None,
        value: Some(b"{}"),
        source: Source {
            topic: "t",
            partition: 0,
            offset: 0,
        },
    };
    let d = dead(core.output_too_large(&raw, "personal record of 9 bytes".into()));
    assert_eq!(d.value, b"{}");
    assert_eq!(header(&d, "dlq.value.size"), Some("2"));
    assert_eq!(header(&d, "dlq.value.truncated"), Some("false"));
}

#[test]
fn an_output_the_broker_refused_becomes_a_bounded_output_rejected_dead_letter() {
    let core = core(1 << 20, MIN_OUTPUT_BYTES);
    let value = vec![b'x'; 10_000];
    let raw = RawRecord {
        key: Some(b"k"),
        value: Some(&value),
        source: Source {
            topic: "t",
            partition: 2,
            offset: 7,
        },
    };
    let d = dead(core.output_rejected(&raw, "usage.personal: Broker: Invalid record".into()));
    assert_eq!(header(&d, "dlq.reason"), Some("output_rejected"));
    assert_eq!(
        header(&d, "dlq.detail"),
        Some("usage.personal: Broker: Invalid record")
    );
    // Bounded whatever its size: the broker may have refused the record for its size.
    assert_eq!(d.value.len(), DLQ_VALUE_PREFIX_BYTES);
    assert_eq!(header(&d, "dlq.value.size"), Some("10000"));
    assert_eq!(header(&d, "dlq.value.truncated"), Some("true"));
}

#[test]
fn a_key_too_long_to_forward_is_cut() {
    let core = core(1 << 20, MIN_OUTPUT_BYTES);
    let key = vec![b'k'; 50_000];
    let d = dead(run(&core, Some(&key), b"{not json"));
    assert_eq!(d.key.as_ref().map(Vec::len), Some(DLQ_KEY_PREFIX_BYTES));
    assert_eq!(header(&d, "dlq.key.size"), Some("50000"));
    assert_eq!(header(&d, "dlq.key.truncated"), Some("true"));
    assert!(d.len() <= core.max_output_bytes());
}

#[test]
fn a_long_detail_is_bounded() {
    let d = bounded_detail("é".repeat(2_000));
    assert!(d.len() <= DLQ_DETAIL_MAX_BYTES && d.ends_with("..."));
}
