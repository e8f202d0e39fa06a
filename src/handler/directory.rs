//! The user-existence hook. A token proves that its subject authenticated
//! somewhere in the farm; it does not prove that the user exists on the
//! instance serving the request (created on instance 1, not yet replicated
//! to instance 2), nor that the session was not ended since (logout
//! everywhere, a password change). The [`Authenticator`](super::Authenticator)
//! asks a [`UserDirectory`] after every successful verification.

use std::collections::{BTreeSet, HashSet};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use time::OffsetDateTime;

/// The session a verified token belongs to, as the [`UserDirectory`] sees
/// it: who, and since when.
///
/// `started_at` is when the session began: the login, which every refreshed
/// token carries unchanged; a directory compares it with the user's
/// "sessions before T are over" time.
///
/// ```
/// use encapsulated_token::handler::Session;
/// let session = Session::new("alice", time::OffsetDateTime::UNIX_EPOCH);
/// assert_eq!(session.subject, "alice");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session<'a> {
    /// The token's subject: the user id.
    pub subject: &'a str,
    /// When the session began.
    pub started_at: OffsetDateTime,
}

impl<'a> Session<'a> {
    /// The session of `subject`, begun at `started_at`.
    ///
    /// ```
    /// use encapsulated_token::handler::Session;
    /// let now = time::OffsetDateTime::now_utc();
    /// assert_eq!(Session::new("bob", now).started_at, now);
    /// ```
    pub fn new(subject: &'a str, started_at: OffsetDateTime) -> Self {
        Self {
            subject,
            started_at,
        }
    }
}

/// What a [`UserDirectory`] says of a [`Session`].
///
/// ```
/// use encapsulated_token::handler::{Session, Standing};
/// use time::macros::datetime;
///
/// let session = Session::new("alice", datetime!(2026-12-01 10:00 UTC));
/// // Sessions of alice begun before 11:00 are over (password change, logout everywhere).
/// let revoked = Some(datetime!(2026-12-01 11:00 UTC));
/// assert_eq!(Standing::of(&session, revoked), Standing::Revoked { before: datetime!(2026-12-01 11:00 UTC) });
/// assert_eq!(Standing::of(&session, None), Standing::Active);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Standing {
    /// The user exists here and the session is not revoked.
    Active,
    /// No such user on this instance (not created or not replicated yet,
    /// removed, or a revoked technical account).
    Unknown,
    /// The user exists, but every session begun before `before` is over.
    Revoked {
        /// Sessions begun before this instant are refused.
        before: OffsetDateTime,
    },
    /// The user exists, but this session was ended on its own (a logout in
    /// the stateful mode, where each session is recorded).
    Ended,
}

impl Standing {
    /// The standing of `session` for a user who exists, whose sessions begun
    /// before `revoked_before` (if any) are over: the one rule every
    /// directory applies.
    ///
    /// ```
    /// use encapsulated_token::handler::{Session, Standing};
    /// let t = time::OffsetDateTime::UNIX_EPOCH;
    /// let session = Session::new("alice", t);
    /// // A session that began at the revocation instant is not before it.
    /// assert_eq!(Standing::of(&session, Some(t)), Standing::Active);
    /// ```
    pub fn of(session: &Session<'_>, revoked_before: Option<OffsetDateTime>) -> Self {
        match revoked_before {
            Some(before) if session.started_at < before => Self::Revoked { before },
            _ => Self::Active,
        }
    }
}

/// Answers whether a session's user exists on this instance, and whether
/// the session was ended (logout everywhere, password change).
///
/// Implement it over the instance's own user store; write the method as an
/// `async fn`, and keep it in memory where you can: it runs on every
/// authenticated request, after the tag verified (forged tokens never reach
/// it). Sets of user ids implement it, for tests and fixed lists.
///
/// ```
/// use encapsulated_token::handler::{DirectoryError, Session, Standing, UserDirectory};
/// use time::macros::datetime;
///
/// struct Users; // in real code: a handle on the user store
///
/// impl UserDirectory for Users {
///     async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
///         Ok(match session.subject {
///             "alice" => Standing::of(session, Some(datetime!(2026-12-01 11:00 UTC))),
///             _ => Standing::Unknown,
///         })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let old = Session::new("alice", datetime!(2026-12-01 10:00 UTC));
/// assert!(matches!(Users.standing(&old).await.unwrap(), Standing::Revoked { .. }));
/// let new = Session::new("alice", datetime!(2026-12-01 12:00 UTC));
/// assert_eq!(Users.standing(&new).await.unwrap(), Standing::Active);
/// assert_eq!(Users.standing(&Session::new("mallory", new.started_at)).await.unwrap(), Standing::Unknown);
/// # });
/// ```
pub trait UserDirectory: Send + Sync + 'static {
    /// The standing of `session`. An `Err` means the store could not be
    /// asked: the request gets a 503, not a 401, so a store outage does not
    /// log every user out.
    fn standing(
        &self,
        session: &Session<'_>,
    ) -> impl Future<Output = Result<Standing, DirectoryError>> + Send;
}

fn listed(listed: bool) -> Standing {
    if listed {
        Standing::Active
    } else {
        Standing::Unknown
    }
}

impl UserDirectory for HashSet<String> {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        Ok(listed(self.contains(session.subject)))
    }
}

impl UserDirectory for BTreeSet<String> {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        Ok(listed(self.contains(session.subject)))
    }
}

impl<D: UserDirectory> UserDirectory for Arc<D> {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        D::standing(self, session).await
    }
}

/// The future of a type-erased directory lookup.
pub(crate) type Lookup<'a> =
    Pin<Box<dyn Future<Output = Result<Standing, DirectoryError>> + Send + 'a>>;

/// [`UserDirectory`] made object-safe, so an `Authenticator` is one type
/// whatever directory it holds.
pub(crate) trait DynDirectory: Send + Sync + 'static {
    fn standing_boxed<'a>(&'a self, session: &'a Session<'a>) -> Lookup<'a>;
}

impl<D: UserDirectory> DynDirectory for D {
    fn standing_boxed<'a>(&'a self, session: &'a Session<'a>) -> Lookup<'a> {
        Box::pin(self.standing(session))
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
