//! The farm-wide directory in Redis, on real `etoken serve` instances and
//! a real `redis-server`: changes made with the CLI reach every instance
//! without a reload, a revocation within a second, Redis stopped changes
//! nothing for valid cookies, and Redis back brings changes made meanwhile.
//! The stateful mode ends a session on every instance at logout and answers
//! 503 without Redis. Bad URLs and garbage records are refused.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// A temporary directory holding a key directory, and a Redis holding
/// `users` (password: name + "-pw").
fn redis_farm(users: &[&str]) -> (tempfile::TempDir, Redis) {
    let tmp = tempfile::tempdir().unwrap();
    etoken_ok(tmp.path(), &["key", "init", "--dir", "keys"], "");
    let redis = Redis::start(&tmp.path().join("redis"));
    for user in users {
        add_user(tmp.path(), &redis.url(), user);
    }
    (tmp, redis)
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

/// How long after `since` the instance first refuses `cookie`, if within
/// a second.
async fn refused_after(server: &Server, cookie: &str, since: Instant) -> Option<Duration> {
    until(Duration::from_secs(1), || async {
        auth_status(server, cookie).await == 401
    })
    .await
    .map(|_| since.elapsed())
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
    let (tmp, mut redis) = redis_farm(&["alice"]);
    let (dir, url) = (tmp.path(), redis.url());
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
    // Both instances are polled at once, each every 5 ms, from the
    // moment the CLI returned (the write and its announcement are done).
    let revoked = Instant::now();
    let (on_one, on_two) = tokio::join!(
        refused_after(&one, &alice, revoked),
        refused_after(&two, &alice, revoked)
    );
    eprintln!(
        "revocation propagation: refused by instance one {on_one:?} and by instance two \
         {on_two:?} after `etoken user revoke-sessions` returned"
    );
    let slowest = on_one
        .zip(on_two)
        .map(|(a, b)| a.max(b))
        .expect("the revocation reached both instances within a second");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
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
    let (tmp, mut redis) = redis_farm(&["alice"]);
    let (dir, url) = (tmp.path(), redis.url());
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
    let (tmp, redis) = redis_farm(&["alice"]);
    let (dir, url) = (tmp.path(), redis.url());
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

/// A TCP relay to Redis whose connections can be silenced: each stays
/// open and passes nothing either way, as after a network cut that sends
/// no reset (the socket looks alive, no message and no error ever come).
/// Connections made after the cut pass normally.
struct SilentRelay {
    port: u16,
    accepted: Arc<AtomicUsize>,
    silenced_below: Arc<AtomicUsize>,
}

impl SilentRelay {
    async fn start(redis_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let silenced_below = Arc::new(AtomicUsize::new(0));
        let (counter, cut) = (accepted.clone(), silenced_below.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let id = counter.fetch_add(1, Ordering::SeqCst);
                let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", redis_port)).await
                else {
                    continue;
                };
                let (from_client, to_client) = inbound.into_split();
                let (from_redis, to_redis) = outbound.into_split();
                tokio::spawn(relay(from_client, to_redis, id, cut.clone()));
                tokio::spawn(relay(from_redis, to_client, id, cut.clone()));
            }
        });
        Self {
            port,
            accepted,
            silenced_below,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Every connection open now goes silent.
    fn silence_open_connections(&self) {
        let open = self.accepted.load(Ordering::SeqCst);
        self.silenced_below.store(open, Ordering::SeqCst);
    }
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    id: usize,
    silenced_below: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = from.read(&mut buffer).await;
        let silenced = id < silenced_below.load(Ordering::SeqCst);
        match read {
            // A silenced connection never closes: `to` is held open.
            Ok(0) | Err(_) if silenced => std::future::pending::<()>().await,
            Ok(0) | Err(_) => return,
            Ok(_) if silenced => continue,
            Ok(n) => {
                if to.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_subscription_is_noticed_and_the_snapshot_reloaded() {
    let (tmp, redis) = redis_farm(&["alice"]);
    let (dir, url) = (tmp.path(), redis.url());
    let relay = SilentRelay::start(redis.port).await;
    let server = serve(dir, &relay.url(), &[]);
    server.wait_for_log("directory: loaded 1 users");
    let alice = login(&server, "alice", "alice-pw").await;

    // Redis closes the subscription (an operator's CLIENT KILL, a
    // failover): the instance reconnects, reloads, and a change made just
    // after still arrives.
    let killed = redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(killed.trim(), "1", "one subscriber: {killed}");
    server.wait_for_log("directory: Redis is back");
    add_user(dir, &url, "bob");
    let took = until(Duration::from_secs(1), || async {
        login_status(&server, "bob", "bob-pw").await == 303
    })
    .await;
    assert!(took.is_some(), "a change after CLIENT KILL arrives");

    // The subscription dies without a word: its socket stays open and
    // passes nothing. A revocation announced now never reaches the
    // instance; its keepalive ping goes unanswered, it reconnects and
    // reloads the whole snapshot, and so refuses the old cookie anyway.
    let lost_before = server.count_log("directory: lost Redis");
    relay.silence_open_connections();
    etoken_ok(
        dir,
        &["user", "revoke-sessions", "--directory", &url, "alice"],
        "",
    );
    let revoked = Instant::now();
    let took = until(Duration::from_secs(5), || async {
        auth_status(&server, &alice).await == 401
    })
    .await;
    eprintln!(
        "a silently dead subscription: the revocation took effect after {took:?} \
         (keepalive ping every {:?}, answer within {:?})",
        encapsulated_token::directory::KEEPALIVE,
        encapsulated_token::directory::COMMAND_TIMEOUT
    );
    assert!(took.is_some(), "the instance noticed and reloaded");
    assert!(revoked.elapsed() < Duration::from_secs(5));
    let lost = server.wait_for_logs("directory: lost Redis", lost_before + 1);
    assert!(
        lost.last().unwrap().contains("did not answer a ping"),
        "{lost:?}"
    );
    assert_eq!(login_status(&server, "bob", "bob-pw").await, 303);
    assert_eq!(health(&server).await["status"], "ok");
}

/// `POST /ims/token/v3` with client credentials: the status and the token.
async fn client_credentials(server: &Server, id: &str, secret: &str) -> (u16, Option<String>) {
    let fields = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("scope", "ent_aem_cloud_api"),
    ];
    let (status, body) = support::status_json(
        support::post_fields(&server.url("/ims/token/v3"), &fields, &[]).await,
    )
    .await;
    (status, body["access_token"].as_str().map(str::to_owned))
}

async fn bearer_status(server: &Server, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    get(&server.url("/auth"), &[("authorization", &auth)])
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn services_written_with_the_cli_reach_every_instance_through_redis() {
    let (tmp, redis) = redis_farm(&[]);
    let (dir, url) = (tmp.path(), redis.url());
    let one = serve(dir, &url, &[]);
    let two = serve(dir, &url, &[]);
    one.wait_for_log("directory: loaded 0 users");
    two.wait_for_log("directory: loaded 0 users");

    let printed = etoken_ok(
        dir,
        &["service", "create", "--directory", &url, "backend"],
        "",
    );
    let credentials: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let id = credentials["integration"]["technicalAccount"]["clientId"]
        .as_str()
        .unwrap();
    let secret = credentials["integration"]["technicalAccount"]["clientSecret"]
        .as_str()
        .unwrap();
    for server in [&one, &two] {
        let took = until(Duration::from_secs(1), || async {
            client_credentials(server, id, secret).await.0 == 200
        })
        .await;
        assert!(
            took.is_some(),
            "the account exchanges on {}",
            server.instance
        );
    }
    let (_, token) = client_credentials(&one, id, secret).await;
    let token = token.unwrap();
    assert_eq!(bearer_status(&two, &token).await, 200);
    let listed = etoken_ok(dir, &["service", "list", "--directory", &url], "");
    assert!(listed.starts_with("backend (active)"), "{listed}");
    assert!(listed.contains(id), "{listed}");

    // Tokens carry whole seconds: revoke-tokens ends those of an earlier one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = etoken(
        dir,
        &["service", "revoke-tokens", "--directory", &url, "backend"],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("within a second"),
        "{out:?}"
    );
    for server in [&one, &two] {
        let took = until(Duration::from_secs(1), || async {
            bearer_status(server, &token).await == 401
        })
        .await;
        assert!(took.is_some(), "the old token ends on {}", server.instance);
    }
    let (status, fresh) = client_credentials(&two, id, secret).await;
    assert_eq!(status, 200, "the account still exchanges");
    let fresh = fresh.unwrap();
    assert_eq!(bearer_status(&one, &fresh).await, 200);

    etoken_ok(
        dir,
        &["service", "revoke", "--directory", &url, "backend"],
        "",
    );
    for server in [&one, &two] {
        let took = until(Duration::from_secs(1), || async {
            bearer_status(server, &fresh).await == 401
                && client_credentials(server, id, secret).await.0 != 200
        })
        .await;
        assert!(took.is_some(), "revoked on {}", server.instance);
    }

    // A second create of the name is refused; a file and a URL at once too.
    let again = etoken(
        dir,
        &["service", "create", "--directory", &url, "backend"],
        "",
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let both = etoken(
        dir,
        &[
            "service",
            "list",
            "--directory",
            &url,
            "--services",
            "s.json",
        ],
        "",
    );
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_moves_a_file_based_farm_over() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    support::setup(dir, &["alice", "bob"]);
    etoken_ok(
        dir,
        &["user", "revoke-sessions", "--users", "users.json", "bob"],
        "",
    );
    let service = support::Service::create(
        dir,
        "services.json",
        "backend",
        &["ent_aem_cloud_api"],
        "http://localhost:8080",
    );
    // A single sign-on user already bound to its provider account.
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("users.json")).unwrap()).unwrap();
    file["users"]["carol"] = serde_json::json!({
        "sso": {"issuer": "https://idp.example", "subject": "c-123"}
    });
    std::fs::write(dir.join("users.json"), file.to_string()).unwrap();
    let redis = Redis::start(&dir.join("redis"));
    let url = redis.url();
    let said = etoken_ok(
        dir,
        &[
            "directory",
            "import",
            "--directory",
            &url,
            "--users",
            "users.json",
            "--services",
            "services.json",
        ],
        "",
    );
    assert!(
        said.contains("imported 3 users (1 with revoked sessions)"),
        "{said}"
    );
    assert!(said.contains("imported 1 services"), "{said}");

    let server = serve(dir, &url, &[]);
    server.wait_for_log("directory: loaded 3 users, 1 revocations, 1 services");
    // Back-channel logout finds carol by her provider account.
    assert_eq!(
        redis
            .cli(&["HGET", "etoken:sso-subjects", "https://idp.example c-123"])
            .trim(),
        "carol"
    );
    assert_eq!(login_status(&server, "alice", "alice-pw").await, 303);
    assert_eq!(login_status(&server, "bob", "wrong").await, 401);
    let (status, _) = client_credentials(&server, &service.client_id, &service.secret).await;
    assert_eq!(status, 200, "the account exchanges");
    assert_eq!(login_status(&server, "bob", "bob-pw").await, 303);
    let users = etoken_ok(dir, &["user", "list", "--directory", &url], "");
    assert_eq!(users, "alice\nbob\ncarol\n");
    // bob's revocation came along, the same instant as in the file.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("users.json")).unwrap()).unwrap();
    let revoked = redis.cli(&["HGET", "etoken:revocations", "bob"]);
    assert_eq!(
        revoked.trim(),
        file["users"]["bob"]["sessions_revoked_before"]
            .as_str()
            .unwrap()
    );

    // Nothing to import, or a file that does not load: nothing is written.
    let out = etoken(dir, &["directory", "import", "--directory", &url], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to import"));
    std::fs::write(dir.join("broken.json"), "{").unwrap();
    let out = etoken(
        dir,
        &[
            "directory",
            "import",
            "--directory",
            &url,
            "--users",
            "broken.json",
        ],
        "",
    );
    assert!(!out.status.success());
    assert_eq!(redis.cli(&["HLEN", "etoken:users"]).trim(), "3");
}
