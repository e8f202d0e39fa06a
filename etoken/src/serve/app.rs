//! The shared state and the router: every route and every layer in one
//! place. Authentication itself is the library's handler: the `AuthLayer`
//! guards `/auth` and `/whoami` (and greets on `/`), and the `Authenticator`
//! mints the login and logout cookies.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::map_response_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use encapsulated_token::handler::Authenticator;
use tokio::sync::Semaphore;

use super::client::TrustedProxies;
use super::guard::{Guard, Headerless};
use super::reload::{LiveUsers, ReloadHealth};
use super::throttle::Throttle;
use super::{auth, health, login};

/// The header naming the instance that served a response.
pub static X_INSTANCE: HeaderName = HeaderName::from_static("x-instance");

/// What every handler shares.
pub struct App {
    pub auth: Authenticator,
    pub users: LiveUsers,
    /// What fails to reload, for `/healthz`.
    pub reloads: ReloadHealth,
    pub instance: String,
    instance_header: HeaderValue,
    /// Password hashing is deliberately slow; at most one per core at a
    /// time, so a burst of logins cannot starve the request threads.
    pub hashing: Semaphore,
    /// Who may try a password now.
    pub logins: Logins,
}

/// What decides whether a login attempt is heard.
pub struct Logins {
    /// Attempts per account and per client address.
    pub throttle: Throttle,
    /// Whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
}

impl App {
    /// Refuses an instance name that cannot be sent in a header.
    pub fn new(
        auth: Authenticator,
        users: LiveUsers,
        reloads: ReloadHealth,
        logins: Logins,
        instance: &str,
    ) -> Result<Self, String> {
        let instance_header = HeaderValue::from_str(instance).map_err(|_| {
            format!("cannot start: --instance: {instance:?} is not printable ASCII")
        })?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            auth,
            users,
            reloads,
            instance: instance.to_owned(),
            instance_header,
            hashing: Semaphore::new(cores),
            logins,
        })
    }
}

/// The routes, with the X-Instance header and `Cache-Control: no-store` on
/// every response (401s and 404s included), the security headers on every
/// HTML one, and the CSRF check and body limit on each browser form.
pub fn router(app: App, guard: &Guard) -> Router {
    let app = Arc::new(app);
    let guarded = Router::new()
        .route("/auth", get(auth::auth_request))
        .route("/whoami", get(auth::whoami))
        .route_layer(app.auth.layer());
    let greeting = Router::new()
        .route("/", get(login::home))
        .route_layer(app.auth.layer().optional());
    let routes = Router::new()
        .route("/login", get(login::login_page))
        .route(
            "/j_security_check",
            guard.browser_form(post(login::login), Headerless::Allowed),
        )
        .route(
            "/logout",
            guard.browser_form(post(login::logout), Headerless::Refused),
        )
        .route("/healthz", get(health::healthz))
        .merge(guarded)
        .merge(greeting)
        .fallback(not_found)
        .with_state(app.clone());
    guard
        .around(routes)
        .layer(map_response_with_state(app, stamp))
}

async fn stamp(State(app): State<Arc<App>>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_INSTANCE.clone(), app.instance_header.clone());
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut text = serde_json::to_string_pretty(body).unwrap_or_default();
    text.push('\n');
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        text,
    )
        .into_response()
}
