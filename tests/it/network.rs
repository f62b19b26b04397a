//! The network (AS and organisation) and visit fields through the `process` binary:
//! `--network` files and the policy's precision, size floor and visits from the
//! environment. Every lookup is cross-checked against an independent reader of the same
//! files — Python's `csv`, `ipaddress` and `bisect`, not our parser or table — over a
//! generated database with quoted names, overlaps and nested ranges, and over the
//! `testdata` fixture; visits are checked to link one session's day and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use consent_enricher::enrich::geoip::is_public;
use serde_json::{Value, json};

use crate::support;

const BIN: &str = env!("CARGO_BIN_EXE_consent-enricher");
/// The size floor the run uses: the generated systems fall on both sides of it.
const MIN_ADDRESSES: u64 = 4096;

/// The independent reader: the AS of each address (`[asn, organization, ipv4 size]`, or
/// null), by the same rule the README states — the range with the greatest start at or
/// below the address (the narrowest of those starting there), if it holds it; the first
/// name given to an AS; sizes as the union of its IPv4 ranges.
const PYTHON_READER: &str = r#"
import bisect, csv, ipaddress, json, sys
files, addresses = sys.argv[1:-1], json.load(open(sys.argv[-1]))
ranges = {4: [], 6: []}
names, sizes = {}, {}
for f in files:
    for row in csv.reader(open(f, newline="", encoding="utf-8-sig")):
        if not row or row[0] == "ip_range_start":
            continue
        a, b, asn = ipaddress.ip_address(row[0]), ipaddress.ip_address(row[1]), int(row[2])
        if asn == 0:
            continue
        org = row[3].strip()
        names.setdefault(asn, org if 0 < len(org) <= 256 else None)
        if names[asn] is None and 0 < len(org) <= 256:
            names[asn] = org
        ranges[a.version].append((int(a), int(b), asn))
for v in ranges:
    # Of ranges starting together the narrowest last; identical ones by AS number.
    ranges[v].sort(key=lambda r: (r[0], -r[1], r[2]))
# Sizes: the union of each system's IPv4 ranges.
reach = {}
for a, b, asn in ranges[4]:
    lo = a if asn not in reach or reach[asn] < a else reach[asn] + 1
    if lo <= b:
        sizes[asn] = sizes.get(asn, 0) + b - lo + 1
        reach[asn] = b
starts = {v: [r[0] for r in ranges[v]] for v in ranges}
out = []
for text in addresses:
    ip = ipaddress.ip_address(text)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    i = bisect.bisect_right(starts[ip.version], int(ip)) - 1
    if i >= 0 and int(ip) <= ranges[ip.version][i][1]:
        asn = ranges[ip.version][i][2]
        out.append([asn, names[asn], sizes.get(asn, 0)])
    else:
        out.append(None)
json.dump(out, sys.stdout)
"#;

/// A small deterministic generator (splitmix64), so the database is the same every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Names with what CSV must quote: commas, quotes, spaces.
fn name_of(asn: u32) -> String {
    match asn % 4 {
        0 => format!("Net {asn} GmbH"),
        1 => format!("\"Carrier {asn}, Inc.\""),
        2 => format!("\"The \"\"{asn}\"\" Cooperative\""),
        _ => format!("Tiny{asn}"),
    }
}

/// Writes a generated IPv4 file and IPv6 file: ranges of /16 to /28 in increasing order,
/// a few of them overlapping or nested in the one before (as the real release has).
fn write_generated(dir: &Path) -> [PathBuf; 2] {
    let mut r = Mix(20_261_203);
    let mut v4 = String::from(
        "ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization\n",
    );
    let mut at: u32 = 0x0500_0000;
    for _ in 0..1500 {
        at = at.saturating_add((r.next() % (1 << 20)) as u32 + 1);
        let size: u32 = 1 << (4 + r.next() % 13);
        let asn = 64_512 + (r.next() % 300) as u32;
        let start = if r.next().is_multiple_of(40) {
            at.saturating_sub(size / 2)
        } else {
            at
        };
        let end = start.saturating_add(size - 1);
        let _ = writeln!(
            v4,
            "{},{},{asn},{}",
            Ipv4Addr::from(start),
            Ipv4Addr::from(end),
            name_of(asn)
        );
        at = end.saturating_add(1);
    }
    let mut v6 = String::new();
    let mut at: u128 = 0x2a00 << 112;
    for _ in 0..300 {
        at += u128::from(r.next() >> 40) << 64;
        let size: u128 = 1 << (64 + r.next() % 32);
        let asn = 64_512 + (r.next() % 300) as u32;
        let _ = writeln!(
            v6,
            "{},{},{asn},{}",
            Ipv6Addr::from(at),
            Ipv6Addr::from(at + size - 1),
            name_of(asn)
        );
        at += size;
    }
    let paths = [dir.join("gen-asn-ipv4.csv"), dir.join("gen-asn-ipv6.csv")];
    std::fs::write(&paths[0], v4).unwrap();
    std::fs::write(&paths[1], v6).unwrap();
    paths
}

/// Addresses at, around and between the files' range ends, and a random spread; public
/// ones only (the rest are never looked up, as `geoip`'s own tests cover).
fn addresses(files: &[PathBuf]) -> Vec<IpAddr> {
    let mut r = Mix(7);
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        // Every line of the small files; an even spread of 20,000 of the real ones.
        let step = (text.lines().count() / 20_000).max(1);
        for line in text.lines().step_by(step) {
            for field in line.split(',').take(2) {
                match field.parse::<IpAddr>() {
                    Ok(IpAddr::V4(a)) => {
                        let n = u32::from(a);
                        for d in [n.wrapping_sub(1), n, n.wrapping_add(1)] {
                            out.insert(IpAddr::V4(Ipv4Addr::from(d)));
                        }
                    }
                    Ok(IpAddr::V6(a)) => {
                        let n = u128::from(a);
                        for d in [n.wrapping_sub(1), n, n.wrapping_add(1)] {
                            out.insert(IpAddr::V6(Ipv6Addr::from(d)));
                        }
                    }
                    Err(_) => {}
                }
            }
        }
    }
    for _ in 0..2000 {
        out.insert(IpAddr::V4(Ipv4Addr::from(r.next() as u32)));
    }
    out.insert("::ffff:73.1.2.3".parse().unwrap());
    out.into_iter()
        .filter(|ip| is_public(ip.to_canonical()))
        .collect()
}

/// What the independent reader says of each address.
fn python_reader(files: &[PathBuf], ips: &[IpAddr], dir: &Path) -> Vec<Value> {
    let list = dir.join("addresses.json");
    let texts: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    std::fs::write(&list, serde_json::to_vec(&texts).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_READER)
        .args(files)
        .arg(&list)
        .output()
        .expect("python3 runs (CI installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// Runs `process` over one event per address (user u1, consented; the session changes
/// every 50 events and the day every 25, so visits are split both ways) and returns the
/// output lines.
fn process(files: &[PathBuf], ips: &[IpAddr], dir: &Path) -> Vec<Value> {
    let events: String = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let day = 10 + (i / 25) % 2;
            json!({"event_id": format!("e{i}"), "event_type": "view",
                "occurred_at": format!("2026-11-{day}T12:00:00Z"), "user_id": "u1",
                "session_id": format!("s{}", i / 50), "ip": ip.to_string()})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(dir.join("events.jsonl"), events).unwrap();
    let consent = json!({"user_id": "u1", "updated_at": "2026-11-01T00:00:00Z",
        "policy_version": "v1", "purposes": {"analytics": true}});
    std::fs::write(dir.join("consents.jsonl"), format!("{consent}\n")).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("process")
        .arg("--input")
        .arg(dir.join("events.jsonl"))
        .arg("--consents")
        .arg(dir.join("consents.jsonl"));
    for f in files {
        cmd.arg("--network").arg(f);
    }
    let out = cmd
        .env("CONSENT_ENRICHER_PSEUDONYM_KEY", support::KEY)
        .env(
            "CONSENT_ENRICHER__POLICY__NETWORK_PRECISION",
            "organization",
        )
        .env(
            "CONSENT_ENRICHER__POLICY__NETWORK_MIN_IPV4_ADDRESSES",
            MIN_ADDRESSES.to_string(),
        )
        .env("CONSENT_ENRICHER__POLICY__ANONYMOUS_VISITS", "daily")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("consent-enricher-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Checks every record's `network` against the reader, and the visits' linkage.
fn check(files: &[PathBuf], dir: &Path) -> (usize, usize) {
    let ips = addresses(files);
    let expected = python_reader(files, &ips, dir);
    let lines = process(files, &ips, dir);
    let of = |topic: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["topic"] == topic)
            .map(|l| &l["value"])
            .collect()
    };
    let (anonymous, personal) = (of("usage.anonymous"), of("usage.personal"));
    assert_eq!(anonymous.len(), ips.len());
    assert_eq!(personal.len(), ips.len());
    let schemas = support::Schemas::get();
    let mut found = 0;
    let mut shown = 0;
    for (i, want) in expected.iter().enumerate() {
        let (a, p) = (anonymous[i], personal[i]);
        schemas.check("anonymous-event.schema.json", a);
        schemas.check("personal-event.schema.json", p);
        let ip = ips[i];
        if want.is_null() {
            assert_eq!(p.get("network"), Some(&Value::Null), "{ip}");
            assert_eq!(a.get("network"), Some(&Value::Null), "{ip}");
            continue;
        }
        found += 1;
        let (asn, org, size) = (&want[0], &want[1], want[2].as_u64().unwrap());
        assert_eq!(
            p["network"],
            json!({"asn": asn, "organization": org}),
            "{ip}"
        );
        if size >= MIN_ADDRESSES {
            shown += 1;
            let mut anon = json!({"asn": asn});
            if !org.is_null() {
                anon["organization"] = org.clone();
            }
            assert_eq!(a["network"], anon, "{ip}");
        } else {
            assert_eq!(
                a.get("network"),
                Some(&Value::Null),
                "{ip}: {size} addresses"
            );
        }
    }
    // Visits: equal exactly when session and day are.
    let mut visits: BTreeMap<&str, BTreeSet<(usize, usize)>> = BTreeMap::new();
    for (i, a) in anonymous.iter().enumerate() {
        let v = a["visit"].as_str().expect("every event has a session");
        visits.entry(v).or_default().insert((i / 50, (i / 25) % 2));
    }
    assert!(
        visits.values().all(|keys| keys.len() == 1),
        "a visit spans sessions or days"
    );
    let keys: BTreeSet<_> = visits.values().flatten().collect();
    assert_eq!(keys.len(), visits.len(), "one visit per session and day");
    for p in &personal {
        assert!(p.get("visit").is_none(), "the personal record has no visit");
    }
    (found, shown)
}

#[test]
fn process_names_networks_as_an_independent_reader_of_the_files_does() {
    let dir = temp_dir("network-generated");
    let files = write_generated(&dir);
    let (found, shown) = check(&files, &dir);
    // The generated database is built to put addresses on every side of each rule.
    assert!(found > 3000, "{found} addresses found");
    assert!(
        shown > 500 && shown < found,
        "{shown} of {found} shown anonymously"
    );
}

#[test]
fn process_reads_the_fixture_files_as_the_independent_reader_does() {
    let dir = temp_dir("network-fixture");
    let testdata = support::root().join("testdata");
    let files = [
        testdata.join("network-asn.csv"),
        testdata.join("network-asn-ipv6.csv"),
    ];
    let (found, shown) = check(&files, &dir);
    assert!(found > 20 && shown > 10, "{found} found, {shown} shown");
}

/// The real ip-location-db files (`scripts/fetch-geoip asn`) read as Python reads them.
#[test]
#[ignore = "needs the files from scripts/fetch-geoip asn (~30 MB download)"]
fn real_ip_location_db_files_agree_with_the_independent_reader() {
    let data = support::root().join("data/network");
    let files = [data.join("asn-ipv4.csv"), data.join("asn-ipv6.csv")];
    for f in &files {
        assert!(f.exists(), "{} (run scripts/fetch-geoip asn)", f.display());
    }
    let dir = temp_dir("network-real");
    let (found, shown) = check(&files, &dir);
    eprintln!("real files: {found} addresses found, {shown} shown anonymously");
}
