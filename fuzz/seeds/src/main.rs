//! Writes the seed corpora of the fuzz targets into `OUT/<target>/`, one input per file:
//! the events of `examples/events.jsonl` and of the load generator (`consent-enricher-gen`,
//! seed 42), and for the string targets their URLs and string values, framed as each
//! target reads its input. Run by `scripts/fuzz`; it only writes below `OUT`, and it is
//! test tooling, so a failed write ends it with an error.

use std::path::{Path, PathBuf};

use consent_enricher_gen::{GenConfig, GenTopic, events};
use serde_json::Value;

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

fn write(dir: &Path, n: usize, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(dir.join(format!("seed-{n:05}")), bytes)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), Some(examples)) = (args.next(), args.next()) else {
        eprintln!("usage: seeds OUT EXAMPLES_EVENTS_JSONL");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    let mut raw: Vec<Vec<u8>> = std::fs::read_to_string(examples)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let cfg = GenConfig {
        seed: 42,
        users: 50,
        events: 300,
        ..GenConfig::default()
    };
    raw.extend(
        events(&cfg)
            .filter(|r| r.topic == GenTopic::Raw)
            .filter_map(|r| r.value),
    );
    let mut urls = Vec::new();
    let mut texts = Vec::new();
    for r in &raw {
        let Ok(v) = serde_json::from_slice::<Value>(r) else {
            continue;
        };
        for k in ["url", "referrer"] {
            if let Some(u) = v.get(k).and_then(Value::as_str) {
                urls.push(u.to_string());
            }
        }
        strings(&v, &mut texts);
    }
    texts.sort();
    texts.dedup();
    urls.sort();
    urls.dedup();
    for t in ["raw_event", "process", "process_planted", "scrub", "url"] {
        std::fs::create_dir_all(out.join(t))?;
    }
    for (i, r) in raw.iter().enumerate() {
        for t in ["raw_event", "process", "process_planted"] {
            write(&out.join(t), i, r)?;
        }
    }
    // `url` reads a count of known ids (0 here) before the URL.
    for (i, u) in urls.iter().enumerate() {
        write(&out.join("url"), i, &[&[0u8][..], u.as_bytes()].concat())?;
    }
    // `scrub` reads the level (anonymous), a count of ids and an optional word (none).
    for (i, t) in texts.iter().enumerate() {
        write(
            &out.join("scrub"),
            i,
            &[&[1u8, 0, 0][..], t.as_bytes()].concat(),
        )?;
    }
    eprintln!(
        "seeds: {} events, {} URLs, {} strings in {}",
        raw.len(),
        urls.len(),
        texts.len(),
        out.display()
    );
    Ok(())
}
