//! Time-zone enrichment: coordinates (or, failing that, a country) to an
//! IANA zone, and an instant in that zone to the `time {zone, utc_offset_s,
//! dst, local_time, local_hour, weekday}` output fields.
//!
//! It owns the point-in-polygon index over the timezone-boundary-builder
//! polygons (bundled in the binary by `tzf-rs`/`tzf-dist`, ODbL data) and
//! the single-zone country table. It must not read files, call the system
//! clock or the host's zone database: every answer depends only on its inputs
//! and the data compiled into the binary, so results are reproducible.
//!
//! Why `tzf-rs` (lite data) rather than our own index over `geo` polygons:
//! the full boundary data is ~100 MB of GeoJSON that we could not ship or
//! fetch at build time, while `tzf-dist` embeds a 4 MB pre-simplified copy
//! (with the ocean zones) and `tzf-rs` answers from a tile pre-index in
//! ~0.25 µs. Start-up is ~70 ms and ~40 MB of RSS (polygons are expanded in
//! memory); compile cost is small (two tiny pure-Rust crates plus the data
//! blob). The simplification moves borders by up to a few hundred metres,
//! which the `scripts/tz-crosscheck` comparison against Python's
//! unsimplified `timezonefinder` quantifies. No per-cell cache is kept: the
//! lookup is already faster than a hash-map probe would be worth.

use chrono::{DateTime, Datelike, Offset, TimeZone, Timelike, Utc};
use chrono_tz::{OffsetComponents, Tz};
use tzf_rs::DefaultFinder;

/// Finds the IANA zone of a point or a country. Build once, share by
/// reference (it is `Send + Sync` and immutable).
pub struct ZoneFinder {
    finder: DefaultFinder,
    /// `tzf` zone index -> parsed zone, so a lookup never parses a name.
    /// `None` for a name this build's `chrono-tz` does not know (none today;
    /// a test checks), in which case the point gets its nautical zone.
    zones: Vec<Option<Tz>>,
    /// Nautical zones by hour offset + 12: `Etc/GMT+12` (UTC-12) .. `Etc/GMT-12`.
    nautical: Vec<Tz>,
    /// Upper-case ISO 3166-1 alpha-2 code -> zone, sorted for binary search.
    countries: Vec<([u8; 2], Tz)>,
}

/// Error building a [`ZoneFinder`]; only a broken build can cause it.
#[derive(Debug, thiserror::Error)]
pub enum ZoneFinderError {
    #[error("embedded time-zone boundary data is unreadable: {0}")]
    Data(String),
    #[error("zone name {0:?} in the built-in tables is unknown to chrono-tz")]
    UnknownZone(String),
    #[error("country code {0:?} in the built-in table is not two letters")]
    BadCountryCode(String),
}

impl Default for ZoneFinder {
    fn default() -> Self {
        Self::new()
    }
}

impl ZoneFinder {
    /// Builds the finder (~70 ms, ~40 MB; do it once at start-up).
    #[allow(clippy::expect_used)]
    pub fn new() -> ZoneFinder {
        // Proven invariant: every input to `try_new` is compiled into the
        // binary (the tzf-dist blob and the tables below), and the test
        // `builds_and_knows_every_zone` builds it, so it cannot fail at run
        // time unless the build itself is broken.
        Self::try_new().expect("built-in time-zone data is valid (checked by unit tests)")
    }

    /// Fallible constructor, for callers that prefer an error to a panic.
    pub fn try_new() -> Result<ZoneFinder, ZoneFinderError> {
        let finder = DefaultFinder::from_tzb(tzf_dist::load_lite_tzb())
            .map_err(|e| ZoneFinderError::Data(e.to_string()))?;
        let zones = finder
            .timezonenames()
            .iter()
            .map(|n| n.parse::<Tz>().ok())
            .collect();
        let nautical = (-12i32..=12)
            .map(|h| {
                // IANA's Etc/GMT signs are inverted: UTC+5 is "Etc/GMT-5".
                let name = match h {
                    0 => "Etc/GMT".to_string(),
                    h if h > 0 => format!("Etc/GMT-{h}"),
                    h => format!("Etc/GMT+{}", -h),
                };
                name.parse::<Tz>()
                    .map_err(|_| ZoneFinderError::UnknownZone(name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut countries = SINGLE_ZONE_COUNTRIES
            .iter()
            .map(|(code, zone)| {
                let tz = zone
                    .parse::<Tz>()
                    .map_err(|_| ZoneFinderError::UnknownZone((*zone).to_string()))?;
                match code.as_bytes() {
                    [a, b] => Ok(([*a, *b], tz)),
                    _ => Err(ZoneFinderError::BadCountryCode((*code).to_string())),
                }
            })
            .collect::<Result<Vec<_>, ZoneFinderError>>()?;
        countries.sort_unstable_by_key(|(c, _)| *c);
        Ok(ZoneFinder {
            finder,
            zones,
            nautical,
            countries,
        })
    }

    /// Release of the boundary data (e.g. "2026f"), for the start-up log.
    pub fn data_version(&self) -> &str {
        self.finder.data_version()
    }

    /// The IANA zone at a point (WGS84 degrees). Open sea gets its nautical
    /// zone (`Etc/GMT±N`); NaN, infinities and out-of-range values get `None`.
    pub fn zone_at(&self, lat: f64, lon: f64) -> Option<Tz> {
        // The range checks also reject NaN (every comparison is false).
        if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
            return None;
        }
        let from_polygons = self
            .finder
            .get_tz_index(lon, lat)
            .and_then(|i| self.zones.get(i).copied().flatten());
        // The data covers the whole globe including the oceans, so the
        // nautical fallback only fills gaps (none are known).
        Some(from_polygons.unwrap_or_else(|| self.nautical_zone(lon)))
    }

    /// Every zone whose polygon contains the point, by exact polygon test
    /// (slower than [`ZoneFinder::zone_at`]). The boundary data has a few
    /// overlaps, notably Asia/Urumqi inside Asia/Shanghai over Xinjiang,
    /// where `zone_at` answers Asia/Shanghai; this shows the alternatives.
    pub fn zones_at(&self, lat: f64, lon: f64) -> Vec<Tz> {
        if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
            return Vec::new();
        }
        self.finder
            .get_tz_names(lon, lat)
            .into_iter()
            .filter_map(|n| n.parse().ok())
            .collect()
    }

    fn nautical_zone(&self, lon: f64) -> Tz {
        // Each nautical zone is 15° wide, centred on a multiple of 15°.
        let hours = (lon / 15.0).round().clamp(-12.0, 12.0) as i32;
        // Proven invariant: `hours + 12` is in 0..=24 and `nautical` has 25
        // entries (built from -12..=12 in `try_new`).
        self.nautical[(hours + 12) as usize]
    }

    /// The zone of a country that has exactly one (ISO 3166-1 alpha-2, any
    /// case). Countries spanning several zones get `None`: guessing one
    /// would invent a wrong local time for part of the population.
    pub fn zone_for_country(&self, country_code: &str) -> Option<Tz> {
        let [a, b] = country_code.as_bytes() else {
            return None;
        };
        let key = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        self.countries
            .binary_search_by_key(&key, |(c, _)| *c)
            .ok()
            .map(|i| self.countries[i].1)
    }
}

/// Countries with a single zone. Also listed, with the zone shown, are a few
/// whose several IANA zones have had identical rules for years (AR, CN, CY,
/// DE, MY, UZ): the answer is right for everyone there today. CN maps to
/// Asia/Shanghai, the official time; Asia/Urumqi (UTC+6) is an informal
/// local usage. Multi-zone countries (US, CA, MX, BR, RU, AU, ID, KZ, MN, CD,
/// CL, EC, ES, PT, NZ, KI, FM, PF, PG, GL, MH, PS, UA, UM, AQ) are absent.
const SINGLE_ZONE_COUNTRIES: &[(&str, &str)] = &[
    ("AD", "Europe/Andorra"),
    ("AE", "Asia/Dubai"),
    ("AF", "Asia/Kabul"),
    ("AG", "America/Antigua"),
    ("AI", "America/Anguilla"),
    ("AL", "Europe/Tirane"),
    ("AM", "Asia/Yerevan"),
    ("AO", "Africa/Luanda"),
    ("AR", "America/Argentina/Buenos_Aires"),
    ("AS", "Pacific/Pago_Pago"),
    ("AT", "Europe/Vienna"),
    ("AW", "America/Aruba"),
    ("AX", "Europe/Mariehamn"),
    ("AZ", "Asia/Baku"),
    ("BA", "Europe/Sarajevo"),
    ("BB", "America/Barbados"),
    ("BD", "Asia/Dhaka"),
    ("BE", "Europe/Brussels"),
    ("BF", "Africa/Ouagadougou"),
    ("BG", "Europe/Sofia"),
    ("BH", "Asia/Bahrain"),
    ("BI", "Africa/Bujumbura"),
    ("BJ", "Africa/Porto-Novo"),
    ("BL", "America/St_Barthelemy"),
    ("BM", "Atlantic/Bermuda"),
    ("BN", "Asia/Brunei"),
    ("BO", "America/La_Paz"),
    ("BQ", "America/Kralendijk"),
    ("BS", "America/Nassau"),
    ("BT", "Asia/Thimphu"),
    ("BW", "Africa/Gaborone"),
    ("BY", "Europe/Minsk"),
    ("BZ", "America/Belize"),
    ("CC", "Indian/Cocos"),
    ("CF", "Africa/Bangui"),
    ("CG", "Africa/Brazzaville"),
    ("CH", "Europe/Zurich"),
    ("CI", "Africa/Abidjan"),
    ("CK", "Pacific/Rarotonga"),
    ("CM", "Africa/Douala"),
    ("CN", "Asia/Shanghai"),
    ("CO", "America/Bogota"),
    ("CR", "America/Costa_Rica"),
    ("CU", "America/Havana"),
    ("CV", "Atlantic/Cape_Verde"),
    ("CW", "America/Curacao"),
    ("CX", "Indian/Christmas"),
    ("CY", "Asia/Nicosia"),
    ("CZ", "Europe/Prague"),
    ("DE", "Europe/Berlin"),
    ("DJ", "Africa/Djibouti"),
    ("DK", "Europe/Copenhagen"),
    ("DM", "America/Dominica"),
    ("DO", "America/Santo_Domingo"),
    ("DZ", "Africa/Algiers"),
    ("EE", "Europe/Tallinn"),
    ("EG", "Africa/Cairo"),
    ("EH", "Africa/El_Aaiun"),
    ("ER", "Africa/Asmara"),
    ("ET", "Africa/Addis_Ababa"),
    ("FI", "Europe/Helsinki"),
    ("FJ", "Pacific/Fiji"),
    ("FK", "Atlantic/Stanley"),
    ("FO", "Atlantic/Faroe"),
    ("FR", "Europe/Paris"),
    ("GA", "Africa/Libreville"),
    ("GB", "Europe/London"),
    ("GD", "America/Grenada"),
    ("GE", "Asia/Tbilisi"),
    ("GF", "America/Cayenne"),
    ("GG", "Europe/Guernsey"),
    ("GH", "Africa/Accra"),
    ("GI", "Europe/Gibraltar"),
    ("GM", "Africa/Banjul"),
    ("GN", "Africa/Conakry"),
    ("GP", "America/Guadeloupe"),
    ("GQ", "Africa/Malabo"),
    ("GR", "Europe/Athens"),
    ("GS", "Atlantic/South_Georgia"),
    ("GT", "America/Guatemala"),
    ("GU", "Pacific/Guam"),
    ("GW", "Africa/Bissau"),
    ("GY", "America/Guyana"),
    ("HK", "Asia/Hong_Kong"),
    ("HN", "America/Tegucigalpa"),
    ("HR", "Europe/Zagreb"),
    ("HT", "America/Port-au-Prince"),
    ("HU", "Europe/Budapest"),
    ("IE", "Europe/Dublin"),
    ("IL", "Asia/Jerusalem"),
    ("IM", "Europe/Isle_of_Man"),
    ("IN", "Asia/Kolkata"),
    ("IO", "Indian/Chagos"),
    ("IQ", "Asia/Baghdad"),
    ("IR", "Asia/Tehran"),
    ("IS", "Atlantic/Reykjavik"),
    ("IT", "Europe/Rome"),
    ("JE", "Europe/Jersey"),
    ("JM", "America/Jamaica"),
    ("JO", "Asia/Amman"),
    ("JP", "Asia/Tokyo"),
    ("KE", "Africa/Nairobi"),
    ("KG", "Asia/Bishkek"),
    ("KH", "Asia/Phnom_Penh"),
    ("KM", "Indian/Comoro"),
    ("KN", "America/St_Kitts"),
    ("KP", "Asia/Pyongyang"),
    ("KR", "Asia/Seoul"),
    ("KW", "Asia/Kuwait"),
    ("KY", "America/Cayman"),
    ("LA", "Asia/Vientiane"),
    ("LB", "Asia/Beirut"),
    ("LC", "America/St_Lucia"),
    ("LI", "Europe/Vaduz"),
    ("LK", "Asia/Colombo"),
    ("LR", "Africa/Monrovia"),
    ("LS", "Africa/Maseru"),
    ("LT", "Europe/Vilnius"),
    ("LU", "Europe/Luxembourg"),
    ("LV", "Europe/Riga"),
    ("LY", "Africa/Tripoli"),
    ("MA", "Africa/Casablanca"),
    ("MC", "Europe/Monaco"),
    ("MD", "Europe/Chisinau"),
    ("ME", "Europe/Podgorica"),
    ("MF", "America/Marigot"),
    ("MG", "Indian/Antananarivo"),
    ("MK", "Europe/Skopje"),
    ("ML", "Africa/Bamako"),
    ("MM", "Asia/Yangon"),
    ("MO", "Asia/Macau"),
    ("MP", "Pacific/Saipan"),
    ("MQ", "America/Martinique"),
    ("MR", "Africa/Nouakchott"),
    ("MS", "America/Montserrat"),
    ("MT", "Europe/Malta"),
    ("MU", "Indian/Mauritius"),
    ("MV", "Indian/Maldives"),
    ("MW", "Africa/Blantyre"),
    ("MY", "Asia/Kuala_Lumpur"),
    ("MZ", "Africa/Maputo"),
    ("NA", "Africa/Windhoek"),
    ("NC", "Pacific/Noumea"),
    ("NE", "Africa/Niamey"),
    ("NF", "Pacific/Norfolk"),
    ("NG", "Africa/Lagos"),
    ("NI", "America/Managua"),
    ("NL", "Europe/Amsterdam"),
    ("NO", "Europe/Oslo"),
    ("NP", "Asia/Kathmandu"),
    ("NR", "Pacific/Nauru"),
    ("NU", "Pacific/Niue"),
    ("OM", "Asia/Muscat"),
    ("PA", "America/Panama"),
    ("PE", "America/Lima"),
    ("PH", "Asia/Manila"),
    ("PK", "Asia/Karachi"),
    ("PL", "Europe/Warsaw"),
    ("PM", "America/Miquelon"),
    ("PN", "Pacific/Pitcairn"),
    ("PR", "America/Puerto_Rico"),
    ("PW", "Pacific/Palau"),
    ("PY", "America/Asuncion"),
    ("QA", "Asia/Qatar"),
    ("RE", "Indian/Reunion"),
    ("RO", "Europe/Bucharest"),
    ("RS", "Europe/Belgrade"),
    ("RW", "Africa/Kigali"),
    ("SA", "Asia/Riyadh"),
    ("SB", "Pacific/Guadalcanal"),
    ("SC", "Indian/Mahe"),
    ("SD", "Africa/Khartoum"),
    ("SE", "Europe/Stockholm"),
    ("SG", "Asia/Singapore"),
    ("SH", "Atlantic/St_Helena"),
    ("SI", "Europe/Ljubljana"),
    ("SJ", "Arctic/Longyearbyen"),
    ("SK", "Europe/Bratislava"),
    ("SL", "Africa/Freetown"),
    ("SM", "Europe/San_Marino"),
    ("SN", "Africa/Dakar"),
    ("SO", "Africa/Mogadishu"),
    ("SR", "America/Paramaribo"),
    ("SS", "Africa/Juba"),
    ("ST", "Africa/Sao_Tome"),
    ("SV", "America/El_Salvador"),
    ("SX", "America/Lower_Princes"),
    ("SY", "Asia/Damascus"),
    ("SZ", "Africa/Mbabane"),
    ("TC", "America/Grand_Turk"),
    ("TD", "Africa/Ndjamena"),
    ("TF", "Indian/Kerguelen"),
    ("TG", "Africa/Lome"),
    ("TH", "Asia/Bangkok"),
    ("TJ", "Asia/Dushanbe"),
    ("TK", "Pacific/Fakaofo"),
    ("TL", "Asia/Dili"),
    ("TM", "Asia/Ashgabat"),
    ("TN", "Africa/Tunis"),
    ("TO", "Pacific/Tongatapu"),
    ("TR", "Europe/Istanbul"),
    ("TT", "America/Port_of_Spain"),
    ("TV", "Pacific/Funafuti"),
    ("TW", "Asia/Taipei"),
    ("TZ", "Africa/Dar_es_Salaam"),
    ("UG", "Africa/Kampala"),
    ("UY", "America/Montevideo"),
    ("UZ", "Asia/Tashkent"),
    ("VA", "Europe/Vatican"),
    ("VC", "America/St_Vincent"),
    ("VE", "America/Caracas"),
    ("VG", "America/Tortola"),
    ("VI", "America/St_Thomas"),
    ("VN", "Asia/Ho_Chi_Minh"),
    ("VU", "Pacific/Efate"),
    ("WF", "Pacific/Wallis"),
    ("WS", "Pacific/Apia"),
    // Kosovo: user-assigned code used by MaxMind and DB-IP.
    ("XK", "Europe/Belgrade"),
    ("YE", "Asia/Aden"),
    ("YT", "Indian/Mayotte"),
    ("ZA", "Africa/Johannesburg"),
    ("ZM", "Africa/Lusaka"),
    ("ZW", "Africa/Harare"),
];

/// The `time {…}` output fields for one instant in one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTime {
    pub zone: Tz,
    /// Total offset from UTC in seconds (standard + daylight saving).
    pub utc_offset_s: i32,
    /// Summer (daylight saving) time in effect.
    pub dst: bool,
    /// Local wall time "YYYY-MM-DDTHH:MM:SS", no offset.
    pub local_time: String,
    pub local_hour: u8,
    /// ISO weekday, 1 = Monday .. 7 = Sunday.
    pub weekday: u8,
}

/// Local time in `zone` at the event's own instant `at` (never "now").
pub fn local_time(zone: Tz, at: DateTime<Utc>) -> LocalTime {
    let local = at.with_timezone(&zone);
    let offset = *local.offset();
    let utc_offset_s = offset.fix().local_minus_utc();
    let naive = local.naive_local();
    LocalTime {
        zone,
        utc_offset_s,
        dst: is_summer_time(zone, at, offset.dst_offset().num_seconds()),
        local_time: format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            naive.year(),
            naive.month(),
            naive.day(),
            naive.hour(),
            naive.minute(),
            naive.second()
        ),
        // hour() is 0..=23 and number_from_monday() 1..=7: both fit in u8.
        local_hour: naive.hour() as u8,
        weekday: naive.weekday().number_from_monday() as u8,
    }
}

/// Whether `zone` is on its summer time at `at`.
///
/// IANA data describes Ireland the other way round: its "standard" time is
/// the summer one (IST, UTC+1) and winter is a *negative* saving. Taken
/// literally, chrono-tz's `dst_offset` would call Irish summer "no DST" and
/// Irish winter "DST" — the opposite of what anyone reading `time.dst`
/// expects. So a negative saving counts as winter, and for zones known to
/// use one (Ireland; Namibia until 2017) a zero saving counts as summer when
/// the zone's winter saving, six months away, is negative. Morocco's negative
/// saving is its Ramadan time, so it keeps the literal reading (never DST).
fn is_summer_time(zone: Tz, at: DateTime<Utc>, dst_offset_s: i64) -> bool {
    if dst_offset_s != 0 {
        return dst_offset_s > 0;
    }
    if !matches!(zone, Tz::Europe__Dublin | Tz::Eire | Tz::Africa__Windhoek) {
        return false;
    }
    let half_year = chrono::Duration::days(182);
    [
        at.checked_sub_signed(half_year),
        at.checked_add_signed(half_year),
    ]
    .into_iter()
    .flatten()
    .any(|t| zone.offset_from_utc_datetime(&t.naive_utc()).dst_offset() < chrono::Duration::zero())
}

/// One finder for all of this crate's unit tests (70 ms and 40 MB each otherwise).
#[cfg(test)]
pub(crate) fn test_zones() -> std::sync::Arc<ZoneFinder> {
    static ZONES: std::sync::OnceLock<std::sync::Arc<ZoneFinder>> = std::sync::OnceLock::new();
    std::sync::Arc::clone(ZONES.get_or_init(|| std::sync::Arc::new(ZoneFinder::new())))
}

#[cfg(test)]
mod tests;
