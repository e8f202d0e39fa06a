//! `Minter`: the core's `Issuer` over a followed key directory, for Python
//! services that log users in themselves.

use std::collections::BTreeMap;
use std::path::PathBuf;

use encapsulated_token::{Claims, Issuer, KeyRing};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::KeyDirError;
use crate::key_source::KeySource;
use crate::verifier::{RingText, key_ids, python_repr, unix_time};

/// Mints tokens with the active key of a directory or a ring document.
#[pyclass(frozen, module = "encapsulated_token")]
pub(crate) struct Minter {
    pub(crate) keys: KeySource<Issuer>,
}

#[pymethods]
impl Minter {
    /// Follows the key directory `path` like `Verifier.from_key_dir`, so a
    /// promoted key mints within 2 seconds.
    #[staticmethod]
    fn from_key_dir(path: PathBuf) -> PyResult<Self> {
        let keys = KeySource::follow(&path, Issuer::new)
            .map_err(|e| KeyDirError::new_err(e.to_string()))?;
        Ok(Self { keys })
    }

    /// The ring document `etoken key export` writes (str or bytes).
    #[staticmethod]
    fn from_ring_json(text: RingText) -> PyResult<Self> {
        let ring = KeyRing::from_ring_json(text.as_bytes())
            .map_err(|e| KeyDirError::new_err(e.to_string()))?;
        Ok(Self {
            keys: KeySource::fixed(ring, Issuer::new),
        })
    }

    /// A token for `subject`, valid `ttl_seconds` from now (or from
    /// `issued_at`), with a fresh random token id. `session_started_at`
    /// (default: the issue time) is the login a refreshed token keeps.
    #[pyo3(signature = (subject, ttl_seconds, *, audience=None, attributes=None, issued_at=None, session_started_at=None))]
    fn mint(
        &self,
        subject: String,
        ttl_seconds: i64,
        audience: Option<String>,
        attributes: Option<BTreeMap<String, String>>,
        issued_at: Option<f64>,
        session_started_at: Option<f64>,
    ) -> PyResult<String> {
        let ttl = u64::try_from(ttl_seconds)
            .ok()
            .filter(|ttl| *ttl > 0)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "ttl_seconds {ttl_seconds} is not a lifetime of at least one second"
                ))
            })?;
        let mut claims = Claims::new(subject, ttl);
        if let Some(issued_at) = issued_at {
            let issued_at = unix_time("issued_at", issued_at)?;
            claims.expires_at = issued_at.saturating_add(whole(ttl));
            claims.issued_at = issued_at;
            claims.session_started_at = issued_at;
        }
        if let Some(started) = session_started_at {
            claims.session_started_at = unix_time("session_started_at", started)?;
        }
        claims.audience = audience;
        claims.attributes = attributes.unwrap_or_default();
        self.keys
            .current()
            .mint(&claims)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The key directory followed (None for a ring document).
    #[getter]
    fn key_dir(&self) -> Option<PathBuf> {
        self.keys.dir().map(PathBuf::from)
    }

    /// The id of the key that mints now.
    #[getter]
    fn active_key_id(&self) -> String {
        self.keys.ring().active().id().to_string()
    }

    /// The ids of the ring's keys, the active one first.
    #[getter]
    fn key_ids(&self) -> Vec<String> {
        key_ids(&self.keys.ring())
    }

    /// Looks at the key directory now rather than within 2 seconds.
    fn check_keys(&self) {
        self.keys.check_now();
    }

    /// Why the directory last failed to load (the ring before is kept).
    #[getter]
    fn reload_error(&self) -> Option<String> {
        self.keys.reload_error()
    }

    fn __repr__(&self) -> String {
        format!(
            "Minter(key_dir={}, active_key='{}')",
            python_repr(self.keys.dir().map(|d| d.display().to_string())),
            self.keys.ring().active().id()
        )
    }
}

/// A lifetime in whole seconds, as the format carries it.
fn whole(ttl: std::time::Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
}
