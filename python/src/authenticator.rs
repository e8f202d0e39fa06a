//! `Authenticator`: the core handler's `Authenticator` for framework glue.
//! It reads the credentials from request headers (bearer wins over the
//! cookie, several cookies of one user, ambiguous cookies refused), checks
//! the absolute session lifetime, and decides and mints the sliding refresh
//! exactly as the tower layer does: the glue only moves headers.
//!
//! Whether the user exists is the glue's question (Django's user model,
//! say), so the core's directory hook is given a directory that knows
//! everyone.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use encapsulated_token::handler::{
    AuthConfig, AuthError as CoreAuthError, Authenticator as CoreAuthenticator, CredentialSource,
    DEFAULT_COOKIE_NAME, DirectoryError, SameSite, Session, Standing, UserDirectory,
};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::claims::Claims;
use crate::errors::{AuthError, auth_error};
use crate::minter::Minter;
use crate::verifier::{Verifier, seconds};

/// Every subject stands: the glue asks its own user store.
struct Everyone;

impl UserDirectory for Everyone {
    async fn standing(&self, _: &Session<'_>) -> Result<Standing, DirectoryError> {
        Ok(Standing::Active)
    }
}

/// The headers the handler reads; the others are not copied.
const READ: [HeaderName; 3] = [
    header::COOKIE,
    header::AUTHORIZATION,
    HeaderName::from_static(encapsulated_token::handler::SKIP_REFRESH_HEADER),
];

/// Authenticates requests from their headers, and refreshes cookies when
/// it has a `Minter`.
#[pyclass(frozen, module = "encapsulated_token")]
pub(crate) struct Authenticator {
    verifier: Py<Verifier>,
    core: CoreAuthenticator,
    mints: bool,
}

/// A request that authenticated: its claims, where the token came from,
/// and the `Set-Cookie` value of a refreshed token when one is due.
#[pyclass(frozen, module = "encapsulated_token")]
pub(crate) struct Authentication {
    #[pyo3(get)]
    claims: Py<Claims>,
    #[pyo3(get)]
    source: &'static str,
    #[pyo3(get)]
    set_cookie: Option<String>,
}

#[pymethods]
impl Authentication {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Authentication(subject={:?}, source='{}', refreshed={})",
            self.claims.bind(py).get().subject_text(),
            self.source,
            if self.set_cookie.is_some() {
                "True"
            } else {
                "False"
            }
        )
    }
}

fn same_dir(a: Option<&Path>, b: Option<&Path>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        },
        _ => false,
    }
}

/// The value of one `Set-Cookie` header, as text.
fn text(value: &HeaderValue) -> String {
    // The core builds it from a token name, base64url and ASCII attributes.
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// A header value as the server received it: frameworks decode them as
/// Latin-1, so that is encoded back; other text goes as UTF-8.
fn header_value(value: &str) -> Option<HeaderValue> {
    let latin1: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
    HeaderValue::from_bytes(&latin1.unwrap_or_else(|| value.as_bytes().to_vec())).ok()
}

/// Polls a future that never waits: the directory here answers at once.
fn at_once<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[pymethods]
impl Authenticator {
    /// Refresh needs a `minter` reading the verifier's key directory.
    #[new]
    #[pyo3(signature = (
        verifier, minter=None, *, cookie_name=DEFAULT_COOKIE_NAME.to_owned(),
        lifetime=43_200.0, refresh_after=Some(0.5), max_session=604_800.0,
        no_refresh_paths=Vec::new(), secure=true, same_site="lax".to_owned()
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        verifier: Py<Verifier>,
        minter: Option<Py<Minter>>,
        cookie_name: String,
        lifetime: f64,
        refresh_after: Option<f64>,
        max_session: f64,
        no_refresh_paths: Vec<String>,
        secure: bool,
        same_site: String,
    ) -> PyResult<Self> {
        let checked = verifier.get();
        if let Some(minter) = &minter
            && !same_dir(checked.keys.dir(), minter.get().keys.dir())
        {
            return Err(PyValueError::new_err(
                "the verifier and the minter must follow the same key directory, so a \
                 refreshed token verifies: make both with from_key_dir(DIR)",
            ));
        }
        let same_site = match same_site.to_ascii_lowercase().as_str() {
            "lax" => SameSite::Lax,
            "strict" => SameSite::Strict,
            "none" => SameSite::None,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "same_site {same_site:?} is not \"lax\", \"strict\" or \"none\""
                )));
            }
        };
        let mut config = AuthConfig::new()
            .with_cookie_name(cookie_name)
            .with_lifetime(seconds("lifetime", lifetime)?)
            .with_leeway(checked.leeway)
            .with_max_session(seconds("max_session", max_session)?)
            .with_secure(secure)
            .with_same_site(same_site);
        if let Some(audience) = &checked.audience {
            config = config.with_audience(audience.as_str());
        }
        config = match (refresh_after, &minter) {
            (Some(share), Some(_)) => config.with_refresh_after(share),
            _ => config.without_refresh(),
        };
        for prefix in no_refresh_paths {
            config = config.with_no_refresh_path(prefix);
        }
        let core = CoreAuthenticator::new(checked.keys.ring(), config, Everyone)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self {
            verifier,
            core,
            mints: minter.is_some(),
        })
    }

    /// Authenticates a request from its headers, `(name, value)` pairs
    /// (only Cookie, Authorization and X-Token-Refresh are read), at
    /// `path` (for the no-refresh paths). Raises a `TokenError` subclass
    /// for a refused token, an `AuthError` otherwise (`missing`,
    /// `session_too_old`, `ambiguous_cookies` with `.clear_cookie`, ...).
    #[pyo3(signature = (headers, path="/"))]
    fn authenticate(
        &self,
        py: Python<'_>,
        headers: Vec<(String, String)>,
        path: &str,
    ) -> PyResult<Authentication> {
        self.follow_keys();
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            let Some(known) = READ
                .into_iter()
                .find(|n| n.as_str().eq_ignore_ascii_case(name))
            else {
                continue;
            };
            match header_value(value) {
                Some(value) => {
                    map.append(known, value);
                }
                None if known == header::COOKIE => {
                    return Err(refusal(
                        py,
                        "bad_cookies",
                        "a Cookie header holds control characters",
                    ));
                }
                None if known == header::AUTHORIZATION => {
                    return Err(refusal(
                        py,
                        "bad_authorization",
                        "the Authorization header holds control characters",
                    ));
                }
                None => {}
            }
        }
        let outcome = at_once(self.core.authenticate(&map)).ok_or_else(|| {
            refusal(
                py,
                "directory_unavailable",
                "the user directory did not answer",
            )
        })?;
        let identity = match outcome {
            Ok(identity) => identity,
            Err(e @ CoreAuthError::AmbiguousCookies { .. }) => {
                let error = auth_error(py, &e);
                let _ = error
                    .value(py)
                    .setattr("clear_cookie", text(&self.core.logout_cookie()));
                return Err(error);
            }
            Err(e) => return Err(auth_error(py, &e)),
        };
        let refresh =
            !self.core.config().skips_refresh(path, &map) && self.core.needs_refresh(&identity);
        // A refresh that cannot be minted leaves the token as it is, as the
        // tower layer does: the request is still authenticated.
        let set_cookie = refresh
            .then(|| self.core.refresh_cookie(&identity).ok())
            .flatten()
            .map(|value| text(&value));
        Ok(Authentication {
            claims: Py::new(py, Claims::from_identity(&identity))?,
            source: match identity.source {
                CredentialSource::Bearer => "bearer",
                _ => "cookie",
            },
            set_cookie,
        })
    }

    /// The `Set-Cookie` value that logs `subject` in: a new session.
    #[pyo3(signature = (subject, attributes=None))]
    fn login_cookie(
        &self,
        subject: String,
        attributes: Option<BTreeMap<String, String>>,
    ) -> PyResult<String> {
        if !self.mints {
            return Err(PyValueError::new_err(
                "this Authenticator has no Minter: give one to log users in",
            ));
        }
        self.follow_keys();
        self.core
            .login_cookie(subject, attributes.unwrap_or_default())
            .map(|value| text(&value))
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The `Set-Cookie` value that clears the cookie, with the login
    /// cookie's attributes so browsers drop it.
    fn logout_cookie(&self) -> String {
        text(&self.core.logout_cookie())
    }

    /// The cookie's name.
    #[getter]
    fn cookie_name(&self) -> String {
        self.core.config().cookie_name().to_owned()
    }

    /// Whether refreshed cookies are minted (a `Minter` was given).
    #[getter]
    fn refreshes(&self) -> bool {
        self.core.config().refresh_after().is_some()
    }

    /// The verifier it was made with.
    #[getter]
    fn verifier(&self, py: Python<'_>) -> Py<Verifier> {
        self.verifier.clone_ref(py)
    }
}

impl Authenticator {
    /// Hands the core the verifier's ring when the directory changed.
    fn follow_keys(&self) {
        let ring = self.verifier.get().keys.ring();
        if !Arc::ptr_eq(&ring, &self.core.ring()) {
            self.core.replace_ring(ring);
        }
    }
}

fn refusal(py: Python<'_>, reason: &'static str, message: &str) -> PyErr {
    let error = AuthError::new_err(message.to_owned());
    let _ = error.value(py).setattr("reason", reason);
    error
}
