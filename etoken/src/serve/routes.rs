//! The endpoints. Authentication itself is the library's handler: the
//! `AuthLayer` guards `/auth` and `/whoami` (and greets on `/`), and the
//! `Authenticator` mints the login and logout cookies. This module adds the
//! password check against the users file, the pages, and the X-Instance
//! header on every response.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::map_response_with_state;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use encapsulated_token::handler::{Authenticator, CredentialSource, Identity};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::page;
use super::reload::LiveUsers;
use crate::keydir::ring_fingerprint;

/// The header naming the instance that served a response.
pub static X_INSTANCE: HeaderName = HeaderName::from_static("x-instance");
/// The header `/auth` names the user in, for nginx to pass upstream.
pub static X_AUTH_USER: HeaderName = HeaderName::from_static("x-auth-user");

/// What every handler shares.
pub struct App {
    auth: Authenticator,
    users: LiveUsers,
    instance: String,
    instance_header: HeaderValue,
    /// Password hashing is deliberately slow; at most one per core at a
    /// time, so a burst of logins cannot starve the request threads.
    hashing: Semaphore,
}

impl App {
    /// Refuses an instance name that cannot be sent in a header.
    pub fn new(auth: Authenticator, users: LiveUsers, instance: &str) -> Result<Self, String> {
        let instance_header = HeaderValue::from_str(instance)
            .map_err(|_| format!("--instance {instance:?}: not printable ASCII"))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            auth,
            users,
            instance: instance.to_owned(),
            instance_header,
            hashing: Semaphore::new(cores),
        })
    }
}

/// The routes, with the X-Instance header and `Cache-Control: no-store` on
/// every response (401s and 404s included).
pub fn router(app: App) -> Router {
    let app = Arc::new(app);
    let guarded = Router::new()
        .route("/auth", get(auth_request))
        .route("/whoami", get(whoami))
        .route_layer(app.auth.layer());
    let greeting = Router::new()
        .route("/", get(home))
        .route_layer(app.auth.layer().optional());
    Router::new()
        .route("/login", get(login_page))
        .route("/j_security_check", post(login))
        .route("/logout", post(logout))
        .route("/healthz", get(healthz))
        .merge(guarded)
        .merge(greeting)
        .fallback(not_found)
        .with_state(app.clone())
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

/// Where to go after logging in: a path on this site, else `/`, so the
/// form cannot be used to redirect users elsewhere.
fn local_path(resource: Option<&str>) -> &str {
    match resource {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && HeaderValue::from_str(path).is_ok() =>
        {
            path
        }
        _ => "/",
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    resource: Option<String>,
}

async fn login_page(
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Html<String> {
    let resource = query.ok().and_then(|Query(q)| q.resource);
    Html(page::login(local_path(resource.as_deref()), None))
}

async fn home(State(app): State<Arc<App>>, identity: Option<Identity>) -> Html<String> {
    match identity {
        Some(identity) => Html(page::signed_in(&identity.subject, &app.instance)),
        None => Html(page::login("/", None)),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    j_username: String,
    j_password: String,
    resource: Option<String>,
}

/// `POST /j_security_check`: checks the password against this instance's
/// users file, then sets the login cookie and redirects (303) to
/// `resource`. A wrong password and an unknown user get the same 401 page;
/// the log says which.
async fn login(
    State(app): State<Arc<App>>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let reason = rejection.body_text();
            tracing::info!("refused login: malformed form: {reason}");
            let message = format!(
                "malformed login form: {reason}; send j_username and j_password as \
                 application/x-www-form-urlencoded\n"
            );
            return (rejection.status(), message).into_response();
        }
    };
    let resource = local_path(form.resource.as_deref()).to_owned();
    let checked = {
        let Ok(_permit) = app.hashing.acquire().await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        let users = app.users.current();
        let (name, password) = (form.j_username.clone(), form.j_password);
        tokio::task::spawn_blocking(move || users.check_password(&name, &password)).await
    };
    let user = form.j_username;
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            tracing::info!("refused login for {user:?}: {reason}");
            let page = page::login(&resource, Some("Wrong user name or password."));
            return (StatusCode::UNAUTHORIZED, Html(page)).into_response();
        }
        Err(e) => {
            tracing::error!("password check failed: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let cookie = match app
        .auth
        .login_cookie(user.as_str(), std::iter::empty::<(String, String)>())
    {
        Ok(cookie) => cookie,
        Err(e) => {
            tracing::error!("refused login for {user:?}: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    tracing::info!("login: {user:?}");
    let location = HeaderValue::from_str(&resource).unwrap_or(HeaderValue::from_static("/"));
    (
        StatusCode::SEE_OTHER,
        [(SET_COOKIE, cookie), (LOCATION, location)],
    )
        .into_response()
}

/// `GET /auth`, for nginx `auth_request`: 200 naming the user in
/// X-Auth-User; the guard answers 401 (or 503) and logs why.
async fn auth_request(identity: Identity) -> Response {
    match HeaderValue::from_bytes(identity.subject.as_bytes()) {
        Ok(user) => (StatusCode::OK, [(X_AUTH_USER.clone(), user)]).into_response(),
        Err(_) => {
            tracing::error!(
                "user {:?} cannot be named in an HTTP header",
                identity.subject
            );
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /whoami`: the claims of the request's token as JSON.
async fn whoami(State(app): State<Arc<App>>, identity: Identity) -> Response {
    let body = serde_json::json!({
        "subject": identity.subject,
        "audience": identity.audience,
        "attributes": identity.attributes,
        "token_id": identity.token_id.to_string(),
        "key_id": identity.key_id.to_string(),
        "issued_at": identity.issued_at.unix_timestamp(),
        "expires_at": identity.expires_at.unix_timestamp(),
        "source": match identity.source {
            CredentialSource::Cookie => "cookie",
            CredentialSource::Bearer => "bearer",
        },
        "instance": app.instance,
    });
    json(StatusCode::OK, &body)
}

/// `POST /logout`: clears the cookie and goes back to the login page.
async fn logout(State(app): State<Arc<App>>) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, app.auth.logout_cookie()),
            (LOCATION, HeaderValue::from_static("/login")),
        ],
    )
        .into_response()
}

/// `GET /healthz`: up, and which ring this instance holds (compare across
/// instances after copying a key directory).
async fn healthz(State(app): State<Arc<App>>) -> Response {
    let ring = app.auth.ring();
    let body = serde_json::json!({
        "status": "ok",
        "instance": app.instance,
        "ring": ring_fingerprint(&ring),
        "active_key": ring.active().id().to_string(),
    });
    json(StatusCode::OK, &body)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut text = serde_json::to_string_pretty(body).unwrap_or_default();
    text.push('\n');
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        text,
    )
        .into_response()
}
