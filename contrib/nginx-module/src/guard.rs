//! The decision, in safe Rust: which credential a request carries, and
//! whether the core's [`Verifier`] and the users file accept it. The FFI
//! file hands it the request's headers and copies the answer into nginx's
//! pool; nothing here allocates per request.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use encapsulated_token::{
    Access, KeyRing, MAX_RING_JSON_LEN, TokenBuffer, Verifier, read_trusted_file,
};
use time::OffsetDateTime;

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
}

impl Settings {
    /// Settings of `self`, each missing one taken from the enclosing `outer`.
    pub fn inherit(&mut self, outer: &Settings) {
        self.ring = self.ring.take().or_else(|| outer.ring.clone());
        self.audience = self.audience.take().or_else(|| outer.audience.clone());
        self.leeway = self.leeway.or(outer.leeway);
        self.users = self.users.take().or_else(|| outer.users.clone());
    }
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
        let users_stamp = settings.users.as_deref().and_then(stamp);
        let users = match &settings.users {
            Some(path) => Some(Users::load(path)?),
            None => None,
        };
        Ok(Guard {
            state: RefCell::new(State {
                verifier,
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

    /// Checks `token` at `now`: `Ok(on_user(subject))` or the refusal
    /// reason (`VerifyError::kind`, `unknown_user`, `sessions_revoked`).
    /// Errors while re-reading a changed file keep the last good state and
    /// are returned in `reload_error` for the log.
    pub fn check<R>(
        &self,
        token: &str,
        now: OffsetDateTime,
        reload_error: &mut Option<String>,
        on_user: impl FnOnce(&str) -> R,
    ) -> Result<R, &'static str> {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return Err("busy");
        };
        if state.checked_at != now.unix_timestamp() {
            state.checked_at = now.unix_timestamp();
            if let Err(error) = self.refresh(&mut state) {
                *reload_error = Some(error);
            }
        }
        let mut buffer = TokenBuffer::new();
        let verified = state
            .verifier
            .verify_in_at(token, now, &mut buffer)
            .map_err(|error| error.kind())?;
        if let Some(users) = &state.users {
            users.admits(verified.subject(), verified.session_started_at())?;
        }
        Ok(on_user(verified.subject()))
    }

    /// Re-reads each file whose stamp changed.
    fn refresh(&self, state: &mut State) -> Result<(), String> {
        if let Some(ring) = &self.settings.ring {
            let now = stamp(ring);
            if now != state.ring_stamp {
                state.verifier = build_verifier(&self.settings)?;
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
pub fn credential<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Option<&'a str> {
    let mut cookie = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"authorization") {
            if let Some(token) = bearer(value) {
                return Some(token);
            }
        } else if cookie.is_none() && name.eq_ignore_ascii_case(b"cookie") {
            cookie = login_cookie(value);
        }
    }
    cookie
}

fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn login_cookie(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    value.split(';').find_map(|pair| {
        let (name, token) = pair.trim().split_once('=')?;
        COOKIE_NAMES.contains(&name).then_some(token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))
    }

    #[test]
    fn bearer_comes_before_the_cookie() {
        let pairs = [("Cookie", "login-token=c"), ("Authorization", "Bearer b")];
        assert_eq!(credential(headers(&pairs)), Some("b"));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_in_its_host_form() {
        assert_eq!(
            credential(headers(&[("cookie", "a=1; login-token=t; b=2")])),
            Some("t")
        );
        assert_eq!(
            credential(headers(&[("Cookie", "__Host-login-token=h")])),
            Some("h")
        );
        assert_eq!(credential(headers(&[("Cookie", "xlogin-token=t")])), None);
        assert_eq!(credential(headers(&[("Authorization", "Basic abc")])), None);
    }
}
