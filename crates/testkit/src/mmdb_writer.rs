//! Test support: the geoip test fixtures, generated from the committed, readable source
//! `testdata/geoip-networks.json` (embedded at compile time) with the format writer of
//! `consent-enricher-mmdb-writer` (re-exported here, so tests name one module).
//!
//! It owns only fixture generation. It must not be used on the event path
//! (it lives in the `testkit` crate, which only tests, benches and examples depend on) and
//! it writes files only where a test asks it to. Being test support, it panics (a failed
//! test) on a malformed fixture source or misuse.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

pub use consent_enricher_mmdb_writer::{Value, Writer, encode};

/// The two record layouts the worker reads (the core's `enrich::Layout`, named again here
/// so that test support does not depend on the crate it tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// GeoIP2 / GeoLite2 City: nested `country`, `subdivisions`, `city`, `location`.
    MaxMindCity,
    /// DB-IP city lite: flat `country_code`, `state1`, `city`, `latitude`, `longitude`.
    DbIpCityLite,
}

/// The committed fixture source.
pub const FIXTURE_SOURCE: &str = include_str!("../../../testdata/geoip-networks.json");

/// Which dataset of the fixture source to write: `A`, or `B` = `A` with each
/// network's `"b"` overrides applied (to test reloading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    A,
    B,
}

fn parse_network(s: &str) -> (IpAddr, u8) {
    let (addr, len) = s.split_once('/').expect("network is addr/len");
    (
        addr.parse().expect("network address"),
        len.parse().expect("prefix length"),
    )
}

/// One network of the source, with the variant's overrides applied.
fn networks(variant: Variant) -> Vec<((IpAddr, u8), serde_json::Map<String, serde_json::Value>)> {
    let doc: serde_json::Value = serde_json::from_str(FIXTURE_SOURCE).expect("fixture JSON");
    doc["networks"]
        .as_array()
        .expect("networks array")
        .iter()
        .map(|n| {
            let mut fields = n.as_object().expect("network object").clone();
            let net = parse_network(fields["network"].as_str().expect("network string"));
            if let (Variant::B, Some(serde_json::Value::Object(b))) = (variant, fields.remove("b"))
            {
                fields.extend(b);
            }
            (net, fields)
        })
        .collect()
}

fn s<'a>(f: &'a serde_json::Map<String, serde_json::Value>, key: &str) -> Option<&'a str> {
    f.get(key).and_then(|v| v.as_str())
}

fn num(f: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<f64> {
    f.get(key).and_then(|v| v.as_f64())
}

fn names(en: &str) -> Value {
    Value::map([("en", Value::str(en)), ("de", Value::str("(de)"))])
}

/// A record in the GeoIP2/GeoLite2 City layout (nested, with extra fields a
/// real file has, so the decoder must ignore what it does not use).
fn maxmind_record(f: &serde_json::Map<String, serde_json::Value>) -> Value {
    let mut top: Vec<(String, Value)> = vec![(
        "continent".into(),
        Value::map([("code", Value::str("XX")), ("geoname_id", Value::U32(1))]),
    )];
    if let Some(cc) = s(f, "country_code") {
        top.push((
            "country".into(),
            Value::map([
                ("geoname_id", Value::U32(2)),
                ("iso_code", Value::str(cc)),
                ("names", names(cc)),
            ]),
        ));
        top.push((
            "registered_country".into(),
            Value::map([("iso_code", Value::str(cc))]),
        ));
    }
    if let Some(region) = s(f, "region") {
        let mut sub = vec![("names".to_string(), names(region))];
        if let Some(code) = s(f, "region_code") {
            sub.insert(0, ("iso_code".into(), Value::str(code)));
        }
        top.push(("subdivisions".into(), Value::Array(vec![Value::Map(sub)])));
    }
    if let Some(city) = s(f, "city") {
        top.push((
            "city".into(),
            Value::map([("geoname_id", Value::U32(3)), ("names", names(city))]),
        ));
    }
    let mut loc = Vec::new();
    if let Some(r) = num(f, "accuracy_km") {
        loc.push(("accuracy_radius".to_string(), Value::U16(r as u16)));
    }
    if let Some(lat) = num(f, "latitude") {
        loc.push(("latitude".into(), Value::Double(lat)));
    }
    if let Some(lon) = num(f, "longitude") {
        loc.push(("longitude".into(), Value::Double(lon)));
    }
    if let Some(tz) = s(f, "time_zone") {
        loc.push(("time_zone".into(), Value::str(tz)));
    }
    if !loc.is_empty() {
        top.push(("location".into(), Value::Map(loc)));
    }
    if let Some(pc) = s(f, "postal_code") {
        top.push(("postal".into(), Value::map([("code", Value::str(pc))])));
    }
    Value::Map(top)
}

/// A record in ip-location-db's flat DB-IP city-lite layout: every field is
/// present, missing strings are empty, coordinates are 32-bit floats and
/// `timezone` is always empty (as in the published files).
fn flat_record(f: &serde_json::Map<String, serde_json::Value>) -> Value {
    let text = |k: &str| Value::str(s(f, k).unwrap_or(""));
    Value::map([
        ("city", text("city")),
        ("country_code", text("country_code")),
        (
            "latitude",
            Value::Float(num(f, "latitude").unwrap_or(0.0) as f32),
        ),
        (
            "longitude",
            Value::Float(num(f, "longitude").unwrap_or(0.0) as f32),
        ),
        ("postcode", text("postal_code")),
        ("state1", text("region")),
        ("state2", Value::str("")),
        ("timezone", Value::str("")),
    ])
}

/// Writes the fixture database(s) for `layout` into `dir` and returns their
/// paths: one IPv6-tree file holding both families for MaxMind (as
/// GeoLite2-City ships), two files (IPv4, IPv6) for DB-IP as ip-location-db
/// ships them.
pub fn write_fixture(layout: Layout, dir: &Path) -> io::Result<Vec<PathBuf>> {
    write_fixture_variant(layout, Variant::A, dir)
}

/// [`write_fixture`] for a chosen dataset variant.
pub fn write_fixture_variant(
    layout: Layout,
    variant: Variant,
    dir: &Path,
) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for (name, bytes) in fixture_databases(layout, variant) {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        paths.push(path);
    }
    Ok(paths)
}

/// The fixture database(s) for `layout` as (file name, bytes), for code that takes
/// databases as bytes (the core) rather than files.
pub fn fixture_databases(layout: Layout, variant: Variant) -> Vec<(&'static str, Vec<u8>)> {
    // A fixed build date keeps the bytes reproducible.
    const EPOCH: u64 = 1_714_521_600; // 2024-05-01
    let nets = networks(variant);
    match layout {
        Layout::MaxMindCity => {
            let mut w = Writer::new(6, 28, "GeoLite2-City", EPOCH);
            for (net, fields) in &nets {
                w.insert(net.0, net.1, &maxmind_record(fields));
            }
            vec![("fixture-geolite2-city.mmdb", w.to_bytes())]
        }
        Layout::DbIpCityLite => {
            let mut v4 = Writer::new(4, 32, "dbip-city-lite-ipv4", EPOCH);
            let mut v6 = Writer::new(6, 24, "dbip-city-lite-ipv6", EPOCH);
            for (net, fields) in &nets {
                match net.0 {
                    IpAddr::V4(_) => v4.insert(net.0, net.1, &flat_record(fields)),
                    IpAddr::V6(_) => v6.insert(net.0, net.1, &flat_record(fields)),
                }
            }
            vec![
                ("fixture-dbip-city-ipv4.mmdb", v4.to_bytes()),
                ("fixture-dbip-city-ipv6.mmdb", v6.to_bytes()),
            ]
        }
    }
}

/// A database whose records have neither known layout (an ASN database).
pub fn write_asn_database(path: &Path) -> io::Result<()> {
    std::fs::write(path, asn_database())
}

/// [`write_asn_database`]'s bytes.
pub fn asn_database() -> Vec<u8> {
    let mut w = Writer::new(6, 28, "GeoLite2-ASN", 1_714_521_600);
    w.insert(
        IpAddr::V4(Ipv4Addr::new(81, 2, 69, 0)),
        24,
        &Value::map([
            ("autonomous_system_number", Value::U32(64_512)),
            (
                "autonomous_system_organization",
                Value::str("Example Networks"),
            ),
        ]),
    );
    w.insert(
        IpAddr::V6(Ipv6Addr::new(0x2a02, 0xc7f, 0, 0, 0, 0, 0, 0)),
        32,
        &Value::map([("autonomous_system_number", Value::U32(64_513))]),
    );
    w.to_bytes()
}
