//! What an [`Authenticator`](super::Authenticator) is told: cookie name and
//! attributes, audience, token lifetime, refresh threshold, clock.

use std::fmt;
use std::time::Duration;

use crate::format::{self, MAX_AUDIENCE_LEN};
use crate::verify::DEFAULT_LEEWAY;

use super::headers::RequestHeaders;

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
    pub fn skips_refresh(&self, path: &str, headers: &impl RequestHeaders) -> bool {
        let asked = headers
            .values_of(SKIP_REFRESH_HEADER)
            .any(|value| value.eq_ignore_ascii_case(b"skip"));
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

    /// The longest token lifetime: 400 days. Browsers keep a cookie at most
    /// that long (RFC 6265bis caps `Max-Age` there), so a longer token would
    /// outlive its cookie; and it keeps every expiry far inside the format's
    /// 1970..=9999 (see [`MAX_UNIX_TIME`](crate::format::MAX_UNIX_TIME)).
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::MAX_LIFETIME.as_secs(), 400 * 24 * 3600);
    /// ```
    pub const MAX_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);

    /// The largest [clock offset](Self::with_clock_offset), either way: 400
    /// days. Far more than any skew worth simulating; with the lifetime
    /// bound, the token clock plus a lifetime stays inside the format's
    /// 1970..=9999 for any system clock before the year 9997.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::MAX_CLOCK_OFFSET, time::Duration::days(400));
    /// ```
    pub const MAX_CLOCK_OFFSET: time::Duration = time::Duration::days(400);

    /// The largest clock-skew [leeway](Self::with_leeway): one hour. NTP
    /// keeps a farm within a second; a leeway of days would quietly accept
    /// tokens that long expired.
    ///
    /// ```
    /// use encapsulated_token::handler::AuthConfig;
    /// assert_eq!(AuthConfig::MAX_LEEWAY.as_secs(), 3600);
    /// ```
    pub const MAX_LEEWAY: Duration = Duration::from_secs(3600);

    /// Checks every setting, so that nothing fails later per request and no
    /// check is quietly switched off: a cookie name that is an HTTP token; an
    /// audience, when set, that a token can carry (1 to
    /// [`MAX_AUDIENCE_LEN`](crate::format::MAX_AUDIENCE_LEN) bytes of text:
    /// an empty audience is an error, never "no audience"); a lifetime from
    /// one second to [`MAX_LIFETIME`](Self::MAX_LIFETIME); a leeway up to
    /// [`MAX_LEEWAY`](Self::MAX_LEEWAY); a clock offset within
    /// [`MAX_CLOCK_OFFSET`](Self::MAX_CLOCK_OFFSET); a refresh share in
    /// 0.0..=1.0. [`Authenticator::new`](super::Authenticator::new) runs it;
    /// call it to check settings read from a file before starting anything.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, ConfigError};
    /// use std::time::Duration;
    ///
    /// assert!(AuthConfig::new().with_audience("publish").validate().is_ok());
    ///
    /// let empty = AuthConfig::new().with_audience("");
    /// assert!(matches!(empty.validate(), Err(ConfigError::Audience { .. })));
    ///
    /// let forever = AuthConfig::new().with_lifetime(Duration::from_secs(9000 * 365 * 86_400));
    /// assert!(matches!(forever.validate(), Err(ConfigError::Lifetime { .. })));
    ///
    /// let far = AuthConfig::new().with_clock_offset(time::Duration::seconds(400_000_000_000));
    /// assert!(matches!(far.validate(), Err(ConfigError::ClockOffset { .. })));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
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
        // The format's own rule, the one the issuer applies at mint.
        if let Some(audience) = &self.audience
            && let Err((_, problem)) = format::check_audience(audience.as_bytes())
        {
            return Err(ConfigError::Audience {
                audience: audience.clone(),
                problem,
            });
        }
        if !(Duration::from_secs(1)..=Self::MAX_LIFETIME).contains(&self.lifetime) {
            return Err(ConfigError::Lifetime {
                lifetime: self.lifetime,
            });
        }
        if self.leeway > Self::MAX_LEEWAY {
            return Err(ConfigError::Leeway {
                leeway: self.leeway,
            });
        }
        if self.clock_offset.unsigned_abs() > Self::MAX_CLOCK_OFFSET.unsigned_abs() {
            return Err(ConfigError::ClockOffset {
                offset: self.clock_offset,
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
    /// The audience is set but no token could carry it: empty (which is
    /// not "no audience": leave it unset for that), longer than
    /// [`MAX_AUDIENCE_LEN`](crate::format::MAX_AUDIENCE_LEN) bytes, or
    /// holding a control character.
    Audience {
        /// The audience given.
        audience: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The token lifetime is under one second or over
    /// [`AuthConfig::MAX_LIFETIME`].
    Lifetime {
        /// The lifetime given.
        lifetime: Duration,
    },
    /// The clock-skew leeway is over [`AuthConfig::MAX_LEEWAY`].
    Leeway {
        /// The leeway given.
        leeway: Duration,
    },
    /// The clock offset is beyond [`AuthConfig::MAX_CLOCK_OFFSET`] either
    /// way.
    ClockOffset {
        /// The offset given.
        offset: time::Duration,
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
            Self::Audience { audience, problem } => write!(
                f,
                "audience {audience:?} {problem}: give 1 to {MAX_AUDIENCE_LEN} bytes of text \
                 without control characters, or leave the audience unset for none"
            ),
            Self::Lifetime { lifetime } => write!(
                f,
                "token lifetime {}s is outside 1s..={}s (400 days): give a lifetime such as 12h",
                lifetime.as_secs(),
                AuthConfig::MAX_LIFETIME.as_secs()
            ),
            Self::Leeway { leeway } => write!(
                f,
                "clock-skew leeway {}s is over {}s: give a few seconds, such as 30s",
                leeway.as_secs(),
                AuthConfig::MAX_LEEWAY.as_secs()
            ),
            Self::ClockOffset { offset } => write!(
                f,
                "clock offset {}s is more than {}s (400 days) either way: give a skew to \
                 simulate, such as 7200 seconds, or none",
                offset.whole_seconds(),
                AuthConfig::MAX_CLOCK_OFFSET.whole_seconds()
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

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;

    fn refused(config: AuthConfig) -> ConfigError {
        config.validate().expect_err("refused")
    }

    #[test]
    fn an_empty_audience_is_an_error_never_no_audience() {
        assert_eq!(
            refused(AuthConfig::new().with_audience("")),
            ConfigError::Audience {
                audience: String::new(),
                problem: "is empty"
            }
        );
        assert!(AuthConfig::new().validate().is_ok(), "unset is no audience");
    }

    #[test]
    fn an_audience_no_token_could_carry_is_refused() {
        let long = "a".repeat(MAX_AUDIENCE_LEN + 1);
        for audience in [long.as_str(), "pub\nlish", "pub\u{7f}"] {
            let err = refused(AuthConfig::new().with_audience(audience));
            assert!(matches!(err, ConfigError::Audience { .. }), "{audience:?}");
        }
        let longest = "a".repeat(MAX_AUDIENCE_LEN);
        for audience in [longest.as_str(), "publish", "caf\u{e9}"] {
            assert!(AuthConfig::new().with_audience(audience).validate().is_ok());
        }
    }

    #[test]
    fn a_lifetime_from_one_second_to_400_days() {
        for secs in [1, 12 * 3600, 400 * DAY] {
            let config = AuthConfig::new().with_lifetime(Duration::from_secs(secs));
            assert!(config.validate().is_ok(), "{secs}s");
        }
        let too_long = [
            Duration::from_secs(400 * DAY + 1),
            Duration::from_secs(9000 * 365 * DAY),
            Duration::MAX,
        ];
        for lifetime in [Duration::ZERO, Duration::from_millis(999)]
            .into_iter()
            .chain(too_long)
        {
            let err = refused(AuthConfig::new().with_lifetime(lifetime));
            assert_eq!(err, ConfigError::Lifetime { lifetime });
        }
    }

    #[test]
    fn a_clock_offset_within_400_days_either_way() {
        for offset in [0, 7200, -7200, 400 * DAY as i64, -(400 * DAY as i64)] {
            let config = AuthConfig::new().with_clock_offset(time::Duration::seconds(offset));
            assert!(config.validate().is_ok(), "{offset}s");
        }
        let beyond = [
            time::Duration::seconds(400 * DAY as i64 + 1),
            time::Duration::seconds(-(400 * DAY as i64) - 1),
            time::Duration::seconds(400_000_000_000),
            time::Duration::MAX,
            time::Duration::MIN,
        ];
        for offset in beyond {
            let err = refused(AuthConfig::new().with_clock_offset(offset));
            assert_eq!(err, ConfigError::ClockOffset { offset });
        }
    }

    #[test]
    fn a_leeway_up_to_an_hour() {
        assert!(
            AuthConfig::new()
                .with_leeway(AuthConfig::MAX_LEEWAY)
                .validate()
                .is_ok()
        );
        for leeway in [
            AuthConfig::MAX_LEEWAY + Duration::from_secs(1),
            Duration::MAX,
        ] {
            let err = refused(AuthConfig::new().with_leeway(leeway));
            assert_eq!(err, ConfigError::Leeway { leeway });
        }
    }

    #[test]
    fn a_refresh_share_outside_zero_to_one_is_refused() {
        for share in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                refused(AuthConfig::new().with_refresh_after(share)),
                ConfigError::RefreshAfter { .. }
            ));
        }
    }

    /// The largest settings still mint and verify: the bounds leave room in
    /// the format's 1970..=9999.
    #[test]
    fn the_extreme_settings_still_mint_and_verify() {
        use crate::{Claims, Issuer, Key, KeyRing, Verifier};
        let ring = std::sync::Arc::new(KeyRing::new(Key::generate().unwrap()));
        for offset in [AuthConfig::MAX_CLOCK_OFFSET, -AuthConfig::MAX_CLOCK_OFFSET] {
            let config = AuthConfig::new()
                .with_audience("a".repeat(MAX_AUDIENCE_LEN))
                .with_lifetime(AuthConfig::MAX_LIFETIME)
                .with_leeway(AuthConfig::MAX_LEEWAY)
                .with_clock_offset(offset);
            config.validate().unwrap();
            let now = time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap()
                + offset;
            let mut claims = Claims::new("alice", config.lifetime());
            claims.issued_at = now;
            claims.expires_at = now + config.lifetime();
            claims.session_started_at = now;
            claims.audience = config.audience().map(str::to_owned);
            let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
            let verifier = Verifier::new(ring.clone())
                .with_audience(config.audience().unwrap())
                .with_leeway(config.leeway());
            assert_eq!(verifier.verify_at(&token, now).unwrap().subject(), "alice");
        }
    }

    #[test]
    fn every_refusal_says_what_to_give_instead() {
        let errors = [
            refused(AuthConfig::new().with_audience("")),
            refused(AuthConfig::new().with_lifetime(Duration::from_secs(9000 * 365 * DAY))),
            refused(AuthConfig::new().with_clock_offset(time::Duration::seconds(400_000_000_000))),
            refused(AuthConfig::new().with_leeway(Duration::from_secs(DAY))),
        ];
        for err in errors {
            let text = err.to_string();
            assert!(text.contains("give"), "{text}");
            assert_eq!(text.lines().count(), 1, "{text}");
        }
    }

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
