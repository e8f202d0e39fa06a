//! A real browser against `etoken serve`: Debian's Chromium, driven by
//! Playwright (PyPI) from `tests/browser/attack.py`. The forms work
//! same-origin under the Content-Security-Policy; another site's
//! auto-submitting login and logout forms are refused with the
//! `Sec-Fetch-Site` Chromium itself sends; the login page will not render in
//! another site's frame. The test makes its own venv with Playwright
//! (pinned) on first run; `scripts/test` installs Chromium.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{serve_files, setup};

const PLAYWRIGHT: &str = "playwright==1.65.2";
const CHROMIUM: &str = "/usr/bin/chromium";

/// The venv's python, with Playwright installed in it.
fn python_with_playwright() -> PathBuf {
    support::venv_python("browser-venv", "playwright", &[PLAYWRIGHT])
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_uses_the_forms_and_cannot_be_made_to_post_them_cross_site() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} missing: install Debian's chromium (scripts/test does)"
    );
    let python = python_with_playwright();
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &["alice"]);
    let server = serve_files(tmp.path(), &["--insecure-cookies"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/attack.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([&server.url(""), "alice", "alice-pw"])
            .output()
            .map(|out| (out, server))
    })
    .await
    .unwrap()
    .expect("the browser script runs");
    let (out, server) = out;
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report.matches("ok   ").count(), 10, "{report}");
    // What the browser sent is what the refusals were decided on.
    for route in ["/j_security_check", "/logout"] {
        let line = server.wait_for_log(&format!("refused POST \"{route}\""));
        assert!(line.contains("Sec-Fetch-Site \"cross-site\""), "{line}");
    }
    assert_eq!(
        server.count_log("login: \"alice\""),
        2,
        "{:?}",
        server.log()
    );
}
