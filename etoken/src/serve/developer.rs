//! The local development token: a signed-in user gets a bearer token for
//! themself. `GET /developer` offers it with a button (a plain form, no
//! script, so a strict Content-Security-Policy fits); `POST
//! /developer/token` mints it and answers `{"accessToken":..,
//! "expiresIn":..}` (milliseconds, as IMS counts), or, for the page's form,
//! a page showing it. Only same-origin browser requests get one: the guard's
//! CSRF check in front of the route refuses a cross-site one, or one that
//! says nothing of its origin (403), and the login cookie is SameSite.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use encapsulated_token::handler::{CredentialSource, Identity};
use serde_json::json;

use super::app::{App, json};
use super::page;

/// `GET /developer`.
pub async fn page(identity: Identity) -> Html<String> {
    Html(page::developer(&identity.subject, None))
}

/// `POST /developer/token`.
pub async fn token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    identity: Identity,
) -> Response {
    if identity.source != CredentialSource::Cookie {
        // A bearer token cannot renew itself into a fresh one.
        tracing::info!(
            user = identity.subject,
            "developer token refused: not a browser session"
        );
        return (
            StatusCode::FORBIDDEN,
            "sign in with the browser to get a token\n",
        )
            .into_response();
    }
    let minted = crate::grants::developer_token(&app.auth, &identity.subject, &app.tokens);
    let issued = match minted {
        Ok(issued) => issued,
        Err(e) => {
            tracing::error!("developer token for {:?}: {}", identity.subject, e.reason);
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let wants_html = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        let shown = (issued.access_token.as_str(), issued.expires_in);
        Html(page::developer(&identity.subject, Some(shown))).into_response()
    } else {
        json(
            StatusCode::OK,
            &json!({
                "accessToken": issued.access_token,
                "expiresIn": issued.expires_in.as_millis() as u64,
            }),
        )
    }
}
