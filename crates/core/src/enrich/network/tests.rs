//! Unit tests of `network`, over the fixture files in `testdata/` (the same ones the
//! integration tests cross-check against Python's own CSV and address readers).

use super::*;

const V4: &[u8] = include_bytes!("../../../../../testdata/network-asn.csv");
const V6: &[u8] = include_bytes!("../../../../../testdata/network-asn-ipv6.csv");

fn fixture() -> Networks {
    Networks::new(vec![
        NetworkFile::parse("network-asn.csv", V4).unwrap(),
        NetworkFile::parse("network-asn-ipv6.csv", V6).unwrap(),
    ])
}

fn asn(n: &Networks, ip: &str) -> Result<(u32, Option<String>), GeoMiss> {
    let found = n.lookup(ip.parse().unwrap())?;
    Ok((found.asn, found.organization.as_deref().map(str::to_owned)))
}

fn row_error(csv: &str) -> String {
    NetworkFile::parse("bad.csv", csv.as_bytes())
        .unwrap_err()
        .to_string()
}

#[test]
fn ranges_are_inclusive_in_both_families_and_mapped_addresses_are_ipv4() {
    let n = fixture();
    let comcast = Ok((7922, Some("Comcast Cable Communications, LLC".to_string())));
    assert_eq!(asn(&n, "73.0.0.0"), comcast);
    assert_eq!(asn(&n, "73.255.255.255"), comcast);
    assert_eq!(asn(&n, "::ffff:73.1.2.3"), comcast);
    assert_eq!(asn(&n, "74.0.0.0"), Err(GeoMiss::NotFound));
    assert_eq!(asn(&n, "72.255.255.255"), Err(GeoMiss::NotFound));
    assert_eq!(
        asn(&n, "2a02:8100::1"),
        Ok((3209, Some("Vodafone GmbH".into())))
    );
    assert_eq!(
        asn(&n, "2a02:810f:ffff:ffff:ffff:ffff:ffff:ffff"),
        Ok((3209, Some("Vodafone GmbH".into())))
    );
    assert_eq!(asn(&n, "2a02:8110::"), Err(GeoMiss::NotFound));
}

#[test]
fn quoted_names_keep_their_commas_and_quotes() {
    let n = fixture();
    assert_eq!(
        asn(&n, "1.0.0.7"),
        Ok((13335, Some("Cloudflare, Inc.".into())))
    );
    assert_eq!(
        asn(&n, "198.51.100.1").map(|(_, o)| o),
        Err(GeoMiss::NotPublic),
        "documentation space is never looked up"
    );
    let quoted = NetworkFile::parse(
        "q.csv",
        b"5.0.0.0,5.0.0.255,64501,\"Jane Q. \"\"Doe\"\" Consulting\"\n",
    )
    .unwrap();
    let n = Networks::new(vec![quoted]);
    assert_eq!(
        asn(&n, "5.0.0.1"),
        Ok((64501, Some("Jane Q. \"Doe\" Consulting".into())))
    );
}

#[test]
fn addresses_that_are_not_public_are_never_looked_up() {
    let n = fixture();
    for ip in [
        "10.1.2.3",
        "127.0.0.1",
        "192.0.2.1",
        "2001:db8::1",
        "::1",
        "fe80::1",
    ] {
        assert_eq!(asn(&n, ip), Err(GeoMiss::NotPublic), "{ip}");
    }
    assert_eq!(
        asn(&Networks::empty(), "73.1.2.3"),
        Err(GeoMiss::NoDatabase)
    );
    assert!(!Networks::empty().is_configured());
    assert!(n.is_configured());
}

#[test]
fn the_narrower_later_range_wins_and_as_zero_is_not_a_network() {
    let n = fixture();
    assert_eq!(asn(&n, "212.47.224.1").map(|a| a.0), Ok(12876));
    assert_eq!(asn(&n, "212.47.230.9").map(|a| a.0), Ok(64499));
    assert_eq!(asn(&n, "212.47.231.255").map(|a| a.0), Ok(64499));
    // The containing range's tail after the nested one is not guessed.
    assert_eq!(asn(&n, "212.47.232.1"), Err(GeoMiss::NotFound));
    assert_eq!(asn(&n, "216.160.83.5"), Err(GeoMiss::NotFound));
}

#[test]
fn sizes_count_the_ipv4_addresses_of_each_system_across_files() {
    let n = fixture();
    let size = |ip: &str| n.lookup(ip.parse().unwrap()).unwrap().ipv4_addresses;
    assert_eq!(size("73.1.1.1"), 1 << 24);
    assert_eq!(size("203.0.114.9"), 256);
    // Google holds IPv6 only in the fixture.
    assert_eq!(size("2001:4860::8888"), 0);
    // Two files naming the same AS add up.
    let a = NetworkFile::parse("a", b"5.0.0.0,5.0.0.255,64501,X\n").unwrap();
    let b = NetworkFile::parse("b", b"6.0.0.0,6.0.1.255,64501,Y\n").unwrap();
    let n = Networks::new(vec![a, b]);
    let found = n.lookup("6.0.1.1".parse().unwrap()).unwrap();
    assert_eq!(found.ipv4_addresses, 768);
    assert_eq!(
        found.organization.as_deref(),
        Some("X"),
        "the first name wins"
    );
    // A file given twice, or a range listed twice, is counted once.
    let twice = || {
        let csv =
            b"5.0.0.0,5.0.0.255,64501,X\n5.0.0.0,5.0.0.255,64501,X\n5.0.0.128,5.0.1.127,64501,X\n";
        NetworkFile::parse("t", csv).unwrap()
    };
    let n = Networks::new(vec![twice(), twice()]);
    assert_eq!(
        n.lookup("5.0.0.1".parse().unwrap()).unwrap().ipv4_addresses,
        384
    );
}

#[test]
fn of_ranges_starting_together_the_narrowest_wins() {
    let f = NetworkFile::parse(
        "nested.csv",
        b"7.0.0.0,7.0.0.255,64502,Inner\n7.0.0.0,7.0.255.255,64501,Outer\n",
    )
    .unwrap();
    let n = Networks::new(vec![f]);
    assert_eq!(asn(&n, "7.0.0.9").map(|a| a.0), Ok(64502));
    // The outer range's tail is not guessed (the rule the README states).
    assert_eq!(asn(&n, "7.0.1.9"), Err(GeoMiss::NotFound));
}

#[test]
fn bad_rows_are_refused_naming_file_and_line_but_not_the_row() {
    let e = row_error("1.0.0.0,1.0.0.255,13335,Ok\n1.0.1.0,1.0.1.255\n");
    assert!(e.contains("bad.csv, line 2: fewer than four fields"), "{e}");
    let e = row_error("16777216,16777471,13335,Secret Org\n");
    assert!(
        e.contains("line 1: a range end is not an IP address"),
        "{e}"
    );
    assert!(e.contains("-num"), "{e}");
    assert!(!e.contains("Secret Org"), "{e}");
    assert!(row_error("1.0.0.9,1.0.0.1,1,X\n").contains("ends before it starts"));
    assert!(row_error("1.0.0.0,::1,1,X\n").contains("mixes IPv4 and IPv6"));
    assert!(row_error("1.0.0.0,1.0.0.1,AS13335,X\n").contains("not a u32"));
    assert!(row_error("1.0.0.0,1.0.0.1,1,\"X\n").contains("unterminated"));
    assert!(row_error("1.0.0.0,1.0.0.1,1,X\"Y\n").contains("unquoted"));
    assert!(row_error("").contains("holds no ranges"));
    assert!(row_error("ip_range_start,ip_range_end,a,b\n\n").contains("holds no ranges"));
    let e = NetworkFile::parse("bin.csv", &[0xff, 0xfe, 0]).unwrap_err();
    assert!(e.to_string().contains("bin.csv: not UTF-8"), "{e}");
}

#[test]
fn over_long_names_are_dropped_and_crlf_and_bom_are_read() {
    let long = "x".repeat(MAX_ORGANIZATION + 1);
    let csv = format!("\u{feff}5.0.0.0,5.0.0.255,64501,{long}\r\n6.0.0.0,6.0.0.255,64502,Y\r\n");
    let n = Networks::new(vec![
        NetworkFile::parse("crlf.csv", csv.as_bytes()).unwrap(),
    ]);
    assert_eq!(asn(&n, "5.0.0.1"), Ok((64501, None)));
    assert_eq!(asn(&n, "6.0.0.1"), Ok((64502, Some("Y".into()))));
}

#[test]
fn replacing_swaps_the_table_and_describe_names_files_not_addresses() {
    let n = fixture();
    let d = n.describe();
    assert!(d.contains("network-asn.csv [12 ranges]"), "{d}");
    assert!(d.contains("network-asn-ipv6.csv [4 ranges]"), "{d}");
    assert!(!d.contains("73.0.0.0"), "{d}");
    n.replace(vec![
        NetworkFile::parse("b.csv", b"73.0.0.0,73.0.0.255,64501,B\n").unwrap(),
    ]);
    assert_eq!(asn(&n, "73.0.0.1"), Ok((64501, Some("B".into()))));
    assert_eq!(asn(&n, "73.1.0.1"), Err(GeoMiss::NotFound));
    assert_eq!(Networks::empty().describe(), "network: no database");
}
