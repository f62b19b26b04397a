//! The file edge of enrichment: reads the geoip and network database files the
//! configuration names, hands their bytes to the core (`enrich::GeoDb::open`,
//! `enrich::NetworkFile::parse`), and watches them for a new
//! version on a thread of its own, so a slow read never delays the table reader's
//! consent-freshness stamp. It also builds the process-wide time-zone finder once. It
//! owns file stamps and the reload timer; what a database says is the core's business.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::enrich::{
    Enricher, GeoDb, GeoIp, GeoIpError, NetworkDbError, NetworkFile, Networks, ZoneFinder,
    ZoneFinderError,
};
use crate::log;

/// How often the geoip and network files are checked for a new version.
pub const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// Errors opening the enrichment data; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum EnrichmentError {
    #[error("{kind} {path}: cannot stat: {source}")]
    Stat {
        kind: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{kind} {path}: cannot read: {source}")]
    Read {
        kind: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// Read, but not a database the core can use (boxed: large and rare).
    #[error(transparent)]
    GeoIp(Box<GeoIpError>),
    /// Read, but not a network (AS) file the core can use.
    #[error(transparent)]
    Network(#[from] NetworkDbError),
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

/// An enricher without IP geolocation or network data (user agent, device location and
/// time zone still work): what `process` and the tests use when no database is configured.
pub fn without_geoip() -> Result<Enricher, ZoneFinderError> {
    Ok(Enricher::new(GeoIp::empty(), zones()?))
}

/// What a reload compares: size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// A file's name (its path, for errors and logs) and contents.
type NamedBytes = (String, Vec<u8>);

/// One kind of data file (geoip or network) in use, and the stamps they had when read.
#[derive(Debug)]
struct DataFiles {
    kind: &'static str,
    paths: Vec<PathBuf>,
    stamps: Vec<FileStamp>,
}

impl DataFiles {
    fn stamp(&self, path: &Path) -> Result<FileStamp, EnrichmentError> {
        let md = std::fs::metadata(path).map_err(|source| EnrichmentError::Stat {
            kind: self.kind,
            path: path.display().to_string(),
            source,
        })?;
        Ok(FileStamp {
            len: md.len(),
            modified: md.modified().ok(),
        })
    }

    /// Reads every file as `(name, bytes)` and keeps the stamps they had. Each is
    /// stamped before it is read: if it is replaced in between, the stale stamp makes the
    /// next reload pick up the new file (the other order could miss it). The stamps are
    /// only kept by [`DataFiles::reload`], once the bytes were accepted.
    fn read(&self) -> Result<(Vec<NamedBytes>, Vec<FileStamp>), EnrichmentError> {
        let mut files = Vec::with_capacity(self.paths.len());
        let mut stamps = Vec::with_capacity(self.paths.len());
        for path in &self.paths {
            stamps.push(self.stamp(path)?);
            let bytes = std::fs::read(path).map_err(|source| EnrichmentError::Read {
                kind: self.kind,
                path: path.display().to_string(),
                source,
            })?;
            files.push((path.display().to_string(), bytes));
        }
        Ok((files, stamps))
    }

    /// Reads the files if they changed and hands them to `swap`; keeps the new stamps
    /// only once `swap` accepted them.
    fn reload(
        &mut self,
        swap: impl FnOnce(Vec<NamedBytes>) -> Result<(), EnrichmentError>,
    ) -> Result<bool, EnrichmentError> {
        if !self.changed()? {
            return Ok(false);
        }
        let (files, stamps) = self.read()?;
        swap(files)?;
        self.stamps = stamps;
        Ok(true)
    }

    fn changed(&self) -> Result<bool, EnrichmentError> {
        let mut changed = false;
        for (path, old) in self.paths.iter().zip(&self.stamps) {
            changed |= self.stamp(path)? != *old;
        }
        Ok(changed)
    }
}

fn open_geoip(files: Vec<NamedBytes>) -> Result<Vec<GeoDb>, EnrichmentError> {
    files
        .into_iter()
        .map(|(name, bytes)| GeoDb::open(name, bytes).map_err(EnrichmentError::from))
        .collect()
}

fn parse_networks(files: Vec<NamedBytes>) -> Result<Vec<NetworkFile>, EnrichmentError> {
    files
        .into_iter()
        .map(|(name, bytes)| NetworkFile::parse(name, &bytes).map_err(EnrichmentError::from))
        .collect()
}

/// The enrichment data files in use (geoip and network), for [`watch`].
#[derive(Debug)]
pub struct EnrichmentFiles {
    geoip: DataFiles,
    network: DataFiles,
}

impl EnrichmentFiles {
    /// Re-reads whichever kind of file changed size or modification time, checks it and
    /// swaps it into `enricher` atomically; `true` when new data is in use. Each kind is
    /// reloaded on its own: a broken geoip file neither blocks a new network file nor is
    /// blocked by one. On error that kind's old data stays in use and the next call tries
    /// again; the error returned is the first one, after both kinds were tried. Replace
    /// files by rename, not in place, so a half-written file is never read.
    pub fn reload_if_changed(&mut self, enricher: &Enricher) -> Result<bool, EnrichmentError> {
        let geoip = self.geoip.reload(|files| {
            enricher.geoip().replace(open_geoip(files)?);
            Ok(())
        });
        let network = self.network.reload(|files| {
            enricher.networks().replace(parse_networks(files)?);
            Ok(())
        });
        Ok(geoip? | network?)
    }

    fn is_empty(&self) -> bool {
        self.geoip.paths.is_empty() && self.network.paths.is_empty()
    }
}

/// Opens the enrichment data: the geoip and network files (read and checked now, so a
/// wrong file fails at start-up, not on the first event; no paths, no such data) and the
/// time-zone finder. Keep the returned files to [`watch`] them.
pub fn open(
    geoip: &[PathBuf],
    network: &[PathBuf],
) -> Result<(Enricher, EnrichmentFiles), EnrichmentError> {
    let zones = zones()?;
    let mut files = EnrichmentFiles {
        geoip: DataFiles {
            kind: "geoip database",
            paths: geoip.to_vec(),
            stamps: Vec::new(),
        },
        network: DataFiles {
            kind: "network database",
            paths: network.to_vec(),
            stamps: Vec::new(),
        },
    };
    let (geo, stamps) = files.geoip.read()?;
    let geoip = GeoIp::new(open_geoip(geo)?);
    files.geoip.stamps = stamps;
    let (nets, stamps) = files.network.read()?;
    let networks = Networks::new(parse_networks(nets)?);
    files.network.stamps = stamps;
    Ok((Enricher::new(geoip, zones).with_networks(networks), files))
}

/// Checks the files every [`RELOAD_EVERY`] on a thread of its own until `stop`, logging
/// each reload (files and build dates, never addresses). No files: no thread.
pub fn watch(
    mut files: EnrichmentFiles,
    enricher: Arc<Enricher>,
    stop: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    if files.is_empty() {
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
            match files.reload_if_changed(&enricher) {
                Ok(true) => log::info(&format!(
                    "enrichment data reloaded: {}",
                    enricher.describe()
                )),
                Ok(false) => {}
                Err(e) => log::warn(&format!(
                    "enrichment data reload failed, keeping the old data of that kind: {e}"
                )),
            }
        }
    };
    std::thread::Builder::new()
        .name("enrichment-reload".into())
        .spawn(run)
        .map_err(|e| log::warn(&format!("cannot start the enrichment reload thread: {e}")))
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
        let e = open(std::slice::from_ref(&missing), &[]).err().unwrap();
        assert!(matches!(e, EnrichmentError::Stat { .. }), "{e}");
        assert!(e.to_string().contains("missing.mmdb"), "{e}");
        let garbage = dir.join("garbage.mmdb");
        std::fs::write(&garbage, b"hello").unwrap();
        let e = open(std::slice::from_ref(&garbage), &[]).err().unwrap();
        assert!(matches!(e, EnrichmentError::GeoIp(_)), "{e}");
        assert!(e.to_string().contains("garbage.mmdb"), "{e}");
        let e = open(&[], std::slice::from_ref(&garbage)).err().unwrap();
        assert!(matches!(e, EnrichmentError::Network(_)), "{e}");
        assert!(e.to_string().contains("garbage.mmdb, line 1"), "{e}");
    }

    #[test]
    fn a_replaced_network_file_is_reloaded_alone() {
        let dir = temp_dir("network");
        let path = dir.join("asn-ipv4.csv");
        std::fs::write(&path, "73.0.0.0,73.255.255.255,7922,Comcast\n").unwrap();
        let (enricher, mut files) = open(&[], std::slice::from_ref(&path)).unwrap();
        let asn = |ip: &str| {
            enricher
                .networks()
                .lookup(ip.parse().unwrap())
                .map(|n| n.asn)
        };
        assert_eq!(asn("73.1.2.3"), Ok(7922));
        assert!(!files.reload_if_changed(&enricher).unwrap());
        let staging = dir.join("staging.csv");
        std::fs::write(&staging, "73.0.0.0,73.255.255.255,64501,Renamed ISP Ltd\n").unwrap();
        std::fs::rename(&staging, &path).unwrap();
        assert!(files.reload_if_changed(&enricher).unwrap());
        assert_eq!(asn("73.1.2.3"), Ok(64501));
        std::fs::write(&path, "not,a,network,file\n").unwrap();
        assert!(matches!(
            files.reload_if_changed(&enricher),
            Err(EnrichmentError::Network(_))
        ));
        assert_eq!(asn("73.1.2.3"), Ok(64501), "the old table stays in use");
    }

    #[test]
    fn reload_swaps_in_a_renamed_file_and_keeps_the_old_data_on_error() {
        let dir = temp_dir("reload");
        let paths =
            mmdb_writer::write_fixture_variant(Layout::MaxMindCity, Variant::A, &dir).unwrap();
        let (enricher, mut files) = open(&paths, &[]).unwrap();
        let g = enricher.geoip();
        assert_eq!(city(g, "81.2.69.142").as_deref(), Some("London"));
        assert!(!files.reload_if_changed(&enricher).unwrap());

        // Replace by rename, as operators should; B differs in size too, so the change is
        // seen even on filesystems with coarse mtimes.
        let staging = temp_dir("reload-staging");
        let new =
            mmdb_writer::write_fixture_variant(Layout::MaxMindCity, Variant::B, &staging).unwrap();
        std::fs::rename(&new[0], &paths[0]).unwrap();
        assert!(files.reload_if_changed(&enricher).unwrap());
        assert_eq!(city(g, "81.2.69.142").as_deref(), Some("Manchester"));
        assert!(!files.reload_if_changed(&enricher).unwrap());

        // A broken replacement is refused and the old data stays in use.
        std::fs::write(&paths[0], b"not a database").unwrap();
        assert!(matches!(
            files.reload_if_changed(&enricher),
            Err(EnrichmentError::GeoIp(_))
        ));
        assert_eq!(city(g, "81.2.69.142").as_deref(), Some("Manchester"));
    }

    #[test]
    fn the_zone_finder_is_built_once_per_process() {
        let a = zones().unwrap();
        let b = zones().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
