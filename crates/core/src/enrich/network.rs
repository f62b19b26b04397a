//! The network an address belongs to: its autonomous system (ASN) and the organisation
//! that holds it (the ISP, hosting company or employer), from the IP-to-ASN CSV files
//! that ip-location-db publishes (`asn-ipv4.csv`, `asn-ipv6.csv`: inclusive address
//! ranges, the AS number, the organisation name).
//!
//! It owns the parse of those files into one sorted range table, its atomic replacement,
//! and the size of each AS (the IPv4 addresses it holds in the files), which the policy
//! uses to keep small networks out of the anonymous record. It does no I/O (the edge reads
//! the files and hands the bytes in), must not log, and never looks up an address that is
//! not public: the same rule, and the same [`GeoMiss`] answers, as `geoip`.
//!
//! Where ranges overlap (one pair in the 2026 release), an address belongs to the range
//! with the greatest start at or below it (of those starting together, the narrowest;
//! of identical ones, the highest AS number), if that range holds it: the block that cuts
//! into another wins, and an address no such range holds is not found rather than
//! guessed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;

use super::geoip::{GeoMiss, is_public};

/// The longest organisation name kept; a longer one is dropped, not cut (no real one
/// comes near it, and a cut string is not a name from the database).
const MAX_ORGANIZATION: usize = 256;

/// One autonomous system, shared by every range it holds. Serialized as the personal
/// record's `network`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AsNetwork {
    /// The AS number (never 0, which marks unrouted space and is not kept).
    pub asn: u32,
    /// The organisation holding it, as the database names it.
    pub organization: Option<Arc<str>>,
    /// IPv4 addresses the AS holds across the loaded files (its size; not output).
    #[serde(skip)]
    pub ipv4_addresses: u64,
}

/// Errors reading a network file. Each names the file, and the line for a bad row; none
/// quotes a row (rows are public data, but the error names where, not what).
#[derive(Debug, thiserror::Error)]
pub enum NetworkDbError {
    #[error("network database {name}: not UTF-8 text")]
    NotText { name: String },
    #[error(
        "network database {name}, line {line}: {what}; expected \
         ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization \
         with addresses (not the -num files' numbers)"
    )]
    Row {
        name: String,
        line: usize,
        what: &'static str,
    },
    #[error("network database {name}: holds no ranges")]
    Empty { name: String },
}

/// One file, parsed: its ranges with the AS number each belongs to, and the first
/// usable name each AS is given, before merging. Compact from the start (12 or 48 bytes a
/// range), since the real IPv4 file has 412k of them.
#[derive(Debug)]
pub struct NetworkFile {
    name: String,
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
    names: HashMap<u32, Arc<str>>,
}

impl NetworkFile {
    /// Parses a file's bytes; `name` (the file, for the worker) appears in errors and in
    /// [`Networks::describe`]. A header line, blank lines and rows with AS 0 are skipped.
    pub fn parse(name: impl Into<String>, bytes: &[u8]) -> Result<NetworkFile, NetworkDbError> {
        let name = name.into();
        let text = std::str::from_utf8(bytes)
            .map_err(|_| NetworkDbError::NotText { name: name.clone() })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut file = NetworkFile {
            name,
            v4: Vec::new(),
            v6: Vec::new(),
            names: HashMap::new(),
        };
        for (at, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || (at == 0 && line.starts_with("ip_range_start")) {
                continue;
            }
            let bad = |what| NetworkDbError::Row {
                name: file.name.clone(),
                line: at + 1,
                what,
            };
            let [start, end, asn, org] = fields(line).map_err(bad)?;
            let (start, end) = range(start, end).map_err(bad)?;
            let asn: u32 = asn
                .trim()
                .parse()
                .map_err(|_| bad("AS number is not a u32"))?;
            if asn == 0 {
                continue;
            }
            let org = org.trim();
            if !org.is_empty() && org.len() <= MAX_ORGANIZATION {
                file.names.entry(asn).or_insert_with(|| Arc::from(org));
            }
            match (start, end) {
                (IpAddr::V4(a), IpAddr::V4(b)) => file.v4.push((a.into(), b.into(), asn)),
                (IpAddr::V6(a), IpAddr::V6(b)) => file.v6.push((a.into(), b.into(), asn)),
                // `range` refuses mixed families.
                _ => {}
            }
        }
        if file.v4.is_empty() && file.v6.is_empty() {
            return Err(NetworkDbError::Empty { name: file.name });
        }
        Ok(file)
    }
}

/// The four fields of a CSV row; the last may be quoted (`"Cloudflare, Inc."`, with `""`
/// for a quote inside). Only the organisation is ever quoted in these files.
fn fields(line: &str) -> Result<[std::borrow::Cow<'_, str>; 4], &'static str> {
    let mut parts = line.splitn(4, ',');
    let (Some(a), Some(b), Some(c), Some(d)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("fewer than four fields");
    };
    Ok([a.into(), b.into(), c.into(), unquote(d)?])
}

fn unquote(field: &str) -> Result<std::borrow::Cow<'_, str>, &'static str> {
    let Some(inner) = field.strip_prefix('"') else {
        if field.contains('"') {
            return Err("a quote inside an unquoted field");
        }
        return Ok(field.into());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or("an unterminated quoted field")?;
    if !inner.contains('"') {
        return Ok(inner.into());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' && chars.next() != Some('"') {
            return Err("a lone quote inside a quoted field");
        }
        out.push(c);
    }
    Ok(out.into())
}

fn range(
    start: std::borrow::Cow<'_, str>,
    end: std::borrow::Cow<'_, str>,
) -> Result<(IpAddr, IpAddr), &'static str> {
    let parse = |s: &str| {
        s.trim()
            .parse::<IpAddr>()
            .map_err(|_| "a range end is not an IP address")
    };
    let (start, end) = (parse(&start)?, parse(&end)?);
    match (start, end) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ok((start, end)),
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ok((start, end)),
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
            Err("the range ends before it starts")
        }
        _ => Err("the range mixes IPv4 and IPv6"),
    }
}

/// The merged table of every loaded file.
#[derive(Debug, Default)]
struct Table {
    files: Vec<(String, usize)>,
    systems: Vec<Arc<AsNetwork>>,
    /// `(start, end, index into systems)`, sorted by start.
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
}

impl Table {
    fn new(files: Vec<NetworkFile>) -> Table {
        let mut index: HashMap<u32, u32> = HashMap::new();
        let mut systems: Vec<AsNetwork> = Vec::new();
        let mut table = Table::default();
        // The AS number's index in `systems`, made on first sight; a table has far fewer
        // than 2^32 systems (the AS number space).
        let mut id_of = |asn: u32| -> u32 {
            *index.entry(asn).or_insert_with(|| {
                systems.push(AsNetwork {
                    asn,
                    organization: None,
                    ipv4_addresses: 0,
                });
                (systems.len() - 1) as u32
            })
        };
        let mut names: Vec<HashMap<u32, Arc<str>>> = Vec::new();
        for mut file in files {
            table.files.push((file.name, file.v4.len() + file.v6.len()));
            for r in &mut file.v4 {
                r.2 = id_of(r.2);
            }
            for r in &mut file.v6 {
                r.2 = id_of(r.2);
            }
            table.v4.append(&mut file.v4);
            table.v6.append(&mut file.v6);
            names.push(file.names);
        }
        // Ranges starting together: the widest first, so the last one a lookup finds is
        // the narrowest; identical ranges in AS-number order.
        let asn = |id: u32| systems.get(id as usize).map_or(0, |s| s.asn);
        table
            .v4
            .sort_unstable_by_key(|&(a, b, id)| (a, std::cmp::Reverse(b), asn(id)));
        table
            .v6
            .sort_unstable_by_key(|&(a, b, id)| (a, std::cmp::Reverse(b), asn(id)));
        // A system's size is the union of its ranges, so a range listed twice (or a file
        // given twice) cannot lift a small network over the floor: in start order, only
        // what lies beyond the system's furthest end so far is new.
        let mut reach: HashMap<u32, u32> = HashMap::new();
        let mut sizes: HashMap<u32, u64> = HashMap::new();
        for &(a, b, id) in &table.v4 {
            let from = match reach.get(&id) {
                Some(&r) if r >= b => continue,
                Some(&r) if r >= a => r + 1,
                _ => a,
            };
            reach.insert(id, b);
            *sizes.entry(id).or_default() += u64::from(b - from) + 1;
        }
        for (id, system) in systems.iter_mut().enumerate() {
            system.ipv4_addresses = sizes.get(&(id as u32)).copied().unwrap_or(0);
            // The first file to name the system wins.
            system.organization = names.iter().find_map(|n| n.get(&system.asn).cloned());
        }
        table.v4.shrink_to_fit();
        table.v6.shrink_to_fit();
        table.systems = systems.into_iter().map(Arc::new).collect();
        table
    }

    fn find<T: Ord + Copy>(ranges: &[(T, T, u32)], ip: T) -> Option<u32> {
        // The last range starting at or below `ip`, if it reaches it.
        let after = ranges.partition_point(|&(start, _, _)| start <= ip);
        let &(_, end, id) = ranges.get(after.checked_sub(1)?)?;
        (ip <= end).then_some(id)
    }
}

/// The network lookup service: `Send + Sync`, share it by reference.
#[derive(Debug, Default)]
pub struct Networks {
    /// Swapped whole on replacement; lookups keep the generation they started with.
    table: RwLock<Arc<Table>>,
}

impl Networks {
    /// No files: every lookup is `Err(GeoMiss::NoDatabase)`.
    pub fn empty() -> Networks {
        Networks::default()
    }

    /// The service over parsed files, merged into one table.
    pub fn new(files: Vec<NetworkFile>) -> Networks {
        Networks {
            table: RwLock::new(Arc::new(Table::new(files))),
        }
    }

    fn current(&self) -> Arc<Table> {
        // A poisoned lock only means a writer panicked between two pointer moves; the
        // Arc inside is always whole.
        Arc::clone(&self.table.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether any file is loaded (records carry `network` only then).
    pub fn is_configured(&self) -> bool {
        !self.current().files.is_empty()
    }

    /// The AS holding `ip`. IPv4-mapped IPv6 addresses are looked up as IPv4.
    pub fn lookup(&self, ip: IpAddr) -> Result<Arc<AsNetwork>, GeoMiss> {
        let table = self.current();
        if table.files.is_empty() {
            return Err(GeoMiss::NoDatabase);
        }
        let ip = ip.to_canonical();
        if !is_public(ip) {
            return Err(GeoMiss::NotPublic);
        }
        let id = match ip {
            IpAddr::V4(v4) => Table::find(&table.v4, u32::from(v4)),
            IpAddr::V6(v6) => Table::find(&table.v6, u128::from(v6)),
        };
        id.and_then(|id| table.systems.get(id as usize))
            .map(Arc::clone)
            .ok_or(GeoMiss::NotFound)
    }

    /// Swaps in new files atomically: lookups in flight finish on the old table.
    pub fn replace(&self, files: Vec<NetworkFile>) {
        let fresh = Arc::new(Table::new(files));
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// One line for the start-up and reload log: files, ranges and systems.
    pub fn describe(&self) -> String {
        let t = self.current();
        if t.files.is_empty() {
            return "network: no database".to_string();
        }
        let files: Vec<String> = t
            .files
            .iter()
            .map(|(name, rows)| format!("{name} [{rows} ranges]"))
            .collect();
        format!(
            "network: {} ({} IPv4 and {} IPv6 ranges of {} autonomous systems)",
            files.join("; "),
            t.v4.len(),
            t.v6.len(),
            t.systems.len()
        )
    }
}

#[cfg(test)]
mod tests;
