//! The stateful mode: each login recorded in Redis with a TTL, each request
//! checking that its session is still there (one round trip, after the tag
//! verified), logout deleting it. Redis down: the check fails, and the
//! handler answers 503, never 200.

use std::time::Duration;

use redis::aio::ConnectionManager;
use time::OffsetDateTime;

use super::keyspace::Keyspace;
use super::unavailable;
use super::write::Writer;
use crate::handler::{DirectoryError, Session, Standing, UserDirectory};

/// The sessions of the stateful mode, in Redis. A session is named by its
/// subject and its start, which every refreshed token carries unchanged, so
/// refreshes need no write.
#[derive(Clone)]
pub struct SessionStore {
    connection: ConnectionManager,
    keyspace: Keyspace,
}

impl SessionStore {
    /// The sessions under `writer`'s keyspace, over its connection.
    pub fn new(writer: &Writer) -> Self {
        Self {
            connection: writer.connection(),
            keyspace: writer.keyspace().clone(),
        }
    }

    /// Records a session at login; it expires by itself after `ttl` (the
    /// absolute session lifetime). `token_id` and `expires_at` are kept
    /// for operators who look.
    pub async fn record(
        &self,
        session: &Session<'_>,
        token_id: &str,
        expires_at: OffsetDateTime,
        ttl: Duration,
    ) -> Result<(), DirectoryError> {
        let value = serde_json::json!({
            "subject": session.subject,
            "token_id": token_id,
            "expires_at": expires_at.unix_timestamp(),
        });
        redis::cmd("SET")
            .arg(self.keyspace.session(session.subject, session.started_at))
            .arg(value.to_string())
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .exec_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)
    }

    /// Whether the session still exists.
    pub async fn exists(&self, session: &Session<'_>) -> Result<bool, DirectoryError> {
        redis::cmd("EXISTS")
            .arg(self.keyspace.session(session.subject, session.started_at))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)
    }

    /// Ends the session (logout), on every instance at once.
    pub async fn end(&self, session: &Session<'_>) -> Result<(), DirectoryError> {
        redis::cmd("DEL")
            .arg(self.keyspace.session(session.subject, session.started_at))
            .exec_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)
    }
}

/// A [`UserDirectory`] that asks `directory` first (in memory), then
/// whether the session is still recorded: the stateful mode's check, for
/// any handler. A session that is not recorded is
/// [`Standing::Ended`]; Redis unreachable is an error (503).
pub struct Stateful<D> {
    directory: D,
    sessions: SessionStore,
}

impl<D: UserDirectory> Stateful<D> {
    /// `directory`, with every session checked in `sessions`.
    pub fn new(directory: D, sessions: SessionStore) -> Self {
        Self {
            directory,
            sessions,
        }
    }
}

impl<D: UserDirectory> UserDirectory for Stateful<D> {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        match self.directory.standing(session).await? {
            Standing::Active if !self.sessions.exists(session).await? => Ok(Standing::Ended),
            standing => Ok(standing),
        }
    }
}
