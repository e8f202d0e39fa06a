//! What an [`Authenticator`](super::Authenticator) is told: cookie name and
//! attributes, audience, token lifetime, refresh threshold, clock.

use std::fmt;
use std::time::Duration;

use crate::verify::DEFAULT_LEEWAY;

/// The cookie name a new [`AuthConfig`] uses: `login-token`.
///
/// ```
/// assert_eq!(encapsulated_token::handler::DEFAULT_COOKIE_NAME, "login-token");
/// ```
pub const DEFAULT_COOKIE_NAME: &str = "login-token";

/// The request header that asks for no refresh: `X-Token-Refresh: skip`
/// (background requests of an idle tab, so polling does not keep a session
/// alive).
///
/// ```
/// assert_eq!(encapsulated_token::handler::SKIP_REFRESH_HEADER, "x-token-refresh");
/// ```
pub const SKIP_REFRESH_HEADER: &str = "x-token-refresh";

/// The `SameSite` attribute of the login cookie.
///
/// ```
/// use encapsulated_token::handler::SameSite;
/// assert_eq!(SameSite::default(), SameSite::Lax);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// Sent on same-site requests and on top-level navigation from other
    /// sites (following a link): the usual choice for a login cookie.
    #[default]
    Lax,
    /// Sent on same-site requests only; a user following a link from another
    /// site arrives logged out.
    Strict,
    /// Sent on cross-site requests too (embedding in another site's frames).
    /// Browsers require `Secure` with it, so it forces `Secure` on.
    None,
}

/// Settings of an [`Authenticator`](super::Authenticator). Start from
/// [`AuthConfig::new`] and change what differs; the
/// [`Authenticator`](super::Authenticator) checks the whole at construction.
///
/// ```
/// use encapsulated_token::handler::{AuthConfig, SameSite};
/// use std::time::Duration;
///
/// let config = AuthConfig::new()
///     .with_audience("publish")
///     .with_lifetime(Duration::from_secs(8 * 3600))
///     .with_refresh_after(0.25)
///     .with_same_site(SameSite::Strict);
/// assert_eq!(config.cookie_name(), "login-token");
/// assert!(config.secure());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AuthConfig {
    cookie_name: String,
    audience: Option<String>,
    lifetime: Duration,
    leeway: Duration,
    refresh_after: Option<f64>,
    max_session: Duration,
    no_refresh_paths: Vec<String>,
    secure: bool,
    same_site: SameSite,
    clock_offset: time::Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthConfig {
    /// Cookie `login-token`, no audience, tokens valid 12 hours and renewed
    /// past half their life (so an active user stays logged in) for at most
    /// 7 days after the login, 30 seconds of clock-skew leeway, `Secure`,
    /// `SameSite=Lax`, the system clock.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// let config = AuthConfig::new();
    /// assert_eq!(config.lifetime().as_secs(), 12 * 3600);
    /// assert_eq!(config.refresh_after(), Some(0.5));
    /// ```
    pub fn new() -> Self {
        Self {
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            audience: None,
            lifetime: Duration::from_secs(12 * 3600),
            leeway: DEFAULT_LEEWAY,
            refresh_after: Some(0.5),
            max_session: Duration::from_secs(7 * 24 * 3600),
            no_refresh_paths: Vec::new(),
            secure: true,
            same_site: SameSite::Lax,
            clock_offset: time::Duration::ZERO,
        }
    }

    /// Use another cookie name (an HTTP token: letters, digits and
    /// ``!#$%&'*+-.^_`|~``).
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().with_cookie_name("sid").cookie_name(), "sid");
    /// ```
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Mint tokens for `audience` and accept only tokens minted for it, so a
    /// token of one tier or farm is never taken by another.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().with_audience("publish").audience(), Some("publish"));
    /// ```
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long a minted (or refreshed) token is valid: at least one second.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// use std::time::Duration;
    /// let config = AuthConfig::new().with_lifetime(Duration::from_secs(3600));
    /// assert_eq!(config.lifetime(), Duration::from_secs(3600));
    /// ```
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Clock skew allowed between the instance that minted a token and this
    /// one, at both ends of the token's life.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// use std::time::Duration;
    /// let config = AuthConfig::new().with_leeway(Duration::from_secs(5));
    /// assert_eq!(config.leeway(), Duration::from_secs(5));
    /// ```
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Renew a cookie token once it is older than `share` of its lifetime
    /// (0.0 to 1.0; 0.0 renews on every request). The renewed token has the
    /// same subject, audience and attributes, a new id and a new expiry.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().with_refresh_after(0.75).refresh_after(), Some(0.75));
    /// ```
    pub fn with_refresh_after(mut self, share: f64) -> Self {
        self.refresh_after = Some(share);
        self
    }

    /// Never renew tokens: a session ends at the expiry set at login.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().without_refresh().refresh_after(), None);
    /// ```
    pub fn without_refresh(mut self) -> Self {
        self.refresh_after = None;
        self
    }

    /// The absolute lifetime of a session, counted from the login however
    /// often its token was refreshed: a token whose session began longer ago
    /// is refused (`session_too_old`), and a refreshed token never outlives
    /// it. At least one second; there is no "unlimited".
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// use std::time::Duration;
    /// let config = AuthConfig::new().with_max_session(Duration::from_secs(24 * 3600));
    /// assert_eq!(config.max_session(), Duration::from_secs(86_400));
    /// ```
    pub fn with_max_session(mut self, max_session: Duration) -> Self {
        self.max_session = max_session;
        self
    }

    /// Never refresh tokens on requests whose path is `prefix` or below it
    /// (`/api/poll` covers `/api/poll` and `/api/poll/1`, not
    /// `/api/polling`): background traffic must not keep a session alive.
    /// Requests carrying `X-Token-Refresh: skip` are never refreshed either.
    /// The query string plays no part.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// let config = AuthConfig::new().with_no_refresh_path("/api/poll");
    /// assert!(config.skips_refresh("/api/poll/7", &http::HeaderMap::new()));
    /// assert!(!config.skips_refresh("/api/polling", &http::HeaderMap::new()));
    /// ```
    pub fn with_no_refresh_path(mut self, prefix: impl Into<String>) -> Self {
        self.no_refresh_paths.push(prefix.into());
        self
    }

    /// Whether the cookie carries `Secure` (sent over HTTPS only). Turn it
    /// off only for plain-http local development: a browser does not send a
    /// `Secure` cookie to `http://localhost:8080`. Ignored with
    /// [`SameSite::None`], which needs `Secure`.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert!(!AuthConfig::new().with_secure(false).secure());
    /// ```
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The cookie's `SameSite` attribute.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, SameSite};
    /// let config = AuthConfig::new().with_secure(false).with_same_site(SameSite::None);
    /// assert_eq!(config.same_site(), SameSite::None);
    /// assert!(config.secure()); // forced by SameSite=None
    /// ```
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Run this instance's token clock `offset` away from the system clock
    /// (positive: ahead). For tests of clock skew between instances; a real
    /// farm runs NTP and leaves this at zero.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// let config = AuthConfig::new().with_clock_offset(time::Duration::minutes(-5));
    /// assert_eq!(config.clock_offset(), time::Duration::minutes(-5));
    /// ```
    pub fn with_clock_offset(mut self, offset: time::Duration) -> Self {
        self.clock_offset = offset;
        self
    }

    /// The cookie name.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().cookie_name(), "login-token");
    /// ```
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The audience tokens are minted for and checked against.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().audience(), None);
    /// ```
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The lifetime of minted tokens.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().lifetime().as_secs(), 43_200);
    /// ```
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The clock-skew leeway.
    ///
    /// ```
    /// use encapsulated_token::{DEFAULT_LEEWAY, handler::AuthConfig};
    /// assert_eq!(AuthConfig::new().leeway(), DEFAULT_LEEWAY);
    /// ```
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// The share of its lifetime after which a token is renewed, if ever.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().refresh_after(), Some(0.5));
    /// ```
    pub fn refresh_after(&self) -> Option<f64> {
        self.refresh_after
    }

    /// The absolute lifetime of a session.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().max_session().as_secs(), 7 * 24 * 3600);
    /// ```
    pub fn max_session(&self) -> Duration {
        self.max_session
    }

    /// Whether a request to `path` with `headers` must not refresh its
    /// token: under a [no-refresh path](Self::with_no_refresh_path), or with
    /// `X-Token-Refresh: skip`.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// let mut headers = http::HeaderMap::new();
    /// assert!(!AuthConfig::new().skips_refresh("/", &headers));
    /// headers.insert("x-token-refresh", "skip".parse().unwrap());
    /// assert!(AuthConfig::new().skips_refresh("/", &headers));
    /// ```
    pub fn skips_refresh(&self, path: &str, headers: &http::HeaderMap) -> bool {
        let asked = headers
            .get_all(SKIP_REFRESH_HEADER)
            .iter()
            .any(|value| value.as_bytes().eq_ignore_ascii_case(b"skip"));
        asked
            || self.no_refresh_paths.iter().any(|prefix| {
                let prefix = prefix.trim_end_matches('/');
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }

    /// Whether cookies carry `Secure`: as set, or forced by
    /// [`SameSite::None`].
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert!(AuthConfig::new().secure());
    /// ```
    pub fn secure(&self) -> bool {
        self.secure || self.same_site == SameSite::None
    }

    /// The cookie's `SameSite` attribute.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, SameSite};
    /// assert_eq!(AuthConfig::new().same_site(), SameSite::Lax);
    /// ```
    pub fn same_site(&self) -> SameSite {
        self.same_site
    }

    /// The offset of this instance's token clock from the system clock.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert!(AuthConfig::new().clock_offset().is_zero());
    /// ```
    pub fn clock_offset(&self) -> time::Duration {
        self.clock_offset
    }

    /// Checks every setting, so that nothing fails later per request.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        // A cookie name is an HTTP token, the same grammar as a header name:
        // let `http` judge it rather than a hand-written character table.
        if http::HeaderName::from_bytes(self.cookie_name.as_bytes()).is_err() {
            return Err(ConfigError::CookieName {
                name: self.cookie_name.clone(),
            });
        }
        if self.lifetime < Duration::from_secs(1) {
            return Err(ConfigError::Lifetime {
                lifetime: self.lifetime,
            });
        }
        if let Some(share) = self.refresh_after
            && !(0.0..=1.0).contains(&share)
        {
            return Err(ConfigError::RefreshAfter { share });
        }
        if self.max_session < Duration::from_secs(1) {
            return Err(ConfigError::MaxSession {
                max_session: self.max_session,
            });
        }
        if let Some(prefix) = self.no_refresh_paths.iter().find(|p| !p.starts_with('/')) {
            return Err(ConfigError::NoRefreshPath {
                prefix: prefix.clone(),
            });
        }
        Ok(())
    }
}

/// A setting of [`AuthConfig`] that cannot work.
///
/// ```
/// use encapsulated_token::handler::{AuthConfig, Authenticator, ConfigError};
/// use encapsulated_token::{Key, KeyRing};
/// use std::collections::HashSet;
///
/// let ring = KeyRing::new(Key::generate().unwrap());
/// let bad = AuthConfig::new().with_cookie_name("login token");
/// let err = Authenticator::new(ring, bad, HashSet::<String>::new()).unwrap_err();
/// assert!(matches!(err, ConfigError::CookieName { .. }));
/// println!("{err}");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cookie name is empty or has a character a cookie name cannot
    /// hold.
    CookieName {
        /// The name given.
        name: String,
    },
    /// The token lifetime is under one second.
    Lifetime {
        /// The lifetime given.
        lifetime: Duration,
    },
    /// The refresh share is outside 0.0 to 1.0.
    RefreshAfter {
        /// The share given.
        share: f64,
    },
    /// The absolute session lifetime is under one second.
    MaxSession {
        /// The lifetime given.
        max_session: Duration,
    },
    /// A no-refresh path does not start with `/`.
    NoRefreshPath {
        /// The prefix given.
        prefix: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CookieName { name } => write!(
                f,
                "cookie name {name:?} is not an HTTP token: use letters, digits and -._~ \
                 (no spaces, `=`, `;` or quotes)"
            ),
            Self::Lifetime { lifetime } => write!(
                f,
                "token lifetime {lifetime:?} is under one second: give a lifetime such as 12h"
            ),
            Self::RefreshAfter { share } => write!(
                f,
                "refresh share {share} is outside 0.0..=1.0: give the share of a token's \
                 lifetime after which it is renewed, such as 0.5"
            ),
            Self::MaxSession { max_session } => write!(
                f,
                "absolute session lifetime {max_session:?} is under one second: give one \
                 such as 7d"
            ),
            Self::NoRefreshPath { prefix } => write!(
                f,
                "no-refresh path {prefix:?} does not start with `/`: give a path prefix \
                 such as /api/poll"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
