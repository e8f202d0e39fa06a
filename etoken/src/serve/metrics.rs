//! `--metrics-listen ADDR`: Prometheus metrics on `GET /metrics` of a
//! listener of their own, so the public port never exposes them. The
//! counters are `prometheus-client`'s; each is an atomic increment on the
//! request path. Label values come from fixed sets (error kinds, grant
//! names, matched routes), never from client text, so a client cannot grow
//! the number of series.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use encapsulated_token::handler::{AuthError, Authenticator, Identity};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::keydir::ring_fingerprint;

/// Every metric of one server. Cheap to clone; clones count into the same
/// series.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    authentications: Family<AuthLabels, Counter>,
    /// The `outcome="ok"` series of `authentications`, kept at hand: the
    /// hot path skips the family's lookup.
    authenticated: Counter,
    logins: Family<OutcomeLabels, Counter>,
    exchanges: Family<ExchangeLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    key_ring: Family<KeyRingLabels, Gauge>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExchangeLabels {
    grant: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    source: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyRingLabels {
    active_key: String,
    ring: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// How a login attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Login {
    /// The password matched: a cookie was set.
    Ok,
    /// Wrong password, unknown user, over-long input.
    Failed,
    /// Refused before hashing: too many attempts (429).
    Throttled,
}

/// Latency buckets from 100 µs to about 6.5 s, by factors of 4: `/auth`
/// answers in the first ones, a password check (argon2) in the middle.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 9))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The metrics, registered under the `etoken_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("etoken");
        let authentications = Family::<AuthLabels, Counter>::default();
        registry.register(
            "authentications",
            "Authentications (cookie or bearer) by outcome (ok, refused, unavailable) and \
             refusal reason (the library's AuthError kind)",
            authentications.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "logins",
            "Login form submissions by outcome (ok, failed, throttled)",
            logins.clone(),
        );
        let exchanges = Family::<ExchangeLabels, Counter>::default();
        registry.register(
            "token_exchanges",
            "Token endpoint requests by grant and outcome (ok or the OAuth error code)",
            exchanges.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reloads",
            "Checks of the key directory, users and services files (each poll or SIGHUP) by \
             source and outcome (ok, failed: the last good copy is kept)",
            reloads.clone(),
        );
        let key_ring = Family::<KeyRingLabels, Gauge>::default();
        registry.register(
            "key_ring_info",
            "The key ring in use: the active key's id and the ring's fingerprint (as /healthz)",
            key_ring.clone(),
        );
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "request_duration_seconds",
            "Time to answer a request, by matched route (unmatched for a 404)",
            latency.clone(),
        );
        let authenticated = authentications
            .get_or_create(&AuthLabels {
                outcome: "ok",
                reason: "",
            })
            .clone();
        Self(Arc::new(Inner {
            registry,
            authentications,
            authenticated,
            logins,
            exchanges,
            reloads,
            key_ring,
            latency,
        }))
    }

    /// Counts every authentication of `auth` from now on.
    pub fn observe(&self, auth: &Authenticator) -> Result<(), String> {
        let metrics = self.clone();
        auth.set_observer(move |outcome: Result<&Identity, &AuthError>| {
            metrics.authentication(outcome)
        })
        .map_err(|e| format!("cannot start: metrics: {e}"))
    }

    fn authentication(&self, outcome: Result<&Identity, &AuthError>) {
        match outcome {
            Ok(_) => {
                self.0.authenticated.inc();
            }
            Err(error) => {
                let outcome = if matches!(error, AuthError::Directory(_)) {
                    "unavailable"
                } else {
                    "refused"
                };
                let labels = AuthLabels {
                    outcome,
                    reason: error.kind(),
                };
                self.0.authentications.get_or_create(&labels).inc();
            }
        }
    }

    /// Counts a login attempt.
    pub fn login(&self, outcome: Login) {
        let outcome = match outcome {
            Login::Ok => "ok",
            Login::Failed => "failed",
            Login::Throttled => "throttled",
        };
        self.0
            .logins
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts a token endpoint request: `grant` from
    /// [`crate::grants::grant_name`], `outcome` "ok" or an OAuth error code.
    pub fn exchange(&self, grant: &'static str, outcome: &'static str) {
        let labels = ExchangeLabels { grant, outcome };
        self.0.exchanges.get_or_create(&labels).inc();
    }

    /// Counts one check of a reloaded `source` ("keys", "users", "services").
    pub fn reload(&self, source: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.0
            .reloads
            .get_or_create(&ReloadLabels { source, outcome })
            .inc();
    }

    /// The text exposition, with the key ring as `auth` holds it now.
    pub fn render(&self, auth: &Authenticator) -> String {
        let ring = auth.ring();
        let labels = KeyRingLabels {
            active_key: ring.active().id().to_string(),
            ring: ring_fingerprint(&ring),
        };
        if self.0.key_ring.get(&labels).is_none() {
            self.0.key_ring.clear();
            self.0.key_ring.get_or_create(&labels).set(1);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.0.registry);
        text
    }
}

/// The middleware timing every request by its matched route (never the raw
/// path: a scan of random URLs adds no series).
pub async fn time_requests(
    State(metrics): State<Metrics>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics
        .0
        .latency
        .get_or_create(&RouteLabels {
            route: route.to_owned(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The metrics listener's routes: `GET /metrics`, 404 elsewhere.
pub fn router(metrics: Metrics, auth: Authenticator) -> Router {
    let state = Arc::new((metrics, auth));
    Router::new()
        .route(
            "/metrics",
            get(
                |State(state): State<Arc<(Metrics, Authenticator)>>| async move {
                    let (metrics, auth) = &*state;
                    (
                        StatusCode::OK,
                        [(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT))],
                        metrics.render(auth),
                    )
                        .into_response()
                },
            ),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: try /metrics\n") })
        .with_state(state)
}

/// What `prometheus_client::encoding::text` writes: OpenMetrics text,
/// which Prometheus scrapes natively.
const CONTENT_TYPE_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;
    use encapsulated_token::{Key, KeyRing};

    fn authenticator() -> Authenticator {
        let ring = KeyRing::new(Key::generate().unwrap());
        let users = std::collections::HashSet::from(["alice".to_string()]);
        Authenticator::new(ring, Default::default(), users).unwrap()
    }

    #[tokio::test]
    async fn authentications_are_counted_by_outcome_and_reason() {
        let auth = authenticator();
        let metrics = Metrics::new();
        metrics.observe(&auth).unwrap();
        let mut headers = axum::http::HeaderMap::new();
        assert!(auth.authenticate(&headers).await.is_err());
        let token = auth.mint(&auth.claims_for("alice")).unwrap();
        headers.insert("cookie", format!("login-token={token}").parse().unwrap());
        auth.authenticate(&headers).await.unwrap();
        auth.authenticate(&headers).await.unwrap();
        let stranger = auth.mint(&auth.claims_for("mallory")).unwrap();
        headers.insert("cookie", format!("login-token={stranger}").parse().unwrap());
        assert!(auth.authenticate(&headers).await.is_err());

        let text = metrics.render(&auth);
        for line in [
            "etoken_authentications_total{outcome=\"ok\",reason=\"\"} 2",
            "etoken_authentications_total{outcome=\"refused\",reason=\"missing\"} 1",
            "etoken_authentications_total{outcome=\"refused\",reason=\"unknown_user\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(
            metrics.observe(&auth).is_err(),
            "one observer per authenticator"
        );
    }

    #[test]
    fn the_key_ring_info_follows_a_rotation() {
        let auth = authenticator();
        let metrics = Metrics::new();
        let before = auth.ring().active().id().to_string();
        assert!(
            metrics
                .render(&auth)
                .contains(&format!("active_key=\"{before}\""))
        );
        auth.replace_ring(KeyRing::new(Key::generate().unwrap()));
        let after = auth.ring().active().id().to_string();
        let text = metrics.render(&auth);
        assert!(text.contains(&format!("active_key=\"{after}\"")), "{text}");
        assert!(!text.contains(&before), "the old ring is gone: {text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
