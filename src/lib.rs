//! consent-enricher: a Kafka worker that joins product-usage events with personal data
//! only where the user consented, and strips identifiers otherwise. The library holds the
//! pure core (`model`, `policy`, `pipeline`, `scrub`, `url`, `enrich`, `state`) and the
//! edges that move bytes (`offline` for files); the binary in `main.rs` is only the CLI.

pub mod config;
pub mod enrich;
pub mod r#gen;
pub mod kafka;
pub mod log;
pub mod model;
pub mod offline;
pub mod pipeline;
pub mod policy;
pub mod scrub;
pub mod state;
pub mod telemetry;
pub mod url;
