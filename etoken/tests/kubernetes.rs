//! `examples/kubernetes/`: every manifest parses, names only flags and
//! paths `etoken serve` accepts, and its arguments start a server on a
//! Secret volume laid out as the kubelet lays it (a timestamped directory,
//! `..data` pointing at it, a symlink per file). Then the kubelet's update
//! is played by hand: `..data` swapped atomically to a ring with a new key
//! while clients keep authenticating; the instance adopts the new ring and
//! no request fails.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{PATIENCE, Server, etoken_ok, get, login};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/kubernetes");

/// Every document of every manifest, as JSON values.
fn manifests() -> Vec<(String, Value)> {
    let mut found = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(EXAMPLES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            found.push((path.display().to_string(), value));
        }
    }
    assert!(found.len() >= 2, "a Deployment and a Service: {found:?}");
    found
}

fn of_kind<'a>(manifests: &'a [(String, Value)], kind: &str) -> &'a Value {
    let mut matching = manifests.iter().filter(|(_, m)| m["kind"] == kind);
    let (_, found) = matching.next().unwrap_or_else(|| panic!("a {kind}"));
    assert!(matching.next().is_none(), "one {kind}");
    found
}

/// The flags `etoken serve --help` lists.
fn serve_flags() -> BTreeSet<String> {
    let help = Command::new(env!("CARGO_BIN_EXE_etoken"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    String::from_utf8(help.stdout)
        .unwrap()
        .split_whitespace()
        .filter(|word| word.starts_with("--"))
        .map(|word| word.trim_end_matches([',', '.']).to_owned())
        .collect()
}

/// The container's arguments, and the value after `flag`.
fn arg<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} in {args:?}"));
    &args[at + 1]
}

/// A file mode as kubectl reads it: YAML 1.1, where `0400` is octal (the
/// YAML 1.2 parser here keeps such a scalar as the text "0400").
fn yaml11_mode(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(text) if text.starts_with('0') => u64::from_str_radix(text, 8).unwrap(),
        other => panic!("a mode: {other}"),
    }
}

#[test]
fn the_manifests_name_flags_and_paths_etoken_serve_accepts() {
    let manifests = manifests();
    let deployment = of_kind(&manifests, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().expect("arguments are strings").to_owned())
        .collect();
    assert_eq!(args[0], "serve");
    let flags = serve_flags();
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            flags.contains(flag),
            "{flag} is not a flag of etoken serve: {flags:?}"
        );
    }

    // Each path lies under a read-only mount of a Secret volume with
    // defaultMode 0400 (YAML's 0400 is the octal 256 Kubernetes means).
    let mounts = container["volumeMounts"].as_array().unwrap();
    let volumes = pod["volumes"].as_array().unwrap();
    let secret_of = |path: &str| {
        let mount = mounts
            .iter()
            .find(|m| {
                let at = m["mountPath"].as_str().unwrap();
                path == at || path.starts_with(&format!("{at}/"))
            })
            .unwrap_or_else(|| panic!("{path} is under no volumeMount"));
        assert_eq!(mount["readOnly"], true, "{mount}");
        let volume = volumes
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap_or_else(|| panic!("no volume {}", mount["name"]));
        assert_eq!(
            yaml11_mode(&volume["secret"]["defaultMode"]),
            0o400,
            "{volume}"
        );
        volume["secret"]["secretName"].as_str().unwrap().to_owned()
    };
    let keys = secret_of(arg(&args, "--keys"));
    assert_eq!(arg(&args, "--keys"), "/etc/etoken/keys", "the mount itself");
    let users = secret_of(arg(&args, "--users"));
    assert_eq!(users, secret_of(arg(&args, "--services")));
    assert_ne!(keys, users, "keys and the directory are separate Secrets");

    // Probes on /healthz of the port --listen binds; the Service reaches
    // the same ports by name, and selects the pods.
    let listen_port: u64 = arg(&args, "--listen")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let metrics_port: u64 = arg(&args, "--metrics-listen")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let port_named = |name: &Value| {
        container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| &p["name"] == name)
            .unwrap_or_else(|| panic!("a container port named {name}"))["containerPort"]
            .as_u64()
            .unwrap()
    };
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], "/healthz", "{probe}");
        assert_eq!(port_named(&get["port"]), listen_port, "{probe}");
    }
    let service = of_kind(&manifests, "Service");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (label, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[label], value, "the Service selects the pods");
    }
    let targets: Vec<u64> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| port_named(&p["targetPort"]))
        .collect();
    assert_eq!(targets, [listen_port, metrics_port]);
    // The instance name is the pod's, from the downward API.
    assert_eq!(arg(&args, "--instance"), "$(POD_NAME)");
    assert_eq!(
        container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
}

/// A Secret volume at `mount` as the kubelet writes it: the files in a
/// timestamped directory `..STAMP` (0755, files 0400), `..data` pointing at
/// it, and a symlink per file; the mount point itself 1777.
fn secret_volume(mount: &Path, stamp: &str, files: &[(String, Vec<u8>)]) {
    fs::create_dir_all(mount).unwrap();
    fs::set_permissions(mount, fs::Permissions::from_mode(0o1777)).unwrap();
    write_generation(mount, stamp, files);
    symlink(format!("..{stamp}"), mount.join("..data")).unwrap();
    link_files(mount, files);
}

fn write_generation(mount: &Path, stamp: &str, files: &[(String, Vec<u8>)]) {
    let dir = mount.join(format!("..{stamp}"));
    fs::create_dir(&dir).unwrap();
    for (name, bytes) in files {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
}

fn link_files(mount: &Path, files: &[(String, Vec<u8>)]) {
    for (name, _) in files {
        let link = mount.join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{name}"), link).unwrap();
        }
    }
}

/// The kubelet's update: a new timestamped directory, `..data` replaced by
/// a rename (atomic), the new files linked, stale links and the old
/// directory removed.
fn swap(mount: &Path, old: &str, new: &str, files: &[(String, Vec<u8>)]) {
    write_generation(mount, new, files);
    let next = mount.join("..data_tmp");
    symlink(format!("..{new}"), &next).unwrap();
    fs::rename(&next, mount.join("..data")).unwrap();
    link_files(mount, files);
    for entry in fs::read_dir(mount).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.starts_with("..") && !files.iter().any(|(f, _)| *f == name) {
            fs::remove_file(&path).unwrap();
        }
    }
    let old = mount.join(format!("..{old}"));
    fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir_all(old).unwrap();
}

/// The files of a directory, by name.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The Deployment's arguments with its paths under `root`, the metrics on
/// loopback, the pod name given, and polling every second.
fn deployment_args(root: &Path) -> Vec<String> {
    let manifests = manifests();
    let container = &of_kind(&manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let mut args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1) // serve
        .map(|a| {
            let a = a.as_str().unwrap();
            match a {
                "0.0.0.0:9090" => "127.0.0.1:0".to_owned(),
                "$(POD_NAME)" => "etoken-6d9f7c-abcde".to_owned(),
                _ => match a.strip_prefix("/etc/etoken/") {
                    Some(rest) => root.join(rest).display().to_string(),
                    None => a.to_owned(),
                },
            }
        })
        .collect();
    // The test speaks plain http: Secure cookies would not come back. And
    // `Server::start` names the address (a free port of 127.0.0.1).
    for flag in ["--cookie-name", "--listen"] {
        let at = args.iter().position(|a| a == flag).unwrap();
        args.drain(at..at + 2);
    }
    args.extend(["--insecure-cookies", "--reload-interval", "1s"].map(String::from));
    args
}

async fn ring_of(server: &Server) -> String {
    let health: Value = get(&server.url("/healthz"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    health["ring"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_volume_swapped_under_load_is_adopted_with_no_failed_request() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // What an operator makes with etoken, then hands to kubectl.
    let master = root.join("master");
    fs::create_dir(&master).unwrap();
    etoken_ok(&master, &["key", "init", "--dir", "keys"], "");
    etoken_ok(
        &master,
        &["user", "add", "--users", "users.json", "alice"],
        "alice-pw\n",
    );
    etoken_ok(
        &master,
        &[
            "service",
            "create",
            "backend",
            "--services",
            "services.json",
            "--public-url",
            "https://publish.example.com",
        ],
        "",
    );
    let directory = vec![
        (
            "services.json".to_owned(),
            fs::read(master.join("services.json")).unwrap(),
        ),
        (
            "users.json".to_owned(),
            fs::read(master.join("users.json")).unwrap(),
        ),
    ];
    secret_volume(
        &root.join("keys"),
        "2026_12_01_10_00_00.000000001",
        &files_of(&master.join("keys")),
    );
    secret_volume(
        &root.join("directory"),
        "2026_12_01_10_00_00.000000002",
        &directory,
    );

    let args = deployment_args(root);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(root, &args);
    assert_eq!(server.instance, "etoken-6d9f7c-abcde");
    let before = ring_of(&server).await;
    let cookie = login(&server, "alice", "alice-pw").await;

    // The mount point is world-writable: a key planted there is not read.
    let planted = root.join("keys/planted.key");
    fs::write(&planted, b"not a key").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await; // two polls
    assert_eq!(ring_of(&server).await, before, "still ok, not degraded");

    // Clients authenticate with the old-key cookie throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (url, cookie, stop) = (server.url("/auth"), cookie.clone(), stop.clone());
            tokio::spawn(async move {
                let client = support::client();
                let (mut ok, mut failed) = (0usize, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).header("cookie", &cookie).send().await {
                        Ok(r) if r.status() == 200 => ok += 1,
                        Ok(r) => failed.push(r.status().to_string()),
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The new ring: a new key, promoted; the old one still verifies.
    etoken_ok(&master, &["key", "add", "--dir", "keys"], "");
    let listed = etoken_ok(&master, &["key", "list", "--dir", "keys", "--json"], "");
    let keys: Value = serde_json::from_str(&listed).unwrap();
    let new_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "verify-only")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    etoken_ok(&master, &["key", "promote", "--dir", "keys", &new_key], "");
    let rotated = files_of(&master.join("keys"));
    fs::remove_file(&planted).unwrap();
    swap(
        &root.join("keys"),
        "2026_12_01_10_00_00.000000001",
        "2026_12_01_11_00_00.000000003",
        &rotated,
    );

    let deadline = Instant::now() + PATIENCE;
    let after = loop {
        let ring = ring_of(&server).await;
        if ring != before {
            break ring;
        }
        assert!(Instant::now() < deadline, "the new ring is never adopted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for client in clients {
        let (o, f) = client.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    println!(
        "kubernetes: ring {before} -> {after}: {ok} requests ok, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "no request fails: {failed:?}");
    assert!(ok > 100, "under load: {ok}");
    let fingerprint = etoken_ok(&master, &["key", "fingerprint", "--dir", "keys"], "");
    assert!(
        fingerprint.contains(&after),
        "the master copy's fingerprint {fingerprint} is {after}"
    );
    server.wait_for_log("key directory changed, now using");
    // New logins mint with the new key.
    let fresh = login(&server, "alice", "alice-pw").await;
    let whoami: Value = get(&server.url("/whoami"), &[("cookie", &fresh)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["key_id"], new_key.as_str());
}
