//! `/auth` for nginx `auth_request`, and `/whoami`: what the guard let
//! through, said in a header or as JSON.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use encapsulated_token::handler::{CredentialSource, Identity};
use serde::Deserialize;

use super::app::{App, json};
use super::sso::routes::EMAIL_ATTRIBUTE;
use super::sso::rules::groups_header;

/// The header `/auth` names the user in, for nginx to pass upstream.
pub static X_AUTH_USER: HeaderName = HeaderName::from_static("x-auth-user");

/// The user's verified email (single sign-on users).
pub static X_AUTH_EMAIL: HeaderName = HeaderName::from_static("x-auth-email");
/// The user's groups at the provider, comma-separated (empty for others).
pub static X_AUTH_GROUPS: HeaderName = HeaderName::from_static("x-auth-groups");

#[derive(Deserialize)]
pub struct AuthQuery {
    group: Option<String>,
}

/// `GET /auth`, for nginx `auth_request`: 200 naming the user in
/// X-Auth-User, with X-Auth-Email and X-Auth-Groups for single sign-on
/// users (what the provider vouched for at login); the guard answers 401
/// (or 503) and logs why. `?group=G` answers 403 unless G is one of the
/// user's groups, so nginx authorizes a location by group (its own `if`
/// runs before `auth_request`, so it cannot).
pub async fn auth_request(
    identity: Identity,
    query: Result<Query<AuthQuery>, QueryRejection>,
) -> Response {
    let groups = groups_header(|name| identity.attribute(name));
    let required = match query {
        Ok(Query(query)) => query.group,
        Err(e) => return (StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    if let Some(group) = required
        && !groups.split(',').any(|g| g == group)
    {
        tracing::info!(
            "authorization refused: {} is not in group {}",
            etoken::quoted(&identity.subject),
            etoken::quoted(&group)
        );
        return StatusCode::FORBIDDEN.into_response();
    }
    let email = identity
        .attribute(EMAIL_ATTRIBUTE)
        .map(HeaderValue::from_str);
    match (
        HeaderValue::from_bytes(identity.subject.as_bytes()),
        HeaderValue::from_str(&groups),
        email.transpose(),
    ) {
        (Ok(user), Ok(groups), Ok(email)) => {
            let mut response = (
                StatusCode::OK,
                [(X_AUTH_USER.clone(), user), (X_AUTH_GROUPS.clone(), groups)],
            )
                .into_response();
            if let Some(email) = email {
                response.headers_mut().insert(X_AUTH_EMAIL.clone(), email);
            }
            response
        }
        _ => {
            tracing::error!(
                "user {:?} cannot be named in an HTTP header",
                identity.subject
            );
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /whoami`: the claims of the request's token as JSON.
pub async fn whoami(State(app): State<Arc<App>>, identity: Identity) -> Response {
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
