//! Running `etoken` as a process: CLI commands, and servers on 127.0.0.1
//! whose stdout announces the bound address and whose stderr (the log) is
//! collected for assertions. Shared by the CLI, server and farm tests.
#![allow(dead_code)] // each test file uses its own part of it

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for a server to say something before failing the test.
/// A deadline for a hung process, not a measurement.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `etoken ARGS` in `cwd` with `stdin`; asserts success, returns stdout.
pub fn etoken_ok(cwd: &Path, args: &[&str], stdin: &str) -> String {
    let out = etoken(cwd, args, stdin);
    assert!(
        out.status.success(),
        "etoken {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `etoken ARGS` in `cwd`, every stream piped, the environment's
/// `ETOKEN_KEYS` and `ETOKEN_USERS` removed.
fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_etoken"));
    command
        .current_dir(cwd)
        .args(args)
        .env_remove("ETOKEN_KEYS")
        .env_remove("ETOKEN_USERS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `etoken ARGS` in `cwd` with `stdin`.
pub fn etoken(cwd: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(cwd, args).spawn().expect("etoken starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    // A command that fails before reading stdin closes it: not an error here.
    match input.write_all(stdin.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => drop(input),
    }
    child.wait_with_output().expect("etoken runs")
}

/// `etoken serve ARGS` in `cwd`, expected to refuse to start: its output
/// once it exits, or, should it start listening instead, once it has been
/// killed, so that a test of a refusal fails rather than hangs.
pub fn serve_refused(cwd: &Path, args: &[&str]) -> Output {
    let mut child = command(cwd, &[&["serve"], args].concat())
        .stdin(Stdio::null())
        .spawn()
        .expect("etoken serve starts");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
        text
    });
    let mut stdout = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout is piped")).lines() {
        let Ok(line) = line else { break };
        stdout.extend_from_slice(line.as_bytes());
        stdout.push(b'\n');
        if line.starts_with("listening on") {
            let _ = child.kill();
            break;
        }
    }
    let status = child.wait().expect("etoken serve exits");
    Output {
        status,
        stdout,
        stderr: errors.join().expect("stderr is read"),
    }
}

/// A key directory and a users file with `users` (password = name + "-pw").
pub fn setup(dir: &Path, users: &[&str]) {
    etoken_ok(dir, &["key", "init", "--dir", "keys"], "");
    for user in users {
        etoken_ok(
            dir,
            &["user", "add", "--users", "users.json", user],
            &format!("{user}-pw\n"),
        );
    }
}

/// `etoken serve` on the files [`setup`] made (`keys`, `users.json`),
/// polling them every second, with `extra` flags.
pub fn serve_files(cwd: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--keys",
        "keys",
        "--users",
        "users.json",
        "--reload-interval",
        "1s",
    ];
    args.extend_from_slice(extra);
    Server::start(cwd, &args)
}

/// A running `etoken serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The instance name it announced.
    pub instance: String,
    /// Everything it printed on stdout before the listening line.
    pub banner: Vec<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `etoken serve ARGS --listen 127.0.0.1:0` in `cwd` and waits
    /// for its listening line.
    pub fn start(cwd: &Path, args: &[&str]) -> Server {
        Self::start_on(cwd, args, "127.0.0.1:0")
    }

    /// Starts `etoken serve ARGS --listen LISTEN` in `cwd` (a loopback
    /// address: tests never listen beyond this machine) and waits for its
    /// listening line.
    pub fn start_on(cwd: &Path, args: &[&str], listen: &str) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_etoken"));
        command.arg("serve").args(args).args(["--listen", listen]);
        Self::run(cwd, command)
    }

    /// Runs `command`, an `etoken serve` (perhaps wrapped, as in a network
    /// namespace of its own), in `cwd` and waits for its listening line.
    pub fn run(cwd: &Path, mut command: Command) -> Server {
        let mut child = command
            .current_dir(cwd)
            .env("RUST_LOG", "info")
            .env_remove("ETOKEN_KEYS")
            .env_remove("ETOKEN_USERS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("etoken serve starts");
        let stderr = child.stderr.take();
        let stdout = child.stdout.take();
        // From here on, dropping `server` kills and reaps the child.
        let mut server = Server {
            child,
            addr: String::new(),
            instance: String::new(),
            banner: Vec::new(),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        let sink = server.log.clone();
        let stderr = stderr.expect("stderr is piped");
        let reader = thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut stdout = BufReader::new(stdout.expect("stdout is piped"));
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                let status = server.wait();
                let _ = reader.join();
                panic!(
                    "etoken serve exited ({status}) before listening: {:?}",
                    server.log()
                );
            }
            let line = line.trim_end().to_owned();
            if let Some(rest) = line.strip_prefix("listening on http://") {
                let (addr, instance) = rest.split_once(" as ").expect("listening on ADDR as NAME");
                server.addr = addr.to_owned();
                server.instance = instance.to_owned();
                // Keep draining stdout so the server never blocks on it.
                thread::spawn(move || for _ in stdout.lines() {});
                return server;
            }
            server.banner.push(line);
        }
    }

    /// The admin password the embedded default printed on its first start.
    pub fn admin_password(&self) -> Option<String> {
        let banner = self.banner.join("\n");
        let printed = banner.split("shown only now: ").nth(1)?;
        Some(printed.trim().to_owned())
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line contains `needle`, and returns it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_logs(needle, 1).pop().expect("one line")
    }

    /// Waits until `count` log lines contain `needle`, and returns them.
    pub fn wait_for_logs(&self, needle: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let lines: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| l.contains(needle))
                .collect();
            if lines.len() >= count {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "fewer than {count} log lines with {needle:?}: {:?}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many log lines contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log().iter().filter(|l| l.contains(needle)).count()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "etoken serve did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that does not follow redirects and keeps no cookies, so
/// tests see exactly what the server sends.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// POSTs a login form body.
pub async fn post_form(url: &str, body: &str) -> reqwest::Response {
    client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("request is answered")
}

/// Logs in and returns the `login-token=...` pair for a Cookie header.
pub async fn login(server: &Server, user: &str, password: &str) -> String {
    let parsed = login_set_cookie(server, user, password).await;
    format!("{}={}", parsed.name(), parsed.value())
}

/// Logs in and returns the login cookie as the server set it.
pub async fn login_set_cookie(
    server: &Server,
    user: &str,
    password: &str,
) -> cookie::Cookie<'static> {
    let response = post_form(
        &server.url("/j_security_check"),
        &format!("j_username={user}&j_password={password}"),
    )
    .await;
    assert_eq!(response.status(), 303, "login of {user}");
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie::Cookie::parse(set_cookie.to_owned()).expect("a Set-Cookie")
}

/// `GET path` with extra headers.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request is answered")
}

/// A technical account made with `etoken service create`.
pub struct Service {
    /// The credentials document as printed.
    pub credentials: serde_json::Value,
    pub client_id: String,
    pub secret: String,
    /// The technical account id.
    pub account: String,
    pub org: String,
    pub private_key: String,
}

impl Service {
    /// `etoken service create NAME --services FILE --scope S... --public-url URL` in `dir`.
    pub fn create(dir: &Path, file: &str, name: &str, scopes: &[&str], url: &str) -> Service {
        let mut args = vec![
            "service",
            "create",
            "--services",
            file,
            name,
            "--public-url",
            url,
        ];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        let printed = etoken_ok(dir, &args, "");
        let credentials: serde_json::Value =
            serde_json::from_str(&printed).expect("the credentials are JSON");
        let text = |pointer: &str| {
            credentials
                .pointer(pointer)
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| panic!("{pointer} in {credentials}"))
                .to_owned()
        };
        Service {
            client_id: text("/integration/technicalAccount/clientId"),
            secret: text("/integration/technicalAccount/clientSecret"),
            account: text("/integration/id"),
            org: text("/integration/org"),
            private_key: text("/integration/privateKey"),
            credentials,
        }
    }
}

/// POSTs `fields` form-urlencoded (repeated names allowed) with extra headers.
pub async fn post_fields(
    url: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request is answered")
}

/// A response's status and JSON body.
pub async fn status_json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

/// `etoken serve` over `keys/`, `users.json` and `services.json` in `dir`
/// for public URL `url` (no reload polling: SIGHUP reloads), plus `extra`.
pub fn serve_with_services(dir: &Path, url: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "--keys",
        "keys",
        "--users",
        "users.json",
        "--services",
        "services.json",
        "--public-url",
        url,
        "--reload-interval",
        "1h",
    ];
    args.extend(extra);
    Server::start(dir, &args)
}

/// A real `redis-server` on a free loopback port, with a data directory of
/// its own; shut down (saving) when dropped.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Redis {
    /// Starts one in `dir` (its dump file lives there).
    pub fn start(dir: &Path) -> Redis {
        Self::start_on(dir, free_port())
    }

    /// Starts one on `port` in `dir`, loading the dump file found there.
    pub fn start_on(dir: &Path, port: u16) -> Redis {
        std::fs::create_dir_all(dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/test installs it)");
        let redis = Redis {
            child: Some(child),
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + PATIENCE;
        while redis.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// `redis-cli ARGS` against it (a client we did not write); stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Saves and shuts down, as an outage would take it away.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.cli(&["SHUTDOWN", "SAVE"]);
            let _ = child.wait();
        }
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The python of a venv under the test target directory named `name`,
/// made on first use with `packages` from PyPI; `import` is the check
/// that they are there.
pub fn venv_python(name: &str, import: &str, packages: &[&str]) -> std::path::PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", &format!("import {import}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs (scripts/test installs python3-venv)");
        assert!(made.success(), "python3 -m venv {}", venv.display());
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install {packages:?}");
    }
    python
}

/// Runs `script` with `python`, `stdin` on its standard input; asserts it
/// succeeds and returns what it printed.
pub fn run_python(python: &Path, script: &str, stdin: &str) -> String {
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("python reads stdin");
    let out = child.wait_with_output().expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
