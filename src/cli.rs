//! The command line: subcommands, flags, and turning library errors into messages and
//! exit codes (`anyhow` with context lives here and nowhere else). It owns no policy:
//! every command builds the same `Config` and `Core` and calls into the library.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use consent_enricher::config::{self, Config};
use consent_enricher::offline::{self, Summary};
use consent_enricher::pipeline::Core;
use consent_enricher::state::State;

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
}

impl ConfigArgs {
    fn load(&self) -> Result<Config> {
        let mut config = Config::load(self.config.as_deref(), std::env::vars())
            .context("loading configuration")?;
        if let Some(k) = &self.pseudonym_key {
            config.pseudonym.key = k.clone();
            config.validate().context("checking --pseudonym-key")?;
        }
        Ok(config)
    }
}

#[derive(Subcommand)]
enum Command {
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

/// Entry point: runs the command, prints errors with their causes, maps them to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
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
    let core = Core::new(config).context("starting the core")?;
    let state = State::new(&config.policy.profile_fields);
    let mut summary = Summary::default();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let now = chrono::Utc::now;
    if let Some(p) = consents {
        offline::load_consents(open(p)?, &state, &mut summary);
    }
    if let Some(p) = profiles {
        offline::load_profiles(open(p)?, &state, &mut summary);
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
    offline::process_events(
        reader,
        &core,
        &state,
        &config.topics,
        now,
        &mut out,
        &mut summary,
    )
    .context("processing events")?;
    out.flush().context("writing output")?;
    eprint!("{}", summary.render());
    Ok(())
}
