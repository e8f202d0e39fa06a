//! Who exists on this instance: the users of its users file, and the
//! technical accounts of its services file that are not revoked. The
//! authenticator asks this after every token verifies, so an access token
//! of a revoked account is refused by every instance once it has reloaded
//! the services file. The services file follows the users file's reload
//! rules: a change that loads is swapped in, one that does not is logged
//! and the last good copy kept.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use encapsulated_token::directory::{Records, Refused, SERVICES, Table};
use encapsulated_token::handler::{DirectoryError, Session, Standing, UserDirectory};

use super::reload::LiveUsers;
use crate::services::Services;

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
}

impl UserDirectory for Directory {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        Ok(match self.users.snapshot().standing_of(session) {
            Standing::Unknown => self.services.current().standing(session),
            standing => standing,
        })
    }
}
