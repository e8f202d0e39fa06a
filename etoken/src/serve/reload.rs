//! Live reload of the key directory and the users file: polled every
//! interval and re-read at once on SIGHUP. A change that loads is swapped in
//! and logged with the ring's fingerprints; one that does not load is logged
//! and the previous ring or users are kept, so copying a directory over a
//! running instance never leaves it without keys.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use encapsulated_token::KeyRing;
use encapsulated_token::handler::{Authenticator, DirectoryError, UserDirectory};
use tokio::signal::unix::Signal;

use super::directory::LiveServices;
use crate::keydir::{describe, open_ring};
use crate::users::Users;

/// The users of this instance, shared with the request handlers: the
/// authenticator's user directory (a token's subject exists here iff this
/// instance's users file lists it) and the login form's password check.
#[derive(Clone)]
pub struct LiveUsers(Arc<RwLock<Arc<Users>>>);

impl LiveUsers {
    /// Starts with `users`.
    pub fn new(users: Users) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(users))))
    }

    /// The users as of now.
    pub fn current(&self) -> Arc<Users> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, users: Users) {
        match self.0.write() {
            Ok(mut guard) => *guard = Arc::new(users),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(users),
        }
    }
}

impl UserDirectory for LiveUsers {
    async fn contains(&self, subject: &str) -> Result<bool, DirectoryError> {
        Ok(self.current().contains(subject))
    }
}

/// Watches the key directory and the users file.
pub struct Watcher {
    /// Installed before the server announces itself.
    pub hangups: Signal,
    pub keys: PathBuf,
    pub users_file: PathBuf,
    pub interval: Duration,
    pub auth: Authenticator,
    pub users: LiveUsers,
    pub ring: KeyRing,
    /// Reloaded with the users file, by the same rules.
    pub services: LiveServices,
}

impl Watcher {
    /// Polls until the task is dropped.
    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        let mut last_error: Option<String> = None;
        loop {
            let hangup = tokio::select! {
                _ = ticker.tick() => false,
                Some(()) = self.hangups.recv() => true,
            };
            if hangup {
                tracing::info!("SIGHUP: reloading the key directory and the users file");
            }
            let error = self.check(hangup).await;
            // Each distinct failure once, not every poll.
            match (&error, &last_error) {
                (Some(reason), last) if last.as_ref() != Some(reason) => {
                    tracing::error!("reload refused, keeping the previous ring and users: {reason}")
                }
                (None, Some(_)) => {
                    tracing::info!("reload: the key directory and the users file load again")
                }
                _ => {}
            }
            last_error = error;
        }
    }

    /// Loads both files; swaps in what changed. Returns the first error.
    async fn check(&mut self, hangup: bool) -> Option<String> {
        let (keys, users_file) = (self.keys.clone(), self.users_file.clone());
        let loaded =
            tokio::task::spawn_blocking(move || (open_ring(&keys), Users::load(&users_file))).await;
        let (ring, users) = match loaded {
            Ok(pair) => pair,
            Err(e) => return Some(format!("reload task failed: {e}")),
        };
        let mut error = None;
        match ring {
            Ok(ring) if ring != self.ring => {
                tracing::info!("key directory changed, now using {}", describe(&ring));
                self.auth.replace_ring(ring.clone());
                self.ring = ring;
            }
            Ok(_) if hangup => tracing::info!("key directory unchanged: {}", describe(&self.ring)),
            Ok(_) => {}
            Err(reason) => error = Some(reason),
        }
        match users {
            Ok(users) if users != *self.users.current() => {
                tracing::info!("users file changed: {} users", users.names().count());
                self.users.replace(users);
            }
            Ok(_) => {}
            Err(reason) => error = error.or(Some(reason)),
        }
        if let Err(reason) = self.services.reload().await {
            error = error.or(Some(reason));
        }
        error
    }
}
