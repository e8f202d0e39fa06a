//! The decision, in safe Rust: which credential a request carries, and
//! whether the core's [`Verifier`] and the users file accept it. The FFI
//! file hands it the request's headers and copies the answer into nginx's
//! pool; nothing here allocates per request but the list of login cookies
//! (and the copy of the one chosen among them).

use std::borrow::Borrow;
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use encapsulated_token::cookies::named_cookies;
use encapsulated_token::{
    Access, Issuer, KeyRing, MAX_RING_JSON_LEN, OneOfError, TokenBuffer, VerifiedToken, Verifier,
    read_trusted_file,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// `Authorization: Bearer`.
    Bearer(&'a str),
    /// Every login cookie as (name, value), in the order sent; never empty.
    Cookies(Vec<(&'static str, &'a str)>),
}

/// The token(s) of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential<'a> {
    /// Bearer token or login cookies.
    pub source: Source<'a>,
    /// The request asked for no refresh (`X-Token-Refresh: skip`).
    pub skip_refresh: bool,
}

/// A refused request: the reason for `$etoken_reason`, and a `Set-Cookie`
/// value clearing the login cookie when its cookies named two users (the
/// Rust handler's rule: neither is trusted, the user logs in again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `VerifyError::kind`, `ambiguous_cookies`, `session_too_old`, ...
    pub reason: &'static str,
    /// The clearing `Set-Cookie`, for `ambiguous_cookies`.
    pub clear_cookie: Option<String>,
}

impl From<&'static str> for Refusal {
    fn from(reason: &'static str) -> Self {
        Refusal {
            reason,
            clear_cookie: None,
        }
    }
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
    /// (reason `VerifyError::kind`, `ambiguous_cookies`, `session_too_old`,
    /// `unknown_user`, `sessions_revoked`). Several login cookies are
    /// chosen among by the core's rule (`Verifier::verify_one_of_at`, as
    /// the Rust handler does). Errors while re-reading a changed file keep
    /// the last good state, and a refresh that cannot be minted sends none:
    /// both are returned in `log` for the error log.
    pub fn check<R>(
        &self,
        credential: &Credential<'_>,
        now: OffsetDateTime,
        log: &mut Option<String>,
        on_accepted: impl FnOnce(Accepted<'_>) -> R,
    ) -> Result<R, Refusal> {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return Err("busy".into());
        };
        if state.checked_at != now.unix_timestamp() {
            state.checked_at = now.unix_timestamp();
            if let Err(error) = self.reload(&mut state) {
                *log = Some(format!("etoken: keeping the last good files: {error}"));
            }
        }
        let state = &*state;
        let mut buffer = TokenBuffer::new();
        match &credential.source {
            Source::Bearer(token) => {
                let verified = state
                    .verifier
                    .verify_in_at(token, now, &mut buffer)
                    .map_err(|error| Refusal::from(error.kind()))?;
                self.admit(state, &verified, None, now, log, on_accepted)
            }
            Source::Cookies(cookies) => {
                let tokens = cookies.iter().map(|(_, token)| *token);
                let verified = match state.verifier.verify_one_of_at(tokens, now, &mut buffer) {
                    Ok(verified) => verified,
                    Err(error @ OneOfError::Ambiguous { .. }) => {
                        return Err(Refusal {
                            reason: error.kind(),
                            clear_cookie: Some(refresh::clear(
                                cookies[0].0,
                                self.settings.refresh.flatten(),
                            )),
                        });
                    }
                    Err(error) => return Err(error.kind().into()),
                };
                let name = cookie_of(&state.verifier, cookies, &verified, now, &mut buffer);
                let cookie = (!credential.skip_refresh).then_some(name);
                self.admit(state, &verified, cookie, now, log, on_accepted)
            }
        }
    }

    /// The checks after the signature: session age, users file, refresh
    /// (of the cookie named `cookie`, when it may be refreshed).
    fn admit<R, B: Borrow<TokenBuffer>>(
        &self,
        state: &State,
        verified: &VerifiedToken<B>,
        cookie: Option<&'static str>,
        now: OffsetDateTime,
        log: &mut Option<String>,
        on_accepted: impl FnOnce(Accepted<'_>) -> R,
    ) -> Result<R, Refusal> {
        if refresh::session_too_old(verified, now, self.settings.max_session()) {
            return Err("session_too_old".into());
        }
        if let Some(users) = &state.users {
            users.admits(verified.subject(), verified.session_started_at())?;
        }
        let mut set_cookie = None;
        if let (Some(policy), Some(cookie)) = (self.settings.policy(), cookie)
            && policy.due(verified, &state.issuer, now)
        {
            match policy.renew(verified, &state.issuer, cookie, now) {
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

/// The name of the cookie that carried `chosen`: the one name when all
/// cookies share it (nearly always), else found by verifying again.
fn cookie_of(
    verifier: &Verifier,
    cookies: &[(&'static str, &str)],
    chosen: &VerifiedToken,
    now: OffsetDateTime,
    buffer: &mut TokenBuffer,
) -> &'static str {
    let first = cookies[0].0;
    if cookies.iter().all(|(name, _)| *name == first) {
        return first;
    }
    cookies
        .iter()
        .find(|(_, token)| {
            verifier
                .verify_in_at(token, now, buffer)
                .is_ok_and(|v| v.token_id() == chosen.token_id())
        })
        .map_or(first, |(name, _)| *name)
}

/// The token(s) of a request, from `Authorization: Bearer` first, else
/// every `login-token` cookie (or its `__Host-` form) of every `Cookie`
/// header, from `headers` as (name, value) pairs. `None` without either;
/// `bad_cookies` over the core's `MAX_COOKIE_BYTES`.
pub fn credential<'a>(
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Option<Credential<'a>>, &'static str> {
    let mut cookie_headers = Vec::new();
    let mut skip_refresh = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"authorization") {
            if let Some(token) = bearer(value) {
                return Ok(Some(Credential {
                    source: Source::Bearer(token),
                    skip_refresh: true,
                }));
            }
        } else if name.eq_ignore_ascii_case(b"cookie") {
            cookie_headers.push(value);
        } else if name.eq_ignore_ascii_case(b"x-token-refresh") {
            skip_refresh |= value.eq_ignore_ascii_case(b"skip");
        }
    }
    let cookies: Vec<(&'static str, &str)> =
        named_cookies(&cookie_headers, |name| COOKIE_NAMES.contains(&name))
            .map_err(|_| "bad_cookies")?
            .into_iter()
            .filter_map(|(name, token)| {
                let name = COOKIE_NAMES.into_iter().find(|known| *known == name)?;
                Some((name, token))
            })
            .collect();
    if cookies.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credential {
        source: Source::Cookies(cookies),
        skip_refresh,
    }))
}

fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))
    }

    fn source<'a>(pairs: &'a [(&'a str, &'a str)]) -> Option<Source<'a>> {
        credential(headers(pairs)).unwrap().map(|c| c.source)
    }

    #[test]
    fn bearer_comes_before_the_cookie() {
        let pairs = [("Cookie", "login-token=c"), ("Authorization", "Bearer b")];
        assert_eq!(source(&pairs), Some(Source::Bearer("b")));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_in_its_host_form() {
        assert_eq!(
            source(&[("cookie", "a=1; login-token=t; b=2")]),
            Some(Source::Cookies(vec![("login-token", "t")]))
        );
        assert_eq!(
            source(&[("Cookie", "__Host-login-token=h")]),
            Some(Source::Cookies(vec![("__Host-login-token", "h")]))
        );
        assert_eq!(source(&[("Cookie", "xlogin-token=t")]), None);
        assert_eq!(source(&[("Authorization", "Basic abc")]), None);
    }

    #[test]
    fn every_login_cookie_of_every_header_is_kept_in_order() {
        let pairs = [
            ("Cookie", "login-token=one; junk; __Host-login-token=two"),
            ("Cookie", "a=1; login-token=three"),
        ];
        assert_eq!(
            source(&pairs),
            Some(Source::Cookies(vec![
                ("login-token", "one"),
                ("__Host-login-token", "two"),
                ("login-token", "three"),
            ]))
        );
        let huge = format!(
            "x={}",
            "a".repeat(encapsulated_token::cookies::MAX_COOKIE_BYTES)
        );
        let pairs = [("Cookie", huge.as_str()), ("Cookie", "login-token=t")];
        assert_eq!(credential(headers(&pairs)).unwrap_err(), "bad_cookies");
    }

    #[test]
    fn a_non_utf8_byte_spoils_only_its_own_pair() {
        let value: &[u8] = b"theme=\xffdark; login-token=t";
        let found = credential([(&b"Cookie"[..], value)].into_iter()).unwrap();
        assert_eq!(
            found.map(|c| c.source),
            Some(Source::Cookies(vec![("login-token", "t")]))
        );
    }

    #[test]
    fn a_request_can_ask_for_no_refresh() {
        let pairs = [("Cookie", "login-token=t"), ("X-Token-Refresh", "skip")];
        assert!(credential(headers(&pairs)).unwrap().unwrap().skip_refresh);
        assert!(
            !credential(headers(&pairs[..1]))
                .unwrap()
                .unwrap()
                .skip_refresh
        );
    }
}
