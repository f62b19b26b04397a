//! consent-enricher, the worker: the edges around the pure core
//! (`consent-enricher-core`), which decides what every record becomes. This crate only
//! moves bytes, offsets and transactions, reads files and the clock, and reports.
//!
//! Layout (each module's own `//!` says what it owns and what it must not do):
//!
//! - `config` — the TOML file, environment overrides, validation, the README's key table.
//! - `enrichment` — reading the geoip files for the core, watching them, the time-zone finder.
//! - `kafka` — the Kafka edge: client settings, the table reader, the worker loop in
//!   both delivery modes, topic administration, the load producer.
//! - `offline` — `process`: the core over JSON Lines files.
//! - `telemetry` — metrics, traces, the HTTP endpoints, OTLP export.
//! - `log` — structured logs that never carry personal data.
//!
//! The core's modules are re-exported under their own names (`consent_enricher::pipeline`
//! is `consent_enricher_core::pipeline`), so the edges and the tests name one crate; the
//! binary's modules (`cli`, `demo`) live beside `main.rs`, outside this library.

pub mod config;
pub mod enrichment;
pub mod kafka;
pub mod log;
pub mod offline;
pub mod telemetry;

pub use consent_enricher_core::{
    enrich, model, pipeline, policy, scrub, scrubbed_json, settings, state, url,
};
