//! The key directory: how a ring lives on disk, so operators replicate it by
//! copying a directory. The format is in `docs/FORMAT.md` ("Key directory").
//!
//! ```text
//! DIR/ring.json   {"format":"encapsulated-token-ring/1","active":"<id>"}
//! DIR/<id>.key    {"format":"encapsulated-token-key/1","id":"<id>",
//!                  "created":"<RFC 3339>","secret":"<base64url, 43 chars>"}
//! ```
//!
//! Every file is written atomically (temporary file, fsync, rename, fsync of
//! the directory) with mode 0600, so a reader never sees half a file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::keys::{KEY_LEN, Key, KeyError, KeyId, KeyRing};
use crate::trusted_file::{Access, open_trusted_dir, read_trusted_file};

const KEY_FORMAT: &str = "encapsulated-token-key/1";
const RING_FORMAT: &str = "encapsulated-token-ring/1";
/// The file in a key directory that names the active key; every other key
/// in the directory is verify-only.
///
/// ```
/// use encapsulated_token::{Key, KeyRing, RING_FILE};
/// let dir = tempfile::tempdir().unwrap();
/// KeyRing::new(Key::generate().unwrap()).store(dir.path()).unwrap();
/// assert!(dir.path().join(RING_FILE).is_file());
/// ```
pub const RING_FILE: &str = "ring.json";
/// The extension of key files.
const KEY_EXTENSION: &str = "key";
/// Key and ring files are tiny; anything larger is not ours.
const MAX_FILE_LEN: u64 = 4096;
/// Room for a key file as [`Key::to_key_file`] writes it: its fields have
/// fixed lengths and it comes to about 150 bytes.
const KEY_FILE_ROOM: usize = 256;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile<'a> {
    format: &'a str,
    id: &'a str,
    created: &'a str,
    secret: &'a str,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RingFile<'a> {
    format: &'a str,
    active: &'a str,
}

impl Key {
    /// The key as the contents of a key file (JSON, one line). The result
    /// holds the secret and is zeroized on drop.
    ///
    /// ```
    /// use encapsulated_token::Key;
    /// let key = Key::generate().unwrap();
    /// let text = key.to_key_file();
    /// assert_eq!(Key::from_key_file(text.as_bytes()).unwrap(), key);
    /// ```
    pub fn to_key_file(&self) -> Zeroizing<String> {
        let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(self.secret()));
        let id = self.id().to_string();
        // Infallible: the time is within years 0..=9999 by construction.
        let created = self.created().format(&Rfc3339).unwrap_or_default();
        let file = KeyFile {
            format: KEY_FORMAT,
            id: &id,
            created: &created,
            secret: &secret,
        };
        // Written into room for the whole line (about 150 bytes), so the
        // buffer never grows and leaves a copy of the secret behind.
        let mut text = Zeroizing::new(Vec::with_capacity(KEY_FILE_ROOM));
        if serde_json::to_writer(&mut *text, &file).is_ok() {
            text.push(b'\n');
        }
        // Infallible: serde_json writes UTF-8.
        Zeroizing::new(String::from_utf8(std::mem::take(&mut *text)).unwrap_or_default())
    }

    /// Parses the contents of a key file. Refuses unknown or missing fields,
    /// another format version, an id that is not 8 lowercase hex digits, a
    /// secret that is not exactly 32 bytes in canonical base64url, and a
    /// creation time that is not whole-second RFC 3339.
    ///
    /// ```
    /// use encapsulated_token::Key;
    /// assert!(Key::from_key_file(b"{}").is_err());
    /// ```
    pub fn from_key_file(bytes: &[u8]) -> Result<Key, String> {
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(format!("larger than {MAX_FILE_LEN} bytes"));
        }
        let file: KeyFile<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.format != KEY_FORMAT {
            return Err(format!(
                "format is {:?}, expected {KEY_FORMAT:?}",
                file.format
            ));
        }
        let id: KeyId = file.id.parse().map_err(|e| format!("id: {e}"))?;
        let created =
            OffsetDateTime::parse(file.created, &Rfc3339).map_err(|e| format!("created: {e}"))?;
        if created.nanosecond() != 0 || !created.offset().is_utc() {
            return Err(
                "created: must be whole seconds at UTC offset zero, such as 2026-01-31T12:00:00Z"
                    .into(),
            );
        }
        let mut secret = Zeroizing::new([0u8; KEY_LEN]);
        match URL_SAFE_NO_PAD.decode_slice(file.secret, secret.as_mut()) {
            Ok(KEY_LEN) if file.secret.len() == 43 => {}
            _ => return Err("secret: expected 32 bytes as 43 base64url characters".into()),
        }
        Ok(Key::with_secret(id, &secret, created))
    }
}

impl KeyRing {
    /// Loads a ring from a key directory. Refuses a missing directory, a
    /// directory or file owned by another user than this process's and
    /// root, a directory or `ring.json` that group or others can write, a
    /// key file readable by group or others, a short, corrupt or oversized file,
    /// a file whose name and id disagree, a stray file, an empty ring, two
    /// keys with one id, and a `ring.json` naming a key that is not there.
    /// Each error names the file and the fix. Owner and mode are checked
    /// on each file as opened ([`read_trusted_file`](crate::read_trusted_file)),
    /// so symlinks are followed and what they reach is checked.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// ring.store(dir.path()).unwrap();
    /// assert_eq!(KeyRing::load(dir.path()).unwrap(), ring);
    /// ```
    pub fn load(dir: &Path) -> Result<KeyRing, KeyError> {
        // Listing goes by path (the standard library lists no open
        // directory), but every file in it is checked as it is opened, and
        // only this process's user or root could have made those.
        open_trusted_dir(dir, Access::OthersMayRead)?;
        let entries = fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
        let mut loaded: Vec<(PathBuf, Key)> = Vec::new();
        let mut ring_file = None;
        let mut names: Vec<PathBuf> = entries
            .map(|entry| entry.map(|e| e.path()).map_err(|e| io_error(dir, e)))
            .collect::<Result<_, _>>()?;
        names.sort(); // one load order whatever the file system's
        for path in names {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue; // temporary files of an interrupted write, or editor files
            }
            if name == RING_FILE {
                ring_file = Some(read_trusted_file(
                    &path,
                    Access::OthersMayRead,
                    MAX_FILE_LEN,
                )?);
                continue;
            }
            if !name.ends_with(".key") {
                return Err(KeyError::UnexpectedFile { path });
            }
            let contents = read_trusted_file(&path, Access::OwnerOnly, MAX_FILE_LEN)?;
            let key = Key::from_key_file(&contents).map_err(|reason| corrupt(&path, reason))?;
            loaded.push((path, key));
        }
        // Duplicates first: a copy under another key's name is a duplicate,
        // whichever of the two files sorts first.
        for (at, (path, key)) in loaded.iter().enumerate() {
            if loaded[..at].iter().any(|(_, k)| k.id() == key.id()) {
                return Err(KeyError::DuplicateKeyId {
                    id: key.id(),
                    path: Some(path.clone()),
                });
            }
        }
        for (path, key) in &loaded {
            if path.file_stem().and_then(|s| s.to_str()) != Some(&key.id().to_string()) {
                let reason = format!("it holds key {}; name it {0}.key", key.id());
                return Err(corrupt(path, reason));
            }
        }
        let keys: Vec<Key> = loaded.into_iter().map(|(_, key)| key).collect();
        if keys.is_empty() {
            return Err(KeyError::EmptyRing { path: dir.into() });
        }
        let ring_path = dir.join(RING_FILE);
        let Some(ring_file) = ring_file else {
            return Err(corrupt(
                &ring_path,
                "missing; it names the active key".into(),
            ));
        };
        let active = parse_ring_file(&ring_file).map_err(|reason| corrupt(&ring_path, reason))?;
        let Some(at) = keys.iter().position(|k| k.id() == active) else {
            let reason = format!("names active key {active}, which has no {active}.key file");
            return Err(corrupt(&ring_path, reason));
        };
        Ok(KeyRing::from_parts(keys, at))
    }

    /// Writes the ring into a key directory, creating it (mode 0700) if
    /// needed: new key files first, then `ring.json`, then removal of key
    /// files the ring no longer holds. Each step is atomic, so an instance
    /// loading the directory meanwhile sees a consistent ring. Unchanged
    /// files are not rewritten.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let dir = tempfile::tempdir().unwrap();
    /// KeyRing::new(Key::generate().unwrap()).store(dir.path()).unwrap();
    /// assert!(dir.path().join("ring.json").exists());
    /// ```
    pub fn store(&self, dir: &Path) -> Result<(), KeyError> {
        create_dir(dir)?;
        for key in self.keys() {
            let path = dir.join(format!("{}.{KEY_EXTENSION}", key.id()));
            write_if_changed(&path, key.to_key_file().as_bytes())?;
        }
        let ring = format!(
            "{}\n",
            serde_json::to_string(&RingFile {
                format: RING_FORMAT,
                active: &self.active().id().to_string(),
            })
            .unwrap_or_default()
        );
        write_if_changed(&dir.join(RING_FILE), ring.as_bytes())?;
        for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
            let path = entry.map_err(|e| io_error(dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Some(id) = name.strip_suffix(".key").and_then(|s| s.parse().ok()) else {
                continue;
            };
            if self.get(id).is_none() {
                fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            }
        }
        sync_dir(dir)
    }
}

fn parse_ring_file(bytes: &[u8]) -> Result<KeyId, String> {
    let file: RingFile<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.format != RING_FORMAT {
        return Err(format!(
            "format is {:?}, expected {RING_FORMAT:?}",
            file.format
        ));
    }
    file.active.parse().map_err(|e| format!("active: {e}"))
}

fn io_error(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.into(),
        source,
    }
}

fn corrupt(path: &Path, reason: String) -> KeyError {
    KeyError::Corrupt {
        path: path.into(),
        reason,
    }
}

fn create_dir(dir: &Path) -> Result<(), KeyError> {
    match fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(io_error(dir, e)),
    }
}

fn write_if_changed(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    // A file that is not ours to trust is replaced, whatever it holds.
    if let Ok(existing) = read_trusted_file(path, Access::OthersMayRead, MAX_FILE_LEN)
        && existing.as_slice() == contents
    {
        return Ok(());
    }
    write_file_atomically(path, contents).map_err(|e| io_error(path, e))
}

/// Writes `contents` to `path` so that a reader sees the old file or the
/// new one, never a part, even across a crash: a hidden temporary file
/// `.NAME.*.tmp` in the same directory, created with mode 0600, written,
/// fsynced, renamed over `path`, then the directory fsynced. Key files are
/// written this way; so should anything else secret be (a users file).
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("users.json");
/// encapsulated_token::write_file_atomically(&path, b"{}").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"{}");
/// assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
/// ```
pub fn write_file_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let nonce: u32 = rand::random();
    let temp = dir.join(format!(".{name}.{}-{nonce:08x}.tmp", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    File::open(dir)?.sync_all()
}

fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}
