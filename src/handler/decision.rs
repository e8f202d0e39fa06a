//! What the handler decides for every request, whatever the web framework:
//! admit it with an identity (and whether its cookie is due for renewal),
//! let it through without one, refuse it, or answer that the user directory
//! is unavailable. The tower layer and the actix-web middleware hold a
//! [`Guard`] and map its [`Decision`] to their own responses, so the rules
//! live here once.

use http::HeaderValue;

use super::authenticator::Authenticator;
use super::error::AuthError;
use super::headers::{RequestHeaders, visible_ascii};
use super::identity::Identity;

/// Put in the extensions of every request a guard let through, so the
/// extractors can tell "not authenticated" from "no guard at all".
#[derive(Clone, Copy, Debug)]
pub(crate) struct LayerRan;

/// The outcome of [`Guard::decide`].
#[derive(Debug)]
pub(crate) enum Decision {
    /// Authenticated: the identity goes to the application. `refresh`:
    /// the response should carry a renewed cookie ([`Guard::renewal`]).
    Admit { identity: Identity, refresh: bool },
    /// Not authenticated, and the guard is optional: on without an identity.
    Anonymous,
    /// Refused: 401, or 302 to the login page. `clear_cookie`: the response
    /// also carries the logout cookie.
    Refuse { clear_cookie: bool },
    /// The user directory could not be asked: 503 in every mode, so a
    /// store outage does not log every user out.
    Unavailable,
}

/// An [`Authenticator`] and what to do with refused requests: the settings
/// the tower layer and the actix-web middleware share. `U` is the
/// framework's header value, for the login page's URL.
#[derive(Clone, Debug)]
pub(crate) struct Guard<U> {
    pub(crate) auth: Authenticator,
    /// Browser mode: refused requests are sent here. API mode (`None`): 401.
    pub(crate) login_url: Option<U>,
    /// Requests without valid credentials go on without an identity.
    pub(crate) optional: bool,
}

impl<U> Guard<U> {
    /// An API-mode guard that requires credentials.
    pub(crate) fn new(auth: Authenticator) -> Self {
        Self {
            auth,
            login_url: None,
            optional: false,
        }
    }

    /// Authenticates the request to `path` with `headers` and decides.
    pub(crate) async fn decide(&self, path: &str, headers: &impl RequestHeaders) -> Decision {
        match self.auth.authenticate(headers).await {
            Ok(identity) => {
                let skip = self.auth.config().skips_refresh(path, headers);
                let refresh = !skip && self.auth.needs_refresh(&identity);
                Decision::Admit { identity, refresh }
            }
            Err(AuthError::Directory(_)) => Decision::Unavailable,
            // Neither cookie is trusted, and ours is cleared: the user logs
            // in again under one identity.
            Err(AuthError::AmbiguousCookies { .. }) => Decision::Refuse { clear_cookie: true },
            Err(_) if self.optional => Decision::Anonymous,
            Err(_) => Decision::Refuse {
                clear_cookie: false,
            },
        }
    }

    /// The renewed cookie for `identity`, admitted with `refresh`, to
    /// append to a response whose `Set-Cookie` values are `set_cookies`:
    /// `None` when the response sets the login cookie itself (a login or
    /// logout route must not be overridden), or when minting fails (logged).
    pub(crate) fn renewal<'a>(
        &self,
        identity: &Identity,
        set_cookies: impl Iterator<Item = &'a [u8]>,
    ) -> Option<HeaderValue> {
        let name = self.auth.config().cookie_name();
        let sets_cookie = set_cookies
            .filter_map(visible_ascii)
            .filter_map(|value| cookie::Cookie::parse(value).ok())
            .any(|cookie| cookie.name() == name);
        if sets_cookie {
            return None;
        }
        match self.auth.refresh_cookie(identity) {
            Ok(value) => {
                tracing::debug!(subject = %identity.subject, old_token_id = %identity.token_id, "token refreshed");
                Some(value)
            }
            Err(e) => {
                tracing::warn!(subject = %identity.subject, "cannot refresh token: {e}");
                None
            }
        }
    }
}
