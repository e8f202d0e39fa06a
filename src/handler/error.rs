//! Why a request was not authenticated. For logs: the HTTP response never
//! says which.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::verify::VerifyError;

use super::directory::DirectoryError;

/// Why [`Authenticator::authenticate`](super::Authenticator::authenticate)
/// refused a request. Log it; answer a uniform 401 whatever the variant
/// (503 for [`AuthError::Directory`], which is not the client's fault).
///
/// ```
/// use encapsulated_token::handler::{AuthConfig, AuthError, Authenticator};
/// use encapsulated_token::{Key, KeyRing};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
///     std::collections::HashSet::<String>::new())?;
/// let err = auth.authenticate(&http::HeaderMap::new()).await.unwrap_err();
/// assert!(matches!(err, AuthError::Missing));
/// assert_eq!(err.kind(), "missing");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AuthError {
    /// Neither a bearer token nor the login cookie.
    Missing,
    /// The `Authorization` header is unusable: several of them, or a bearer
    /// scheme with no token.
    BadAuthorization {
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The `Cookie` headers are unusable: larger together than
    /// [`MAX_COOKIE_BYTES`](super::MAX_COOKIE_BYTES).
    BadCookies {
        /// What is wrong with them.
        problem: &'static str,
    },
    /// The token did not verify (expired, bad tag, unknown key id...).
    Token(VerifyError),
    /// Several login cookies verified and they name different users: one
    /// may have been planted (from a sibling subdomain, under a longer
    /// `Path`). Neither is trusted, and the layer clears the cookie.
    AmbiguousCookies {
        /// The subject of the first valid cookie.
        first: String,
        /// The subject of another valid cookie.
        other: String,
    },
    /// The token verified, but its subject is not a user of this instance.
    UnknownUser {
        /// The token's subject.
        subject: String,
    },
    /// The token verified and its user exists, but the user's sessions
    /// begun before `before` were ended (logout everywhere, password change).
    SessionRevoked {
        /// The token's subject.
        subject: String,
        /// When the token's session began.
        started_at: OffsetDateTime,
        /// Sessions begun before this instant are over.
        before: OffsetDateTime,
    },
    /// The token verified, but its session began longer ago than the
    /// absolute session lifetime allows, however recently it was refreshed.
    SessionTooOld {
        /// The token's subject.
        subject: String,
        /// When the session began.
        started_at: OffsetDateTime,
        /// The absolute session lifetime.
        max_session: std::time::Duration,
    },
    /// The token verified, but its session is no longer recorded (logged
    /// out, or expired, in the stateful mode).
    SessionEnded {
        /// The token's subject.
        subject: String,
        /// When the session began.
        started_at: OffsetDateTime,
    },
    /// The user directory could not be asked.
    Directory(DirectoryError),
}

impl AuthError {
    /// A stable snake_case name, for logs and metrics: the
    /// [`VerifyError::kind`] for token failures.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthError;
    /// let err = AuthError::UnknownUser { subject: "alice".into() };
    /// assert_eq!(err.kind(), "unknown_user");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::BadAuthorization { .. } => "bad_authorization",
            Self::BadCookies { .. } => "bad_cookies",
            Self::Token(e) => e.kind(),
            Self::AmbiguousCookies { .. } => "ambiguous_cookies",
            Self::UnknownUser { .. } => "unknown_user",
            Self::SessionRevoked { .. } => "session_revoked",
            Self::SessionTooOld { .. } => "session_too_old",
            Self::SessionEnded { .. } => "session_ended",
            Self::Directory(_) => "directory_unavailable",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => {
                f.write_str("no credentials: neither a bearer token nor the login cookie")
            }
            Self::BadAuthorization { problem } => {
                write!(f, "unusable Authorization header: {problem}")
            }
            Self::BadCookies { problem } => write!(f, "unusable Cookie headers: {problem}"),
            Self::Token(e) => e.fmt(f),
            Self::AmbiguousCookies { first, other } => write!(
                f,
                "login cookies for two users ({first:?} and {other:?}) in one request: \
                 refused, one may be planted from a sibling domain; the cookie is cleared"
            ),
            Self::UnknownUser { subject } => write!(
                f,
                "token for user {subject:?} verified, but no such user exists on this instance: \
                 create or replicate the user here"
            ),
            Self::SessionRevoked {
                subject,
                started_at,
                before,
            } => write!(
                f,
                "sessions of user {subject:?} begun before {} are over (logout everywhere or \
                 password change); this one began at {}: the user must log in again",
                rfc3339(*before),
                rfc3339(*started_at)
            ),
            Self::SessionTooOld {
                subject,
                started_at,
                max_session,
            } => write!(
                f,
                "session of user {subject:?} began at {}, longer ago than the absolute session \
                 lifetime of {}s: the user must log in again",
                rfc3339(*started_at),
                max_session.as_secs()
            ),
            Self::SessionEnded {
                subject,
                started_at,
            } => write!(
                f,
                "session of user {subject:?} begun at {} is not recorded any more (logged out \
                 or expired in the session store): the user must log in again",
                rfc3339(*started_at)
            ),
            Self::Directory(e) => e.fmt(f),
        }
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Token(e) => Some(e),
            Self::Directory(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VerifyError> for AuthError {
    fn from(e: VerifyError) -> Self {
        Self::Token(e)
    }
}
