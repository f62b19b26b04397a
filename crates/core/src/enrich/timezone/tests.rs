//! Unit tests of `timezone`, kept beside it in their own file so the module itself stays
//! small enough to read in one sitting.

use super::*;

fn finder() -> std::sync::Arc<ZoneFinder> {
    test_zones()
}

#[test]
fn builds_and_knows_every_zone() {
    let f = ZoneFinder::try_new().expect("finder builds");
    let names = f.finder.timezonenames();
    let unknown: Vec<_> = names
        .iter()
        .zip(&f.zones)
        .filter(|(_, z)| z.is_none())
        .map(|(n, _)| *n)
        .collect();
    assert!(
        unknown.is_empty(),
        "zones unknown to chrono-tz: {unknown:?}"
    );
    assert_eq!(f.nautical.len(), 25);
    assert!(!f.data_version().is_empty());
}

#[test]
fn known_points() {
    // (lat, lon, zone, what it checks)
    let cases: &[(f64, f64, &str, &str)] = &[
        // Capitals and large cities.
        (51.5074, -0.1278, "Europe/London", "London"),
        (48.8566, 2.3522, "Europe/Paris", "Paris"),
        (52.5200, 13.4050, "Europe/Berlin", "Berlin"),
        (40.4168, -3.7038, "Europe/Madrid", "Madrid"),
        (38.7223, -9.1393, "Europe/Lisbon", "Lisbon"),
        (41.9028, 12.4964, "Europe/Rome", "Rome"),
        (55.7558, 37.6173, "Europe/Moscow", "Moscow"),
        (59.3293, 18.0686, "Europe/Stockholm", "Stockholm"),
        (50.4501, 30.5234, "Europe/Kyiv", "Kyiv"),
        (41.0082, 28.9784, "Europe/Istanbul", "Istanbul"),
        (53.3498, -6.2603, "Europe/Dublin", "Dublin"),
        (64.1466, -21.9426, "Atlantic/Reykjavik", "Reykjavik"),
        (30.0444, 31.2357, "Africa/Cairo", "Cairo"),
        (6.5244, 3.3792, "Africa/Lagos", "Lagos"),
        (-1.2921, 36.8219, "Africa/Nairobi", "Nairobi"),
        (-33.9249, 18.4241, "Africa/Johannesburg", "Cape Town"),
        (33.5731, -7.5898, "Africa/Casablanca", "Casablanca"),
        (25.2048, 55.2708, "Asia/Dubai", "Dubai"),
        (35.6892, 51.3890, "Asia/Tehran", "Tehran +3:30"),
        (28.6139, 77.2090, "Asia/Kolkata", "New Delhi +5:30"),
        (19.0760, 72.8777, "Asia/Kolkata", "Mumbai +5:30"),
        (27.7172, 85.3240, "Asia/Kathmandu", "Kathmandu +5:45"),
        (23.8103, 90.4125, "Asia/Dhaka", "Dhaka"),
        (13.7563, 100.5018, "Asia/Bangkok", "Bangkok"),
        (1.3521, 103.8198, "Asia/Singapore", "Singapore"),
        (39.9042, 116.4074, "Asia/Shanghai", "Beijing"),
        (31.2304, 121.4737, "Asia/Shanghai", "Shanghai"),
        // Far west of China: the boundary data has Asia/Urumqi overlap
        // Asia/Shanghai there; tzf answers Asia/Shanghai (the official
        // time), Python's timezonefinder Asia/Urumqi. See `zones_at`.
        (39.4704, 75.9897, "Asia/Shanghai", "Kashgar"),
        (43.8256, 87.6168, "Asia/Shanghai", "Urumqi city"),
        (35.6762, 139.6503, "Asia/Tokyo", "Tokyo"),
        (37.5665, 126.9780, "Asia/Seoul", "Seoul"),
        (-6.2088, 106.8456, "Asia/Jakarta", "Jakarta"),
        (-8.6500, 115.2167, "Asia/Makassar", "Bali"),
        (-33.8688, 151.2093, "Australia/Sydney", "Sydney"),
        (-37.8136, 144.9631, "Australia/Melbourne", "Melbourne"),
        (-31.9505, 115.8605, "Australia/Perth", "Perth"),
        (-27.4698, 153.0251, "Australia/Brisbane", "Brisbane"),
        (-12.4634, 130.8456, "Australia/Darwin", "Darwin +9:30"),
        (-31.5553, 159.0821, "Australia/Lord_Howe", "Lord Howe"),
        (-41.2865, 174.7762, "Pacific/Auckland", "Wellington"),
        (-43.9535, -176.5597, "Pacific/Chatham", "Chatham +12:45"),
        (40.7128, -74.0060, "America/New_York", "New York"),
        (41.8781, -87.6298, "America/Chicago", "Chicago"),
        (39.7392, -104.9903, "America/Denver", "Denver"),
        (33.4484, -112.0740, "America/Phoenix", "Phoenix (no DST)"),
        (34.0522, -118.2437, "America/Los_Angeles", "Los Angeles"),
        (61.2181, -149.9003, "America/Anchorage", "Anchorage"),
        (21.3069, -157.8583, "Pacific/Honolulu", "Honolulu"),
        (43.6532, -79.3832, "America/Toronto", "Toronto"),
        (49.2827, -123.1207, "America/Vancouver", "Vancouver"),
        (47.5615, -52.7126, "America/St_Johns", "St John's -3:30"),
        (19.4326, -99.1332, "America/Mexico_City", "Mexico City"),
        (-23.5505, -46.6333, "America/Sao_Paulo", "Sao Paulo"),
        (
            -34.6037,
            -58.3816,
            "America/Argentina/Buenos_Aires",
            "Buenos Aires",
        ),
        (-33.4489, -70.6693, "America/Santiago", "Santiago"),
        (4.7110, -74.0721, "America/Bogota", "Bogota"),
        (-12.0464, -77.0428, "America/Lima", "Lima"),
        // Both sides of borders.
        (38.8806, -6.9706, "Europe/Madrid", "Badajoz, Spain"),
        (
            38.8810,
            -7.1630,
            "Europe/Lisbon",
            "Elvas, Portugal (17 km west)",
        ),
        (41.9402, -7.4375, "Europe/Madrid", "Verín, Spain"),
        (
            41.7400,
            -7.4700,
            "Europe/Lisbon",
            "Chaves, Portugal (22 km south)",
        ),
        (
            41.0,
            -85.1,
            "America/Indiana/Indianapolis",
            "Fort Wayne, Indiana (Eastern)",
        ),
        (41.6, -87.3, "America/Chicago", "Gary, Indiana (Central)"),
        (43.6, -116.2, "America/Boise", "Boise, Idaho (Mountain)"),
        (
            47.7,
            -116.8,
            "America/Los_Angeles",
            "Coeur d'Alene, Idaho (Pacific)",
        ),
        (
            36.1,
            -86.8,
            "America/Chicago",
            "Nashville, Tennessee (Central)",
        ),
        (
            35.96,
            -83.92,
            "America/New_York",
            "Knoxville, Tennessee (Eastern)",
        ),
        (
            46.8,
            -100.8,
            "America/Chicago",
            "Bismarck, North Dakota (Central)",
        ),
        (
            35.0,
            -114.2,
            "America/Phoenix",
            "Arizona side near Bullhead City",
        ),
        (35.1, -114.7, "America/Los_Angeles", "Nevada side, Laughlin"),
        (56.0, 14.0, "Europe/Stockholm", "southern Sweden"),
        (65.85, 24.15, "Europe/Helsinki", "Tornio, Finland"),
        (65.84, 24.13, "Europe/Stockholm", "Haparanda, Sweden"),
        // Oceans: nautical zones, signs inverted by IANA convention.
        (0.0, -30.0, "Etc/GMT+2", "mid-Atlantic"),
        (35.0, -40.0, "Etc/GMT+3", "North Atlantic"),
        (-40.0, 90.0, "Etc/GMT-6", "Indian Ocean"),
        (0.0, -140.0, "Etc/GMT+9", "Pacific"),
        (0.0, 0.0, "Etc/GMT", "Null Island"),
        // Poles and the antimeridian.
        (90.0, 0.0, "Etc/GMT", "North Pole"),
        (
            -90.0,
            0.0,
            "Antarctica/McMurdo",
            "South Pole (NZ time at the station)",
        ),
        (0.0, 180.0, "Etc/GMT-12", "antimeridian, east edge"),
        (0.0, -180.0, "Etc/GMT+12", "antimeridian, west edge"),
        (
            65.0,
            179.9,
            "Asia/Anadyr",
            "Chukotka west of the antimeridian",
        ),
        (
            65.0,
            -179.9,
            "Asia/Anadyr",
            "Chukotka east of the antimeridian",
        ),
        (-18.1, 178.45, "Pacific/Fiji", "Suva"),
        (
            13.8,
            -172.1,
            "Etc/GMT+11",
            "ocean east of Samoa... west of dateline",
        ),
    ];
    let f = finder();
    let mut failures = Vec::new();
    for (lat, lon, want, what) in cases {
        let got = f.zone_at(*lat, *lon).map(|z| z.name());
        if got != Some(*want) {
            failures.push(format!("{what} ({lat},{lon}): want {want}, got {got:?}"));
        }
    }
    assert!(cases.len() >= 60);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn overlapping_zones_in_xinjiang() {
    let all = finder().zones_at(39.4704, 75.9897);
    assert!(
        all.contains(&Tz::Asia__Shanghai) && all.contains(&Tz::Asia__Urumqi),
        "{all:?}"
    );
    assert_eq!(finder().zones_at(51.5, -0.12), vec![Tz::Europe__London]);
    assert!(finder().zones_at(f64::NAN, 0.0).is_empty());
}

#[test]
fn invalid_coordinates() {
    let f = finder();
    for (lat, lon) in [
        (f64::NAN, 0.0),
        (0.0, f64::NAN),
        (f64::INFINITY, 0.0),
        (0.0, f64::NEG_INFINITY),
        (90.0001, 0.0),
        (-90.0001, 0.0),
        (0.0, 180.0001),
        (0.0, -180.0001),
        (1e300, 1e300),
    ] {
        assert_eq!(f.zone_at(lat, lon), None, "({lat},{lon})");
    }
}

#[test]
fn nautical_fallback() {
    let f = finder();
    assert_eq!(f.nautical_zone(0.0).name(), "Etc/GMT");
    assert_eq!(f.nautical_zone(7.4).name(), "Etc/GMT");
    assert_eq!(f.nautical_zone(7.6).name(), "Etc/GMT-1");
    assert_eq!(f.nautical_zone(-100.0).name(), "Etc/GMT+7");
    assert_eq!(f.nautical_zone(180.0).name(), "Etc/GMT-12");
    assert_eq!(f.nautical_zone(-180.0).name(), "Etc/GMT+12");
}

#[test]
fn countries() {
    let f = finder();
    assert_eq!(f.zone_for_country("FR"), Some(Tz::Europe__Paris));
    assert_eq!(f.zone_for_country("fr"), Some(Tz::Europe__Paris));
    assert_eq!(f.zone_for_country("IN"), Some(Tz::Asia__Kolkata));
    assert_eq!(f.zone_for_country("NP"), Some(Tz::Asia__Kathmandu));
    assert_eq!(f.zone_for_country("CN"), Some(Tz::Asia__Shanghai));
    for multi in [
        "US", "CA", "RU", "AU", "BR", "MX", "ID", "ES", "PT", "NZ", "KZ",
    ] {
        assert_eq!(f.zone_for_country(multi), None, "{multi}");
    }
    for bad in ["", "F", "FRA", "ZZ", "é", "\u{0}\u{0}"] {
        assert_eq!(f.zone_for_country(bad), None, "{bad:?}");
    }
    // No duplicates in the table (a copy-paste slip would hide one).
    let mut codes: Vec<_> = SINGLE_ZONE_COUNTRIES.iter().map(|(c, _)| *c).collect();
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
    );
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), SINGLE_ZONE_COUNTRIES.len());
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

fn lt(zone: Tz, instant: &str) -> (i32, bool, String) {
    let l = local_time(zone, at(instant));
    (l.utc_offset_s, l.dst, l.local_time)
}

#[test]
fn dst_transitions_both_hemispheres() {
    let h = 3600;
    let cases: &[(Tz, &str, i32, bool, &str)] = &[
        // Europe/London: 2024-03-31 01:00 UTC clocks go forward.
        (
            Tz::Europe__London,
            "2024-03-31T00:59:59Z",
            0,
            false,
            "2024-03-31T00:59:59",
        ),
        (
            Tz::Europe__London,
            "2024-03-31T01:00:00Z",
            h,
            true,
            "2024-03-31T02:00:00",
        ),
        // 2024-10-27 01:00 UTC back.
        (
            Tz::Europe__London,
            "2024-10-27T00:59:59Z",
            h,
            true,
            "2024-10-27T01:59:59",
        ),
        (
            Tz::Europe__London,
            "2024-10-27T01:00:00Z",
            0,
            false,
            "2024-10-27T01:00:00",
        ),
        // America/New_York: 2024-03-10 07:00 UTC forward, 2024-11-03 06:00 UTC back.
        (
            Tz::America__New_York,
            "2024-03-10T06:59:59Z",
            -5 * h,
            false,
            "2024-03-10T01:59:59",
        ),
        (
            Tz::America__New_York,
            "2024-03-10T07:00:00Z",
            -4 * h,
            true,
            "2024-03-10T03:00:00",
        ),
        (
            Tz::America__New_York,
            "2024-11-03T05:59:59Z",
            -4 * h,
            true,
            "2024-11-03T01:59:59",
        ),
        (
            Tz::America__New_York,
            "2024-11-03T06:00:00Z",
            -5 * h,
            false,
            "2024-11-03T01:00:00",
        ),
        // Australia/Sydney: DST ends 2024-04-07 03:00 local (16:00 UTC on the 6th),
        // starts 2024-10-06 02:00 local (16:00 UTC on the 5th).
        (
            Tz::Australia__Sydney,
            "2024-04-06T15:59:59Z",
            11 * h,
            true,
            "2024-04-07T02:59:59",
        ),
        (
            Tz::Australia__Sydney,
            "2024-04-06T16:00:00Z",
            10 * h,
            false,
            "2024-04-07T02:00:00",
        ),
        (
            Tz::Australia__Sydney,
            "2024-10-05T15:59:59Z",
            10 * h,
            false,
            "2024-10-06T01:59:59",
        ),
        (
            Tz::Australia__Sydney,
            "2024-10-05T16:00:00Z",
            11 * h,
            true,
            "2024-10-06T03:00:00",
        ),
        // America/Santiago: DST ends 2024-04-07 00:00 local (03:00 UTC),
        // starts 2024-09-08 00:00 local (04:00 UTC).
        (
            Tz::America__Santiago,
            "2024-04-07T02:59:59Z",
            -3 * h,
            true,
            "2024-04-06T23:59:59",
        ),
        (
            Tz::America__Santiago,
            "2024-04-07T03:00:00Z",
            -4 * h,
            false,
            "2024-04-06T23:00:00",
        ),
        (
            Tz::America__Santiago,
            "2024-09-08T03:59:59Z",
            -4 * h,
            false,
            "2024-09-07T23:59:59",
        ),
        (
            Tz::America__Santiago,
            "2024-09-08T04:00:00Z",
            -3 * h,
            true,
            "2024-09-08T01:00:00",
        ),
        // Lord Howe: 30-minute DST, +10:30 standard / +11:00 summer.
        (
            Tz::Australia__Lord_Howe,
            "2024-01-15T00:00:00Z",
            11 * h,
            true,
            "2024-01-15T11:00:00",
        ),
        (
            Tz::Australia__Lord_Howe,
            "2024-07-15T00:00:00Z",
            10 * h + 1800,
            false,
            "2024-07-15T10:30:00",
        ),
        // Chatham: +12:45 standard, +13:45 summer.
        (
            Tz::Pacific__Chatham,
            "2024-07-15T00:00:00Z",
            12 * h + 2700,
            false,
            "2024-07-15T12:45:00",
        ),
        (
            Tz::Pacific__Chatham,
            "2024-01-15T00:00:00Z",
            13 * h + 2700,
            true,
            "2024-01-15T13:45:00",
        ),
        // India +5:30 and Nepal +5:45, no DST.
        (
            Tz::Asia__Kolkata,
            "2024-06-01T00:00:00Z",
            5 * h + 1800,
            false,
            "2024-06-01T05:30:00",
        ),
        (
            Tz::Asia__Kathmandu,
            "2024-06-01T00:00:00Z",
            5 * h + 2700,
            false,
            "2024-06-01T05:45:00",
        ),
        // Ireland's inverted IANA encoding still reads as summer = DST.
        (
            Tz::Europe__Dublin,
            "2024-07-15T12:00:00Z",
            h,
            true,
            "2024-07-15T13:00:00",
        ),
        (
            Tz::Europe__Dublin,
            "2024-01-15T12:00:00Z",
            0,
            false,
            "2024-01-15T12:00:00",
        ),
        // Morocco: +01 all year except Ramadan (+00), never DST.
        (
            Tz::Africa__Casablanca,
            "2024-07-20T12:00:00Z",
            h,
            false,
            "2024-07-20T13:00:00",
        ),
        (
            Tz::Africa__Casablanca,
            "2024-03-20T12:00:00Z",
            0,
            false,
            "2024-03-20T12:00:00",
        ),
        // Nautical zone.
        (
            Tz::Etc__GMTPlus2,
            "2024-07-15T12:00:00Z",
            -2 * h,
            false,
            "2024-07-15T10:00:00",
        ),
    ];
    for (zone, instant, off, dst, local) in cases {
        assert_eq!(
            lt(*zone, instant),
            (*off, *dst, local.to_string()),
            "{} at {instant}",
            zone.name()
        );
    }
}

#[test]
fn hour_and_weekday() {
    // 2024-01-01 was a Monday; 23:30 UTC Sunday 2023-12-31 is Monday
    // 00:30 in Paris and still Sunday in New York.
    let l = local_time(Tz::Europe__Paris, at("2023-12-31T23:30:00Z"));
    assert_eq!((l.local_hour, l.weekday), (0, 1));
    let l = local_time(Tz::America__New_York, at("2023-12-31T23:30:00Z"));
    assert_eq!((l.local_hour, l.weekday), (18, 7));
    // Across the date line: Kiritimati (+14) is a day ahead of Honolulu.
    let l = local_time(Tz::Pacific__Kiritimati, at("2024-01-01T10:00:00Z"));
    assert_eq!(
        (l.local_time.as_str(), l.weekday),
        ("2024-01-02T00:00:00", 2)
    );
}
