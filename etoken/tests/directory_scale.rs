//! The directory at scale, run by hand (it takes a minute and a GB):
//! 1,000,000 users and 10,000 services in a real `redis-server`; an
//! instance's start-up snapshot load time and memory, and a revocation's
//! time to reach it, printed for docs/OPERATIONS.md.
//!
//! ```text
//! cargo test --release -p etoken --test directory_scale -- --ignored --nocapture
//! ```

mod support;

use std::time::{Duration, Instant};

use encapsulated_token::directory::{Keyspace, SERVICES, USERS, UserRecord, Writer};
use support::{Redis, Server, etoken_ok, get, login};

const USERS_COUNT: usize = 1_000_000;
const SERVICES_COUNT: usize = 10_000;

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024.0
}

/// The snapshot load's log line and its total in ms.
fn loaded_ms(server: &Server) -> (String, u64) {
    let line = server.wait_for_log("directory: loaded");
    let total = line.split(" from Redis in ").nth(1).unwrap();
    let ms = total.split(" ms").next().unwrap().trim().parse().unwrap();
    (line, ms)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "by hand: 1M users; see the module doc"]
async fn a_million_users_and_ten_thousand_services_load_and_follow() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    etoken_ok(dir, &["key", "init", "--dir", "keys"], "");
    let redis = Redis::start(&dir.join("redis"));
    let url = redis.url();

    // One real argon2id hash (password "pw") for every user; one real
    // certificate for every account, each with its own ids.
    etoken_ok(
        dir,
        &["user", "add", "--users", "seed.json", "seed"],
        "pw\n",
    );
    let seed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("seed.json")).unwrap()).unwrap();
    let hash = seed["users"]["seed"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    etoken_ok(
        dir,
        &[
            "service",
            "create",
            "--services",
            "seed-services.json",
            "--out",
            "creds.json",
            "seed",
        ],
        "",
    );
    let services: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("seed-services.json")).unwrap())
            .unwrap();
    let service = services["services"]["seed"].clone();

    let writer = Writer::connect(&url, Keyspace::default()).await.unwrap();
    let record = serde_json::to_vec(&UserRecord::new(hash)).unwrap();
    let filled = Instant::now();
    let users: Vec<_> = (0..USERS_COUNT)
        .map(|i| (format!("user-{i}"), record.clone()))
        .collect();
    writer.put_many(USERS, &users).await.unwrap();
    drop(users);
    let accounts: Vec<_> = (0..SERVICES_COUNT)
        .map(|i| {
            let mut service = service.clone();
            service["client_id"] = format!("client-{i}").into();
            service["technical_account_id"] = format!("account-{i}@techacct.example").into();
            (
                format!("service-{i}"),
                serde_json::to_vec(&service).unwrap(),
            )
        })
        .collect();
    writer.put_many(SERVICES, &accounts).await.unwrap();
    println!(
        "filled Redis with {USERS_COUNT} users and {SERVICES_COUNT} services in {:.1} s; {}",
        filled.elapsed().as_secs_f64(),
        redis
            .cli(&["INFO", "memory"])
            .lines()
            .find(|l| l.starts_with("used_memory_human"))
            .unwrap_or("")
    );

    let empty_dir = dir.join("empty");
    let empty = Redis::start(&empty_dir);
    let baseline = Server::start(dir, &["--keys", "keys", "--directory", &empty.url()]);
    loaded_ms(&baseline);
    let baseline_rss = rss_mib(baseline.pid());

    let started = Instant::now();
    let server = Server::start(dir, &["--keys", "keys", "--directory", &url]);
    let startup = started.elapsed();
    let (line, load) = loaded_ms(&server);
    println!("{line}");
    let rss = rss_mib(server.pid());
    println!(
        "start-up to listening {:.2} s, of which the snapshot load {load} ms; \
         RSS {rss:.0} MiB (an empty directory: {baseline_rss:.0} MiB)",
        startup.as_secs_f64()
    );

    let cookie = login(&server, "user-424242", "pw").await;
    let auth = || async {
        get(&server.url("/auth"), &[("cookie", &cookie)])
            .await
            .status()
            .as_u16()
    };
    assert_eq!(auth().await, 200);
    etoken_ok(
        dir,
        &[
            "user",
            "revoke-sessions",
            "--directory",
            &url,
            "user-424242",
        ],
        "",
    );
    let revoked = Instant::now();
    while auth().await != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "within a second"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "a revocation reached the instance {:?} after the CLI returned, at 1M users",
        revoked.elapsed()
    );
    assert!(server.log().iter().all(|l| !l.contains("refused record")));
}
