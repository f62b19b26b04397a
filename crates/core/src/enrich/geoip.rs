//! IP geolocation from MaxMind-format (`.mmdb`) databases, read with the
//! `maxminddb` crate, in either the GeoIP2/GeoLite2 City layout or the flat
//! DB-IP "city lite" layout that ip-location-db publishes (one file per
//! address family).
//!
//! It owns the open databases, their atomic replacement, and a bounded cache
//! of decoded records. It does no I/O: the worker's edge reads the files (and
//! watches them for changes) and hands the bytes to [`GeoDb::open`]. It must not
//! log (callers log `describe()`, which names files, never addresses), and
//! must not look up addresses that cannot be located (private, loopback,
//! documentation, ...): those are answered `NotPublic` without touching a
//! database.
//!
//! The cache is keyed by the record's offset in the database, not by the
//! address: many addresses share one record, so the hit rate is higher, and
//! no IP address is held in memory beyond the call. The tree walk (well under
//! a microsecond) is done every time; only the decode (strings, nested maps)
//! is saved.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use maxminddb::{LookupResult, MaxMindDbError, Reader, WithinOptions};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// A located address, as far as the database knows it. Every field may be
/// missing; an empty string in the database counts as missing. Strings are
/// `Arc<str>` so the enrichment output can share them with the cached record
/// instead of copying them for every event. Serialized as the personal record's `geo`
/// (inside [`super::GeoInfo`]), without the database's own time zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IpLocation {
    /// ISO 3166-1 alpha-2, upper case; anything else in the database is dropped.
    pub country_code: Option<Arc<str>>,
    /// First-level subdivision name (e.g. "California"); MaxMind's ISO code
    /// when it has no English name. A name, not a code, so both layouts agree.
    pub region: Option<Arc<str>>,
    /// City name (English where the database has several).
    pub city: Option<Arc<str>>,
    /// Postal code.
    pub postal_code: Option<Arc<str>>,
    /// Latitude of the network's location (degrees).
    pub latitude: Option<f64>,
    /// Longitude of the network's location (degrees).
    pub longitude: Option<f64>,
    /// MaxMind's `accuracy_radius`; DB-IP has none.
    pub accuracy_km: Option<f64>,
    /// IANA zone from the database (MaxMind only; DB-IP leaves it empty). Used to pick
    /// the event's zone, not output.
    #[serde(skip_serializing)]
    pub time_zone: Option<Arc<str>>,
}

/// Why an address has no location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeoMiss {
    /// No database is configured.
    NoDatabase,
    /// Private, loopback, link-local, multicast, documentation, reserved...
    NotPublic,
    /// No database has a record for it.
    NotFound,
}

impl GeoMiss {
    /// Stable code for metrics and `geo.source`-style fields.
    pub fn code(&self) -> &'static str {
        match self {
            GeoMiss::NoDatabase => "no_database",
            GeoMiss::NotPublic => "not_public",
            GeoMiss::NotFound => "not_found",
        }
    }
}

/// Record layout of a database, detected when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// GeoIP2/GeoLite2 City (also Country, and DB-IP's own MaxMind-compatible
    /// files): nested `country.iso_code`, `subdivisions`, `city.names`,
    /// `location`, `postal`.
    MaxMindCity,
    /// ip-location-db's flat records: `country_code, state1, state2, city,
    /// postcode, latitude, longitude, timezone`.
    DbIpCityLite,
}

impl Layout {
    pub fn as_str(&self) -> &'static str {
        match self {
            Layout::MaxMindCity => "MaxMind City",
            Layout::DbIpCityLite => "DB-IP city lite (flat)",
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors opening a database. Each names the database (its file, for the worker).
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("geoip database {name}: not a readable MaxMind DB file: {source}")]
    Open {
        name: String,
        source: MaxMindDbError,
    },
    #[error("geoip database {name} (database_type {database_type:?}): holds no records to probe")]
    Empty { name: String, database_type: String },
    #[error(
        "geoip database {name} (database_type {database_type:?}): unknown record layout, \
         probe record has keys [{keys}]; expected MaxMind City (country, subdivisions, city, \
         location, postal) or DB-IP city lite (country_code, state1, city, latitude, longitude)"
    )]
    UnknownLayout {
        name: String,
        database_type: String,
        keys: String,
    },
    #[error("geoip database {name} ({layout}): probe lookup of {network} failed: {source}")]
    Probe {
        name: String,
        layout: Layout,
        network: String,
        source: MaxMindDbError,
    },
}

/// Decoded records cached per database generation, across all shards.
pub const DEFAULT_CACHE_RECORDS: usize = 32_768;

/// The geolocation service: `Send + Sync`, share it by reference.
pub struct GeoIp {
    cache_records: usize,
    /// Swapped whole on replacement; lookups clone the `Arc` and keep using the
    /// generation they started with.
    state: RwLock<Arc<State>>,
}

struct State {
    dbs: Vec<GeoDb>,
    /// Database indices to try, in order, per address family: IPv4-only
    /// files first for IPv4 addresses, then IPv6 trees (which may hold IPv4
    /// under `::/96`); only IPv6 trees for IPv6 addresses.
    v4_order: Vec<usize>,
    v6_order: Vec<usize>,
    /// Belongs to this generation, so replacing the state clears it.
    cache: RecordCache,
}

/// One opened and probed database.
pub struct GeoDb {
    name: String,
    reader: Reader<Vec<u8>>,
    layout: Layout,
    len: usize,
}

impl GeoIp {
    /// No database: every lookup is `Err(GeoMiss::NoDatabase)`.
    pub fn empty() -> GeoIp {
        GeoIp::new(Vec::new())
    }

    /// The service over databases opened with [`GeoDb::open`] (tried in the order
    /// described at [`GeoIp::lookup`]); no databases gives [`GeoIp::empty`].
    pub fn new(dbs: Vec<GeoDb>) -> GeoIp {
        Self::with_cache(dbs, DEFAULT_CACHE_RECORDS)
    }

    /// [`GeoIp::new`] with a chosen cache size (decoded records; each is a
    /// few hundred bytes, and up to twice this many are kept).
    pub fn with_cache(dbs: Vec<GeoDb>, cache_records: usize) -> GeoIp {
        GeoIp {
            cache_records,
            state: RwLock::new(Arc::new(State::new(dbs, cache_records))),
        }
    }

    fn current(&self) -> Arc<State> {
        // A poisoned lock only means a writer panicked between two pointer
        // moves; the Arc inside is always whole, so keep using it.
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Locates `ip`. IPv4-mapped IPv6 addresses are looked up as IPv4.
    pub fn lookup(&self, ip: IpAddr) -> Result<Arc<IpLocation>, GeoMiss> {
        let state = self.current();
        if state.dbs.is_empty() {
            return Err(GeoMiss::NoDatabase);
        }
        let ip = ip.to_canonical();
        if !is_public(ip) {
            return Err(GeoMiss::NotPublic);
        }
        let order = match ip {
            IpAddr::V4(_) => &state.v4_order,
            IpAddr::V6(_) => &state.v6_order,
        };
        for &i in order {
            // In bounds: the order lists are built from `dbs`' own indices.
            let db = &state.dbs[i];
            // An error here can only be "IPv6 in an IPv4 tree", which the
            // order lists exclude; treat it like no record.
            let Ok(result) = db.reader.lookup(ip) else {
                continue;
            };
            let Some(offset) = result.offset() else {
                continue;
            };
            let key = ((i as u64) << 48) | offset as u64;
            if let Some(hit) = state.cache.get(key) {
                return Ok(hit);
            }
            // A record that fails to decode is a database defect; answering
            // NotFound is better than failing the event.
            if let Ok(loc) = decode(db.layout, &result) {
                let loc = Arc::new(loc);
                state.cache.insert(key, Arc::clone(&loc));
                return Ok(loc);
            }
        }
        Err(GeoMiss::NotFound)
    }

    /// Swaps in a new set of databases atomically: lookups in flight finish on
    /// the old ones, and the cache starts empty.
    pub fn replace(&self, dbs: Vec<GeoDb>) {
        let fresh = Arc::new(State::new(dbs, self.cache_records));
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// One line for the start-up/reload log: databases, layouts, build dates.
    pub fn describe(&self) -> String {
        let state = self.current();
        if state.dbs.is_empty() {
            return "geoip: no database".to_string();
        }
        let parts: Vec<String> = state
            .dbs
            .iter()
            .map(|db| {
                let md = db.reader.metadata();
                let built = i64::try_from(md.build_epoch)
                    .ok()
                    .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                    .map_or_else(
                        || "unknown".to_string(),
                        |d| d.format("%Y-%m-%d").to_string(),
                    );
                format!(
                    "{} [{}, type {:?}, IPv{} tree, built {}, {} bytes]",
                    db.name, db.layout, md.database_type, md.ip_version, built, db.len
                )
            })
            .collect();
        format!("geoip: {} database(s): {}", parts.len(), parts.join("; "))
    }
}

impl State {
    fn new(dbs: Vec<GeoDb>, cache_records: usize) -> State {
        let family = |v: u16| {
            dbs.iter()
                .enumerate()
                .filter(move |(_, d)| d.reader.metadata().ip_version == v)
        };
        let v4_order = family(4).chain(family(6)).map(|(i, _)| i).collect();
        let v6_order = family(6).map(|(i, _)| i).collect();
        let cache = RecordCache::new(if dbs.is_empty() { 0 } else { cache_records });
        State {
            dbs,
            v4_order,
            v6_order,
            cache,
        }
    }
}

impl GeoDb {
    /// Opens a database from its bytes, detects its layout and does a probe
    /// lookup now, so a wrong or corrupt file fails when it is opened rather
    /// than on the first event. `name` (the file, for the worker) appears in
    /// errors and in [`GeoIp::describe`].
    pub fn open(name: impl Into<String>, bytes: Vec<u8>) -> Result<GeoDb, GeoIpError> {
        let name = name.into();
        let len = bytes.len();
        let open_err = |source| GeoIpError::Open {
            name: name.clone(),
            source,
        };
        let reader = Reader::from_source(bytes).map_err(open_err)?;
        let database_type = reader.metadata().database_type.clone();

        let probe = reader
            .networks(WithinOptions::default().skip_empty_values())
            .map_err(open_err)?
            .next()
            .ok_or_else(|| GeoIpError::Empty {
                name: name.clone(),
                database_type: database_type.clone(),
            })?
            .map_err(open_err)?;
        let network = probe.network().map_err(open_err)?;
        // A record that is not a map has no keys, hence an unknown layout.
        let keys: BTreeMap<&str, IgnoredAny> = probe.decode().ok().flatten().unwrap_or_default();
        let layout = detect_layout(&database_type, keys.keys().copied()).ok_or_else(|| {
            GeoIpError::UnknownLayout {
                name: name.clone(),
                database_type: database_type.clone(),
                keys: keys.keys().copied().collect::<Vec<_>>().join(", "),
            }
        })?;

        // The probe: a real lookup of the first network's address, decoded
        // with the detected layout, exactly as `GeoIp::lookup` will do it.
        let probe_err = |source| GeoIpError::Probe {
            name: name.clone(),
            layout,
            network: network.to_string(),
            source,
        };
        let result = reader.lookup(network.ip()).map_err(probe_err)?;
        decode(layout, &result).map_err(probe_err)?;
        Ok(GeoDb {
            name,
            reader,
            layout,
            len,
        })
    }
}

/// Layout from the probe record's top-level keys; `database_type` is only
/// reported (vendors name files inconsistently, the shape is what matters).
fn detect_layout<'a>(_database_type: &str, keys: impl Iterator<Item = &'a str>) -> Option<Layout> {
    let (mut flat, mut nested) = (false, false);
    for k in keys {
        match k {
            "country_code" | "state1" => flat = true,
            "country" | "location" | "subdivisions" | "continent" | "postal" => nested = true,
            _ => {}
        }
    }
    match (flat, nested) {
        (true, false) => Some(Layout::DbIpCityLite),
        (false, true) => Some(Layout::MaxMindCity),
        _ => None,
    }
}

// --- Record decoding -------------------------------------------------------

#[derive(Deserialize)]
struct MmRecord<'a> {
    #[serde(borrow, default)]
    country: Option<MmCountry<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<MmSubdivision<'a>>>,
    #[serde(borrow, default)]
    city: Option<MmNamed<'a>>,
    #[serde(borrow, default)]
    location: Option<MmLocation<'a>>,
    #[serde(borrow, default)]
    postal: Option<MmPostal<'a>>,
}

#[derive(Deserialize)]
struct MmCountry<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct MmNames<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct MmNamed<'a> {
    #[serde(borrow, default)]
    names: Option<MmNames<'a>>,
}

#[derive(Deserialize)]
struct MmSubdivision<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<MmNames<'a>>,
}

#[derive(Deserialize)]
struct MmLocation<'a> {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    accuracy_radius: Option<u16>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

#[derive(Deserialize)]
struct MmPostal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct FlatRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(borrow, default)]
    city: Option<&'a str>,
    #[serde(borrow, default)]
    postcode: Option<&'a str>,
    #[serde(default, deserialize_with = "lenient_f64")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    longitude: Option<f64>,
    #[serde(borrow, default)]
    timezone: Option<&'a str>,
}

/// Coordinates as a float, double, integer or numeric string: flat files
/// come from CSV conversions, and the type is not specified anywhere.
fn lenient_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number or a numeric string")
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_f32<E>(self, v: f32) -> Result<Self::Value, E> {
            Ok(Some(f64::from(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.trim().parse().ok())
        }
    }
    d.deserialize_any(V)
}

fn text(s: Option<&str>) -> Option<Arc<str>> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(Arc::from)
}

/// A country code as two upper-case ASCII letters; anything that is not two
/// ASCII letters is dropped, so the output always matches the schemas'
/// `^[A-Z]{2}$`.
fn country(s: Option<&str>) -> Option<Arc<str>> {
    match s.map(str::trim).map(str::as_bytes) {
        Some([a, b]) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            let code = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
            std::str::from_utf8(&code).ok().map(Arc::from)
        }
        _ => None,
    }
}

/// Keeps a coordinate pair only if it is a real position: both present,
/// finite and in range, and not (0, 0), which flat files use for "unknown".
fn coords(lat: Option<f64>, lon: Option<f64>) -> (Option<f64>, Option<f64>) {
    match (lat, lon) {
        (Some(la), Some(lo))
            if (-90.0..=90.0).contains(&la)
                && (-180.0..=180.0).contains(&lo)
                && !(la == 0.0 && lo == 0.0) =>
        {
            (Some(la), Some(lo))
        }
        _ => (None, None),
    }
}

fn decode<S: AsRef<[u8]>>(
    layout: Layout,
    result: &LookupResult<'_, S>,
) -> Result<IpLocation, MaxMindDbError> {
    match layout {
        Layout::MaxMindCity => {
            let Some(r) = result.decode::<MmRecord<'_>>()? else {
                return Ok(IpLocation::default());
            };
            let sub = r.subdivisions.as_ref().and_then(|s| s.first());
            let loc = r.location.as_ref();
            let (latitude, longitude) =
                coords(loc.and_then(|l| l.latitude), loc.and_then(|l| l.longitude));
            Ok(IpLocation {
                country_code: country(r.country.and_then(|c| c.iso_code)),
                region: text(sub.and_then(|s| s.names.as_ref().and_then(|n| n.en)))
                    .or_else(|| text(sub.and_then(|s| s.iso_code))),
                city: text(r.city.and_then(|c| c.names).and_then(|n| n.en)),
                postal_code: text(r.postal.and_then(|p| p.code)),
                latitude,
                longitude,
                accuracy_km: loc
                    .and_then(|l| l.accuracy_radius)
                    .filter(|_| latitude.is_some())
                    .map(f64::from),
                time_zone: text(loc.and_then(|l| l.time_zone)),
            })
        }
        Layout::DbIpCityLite => {
            let Some(r) = result.decode::<FlatRecord<'_>>()? else {
                return Ok(IpLocation::default());
            };
            let (latitude, longitude) = coords(r.latitude, r.longitude);
            Ok(IpLocation {
                country_code: country(r.country_code),
                region: text(r.state1),
                city: text(r.city),
                postal_code: text(r.postcode),
                latitude,
                longitude,
                accuracy_km: None,
                time_zone: text(r.timezone),
            })
        }
    }
}

// --- Address classification ------------------------------------------------

mod cache;
mod public;

use cache::RecordCache;
#[cfg(test)]
use cache::SHARDS;
pub use public::is_public;

#[cfg(test)]
pub(crate) mod tests;
