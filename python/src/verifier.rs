//! `Verifier`: the core's `Verifier` over a followed key directory or a
//! ring document.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use encapsulated_token::handler::AuthConfig;
use encapsulated_token::{KeyRing, TokenBuffer, Verifier as CoreVerifier};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use time::OffsetDateTime;
use zeroize::Zeroize;

use crate::claims::Claims;
use crate::errors::{KeyDirError, token_error};
use crate::key_source::KeySource;

/// Verifies tokens with the keys of a directory or a ring document.
#[pyclass(frozen, module = "encapsulated_token")]
pub(crate) struct Verifier {
    pub(crate) keys: KeySource<CoreVerifier>,
    pub(crate) audience: Option<String>,
    pub(crate) leeway: Duration,
}

/// The settings every verifier is built with, checked once.
#[derive(Clone)]
struct Settings {
    audience: Option<String>,
    leeway: Duration,
    max_length: Option<usize>,
}

impl Settings {
    fn checked(audience: Option<String>, leeway: f64, max_length: Option<usize>) -> PyResult<Self> {
        let leeway = seconds("leeway", leeway)?;
        if leeway > AuthConfig::MAX_LEEWAY {
            return Err(PyValueError::new_err(format!(
                "leeway {}s is over {}s: give a few seconds of clock skew",
                leeway.as_secs(),
                AuthConfig::MAX_LEEWAY.as_secs()
            )));
        }
        if let Some(audience) = &audience {
            // The handler's rule, the one the format applies at mint.
            AuthConfig::new()
                .with_audience(audience.as_str())
                .validate()
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
        }
        Ok(Self {
            audience,
            leeway,
            max_length,
        })
    }

    /// The core's verifier of `ring` with these settings.
    fn verifier(&self, ring: Arc<KeyRing>) -> CoreVerifier {
        let mut verifier = CoreVerifier::new(ring).with_leeway(self.leeway);
        if let Some(max) = self.max_length {
            verifier = verifier.with_max_len(max);
        }
        match &self.audience {
            Some(audience) => verifier.with_audience(audience.as_str()),
            None => verifier,
        }
    }

    /// The Python verifier over `keys`.
    fn over(self, keys: KeySource<CoreVerifier>) -> Verifier {
        Verifier {
            keys,
            audience: self.audience,
            leeway: self.leeway,
        }
    }
}

/// A non-negative, finite number of seconds.
pub(crate) fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} {value} is not a number of seconds from 0 up"
        ))
    })
}

/// A Unix time in seconds (fractions dropped) as the core's time.
pub(crate) fn unix_time(name: &str, value: f64) -> PyResult<OffsetDateTime> {
    let whole = value.floor();
    let in_range = whole.is_finite() && whole.abs() < 1e15;
    in_range
        .then(|| OffsetDateTime::from_unix_timestamp(whole as i64).ok())
        .flatten()
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{name} {value} is not a Unix time between the years -9999 and 9999"
            ))
        })
}

#[pymethods]
impl Verifier {
    /// Follows the key directory `path` (re-read when it changes, looked at
    /// on use, at most every 2 seconds). `max_length` lowers the format's
    /// bound on a token's length.
    #[staticmethod]
    #[pyo3(signature = (path, *, audience=None, leeway=0.0, max_length=None))]
    fn from_key_dir(
        path: PathBuf,
        audience: Option<String>,
        leeway: f64,
        max_length: Option<usize>,
    ) -> PyResult<Self> {
        let settings = Settings::checked(audience, leeway, max_length)?;
        let build = settings.clone();
        let keys = KeySource::follow(&path, move |ring| build.verifier(ring))
            .map_err(|e| KeyDirError::new_err(e.to_string()))?;
        Ok(settings.over(keys))
    }

    /// The ring document `etoken key export` writes (str or bytes).
    #[staticmethod]
    #[pyo3(signature = (text, *, audience=None, leeway=0.0, max_length=None))]
    fn from_ring_json(
        text: RingText,
        audience: Option<String>,
        leeway: f64,
        max_length: Option<usize>,
    ) -> PyResult<Self> {
        let settings = Settings::checked(audience, leeway, max_length)?;
        let ring = KeyRing::from_ring_json(text.as_bytes())
            .map_err(|e| KeyDirError::new_err(e.to_string()))?;
        let build = settings.clone();
        Ok(settings.over(KeySource::fixed(ring, move |ring| build.verifier(ring))))
    }

    /// The claims of `token`, checked at `now` (Unix seconds; the system
    /// clock when None). Raises a `TokenError` subclass when refused.
    #[pyo3(signature = (token, now=None))]
    fn verify(&self, py: Python<'_>, token: PyBackedStr, now: Option<f64>) -> PyResult<Claims> {
        let verifier = self.keys.current();
        let mut buffer = TokenBuffer::new();
        let verified = match now {
            None => verifier.verify_in(&token, &mut buffer),
            Some(now) => verifier.verify_in_at(&token, unix_time("now", now)?, &mut buffer),
        };
        match verified {
            Ok(verified) => Ok(Claims::of(&verified)),
            Err(e) => Err(token_error(py, &e)),
        }
    }

    /// Looks at the key directory now rather than within 2 seconds (after
    /// a SIGHUP, say). Does nothing for a ring document.
    fn check_keys(&self) {
        self.keys.check_now();
    }

    /// The audience tokens must carry (None: tokens without one).
    #[getter]
    fn audience(&self) -> Option<String> {
        self.audience.clone()
    }

    /// The clock-skew leeway, seconds.
    #[getter]
    fn leeway(&self) -> f64 {
        self.leeway.as_secs_f64()
    }

    /// The key directory followed (None for a ring document).
    #[getter]
    fn key_dir(&self) -> Option<PathBuf> {
        self.keys.dir().map(PathBuf::from)
    }

    /// The ids of the keys that verify, the active one first.
    #[getter]
    fn key_ids(&self) -> Vec<String> {
        key_ids(&self.keys.ring())
    }

    /// Why the directory last failed to load (the ring before is kept).
    #[getter]
    fn reload_error(&self) -> Option<String> {
        self.keys.reload_error()
    }

    fn __repr__(&self) -> String {
        let ring = self.keys.ring();
        format!(
            "Verifier(key_dir={}, audience={}, leeway={}, active_key='{}', keys={})",
            python_repr(self.keys.dir().map(|d| d.display().to_string())),
            python_repr(self.audience.clone()),
            self.leeway.as_secs_f64(),
            ring.active().id(),
            ring.len()
        )
    }
}

/// `None` or a quoted string, as Python shows them.
pub(crate) fn python_repr(text: Option<String>) -> String {
    text.map_or_else(|| "None".to_owned(), |text| format!("{text:?}"))
}

/// The ids of a ring's keys, the active one first.
pub(crate) fn key_ids(ring: &KeyRing) -> Vec<String> {
    let active = ring.active().id();
    std::iter::once(active)
        .chain(ring.keys().map(|k| k.id()).filter(|id| *id != active))
        .map(|id| id.to_string())
        .collect()
}

/// A ring document as text or bytes.
#[derive(FromPyObject)]
pub(crate) enum RingText {
    Text(String),
    Bytes(Vec<u8>),
}

/// The document holds every secret of the ring: wiped once read (Python's
/// own copy is the caller's to drop).
impl Drop for RingText {
    fn drop(&mut self) {
        match self {
            Self::Text(text) => text.zeroize(),
            Self::Bytes(bytes) => bytes.zeroize(),
        }
    }
}

impl RingText {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Bytes(bytes) => bytes,
        }
    }
}
