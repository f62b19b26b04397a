//! Enrichment of a parsed event: parsed user agent, IP geolocation, the network (AS and
//! organisation) of the address, device location and the time zone with local time at
//! the event's instant. This file owns the output shapes the policy copies, the
//! `Enricher` (the shared lookup state) and the order of lookups; the lookups themselves
//! live in the submodules (`agent`, `geoip`, `network`, `timezone`). Nothing here
//! decides what is personal: `policy` picks which of these fields reach which record.
//! Nothing here logs: callers log [`Enricher::describe`].

pub mod agent;
pub mod geoip;
pub mod network;
pub mod timezone;

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::model::{DeviceLocation, RawEvent};

pub use agent::{Agent, DeviceClass};
pub use geoip::{GeoDb, GeoIp, GeoIpError, GeoMiss, IpLocation, Layout};
pub use network::{AsNetwork, NetworkDbError, NetworkFile, Networks};
pub use timezone::{LocalTime, ZoneFinder, ZoneFinderError, local_time};

/// Parsed user agent, from a fixed vocabulary (never substrings of the input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentInfo {
    /// Browser family.
    pub browser: Option<&'static str>,
    /// Browser major version.
    pub browser_major: Option<u32>,
    /// Operating-system family.
    pub os: Option<&'static str>,
    /// desktop, mobile, tablet, bot or unknown.
    pub device: &'static str,
}

/// Location from the IP address: the geoip cache's record itself (shared, not copied),
/// serialized with its fields inline and the source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeoInfo {
    /// Country, region, city, postal code, coordinates and accuracy.
    #[serde(flatten)]
    pub location: Arc<IpLocation>,
    /// Where it came from: always `ip` here.
    pub source: &'static str,
}

/// Time zone and local time at the event's instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeInfo {
    /// IANA zone name.
    pub zone: &'static str,
    /// Offset from UTC in seconds.
    pub utc_offset_s: i32,
    /// Daylight-saving time in effect.
    pub dst: bool,
    /// Local date-time, `YYYY-MM-DDTHH:MM:SS`.
    pub local_time: String,
    /// Local hour, 0–23.
    pub local_hour: u8,
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub weekday: u8,
}

/// Why an enrichment field stayed empty (metrics label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Miss {
    /// Device location present but NaN, infinite or out of range.
    InvalidCoordinates,
    /// The event has an IP address but no geoip database is configured.
    NoDatabase,
    /// The IP address is private, loopback, documentation, … (never looked up).
    NotPublic,
    /// No database has a record for the IP address.
    NotFound,
    /// No time zone: no usable device location, IP location or country.
    NoZone,
}

impl Miss {
    /// Stable label.
    pub fn code(self) -> &'static str {
        match self {
            Miss::InvalidCoordinates => "invalid_coordinates",
            Miss::NoDatabase => "no_database",
            Miss::NotPublic => "not_public",
            Miss::NotFound => "not_found",
            Miss::NoZone => "no_zone",
        }
    }
}

impl From<GeoMiss> for Miss {
    fn from(m: GeoMiss) -> Miss {
        match m {
            GeoMiss::NoDatabase => Miss::NoDatabase,
            GeoMiss::NotPublic => Miss::NotPublic,
            GeoMiss::NotFound => Miss::NotFound,
        }
    }
}

/// Everything enrichment produced for one event.
#[derive(Debug, Clone, Default)]
pub struct Enrichment {
    /// Parsed user agent.
    pub agent: Option<AgentInfo>,
    /// IP location.
    pub geo: Option<GeoInfo>,
    /// Device location, when valid.
    pub device_location: Option<DeviceLocation>,
    /// Zone and local time.
    pub time: Option<TimeInfo>,
    /// The network (AS and organisation) of the IP address.
    pub network: Network,
    /// What was missing and why.
    pub misses: Vec<Miss>,
}

/// The network of an event's address, as far as the enrichment knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Network {
    /// No network database is loaded: records carry no `network` field at all.
    #[default]
    NoDatabase,
    /// A database is loaded but does not hold the address (or the event has none, or
    /// it is not public): `network` is `null`.
    Unknown,
    /// The autonomous system holding the address.
    Known(Arc<AsNetwork>),
}

impl Network {
    /// The system, when known.
    pub fn known(&self) -> Option<&AsNetwork> {
        match self {
            Network::Known(n) => Some(n),
            Network::NoDatabase | Network::Unknown => None,
        }
    }
}

/// The enrichment state: geoip and network databases (replaceable) and the time-zone
/// finder. Built
/// once at start-up and shared (`Arc<Enricher>`) between tasks; `Send + Sync`.
pub struct Enricher {
    geoip: GeoIp,
    networks: Networks,
    zones: Arc<ZoneFinder>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field("zones", &self.zones.data_version())
            .finish_non_exhaustive()
    }
}

impl Enricher {
    /// The enrichment state over databases and a time-zone finder the edge built (the
    /// finder is immutable data compiled in: build it once per process and share it).
    /// Logs nothing: log [`Enricher::describe`].
    pub fn new(geoip: GeoIp, zones: Arc<ZoneFinder>) -> Enricher {
        Enricher {
            geoip,
            networks: Networks::empty(),
            zones,
        }
    }

    /// This enricher with network (AS) databases.
    pub fn with_networks(self, networks: Networks) -> Enricher {
        Enricher { networks, ..self }
    }

    /// The network databases.
    pub fn networks(&self) -> &Networks {
        &self.networks
    }

    /// The geoip databases.
    pub fn geoip(&self) -> &GeoIp {
        &self.geoip
    }

    /// The time-zone finder.
    pub fn zones(&self) -> &ZoneFinder {
        &self.zones
    }

    /// One line for the start-up and reload log: database files, layouts and build
    /// dates, and the time-zone data release. Names files, never addresses.
    pub fn describe(&self) -> String {
        format!(
            "{}; {}; time zones: timezone-boundary-builder {} (via tzf-rs)",
            self.geoip.describe(),
            self.networks.describe(),
            self.zones.data_version()
        )
    }
}

impl From<Agent> for AgentInfo {
    fn from(a: Agent) -> AgentInfo {
        AgentInfo {
            browser: a.browser,
            browser_major: a.browser_major,
            os: a.os,
            device: a.device.as_str(),
        }
    }
}

impl From<LocalTime> for TimeInfo {
    fn from(l: LocalTime) -> TimeInfo {
        TimeInfo {
            zone: l.zone.name(),
            utc_offset_s: l.utc_offset_s,
            dst: l.dst,
            local_time: l.local_time,
            local_hour: l.local_hour,
            weekday: l.weekday,
        }
    }
}

/// Locates an IP address; `Err` says why not. A record with nothing usable in it counts
/// as not found.
fn locate(geoip: &GeoIp, ip: IpAddr) -> Result<Arc<IpLocation>, Miss> {
    let loc = geoip.lookup(ip).map_err(Miss::from)?;
    let IpLocation {
        country_code,
        region,
        city,
        postal_code,
        latitude,
        longitude: _,
        accuracy_km: _,
        time_zone,
    } = &*loc;
    if country_code.is_none()
        && region.is_none()
        && city.is_none()
        && postal_code.is_none()
        && latitude.is_none()
        && time_zone.is_none()
    {
        return Err(Miss::NotFound);
    }
    Ok(loc)
}

/// The zone of an event, from the most precise source available:
/// 1. the device location, when valid;
/// 2. the IP location's coordinates, when the record is city-level (a record without a
///    city carries the country's or region's centroid, which would pick one zone for a
///    whole multi-zone country);
/// 3. the database's own `time_zone` field (MaxMind; DB-IP leaves it empty);
/// 4. the country, when it has a single zone.
fn zone_of(
    zones: &ZoneFinder,
    device: Option<&DeviceLocation>,
    ip: Option<&IpLocation>,
) -> Option<chrono_tz::Tz> {
    if let Some(z) = device.and_then(|d| zones.zone_at(d.lat, d.lon)) {
        return Some(z);
    }
    let ip = ip?;
    if let (Some(_), Some(lat), Some(lon)) = (&ip.city, ip.latitude, ip.longitude)
        && let Some(z) = zones.zone_at(lat, lon)
    {
        return Some(z);
    }
    if let Some(z) = ip.time_zone.as_deref().and_then(|n| n.parse().ok()) {
        return Some(z);
    }
    ip.country_code
        .as_deref()
        .and_then(|c| zones.zone_for_country(c))
}

/// Enriches one event: agent from the user agent, location from the IP address, the
/// device location when valid, and the zone with local time at the event's own instant
/// (`occurred_at`, never the processing time). Every field it cannot fill stays `None`
/// and, where that is worth counting, leaves a [`Miss`].
pub fn enrich(ev: &RawEvent<'_>, enricher: &Enricher) -> Enrichment {
    let mut out = Enrichment {
        agent: ev.user_agent.as_deref().map(|ua| agent::parse(ua).into()),
        ..Enrichment::default()
    };
    if let Some(loc) = ev.location {
        if loc.is_valid() {
            out.device_location = Some(loc);
        } else {
            out.misses.push(Miss::InvalidCoordinates);
        }
    }
    let ip_loc = match ev.ip.map(|ip| locate(&enricher.geoip, ip)) {
        Some(Ok(loc)) => Some(loc),
        Some(Err(miss)) => {
            out.misses.push(miss);
            None
        }
        None => None,
    };
    out.network = match ev.ip.map(|ip| enricher.networks.lookup(ip)) {
        Some(Ok(n)) => Network::Known(n),
        Some(Err(GeoMiss::NoDatabase)) => Network::NoDatabase,
        Some(Err(_)) => Network::Unknown,
        None if enricher.networks.is_configured() => Network::Unknown,
        None => Network::NoDatabase,
    };
    out.geo = ip_loc.clone().map(|location| GeoInfo {
        location,
        source: "ip",
    });
    match zone_of(
        &enricher.zones,
        out.device_location.as_ref(),
        ip_loc.as_deref(),
    ) {
        Some(zone) => out.time = Some(local_time(zone, ev.occurred_at).into()),
        None => out.misses.push(Miss::NoZone),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::timezone::test_zones;
    use consent_enricher_testkit::mmdb_writer::{Value, Variant, Writer};

    fn enricher(layout: Layout) -> Enricher {
        let dbs = geoip::tests::fixture_dbs(layout, Variant::A);
        Enricher::new(GeoIp::new(dbs), test_zones())
    }

    fn without_geoip() -> Enricher {
        Enricher::new(GeoIp::empty(), test_zones())
    }

    /// A raw event at `instant` with extra `fields` (each starting with a comma). The
    /// bytes are leaked: a few hundred bytes per test.
    fn event_at(instant: &str, fields: &str) -> RawEvent<'static> {
        let text = format!(
            r#"{{"event_id":"e1","event_type":"click","occurred_at":"{instant}"{fields}}}"#
        );
        let bytes: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        RawEvent::parse(bytes, 1 << 20).expect("valid test event")
    }

    fn event(fields: &str) -> RawEvent<'static> {
        event_at("2024-07-15T12:00:00Z", fields)
    }

    fn zone(e: &Enrichment) -> Option<&'static str> {
        e.time.as_ref().map(|t| t.zone)
    }

    #[test]
    fn agent_from_user_agent_only_when_present() {
        let en = without_geoip();
        let e = enrich(
            &event(
                r#","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1""#,
            ),
            &en,
        );
        assert_eq!(
            e.agent,
            Some(AgentInfo {
                browser: Some("Safari"),
                browser_major: Some(17),
                os: Some("iOS"),
                device: "mobile"
            })
        );
        assert_eq!(enrich(&event(""), &en).agent, None);
    }

    #[test]
    fn ip_location_in_both_layouts() {
        for layout in [Layout::MaxMindCity, Layout::DbIpCityLite] {
            let en = enricher(layout);
            let e = enrich(&event(r#","ip":"81.2.69.142""#), &en);
            let g = e.geo.as_ref().expect("located");
            assert_eq!(
                (
                    g.location.country_code.as_deref(),
                    g.location.region.as_deref(),
                    g.location.city.as_deref(),
                    g.location.postal_code.as_deref(),
                    g.source
                ),
                (
                    Some("GB"),
                    Some("England"),
                    Some("London"),
                    Some("EC1A"),
                    "ip"
                ),
                "{layout:?}"
            );
            // Serialized as the contract's `geo`: the record's fields inline, no time zone.
            let keys: Vec<String> = match serde_json::to_value(g).expect("serializes") {
                serde_json::Value::Object(m) => m.keys().cloned().collect(),
                other => panic!("{other}"),
            };
            assert_eq!(
                keys,
                [
                    "accuracy_km",
                    "city",
                    "country_code",
                    "latitude",
                    "longitude",
                    "postal_code",
                    "region",
                    "source"
                ],
                "{layout:?}"
            );
            // London in July: BST, from the IP location's coordinates.
            let t = e.time.as_ref().expect("zone");
            assert_eq!(
                (t.zone, t.utc_offset_s, t.dst, t.local_time.as_str()),
                ("Europe/London", 3600, true, "2024-07-15T13:00:00"),
                "{layout:?}"
            );
            assert!(e.misses.is_empty(), "{layout:?}: {:?}", e.misses);
            // IPv6.
            let e = enrich(&event(r#","ip":"2001:218::9""#), &en);
            assert_eq!(zone(&e), Some("Asia/Tokyo"), "{layout:?}");
        }
    }

    #[test]
    fn device_location_beats_ip_location() {
        let en = enricher(Layout::MaxMindCity);
        // London IP, device in Tokyo.
        let e = enrich(
            &event(r#","ip":"81.2.69.142","location":{"lat":35.68,"lon":139.69,"accuracy_m":20}"#),
            &en,
        );
        assert_eq!(zone(&e), Some("Asia/Tokyo"));
        assert_eq!(
            e.geo.and_then(|g| g.location.city.clone()).as_deref(),
            Some("London")
        );
        assert!(e.device_location.is_some());
    }

    #[test]
    fn invalid_device_location_is_a_miss_and_falls_back_to_the_ip() {
        let en = enricher(Layout::MaxMindCity);
        let e = enrich(
            &event(r#","ip":"81.2.69.142","location":{"lat":91.0,"lon":0.5}"#),
            &en,
        );
        assert_eq!(e.misses, vec![Miss::InvalidCoordinates]);
        assert_eq!(e.device_location, None);
        assert_eq!(zone(&e), Some("Europe/London"));
    }

    #[test]
    fn country_level_records_use_the_database_zone_or_the_country() {
        // MaxMind: PH record has a centroid and no city, but a time_zone field.
        let mm = enricher(Layout::MaxMindCity);
        assert_eq!(
            zone(&enrich(&event(r#","ip":"202.196.230.1""#), &mm)),
            Some("Asia/Manila")
        );
        // DB-IP: no time_zone field; PH has a single zone.
        let dbip = enricher(Layout::DbIpCityLite);
        assert_eq!(
            zone(&enrich(&event(r#","ip":"202.196.230.1""#), &dbip)),
            Some("Asia/Manila")
        );
        // NG: centroid, no city, no time_zone field: the country table.
        assert_eq!(
            zone(&enrich(&event(r#","ip":"2c0f:f000:1::1""#), &mm)),
            Some("Africa/Lagos")
        );
    }

    #[test]
    fn multi_zone_country_without_city_gets_no_zone() {
        let mut w = Writer::new(4, 24, "GeoLite2-City", 0);
        w.insert(
            "8.8.8.0".parse().expect("addr"),
            24,
            &Value::map([
                ("country", Value::map([("iso_code", Value::str("US"))])),
                (
                    "location",
                    Value::map([
                        ("latitude", Value::Double(37.751)),
                        ("longitude", Value::Double(-97.822)),
                        ("accuracy_radius", Value::U16(1000)),
                    ]),
                ),
            ]),
        );
        let db = GeoDb::open("us.mmdb", w.to_bytes()).expect("opens");
        let en = Enricher::new(GeoIp::new(vec![db]), test_zones());
        let e = enrich(&event(r#","ip":"8.8.8.8""#), &en);
        assert_eq!(
            e.geo
                .as_ref()
                .and_then(|g| g.location.country_code.as_deref()),
            Some("US")
        );
        assert_eq!(e.time, None);
        assert_eq!(e.misses, vec![Miss::NoZone]);
    }

    #[test]
    fn geo_misses() {
        let en = enricher(Layout::MaxMindCity);
        let misses = |fields: &str, en: &Enricher| enrich(&event(fields), en).misses;
        assert_eq!(
            misses(r#","ip":"10.0.0.1""#, &en),
            vec![Miss::NotPublic, Miss::NoZone]
        );
        assert_eq!(
            misses(r#","ip":"1.1.1.1""#, &en),
            vec![Miss::NotFound, Miss::NoZone]
        );
        assert_eq!(
            misses(r#","ip":"81.2.69.142""#, &without_geoip()),
            vec![Miss::NoDatabase, Miss::NoZone]
        );
        // No IP and no location: nothing to look up, but no zone either.
        assert_eq!(misses("", &en), vec![Miss::NoZone]);
        // A device location alone gives the zone.
        assert_eq!(
            misses(r#","location":{"lat":48.85,"lon":2.35}"#, &en),
            vec![]
        );
    }

    #[test]
    fn local_time_is_at_the_events_instant() {
        let en = without_geoip();
        let e = |instant: &str| {
            let ev = event_at(instant, r#","location":{"lat":40.71,"lon":-74.0}"#);
            let t = enrich(&ev, &en).time.expect("zone");
            (
                t.zone,
                t.utc_offset_s,
                t.dst,
                t.local_time,
                t.local_hour,
                t.weekday,
            )
        };
        // New York, DST starts 2024-03-10 07:00 UTC.
        assert_eq!(
            e("2024-03-10T06:59:59Z"),
            (
                "America/New_York",
                -5 * 3600,
                false,
                "2024-03-10T01:59:59".to_string(),
                1,
                7
            )
        );
        assert_eq!(
            e("2024-03-10T07:00:00Z"),
            (
                "America/New_York",
                -4 * 3600,
                true,
                "2024-03-10T03:00:00".to_string(),
                3,
                7
            )
        );
        // An offset in occurred_at is the same instant.
        assert_eq!(e("2024-03-10T09:00:00+02:00").3, "2024-03-10T03:00:00");
    }

    #[test]
    fn miss_codes_are_stable() {
        let all = [
            (Miss::InvalidCoordinates, "invalid_coordinates"),
            (Miss::NoDatabase, "no_database"),
            (Miss::NotPublic, "not_public"),
            (Miss::NotFound, "not_found"),
            (Miss::NoZone, "no_zone"),
        ];
        for (m, code) in all {
            assert_eq!(m.code(), code);
        }
        for g in [GeoMiss::NoDatabase, GeoMiss::NotPublic, GeoMiss::NotFound] {
            assert_eq!(Miss::from(g).code(), g.code());
        }
    }

    #[test]
    fn describe_says_what_is_loaded() {
        let d = without_geoip().describe();
        assert!(
            d.starts_with("geoip: no database; network: no database; time zones:"),
            "{d}"
        );
        let d = enricher(Layout::DbIpCityLite).describe();
        assert!(d.contains("DB-IP city lite"), "{d}");
    }

    #[test]
    fn enricher_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Enricher>();
    }
}
