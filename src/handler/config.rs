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
    /// past half their life (so an active user stays logged in), 30 seconds
    /// of clock-skew leeway, `Secure`, `SameSite=Lax`, the system clock.
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
            secure: true,
            same_site: SameSite::Lax,
            clock_offset: time::Duration::ZERO,
        }
    }

    /// Use another cookie name (an HTTP token: letters, digits and
    /// ``!#$%&'*+-.^_`|~``).
    ///
    /// Behind HTTPS, prefer a name starting with `__Host-`: browsers then
    /// accept the cookie only if it is `Secure`, has `Path=/` and no
    /// `Domain`, so a sibling subdomain or a plain-http page cannot plant
    /// or overwrite it. The cookies built here always have `Path=/` and no
    /// `Domain`; the [`Authenticator`](super::Authenticator) refuses a
    /// `__Host-` or `__Secure-` name without `Secure`
    /// ([`ConfigError::CookiePrefix`]).
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::new().with_cookie_name("sid").cookie_name(), "sid");
    /// let host = AuthConfig::new().with_cookie_name("__Host-login-token");
    /// assert_eq!(host.cookie_name(), "__Host-login-token");
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
        if let Some(prefix) = cookie_prefix(&self.cookie_name)
            && !self.secure()
        {
            return Err(ConfigError::CookiePrefix {
                name: self.cookie_name.clone(),
                prefix,
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
        Ok(())
    }
}

/// The cookie-name prefix browsers enforce, if `name` has one: `__Host-`
/// (`Secure`, `Path=/`, no `Domain`) or `__Secure-` (`Secure`). Browsers
/// match it case-insensitively (RFC 6265bis), so this does too.
fn cookie_prefix(name: &str) -> Option<&'static str> {
    ["__Host-", "__Secure-"].into_iter().find(|prefix| {
        name.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    })
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
///
/// // A `__Host-` cookie that is not Secure would be dropped by every browser.
/// let ring = KeyRing::new(Key::generate().unwrap());
/// let plain = AuthConfig::new().with_cookie_name("__Host-login").with_secure(false);
/// let err = Authenticator::new(ring, plain, HashSet::<String>::new()).unwrap_err();
/// assert_eq!(err, ConfigError::CookiePrefix { name: "__Host-login".into(), prefix: "__Host-" });
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
    /// The cookie name starts with `__Host-` or `__Secure-` but the cookie
    /// is not `Secure`: browsers would refuse to store it, so no login could
    /// ever stick.
    CookiePrefix {
        /// The name given.
        name: String,
        /// The prefix it starts with, as browsers spell it.
        prefix: &'static str,
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
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CookieName { name } => write!(
                f,
                "cookie name {name:?} is not an HTTP token: use letters, digits and -._~ \
                 (no spaces, `=`, `;` or quotes)"
            ),
            Self::CookiePrefix { name, prefix } => write!(
                f,
                "cookie name {name:?} starts with {prefix}, which browsers accept only on a \
                 Secure cookie{}: turn Secure on (serve over HTTPS), or choose a name without \
                 the prefix",
                if *prefix == "__Host-" {
                    " with Path=/ and no Domain"
                } else {
                    ""
                }
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
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix_error(config: &AuthConfig) -> Option<&'static str> {
        match config.validate() {
            Err(ConfigError::CookiePrefix { prefix, .. }) => Some(prefix),
            _ => None,
        }
    }

    #[test]
    fn prefixed_names_need_secure_whatever_their_case() {
        for (name, prefix) in [
            ("__Host-login", "__Host-"),
            ("__host-login", "__Host-"),
            ("__HOST-x", "__Host-"),
            ("__Secure-login", "__Secure-"),
            ("__secure-x", "__Secure-"),
        ] {
            let plain = AuthConfig::new().with_cookie_name(name).with_secure(false);
            assert_eq!(prefix_error(&plain), Some(prefix), "{name}");
            let secure = AuthConfig::new().with_cookie_name(name);
            assert_eq!(secure.validate(), Ok(()), "{name}");
            // SameSite=None forces Secure, which satisfies the prefix.
            let forced = plain.with_same_site(SameSite::None);
            assert_eq!(forced.validate(), Ok(()), "{name}");
        }
    }

    #[test]
    fn names_that_only_resemble_a_prefix_are_plain_names() {
        for name in [
            "_Host-login",
            "__Host",
            "__Hostx-login",
            "Host-login",
            "x__Host-",
        ] {
            let plain = AuthConfig::new().with_cookie_name(name).with_secure(false);
            assert_eq!(plain.validate(), Ok(()), "{name}");
        }
    }

    #[test]
    fn the_prefix_message_says_what_to_do() {
        let err = AuthConfig::new()
            .with_cookie_name("__Host-login")
            .with_secure(false)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("__Host-") && err.contains("Path=/ and no Domain"),
            "{err}"
        );
        assert!(err.contains("turn Secure on"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
