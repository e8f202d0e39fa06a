//! A real OpenID provider for the single sign-on tests: npm's
//! `oidc-provider` (a certified implementation) run from
//! `tests/oidc/provider.mjs` on a free loopback port, and a user agent that
//! signs in at it through its development login and consent forms over
//! plain HTTP, keeping the provider's cookies, as a browser would.
#![allow(dead_code)] // each test file uses its own part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use url::Url;

/// The static confidential client registered at the provider.
pub const CLIENT_ID: &str = "etoken-farm";
/// Its secret (a test value, not a secret anywhere else).
pub const CLIENT_SECRET: &str = "test-client-secret-4f0c2b7e9d1a";

/// How long to wait for the provider to start, a deadline, not a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

/// What the provider registers for the client.
pub struct Registration {
    /// `{public-url}/sso/callback`.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Where it sends logout tokens (one instance of the farm).
    pub backchannel_logout_uri: Option<String>,
}

/// `node tests/oidc/provider.mjs`, killed when dropped.
pub struct Provider {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// `tests/oidc`, where `npm ci` (scripts/test) installed the provider.
fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

impl Provider {
    /// Starts the provider with `registration` and waits for its issuer line.
    pub fn start(registration: &Registration) -> Provider {
        let dir = package_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "{}: oidc-provider is not installed: run `npm ci` there (scripts/test does)",
            dir.display()
        );
        let mut command = Command::new("node");
        command
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URIS", registration.redirect_uris.join(","))
            .env(
                "OIDC_POST_LOGOUT_REDIRECT_URIS",
                registration.post_logout_redirect_uris.join(","),
            )
            .env("DEBUG", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(uri) = &registration.backchannel_logout_uri {
            command.env("OIDC_BACKCHANNEL_LOGOUT_URI", uri);
        }
        let mut child = command
            .spawn()
            .expect("node runs (scripts/test installs nodejs)");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().expect("stderr is piped");
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut provider = Provider {
            child,
            issuer: String::new(),
            log,
        };
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = provider.child.wait();
            // The stderr reader may still be reading the last lines.
            thread::sleep(Duration::from_millis(200));
            panic!("provider.mjs exited before listening: {:?}", provider.log());
        }
        provider.issuer = line
            .trim_end()
            .strip_prefix("issuer ")
            .unwrap_or_else(|| panic!("provider.mjs printed {line:?}, not its issuer"))
            .to_owned();
        thread::spawn(move || for _ in stdout.lines() {});
        provider
    }

    /// Its stderr lines so far (warnings, back-channel outcomes, errors).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a stderr line contains `needle`, and returns it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no provider log line with {needle:?}: {:?}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A logout token made by the provider's test route: `key` is
    /// `provider` (its real signing key), `foreign` (another key under the
    /// provider's key id) or `none` (unsigned); `claims` override valid
    /// defaults (iss, aud, iat, exp, jti, sub `alice`, the logout event).
    pub async fn forge_logout_token(&self, key: &str, claims: serde_json::Value) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/test/forge", self.issuer))
            .json(&serde_json::json!({ "key": key, "claims": claims }))
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(response.status(), 200, "forging a {key} token");
        response.text().await.unwrap()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person's browser at the provider: keeps the provider's cookies (its
/// session, so that logging out there finds it), follows nothing by
/// itself, fills the development forms.
pub struct ProviderUser {
    client: reqwest::Client,
    issuer: Url,
}

impl ProviderUser {
    pub fn new(provider: &Provider) -> ProviderUser {
        ProviderUser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client builds"),
            issuer: Url::parse(&provider.issuer).unwrap(),
        }
    }

    /// Follows `authorization_url` (from `/sso/login`) through the login
    /// form, as `login`, and the consent form; returns the URL the provider
    /// sends the browser back to (the redirect URI with `code`, `state`,
    /// `iss`), not followed.
    pub async fn authorize(&self, authorization_url: &str, login: &str) -> Url {
        let mut url = Url::parse(authorization_url).expect("an absolute authorization URL");
        assert_eq!(
            url.origin(),
            self.issuer.origin(),
            "the authorization URL is the provider's: {url}"
        );
        let mut form_posts = 0;
        for _ in 0..12 {
            let response = self.client.get(url.clone()).send().await.unwrap();
            let status = response.status();
            if status.is_redirection() {
                let next = url.join(location(&response)).unwrap();
                if next.origin() != self.issuer.origin() {
                    return next;
                }
                url = next;
                continue;
            }
            let page = response.text().await.unwrap();
            assert_eq!(status, 200, "the provider at {url}: {page}");
            // The development forms post back to their own URL.
            let fields: &[(&str, &str)] = if page.contains(r#"name="prompt" value="login""#) {
                &[("prompt", "login"), ("login", login), ("password", "any")]
            } else if page.contains(r#"name="prompt" value="consent""#) {
                &[("prompt", "consent")]
            } else {
                panic!("neither the login nor the consent form at {url}: {page}");
            };
            form_posts += 1;
            let response = self
                .client
                .post(url.clone())
                .form(fields)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_redirection(),
                "the provider took the {} form: {}",
                fields[0].1,
                response.status()
            );
            url = url.join(location(&response)).unwrap();
        }
        panic!("no redirect back from the provider after {form_posts} forms, at {url}");
    }

    /// Signs out at the provider: opens `end_session_url` (the provider's
    /// end_session_endpoint, perhaps with `client_id` and
    /// `post_logout_redirect_uri`), confirms "Yes, sign me out"; returns
    /// the provider's answer to the confirmation (a redirect). The provider
    /// sends the back-channel logout tokens before it answers.
    pub async fn sign_out(&self, end_session_url: &str) -> reqwest::Response {
        let url = self.issuer.join(end_session_url).unwrap();
        let response = self.client.get(url.clone()).send().await.unwrap();
        let page = response.text().await.unwrap();
        let xsrf = hidden_value(&page, "xsrf")
            .unwrap_or_else(|| panic!("no logout form at {url}: {page}"));
        let action = self.issuer.join("session/end/confirm").unwrap();
        self.client
            .post(action)
            .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
            .send()
            .await
            .unwrap()
    }
}

/// A response's `Location`.
pub fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in a {} answer", response.status()))
        .to_str()
        .expect("an ASCII Location")
}

/// The value of the hidden input `name` in the provider's own page, whose
/// markup is `name="NAME" value="VALUE"`.
fn hidden_value(page: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}
