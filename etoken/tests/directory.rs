//! The farm-wide directory in Redis, on real `etoken serve` instances and
//! a real `redis-server`: changes made with the CLI reach every instance
//! without a reload, a revocation within a second, Redis stopped changes
//! nothing for valid cookies, and Redis back brings changes made meanwhile.
//! The stateful mode ends a session on every instance at logout and answers
//! 503 without Redis. Bad URLs and garbage records are refused.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Redis, Server, etoken, etoken_ok, get, login, post_form, serve_refused};

async fn auth_status(server: &Server, cookie: &str) -> u16 {
    get(&server.url("/auth"), &[("cookie", cookie)])
        .await
        .status()
        .as_u16()
}

fn add_user(dir: &Path, url: &str, user: &str) {
    etoken_ok(
        dir,
        &["user", "add", "--directory", url, user],
        &format!("{user}-pw\n"),
    );
}

fn serve(dir: &Path, url: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--keys", "keys", "--directory", url];
    args.extend_from_slice(extra);
    Server::start(dir, &args)
}

/// Polls `check` until it holds, for at most `within`; how long it took.
async fn until<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

async fn login_status(server: &Server, user: &str, password: &str) -> u16 {
    post_form(
        &server.url("/j_security_check"),
        &format!("j_username={user}&j_password={password}"),
    )
    .await
    .status()
    .as_u16()
}

async fn health(server: &Server) -> serde_json::Value {
    get(&server.url("/healthz"), &[])
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_follow_one_redis_through_changes_and_an_outage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    etoken_ok(dir, &["key", "init", "--dir", "keys"], "");
    let mut redis = Redis::start(&dir.join("redis"));
    let url = redis.url();
    add_user(dir, &url, "alice");
    let one = serve(dir, &url, &[]);
    let two = serve(dir, &url, &[]);
    one.wait_for_log("directory: loaded 1 users");
    let alice = login(&one, "alice", "alice-pw").await;
    assert_eq!(auth_status(&two, &alice).await, 200);

    // A user added through the CLI logs in on both, without a reload.
    add_user(dir, &url, "bob");
    for server in [&one, &two] {
        let took = until(Duration::from_secs(1), || async {
            login_status(server, "bob", "bob-pw").await == 303
        })
        .await;
        assert!(took.is_some(), "bob logs in on {}", server.instance);
    }
    let bob = login(&two, "bob", "bob-pw").await;

    // revoke-sessions: the old cookie is refused on both within a second.
    let said = etoken_ok(
        dir,
        &["user", "revoke-sessions", "--directory", &url, "alice"],
        "",
    );
    assert!(said.contains("on every instance"), "{said}");
    let revoked = Instant::now();
    for server in [&one, &two] {
        let took = until(Duration::from_secs(1), || async {
            auth_status(server, &alice).await == 401
        })
        .await;
        assert!(took.is_some(), "the revocation reached {}", server.instance);
    }
    let propagation = revoked.elapsed();
    println!(
        "revocation reached both instances {} ms after the CLI returned",
        propagation.as_millis()
    );
    assert!(propagation < Duration::from_secs(1));
    assert_eq!(
        auth_status(&one, &bob).await,
        200,
        "other users keep theirs"
    );

    // Logout everywhere from a browser: farm-wide.
    let bob_again = login(&one, "bob", "bob-pw").await;
    let response = support::client()
        .post(one.url("/logout?everywhere=true"))
        .header("cookie", &bob_again)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("every instance of the farm")
    );
    assert_eq!(
        auth_status(&one, &bob).await,
        401,
        "at once on this instance"
    );
    let took = until(Duration::from_secs(1), || async {
        auth_status(&two, &bob_again).await == 401
    })
    .await;
    assert!(took.is_some(), "and within a second on the other");
    let bob = login(&two, "bob", "bob-pw").await;

    // Redis stopped: both keep accepting valid cookies, and say stale.
    let port = redis.port;
    redis.stop();
    one.wait_for_log("directory: lost Redis");
    two.wait_for_log("directory: lost Redis");
    for server in [&one, &two] {
        assert_eq!(auth_status(server, &bob).await, 200);
        let health = health(server).await;
        assert_eq!(health["status"], "degraded", "{health}");
        assert_eq!(health["degraded"][0]["source"], "directory", "{health}");
        assert!(health["degraded"][0]["stale_since"].is_string(), "{health}");
    }
    // Writes fail with a clear error.
    let out = etoken(
        dir,
        &["user", "revoke-sessions", "--directory", &url, "bob"],
        "",
    );
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.starts_with("etoken: --directory: "), "{error}");

    // Meanwhile another writer changes the data (on a copy of the store
    // the instances do not see, so no announcement reaches them): carol
    // added, bob removed. Redis back with that data: both pick it up.
    let mut other = Redis::start_on(redis.dir(), support::free_port());
    add_user(dir, &other.url(), "carol");
    etoken_ok(
        dir,
        &["user", "remove", "--directory", &other.url(), "bob"],
        "",
    );
    other.stop();
    let _back = Redis::start_on(redis.dir(), port);
    for server in [&one, &two] {
        server.wait_for_log("directory: Redis is back");
        let took = until(Duration::from_secs(5), || async {
            login_status(server, "carol", "carol-pw").await == 303
        })
        .await;
        assert!(took.is_some(), "carol on {}", server.instance);
        assert_eq!(auth_status(server, &bob).await, 401, "bob is gone");
        assert_eq!(health(server).await["status"], "ok");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stateful_logout_ends_the_session_everywhere_and_redis_down_is_503() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    etoken_ok(dir, &["key", "init", "--dir", "keys"], "");
    let mut redis = Redis::start(&dir.join("redis"));
    let url = redis.url();
    add_user(dir, &url, "alice");
    let one = serve(dir, &url, &["--mode", "stateful"]);
    let two = serve(dir, &url, &["--mode", "stateful"]);
    let alice = login(&one, "alice", "alice-pw").await;
    assert_eq!(auth_status(&two, &alice).await, 200);
    let keys = redis.cli(&["--scan", "--pattern", "etoken:session:*"]);
    assert!(keys.contains(":alice"), "the login is recorded: {keys}");
    let ttl: u64 = redis.cli(&["TTL", keys.trim()]).trim().parse().unwrap();
    assert!(ttl > 0 && ttl <= 7 * 86400, "with a TTL: {ttl}");

    let response = support::client()
        .post(two.url("/logout"))
        .header("cookie", &alice)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        auth_status(&one, &alice).await,
        401,
        "ended on the other at once"
    );
    one.wait_for_log("reason=\"session_ended\"");

    // A session the store never saw (minted with the farm's key) is refused.
    let minted = etoken_ok(dir, &["mint", "--keys", "keys", "--user", "alice"], "");
    let minted = format!("login-token={}", minted.trim());
    assert_eq!(auth_status(&one, &minted).await, 401);

    let again = login(&one, "alice", "alice-pw").await;
    assert_eq!(auth_status(&two, &again).await, 200);
    redis.stop();
    assert_eq!(auth_status(&one, &again).await, 503, "never 200, never 500");
    assert_eq!(auth_status(&two, &again).await, 503);
    one.wait_for_log("reason=\"directory_unavailable\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_directory_urls_are_one_line_and_exit_code_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    etoken_ok(dir, &["key", "init", "--dir", "keys"], "");
    let closed = format!("redis://127.0.0.1:{}/0", support::free_port());
    for url in ["not a url", "http://127.0.0.1/", closed.as_str()] {
        let out = serve_refused(dir, &["--keys", "keys", "--directory", url]);
        assert_eq!(out.status.code(), Some(1), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{url}: {stderr}");
        assert!(
            lines[0].starts_with("etoken: cannot start: --directory: "),
            "{stderr}"
        );
    }
    let out = serve_refused(
        dir,
        &["--keys", "keys", "--users", "u.json", "--mode", "stateful"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mode stateful"));
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_in_a_directory_record_is_refused_and_logged_never_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    etoken_ok(dir, &["key", "init", "--dir", "keys"], "");
    let redis = Redis::start(&dir.join("redis"));
    let url = redis.url();
    add_user(dir, &url, "alice");
    // Written by another client, bypassing our checks.
    redis.cli(&[
        "HSET",
        "etoken:users",
        "mallory",
        "{\"password\":\"plain\"}",
    ]);
    redis.cli(&["HSET", "etoken:users", "eve", "\u{1}garbage"]);
    let server = serve(dir, &url, &[]);
    server.wait_for_log("refused record users:\"mallory\"");
    server.wait_for_log("refused record users:\"eve\"");
    let mallory = etoken_ok(dir, &["mint", "--keys", "keys", "--user", "mallory"], "");
    let mallory = format!("login-token={}", mallory.trim());
    assert_eq!(auth_status(&server, &mallory).await, 401, "not a user");

    // A good user turned to garbage while running stops existing.
    let alice = login(&server, "alice", "alice-pw").await;
    redis.cli(&["HSET", "etoken:users", "alice", "[1,2"]);
    redis.cli(&["PUBLISH", "etoken:changes", "users:alice"]);
    server.wait_for_log("refused record users:\"alice\"");
    assert_eq!(auth_status(&server, &alice).await, 401);
    // An unreadable revocation fails closed; unknown messages are ignored.
    redis.cli(&["PUBLISH", "etoken:changes", "nonsense"]);
    server.wait_for_log("unknown change message");
    add_user(dir, &url, "zoe");
    let took = until(Duration::from_secs(1), || async {
        login_status(&server, "zoe", "zoe-pw").await == 303
    })
    .await;
    assert!(took.is_some(), "the instance still follows");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_everywhere_with_a_users_file_rewrites_it_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    support::setup(dir, &["alice"]);
    let server = support::serve_files(dir, &[]);
    let first = login(&server, "alice", "alice-pw").await;
    let second = login(&server, "alice", "alice-pw").await;
    let response = support::client()
        .post(server.url("/logout?everywhere=true"))
        .header("cookie", &second)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("other instances follow when the file is replicated"),
        "{page}"
    );
    assert_eq!(
        auth_status(&server, &first).await,
        401,
        "the other session too"
    );
    let file = std::fs::read_to_string(dir.join("users.json")).unwrap();
    assert!(file.contains("sessions_revoked_before"), "{file}");
}
