//! Where a Python `Verifier` or `Minter` gets its ring: a fixed ring (a
//! ring document), or a key directory that is followed. The directory is
//! looked at on use, at most every [`CHECK_EVERY`], so no thread is needed:
//! when a listing or a file's size, time or inode changed, the ring is loaded
//! again with the core's `KeyRing::load`. A directory that does not load (a
//! copy in progress) keeps the ring already held, and is retried.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use encapsulated_token::{KeyError, KeyRing};

/// How often a followed directory is looked at, at most.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(2);

/// What is derived from a ring once per load (a core `Verifier`, an `Issuer`).
pub(crate) struct KeySource<T> {
    dir: Option<PathBuf>,
    build: Box<dyn Fn(Arc<KeyRing>) -> T + Send + Sync>,
    state: Mutex<State<T>>,
}

struct State<T> {
    current: Arc<T>,
    ring: Arc<KeyRing>,
    stamp: Stamp,
    checked_at: Instant,
    reload_error: Option<String>,
}

/// What a directory looked like: every entry's name, size, change time and
/// inode, sorted by name. A rename (how every key file is written) changes
/// the inode; a copy over a file changes its size or time.
#[derive(PartialEq, Eq, Default)]
struct Stamp(Vec<(std::ffi::OsString, u64, i64, i64, u64)>);

fn stamp(dir: &Path) -> std::io::Result<Stamp> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        entries.push((
            entry.file_name(),
            meta.len(),
            meta.ctime(),
            meta.ctime_nsec(),
            meta.ino(),
        ));
    }
    entries.sort();
    Ok(Stamp(entries))
}

impl<T> KeySource<T> {
    /// A ring that never changes.
    pub(crate) fn fixed(
        ring: KeyRing,
        build: impl Fn(Arc<KeyRing>) -> T + Send + Sync + 'static,
    ) -> Self {
        let ring = Arc::new(ring);
        Self {
            dir: None,
            state: Mutex::new(State {
                current: Arc::new(build(ring.clone())),
                ring,
                stamp: Stamp::default(),
                checked_at: Instant::now(),
                reload_error: None,
            }),
            build: Box::new(build),
        }
    }

    /// The ring of `dir`, followed.
    pub(crate) fn follow(
        dir: &Path,
        build: impl Fn(Arc<KeyRing>) -> T + Send + Sync + 'static,
    ) -> Result<Self, KeyError> {
        // Stamped before loading: a change during the load is seen next time.
        let stamp = stamp(dir).unwrap_or_default();
        let ring = Arc::new(KeyRing::load(dir)?);
        Ok(Self {
            dir: Some(dir.to_path_buf()),
            state: Mutex::new(State {
                current: Arc::new(build(ring.clone())),
                ring,
                stamp,
                checked_at: Instant::now(),
                reload_error: None,
            }),
            build: Box::new(build),
        })
    }

    /// The directory followed, if any.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A poisoned lock means a panic between two assignments of whole
        // values: what it holds is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current value, after looking at the directory if the last look
    /// is [`CHECK_EVERY`] old.
    pub(crate) fn current(&self) -> Arc<T> {
        let mut state = self.state();
        if let Some(dir) = &self.dir
            && state.checked_at.elapsed() >= CHECK_EVERY
        {
            self.check(dir, &mut state);
        }
        state.current.clone()
    }

    /// The ring the current value was built from.
    pub(crate) fn ring(&self) -> Arc<KeyRing> {
        self.current();
        self.state().ring.clone()
    }

    /// Looks at the directory now, whenever it was last looked at.
    pub(crate) fn check_now(&self) {
        if let Some(dir) = &self.dir {
            self.check(dir, &mut self.state());
        }
    }

    /// Why the last reload failed, while the ring before it is in use.
    pub(crate) fn reload_error(&self) -> Option<String> {
        self.state().reload_error.clone()
    }

    fn check(&self, dir: &Path, state: &mut State<T>) {
        state.checked_at = Instant::now();
        let stamp = match stamp(dir) {
            Ok(stamp) => stamp,
            Err(e) => {
                state.reload_error = Some(format!("cannot list {}: {e}", dir.display()));
                return;
            }
        };
        if stamp == state.stamp && state.reload_error.is_none() {
            return;
        }
        match KeyRing::load(dir) {
            Ok(ring) => {
                let ring = Arc::new(ring);
                state.current = Arc::new((self.build)(ring.clone()));
                state.ring = ring;
                state.stamp = stamp;
                state.reload_error = None;
            }
            Err(e) => state.reload_error = Some(e.to_string()),
        }
    }
}
