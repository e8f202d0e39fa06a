//! [`AuthObserver`]: told the outcome of every authentication, so a server
//! can count them (metrics) without the handler depending on a metrics
//! crate.

use super::error::AuthError;
use super::identity::Identity;

/// Told the outcome of every [`Authenticator::authenticate`]
/// (and so of every request through the [`AuthLayer`]), right after it is
/// logged. It runs on the request path: keep it to a counter increment.
/// Any `Fn(Result<&Identity, &AuthError>)` is one.
///
/// [`Authenticator::authenticate`]: super::Authenticator::authenticate
/// [`AuthLayer`]: super::AuthLayer
///
/// ```
/// use encapsulated_token::handler::{AuthConfig, AuthError, Authenticator, Identity};
/// use encapsulated_token::{Key, KeyRing};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
///     std::collections::HashSet::<String>::new())?;
/// let missing = Arc::new(AtomicU64::new(0));
/// let counter = missing.clone();
/// auth.set_observer(move |outcome: Result<&Identity, &AuthError>| {
///     if let Err(e) = outcome {
///         if e.kind() == "missing" {
///             counter.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// })?;
/// assert!(auth.authenticate(&http::HeaderMap::new()).await.is_err());
/// assert_eq!(missing.load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub trait AuthObserver: Send + Sync + 'static {
    /// One authentication ended: with this identity, or refused for this
    /// reason ([`AuthError::kind`] names it in a few stable words).
    fn observe(&self, outcome: Result<&Identity, &AuthError>);
}

impl<F> AuthObserver for F
where
    F: Fn(Result<&Identity, &AuthError>) + Send + Sync + 'static,
{
    fn observe(&self, outcome: Result<&Identity, &AuthError>) {
        self(outcome)
    }
}

/// [`Authenticator::set_observer`](super::Authenticator::set_observer) was
/// called a second time: an authenticator has one observer, set before it
/// serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObserverAlreadySet;

impl std::fmt::Display for ObserverAlreadySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "this authenticator already has an observer: combine both into one before setting it",
        )
    }
}

impl std::error::Error for ObserverAlreadySet {}
