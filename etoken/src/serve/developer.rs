//! The local development token: a signed-in user gets a bearer token for
//! themself. `GET /developer` offers it with a button (a plain form, no
//! script, so a strict Content-Security-Policy fits); `POST
//! /developer/token` mints it and answers `{"accessToken":..,
//! "expiresIn":..}` (milliseconds, as IMS counts), or, for the page's form,
//! a page showing it. Only same-origin requests get one: a request whose
//! `Origin` or `Sec-Fetch-Site` says it comes from another site is refused
//! (403), and the login cookie is SameSite.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{ACCEPT, HOST, ORIGIN};
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
    if let Err(reason) = same_origin(&headers, &app) {
        tracing::info!(user = identity.subject, "developer token refused: {reason}");
        return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
    }
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

/// Refuses a request that says it comes from another site: `Sec-Fetch-Site`
/// other than `same-origin`, or an `Origin` that is neither this request's
/// host nor a public URL. A request with neither header (a script, curl)
/// carries the cookie it was given and passes.
fn same_origin(headers: &HeaderMap, app: &App) -> Result<(), String> {
    if let Some(site) = headers
        .get("sec-fetch-site")
        .filter(|site| site.as_bytes() != b"same-origin")
    {
        let site = site.to_str().unwrap_or("(not ASCII)");
        return Err(format!("Sec-Fetch-Site: {:?}", etoken::truncated(site)));
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let matches_host = url::Url::parse(origin).ok().is_some_and(|url| {
        let authority = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => return false,
        };
        host.is_some_and(|host| host.eq_ignore_ascii_case(&authority))
    });
    let public = app.tokens.public_urls.iter().any(|u| u.as_str() == origin);
    if matches_host || public {
        Ok(())
    } else {
        Err(format!("Origin {:?}", etoken::truncated(origin)))
    }
}
