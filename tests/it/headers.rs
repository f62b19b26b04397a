//! Input headers against the real broker: identifiers planted in `traceparent`,
//! `tracestate` and custom headers, on events of consented and non-consented users and on
//! invalid inputs. No header reaches the anonymous record, dead letters keep only their
//! `dlq.*` headers, and the personal record carries the trace context only as far as it
//! is valid W3C Trace Context. A header name that is not UTF-8 stops nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use consent_enricher::config::Config;
use consent_enricher::kafka::{Role, client_config};
use rdkafka::producer::{BaseProducer, Producer};
use serde_json::{Value, json};

use crate::broker::{self, Reader, TestWorker};
use crate::telemetry::{Rec, T, event, produce_with_headers};

const CONSENTED: &str = "hdr-user-7f3a";
const NOT_CONSENTED: &str = "hdr-user-9b2c";
const EMAIL: &str = "hdr.alice@example.com";
const PARENT: &str = "00f067aa0ba902b7";

/// A distinct trace id per case, so each can be looked for in the anonymous records.
fn trace_id(n: u32) -> String {
    format!(
        "{:032x}",
        0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_0000_u128 + u128::from(n)
    )
}

fn traceparent(n: u32) -> String {
    format!("00-{}-{PARENT}-01", trace_id(n))
}

/// One input: event id, user, headers, and what its personal record (if any) must carry.
struct Case {
    id: String,
    user: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    traceparent: Option<String>,
    tracestate: Option<String>,
}

fn case(
    n: u32,
    user: Option<&'static str>,
    trace: &[(&'static str, String)],
    want: (Option<String>, Option<String>),
) -> Case {
    // Every input also carries identifiers in headers nobody should copy.
    let mut headers = vec![
        ("x-user-id", user.unwrap_or(CONSENTED).to_string()),
        ("baggage", format!("email={EMAIL},user={CONSENTED}")),
    ];
    headers.extend(trace.iter().cloned());
    Case {
        id: format!("hdr-e{n}"),
        user,
        headers,
        traceparent: want.0,
        tracestate: want.1,
    }
}

fn cases() -> Vec<Case> {
    // Valid by the grammar, and full of identifiers: '@' and '.' are value characters.
    let planted_state = format!("vendor={CONSENTED},mail={EMAIL}");
    let long_state = (0..20)
        .map(|i| format!("k{i}={}", "v".repeat(24)))
        .collect::<Vec<_>>()
        .join(",");
    assert!(long_state.len() > 512);
    let tp = traceparent;
    let both = |n| Some(tp(n));
    let mut cases = Vec::new();
    for user in [CONSENTED, NOT_CONSENTED] {
        let n = if user == CONSENTED { 0 } else { 100 };
        cases.extend([
            // Valid traceparent and tracestate: both continue on the personal record.
            case(
                n + 1,
                Some(user),
                &[
                    ("traceparent", tp(n + 1)),
                    ("tracestate", planted_state.clone()),
                ],
                (both(n + 1), Some(planted_state.clone())),
            ),
            // An e-mail as traceparent: no trace at all, tracestate neither.
            case(
                n + 2,
                Some(user),
                &[
                    ("traceparent", EMAIL.to_string()),
                    ("tracestate", planted_state.clone()),
                ],
                (None, None),
            ),
            // The user id in an invalid tracestate (upper-case key, trailing space): the
            // traceparent goes on alone.
            case(
                n + 3,
                Some(user),
                &[
                    ("traceparent", tp(n + 3)),
                    ("tracestate", format!("User={user} ")),
                ],
                (both(n + 3), None),
            ),
            // traceparent given twice: ambiguous, nothing.
            case(
                n + 4,
                Some(user),
                &[("traceparent", tp(n + 4)), ("traceparent", tp(n + 40))],
                (None, None),
            ),
            // tracestate given twice, or over 512 bytes: dropped, traceparent kept.
            case(
                n + 5,
                Some(user),
                &[
                    ("traceparent", tp(n + 5)),
                    ("tracestate", "a=1".into()),
                    ("tracestate", format!("mail={EMAIL}")),
                ],
                (both(n + 5), None),
            ),
            case(
                n + 6,
                Some(user),
                &[
                    ("traceparent", tp(n + 6)),
                    ("tracestate", long_state.clone()),
                ],
                (both(n + 6), None),
            ),
            // A future version with an e-mail in its extra fields: continued as version
            // 00, without them.
            case(
                n + 7,
                Some(user),
                &[(
                    "traceparent",
                    format!("cc-{}-{PARENT}-01-{EMAIL}", trace_id(n + 7)),
                )],
                (both(n + 7), None),
            ),
            // Upper-case hex and an all-zero trace id are invalid.
            case(
                n + 8,
                Some(user),
                &[("traceparent", tp(n + 8).to_uppercase())],
                (None, None),
            ),
            case(
                n + 9,
                Some(user),
                &[("traceparent", format!("00-{}-{PARENT}-01", "0".repeat(32)))],
                (None, None),
            ),
        ]);
    }
    // No user id at all: no personal record, whatever the headers.
    cases.push(case(
        200,
        None,
        &[
            ("traceparent", tp(200)),
            ("tracestate", planted_state.clone()),
        ],
        (None, None),
    ));
    cases
}

#[test]
fn no_input_header_reaches_anonymous_records_and_trace_context_is_validated() {
    let _broker = broker::shared();
    let config = broker::config("headers");
    let t = config.topics.clone();
    let consent = json!({"user_id": CONSENTED, "updated_at": "2026-11-01T00:00:00Z",
        "policy_version": "v1", "purposes": {"analytics": true}});
    let no_consent = json!({"user_id": NOT_CONSENTED, "updated_at": "2026-11-01T00:00:00Z",
        "policy_version": "v1", "purposes": {"analytics": false}});
    let (consent, no_consent) = (
        serde_json::to_vec(&consent).unwrap(),
        serde_json::to_vec(&no_consent).unwrap(),
    );
    produce_with_headers(
        &config,
        &t.consent,
        &[
            (Some(CONSENTED), Some(&consent), &[]),
            (Some(NOT_CONSENTED), Some(&no_consent), &[]),
        ],
    );

    let cases = cases();
    let values: Vec<Vec<u8>> = cases.iter().map(|c| event(&c.id, c.user)).collect();
    let headers: Vec<Vec<(&str, &str)>> = cases
        .iter()
        .map(|c| c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect())
        .collect();
    let mut records: Vec<Rec<'_>> = cases
        .iter()
        .zip(&values)
        .zip(&headers)
        .map(|((c, v), h)| (c.user, Some(v.as_slice()), h.as_slice()))
        .collect();
    // Invalid inputs with the same planted headers: dead letters.
    let (tp, baggage) = (traceparent(300), format!("email={EMAIL}"));
    let bad_headers: Vec<(&str, &str)> = vec![
        ("traceparent", tp.as_str()),
        ("tracestate", "vendor=1"),
        ("x-user-id", CONSENTED),
        ("baggage", baggage.as_str()),
    ];
    let bad: [&[u8]; 2] = [b"{not json", b"{\"event_id\": 1}"];
    for b in bad {
        records.push((Some(CONSENTED), Some(b), &bad_headers));
    }
    let want_personal = cases.iter().filter(|c| c.user == Some(CONSENTED)).count();

    let worker = TestWorker::start(&config);
    produce_with_headers(&config, &t.raw, &records);
    let mut reader = Reader::new(&config);
    reader.read_until("every input's outputs", T, |r| {
        worker.assert_running();
        r.count(&t.anonymous) + r.count(&t.dead_letter) == records.len()
            && r.count(&t.personal) == want_personal
    });
    let report = worker.stop();
    reader.drain(Duration::from_secs(1));

    let (anon, personal, dlq) = (
        reader.count(&t.anonymous),
        reader.count(&t.personal),
        reader.count(&t.dead_letter),
    );
    assert_eq!(report.counts.raw, records.len() as u64);
    assert_eq!(anon, cases.len(), "one anonymous record per valid event");
    assert_eq!(dlq, bad.len());
    assert_eq!(anon + dlq, records.len(), "raw = anonymous + dead-letter");
    assert_eq!(personal, want_personal, "personal = consented events");

    // Everything planted: identifiers, and every trace id and header value of the inputs.
    let mut planted: Vec<String> = [CONSENTED, NOT_CONSENTED, EMAIL, PARENT]
        .map(String::from)
        .into();
    planted.extend(
        cases
            .iter()
            .flat_map(|c| c.headers.iter().map(|(_, v)| v.clone())),
    );
    planted.extend(bad_headers.iter().map(|(_, v)| v.to_string()));
    planted.extend((0..=300).map(trace_id));
    planted.sort();
    planted.dedup();

    let mut with_traceparent = 0;
    let mut with_tracestate = 0;
    for r in &reader.records {
        if r.topic == t.anonymous {
            assert!(r.headers.is_empty(), "anonymous record with headers: {r:?}");
            let text = String::from_utf8_lossy(&r.value);
            for p in &planted {
                assert!(
                    !text.contains(p.as_str()),
                    "{p:?} in anonymous record {text}"
                );
            }
        } else if r.topic == t.dead_letter {
            assert!(
                r.headers.keys().all(|k| k.starts_with("dlq.")),
                "dead letter with an input header: {:?}",
                r.headers
            );
            for p in &planted {
                assert!(
                    r.headers.values().all(|v| !v.contains(p.as_str())),
                    "{p:?} in a dead letter's headers: {:?}",
                    r.headers
                );
            }
        } else if r.topic == t.personal {
            let v: Value = serde_json::from_slice(&r.value).unwrap();
            let id = v["event_id"].as_str().unwrap();
            let c = cases.iter().find(|c| c.id == id).unwrap();
            let got: BTreeMap<&str, &str> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let mut want = BTreeMap::new();
            if let Some(tp) = &c.traceparent {
                want.insert("traceparent", tp.as_str());
                with_traceparent += 1;
            }
            if let Some(ts) = &c.tracestate {
                want.insert("tracestate", ts.as_str());
                with_tracestate += 1;
            }
            assert_eq!(got, want, "personal record of {id}");
        }
    }
    // Case 1 of the consented user: both; cases 3, 5, 6, 7: traceparent only.
    assert_eq!((with_traceparent, with_tracestate), (5, 1));
    println!(
        "headers: raw={} anonymous={anon} (0 headers, {} planted values absent) \
         personal={personal} (traceparent on {with_traceparent}, tracestate on {with_tracestate}) \
         dead_letters={dlq} (dlq.* only)",
        records.len(),
        planted.len()
    );
}

/// Produces one record with a header whose name is not UTF-8, which rdkafka's safe API
/// cannot express (its names are `&str`), through librdkafka's `produceva`.
fn produce_with_non_utf8_header_name(config: &Config, topic: &str, key: &str, value: &[u8]) {
    use rdkafka::bindings as rd;
    use std::ffi::{CStr, CString, c_void};
    let p: BaseProducer = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    let topic = CString::new(topic).unwrap();
    let tp = traceparent(900);
    let mem = |b: &[u8]| rd::rd_kafka_vu_s__bindgen_ty_1 {
        mem: rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
            ptr: b.as_ptr() as *mut c_void,
            size: b.len(),
        },
    };
    let header = |name: &CStr, v: &[u8]| rd::rd_kafka_vu_s__bindgen_ty_1 {
        header: rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_2 {
            name: name.as_ptr(),
            val: v.as_ptr().cast(),
            size: v.len() as isize,
        },
    };
    use rd::rd_kafka_vtype_t as V;
    let vus = [
        rd::rd_kafka_vu_t {
            vtype: V::RD_KAFKA_VTYPE_TOPIC,
            u: rd::rd_kafka_vu_s__bindgen_ty_1 {
                cstr: topic.as_ptr(),
            },
        },
        rd::rd_kafka_vu_t {
            vtype: V::RD_KAFKA_VTYPE_KEY,
            u: mem(key.as_bytes()),
        },
        rd::rd_kafka_vu_t {
            vtype: V::RD_KAFKA_VTYPE_VALUE,
            u: mem(value),
        },
        rd::rd_kafka_vu_t {
            vtype: V::RD_KAFKA_VTYPE_HEADER,
            u: header(c"\xff\xfetraceparent", EMAIL.as_bytes()),
        },
        rd::rd_kafka_vu_t {
            vtype: V::RD_KAFKA_VTYPE_HEADER,
            u: header(c"traceparent", tp.as_bytes()),
        },
    ];
    // SAFETY: every pointer in `vus` outlives the call, which copies what it needs.
    let err = unsafe { rd::rd_kafka_produceva(p.client().native_ptr(), vus.as_ptr(), vus.len()) };
    assert!(err.is_null(), "produceva failed");
    p.flush(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_header_name_that_is_not_utf8_stops_nothing_and_is_not_copied() {
    let _broker = broker::shared();
    let config = broker::config("headers-utf8");
    let t = config.topics.clone();
    let consent = json!({"user_id": CONSENTED, "updated_at": "2026-11-01T00:00:00Z",
        "policy_version": "v1", "purposes": {"analytics": true}});
    let consent = serde_json::to_vec(&consent).unwrap();
    produce_with_headers(
        &config,
        &t.consent,
        &[(Some(CONSENTED), Some(&consent), &[])],
    );
    let worker = TestWorker::start(&config);
    let mut reader = Reader::new(&config);
    // Consented, so the worker reads the headers for the personal record's trace context.
    for (id, user) in [("hdr-utf8-1", CONSENTED), ("hdr-utf8-2", NOT_CONSENTED)] {
        produce_with_non_utf8_header_name(&config, &t.raw, user, &event(id, Some(user)));
    }
    reader.read_until("both events' outputs", T, |r| {
        worker.assert_running();
        r.count(&t.anonymous) == 2 && r.count(&t.personal) == 1
    });
    let report = worker.stop();
    assert_eq!(report.counts.raw, 2);
    for r in &reader.records {
        if r.topic == t.personal {
            let got: Vec<(&str, &str)> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(got, [("traceparent", traceparent(900).as_str())]);
        } else {
            assert!(r.headers.is_empty(), "{r:?}");
        }
        assert!(!String::from_utf8_lossy(&r.value).contains(EMAIL));
    }
    println!(
        "headers-utf8: raw=2 anonymous=2 personal=1, worker kept running, the non-UTF-8 header not copied"
    );
}
