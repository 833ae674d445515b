//! The native command line: make model files, build a catalogue index (in shards too), search, classify,
//! train and evaluate. Each command lives in its own file; this one parses and dispatches.

mod args;
mod build_index;
mod classify;
mod init;
mod merge;
mod partition;
mod search;
mod training;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use training::command_line;

/// Deep Shopping: private visual search for fashion stores.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a freshly initialised (untrained) model: int8 weights and manifest.
    Init(init::InitArgs),
    /// Build the catalogue index the page and `search` load, from a product feed or a folder
    /// of photos (exit status 2: published, but some items failed).
    Index(build_index::IndexArgs),
    /// Publish the index a sharded build (`index --shard`) wrote in parts (exit status 75:
    /// shards unfinished, retry later).
    Merge(merge::MergeArgs),
    /// Publish a built index as a partitioned one, which a query reads only in part.
    Partition(partition::PartitionArgs),
    /// Rank the catalogue for each query photo.
    Search(search::SearchArgs),
    /// Predict the category of each photo.
    Classify(classify::ClassifyArgs),
    /// Train a model from a TOML configuration (see configs/).
    Train(training::TrainArgs),
    /// Evaluate a trained run (or an exported model folder) on its test split and write the
    /// report.
    Eval(training::EvalArgs),
}

/// Entry point of the native binary: runs the command and prints the error chain on failure.
pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit_code(&err)
        }
    }
}

/// Exit status of a failed command: 75 (EX_TEMPFAIL) when running it again as it is may
/// succeed (shards unfinished, a network failure or a host's 5xx or 429, a file system that
/// timed out or was busy), 1 when it cannot without a change (bad arguments or input, a
/// missing or unwritable file, a full disk, a 4xx).
fn exit_code(err: &anyhow::Error) -> ExitCode {
    use std::io::ErrorKind;
    let retryable = err.chain().any(|e| {
        if e.is::<crate::build::Unfinished>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ErrorKind::Interrupted
                    | ErrorKind::TimedOut
                    | ErrorKind::WouldBlock
                    | ErrorKind::ResourceBusy
                    | ErrorKind::StaleNetworkFileHandle
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::ConnectionRefused
                    | ErrorKind::NotConnected
                    | ErrorKind::BrokenPipe
            );
        }
        match e.downcast_ref::<ureq::Error>() {
            Some(ureq::Error::StatusCode(code)) => *code >= 500 || *code == 429,
            Some(_) => true,
            None => false,
        }
    });
    if retryable {
        ExitCode::from(75)
    } else {
        ExitCode::FAILURE
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Init(args) => done(init::run(args)),
        Command::Index(args) => build_index::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Partition(args) => done(partition::run(args)),
        Command::Search(args) => done(search::run(args)),
        Command::Classify(args) => done(classify::run(args)),
        Command::Train(args) => done(training::train(args)),
        Command::Eval(args) => done(training::eval(args)),
    }
}
