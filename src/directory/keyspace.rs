//! Where the directory lives in Redis: one hash per table, each field a
//! record named by its key, and one pub/sub channel that announces every
//! change by naming the record (subscribers read the record itself, so a
//! message carries no data and a lost one is healed by the reload that
//! follows every reconnect).
//!
//! ```text
//! PREFIX:users        hash  name -> {"password":"$argon2id$..."}
//! PREFIX:revocations  hash  name -> "2026-12-01T15:00:01Z"  (sessions begun before are over)
//! PREFIX:services     hash  name -> the services file's record (JSON)
//! PREFIX:changes      channel: "users:alice", "revocations:alice", "services:backend", or "*" (reload all)
//! PREFIX:session:STARTED:SUBJECT  string with a TTL (stateful mode only)
//! ```

/// The users table: password hashes.
pub const USERS: &str = "users";
/// The revocations table: per user, when their sessions were last ended.
pub const REVOCATIONS: &str = "revocations";
/// The technical accounts table.
pub const SERVICES: &str = "services";

/// The names of one directory's keys. Several directories share a Redis
/// database under different prefixes.
///
/// ```
/// use encapsulated_token::directory::Keyspace;
/// let keys = Keyspace::new("etoken");
/// assert_eq!(keys.table("users"), "etoken:users");
/// assert_eq!(keys.changes(), "etoken:changes");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyspace {
    prefix: String,
}

impl Default for Keyspace {
    fn default() -> Self {
        Self::new(Self::DEFAULT_PREFIX)
    }
}

impl Keyspace {
    /// The prefix `etoken serve` and the CLI use.
    pub const DEFAULT_PREFIX: &'static str = "etoken";

    /// The keys under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The hash of `table`.
    pub fn table(&self, table: &str) -> String {
        format!("{}:{table}", self.prefix)
    }

    /// The channel every change is announced on.
    pub fn changes(&self) -> String {
        format!("{}:changes", self.prefix)
    }

    /// The key of a stateful session: its start and its subject, which a
    /// token carries unchanged through every refresh.
    ///
    /// ```
    /// use encapsulated_token::directory::Keyspace;
    /// let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    /// assert_eq!(Keyspace::default().session("alice", at), "etoken:session:1700000000:alice");
    /// ```
    pub fn session(&self, subject: &str, started_at: time::OffsetDateTime) -> String {
        format!(
            "{}:session:{}:{subject}",
            self.prefix,
            started_at.unix_timestamp()
        )
    }
}

/// One message of the change channel.
///
/// ```
/// use encapsulated_token::directory::Change;
/// assert_eq!(Change::parse("users:alice"), Some(Change::Record { table: "users", name: "alice" }));
/// assert_eq!(Change::parse("*"), Some(Change::Reload));
/// assert_eq!(Change::parse("garbage"), None);
/// assert_eq!(Change::Record { table: "users", name: "a:b" }.message(), "users:a:b");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// The record `name` of `table` changed or was removed.
    Record {
        /// The table.
        table: &'a str,
        /// The record's name (may hold `:`).
        name: &'a str,
    },
    /// Many records changed (an import): load everything again.
    Reload,
}

impl<'a> Change<'a> {
    /// Reads a message; `None` for one that is not ours.
    pub fn parse(message: &'a str) -> Option<Self> {
        if message == "*" {
            return Some(Self::Reload);
        }
        let (table, name) = message.split_once(':')?;
        (!table.is_empty() && !name.is_empty()).then_some(Self::Record { table, name })
    }

    /// The message announcing this change.
    pub fn message(&self) -> String {
        match self {
            Self::Record { table, name } => format!("{table}:{name}"),
            Self::Reload => "*".into(),
        }
    }
}
