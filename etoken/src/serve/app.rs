//! The shared state and the router: every route and every layer in one
//! place. Authentication itself is the library's handler: the `AuthLayer`
//! guards `/auth` and `/whoami` (and greets on `/`), and the `Authenticator`
//! mints the login and logout cookies.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, map_response_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use encapsulated_token::handler::Authenticator;
use tokio::sync::Semaphore;

use super::client::TrustedProxies;
use super::directory::LiveServices;
use super::farm::Source;
use super::form::MAX_BODY;
use super::guard::{self, Guard, Headerless};
use super::metrics::{self, Metrics};
use super::page::LoginPage;
use super::reload::{LiveUsers, ReloadHealth};
use super::sso::{self, Sso};
use super::throttle::Throttle;
use super::{auth, developer, exchange, health, logging, login};
use crate::grants::TokenSettings;

/// The header naming the instance that served a response.
pub static X_INSTANCE: HeaderName = HeaderName::from_static("x-instance");

/// What every handler shares.
pub struct App {
    pub auth: Authenticator,
    pub users: LiveUsers,
    /// What fails to reload, for `/healthz`.
    pub reloads: ReloadHealth,
    /// The technical accounts, for the token endpoints.
    pub services: LiveServices,
    /// The farm's URLs and the access token lifetime.
    pub tokens: TokenSettings,
    pub instance: String,
    instance_header: HeaderValue,
    /// Password hashing is deliberately slow; at most one per core at a
    /// time, so a burst of logins cannot starve the request threads.
    pub hashing: Semaphore,
    /// Who may try a password now.
    pub logins: Logins,
    /// Where the directory comes from, and where writes go.
    pub source: Source,
    /// Logins and token exchanges are counted here.
    pub metrics: Metrics,
    /// Single sign-on, when `--oidc-issuer` is given.
    pub sso: Option<Arc<Sso>>,
    /// What the login page offers.
    pub login_page: LoginPage,
}

/// The directory an instance follows: users, technical accounts, where they
/// come from, and what fails to reload.
pub struct Directories {
    pub users: LiveUsers,
    pub services: LiveServices,
    pub source: Source,
    pub reloads: ReloadHealth,
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
        directories: Directories,
        logins: Logins,
        tokens: TokenSettings,
        instance: &str,
    ) -> Result<Self, String> {
        let Directories {
            users,
            services,
            source,
            reloads,
        } = directories;
        let instance_header = HeaderValue::from_str(instance).map_err(|_| {
            format!("cannot start: --instance: {instance:?} is not printable ASCII")
        })?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            auth,
            users,
            reloads,
            services,
            tokens,
            instance: instance.to_owned(),
            instance_header,
            hashing: Semaphore::new(cores),
            logins,
            source,
            metrics: Metrics::default(),
            sso: None,
            login_page: LoginPage::default(),
        })
    }

    /// Single sign-on at `sso`; the password form only if `password_login`.
    pub fn with_sso(mut self, sso: Option<Sso>, password_login: bool) -> Self {
        self.login_page = LoginPage {
            sso: sso.as_ref().map(|sso| sso.display_name.clone()),
            password: password_login,
        };
        self.sso = sso.map(Arc::new);
        self
    }

    /// Counts logins and token exchanges into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }
}

/// The routes, with the X-Instance header and `Cache-Control: no-store` on
/// every response (401s and 404s included), the security headers on every
/// HTML one, and the CSRF check and body limit on each browser form; and
/// what `observing` asks for.
pub fn router(app: App, guard: &Guard, observing: Observing) -> Router {
    let app = Arc::new(app);
    let guarded = Router::new()
        .route("/auth", get(auth::auth_request))
        .route("/whoami", get(auth::whoami))
        .route_layer(app.auth.layer());
    let developer_page = Router::new()
        .route("/developer", get(developer::page))
        .route_layer(
            app.auth
                .layer()
                .redirect_to(HeaderValue::from_static("/login?resource=/developer")),
        );
    let developer_token = Router::new()
        .route(
            "/developer/token",
            guard.browser_form(post(developer::token), Headerless::Refused),
        )
        .route_layer(app.auth.layer());
    // Machine clients: not cookie-authenticated, so no CSRF check; bodies
    // of at most 64 KiB (413 beyond, before they are read whole).
    let token_endpoints = Router::new()
        .route(
            "/ims/exchange/jwt",
            guard::token_endpoint(post(exchange::exchange_jwt)),
        )
        .route(
            "/ims/exchange/jwt/",
            guard::token_endpoint(post(exchange::exchange_jwt)),
        )
        .route(
            "/ims/token/v3",
            guard::token_endpoint(post(exchange::token_v3)),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY));
    // Signed in or not: `everywhere=true` needs to know who.
    let logout = Router::new()
        .route(
            "/logout",
            guard.browser_form(post(login::logout), Headerless::Refused),
        )
        .route_layer(app.auth.layer().optional());
    let greeting = Router::new()
        .route("/", get(login::home))
        .route_layer(app.auth.layer().optional());
    let routes = Router::new()
        .route("/login", get(login::login_page))
        .route(
            "/j_security_check",
            guard.browser_form(post(login::login), Headerless::Allowed),
        )
        .route("/healthz", get(health::healthz))
        .route("/sso/login", get(sso::routes::login))
        .route("/sso/callback", get(sso::routes::callback))
        // The provider calls it server to server: no cookie, no CSRF check.
        .route(
            "/sso/backchannel-logout",
            guard::token_endpoint(post(sso::routes::backchannel_logout)),
        )
        .merge(guarded)
        .merge(developer_page)
        .merge(developer_token)
        .merge(token_endpoints)
        .merge(greeting)
        .merge(logout)
        .fallback(not_found)
        .with_state(app.clone());
    let routes = match observing.timing {
        Some(metrics) => routes.layer(from_fn_with_state(metrics, metrics::time_requests)),
        None => routes,
    };
    let routes = match observing.request_spans {
        true => routes.layer(from_fn_with_state(app.clone(), logging::request_span)),
        false => routes,
    };
    guard
        .around(routes)
        .layer(map_response_with_state(app, stamp))
}

/// The layers that watch requests, each on only when asked for: both cost
/// a little on every request.
pub struct Observing {
    /// Each request's latency by matched route (`--metrics-listen`).
    pub timing: Option<Metrics>,
    /// Each request's log lines in a span naming the instance and route
    /// (`--log-format json`).
    pub request_spans: bool,
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
