//! The token endpoints: `POST /ims/exchange/jwt` (IMS's JWT exchange,
//! `expires_in` in milliseconds) and `POST /ims/token/v3` (OAuth client
//! credentials and RFC 7523, `expires_in` in seconds). The rules are
//! [`crate::grants`]; these read the form and shape the answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::app::{App, json};
use super::form::{FormRefusal, TokenForm};
use crate::grants::{self, Basic, Fields, Issued, OAuthError, TokenSettings};
use crate::services::Services;
use encapsulated_token::handler::Authenticator;

/// A grant rule of [`crate::grants`].
type Grant = fn(
    &Authenticator,
    &Services,
    &TokenSettings,
    &Fields,
    Option<&Basic>,
) -> Result<Issued, OAuthError>;

/// Runs `grant` on the request with the services as of now.
fn run(app: &App, form: &TokenForm, grant: Grant) -> Result<Issued, OAuthError> {
    let services = app.services.current();
    grant(
        &app.auth,
        &services,
        &app.tokens,
        &form.fields,
        form.basic.as_ref(),
    )
}

/// `POST /ims/exchange/jwt`.
pub async fn exchange_jwt(State(app): State<Arc<App>>, form: TokenForm) -> Response {
    let issued = run(&app, &form, grants::exchange_jwt);
    answer(
        &app,
        "/ims/exchange/jwt",
        "jwt_exchange",
        issued,
        |issued| {
            json!({
                "token_type": "bearer",
                "access_token": issued.access_token,
                "expires_in": issued.expires_in.as_millis() as u64,
            })
        },
    )
}

/// `POST /ims/token/v3`.
pub async fn token_v3(State(app): State<Arc<App>>, form: TokenForm) -> Response {
    let issued = run(&app, &form, grants::token_v3);
    let grant = grants::grant_name(&form.fields);
    answer(&app, "/ims/token/v3", grant, issued, |issued| {
        json!({
            "access_token": issued.access_token,
            "token_type": "bearer",
            "expires_in": issued.expires_in.as_secs(),
        })
    })
}

/// The answer to a `grant` (a [`grants::grant_name`]), counted.
fn answer(
    app: &App,
    route: &str,
    grant: &'static str,
    issued: Result<Issued, OAuthError>,
    body: impl FnOnce(&Issued) -> serde_json::Value,
) -> Response {
    let outcome = issued.as_ref().map_or_else(|e| e.code, |_| "ok");
    app.metrics.exchange(grant, outcome);
    match issued {
        Ok(issued) => json(StatusCode::OK, &body(&issued)),
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            refusal(route, status, error)
        }
    }
}

/// An RFC 6749 §5.2 error body; the reason goes to the log.
fn refusal(route: &str, status: StatusCode, error: OAuthError) -> Response {
    tracing::info!(route, error = error.code, "token refused: {}", error.reason);
    let mut response = json(
        status,
        &json!({"error": error.code, "error_description": error.description}),
    );
    if status == StatusCode::UNAUTHORIZED && error.basic {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"etoken\""),
        );
    }
    response
}

impl IntoResponse for FormRefusal {
    fn into_response(self) -> Response {
        let FormRefusal(status, error) = self;
        refusal("token endpoint", status, error)
    }
}
