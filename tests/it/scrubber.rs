//! The scrubber measured as Presidio measures recognisers, through the whole core: the
//! adversarial corpus (`consent_enricher_testkit::corpus::attacks`) plants identifiers in
//! named forms and places, and recall is the share of planted identifiers absent from the
//! outputs; the benign corpus (`corpus::benign`) sends ordinary analytics values, and
//! precision is the share that arrive byte for byte. Per-class figures go to
//! `target/tmp/scrubber-corpus.txt`, which `.ci/run` prints; the targets (README "What the
//! scrubber removes") are asserted.

use std::fmt::Write as _;

use consent_enricher::model::{ConsentRecord, ProfileRecord};
use consent_enricher::pipeline::Outputs;
use consent_enricher::state::State;
use consent_enricher_testkit::corpus::{self, Canon, Person, Rng, attacks, benign};
use serde_json::Value;

use crate::support::{self, Schemas};

/// Events per attack class and values per benign class.
const ATTACKS_PER_CLASS: usize = 300;
const BENIGN_PER_CLASS: usize = 500;

fn state_for(p: &Person) -> State {
    let config = support::config();
    let state = State::for_outputs(&config.personal_outputs());
    let consent: ConsentRecord = serde_json::from_value(p.consent()).unwrap();
    state.apply_consent(&p.user_id, Some(&consent));
    let bytes = serde_json::to_vec(&p.profile()).unwrap();
    let profile = ProfileRecord::parse(&bytes).unwrap();
    state.apply_profile(&p.user_id, Some(&profile));
    state
}

/// The anonymous and personal documents of one event.
fn outputs(state: &State, event: &Value) -> (Value, Option<Value>) {
    let core = support::core();
    let raw = serde_json::to_vec(event).unwrap();
    let Outputs::Event {
        anonymous,
        personal,
        ..
    } = support::run(&core, state, &raw)
    else {
        panic!("a corpus event was dead-lettered: {event}");
    };
    let anon: Value = serde_json::from_slice(&anonymous.value).unwrap();
    Schemas::get().check("anonymous-event.schema.json", &anon);
    let personal = personal[0].record.as_ref().map(|p| {
        let v: Value = serde_json::from_slice(&p.value).unwrap();
        Schemas::get().check("personal-event.schema.json", &v);
        v
    });
    (anon, personal)
}

struct Row {
    class: &'static str,
    hit: usize,
    total: usize,
    example: Option<String>,
}

impl Row {
    fn share(&self) -> f64 {
        if self.total == 0 {
            return 1.0;
        }
        self.hit as f64 / self.total as f64
    }
}

fn attack_rows() -> Vec<(Row, bool)> {
    let mut rows = Vec::new();
    for (i, class) in attacks::CLASSES.iter().enumerate() {
        let mut r = Rng::new(0x5C2B_0000 + i as u64);
        let mut row = Row {
            class: class.name,
            hit: 0,
            total: 0,
            example: None,
        };
        for _ in 0..ATTACKS_PER_CLASS {
            let person = Person::random(&mut r);
            let attack = class.make(&mut r, &person);
            let state = state_for(&person);
            let (anon, personal) = outputs(&state, &attack.event);
            let mut leaked: Vec<&Canon> = corpus::leaks(&anon, &attack.anonymous);
            if let Some(p) = &personal {
                leaked.extend(corpus::leaks(p, &attack.personal));
            } else {
                assert!(
                    attack.personal.is_empty(),
                    "a consented user got no personal record"
                );
            }
            row.total += attack.anonymous.len() + attack.personal.len();
            row.hit += attack.anonymous.len() + attack.personal.len() - leaked.len();
            if !leaked.is_empty() && row.example.is_none() {
                row.example = Some(format!("{leaked:?} in {}", attack.event));
            }
        }
        rows.push((row, class.promised));
    }
    rows
}

fn benign_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, class) in benign::CLASSES.iter().enumerate() {
        let mut r = Rng::new(0xBE_0000 + i as u64);
        let mut row = Row {
            class: class.name,
            hit: 0,
            total: 0,
            example: None,
        };
        for _ in 0..BENIGN_PER_CLASS {
            let person = Person::random(&mut r);
            let text = class.make(&mut r);
            let value: Value = serde_json::from_str(&text).unwrap();
            let mut event = person.event();
            event["properties"]["v"] = value.clone();
            let state = state_for(&person);
            let (anon, _) = outputs(&state, &event);
            let out = &anon["properties"]["v"];
            let got = serde_json::to_string(out).unwrap();
            row.total += 1;
            // Strings byte for byte; numbers by exact value (serde_json writes a number
            // in its shortest form: 52312.30 arrives as 52312.3, the same number).
            let same = match (&value, out) {
                (Value::Number(a), Value::Number(b)) => a == b,
                _ => got == text,
            };
            if same {
                row.hit += 1;
            } else {
                let e = row.example.get_or_insert_with(String::new);
                if e.len() < 400 {
                    let _ = write!(e, "{text} -> {got}; ");
                }
            }
        }
        rows.push(row);
    }
    rows
}

#[test]
fn recall_and_precision_per_class_meet_the_targets() {
    let attacks = attack_rows();
    let benign = benign_rows();
    let mut report = String::from(
        "scrubber corpus (tests/it/scrubber.rs)\n\nrecall: planted identifiers removed\n",
    );
    for (row, promised) in &attacks {
        let tag = if *promised {
            ""
        } else {
            "  (documented limit)"
        };
        let _ = writeln!(
            report,
            "  {:<36} {:>7.2}%  {:>5}/{:<5}{tag}",
            row.class,
            100.0 * row.share(),
            row.hit,
            row.total
        );
    }
    report.push_str("\nprecision: benign values kept byte for byte\n");
    for row in &benign {
        let _ = writeln!(
            report,
            "  {:<36} {:>7.2}%  {:>5}/{:<5}",
            row.class,
            100.0 * row.share(),
            row.hit,
            row.total
        );
    }
    let (kept, total) = benign
        .iter()
        .fold((0, 0), |(k, t), r| (k + r.hit, t + r.total));
    let overall = kept as f64 / total as f64;
    let _ = writeln!(
        report,
        "  {:<36} {:>7.2}%  {kept}/{total}",
        "overall",
        100.0 * overall
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("scrubber-corpus.txt"), &report).unwrap();
    eprintln!("{report}");

    let mut failures = Vec::new();
    for (row, promised) in &attacks {
        if *promised && row.hit != row.total {
            failures.push(format!("recall {}: {:?}", row.class, row.example));
        }
    }
    for row in &benign {
        if row.example.is_some() {
            eprintln!("benign losses {}: {:?}", row.class, row.example);
        }
        if row.share() < 0.98 {
            failures.push(format!("precision {}: {:?}", row.class, row.example));
        }
    }
    if overall < 0.995 {
        failures.push(format!("overall precision {overall:.4} < 0.995"));
    }
    assert!(failures.is_empty(), "{report}\n{}", failures.join("\n"));
}
