//! The decision, in safe Rust: which credential a request carries, and
//! whether the core's [`Verifier`] and the users file accept it. The FFI
//! file hands it the request's headers and copies the answer into nginx's
//! pool; nothing here allocates per request.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use encapsulated_token::{
    Access, Issuer, KeyRing, MAX_RING_JSON_LEN, TokenBuffer, Verifier, read_trusted_file,
};
use time::OffsetDateTime;

use crate::refresh::{self, DEFAULT_LIFETIME, DEFAULT_MAX_SESSION, Policy, Refresh};
use crate::users::Users;

/// The cookie the Rust handler sets, and its `__Host-` form.
const COOKIE_NAMES: [&str; 2] = ["__Host-login-token", "login-token"];

/// The refusal reason when the request carries no token.
pub const NO_TOKEN: &str = "no_token";

/// What the directives of one location say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// The ring document (`etoken key export`).
    pub ring: Option<PathBuf>,
    /// The audience tokens must carry.
    pub audience: Option<String>,
    /// Clock leeway, seconds.
    pub leeway: Option<u64>,
    /// The users file (`etoken user add`).
    pub users: Option<PathBuf>,
    /// `etoken_refresh`: renew cookies (`None`: off).
    pub refresh: Option<Option<Refresh>>,
    /// `etoken_lifetime`: a renewed token's lifetime, seconds.
    pub lifetime: Option<u64>,
    /// `etoken_max_session`: a session's absolute lifetime, seconds.
    pub max_session: Option<u64>,
}

impl Settings {
    /// Settings of `self`, each missing one taken from the enclosing `outer`.
    pub fn inherit(&mut self, outer: &Settings) {
        self.ring = self.ring.take().or_else(|| outer.ring.clone());
        self.audience = self.audience.take().or_else(|| outer.audience.clone());
        self.leeway = self.leeway.or(outer.leeway);
        self.users = self.users.take().or_else(|| outer.users.clone());
        self.refresh = self.refresh.or(outer.refresh);
        self.lifetime = self.lifetime.or(outer.lifetime);
        self.max_session = self.max_session.or(outer.max_session);
    }

    fn max_session(&self) -> Duration {
        self.max_session
            .map_or(DEFAULT_MAX_SESSION, Duration::from_secs)
    }

    /// The refresh policy, when `etoken_refresh` is on.
    fn policy(&self) -> Option<Policy> {
        Some(Policy {
            refresh: self.refresh??,
            lifetime: self.lifetime.map_or(DEFAULT_LIFETIME, Duration::from_secs),
            max_session: self.max_session(),
        })
    }
}

/// Where a request's token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credential<'a> {
    /// The token.
    pub token: &'a str,
    /// The cookie's name, or `None` for `Authorization: Bearer`.
    pub cookie: Option<&'static str>,
    /// The request asked for no refresh (`X-Token-Refresh: skip`).
    pub skip_refresh: bool,
}

/// An accepted token: its subject, and a renewing `Set-Cookie` value when
/// one is due.
pub struct Accepted<'a> {
    /// The token's subject.
    pub subject: &'a str,
    /// The refreshed cookie, when `etoken_refresh` is on and it is due.
    pub set_cookie: Option<String>,
}

/// A file's identity and version, to notice a replaced or rewritten file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

/// The verifier of one configuration and the files it came from, re-read
/// when they change (checked at most once a second, per worker: nginx
/// workers are single-threaded, hence `RefCell`).
pub struct Guard {
    settings: Settings,
    state: RefCell<State>,
}

struct State {
    verifier: Verifier,
    issuer: Issuer,
    users: Option<Users>,
    checked_at: i64,
    ring_stamp: Option<Stamp>,
    users_stamp: Option<Stamp>,
}

impl Guard {
    /// Loads the ring (and users file) `settings` name; an error says
    /// which file and why, for `nginx -t`.
    pub fn load(settings: Settings) -> Result<Guard, String> {
        let ring_path = settings
            .ring
            .as_deref()
            .ok_or("etoken_ring is not set for this location")?;
        let ring_stamp = stamp(ring_path);
        let verifier = build_verifier(&settings)?;
        let issuer = Issuer::new(verifier.ring().clone());
        let users_stamp = settings.users.as_deref().and_then(stamp);
        let users = match &settings.users {
            Some(path) => Some(Users::load(path)?),
            None => None,
        };
        Ok(Guard {
            state: RefCell::new(State {
                verifier,
                issuer,
                users,
                checked_at: now_seconds(),
                ring_stamp,
                users_stamp,
            }),
            settings,
        })
    }

    /// The settings this guard was built from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Checks `credential` at `now`: `Ok(on_accepted(..))` or the refusal
    /// reason (`VerifyError::kind`, `session_too_old`, `unknown_user`,
    /// `sessions_revoked`). Errors while re-reading a changed file keep the
    /// last good state, and a refresh that cannot be minted sends none:
    /// both are returned in `log` for the error log.
    pub fn check<R>(
        &self,
        credential: Credential<'_>,
        now: OffsetDateTime,
        log: &mut Option<String>,
        on_accepted: impl FnOnce(Accepted<'_>) -> R,
    ) -> Result<R, &'static str> {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return Err("busy");
        };
        if state.checked_at != now.unix_timestamp() {
            state.checked_at = now.unix_timestamp();
            if let Err(error) = self.reload(&mut state) {
                *log = Some(format!("etoken: keeping the last good files: {error}"));
            }
        }
        let mut buffer = TokenBuffer::new();
        let verified = state
            .verifier
            .verify_in_at(credential.token, now, &mut buffer)
            .map_err(|error| error.kind())?;
        if refresh::session_too_old(&verified, now, self.settings.max_session()) {
            return Err("session_too_old");
        }
        if let Some(users) = &state.users {
            users.admits(verified.subject(), verified.session_started_at())?;
        }
        let mut set_cookie = None;
        if let (Some(policy), Some(cookie), false) = (
            self.settings.policy(),
            credential.cookie,
            credential.skip_refresh,
        ) && policy.due(&verified, &state.issuer, now)
        {
            match policy.renew(&verified, &state.issuer, cookie, now) {
                Ok(value) => set_cookie = Some(value),
                Err(error) => *log = Some(format!("etoken: no refresh: {error}")),
            }
        }
        Ok(on_accepted(Accepted {
            subject: verified.subject(),
            set_cookie,
        }))
    }

    /// Re-reads each file whose stamp changed.
    fn reload(&self, state: &mut State) -> Result<(), String> {
        if let Some(ring) = &self.settings.ring {
            let now = stamp(ring);
            if now != state.ring_stamp {
                state.verifier = build_verifier(&self.settings)?;
                state.issuer = Issuer::new(state.verifier.ring().clone());
                state.ring_stamp = now;
            }
        }
        if let Some(path) = &self.settings.users {
            let now = stamp(path);
            if now != state.users_stamp {
                state.users = Some(Users::load(path)?);
                state.users_stamp = now;
            }
        }
        Ok(())
    }
}

fn build_verifier(settings: &Settings) -> Result<Verifier, String> {
    let path = settings.ring.as_deref().ok_or("etoken_ring is not set")?;
    let text = read_trusted_file(path, Access::OwnerOnly, MAX_RING_JSON_LEN as u64)
        .map_err(|error| format!("etoken_ring {}: {error}", path.display()))?;
    let ring = KeyRing::from_ring_json(&text)
        .map_err(|error| format!("etoken_ring {}: {error}", path.display()))?;
    let mut verifier = Verifier::new(ring);
    if let Some(audience) = &settings.audience {
        verifier = verifier.with_audience(audience.clone());
    }
    if let Some(leeway) = settings.leeway {
        verifier = verifier.with_leeway(Duration::from_secs(leeway));
    }
    Ok(verifier)
}

fn now_seconds() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The token of a request, from `Authorization: Bearer` first, else the
/// `login-token` cookie (or its `__Host-` form), from `headers` as
/// (name, value) pairs.
pub fn credential<'a>(
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Option<Credential<'a>> {
    let mut cookie = None;
    let mut skip_refresh = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"authorization") {
            if let Some(token) = bearer(value) {
                return Some(Credential {
                    token,
                    cookie: None,
                    skip_refresh: true,
                });
            }
        } else if cookie.is_none() && name.eq_ignore_ascii_case(b"cookie") {
            cookie = login_cookie(value);
        } else if name.eq_ignore_ascii_case(b"x-token-refresh") {
            skip_refresh |= value.eq_ignore_ascii_case(b"skip");
        }
    }
    let (name, token) = cookie?;
    Some(Credential {
        token,
        cookie: Some(name),
        skip_refresh,
    })
}

fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn login_cookie(value: &[u8]) -> Option<(&'static str, &str)> {
    let value = std::str::from_utf8(value).ok()?;
    value.split(';').find_map(|pair| {
        let (name, token) = pair.trim().split_once('=')?;
        let name = COOKIE_NAMES.into_iter().find(|known| *known == name)?;
        Some((name, token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))
    }

    fn token<'a>(pairs: &'a [(&'a str, &'a str)]) -> Option<&'a str> {
        credential(headers(pairs)).map(|c| c.token)
    }

    #[test]
    fn bearer_comes_before_the_cookie() {
        let pairs = [("Cookie", "login-token=c"), ("Authorization", "Bearer b")];
        let found = credential(headers(&pairs)).unwrap();
        assert_eq!((found.token, found.cookie), ("b", None));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_in_its_host_form() {
        assert_eq!(token(&[("cookie", "a=1; login-token=t; b=2")]), Some("t"));
        let host = credential(headers(&[("Cookie", "__Host-login-token=h")])).unwrap();
        assert_eq!((host.token, host.cookie), ("h", Some("__Host-login-token")));
        assert_eq!(token(&[("Cookie", "xlogin-token=t")]), None);
        assert_eq!(token(&[("Authorization", "Basic abc")]), None);
    }

    #[test]
    fn a_request_can_ask_for_no_refresh() {
        let pairs = [("Cookie", "login-token=t"), ("X-Token-Refresh", "skip")];
        assert!(credential(headers(&pairs)).unwrap().skip_refresh);
        assert!(!credential(headers(&pairs[..1])).unwrap().skip_refresh);
    }
}
