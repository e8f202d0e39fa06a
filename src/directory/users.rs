//! Users and their revocation times, in memory: what every authenticated
//! request asks, and what a login checks the password against.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::follow::{Records, Refused, Table};
use super::keyspace::{REVOCATIONS, USERS};
use crate::handler::{DirectoryError, Session, Standing, UserDirectory};

/// One user: a password hash (a PHC string, e.g. argon2id) and when the
/// user's sessions were last ended. The users file stores this record as
/// is; Redis keeps the revocation in a table of its own, so ending a
/// user's sessions is one write that never races a password change.
///
/// ```
/// use encapsulated_token::directory::UserRecord;
/// let record: UserRecord = serde_json::from_str(r#"{"password":"$argon2id$v=19$..."}"#).unwrap();
/// assert_eq!(record.sessions_revoked_before, None);
/// assert!(serde_json::from_str::<UserRecord>(r#"{"password":"x","admin":true}"#).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UserRecord {
    /// The password hash, as a PHC string; empty for a user who signs in
    /// at an identity provider only (then `sso` says which account).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// Sessions begun before this instant are over.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub sessions_revoked_before: Option<OffsetDateTime>,
    /// The identity provider's account this user is bound to, for a user
    /// provisioned by single sign-on (or pre-provisioned for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoAccount>,
}

/// A user's account at an OpenID provider: bound by (issuer, subject) at
/// the first login, so a later login with the same name from another
/// account is refused. A user pre-provisioned with `etoken user add --sso`
/// has no binding until that first login.
///
/// ```
/// use encapsulated_token::directory::UserRecord;
/// let record: UserRecord = serde_json::from_str(
///     r#"{"sso":{"issuer":"https://idp.example","subject":"248289761001","groups":["editors"]}}"#).unwrap();
/// assert!(record.password.is_empty());
/// assert_eq!(record.sso.unwrap().groups, ["editors"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SsoAccount {
    /// The provider's issuer URL; none until the first login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The provider's `sub` for the user; none until the first login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The verified email the provider last vouched for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The groups the provider last named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The last single sign-on login.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub last_login: Option<OffsetDateTime>,
}

impl SsoAccount {
    /// An account not yet bound to a provider's subject (pre-provisioned).
    pub fn unbound() -> Self {
        Self::default()
    }

    /// The account `subject` at `issuer`.
    pub fn bound(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        Self {
            issuer: Some(issuer.into()),
            subject: Some(subject.into()),
            ..Self::default()
        }
    }
}

impl UserRecord {
    /// A user with this password hash, no session ended.
    pub fn new(password: impl Into<String>) -> Self {
        Self {
            password: password.into(),
            sessions_revoked_before: None,
            sso: None,
        }
    }

    /// A user who signs in at an identity provider only: no password.
    pub fn single_sign_on(account: SsoAccount) -> Self {
        Self {
            password: String::new(),
            sessions_revoked_before: None,
            sso: Some(account),
        }
    }

    /// Whether the user signs in with single sign-on only (no password).
    pub fn is_sso_only(&self) -> bool {
        self.password.is_empty()
    }

    /// Checks that the record is a password user or a single sign-on one,
    /// passing a password hash to `check`.
    pub fn check(&self, name: &str, check: RecordCheck) -> Result<(), String> {
        match (self.password.is_empty(), &self.sso) {
            (true, None) => Err("neither a password nor a single sign-on account".into()),
            (true, Some(_)) => check(name, ""),
            (false, _) => check(name, &self.password),
        }
    }

    /// The same, with sessions begun before `before` over.
    pub fn revoked_before(mut self, before: Option<OffsetDateTime>) -> Self {
        self.sessions_revoked_before = before;
        self
    }
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("password", &"<hash>")
            .field("sessions_revoked_before", &self.sessions_revoked_before)
            .field("sso", &self.sso)
            .finish()
    }
}

/// Reads a revocation record: an RFC 3339 instant.
fn revocation(value: &[u8]) -> Result<OffsetDateTime, String> {
    let text = std::str::from_utf8(value).map_err(|_| "not UTF-8".to_string())?;
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| format!("not an RFC 3339 instant: {e}"))
}

#[derive(Default)]
struct Entry {
    /// None: a revocation is known but the user is not (removed).
    password: Option<Box<str>>,
    revoked_before: Option<OffsetDateTime>,
}

/// Checks a user's name and password hash before the snapshot trusts
/// them (the application's rules: which hash, which names). A single
/// sign-on user's hash is empty.
pub type RecordCheck = fn(&str, &str) -> Result<(), String>;

/// The users of the farm, in memory, with their revocation times. Reads
/// take a shared lock for one map lookup; a change takes it exclusively for
/// one insert, so a million users cost nothing to update.
///
/// ```
/// use encapsulated_token::directory::{UserRecord, UserSnapshot};
/// use encapsulated_token::handler::{Session, Standing};
///
/// let users = UserSnapshot::new(|_name, hash| if hash.starts_with("$argon2id$") { Ok(()) } else { Err("not argon2id".into()) });
/// let now = time::OffsetDateTime::now_utc();
/// users.replace([("alice".to_string(), UserRecord::new("$argon2id$...").revoked_before(Some(now)))]);
/// let old = Session::new("alice", now - time::Duration::HOUR);
/// assert_eq!(users.standing_of(&old), Standing::Revoked { before: now });
/// assert_eq!(users.password("alice").as_deref(), Some("$argon2id$..."));
/// ```
pub struct UserSnapshot {
    entries: RwLock<HashMap<String, Entry>>,
    /// Moved by every change, under the write lock: what
    /// [`add_missing`](Self::add_missing) compares against.
    generation: AtomicU64,
    check: RecordCheck,
}

impl UserSnapshot {
    /// An empty snapshot whose password hashes must pass `check`.
    pub fn new(check: RecordCheck) -> Self {
        Self {
            entries: RwLock::default(),
            generation: AtomicU64::new(0),
            check,
        }
    }

    /// The text of a revocation record for `before`.
    ///
    /// ```
    /// use encapsulated_token::directory::UserSnapshot;
    /// let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    /// assert_eq!(UserSnapshot::revocation_value(at), "2023-11-14T22:13:20Z");
    /// ```
    pub fn revocation_value(before: OffsetDateTime) -> String {
        before.format(&Rfc3339).unwrap_or_default()
    }

    /// Replaces every user with `users` (a file source, already checked);
    /// returns whether anything changed.
    pub fn replace(&self, users: impl IntoIterator<Item = (String, UserRecord)>) -> bool {
        let next: HashMap<String, Entry> = users
            .into_iter()
            .map(|(name, record)| {
                let entry = Entry {
                    password: Some(record.password.into()),
                    revoked_before: record.sessions_revoked_before,
                };
                (name, entry)
            })
            .collect();
        let mut entries = self.write();
        let same = entries.len() == next.len()
            && next.iter().all(|(name, entry)| {
                entries.get(name).is_some_and(|e| {
                    e.password == entry.password && e.revoked_before == entry.revoked_before
                })
            });
        if !same {
            *entries = next;
            self.changed();
        }
        !same
    }

    /// The standing of `session`: unknown, active, or begun before the
    /// user's sessions were ended.
    pub fn standing_of(&self, session: &Session<'_>) -> Standing {
        match self.read().get(session.subject) {
            Some(Entry {
                password: Some(_),
                revoked_before,
            }) => Standing::of(session, *revoked_before),
            _ => Standing::Unknown,
        }
    }

    /// `name`'s password hash, if `name` is a user with a password (a
    /// single sign-on user has none).
    pub fn password(&self, name: &str) -> Option<String> {
        self.read()
            .get(name)?
            .password
            .as_deref()
            .filter(|hash| !hash.is_empty())
            .map(str::to_owned)
    }

    /// When `name`'s sessions were last ended, if ever.
    pub fn sessions_revoked_before(&self, name: &str) -> Option<OffsetDateTime> {
        self.read().get(name)?.revoked_before
    }

    /// Ends `name`'s sessions begun before `before` in this snapshot at
    /// once (the store's own announcement follows).
    pub fn set_revoked(&self, name: &str, before: OffsetDateTime) {
        let mut entries = self.write();
        entries.entry(name.to_owned()).or_default().revoked_before = Some(before);
        self.changed();
    }

    /// A mark of this snapshot's state, moved by every change. Take it
    /// before reading a record from the store for
    /// [`add_missing`](Self::add_missing).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Adds `name` with its `user` and `revocation` records, read from the
    /// store after [`generation`](Self::generation) returned `since`,
    /// because a valid token named a user this instance had not heard of
    /// yet (its announcement is on the way). Nothing is added when the
    /// snapshot changed since `since`: the change channel then brought
    /// news at least as new as the read, and a removal must not be undone
    /// by an older copy. Whether the user was added; a record that does
    /// not check out is refused as the follower would refuse it.
    ///
    /// ```
    /// use encapsulated_token::directory::UserSnapshot;
    /// use encapsulated_token::handler::{Session, Standing};
    ///
    /// let users = UserSnapshot::new(|_name, _hash| Ok(()));
    /// let since = users.generation();
    /// let record = br#"{"password":"$argon2id$..."}"#;
    /// assert_eq!(users.add_missing(since, "alice", Some(record), None), Ok(true));
    /// let session = Session::new("alice", time::OffsetDateTime::now_utc());
    /// assert_eq!(users.standing_of(&session), Standing::Active);
    /// // A copy read before a later change is not applied.
    /// assert_eq!(users.add_missing(since, "bob", Some(record), None), Ok(false));
    /// ```
    pub fn add_missing(
        &self,
        since: u64,
        name: &str,
        user: Option<&[u8]>,
        revocation: Option<&[u8]>,
    ) -> Result<bool, String> {
        let Some(user) = user else {
            return Ok(false);
        };
        let password = self.user(name, user)?;
        let revoked_before = revocation.map(self::revocation).transpose()?;
        let mut entries = self.write();
        if self.generation() != since || entries.contains_key(name) {
            return Ok(false);
        }
        entries.insert(
            name.to_owned(),
            Entry {
                password: Some(password),
                revoked_before,
            },
        );
        self.changed();
        Ok(true)
    }

    /// Called with the write lock held, after a change.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.read()
            .values()
            .filter(|e| e.password.is_some())
            .count()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn user(&self, name: &str, value: &[u8]) -> Result<Box<str>, String> {
        let record: UserRecord = serde_json::from_slice(value).map_err(|e| e.to_string())?;
        if record.sessions_revoked_before.is_some() {
            return Err("a revocation belongs in the revocations table".into());
        }
        record.check(name, self.check)?;
        Ok(record.password.into())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl UserDirectory for UserSnapshot {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        Ok(self.standing_of(session))
    }
}

impl Table for UserSnapshot {
    fn tables(&self) -> &'static [&'static str] {
        &[USERS, REVOCATIONS]
    }

    fn load(&self, mut records: Records) -> Vec<Refused> {
        let mut refused = Vec::new();
        let users = records.remove(USERS).unwrap_or_default();
        let mut next: HashMap<String, Entry> = HashMap::with_capacity(users.len());
        for (name, value) in users {
            match self.user(&name, &value) {
                Ok(password) => next.entry(name).or_default().password = Some(password),
                Err(reason) => refused.push(Refused::new(USERS, name, reason)),
            }
        }
        for (name, value) in records.remove(REVOCATIONS).unwrap_or_default() {
            match revocation(&value) {
                // A revocation of a user who is gone is kept for the day
                // the name comes back; one of a refused user is dropped
                // with it (that user does not exist).
                Ok(at) => next.entry(name).or_default().revoked_before = Some(at),
                Err(reason) => refused.push(Refused::new(REVOCATIONS, name, reason)),
            }
        }
        next.retain(|_, e| e.password.is_some() || e.revoked_before.is_some());
        let mut entries = self.write();
        *entries = next;
        self.changed();
        refused
    }

    fn update(&self, table: &str, name: &str, value: Option<&[u8]>) -> Result<(), String> {
        let mut entries = self.write();
        let entry = entries.entry(name.to_owned()).or_default();
        let outcome = match (table, value) {
            (USERS, Some(value)) => match self.user(name, value) {
                Ok(password) => {
                    entry.password = Some(password);
                    Ok(())
                }
                // Never trusted: the user does not exist until it is fixed.
                Err(reason) => {
                    entry.password = None;
                    Err(reason)
                }
            },
            (USERS, None) => {
                entry.password = None;
                Ok(())
            }
            (_, Some(value)) => match revocation(value) {
                Ok(at) => {
                    entry.revoked_before = Some(at);
                    Ok(())
                }
                // A revocation that cannot be read ends every session of
                // the user: failing closed costs a login, not an intrusion.
                Err(reason) => {
                    entry.revoked_before = Some(OffsetDateTime::now_utc());
                    Err(reason)
                }
            },
            (_, None) => {
                entry.revoked_before = None;
                Ok(())
            }
        };
        if entry.password.is_none() && entry.revoked_before.is_none() {
            entries.remove(name);
        }
        self.changed();
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> UserSnapshot {
        UserSnapshot::new(|_name, hash| {
            hash.starts_with("$argon2id$")
                .then_some(())
                .ok_or_else(|| "not argon2id".into())
        })
    }

    #[test]
    fn garbage_records_are_refused_and_never_trusted() {
        let users = snapshot();
        let at = OffsetDateTime::now_utc();
        let mut records = Records::new();
        records.insert(
            USERS,
            vec![
                ("alice".into(), br#"{"password":"$argon2id$x"}"#.to_vec()),
                ("bob".into(), b"{not json".to_vec()),
                ("carol".into(), br#"{"password":"plain"}"#.to_vec()),
                (
                    "dave".into(),
                    br#"{"password":"$argon2id$x","x":1}"#.to_vec(),
                ),
            ],
        );
        records.insert(REVOCATIONS, vec![("alice".into(), b"yesterday".to_vec())]);
        let refused = users.load(records);
        let names: Vec<_> = refused.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["bob", "carol", "dave", "alice"]);
        let session = Session::new("bob", at);
        assert_eq!(users.standing_of(&session), Standing::Unknown);
        assert_eq!(
            users.standing_of(&Session::new("alice", at)),
            Standing::Active
        );

        // A good user turned to garbage stops existing; an unreadable
        // revocation ends the sessions begun until now.
        assert!(users.update(USERS, "alice", Some(b"\xff")).is_err());
        assert_eq!(
            users.standing_of(&Session::new("alice", at)),
            Standing::Unknown
        );
        users
            .update(USERS, "alice", Some(br#"{"password":"$argon2id$y"}"#))
            .unwrap();
        assert!(users.update(REVOCATIONS, "alice", Some(b"soon")).is_err());
        assert!(matches!(
            users.standing_of(&Session::new("alice", at)),
            Standing::Revoked { .. }
        ));
        users.update(REVOCATIONS, "alice", None).unwrap();
        assert_eq!(
            users.standing_of(&Session::new("alice", at)),
            Standing::Active
        );
        users.update(USERS, "alice", None).unwrap();
        assert!(users.is_empty());
    }
}
