//! `POST /developer/token` without a browser: the AEM Developer Console's
//! JSON shape, and the refusals a browser test cannot provoke
//! (cross-site requests, bearer tokens, no session).

mod support;

use serde_json::Value;
use support::{Server, client, get, login, setup};

fn start(dir: &std::path::Path) -> Server {
    setup(dir, &["alice"]);
    Server::start(
        dir,
        &[
            "--keys",
            "keys",
            "--users",
            "users.json",
            "--insecure-cookies",
            "--access-token-ttl",
            "2h",
            "--public-url",
            "https://publish.example.com",
        ],
    )
}

async fn post_token(server: &Server, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client().post(server.url("/developer/token"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("answered")
}

#[tokio::test]
async fn a_signed_in_user_gets_a_token_in_the_developer_console_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let cookie = login(&server, "alice", "alice-pw").await;
    let own_origin = format!("http://{}", server.addr);
    for origin in [own_origin.as_str(), "https://publish.example.com"] {
        let response = post_token(
            &server,
            &[
                ("cookie", &cookie),
                ("origin", origin),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
        assert_eq!(response.status(), 200, "{origin}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expiresIn"], 2 * 3600 * 1000, "milliseconds");
        let token = body["accessToken"].as_str().unwrap();
        let auth = format!("Bearer {token}");
        let me: Value = get(&server.url("/whoami"), &[("authorization", &auth)])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["subject"], "alice");
        assert_eq!(me["attributes"]["client_id"], "local-development");
        assert_eq!(
            me["expires_at"].as_i64().unwrap() - me["issued_at"].as_i64().unwrap(),
            7200
        );
    }
}

#[tokio::test]
async fn cross_site_bearer_and_anonymous_requests_get_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let cookie = login(&server, "alice", "alice-pw").await;
    for (what, headers) in [
        ("another origin", vec![("origin", "https://evil.example")]),
        (
            "a lookalike origin",
            vec![("origin", "http://127.0.0.1.evil.example")],
        ),
        ("origin null", vec![("origin", "null")]),
        ("cross-site fetch", vec![("sec-fetch-site", "cross-site")]),
        ("same-site fetch", vec![("sec-fetch-site", "same-site")]),
    ] {
        let mut headers = headers;
        headers.push(("cookie", &cookie));
        let response = post_token(&server, &headers).await;
        assert_eq!(response.status(), 403, "{what}");
    }
    // A bearer token cannot renew itself.
    let same_origin = ("sec-fetch-site", "same-origin");
    // Saying nothing of its origin is not enough (curl with a stolen cookie).
    assert_eq!(
        post_token(&server, &[("cookie", &cookie)]).await.status(),
        403
    );
    let body: Value = post_token(&server, &[("cookie", &cookie), same_origin])
        .await
        .json()
        .await
        .unwrap();
    let auth = format!("Bearer {}", body["accessToken"].as_str().unwrap());
    assert_eq!(
        post_token(&server, &[("authorization", &auth), same_origin])
            .await
            .status(),
        403
    );
    assert_eq!(post_token(&server, &[]).await.status(), 401);
    let page = get(&server.url("/developer"), &[]).await;
    assert_eq!(page.status(), 302);
    assert_eq!(page.headers()["location"], "/login?resource=/developer");
    assert_eq!(server.count_log("issued a local development token"), 1);
}
