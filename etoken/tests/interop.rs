//! Clients someone else wrote, against `etoken serve` on 127.0.0.1:
//! Authlib (PyPI) performs OAuth client credentials and the RFC 7523
//! jwt-bearer grant, and headless Chromium (Debian's) gets a local
//! development token from the /developer page. Python packages go into a
//! venv under target/ made on first use.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use support::{Server, Service, get, setup};

const FARM: &str = "http://farm.test";

/// The venv's python, with Authlib, requests, cryptography and selenium.
fn python() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        support::venv_python(
            "python-venv",
            "authlib, cryptography, requests, selenium",
            &[
                "authlib>=1.3,<2",
                "requests>=2.31,<3",
                "cryptography>=42",
                "selenium>=4.10,<5",
            ],
        )
    })
    .clone()
}

/// Runs `script` with the venv's python and `config` as its argument;
/// returns the JSON it prints.
fn run_python(dir: &Path, script: &str, config: &Value) -> Value {
    let script_path = dir.join("client.py");
    std::fs::write(&script_path, script).unwrap();
    let config_path = dir.join("client.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let out = Command::new(python())
        .arg(&script_path)
        .arg(&config_path)
        // Selenium must use the given driver, never download one.
        .env("SE_OFFLINE", "true")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("python printed no JSON ({e}): {stdout}"))
}

const AUTHLIB: &str = r#"
import json, sys
from authlib.integrations.requests_client import AssertionSession, OAuth2Session

cfg = json.load(open(sys.argv[1]))
url = cfg["base"] + "/ims/token/v3"
out = {}

# OAuth client credentials, the secret in HTTP Basic (Authlib's default).
session = OAuth2Session(cfg["client_id"], cfg["client_secret"], scope="read")
token = session.fetch_token(url, grant_type="client_credentials")
out["client_credentials"] = token["access_token"]
out["client_credentials_expires_in"] = token["expires_in"]

# The same with the secret in the body.
session = OAuth2Session(cfg["client_id"], cfg["client_secret"], scope="read write",
                        token_endpoint_auth_method="client_secret_post")
out["client_secret_post"] = session.fetch_token(url, grant_type="client_credentials")["access_token"]

try:
    OAuth2Session(cfg["client_id"], "wrong", scope="read").fetch_token(url, grant_type="client_credentials")
    out["wrong_secret"] = "accepted"
except Exception as error:
    out["wrong_secret"] = getattr(error, "error", repr(error))

# RFC 7523: Authlib signs the assertion with the account's private key.
assertion = AssertionSession(
    token_endpoint=url,
    issuer=cfg["org"],
    subject=cfg["subject"],
    audience=cfg["audience"],
    claims={cfg["metascope"]: True},
    key=cfg["private_key"],
    header={"alg": "RS256"},
)
token = assertion.refresh_token()
out["jwt_bearer"] = token["access_token"]
# The session then sends it as a bearer token.
out["whoami"] = assertion.get(cfg["base"] + "/whoami").json()
print(json.dumps(out))
"#;

#[tokio::test]
async fn authlib_performs_client_credentials_and_the_rfc7523_grant() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &["alice"]);
    let service = Service::create(
        dir.path(),
        "services.json",
        "backend",
        &["read", "write"],
        FARM,
    );
    let server = support::serve_with_services(dir.path(), FARM, &[]);
    let config = json!({
        "base": server.url(""),
        "client_id": service.client_id,
        "client_secret": service.secret,
        "org": service.org,
        "subject": service.account,
        "audience": format!("{FARM}/c/{}", service.client_id),
        "metascope": format!("{FARM}/s/write"),
        "private_key": service.private_key,
    });
    let out = run_python(dir.path(), AUTHLIB, &config);
    assert_eq!(out["wrong_secret"], "invalid_client", "{out}");
    assert_eq!(out["client_credentials_expires_in"], 86_400);
    for (grant, scope) in [
        ("client_credentials", "read"),
        ("client_secret_post", "read,write"),
        ("jwt_bearer", "write"),
    ] {
        let token = out[grant]
            .as_str()
            .unwrap_or_else(|| panic!("{grant}: {out}"));
        let auth = format!("Bearer {token}");
        let response = get(&server.url("/whoami"), &[("authorization", &auth)]).await;
        assert_eq!(response.status(), 200, "{grant}");
        let me: Value = response.json().await.unwrap();
        assert_eq!(me["subject"], service.account.as_str(), "{grant}");
        assert_eq!(me["attributes"]["scope"], scope, "{grant}");
    }
    assert_eq!(out["whoami"]["subject"], service.account.as_str());
    assert_eq!(out["whoami"]["source"], "bearer");
    assert_eq!(server.count_log("issued an access token"), 3);
}

const CHROMIUM: &str = r#"
import json, sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.ui import WebDriverWait

cfg = json.load(open(sys.argv[1]))
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--user-data-dir=" + cfg["profile"]]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
# Each navigation is waited for: a click returns before the next page is in.
wait = WebDriverWait(driver, 30)
try:
    driver.get(cfg["base"] + "/developer")
    wait.until(until.presence_of_element_located((By.NAME, "j_username")))
    out = {"login_url": driver.current_url}
    driver.find_element(By.NAME, "j_username").send_keys(cfg["user"])
    driver.find_element(By.NAME, "j_password").send_keys(cfg["password"])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    button = wait.until(until.element_to_be_clickable((By.ID, "get-token")))
    out["after_login"] = driver.current_url
    button.click()
    wait.until(until.url_contains("/developer/token"))
    token = wait.until(until.presence_of_element_located((By.ID, "token")))
    out["after_click"] = driver.current_url
    out["token"] = token.get_attribute("value")
    driver.save_screenshot(cfg["screenshot"])
    print(json.dumps(out))
finally:
    driver.quit()
"#;

#[tokio::test]
async fn headless_chromium_gets_a_local_development_token_that_works_as_a_bearer() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &["alice"]);
    let server = Server::start(
        dir.path(),
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--insecure-cookies",
        ],
    );
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("developer-page.png");
    let config = json!({
        "base": server.url(""),
        "user": "alice",
        "password": "alice-pw",
        "profile": dir.path().join("chromium-profile"),
        "screenshot": screenshot,
    });
    let out = run_python(dir.path(), CHROMIUM, &config);
    assert!(
        out["login_url"]
            .as_str()
            .unwrap()
            .contains("/login?resource=/developer"),
        "{out}"
    );
    assert!(
        out["after_login"].as_str().unwrap().ends_with("/developer"),
        "{out}"
    );
    assert!(
        out["after_click"]
            .as_str()
            .unwrap()
            .ends_with("/developer/token"),
        "{out}"
    );
    let token = out["token"].as_str().unwrap();
    assert!(token.starts_with("et2."), "{out}");
    let auth = format!("Bearer {token}");
    let response = get(&server.url("/auth"), &[("authorization", &auth)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-auth-user"], "alice");
    server.wait_for_log("issued a local development token");
}
