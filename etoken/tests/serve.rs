//! `etoken serve` as a process on 127.0.0.1: the embedded default, login,
//! `/auth`, `/whoami`, logout, health; refusals with a 4xx and a log line
//! saying why; start-up refusals with a one-line reason; key and user reload
//! on SIGHUP and by polling; graceful shutdown on SIGTERM.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use support::{Server, etoken, etoken_ok, get, login, post_form, setup};

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
    let banner = server.banner.join("\n");
    let password = banner
        .split("shown only now: ")
        .nth(1)
        .expect("the admin password is printed")
        .trim()
        .to_owned();
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
    assert!(set_cookie.starts_with("login-token=et1."), "{set_cookie}");
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
    let garbled = get(&auth, &[("cookie", "login-token=et1.garbage")]).await;
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
