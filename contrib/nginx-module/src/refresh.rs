//! The sliding refresh behind `$etoken_set_cookie`, by the rule of the Rust
//! handler (`Authenticator::needs_refresh` and `refresh_cookie` in
//! `src/handler/authenticator.rs`), with `etoken serve`'s defaults: a
//! cookie token past half its lifetime, or signed by a key that no longer
//! mints, is renewed with the ring's active key; subject, audience,
//! attributes and session start are kept, and the new token never outlives
//! the session's absolute end. The `Set-Cookie` is built by the `cookie`
//! crate with the attributes `etoken serve` sets.

use std::borrow::Borrow;
use std::time::Duration;

use cookie::Cookie;
use encapsulated_token::{Issuer, TokenBuffer, TokenId, VerifiedToken};
use time::OffsetDateTime;

/// The share of a token's lifetime after which it is renewed (the
/// handler's default, which `etoken serve` uses).
const REFRESH_AFTER: f64 = 0.5;

/// `etoken_refresh on|insecure`: refreshed cookies carry `Secure`, or not
/// (plain-http development, as `etoken serve --insecure-cookies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// `Secure` cookies.
    Secure,
    /// No `Secure` (never for a `__Host-` cookie, which browsers refuse
    /// without it).
    Insecure,
}

/// `etoken_lifetime` default: `etoken serve --ttl`'s.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// `etoken_max_session` default: `etoken serve --max-session`'s.
pub const DEFAULT_MAX_SESSION: Duration = Duration::from_secs(7 * 24 * 3600);

/// When and how a token is renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Cookie attributes.
    pub refresh: Refresh,
    /// A renewed token's lifetime.
    pub lifetime: Duration,
    /// A session's absolute lifetime, from its login.
    pub max_session: Duration,
}

fn span(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

/// The session of `token` began longer than `max_session` before `now`
/// (the handler's `session_too_old`).
pub fn session_too_old<B: Borrow<TokenBuffer>>(
    token: &VerifiedToken<B>,
    now: OffsetDateTime,
    max_session: Duration,
) -> bool {
    now - token.session_started_at() >= span(max_session)
}

impl Policy {
    /// Whether `token`, from a cookie, is due for renewal at `now`.
    pub fn due<B: Borrow<TokenBuffer>>(
        &self,
        token: &VerifiedToken<B>,
        issuer: &Issuer,
        now: OffsetDateTime,
    ) -> bool {
        let session_end = token
            .session_started_at()
            .saturating_add(span(self.max_session));
        if token.expires_at() >= session_end {
            return false; // a renewed token could not live longer
        }
        if !issuer.ring().is_active(token.key_id()) {
            return true;
        }
        let age = now - token.issued_at();
        let lifetime = token.expires_at() - token.issued_at();
        age.as_seconds_f64() >= lifetime.as_seconds_f64() * REFRESH_AFTER
    }

    /// The `Set-Cookie` value renewing `token` under `cookie_name` at
    /// `now`, or why it cannot be minted (for the log).
    pub fn renew<B: Borrow<TokenBuffer>>(
        &self,
        token: &VerifiedToken<B>,
        issuer: &Issuer,
        cookie_name: &'static str,
        now: OffsetDateTime,
    ) -> Result<String, String> {
        let now = now.replace_nanosecond(0).map_err(|e| e.to_string())?;
        let mut claims = token.to_claims();
        claims.issued_at = now;
        claims.expires_at = now.saturating_add(span(self.lifetime)).min(
            claims
                .session_started_at
                .saturating_add(span(self.max_session)),
        );
        claims.token_id = TokenId::random();
        let minted = issuer.mint(&claims).map_err(|e| e.to_string())?;
        Ok(set_cookie(
            cookie_name,
            minted,
            Some(self.refresh),
            claims.expires_at - now,
        ))
    }
}

/// The `Set-Cookie` value clearing `cookie_name` (empty, `Max-Age=0`, the
/// attributes of a renewed one), as the Rust handler's logout cookie;
/// `Secure` unless `etoken_refresh insecure`.
pub fn clear(cookie_name: &'static str, refresh: Option<Refresh>) -> String {
    set_cookie(cookie_name, String::new(), refresh, time::Duration::ZERO)
}

/// `name=value` with `etoken serve`'s attributes.
fn set_cookie(
    cookie_name: &'static str,
    value: String,
    refresh: Option<Refresh>,
    max_age: time::Duration,
) -> String {
    let secure = refresh != Some(Refresh::Insecure) || cookie_name.starts_with("__Host-");
    Cookie::build((cookie_name, value))
        .http_only(true)
        .secure(secure)
        .same_site(cookie::SameSite::Lax)
        .path("/")
        .max_age(max_age.max(time::Duration::ZERO))
        .build()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use encapsulated_token::{Claims, Key, KeyRing, Verifier};
    use std::sync::Arc;

    fn policy() -> Policy {
        Policy {
            refresh: Refresh::Secure,
            lifetime: Duration::from_secs(3600),
            max_session: DEFAULT_MAX_SESSION,
        }
    }

    #[test]
    fn past_half_its_life_a_cookie_is_renewed_keeping_its_session() {
        let ring = Arc::new(KeyRing::new(Key::generate().unwrap()));
        let issuer = Issuer::new(ring.clone());
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let started = now - time::Duration::hours(5);
        let mut claims = Claims::new("alice", Duration::from_secs(3600))
            .with_audience("farm")
            .with_attribute("role", "editor")
            .with_session_started_at(started);
        claims.issued_at = now - time::Duration::minutes(31);
        claims.expires_at = claims.issued_at + time::Duration::hours(1);
        let old = issuer.mint(&claims).unwrap();
        let verifier = Verifier::new(ring).with_audience("farm");
        let token = verifier.verify_at(&old, now).unwrap();
        assert!(policy().due(&token, &issuer, now));
        assert!(!policy().due(
            &token,
            &issuer,
            claims.issued_at + time::Duration::minutes(29)
        ));

        let set_cookie = policy().renew(&token, &issuer, "login-token", now).unwrap();
        let cookie = Cookie::parse(set_cookie).unwrap();
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.max_age(), Some(time::Duration::hours(1)));
        let renewed = verifier.verify_at(cookie.value(), now).unwrap();
        assert_eq!(renewed.subject(), "alice");
        assert_eq!(renewed.attribute("role"), Some("editor"));
        assert_eq!(renewed.session_started_at(), started);
        assert_eq!(renewed.issued_at(), now);
        assert_ne!(renewed.token_id(), token.token_id());
    }

    #[test]
    fn a_renewed_token_never_outlives_the_session() {
        let ring = Arc::new(KeyRing::new(Key::generate().unwrap()));
        let issuer = Issuer::new(ring.clone());
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let policy = Policy {
            max_session: Duration::from_secs(7200),
            ..policy()
        };
        let mut claims = Claims::new("alice", Duration::from_secs(3600))
            .with_session_started_at(now - time::Duration::minutes(100));
        claims.issued_at = now - time::Duration::minutes(40);
        claims.expires_at = claims.issued_at + time::Duration::hours(1);
        let token = Verifier::new(ring)
            .verify_at(&issuer.mint(&claims).unwrap(), now)
            .unwrap();
        let set_cookie = policy
            .renew(&token, &issuer, "__Host-login-token", now)
            .unwrap();
        let cookie = Cookie::parse(set_cookie).unwrap();
        assert_eq!(cookie.max_age(), Some(time::Duration::minutes(20)));
        assert_eq!(cookie.secure(), Some(true));
        assert!(session_too_old(
            &token,
            now + time::Duration::minutes(20),
            policy.max_session
        ));
        assert!(!session_too_old(&token, now, policy.max_session));
    }
}
