//! The authentication handler: what a web server embeds to accept encapsulated
//! tokens from browsers (the `login-token` cookie) and from other servers
//! (`Authorization: Bearer`).
//!
//! - [`Authenticator`] holds the key ring (swappable at runtime), the
//!   [`AuthConfig`] and a [`UserDirectory`]. It reads credentials from request
//!   headers ([`Authenticator::authenticate`]), mints login, logout and
//!   refresh cookies, and is what a `GET /auth` endpoint for nginx
//!   `auth_request` calls directly.
//! - [`AuthLayer`] is a tower `Layer` around it: the [`Identity`] goes into
//!   the request extensions, failures become a uniform 401 (or a 302 to a
//!   login page), and a token past its refresh threshold comes back renewed.
//! - With the `axum` feature, [`Identity`] and `Option<Identity>` are axum
//!   extractors.
//! - With the `actix` feature, `AuthMiddleware` is the same for actix-web
//!   (`App::wrap(auth.middleware())`), and [`Identity`] and
//!   `Option<Identity>` are actix-web extractors. Both adapters map one
//!   framework-neutral decision to their responses, so the rules below hold
//!   in both; [`RequestHeaders`] is what they read of a request.
//!
//! **Which credential wins.** When a request carries both a bearer token and
//! the cookie, the bearer token decides and the cookie is not looked at, not
//! even if the bearer token is refused. The `Authorization` header is set
//! explicitly by the client for this one request; a cookie is ambient, sent by
//! a browser or an HTTP client's cookie jar whether the caller meant it or
//! not. Letting the explicit credential win means a server-to-server client
//! gets exactly the identity it asked for, and a refused bearer token is never
//! masked by a leftover session cookie.
//!
//! **Several login cookies.** Browsers send every cookie of the name that
//! matches (sibling domains, longer paths). Each is verified; those that do
//! not verify are ignored; if the valid ones name different users the
//! request is refused ([`AuthError::AmbiguousCookies`]) and the cookie
//! cleared, so a cookie planted from a sibling subdomain can neither shadow
//! the user's own session nor be refreshed over it. Among valid cookies of
//! one user, the most recently issued wins.
//!
//! **The token proves authentication only.** After the token verifies, the
//! [`UserDirectory`] is asked whether the subject exists on *this* instance
//! and whether its session was ended ([`Standing`]); a user unknown here, or
//! a revoked session, is refused like a bad token.
//!
//! ```
//! use encapsulated_token::handler::{AuthConfig, Authenticator};
//! use encapsulated_token::{Key, KeyRing};
//! use http::{HeaderMap, header};
//! use std::collections::HashSet;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let ring = KeyRing::new(Key::generate()?);
//! let users: HashSet<String> = ["alice".to_string()].into();
//! let auth = Authenticator::new(ring, AuthConfig::new(), users)?;
//!
//! // At login (after the password check): a Set-Cookie header value.
//! let set_cookie = auth.login_cookie("alice", [("role", "editor")])?;
//! let token = set_cookie.to_str()?.split(';').next().unwrap().to_string();
//!
//! // On a later request, on any instance holding the same ring.
//! let mut headers = HeaderMap::new();
//! headers.insert(header::COOKIE, format!("theme=dark; {token}").parse()?);
//! let identity = auth.authenticate(&headers).await?;
//! assert_eq!(identity.subject, "alice");
//! assert_eq!(identity.attribute("role"), Some("editor"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "actix")]
mod actix;
mod authenticator;
mod config;
mod cookies;
mod credentials;
mod decision;
mod directory;
mod error;
#[cfg(feature = "axum")]
mod extractors;
mod headers;
mod identity;
mod layer;
mod observer;
#[cfg(any(feature = "axum", feature = "actix"))]
mod rejection;

#[cfg(feature = "actix")]
pub use actix::{AuthMiddleware, AuthMiddlewareService};
pub use authenticator::Authenticator;
pub use config::{AuthConfig, ConfigError, DEFAULT_COOKIE_NAME, SKIP_REFRESH_HEADER, SameSite};
pub use credentials::MAX_COOKIE_BYTES;
pub use directory::{DirectoryError, Session, Standing, UserDirectory};
pub use error::AuthError;
pub use headers::RequestHeaders;
pub use identity::{CredentialSource, Identity};
pub use layer::{AuthLayer, AuthService};
pub use observer::{AuthObserver, ObserverAlreadySet};
#[cfg(any(feature = "axum", feature = "actix"))]
pub use rejection::AuthRejection;
