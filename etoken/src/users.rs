//! The users file: who may log in on this instance, with argon2id password
//! hashes. It is also the server's user directory: a user exists on an
//! instance iff this instance's file lists it, whatever a token says.
//!
//! ```text
//! {"format":"etoken-users/1","users":{"admin":{"password":"$argon2id$v=19$..."}}}
//! ```
//!
//! Written atomically (temporary file, fsync, rename, fsync of the
//! directory) with mode 0600; refused when group or others can read it.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::OnceLock;

use argon2::{ARGON2ID_IDENT, Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use encapsulated_token::{Access, KeyError, read_trusted_file};
use serde::{Deserialize, Serialize};

const FORMAT: &str = "etoken-users/1";
/// A users file larger than this is not ours (about 40 000 users).
const MAX_FILE_LEN: u64 = 8 << 20;
/// Longest password accepted, so a login form cannot make argon2 hash megabytes.
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    format: String,
    users: BTreeMap<String, User>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    /// The argon2id hash, as a PHC string.
    password: String,
}

/// The users of one instance.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Users {
    users: BTreeMap<String, User>,
}

impl Users {
    /// Loads a users file, refusing a missing, corrupt or group/other
    /// readable one, and any entry whose hash is not an argon2id PHC string.
    pub fn load(path: &Path) -> Result<Users, String> {
        let corrupt = |reason: String| {
            format!(
                "users file {} is corrupt ({reason}): restore it from a copy",
                path.display()
            )
        };
        // Mode and owner are checked on the file as opened (symlinks followed).
        let text =
            read_trusted_file(path, Access::OwnerOnly, MAX_FILE_LEN).map_err(|e| match e {
                KeyError::Io { source, .. } if source.kind() == ErrorKind::NotFound => format!(
                    "users file {} does not exist: create it with \
                 `etoken user add --users {0} NAME`",
                    path.display()
                ),
                KeyError::Permissions { mode, .. } => format!(
                    "users file {} is readable or writable by group or others (mode {:04o}): \
                 run `chmod 600 {0}`",
                    path.display(),
                    mode & 0o7777
                ),
                KeyError::Corrupt { reason, .. } => corrupt(reason),
                other => format!("users file {other}"),
            })?;
        let file: UsersFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.format != FORMAT {
            return Err(corrupt(format!(
                "format is {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        for (name, user) in &file.users {
            check_name(name).map_err(|e| corrupt(format!("user {name:?}: {e}")))?;
            match PasswordHash::new(&user.password) {
                Ok(hash) if hash.algorithm.as_str() == ARGON2ID_IDENT.as_str() => {}
                Ok(_) => return Err(corrupt(format!("user {name:?}: hash is not argon2id"))),
                Err(e) => return Err(corrupt(format!("user {name:?}: hash: {e}"))),
            }
        }
        Ok(Users { users: file.users })
    }

    /// Writes the file atomically with mode 0600.
    pub fn store(&self, path: &Path) -> Result<(), String> {
        let file = UsersFile {
            format: FORMAT.into(),
            users: self.users.clone(),
        };
        let mut text = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        text.push(b'\n');
        encapsulated_token::write_file_atomically(path, &text)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `name` is a user of this instance.
    pub fn contains(&self, name: &str) -> bool {
        self.users.contains_key(name)
    }

    /// Removes `name`; false when there was no such user.
    pub fn remove(&mut self, name: &str) -> bool {
        self.users.remove(name).is_some()
    }

    /// The user names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Sets `name`'s password (hashing it with argon2id and a random salt).
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), String> {
        check_name(name)?;
        validate_password(password)?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes())
            .map_err(|e| format!("hashing the password: {e}"))?;
        self.users.insert(
            name.into(),
            User {
                password: hash.to_string(),
            },
        );
        Ok(())
    }

    /// Checks `name`'s password; the error says why, for the log only (a
    /// client is told the same for both). An unknown user costs the same
    /// hash as a known one, so timing does not tell which users exist.
    pub fn check_password(&self, name: &str, password: &str) -> Result<(), &'static str> {
        let argon2 = Argon2::default();
        let too_long = password.len() > MAX_PASSWORD_LEN;
        let tried = if too_long { "" } else { password };
        match self.users.get(name) {
            Some(user) => {
                let matches = argon2
                    .verify_password(tried.as_bytes(), user.password.as_str())
                    .is_ok();
                match (too_long, matches) {
                    (true, _) => Err("password too long"),
                    (false, true) => Ok(()),
                    (false, false) => Err("wrong password"),
                }
            }
            None => {
                let _ = argon2.verify_password(tried.as_bytes(), dummy_hash());
                Err("unknown user")
            }
        }
    }
}

/// A hash of a random password, for unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(random_password().as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// A user name: what a token's subject allows (1 to 255 bytes, no control
/// characters), without surrounding whitespace.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("a user name is 1 to 255 bytes".into());
    }
    if name.chars().any(char::is_control) {
        return Err("a user name holds no control characters".into());
    }
    if name.trim() != name {
        return Err("a user name does not start or end with whitespace".into());
    }
    Ok(())
}

fn validate_password(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!("the password is over {MAX_PASSWORD_LEN} bytes"));
    }
    Ok(())
}

/// A random 24-character alphanumeric password (about 143 bits) from the
/// thread's cryptographic RNG.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..24)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}
