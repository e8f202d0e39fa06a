//! The browser's routes: the login page, the password check on
//! `POST /j_security_check`, the signed-in greeting, and logout.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use encapsulated_token::handler::Identity;
use serde::Deserialize;

use super::app::App;
use super::metrics::Login;
use super::page;
use super::redirect::LocalTarget;
use crate::users::{MAX_NAME_LEN, MAX_PASSWORD_LEN};

#[derive(Deserialize)]
pub struct LoginQuery {
    resource: Option<String>,
}

/// `GET /login?resource=...`: the form, its hidden `resource` already
/// judged, so the page never carries a target that leaves the site.
pub async fn login_page(query: Result<Query<LoginQuery>, QueryRejection>) -> Html<String> {
    let resource = query.ok().and_then(|Query(q)| q.resource);
    Html(page::login(&LocalTarget::judge(resource.as_deref()), None))
}

pub async fn home(State(app): State<Arc<App>>, identity: Option<Identity>) -> Html<String> {
    match identity {
        Some(identity) => Html(page::signed_in(&identity.subject, &app.instance)),
        None => Html(page::login(&LocalTarget::root(), None)),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    j_username: String,
    j_password: String,
    resource: Option<String>,
}

/// `POST /j_security_check`: checks the password against this instance's
/// users file, then sets the login cookie and redirects (303) to
/// `resource` as [`LocalTarget`] judges it. A wrong password and an unknown
/// user get the same 401 page; the log says which. Over-long names and
/// passwords, and clients past their attempts (429 with `Retry-After`), are
/// refused before any hashing.
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
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
    let resource = LocalTarget::judge(form.resource.as_deref());
    let wrong = |status| {
        let page = page::login(&resource, Some("Wrong user name or password."));
        (status, Html(page)).into_response()
    };
    let shown = etoken::quoted(&form.j_username);
    if form.j_username.len() > MAX_NAME_LEN || form.j_password.len() > MAX_PASSWORD_LEN {
        tracing::info!(outcome = "failed", subject = %shown, "refused login for {shown}: user name or password over its bound");
        app.metrics.login(Login::Failed);
        return wrong(StatusCode::UNAUTHORIZED);
    }
    let client = app.logins.proxies.client(peer.ip(), &headers);
    if let Err(retry) = app.logins.throttle.attempt(&form.j_username, client) {
        let seconds = retry.seconds();
        tracing::info!(%client, outcome = "throttled", subject = %shown, "throttled login for {shown}: retry after {seconds}s");
        app.metrics.login(Login::Throttled);
        let page = page::login(
            &resource,
            Some(&format!(
                "Too many attempts. Try again in {seconds} seconds."
            )),
        );
        let retry_after = HeaderValue::from(seconds);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(RETRY_AFTER, retry_after)],
            Html(page),
        )
            .into_response();
    }
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
        Ok(Ok(())) => app.logins.throttle.succeeded(&user),
        Ok(Err(reason)) => {
            tracing::info!(%client, outcome = "failed", subject = %shown, "refused login for {shown}: {reason}");
            app.metrics.login(Login::Failed);
            return wrong(StatusCode::UNAUTHORIZED);
        }
        Err(e) => {
            tracing::error!("password check failed: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    after_revocation(&app, &user).await;
    let cookie = match app
        .auth
        .login_cookie(user.as_str(), std::iter::empty::<(String, String)>())
    {
        Ok(cookie) => cookie,
        Err(e) => {
            tracing::error!("refused login for {shown}: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    tracing::info!(%client, outcome = "ok", subject = %shown, "login: {shown}");
    app.metrics.login(Login::Ok);
    (
        StatusCode::SEE_OTHER,
        [(SET_COOKIE, cookie), (LOCATION, resource.header_value())],
    )
        .into_response()
}

/// A login in the second that revoked the user's sessions waits for that
/// second to pass, so its token (issued in whole seconds) does not count as
/// begun before the revocation. At most 2 s: a revocation further ahead
/// comes from a writer whose clock runs ahead of ours, and is logged.
async fn after_revocation(app: &App, user: &str) {
    let Some(before) = app.users.current().sessions_revoked_before(user) else {
        return;
    };
    let wait = before - app.auth.now();
    if !wait.is_positive() {
        return;
    }
    if wait > time::Duration::seconds(2) {
        tracing::warn!(
            "sessions of {user:?} are revoked until {before}, {wait} ahead of this \
             instance's clock: the new login will be refused until then; check the clocks"
        );
        return;
    }
    tokio::time::sleep(wait.unsigned_abs()).await;
}

/// `POST /logout`: clears the cookie and goes back to the login page.
pub async fn logout(State(app): State<Arc<App>>) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, app.auth.logout_cookie()),
            (LOCATION, HeaderValue::from_static("/login")),
        ],
    )
        .into_response()
}
