//! The token endpoints of `etoken serve`, over HTTP on 127.0.0.1: the IMS
//! answer shapes, every bad input refused with its RFC 6749 error and no
//! token minted, and a farm of three instances sharing tokens and
//! revocation.

mod support;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use etoken::assertion::{self, Claims};
use etoken::certificate::unix_now;
use etoken::public_url::PublicUrl;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{Server, Service, etoken_ok, get, post_fields, setup, status_json};

const FARM: &str = "http://farm.test";
const ISSUED: &str = "issued an access token";

fn farm() -> PublicUrl {
    FARM.parse().unwrap()
}

/// A key directory, user alice, a services file with `backend`
/// (scopes read, write), and a server over them.
fn start(dir: &Path, extra: &[&str]) -> (Server, Service) {
    setup(dir, &["alice"]);
    let service = Service::create(dir, "services.json", "backend", &["read", "write"], FARM);
    (support::serve_with_services(dir, FARM, extra), service)
}

fn claims(service: &Service, scopes: &[&str]) -> Claims {
    Claims::new(
        &service.org,
        &service.account,
        &farm(),
        &service.client_id,
        scopes,
        unix_now(),
        300,
    )
}

fn sign(service: &Service, claims: &Claims) -> String {
    assertion::sign(claims, &service.private_key).unwrap()
}

/// The claims as JSON, edited, signed RS256 with the account's key.
fn sign_json(service: &Service, edit: impl FnOnce(&mut Value)) -> String {
    let mut value = serde_json::to_value(claims(service, &["read"])).unwrap();
    edit(&mut value);
    let key = EncodingKey::from_rsa_pem(service.private_key.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &value, &key).unwrap()
}

/// `GET /whoami` with the bearer token: (status, body).
async fn whoami(server: &Server, token: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    status_json(get(&server.url("/whoami"), &[("authorization", &auth)]).await).await
}

async fn auth_status(server: &Server, token: &str) -> (u16, Option<String>) {
    let auth = format!("Bearer {token}");
    let response = get(&server.url("/auth"), &[("authorization", &auth)]).await;
    let user = response
        .headers()
        .get("x-auth-user")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), user)
}

#[tokio::test]
async fn both_endpoints_answer_in_the_ims_shapes_with_working_bearer_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (server, service) = start(dir.path(), &[]);
    let jwt = sign(&service, &claims(&service, &["read"]));

    // The JWT exchange, urlencoded: expires_in in milliseconds.
    let fields = [
        ("client_id", service.client_id.as_str()),
        ("client_secret", service.secret.as_str()),
        ("jwt_token", jwt.as_str()),
    ];
    let (status, body) =
        status_json(post_fields(&server.url("/ims/exchange/jwt"), &fields, &[]).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 86_400_000);
    let token = body["access_token"].as_str().unwrap();
    let (status, me) = whoami(&server, token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject"], service.account.as_str());
    assert_eq!(me["source"], "bearer");
    assert_eq!(me["attributes"]["client_id"], service.client_id.as_str());
    assert_eq!(me["attributes"]["scope"], "read");
    let lifetime = me["expires_at"].as_i64().unwrap() - me["issued_at"].as_i64().unwrap();
    assert_eq!(lifetime, 86_400);

    // The same as multipart/form-data, with the trailing slash.
    let form = reqwest::multipart::Form::new()
        .text("client_id", service.client_id.clone())
        .text("client_secret", service.secret.clone())
        .text("jwt_token", jwt.clone());
    let response = support::client()
        .post(server.url("/ims/exchange/jwt/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        whoami(&server, body["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );

    // OAuth client credentials: expires_in in seconds, comma-separated scopes.
    let fields = [
        ("grant_type", "client_credentials"),
        ("client_id", service.client_id.as_str()),
        ("client_secret", service.secret.as_str()),
        ("scope", "read,write"),
    ];
    let (status, body) =
        status_json(post_fields(&server.url("/ims/token/v3"), &fields, &[]).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 86_400);
    let (_, me) = whoami(&server, body["access_token"].as_str().unwrap()).await;
    assert_eq!(me["attributes"]["scope"], "read,write");

    // Client credentials in HTTP Basic (RFC 6749 §2.3.1).
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", service.client_id, service.secret))
    );
    let fields = [("grant_type", "client_credentials"), ("scope", "write")];
    let (status, body) = status_json(
        post_fields(
            &server.url("/ims/token/v3"),
            &fields,
            &[("authorization", &basic)],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // RFC 7523: the assertion alone names and proves the account.
    let jwt = sign(&service, &claims(&service, &["read", "write"]));
    let fields = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", jwt.as_str()),
    ];
    let (status, body) =
        status_json(post_fields(&server.url("/ims/token/v3"), &fields, &[]).await).await;
    assert_eq!(status, 200, "{body}");
    let (_, me) = whoami(&server, body["access_token"].as_str().unwrap()).await;
    assert_eq!(me["attributes"]["scope"], "read,write");
    // The log is read from the process's stderr: wait for it to arrive.
    assert_eq!(server.wait_for_logs(ISSUED, 5).len(), 5);
    // Neither the secret nor an assertion reaches the log.
    let log = server.log().join("\n");
    assert!(!log.contains(&service.secret));
    assert!(!log.contains(&jwt[..40]));
}

/// One bad request: where it goes, what it sends, what it must get.
struct Case {
    what: &'static str,
    path: &'static str,
    fields: Vec<(String, String)>,
    headers: Vec<(&'static str, String)>,
    status: u16,
    error: &'static str,
}

fn case(
    what: &'static str,
    path: &'static str,
    fields: &[(&str, &str)],
    status: u16,
    error: &'static str,
) -> Case {
    Case {
        what,
        path,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        headers: Vec::new(),
        status,
        error,
    }
}

#[tokio::test]
async fn every_bad_input_is_refused_with_its_error_and_nothing_is_minted() {
    let dir = tempfile::tempdir().unwrap();
    let (server, service) = start(dir.path(), &[]);
    let other = Service::create(dir.path(), "other.json", "stranger", &["read"], FARM);
    let (id, secret) = (service.client_id.as_str(), service.secret.as_str());
    let exchange = |what, jwt: &str, status, error| {
        case(
            what,
            "/ims/exchange/jwt",
            &[
                ("client_id", id),
                ("client_secret", secret),
                ("jwt_token", jwt),
            ],
            status,
            error,
        )
    };
    let with = |edit: &dyn Fn(&mut Claims)| {
        let mut c = claims(&service, &["read"]);
        edit(&mut c);
        sign(&service, &c)
    };
    let good = with(&|_| {});
    let parts: Vec<&str> = good.split('.').collect();

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let certificate = service.credentials["integration"]["publicKey"]
        .as_str()
        .unwrap();
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(&service, &["read"]),
        &EncodingKey::from_secret(certificate.as_bytes()),
    )
    .unwrap();
    let now = unix_now();
    let expired = with(&|c| c.exp = now - 600);
    let too_far = with(&|c| c.exp = now + 25 * 3600);
    let wrong_aud = with(&|c| c.aud = assertion::Audience::One(format!("{FARM}/c/someone-else")));
    let other_farm =
        with(&|c| c.aud = assertion::Audience::One(format!("http://evil.test/c/{id}")));
    let wrong_iss = with(&|c| c.iss = "EVIL@org".into());
    let wrong_sub = with(&|c| c.sub = other.account.clone());
    let unregistered = sign(&service, &claims(&service, &["read", "admin"]));
    let no_scope = sign(&service, &claims(&service, &[]));
    let foreign_key = assertion::sign(&claims(&service, &["read"]), &other.private_key).unwrap();
    let bad_base64 = format!("{}.%%%%.{}", parts[0], parts[2]);
    let bad_json = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(b"{\"iss\":"),
        parts[2]
    );
    let string_exp = sign_json(&service, |v| v["exp"] = json!((now + 60).to_string()));

    let mut cases = vec![
        exchange("alg none", &alg_none, 400, "invalid_grant"),
        exchange(
            "HS256 signed with the certificate",
            &hs256,
            400,
            "invalid_grant",
        ),
        exchange("expired exp", &expired, 400, "invalid_grant"),
        exchange("exp 25 hours ahead", &too_far, 400, "invalid_grant"),
        exchange("aud of another client", &wrong_aud, 400, "invalid_grant"),
        exchange("aud of another farm", &other_farm, 400, "invalid_grant"),
        exchange("wrong iss", &wrong_iss, 400, "invalid_grant"),
        exchange("sub of another account", &wrong_sub, 400, "invalid_grant"),
        exchange(
            "unregistered metascope",
            &unregistered,
            400,
            "invalid_scope",
        ),
        exchange("no metascope", &no_scope, 400, "invalid_scope"),
        exchange("signed by another key", &foreign_key, 400, "invalid_grant"),
        exchange("malformed base64", &bad_base64, 400, "invalid_grant"),
        exchange("malformed JSON", &bad_json, 400, "invalid_grant"),
        exchange("a string exp", &string_exp, 400, "invalid_grant"),
        exchange("not a JWT", "hello", 400, "invalid_grant"),
        case(
            "unknown client",
            "/ims/exchange/jwt",
            &[
                ("client_id", "nobody"),
                ("client_secret", secret),
                ("jwt_token", &good),
            ],
            401,
            "invalid_client",
        ),
        case(
            "wrong secret",
            "/ims/exchange/jwt",
            &[
                ("client_id", id),
                ("client_secret", &other.secret),
                ("jwt_token", &good),
            ],
            401,
            "invalid_client",
        ),
        case(
            "no secret",
            "/ims/exchange/jwt",
            &[("client_id", id), ("jwt_token", &good)],
            400,
            "invalid_request",
        ),
        case(
            "no jwt_token",
            "/ims/exchange/jwt",
            &[("client_id", id), ("client_secret", secret)],
            400,
            "invalid_request",
        ),
        case(
            "duplicate client_id",
            "/ims/exchange/jwt",
            &[
                ("client_id", id),
                ("client_id", id),
                ("client_secret", secret),
                ("jwt_token", &good),
            ],
            400,
            "invalid_request",
        ),
        case(
            "duplicate scope",
            "/ims/token/v3",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", "read"),
                ("scope", "write"),
            ],
            400,
            "invalid_request",
        ),
        case(
            "unregistered scope",
            "/ims/token/v3",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", "read,admin"),
            ],
            400,
            "invalid_scope",
        ),
        case(
            "unknown client, client credentials",
            "/ims/token/v3",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", secret),
            ],
            401,
            "invalid_client",
        ),
        case(
            "wrong secret, client credentials",
            "/ims/token/v3",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "0000"),
            ],
            401,
            "invalid_client",
        ),
        case(
            "no client credentials",
            "/ims/token/v3",
            &[("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        case(
            "unsupported grant type",
            "/ims/token/v3",
            &[
                ("grant_type", "password"),
                ("client_id", id),
                ("client_secret", secret),
            ],
            400,
            "unsupported_grant_type",
        ),
        case(
            "no grant type",
            "/ims/token/v3",
            &[],
            400,
            "invalid_request",
        ),
        case(
            "jwt-bearer signed by another key",
            "/ims/token/v3",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &foreign_key),
            ],
            400,
            "invalid_grant",
        ),
        case(
            "jwt-bearer alg none",
            "/ims/token/v3",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &alg_none),
            ],
            400,
            "invalid_grant",
        ),
        case(
            "jwt-bearer with a wrong secret",
            "/ims/token/v3",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &good),
                ("client_id", id),
                ("client_secret", "0000"),
            ],
            401,
            "invalid_client",
        ),
    ];
    let basic = |user: &str, password: &str| {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    };
    let mut wrong_basic = case(
        "wrong secret in HTTP Basic",
        "/ims/token/v3",
        &[("grant_type", "client_credentials")],
        401,
        "invalid_client",
    );
    wrong_basic.headers = vec![("authorization", basic(id, "0000"))];
    let mut both = case(
        "credentials in Basic and in the body",
        "/ims/token/v3",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
        400,
        "invalid_request",
    );
    both.headers = vec![("authorization", basic(id, secret))];
    let mut garbled = case(
        "Basic that is not base64",
        "/ims/token/v3",
        &[("grant_type", "client_credentials")],
        400,
        "invalid_request",
    );
    garbled.headers = vec![("authorization", "Basic %%%".into())];
    cases.extend([wrong_basic, both, garbled]);

    for case in &cases {
        let fields: Vec<(&str, &str)> = case
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let headers: Vec<(&str, &str)> =
            case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = post_fields(&server.url(case.path), &fields, &headers).await;
        let challenge = response.headers().get("www-authenticate").cloned();
        let (status, body) = status_json(response).await;
        assert_eq!(status, case.status, "{}: {body}", case.what);
        assert_eq!(body["error"], case.error, "{}: {body}", case.what);
        assert!(
            body["error_description"].is_string(),
            "{}: {body}",
            case.what
        );
        assert!(body.get("access_token").is_none(), "{}", case.what);
        if case.what.contains("HTTP Basic") {
            assert_eq!(challenge.unwrap(), "Basic realm=\"etoken\"");
        }
    }

    // Duplicates in multipart too.
    let form = reqwest::multipart::Form::new()
        .text("client_id", id.to_owned())
        .text("client_secret", secret.to_owned())
        .text("jwt_token", good.clone())
        .text("jwt_token", good.clone());
    let response = support::client()
        .post(server.url("/ims/exchange/jwt"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // A body over 64 KiB: 413, urlencoded and multipart alike.
    let padding = "a".repeat(65 * 1024);
    let fields = [
        ("client_id", id),
        ("client_secret", secret),
        ("jwt_token", good.as_str()),
        ("padding", padding.as_str()),
    ];
    let response = post_fields(&server.url("/ims/exchange/jwt"), &fields, &[]).await;
    assert_eq!(response.status(), 413);
    let form = reqwest::multipart::Form::new()
        .text("client_id", id.to_owned())
        .text("padding", padding.clone());
    let response = support::client()
        .post(server.url("/ims/exchange/jwt"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Neither form encoding: refused.
    let response = support::client()
        .post(server.url("/ims/token/v3"))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    assert_eq!(server.count_log(ISSUED), 0, "{:?}", server.log());
    assert!(!server.log().join("\n").contains(secret));

    // The same server still issues to a good request.
    let fields = [
        ("client_id", id),
        ("client_secret", secret),
        ("jwt_token", good.as_str()),
    ];
    let response = post_fields(&server.url("/ims/exchange/jwt"), &fields, &[]).await;
    assert_eq!(response.status(), 200);
}

/// Copies `from` over `to` the way an operator replicates: a temporary
/// file renamed into place, so an instance never reads half a file.
fn replicate(from: &Path, to: &Path) {
    let temp = to.with_extension("copying");
    std::fs::copy(from, &temp).unwrap();
    std::fs::rename(&temp, to).unwrap();
}

#[tokio::test]
async fn a_farm_of_three_shares_access_tokens_and_revocation() {
    let master = tempfile::tempdir().unwrap();
    setup(master.path(), &["alice"]);
    let service = Service::create(master.path(), "services.json", "backend", &["read"], FARM);
    std::fs::write(
        master.path().join("credentials.json"),
        service.credentials.to_string(),
    )
    .unwrap();
    let instances: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let servers: Vec<Server> = instances
        .iter()
        .map(|dir| {
            copy_dir(&master.path().join("keys"), &dir.path().join("keys"));
            for file in ["users.json", "services.json"] {
                replicate(&master.path().join(file), &dir.path().join(file));
            }
            support::serve_with_services(dir.path(), FARM, &[])
        })
        .collect();

    // The client side: etoken service token exchanges on instance 0.
    let token_url = servers[0].url("/ims/exchange/jwt");
    let token = etoken_ok(
        master.path(),
        &[
            "service",
            "token",
            "--credentials",
            "credentials.json",
            "--token-url",
            &token_url,
        ],
        "",
    );
    let token = token.trim();
    assert!(token.starts_with("et2."), "{token}");
    assert_eq!(servers[0].wait_for_logs(ISSUED, 1).len(), 1);
    for server in &servers[1..] {
        assert_eq!(
            auth_status(server, token).await,
            (200, Some(service.account.clone())),
            "instance {}",
            server.instance
        );
        assert_eq!(server.count_log(ISSUED), 0);
    }

    // Revoke on the master copy, replicate, SIGHUP.
    etoken_ok(
        master.path(),
        &[
            "service",
            "revoke",
            "--services",
            "services.json",
            "backend",
        ],
        "",
    );
    for (dir, server) in instances.iter().zip(&servers) {
        replicate(
            &master.path().join("services.json"),
            &dir.path().join("services.json"),
        );
        server.signal("HUP");
        server.wait_for_log("services file changed: 0 active, 1 revoked");
    }
    for server in &servers {
        assert_eq!(
            auth_status(server, token).await.0,
            401,
            "{}",
            server.instance
        );
    }
    let out = support::etoken(
        master.path(),
        &[
            "service",
            "token",
            "--credentials",
            "credentials.json",
            "--token-url",
            &token_url,
        ],
        "",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid_client"), "{stderr}");
    let fields = [
        ("grant_type", "client_credentials"),
        ("client_id", service.client_id.as_str()),
        ("client_secret", service.secret.as_str()),
    ];
    for server in &servers {
        let (status, body) =
            status_json(post_fields(&server.url("/ims/token/v3"), &fields, &[]).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
    servers[0].wait_for_log("the account is revoked");
}

fn copy_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test]
async fn a_bad_services_file_at_reload_keeps_the_last_good_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (server, service) = start(dir.path(), &[]);
    let fields = [
        ("grant_type", "client_credentials"),
        ("client_id", service.client_id.as_str()),
        ("client_secret", service.secret.as_str()),
    ];
    let path = dir.path().join("services.json");
    let good = std::fs::read(&path).unwrap();
    let mut corrupt = good.clone();
    corrupt.truncate(good.len() / 2);
    std::fs::write(&path, &corrupt).unwrap();
    server.signal("HUP");
    server.wait_for_log("reload refused");
    let (status, _) =
        status_json(post_fields(&server.url("/ims/token/v3"), &fields, &[]).await).await;
    assert_eq!(status, 200, "the last good services file still serves");
}

/// Issue 12, for technical accounts: `service revoke-tokens` ends the access
/// tokens issued before it on every instance that reloads the file
/// (`session_revoked`), while the account keeps exchanging for new ones.
#[tokio::test]
async fn revoke_tokens_ends_issued_access_tokens_and_the_account_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (server, service) = start(dir.path(), &[]);
    let fields = [
        ("grant_type", "client_credentials"),
        ("client_id", service.client_id.as_str()),
        ("client_secret", service.secret.as_str()),
    ];
    let exchange = || async {
        let (status, body) =
            status_json(post_fields(&server.url("/ims/token/v3"), &fields, &[]).await).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    };
    let old = exchange().await;
    assert_eq!(auth_status(&server, &old).await.0, 200);
    // Tokens carry whole seconds: let the next one fall in a later second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let args = ["service", "revoke-tokens", "--services", "services.json"];
    let out = support::etoken(dir.path(), &[&args[..], &["backend"]].concat(), "");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("issued before now are refused"), "{said}");
    server.signal("HUP");
    server.wait_for_log("services file changed");
    assert_eq!(auth_status(&server, &old).await.0, 401);
    server.wait_for_log("reason=\"session_revoked\"");
    let new = exchange().await;
    let (status, user) = auth_status(&server, &new).await;
    assert_eq!(status, 200, "a new token works at once");
    assert_eq!(user.as_deref(), Some(service.account.as_str()));
}
