//! Unit tests of `geoip`, kept beside it in their own file so the module itself stays
//! small enough to read in one sitting.

use super::*;
use consent_enricher_testkit::mmdb_writer::{self, Value, Variant, Writer};
use std::net::Ipv4Addr;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// The fixture databases of `layout`, opened from their bytes.
pub(crate) fn fixture_dbs(layout: Layout, variant: Variant) -> Vec<GeoDb> {
    let layout = match layout {
        Layout::MaxMindCity => mmdb_writer::Layout::MaxMindCity,
        Layout::DbIpCityLite => mmdb_writer::Layout::DbIpCityLite,
    };
    mmdb_writer::fixture_databases(layout, variant)
        .into_iter()
        .map(|(name, bytes)| GeoDb::open(name, bytes).expect("fixture opens"))
        .collect()
}

fn fixture(layout: Layout) -> GeoIp {
    GeoIp::new(fixture_dbs(layout, Variant::A))
}

fn loc(g: &GeoIp, s: &str) -> Arc<IpLocation> {
    g.lookup(ip(s)).unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

#[test]
fn maxmind_layout_ipv4_ipv6_and_mapped() {
    let g = fixture(Layout::MaxMindCity);
    assert!(g.describe().contains("MaxMind City"), "{}", g.describe());
    assert!(
        g.describe().contains("built 2024-05-01"),
        "{}",
        g.describe()
    );

    let london = loc(&g, "81.2.69.142");
    assert_eq!(
        *london,
        IpLocation {
            country_code: Some("GB".into()),
            region: Some("England".into()),
            city: Some("London".into()),
            postal_code: Some("EC1A".into()),
            latitude: Some(51.5142),
            longitude: Some(-0.0931),
            accuracy_km: Some(10.0),
            time_zone: Some("Europe/London".into()),
        }
    );
    // IPv4-mapped IPv6 is the same address.
    assert_eq!(*loc(&g, "::ffff:81.2.69.1"), *london);
    // Narrower network inside a broader one.
    assert_eq!(loc(&g, "89.160.20.5").city.as_deref(), Some("Stockholm"));
    assert_eq!(loc(&g, "89.160.99.5").city.as_deref(), Some("Linköping"));
    assert_eq!(
        loc(&g, "216.160.83.60").region.as_deref(),
        Some("Washington")
    );
    // Country-only record: the rest stays None.
    let ph = loc(&g, "202.196.230.1");
    assert_eq!(
        (
            ph.country_code.as_deref(),
            ph.region.as_deref(),
            ph.city.as_deref(),
            ph.postal_code.as_deref()
        ),
        (Some("PH"), None, None, None)
    );
    // IPv6.
    let edi = loc(&g, "2a02:c7f:1234::1");
    assert_eq!(
        (edi.city.as_deref(), edi.postal_code.as_deref()),
        (Some("Edinburgh"), Some("EH1"))
    );
    assert_eq!(loc(&g, "2c0f:f000:1::1").time_zone, None);
    // Not in the database.
    assert_eq!(g.lookup(ip("8.8.8.8")), Err(GeoMiss::NotFound));
    assert_eq!(g.lookup(ip("2600::1")), Err(GeoMiss::NotFound));
}

#[test]
fn dbip_flat_layout_two_files() {
    let dbs = fixture_dbs(Layout::DbIpCityLite, Variant::A);
    assert_eq!(dbs.len(), 2);
    let g = GeoIp::new(dbs);
    let d = g.describe();
    assert!(
        d.contains("2 database(s)") && d.contains("DB-IP city lite"),
        "{d}"
    );

    let london = loc(&g, "81.2.69.142");
    assert_eq!(london.country_code.as_deref(), Some("GB"));
    assert_eq!(london.region.as_deref(), Some("England"));
    assert_eq!(london.city.as_deref(), Some("London"));
    assert_eq!(london.postal_code.as_deref(), Some("EC1A"));
    // Stored as 32-bit floats.
    assert!((london.latitude.unwrap() - 51.5142).abs() < 1e-4);
    assert!((london.longitude.unwrap() + 0.0931).abs() < 1e-4);
    assert_eq!(
        (london.accuracy_km, london.time_zone.as_deref()),
        (None, None)
    );
    assert_eq!(*loc(&g, "::ffff:81.2.69.142"), *london);
    // Empty strings are missing values.
    let ph = loc(&g, "202.196.224.9");
    assert_eq!(
        (
            ph.country_code.as_deref(),
            ph.city.as_deref(),
            ph.postal_code.as_deref()
        ),
        (Some("PH"), None, None)
    );
    // IPv6 goes to the IPv6 file.
    assert_eq!(loc(&g, "2001:218::9").city.as_deref(), Some("Tokyo"));
    assert_eq!(g.lookup(ip("1.1.1.1")), Err(GeoMiss::NotFound));
}

#[test]
fn not_public_addresses_are_never_looked_up() {
    let g = fixture(Layout::MaxMindCity);
    for a in [
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "127.0.0.1",
        "0.0.0.0",
        "169.254.1.1",
        "100.64.0.1",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "2001::1",
        "100::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "::1.2.3.4",
    ] {
        assert_eq!(g.lookup(ip(a)), Err(GeoMiss::NotPublic), "{a}");
    }
    for a in [
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "81.2.69.1",
        "2a00::1",
        "2001:4860::8888",
    ] {
        assert!(is_public(ip(a).to_canonical()), "{a}");
    }
}

#[test]
fn no_database() {
    let g = GeoIp::empty();
    assert_eq!(g.lookup(ip("81.2.69.142")), Err(GeoMiss::NoDatabase));
    assert_eq!(g.lookup(ip("10.0.0.1")), Err(GeoMiss::NoDatabase));
    assert_eq!(g.describe(), "geoip: no database");
    assert_eq!(
        GeoIp::new(Vec::new()).lookup(ip("1.2.3.4")),
        Err(GeoMiss::NoDatabase)
    );
    assert_eq!(GeoMiss::NoDatabase.code(), "no_database");
    assert_eq!(GeoMiss::NotPublic.code(), "not_public");
    assert_eq!(GeoMiss::NotFound.code(), "not_found");
}

#[test]
fn replace_swaps_in_new_content() {
    let g = GeoIp::new(fixture_dbs(Layout::MaxMindCity, Variant::A));
    let before = loc(&g, "81.2.69.142");
    assert_eq!(before.city.as_deref(), Some("London"));

    g.replace(fixture_dbs(Layout::MaxMindCity, Variant::B));
    assert_eq!(loc(&g, "81.2.69.142").city.as_deref(), Some("Manchester"));
    assert_eq!(loc(&g, "2a02:c7f::1").city.as_deref(), Some("Glasgow"));
    assert_eq!(loc(&g, "89.160.20.5").city.as_deref(), Some("Stockholm"));
    // The Arc handed out before the replacement is still valid and unchanged.
    assert_eq!(before.city.as_deref(), Some("London"));
}

#[test]
fn unknown_layout_is_refused_with_a_clear_error() {
    let err = GeoDb::open("GeoLite2-ASN.mmdb", mmdb_writer::asn_database())
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, GeoIpError::UnknownLayout { .. }), "{msg}");
    assert!(msg.contains("GeoLite2-ASN.mmdb"), "{msg}");
    assert!(msg.contains("\"GeoLite2-ASN\""), "{msg}");
    assert!(msg.contains("autonomous_system_number"), "{msg}");
}

#[test]
fn bad_files_are_refused() {
    let e = GeoDb::open("garbage.mmdb", b"hello".to_vec())
        .err()
        .unwrap();
    assert!(
        matches!(e, GeoIpError::Open { .. }) && e.to_string().contains("garbage.mmdb"),
        "{e}"
    );
    // Valid file, no records.
    let empty = Writer::new(6, 28, "GeoLite2-City", 0).to_bytes();
    assert!(matches!(
        GeoDb::open("empty.mmdb", empty),
        Err(GeoIpError::Empty { .. })
    ));
    // Right shape, wrong types: the probe decode fails at open.
    let mut w = Writer::new(4, 24, "GeoLite2-City", 0);
    w.insert(
        ip("81.2.69.0"),
        24,
        &Value::map([("country", Value::str("GB"))]),
    );
    assert!(matches!(
        GeoDb::open("wrong.mmdb", w.to_bytes()),
        Err(GeoIpError::Probe { .. })
    ));
}

#[test]
fn cache_is_bounded_and_shared_across_addresses() {
    let mut w = Writer::new(4, 32, "dbip-city-lite", 0);
    // 4096 networks, each with its own record.
    for i in 0..4096u32 {
        let net = Ipv4Addr::from(0x5000_0000 + (i << 8));
        w.insert(
            IpAddr::V4(net),
            24,
            &Value::map([
                ("country_code", Value::str("GB")),
                ("city", Value::Str(format!("c{i}"))),
            ]),
        );
    }
    let g = GeoIp::with_cache(vec![GeoDb::open("many.mmdb", w.to_bytes()).unwrap()], 256);
    for i in 0..4096u32 {
        let a = Ipv4Addr::from(0x5000_0000 + (i << 8) + 7);
        assert_eq!(
            g.lookup(IpAddr::V4(a)).unwrap().city.as_deref(),
            Some(format!("c{i}").as_str())
        );
    }
    let state = g.current();
    assert!(
        state.cache.len() <= 2 * 256 + SHARDS,
        "{}",
        state.cache.len()
    );
    // Two addresses in one network share one cached record.
    let a = g.lookup(ip("80.0.1.1")).unwrap();
    let b = g.lookup(ip("80.0.1.200")).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn country_codes_are_normalised() {
    assert_eq!(country(Some("gb")).as_deref(), Some("GB"));
    assert_eq!(country(Some(" SE ")).as_deref(), Some("SE"));
    for bad in ["", "GBR", "n/", "é", "1A", "G"] {
        assert_eq!(country(Some(bad)), None, "{bad:?}");
    }
    assert_eq!(country(None), None);
}

#[test]
fn layout_detection() {
    let d = |keys: &[&str]| detect_layout("x", keys.iter().copied());
    assert_eq!(
        d(&["city", "country", "location"]),
        Some(Layout::MaxMindCity)
    );
    assert_eq!(d(&["continent", "country"]), Some(Layout::MaxMindCity));
    assert_eq!(
        d(&["city", "country_code", "latitude", "state1"]),
        Some(Layout::DbIpCityLite)
    );
    assert_eq!(d(&["autonomous_system_number"]), None);
    assert_eq!(d(&[]), None);
    assert_eq!(d(&["country", "country_code"]), None);
}

#[test]
fn send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GeoIp>();
}
