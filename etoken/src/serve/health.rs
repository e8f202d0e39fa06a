//! `/healthz`: whether this instance can serve, and which ring it holds.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::app::{App, json};
use crate::keydir::ring_fingerprint;

/// `GET /healthz`: up, and which ring this instance holds (compare across
/// instances after copying a key directory).
pub async fn healthz(State(app): State<Arc<App>>) -> Response {
    let ring = app.auth.ring();
    let body = serde_json::json!({
        "status": "ok",
        "instance": app.instance,
        "ring": ring_fingerprint(&ring),
        "active_key": ring.active().id().to_string(),
    });
    json(StatusCode::OK, &body)
}
