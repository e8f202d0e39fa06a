//! The authentication handler through a real axum `Router`, each scenario run
//! twice: in process with `oneshot`, and over real TCP on 127.0.0.1 with
//! reqwest against `axum::serve`.
#![cfg(feature = "axum")]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use cookie::Cookie;
use encapsulated_token::handler::{Authenticator, Identity};
use encapsulated_token::{Claims, Issuer, Key, KeyId, KeyRing};
use tower::ServiceExt;

mod common;
use common::{
    Down, LimitedSession, Revoking, aged_token, authenticator, config, hello, later, me, tampered,
    users,
};

// ---------------------------------------------------------------------------
// The application under test.

#[derive(serde::Deserialize)]
struct Login {
    user: String,
}

async fn login(State(auth): State<Authenticator>, Query(login): Query<Login>) -> impl IntoResponse {
    // The password check is the server's business; here every known user
    // may log in.
    match auth.login_cookie(login.user, [("role", "editor")]) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], "welcome").into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn logout(State(auth): State<Authenticator>, _identity: Identity) -> impl IntoResponse {
    ([(header::SET_COOKIE, auth.logout_cookie())], "bye")
}

fn app(auth: &Authenticator) -> Router {
    let api = Router::new()
        .route("/api/me", get(me))
        .route("/logout", post(logout))
        .route_layer(auth.layer());
    let pages = Router::new()
        .route("/page", get(me))
        .route_layer(auth.layer().redirect_to(HeaderValue::from_static("/login")));
    let open = Router::new()
        .route("/hello", get(hello))
        .route_layer(auth.layer().optional());
    Router::new()
        .merge(api)
        .merge(pages)
        .merge(open)
        .route("/login", post(login))
        .route("/no-layer", get(me))
        .with_state(auth.clone())
}

// ---------------------------------------------------------------------------
// Two ways to send a request.

#[derive(Clone, Copy, Debug)]
enum Transport {
    Oneshot,
    Tcp,
}

const TRANSPORTS: [Transport; 2] = [Transport::Oneshot, Transport::Tcp];

struct Harness {
    app: Router,
    base: Option<String>,
    client: reqwest::Client,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn set_cookies(&self) -> Vec<Cookie<'static>> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
            .collect()
    }

    /// Status, headers and body, minus the `date` header a real server adds.
    fn uniform_part(&self) -> (StatusCode, Vec<(String, Vec<u8>)>, String) {
        let headers = self
            .headers
            .iter()
            .filter(|(name, _)| *name != header::DATE)
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        (self.status, headers, self.body.clone())
    }
}

impl Harness {
    async fn start(transport: Transport, auth: &Authenticator) -> Self {
        let app = app(auth);
        let base = match transport {
            Transport::Oneshot => None,
            Transport::Tcp => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let served = app.clone();
                tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
                Some(format!("http://{addr}"))
            }
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Self { app, base, client }
    }

    async fn send(&self, request: Request<String>) -> Reply {
        match &self.base {
            None => {
                let response = self
                    .app
                    .clone()
                    .oneshot(request.map(Body::from))
                    .await
                    .unwrap();
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .unwrap();
                Reply {
                    status,
                    headers,
                    body: String::from_utf8(bytes.to_vec()).unwrap(),
                }
            }
            Some(base) => {
                let (mut parts, body) = request.into_parts();
                parts.uri = format!("{base}{}", parts.uri).parse().unwrap();
                let request = reqwest::Request::try_from(Request::from_parts(parts, body)).unwrap();
                let response = self.client.execute(request).await.unwrap();
                Reply {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: response.text().await.unwrap(),
                }
            }
        }
    }

    async fn get(&self, path: &str, headers: &[(header::HeaderName, String)]) -> Reply {
        self.send(request("GET", path, headers)).await
    }
}

fn request(method: &str, path: &str, headers: &[(header::HeaderName, String)]) -> Request<String> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.body(String::new()).unwrap()
}

fn cookie(token: &str) -> (header::HeaderName, String) {
    (header::COOKIE, format!("login-token={token}"))
}

fn bearer(token: &str) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {token}"))
}

fn assert_unauthorized(reply: &Reply, context: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{context}");
    assert_eq!(reply.body, "", "{context}: the body says nothing");
    assert_eq!(
        reply.headers[header::WWW_AUTHENTICATE],
        "Bearer",
        "{context}"
    );
    assert!(
        reply.set_cookies().is_empty(),
        "{context}: never a cookie on a 401"
    );
}

// ---------------------------------------------------------------------------
// Scenarios.

#[tokio::test]
async fn valid_cookie_is_accepted() {
    let auth = authenticator();
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let token = auth.mint(&auth.claims_for("alice")).unwrap();
        let reply = h.get("/api/me", &[cookie(&token)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{transport:?}");
        assert_eq!(reply.body, "alice via cookie", "{transport:?}");
        assert!(
            reply.set_cookies().is_empty(),
            "{transport:?}: fresh, no refresh"
        );
    }
}

#[tokio::test]
async fn login_then_use_the_cookie_then_logout() {
    let auth = authenticator();
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let reply = h.send(request("POST", "/login?user=alice", &[])).await;
        assert_eq!(reply.status, StatusCode::OK, "{transport:?}");
        let [set] = reply.set_cookies().try_into().unwrap();
        assert_eq!(set.name(), "login-token");
        assert_eq!(set.http_only(), Some(true));
        assert_eq!(set.secure(), Some(true));
        assert_eq!(set.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(set.path(), Some("/"));
        assert_eq!(set.max_age(), Some(time::Duration::hours(12)));

        let reply = h.get("/api/me", &[cookie(set.value())]).await;
        assert_eq!(reply.body, "alice via cookie", "{transport:?}");

        let reply = h
            .send(request("POST", "/logout", &[cookie(set.value())]))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{transport:?}");
        let [cleared] = reply.set_cookies().try_into().unwrap();
        assert_eq!(cleared.name_value(), ("login-token", ""));
        assert_eq!(cleared.max_age(), Some(time::Duration::ZERO));
        assert_eq!(cleared.http_only(), set.http_only());
        assert_eq!(cleared.secure(), set.secure());
        assert_eq!(cleared.same_site(), set.same_site());
        assert_eq!(cleared.path(), set.path());

        // What a browser sends once the cookie is dropped: nothing.
        assert_unauthorized(&h.get("/api/me", &[]).await, "after logout");
    }
}

#[tokio::test]
async fn expired_forged_foreign_and_unknown_user_get_the_same_401() {
    let auth = authenticator();
    let ring = auth.ring();
    let key_id: KeyId = ring.active().id();

    let expired = aged_token(&auth, "alice", time::Duration::hours(13));
    // A forger who knows the key id but not the secret.
    let forger = Key::from_secret(key_id, [7; 32], time::OffsetDateTime::now_utc());
    let forged = Issuer::new(KeyRing::new(forger))
        .mint(&auth.claims_for("alice"))
        .unwrap();
    // A good token with one payload character changed.
    let good = auth.mint(&auth.claims_for("alice")).unwrap();
    let altered = tampered(&good);
    // Another farm's keys.
    let foreign = Issuer::new(KeyRing::new(Key::generate().unwrap()))
        .mint(&auth.claims_for("alice"))
        .unwrap();
    // Keys fine, user unknown here.
    let carol = auth.mint(&auth.claims_for("carol")).unwrap();
    let other_audience = auth
        .mint(&Claims {
            audience: Some("author".into()),
            ..auth.claims_for("alice")
        })
        .unwrap();

    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let missing = h.get("/api/me", &[]).await;
        assert_unauthorized(&missing, "missing");
        for (name, headers) in [
            ("expired", vec![cookie(&expired)]),
            ("forged", vec![cookie(&forged)]),
            ("altered", vec![cookie(&altered)]),
            ("foreign key", vec![cookie(&foreign)]),
            ("unknown user", vec![cookie(&carol)]),
            ("unknown user, bearer", vec![bearer(&carol)]),
            ("wrong audience", vec![bearer(&other_audience)]),
            ("garbage", vec![cookie("hello")]),
            (
                "empty bearer",
                vec![(header::AUTHORIZATION, "Bearer ".into())],
            ),
        ] {
            let reply = h.get("/api/me", &headers).await;
            let context = format!("{transport:?} {name}");
            assert_unauthorized(&reply, &context);
            assert_eq!(reply.uniform_part(), missing.uniform_part(), "{context}");
        }
    }
}

#[tokio::test]
async fn bearer_token_is_accepted_and_never_refreshed() {
    let auth = authenticator();
    let old = aged_token(&auth, "bob", time::Duration::hours(11));
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let reply = h.get("/api/me", &[bearer(&old)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{transport:?}");
        assert_eq!(reply.body, "bob via bearer", "{transport:?}");
        assert!(reply.set_cookies().is_empty(), "{transport:?}");
    }
}

#[tokio::test]
async fn bearer_wins_over_cookie_even_when_refused() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    let bob = auth.mint(&auth.claims_for("bob")).unwrap();
    let expired = aged_token(&auth, "bob", time::Duration::hours(13));
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let reply = h.get("/api/me", &[cookie(&alice), bearer(&bob)]).await;
        assert_eq!(reply.body, "bob via bearer", "{transport:?}");
        let reply = h.get("/api/me", &[cookie(&alice), bearer(&expired)]).await;
        assert_unauthorized(
            &reply,
            "a refused bearer token is not rescued by the cookie",
        );
        // Another scheme is not ours: the cookie decides.
        let basic = (header::AUTHORIZATION, "Basic YWxpY2U6cHc=".to_owned());
        let reply = h.get("/api/me", &[basic, cookie(&alice)]).await;
        assert_eq!(reply.body, "alice via cookie", "{transport:?}");
    }
}

#[tokio::test]
async fn cookie_found_among_several_cookie_headers() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    let stale = aged_token(&auth, "alice", time::Duration::hours(20));
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let headers = [
            (header::COOKIE, "theme=dark; lang=fr".to_owned()),
            (
                header::COOKIE,
                format!("tracking=1; login-token={alice}; x=y"),
            ),
            (header::COOKIE, "last=1".to_owned()),
        ];
        let reply = h.get("/api/me", &headers).await;
        assert_eq!(reply.status, StatusCode::OK, "{transport:?}");
        assert_eq!(reply.body, "alice via cookie", "{transport:?}");

        // A stale login cookie (another Domain) ahead of the good one.
        let headers = [
            (header::COOKIE, format!("login-token={stale}")),
            (header::COOKIE, format!("a=b; login-token={alice}")),
        ];
        let reply = h.get("/api/me", &headers).await;
        assert_eq!(reply.body, "alice via cookie", "{transport:?}");
    }
}

/// Review finding 2: a cookie planted from a sibling subdomain (sent first,
/// under a longer `Path`) must not shadow the user's own session.
#[tokio::test]
async fn cookies_naming_two_users_are_refused_and_cleared() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    let mallory_as_bob = auth.mint(&auth.claims_for("bob")).unwrap();
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        for headers in [
            [cookie(&mallory_as_bob), cookie(&alice)],
            [cookie(&alice), cookie(&mallory_as_bob)],
        ] {
            let reply = h.get("/api/me", &headers).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{transport:?}");
            assert_eq!(reply.body, "");
            let cleared = reply.set_cookies();
            assert_eq!(cleared.len(), 1, "{transport:?}: our cookie is cleared");
            assert_eq!(cleared[0].name(), "login-token");
            assert_eq!(cleared[0].value(), "");
            assert_eq!(cleared[0].max_age(), Some(cookie::time::Duration::ZERO));
        }
        // In one header too, and never refreshed over the user's cookie.
        let old_alice = aged_token(&auth, "alice", time::Duration::hours(7));
        let one_header = (
            header::COOKIE,
            format!("login-token={mallory_as_bob}; login-token={old_alice}"),
        );
        let reply = h.get("/page", &[one_header]).await;
        assert_eq!(
            reply.status,
            StatusCode::FOUND,
            "{transport:?}: to the login page"
        );
        assert!(reply.set_cookies().iter().all(|c| c.value().is_empty()));
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        format!("login-token={mallory_as_bob}; login-token={alice}")
            .parse()
            .unwrap(),
    );
    let err = auth.authenticate(&headers).await.unwrap_err();
    assert_eq!(err.kind(), "ambiguous_cookies");
    assert!(err.to_string().contains("\"bob\" and \"alice\""), "{err}");
}

/// Review finding 2: junk login cookies ahead of the real one (only four
/// were tried) and a non-UTF-8 byte in another cookie (it dropped the whole
/// header) no longer lock the user out. Of two valid cookies of one user,
/// the newer wins.
#[tokio::test]
async fn junk_cookies_and_foreign_bytes_do_not_lock_the_user_out() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    let stale = aged_token(&auth, "alice", time::Duration::hours(3));
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let junk: Vec<String> = (0..40)
            .map(|i| format!("login-token=et2.junk{i}"))
            .collect();
        let header_value = format!("{}; login-token={alice}", junk.join("; "));
        let reply = h.get("/api/me", &[(header::COOKIE, header_value)]).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{transport:?}: 40 junk cookies first"
        );
        assert_eq!(reply.body, "alice via cookie");
    }
    let mut headers = HeaderMap::new();
    let mut raw = b"pref=caf\xe9; login-token=".to_vec();
    raw.extend_from_slice(alice.as_bytes());
    raw.extend_from_slice(b"; other=\xff");
    headers.insert(header::COOKIE, HeaderValue::from_bytes(&raw).unwrap());
    assert_eq!(auth.authenticate(&headers).await.unwrap().subject, "alice");

    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        format!("login-token={stale}; login-token={alice}")
            .parse()
            .unwrap(),
    );
    let chosen = auth.authenticate(&headers).await.unwrap();
    let newest = auth.verifier().verify(&alice).unwrap();
    assert_eq!(
        chosen.token_id,
        newest.token_id(),
        "the newer of alice's cookies"
    );
}

/// Review finding 3 (library side): a session begun before the user's
/// revocation time is refused as `session_revoked`, a later login works.
#[tokio::test]
async fn sessions_begun_before_a_revocation_are_refused() {
    let ring = KeyRing::new(Key::generate().unwrap());
    let directory = Arc::new(Revoking {
        revoked_before: Mutex::new(None),
    });
    let auth = Authenticator::new(ring, config(), directory.clone()).unwrap();
    let before = aged_token(&auth, "alice", time::Duration::minutes(5));
    let h = Harness::start(Transport::Oneshot, &auth).await;
    assert_eq!(
        h.get("/api/me", &[cookie(&before)]).await.status,
        StatusCode::OK
    );

    *directory.revoked_before.lock().unwrap() = Some(auth.now() - time::Duration::minutes(1));
    assert_unauthorized(&h.get("/api/me", &[cookie(&before)]).await, "revoked");
    let after = auth.mint(&auth.claims_for("alice")).unwrap();
    assert_eq!(
        h.get("/api/me", &[cookie(&after)]).await.status,
        StatusCode::OK
    );

    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        format!("login-token={before}").parse().unwrap(),
    );
    let err = auth.authenticate(&headers).await.unwrap_err();
    assert_eq!(err.kind(), "session_revoked");
    assert!(err.to_string().contains("log in again"), "{err}");
}

/// The value of the `login-token` cookie a reply sets, if any.
fn renewed(reply: &Reply) -> Option<String> {
    let cookies = reply.set_cookies();
    let fresh = cookies.iter().find(|c| c.name() == "login-token")?;
    Some(fresh.value().to_owned())
}

/// Issue 12: a session refreshed every few minutes keeps its start, and is
/// refused exactly at the absolute limit however recently it was refreshed;
/// no refreshed token outlives the limit.
#[tokio::test]
async fn an_active_session_ends_at_the_absolute_limit() {
    let hour = time::Duration::hours(1);
    let LimitedSession {
        config,
        ring,
        mut token,
        started,
    } = LimitedSession::begin(config());

    // Every 10 minutes for just under 4 hours: always accepted and renewed.
    let mut minutes = 10;
    while minutes < 4 * 60 {
        let instance = later(
            ring.clone(),
            config.clone(),
            time::Duration::minutes(minutes),
        );
        let h = Harness::start(Transport::Oneshot, &instance).await;
        let reply = h.get("/api/me", &[cookie(&token)]).await;
        assert_eq!(reply.status, StatusCode::OK, "after {minutes} min");
        match renewed(&reply) {
            Some(fresh) => {
                let claims = instance
                    .verifier()
                    .verify_at(&fresh, instance.now())
                    .unwrap();
                assert_eq!(
                    claims.session_started_at(),
                    started,
                    "the login's time is kept"
                );
                assert!(
                    claims.expires_at() <= started + 4 * hour,
                    "never past the limit"
                );
                token = fresh;
            }
            // Once a token expires at the limit, a renewal would gain nothing.
            None => {
                let claims = instance
                    .verifier()
                    .verify_at(&token, instance.now())
                    .unwrap();
                assert_eq!(
                    claims.expires_at(),
                    started + 4 * hour,
                    "after {minutes} min"
                );
                assert!(
                    minutes > 3 * 60 + 30,
                    "renewed until 30 min before the limit"
                );
            }
        }
        minutes += 10;
    }
    // 1 s before the limit: accepted; at the limit: refused, just refreshed or not.
    // Measured from the login, not from now: the loop above takes seconds
    // on a loaded machine.
    let just_before = later(
        ring.clone(),
        config.clone(),
        started + 4 * hour - time::Duration::seconds(1) - time::OffsetDateTime::now_utc(),
    );
    assert!(
        just_before
            .authenticate(&cookie_headers(&token))
            .await
            .is_ok()
    );
    let at_limit = later(ring.clone(), config.clone(), 4 * hour);
    let err = at_limit
        .authenticate(&cookie_headers(&token))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "session_too_old");
    assert!(err.to_string().contains("log in again"), "{err}");
    let h = Harness::start(Transport::Oneshot, &at_limit).await;
    assert_unauthorized(&h.get("/api/me", &[cookie(&token)]).await, "at the limit");
    // A new login works at once.
    let fresh_login = at_limit.mint(&at_limit.claims_for("alice")).unwrap();
    assert_eq!(
        h.get("/api/me", &[cookie(&fresh_login)]).await.status,
        StatusCode::OK
    );
}

fn cookie_headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        format!("login-token={token}").parse().unwrap(),
    );
    headers
}

/// Issue 12: background traffic (a configured path prefix, or
/// `X-Token-Refresh: skip`) is authenticated but never refreshed, so an idle
/// tab that polls lets its session expire.
#[tokio::test]
async fn background_requests_are_never_refreshed() {
    let config = config().with_no_refresh_path("/api/me/poll");
    let auth = Authenticator::new(
        KeyRing::new(Key::generate().unwrap()),
        config.clone(),
        users(),
    )
    .unwrap();
    let app = Router::new()
        .route("/api/me", get(me))
        .route("/api/me/poll", get(me))
        .route("/api/me/polling", get(me))
        .route_layer(auth.layer())
        .with_state(auth.clone());
    let old = aged_token(&auth, "alice", time::Duration::hours(11));
    let send = |path: &'static str, skip: bool| {
        let mut request = Request::get(path).header(header::COOKIE, format!("login-token={old}"));
        if skip {
            request = request.header("x-token-refresh", "skip");
        }
        app.clone().oneshot(request.body(Body::empty()).unwrap())
    };
    let refreshed =
        |response: &axum::response::Response| response.headers().contains_key(header::SET_COOKIE);

    let polled = send("/api/me/poll", false).await.unwrap();
    assert_eq!(polled.status(), StatusCode::OK);
    assert!(!refreshed(&polled), "a no-refresh path");
    let polled = send("/api/me/poll?refresh=yes", false).await.unwrap();
    assert!(!refreshed(&polled), "the query plays no part");
    let asked = send("/api/me", true).await.unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(!refreshed(&asked), "X-Token-Refresh: skip");
    let other = send("/api/me/polling", false).await.unwrap();
    assert!(refreshed(&other), "not under the prefix: refreshed");
    let active = send("/api/me", false).await.unwrap();
    assert!(refreshed(&active), "an ordinary request refreshes");
}

#[tokio::test]
async fn refresh_past_the_threshold_and_not_before() {
    let auth = authenticator();
    let young = aged_token(
        &auth,
        "alice",
        time::Duration::hours(5) + time::Duration::minutes(59),
    );
    let old = aged_token(
        &auth,
        "alice",
        time::Duration::hours(6) + time::Duration::minutes(1),
    );
    let old_id = auth.verifier().verify(&old).unwrap().token_id();
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let reply = h.get("/api/me", &[cookie(&young)]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.set_cookies().is_empty(),
            "{transport:?}: under half its life"
        );

        let reply = h.get("/api/me", &[cookie(&old)]).await;
        assert_eq!(reply.status, StatusCode::OK);
        let [fresh] = reply.set_cookies().try_into().unwrap();
        assert_eq!(fresh.name(), "login-token");
        assert_eq!(fresh.max_age(), Some(time::Duration::hours(12)));
        assert_eq!(fresh.http_only(), Some(true));
        assert_eq!(fresh.secure(), Some(true));
        assert_eq!(fresh.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(fresh.path(), Some("/"));

        let before = auth.verifier().verify(&old).unwrap().to_claims();
        let after = auth.verifier().verify(fresh.value()).unwrap().to_claims();
        assert_eq!(after.subject, before.subject);
        assert_eq!(after.audience, before.audience);
        assert_eq!(after.attributes, before.attributes);
        assert_ne!(after.token_id, old_id);
        assert!(after.expires_at > before.expires_at + time::Duration::hours(6));
        assert_eq!(
            after.expires_at - after.issued_at,
            time::Duration::hours(12)
        );

        // The new cookie works, and is itself too young to refresh.
        let reply = h.get("/api/me", &[cookie(fresh.value())]).await;
        assert_eq!(reply.body, "alice via cookie");
        assert!(reply.set_cookies().is_empty());
    }
}

#[tokio::test]
async fn logout_is_not_overridden_by_a_refresh() {
    let auth = authenticator();
    let old = aged_token(&auth, "alice", time::Duration::hours(10));
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let reply = h.send(request("POST", "/logout", &[cookie(&old)])).await;
        let [only] = reply.set_cookies().try_into().unwrap();
        assert_eq!(only.value(), "", "{transport:?}: the logout cookie, alone");
        assert_eq!(only.max_age(), Some(time::Duration::ZERO));
    }
}

#[tokio::test]
async fn browser_mode_redirects_to_the_login_page() {
    let auth = authenticator();
    let expired = aged_token(&auth, "alice", time::Duration::hours(13));
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        for headers in [vec![], vec![cookie(&expired)]] {
            let reply = h.get("/page", &headers).await;
            assert_eq!(reply.status, StatusCode::FOUND, "{transport:?}");
            assert_eq!(reply.headers[header::LOCATION], "/login");
            assert_eq!(reply.body, "");
            assert!(reply.set_cookies().is_empty());
        }
        let reply = h.get("/page", &[cookie(&alice)]).await;
        assert_eq!(reply.body, "alice via cookie", "{transport:?}");
    }
}

#[tokio::test]
async fn optional_layer_and_extractor() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    let old = aged_token(&auth, "alice", time::Duration::hours(7));
    let expired = aged_token(&auth, "alice", time::Duration::hours(13));
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        assert_eq!(h.get("/hello", &[]).await.body, "hello stranger");
        assert_eq!(
            h.get("/hello", &[cookie(&expired)]).await.body,
            "hello stranger"
        );
        assert_eq!(h.get("/hello", &[cookie(&alice)]).await.body, "hello alice");
        let reply = h.get("/hello", &[cookie(&old)]).await;
        assert_eq!(reply.body, "hello alice", "{transport:?}");
        assert_eq!(
            reply.set_cookies().len(),
            1,
            "refreshed behind an optional layer too"
        );
    }
}

#[tokio::test]
async fn extractor_without_a_layer_is_a_server_error() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let reply = h.get("/no-layer", &[cookie(&alice)]).await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{transport:?}"
        );
    }
}

#[tokio::test]
async fn key_rotation_swaps_the_ring_and_moves_sessions_to_the_new_key() {
    let auth = authenticator();
    let old_ring = auth.ring();
    let old_token = auth.mint(&auth.claims_for("alice")).unwrap();

    // Phase 2 of a rotation: a new active key, the old one verify-only.
    let mut rotated = (*old_ring).clone();
    let new_key = Key::generate().unwrap();
    let new_id = new_key.id();
    rotated.insert(new_key).unwrap();
    rotated.promote(new_id).unwrap();
    auth.replace_ring(rotated.clone());

    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let reply = h.get("/api/me", &[cookie(&old_token)]).await;
        assert_eq!(reply.body, "alice via cookie", "{transport:?}");
        let [fresh] = reply.set_cookies().try_into().unwrap();
        let verified = auth.verifier().verify(fresh.value()).unwrap();
        assert_eq!(verified.key_id(), new_id, "re-minted with the active key");
    }

    // The old key retired: its tokens stop working on the next request.
    rotated.retire(old_ring.active().id()).unwrap();
    auth.replace_ring(rotated);
    let h = Harness::start(Transport::Oneshot, &auth).await;
    assert_unauthorized(
        &h.get("/api/me", &[cookie(&old_token)]).await,
        "retired key",
    );
}

#[tokio::test]
async fn clock_offset_models_a_skewed_instance() {
    let auth = authenticator();
    let token = auth.mint(&auth.claims_for("alice")).unwrap();
    let skewed = |offset| later(auth.ring(), config(), offset);
    // 10 s behind: within the 30 s leeway.
    let slightly = skewed(time::Duration::seconds(-10));
    let h = Harness::start(Transport::Tcp, &slightly).await;
    assert_eq!(
        h.get("/api/me", &[cookie(&token)]).await.status,
        StatusCode::OK
    );
    // 10 minutes behind: the token looks issued in the future.
    let far = skewed(time::Duration::minutes(-10));
    let h = Harness::start(Transport::Tcp, &far).await;
    assert_unauthorized(&h.get("/api/me", &[cookie(&token)]).await, "clock behind");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        format!("login-token={token}").parse().unwrap(),
    );
    let err = far.authenticate(&headers).await.unwrap_err();
    assert_eq!(err.kind(), "not_yet_valid");
}

#[tokio::test]
async fn directory_outage_is_503_not_401() {
    let ring = KeyRing::new(Key::generate().unwrap());
    let auth = Authenticator::new(ring, config(), Down).unwrap();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    for transport in TRANSPORTS {
        let h = Harness::start(transport, &auth).await;
        let reply = h.get("/page", &[cookie(&alice)]).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{transport:?}: no redirect"
        );
        assert!(reply.set_cookies().is_empty());
    }
}

/// Collects what `tracing` writes.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_reason_is_logged_and_never_sent() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let auth = authenticator();
    let expired = aged_token(&auth, "alice", time::Duration::hours(13));
    let carol = auth.mint(&auth.claims_for("carol")).unwrap();

    // Global, not scoped to this thread: a scoped subscriber races with the
    // other tests of this binary over tracing's per-callsite cache. This is
    // the only test that installs one; lines of other tests may show up too.
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let replies = runtime.block_on(async {
        let h = Harness::start(Transport::Oneshot, &auth).await;
        [
            h.get("/api/me", &[cookie(&expired)]).await,
            h.get("/api/me", &[bearer(&carol)]).await,
        ]
    });
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("reason=\"expired\""), "{logs}");
    assert!(logs.contains("token expired at"), "{logs}");
    assert!(logs.contains("reason=\"unknown_user\""), "{logs}");
    assert!(logs.contains("\"carol\""), "{logs}");
    for reply in replies {
        assert_unauthorized(&reply, "logged");
        let sent = format!("{:?}{}", reply.headers, reply.body);
        assert!(
            !sent.contains("expired") && !sent.contains("carol"),
            "{sent}"
        );
    }
}
