"""A real browser (Debian's Chromium, driven by Playwright) against a running
`etoken serve`: the login and logout forms work same-origin under the
Content-Security-Policy, and another site's auto-submitting forms and frames
get nowhere. Run by etoken/tests/browser.rs:

    python attack.py http://127.0.0.1:PORT USER PASSWORD

The attacker's pages are served from http://localhost:OTHER (another site
than 127.0.0.1). Exits 0 when every check holds, else prints what failed.
"""

import http.server
import sys
import threading

from playwright.sync_api import sync_playwright

TARGET, USER, PASSWORD = sys.argv[1], sys.argv[2], sys.argv[3]
COOKIE = "login-token"


def attacker_pages():
    """What evil.example would serve, keyed by path."""
    auto = "<script>document.forms[0].submit()</script>"
    return {
        "/login.html": f"""<form method="post" action="{TARGET}/j_security_check">
            <input name="j_username" value="{USER}">
            <input name="j_password" value="{PASSWORD}"></form>{auto}""",
        "/logout.html": f"""<form method="post" action="{TARGET}/logout"></form>{auto}""",
        "/frame.html": f"""<iframe id="victim" src="{TARGET}/login"></iframe>""",
    }


class Attacker(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = attacker_pages().get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = f"<!doctype html><html><body>{body}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def has_cookie(context):
    return any(c["name"] == COOKIE and c["value"] for c in context.cookies(TARGET))


def main():
    server = http.server.ThreadingHTTPServer(("localhost", 0), Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    evil = f"http://localhost:{server.server_address[1]}"

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        context = browser.new_context()
        page = context.new_page()
        csp_errors = []
        page.on(
            "console",
            lambda m: csp_errors.append(m.text)
            if "Content Security Policy" in m.text
            else None,
        )

        # Same-origin: the real forms, as a person uses them.
        page.goto(f"{TARGET}/login")
        style = page.evaluate(
            "() => [getComputedStyle(document.body).fontFamily,"
            " getComputedStyle(document.querySelector('main')).maxWidth]"
        )
        check(style == ["system-ui, sans-serif", "384px"], f"the page's style applies: {style}")
        page.fill("input[name=j_username]", USER)
        page.fill("input[name=j_password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{TARGET}/")
        check(f"Signed in as {USER}" in page.content(), "same-origin login works")
        check(has_cookie(context), "the login cookie is set")
        page.click("text=Sign out")
        page.wait_for_url(f"{TARGET}/login")
        check(not has_cookie(context), "same-origin logout clears the cookie")
        check(csp_errors == [], f"no CSP violation on our pages: {csp_errors}")

        # Cross-site: another site's forms, submitted by script.
        page.goto(f"{evil}/login.html")
        page.wait_for_url(lambda url: url.startswith(TARGET))
        check("cross-site request refused" in page.content(), "login CSRF refused")
        check(not has_cookie(context), "login CSRF set no cookie")

        page.goto(f"{TARGET}/login")
        page.fill("input[name=j_username]", USER)
        page.fill("input[name=j_password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{TARGET}/")
        page.goto(f"{evil}/logout.html")
        page.wait_for_url(lambda url: url.startswith(TARGET))
        check("cross-site request refused" in page.content(), "logout CSRF refused")
        check(has_cookie(context), "logout CSRF left the session alone")

        # Clickjacking: the login page refuses to be framed.
        page.goto(f"{evil}/frame.html")
        page.wait_for_timeout(1000)
        frame = page.frame_locator("#victim")
        check(
            frame.locator("input[name=j_password]").count() == 0,
            "the login page does not render in another site's frame",
        )
        browser.close()
    server.shutdown()
    if failures:
        print(f"{len(failures)} failed: {failures}")
        sys.exit(1)


main()
