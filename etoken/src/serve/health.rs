//! `/healthz`: whether this instance can serve, and which ring it holds.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::app::{App, json};
use time::format_description::well_known::Rfc3339;

use crate::keydir::ring_fingerprint;

/// `GET /healthz`: up, and which ring this instance holds (compare across
/// instances after copying a key directory). `"status": "degraded"` (still
/// 200: the instance serves from its last good copy, and a restart would not
/// start) lists each file that fails to reload, why, and since when, and a
/// Redis directory the snapshot has not followed since T.
pub async fn healthz(State(app): State<Arc<App>>) -> Response {
    let ring = app.auth.ring();
    let failures = app.reloads.failures();
    let mut degraded: Vec<_> = failures
        .iter()
        .map(|(source, failure)| {
            serde_json::json!({
                "source": source,
                "path": failure.path.display().to_string(),
                "error": failure.error,
                "since": failure.since.format(&Rfc3339).unwrap_or_default(),
            })
        })
        .collect();
    // Redis away: still 200, the snapshot serves every request.
    if let Some((since, error)) = app.source.stale() {
        degraded.push(serde_json::json!({
            "source": "directory",
            "stale_since": since.format(&Rfc3339).unwrap_or_default(),
            "since": since.format(&Rfc3339).unwrap_or_default(),
            "error": error,
        }));
    }
    let body = serde_json::json!({
        "status": if degraded.is_empty() { "ok" } else { "degraded" },
        "degraded": degraded,
        "instance": app.instance,
        "ring": ring_fingerprint(&ring),
        "active_key": ring.active().id().to_string(),
    });
    json(StatusCode::OK, &body)
}
