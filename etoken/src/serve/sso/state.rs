//! The `sso-state` cookie: what the callback needs to finish a login
//! (state, nonce, PKCE verifier, where to go next), carried by the browser
//! between `/sso/login` and `/sso/callback`, so no instance keeps anything
//! and the callback may land on any of them. It is one of our tokens,
//! minted with the key ring under its own audience: it never passes as a
//! login token, and a login token never passes as it.

use std::time::Duration;

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use encapsulated_token::handler::Authenticator;
use encapsulated_token::{Claims, Issuer, Verifier};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::serve::redirect::LocalTarget;

/// The audience of state tokens; `--audience` may not take it.
pub const AUDIENCE: &str = "etoken/sso-state";
/// How long a login at the provider may take.
pub const LIFETIME: Duration = Duration::from_secs(600);
/// The resource travels in attributes of at most 128 bytes each, this many.
const RESOURCE_PARTS: usize = 4;
const RESOURCE_PART_LEN: usize = encapsulated_token::format::MAX_ATTRIBUTE_VALUE_LEN;

/// One login in flight.
pub struct LoginState {
    /// The OAuth `state`, compared with the callback's.
    pub state: String,
    pub nonce: String,
    /// The PKCE code verifier: a secret between us and the token endpoint.
    pub verifier: Zeroizing<String>,
    pub resource: LocalTarget,
}

/// Why the cookie does not open.
#[derive(Debug, PartialEq, Eq)]
pub enum StateError {
    Missing,
    /// Several `sso-state` cookies that disagree.
    Ambiguous,
    /// Its tag, audience, lifetime or layout is wrong (the token's reason).
    Invalid(String),
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("no sso-state cookie (expired, or another browser)"),
            Self::Ambiguous => f.write_str("several sso-state cookies that disagree"),
            Self::Invalid(why) => write!(f, "the sso-state cookie is refused: {why}"),
        }
    }
}

impl LoginState {
    /// Seals the state into a token for the cookie.
    pub fn seal(&self, auth: &Authenticator) -> Result<String, String> {
        let now = auth
            .now()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| auth.now());
        let mut claims = Claims::new("sso-state", LIFETIME).with_audience(AUDIENCE);
        claims.issued_at = now;
        claims.session_started_at = now;
        claims.expires_at = now + LIFETIME;
        claims = claims
            .with_attribute("s", self.state.as_str())
            .with_attribute("n", self.nonce.as_str())
            .with_attribute("v", self.verifier.as_str());
        let resource = self.resource.as_str();
        if resource.len() > RESOURCE_PARTS * RESOURCE_PART_LEN {
            tracing::info!(
                "sso: resource over {} bytes, the login ends on /",
                RESOURCE_PARTS * RESOURCE_PART_LEN
            );
        } else {
            // A LocalTarget is ASCII, so any split falls between characters.
            for (i, part) in resource.as_bytes().chunks(RESOURCE_PART_LEN).enumerate() {
                let part = String::from_utf8_lossy(part).into_owned();
                claims = claims.with_attribute(format!("r{i}"), part);
            }
        }
        Issuer::new(auth.ring())
            .mint(&claims)
            .map_err(|e| format!("cannot mint the sso-state token: {e}"))
    }

    /// Opens a sealed state: our tag, our state audience, within its life.
    pub fn open(token: &str, auth: &Authenticator) -> Result<Self, StateError> {
        let verified = Verifier::new(auth.ring())
            .with_audience(AUDIENCE)
            .verify_at(token, auth.now())
            .map_err(|e| StateError::Invalid(e.to_string()))?;
        let attribute = |name: &str| {
            verified
                .attribute(name)
                .map(str::to_owned)
                .ok_or_else(|| StateError::Invalid(format!("no {name:?} in it")))
        };
        let resource: String = (0..RESOURCE_PARTS)
            .map_while(|i| verified.attribute(&format!("r{i}")))
            .collect();
        Ok(Self {
            state: attribute("s")?,
            nonce: attribute("n")?,
            verifier: Zeroizing::new(attribute("v")?),
            resource: LocalTarget::judge(Some(resource.as_str()).filter(|r| !r.is_empty())),
        })
    }

    /// Whether the callback's `state` is ours, compared in constant time.
    pub fn matches(&self, state: &str) -> bool {
        bool::from(self.state.as_bytes().ct_eq(state.as_bytes()))
    }
}

/// The cookie's name: `__Host-` on https, so no sibling subdomain and no
/// plain-http page can plant one.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sso-state"
    } else {
        "sso-state"
    }
}

/// The `Set-Cookie` value carrying `token`: HttpOnly, SameSite=Lax (the
/// provider's redirect back is a top-level GET), Path=/, 10 minutes.
pub fn set_cookie(token: &str, secure: bool) -> HeaderValue {
    cookie(token, LIFETIME.as_secs(), secure)
}

/// The `Set-Cookie` value that clears it, with the same attributes.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    cookie("", 0, secure)
}

fn cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let mut built = cookie::Cookie::build((cookie_name(secure), value))
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age as i64));
    if secure {
        built = built.secure(true);
    }
    HeaderValue::from_str(&built.build().to_string())
        .unwrap_or(HeaderValue::from_static("sso-state=; Max-Age=0"))
}

/// The state token the request carries: one value, however many cookies
/// of the name arrive (sibling paths and domains send copies); refused
/// when they disagree.
pub fn from_request(headers: &HeaderMap, secure: bool) -> Result<String, StateError> {
    let name = cookie_name(secure);
    let mut found: Option<String> = None;
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for cookie in cookie::Cookie::split_parse(text).flatten() {
            if cookie.name() != name || cookie.value().is_empty() {
                continue;
            }
            match &found {
                Some(value) if value != cookie.value() => return Err(StateError::Ambiguous),
                Some(_) => {}
                None => found = Some(cookie.value().to_owned()),
            }
        }
    }
    found.ok_or(StateError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use encapsulated_token::handler::AuthConfig;
    use encapsulated_token::{Key, KeyRing};

    fn auth() -> Authenticator {
        Authenticator::new(
            KeyRing::new(Key::generate().unwrap()),
            AuthConfig::new(),
            std::collections::HashSet::<String>::new(),
        )
        .unwrap()
    }

    fn state(resource: &str) -> LoginState {
        LoginState {
            state: "s".repeat(43),
            nonce: "n".repeat(43),
            verifier: Zeroizing::new("v".repeat(43)),
            resource: LocalTarget::judge(Some(resource)),
        }
    }

    #[test]
    fn a_sealed_state_opens_with_everything_and_a_long_resource_whole() {
        let auth = auth();
        let resource = format!("/content/page.html?q={}", "x".repeat(300));
        let token = state(&resource).seal(&auth).unwrap();
        let opened = LoginState::open(&token, &auth).unwrap();
        assert_eq!(opened.resource.as_str(), resource);
        assert!(opened.matches(&"s".repeat(43)));
        assert!(!opened.matches("s"));
        assert_eq!(opened.nonce, "n".repeat(43));
        assert_eq!(*opened.verifier, "v".repeat(43));
    }

    #[test]
    fn a_state_token_is_no_login_token_and_a_login_token_no_state() {
        let auth = auth();
        let token = state("/").seal(&auth).unwrap();
        assert!(auth.verifier().verify_at(&token, auth.now()).is_err());
        let login = auth.mint(&auth.claims_for("alice")).unwrap();
        assert!(matches!(
            LoginState::open(&login, &auth),
            Err(StateError::Invalid(_))
        ));
        let other = auth_with_other_key();
        assert!(LoginState::open(&token, &other).is_err());
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(LoginState::open(&tampered, &auth).is_err());
    }

    fn auth_with_other_key() -> Authenticator {
        auth()
    }

    #[test]
    fn copies_that_agree_are_one_cookie_and_copies_that_disagree_are_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(from_request(&headers, false), Err(StateError::Missing));
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; sso-state=x; sso-state=x"),
        );
        assert_eq!(from_request(&headers, false).unwrap(), "x");
        assert_eq!(from_request(&headers, true), Err(StateError::Missing));
        headers.append(COOKIE, HeaderValue::from_static("sso-state=y"));
        assert_eq!(from_request(&headers, false), Err(StateError::Ambiguous));
    }

    #[test]
    fn the_cookie_is_host_prefixed_on_https_and_cleared_with_the_same_attributes() {
        let set = set_cookie("t", true);
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-sso-state=t"), "{set}");
        for attribute in [
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
            "Max-Age=600",
        ] {
            assert!(set.contains(attribute), "{set}");
        }
        let clear = clear_cookie(false);
        let clear = clear.to_str().unwrap();
        assert!(
            clear.starts_with("sso-state=;") && clear.contains("Max-Age=0"),
            "{clear}"
        );
        assert!(!clear.contains("Secure"));
    }
}
