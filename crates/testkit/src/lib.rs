//! Test support for consent-enricher, kept out of every shipped crate: only tests,
//! benches and examples depend on it.
//!
//! - `corpus` — the scrubber's adversarial and benign evaluation corpora and the oracle
//!   that judges them.
//! - `mmdb_writer` — the geoip fixture databases built from the readable source
//!   `testdata/geoip-networks.json`, with the writer of `crates/mmdb-writer` (re-exported).
//!
//! The broker harness lives with the integration tests (`tests/it/broker.rs`), which
//! are its only users.

// Test support: a malformed fixture source or a misuse is a failed test, so it panics
// with a message rather than threading errors through every test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod corpus;
pub mod mmdb_writer;
