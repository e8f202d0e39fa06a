//! The browser's routes: the login page, the password check on
//! `POST /j_security_check`, the signed-in greeting, and logout.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use encapsulated_token::handler::{Identity, Session};
use serde::Deserialize;

use super::app::App;
use super::farm::{self, Reach};
use super::metrics::Login;
use super::page;
use super::redirect::LocalTarget;
use super::sso::routes::SSO_ATTRIBUTE;
use crate::users::{MAX_NAME_LEN, MAX_PASSWORD_LEN, check_password};

/// `?resource=PATH`: where a login ends (the password form's and single
/// sign-on's).
#[derive(Deserialize)]
pub struct LoginQuery {
    pub resource: Option<String>,
}

/// `GET /login?resource=...`: the form, its hidden `resource` already
/// judged, so the page never carries a target that leaves the site.
pub async fn login_page(
    State(app): State<Arc<App>>,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Html<String> {
    let resource = query.ok().and_then(|Query(q)| q.resource);
    Html(page::login(
        &app.login_page,
        &LocalTarget::judge(resource.as_deref()),
        None,
    ))
}

pub async fn home(State(app): State<Arc<App>>, identity: Option<Identity>) -> Html<String> {
    match identity {
        Some(identity) => Html(page::signed_in(&identity.subject, &app.instance)),
        None => Html(page::login(&app.login_page, &LocalTarget::root(), None)),
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
    if !app.login_page.password {
        tracing::info!("refused login: --password-login is off");
        return (StatusCode::FORBIDDEN, "password login is off here\n").into_response();
    }
    let wrong = |status| {
        let page = page::login(
            &app.login_page,
            &resource,
            Some("Wrong user name or password."),
        );
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
            &app.login_page,
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
        let hash = app.users.snapshot().password(&form.j_username);
        let password = form.j_password;
        tokio::task::spawn_blocking(move || check_password(hash.as_deref(), &password)).await
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
    // A session begun now must not count as one a revocation ended (the
    // revocation may come from a clock a little ahead, or this second).
    let revoked_before = app.users.snapshot().sessions_revoked_before(&user);
    let claims = match app.auth.claims_after(user.as_str(), revoked_before) {
        Ok(claims) => claims,
        Err(e) => {
            tracing::error!("refused login for {shown}: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let cookie = match app.auth.session_cookie(&claims) {
        Ok(cookie) => cookie,
        Err(e) => {
            tracing::error!("refused login for {shown}: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let session = Session::new(&claims.subject, claims.session_started_at);
    let recorded = farm::record_session(
        &app.source,
        &session,
        &claims.token_id.to_string(),
        claims.expires_at,
        app.auth.config().max_session(),
    )
    .await;
    if let Err(e) = recorded {
        tracing::error!("refused login for {shown}: the session cannot be recorded: {e}");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    tracing::info!(%client, outcome = "ok", subject = %shown, "login: {shown}");
    app.metrics.login(Login::Ok);
    (
        StatusCode::SEE_OTHER,
        [(SET_COOKIE, cookie), (LOCATION, resource.header_value())],
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LogoutQuery {
    everywhere: Option<bool>,
}

/// `POST /logout`: clears the cookie and goes back to the login page. In
/// the stateful mode the session ends on every instance at once.
/// `?everywhere=true` also ends every other session of the signed-in user:
/// farm-wide with the Redis directory, in this instance's users file
/// otherwise (the page says so: other instances follow when the file is
/// replicated to them).
pub async fn logout(
    State(app): State<Arc<App>>,
    identity: Option<Identity>,
    query: Result<Query<LogoutQuery>, QueryRejection>,
) -> Response {
    let everywhere = matches!(
        query,
        Ok(Query(LogoutQuery {
            everywhere: Some(true)
        }))
    );
    let Some(identity) = identity else {
        return signed_out(&app, None, false);
    };
    let at_provider = identity.attribute(SSO_ATTRIBUTE).is_some();
    match farm::logout(&app.source, &app.users, &identity, everywhere).await {
        Ok(reach) => {
            let shown = etoken::quoted(&identity.subject);
            match &reach {
                Some(Reach::Farm) => tracing::info!("logout everywhere: {shown}, farm-wide"),
                Some(Reach::ThisInstance) => {
                    tracing::info!("logout everywhere: {shown}, in this instance's users file")
                }
                None => tracing::info!("logout: {shown}"),
            }
            signed_out(&app, reach, at_provider)
        }
        Err(e) => {
            tracing::error!(
                "logout of {} failed: {e}",
                etoken::quoted(&identity.subject)
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the directory cannot be written now; your sessions are not ended, try again\n",
            )
                .into_response()
        }
    }
}

/// The logout's answer: the cookie cleared, and the browser sent on to
/// the login page, or to the provider's end-session endpoint for a session
/// begun there (which sends it back to the login page).
fn signed_out(app: &App, reach: Option<Reach>, at_provider: bool) -> Response {
    let cookie = (SET_COOKIE, app.auth.logout_cookie());
    let message = match reach {
        None => {
            let provider = app
                .sso
                .as_deref()
                .filter(|_| at_provider)
                .and_then(|sso| sso.end_session_url())
                .and_then(|url| HeaderValue::from_str(url.as_str()).ok());
            let next = provider.unwrap_or(HeaderValue::from_static("/login"));
            return (StatusCode::SEE_OTHER, [cookie, (LOCATION, next)]).into_response();
        }
        Some(Reach::Farm) => {
            "Signed out everywhere: every instance of the farm refuses your earlier sessions."
        }
        Some(Reach::ThisInstance) => {
            "Signed out everywhere on this instance: its users file ends your earlier sessions; \
             other instances follow when the file is replicated to them."
        }
    };
    let page = page::login(&app.login_page, &LocalTarget::root(), Some(message));
    (StatusCode::OK, [cookie], Html(page)).into_response()
}
