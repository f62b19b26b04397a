//! The `consent-enricher` binary: parses the command line and hands over to `cli`.

mod cli;
mod demo;

fn main() -> std::process::ExitCode {
    cli::main()
}
