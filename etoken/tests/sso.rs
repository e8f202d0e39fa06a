//! Single sign-on against a real OpenID provider (npm's `oidc-provider`,
//! `tests/oidc/provider.mjs`) and real `etoken serve` processes: three
//! instances on one real redis-server directory take a login started on
//! one, finished on another and used on the third; the provider's groups
//! and email reach `/auth`; replayed, tampered and stateless callbacks, a
//! disallowed domain, hostile return targets, forged logout tokens and
//! reused emails are refused; a logout at the provider ends the session on
//! every instance through its back-channel logout token. A file-based
//! instance takes a pre-provisioned user, and a provider that cannot be
//! reached stops start-up with one line. Last, headless Chromium signs in
//! at the provider through nginx's `auth_request`.

#[path = "support/oidc.rs"]
mod oidc;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use oidc::{CLIENT_ID, CLIENT_SECRET, Provider, ProviderUser, Registration, location};
use support::{Redis, Server, etoken_ok, free_port, get, serve_refused};
use url::Url;

/// The URL the farm is reached at (a load balancer's); the redirect URI is
/// `{PUBLIC}/sso/callback` on every instance. Nothing listens there: the
/// tests take the provider's redirect and send it to the instance they mean.
const PUBLIC: &str = "http://publish.test";
/// The scopes asked for: the groups claim comes with `groups`.
const SCOPES: &str = "openid email profile groups";
/// The protected page the logins return to.
const PAGE: &str = "/content/page.html";

/// What the provider registers for a farm at `public`.
fn registration(public: &str, backchannel: Option<String>) -> Registration {
    Registration {
        redirect_uris: vec![format!("{public}/sso/callback")],
        post_logout_redirect_uris: ["/", "/login", "/logout", "/sso/logged-out"]
            .iter()
            .map(|path| format!("{public}{path}"))
            .collect(),
        backchannel_logout_uri: backchannel,
    }
}

/// Keys, and the client secret in `oidc-secret` (0600), in `dir`.
fn setup(dir: &Path) {
    etoken_ok(dir, &["key", "init", "--dir", "keys"], "");
    write_secret(dir, 0o600);
}

/// `etoken user add --users users.json --sso NAME` in `dir`: a user who
/// signs in only at the provider.
fn add_sso_user(dir: &Path, name: &str) {
    etoken_ok(
        dir,
        &["user", "add", "--users", "users.json", "--sso", name],
        "",
    );
}

/// A directory for file-based instances: keys, the client secret, and
/// `users.json` with alice@example.com pre-provisioned (`--sso`).
fn files_with_alice() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    add_sso_user(tmp.path(), "alice@example.com");
    tmp
}

fn write_secret(dir: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("oidc-secret");
    std::fs::write(&path, format!("{CLIENT_SECRET}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The OpenID flags for `issuer`, plus `extra`.
fn oidc_args<'a>(issuer: &'a str, public: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--keys",
        "keys",
        "--public-url",
        public,
        "--oidc-issuer",
        issuer,
        "--oidc-client-id",
        CLIENT_ID,
        "--oidc-client-secret-file",
        "oidc-secret",
        "--oidc-scopes",
        SCOPES,
    ];
    args.extend_from_slice(extra);
    args
}

/// Three instances on one Redis directory, behind one public URL; the
/// provider sends logout tokens to B. Only example.com may sign in.
struct Farm {
    provider: Provider,
    redis: Redis,
    redis_url: String,
    a: Server,
    b: Server,
    c: Server,
    dir: tempfile::TempDir,
}

impl Farm {
    fn start() -> Farm {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path());
        let redis = Redis::start(&dir.path().join("redis"));
        let redis_url = redis.url();
        // B's port is chosen first: the provider registers it as the
        // back-channel logout URI before any instance can start.
        let b_port = free_port();
        let provider = Provider::start(&registration(
            PUBLIC,
            Some(format!("http://127.0.0.1:{b_port}/sso/backchannel-logout")),
        ));
        let extra = [
            "--directory",
            &redis_url,
            "--oidc-allowed-domain",
            "example.com",
        ];
        let args = oidc_args(&provider.issuer, PUBLIC, &extra);
        let b = Server::start_on(dir.path(), &args, &format!("127.0.0.1:{b_port}"));
        let a = Server::start(dir.path(), &args);
        let c = Server::start(dir.path(), &args);
        Farm {
            provider,
            redis,
            redis_url,
            a,
            b,
            c,
            dir,
        }
    }

    fn all(&self) -> [&Server; 3] {
        [&self.a, &self.b, &self.c]
    }

    /// Waits until every instance accepts `cookie` (a user provisioned on
    /// one reaches the others through Redis); how long that took, at most.
    async fn settle(&self, cookie: &str) -> Duration {
        let started = Instant::now();
        for server in self.all() {
            while auth_status(server, cookie).await != 200 {
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "{} does not accept the cookie: {:?}",
                    server.instance,
                    server.log()
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        started.elapsed()
    }
}

/// `GET /sso/login?resource=RESOURCE` on `server`: the provider's
/// authorization URL it redirects to, and the state cookie it set as a
/// `name=value` pair.
async fn start_login(server: &Server, resource: &str) -> (String, String) {
    let url = Url::parse_with_params(&server.url("/sso/login"), [("resource", resource)]).unwrap();
    let response = fetch(url.as_str(), None).await;
    assert!(
        response.status().is_redirection(),
        "/sso/login on {}: {} {:?}",
        server.instance,
        response.status(),
        server.log()
    );
    let authorization = location(&response).to_owned();
    let state = set_cookies(&response)
        .into_iter()
        .find(|c| c.name() == "sso-state" || c.name() == "__Host-sso-state")
        .unwrap_or_else(|| panic!("no sso-state cookie from /sso/login: {response:?}"));
    assert_eq!(state.http_only(), Some(true), "sso-state is HttpOnly");
    assert_eq!(
        state.same_site(),
        Some(cookie::SameSite::Lax),
        "sso-state is SameSite=Lax"
    );
    (authorization, format!("{}={}", state.name(), state.value()))
}

/// Sends the provider's redirect `callback` (to the redirect URI, at the
/// farm's public URL) to `server` instead, with `cookie` when given.
async fn callback(server: &Server, callback: &Url, cookie: Option<&str>) -> reqwest::Response {
    assert_eq!(
        callback.path(),
        "/sso/callback",
        "the provider sends the browser to the redirect URI: {callback}"
    );
    let url = server.url(&format!("/sso/callback?{}", callback.query().unwrap_or("")));
    fetch(&url, cookie).await
}

fn set_cookies(response: &reqwest::Response) -> Vec<cookie::Cookie<'static>> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| cookie::Cookie::parse(value.to_str().unwrap().to_owned()).unwrap())
        .collect()
}

/// The `login-token=...` pair a response set, if it set one with a value.
fn login_cookie(response: &reqwest::Response) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| c.name().ends_with("login-token") && !c.value().is_empty())
        .map(|c| format!("{}={}", c.name(), c.value()))
}

/// A finished single sign-on: the login cookie, where it sent the browser.
struct SignedIn {
    cookie: String,
    location: String,
    /// The names of the cookies the callback set.
    cookies: Vec<String>,
}

/// `login` signs in at the provider: started on `start`, called back on
/// `finish`, for `resource`; asserts it worked.
async fn sign_in(
    user: &ProviderUser,
    start: &Server,
    finish: &Server,
    login: &str,
    resource: &str,
) -> SignedIn {
    let (authorization, state) = start_login(start, resource).await;
    let back = user.authorize(&authorization, login).await;
    let response = callback(finish, &back, Some(&state)).await;
    assert!(
        response.status().is_redirection(),
        "the callback of {login} on {}: {} {:?}",
        finish.instance,
        response.status(),
        finish.log()
    );
    let cookie = login_cookie(&response)
        .unwrap_or_else(|| panic!("no login cookie for {login}: {response:?}"));
    let cleared = set_cookies(&response)
        .into_iter()
        .any(|c| c.name().ends_with("sso-state") && c.value().is_empty());
    assert!(cleared, "the callback clears sso-state: {response:?}");
    SignedIn {
        cookie,
        location: location(&response).to_owned(),
        cookies: set_cookies(&response)
            .iter()
            .map(|c| c.name().to_owned())
            .collect(),
    }
}

/// Starts and runs a sign-in of `login` up to the callback, then sends it
/// to `finish`: the response, for refusals.
async fn refused_sign_in(
    user: &ProviderUser,
    start: &Server,
    finish: &Server,
    login: &str,
) -> reqwest::Response {
    let (authorization, state) = start_login(start, PAGE).await;
    let back = user.authorize(&authorization, login).await;
    callback(finish, &back, Some(&state)).await
}

/// Asserts a refused callback: a 4xx page with a way to try again, and no
/// login cookie.
async fn assert_refused(response: reqwest::Response, status: Option<u16>, what: &str) {
    let code = response.status().as_u16();
    match status {
        Some(expected) => assert_eq!(code, expected, "{what}"),
        None => assert!((400..500).contains(&code), "{what}: {code}"),
    }
    assert_eq!(login_cookie(&response), None, "{what}: no login cookie");
    let page = response.text().await.unwrap();
    assert!(
        page.contains("/sso/login"),
        "{what}: the page offers to try again: {page}"
    );
}

/// `/auth` with `cookie`: the status and the identity headers.
/// One client for the farm's routes, made once: building a reqwest client
/// loads the system's root certificates (rustls), which would dwarf the
/// times measured.
fn shared_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(support::client)
}

/// `GET url`, with `cookie` when given, on the shared client.
async fn fetch(url: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = shared_client().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("the request is answered")
}

async fn auth(
    server: &Server,
    cookie: &str,
) -> (u16, Option<String>, Option<String>, Option<String>) {
    let response = fetch(&server.url("/auth"), Some(cookie)).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    (
        response.status().as_u16(),
        header("x-auth-user"),
        header("x-auth-email"),
        header("x-auth-groups"),
    )
}

async fn auth_status(server: &Server, cookie: &str) -> u16 {
    auth(server, cookie).await.0
}

/// Polls `/auth` on each of `servers` until it refuses `cookie`; when each
/// did, counted from `since`. Fails past `within`.
async fn ended_on<const N: usize>(
    servers: [&Server; N],
    cookie: &str,
    since: Instant,
    within: Duration,
) -> [Duration; N] {
    let mut ended = [None; N];
    while ended.iter().any(Option::is_none) {
        for (i, server) in servers.iter().enumerate() {
            if ended[i].is_none() && auth_status(server, cookie).await == 401 {
                ended[i] = Some(since.elapsed());
            }
        }
        assert!(
            since.elapsed() < within,
            "the session did not end everywhere within {within:?}: {ended:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ended.map(Option::unwrap)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_started_on_one_instance_finishes_on_another_and_works_on_the_third() {
    let farm = Farm::start();
    let alice = ProviderUser::new(&farm.provider);
    shared_client();

    let started = Instant::now();
    let (authorization, state) = start_login(&farm.a, PAGE).await;
    let authorization_url = Url::parse(&authorization).unwrap();
    let query: std::collections::HashMap<_, _> = authorization_url.query_pairs().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256", "PKCE S256");
    assert_eq!(query["redirect_uri"], format!("{PUBLIC}/sso/callback"));
    for param in ["state", "nonce", "code_challenge"] {
        assert!(
            query.get(param).is_some_and(|v| v.len() >= 16),
            "{param}: {query:?}"
        );
    }
    let back = alice.authorize(&authorization, "alice").await;
    let response = callback(&farm.b, &back, Some(&state)).await;
    let round_trip = started.elapsed();
    assert!(
        response.status().is_redirection(),
        "{response:?} {:?}",
        farm.b.log()
    );
    assert_eq!(location(&response), PAGE, "back to the page asked for");
    let cookie = login_cookie(&response).expect("a login cookie");
    eprintln!(
        "sso: login round trip (A's /sso/login, the provider's login and consent forms, \
         B's callback with the code exchange) {} ms",
        round_trip.as_millis()
    );

    // C never saw this login, and knows alice from the Redis directory.
    let provisioned = farm.settle(&cookie).await;
    eprintln!(
        "sso: a first login's user reached all three instances {} ms after B's callback answered",
        provisioned.as_millis()
    );
    let (status, user, email, groups) = auth(&farm.c, &cookie).await;
    assert_eq!(status, 200, "{:?}", farm.c.log());
    assert_eq!(user.as_deref(), Some("alice@example.com"));
    assert_eq!(email.as_deref(), Some("alice@example.com"));
    assert_eq!(groups.as_deref(), Some("staff,editors"));
    for server in farm.all() {
        assert_eq!(
            auth_status(server, &cookie).await,
            200,
            "on {}",
            server.instance
        );
    }

    // The provider's tokens are kept nowhere: the directory in Redis holds
    // alice's record and no JWT (an ID token starts with `eyJ`).
    assert_eq!(
        farm.redis
            .cli(&["CONFIG", "SET", "rdbcompression", "no"])
            .trim(),
        "OK"
    );
    assert_eq!(farm.redis.cli(&["SAVE"]).trim(), "OK");
    let dump = std::fs::read(farm.redis.dir().join("dump.rdb")).unwrap();
    let holds = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    assert!(holds(b"alice@example.com"), "alice is provisioned in Redis");
    assert!(!holds(b"eyJ"), "no token of the provider's in Redis");

    // The same callback again (its code is used): refused, on any instance.
    for server in [&farm.b, &farm.c] {
        let again = callback(server, &back, Some(&state)).await;
        assert_refused(again, None, "a replayed callback").await;
    }
    // The state cookie is not a login token anywhere.
    assert_eq!(auth_status(&farm.c, &state).await, 401);
    let as_login = format!("login-token={}", state.split_once('=').unwrap().1);
    assert_eq!(
        auth_status(&farm.c, &as_login).await,
        401,
        "sso-state is no login token"
    );
}

/// The browser's next request after the callback may land on any
/// instance at once: a first login's user must be known there already,
/// although its announcement through Redis may not have arrived (an
/// instance looks a verified token's unknown user up in Redis once).
#[tokio::test(flavor = "multi_thread")]
async fn a_first_login_works_on_every_instance_the_moment_the_callback_answers() {
    let farm = Farm::start();
    let mut refused = Vec::new();
    for round in 0..30 {
        let login = format!("newcomer-{round}");
        let user = ProviderUser::new(&farm.provider);
        let signed_in = sign_in(&user, &farm.a, &farm.b, &login, PAGE).await;
        for server in [&farm.c, &farm.a] {
            if auth_status(server, &signed_in.cookie).await != 200 {
                refused.push(format!("{login} on {}", server.instance));
            }
        }
        farm.settle(&signed_in.cookie).await;
    }
    assert!(
        refused.is_empty(),
        "refused right after the callback (provisioning had not reached them yet): {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_at_the_provider_ends_the_session_on_every_instance_and_forgeries_end_none() {
    let farm = Farm::start();
    let alice = ProviderUser::new(&farm.provider);
    let signed_in = sign_in(&alice, &farm.a, &farm.b, "alice", PAGE).await;
    let cookie = signed_in.cookie;
    farm.settle(&cookie).await;

    // Forged logout tokens, sent where the provider sends real ones.
    let issuer = farm.provider.issuer.clone();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // (what is wrong, the key that signs, the claims that differ)
    let forgeries = [
        ("alg none", "none", serde_json::json!({})),
        ("a wrong signature", "foreign", serde_json::json!({})),
        (
            "a wrong audience",
            "provider",
            serde_json::json!({ "aud": "another-client" }),
        ),
        (
            "a wrong issuer",
            "provider",
            serde_json::json!({ "iss": format!("{issuer}/other") }),
        ),
        (
            "no logout event",
            "provider",
            serde_json::json!({ "events": {} }),
        ),
        (
            "a nonce",
            "provider",
            serde_json::json!({ "nonce": "n-0S6_WzA2Mj" }),
        ),
        (
            "issued in an hour",
            "provider",
            serde_json::json!({ "iat": now + 3600, "exp": now + 7200 }),
        ),
    ];
    let mut tokens = vec![("garbage", "not.a.jwt".to_owned())];
    for (what, key, claims) in forgeries {
        tokens.push((what, farm.provider.forge_logout_token(key, claims).await));
    }
    for (what, token) in &tokens {
        let response = support::post_fields(
            &farm.b.url("/sso/backchannel-logout"),
            &[("logout_token", token)],
            &[],
        )
        .await;
        assert_eq!(response.status(), 400, "a logout token with {what}");
    }
    let response = support::post_fields(&farm.b.url("/sso/backchannel-logout"), &[], &[]).await;
    assert_eq!(response.status(), 400, "no logout token");
    // They revoked nothing: give a revocation time to spread, then look.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for server in farm.all() {
        assert_eq!(
            auth_status(server, &cookie).await,
            200,
            "a forgery ended nothing on {}",
            server.instance
        );
    }

    // The control: the same route's token, valid, for carol, is taken
    // (so the forgeries above failed for what each changed) and ends
    // carol's session alone.
    let carol = sign_in(
        &ProviderUser::new(&farm.provider),
        &farm.c,
        &farm.a,
        "carol",
        PAGE,
    )
    .await;
    farm.settle(&carol.cookie).await;
    let valid = farm
        .provider
        .forge_logout_token("provider", serde_json::json!({ "sub": "carol" }))
        .await;
    let response = support::post_fields(
        &farm.b.url("/sso/backchannel-logout"),
        &[("logout_token", &valid)],
        &[],
    )
    .await;
    assert_eq!(response.status(), 200, "a valid logout token for carol");
    let within = Duration::from_secs(2);
    ended_on(farm.all(), &carol.cookie, Instant::now(), within).await;
    for server in farm.all() {
        assert_eq!(auth_status(server, &cookie).await, 200, "alice's did not");
    }

    // The user signs out at the provider (its end-session page): the
    // provider posts a logout token to B before it answers.
    let started = Instant::now();
    let answer = alice.sign_out("session/end").await;
    assert!(
        answer.status().is_redirection() || answer.status() == 200,
        "the provider signed alice out: {}",
        answer.status()
    );
    let provider_done = started.elapsed();
    farm.provider.wait_for_log("backchannel.success");
    let lags = ended_on(farm.all(), &cookie, started, Duration::from_secs(5)).await;
    let lag = lags.iter().max().unwrap();
    eprintln!(
        "sso: back-channel logout lag (provider sign-out confirmed to 401 on all three) {} ms \
         (A {} ms, B {} ms, C {} ms; the provider answered after {} ms)",
        lag.as_millis(),
        lags[0].as_millis(),
        lags[1].as_millis(),
        lags[2].as_millis(),
        provider_done.as_millis()
    );
    assert!(*lag < Duration::from_secs(2), "within 2 s: {lag:?}");

    // A new login works again afterwards.
    let again = sign_in(&alice, &farm.c, &farm.a, "alice", PAGE).await;
    assert_eq!(auth_status(&farm.b, &again.cookie).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn our_logout_sends_the_browser_to_the_providers_end_session() {
    let farm = Farm::start();
    let alice = ProviderUser::new(&farm.provider);
    let signed_in = sign_in(&alice, &farm.a, &farm.b, "alice", PAGE).await;
    farm.settle(&signed_in.cookie).await;
    let response = support::client()
        .post(farm.c.url("/logout"))
        .header("cookie", &signed_in.cookie)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_redirection(),
        "{response:?} {:?}",
        farm.c.log()
    );
    let cleared = set_cookies(&response)
        .into_iter()
        .any(|c| c.name().ends_with("login-token") && c.value().is_empty());
    assert!(cleared, "logout clears the login cookie: {response:?}");
    let end_session = Url::parse(location(&response)).unwrap_or_else(|e| {
        panic!(
            "POST /logout of an SSO session sends the browser to the provider, not to {:?} ({e}): {:?}",
            location(&response),
            farm.c.log()
        )
    });
    assert_eq!(
        end_session.as_str().split('?').next(),
        Some(format!("{}/session/end", farm.provider.issuer).as_str())
    );
    let query: std::collections::HashMap<_, _> = end_session.query_pairs().collect();
    assert_eq!(query.get("client_id").map(|v| v.as_ref()), Some(CLIENT_ID));
    let after = query
        .get("post_logout_redirect_uri")
        .expect("a post_logout_redirect_uri");
    assert!(after.starts_with(PUBLIC), "back to the farm: {after}");

    // The provider accepts that request, and signing out there ends the
    // session everywhere through the back channel.
    let answer = alice.sign_out(end_session.as_str()).await;
    assert!(answer.status().is_redirection(), "{}", answer.status());
    assert!(
        location(&answer).starts_with(after.as_ref()),
        "the provider sends the browser back: {}",
        location(&answer)
    );
    farm.provider.wait_for_log("backchannel.success");
    let within = Duration::from_secs(2);
    ended_on(farm.all(), &signed_in.cookie, Instant::now(), within).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_or_missing_state_is_refused_before_the_code_is_spent() {
    let farm = Farm::start();
    let alice = ProviderUser::new(&farm.provider);
    let (authorization, state) = start_login(&farm.a, PAGE).await;
    let back = alice.authorize(&authorization, "alice").await;

    let tampered_query = |name: &str| {
        let mut url = back.clone();
        let pairs: Vec<(String, String)> = back
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == name {
                    flip_last(&v)
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url
    };
    let (name, value) = state.split_once('=').unwrap();
    let tampered_cookie = format!("{name}={}", flip_last(value));
    let other_login_state = start_login(&farm.a, PAGE).await.1;
    let cases = [
        (
            "a tampered state",
            tampered_query("state"),
            Some(state.clone()),
        ),
        ("a tampered iss", tampered_query("iss"), Some(state.clone())),
        ("a missing sso-state cookie", back.clone(), None),
        (
            "a tampered sso-state cookie",
            back.clone(),
            Some(tampered_cookie),
        ),
        (
            "another login's sso-state",
            back.clone(),
            Some(other_login_state),
        ),
    ];
    for (what, url, cookie) in cases {
        let response = callback(&farm.b, &url, cookie.as_deref()).await;
        assert_refused(response, None, what).await;
    }
    // None of them spent the code: the genuine callback still signs in.
    let response = callback(&farm.c, &back, Some(&state)).await;
    assert!(
        response.status().is_redirection(),
        "{response:?} {:?}",
        farm.c.log()
    );
    let cookie = login_cookie(&response).expect("a login cookie");
    farm.settle(&cookie).await;
}

/// `text` with its last character changed (still URL- and cookie-safe).
fn flip_last(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let last = chars.last_mut().expect("a value");
    *last = if *last == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_outside_the_allowed_domains_gets_403_and_no_session() {
    let farm = Farm::start();
    let bob = ProviderUser::new(&farm.provider);
    let response = refused_sign_in(&bob, &farm.a, &farm.b, "bob").await;
    assert_refused(response, Some(403), "bob@other.test outside example.com").await;
    let dave = ProviderUser::new(&farm.provider);
    let response = refused_sign_in(&dave, &farm.a, &farm.b, "dave").await;
    assert_refused(response, None, "dave's email is not verified").await;
    // Neither was provisioned: an allowed user still signs in.
    let alice = ProviderUser::new(&farm.provider);
    let signed_in = sign_in(&alice, &farm.b, &farm.c, "alice", PAGE).await;
    farm.settle(&signed_in.cookie).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_return_targets_end_on_local_paths() {
    let farm = Farm::start();
    let public = Url::parse(PUBLIC).unwrap();
    let hostile = [
        "//x",
        "https://x",
        "/\\x",
        "/%09/x",
        "/ok\r\nSet-Cookie: evil=1",
        "\r\nLocation: https://x",
    ];
    for (i, resource) in hostile.into_iter().enumerate() {
        let user = ProviderUser::new(&farm.provider);
        let servers = farm.all();
        let signed_in = sign_in(
            &user,
            servers[i % 3],
            servers[(i + 1) % 3],
            "alice",
            resource,
        )
        .await;
        let target = public.join(&signed_in.location).unwrap();
        assert_eq!(
            target.origin(),
            public.origin(),
            "{resource:?} ended on {:?}",
            signed_in.location
        );
        assert!(
            signed_in.location.starts_with('/')
                && !signed_in.location.starts_with("//")
                && !signed_in.location.starts_with("/\\"),
            "{resource:?}: a local path, not {:?}",
            signed_in.location
        );
        // CR LF dropped (as a browser's parser drops them): no header
        // was injected into the answer.
        assert!(
            !signed_in.cookies.iter().any(|name| name == "evil"),
            "{resource:?}: {:?}",
            signed_in.cookies
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_email_or_a_local_password_user_cannot_take_over_an_account() {
    let farm = Farm::start();
    // carol@example.com is a local password user.
    etoken_ok(
        farm.dir.path(),
        &[
            "user",
            "add",
            "--directory",
            &farm.redis_url,
            "carol@example.com",
        ],
        "carol-pw\n",
    );
    // Every instance knows carol before she tries the provider.
    let deadline = Instant::now() + Duration::from_secs(5);
    for server in farm.all() {
        let form = "j_username=carol%40example.com&j_password=carol-pw";
        while support::post_form(&server.url("/j_security_check"), form)
            .await
            .status()
            != 303
        {
            assert!(
                Instant::now() < deadline,
                "carol reached {}: {:?}",
                server.instance,
                server.log()
            );
            // Seldom needed (Redis announces in milliseconds); slow, so
            // that failed logins do not reach the throttle.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let carol = ProviderUser::new(&farm.provider);
    let response = refused_sign_in(&carol, &farm.a, &farm.b, "carol").await;
    assert_refused(response, None, "an SSO login onto a local password user").await;
    let password_login = support::login(&farm.c, "carol@example.com", "carol-pw").await;
    assert_eq!(
        auth_status(&farm.a, &password_login).await,
        200,
        "carol's own login"
    );

    // alice binds alice@example.com to her subject; alice-new, another
    // subject with the same (reassigned) email, is refused.
    let alice = ProviderUser::new(&farm.provider);
    let first = sign_in(&alice, &farm.a, &farm.b, "alice", PAGE).await;
    farm.settle(&first.cookie).await;
    let newcomer = ProviderUser::new(&farm.provider);
    let response = refused_sign_in(&newcomer, &farm.b, &farm.c, "alice-new").await;
    assert_refused(response, None, "the same email under another subject").await;
    assert_eq!(
        auth_status(&farm.c, &first.cookie).await,
        200,
        "alice keeps hers"
    );
    let again = sign_in(
        &ProviderUser::new(&farm.provider),
        &farm.c,
        &farm.a,
        "alice",
        PAGE,
    )
    .await;
    assert_eq!(
        auth_status(&farm.b, &again.cookie).await,
        200,
        "and signs in again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_based_instance_takes_a_pre_provisioned_sso_user() {
    let tmp = files_with_alice();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("two")).unwrap();
    std::fs::copy(dir.join("users.json"), dir.join("two/users.json")).unwrap();
    let provider = Provider::start(&registration(PUBLIC, None));
    let files = ["--users", "users.json", "--reload-interval", "1s"];
    let one = Server::start(dir, &oidc_args(&provider.issuer, PUBLIC, &files));
    let two_files = ["--users", "two/users.json", "--reload-interval", "1s"];
    let two = Server::start(dir, &oidc_args(&provider.issuer, PUBLIC, &two_files));

    // No password: the pre-provisioned user cannot log in with one.
    let response = support::post_form(
        &one.url("/j_security_check"),
        "j_username=alice%40example.com&j_password=",
    )
    .await;
    assert_ne!(response.status(), 303, "an SSO user has no password");

    let alice = ProviderUser::new(&provider);
    let signed_in = sign_in(&alice, &one, &two, "alice", PAGE).await;
    for server in [&one, &two] {
        let (status, user, _, groups) = auth(server, &signed_in.cookie).await;
        assert_eq!(status, 200, "{:?}", server.log());
        assert_eq!(user.as_deref(), Some("alice@example.com"));
        assert_eq!(groups.as_deref(), Some("staff,editors"));
    }

    // bob was not pre-provisioned: the instance that takes his callback
    // writes him into its own users file; the other does not know him.
    let bob = ProviderUser::new(&provider);
    let signed_in = sign_in(&bob, &two, &one, "bob", PAGE).await;
    assert_eq!(auth_status(&one, &signed_in.cookie).await, 200);
    let users = std::fs::read_to_string(dir.join("users.json")).unwrap();
    assert!(users.contains("bob@other.test"), "{users}");
    assert!(
        !users.contains("eyJ"),
        "no token of the provider's: {users}"
    );
    let others = std::fs::read_to_string(dir.join("two/users.json")).unwrap();
    assert!(!others.contains("bob@other.test"), "{others}");
    assert_eq!(
        auth_status(&two, &signed_in.cookie).await,
        401,
        "caveat 2: not on two"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_cannot_be_used_stops_start_up_with_one_line() {
    let tmp = files_with_alice();
    let dir = tmp.path();
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    let provider = Provider::start(&registration(PUBLIC, None));
    let no_discovery = format!("{}/no-such-issuer", provider.issuer);
    for issuer in [unreachable.as_str(), no_discovery.as_str()] {
        let args = oidc_args(issuer, PUBLIC, &["--users", "users.json"]);
        let out = serve_refused(dir, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{issuer}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{issuer}: one line: {err}"
        );
        assert!(
            err.contains(issuer),
            "{issuer}: the line names the issuer: {err}"
        );
        assert!(!err.contains(CLIENT_SECRET), "the secret is never printed");
    }
    // A secret file others can read is refused too, and not printed.
    write_secret(dir, 0o644);
    let args = oidc_args(&provider.issuer, PUBLIC, &["--users", "users.json"]);
    let out = serve_refused(dir, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("oidc-secret"), "{err}");
    assert!(!err.contains(CLIENT_SECRET), "the secret is never printed");
}

/// The page nginx serves behind single sign-on.
const PROTECTED_PAGE: &str = "<!doctype html><title>protected</title><p>the protected page</p>\n";

/// nginx in front of `upstream` on `port`: `/content/` behind
/// `auth_request` to `/auth`, a 401 sent to `/sso/login`; stopped when
/// dropped.
struct Nginx {
    child: std::process::Child,
}

impl Nginx {
    fn start(dir: &Path, port: u16, upstream: &str) -> Nginx {
        let www = dir.join("www");
        for section in ["content", "editors"] {
            std::fs::create_dir_all(www.join(section)).unwrap();
            std::fs::write(www.join(section).join("page.html"), PROTECTED_PAGE).unwrap();
        }
        let path = |name: &str| dir.join(name).display().to_string();
        // Run as root (CI), workers would switch to `nobody`, who cannot
        // read this private directory.
        let user = if rustix::process::geteuid().is_root() {
            "user root;"
        } else {
            ""
        };
        let config = format!(
            "{user} daemon off; worker_processes 1; pid {pid}; error_log {error} info;
events {{ worker_connections 64; }}
http {{
    access_log {access};
    client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
    uwsgi_temp_path {temp}; scgi_temp_path {temp};
    upstream etoken {{ server {upstream}; }}
    server {{
        listen 127.0.0.1:{port};
        proxy_set_header Host $http_host;
        location /sso/ {{ proxy_pass http://etoken; }}
        location = /logout {{ proxy_pass http://etoken; }}
        location = /_auth {{
            internal;
            proxy_pass http://etoken/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length \"\";
            proxy_set_header X-Original-URI $request_uri;
        }}
        location /content/ {{
            auth_request /_auth;
            auth_request_set $auth_user $upstream_http_x_auth_user;
            auth_request_set $auth_groups $upstream_http_x_auth_groups;
            add_header X-Auth-User $auth_user;
            add_header X-Auth-Groups $auth_groups;
            error_page 401 = @login;
            root {www};
        }}
        # Editors only: /auth?group=editors answers 403 to everyone else.
        location = /_auth_editors {{
            internal;
            proxy_pass http://etoken/auth?group=editors;
            proxy_pass_request_body off;
            proxy_set_header Content-Length \"\";
        }}
        location /editors/ {{
            auth_request /_auth_editors;
            error_page 401 = @login;
            root {www};
        }}
        location @login {{ return 302 /sso/login?resource=$request_uri; }}
    }}
}}
",
            pid = path("nginx.pid"),
            error = path("error.log"),
            access = path("access.log"),
            temp = path("temp"),
            www = www.display(),
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("nginx is installed (scripts/test installs it)");
        let child = std::process::Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts");
        let nginx = Nginx { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "nginx did not listen: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers, then itself.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_at_the_provider_through_nginx_and_returns_to_the_page() {
    let python = support::venv_python("browser-venv", "playwright", &["playwright==1.65.2"]);
    let tmp = files_with_alice();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("nginx")).unwrap();
    let nginx_port = free_port();
    let public = format!("http://127.0.0.1:{nginx_port}");
    let provider = Provider::start(&registration(&public, None));
    let args = oidc_args(
        &provider.issuer,
        &public,
        &["--users", "users.json", "--insecure-cookies"],
    );
    let server = Server::start(dir, &args);
    let _nginx = Nginx::start(&dir.join("nginx"), nginx_port, &server.addr);

    let protected = format!("{public}{PAGE}");
    let unauthenticated = get(&protected, &[]).await;
    assert_eq!(unauthenticated.status(), 302, "nginx sends a stranger away");
    let to = Url::parse(&public)
        .unwrap()
        .join(location(&unauthenticated))
        .unwrap();
    assert_eq!(to.path(), "/sso/login", "{to}");
    assert_eq!(to.query(), Some("resource=/content/page.html"), "{to}");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/sso.py");
    let shots = dir.to_owned();
    let args = [
        protected.clone(),
        provider.issuer.clone(),
        "alice".to_owned(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(args)
            .arg(&shots)
            .output()
    })
    .await
    .unwrap()
    .expect("the browser script runs");
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    assert!(
        out.status.success(),
        "{report}\n{}\n{:?}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert_eq!(report.matches("ok   ").count(), 7, "{report}");
    assert!(dir.join("sso-protected.png").exists());

    // nginx authorizes a location by group: alice (staff, editors) gets
    // the editors' page, bob (staff) a 403, a stranger the login.
    let editors = format!("{public}/editors/page.html");
    let alice = sign_in(
        &ProviderUser::new(&provider),
        &server,
        &server,
        "alice",
        PAGE,
    )
    .await;
    let bob = sign_in(&ProviderUser::new(&provider), &server, &server, "bob", PAGE).await;
    let page = get(&editors, &[("cookie", &alice.cookie)]).await;
    assert_eq!(page.status(), 200, "alice is an editor");
    assert!(page.text().await.unwrap().contains("the protected page"));
    let page = get(&editors, &[("cookie", &bob.cookie)]).await;
    assert_eq!(page.status(), 403, "bob is not");
    assert_eq!(
        get(&editors, &[]).await.status(),
        302,
        "a stranger signs in first"
    );
    let page = get(&protected, &[("cookie", &bob.cookie)]).await;
    assert_eq!(page.status(), 200, "bob may read the rest");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_state_cookie_login_page_and_group_rules() {
    let tmp = files_with_alice();
    let dir = tmp.path();
    etoken_ok(
        dir,
        &["user", "add", "--users", "users.json", "local"],
        "local-pw\n",
    );
    const HTTPS: &str = "https://publish.test";
    let mut both = registration(PUBLIC, None);
    both.redirect_uris.push(format!("{HTTPS}/sso/callback"));
    let provider = Provider::start(&both);
    let users = ["--users", "users.json"];

    // Behind https: __Host-sso-state, Secure, Path=/, no Domain, 10 minutes.
    let secure = Server::start(dir, &oidc_args(&provider.issuer, HTTPS, &users));
    let response = get(&secure.url("/sso/login?resource=/content/"), &[]).await;
    assert!(response.status().is_redirection(), "{response:?}");
    let state = set_cookies(&response)
        .into_iter()
        .find(|c| c.name().ends_with("sso-state"))
        .expect("a state cookie");
    assert_eq!(state.name(), "__Host-sso-state");
    assert_eq!(state.secure(), Some(true));
    assert_eq!(state.path(), Some("/"));
    assert_eq!(state.domain(), None);
    let max_age = state.max_age().expect("a Max-Age").whole_seconds();
    assert!((1..=600).contains(&max_age), "short-lived: {max_age} s");

    // The login page offers the provider; --password-login off hides the form.
    let page = get(&secure.url("/login"), &[]).await.text().await.unwrap();
    assert!(page.contains("/sso/login"), "{page}");
    assert!(page.contains("j_password"), "{page}");
    let mut no_passwords = users.to_vec();
    no_passwords.extend(["--password-login", "off"]);
    let sso_only = Server::start(dir, &oidc_args(&provider.issuer, HTTPS, &no_passwords));
    let page = get(&sso_only.url("/login"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("/sso/login"), "{page}");
    assert!(!page.contains("j_password"), "{page}");
    // and refuses the password post too; the other instance takes it.
    let form = "j_username=local&j_password=local-pw";
    let refused = support::post_form(&sso_only.url("/j_security_check"), form).await;
    assert_eq!(refused.status(), 403, "no password logins");
    let taken = support::post_form(&secure.url("/j_security_check"), form).await;
    assert_eq!(taken.status(), 303, "a password login where they are on");

    // --oidc-allowed-group: editors only; alice is one, bob is not.
    let mut editors = users.to_vec();
    editors.extend(["--oidc-allowed-group", "editors"]);
    let server = Server::start(dir, &oidc_args(&provider.issuer, PUBLIC, &editors));
    let bob = ProviderUser::new(&provider);
    let response = refused_sign_in(&bob, &server, &server, "bob").await;
    assert_refused(response, Some(403), "bob is not in editors").await;
    let alice = sign_in(
        &ProviderUser::new(&provider),
        &server,
        &server,
        "alice",
        PAGE,
    )
    .await;
    let (status, _, _, groups) = auth(&server, &alice.cookie).await;
    assert_eq!(status, 200);
    assert_eq!(groups.as_deref(), Some("staff,editors"));
    let in_group = |group: &'static str| {
        let url = server.url(&format!("/auth?group={group}"));
        let cookie = alice.cookie.clone();
        async move { get(&url, &[("cookie", &cookie)]).await.status().as_u16() }
    };
    assert_eq!(in_group("editors").await, 200, "/auth?group=editors");
    assert_eq!(in_group("admins").await, 403, "/auth?group=admins");
}
