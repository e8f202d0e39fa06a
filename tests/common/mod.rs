//! What the handler tests of both frameworks share (tests/handler.rs for
//! tower and axum, tests/actix.rs for actix-web): the users, the settings,
//! the route handlers (the same functions serve as axum and actix-web
//! handlers), tokens of a given age and user directories.
#![allow(dead_code)] // each test file uses its own part of it

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use encapsulated_token::handler::{
    AuthConfig, Authenticator, CredentialSource, DirectoryError, Identity, Session, Standing,
    UserDirectory,
};
use encapsulated_token::{Key, KeyRing};

/// Users of this instance. `carol` has a valid token (same keys) but is not
/// a user here.
pub fn users() -> HashSet<String> {
    ["alice", "bob"].map(String::from).into()
}

pub fn config() -> AuthConfig {
    AuthConfig::new()
        .with_audience("publish")
        .with_refresh_after(0.5)
}

pub fn authenticator() -> Authenticator {
    Authenticator::new(KeyRing::new(Key::generate().unwrap()), config(), users()).unwrap()
}

/// The same farm (one ring) seen `offset` from now: the clock of these tests.
pub fn later(ring: Arc<KeyRing>, config: AuthConfig, offset: time::Duration) -> Authenticator {
    Authenticator::new(ring, config.with_clock_offset(offset), users()).unwrap()
}

/// Alice's session, just begun, under `config` changed to a 30 min token
/// lifetime refreshed on every request and a 4 h absolute limit.
pub struct LimitedSession {
    pub config: AuthConfig,
    pub ring: Arc<KeyRing>,
    /// Alice's login token.
    pub token: String,
    /// When her session began.
    pub started: time::OffsetDateTime,
}

impl LimitedSession {
    pub fn begin(config: AuthConfig) -> Self {
        let config = config
            .with_lifetime(std::time::Duration::from_secs(1800))
            .with_refresh_after(0.0) // refresh on every request
            .with_max_session(std::time::Duration::from_secs(4 * 3600));
        let ring = Arc::new(KeyRing::new(Key::generate().unwrap()));
        let login = later(ring.clone(), config.clone(), time::Duration::ZERO);
        let token = login.mint(&login.claims_for("alice")).unwrap();
        let started = login
            .verifier()
            .verify(&token)
            .unwrap()
            .session_started_at();
        Self {
            config,
            ring,
            token,
            started,
        }
    }
}

/// A token for `subject` minted `age` ago, with the configured lifetime.
pub fn aged_token(auth: &Authenticator, subject: &str, age: time::Duration) -> String {
    let mut claims = auth.claims_for(subject).with_attribute("role", "editor");
    claims.issued_at -= age;
    claims.expires_at -= age;
    claims.session_started_at -= age;
    auth.mint(&claims).unwrap()
}

/// `token` with one payload character changed.
pub fn tampered(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

pub async fn me(identity: Identity) -> String {
    let source = match identity.source {
        CredentialSource::Cookie => "cookie",
        CredentialSource::Bearer => "bearer",
    };
    format!("{} via {source}", identity.subject)
}

pub async fn hello(identity: Option<Identity>) -> String {
    match identity {
        Some(identity) => format!("hello {}", identity.subject),
        None => "hello stranger".to_owned(),
    }
}

/// A directory where alice's sessions begun before `revoked_before` are over.
pub struct Revoking {
    pub revoked_before: Mutex<Option<time::OffsetDateTime>>,
}

impl UserDirectory for Revoking {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        Ok(match session.subject {
            "alice" => Standing::of(session, *self.revoked_before.lock().unwrap()),
            _ => Standing::Unknown,
        })
    }
}

/// A user store that is down.
pub struct Down;

impl UserDirectory for Down {
    async fn standing(&self, _session: &Session<'_>) -> Result<Standing, DirectoryError> {
        Err(DirectoryError::new("connection refused"))
    }
}
