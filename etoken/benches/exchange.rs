//! Requests per second of the token endpoints on one `etoken serve`
//! (release build, 127.0.0.1), next to `/healthz` as the floor of the HTTP
//! stack: `/ims/token/v3` client credentials (a SHA-256 of the secret and
//! a mint) and `/ims/exchange/jwt` (that plus an RS256 verification).
//! Criterion times batches of requests sent by 8 concurrent connections;
//! the throughput it reports (elem/s) is requests per second. Client and
//! server share the machine's cores, so compare the rows of one run.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etoken::assertion;
use etoken::certificate::unix_now;
use etoken::credentials::Credentials;

const CONCURRENCY: u64 = 8;
const FARM: &str = "http://farm.test";

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etoken(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_etoken"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("etoken runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn start(dir: &Path) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_etoken"))
        .current_dir(dir)
        .args(["serve", "--keys", "keys", "--users", "users.json"])
        .args(["--services", "services.json", "--public-url", FARM])
        .args(["--listen", "127.0.0.1:0"])
        // Each issued token is logged at info: measure the endpoint, not stderr.
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("etoken serve starts");
    // From here on, dropping the server kills and reaps the child.
    let mut server = Server(child, String::new());
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "etoken serve exited"
        );
        if let Some(rest) = line.trim().strip_prefix("listening on ") {
            server.1 = rest.split(' ').next().unwrap().to_owned();
            std::thread::spawn(move || for _ in stdout.lines() {});
            return server;
        }
    }
}

/// Sends `total` requests over `CONCURRENCY` connections; the time taken.
async fn batch(client: &reqwest::Client, url: &str, body: &Arc<String>, total: u64) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let share = total / CONCURRENCY + u64::from(worker < total % CONCURRENCY);
        let (client, url, body) = (client.clone(), url.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let request = if body.is_empty() {
                    client.get(&url)
                } else {
                    client
                        .post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body.as_str().to_owned())
                };
                let response = request.send().await.expect("answered");
                assert!(
                    response.status().is_success(),
                    "{url}: {}",
                    response.status()
                );
                response.bytes().await.expect("a body");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

fn endpoints(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    etoken(d, &["key", "init", "--dir", "keys"]);
    let users = Command::new(env!("CARGO_BIN_EXE_etoken"))
        .current_dir(d)
        .args(["user", "add", "--users", "users.json", "alice"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"alice-pw\n")?;
            child.wait()
        })
        .unwrap();
    assert!(users.success());
    let printed = etoken(
        d,
        &[
            "service",
            "create",
            "--services",
            "services.json",
            "bench",
            "--scope",
            "read",
            "--public-url",
            FARM,
        ],
    );
    let credentials = Credentials::from_json(&printed).unwrap();
    let integration = &credentials.integration;
    let claims = assertion::Claims::new(
        &integration.org,
        &integration.id,
        &FARM.parse().unwrap(),
        &integration.technical_account.client_id,
        &["read"],
        unix_now(),
        3600,
    );
    let jwt = assertion::sign(&claims, &integration.private_key).unwrap();
    let (id, secret) = (
        integration.technical_account.client_id.as_str(),
        integration.technical_account.client_secret.as_str(),
    );
    let form = |pairs: &[(&str, &str)]| {
        Arc::new(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish(),
        )
    };
    let cases = [
        ("healthz (floor)", "/healthz", Arc::new(String::new())),
        (
            "ims_token_v3 client_credentials",
            "/ims/token/v3",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", "read"),
            ]),
        ),
        (
            "ims_exchange_jwt",
            "/ims/exchange/jwt",
            form(&[
                ("client_id", id),
                ("client_secret", secret),
                ("jwt_token", &jwt),
            ]),
        ),
    ];

    let server = start(d);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let mut group = c.benchmark_group("exchange");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, path, body) in &cases {
        let url = format!("{}{path}", server.1);
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| runtime.block_on(batch(&client, &url, body, iters)))
        });
    }
    group.finish();
}

criterion_group!(benches, endpoints);
criterion_main!(benches);
