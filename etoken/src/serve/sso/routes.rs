//! The single sign-on routes: each reads its request, calls one function
//! of this module's parts, and shapes the response. Every refusal is a 4xx
//! page with a "try again" link, its reason logged (client text truncated
//! and escaped), and the state cookie cleared.

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use encapsulated_token::handler::Session;
use serde::Deserialize;

use super::Sso;
use super::callback::{self, CallbackQuery, Refusal, Vouched};
use super::logout_token;
use super::provision;
use super::rules::group_attributes;
use super::state::{self, LoginState};
use crate::serve::app::App;
use crate::serve::farm;
use crate::serve::login::LoginQuery;
use crate::serve::metrics::Login;
use crate::serve::page;
use crate::serve::redirect::LocalTarget;

/// The attribute that marks a session begun at the provider, so logout
/// sends the browser there too.
pub const SSO_ATTRIBUTE: &str = "sso";
/// The attribute carrying the verified email.
pub const EMAIL_ATTRIBUTE: &str = "email";

/// `GET /sso/login?resource=PATH`: off to the provider (302), the login's
/// state in the `sso-state` cookie.
pub async fn login(
    State(app): State<Arc<App>>,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let Some(sso) = app.sso.as_deref() else {
        return not_configured();
    };
    let resource = LocalTarget::judge(query.ok().and_then(|Query(q)| q.resource).as_deref());
    match callback::begin(sso, &app.auth, resource) {
        Ok(begun) => match HeaderValue::from_str(begun.location.as_str()) {
            Ok(location) => (
                StatusCode::FOUND,
                [(LOCATION, location), (SET_COOKIE, begun.cookie)],
            )
                .into_response(),
            Err(e) => internal(&format!("the authorization URL is no header: {e}")),
        },
        Err(e) => internal(&e),
    }
}

/// `GET /sso/callback`: the provider's answer. On success our login cookie
/// is set and the browser goes to the resource (303).
pub async fn callback(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let Some(sso) = app.sso.as_deref() else {
        return not_configured();
    };
    let login = match state::from_request(&headers, sso.secure)
        .and_then(|token| LoginState::open(&token, &app.auth))
    {
        Ok(login) => login,
        Err(e) => return refuse(&app, sso, None, &Refusal::BadRequest(e.to_string())),
    };
    let query = match query {
        Ok(Query(query)) => query,
        Err(e) => return refuse(&app, sso, Some(&login), &Refusal::BadRequest(e.body_text())),
    };
    let vouched = match callback::finish(sso, &query, &login).await {
        Ok(vouched) => vouched,
        Err(refusal) => return refuse(&app, sso, Some(&login), &refusal),
    };
    match sign_in(&app, sso, &vouched).await {
        Ok(cookie) => {
            let shown = etoken::quoted(&vouched.admitted.name);
            tracing::info!(outcome = "ok", subject = %shown, "sso login: {shown}");
            app.metrics.login(Login::Ok);
            let mut response = (
                StatusCode::SEE_OTHER,
                [(LOCATION, login.resource.header_value())],
            )
                .into_response();
            response.headers_mut().append(SET_COOKIE, cookie);
            response
                .headers_mut()
                .append(SET_COOKIE, state::clear_cookie(sso.secure));
            response
        }
        Err(refusal) => refuse(&app, sso, Some(&login), &refusal),
    }
}

/// Provisions the user and mints our login cookie, with the session limits
/// of password logins and the email and groups in its attributes.
async fn sign_in(app: &App, sso: &Sso, vouched: &Vouched) -> Result<HeaderValue, Refusal> {
    let admitted = &vouched.admitted;
    provision::provision(
        &app.source,
        &app.users,
        &sso.file_lock,
        &vouched.issuer,
        &vouched.subject,
        admitted,
    )
    .await
    .map_err(|refused| match refused {
        provision::Refused::Unavailable(why) => Refusal::Unavailable(why),
        other => Refusal::Forbidden(other.to_string()),
    })?;
    let revoked_before = app.users.snapshot().sessions_revoked_before(&admitted.name);
    let mut claims = app
        .auth
        .claims_after(admitted.name.as_str(), revoked_before)
        .map_err(|e| Refusal::Unavailable(e.to_string()))?;
    claims
        .attributes
        .insert(SSO_ATTRIBUTE.into(), "oidc".into());
    if let Some(email) = admitted
        .email
        .as_ref()
        .filter(|e| e.len() <= encapsulated_token::format::MAX_ATTRIBUTE_VALUE_LEN)
    {
        claims
            .attributes
            .insert(EMAIL_ATTRIBUTE.into(), email.clone());
    }
    for (name, value) in group_attributes(&admitted.groups) {
        claims.attributes.insert(name.into(), value);
    }
    let cookie = app
        .auth
        .session_cookie(&claims)
        .map_err(|e| Refusal::Unavailable(format!("cannot mint the login token: {e}")))?;
    let session = Session::new(&claims.subject, claims.session_started_at);
    farm::record_session(
        &app.source,
        &session,
        &claims.token_id.to_string(),
        claims.expires_at,
        app.auth.config().max_session(),
    )
    .await
    .map_err(|e| Refusal::Unavailable(format!("the session cannot be recorded: {e}")))?;
    Ok(cookie)
}

#[derive(Deserialize)]
pub struct LogoutForm {
    logout_token: String,
}

/// `POST /sso/backchannel-logout`: the provider says the user logged out
/// there; every session of the user ends, farm-wide with Redis. 200 when
/// the logout token checks out, 400 (and nothing revoked) otherwise.
pub async fn backchannel_logout(
    State(app): State<Arc<App>>,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let Some(sso) = app.sso.as_deref() else {
        return not_configured();
    };
    let refused = |why: &str| {
        tracing::info!("back-channel logout refused: {why}");
        (StatusCode::BAD_REQUEST, "logout token refused\n").into_response()
    };
    let token = match form {
        Ok(Form(form)) => form.logout_token,
        Err(e) => {
            return refused(&format!(
                "malformed request: {}",
                etoken::truncated(&e.body_text())
            ));
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let check = || {
        logout_token::check(
            &token,
            &sso.provider.keys.current().logout_tokens,
            &sso.logout_tokens,
            now,
        )
    };
    let logged_out = match check() {
        Err(logout_token::Refused::UnknownKey(_)) if sso.provider.keys.refetch().await => check(),
        other => other,
    };
    let subject = match logged_out {
        Ok(logged_out) => logged_out.subject,
        Err(e) => return refused(&e.to_string()),
    };
    let issuer = sso.provider.issuer().as_str();
    let name = match provision::find(&app.source, issuer, &subject).await {
        Ok(Some(name)) => name,
        Ok(None) => {
            tracing::info!(
                "back-channel logout of {}: no user bound to it here",
                etoken::quoted(&subject)
            );
            return (StatusCode::OK, "").into_response();
        }
        Err(e) => {
            tracing::error!("back-channel logout of {}: {e}", etoken::quoted(&subject));
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the directory cannot be read now\n",
            )
                .into_response();
        }
    };
    match app.source.revoke_sessions(&app.users, &name).await {
        Ok(reach) => {
            let reach = match reach {
                farm::Reach::Farm => "farm-wide",
                farm::Reach::ThisInstance => "in this instance's users file",
            };
            tracing::info!(
                "back-channel logout: the sessions of {} end, {reach}",
                etoken::quoted(&name)
            );
            (StatusCode::OK, "").into_response()
        }
        Err(e) => {
            tracing::error!("back-channel logout of {}: {e}", etoken::quoted(&name));
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the directory cannot be written now\n",
            )
                .into_response()
        }
    }
}

/// A refusal: its page with a "try again" link back to the resource, the
/// reason logged, the state cookie cleared.
fn refuse(app: &App, sso: &Sso, login: Option<&LoginState>, refusal: &Refusal) -> Response {
    let (status, reason, message) = match refusal {
        Refusal::BadRequest(why) => (
            StatusCode::BAD_REQUEST,
            why,
            "The sign-in could not be completed.",
        ),
        Refusal::Forbidden(why) => (StatusCode::FORBIDDEN, why, "You may not sign in here."),
        Refusal::Unavailable(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            why,
            "Signing in is not possible right now.",
        ),
    };
    tracing::info!(
        outcome = "failed",
        "sso login refused ({}): {reason}",
        status.as_u16()
    );
    app.metrics.login(Login::Failed);
    let resource = login.map_or_else(LocalTarget::root, |l| l.resource.clone());
    let again = format!(
        "/sso/login?resource={}",
        form_urlencoded::byte_serialize(resource.as_str().as_bytes()).collect::<String>()
    );
    (
        status,
        [(SET_COOKIE, state::clear_cookie(sso.secure))],
        Html(page::sso_refused(message, &again)),
    )
        .into_response()
}

fn not_configured() -> Response {
    (StatusCode::NOT_FOUND, "single sign-on is not configured\n").into_response()
}

fn internal(why: &str) -> Response {
    tracing::error!("sso: {why}");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
