//! A minimal MaxMind DB (`.mmdb`) writer: values in the format's data encoding, a search
//! tree of 24/28/32-bit records, the metadata map. It writes synthetic databases only —
//! the geoip test fixtures (`consent-enricher-testkit`) and the demo's database — and is
//! never on the event path, which only reads databases (`crates/core`, `maxminddb`).
//!
//! It owns the byte format and nothing about what a record means (the City and DB-IP
//! layouts are its callers' business). Existing crates were considered:
//! `maxminddb-writer` pulls in a second major of `thiserror`, `mmdb-writer` the `bon`
//! proc-macro stack; the subset of the format needed is a couple of hundred lines, so we
//! own it. Misuse (an IPv6 network in an IPv4 tree, a prefix length out of range, more data
//! than the record size can address) is a programming error of the caller and panics; each
//! such function says so under "Panics".
//!
//! Format summary (MaxMind DB spec v2.0): a binary search tree of
//! `node_count` nodes, each two records (left = bit 0, right = bit 1); a
//! record below `node_count` points at a node, equal to it means "no data",
//! above it points at `record - node_count - 16` in the data section.
//! Then 16 zero bytes, the data section, the marker `\xAB\xCD\xEFMaxMind.com`
//! and the metadata map.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;

/// A value in the MaxMind DB data format.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Double(f64),
    Float(f32),
    U16(u16),
    U32(u32),
    U64(u64),
    Bool(bool),
    Array(Vec<Value>),
    /// Ordered key/value pairs (order kept so output is deterministic).
    Map(Vec<(String, Value)>),
}

impl Value {
    pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

fn control(out: &mut Vec<u8>, type_num: u8, size: usize) {
    let (first_bits, ext): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65_536 {
        let s = size - 285;
        (30, vec![(s >> 8) as u8, s as u8])
    } else {
        let s = size - 65_821;
        (31, vec![(s >> 16) as u8, (s >> 8) as u8, s as u8])
    };
    if type_num <= 7 {
        out.push((type_num << 5) | first_bits);
    } else {
        // Extended types: type 0 in the control byte, then (type - 7).
        out.push(first_bits);
        out.push(type_num - 7);
    }
    out.extend_from_slice(&ext);
}

fn uint(out: &mut Vec<u8>, type_num: u8, v: u64, max_bytes: usize) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let payload = &bytes[skip.max(8 - max_bytes)..];
    control(out, type_num, payload.len());
    out.extend_from_slice(payload);
}

/// Serialises one value in the MaxMind DB data format.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            control(out, 3, 8);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::U16(v) => uint(out, 5, u64::from(*v), 2),
        Value::U32(v) => uint(out, 6, u64::from(*v), 4),
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(&Value::Str(k.clone()), out);
                encode(v, out);
            }
        }
        Value::U64(v) => uint(out, 9, *v, 8),
        Value::Array(items) => {
            control(out, 11, items.len());
            for v in items {
                encode(v, out);
            }
        }
        Value::Bool(b) => control(out, 14, usize::from(*b)),
        Value::Float(f) => {
            control(out, 15, 4);
            out.extend_from_slice(&f.to_be_bytes());
        }
    }
}

/// Builder for one database file.
pub struct Writer {
    ip_version: u16,
    record_size: u16,
    database_type: String,
    /// The metadata's English description.
    description: String,
    build_epoch: u64,
    /// Trie: each node has two children.
    nodes: Vec<[Child; 2]>,
    data: Vec<u8>,
    data_offsets: HashMap<Vec<u8>, usize>,
}

#[derive(Clone, Copy, Debug)]
enum Child {
    Empty,
    Node(usize),
    Data(usize),
}

impl Writer {
    /// `ip_version` 4 or 6; `record_size` 24, 28 or 32.
    ///
    /// # Panics
    ///
    /// On any other `ip_version` or `record_size`.
    pub fn new(ip_version: u16, record_size: u16, database_type: &str, build_epoch: u64) -> Self {
        assert!(
            ip_version == 4 || ip_version == 6,
            "ip_version must be 4 or 6"
        );
        assert!(
            matches!(record_size, 24 | 28 | 32),
            "record_size must be 24, 28 or 32"
        );
        Writer {
            ip_version,
            record_size,
            database_type: database_type.to_string(),
            description: "consent-enricher test fixture".to_string(),
            build_epoch,
            nodes: vec![[Child::Empty; 2]],
            data: Vec::new(),
            data_offsets: HashMap::new(),
        }
    }

    /// Replaces the metadata's description (default: "consent-enricher test fixture").
    pub fn with_description(mut self, en: &str) -> Self {
        self.description = en.to_string();
        self
    }

    /// Inserts `addr/prefix_len`. IPv4 networks in an IPv6 tree go under
    /// `::/96`, where readers look them up. Later inserts of the same or a
    /// covering prefix overwrite earlier ones; insert from broad to narrow.
    ///
    /// # Panics
    ///
    /// On an IPv6 network in an IPv4 tree, or a prefix length of 0 or beyond the
    /// address.
    pub fn insert(&mut self, addr: IpAddr, prefix_len: u8, value: &Value) {
        let (bits, len): (u128, u32) = match (addr, self.ip_version) {
            (IpAddr::V4(v4), 4) => (u128::from(u32::from(v4)) << 96, u32::from(prefix_len)),
            (IpAddr::V4(v4), _) => (u128::from(u32::from(v4)), 96 + u32::from(prefix_len)),
            (IpAddr::V6(v6), 6) => (u128::from(v6), u32::from(prefix_len)),
            (IpAddr::V6(_), _) => panic!("cannot insert an IPv6 network into an IPv4 tree"),
        };
        let depth_max = if self.ip_version == 4 { 32 } else { 128 };
        assert!(len >= 1 && len <= depth_max, "prefix length out of range");
        // In an IPv4 tree the address sits in the top 32 bits of `bits`.
        let bit_at = |i: u32| ((bits >> (127 - i)) & 1) as usize;

        let mut encoded = Vec::new();
        encode(value, &mut encoded);
        let next = self.data.len();
        let offset = *self.data_offsets.entry(encoded.clone()).or_insert(next);
        if offset == next {
            self.data.extend_from_slice(&encoded);
        }

        let mut node = 0usize;
        for i in 0..len - 1 {
            let b = bit_at(i);
            node = match self.nodes[node][b] {
                Child::Node(n) => n,
                other => {
                    // Push the existing data (if any) down both branches so
                    // the rest of the covering network keeps its value.
                    let n = self.nodes.len();
                    self.nodes.push([other; 2]);
                    self.nodes[node][b] = Child::Node(n);
                    n
                }
            };
        }
        self.nodes[node][bit_at(len - 1)] = Child::Data(offset);
    }

    /// The complete file.
    ///
    /// # Panics
    ///
    /// When the tree and data outgrow what `record_size` bits can address.
    pub fn to_bytes(&self) -> Vec<u8> {
        let node_count = self.nodes.len();
        let record_value = |c: Child| -> u64 {
            match c {
                Child::Empty => node_count as u64,
                Child::Node(n) => n as u64,
                Child::Data(off) => (node_count + 16 + off) as u64,
            }
        };
        let max_record = node_count as u64 + 16 + self.data.len() as u64;
        assert!(
            max_record < (1u64 << self.record_size),
            "database too large for {}-bit records",
            self.record_size
        );
        let mut out = Vec::new();
        for [l, r] in &self.nodes {
            let (l, r) = (record_value(*l), record_value(*r));
            match self.record_size {
                24 => {
                    out.extend_from_slice(&l.to_be_bytes()[5..]);
                    out.extend_from_slice(&r.to_be_bytes()[5..]);
                }
                28 => {
                    // [left low 24][left high 4 | right high 4][right low 24]
                    out.extend_from_slice(&l.to_be_bytes()[5..]);
                    out.push((((l >> 24) & 0x0f) << 4) as u8 | ((r >> 24) & 0x0f) as u8);
                    out.extend_from_slice(&r.to_be_bytes()[5..]);
                }
                _ => {
                    out.extend_from_slice(&l.to_be_bytes()[4..]);
                    out.extend_from_slice(&r.to_be_bytes()[4..]);
                }
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = Value::map([
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(self.build_epoch)),
            ("database_type", Value::Str(self.database_type.clone())),
            (
                "description",
                Value::map([("en", Value::str(&self.description))]),
            ),
            ("ip_version", Value::U16(self.ip_version)),
            ("languages", Value::Array(vec![Value::str("en")])),
            ("node_count", Value::U32(node_count as u32)),
            ("record_size", Value::U16(self.record_size)),
        ]);
        encode(&metadata, &mut out);
        out
    }

    /// Writes [`Writer::to_bytes`] to `path`.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_follow_the_spec() {
        let mut out = Vec::new();
        encode(&Value::str("hi"), &mut out);
        assert_eq!(out, [0x42, b'h', b'i']);
        out.clear();
        encode(&Value::U16(0), &mut out);
        assert_eq!(out, [0xa0]);
        out.clear();
        encode(&Value::U32(0x0102), &mut out);
        assert_eq!(out, [0xc2, 0x01, 0x02]);
        out.clear();
        encode(&Value::Bool(true), &mut out);
        assert_eq!(out, [0x01, 0x07]);
        out.clear();
        encode(&Value::Str("x".repeat(300)), &mut out);
        assert_eq!(&out[..3], &[0x5e, 0x00, 0x0f]); // 285 + 0x000f = 300
    }

    #[test]
    fn round_trips_through_maxminddb_for_every_record_size() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Rec {
            name: String,
            n: u32,
            f: f32,
            d: f64,
            big: u64,
            ok: bool,
            list: Vec<u16>,
        }
        let value = Value::map([
            ("name", Value::str("x")),
            ("n", Value::U32(70_000)),
            ("f", Value::Float(1.5)),
            ("d", Value::Double(-2.25)),
            ("big", Value::U64(1 << 40)),
            ("ok", Value::Bool(true)),
            ("list", Value::Array(vec![Value::U16(1), Value::U16(300)])),
        ]);
        for (ipv, rs) in [(4, 24), (4, 28), (4, 32), (6, 24), (6, 28), (6, 32)] {
            let mut w = Writer::new(ipv, rs, "Test", 0);
            w.insert("10.0.0.0".parse().unwrap(), 8, &value);
            w.insert(
                "10.1.0.0".parse().unwrap(),
                16,
                &Value::map([("name", Value::str("inner"))]),
            );
            let r = maxminddb::Reader::from_source(w.to_bytes()).expect("valid database");
            assert_eq!(r.metadata().record_size, rs);
            let got: Rec = r
                .lookup("10.200.3.4".parse().unwrap())
                .unwrap()
                .decode()
                .unwrap()
                .expect("record");
            assert_eq!(got.name, "x");
            assert_eq!(
                (got.n, got.f, got.d, got.big, got.ok),
                (70_000, 1.5, -2.25, 1 << 40, true)
            );
            assert_eq!(got.list, vec![1, 300]);
            let inner = r.lookup("10.1.9.9".parse().unwrap()).unwrap();
            assert!(inner.has_data());
            let none = r.lookup("11.0.0.1".parse().unwrap()).unwrap();
            assert!(!none.has_data());
            r.verify().expect("passes the reader's own verifier");
        }
    }
}
