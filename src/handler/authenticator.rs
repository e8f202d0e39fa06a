//! [`Authenticator`]: the key ring (swappable at runtime), the settings and
//! the user directory, and everything a server does with them: authenticate
//! a request, mint login and refresh cookies, clear the cookie at logout.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use http::HeaderValue;
use time::OffsetDateTime;

use crate::claims::{Claims, TokenId};
use crate::keys::KeyRing;
use crate::mint::{Issuer, MintError};
use crate::one_of::OneOfError;
use crate::verify::{TokenBuffer, Verifier};

use super::config::{AuthConfig, ConfigError};
use super::cookies;
use super::credentials::{self, Credential};
use super::directory::{DynDirectory, Session, Standing, UserDirectory};
use super::error::AuthError;
use super::headers::RequestHeaders;
use super::identity::{CredentialSource, Identity};
use super::observer::{AuthObserver, ObserverAlreadySet};

/// Authenticates requests and mints cookies for one server. Cheap to clone
/// (one `Arc`); every clone sees [`replace_ring`](Self::replace_ring).
///
/// ```
/// use encapsulated_token::handler::{AuthConfig, Authenticator};
/// use encapsulated_token::{Key, KeyRing};
/// use std::collections::HashSet;
///
/// let ring = KeyRing::new(Key::generate()?);
/// let config = AuthConfig::new().with_audience("publish");
/// let users = HashSet::from(["alice".to_string()]);
/// let auth = Authenticator::new(ring, config, users)?;
/// let set_cookie = auth.login_cookie("alice", [("role", "editor")])?;
/// assert!(set_cookie.to_str()?.starts_with("login-token=et2."));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Authenticator {
    shared: Arc<Shared>,
}

struct Shared {
    config: AuthConfig,
    /// Read on every request (a clone of the `Arc`, then the lock is gone),
    /// written only when the key directory changes.
    keys: RwLock<Arc<Keys>>,
    directory: Box<dyn DynDirectory>,
    logout: HeaderValue,
    /// Told every outcome; set at most once (a lock-free read per request).
    observer: OnceLock<Box<dyn AuthObserver>>,
    /// The Unix second of the last "cannot authenticate" warning: an outage
    /// of the directory is logged at most once a second, not once a request.
    last_outage_warning: AtomicI64,
}

/// A verifier and an issuer over the same ring.
struct Keys {
    verifier: Verifier,
    issuer: Issuer,
}

impl Keys {
    fn new(ring: Arc<KeyRing>, config: &AuthConfig) -> Self {
        let mut verifier = Verifier::new(ring.clone()).with_leeway(config.leeway());
        if let Some(audience) = config.audience() {
            verifier = verifier.with_audience(audience);
        }
        Self {
            verifier,
            issuer: Issuer::new(ring),
        }
    }
}

impl Authenticator {
    /// An authenticator over `ring`, with `config`, that asks `directory`
    /// whether a token's subject exists here. Refuses a `config` that could
    /// not work (see [`ConfigError`]).
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// let users = std::collections::BTreeSet::from(["alice".to_string()]);
    /// let auth = Authenticator::new(ring, AuthConfig::new(), users).unwrap();
    /// assert_eq!(auth.config().cookie_name(), "login-token");
    /// ```
    pub fn new(
        ring: impl Into<Arc<KeyRing>>,
        config: AuthConfig,
        directory: impl UserDirectory,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        // The cookie name is a valid token (checked above), so this cannot
        // fail; should it, refuse the name rather than panic.
        let logout = cookies::clear_cookie(&config).map_err(|_| ConfigError::CookieName {
            name: config.cookie_name().to_owned(),
        })?;
        let keys = Keys::new(ring.into(), &config);
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                keys: RwLock::new(Arc::new(keys)),
                directory: Box::new(directory),
                logout,
                observer: OnceLock::new(),
                last_outage_warning: AtomicI64::new(i64::MIN),
            }),
        })
    }

    /// The settings.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()),
    ///     AuthConfig::new().with_audience("publish"), std::collections::HashSet::<String>::new()).unwrap();
    /// assert_eq!(auth.config().audience(), Some("publish"));
    /// ```
    pub fn config(&self) -> &AuthConfig {
        &self.shared.config
    }

    /// Swaps in a new key ring, for every clone of this authenticator, from
    /// the next request on. Call it when the key directory changes
    /// (rotation): requests in flight finish with the ring they started with.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// use std::sync::Arc;
    ///
    /// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new())?;
    /// let rotated = Arc::new(KeyRing::new(Key::generate()?));
    /// auth.clone().replace_ring(rotated.clone());
    /// assert_eq!(auth.ring().active().id(), rotated.active().id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replace_ring(&self, ring: impl Into<Arc<KeyRing>>) {
        let keys = Arc::new(Keys::new(ring.into(), &self.shared.config));
        // A poisoned lock only means a writer panicked mid-assignment of an
        // `Arc`, which cannot leave it half-written: carry on.
        *self
            .shared
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = keys;
    }

    fn keys(&self) -> Arc<Keys> {
        self.shared
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key ring in use.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// assert_eq!(auth.ring().len(), 1);
    /// ```
    pub fn ring(&self) -> Arc<KeyRing> {
        self.keys().issuer.ring().clone()
    }

    /// A verifier over the ring in use, with the configured audience and
    /// leeway: for checking a token that does not come in a request.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()),
    ///     AuthConfig::new().with_audience("api"), std::collections::HashSet::<String>::new()).unwrap();
    /// assert_eq!(auth.verifier().audience(), Some("api"));
    /// ```
    pub fn verifier(&self) -> Verifier {
        self.keys().verifier.clone()
    }

    /// The time on this instance's token clock: the system clock plus the
    /// configured [offset](AuthConfig::with_clock_offset).
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let config = AuthConfig::new().with_clock_offset(time::Duration::hours(1));
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), config,
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// assert!(auth.now() > time::OffsetDateTime::now_utc() + time::Duration::minutes(59));
    /// ```
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc().saturating_add(self.shared.config.clock_offset())
    }

    fn now_whole_seconds(&self) -> OffsetDateTime {
        let now = self.now();
        now - time::Duration::nanoseconds(i64::from(now.nanosecond()))
    }

    /// Authenticates a request from its headers: finds the credential
    /// (bearer token first, then the login cookie), verifies it against the
    /// ring in use, then asks the user directory. The same check the
    /// [`AuthLayer`](super::AuthLayer) runs; call it directly for an nginx
    /// `auth_request` endpoint. Logs the reason of a refusal with `tracing`
    /// (info, debug when there was no credential at all).
    ///
    /// When several login cookies arrive (stale ones under another `Domain`
    /// or `Path`), every one is verified: valid ones must name the same
    /// user, else the request is refused as
    /// [`AmbiguousCookies`](AuthError::AmbiguousCookies); the most recently
    /// issued of them is used.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, AuthError, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// use http::{HeaderMap, header};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
    ///     std::collections::HashSet::from(["alice".to_string()]))?;
    ///
    /// let token = auth.mint(&auth.claims_for("alice"))?;
    /// let mut headers = HeaderMap::new();
    /// headers.insert(header::COOKIE, format!("login-token={token}").parse()?);
    /// assert_eq!(auth.authenticate(&headers).await?.subject, "alice");
    ///
    /// // Known to the farm's keys, unknown on this instance.
    /// let token = auth.mint(&auth.claims_for("bob"))?;
    /// headers.insert(header::COOKIE, format!("login-token={token}").parse()?);
    /// assert!(matches!(auth.authenticate(&headers).await, Err(AuthError::UnknownUser { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn authenticate(&self, headers: &impl RequestHeaders) -> Result<Identity, AuthError> {
        let result = self.authenticate_quietly(headers).await;
        match &result {
            Ok(identity) => tracing::debug!(
                outcome = "ok",
                subject = %identity.subject,
                token_id = %identity.token_id,
                key_id = %identity.key_id,
                source = ?identity.source,
                "authenticated"
            ),
            Err(AuthError::Missing) => {
                tracing::debug!(outcome = "refused", reason = "missing", "not authenticated")
            }
            Err(e @ AuthError::Directory(_)) => {
                let second = self.now().unix_timestamp();
                let last = self
                    .shared
                    .last_outage_warning
                    .swap(second, Ordering::Relaxed);
                if last != second {
                    tracing::warn!(
                        outcome = "unavailable",
                        reason = e.kind(),
                        "cannot authenticate (logged at most once a second): {e}"
                    )
                } else {
                    tracing::debug!(
                        outcome = "unavailable",
                        reason = e.kind(),
                        "cannot authenticate: {e}"
                    )
                }
            }
            Err(e) => {
                tracing::info!(
                    outcome = "refused",
                    reason = e.kind(),
                    "authentication refused: {e}"
                )
            }
        }
        if let Some(observer) = self.shared.observer.get() {
            observer.observe(result.as_ref());
        }
        result
    }

    /// Tells `observer` the outcome of every authentication from now on,
    /// for every clone of this authenticator (see [`AuthObserver`]). Set it
    /// once, before serving; a second call is refused.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, AuthError, Authenticator, Identity};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let count = |_: Result<&Identity, &AuthError>| {};
    /// assert!(auth.set_observer(count).is_ok());
    /// assert!(auth.clone().set_observer(count).is_err());
    /// ```
    pub fn set_observer(&self, observer: impl AuthObserver) -> Result<(), ObserverAlreadySet> {
        self.shared
            .observer
            .set(Box::new(observer))
            .map_err(|_| ObserverAlreadySet)
    }

    async fn authenticate_quietly(
        &self,
        headers: &impl RequestHeaders,
    ) -> Result<Identity, AuthError> {
        let credential = credentials::extract(headers, self.shared.config.cookie_name())?;
        let keys = self.keys();
        let now = self.now();
        // Decoded in place (no copy), in a block so the buffer is not kept
        // across the await below.
        let identity = {
            let mut buffer = TokenBuffer::new();
            match credential {
                Credential::Bearer(token) => {
                    let verified = keys.verifier.verify_in_at(token, now, &mut buffer)?;
                    Identity::new(&verified, CredentialSource::Bearer)
                }
                Credential::Cookies(tokens) => {
                    one_identity(&keys.verifier, &tokens, now, &mut buffer)?
                }
            }
        };
        let max_session = duration(self.shared.config.max_session());
        if now - identity.session_started_at >= max_session {
            return Err(AuthError::SessionTooOld {
                subject: identity.subject,
                started_at: identity.session_started_at,
                max_session: self.shared.config.max_session(),
            });
        }
        let session = Session::new(&identity.subject, identity.session_started_at);
        match self.shared.directory.standing_boxed(&session).await {
            Ok(Standing::Active) => Ok(identity),
            Ok(Standing::Unknown) => Err(AuthError::UnknownUser {
                subject: identity.subject,
            }),
            Ok(Standing::Revoked { before }) => Err(AuthError::SessionRevoked {
                started_at: identity.session_started_at,
                subject: identity.subject,
                before,
            }),
            Ok(Standing::Ended) => Err(AuthError::SessionEnded {
                subject: identity.subject,
                started_at: identity.session_started_at,
            }),
            Err(e) => Err(AuthError::Directory(e)),
        }
    }

    /// Claims for `subject` as this server mints them: issued now (on the
    /// token clock, to the second), valid for the configured lifetime, the
    /// configured audience, a fresh token id, no attributes yet.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()),
    ///     AuthConfig::new().with_audience("publish"), std::collections::HashSet::<String>::new()).unwrap();
    /// let claims = auth.claims_for("alice").with_attribute("role", "editor");
    /// assert_eq!(claims.audience.as_deref(), Some("publish"));
    /// assert_eq!(claims.expires_at - claims.issued_at, time::Duration::hours(12));
    /// ```
    pub fn claims_for(&self, subject: impl Into<String>) -> Claims {
        let now = self.now_whole_seconds();
        self.claims_at(subject.into(), now, now)
    }

    /// Claims issued at `issued_at` in a session begun at `session_started_at`:
    /// valid for the configured lifetime, but never past the session's
    /// absolute end.
    fn claims_at(
        &self,
        subject: String,
        issued_at: OffsetDateTime,
        session_started_at: OffsetDateTime,
    ) -> Claims {
        let config = &self.shared.config;
        let expires_at = issued_at
            .saturating_add(duration(config.lifetime()))
            .min(session_started_at.saturating_add(duration(config.max_session())));
        Claims {
            subject,
            issued_at,
            expires_at,
            session_started_at,
            token_id: TokenId::random(),
            audience: config.audience().map(str::to_owned),
            attributes: Default::default(),
        }
    }

    /// Mints `claims` with the active key of the ring in use: a login
    /// cookie's token, or a bearer access token.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let token = auth.mint(&auth.claims_for("svc-backend")).unwrap();
    /// assert_eq!(auth.verifier().verify_at(&token, auth.now()).unwrap().subject(), "svc-backend");
    /// ```
    pub fn mint(&self, claims: &Claims) -> Result<String, MintError> {
        self.keys().issuer.mint(claims)
    }

    /// A `Set-Cookie` value that logs `subject` in: a fresh token with
    /// `attributes`, `HttpOnly`, `Secure` (unless turned off), `SameSite`,
    /// `Path=/`, `Max-Age` the token's lifetime. Call it once the password
    /// (or other proof) has been checked.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let value = auth.login_cookie("alice", [("role", "editor")]).unwrap();
    /// let text = value.to_str().unwrap();
    /// assert!(text.contains("HttpOnly") && text.contains("Secure"));
    /// assert!(text.contains("SameSite=Lax") && text.contains("Path=/"));
    /// assert!(text.contains("Max-Age=43200"));
    /// ```
    pub fn login_cookie<K, V>(
        &self,
        subject: impl Into<String>,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) -> Result<HeaderValue, MintError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.login_cookie_after(subject, attributes, None)
    }

    /// [`login_cookie`](Self::login_cookie) for a user whose sessions begun
    /// before `revoked_before` are over: the new session must not count as
    /// one of them, even when this instance's clock runs a little behind the
    /// one that wrote the revocation (or the revocation fell in the current
    /// second). So the session starts, and the token is issued, at
    /// `revoked_before` when that is later than now but within the leeway
    /// (which verifiers allow for a token issued "in the future"); a
    /// revocation further ahead cannot be met, and the login is refused
    /// ([`MintError::InvalidClaim`] naming `session_started_at`).
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let revoked = auth.now() + time::Duration::seconds(5); // a clock 5 s ahead wrote it
    /// let value = auth.login_cookie_after("alice", [("role", "editor")], Some(revoked)).unwrap();
    /// let token = value.to_str().unwrap().split(';').next().unwrap().trim_start_matches("login-token=");
    /// let verified = auth.verifier().verify_at(token, auth.now()).unwrap();
    /// assert!(verified.session_started_at() >= revoked - time::Duration::seconds(1));
    /// let far = auth.now() + time::Duration::hours(1);
    /// assert!(auth.login_cookie_after("alice", [("a", "b")], Some(far)).is_err());
    /// ```
    pub fn login_cookie_after<K, V>(
        &self,
        subject: impl Into<String>,
        attributes: impl IntoIterator<Item = (K, V)>,
        revoked_before: Option<OffsetDateTime>,
    ) -> Result<HeaderValue, MintError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut claims = self.claims_after(subject, revoked_before)?;
        claims.attributes = attributes
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.cookie_for(&claims, self.now_whole_seconds())
    }

    /// The claims of a new session of `subject`, as
    /// [`login_cookie_after`](Self::login_cookie_after) mints them: begun now,
    /// or at `revoked_before` when that is later but within the leeway.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let claims = auth.claims_after("alice", None).unwrap();
    /// assert_eq!(claims.session_started_at, claims.issued_at);
    /// ```
    pub fn claims_after(
        &self,
        subject: impl Into<String>,
        revoked_before: Option<OffsetDateTime>,
    ) -> Result<Claims, MintError> {
        let now = self.now_whole_seconds();
        let start = match revoked_before {
            Some(before) if before > now => {
                if before - now > duration(self.shared.config.leeway()) {
                    return Err(MintError::InvalidClaim {
                        claim: "session_started_at",
                        problem: "would follow a revocation further ahead than the leeway: \
                                  check the clocks of the farm",
                    });
                }
                // Tokens carry whole seconds: the first one not before it.
                let whole = before.replace_nanosecond(0).unwrap_or(before);
                if whole < before {
                    whole + time::Duration::SECOND
                } else {
                    whole
                }
            }
            _ => now,
        };
        Ok(self.claims_at(subject.into(), start, start))
    }

    /// A `Set-Cookie` value for a session whose `claims` the caller made
    /// (with [`claims_for`](Self::claims_for)), so it knows the token id and
    /// the session's start: what a stateful store records at login.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let claims = auth.claims_for("alice");
    /// let value = auth.session_cookie(&claims).unwrap();
    /// assert!(value.to_str().unwrap().contains("Max-Age=43200"));
    /// ```
    pub fn session_cookie(&self, claims: &Claims) -> Result<HeaderValue, MintError> {
        self.cookie_for(claims, claims.issued_at)
    }

    /// Mints `claims` into a `Set-Cookie` value whose `Max-Age` is the
    /// token's remaining life as of `now` (whole seconds, as tokens and
    /// `Max-Age` count them: a fresh token's cookie lives exactly as long as
    /// the token).
    fn cookie_for(&self, claims: &Claims, now: OffsetDateTime) -> Result<HeaderValue, MintError> {
        let token = self.mint(claims)?;
        let remaining = claims.expires_at - now;
        cookies::set_cookie(&self.shared.config, &token, remaining).map_err(|_| {
            // Unreachable: the name is a checked HTTP token, the value
            // base64url, the attributes ASCII.
            MintError::InvalidClaim {
                claim: "cookie",
                problem: "cannot be sent in a Set-Cookie header",
            }
        })
    }

    /// The `Set-Cookie` value that logs out: the login cookie emptied, with
    /// the same attributes and `Max-Age=0`, so the browser drops it.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let text = auth.logout_cookie();
    /// assert!(text.to_str().unwrap().starts_with("login-token=;"));
    /// assert!(text.to_str().unwrap().contains("Max-Age=0"));
    /// ```
    pub fn logout_cookie(&self) -> HeaderValue {
        self.shared.logout.clone()
    }

    /// Whether `identity` should get a fresh cookie: it came from the cookie
    /// (bearer clients are not sent cookies), refresh is on, and the token
    /// is older than the configured share of its lifetime, or was signed by
    /// a key that no longer mints (so a rotation moves sessions to the new
    /// key without logging anyone out).
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let auth = Authenticator::new(KeyRing::new(Key::generate()?),
    ///     AuthConfig::new().with_refresh_after(0.5),
    ///     std::collections::HashSet::from(["alice".to_string()]))?;
    ///
    /// let mut claims = auth.claims_for("alice");
    /// claims.issued_at -= time::Duration::hours(7); // 7 h into a 12 h life
    /// claims.expires_at -= time::Duration::hours(7);
    /// claims.session_started_at -= time::Duration::hours(7);
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert(http::header::COOKIE, format!("login-token={}", auth.mint(&claims)?).parse()?);
    ///
    /// let identity = auth.authenticate(&headers).await?;
    /// assert!(auth.needs_refresh(&identity));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn needs_refresh(&self, identity: &Identity) -> bool {
        let Some(share) = self.shared.config.refresh_after() else {
            return false;
        };
        if identity.source != CredentialSource::Cookie {
            return false;
        }
        let session_end = identity
            .session_started_at
            .saturating_add(duration(self.shared.config.max_session()));
        if identity.expires_at >= session_end {
            return false; // a renewed token could not live longer
        }
        if !self.ring().is_active(identity.key_id) {
            return true;
        }
        let age = self.now() - identity.issued_at;
        let lifetime = identity.expires_at - identity.issued_at;
        age.as_seconds_f64() >= lifetime.as_seconds_f64() * share
    }

    /// A `Set-Cookie` value renewing `identity`: same subject, audience,
    /// attributes and session start, a new token id, issued now for the
    /// configured lifetime (never past the session's absolute end), with the
    /// active key. The [`AuthLayer`](super::AuthLayer) sends it when
    /// [`needs_refresh`](Self::needs_refresh) says so.
    ///
    /// ```
    /// # use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// # use encapsulated_token::{Key, KeyRing};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
    ///     std::collections::HashSet::from(["alice".to_string()]))?;
    /// let mut headers = http::HeaderMap::new();
    /// let login = auth.login_cookie("alice", [("role", "editor")])?;
    /// headers.insert(http::header::COOKIE, login.to_str()?.split(';').next().unwrap().parse()?);
    /// let identity = auth.authenticate(&headers).await?;
    ///
    /// let renewed = auth.refresh_cookie(&identity)?;
    /// headers.insert(http::header::COOKIE, renewed.to_str()?.split(';').next().unwrap().parse()?);
    /// let again = auth.authenticate(&headers).await?;
    /// assert_eq!(again.attribute("role"), Some("editor"));
    /// assert_ne!(again.token_id, identity.token_id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn refresh_cookie(&self, identity: &Identity) -> Result<HeaderValue, MintError> {
        let now = self.now_whole_seconds();
        let mut claims = self.claims_at(identity.subject.clone(), now, identity.session_started_at);
        claims.audience.clone_from(&identity.audience);
        claims.attributes.clone_from(&identity.attributes);
        self.cookie_for(&claims, now)
    }
}

/// The one identity the login cookies `tokens` agree on, by the core's
/// rule ([`Verifier::verify_one_of_at`]).
fn one_identity(
    verifier: &Verifier,
    tokens: &[&str],
    now: OffsetDateTime,
    buffer: &mut TokenBuffer,
) -> Result<Identity, AuthError> {
    match verifier.verify_one_of_at(tokens.iter().copied(), now, buffer) {
        Ok(verified) => Ok(Identity::new(&verified, CredentialSource::Cookie)),
        Err(OneOfError::Ambiguous { first, other }) => {
            Err(AuthError::AmbiguousCookies { first, other })
        }
        Err(OneOfError::Invalid(error)) => Err(AuthError::Token(error)),
    }
}

/// A configuration duration as a time span (saturating: validated settings
/// are far below the bound).
fn duration(d: std::time::Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.ring();
        f.debug_struct("Authenticator")
            .field("config", &self.shared.config)
            .field("active_key", &ring.active().id())
            .field("keys", &ring.len())
            .finish_non_exhaustive()
    }
}
