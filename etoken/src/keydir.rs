//! `etoken key ...`: the key directory on disk, its rotation, and the
//! fingerprints operators compare to prove that every instance holds the
//! same copy.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use encapsulated_token::{Key, KeyId, KeyRing};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;

/// Loads a key ring, refusing a key directory that group or others can
/// read or write (the core refuses such key files; a readable or writable
/// directory lets others learn or plant key files).
pub fn open_ring(dir: &Path) -> Result<KeyRing, String> {
    if let Ok(meta) = fs::metadata(dir) {
        let mode = meta.permissions().mode();
        if meta.is_dir() && mode & 0o077 != 0 {
            return Err(format!(
                "key directory {} is accessible by group or others (mode {:04o}): \
                 run `chmod 700 {0}`, and treat its keys as exposed if others could log in",
                dir.display(),
                mode & 0o7777
            ));
        }
    }
    KeyRing::load(dir).map_err(|e| e.to_string())
}

/// `key init`: a new directory holding one active key. The ring is written
/// into a hidden sibling directory and renamed into place, so an interrupted
/// init leaves no half-made key directory.
pub fn init(dir: &Path) -> Result<(), String> {
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
pub fn add(dir: &Path) -> Result<(), String> {
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
pub fn promote(dir: &Path, kid: &str) -> Result<(), String> {
    let id = parse_kid(kid)?;
    let mut ring = open_ring(dir)?;
    ring.promote(id).map_err(|e| e.to_string())?;
    ring.store(dir).map_err(|e| e.to_string())?;
    println!("key {id} is now the active key");
    Ok(())
}

/// `key retire`: drops a verify-only key; tokens it signed stop verifying.
pub fn retire(dir: &Path, kid: &str) -> Result<(), String> {
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
            state: state(ring, key),
            created: key.created().format(&Rfc3339).unwrap_or_default(),
        })
        .collect()
}

fn state(ring: &KeyRing, key: &Key) -> &'static str {
    if ring.is_active(key.id()) {
        "active"
    } else {
        "verify-only"
    }
}

/// `key list`.
pub fn list(dir: &Path, json: bool) -> Result<(), String> {
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
pub fn fingerprint(dir: &Path, kid: Option<&str>) -> Result<(), String> {
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

/// A digest of the whole ring: every key's id and fingerprint (itself a
/// one-way function of the secret) and which key is active, in id order.
/// Two instances print the same value iff they hold the same ring.
pub fn ring_fingerprint(ring: &KeyRing) -> String {
    let mut keys: Vec<&Key> = ring.keys().collect();
    keys.sort_by_key(|k| k.id());
    let mut hash = Sha256::new();
    hash.update(b"encapsulated-token ring fingerprint v1\n");
    for key in keys {
        let line = format!("{} {} {}\n", key.id(), key.fingerprint(), state(ring, key));
        hash.update(line.as_bytes());
    }
    let digest = hash.finalize();
    digest[..8]
        .chunks_exact(2)
        .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
        .collect::<Vec<_>>()
        .join(":")
}

/// The ring as one log line: the ring fingerprint, then each key.
pub fn describe(ring: &KeyRing) -> String {
    let keys: Vec<String> = ring
        .keys()
        .map(|k| format!("{} {} {}", k.id(), k.fingerprint(), state(ring, k)))
        .collect();
    format!("ring {} [{}]", ring_fingerprint(ring), keys.join(", "))
}
