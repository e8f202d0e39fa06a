//! The user-existence hook. A token proves that its subject authenticated
//! somewhere in the farm; it does not prove that the user exists on the
//! instance serving the request (created on instance 1, not yet replicated
//! to instance 2). The [`Authenticator`](super::Authenticator) asks a
//! [`UserDirectory`] after every successful verification.

use std::collections::{BTreeSet, HashSet};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Answers whether a user exists on this instance.
///
/// Implement it over the instance's own user store; write the method as an
/// `async fn`. Sets of user ids implement it, for tests and fixed lists.
///
/// ```
/// use encapsulated_token::handler::{DirectoryError, UserDirectory};
///
/// struct Users; // in real code: a handle on the user store
///
/// impl UserDirectory for Users {
///     async fn contains(&self, subject: &str) -> Result<bool, DirectoryError> {
///         Ok(subject == "alice")
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(Users.contains("alice").await.unwrap());
/// assert!(!Users.contains("mallory").await.unwrap());
/// # });
/// ```
pub trait UserDirectory: Send + Sync + 'static {
    /// Whether `subject` is a user of this instance. An `Err` means the
    /// store could not be asked: the request gets a 503, not a 401, so a
    /// store outage does not log every user out.
    fn contains(&self, subject: &str) -> impl Future<Output = Result<bool, DirectoryError>> + Send;
}

impl UserDirectory for HashSet<String> {
    async fn contains(&self, subject: &str) -> Result<bool, DirectoryError> {
        Ok(HashSet::contains(self, subject))
    }
}

impl UserDirectory for BTreeSet<String> {
    async fn contains(&self, subject: &str) -> Result<bool, DirectoryError> {
        Ok(BTreeSet::contains(self, subject))
    }
}

impl<D: UserDirectory> UserDirectory for Arc<D> {
    async fn contains(&self, subject: &str) -> Result<bool, DirectoryError> {
        D::contains(self, subject).await
    }
}

/// The future of a type-erased directory lookup.
pub(crate) type Lookup<'a> =
    Pin<Box<dyn Future<Output = Result<bool, DirectoryError>> + Send + 'a>>;

/// [`UserDirectory`] made object-safe, so an `Authenticator` is one type
/// whatever directory it holds.
pub(crate) trait DynDirectory: Send + Sync + 'static {
    fn contains_boxed<'a>(&'a self, subject: &'a str) -> Lookup<'a>;
}

impl<D: UserDirectory> DynDirectory for D {
    fn contains_boxed<'a>(&'a self, subject: &'a str) -> Lookup<'a> {
        Box::pin(self.contains(subject))
    }
}

/// The user store could not be asked (down, timed out...). Carries the
/// store's own error for the logs.
///
/// ```
/// use encapsulated_token::handler::DirectoryError;
/// let err = DirectoryError::new("connection refused");
/// assert_eq!(err.to_string(), "user directory unavailable: connection refused");
/// ```
#[derive(Clone, Debug)]
pub struct DirectoryError {
    source: Arc<dyn Error + Send + Sync>,
}

impl DirectoryError {
    /// Wraps the store's error.
    ///
    /// ```
    /// use encapsulated_token::handler::DirectoryError;
    /// let io = std::io::Error::other("users file unreadable");
    /// let err = DirectoryError::new(io);
    /// assert!(err.to_string().contains("users file unreadable"));
    /// ```
    pub fn new(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            source: Arc::from(source.into()),
        }
    }
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user directory unavailable: {}", self.source)
    }
}

impl Error for DirectoryError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}
