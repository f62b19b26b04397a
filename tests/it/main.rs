//! The one integration-test binary. `support` holds shared fixtures (schemas, the core
//! under a test key); each other module is one area: the pure core's guarantees here,
//! the Kafka worker against a real broker where it applies.

// Clippy's allow-unwrap-in-tests covers `#[test]` functions only; the shared fixtures
// and helpers here are test code too, where a panic is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker;
mod codecs;
mod collector;
mod core;
mod deploy;
mod enrich;
mod erasure;
mod failures;
mod headers;
mod kafka;
mod limits;
mod log_leak;
mod malformed;
mod network;
mod outputs;
mod privacy;
mod scrape;
mod scrubber;
mod security;
mod support;
mod telemetry;
mod withdrawal;
