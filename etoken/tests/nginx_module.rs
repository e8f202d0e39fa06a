//! The native nginx module (`contrib/nginx-module/`) in a real nginx:
//! Debian's nginx loads `ngx_http_etoken_module.so` with `load_module` and
//! proxies to a second server of its own that echoes the `X-Auth-User` it
//! received and logs every request it sees.
//!
//! The module must be built first (`contrib/nginx-module/build.sh`;
//! `scripts/test` runs it and sets `ETOKEN_REQUIRE_NGINX_MODULE`, so CI
//! always runs these tests). Without the module and without that variable
//! the tests say loudly that they skipped.

mod support;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{etoken_ok, setup};

/// The built module, or `None` (with a loud message) when it is absent
/// and `ETOKEN_REQUIRE_NGINX_MODULE` is unset; absent and required fails.
fn module_path() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib/nginx-module/ngx_http_etoken_module.so");
    if path.exists() {
        return Some(path.canonicalize().unwrap());
    }
    assert!(
        std::env::var_os("ETOKEN_REQUIRE_NGINX_MODULE").is_none(),
        "{} is missing and ETOKEN_REQUIRE_NGINX_MODULE is set: \
         run contrib/nginx-module/build.sh (scripts/test does)",
        path.display()
    );
    eprintln!(
        "\n*** SKIPPED: {} is missing. Run contrib/nginx-module/build.sh \
         (scripts/test does, and sets ETOKEN_REQUIRE_NGINX_MODULE so CI never skips). ***\n",
        path.display()
    );
    None
}

/// Whether njs is here (the `njs` CLI and Debian's nginx module); when it
/// is not, the same rule as for the native module: skip loudly unless
/// `ETOKEN_REQUIRE_NGINX_MODULE` is set.
fn njs_available() -> bool {
    let cli = Command::new("njs")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if cli && Path::new(NJS_MODULE).exists() {
        return true;
    }
    assert!(
        std::env::var_os("ETOKEN_REQUIRE_NGINX_MODULE").is_none(),
        "njs or {NJS_MODULE} is missing and ETOKEN_REQUIRE_NGINX_MODULE is set: \
         apt-get install njs libnginx-mod-http-js (scripts/test does)"
    );
    eprintln!(
        "\n*** SKIPPED: njs or {NJS_MODULE} is missing (apt-get install njs libnginx-mod-http-js). ***\n"
    );
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's njs module (libnginx-mod-http-js).
const NJS_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_js_module.so";

fn njs_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib/nginx-njs/etoken.js")
        .canonicalize()
        .unwrap()
}

/// What verifies tokens in nginx.
enum Front {
    /// The native module, built.
    Module(PathBuf),
    /// contrib/nginx-njs/etoken.js in Debian's njs module.
    Njs,
}

/// nginx with a verifier, in its own prefix directory; stopped when dropped.
struct Nginx {
    child: Child,
    front: u16,
    prefix: PathBuf,
}

impl Nginx {
    /// nginx verifying with `front`, reading `ROOT/ring.json` (and, for
    /// the module under `/users/`, `ROOT/users.json`), in front of an
    /// upstream of its own.
    fn start(root: &Path, front_end: &Front) -> Nginx {
        let prefix = root.join("nginx");
        fs::create_dir_all(prefix.join("logs")).unwrap();
        let (front, back) = (free_port(), free_port());
        let ring = root.join("ring.json");
        let users = root.join("users.json");
        let upstream = format!(
            "proxy_set_header X-Auth-User $etoken_user; proxy_pass http://127.0.0.1:{back};"
        );
        let (load, http, require, extra) = match front_end {
            Front::Module(module) => (
                module.display().to_string(),
                format!(
                    "etoken_ring {ring}; etoken_audience farm; etoken_leeway 0;
    etoken_refresh on; etoken_lifetime 3600;",
                    ring = ring.display()
                ),
                "etoken_require on; add_header Set-Cookie $etoken_set_cookie always;",
                format!(
                    "location /users/ {{ etoken_users {users}; etoken_require on; {upstream} }}",
                    users = users.display()
                ),
            ),
            Front::Njs => (
                NJS_MODULE.to_owned(),
                format!(
                    "js_import etoken from {script}; js_var $etoken_ring {ring};
    js_var $etoken_audience farm; js_var $etoken_leeway 0;
    js_set $etoken_user etoken.user; js_set $etoken_reason etoken.reason;
    js_set $etoken_set_cookie etoken.setCookie;",
                    script = njs_script().display(),
                    ring = ring.display()
                ),
                r#"add_header Set-Cookie $etoken_set_cookie always;
        if ($etoken_user = "") { return 401; }"#,
                String::new(),
            ),
        };
        let config = format!(
            r#"load_module {load};
user root root;
daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {p}/body; proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;
    {http}
    server {{
        listen 127.0.0.1:{front};
        location / {{ {require} {upstream} }}
        {extra}
        location = /whoami {{ return 200 "$etoken_user|$etoken_reason"; }}
    }}
    server {{
        listen 127.0.0.1:{back};
        access_log {p}/logs/upstream.log;
        location / {{ return 200 "user=$http_x_auth_user"; }}
    }}
}}
"#,
            p = prefix.display(),
        );
        fs::write(prefix.join("nginx.conf"), config).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let nginx = Nginx {
            child,
            front,
            prefix,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: {}",
                nginx.error_log()
            );
            sleep(Duration::from_millis(50));
        }
        nginx
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.front)
    }

    /// `nginx -s reload`: new workers with the configuration read again,
    /// the old ones finishing what they serve.
    fn reload(&self) {
        let output = Command::new(nginx_binary())
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(self.prefix.join("nginx.conf"))
            .args(["-s", "reload"])
            .output()
            .expect("nginx -s reload runs");
        assert!(
            output.status.success(),
            "nginx -s reload: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Requests the upstream has seen so far.
    fn upstream_requests(&self) -> usize {
        fs::read_to_string(self.prefix.join("logs/upstream.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// The `Set-Cookie` headers of GET `path` with `headers`.
    fn set_cookies(&self, path: &str, headers: &[(&str, &str)]) -> Vec<String> {
        let mut curl = Command::new("curl");
        curl.args(["-s", "--noproxy", "*", "-o", "/dev/null", "-D", "-"]);
        for (name, value) in headers {
            curl.arg("-H").arg(format!("{name}: {value}"));
        }
        let output = curl.arg(self.url(path)).output().expect("curl runs");
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("set-cookie")
                    .then(|| value.trim().to_owned())
            })
            .collect()
    }

    /// GET `path` with `headers`: status and body.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut curl = Command::new("curl");
        curl.args(["-s", "--noproxy", "*", "-o", "-", "-w", "\n%{http_code}"]);
        for (name, value) in headers {
            curl.arg("-H").arg(format!("{name}: {value}"));
        }
        let output = curl.arg(self.url(path)).output().expect("curl runs");
        let text = String::from_utf8(output.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_owned())
    }
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers (SIGKILL would
    /// leave them running); SIGKILL only if it does not exit.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("nginx is not installed (contrib/nginx-module/build.sh installs it)")
}

fn mint(root: &Path, keys: &str, user: &str, ttl: &str, audience: &str) -> String {
    etoken_ok(
        root,
        &[
            "mint", "--keys", keys, "--user", user, "--ttl", ttl, "--aud", audience,
        ],
        "",
    )
    .trim()
    .to_owned()
}

/// A key directory `keys` with users alice and bob, its ring document,
/// and a `foreign` key directory, in `root`.
fn keys_and_ring(root: &Path) {
    setup(root, &["alice", "bob"]);
    etoken_ok(
        root,
        &["key", "export", "--dir", "keys", "--out", "ring.json"],
        "",
    );
    etoken_ok(root, &["key", "init", "--dir", "foreign"], "");
}

/// Valid cookie and bearer tokens reach the upstream as their user, never
/// the client's own X-Auth-User; every other token gets 401 and never
/// reaches it, with the core's reason.
fn lets_valid_tokens_through_and_refuses_the_rest(nginx: &Nginx, root: &Path) {
    let alice = mint(root, "keys", "alice", "1h", "farm");
    let cookie = format!("theme=dark; login-token={alice}");
    let bearer = format!("Bearer {alice}");

    // Valid cookie and bearer: the upstream sees alice, never the client's
    // own X-Auth-User.
    for header in [
        ("Cookie", cookie.as_str()),
        ("Authorization", bearer.as_str()),
    ] {
        let (status, body) = nginx.get("/page", &[header, ("X-Auth-User", "mallory")]);
        assert_eq!((status, body.as_str()), (200, "user=alice"), "{}", header.0);
    }
    let host_cookie = format!("__Host-login-token={alice}");
    assert_eq!(
        nginx.get("/page", &[("Cookie", &host_cookie)]),
        (200, "user=alice".into())
    );
    assert_eq!(nginx.upstream_requests(), 3);
    assert_eq!(
        nginx.get("/whoami", &[("Cookie", &cookie)]),
        (200, "alice|".into())
    );

    // Refused: 401, the upstream never sees them, the reason is the core's.
    let mut forged = alice.clone().into_bytes();
    let last = forged.len() - 5;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let expired = mint(root, "keys", "alice", "1s", "farm");
    let foreign = mint(root, "foreign", "alice", "1h", "farm");
    let other_audience = mint(root, "keys", "alice", "1h", "elsewhere");
    let too_long = format!("{alice}{}", "A".repeat(4096));
    sleep(Duration::from_millis(2100));
    let refused = [
        (forged.as_str(), "bad_tag"),
        (expired.as_str(), "expired"),
        (foreign.as_str(), "unknown_key_id"),
        (other_audience.as_str(), "wrong_audience"),
        (too_long.as_str(), "too_long"),
        ("garbage", "malformed"),
    ];
    for (token, _) in &refused {
        let cookie = format!("login-token={token}");
        let (status, _) = nginx.get("/page", &[("Cookie", &cookie), ("X-Auth-User", "alice")]);
        assert_eq!(status, 401, "{token:.40}");
        let bearer = format!("Bearer {token}");
        assert_eq!(
            nginx.get("/page", &[("Authorization", &bearer)]).0,
            401,
            "{token:.40}"
        );
    }
    assert_eq!(nginx.get("/page", &[("X-Auth-User", "alice")]).0, 401);
    assert_eq!(
        nginx.upstream_requests(),
        3,
        "a refused request reached the upstream"
    );
    for (token, reason) in refused {
        let cookie = format!("login-token={token}");
        let (_, body) = nginx.get("/whoami", &[("Cookie", &cookie)]);
        let (user, got) = body.split_once('|').unwrap();
        assert_eq!(user, "");
        assert_eq!(got, reason, "{token:.40}");
    }
    assert_eq!(nginx.get("/whoami", &[]), (200, "|no_token".into()));
}

/// Several login cookies, the Rust handler's rule (issue 20, LESSONS.md):
/// junk and invalid cookies ahead of a valid one lock nobody out; valid
/// ones naming two users are refused as `ambiguous_cookies`, never reach
/// the upstream, and the cookie is cleared.
fn several_login_cookies_are_each_verified(nginx: &Nginx, root: &Path) {
    let alice = mint(root, "keys", "alice", "1h", "farm");
    let bob = mint(root, "keys", "bob", "1h", "farm");
    let foreign = mint(root, "foreign", "bob", "1h", "farm");
    let junk =
        format!("login-token=garbage; theme=dark; __Host-login-token={foreign}; login-token=");
    let before = nginx.upstream_requests();
    let then_alice = format!("{junk}; login-token={alice}");
    let alice_alone = format!("a=1; __Host-login-token={alice}");
    for (case, headers) in [
        vec![("Cookie", then_alice.as_str())],
        vec![("Cookie", junk.as_str()), ("Cookie", alice_alone.as_str())],
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            nginx.get("/page", &headers),
            (200, "user=alice".into()),
            "junk then alice, case {case}"
        );
    }
    assert_eq!(nginx.upstream_requests(), before + 2);

    let two = format!("login-token={alice}; {junk}; login-token={bob}");
    let bob_host = format!("__Host-login-token={bob}");
    let alice_cookie = format!("login-token={alice}");
    for (case, headers) in [
        vec![("Cookie", two.as_str())],
        vec![
            ("Cookie", alice_cookie.as_str()),
            ("Cookie", bob_host.as_str()),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            nginx.get("/page", &headers).0,
            401,
            "alice and bob, case {case}"
        );
        assert_eq!(
            nginx.get("/whoami", &headers),
            (200, "|ambiguous_cookies".into())
        );
    }
    assert_eq!(
        nginx.upstream_requests(),
        before + 2,
        "an ambiguous request reached the upstream"
    );
    let cleared = nginx.set_cookies("/page", &[("Cookie", &two)]);
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    let cleared = cookie::Cookie::parse(cleared[0].as_str()).unwrap();
    assert_eq!(cleared.name_value(), ("login-token", ""));
    assert_eq!(cleared.max_age(), Some(time::Duration::ZERO));
    assert_eq!(cleared.path(), Some("/"));
}

#[test]
fn the_module_lets_valid_tokens_through_and_refuses_the_rest() {
    let Some(module) = module_path() else { return };
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    keys_and_ring(root);
    let nginx = Nginx::start(root, &Front::Module(module));
    lets_valid_tokens_through_and_refuses_the_rest(&nginx, root);
    several_login_cookies_are_each_verified(&nginx, root);
    let alice = mint(root, "keys", "alice", "1h", "farm");
    let cookie = format!("login-token={alice}");

    // The users file: bob exists, then is removed; within 2 s refused.
    let bob = format!("login-token={}", mint(root, "keys", "bob", "1h", "farm"));
    assert_eq!(
        nginx.get("/users/x", &[("Cookie", &bob)]),
        (200, "user=bob".into())
    );
    etoken_ok(
        root,
        &["user", "remove", "--users", "users.json", "bob"],
        "",
    );
    let deadline = Instant::now() + Duration::from_secs(2) + Duration::from_millis(500);
    while nginx.get("/users/x", &[("Cookie", &bob)]).0 != 401 {
        assert!(
            Instant::now() < deadline,
            "bob still admitted: {}",
            nginx.error_log()
        );
        sleep(Duration::from_millis(100));
    }
    assert_eq!(
        nginx.get("/users/x", &[("Cookie", &cookie)]),
        (200, "user=alice".into())
    );
}

/// Clients hammering `url` with `headers` until `stop`: requests that got
/// 200, and every other answer or error. A new connection per request, so
/// a reload's closing of idle keep-alive connections (which clients retry)
/// cannot hide or fake a refusal.
fn load(
    url: String,
    headers: Vec<(&'static str, String)>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let (mut ok, mut failed) = (0usize, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let mut request = client.get(&url);
                for (name, value) in &headers {
                    request = request.header(*name, value);
                }
                match request.send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(r.status().to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        })
    })
}

#[test]
fn a_key_rotation_with_the_ring_file_replaced_and_reloads_under_load_fails_no_request() {
    let Some(module) = module_path() else { return };
    rotation_and_reloads_under_load(Front::Module(module));
}

/// Two-phase rotation: the ring file replaced after each phase, with an
/// `nginx -s reload` after each, while clients send old-key tokens.
fn rotation_and_reloads_under_load(front: Front) {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    setup(root, &["alice"]);
    let export = ["key", "export", "--dir", "keys", "--out", "ring.json"];
    etoken_ok(root, &export, "");
    let nginx = Nginx::start(root, &front);
    let old = mint(root, "keys", "alice", "1h", "farm");

    let stop = Arc::new(AtomicBool::new(false));
    let clients = [
        load(
            nginx.url("/page"),
            vec![("cookie", format!("login-token={old}"))],
            stop.clone(),
        ),
        load(
            nginx.url("/page"),
            vec![("authorization", format!("Bearer {old}"))],
            stop.clone(),
        ),
    ];
    sleep(Duration::from_millis(500));

    // Phase 1: a new verify-only key; the ring file replaced, then reload.
    etoken_ok(root, &["key", "add", "--dir", "keys"], "");
    etoken_ok(root, &export, "");
    nginx.reload();
    sleep(Duration::from_millis(500));
    // Phase 2: the new key mints; replaced again, reloaded again.
    let listed = etoken_ok(root, &["key", "list", "--dir", "keys", "--json"], "");
    let keys: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let new_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "verify-only")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    etoken_ok(root, &["key", "promote", "--dir", "keys", &new_key], "");
    etoken_ok(root, &export, "");
    sleep(Duration::from_millis(1200)); // the file alone is noticed within 1 s
    let new = mint(root, "keys", "alice", "1h", "farm");
    assert_eq!(
        nginx.get("/page", &[("Authorization", &format!("Bearer {new}"))]),
        (200, "user=alice".into()),
        "the new key's token, before any reload: {}",
        nginx.error_log()
    );
    nginx.reload();
    sleep(Duration::from_millis(500));
    assert_eq!(
        nginx.get("/page", &[("Cookie", &format!("login-token={new}"))]),
        (200, "user=alice".into())
    );

    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for client in clients {
        let (o, f) = client.join().unwrap();
        ok += o;
        failed.extend(f);
    }
    println!(
        "nginx module: rotation and two reloads: {ok} requests ok, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "no request fails: {failed:?}");
    assert!(ok > 100, "under load: {ok}");
}

#[test]
fn a_cookie_past_half_its_life_is_refreshed_with_a_token_etoken_verify_accepts() {
    let Some(module) = module_path() else { return };
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    setup(root, &["alice"]);
    etoken_ok(
        root,
        &["key", "export", "--dir", "keys", "--out", "ring.json"],
        "",
    );
    let nginx = Nginx::start(root, &Front::Module(module));

    // A fresh token, and any bearer token, get no cookie.
    let fresh = mint(root, "keys", "alice", "1h", "farm");
    assert_eq!(
        nginx.set_cookies("/page", &[("Cookie", &format!("login-token={fresh}"))]),
        Vec::<String>::new()
    );
    let short = mint(root, "keys", "alice", "4s", "farm");
    sleep(Duration::from_millis(2200));
    assert_eq!(
        nginx.set_cookies("/page", &[("Authorization", &format!("Bearer {short}"))]),
        Vec::<String>::new()
    );
    let skip = [
        ("Cookie", format!("login-token={short}")),
        ("X-Token-Refresh", "skip".into()),
    ];
    let skip: Vec<(&str, &str)> = skip.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(nginx.set_cookies("/page", &skip), Vec::<String>::new());

    // Past half its life: renewed, same name and session, a full lifetime,
    // the attributes `etoken serve` sets.
    for name in ["login-token", "__Host-login-token"] {
        let cookies = nginx.set_cookies("/page", &[("Cookie", &format!("{name}={short}"))]);
        assert_eq!(cookies.len(), 1, "{name}: {}", nginx.error_log());
        let cookie = cookie::Cookie::parse(cookies[0].clone()).unwrap();
        assert_eq!(cookie.name(), name);
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.max_age(), Some(time::Duration::hours(1)));
        let renewed = cookie.value();
        assert_ne!(renewed, short);
        let verified = etoken_ok(
            root,
            &["verify", "--keys", "keys", "--aud", "farm", renewed],
            "",
        );
        let claims: serde_json::Value = serde_json::from_str(&verified).unwrap();
        let original: serde_json::Value =
            serde_json::from_str(&etoken_ok(root, &["inspect", &short], "")).unwrap();
        assert_eq!(claims["verified"], true, "{verified}");
        assert_eq!(claims["subject"], "alice", "{verified}");
        assert_eq!(
            claims["session_started_at"], original["session_started_at"],
            "{verified} / {original}"
        );
        assert_eq!(
            claims["expires_at"].as_i64().unwrap() - claims["issued_at"].as_i64().unwrap(),
            3600
        );
        assert_eq!(
            nginx.get("/page", &[("Cookie", &format!("login-token={renewed}"))]),
            (200, "user=alice".into())
        );
    }
}

#[test]
fn njs_agrees_with_every_vector() {
    if !njs_available() {
        return;
    }
    let script = njs_script();
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let output = Command::new("njs")
        .arg("-p")
        .arg(script.parent().unwrap())
        .arg(script.with_file_name("vectors.js"))
        .arg(&vectors)
        .output()
        .expect("njs runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let count = fs::read_dir(&vectors)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("json".as_ref()))
        .count();
    assert!(count > 20, "{count} vectors");
    assert!(
        output.status.success()
            && stdout.contains(&format!("njs vectors: {count} passed, 0 failed")),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn njs_lets_valid_tokens_through_and_refuses_the_rest() {
    if !njs_available() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    keys_and_ring(root);
    let nginx = Nginx::start(root, &Front::Njs);
    lets_valid_tokens_through_and_refuses_the_rest(&nginx, root);
    several_login_cookies_are_each_verified(&nginx, root);
}

#[test]
fn njs_a_key_rotation_with_the_ring_file_replaced_and_reloads_under_load_fails_no_request() {
    if njs_available() {
        rotation_and_reloads_under_load(Front::Njs);
    }
}
