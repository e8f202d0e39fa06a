//! Login throttling on a running `etoken serve`: past its attempts, an
//! account or a client address gets 429 with `Retry-After` before any
//! password is hashed; a success starts the account afresh; a client's own
//! `X-Forwarded-For` is believed only from a `--trusted-proxy`; over-long
//! names are refused unhashed and logged short.

mod support;

use std::time::{Duration, Instant};

use support::{Server, serve_files, setup};

/// POSTs a login from this test's client, with extra headers; returns the
/// status, the `Retry-After` value and how long the answer took.
async fn attempt(
    server: &Server,
    user: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Duration) {
    let mut request = support::client()
        .post(server.url("/j_security_check"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(format!("j_username={user}&j_password={password}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let started = Instant::now();
    let response = request.send().await.expect("answered");
    let took = started.elapsed();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry, took)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_is_throttled_before_hashing_and_reset_by_a_success() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice", "bob"]);
    let server = serve_files(tmp.path(), &["--login-limit-account", "3/1m"]);

    // Two failures, then the right password: the third attempt is heard,
    // and the success forgets the failures.
    for _ in 0..2 {
        assert_eq!(attempt(&server, "alice", "guess", &[]).await.0, 401);
    }
    assert_eq!(attempt(&server, "alice", "alice-pw", &[]).await.0, 303);
    let mut hashed = Vec::new();
    for _ in 0..3 {
        let (status, _, took) = attempt(&server, "alice", "guess", &[]).await;
        assert_eq!(status, 401, "three attempts again after the success");
        hashed.push(took);
    }
    let checks = server
        .wait_for_logs("refused login for \"alice\": wrong password", 5)
        .len();
    assert_eq!(checks, 5);

    // The fourth in a row is refused before any hashing, right password or not.
    let mut throttled = Vec::new();
    for password in ["guess", "alice-pw"] {
        let (status, retry, took) = attempt(&server, "alice", password, &[]).await;
        assert_eq!(status, 429);
        let retry: u64 = retry.expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        throttled.push(took);
    }
    server.wait_for_log("throttled login for \"alice\": retry after");
    assert_eq!(
        server.count_log("refused login for \"alice\""),
        checks,
        "no password was checked for the throttled attempts"
    );
    // Another account is not affected.
    assert_eq!(attempt(&server, "bob", "bob-pw", &[]).await.0, 303);
    eprintln!("hashed attempts took {hashed:?}; throttled ones {throttled:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_is_throttled_and_forwarded_for_counts_only_from_a_trusted_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let direct = serve_files(tmp.path(), &["--login-limit-address", "4/1m"]);
    // A client choosing its own address with X-Forwarded-For is still one
    // client: the peer, 127.0.0.1.
    for i in 0..4 {
        let forwarded = format!("198.51.100.{i}");
        let (status, ..) = attempt(
            &direct,
            &format!("user{i}"),
            "x",
            &[("x-forwarded-for", &forwarded)],
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, retry, _) =
        attempt(&direct, "user9", "x", &[("x-forwarded-for", "203.0.113.1")]).await;
    assert_eq!(status, 429, "a spoofed X-Forwarded-For does not help");
    assert!(retry.is_some());
    direct.wait_for_log("client=127.0.0.1");

    // Behind a trusted proxy (this test's client plays it), each forwarded
    // client has its own limit.
    let proxied = serve_files(
        tmp.path(),
        &[
            "--login-limit-address",
            "2/1m",
            "--trusted-proxy",
            "127.0.0.0/8",
        ],
    );
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let headers = [("x-forwarded-for", client)];
        for _ in 0..2 {
            let (status, ..) = attempt(&proxied, client, "x", &headers).await;
            assert_eq!(status, 401, "{client}");
        }
        let (status, ..) = attempt(&proxied, client, "x", &headers).await;
        assert_eq!(status, 429, "{client} past its own limit");
    }
    proxied.wait_for_log("client=198.51.100.3");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_long_names_and_passwords_are_refused_unhashed_and_logged_short() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let server = serve_files(tmp.path(), &[]);
    let long_name = "n".repeat(5000);
    assert_eq!(attempt(&server, &long_name, "x", &[]).await.0, 401);
    let line = server.wait_for_log("user name or password over its bound");
    assert!(line.len() < 400, "logged whole: {} bytes", line.len());
    assert!(line.contains("nnn…\""), "cut and quoted: {line}");
    let long_password = "p".repeat(1025);
    assert_eq!(attempt(&server, "alice", &long_password, &[]).await.0, 401);
    server.wait_for_logs("user name or password over its bound", 2);
    assert_eq!(server.count_log("wrong password"), 0, "nothing was hashed");
}
