//! Live reload of the key directory and the users file: polled every
//! interval and re-read at once on SIGHUP. A change that loads is swapped in
//! and logged with the ring's fingerprints. One that does not load keeps the
//! previous ring or users, so copying a directory over a running instance
//! never leaves it without keys, but it is not silent: the failure is logged
//! at once and every minute while it lasts, and `/healthz` says "degraded".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use encapsulated_token::KeyRing;
use encapsulated_token::handler::Authenticator;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::signal::unix::Signal;

use encapsulated_token::directory::UserSnapshot;

use super::directory::LiveServices;
use super::metrics::Metrics;
use crate::keydir::{describe, open_ring};
use crate::users::{Users, check_record};

/// The users of this instance, shared with the request handlers: what the
/// authenticator's [`Directory`](super::directory::Directory) asks (a
/// token's subject exists here iff the directory lists it) and the login
/// form's password check. Filled from the users file (reloaded here) or
/// from Redis (followed by the library's
/// [`Follower`](encapsulated_token::directory::Follower)).
#[derive(Clone)]
pub struct LiveUsers(Arc<UserSnapshot>);

impl LiveUsers {
    /// Starts with `users`.
    pub fn new(users: &Users) -> Self {
        let live = Self(Arc::new(UserSnapshot::new(check_record)));
        live.replace(users);
        live
    }

    /// The in-memory snapshot.
    pub fn snapshot(&self) -> &Arc<UserSnapshot> {
        &self.0
    }

    /// Swaps in the users file's users; whether anything changed.
    fn replace(&self, users: &Users) -> bool {
        self.0.replace(
            users
                .records()
                .map(|(name, record)| (name.clone(), record.clone())),
        )
    }
}

/// What failed to reload, and since when: the instance keeps serving from
/// the last good copy, and says so on `/healthz` and in the log.
#[derive(Clone)]
pub struct ReloadHealth {
    failures: Arc<RwLock<BTreeMap<&'static str, Failure>>>,
    /// How often a failure that lasts is logged again.
    repeat: Duration,
    /// Counts every check, by source and outcome.
    metrics: Metrics,
}

impl Default for ReloadHealth {
    fn default() -> Self {
        Self::counted(Metrics::default())
    }
}

/// One source that does not load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The path that does not load.
    pub path: PathBuf,
    /// Why, as the log says it.
    pub error: String,
    /// The first failed check of this error.
    pub since: OffsetDateTime,
    /// When the log last said it.
    logged: Instant,
}

impl ReloadHealth {
    /// No failure yet; every check counted into `metrics`.
    pub fn counted(metrics: Metrics) -> Self {
        Self {
            failures: Arc::default(),
            repeat: REPEAT_LOG,
            metrics,
        }
    }

    /// The sources that do not load now ("keys", "users"), by name.
    pub fn failures(&self) -> BTreeMap<&'static str, Failure> {
        self.failures
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the outcome of one check of `source` at `path`, and logs: a
    /// new failure at once, the same one again each [`REPEAT_LOG`] while it
    /// lasts, and the recovery. Returns whether it logged.
    fn record(&self, source: &'static str, path: &Path, outcome: Result<(), String>) -> bool {
        self.metrics.reload(source, outcome.is_ok());
        let mut failures = self
            .failures
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match (outcome, failures.get_mut(source)) {
            (Ok(()), None) => return false,
            (Ok(()), Some(failure)) => {
                tracing::info!(
                    source,
                    "reload: {} loads again (it failed since {})",
                    path.display(),
                    rfc3339(failure.since)
                );
                failures.remove(source);
            }
            (Err(error), Some(failure)) if failure.error == error => {
                if failure.logged.elapsed() < self.repeat {
                    return false;
                }
                tracing::error!(
                    source,
                    "reload still refused since {}, serving from the last good copy: {error}",
                    rfc3339(failure.since)
                );
                failure.logged = Instant::now();
            }
            (Err(error), _) => {
                tracing::error!(
                    source,
                    "reload refused, keeping the previous {source}: {error}"
                );
                failures.insert(
                    source,
                    Failure {
                        path: path.to_owned(),
                        error,
                        since: OffsetDateTime::now_utc(),
                        logged: Instant::now(),
                    },
                );
            }
        }
        true
    }
}

/// How often a reload failure that lasts is logged again.
pub const REPEAT_LOG: Duration = Duration::from_secs(60);

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Watches the key directory and the users file.
pub struct Watcher {
    /// Installed before the server announces itself.
    pub hangups: Signal,
    pub keys: PathBuf,
    /// None: the users come from Redis, not a file.
    pub users_file: Option<PathBuf>,
    pub interval: Duration,
    pub auth: Authenticator,
    pub users: LiveUsers,
    pub ring: KeyRing,
    pub health: ReloadHealth,
    /// Reloaded with the users file, by the same rules.
    pub services: LiveServices,
}

impl Watcher {
    /// Polls until the task is dropped.
    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        loop {
            let hangup = tokio::select! {
                _ = ticker.tick() => false,
                Some(()) = self.hangups.recv() => true,
            };
            if hangup {
                tracing::info!("SIGHUP: reloading the key directory and the users file");
            }
            self.check(hangup).await;
        }
    }

    /// Loads both files; swaps in what changed; records what failed.
    async fn check(&mut self, hangup: bool) {
        let (keys, users_file) = (self.keys.clone(), self.users_file.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            (open_ring(&keys), users_file.as_deref().map(Users::load))
        })
        .await;
        let (ring, users) = match loaded {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!("reload task failed: {e}");
                return;
            }
        };
        let ring = ring.map(|ring| {
            if ring != self.ring {
                tracing::info!("key directory changed, now using {}", describe(&ring));
                self.auth.replace_ring(ring.clone());
                self.ring = ring;
            } else if hangup {
                tracing::info!("key directory unchanged: {}", describe(&self.ring));
            }
        });
        self.health.record("keys", &self.keys, ring);
        if let (Some(users), Some(path)) = (users, &self.users_file) {
            let users = users.map(|users| {
                if self.users.replace(&users) {
                    tracing::info!("users file changed: {} users", users.names().count());
                }
            });
            self.health.record("users", path, users);
        }
        if let Some(path) = self.services.path() {
            let services = self.services.reload().await;
            self.health.record("services", &path, services);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_failure_is_logged_at_once_then_every_repeat_until_it_recovers() {
        let path = Path::new("users.json");
        let health = ReloadHealth::default();
        assert!(!health.record("users", path, Ok(())), "nothing to say");
        assert!(health.record("users", path, Err("mode 0644".into())));
        let since = health.failures()["users"].since;
        assert!(
            !health.record("users", path, Err("mode 0644".into())),
            "not again yet"
        );
        assert!(
            health.record("users", path, Err("corrupt".into())),
            "another error"
        );
        assert_eq!(health.failures()["users"].error, "corrupt");
        assert!(health.failures()["users"].since >= since);
        assert!(health.record("users", path, Ok(())), "recovery");
        assert!(health.failures().is_empty());

        let often = ReloadHealth {
            repeat: Duration::ZERO,
            ..ReloadHealth::default()
        };
        assert!(often.record("keys", path, Err("gone".into())));
        assert!(
            often.record("keys", path, Err("gone".into())),
            "repeat elapsed"
        );
        assert_eq!(often.failures().len(), 1);
    }
}
