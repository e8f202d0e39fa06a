//! Ending sessions through the users file, on running `etoken serve`
//! instances: a password change (`user add --replace`, `user passwd`) and
//! `user revoke-sessions` refuse the cookies of sessions begun before them,
//! on every instance that reloads the file, while a new login works at once.

mod support;

use support::{Server, etoken_ok, get, login, serve_files, setup};

async fn auth_status(server: &Server, cookie: &str) -> u16 {
    get(&server.url("/auth"), &[("cookie", cookie)])
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_or_revoke_sessions_ends_older_sessions_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, &["alice", "bob"]);
    let one = serve_files(dir, &[]);
    let two = serve_files(dir, &[]);
    let old = login(&one, "alice", "alice-pw").await;
    let bob = login(&one, "bob", "bob-pw").await;
    assert_eq!(auth_status(&two, &old).await, 200);

    // Review finding 3: `user add --replace` changed the password, yet the
    // old cookie kept working (and was refreshed).
    let said = etoken_ok(
        dir,
        &["user", "add", "--users", "users.json", "--replace", "alice"],
        "new-pw\n",
    );
    assert!(
        said.contains("sessions begun before now are over"),
        "{said}"
    );
    for server in [&one, &two] {
        server.wait_for_logs("users file changed", 1);
        assert_eq!(
            auth_status(server, &old).await,
            401,
            "the old session is over"
        );
        server.wait_for_log("reason=\"session_revoked\"");
        assert_eq!(
            auth_status(server, &bob).await,
            200,
            "other users keep theirs"
        );
    }
    // A new login works at once, on either instance.
    let new = login(&two, "alice", "new-pw").await;
    assert_eq!(auth_status(&one, &new).await, 200);
    assert_eq!(auth_status(&two, &new).await, 200);

    // Logout everywhere.
    etoken_ok(
        dir,
        &["user", "revoke-sessions", "--users", "users.json", "alice"],
        "",
    );
    for server in [&one, &two] {
        server.wait_for_logs("users file changed", 2);
        assert_eq!(auth_status(server, &new).await, 401);
    }
    let newer = login(&one, "alice", "new-pw").await;
    assert_eq!(auth_status(&two, &newer).await, 200);

    // `user passwd` does the same.
    etoken_ok(
        dir,
        &["user", "passwd", "--users", "users.json", "alice"],
        "third-pw\n",
    );
    for server in [&one, &two] {
        server.wait_for_logs("users file changed", 3);
        assert_eq!(auth_status(server, &newer).await, 401);
    }
    let third = login(&two, "alice", "third-pw").await;
    assert_eq!(auth_status(&one, &third).await, 200);
    assert_eq!(auth_status(&one, &bob).await, 200);
}

#[test]
fn revoke_sessions_and_passwd_name_a_user_that_exists() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    for command in ["revoke-sessions", "passwd"] {
        let out = support::etoken(
            tmp.path(),
            &["user", command, "--users", "users.json", "mallory"],
            "pw\n",
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no user \"mallory\""), "{command}: {err}");
    }
}
