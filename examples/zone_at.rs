//! Reads "lat lon" lines on stdin and prints one IANA zone per line ("-" when
//! there is none), for `scripts/tz-crosscheck`. Not part of the worker.
//! With `--all`, each line also gets a tab and every overlapping zone,
//! comma-separated (see `ZoneFinder::zones_at`).

use std::io::{BufRead, BufWriter, Write};

fn main() -> std::io::Result<()> {
    let all = std::env::args().any(|a| a == "--all");
    let finder = consent_enricher::enrich::ZoneFinder::new();
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let mut it = line.split_whitespace().map(str::parse::<f64>);
        let (zone, others) = match (it.next(), it.next()) {
            (Some(Ok(lat)), Some(Ok(lon))) => (
                finder.zone_at(lat, lon).map(|z| z.name()),
                if all {
                    finder.zones_at(lat, lon)
                } else {
                    Vec::new()
                },
            ),
            _ => (None, Vec::new()),
        };
        write!(out, "{}", zone.unwrap_or("-"))?;
        if all {
            let names: Vec<&str> = others.iter().map(|z| z.name()).collect();
            write!(out, "\t{}", names.join(","))?;
        }
        writeln!(out)?;
    }
    out.flush()
}
