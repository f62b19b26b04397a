//! Memory per user (`cargo bench --bench state_memory [-- USERS... [--outputs]]`, default
//! 1M and 10M; `--outputs`: with the personal outputs of `examples/outputs.toml`):
//! loads `gen`'s consent records for that many users (and, for runs up to 1M users, their
//! profiles) into a fresh `State` via `apply_consent` / `apply_profile`, and reports RSS
//! growth per stored entry (from `/proc/self/status`) and load speed in records/s.
//!
//! It owns only measurement. Records are generated and parsed in chunks outside the
//! timed section (so the apply speed is the table's, not the generator's), then dropped.
//! It runs on the shipped binary's allocator (mimalloc, see src/main.rs), and
//! `mi_collect(true)` returns freed pages before each RSS reading, so the growth is the
//! tables' live memory. Linux only. No assertions on the figures.

// A benchmark that cannot set up its fixture has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use consent_enricher::model::{ConsentRecord, ProfileRecord};
use consent_enricher::state::State;
use consent_enricher_gen::{GenConfig, GenTopic};

/// Records parsed per chunk before applying them.
const CHUNK: usize = 20_000;

/// As in the binary: per-user figures are meant for what operators run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc (linked through the `mimalloc` crate, whose bindings do not expose it
    /// without its `extended` feature): frees retained pages now instead of later.
    safe fn mi_collect(force: bool);
}

/// Resident set size in bytes (`VmRSS`).
fn rss() -> u64 {
    mi_collect(true);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[derive(Default)]
struct Load {
    records: u64,
    apply: Duration,
    parse: Duration,
}

/// Applies the records of `topic` in chunks: parse untimed-for-apply, apply timed.
fn load(state: &State, cfg: &GenConfig, topic: GenTopic) -> Load {
    let mut out = Load::default();
    let mut raw: Vec<(String, Option<Vec<u8>>)> = Vec::with_capacity(CHUNK);
    let flush = |raw: &mut Vec<(String, Option<Vec<u8>>)>, out: &mut Load| {
        let t = Instant::now();
        match topic {
            GenTopic::Consent => {
                let parsed: Vec<(String, Option<ConsentRecord>)> = raw
                    .drain(..)
                    .map(|(k, v)| (k, v.map(|v| serde_json::from_slice(&v).expect("consent"))))
                    .collect();
                out.parse += t.elapsed();
                let t = Instant::now();
                for (k, r) in &parsed {
                    state.apply_consent(k, r.as_ref());
                }
                out.apply += t.elapsed();
                out.records += parsed.len() as u64;
            }
            _ => {
                // Profiles borrow from their bytes, which live in `raw` until the chunk
                // is applied.
                let parsed: Vec<(&str, Option<ProfileRecord>)> = raw
                    .iter()
                    .map(|(k, v)| {
                        let r = v
                            .as_deref()
                            .map(|v| ProfileRecord::parse(v).expect("profile"));
                        (k.as_str(), r)
                    })
                    .collect();
                out.parse += t.elapsed();
                let t = Instant::now();
                for (k, r) in &parsed {
                    state.apply_profile(k, r.as_ref());
                }
                out.apply += t.elapsed();
                out.records += parsed.len() as u64;
                drop(parsed);
                raw.clear();
            }
        }
    };
    for rec in consent_enricher_gen::state_records(cfg).filter(|r| r.topic == topic) {
        raw.push((rec.key.expect("keyed"), rec.value));
        if raw.len() == CHUNK {
            flush(&mut raw, &mut out);
        }
    }
    flush(&mut raw, &mut out);
    out
}

fn report(what: &str, entries: usize, before: u64, after: u64, l: &Load) {
    let grown = after.saturating_sub(before);
    println!(
        "{what}: {entries} entries, RSS +{:.1} MiB = {:.1} bytes/entry; apply {:.0} records/s \
         ({} records in {:.2} s), parse+apply {:.0} records/s",
        grown as f64 / 1048576.0,
        grown as f64 / entries.max(1) as f64,
        l.records as f64 / l.apply.as_secs_f64().max(1e-9),
        l.records,
        l.apply.as_secs_f64(),
        l.records as f64 / (l.apply + l.parse).as_secs_f64().max(1e-9),
    );
}

/// The tables' layout: the default single output (profiles kept whole), or the
/// outputs of `examples/outputs.toml` (`--outputs`: fields differ, kept field by field).
fn state_for(example_outputs: bool) -> State {
    if !example_outputs {
        return State::for_outputs(&consent_enricher::config::Config::default().personal_outputs());
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/outputs.toml");
    let config = consent_enricher::config::Config::load(Some(std::path::Path::new(path)), [])
        .expect("examples/outputs.toml");
    State::for_outputs(&config.personal_outputs())
}

fn run(users: u64, example_outputs: bool) {
    // One consent record per user (granted or denied), so entries = users; profiles for
    // ~80% of users (the generator's share).
    let cfg = GenConfig {
        seed: 11,
        users,
        events: 0,
        consent_granted: 0.5,
        consent_denied: 0.5,
        consent_withdrawn: 0.0,
        erased: 0.0,
        ..GenConfig::default()
    };
    let base = rss();
    let state = state_for(example_outputs);
    let l = load(&state, &cfg, GenTopic::Consent);
    let after_consents = rss();
    let consents = state.sizes().consents;
    report(
        &format!("{users} users, consents"),
        consents,
        base,
        after_consents,
        &l,
    );
    if users <= 1_000_000 {
        let l = load(&state, &cfg, GenTopic::Profile);
        let after_profiles = rss();
        report(
            &format!("{users} users, profiles"),
            state.sizes().profiles,
            after_consents,
            after_profiles,
            &l,
        );
    }
    drop(state);
}

fn main() {
    // `cargo bench` passes `--bench`; any numeric arguments are user counts.
    let mut sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![1_000_000, 10_000_000];
    }
    println!(
        "state_memory: {} (mimalloc; RSS via /proc/self/status after mi_collect)",
        std::env::consts::ARCH
    );
    let example_outputs = std::env::args().any(|a| a == "--outputs");
    for users in sizes {
        run(users, example_outputs);
    }
}
