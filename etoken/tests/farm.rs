//! The farm, end to end on real parts: three `etoken serve` processes on
//! 127.0.0.1, each with its own copy of one key directory, behind a real
//! nginx started from `examples/nginx.conf` (round-robin, no stickiness,
//! `auth_request`). One login, then every request succeeds on whichever
//! instance nginx picks: while a second client keeps 8 connections busy,
//! while an instance is killed, and while the keys are rotated in two
//! phases. Refusals are checked on the instances themselves: another key, a
//! user missing there, a clock skewed past the leeway.
//!
//! nginx must be installed (`.ci/run` installs it); without it this test
//! fails, it does not skip. Throughput is printed (`--nocapture`), never
//! asserted.

mod support;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use encapsulated_token::{DEFAULT_LEEWAY, RING_FILE};
use serde_json::Value;
use support::{PATIENCE, Server, etoken_ok};

/// Authenticated requests of the main sequence; an instance is killed
/// after the first half.
const MAIN_REQUESTS: usize = 300;
/// The load client's connections.
const LOAD_CONNECTIONS: usize = 8;
/// The most requests one load connection sends; it stops earlier when the
/// farm test is done with it.
const LOAD_CAP: usize = 3_000;
/// The most requests the rotation client sends.
const ROTATION_CAP: usize = 20_000;
/// The protected page nginx serves once `/auth` said yes.
const PAGE: &str = "the protected page\n";
const PAGE_PATH: &str = "/content/page.html";
/// Clock skew, in seconds, within the verifiers' leeway and beyond it.
const SKEW_WITHIN: i64 = DEFAULT_LEEWAY.as_secs() as i64 - 10;
const SKEW_BEYOND: i64 = DEFAULT_LEEWAY.as_secs() as i64 + 120;
/// The example's upstream ports, replaced by the instances' real ones.
const EXAMPLE_PORTS: [u16; 3] = [8081, 8082, 8083];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn farm_behind_nginx() {
    let nginx_binary = find_nginx();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // The master copy: one key directory, users alice and bob.
    etoken_ok(root, &["key", "init", "--dir", "master/keys"], "");
    for user in ["alice", "bob"] {
        etoken_ok(
            root,
            &["user", "add", "--users", "master/users.json", user],
            &format!("{user}-pw\n"),
        );
    }
    let old_key = active_key(root);
    let names = ["pub-1", "pub-2", "pub-3"];
    for name in names {
        copy_key_dir(&root.join("master/keys"), &root.join(name).join("keys"));
        copy_file(
            &root.join("master/users.json"),
            &root.join(name).join("users.json"),
        );
    }
    // bob exists on pub-1 and pub-2 only.
    etoken_ok(
        root,
        &["user", "remove", "--users", "pub-3/users.json", "bob"],
        "",
    );

    // pub-3's clock runs behind by less than the leeway: it must accept
    // every token the others mint (and they, every token it mints).
    let mut farm: Vec<Option<Server>> = names
        .iter()
        .map(|name| {
            let offset = if *name == "pub-3" { -SKEW_WITHIN } else { 0 };
            Some(start_instance(root, name, name, offset))
        })
        .collect();
    let addrs: Vec<String> = farm.iter().map(|s| live(s).addr.clone()).collect();

    let nginx = Nginx::start(&nginx_binary, root, &addrs);
    let page_url = nginx.url(PAGE_PATH);

    // Not logged in: nginx sends the browser to the login page.
    let anonymous = client().get(&page_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 302, "no cookie, no page");
    let location = anonymous.headers()["location"].to_str().unwrap();
    assert!(
        location.ends_with("/login?resource=/content/page.html"),
        "{location}"
    );

    // One login, through nginx.
    let (cookie, login_instance) = login_at(&nginx.url(""), "alice", "alice-pw").await;
    println!("farm: logged in once through nginx, on {login_instance}");

    // The load client: 8 connections, busy until the end of the rotation.
    let load = Load::start(&page_url, &cookie);
    let main_started = Instant::now();

    // The main sequence, on one keep-alive connection; the killed instance
    // is pub-2, after the first half.
    let main_client = client();
    let mut before_kill = BTreeMap::<String, usize>::new();
    let mut after_kill = BTreeMap::<String, usize>::new();
    let mut load_at_kill = 0;
    for i in 0..MAIN_REQUESTS {
        if i == MAIN_REQUESTS / 2 {
            assert_eq!(
                before_kill.keys().collect::<Vec<_>>(),
                names.iter().collect::<Vec<_>>(),
                "round-robin reaches all three instances: {before_kill:?}"
            );
            // Under load: the load client is mid-run when the instance dies.
            load.wait_for_progress(LOAD_CONNECTIONS).await;
            load_at_kill = load.done();
            drop(farm[1].take()); // SIGKILL, reaped
            println!("farm: killed pub-2 after {i} requests ({load_at_kill} load requests so far)");
            load.wait_for_progress(load_at_kill + LOAD_CONNECTIONS)
                .await;
        }
        let served = fetch(&main_client, &page_url, &cookie)
            .await
            .unwrap_or_else(|e| panic!("request {i} of the main sequence: {e}"));
        let seen = if i < MAIN_REQUESTS / 2 {
            &mut before_kill
        } else {
            &mut after_kill
        };
        *seen.entry(served.instance).or_default() += 1;
    }
    assert!(
        !after_kill.contains_key("pub-2"),
        "the killed instance served nothing: {after_kill:?}"
    );
    assert_eq!(after_kill.len(), 2, "both survivors serve: {after_kill:?}");
    let main_elapsed = main_started.elapsed();
    // nginx did send subrequests to the dead instance and moved on to the
    // next one: the retry is real. (An in-flight one is reset, a new one
    // refused; then nginx sets the instance aside for `fail_timeout`.)
    let dead = format!("upstream: \"http://{}/auth\"", addrs[1]);
    let line = nginx.wait_for_error_log(|line| {
        line.contains(&dead)
            && [
                "Connection refused",
                "Connection reset",
                "prematurely closed",
            ]
            .iter()
            .any(|why| line.contains(why))
    });
    println!("farm: nginx: {line}");
    println!(
        "farm: main sequence {MAIN_REQUESTS}/{MAIN_REQUESTS} ok in {:.2}s, by instance before \
         the kill {before_kill:?}, after it {after_kill:?}",
        main_elapsed.as_secs_f64()
    );

    // Two-phase rotation across the farm while a browser-like client (it
    // keeps every renewed cookie) sends requests through nginx.
    let rotation = Rotation::start(&page_url, &cookie);
    let rotation_started = Instant::now();
    let load_at_rotation = load.done();
    let live_instances = [live(&farm[0]), live(&farm[2])];
    rotation.wait_for_progress(20).await;
    etoken_ok(root, &["key", "add", "--dir", "master/keys"], "");
    let new_key = key_in_state(root, "verify-only");
    let added = roll_out(root, &names, &live_instances).await;
    rotation.wait_for_progress(rotation.done() + 20).await;
    etoken_ok(
        root,
        &["key", "promote", "--dir", "master/keys", &new_key],
        "",
    );
    let promoted = roll_out(root, &names, &live_instances).await;
    assert_ne!(added, promoted);
    rotation.wait_for_progress(rotation.done() + 20).await;
    let rotated = rotation.stop().await;
    let load_in_rotation = load.done() - load_at_rotation;
    println!(
        "farm: rotation {old_key} -> {new_key} in {:.2}s: {} requests, {} failed, {} renewed \
         cookie(s) adopted, by instance {:?}; {load_in_rotation} load requests meanwhile",
        rotation_started.elapsed().as_secs_f64(),
        rotated.tally.ok + rotated.tally.failures.len(),
        rotated.tally.failures.len(),
        rotated.renewals,
        rotated.tally.instances
    );
    assert!(
        rotated.tally.failures.is_empty(),
        "no request fails during the rotation: {:?}",
        rotated.tally.failures
    );
    assert!(
        rotated.renewals >= 1,
        "once promoted, the old-key cookie is renewed"
    );

    let loaded = load.stop().await;
    let total = loaded.tally.ok + loaded.tally.failures.len();
    println!(
        "farm: load {LOAD_CONNECTIONS} connections: {total} requests in {:.2}s = {:.0} requests/s, \
         {} failed, {} after the kill; by instance {:?}",
        loaded.elapsed.as_secs_f64(),
        total as f64 / loaded.elapsed.as_secs_f64(),
        loaded.tally.failures.len(),
        total - load_at_kill,
        loaded.tally.instances
    );
    assert!(
        loaded.tally.failures.is_empty(),
        "no load request fails: {:?}",
        loaded.tally.failures
    );

    // After the rotation: a new login mints with the new key; the cookie
    // of the first login (old key) and the renewed and new ones (new key)
    // verify on every live instance.
    let (new_cookie, _) = login_at(&nginx.url(""), "alice", "alice-pw").await;
    let fresh = etoken_ok(
        root,
        &["mint", "--keys", "master/keys", "--user", "alice"],
        "",
    );
    let fresh_bearer = format!("Bearer {}", fresh.trim());
    for server in live_instances {
        assert_eq!(whoami_key(server, &cookie).await, old_key);
        assert_eq!(whoami_key(server, &new_cookie).await, new_key);
        assert_eq!(whoami_key(server, &rotated.cookie).await, new_key);
        assert_eq!(
            auth_status(server, "authorization", &fresh_bearer).await,
            200
        );
    }
    // And through nginx, once more each.
    for c in [&cookie, &new_cookie, &rotated.cookie] {
        fetch(&main_client, &page_url, c).await.unwrap();
    }

    let tokens = [cookie.as_str(), &rotated.cookie, &new_cookie];
    refused_by_another_key(root, &[&old_key, &new_key], &tokens).await;
    refused_where_the_user_is_missing(live(&farm[0]), live(&farm[2])).await;
    assert!(before_kill["pub-3"] > 0 && after_kill["pub-3"] > 0);
    clock_skew(root, live(&farm[2]), &tokens, &fresh_bearer).await;
    logout_everywhere(root, &names, &[live(&farm[0]), live(&farm[2])], &tokens).await;
    println!("farm: all checks passed");
}

/// A fourth instance with a key directory of its own refuses the farm's
/// cookies (signed with `keys`), and logs why.
async fn refused_by_another_key(root: &Path, keys: &[&str], cookies: &[&str]) {
    etoken_ok(root, &["key", "init", "--dir", "pub-4/keys"], "");
    copy_file(
        &root.join("master/users.json"),
        &root.join("pub-4/users.json"),
    );
    let fourth = start_instance(root, "pub-4", "pub-4", 0);
    for cookie in cookies {
        assert_eq!(auth_status(&fourth, "cookie", cookie).await, 401);
    }
    for key in keys {
        let line = fourth.wait_for_log(&format!("signed with key {key}"));
        assert!(line.contains("unknown_key_id"), "{line}");
        assert!(line.contains("which this instance does not hold"), "{line}");
    }
}

/// bob logs in on `with_bob` and is accepted there; `without_bob` has no
/// such user and refuses his valid cookie, and logs why.
async fn refused_where_the_user_is_missing(with_bob: &Server, without_bob: &Server) {
    let (bob, _) = login_at(&with_bob.url(""), "bob", "bob-pw").await;
    assert_eq!(auth_status(with_bob, "cookie", &bob).await, 200);
    assert_eq!(auth_status(without_bob, "cookie", &bob).await, 401);
    let line = without_bob
        .wait_for_log("token for user \"bob\" verified, but no such user exists on this instance");
    assert!(line.contains("unknown_user"), "{line}");
}

/// Clock skew within the leeway: `behind` (a farm instance, which served
/// its share of the requests above) and an instance ahead by as much accept
/// every token. Skew beyond the leeway: an instance that far behind refuses
/// fresh tokens as not yet valid, and logs why.
async fn clock_skew(root: &Path, behind: &Server, cookies: &[&str], fresh_bearer: &str) {
    behind.wait_for_log(&format!("token clock shifted by {}s", -SKEW_WITHIN));
    let ahead = start_instance(root, "pub-1", "ahead", SKEW_WITHIN);
    let late = start_instance(root, "pub-1", "late", -SKEW_BEYOND);
    for server in [behind, &ahead] {
        for cookie in cookies {
            let status = auth_status(server, "cookie", cookie).await;
            assert_eq!(status, 200, "{}", server.instance);
        }
        let status = auth_status(server, "authorization", fresh_bearer).await;
        assert_eq!(status, 200, "{}", server.instance);
    }
    // The newest cookie (minted seconds ago) and a token minted just now.
    let newest = cookies.last().expect("a cookie");
    assert_eq!(auth_status(&late, "cookie", newest).await, 401);
    assert_eq!(auth_status(&late, "authorization", fresh_bearer).await, 401);
    let lines = late.wait_for_logs("not_yet_valid", 2);
    for line in &lines {
        assert!(line.contains("clock is behind"), "{line}");
    }
    late.wait_for_log(&format!("token clock shifted by {}s", -SKEW_BEYOND));
}

/// `user revoke-sessions` on the master copy, replicated to every instance
/// and announced by SIGHUP: alice's cookies are refused on every live
/// instance after that one reload (pub-3's clock runs 20 s behind, within
/// the leeway), and a new login works at once on each.
async fn logout_everywhere(root: &Path, names: &[&str], live: &[&Server], cookies: &[&str]) {
    // Counted before the copy: an instance's own poll may see the new file
    // before its SIGHUP does.
    let before: Vec<usize> = live
        .iter()
        .map(|server| server.count_log("users file changed"))
        .collect();
    etoken_ok(
        root,
        &[
            "user",
            "revoke-sessions",
            "--users",
            "master/users.json",
            "alice",
        ],
        "",
    );
    for name in names {
        copy_file(
            &root.join("master/users.json"),
            &root.join(name).join("users.json"),
        );
    }
    for (server, before) in live.iter().zip(before) {
        server.signal("HUP");
        server.wait_for_logs("users file changed", before + 1);
        for cookie in cookies {
            assert_eq!(
                auth_status(server, "cookie", cookie).await,
                401,
                "{}",
                server.instance
            );
        }
        server.wait_for_log("reason=\"session_revoked\"");
    }
    for minted_on in live {
        let (cookie, _) = login_at(&minted_on.url(""), "alice", "alice-pw").await;
        for server in live {
            assert_eq!(
                auth_status(server, "cookie", &cookie).await,
                200,
                "a login on {} after the revocation, checked on {}",
                minted_on.instance,
                server.instance
            );
        }
    }
}

/// The nginx binary: on PATH, else /usr/sbin/nginx. Absent, the test fails.
fn find_nginx() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nginx not found on PATH nor at /usr/sbin/nginx: the farm test needs a real \
                 nginx with the auth_request module (`apt-get install nginx`; .ci/run installs it)"
            )
        })
}

/// `etoken serve` for instance `name`, using the key directory and users
/// file in `root/dir`.
fn start_instance(root: &Path, dir: &str, name: &str, clock_offset: i64) -> Server {
    let keys = format!("{dir}/keys");
    let users = format!("{dir}/users.json");
    let offset = clock_offset.to_string();
    Server::start(
        root,
        &[
            "--keys",
            &keys,
            "--users",
            &users,
            "--instance",
            name,
            "--insecure-cookies",
            "--reload-interval",
            "1s",
            "--clock-offset",
            &offset,
        ],
    )
}

fn live(server: &Option<Server>) -> &Server {
    server.as_ref().expect("a live instance")
}

/// Copies a key directory the way an operator's `rsync --delay-updates`
/// does: every file written beside its target as a dot-file (which the
/// loader ignores), then renamed over it; the key files before `ring.json`,
/// so a reload mid-copy never sees a ring naming a key not there yet.
fn copy_key_dir(from: &Path, to: &Path) {
    fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(to)
        .unwrap();
    let mut names: Vec<String> = fs::read_dir(from)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort_by_key(|name| (name == RING_FILE, name.clone()));
    for name in names {
        copy_file(&from.join(&name), &to.join(&name));
    }
}

/// Writes `.NAME.tmp` (mode 0600) next to `to`, then renames it to `to`.
fn copy_file(from: &Path, to: &Path) {
    fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(to.parent().unwrap())
        .unwrap();
    let name = to.file_name().unwrap().to_str().unwrap();
    let temp = to.with_file_name(format!(".{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .unwrap();
    file.write_all(&fs::read(from).unwrap()).unwrap();
    file.sync_all().unwrap();
    fs::rename(&temp, to).unwrap();
}

/// One phase of a rotation: copies the master key directory to every
/// instance's copy (the dead one's too), sends the live ones SIGHUP and
/// waits until each reports the master's ring on `/healthz`. Returns that
/// ring fingerprint.
async fn roll_out(root: &Path, names: &[&str], live: &[&Server]) -> String {
    let ring = etoken_ok(root, &["key", "fingerprint", "--dir", "master/keys"], "")
        .trim()
        .to_owned();
    for name in names {
        copy_key_dir(&root.join("master/keys"), &root.join(name).join("keys"));
    }
    for server in live {
        server.signal("HUP");
    }
    for server in live {
        server.wait_for_log(&format!("now using ring {ring}"));
        let text = client()
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let health: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(health["ring"], ring.as_str(), "{}", server.instance);
    }
    ring
}

fn key_list(root: &Path) -> Vec<Value> {
    let text = etoken_ok(root, &["key", "list", "--dir", "master/keys", "--json"], "");
    match serde_json::from_str(&text).unwrap() {
        Value::Array(rows) => rows,
        other => panic!("key list --json: {other}"),
    }
}

fn key_in_state(root: &Path, state: &str) -> String {
    key_list(root)
        .iter()
        .find(|row| row["state"] == state)
        .and_then(|row| row["id"].as_str())
        .unwrap_or_else(|| panic!("no {state} key"))
        .to_owned()
}

fn active_key(root: &Path) -> String {
    key_in_state(root, "active")
}

/// A client that keeps its connection alive, follows no redirect, never
/// uses a proxy, and gives up on a request after 10 seconds.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

/// Logs in at `base` (nginx or one instance): the `login-token=...` pair
/// and the instance that minted it.
async fn login_at(base: &str, user: &str, password: &str) -> (String, String) {
    let response = client()
        .post(format!("{base}/j_security_check"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("j_username={user}&j_password={password}"))
        .send()
        .await
        .expect("login is answered");
    assert_eq!(response.status(), 303, "login of {user} at {base}");
    let instance = header(&response, "x-instance").expect("X-Instance on the login");
    let set_cookie = header(&response, "set-cookie").expect("a Set-Cookie");
    (cookie_pair(&set_cookie), instance)
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    let value = response.headers().get(name)?;
    Some(value.to_str().expect("a printable header").to_owned())
}

/// `login-token=VALUE` from a Set-Cookie value.
fn cookie_pair(set_cookie: &str) -> String {
    let parsed = cookie::Cookie::parse(set_cookie.to_owned()).expect("a Set-Cookie");
    assert_eq!(parsed.name(), "login-token");
    format!("{}={}", parsed.name(), parsed.value())
}

/// A protected page nginx served.
struct Served {
    /// The instance that checked the cookie (X-Auth-Instance).
    instance: String,
    /// A renewed cookie the instance sent, if any.
    renewed: Option<String>,
}

/// GETs the protected page with `cookie`: the page and the instance that
/// checked the cookie, or what went wrong.
async fn fetch(client: &reqwest::Client, url: &str, cookie: &str) -> Result<Served, String> {
    let response = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status();
    let instance = header(&response, "x-auth-instance");
    let renewed = header(&response, "set-cookie");
    let body = response
        .text()
        .await
        .map_err(|e| format!("{status} with a broken body: {e}"))?;
    match instance {
        Some(instance) if status == 200 && body == PAGE => Ok(Served { instance, renewed }),
        instance => Err(format!("{status} checked by {instance:?}: {body:.120}")),
    }
}

/// `GET /auth` on one instance with one header: the status.
async fn auth_status(server: &Server, name: &str, value: &str) -> u16 {
    client()
        .get(server.url("/auth"))
        .header(name, value)
        .send()
        .await
        .expect("/auth is answered")
        .status()
        .as_u16()
}

/// The key id of `cookie`, as `/whoami` on `server` reports it.
async fn whoami_key(server: &Server, cookie: &str) -> String {
    let response = client()
        .get(server.url("/whoami"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("/whoami is answered");
    assert_eq!(
        response.status(),
        200,
        "{} accepts the cookie",
        server.instance
    );
    let claims: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    claims["key_id"].as_str().expect("a key id").to_owned()
}

/// What a client saw.
#[derive(Default)]
struct Tally {
    ok: usize,
    failures: Vec<String>,
    instances: BTreeMap<String, usize>,
}

impl Tally {
    fn record(&mut self, result: &Result<Served, String>) {
        match result {
            Ok(served) => {
                self.ok += 1;
                *self.instances.entry(served.instance.clone()).or_default() += 1;
            }
            Err(e) => self.failures.push(e.clone()),
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failures.extend(other.failures);
        for (instance, n) in other.instances {
            *self.instances.entry(instance).or_default() += n;
        }
    }
}

/// Background requests through nginx, stopped by a flag and bounded by a
/// cap, with a shared progress counter.
struct Background<T> {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<T>>,
}

impl<T> Background<T> {
    fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits until `count` requests are done (or every task ended).
    async fn wait_for_progress(&self, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.done() < count {
            assert!(
                !self.tasks.iter().all(|t| t.is_finished()),
                "the background client ended after {} requests, before {count}",
                self.done()
            );
            assert!(
                Instant::now() < deadline,
                "background client stuck at {} requests",
                self.done()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn finish(self) -> Vec<T> {
        self.stop.store(true, Ordering::SeqCst);
        let mut results = Vec::new();
        for task in self.tasks {
            let result = tokio::time::timeout(PATIENCE, task)
                .await
                .expect("the background client stops")
                .expect("the background client does not panic");
            results.push(result);
        }
        results
    }
}

/// The load client: 8 connections, each sending requests back to back.
struct Load {
    background: Background<(Tally, Instant)>,
    started: Instant,
}

struct LoadResult {
    tally: Tally,
    elapsed: Duration,
}

impl Load {
    fn start(url: &str, cookie: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let tasks = (0..LOAD_CONNECTIONS)
            .map(|_| {
                let (url, cookie) = (url.to_owned(), cookie.to_owned());
                let (stop, done) = (stop.clone(), done.clone());
                tokio::spawn(async move {
                    let client = client();
                    let mut tally = Tally::default();
                    for _ in 0..LOAD_CAP {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        tally.record(&fetch(&client, &url, &cookie).await);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    (tally, Instant::now())
                })
            })
            .collect();
        Load {
            background: Background { stop, done, tasks },
            started,
        }
    }

    fn done(&self) -> usize {
        self.background.done()
    }

    async fn wait_for_progress(&self, count: usize) {
        self.background.wait_for_progress(count).await
    }

    async fn stop(self) -> LoadResult {
        let mut tally = Tally::default();
        let mut last = self.started;
        for (part, ended) in self.background.finish().await {
            tally.merge(part);
            last = last.max(ended);
        }
        LoadResult {
            tally,
            elapsed: last - self.started,
        }
    }
}

/// The rotation client: one connection, back to back, keeping every
/// renewed cookie like a browser.
struct Rotation {
    background: Background<RotationResult>,
}

struct RotationResult {
    tally: Tally,
    renewals: usize,
    /// The cookie it holds at the end.
    cookie: String,
}

impl Rotation {
    fn start(url: &str, cookie: &str) -> Rotation {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let (url, mut cookie) = (url.to_owned(), cookie.to_owned());
        let (flag, counter) = (stop.clone(), done.clone());
        let task = tokio::spawn(async move {
            let client = client();
            let mut result = RotationResult {
                tally: Tally::default(),
                renewals: 0,
                cookie: String::new(),
            };
            for _ in 0..ROTATION_CAP {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let served = fetch(&client, &url, &cookie).await;
                if let Ok(Served {
                    renewed: Some(set_cookie),
                    ..
                }) = &served
                {
                    cookie = cookie_pair(set_cookie);
                    result.renewals += 1;
                }
                result.tally.record(&served);
                counter.fetch_add(1, Ordering::SeqCst);
            }
            result.cookie = cookie;
            result
        });
        Rotation {
            background: Background {
                stop,
                done,
                tasks: vec![task],
            },
        }
    }

    fn done(&self) -> usize {
        self.background.done()
    }

    async fn wait_for_progress(&self, count: usize) {
        self.background.wait_for_progress(count).await
    }

    async fn stop(self) -> RotationResult {
        self.background.finish().await.pop().expect("one task")
    }
}

/// nginx started from `examples/nginx.conf`, in a directory of its own,
/// stopped (master and workers) when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    /// Writes the configuration and starts nginx on a free port of
    /// 127.0.0.1, in front of `upstreams`; waits until it accepts.
    fn start(binary: &Path, root: &Path, upstreams: &[String]) -> Nginx {
        let dir = root.join("nginx");
        let www = dir.join("www");
        fs::create_dir_all(www.join("content")).unwrap();
        fs::write(www.join("content/page.html"), PAGE).unwrap();
        let example = fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/nginx.conf"
        ))
        .expect("examples/nginx.conf");
        let mut last_error = String::new();
        // A free port is found by binding port 0 and letting it go; another
        // process may take it before nginx does, so try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let config = farm_config(&example, port, upstreams, &www, &dir);
            fs::write(dir.join("nginx.conf"), config).unwrap();
            let _ = fs::remove_file(dir.join("error.log"));
            let mut globals = format!(
                "daemon off; pid {}; error_log {} info;",
                quoted(&dir.join("nginx.pid")),
                quoted(&dir.join("error.log"))
            );
            // Run as root (CI), workers would switch to `nobody`, who cannot
            // read this private directory.
            if running_as_root() {
                globals.push_str(" user root;");
            }
            let child = Command::new(binary)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .arg("-e")
                .arg(dir.join("error.log"))
                .arg("-g")
                .arg(&globals)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(dir.join("stderr.log")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
            let mut nginx = Nginx {
                child,
                dir: dir.clone(),
                port,
            };
            match nginx.wait_until_listening() {
                Ok(()) => return nginx,
                Err(e) => last_error = e,
            }
            if !last_error.contains("Address already in use") {
                break;
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn wait_until_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("nginx exited ({status}): {}", self.logs()));
            }
            let addr = ([127, 0, 0, 1], self.port).into();
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("nginx not listening: {}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }

    /// Waits until a line of the logs matches, and returns it.
    fn wait_for_error_log(&self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let logs = self.logs();
            if let Some(line) = logs.lines().find(|line| matches(line)) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "no such nginx log line: {logs}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pids whose parent is the master: its workers.
    fn workers(&self) -> Vec<u32> {
        let master = self.child.id();
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                // /proc/PID/stat: "PID (COMM) STATE PPID ..."
                fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| {
                        let rest = stat.rsplit_once(')')?.1;
                        rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(master)
            })
            .collect()
    }
}

impl Drop for Nginx {
    /// SIGTERM (nginx's fast shutdown: the master stops its workers, then
    /// itself); SIGKILL to the master and to the workers if that hangs.
    fn drop(&mut self) {
        let workers = self.workers();
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in workers {
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// `examples/nginx.conf` with the test's port, upstreams, document root, and
/// the log and temporary paths inside `dir`. Each replaced text must occur
/// exactly once, so a change to the example cannot slip past the test.
fn farm_config(example: &str, port: u16, upstreams: &[String], www: &Path, dir: &Path) -> String {
    let mut config = example.to_owned();
    let mut replace = |from: &str, to: &str| {
        assert_eq!(
            config.matches(from).count(),
            1,
            "examples/nginx.conf should hold {from:?} once: the farm test runs nginx from it"
        );
        config = config.replacen(from, to, 1);
    };
    replace("listen 8080;", &format!("listen 127.0.0.1:{port};"));
    for (example_port, addr) in EXAMPLE_PORTS.iter().zip(upstreams) {
        replace(
            &format!("server 127.0.0.1:{example_port} "),
            &format!("server {addr} "),
        );
    }
    replace("root /srv/www;", &format!("root {};", quoted(www)));
    let mut paths = format!(
        "http {{\n    access_log {};\n",
        quoted(&dir.join("access.log"))
    );
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let path = quoted(&dir.join(format!("{temp}_temp")));
        paths.push_str(&format!("    {temp}_temp_path {path};\n"));
    }
    replace("http {\n", &paths);
    config
}

fn quoted(path: &Path) -> String {
    let text = path.to_str().expect("a UTF-8 path");
    assert!(!text.contains('"'), "{text}");
    format!("\"{text}\"")
}

/// Whether this process runs as root (effective uid 0), from
/// /proc/self/status.
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// When no instance answers the auth subrequest, nginx (from
/// `examples/nginx.conf`) says 503 with `Retry-After`, not a 500.
#[tokio::test(flavor = "multi_thread")]
async fn nginx_answers_503_with_retry_after_when_no_instance_answers() {
    let nginx_binary = find_nginx();
    let tmp = tempfile::tempdir().unwrap();
    // Three ports nobody listens on: bound, then let go.
    let dead: Vec<String> = (0..3)
        .map(|_| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        })
        .collect();
    let nginx = Nginx::start(&nginx_binary, tmp.path(), &dead);
    for cookie in ["", "login-token=et2.anything"] {
        let response = client()
            .get(nginx.url(PAGE_PATH))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{cookie:?}: {}", nginx.logs());
        assert_eq!(header(&response, "retry-after").as_deref(), Some("5"));
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store")
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("authentication is unavailable"), "{body}");
        assert!(!body.contains(PAGE), "the protected page is not served");
    }
    let line = nginx.wait_for_error_log(|line| line.contains("Connection refused"));
    assert!(
        line.contains("/auth"),
        "the subrequest is what failed: {line}"
    );
}

/// Headless Chromium through nginx in front of two instances: a protected
/// URL sends it to the login page, a wrong password is announced on the
/// page, the right one lands it on the URL it asked for; with JavaScript
/// and without (tests/browser/signin.py). Screenshots go to the test's
/// temporary directory.
#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_through_nginx_and_lands_on_the_protected_url() {
    let nginx_binary = find_nginx();
    let python = support::venv_python("browser-venv", "playwright", &["playwright==1.65.2"]);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    etoken_ok(&root, &["key", "init", "--dir", "master/keys"], "");
    etoken_ok(
        &root,
        &["user", "add", "--users", "master/users.json", "alice"],
        "alice-pw\n",
    );
    for name in ["pub-1", "pub-2"] {
        copy_key_dir(&root.join("master/keys"), &root.join(name).join("keys"));
        copy_file(
            &root.join("master/users.json"),
            &root.join(name).join("users.json"),
        );
    }
    let farm: Vec<Server> = ["pub-1", "pub-2"]
        .iter()
        .map(|name| start_instance(&root, name, name, 0))
        .collect();
    // The example names three upstreams: the third is pub-1 again.
    let addrs = [&farm[0].addr, &farm[1].addr, &farm[0].addr].map(|a| a.to_string());
    let nginx = Nginx::start(&nginx_binary, &root, &addrs);
    let shots = root.join("screenshots");
    fs::create_dir_all(&shots).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/signin.py");
    let protected = nginx.url(PAGE_PATH);
    let (out, shots) = tokio::task::spawn_blocking(move || {
        let out = Command::new(python)
            .arg(script)
            .args([protected.as_str(), "alice", "alice-pw"])
            .arg(&shots)
            .output()
            .expect("the browser script runs");
        (out, shots)
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report.matches("ok   ").count(), 15, "{report}");
    for shot in [
        "login-js",
        "wrong-password-js",
        "protected-js",
        "protected-nojs",
    ] {
        let png = fs::read(shots.join(format!("{shot}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 1000,
            "{shot}.png"
        );
    }
    // The logins reached the instances through nginx.
    let logins: usize = farm.iter().map(|s| s.count_log("login: \"alice\"")).sum();
    assert_eq!(logins, 2, "one login with JavaScript, one without");
}
