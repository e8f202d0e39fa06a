//! The HTTP surface of `etoken serve` attacked as issue 15 did, as a process
//! on 127.0.0.1: cross-site form posts (login CSRF, forced logout), framing
//! and sniffing (the security headers of every HTML response), slow clients
//! (header read timeout, idle keep-alive, the connection cap), oversized
//! bodies, and `__Host-` cookie names.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use support::{PATIENCE, Server, client, etoken, login, post_form, serve_files, setup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The header read timeout the slow-client tests run with.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How much later than the timeout a connection may close on a loaded
/// 2-core machine and still count as on time.
const SLACK: Duration = Duration::from_secs(3);

fn alice_server(dir: &std::path::Path, extra: &[&str]) -> Server {
    setup(dir, &["alice"]);
    let mut args = vec!["--insecure-cookies"];
    args.extend_from_slice(extra);
    serve_files(dir, &args)
}

const ALICE: &str = "j_username=alice&j_password=alice-pw";

/// POSTs a form to `path` with extra headers.
async fn post(
    server: &Server,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client()
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request is answered")
}

/// Writes `request` on a new connection and reads until the server closes
/// it; returns what it sent.
async fn raw(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before taking all of a large body.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Reads until the server closes `stream`; how long that took from `since`.
async fn closed_after(stream: &mut TcpStream, since: Instant) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("connection still open after {PATIENCE:?}"),
        }
    }
}

fn status_of(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_login_and_logout_are_refused_without_a_cookie() {
    let tmp = tempfile::tempdir().unwrap();
    let server = alice_server(tmp.path(), &[]);
    let cookie = login(&server, "alice", "alice-pw").await;
    let cross_site: [&[(&str, &str)]; 5] = [
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://evil.example"),
        ],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "http://evil.example")],
        &[("origin", "null")],
        &[("referer", "http://evil.example/login.html")],
    ];
    for headers in cross_site {
        let refused = post(&server, "/j_security_check", ALICE, headers).await;
        assert_eq!(refused.status(), 403, "login {headers:?}");
        assert!(
            refused.headers().get("set-cookie").is_none(),
            "login {headers:?}"
        );

        let mut with_cookie = headers.to_vec();
        with_cookie.push(("cookie", &cookie));
        let refused = post(&server, "/logout", "", &with_cookie).await;
        assert_eq!(refused.status(), 403, "logout {headers:?}");
        assert!(
            refused.headers().get("set-cookie").is_none(),
            "logout {headers:?}"
        );
    }
    let lines = server.wait_for_logs("refused POST \"/j_security_check\": cross-site request", 5);
    assert!(
        lines[0].contains("Sec-Fetch-Site \"cross-site\""),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("Origin \"http://evil.example\""),
        "{lines:?}"
    );
    server.wait_for_logs("refused POST \"/logout\": cross-site request", 5);
    // Only the helper's login above (no origin headers, as curl) checked a password.
    assert_eq!(
        server.count_log("login: \"alice\""),
        1,
        "{:?}",
        server.log()
    );
    // The session survived the forced logout attempts.
    let auth = support::get(&server.url("/auth"), &[("cookie", &cookie)]).await;
    assert_eq!(auth.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn same_origin_login_and_logout_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let server = alice_server(tmp.path(), &["--public-url", "https://publish.example"]);
    let own = server.url("");
    let referer = server.url("/login?resource=/content/");
    let same_origin: [&[(&str, &str)]; 5] = [
        &[("sec-fetch-site", "same-origin"), ("origin", &own)],
        &[("sec-fetch-site", "none")],
        &[("origin", &own)],
        &[("referer", &referer)],
        // Behind a proxy that rewrites Host, the public URL's origin counts.
        &[
            ("host", "etoken_farm"),
            ("origin", "https://publish.example"),
        ],
    ];
    for headers in same_origin {
        let accepted = post(&server, "/j_security_check", ALICE, headers).await;
        assert_eq!(accepted.status(), 303, "login {headers:?}");
        let set = accepted.headers()["set-cookie"].to_str().unwrap();
        assert!(set.starts_with("login-token=et2."), "{set}");

        let logout = post(&server, "/logout", "", headers).await;
        assert_eq!(logout.status(), 303, "logout {headers:?}");
        let cleared = logout.headers()["set-cookie"].to_str().unwrap();
        assert!(cleared.starts_with("login-token=;"), "{cleared}");
    }
    // A proxied Host without --public-url is not the Origin's.
    let foreign = post(
        &server,
        "/logout",
        "",
        &[("host", "etoken_farm"), ("origin", "https://other.example")],
    )
    .await;
    assert_eq!(foreign.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_without_origin_headers_may_log_in_but_not_log_out() {
    let tmp = tempfile::tempdir().unwrap();
    let server = alice_server(tmp.path(), &[]);
    // curl: no Sec-Fetch-Site, Origin or Referer.
    let cookie = login(&server, "alice", "alice-pw").await;
    let logout = post(&server, "/logout", "", &[("cookie", &cookie)]).await;
    assert_eq!(logout.status(), 403);
    assert!(logout.headers().get("set-cookie").is_none());
    let line = server.wait_for_log("refused POST \"/logout\"");
    assert!(
        line.contains("no Sec-Fetch-Site, Origin or Referer"),
        "{line}"
    );
}

/// The CSP a page must carry: its one inline style allowed by hash.
fn expected_csp(page: &str) -> String {
    let style = page
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(style, _)| style)
        .expect("the page has an inline style");
    let hash = STANDARD.encode(Sha256::digest(style.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_html_route_carries_the_security_headers() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    // HSTS goes with Secure cookies only: one server of each.
    for secure in [false, true] {
        let flags: &[&str] = if secure { &[] } else { &["--insecure-cookies"] };
        let server = serve_files(tmp.path(), flags);
        let cookie = login(&server, "alice", "alice-pw").await;
        let pages = [
            ("GET /login", client().get(server.url("/login"))),
            (
                "GET /login?resource=",
                client().get(server.url("/login?resource=/content/a%22b")),
            ),
            ("GET / signed out", client().get(server.url("/"))),
            (
                "GET / signed in",
                client().get(server.url("/")).header("cookie", &cookie),
            ),
            (
                "POST /j_security_check, wrong password",
                client()
                    .post(server.url("/j_security_check"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("j_username=alice&j_password=wrong"),
            ),
        ];
        for (what, request) in pages {
            let response = request.send().await.unwrap();
            let headers = response.headers().clone();
            let body = response.text().await.unwrap();
            let header = |name: &str| {
                headers
                    .get(name)
                    .unwrap_or_else(|| panic!("{what}: no {name}"))
                    .to_str()
                    .unwrap()
                    .to_owned()
            };
            assert!(header("content-type").starts_with("text/html"), "{what}");
            assert_eq!(
                header("content-security-policy"),
                expected_csp(&body),
                "{what}"
            );
            assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
            assert_eq!(header("referrer-policy"), "same-origin", "{what}");
            assert_eq!(header("x-frame-options"), "DENY", "{what}");
            assert_eq!(header("cache-control"), "no-store", "{what}");
            match secure {
                true => assert_eq!(header("strict-transport-security"), "max-age=31536000"),
                false => assert!(headers.get("strict-transport-security").is_none(), "{what}"),
            }
        }
        // JSON is not a page: no CSP, but never sniffed as one.
        let health = support::get(&server.url("/healthz"), &[]).await;
        assert!(health.headers().get("content-security-policy").is_none());
        assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_disconnected_on_time_while_healthz_answers() {
    const SLOW: usize = 1000;
    let tmp = tempfile::tempdir().unwrap();
    let server = alice_server(
        tmp.path(),
        &["--header-read-timeout", "2s", "--max-connections", "2000"],
    );
    let addr = server.addr.clone();

    // The ordinary client: a new connection per request, so the server
    // keeps accepting while the slow ones are held.
    let stop = Arc::new(AtomicBool::new(false));
    let ordinary = {
        let (stop, url) = (stop.clone(), server.url("/healthz"));
        tokio::spawn(async move {
            let fresh = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                let response = fresh.get(&url).send().await.expect("/healthz answers");
                assert_eq!(response.status(), 200);
                latencies.push(start.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            latencies
        })
    };

    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(&addr).await.expect("connects");
                let sent = Instant::now();
                stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
                    .await
                    .unwrap();
                closed_after(&mut stream, sent).await
            })
        })
        .collect();
    let mut closed = Vec::with_capacity(SLOW);
    for connection in slow {
        closed.push(connection.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = ordinary.await.unwrap();
    closed.sort();
    latencies.sort();

    let at = |sorted: &[Duration], share: f64| sorted[((sorted.len() - 1) as f64 * share) as usize];
    eprintln!(
        "{SLOW} half-sent requests closed after min {:?}, median {:?}, max {:?} \
         (header read timeout {TIMEOUT:?}); meanwhile /healthz answered {} times, \
         latency median {:?}, p99 {:?}, max {:?}",
        closed[0],
        at(&closed, 0.5),
        closed[SLOW - 1],
        latencies.len(),
        at(&latencies, 0.5),
        at(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    // The client's clock starts after its connect task resumes, which lags
    // the server's accept by up to a few hundred ms on a loaded machine.
    assert!(
        closed[0] >= TIMEOUT - Duration::from_millis(500),
        "held until the timeout: {:?}",
        closed[0]
    );
    assert!(
        closed[SLOW - 1] <= TIMEOUT + SLACK,
        "closed on time: {:?}",
        closed[SLOW - 1]
    );
    // Served all along: many answers, none waiting for a slow client's slot.
    assert!(latencies.len() >= 20, "{} answers", latencies.len());
    assert!(
        latencies[latencies.len() - 1] < TIMEOUT / 2,
        "max /healthz latency {:?}",
        latencies[latencies.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let server = alice_server(tmp.path(), &["--header-read-timeout", "2s"]);
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let idle = Instant::now();
    let after = closed_after(&mut stream, idle).await;
    assert!(after >= TIMEOUT - Duration::from_millis(300), "{after:?}");
    assert!(after <= TIMEOUT + SLACK, "{after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn at_max_connections_new_clients_wait_and_those_in_progress_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let server = alice_server(
        tmp.path(),
        &["--header-read-timeout", "2s", "--max-connections", "3"],
    );
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut buf = [0u8; 4096];
    // One connection in progress, kept alive.
    let mut busy = TcpStream::connect(&server.addr).await.unwrap();
    busy.write_all(request).await.unwrap();
    let n = busy.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Two slow clients fill the cap.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&server.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    let held = Instant::now();
    // A fourth client: its connection waits in the backlog, unanswered.
    let mut waiting = TcpStream::connect(&server.addr).await.unwrap();
    waiting.write_all(request).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(800), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "answered beyond the cap: {early:?}");
    // The connection in progress is still served.
    busy.write_all(request).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(1), busy.read(&mut buf))
        .await
        .expect("the connection in progress is answered")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Once the slow clients time out, the waiting one is served.
    let n = tokio::time::timeout(PATIENCE, waiting.read(&mut buf))
        .await
        .expect("the waiting client is answered")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        held.elapsed() >= TIMEOUT - Duration::from_millis(300),
        "{:?}",
        held.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_get_413_and_no_password_is_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let server = alice_server(tmp.path(), &[]);
    let big = format!("j_username=alice&j_password={}", "x".repeat(1 << 20));
    assert_eq!(
        post_form(&server.url("/j_security_check"), &big)
            .await
            .status(),
        413
    );
    let just_over = format!("j_username=alice&j_password={}", "x".repeat(16 * 1024));
    assert_eq!(
        post_form(&server.url("/j_security_check"), &just_over)
            .await
            .status(),
        413
    );
    let logout = post(
        &server,
        "/logout",
        &big,
        &[("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(logout.status(), 413);
    assert!(logout.headers().get("set-cookie").is_none());

    // Refused from the Content-Length alone: the body is never sent.
    let announced = raw(
        &server.addr,
        b"POST /j_security_check HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&announced), "413", "{announced}");

    // Chunked, without a length: refused once 16 KiB have arrived.
    let mut chunked = b"POST /j_security_check HTTP/1.1\r\nHost: 127.0.0.1\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
        1b\r\nj_username=alice&j_password\r\n"
        .to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(format!("2000\r\n{}\r\n", "x".repeat(0x2000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(&server.addr, &chunked).await;
    assert_eq!(status_of(&answer), "413", "{answer}");

    // A small wrong password is checked and logged: the oversized ones were not.
    let wrong = post_form(
        &server.url("/j_security_check"),
        "j_username=alice&j_password=no",
    )
    .await;
    assert_eq!(wrong.status(), 401);
    server.wait_for_log("refused login for \"alice\": ");
    assert_eq!(
        server.count_log("refused login for \"alice\""),
        1,
        "{:?}",
        server.log()
    );
    assert_eq!(
        server.count_log("login: \"alice\""),
        0,
        "{:?}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_is_cut_off() {
    let tmp = tempfile::tempdir().unwrap();
    let server = alice_server(tmp.path(), &["--header-read-timeout", "2s"]);
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /j_security_check HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              j_username=alice&",
        )
        .await
        .unwrap();
    let stalled = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the server gives up on the body")
        .unwrap();
    let after = stalled.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(status_of(&answer).starts_with('4'), "{answer}");
    assert!(after >= TIMEOUT - Duration::from_millis(300), "{after:?}");
    assert!(after <= TIMEOUT + SLACK, "{after:?}");
    assert_eq!(
        server.count_log("refused login for"),
        0,
        "{:?}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_prefixed_cookie_name_needs_secure_and_then_works() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let refused = |extra: &[&str], needle: &str| {
        let mut args = vec!["serve", "--keys", "keys", "--users", "users.json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        let out = etoken(tmp.path(), &args, "");
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with("etoken: cannot start: --cookie-name: cookie name "),
            "{err}"
        );
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(err.contains("--insecure-cookies"), "says which flag: {err}");
    };
    refused(
        &["--cookie-name", "__Host-login", "--insecure-cookies"],
        "starts with __Host-, which browsers accept only on a Secure cookie with Path=/ and no Domain",
    );
    refused(
        &["--cookie-name", "__host-login", "--insecure-cookies"],
        "__Host-",
    );
    refused(
        &["--cookie-name", "__Secure-login", "--insecure-cookies"],
        "starts with __Secure-, which browsers accept only on a Secure cookie:",
    );

    // With Secure cookies it starts, and the cookie is what browsers require.
    let server = serve_files(tmp.path(), &["--cookie-name", "__Host-login"]);
    let response = post_form(&server.url("/j_security_check"), ALICE).await;
    assert_eq!(response.status(), 303);
    let set = response.headers()["set-cookie"].to_str().unwrap();
    let parsed = cookie::Cookie::parse(set.to_owned()).unwrap();
    assert_eq!(parsed.name(), "__Host-login");
    assert_eq!(parsed.secure(), Some(true));
    assert_eq!(parsed.path(), Some("/"));
    assert_eq!(parsed.domain(), None);
    let pair = format!("__Host-login={}", parsed.value());
    let auth = support::get(&server.url("/auth"), &[("cookie", &pair)]).await;
    assert_eq!(auth.status(), 200);
    assert_eq!(auth.headers()["x-auth-user"], "alice");
    let logout = post(
        &server,
        "/logout",
        "",
        &[("cookie", &pair), ("sec-fetch-site", "same-origin")],
    )
    .await;
    let cleared =
        cookie::Cookie::parse(logout.headers()["set-cookie"].to_str().unwrap().to_owned()).unwrap();
    assert_eq!(
        (cleared.name(), cleared.value(), cleared.path()),
        ("__Host-login", "", Some("/"))
    );
}
