//! `etoken`: key management, tokens, users, and the publish-tier auth server.
//!
//! Every command prints its result on stdout and, on failure, one line
//! starting with `etoken:` on stderr with the reason and an exit code of 1
//! (2 for a command line clap refuses).
#![forbid(unsafe_code)]

mod commands;
mod grants;
mod keydir;
mod private_file;
mod serve;
mod services;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{keys, tokens};

/// Key management, tokens, users and the publish-tier auth server for
/// encapsulated tokens.
#[derive(Parser)]
#[command(name = "etoken", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage a key directory: init, two-phase rotation, list, fingerprint.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Mint a token (a "local development token") and print it.
    Mint(tokens::MintArgs),
    /// Verify a token: print its claims as JSON and exit 0, or exit 1 with the reason.
    Verify(tokens::VerifyArgs),
    /// Decode a token WITHOUT verifying it (no key needed) and print its claims.
    Inspect(tokens::InspectArgs),
    /// Manage a users file (argon2id password hashes).
    #[command(subcommand)]
    User(commands::users::UserCommand),
    /// Manage technical accounts (service credentials) and exchange them
    /// for access tokens.
    #[command(subcommand)]
    Service(commands::services::ServiceCommand),
    /// The farm-wide directory in Redis: import a file-based farm.
    #[command(subcommand)]
    Directory(commands::directory::DirectoryCommand),
    /// Run the publish-tier auth server (login page, /auth for nginx, logout).
    Serve(Box<serve::ServeArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Key(command) => keys::run(command),
        Command::Mint(args) => tokens::mint(&args),
        Command::Verify(args) => tokens::verify(&args),
        Command::Inspect(args) => tokens::inspect(&args),
        Command::User(command) => commands::users::run(command),
        Command::Service(command) => commands::services::run(command),
        Command::Directory(command) => commands::directory::run(command),
        Command::Serve(args) => serve::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("etoken: {reason}");
            ExitCode::FAILURE
        }
    }
}
