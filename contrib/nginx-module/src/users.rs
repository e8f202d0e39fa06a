//! The users file `etoken user add` writes (`etoken/src/users.rs`), read
//! for existence and revocation only: the module never checks passwords.
//! The same rules as `etoken serve --users`: a subject the file does not
//! list is refused, and so is a session begun before the user's
//! `sessions_revoked_before`.

use std::collections::HashMap;
use std::path::Path;

use encapsulated_token::{Access, read_trusted_file};
use serde::Deserialize;
use time::OffsetDateTime;

const FORMAT: &str = "etoken-users/1";
/// The largest users file read, a bound before parsing.
const MAX_USERS_LEN: u64 = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct UsersFile {
    format: String,
    users: HashMap<String, User>,
}

/// One user: the password hash is the server's business, not read here.
#[derive(Deserialize)]
struct User {
    #[serde(default, with = "time::serde::rfc3339::option")]
    sessions_revoked_before: Option<OffsetDateTime>,
}

/// Who exists, and whose sessions end before when.
pub struct Users(HashMap<String, Option<OffsetDateTime>>);

impl Users {
    /// Reads `path`, checked for owner and mode as the server does.
    pub fn load(path: &Path) -> Result<Users, String> {
        let text = read_trusted_file(path, Access::OwnerOnly, MAX_USERS_LEN)
            .map_err(|error| format!("etoken_users {}: {error}", path.display()))?;
        Users::parse(&text).map_err(|error| format!("etoken_users {}: {error}", path.display()))
    }

    fn parse(text: &[u8]) -> Result<Users, String> {
        let file: UsersFile = serde_json::from_slice(text).map_err(|error| error.to_string())?;
        if file.format != FORMAT {
            return Err(format!("format is {:?}, expected {FORMAT:?}", file.format));
        }
        Ok(Users(
            file.users
                .into_iter()
                .map(|(name, user)| (name, user.sessions_revoked_before))
                .collect(),
        ))
    }

    /// `Ok` when `subject` exists and its session, begun at `started`, was
    /// not revoked; else the refusal reason.
    pub fn admits(&self, subject: &str, started: OffsetDateTime) -> Result<(), &'static str> {
        match self.0.get(subject) {
            None => Err("unknown_user"),
            Some(Some(before)) if started < *before => Err("sessions_revoked"),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existence_and_revocation() {
        let users = Users::parse(
            br#"{"format":"etoken-users/1","users":{"alice":{"password":"x"},
                "bob":{"password":"y","sessions_revoked_before":"2026-01-01T00:00:00Z"}}}"#,
        )
        .unwrap();
        let early = time::macros::datetime!(2025-12-31 23:00 UTC);
        let late = time::macros::datetime!(2026-01-01 00:00 UTC);
        assert_eq!(users.admits("alice", early), Ok(()));
        assert_eq!(users.admits("carol", early), Err("unknown_user"));
        assert_eq!(users.admits("bob", early), Err("sessions_revoked"));
        assert_eq!(users.admits("bob", late), Ok(()));
        assert!(Users::parse(br#"{"format":"other","users":{}}"#).is_err());
    }
}
