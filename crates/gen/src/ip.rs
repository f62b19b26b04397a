//! An event's client IP: the person's ISP address for the session (sometimes IPv6), or a
//! crawler's.
//!
//! It owns the address arithmetic — staying inside the table's blocks, never a .0 or .255
//! — and the rule that an address lasts one session. It must not choose whether an event
//! carries an IP; `events` does.

use crate::events::SESSION_MS;
use crate::json::{lit, push_hex, push_u64};
use crate::population::Person;
use crate::rng::{Rng, mix64};
use crate::tables::{Tables, V4Range};

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
