//! The pure core of consent-enricher: `(raw bytes, state snapshot, clock) -> outputs`.
//! This crate cannot reach Kafka, HTTP, a telemetry exporter or the file system — its
//! `Cargo.toml` has none of them and `.ci/run` checks `cargo tree` for it — and it spawns
//! no thread and reads no clock (chrono is built without `clock`): the worker hands in
//! the bytes, the time and the geoip databases.
//!
//! Layout (each module's own `//!` says what it owns and what it must not do):
//!
//! - `model` — parsing raw events and table records from bytes, once, at the edge of
//!   the core; dead-letter reasons; the typed borrowed property tree.
//! - `scrub` — removing identifiers from one string (e-mail, IP, card, phone, known values).
//! - `scrubbed_json` — serializing a property tree with every string scrubbed.
//! - `url` — reducing a URL to what the anonymous record may keep.
//! - `enrich` — user agent, IP geolocation and network (AS) over databases given as bytes,
//!   time zone.
//! - `state` — the consent, profile and erasure tables and their ordering rules.
//! - `settings` — the core's own configuration types (the worker's file embeds them).
//! - `policy` — what leaves in which record: the anonymous record by allow-list, the
//!   consent decision, the personal record.
//! - `pipeline` — [`pipeline::Core`]: one raw record in, its outputs out; erasure in,
//!   audit record out; the serialization of output documents.

pub mod enrich;
pub mod model;
pub mod pipeline;
pub mod policy;
pub mod scrub;
pub mod scrubbed_json;
pub mod settings;
pub mod state;
pub mod url;
