//! Where this instance's directory comes from, and what writing to it
//! means: the users file (this instance's copy, replicated by operators)
//! or Redis (one source of truth that every instance follows at once).

use std::path::PathBuf;
use std::sync::Arc;

use encapsulated_token::directory::{Follower, Freshness, Keyspace, SessionStore, Table, Writer};
use encapsulated_token::handler::{DirectoryError, Identity, Session};
use time::OffsetDateTime;

use super::Mode;
use super::directory::LiveServices;
use super::reload::LiveUsers;
use crate::users::{Users, revocation_instant};

/// The directory's source.
pub enum Source {
    /// The users file: a write changes this instance's copy only.
    Files { users_file: PathBuf },
    /// Redis: a write reaches every instance.
    Redis {
        writer: Writer,
        freshness: Freshness,
        /// Present in the stateful mode.
        sessions: Option<SessionStore>,
    },
}

/// What "logout everywhere" reached.
pub enum Reach {
    /// This instance's users file; others follow when it is replicated.
    ThisInstance,
    /// Every instance of the farm.
    Farm,
}

impl Source {
    /// Ends `user`'s sessions begun until now: in Redis for the farm, or in
    /// this instance's users file (rewritten atomically). This instance's
    /// snapshot refuses them at once either way.
    pub async fn revoke_sessions(&self, users: &LiveUsers, user: &str) -> Result<Reach, String> {
        let before = revocation_instant();
        let reach = match self {
            Self::Redis { writer, .. } => {
                writer
                    .revoke_sessions(user, before)
                    .await
                    .map_err(|e| e.to_string())?;
                Reach::Farm
            }
            Self::Files { users_file } => {
                let (path, name) = (users_file.clone(), user.to_owned());
                tokio::task::spawn_blocking(move || -> Result<(), String> {
                    let mut file = Users::load(&path)?;
                    if !file.revoke_sessions(&name) {
                        return Err(format!("no user {name:?} in {}", path.display()));
                    }
                    file.store(&path)
                })
                .await
                .map_err(|e| format!("revocation task failed: {e}"))??;
                Reach::ThisInstance
            }
        };
        users.snapshot().set_revoked(user, before);
        Ok(reach)
    }

    /// The stateful mode's session store, if on.
    pub fn sessions(&self) -> Option<&SessionStore> {
        match self {
            Self::Redis { sessions, .. } => sessions.as_ref(),
            Self::Files { .. } => None,
        }
    }

    /// Since when the snapshot has not followed Redis, and why.
    pub fn stale(&self) -> Option<(OffsetDateTime, String)> {
        match self {
            Self::Redis { freshness, .. } => freshness.stale().map(|s| (s.since, s.error)),
            Self::Files { .. } => None,
        }
    }
}

/// Records a new session in the stateful mode (nothing otherwise).
pub async fn record_session(
    source: &Source,
    session: &Session<'_>,
    token_id: &str,
    expires_at: OffsetDateTime,
    ttl: std::time::Duration,
) -> Result<(), DirectoryError> {
    match source.sessions() {
        Some(store) => store.record(session, token_id, expires_at, ttl).await,
        None => Ok(()),
    }
}

/// Connects to the directory at `url`: a writer, then the follower's first
/// full load into `users` and `services`. One clear error when the URL is
/// not a Redis URL or Redis cannot be reached.
pub async fn connect(
    url: &str,
    mode: Mode,
    users: &LiveUsers,
    services: &LiveServices,
) -> Result<(Source, Follower), String> {
    let keyspace = Keyspace::default();
    let writer = Writer::connect(url, keyspace.clone())
        .await
        .map_err(|e| e.to_string())?;
    let tables: Vec<Arc<dyn Table>> = vec![users.snapshot().clone(), Arc::new(services.clone())];
    let follower = Follower::start(url, keyspace, tables)
        .await
        .map_err(|e| e.to_string())?;
    let sessions = (mode == Mode::Stateful).then(|| SessionStore::new(&writer));
    let source = Source::Redis {
        writer,
        freshness: follower.freshness(),
        sessions,
    };
    Ok((source, follower))
}

/// A logout of `identity`: its session ends in the stateful mode; with
/// `everywhere`, every session of its user begun until now. What the
/// revocation reached, if one was asked for.
pub async fn logout(
    source: &Source,
    users: &LiveUsers,
    identity: &Identity,
    everywhere: bool,
) -> Result<Option<Reach>, String> {
    if let Some(store) = source.sessions() {
        let session = Session::new(&identity.subject, identity.session_started_at);
        store.end(&session).await.map_err(|e| e.to_string())?;
    }
    if !everywhere {
        return Ok(None);
    }
    source
        .revoke_sessions(users, &identity.subject)
        .await
        .map(Some)
}
