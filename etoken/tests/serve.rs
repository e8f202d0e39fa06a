//! `etoken serve` as a process on 127.0.0.1: the embedded default, login,
//! `/auth`, `/whoami`, logout, health; refusals with a 4xx and a log line
//! saying why; start-up refusals with a one-line reason; key and user reload
//! on SIGHUP and by polling; graceful shutdown on SIGTERM.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use support::{Server, etoken, etoken_ok, get, login, post_form, serve_refused, setup};

fn set_mode(path: &std::path::Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The id of the active key, from `etoken key list --json`.
fn active_key(dir: &std::path::Path) -> String {
    let rows: Value = serde_json::from_str(&etoken_ok(
        dir,
        &["key", "list", "--dir", "keys", "--json"],
        "",
    ))
    .unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["state"] == "active")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn mint(dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["mint", "--keys", "keys"];
    all.extend_from_slice(args);
    etoken_ok(dir, &all, "").trim().to_owned()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_default_makes_etoken_data_once_with_a_random_admin_password() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), &[]);
    let password = server
        .admin_password()
        .expect("the admin password is printed");
    assert!(password.len() >= 20, "a long random password: {password}");

    let data = tmp.path().join("etoken-data");
    let entries: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(
        entries.len(),
        1,
        "only etoken-data in the working directory"
    );
    assert_eq!(
        fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let users = fs::read_to_string(data.join("users.json")).unwrap();
    assert!(users.contains("\"admin\"") && !users.contains(&password));
    assert!(
        server
            .instance
            .ends_with(&format!(":{}", server.addr.rsplit(':').next().unwrap()))
    );

    // The printed password logs in; the cookie has no Secure (plain http).
    let response = post_form(
        &server.url("/j_security_check"),
        &format!("j_username=admin&j_password={password}"),
    )
    .await;
    assert_eq!(response.status(), 303);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.starts_with("login-token=et2."), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    drop(server);

    // A second start reuses the data and prints no password.
    let again = Server::start(tmp.path(), &[]);
    assert!(
        !again.banner.join("\n").contains("password"),
        "{:?}",
        again.banner
    );
    login(&again, "admin", &password).await;
    let fresh = etoken(
        tmp.path(),
        &["key", "list", "--dir", "etoken-data/keys"],
        "",
    );
    assert!(fresh.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn login_auth_whoami_logout() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let server = Server::start(
        tmp.path(),
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--instance",
            "pub-1",
            "--audience",
            "publish",
        ],
    );
    assert_eq!(server.instance, "pub-1");

    // The login page posts to j_security_check and keeps the resource.
    let page = get(&server.url("/login?resource=/content/page.html"), &[]).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-instance"], "pub-1");
    let html = page.text().await.unwrap();
    for needle in [
        "/j_security_check",
        "j_username",
        "j_password",
        "value=\"/content/page.html\"",
    ] {
        assert!(html.contains(needle), "{needle}: {html}");
    }

    let response = post_form(
        &server.url("/j_security_check"),
        "j_username=alice&j_password=alice-pw&resource=%2Fcontent%2Fpage.html",
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/content/page.html");
    assert_eq!(response.headers()["x-instance"], "pub-1");
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    let parsed = cookie::Cookie::parse(set_cookie.to_owned()).unwrap();
    assert_eq!(parsed.name(), "login-token");
    assert_eq!(parsed.http_only(), Some(true));
    assert_eq!(
        parsed.secure(),
        Some(true),
        "Secure unless --insecure-cookies"
    );
    assert!(parsed.same_site().is_some());
    let cookie = format!("login-token={}", parsed.value());

    let auth = get(&server.url("/auth"), &[("cookie", &cookie)]).await;
    assert_eq!(auth.status(), 200);
    assert_eq!(auth.headers()["x-auth-user"], "alice");
    assert_eq!(auth.headers()["x-instance"], "pub-1");

    let whoami = get(&server.url("/whoami"), &[("cookie", &cookie)]).await;
    assert_eq!(whoami.status(), 200);
    let claims: Value = whoami.json_value().await;
    assert_eq!(claims["subject"], "alice");
    assert_eq!(claims["audience"], "publish");
    assert_eq!(claims["source"], "cookie");
    assert_eq!(claims["key_id"], active_key(tmp.path()).as_str());

    let home = get(&server.url("/"), &[("cookie", &cookie)]).await;
    assert!(home.text().await.unwrap().contains("Signed in as alice"));

    // A bearer token minted on the command line (a local development token).
    let token = mint(
        tmp.path(),
        &["--user", "alice", "--aud", "publish", "--ttl", "24h"],
    );
    let auth = get(&server.url("/auth"), &[("authorization", &bearer(&token))]).await;
    assert_eq!(auth.status(), 200);
    let whoami: Value = get(
        &server.url("/whoami"),
        &[("authorization", &bearer(&token))],
    )
    .await
    .json_value()
    .await;
    assert_eq!(whoami["source"], "bearer");

    // As a browser posts the logout form: same-origin (see tests/guard.rs).
    let logout = support::client()
        .post(server.url("/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    let cleared =
        cookie::Cookie::parse(logout.headers()["set-cookie"].to_str().unwrap().to_owned()).unwrap();
    assert_eq!(cleared.name(), "login-token");
    assert_eq!(cleared.value(), "");
    assert_eq!(cleared.max_age(), Some(cookie::time::Duration::ZERO));

    let health: Value = get(&server.url("/healthz"), &[]).await.json_value().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["instance"], "pub-1");
    let fingerprint = etoken_ok(tmp.path(), &["key", "fingerprint", "--dir", "keys"], "");
    assert_eq!(health["ring"], fingerprint.trim());
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_4xx_uniform_and_logged_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let server = Server::start(
        tmp.path(),
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--audience",
            "publish",
        ],
    );
    let check = server.url("/j_security_check");

    let wrong = post_form(&check, "j_username=alice&j_password=nope").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let wrong_page = wrong.text().await.unwrap();
    let unknown = post_form(&check, "j_username=mallory&j_password=nope").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(
        unknown.text().await.unwrap(),
        wrong_page,
        "the client cannot tell which"
    );
    server.wait_for_log("refused login for \"alice\": wrong password");
    server.wait_for_log("refused login for \"mallory\": unknown user");

    // Malformed bodies: missing fields, another content type, bad encoding.
    let missing = post_form(&check, "j_username=alice").await;
    assert!(missing.status().is_client_error(), "{}", missing.status());
    assert!(missing.text().await.unwrap().contains("j_password"));
    let json = support::client()
        .post(&check)
        .header("content-type", "application/json")
        .body("{\"j_username\":\"alice\"}")
        .send()
        .await
        .unwrap();
    assert!(json.status().is_client_error(), "{}", json.status());
    let garbage = post_form(&check, "%%%&&&=").await;
    assert!(garbage.status().is_client_error(), "{}", garbage.status());
    server.wait_for_logs("refused login: malformed form", 3);

    // An off-site resource is ignored.
    let response = post_form(
        &check,
        "j_username=alice&j_password=alice-pw&resource=%2F%2Fevil.example%2F",
    )
    .await;
    assert_eq!(response.headers()["location"], "/");

    // /auth: missing, malformed, wrong audience, another key: 401 alike.
    let auth = server.url("/auth");
    assert_eq!(get(&auth, &[]).await.status(), 401);
    let garbled = get(&auth, &[("cookie", "login-token=et2.garbage")]).await;
    assert_eq!(garbled.status(), 401);
    assert_eq!(garbled.headers()["x-instance"], server.instance.as_str());
    let no_audience = mint(tmp.path(), &["--user", "alice"]);
    assert_eq!(
        get(&auth, &[("authorization", &bearer(&no_audience))])
            .await
            .status(),
        401
    );
    server.wait_for_log("wrong_audience");
    etoken_ok(tmp.path(), &["key", "init", "--dir", "other"], "");
    let foreign = etoken_ok(
        tmp.path(),
        &[
            "mint", "--keys", "other", "--user", "alice", "--aud", "publish",
        ],
        "",
    );
    let refused = get(
        &auth,
        &[("cookie", &format!("login-token={}", foreign.trim()))],
    )
    .await;
    assert_eq!(refused.status(), 401);
    let line = server.wait_for_log("unknown_key_id");
    assert!(line.contains("which this instance does not hold"), "{line}");

    assert_eq!(get(&server.url("/whoami"), &[]).await.status(), 401);
    let missing_page = get(&server.url("/no/such/page"), &[]).await;
    assert_eq!(missing_page.status(), 404);
    assert_eq!(
        missing_page.headers()["x-instance"],
        server.instance.as_str()
    );
    assert_eq!(get(&server.url("/logout"), &[]).await.status(), 405);
}

/// Redirect targets a client might give the login form, from the WHATWG
/// URL parser's rules: each must send the browser to a page of this site.
const HOSTILE_TARGETS: &[&str] = &[
    "/\t/evil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/.//evil.example",
    "/..//evil.example",
    "http:/\\evil.example",
    "http://evil.example",
    "https:evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "\u{1f}//evil.example",
    "//evil.example\u{0}",
];

/// `resource=TARGET` as a form field, percent-encoded.
fn resource_field(target: &str) -> String {
    format!(
        "resource={}",
        url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
    )
}

/// The hidden `resource` field of a login page, unescaped.
fn hidden_resource(html: &str) -> String {
    let start = html
        .find("name=\"resource\" value=\"")
        .expect("a resource field")
        + 23;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].replace("&amp;", "&")
}

/// Logs alice in with `resource=TARGET`; the `Location` answered.
async fn location_after_login(server: &Server, target: &str) -> String {
    let body = format!(
        "j_username=alice&j_password=alice-pw&{}",
        resource_field(target)
    );
    let response = post_form(&server.url("/j_security_check"), &body).await;
    assert_eq!(response.status(), 303, "{target:?}");
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_redirect_stays_on_this_site() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let server = Server::start(tmp.path(), &["--keys", "keys", "--users", "users.json"]);
    let site = url::Url::parse(&server.url("/j_security_check")).unwrap();

    // The finding: the query decodes to `/<TAB>/evil.example`, which a
    // browser reads as `//evil.example`. The page must not carry it on...
    let page = get(&server.url("/login?resource=/%09/evil.example"), &[]).await;
    let html = page.text().await.unwrap();
    assert_eq!(hidden_resource(&html), "/", "{html}");
    assert!(!html.contains("evil"), "{html}");
    // ...and the form, posted as the browser would, goes home.
    let location = location_after_login(&server, &hidden_resource(&html)).await;
    assert_eq!(site.join(&location).unwrap().origin(), site.origin());
    // An attacker's own form, posting the raw target, gets no further.
    for target in HOSTILE_TARGETS {
        let location = location_after_login(&server, target).await;
        let landed = site.join(&location).unwrap();
        assert_eq!(
            landed.origin(),
            site.origin(),
            "{target:?} sent to {landed}"
        );
        assert!(
            !location.contains('\t') && !location.contains('\\'),
            "{location:?}"
        );
    }
    server.wait_for_log("redirect target refused, sent to /: \"/\\t/evil.example\"");

    // A real page with a query string survives, in the form and after it.
    let benign = "/content/page.html?a=1&b=two";
    let page = get(
        &server.url(&format!("/login?{}", resource_field(benign))),
        &[],
    )
    .await;
    let carried = hidden_resource(&page.text().await.unwrap());
    assert_eq!(carried, benign);
    assert_eq!(location_after_login(&server, &carried).await, benign);
    // What is sent is the parser's serialization, not the client's text.
    assert_eq!(
        location_after_login(&server, "/search?q=a b#top").await,
        "/search?q=a%20b"
    );
}

/// The same hostile targets, with the `Location`s judged by a WHATWG URL
/// parser we did not write or choose: Node's `URL`, which is the one in
/// Chromium's engine lineage (Ada). Node must be installed (scripts/test
/// installs it); without it this test fails, it does not skip.
#[tokio::test(flavor = "multi_thread")]
async fn login_redirects_stay_on_this_site_for_nodes_url_parser() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let server = Server::start(tmp.path(), &["--keys", "keys", "--users", "users.json"]);
    let mut locations = Vec::new();
    for target in HOSTILE_TARGETS {
        locations.push(location_after_login(&server, target).await);
    }
    let host = server.addr.clone();
    // For each Location: the origin it lands on from an http and an https
    // page of this site.
    let script = r#"
        const [host, ...locations] = JSON.parse(require("fs").readFileSync(0, "utf8"));
        const pages = [`http://${host}/j_security_check`, `https://${host}/j_security_check`];
        console.log(JSON.stringify(locations.map(l => pages.map(p => [new URL(p).origin, new URL(l, p).origin]))));
    "#;
    let mut input = vec![host];
    input.extend(locations.iter().cloned());
    let mut node = std::process::Command::new("node")
        .args(["-e", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node is installed (scripts/test installs nodejs)");
    std::io::Write::write_all(
        &mut node.stdin.take().unwrap(),
        serde_json::to_string(&input).unwrap().as_bytes(),
    )
    .unwrap();
    let out = node.wait_with_output().unwrap();
    assert!(out.status.success(), "node: {out:?}");
    let origins: Vec<Vec<(String, String)>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(origins.len(), HOSTILE_TARGETS.len());
    for ((target, location), pages) in HOSTILE_TARGETS.iter().zip(&locations).zip(&origins) {
        for (page, landed) in pages {
            assert_eq!(landed, page, "{target:?} sent as {location:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_missing_on_this_instance_is_refused_until_added() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    // A second instance: the same keys, a users file without alice.
    fs::copy(
        tmp.path().join("users.json"),
        tmp.path().join("users2.json"),
    )
    .unwrap();
    etoken_ok(
        tmp.path(),
        &["user", "remove", "--users", "users2.json", "alice"],
        "",
    );
    etoken_ok(
        tmp.path(),
        &["user", "add", "--users", "users2.json", "bob"],
        "bob-pw\n",
    );
    let one = Server::start(tmp.path(), &["--keys", "keys", "--users", "users.json"]);
    let two = Server::start(
        tmp.path(),
        &[
            "--keys",
            "keys",
            "--users",
            "users2.json",
            "--reload-interval",
            "1s",
        ],
    );

    let cookie = login(&one, "alice", "alice-pw").await;
    assert_eq!(
        get(&one.url("/auth"), &[("cookie", &cookie)])
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&two.url("/auth"), &[("cookie", &cookie)])
            .await
            .status(),
        401
    );
    two.wait_for_log("no such user exists on this instance");

    // The user is created on instance two: the same cookie now works there.
    etoken_ok(
        tmp.path(),
        &["user", "add", "--users", "users2.json", "alice"],
        "other-pw\n",
    );
    two.wait_for_log("users file changed");
    let auth = get(&two.url("/auth"), &[("cookie", &cookie)]).await;
    assert_eq!(auth.status(), 200);
    assert_eq!(auth.headers()["x-auth-user"], "alice");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_a_rotated_key_directory_and_a_broken_one_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let dir = tmp.path();
    // Polling effectively off: only SIGHUP reloads in this test.
    let server = Server::start(
        dir,
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--reload-interval",
            "1h",
        ],
    );
    let old_token = mint(dir, &["--user", "alice"]);

    etoken_ok(dir, &["key", "add", "--dir", "keys"], "");
    let rows: Value = serde_json::from_str(&etoken_ok(
        dir,
        &["key", "list", "--dir", "keys", "--json"],
        "",
    ))
    .unwrap();
    let new = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["state"] == "verify-only")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    etoken_ok(dir, &["key", "promote", "--dir", "keys", &new], "");
    let new_token = mint(dir, &["--user", "alice"]);
    let auth = server.url("/auth");
    assert_eq!(
        get(&auth, &[("authorization", &bearer(&new_token))])
            .await
            .status(),
        401
    );

    server.signal("HUP");
    let line = server.wait_for_log("key directory changed");
    let fingerprint = etoken_ok(dir, &["key", "fingerprint", "--dir", "keys"], "");
    assert!(
        line.contains(fingerprint.trim()),
        "logs the ring fingerprint: {line}"
    );
    assert!(line.contains(&new), "{line}");
    assert_eq!(
        get(&auth, &[("authorization", &bearer(&new_token))])
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&auth, &[("authorization", &bearer(&old_token))])
            .await
            .status(),
        200
    );

    // A login now mints with the promoted key.
    let cookie = login(&server, "alice", "alice-pw").await;
    let whoami: Value = get(&server.url("/whoami"), &[("cookie", &cookie)])
        .await
        .json_value()
        .await;
    assert_eq!(whoami["key_id"], new.as_str());

    // A corrupt key file: the reload is refused, the old ring keeps serving.
    fs::write(dir.join("keys").join(format!("{new}.key")), "{ half a key").unwrap();
    server.signal("HUP");
    server.wait_for_log("reload refused, keeping the previous keys");
    assert_eq!(
        get(&auth, &[("authorization", &bearer(&new_token))])
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_picks_up_a_retired_key_without_a_signal() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let dir = tmp.path();
    let server = Server::start(
        dir,
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--reload-interval",
            "1s",
        ],
    );
    let old = active_key(dir);
    let old_token = mint(dir, &["--user", "alice"]);
    let auth = server.url("/auth");
    assert_eq!(
        get(&auth, &[("authorization", &bearer(&old_token))])
            .await
            .status(),
        200
    );

    etoken_ok(dir, &["key", "add", "--dir", "keys"], "");
    server.wait_for_log("verify-only");
    let rows: Value = serde_json::from_str(&etoken_ok(
        dir,
        &["key", "list", "--dir", "keys", "--json"],
        "",
    ))
    .unwrap();
    let new = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] != old.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    etoken_ok(dir, &["key", "promote", "--dir", "keys", &new], "");
    etoken_ok(dir, &["key", "retire", "--dir", "keys", &old], "");
    let fingerprint = etoken_ok(dir, &["key", "fingerprint", "--dir", "keys"], "");
    server.wait_for_log(&format!("ring {}", fingerprint.trim()));
    assert_eq!(
        get(&auth, &[("authorization", &bearer(&old_token))])
            .await
            .status(),
        401
    );
    assert_eq!(server.count_log("SIGHUP"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn clock_offset_simulates_skew() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let token = mint(tmp.path(), &["--user", "alice", "--ttl", "1h"]);
    let ahead = Server::start(
        tmp.path(),
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--clock-offset",
            "7200",
        ],
    );
    let behind = Server::start(
        tmp.path(),
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--clock-offset",
            "-7200",
        ],
    );
    for server in [&ahead, &behind] {
        let status = get(&server.url("/auth"), &[("authorization", &bearer(&token))])
            .await
            .status();
        assert_eq!(status, 401);
    }
    ahead.wait_for_log("expired");
    behind.wait_for_log("not_yet_valid");
}

#[test]
fn startup_refuses_bad_key_directories_and_users_files_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, &["alice"]);
    let serve = |keys: &str, users: &str| {
        etoken(
            dir,
            &[
                "serve",
                "--keys",
                keys,
                "--users",
                users,
                "--listen",
                "127.0.0.1:0",
            ],
            "",
        )
    };
    let refused = |out: std::process::Output, needle: &str| {
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("etoken: cannot start: "), "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
    };

    refused(serve("absent", "users.json"), "does not exist");
    refused(serve("keys", "absent.json"), "does not exist");

    let key_file = dir.join("keys").join(format!("{}.key", active_key(dir)));
    set_mode(&key_file, 0o644);
    refused(serve("keys", "users.json"), "chmod 600");
    set_mode(&key_file, 0o600);
    set_mode(&dir.join("keys"), 0o755);
    refused(serve("keys", "users.json"), "chmod 700");
    set_mode(&dir.join("keys"), 0o700);
    set_mode(&dir.join("users.json"), 0o644);
    refused(serve("keys", "users.json"), "chmod 600");
    set_mode(&dir.join("users.json"), 0o600);

    let text = fs::read_to_string(&key_file).unwrap();
    fs::write(&key_file, &text[..20]).unwrap();
    refused(
        serve("keys", "users.json"),
        "not a valid key directory file",
    );

    // --keys without --users is a usage error.
    let out = etoken(dir, &["serve", "--keys", "keys"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--users"));
}

#[test]
fn settings_that_cannot_work_refuse_to_start_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, &["alice"]);
    let long_audience = "a".repeat(65);
    let cases: &[(&[&str], &str)] = &[
        (&["--ttl", "9000y"], "--ttl"),
        (&["--ttl", "401days"], "--ttl"),
        (&["--clock-offset", "400000000000"], "--clock-offset"),
        (&["--clock-offset", "-400000000000"], "--clock-offset"),
        (&["--clock-offset", "34560001"], "--clock-offset"),
        (&["--audience", ""], "--audience"),
        (&["--audience", &long_audience], "--audience"),
        (&["--audience", "pub\nlish"], "--audience"),
        (&["--instance", "pub\n1"], "--instance"),
    ];
    let refused = |out: std::process::Output, flag: &str, args: &[&str]| {
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.starts_with(&format!("etoken: cannot start: {flag}: ")),
            "{args:?}: {err}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening"),
            "{args:?}"
        );
    };
    for (args, flag) in cases {
        let mut all = vec!["--keys", "keys", "--users", "users.json"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        refused(serve_refused(dir, &all), flag, args);
    }

    // The embedded default, refused for a flag, leaves nothing behind.
    let empty = tempfile::tempdir().unwrap();
    let out = serve_refused(empty.path(), &["--ttl", "9000y", "--listen", "127.0.0.1:0"]);
    refused(out, "--ttl", &["--ttl", "9000y"]);
    assert_eq!(fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_at_their_bounds_start_and_log_in() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let audience = "a".repeat(64);
    let server = Server::start(
        tmp.path(),
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--ttl",
            "400days",
            "--max-session",
            "400days",
            "--clock-offset",
            "-34560000",
            "--audience",
            &audience,
        ],
    );
    let cookie = login(&server, "alice", "alice-pw").await;
    let whoami: Value = get(&server.url("/whoami"), &[("cookie", &cookie)])
        .await
        .json_value()
        .await;
    assert_eq!(whoami["audience"], audience.as_str());
    let lifetime = whoami["expires_at"].as_i64().unwrap() - whoami["issued_at"].as_i64().unwrap();
    assert_eq!(lifetime, 400 * 24 * 3600);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_default_on_loopback_sends_cookies_without_secure() {
    // 127.0.0.2 is loopback too (127.0.0.0/8): still plain-http development.
    for listen in ["127.0.0.1:0", "127.0.0.2:0"] {
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start_on(tmp.path(), &[], listen);
        let password = server.admin_password().expect("a first start");
        let set_cookie = support::login_set_cookie(&server, "admin", &password).await;
        assert_eq!(set_cookie.secure(), None, "{listen}: {set_cookie}");
        server.wait_for_log("cookies without Secure");
        assert_eq!(server.count_log("cookies are Secure"), 0);
    }
}

/// The embedded default listening beyond loopback keeps `Secure`. It runs
/// in a network namespace of its own (`unshare --net`, as root), whose only
/// interface is its own loopback, so `0.0.0.0` reaches nothing outside it;
/// the login is posted from inside that namespace with curl (`nsenter`).
#[test]
fn the_embedded_default_beyond_loopback_keeps_secure() {
    let tmp = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("unshare");
    command.args([
        "--net",
        "--",
        "sh",
        "-c",
        "ip link set lo up && exec \"$0\" serve --listen 0.0.0.0:0",
        env!("CARGO_BIN_EXE_etoken"),
    ]);
    let server = Server::run(tmp.path(), command);
    assert!(server.addr.starts_with("0.0.0.0:"), "{}", server.addr);
    let port = server.addr.rsplit(':').next().unwrap();
    server.wait_for_log("cookies are Secure: the embedded default listens on 0.0.0.0");
    assert_eq!(server.count_log("cookies without Secure"), 0);

    let password = server.admin_password().expect("a first start");
    let curl = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", server.pid()))
        .args([
            "--",
            "curl",
            "--silent",
            "--show-error",
            "--dump-header",
            "-",
        ])
        .args([
            "--output",
            "/dev/null",
            "--data-urlencode",
            "j_username=admin",
        ])
        .args(["--data-urlencode", &format!("j_password={password}")])
        .arg(format!("http://127.0.0.1:{port}/j_security_check"))
        .output()
        .expect("nsenter and curl run");
    assert!(curl.status.success(), "{curl:?}");
    let headers = String::from_utf8(curl.stdout).unwrap();
    assert!(headers.starts_with("HTTP/1.1 303"), "{headers}");
    let set_cookie = headers
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .expect("a Set-Cookie");
    let parsed = cookie::Cookie::parse(set_cookie.trim().to_owned()).unwrap();
    assert_eq!(parsed.name(), "login-token");
    assert_eq!(parsed.secure(), Some(true), "{set_cookie}");
}

#[test]
fn a_port_in_use_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let server = Server::start(tmp.path(), &["--keys", "keys", "--users", "users.json"]);
    let out = etoken(
        tmp.path(),
        &[
            "serve",
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--listen",
            &server.addr,
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {}", server.addr)),
        "{err}"
    );
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let mut server = Server::start(tmp.path(), &["--keys", "keys", "--users", "users.json"]);
    server.signal("TERM");
    let status = server.wait();
    assert!(status.success(), "{status}");
    server.wait_for_log("SIGTERM: shutting down gracefully");
    server.wait_for_log("stopped");
}

/// `response.json()` needs reqwest's json feature; parse the text instead.
trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.expect("a body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}
