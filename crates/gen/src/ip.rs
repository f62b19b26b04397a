//! An event's client IP: the person's ISP address for the session (sometimes IPv6), or a
//! crawler's.
//!
//! It owns the address arithmetic — staying inside the table's blocks, never a .0 or .255
//! — and the rule that an address lasts one session, and lists those blocks with a place
//! for each ([`client_networks`]), so an IP geolocation database that covers every person's
//! address can be built from the same tables. It must not choose whether an event carries
//! an IP; `events` does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::events::SESSION_MS;
use crate::json::{lit, push_hex, push_u64};
use crate::population::Person;
use crate::rng::{Rng, mix64};
use crate::tables::{City, Tables, V4Range};

pub(crate) fn write_ip(
    out: &mut Vec<u8>,
    r: &mut Rng,
    tables: &Tables,
    p: &Person,
    bot: bool,
    t: i64,
) {
    if bot {
        if r.chance(0.1) {
            lit(out, b"2001:4860:4801:");
            write_v6_tail(out, r, 5);
        } else {
            write_v4(out, r.pick(&tables.bot_ranges), r.next_u64());
        }
        return;
    }
    // Same address for a session, a new one after (dynamic ISP addressing).
    let host = mix64(p.key ^ 0x1b ^ (t / SESSION_MS) as u64);
    match &p.locale.v6 {
        Some(prefix) if r.chance(0.2) => {
            lit(out, prefix.as_bytes());
            write_v6_tail(out, r, 8 - prefix.matches(':').count());
        }
        _ => write_v4(out, p.v4, host),
    }
}

/// A host inside `base/len`, never the .0 or .255 of a /24.
fn write_v4(out: &mut Vec<u8>, (base, len): V4Range, host: u64) {
    let size = 1u64 << (32 - u32::from(len));
    let mut ip = base + (host % size) as u32;
    ip = (ip & !0xFF) | (1 + (ip & 0xFF) % 254);
    for (k, octet) in ip.to_be_bytes().iter().enumerate() {
        if k > 0 {
            out.push(b'.');
        }
        push_u64(out, u64::from(*octet));
    }
}

fn write_v6_tail(out: &mut Vec<u8>, r: &mut Rng, groups: usize) {
    for k in 0..groups {
        if k > 0 {
            out.push(b':');
        }
        let mut s = String::with_capacity(4);
        let g = r.below(0x1_0000);
        // Groups are written without leading zeros, as real software prints them.
        let digits = (1..=4).find(|&n| g < 1 << (4 * n)).unwrap_or(4);
        push_hex(&mut s, g, digits);
        lit(out, s.as_bytes());
    }
}

/// A block people's client addresses are drawn from (`isp_ranges.tsv`, a locale's IPv6
/// prefix), with a city of the same country: what a city-level geolocation database
/// would say about it. Made up, not real geolocation: the generator draws a person's city
/// and address independently, so the place is only the right country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientNetwork {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// ISO 3166-1 alpha-2.
    pub country: &'static str,
    pub region: &'static str,
    pub city: &'static str,
    /// Micro-degrees, the tables' exact values.
    pub lat_micro: i32,
    pub lon_micro: i32,
}

/// Every block a person's address can come from, each split into equal parts, one per
/// city of its locale (cycling), so a database built from them spreads a country's events
/// over all its cities. Crawler ranges are left out: a real database places them at a
/// data centre, which says nothing about a person. No two networks overlap, so the order
/// they are inserted in does not matter.
pub fn client_networks() -> Vec<ClientNetwork> {
    let tables = Tables::get();
    let mut out = Vec::new();
    for l in &tables.locales {
        // `Tables` does not parse the IPv6 prefix; one that does not parse would be missing
        // here, and `client_networks_hold_every_persons_address_once` says so.
        let v6 = l.v6.as_deref().and_then(v6_block);
        let blocks =
            l.v4.iter()
                .map(|&(base, len)| (u128::from(base), len, 32u8))
                .chain(v6.map(|(base, len)| (u128::from(base), len, 128)));
        for (base, len, bits) in blocks {
            // The fewest extra prefix bits that give every city a part (`Tables` refuses a
            // locale without cities).
            let want = usize::BITS - (l.cities.len().max(1) - 1).leading_zeros();
            let extra = want.min(u32::from(bits - len));
            for part in 0..1u128 << extra {
                let shift = u32::from(bits - len) - extra;
                let addr = base | (part << shift);
                let city: &'static City = &l.cities[part as usize % l.cities.len()];
                out.push(ClientNetwork {
                    addr: match bits {
                        32 => IpAddr::V4(Ipv4Addr::from(addr as u32)),
                        _ => IpAddr::V6(Ipv6Addr::from(addr)),
                    },
                    prefix_len: len + extra as u8,
                    country: &l.country,
                    region: &city.region,
                    city: &city.name,
                    lat_micro: city.lat,
                    lon_micro: city.lon,
                });
            }
        }
    }
    out
}

/// `2601:184:` → `2601:184::/32`: the prefix `write_ip` writes before its random tail.
fn v6_block(prefix: &str) -> Option<(Ipv6Addr, u8)> {
    let groups = prefix.matches(':').count();
    let addr: Ipv6Addr = format!("{prefix}:").parse().ok()?;
    Some((addr, u8::try_from(16 * groups).ok()?))
}
