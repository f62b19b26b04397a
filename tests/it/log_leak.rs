//! The log-leak test: the worker binary at the most verbose log level over a corpus with
//! planted personal values in every field, header and bad input; none may appear in its
//! logs, in any form.

use serde_json::{Value, json};

use crate::broker::{self, Reader};
use crate::telemetry::{BinWorker, Rec, T, produce_with_headers};

/// Planted personal values; none may appear in the logs, in any form.
struct Leak {
    user: &'static str,
    anonymous: &'static str,
    device: &'static str,
    session: &'static str,
    event: &'static str,
    email: &'static str,
    phone: &'static str,
    card: &'static str,
    ipv4: &'static str,
    ipv6: &'static str,
    name: &'static str,
    address: &'static str,
    bank_card: &'static str,
    government_id: &'static str,
}

const LEAK: Leak = Leak {
    user: "usr-leak-5f1c9a",
    anonymous: "anon-leak-77e2b0",
    device: "dev-leak-3c44d1",
    session: "sess-leak-9b0e6f",
    event: "evt-leak-0a7d2c",
    email: "jane.leakington@example.org",
    phone: "+1 415 555 0199",
    card: "4111 1111 1111 1111",
    ipv4: "203.0.113.77",
    ipv6: "2001:db8::7a1f",
    name: "Janet Leakington",
    address: "42 Wallaby Way, Sydney",
    bank_card: "5500 0000 0000 0004",
    government_id: "078-05-1120",
};

impl Leak {
    fn needles(&self) -> Vec<String> {
        let mut v: Vec<String> = [
            self.user,
            self.anonymous,
            self.device,
            self.session,
            self.event,
            self.email,
            self.phone,
            self.card,
            self.ipv4,
            self.ipv6,
            self.name,
            self.address,
            self.bank_card,
            self.government_id,
            "Leakington",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in [self.phone, self.card, self.bank_card, self.government_id] {
            v.push(s.chars().filter(char::is_ascii_digit).collect());
        }
        v
    }

    /// One free-text string carrying every planted value.
    fn text(&self) -> String {
        format!(
            "contact {} / {} card {} from {} and {} ({}, {}, {}, {}, {})",
            self.email,
            self.phone,
            self.card,
            self.ipv4,
            self.ipv6,
            self.user,
            self.device,
            self.session,
            self.name,
            self.anonymous
        )
    }

    fn event(&self, id: &str) -> Value {
        let t = self.text();
        json!({
            "event_id": id, "event_type": "purchase", "occurred_at": "2026-11-29T10:00:00Z",
            "user_id": self.user, "anonymous_id": self.anonymous, "device_id": self.device,
            "session_id": self.session, "ip": self.ipv4,
            "user_agent": format!("Mozilla/5.0 ({t})"), "language": "en-US",
            "url": format!("https://shop.example/u/{}/{}?email={}&utm_source={}#{}", self.user, self.email, self.email, self.phone, self.ipv6),
            "referrer": format!("https://{}/?q={}", self.ipv4, self.email),
            "location": {"lat": 51.5, "lon": -0.12, "accuracy_m": 10},
            "app": {"name": t, "version": self.phone, "platform": self.email},
            "properties": {"note": t, self.email: self.card, "nested": {"deep": [self.ipv6, self.government_id, self.bank_card]}},
        })
    }
}

#[test]
fn logs_at_trace_level_contain_no_planted_personal_value() {
    let _broker = broker::shared();
    let config = broker::config("telemetry-leak");
    let t = config.topics.clone();
    let l = &LEAK;
    // State first (read at start-up), with every profile value planted.
    let consent = json!({"user_id": l.user, "updated_at": "2026-11-01T00:00:00Z", "policy_version": "v1",
        "purposes": {"analytics": true, "marketing": true}});
    let profile = json!({"user_id": l.user, "updated_at": "2026-11-01T00:00:00Z", "name": l.name, "email": l.email,
        "phone": l.phone, "mailing_address": l.address, "preferences": {"note": l.text()},
        "bank_card": l.bank_card, "government_id": l.government_id});
    let bad_profile = format!(
        "{{\"user_id\": \"{}\", \"email\": \"{}\", \"name\": ",
        l.user, l.email
    );
    produce_with_headers(
        &config,
        &t.consent,
        &[(
            Some(l.user),
            Some(&serde_json::to_vec(&consent).unwrap()),
            &[],
        )],
    );
    produce_with_headers(
        &config,
        &t.profile,
        &[
            (
                Some(l.user),
                Some(&serde_json::to_vec(&profile).unwrap()),
                &[],
            ),
            (Some(l.email), Some(bad_profile.as_bytes()), &[]),
        ],
    );
    let mut run_config = config.clone();
    run_config.telemetry.log_level = "trace".into();
    run_config.kafka.client.insert("debug".into(), "all".into());
    // librdkafka's debug contexts on too: they must not print record contents either.
    let w = BinWorker::start("leak", run_config, &[]);

    let good = serde_json::to_vec(&l.event(l.event)).unwrap();
    let mut schema_bad = l.event("evt-leak-bad");
    schema_bad["occurred_at"] = Value::from(l.email);
    schema_bad["event_type"] = Value::from(l.phone);
    let schema_bad = serde_json::to_vec(&schema_bad).unwrap();
    let not_json = format!(
        "{{\"user_id\": \"{}\", \"ip\": \"{}\", \"email\": {}",
        l.user, l.ipv4, l.email
    )
    .into_bytes();
    let mut not_utf8 = format!("{} {} ", l.email, l.card).into_bytes();
    not_utf8.extend_from_slice(b"\xff\xfe");
    let too_deep = format!(
        "{}{}{}",
        "[".repeat(100),
        serde_json::to_string(l.email).unwrap(),
        "]".repeat(100)
    )
    .into_bytes();
    let dup = format!(
        "{{\"event_id\":\"e-dup\",\"event_type\":\"click\",\"occurred_at\":\"2026-11-29T10:00:00Z\",\"user_id\":\"{}\",\"user_id\":\"{}\"}}",
        l.user, l.email
    )
    .into_bytes();
    let headers: &[(&str, &str)] = &[
        ("traceparent", l.email),
        ("tracestate", l.ipv4),
        ("x-user", l.user),
    ];
    let inputs: Vec<&[u8]> = vec![&good, &schema_bad, &not_json, &not_utf8, &too_deep, &dup];
    let records: Vec<Rec<'_>> = inputs
        .iter()
        .map(|v| (Some(l.user), Some(*v), headers))
        .collect();
    produce_with_headers(&config, &t.raw, &records);
    let erasure = json!({"user_id": l.user, "request_id": "req-leak-1", "requested_at": "2026-11-30T00:00:00Z"});
    let mut reader = Reader::new(&config);
    reader.read_until("outputs of every input", T, |r| {
        r.count(&t.anonymous) + r.count(&t.dead_letter) == inputs.len()
    });
    produce_with_headers(
        &config,
        &t.erasure,
        &[(
            Some(l.user),
            Some(&serde_json::to_vec(&erasure).unwrap()),
            &[],
        )],
    );
    reader.read_until("the audit record", T, |r| r.count(&t.audit) == 1);
    assert_eq!(
        reader.count(&t.personal),
        1,
        "the consented event was personal"
    );

    let (status, log) = w.stop();
    assert!(status.success(), "{status}\n{log}");
    assert!(
        log.lines().count() >= 3,
        "the worker logged something:\n{log}"
    );
    println!(
        "leak: {} log lines ({} from librdkafka debug), {} bytes, no planted value",
        log.lines().count(),
        log.lines().filter(|l| l.contains("librdkafka")).count(),
        log.len()
    );
    for needle in LEAK.needles() {
        assert!(
            !log.contains(&needle),
            "planted value {needle:?} found in the logs:\n{log}"
        );
    }
    // JSON-escaped forms too (an escaped e-mail or address would still be personal data).
    for needle in [l.email, l.address, l.name] {
        let escaped = serde_json::to_string(needle).unwrap();
        assert!(!log.contains(escaped.trim_matches('"')), "{needle}");
    }
}
