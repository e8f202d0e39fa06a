//! A small axum application behind the authentication handler: a login form,
//! a protected page (browser mode: redirects to the login form), a protected
//! JSON-ish API route (API mode: 401), logout.
//!
//! Run with `cargo run --example axum_app --features axum`, then open
//! <http://127.0.0.1:3000/> and log in as `alice` / `wonderland`. Or:
//!
//! ```text
//! curl -i -d 'user=alice&password=wonderland' http://127.0.0.1:3000/login
//! curl -i -b 'login-token=et2....' http://127.0.0.1:3000/api/me
//! ```
//!
//! The address can be changed with the `ADDR` environment variable.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, http::StatusCode};
use encapsulated_token::handler::{
    AuthConfig, Authenticator, DirectoryError, Identity, Session, Standing, UserDirectory,
};
use encapsulated_token::{Key, KeyRing};

/// The users of this instance with their passwords. A demo: a real server
/// keeps password hashes (argon2id, as `etoken serve` does), never passwords.
struct Users(HashMap<&'static str, &'static str>);

impl UserDirectory for Users {
    async fn standing(&self, session: &Session<'_>) -> Result<Standing, DirectoryError> {
        // A real store would also keep each user's "sessions revoked before"
        // time and answer `Standing::of(session, revoked_before)`.
        Ok(match self.0.contains_key(session.subject) {
            true => Standing::of(session, None),
            false => Standing::Unknown,
        })
    }
}

#[derive(Clone)]
struct App {
    auth: Authenticator,
    users: Arc<Users>,
}

#[derive(serde::Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login_page() -> Html<&'static str> {
    Html(
        "<form method=post action=/login>\
         <input name=user placeholder=user> \
         <input name=password type=password placeholder=password> \
         <button>Log in</button></form>",
    )
}

async fn login(State(app): State<App>, Form(form): Form<LoginForm>) -> Response {
    if app.users.0.get(form.user.as_str()) != Some(&form.password.as_str()) {
        return (StatusCode::UNAUTHORIZED, "wrong user or password\n").into_response();
    }
    match app.auth.login_cookie(form.user, [("role", "reader")]) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn home(identity: Identity) -> Html<String> {
    Html(format!(
        "<p>Hello {}, your session ends at {} unless you keep using it.</p>\
         <form method=post action=/logout><button>Log out</button></form>",
        identity.subject, identity.expires_at
    ))
}

async fn me(identity: Identity) -> String {
    format!(
        "subject={} role={} token_id={} expires_at={}\n",
        identity.subject,
        identity.attribute("role").unwrap_or("-"),
        identity.token_id,
        identity.expires_at
    )
}

async fn logout(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::SET_COOKIE, app.auth.logout_cookie())],
        Redirect::to("/login"),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .init();

    // In a farm every instance loads the same ring: `KeyRing::load(dir)`.
    let ring = KeyRing::new(Key::generate()?);
    let users = Arc::new(Users(HashMap::from([
        ("alice", "wonderland"),
        ("bob", "builder"),
    ])));
    // Plain http on localhost: a browser would not send a `Secure` cookie.
    let config = AuthConfig::new().with_secure(false);
    let auth = Authenticator::new(ring, config, users.clone())?;

    let pages = Router::new()
        .route("/", get(home))
        .route("/logout", post(logout))
        .route_layer(auth.layer().redirect_to(HeaderValue::from_static("/login")));
    let api = Router::new()
        .route("/api/me", get(me))
        .route_layer(auth.layer());
    let app = Router::new()
        .merge(pages)
        .merge(api)
        .route("/login", get(login_page).post(login))
        .with_state(App { auth, users });

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
