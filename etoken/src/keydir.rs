//! The key directory as every command and the server open it, and the
//! fingerprints operators compare to prove that every instance holds the
//! same copy.

use std::fs;
use std::path::Path;

use encapsulated_token::{Access, Key, KeyRing, open_trusted_dir};
use sha2::{Digest, Sha256};

/// Loads a key ring, refusing a key directory that group or others can
/// read or write (the core refuses such key files; a readable or writable
/// directory lets others learn or plant key files). The directory is
/// checked as opened, owner included; the core checks each file in it.
///
/// A Kubernetes Secret volume (a `..data` symlink to the timestamped
/// directory the kubelet swaps atomically) is read through `..data`: the
/// mount point itself is world-writable (sticky, 1777), so a file planted
/// there must never count; the directory `..data` names is the kubelet's
/// own, 0755 (only root writes it, and listing it shows key ids, which
/// every token carries anyway), holding the files with the volume's mode,
/// each checked by the core for owner and mode.
pub fn open_ring(dir: &Path) -> Result<KeyRing, String> {
    if let Some(data) = secret_volume(dir) {
        return KeyRing::load(&data).map_err(|e| e.to_string());
    }
    open_trusted_dir(dir, Access::OwnerOnly).map_err(|e| e.to_string())?;
    KeyRing::load(dir).map_err(|e| e.to_string())
}

/// `DIR/..data` when `dir` is a Kubernetes Secret volume (`..data` a
/// symlink to a directory of DIR, as the kubelet's atomic writer makes it).
fn secret_volume(dir: &Path) -> Option<std::path::PathBuf> {
    let data = dir.join("..data");
    let target = fs::read_link(&data).ok()?;
    let inside = target.components().count() == 1 && target.to_str()?.starts_with("..");
    (inside && data.is_dir()).then_some(data)
}

/// "active" or "verify-only", as `key list` and the fingerprints name it.
pub fn key_state(ring: &KeyRing, key: &Key) -> &'static str {
    if ring.is_active(key.id()) {
        "active"
    } else {
        "verify-only"
    }
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
        let line = format!(
            "{} {} {}\n",
            key.id(),
            key.fingerprint(),
            key_state(ring, key)
        );
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
        .map(|k| format!("{} {} {}", k.id(), k.fingerprint(), key_state(ring, k)))
        .collect();
    format!("ring {} [{}]", ring_fingerprint(ring), keys.join(", "))
}
