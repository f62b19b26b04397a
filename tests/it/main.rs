//! The one integration-test binary. `support` holds shared fixtures (schemas, the core
//! under a test key); each other module is one area: the pure core's guarantees here,
//! the Kafka worker against a real broker where it applies.

mod broker;
mod core;
mod enrich;
mod failures;
mod kafka;
mod malformed;
mod privacy;
mod support;
mod telemetry;
