//! `etoken key ...`: a key directory's creation, its two-phase rotation,
//! and what operators compare across instances.

use std::fs;
use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use encapsulated_token::{Key, KeyId, KeyRing};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::keydir::{key_state, open_ring, ring_fingerprint};

/// The key directory a command works on.
#[derive(Args)]
pub struct KeyDirArg {
    /// The key directory (ring.json and one KEY-ID.key file per key).
    #[arg(
        long = "dir",
        visible_alias = "keys",
        value_name = "DIR",
        env = "ETOKEN_KEYS"
    )]
    dir: PathBuf,
}

/// `etoken key ...`.
#[derive(Subcommand)]
pub enum KeyCommand {
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
    /// Print the ring as one JSON document (every key that verifies, and
    /// the active one) for a secret store, where the WebAssembly verifier
    /// reads it. It holds every secret, so it is never printed to a terminal.
    Export {
        #[command(flatten)]
        dir: KeyDirArg,
        /// Write the document to FILE (mode 0600, atomically) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Runs one `etoken key` command.
pub fn run(command: KeyCommand) -> Result<(), String> {
    match command {
        KeyCommand::Init(arg) => init(&arg.dir),
        KeyCommand::Add(arg) => add(&arg.dir),
        KeyCommand::Promote { dir, kid } => promote(&dir.dir, &kid),
        KeyCommand::Retire { dir, kid } => retire(&dir.dir, &kid),
        KeyCommand::List { dir, json } => list(&dir.dir, json),
        KeyCommand::Fingerprint { dir, kid } => fingerprint(&dir.dir, kid.as_deref()),
        KeyCommand::Export { dir, out } => export(&dir.dir, out.as_deref()),
    }
}

/// `key init`: a new directory holding one active key. The ring is written
/// into a hidden sibling directory and renamed into place, so an interrupted
/// init leaves no half-made key directory.
fn init(dir: &Path) -> Result<(), String> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!(
                    "{} already exists and is not empty: `etoken key add --dir {0}` rotates \
                     the keys of an existing directory",
                    dir.display()
                ));
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let key = Key::generate().map_err(|e| e.to_string())?;
    let (id, fingerprint) = (key.id(), key.fingerprint());
    let ring = KeyRing::new(key);
    let temp = sibling_temp(dir);
    let result = ring
        .store(&temp)
        .map_err(|e| e.to_string())
        .and_then(|()| fs::rename(&temp, dir).map_err(|e| format!("{}: {e}", dir.display())));
    if result.is_err() {
        let _ = fs::remove_dir_all(&temp);
    }
    result?;
    println!(
        "created {} with active key {id} ({fingerprint})",
        dir.display()
    );
    Ok(())
}

fn sibling_temp(dir: &Path) -> PathBuf {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("keys");
    let nonce: u32 = rand::random();
    dir.with_file_name(format!(".{name}.{}-{nonce:08x}.tmp", std::process::id()))
}

/// `key add`: rotation phase 1, a new verify-only key.
fn add(dir: &Path) -> Result<(), String> {
    let mut ring = open_ring(dir)?;
    let key = Key::generate().map_err(|e| e.to_string())?;
    let (id, fingerprint) = (key.id(), key.fingerprint());
    ring.insert(key).map_err(|e| e.to_string())?;
    ring.store(dir).map_err(|e| e.to_string())?;
    println!("added key {id} ({fingerprint}), verify-only");
    eprintln!(
        "next: copy {} to every instance, compare `etoken key fingerprint` on each, \
         then `etoken key promote {id}`",
        dir.display()
    );
    Ok(())
}

/// `key promote`: rotation phase 2, the key that mints.
fn promote(dir: &Path, kid: &str) -> Result<(), String> {
    let id = parse_kid(kid)?;
    let mut ring = open_ring(dir)?;
    ring.promote(id).map_err(|e| e.to_string())?;
    ring.store(dir).map_err(|e| e.to_string())?;
    println!("key {id} is now the active key");
    Ok(())
}

/// `key retire`: drops a verify-only key; tokens it signed stop verifying.
fn retire(dir: &Path, kid: &str) -> Result<(), String> {
    let id = parse_kid(kid)?;
    let mut ring = open_ring(dir)?;
    ring.retire(id).map_err(|e| e.to_string())?;
    ring.store(dir).map_err(|e| e.to_string())?;
    println!("retired key {id}");
    Ok(())
}

fn parse_kid(kid: &str) -> Result<KeyId, String> {
    kid.parse()
        .map_err(|e| format!("{kid:?} is not a key id ({e}): `etoken key list` shows the ids"))
}

/// One key as `key list` shows it.
#[derive(Serialize)]
struct KeyRow {
    id: String,
    fingerprint: String,
    state: &'static str,
    created: String,
}

fn rows(ring: &KeyRing) -> Vec<KeyRow> {
    ring.keys()
        .map(|key| KeyRow {
            id: key.id().to_string(),
            fingerprint: key.fingerprint().to_string(),
            state: key_state(ring, key),
            created: key.created().format(&Rfc3339).unwrap_or_default(),
        })
        .collect()
}

/// `key list`.
fn list(dir: &Path, json: bool) -> Result<(), String> {
    let ring = open_ring(dir)?;
    let rows = rows(&ring);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<8}  {:<19}  {:<11}  CREATED",
        "ID", "FINGERPRINT", "STATE"
    );
    for row in rows {
        println!(
            "{:<8}  {:<19}  {:<11}  {}",
            row.id, row.fingerprint, row.state, row.created
        );
    }
    Ok(())
}

/// `key fingerprint`.
fn fingerprint(dir: &Path, kid: Option<&str>) -> Result<(), String> {
    let ring = open_ring(dir)?;
    match kid {
        Some(kid) => {
            let id = parse_kid(kid)?;
            let key = ring.get(id).ok_or_else(|| {
                format!(
                    "no key with id {id} in {}: `etoken key list` shows the ids",
                    dir.display()
                )
            })?;
            println!("{}", key.fingerprint());
        }
        None => println!("{}", ring_fingerprint(&ring)),
    }
    Ok(())
}

/// `key export`: the ring document, to a file or down a pipe, never onto a
/// screen (where it would stay in a scrollback or a screen recording).
fn export(dir: &Path, out: Option<&Path>) -> Result<(), String> {
    let ring = open_ring(dir)?;
    let text = ring.to_ring_json();
    let summary = format!(
        "{} key(s), active {}, ring {}",
        ring.len(),
        ring.active().id(),
        ring_fingerprint(&ring)
    );
    match out {
        Some(out) => {
            encapsulated_token::write_file_atomically(out, text.as_bytes())
                .map_err(|e| format!("{}: {e}", out.display()))?;
            eprintln!("exported {summary} to {}", out.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            if stdout.is_terminal() {
                return Err(
                    "the ring document holds every secret of the ring, so it is not printed \
                     to a terminal: pipe it into your secret store's command, or use --out FILE"
                        .into(),
                );
            }
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("stdout: {e}"))?;
            eprintln!("exported {summary}");
        }
    }
    Ok(())
}
