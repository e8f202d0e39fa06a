//! Who exists on this instance: the users of its users file, and the
//! technical accounts of its services file that are not revoked. The
//! authenticator asks this after every token verifies, so an access token
//! of a revoked account is refused by every instance once it has reloaded
//! the services file. The services file follows the users file's reload
//! rules: a change that loads is swapped in, one that does not is logged
//! and the last good copy kept.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use encapsulated_token::directory::{
    COMMAND_TIMEOUT, REVOCATIONS, Records, Refused, SERVICES, Table, USERS, UserSnapshot, Writer,
};
use encapsulated_token::handler::{DirectoryError, Session, Standing, UserDirectory};

use super::reload::LiveUsers;
use crate::services::Services;
use etoken::truncated;

/// The services file as of the last good load, shared with the token
/// endpoints and the directory.
#[derive(Clone)]
pub struct LiveServices {
    current: Arc<RwLock<Arc<Services>>>,
    /// None: no services file (no technical accounts exist).
    path: Option<PathBuf>,
}

impl LiveServices {
    /// Starts with `services`, loaded from `path`.
    pub fn new(services: Services, path: Option<PathBuf>) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(services))),
            path,
        }
    }

    /// The services as of now.
    pub fn current(&self) -> Arc<Services> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the services file; swaps it in if it changed and loads.
    /// The error says why it did not load (the last good copy is kept).
    /// The services file followed, if any.
    pub fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    fn swap(&self, services: Services) {
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(services),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(services),
        }
    }

    pub async fn reload(&self) -> Result<(), String> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let loaded = tokio::task::spawn_blocking(move || Services::load(&path))
            .await
            .map_err(|e| format!("reload task failed: {e}"))??;
        if loaded != *self.current() {
            let active = loaded.accounts().filter(|a| !a.revoked()).count();
            let revoked = loaded.accounts().count() - active;
            tracing::info!("services file changed: {active} active, {revoked} revoked");
            self.swap(loaded);
        }
        Ok(())
    }
}

/// In the Redis mode the services table is followed like the users: an
/// account whose record does not check out is refused and does not exist.
impl Table for LiveServices {
    fn tables(&self) -> &'static [&'static str] {
        &[SERVICES]
    }

    fn load(&self, mut records: Records) -> Vec<Refused> {
        let mut services = Services::default();
        let mut refused = Vec::new();
        for (name, record) in records.remove(SERVICES).unwrap_or_default() {
            if let Err(reason) = services.insert_json(&name, &record) {
                refused.push(Refused::new(SERVICES, name, reason));
            }
        }
        self.swap(services);
        refused
    }

    fn update(&self, _table: &str, name: &str, record: Option<&[u8]>) -> Result<(), String> {
        // Accounts are few (thousands) and change rarely: a copy per change
        // keeps every reader on a consistent set.
        let mut next = (*self.current()).clone();
        next.remove(name);
        let outcome = record.map_or(Ok(()), |record| next.insert_json(name, record));
        self.swap(next);
        outcome
    }
}

/// The authenticator's user directory.
#[derive(Clone)]
pub struct Directory {
    pub users: LiveUsers,
    pub services: LiveServices,
    /// With Redis: users this instance has not heard of yet are looked up.
    pub late: Option<LateUsers>,
}

impl UserDirectory for Directory {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        let users = self.users.snapshot();
        let standing = match users.standing_of(session) {
            Standing::Unknown => self.services.current().standing(session),
            standing => return Ok(standing),
        };
        if standing != Standing::Unknown {
            return Ok(standing);
        }
        if let Some(late) = &self.late {
            late.fetch(users, session).await;
        }
        Ok(users.standing_of(session))
    }
}

/// A user added a moment ago on another instance (a first single sign-on
/// login, `etoken user add --directory`) is announced on the change
/// channel, but the browser's next request can reach this instance first.
/// A token that verified and names a user this instance does not know is
/// therefore looked up in Redis once: one `HGET` pair, at most once a
/// second per name, and only after the tag checked out, so forged tokens
/// never reach Redis. An unknown name stays unknown (401) whatever Redis
/// answers or fails to answer.
#[derive(Clone)]
pub struct LateUsers {
    writer: Writer,
    /// When each name was last looked up; cleared when it grows past
    /// [`LateUsers::REMEMBERED`].
    looked_up: Arc<Mutex<HashMap<String, Instant>>>,
}

impl LateUsers {
    /// Names remembered for the once-a-second rule.
    const REMEMBERED: usize = 10_000;
    /// Reads of one name, when each races with another change.
    const ATTEMPTS: usize = 4;

    /// Looks users up through `writer`'s connection.
    pub fn new(writer: Writer) -> Self {
        Self {
            writer,
            looked_up: Arc::default(),
        }
    }

    /// Reads the user of `session` from Redis into `users`, if Redis has
    /// it. A read that raced with another change is not applied (see
    /// [`UserSnapshot::add_missing`]) and is made again, a few times,
    /// unless that change brought the user.
    async fn fetch(&self, users: &UserSnapshot, session: &Session<'_>) {
        let name = session.subject;
        if !self.due(name) {
            return;
        }
        for _ in 0..Self::ATTEMPTS {
            let since = users.generation();
            let read = async {
                let user = self.writer.get(USERS, name).await?;
                let revocation = match user {
                    Some(_) => self.writer.get(REVOCATIONS, name).await?,
                    None => None,
                };
                Ok::<_, DirectoryError>((user, revocation))
            };
            let (user, revocation) = match tokio::time::timeout(COMMAND_TIMEOUT, read).await {
                Ok(Ok((Some(user), revocation))) => (user, revocation),
                Ok(Ok((None, _))) => return,
                Ok(Err(e)) => {
                    tracing::debug!("directory: cannot look up a user not yet announced: {e}");
                    return;
                }
                Err(_) => return,
            };
            match users.add_missing(since, name, Some(&user), revocation.as_deref()) {
                Ok(true) => {
                    tracing::debug!(user = %truncated(name), "directory: a user not yet announced, read from Redis");
                    return;
                }
                Ok(false) if users.standing_of(session) != Standing::Unknown => return,
                Ok(false) => continue,
                Err(reason) => {
                    tracing::error!(user = %truncated(name), "directory: refused record, not trusted: {reason}");
                    return;
                }
            }
        }
    }

    /// Whether `name` may be looked up now (not in the last second).
    fn due(&self, name: &str) -> bool {
        let now = Instant::now();
        let mut looked_up = self
            .looked_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if looked_up.len() >= Self::REMEMBERED {
            looked_up.retain(|_, at| now.duration_since(*at) < LATE_LOOKUP_EVERY);
        }
        match looked_up.get(name) {
            Some(at) if now.duration_since(*at) < LATE_LOOKUP_EVERY => false,
            _ => {
                if looked_up.len() < Self::REMEMBERED {
                    looked_up.insert(name.to_owned(), now);
                    true
                } else {
                    // Ten thousand unknown names in one second: not a user
                    // who just signed up. Their announcements will do.
                    false
                }
            }
        }
    }
}

/// How often one unknown name may be looked up in Redis.
const LATE_LOOKUP_EVERY: Duration = Duration::from_secs(1);
