//! The actix-web middleware and extractors: in process through actix-web's
//! test utilities (`actix_web::test`), side by side with the tower layer on
//! the same requests, and `examples/actix_app.rs` as a real process on
//! 127.0.0.1.
#![cfg(feature = "actix")]

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, HttpResponse, web};
use cookie::Cookie;
use encapsulated_token::handler::{AuthConfig, Authenticator, Identity};
use encapsulated_token::{Claims, Issuer, Key, KeyRing};
use tower::{Layer, ServiceExt, service_fn};

mod common;
use common::{Down, LimitedSession, Revoking, aged_token, hello, later, me, tampered, users};

// ---------------------------------------------------------------------------
// The application under test: the routes of tests/handler.rs.

/// The shared settings, with a no-refresh path.
fn config() -> AuthConfig {
    common::config().with_no_refresh_path("/api/me/poll")
}

fn authenticator() -> Authenticator {
    Authenticator::new(KeyRing::new(Key::generate().unwrap()), config(), users()).unwrap()
}

async fn logout(auth: web::Data<Authenticator>, _identity: Identity) -> HttpResponse {
    let cleared = auth.logout_cookie();
    HttpResponse::Ok()
        .insert_header((header::SET_COOKIE, cleared.as_bytes()))
        .body("bye")
}

/// Sends one request through the application built over `auth`.
async fn send(auth: &Authenticator, request: TestRequest) -> Reply {
    let app = init_service(
        App::new()
            .app_data(web::Data::new(auth.clone()))
            .service(
                web::scope("/api")
                    .wrap(auth.middleware())
                    .route("/me", web::get().to(me))
                    .route("/me/poll", web::get().to(me))
                    .route("/me/polling", web::get().to(me))
                    .route("/logout", web::post().to(logout)),
            )
            .service(
                web::scope("/page")
                    .wrap(
                        auth.middleware()
                            .redirect_to(HeaderValue::from_static("/login")),
                    )
                    .route("", web::get().to(me)),
            )
            .service(
                web::scope("/hello")
                    .wrap(auth.middleware().optional())
                    .route("", web::get().to(hello)),
            )
            .route("/no-middleware", web::get().to(me)),
    )
    .await;
    let response = call_service(&app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_body(response).await;
    Reply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(auth: &Authenticator, path: &str, headers: &[(&str, String)]) -> Reply {
    let mut request = TestRequest::get().uri(path);
    for (name, value) in headers {
        request = request.append_header((*name, value.as_str()));
    }
    send(auth, request).await
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
            .map(|v| Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
            .collect()
    }

    /// The value of the `login-token` cookie the reply sets, if any.
    fn renewed(&self) -> Option<String> {
        let cookies = self.set_cookies();
        let fresh = cookies.iter().find(|c| c.name() == "login-token")?;
        Some(fresh.value().to_owned())
    }

    /// Status, headers (sorted by name) and body.
    fn uniform_part(&self) -> (StatusCode, Vec<(String, Vec<u8>)>, String) {
        let mut headers: Vec<_> = self
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        headers.sort();
        (self.status, headers, self.body.clone())
    }
}

fn cookie(token: &str) -> (&'static str, String) {
    ("cookie", format!("login-token={token}"))
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn assert_unauthorized(reply: &Reply, context: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{context}");
    assert_eq!(reply.body, "", "{context}: the body says nothing");
    assert_eq!(
        reply.headers.get(header::WWW_AUTHENTICATE).unwrap(),
        "Bearer",
        "{context}"
    );
    assert_eq!(
        reply.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store",
        "{context}"
    );
    assert!(
        reply.set_cookies().is_empty(),
        "{context}: never a cookie on a 401"
    );
}

// ---------------------------------------------------------------------------
// Scenarios, through actix-web's test utilities.

#[actix_web::test]
async fn valid_cookie_is_accepted() {
    let auth = authenticator();
    let token = auth.mint(&auth.claims_for("alice")).unwrap();
    let reply = get(&auth, "/api/me", &[cookie(&token)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "alice via cookie");
    assert!(reply.set_cookies().is_empty(), "fresh, no refresh");
}

#[actix_web::test]
async fn bearer_token_is_accepted_and_never_refreshed() {
    let auth = authenticator();
    let old = aged_token(&auth, "bob", time::Duration::hours(11));
    let reply = get(&auth, "/api/me", &[bearer(&old)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "bob via bearer");
    assert!(reply.set_cookies().is_empty());
}

#[actix_web::test]
async fn missing_expired_tampered_foreign_and_unknown_get_the_same_401() {
    let auth = authenticator();
    let key_id = auth.ring().active().id();
    let expired = aged_token(&auth, "alice", time::Duration::hours(13));
    // A forger who knows the key id but not the secret.
    let forger = Key::from_secret(key_id, [7; 32], time::OffsetDateTime::now_utc());
    let forged = Issuer::new(KeyRing::new(forger))
        .mint(&auth.claims_for("alice"))
        .unwrap();
    let tampered = tampered(&auth.mint(&auth.claims_for("alice")).unwrap());
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

    let missing = get(&auth, "/api/me", &[]).await;
    assert_unauthorized(&missing, "missing");
    for (name, headers) in [
        ("expired", vec![cookie(&expired)]),
        ("forged", vec![cookie(&forged)]),
        ("tampered", vec![cookie(&tampered)]),
        ("tampered, bearer", vec![bearer(&tampered)]),
        ("foreign key", vec![cookie(&foreign)]),
        ("unknown user", vec![cookie(&carol)]),
        ("unknown user, bearer", vec![bearer(&carol)]),
        ("wrong audience", vec![bearer(&other_audience)]),
        ("garbage", vec![cookie("hello")]),
        ("empty bearer", vec![("authorization", "Bearer ".into())]),
    ] {
        let reply = get(&auth, "/api/me", &headers).await;
        assert_unauthorized(&reply, name);
        assert_eq!(reply.uniform_part(), missing.uniform_part(), "{name}");
    }
}

#[actix_web::test]
async fn bearer_wins_over_cookie_even_when_refused() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    let bob = auth.mint(&auth.claims_for("bob")).unwrap();
    let reply = get(&auth, "/api/me", &[cookie(&alice), bearer(&bob)]).await;
    assert_eq!(reply.body, "bob via bearer");
    let reply = get(&auth, "/api/me", &[cookie(&alice), bearer("et2.forged")]).await;
    assert_unauthorized(&reply, "a refused bearer token is not masked by the cookie");
}

#[actix_web::test]
async fn cookies_naming_two_users_are_refused_and_cleared() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    let mallory_as_bob = auth.mint(&auth.claims_for("bob")).unwrap();
    for headers in [
        [cookie(&mallory_as_bob), cookie(&alice)],
        [cookie(&alice), cookie(&mallory_as_bob)],
    ] {
        let reply = get(&auth, "/api/me", &headers).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.body, "");
        let [cleared] = reply.set_cookies().try_into().unwrap();
        assert_eq!(cleared.name_value(), ("login-token", ""));
        assert_eq!(cleared.max_age(), Some(time::Duration::ZERO));
    }
    // In one header too, behind an optional middleware as well, and never
    // refreshed over the user's cookie.
    let old_alice = aged_token(&auth, "alice", time::Duration::hours(7));
    let one_header = (
        "cookie",
        format!("login-token={mallory_as_bob}; login-token={old_alice}"),
    );
    let reply = get(&auth, "/page", std::slice::from_ref(&one_header)).await;
    assert_eq!(reply.status, StatusCode::FOUND, "to the login page");
    let [cleared] = reply.set_cookies().try_into().unwrap();
    assert_eq!(cleared.value(), "");
    let reply = get(&auth, "/hello", &[one_header]).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "not let through as a stranger"
    );
    assert!(reply.set_cookies().iter().all(|c| c.value().is_empty()));
}

#[actix_web::test]
async fn sessions_begun_before_a_revocation_are_refused() {
    let directory = Arc::new(Revoking {
        revoked_before: Mutex::new(None),
    });
    let ring = KeyRing::new(Key::generate().unwrap());
    let auth = Authenticator::new(ring, config(), directory.clone()).unwrap();
    let before = aged_token(&auth, "alice", time::Duration::minutes(5));
    assert_eq!(
        get(&auth, "/api/me", &[cookie(&before)]).await.status,
        StatusCode::OK
    );

    *directory.revoked_before.lock().unwrap() = Some(auth.now() - time::Duration::minutes(1));
    assert_unauthorized(&get(&auth, "/api/me", &[cookie(&before)]).await, "revoked");
    assert_unauthorized(
        &get(&auth, "/api/me", &[bearer(&before)]).await,
        "revoked, bearer",
    );
    let after = auth.mint(&auth.claims_for("alice")).unwrap();
    assert_eq!(
        get(&auth, "/api/me", &[cookie(&after)]).await.status,
        StatusCode::OK
    );
}

/// A session refreshed on every request keeps its start, no renewed token
/// outlives the absolute limit, and at the limit the session is refused.
#[actix_web::test]
async fn an_active_session_ends_at_the_absolute_limit() {
    let LimitedSession {
        config,
        ring,
        mut token,
        started,
    } = LimitedSession::begin(config());
    let limit = started + time::Duration::hours(4);

    let mut renewals = 0;
    for minutes in (20..4 * 60).step_by(20) {
        let instance = later(
            ring.clone(),
            config.clone(),
            time::Duration::minutes(minutes),
        );
        let reply = get(&instance, "/api/me", &[cookie(&token)]).await;
        assert_eq!(reply.status, StatusCode::OK, "after {minutes} min");
        let Some(fresh) = reply.renewed() else {
            // Once a token expires at the limit, a renewal would gain nothing.
            let claims = instance
                .verifier()
                .verify_at(&token, instance.now())
                .unwrap();
            assert_eq!(claims.expires_at(), limit, "after {minutes} min");
            continue;
        };
        let claims = instance
            .verifier()
            .verify_at(&fresh, instance.now())
            .unwrap();
        assert_eq!(
            claims.session_started_at(),
            started,
            "the login's time is kept"
        );
        assert!(claims.expires_at() <= limit, "never past the limit");
        token = fresh;
        renewals += 1;
    }
    assert!(renewals >= 10, "renewed along the way: {renewals}");
    let at_limit = later(ring, config, time::Duration::hours(4));
    assert_unauthorized(
        &get(&at_limit, "/api/me", &[cookie(&token)]).await,
        "at the limit",
    );
    let fresh_login = at_limit.mint(&at_limit.claims_for("alice")).unwrap();
    assert_eq!(
        get(&at_limit, "/api/me", &[cookie(&fresh_login)])
            .await
            .status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn refresh_past_the_threshold_and_not_before() {
    let auth = authenticator();
    let young = aged_token(&auth, "alice", time::Duration::minutes(5 * 60 + 59));
    let old = aged_token(&auth, "alice", time::Duration::minutes(6 * 60 + 1));
    let reply = get(&auth, "/api/me", &[cookie(&young)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.set_cookies().is_empty(), "under half its life");

    let reply = get(&auth, "/api/me", &[cookie(&old)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "alice via cookie");
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
    assert_eq!(after.attributes, before.attributes);
    assert_eq!(after.session_started_at, before.session_started_at);
    assert_ne!(after.token_id, before.token_id);
    assert_eq!(
        after.expires_at - after.issued_at,
        time::Duration::hours(12)
    );

    // The new cookie works, and is itself too young to refresh.
    let reply = get(&auth, "/api/me", &[cookie(fresh.value())]).await;
    assert_eq!(reply.body, "alice via cookie");
    assert!(reply.set_cookies().is_empty());
}

#[actix_web::test]
async fn background_requests_are_never_refreshed() {
    let auth = authenticator();
    let old = aged_token(&auth, "alice", time::Duration::hours(11));
    let poll = get(&auth, "/api/me/poll", &[cookie(&old)]).await;
    assert_eq!(poll.status, StatusCode::OK);
    assert!(poll.renewed().is_none(), "a no-refresh path");
    let poll = get(&auth, "/api/me/poll?refresh=yes", &[cookie(&old)]).await;
    assert!(poll.renewed().is_none(), "the query plays no part");
    let asked = get(
        &auth,
        "/api/me",
        &[cookie(&old), ("x-token-refresh", "skip".into())],
    )
    .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.renewed().is_none(), "X-Token-Refresh: skip");
    let other = get(&auth, "/api/me/polling", &[cookie(&old)]).await;
    assert!(other.renewed().is_some(), "not under the prefix: refreshed");
}

#[actix_web::test]
async fn logout_is_not_overridden_by_a_refresh() {
    let auth = authenticator();
    let old = aged_token(&auth, "alice", time::Duration::hours(10));
    let request = TestRequest::post()
        .uri("/api/logout")
        .insert_header(cookie(&old));
    let reply = send(&auth, request).await;
    assert_eq!(reply.body, "bye");
    let [only] = reply.set_cookies().try_into().unwrap();
    assert_eq!(only.value(), "", "the logout cookie, alone");
    assert_eq!(only.max_age(), Some(time::Duration::ZERO));
}

#[actix_web::test]
async fn browser_mode_redirects_to_the_login_page() {
    let auth = authenticator();
    let reply = get(&auth, "/page", &[]).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.headers.get(header::LOCATION).unwrap(), "/login");
    assert_eq!(
        reply.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    let token = auth.mint(&auth.claims_for("alice")).unwrap();
    assert_eq!(
        get(&auth, "/page", &[cookie(&token)]).await.body,
        "alice via cookie"
    );
}

#[actix_web::test]
async fn optional_middleware_and_extractor() {
    let auth = authenticator();
    let reply = get(&auth, "/hello", &[]).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "hello stranger")
    );
    let reply = get(&auth, "/hello", &[cookie("et2.garbage")]).await;
    assert_eq!(reply.body, "hello stranger", "a bad token is no identity");
    let old = aged_token(&auth, "alice", time::Duration::hours(7));
    let reply = get(&auth, "/hello", &[cookie(&old)]).await;
    assert_eq!(reply.body, "hello alice");
    assert!(
        reply.renewed().is_some(),
        "refreshed behind an optional middleware too"
    );
}

#[actix_web::test]
async fn extractor_without_the_middleware_is_a_server_error() {
    let auth = authenticator();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    let reply = get(&auth, "/no-middleware", &[cookie(&alice)]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "");
}

#[actix_web::test]
async fn directory_outage_is_503_not_401() {
    let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), config(), Down).unwrap();
    let alice = auth.mint(&auth.claims_for("alice")).unwrap();
    for path in ["/api/me", "/page", "/hello"] {
        let reply = get(&auth, path, &[cookie(&alice)]).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: no redirect, no stranger"
        );
        assert!(reply.set_cookies().is_empty());
    }
}

/// The tower layer and the actix-web middleware share one decision: the
/// same requests get the same status, `WWW-Authenticate`, `Location` and
/// cookie (renewed, cleared or none) from both.
#[actix_web::test]
async fn the_same_answers_as_the_tower_layer() {
    let auth = authenticator();
    let fresh = auth.mint(&auth.claims_for("alice")).unwrap();
    let old = aged_token(&auth, "alice", time::Duration::hours(7));
    let bob = auth.mint(&auth.claims_for("bob")).unwrap();
    let carol = auth.mint(&auth.claims_for("carol")).unwrap();
    let expired = aged_token(&auth, "alice", time::Duration::hours(13));
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("missing", vec![]),
        ("fresh cookie", vec![cookie(&fresh)]),
        ("old cookie", vec![cookie(&old)]),
        (
            "old cookie, skip",
            vec![cookie(&old), ("x-token-refresh", "SKIP".into())],
        ),
        ("old bearer", vec![bearer(&old)]),
        ("expired", vec![cookie(&expired)]),
        ("unknown user", vec![cookie(&carol)]),
        ("two users", vec![cookie(&bob), cookie(&old)]),
        ("two bearers", vec![bearer(&fresh), bearer(&bob)]),
        (
            "basic and cookie",
            vec![("authorization", "Basic YTpi".into()), cookie(&fresh)],
        ),
    ];
    for mode in ["api", "browser", "optional"] {
        let layer = match mode {
            "api" => auth.layer(),
            "browser" => auth
                .layer()
                .redirect_to(http::HeaderValue::from_static("/login")),
            _ => auth.layer().optional(),
        };
        let path = match mode {
            "api" => "/api/me",
            "browser" => "/page",
            _ => "/hello",
        };
        let tower = layer.layer(service_fn(|request: http::Request<String>| async move {
            let who = request
                .extensions()
                .get::<Identity>()
                .map(|i| i.subject.clone());
            Ok::<_, Infallible>(http::Response::new(who.unwrap_or_default()))
        }));
        for (name, headers) in &cases {
            let mut request = http::Request::get(path);
            for (header, value) in headers {
                request = request.header(*header, value);
            }
            let answer = tower
                .clone()
                .oneshot(request.body(String::new()).unwrap())
                .await
                .unwrap();
            let actix = get(&auth, path, headers).await;
            let context = format!("{mode} {name}");
            assert_eq!(answer.status().as_u16(), actix.status.as_u16(), "{context}");
            for header in ["www-authenticate", "location"] {
                let tower_value = answer.headers().get(header).map(|v| v.as_bytes().to_vec());
                let actix_value = actix.headers.get(header).map(|v| v.as_bytes().to_vec());
                assert_eq!(tower_value, actix_value, "{context}: {header}");
            }
            let tower_cookies: Vec<_> = answer
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
                .map(|c| (c.name().to_owned(), c.value().is_empty(), c.max_age()))
                .collect();
            let actix_cookies: Vec<_> = actix
                .set_cookies()
                .into_iter()
                .map(|c| (c.name().to_owned(), c.value().is_empty(), c.max_age()))
                .collect();
            assert_eq!(tower_cookies, actix_cookies, "{context}: Set-Cookie");
        }
    }
}

// ---------------------------------------------------------------------------
// examples/actix_app.rs as a real process.

/// `examples/actix_app.rs`, built with cargo (the features of this test, so
/// the build reuses its artifacts).
fn example_binary() -> PathBuf {
    let mut features = vec!["actix"];
    if cfg!(feature = "axum") {
        features.push("axum");
    }
    if cfg!(feature = "redis") {
        features.push("redis");
    }
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--example",
            "actix_app",
            "-p",
            "encapsulated-token",
        ])
        .args([
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ])
        .args(["--features", &features.join(",")])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --example actix_app");
    // This test runs from target/<profile>/deps; examples are beside it.
    let deps = std::env::current_exe().unwrap();
    let binary = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/actix_app");
    assert!(binary.exists(), "{binary:?}");
    binary
}

/// The example serving on a free port of 127.0.0.1; killed on drop.
struct Example {
    child: Child,
    base: String,
}

impl Example {
    fn start(keys: &std::path::Path, users: &[&str]) -> Self {
        let mut command = Command::new(example_binary());
        command
            .args(["--keys".as_ref(), keys.as_os_str()])
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for user in users {
            command.args(["--user", user]);
        }
        let mut child = command.spawn().expect("the example starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("announces its address: {line:?}"));
        Self {
            child,
            base: address.to_owned(),
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_example_serves_whoami_and_refreshes_cookies() {
    let keys = tempfile::tempdir().unwrap();
    let ring = KeyRing::new(Key::generate().unwrap());
    ring.store(keys.path()).unwrap();
    // Tokens as any instance of the farm mints them: the same keys and
    // settings (the example's are `AuthConfig::new()`'s).
    let farm = Authenticator::new(
        KeyRing::load(keys.path()).unwrap(),
        AuthConfig::new(),
        users(),
    )
    .unwrap();
    let example = Example::start(keys.path(), &["alice", "bob"]);
    let client = reqwest::Client::new();
    let whoami = format!("{}/whoami", example.base);
    let send = |headers: Vec<(&'static str, String)>| {
        let mut request = client.get(&whoami);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };

    let fresh = farm.mint(&farm.claims_for("alice")).unwrap();
    let reply = send(vec![cookie(&fresh)]).await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.headers().get("set-cookie").is_none(),
        "fresh: no refresh"
    );
    assert_eq!(reply.text().await.unwrap(), "alice");

    let bob = farm.mint(&farm.claims_for("bob")).unwrap();
    let reply = send(vec![bearer(&bob)]).await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), "bob");

    let old = aged_token(&farm, "alice", time::Duration::hours(7));
    let reply = send(vec![cookie(&old)]).await.unwrap();
    assert_eq!(reply.status(), 200);
    let set_cookie = reply.headers().get("set-cookie").expect("a renewed cookie");
    let renewed = Cookie::parse(set_cookie.to_str().unwrap().to_owned()).unwrap();
    assert_eq!(renewed.name(), "login-token");
    assert_eq!(renewed.max_age(), Some(time::Duration::hours(12)));
    let before = farm.verifier().verify(&old).unwrap();
    let after = farm.verifier().verify(renewed.value()).unwrap();
    assert_eq!(after.subject(), "alice");
    assert_eq!(after.session_started_at(), before.session_started_at());
    assert_eq!(after.attribute("role"), Some("editor"));
    assert_eq!(reply.text().await.unwrap(), "alice");

    let tampered = tampered(&fresh);
    let foreign = Issuer::new(KeyRing::new(Key::generate().unwrap()))
        .mint(&farm.claims_for("alice"))
        .unwrap();
    let carol = farm.mint(&farm.claims_for("carol")).unwrap();
    let expired = aged_token(&farm, "alice", time::Duration::hours(13));
    for (name, headers) in [
        ("missing", vec![]),
        ("tampered", vec![cookie(&tampered)]),
        ("foreign key", vec![bearer(&foreign)]),
        ("unknown user", vec![cookie(&carol)]),
        ("expired", vec![cookie(&expired)]),
    ] {
        let reply = send(headers).await.unwrap();
        assert_eq!(reply.status(), 401, "{name}");
        assert_eq!(reply.headers()["www-authenticate"], "Bearer", "{name}");
        assert!(reply.headers().get("set-cookie").is_none(), "{name}");
        assert_eq!(reply.text().await.unwrap(), "", "{name}");
    }
}

#[test]
fn the_example_refuses_a_missing_key_directory() {
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(example_binary())
        .args(["--keys".as_ref(), empty.path().join("absent").as_os_str()])
        .args(["--listen", "127.0.0.1:0", "--user", "alice"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("absent"), "names the directory: {stderr}");
}
