//! librdkafka statistics: parses the JSON document a client emits every
//! `statistics.interval.ms` into the few numbers operators watch (queue sizes, broker
//! round-trip times, consumer lag). It owns that parsing only; it keeps no topic names,
//! broker addresses or anything else from the document beyond numbers and node ids.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What one client handle last reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientStats {
    /// The handle's role (label value).
    pub client: &'static str,
    /// Operations waiting in the reply queue to be served by poll.
    pub replyq: i64,
    /// Messages in the producer queues.
    pub msg_cnt: i64,
    /// Bytes of messages in the producer queues.
    pub msg_size: i64,
    /// Average round-trip time per broker node id, seconds (brokers with samples only).
    pub rtt: BTreeMap<i32, f64>,
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    replyq: i64,
    #[serde(default)]
    msg_cnt: i64,
    #[serde(default)]
    msg_size: i64,
    #[serde(default)]
    brokers: BTreeMap<String, Broker>,
    #[serde(default)]
    topics: BTreeMap<String, Topic>,
}

#[derive(Deserialize)]
struct Broker {
    #[serde(default = "minus_one")]
    nodeid: i32,
    #[serde(default)]
    rtt: Option<Window>,
}

#[derive(Deserialize)]
struct Window {
    #[serde(default)]
    avg: i64,
    #[serde(default)]
    cnt: i64,
}

#[derive(Deserialize)]
struct Topic {
    #[serde(default)]
    partitions: BTreeMap<String, Partition>,
}

#[derive(Deserialize)]
struct Partition {
    #[serde(default = "minus_one")]
    partition: i32,
    #[serde(default = "minus_one_i64")]
    consumer_lag: i64,
    #[serde(default = "minus_one_i64")]
    consumer_lag_stored: i64,
    #[serde(default)]
    desired: bool,
}

fn minus_one() -> i32 {
    -1
}

fn minus_one_i64() -> i64 {
    -1
}

/// A handle's name, its numbers, and `(partition, lag)` pairs.
pub(crate) type Parsed = (String, ClientStats, Vec<(i32, i64)>);

/// The handle's name (map key: distinct per handle, so several instances add up), its
/// numbers, and the consumer lag of every partition it consumes (`(partition, lag)`).
pub(crate) fn parse(client: &'static str, raw: &[u8]) -> Option<Parsed> {
    let doc: Doc = serde_json::from_slice(raw).ok()?;
    let rtt = doc
        .brokers
        .values()
        .filter(|b| b.nodeid >= 0)
        .filter_map(|b| {
            let w = b.rtt.as_ref()?;
            (w.cnt > 0 || w.avg > 0).then_some((b.nodeid, w.avg as f64 / 1e6))
        })
        .collect();
    let mut lags = Vec::new();
    if doc.kind == "consumer" {
        for t in doc.topics.values() {
            for p in t.partitions.values() {
                let lag = if p.consumer_lag_stored >= 0 {
                    p.consumer_lag_stored
                } else {
                    p.consumer_lag
                };
                if p.partition >= 0 && p.desired && lag >= 0 {
                    lags.push((p.partition, lag));
                }
            }
        }
    }
    let stats = ClientStats {
        client,
        replyq: doc.replyq,
        msg_cnt: doc.msg_cnt,
        msg_size: doc.msg_size,
        rtt,
    };
    // The handle name is `client.id#type-N`; it only distinguishes handles, it is never
    // rendered.
    let name = format!("{client}/{}", doc.name);
    Some((name, stats, lags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_queue_sizes_rtt_and_lag() {
        let doc = br#"{"name":"rdkafka#consumer-1","type":"consumer","replyq":3,"msg_cnt":7,"msg_size":700,
            "brokers":{"127.0.0.1:9092/bootstrap":{"nodeid":-1,"rtt":{"avg":5,"cnt":1}},
                       "127.0.0.1:9092/1":{"nodeid":1,"rtt":{"avg":1500,"cnt":4}}},
            "topics":{"usage.raw":{"partitions":{"0":{"partition":0,"desired":true,"consumer_lag":10,"consumer_lag_stored":12},
                                                 "-1":{"partition":-1,"consumer_lag":-1},
                                                 "1":{"partition":1,"desired":false,"consumer_lag":3}}}}}"#;
        let (name, s, lags) = parse("consumer", doc).unwrap();
        assert_eq!(name, "consumer/rdkafka#consumer-1");
        assert_eq!((s.replyq, s.msg_cnt, s.msg_size), (3, 7, 700));
        assert_eq!(s.rtt, BTreeMap::from([(1, 0.0015)]));
        assert_eq!(lags, vec![(0, 12)]);
        assert!(parse("consumer", b"not json").is_none());
    }
}
