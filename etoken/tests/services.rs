//! `etoken service ...` on real files: the services file keeps hashes and
//! certificates only, mode 0600; secrets and certificates rotate two at a
//! time; bad input changes nothing.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;
use support::{Service, etoken, etoken_ok};

const FILE: &str = "services.json";

fn file(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(FILE)).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn refused(dir: &Path, args: &[&str], needle: &str) {
    let out = etoken(dir, args, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 1 for a refused command, 2 for a command line clap refuses.
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{args:?}: {stderr}"
    );
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[test]
fn create_prints_aem_shaped_credentials_and_stores_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let service = Service::create(
        d,
        FILE,
        "backend",
        &["read", "write"],
        "https://publish.example.com",
    );
    let integration = &service.credentials["integration"];
    assert_eq!(service.credentials["ok"], true);
    assert_eq!(service.credentials["statusCode"], 200);
    assert_eq!(integration["imsEndpoint"], "publish.example.com");
    assert_eq!(integration["metascopes"], "read,write");
    assert!(service.account.ends_with("@techacct.publish.example.com"));
    assert_eq!(integration["email"], service.account.as_str());
    assert!(
        service
            .private_key
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    let certificate = integration["publicKey"].as_str().unwrap();
    assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(service.client_id.len(), 32);
    assert_eq!(service.secret.len(), 64);

    assert_eq!(mode(&d.join(FILE)), 0o600);
    let text = std::fs::read_to_string(d.join(FILE)).unwrap();
    assert!(!text.contains(&service.secret), "the secret is not stored");
    assert!(
        !text.contains("PRIVATE KEY"),
        "the private key is not stored"
    );
    let stored = &file(d)["services"]["backend"];
    assert_eq!(stored["client_id"], service.client_id.as_str());
    assert_eq!(stored["certificates"][0]["pem"], certificate);
    assert_eq!(stored["secrets"].as_array().unwrap().len(), 1);

    // --out: written 0600, never over an existing file.
    etoken_ok(
        d,
        &[
            "service",
            "create",
            "--services",
            FILE,
            "second",
            "--out",
            "second.json",
        ],
        "",
    );
    assert_eq!(mode(&d.join("second.json")), 0o600);
    let before = std::fs::read(d.join(FILE)).unwrap();
    refused(
        d,
        &[
            "service",
            "create",
            "--services",
            FILE,
            "third",
            "--out",
            "second.json",
        ],
        "exists",
    );
    refused(
        d,
        &["service", "create", "--services", FILE, "backend"],
        "already exists",
    );
    refused(
        d,
        &[
            "service",
            "create",
            "--services",
            FILE,
            "x",
            "--scope",
            "a,b",
        ],
        "letters, digits",
    );
    refused(
        d,
        &[
            "service",
            "create",
            "--services",
            FILE,
            "x",
            "--public-url",
            "https://a.example/path",
        ],
        "origin only",
    );
    assert_eq!(
        std::fs::read(d.join(FILE)).unwrap(),
        before,
        "nothing changed"
    );

    let listed = etoken_ok(d, &["service", "list", "--services", FILE], "");
    assert!(listed.contains("backend (active)") && listed.contains(&service.client_id));
    assert!(!listed.contains(&service.secret));

    // A services file others can read is refused.
    std::fs::set_permissions(d.join(FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(d, &["service", "list", "--services", FILE], "chmod 600");
}

#[test]
fn secrets_and_certificates_rotate_two_at_a_time_and_revocation_sticks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Service::create(d, FILE, "backend", &["read"], "http://farm.test");
    let args = |command: &'static str| ["service", command, "--services", FILE, "backend"];

    let second = etoken_ok(d, &args("add-secret"), "");
    assert_eq!(second.trim().len(), 64);
    refused(d, &args("add-secret"), "remove one first");
    let secrets = file(d)["services"]["backend"]["secrets"].clone();
    let first_id = secrets[0]["id"].as_str().unwrap().to_owned();
    let mut remove = args("remove-secret").to_vec();
    remove.push(&first_id);
    etoken_ok(d, &remove, "");
    assert_eq!(
        file(d)["services"]["backend"]["secrets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    refused(d, &remove, "has no secret");

    let added: Value = serde_json::from_str(&etoken_ok(d, &args("add-certificate"), "")).unwrap();
    assert!(
        added["privateKey"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    refused(d, &args("add-certificate"), "remove one first");
    let listed = etoken_ok(d, &["service", "list", "--services", FILE], "");
    let fingerprints: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("certificate "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), 2, "{listed}");
    assert!(fingerprints.contains(&added["fingerprint"].as_str().unwrap()));
    let old = fingerprints
        .iter()
        .find(|f| **f != added["fingerprint"])
        .unwrap();
    let mut remove = args("remove-certificate").to_vec();
    remove.push(old);
    etoken_ok(d, &remove, "");
    let mut last = args("remove-certificate").to_vec();
    let new = added["fingerprint"].as_str().unwrap();
    last.push(new);
    refused(d, &last, "only certificate");

    etoken_ok(d, &args("revoke"), "");
    refused(d, &args("revoke"), "already revoked");
    let listed = etoken_ok(d, &["service", "list", "--services", FILE], "");
    assert!(listed.contains("backend (revoked at"), "{listed}");
    refused(
        d,
        &["service", "revoke", "--services", FILE, "nobody"],
        "no service",
    );
}

#[test]
fn a_corrupt_or_foreign_services_file_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Service::create(d, FILE, "backend", &["read"], "http://farm.test");
    let good = file(d);
    let write = |value: &Value| {
        encapsulated_token::write_file_atomically(&d.join(FILE), value.to_string().as_bytes())
            .unwrap()
    };
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut unknown = good.clone();
    unknown["services"]["backend"]["password"] = "x".into();
    cases.push(("unknown field", unknown));
    let mut format = good.clone();
    format["format"] = "etoken-services/9".into();
    cases.push(("expected", format));
    let mut certificate = good.clone();
    certificate["services"]["backend"]["certificates"][0]["pem"] =
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into();
    cases.push(("certificate", certificate));
    let mut hash = good.clone();
    hash["services"]["backend"]["secrets"][0]["sha256"] = "zz".into();
    cases.push(("sha256", hash));
    let mut twin = good.clone();
    twin["services"]["twin"] = good["services"]["backend"].clone();
    cases.push(("also service", twin));
    for (needle, value) in cases {
        write(&value);
        refused(d, &["service", "list", "--services", FILE], needle);
    }
}
