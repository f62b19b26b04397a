//! Enrichment of a parsed event: parsed user agent, IP geolocation, device location and
//! the time zone with local time at the event's instant. This file owns the output
//! shapes the policy copies and the order of lookups; the lookups themselves live in the
//! submodules. Nothing here decides what is personal: `policy` picks which of these
//! fields reach which record.

use serde::Serialize;

use crate::model::{DeviceLocation, RawEvent};

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

/// Location from the IP address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2.
    pub country_code: Option<String>,
    /// First-level subdivision.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Latitude of the network's location.
    pub latitude: Option<f64>,
    /// Longitude of the network's location.
    pub longitude: Option<f64>,
    /// Accuracy radius in km, where the database gives one.
    pub accuracy_km: Option<f64>,
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
}

impl Miss {
    /// Stable label.
    pub fn code(self) -> &'static str {
        match self {
            Miss::InvalidCoordinates => "invalid_coordinates",
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
    /// What was missing and why.
    pub misses: Vec<Miss>,
}

/// Enriches one event.
pub fn enrich(ev: &RawEvent<'_>) -> Enrichment {
    let mut out = Enrichment::default();
    if let Some(loc) = ev.location {
        if loc.is_valid() {
            out.device_location = Some(loc);
        } else {
            out.misses.push(Miss::InvalidCoordinates);
        }
    }
    out
}
