//! The file edge of enrichment: reads the geoip database files the configuration names,
//! hands their bytes to the core (`enrich::GeoDb::open`), and watches them for a new
//! version on a thread of its own, so a slow read never delays the table reader's
//! consent-freshness stamp. It also builds the process-wide time-zone finder once. It
//! owns file stamps and the reload timer; what a database says is the core's business.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::enrich::{Enricher, GeoDb, GeoIp, GeoIpError, ZoneFinder, ZoneFinderError};
use crate::log;

/// How often the geolocation files are checked for a new version.
pub const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// Errors opening the enrichment data; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum EnrichmentError {
    #[error("geoip database {path}: cannot stat: {source}")]
    Stat {
        path: String,
        source: std::io::Error,
    },
    #[error("geoip database {path}: not a readable MaxMind DB file: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Read, but not a database the core can use (boxed: large and rare).
    #[error(transparent)]
    GeoIp(Box<GeoIpError>),
    /// The built-in time-zone data is broken (a bad build).
    #[error(transparent)]
    Zones(#[from] ZoneFinderError),
}

impl From<GeoIpError> for EnrichmentError {
    fn from(e: GeoIpError) -> EnrichmentError {
        EnrichmentError::GeoIp(Box::new(e))
    }
}

/// The time-zone finder is immutable data compiled into the binary (~70 ms and ~40 MB
/// to build), so one copy serves every `Enricher` and every `Core` a test builds.
static ZONES: OnceLock<Arc<ZoneFinder>> = OnceLock::new();

/// The process-wide time-zone finder, built on first use; a broken build is an error.
/// If two threads race, both build and one copy is kept.
pub fn zones() -> Result<Arc<ZoneFinder>, ZoneFinderError> {
    if let Some(z) = ZONES.get() {
        return Ok(Arc::clone(z));
    }
    let built = Arc::new(ZoneFinder::try_new()?);
    Ok(Arc::clone(ZONES.get_or_init(|| built)))
}

/// An enricher without IP geolocation (user agent, device location and time zone still
/// work): what `process` and the tests use when no database is configured.
pub fn without_geoip() -> Result<Enricher, ZoneFinderError> {
    Ok(Enricher::new(GeoIp::empty(), zones()?))
}

/// What a reload compares: size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// The database files in use and the stamps they had when read.
#[derive(Debug)]
pub struct GeoIpFiles {
    paths: Vec<PathBuf>,
    stamps: Vec<FileStamp>,
}

fn stamp(path: &Path) -> Result<FileStamp, EnrichmentError> {
    let md = std::fs::metadata(path).map_err(|source| EnrichmentError::Stat {
        path: path.display().to_string(),
        source,
    })?;
    Ok(FileStamp {
        len: md.len(),
        modified: md.modified().ok(),
    })
}

/// Reads and opens every file. Each is stamped before it is read: if it is replaced in
/// between, the stale stamp makes the next reload pick up the new file (the other order
/// could miss it).
fn read_all(paths: &[PathBuf]) -> Result<(Vec<GeoDb>, Vec<FileStamp>), EnrichmentError> {
    let mut dbs = Vec::with_capacity(paths.len());
    let mut stamps = Vec::with_capacity(paths.len());
    for path in paths {
        stamps.push(stamp(path)?);
        let bytes = std::fs::read(path).map_err(|source| EnrichmentError::Read {
            path: path.display().to_string(),
            source,
        })?;
        dbs.push(GeoDb::open(path.display().to_string(), bytes)?);
    }
    Ok((dbs, stamps))
}

impl GeoIpFiles {
    /// Reads, opens and probes the files now (so a wrong file fails at start-up, not on
    /// the first event); no paths means no IP geolocation.
    pub fn open(paths: &[PathBuf]) -> Result<(GeoIpFiles, GeoIp), EnrichmentError> {
        let (dbs, stamps) = read_all(paths)?;
        let files = GeoIpFiles {
            paths: paths.to_vec(),
            stamps,
        };
        Ok((files, GeoIp::new(dbs)))
    }

    /// Re-reads the files if any changed size or modification time, probes them and
    /// swaps them into `geoip` atomically; `true` when new data is in use. On error the
    /// old databases stay in use and the next call tries again. Replace files by rename,
    /// not in place, so a half-written file is never read.
    pub fn reload_if_changed(&mut self, geoip: &GeoIp) -> Result<bool, EnrichmentError> {
        let mut changed = false;
        for (path, old) in self.paths.iter().zip(&self.stamps) {
            changed |= stamp(path)? != *old;
        }
        if !changed {
            return Ok(false);
        }
        let (dbs, stamps) = read_all(&self.paths)?;
        geoip.replace(dbs);
        self.stamps = stamps;
        Ok(true)
    }
}

/// Opens the enrichment data: the geoip files (read and probed now) and the time-zone
/// finder. Keep the returned files to [`watch`] them.
pub fn open(paths: &[PathBuf]) -> Result<(Enricher, GeoIpFiles), EnrichmentError> {
    let zones = zones()?;
    let (files, geoip) = GeoIpFiles::open(paths)?;
    Ok((Enricher::new(geoip, zones), files))
}

/// Checks the files every [`RELOAD_EVERY`] on a thread of its own until `stop`, logging
/// each reload (files and build dates, never addresses). No files: no thread.
pub fn watch(
    mut files: GeoIpFiles,
    enricher: Arc<Enricher>,
    stop: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    if files.paths.is_empty() {
        return None;
    }
    let run = move || {
        let mut last = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            if last.elapsed() < RELOAD_EVERY {
                continue;
            }
            last = Instant::now();
            match files.reload_if_changed(enricher.geoip()) {
                Ok(true) => log::info(&format!("IP geolocation reloaded: {}", enricher.describe())),
                Ok(false) => {}
                Err(e) => log::warn(&format!(
                    "IP geolocation reload failed, keeping the old data: {e}"
                )),
            }
        }
    };
    std::thread::Builder::new()
        .name("geoip-reload".into())
        .spawn(run)
        .map_err(|e| log::warn(&format!("cannot start the geoip reload thread: {e}")))
        .ok()
}

/// Why a core could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Enrichment(#[from] EnrichmentError),
}

/// The core from the configuration over an enricher opened with [`open`]; fails
/// without a pseudonym key.
pub fn core(
    config: &crate::config::Config,
    enricher: Arc<Enricher>,
) -> Result<crate::pipeline::Core, CoreError> {
    Ok(crate::pipeline::Core::new(
        config.core_settings()?,
        enricher,
    ))
}

/// The core without IP geolocation (user agent, device location and time zone still
/// enrich): cheap, since the time-zone finder is shared process-wide.
pub fn core_without_geoip(
    config: &crate::config::Config,
) -> Result<crate::pipeline::Core, CoreError> {
    let enricher = without_geoip().map_err(EnrichmentError::from)?;
    core(config, Arc::new(enricher))
}

#[cfg(test)]
mod tests {
    use super::*;
    use consent_enricher_testkit::mmdb_writer::{self, Layout, Variant};

    /// A fresh directory per test and process (no tempfile crate needed).
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("enrichment-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    fn city(g: &GeoIp, ip: &str) -> Option<String> {
        let loc = g.lookup(ip.parse().expect("address")).ok()?;
        loc.city.as_deref().map(str::to_owned)
    }

    #[test]
    fn bad_files_are_refused_naming_the_file() {
        let dir = temp_dir("bad");
        let missing = dir.join("missing.mmdb");
        let e = GeoIpFiles::open(std::slice::from_ref(&missing))
            .err()
            .unwrap();
        assert!(matches!(e, EnrichmentError::Stat { .. }), "{e}");
        assert!(e.to_string().contains("missing.mmdb"), "{e}");
        let garbage = dir.join("garbage.mmdb");
        std::fs::write(&garbage, b"hello").unwrap();
        let e = GeoIpFiles::open(std::slice::from_ref(&garbage))
            .err()
            .unwrap();
        assert!(matches!(e, EnrichmentError::GeoIp(_)), "{e}");
        assert!(e.to_string().contains("garbage.mmdb"), "{e}");
    }

    #[test]
    fn reload_swaps_in_a_renamed_file_and_keeps_the_old_data_on_error() {
        let dir = temp_dir("reload");
        let paths =
            mmdb_writer::write_fixture_variant(Layout::MaxMindCity, Variant::A, &dir).unwrap();
        let (mut files, g) = GeoIpFiles::open(&paths).unwrap();
        assert_eq!(city(&g, "81.2.69.142").as_deref(), Some("London"));
        assert!(!files.reload_if_changed(&g).unwrap());

        // Replace by rename, as operators should; B differs in size too, so the change is
        // seen even on filesystems with coarse mtimes.
        let staging = temp_dir("reload-staging");
        let new =
            mmdb_writer::write_fixture_variant(Layout::MaxMindCity, Variant::B, &staging).unwrap();
        std::fs::rename(&new[0], &paths[0]).unwrap();
        assert!(files.reload_if_changed(&g).unwrap());
        assert_eq!(city(&g, "81.2.69.142").as_deref(), Some("Manchester"));
        assert!(!files.reload_if_changed(&g).unwrap());

        // A broken replacement is refused and the old data stays in use.
        std::fs::write(&paths[0], b"not a database").unwrap();
        assert!(matches!(
            files.reload_if_changed(&g),
            Err(EnrichmentError::GeoIp(_))
        ));
        assert_eq!(city(&g, "81.2.69.142").as_deref(), Some("Manchester"));
    }

    #[test]
    fn the_zone_finder_is_built_once_per_process() {
        let a = zones().unwrap();
        let b = zones().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
