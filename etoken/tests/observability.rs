//! What an operator watches: Prometheus metrics on `--metrics-listen`
//! (parsed by the Prometheus project's own Python parser, not only read by
//! us) and `--log-format json`, one JSON object per line.

mod support;

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;
use support::{Server, Service, get, login, post_fields, post_form, serve_with_services, setup};

/// The address a server printed for its metrics.
fn metrics_url(server: &Server) -> String {
    let line = server
        .banner
        .iter()
        .find_map(|line| line.strip_prefix("metrics on "))
        .unwrap_or_else(|| panic!("no metrics line in {:?}", server.banner));
    line.to_owned()
}

/// Each sample of an exposition as `name{labels}` -> value, from the text
/// as written (label order as the server writes it).
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("SERIES VALUE");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// alice (password alice-pw) and a technical account "backend" in `dir`,
/// served with `extra` flags (the account limit 2/1h: a third wrong
/// password is throttled).
fn serve(dir: &std::path::Path, extra: &[&str]) -> (Server, Service) {
    setup(dir, &["alice"]);
    let service = Service::create(
        dir,
        "services.json",
        "backend",
        &["read"],
        "http://127.0.0.1",
    );
    let mut args = vec!["--insecure-cookies", "--login-limit-account", "2/1h"];
    args.extend_from_slice(extra);
    (serve_with_services(dir, "http://127.0.0.1", &args), service)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_authentications_logins_exchanges_reloads_and_time_routes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (server, service) = serve(dir, &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = metrics_url(&server);

    let cookie = login(&server, "alice", "alice-pw").await;
    for _ in 0..3 {
        assert_eq!(
            get(&server.url("/auth"), &[("cookie", &cookie)])
                .await
                .status(),
            200
        );
    }
    assert_eq!(get(&server.url("/auth"), &[]).await.status(), 401);
    let forged = "login-token=et2.AAAA";
    assert_eq!(
        get(&server.url("/auth"), &[("cookie", forged)])
            .await
            .status(),
        401
    );
    // Two wrong passwords, then the account's limit (2/1h) throttles.
    for _ in 0..2 {
        let wrong = post_form(
            &server.url("/j_security_check"),
            "j_username=alice&j_password=no",
        )
        .await;
        assert_eq!(wrong.status(), 401);
    }
    let throttled = post_form(
        &server.url("/j_security_check"),
        "j_username=alice&j_password=no",
    )
    .await;
    assert_eq!(throttled.status(), 429);
    let fields = [
        ("grant_type", "client_credentials"),
        ("client_id", service.client_id.as_str()),
        ("client_secret", service.secret.as_str()),
        ("scope", "read"),
    ];
    assert_eq!(
        post_fields(&server.url("/ims/token/v3"), &fields, &[])
            .await
            .status(),
        200
    );
    let wrong_secret = [
        ("grant_type", "client_credentials"),
        ("client_id", service.client_id.as_str()),
        ("client_secret", "not-it"),
    ];
    assert_eq!(
        post_fields(&server.url("/ims/token/v3"), &wrong_secret, &[])
            .await
            .status(),
        401
    );
    assert_eq!(
        get(&server.url("/no/such/page/12345"), &[]).await.status(),
        404
    );
    server.signal("HUP");
    server.wait_for_log("SIGHUP");
    // The reload checks the three sources one after the other: wait until
    // the last one is counted before reading the figures.
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !get(&metrics, &[])
        .await
        .text()
        .await
        .unwrap()
        .contains(r#"etoken_reloads_total{source="services",outcome="ok"}"#)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the services reload is counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The public port does not serve them.
    assert_eq!(get(&server.url("/metrics"), &[]).await.status(), 404);
    let response = get(&metrics, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let text = response.text().await.unwrap();
    let found = samples(&text);
    let value = |series: &str| {
        *found
            .get(series)
            .unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    assert_eq!(
        value(r#"etoken_authentications_total{outcome="ok",reason=""}"#),
        3.0
    );
    assert_eq!(
        value(r#"etoken_authentications_total{outcome="refused",reason="missing"}"#),
        1.0
    );
    assert_eq!(
        found
            .iter()
            .filter(|(series, _)| series
                .starts_with("etoken_authentications_total{outcome=\"refused\""))
            .map(|(_, v)| v)
            .sum::<f64>(),
        2.0,
        "the forged cookie is refused for a token reason: {text}"
    );
    assert_eq!(value(r#"etoken_logins_total{outcome="ok"}"#), 1.0);
    assert_eq!(value(r#"etoken_logins_total{outcome="failed"}"#), 2.0);
    assert_eq!(value(r#"etoken_logins_total{outcome="throttled"}"#), 1.0);
    assert_eq!(
        value(r#"etoken_token_exchanges_total{grant="client_credentials",outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        value(
            r#"etoken_token_exchanges_total{grant="client_credentials",outcome="invalid_client"}"#
        ),
        1.0
    );
    for source in ["keys", "users", "services"] {
        assert!(
            value(&format!(
                "etoken_reloads_total{{source=\"{source}\",outcome=\"ok\"}}"
            )) >= 1.0
        );
    }
    let health: Value = get(&server.url("/healthz"), &[])
        .await
        .json()
        .await
        .unwrap();
    let info = format!(
        "etoken_key_ring_info{{active_key=\"{}\",ring=\"{}\"}}",
        health["active_key"].as_str().unwrap(),
        health["ring"].as_str().unwrap()
    );
    assert_eq!(value(&info), 1.0);
    // Latency by matched route: /auth five times, the 404 as "unmatched",
    // never its raw path.
    assert_eq!(
        value(r#"etoken_request_duration_seconds_count{route="/auth"}"#),
        5.0
    );
    assert_eq!(
        value(r#"etoken_request_duration_seconds_count{route="/j_security_check"}"#),
        4.0
    );
    assert_eq!(
        value(r#"etoken_request_duration_seconds_count{route="unmatched"}"#),
        2.0
    );
    assert!(!text.contains("12345"), "no raw path in a label");

    // A client someone else wrote reads it: the Prometheus project's parser.
    let python = support::venv_python(
        "prometheus-venv",
        "prometheus_client",
        &["prometheus-client>=0.20,<1"],
    );
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
names = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    names[family.name] = family.type
for name in sorted(names): print(name, names[name])
"#;
    let parsed = support::run_python(&python, script, &text);
    for family in [
        "etoken_authentications counter",
        "etoken_logins counter",
        "etoken_token_exchanges counter",
        "etoken_reloads counter",
        "etoken_key_ring_info gauge",
        "etoken_request_duration_seconds histogram",
    ] {
        assert!(parsed.lines().any(|l| l == family), "{family} in {parsed}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_metrics_listen_nothing_is_served_or_timed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (server, _) = serve(dir, &[]);
    assert!(server.banner.iter().all(|l| !l.starts_with("metrics on")));
    assert_eq!(get(&server.url("/metrics"), &[]).await.status(), 404);
    let help = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_etoken"))
            .args(["serve", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(help.contains("--metrics-listen <ADDR>"), "{help}");
    assert!(help.contains("--log-format <FORMAT>"), "{help}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_with_fields_and_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (server, _) = serve(dir, &["--log-format", "json", "--instance", "publish-1"]);
    let cookie = login(&server, "alice", "alice-pw").await;
    let token = cookie.split_once('=').unwrap().1.to_owned();
    assert_eq!(
        get(&server.url("/auth"), &[("cookie", &cookie)])
            .await
            .status(),
        200
    );
    // A token for a user this instance does not have: refused, with a reason.
    let stranger = support::etoken_ok(dir, &["mint", "--keys", "keys", "--user", "mallory"], "");
    let stranger = stranger.trim();
    let refused = get(
        &server.url("/auth"),
        &[("cookie", &format!("login-token={stranger}"))],
    )
    .await;
    assert_eq!(refused.status(), 401);
    let wrong = post_form(
        &server.url("/j_security_check"),
        "j_username=alice&j_password=guess-pw",
    )
    .await;
    assert_eq!(wrong.status(), 401);
    server.wait_for_log("authentication refused");
    server.wait_for_log("refused login");

    let lines = server.log();
    let objects: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for object in &objects {
        for key in ["timestamp", "level", "message"] {
            assert!(object.get(key).is_some(), "{key} in {object}");
        }
    }
    let find = |message: &str| {
        objects
            .iter()
            .find(|o| o["message"].as_str().unwrap().contains(message))
            .unwrap_or_else(|| panic!("{message} in {lines:#?}"))
    };
    let auth = find("authentication refused");
    assert_eq!(auth["level"], "INFO");
    assert_eq!(auth["outcome"], "refused");
    assert_eq!(auth["reason"], "unknown_user");
    assert_eq!(auth["span"]["instance"], "publish-1");
    assert_eq!(auth["span"]["route"], "/auth");
    let login_ok = find("login: ");
    assert_eq!(login_ok["outcome"], "ok");
    assert_eq!(login_ok["subject"], "\"alice\"");
    assert_eq!(login_ok["span"]["route"], "/j_security_check");
    let failed = find("refused login");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["span"]["instance"], "publish-1");
    let all = lines.join("\n");
    for secret in [token.as_str(), stranger, "alice-pw", "guess-pw"] {
        assert!(!all.contains(secret), "{secret} logged");
    }
    assert!(
        find("listening on")["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "RFC 3339 UTC"
    );
}
