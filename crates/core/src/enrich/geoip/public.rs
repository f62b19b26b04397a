//! Which addresses may be looked up at all: public unicast only. Private, loopback,
//! link-local, documentation and similar ranges are answered `NotPublic` without touching
//! a database, so they never reach the cache or a lookup.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether an address can be geolocated: not private, loopback, link-local,
/// multicast, documentation, benchmarking, shared (CGNAT) or reserved.
/// (`IpAddr::is_global` is unstable, hence our own.) Expects IPv4-mapped
/// addresses already converted to IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_v4(ip: u32, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    ip & mask == u32::from_be_bytes(net) & mask
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const NOT_PUBLIC: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network"
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation TEST-NET-1
        ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation TEST-NET-2
        ([203, 0, 113, 0], 24),  // documentation TEST-NET-3
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, and broadcast
    ];
    let ip = u32::from(ip);
    !NOT_PUBLIC.iter().any(|(net, len)| in_v4(ip, *net, *len))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let in_net = |net: u128, len: u32| (bits ^ net) >> (128 - len) == 0;
    const NOT_PUBLIC: &[(u128, u32)] = &[
        (0, 8),                       // ::/8: unspecified, loopback, IPv4-compatible
        (0x0064_ff9b_0001 << 80, 48), // 64:ff9b:1::/48 local-use NAT64
        (0x0100 << 112, 64),          // 100::/64 discard-only
        (0x2001 << 112, 23),          // 2001::/23 IETF protocol assignments (Teredo, ORCHID, ...)
        (0x2001_0db8 << 96, 32),      // 2001:db8::/32 documentation
        (0x3fff << 112, 20),          // 3fff::/20 documentation
        (0x5f00 << 112, 16),          // 5f00::/16 SRv6 SIDs
        (0xfc00 << 112, 7),           // fc00::/7 unique local
        (0xfe80 << 112, 10),          // fe80::/10 link-local
        (0xfec0 << 112, 10),          // fec0::/10 deprecated site-local
        (0xff00 << 112, 8),           // ff00::/8 multicast
    ];
    !NOT_PUBLIC.iter().any(|(net, len)| in_net(*net, *len))
}
