//! `etoken`: key management, tokens, users, and the publish-tier auth server.
//!
//! Every command prints its result on stdout and, on failure, one line
//! starting with `etoken:` on stderr with the reason and an exit code of 1
//! (2 for a command line clap refuses).
#![forbid(unsafe_code)]

mod keydir;
mod serve;
mod tokens;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
    Key(KeyCommand),
    /// Mint a token (a "local development token") and print it.
    Mint(tokens::MintArgs),
    /// Verify a token: print its claims as JSON and exit 0, or exit 1 with the reason.
    Verify(tokens::VerifyArgs),
    /// Decode a token WITHOUT verifying it (no key needed) and print its claims.
    Inspect(tokens::InspectArgs),
    /// Manage a users file (argon2id password hashes).
    #[command(subcommand)]
    User(UserCommand),
    /// Run the publish-tier auth server (login page, /auth for nginx, logout).
    Serve(serve::ServeArgs),
}

/// The key directory a command works on.
#[derive(Args)]
struct KeyDirArg {
    /// The key directory (ring.json and one KEY-ID.key file per key).
    #[arg(
        long = "dir",
        visible_alias = "keys",
        value_name = "DIR",
        env = "ETOKEN_KEYS"
    )]
    dir: PathBuf,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key directory holding one new active key.
    Init(KeyDirArg),
    /// Rotation phase 1: add a new verify-only key. Copy the directory to
    /// every instance before promoting it.
    Add(KeyDirArg),
    /// Rotation phase 2: make key KID the one that mints.
    Promote {
        #[command(flatten)]
        dir: KeyDirArg,
        /// The key id (8 hex digits, see `etoken key list`).
        kid: String,
    },
    /// Remove the verify-only key KID, once tokens it signed have expired.
    Retire {
        #[command(flatten)]
        dir: KeyDirArg,
        /// The key id (8 hex digits, see `etoken key list`).
        kid: String,
    },
    /// List the keys: id, fingerprint, state, creation time.
    List {
        #[command(flatten)]
        dir: KeyDirArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the ring fingerprint (every key and which one is active), or
    /// the fingerprint of key KID; equal on every instance iff the copies agree.
    Fingerprint {
        #[command(flatten)]
        dir: KeyDirArg,
        /// One key's id; without it, the whole ring.
        kid: Option<String>,
    },
}

/// The users file a command works on.
#[derive(Args)]
struct UsersArg {
    /// The users file (JSON, mode 0600).
    #[arg(long, value_name = "FILE", env = "ETOKEN_USERS")]
    users: PathBuf,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from stdin (first line) when it is
    /// not a terminal, else prompted for twice.
    Add {
        #[command(flatten)]
        file: UsersArg,
        /// The user name.
        name: String,
        /// Replace the password of an existing user instead of refusing.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a user.
    Remove {
        #[command(flatten)]
        file: UsersArg,
        /// The user name.
        name: String,
    },
    /// List the users, one a line.
    List {
        #[command(flatten)]
        file: UsersArg,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Key(command) => run_key(command),
        Command::Mint(args) => tokens::mint(&args),
        Command::Verify(args) => tokens::verify(&args),
        Command::Inspect(args) => tokens::inspect(&args),
        Command::User(command) => run_user(command),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("etoken: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn run_key(command: KeyCommand) -> Result<(), String> {
    match command {
        KeyCommand::Init(arg) => keydir::init(&arg.dir),
        KeyCommand::Add(arg) => keydir::add(&arg.dir),
        KeyCommand::Promote { dir, kid } => keydir::promote(&dir.dir, &kid),
        KeyCommand::Retire { dir, kid } => keydir::retire(&dir.dir, &kid),
        KeyCommand::List { dir, json } => keydir::list(&dir.dir, json),
        KeyCommand::Fingerprint { dir, kid } => keydir::fingerprint(&dir.dir, kid.as_deref()),
    }
}

fn run_user(command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add {
            file,
            name,
            replace,
        } => users::add(&file.users, &name, replace),
        UserCommand::Remove { file, name } => users::remove(&file.users, &name),
        UserCommand::List { file } => users::list(&file.users),
    }
}
