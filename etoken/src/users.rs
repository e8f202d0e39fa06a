//! The users file: who may log in on this instance, with argon2id password
//! hashes. It is also the server's user directory: a user exists on an
//! instance iff this instance's file lists it, whatever a token says.
//!
//! ```text
//! {"format":"etoken-users/1","users":{"admin":{"password":"$argon2id$v=19$...",
//!  "sessions_revoked_before":"2026-12-01T15:00:01Z"}}}
//! ```
//!
//! `sessions_revoked_before` (optional) ends the user's sessions begun before
//! it: `user revoke-sessions` and every password change set it.
//!
//! Written atomically (temporary file, fsync, rename, fsync of the
//! directory) with mode 0600; refused when group or others can read it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use argon2::{ARGON2ID_IDENT, Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use encapsulated_token::directory::UserRecord;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const FORMAT: &str = "etoken-users/1";
/// A users file larger than this is not ours (about 40 000 users).
const MAX_FILE_LEN: u64 = 8 << 20;
/// Longest password accepted, so a login form cannot make argon2 hash megabytes.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Longest user name: what a token's subject can hold.
pub const MAX_NAME_LEN: usize = 255;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    format: String,
    users: BTreeMap<String, UserRecord>,
}

/// The users of one instance.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Users {
    users: BTreeMap<String, UserRecord>,
}

impl Users {
    /// Loads a users file, refusing a missing, corrupt or group/other
    /// readable one, and any entry whose hash is not an argon2id PHC string.
    pub fn load(path: &Path) -> Result<Users, String> {
        let kind = "users file";
        let create = format!("etoken user add --users {} NAME", path.display());
        let text = crate::private_file::read(path, kind, &create, MAX_FILE_LEN)?;
        let corrupt = |reason: String| crate::private_file::corrupt(kind, path, &reason);
        let file: UsersFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.format != FORMAT {
            return Err(corrupt(format!(
                "format is {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        for (name, user) in &file.users {
            user.check(name, check_record)
                .map_err(|e| corrupt(format!("user {name:?}: {e}")))?;
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

    /// `name`'s record, if `name` is a user of this instance.
    pub fn get(&self, name: &str) -> Option<&UserRecord> {
        self.users.get(name)
    }

    /// Sets `name`'s record as it is (single sign-on provisioning).
    pub fn insert(&mut self, name: &str, record: UserRecord) -> Result<(), String> {
        check_name(name)?;
        self.users.insert(name.into(), record);
        Ok(())
    }

    /// Whether `name` is a user of this instance.
    pub fn contains(&self, name: &str) -> bool {
        self.users.contains_key(name)
    }

    /// The records, for the in-memory snapshot and `directory import`.
    pub fn records(&self) -> impl Iterator<Item = (&String, &UserRecord)> {
        self.users.iter()
    }

    /// Ends `name`'s sessions begun until now ("logout everywhere"); false
    /// when there is no such user. The instant is the next whole second
    /// (tokens carry whole seconds), so a session begun in the current second
    /// is over too; a login waits for that instant before minting.
    pub fn revoke_sessions(&mut self, name: &str) -> bool {
        let Some(user) = self.users.get_mut(name) else {
            return false;
        };
        user.sessions_revoked_before = Some(revocation_instant());
        true
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
    /// Changing an existing user's password ends the sessions begun before
    /// it, as [`revoke_sessions`](Self::revoke_sessions) does.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), String> {
        check_name(name)?;
        let existed = self.contains(name);
        self.users
            .insert(name.into(), UserRecord::new(hash_password(password)?));
        if existed {
            self.revoke_sessions(name);
        }
        Ok(())
    }
}

/// Checks a password against `hash` (the user's, `None` for an unknown
/// user); the error says why, for the log only (a client is told the same
/// for both). An unknown user costs the same hash as a known one, so timing
/// does not tell which users exist.
pub fn check_password(hash: Option<&str>, password: &str) -> Result<(), &'static str> {
    let argon2 = Argon2::default();
    let too_long = password.len() > MAX_PASSWORD_LEN;
    let tried = if too_long { "" } else { password };
    match hash {
        Some(hash) => {
            let matches = argon2.verify_password(tried.as_bytes(), hash).is_ok();
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

/// An argon2id hash of `password` with a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    validate_password(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// A user record we trust: a valid name and an argon2id PHC hash (empty
/// for a single sign-on user, which [`UserRecord::check`] allows only with
/// its account). The users file and the Redis snapshot both check every
/// record with it.
pub fn check_record(name: &str, hash: &str) -> Result<(), String> {
    check_name(name)?;
    if hash.is_empty() {
        return Ok(());
    }
    match PasswordHash::new(hash) {
        Ok(hash) if hash.algorithm.as_str() == ARGON2ID_IDENT.as_str() => Ok(()),
        Ok(_) => Err("hash is not argon2id".into()),
        Err(e) => Err(format!("hash: {e}")),
    }
}

/// The instant "logout everywhere" ends sessions before: the next whole
/// second (tokens carry whole seconds), so a session begun in the current
/// second is over too; a login waits for that instant before minting.
pub fn revocation_instant() -> OffsetDateTime {
    next_whole_second(OffsetDateTime::now_utc())
}

/// The whole second after the one `at` falls in, so that "before" it
/// covers every instant of the current second.
fn next_whole_second(at: OffsetDateTime) -> OffsetDateTime {
    let whole = at.replace_nanosecond(0).unwrap_or(at);
    whole + time::Duration::SECOND
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
    if name.is_empty() || name.len() > MAX_NAME_LEN {
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
