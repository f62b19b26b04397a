//! Fuzz target: the raw-event parser (`RawEvent::parse`) on arbitrary bytes. Invariants:
//! no panic, and an event the parser accepts is valid against
//! `schemas/raw-event.schema.json` (the core may refuse more — duplicate keys, depth —
//! never less). Test code: panics are how it reports.
#![no_main]

use consent_enricher_core::model::RawEvent;
use consent_enricher_fuzz::{Fixture, MAX_EVENT_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = Fixture::get();
    if RawEvent::parse(data, MAX_EVENT_BYTES).is_ok() {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
            return; // a number serde_json's `Value` cannot hold; the schema cannot judge it
        };
        let errors: Vec<String> = f
            .raw
            .iter_errors(&v)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "accepted but schema-invalid: {errors:?}");
    }
});
