//! A users file or key directory that stops loading on a running instance:
//! it keeps serving from the last good copy, and says so on `/healthz`
//! ("degraded", the source, the error, since when) and in the log until the
//! file is fixed.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use support::{Server, etoken_ok, get, login, serve_files, setup};

async fn health(server: &Server) -> Value {
    let response = get(&server.url("/healthz"), &[]).await;
    assert_eq!(response.status(), 200, "a degraded instance still serves");
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_fails_to_reload_degrades_healthz_until_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, &["alice", "bob"]);
    let server = serve_files(dir, &[]);
    let bob = login(&server, "bob", "bob-pw").await;
    assert_eq!(health(&server).await["status"], "ok");

    // Review finding 4: remove a user and leave the file with mode 0644, as
    // an editor would. The reload is refused, and it was silent.
    // The edited copy replaces the file at once, so no poll sees it half done.
    let users = dir.join("users.json");
    let edited = dir.join("edited.json");
    fs::copy(&users, &edited).unwrap();
    etoken_ok(
        dir,
        &["user", "remove", "--users", "edited.json", "bob"],
        "",
    );
    fs::set_permissions(&edited, fs::Permissions::from_mode(0o644)).unwrap();
    fs::rename(&edited, &users).unwrap();
    server.wait_for_log("reload refused, keeping the previous users");
    let body = health(&server).await;
    assert_eq!(body["status"], "degraded", "{body}");
    let failure = &body["degraded"][0];
    assert_eq!(failure["source"], "users");
    assert_eq!(
        failure["path"], "users.json",
        "as given on the command line"
    );
    assert!(
        failure["error"].as_str().unwrap().contains("chmod 600"),
        "{failure}"
    );
    assert!(
        failure["since"].as_str().unwrap().ends_with('Z'),
        "{failure}"
    );
    // Availability: the last good copy serves (bob is still there).
    let auth = get(&server.url("/auth"), &[("cookie", &bob)]).await;
    assert_eq!(auth.status(), 200);
    // Logged once, not on every poll.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(server.count_log("reload refused"), 1, "{:?}", server.log());

    // Fixed: the change applies and the health is ok again.
    fs::set_permissions(&users, fs::Permissions::from_mode(0o600)).unwrap();
    server.wait_for_log("loads again");
    assert_eq!(health(&server).await["status"], "ok");
    let auth = get(&server.url("/auth"), &[("cookie", &bob)]).await;
    assert_eq!(auth.status(), 401, "bob was removed");

    // The key directory too.
    fs::set_permissions(dir.join("keys"), fs::Permissions::from_mode(0o755)).unwrap();
    server.wait_for_log("reload refused, keeping the previous keys");
    let body = health(&server).await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["degraded"][0]["source"], "keys");
    let alice = login(&server, "alice", "alice-pw").await;
    assert_eq!(
        get(&server.url("/auth"), &[("cookie", &alice)])
            .await
            .status(),
        200
    );
}
