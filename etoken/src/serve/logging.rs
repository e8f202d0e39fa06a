//! Log output on stderr: human text by default, or with `--log-format
//! json` one JSON object per line (tracing-subscriber's JSON formatter):
//! `timestamp`, `level`, `message` and the event's fields at the top
//! (`reason`, `outcome`, `subject`...), and under `span` the request's
//! `instance` and `route`. `RUST_LOG` filters either (default: info). No
//! log line carries a token, a password or a secret: the code logs none.

use std::io::IsTerminal;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use clap::ValueEnum;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use super::app::App;

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people (colored on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for a log pipeline.
    Json,
}

/// Installs the subscriber for `format`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The middleware putting each request's log lines in a `request` span
/// with the instance and the matched route (never the raw path, which is
/// client text).
pub async fn request_span(
    State(app): State<Arc<App>>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!("request", instance = %app.instance, route);
    next.run(request).instrument(span).await
}
