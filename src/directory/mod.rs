//! The directory: who exists, held in memory on every instance (feature
//! `redis`).
//!
//! A token proves authentication; the [`UserDirectory`](crate::handler::UserDirectory)
//! says whether its subject exists here and whether its session was ended.
//! This module keeps that answer in memory for a farm whose directory lives
//! in Redis:
//!
//! - [`UserSnapshot`]: users and their revocation times in a map; the
//!   request path reads it and nothing else. A file source fills it with
//!   [`UserSnapshot::replace`]; the Redis source through [`Table`].
//! - [`Follower`]: loads every [`Table`] from Redis in batches (`HSCAN`),
//!   then follows the change channel (pub/sub), pinging it every
//!   [`KEEPALIVE`] so a connection that died silently is noticed; on
//!   reconnect it loads everything again, so no change is missed. While Redis is away the
//!   snapshot stays as it was and [`Freshness`] says since when.
//! - [`Writer`]: writes a record and announces it on the channel in one
//!   `MULTI`, for the command line and for "logout everywhere".
//! - [`SessionStore`] and [`Stateful`]: the stateful mode, which records
//!   each login in Redis and checks it on every request (one round trip,
//!   after the tag verified), failing closed when Redis is down.
//!
//! The keyspace is [`Keyspace`]'s: one hash per table and one channel.
//!
//! ```
//! use encapsulated_token::directory::{UserRecord, UserSnapshot};
//! use encapsulated_token::handler::{Session, Standing};
//!
//! let users = UserSnapshot::new(|_name, _hash| Ok(()));
//! users.replace([("alice".to_string(), UserRecord::new("$argon2id$..."))]);
//! let session = Session::new("alice", time::OffsetDateTime::now_utc());
//! assert_eq!(users.standing_of(&session), Standing::Active);
//! assert_eq!(users.standing_of(&Session::new("bob", session.started_at)), Standing::Unknown);
//! ```

mod follow;
mod keyspace;
mod session;
mod users;
mod write;

pub use follow::{Follower, Freshness, KEEPALIVE, Records, Refused, Stale, Table};
pub use keyspace::{Change, Keyspace, REVOCATIONS, SERVICES, USERS};
pub use session::{SessionStore, Stateful};
pub use users::{RecordCheck, SsoAccount, UserRecord, UserSnapshot};
pub use write::Writer;

/// How long one Redis command may take before it counts as failed: a
/// stateful check answers 503 within it when Redis is gone.
pub const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Records fetched per `HSCAN` round trip: big enough to load a million
/// users in seconds, small enough that no command blocks Redis.
pub const SCAN_BATCH: usize = 2000;

/// A Redis client for `url`, or a [`DirectoryError`](crate::handler::DirectoryError)
/// saying the URL is not one.
fn client(url: &str) -> Result<redis::Client, crate::handler::DirectoryError> {
    redis::Client::open(url).map_err(|e| {
        crate::handler::DirectoryError::new(format!("{url:?} is not a Redis URL: {e}"))
    })
}

fn unavailable(e: impl std::fmt::Display) -> crate::handler::DirectoryError {
    crate::handler::DirectoryError::new(format!("redis: {e}"))
}
