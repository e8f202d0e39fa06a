"""A real browser (Debian's Chromium, driven by Playwright) signs in with
single sign-on through nginx: it opens a protected URL, nginx's
auth_request sends it to etoken's /sso/login, which sends it to the OpenID
provider's login form; it signs in there, consents, and lands back on the
URL it asked for. Run by etoken/tests/sso.rs:

    python sso.py PROTECTED_URL ISSUER LOGIN SCREENSHOT_DIR

Prints one line per check ("ok   ..." or "FAIL ..."); exits 0 when all hold.
"""

import sys
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

PROTECTED, ISSUER, LOGIN, SHOTS = sys.argv[1:5]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def same_origin(url, base):
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    try:
        page = browser.new_context().new_page()
        page.goto(PROTECTED)
        check(same_origin(page.url, ISSUER) and "/interaction/" in page.url,
              f"the protected URL sends to the provider's login form ({page.url})")
        login = page.locator('input[name="login"]')
        check(login.count() == 1, "the provider shows its login form")
        page.screenshot(path=f"{SHOTS}/sso-provider-login.png")

        login.fill(LOGIN)
        page.locator('input[name="password"]').fill("any")
        with page.expect_navigation():
            page.get_by_role("button", name="Sign-in").click()
        consent = page.get_by_role("button", name="Continue")
        check(consent.count() == 1, f"the provider asks for consent ({page.url})")
        with page.expect_navigation(url=PROTECTED):
            consent.click()
        check(page.url == PROTECTED, f"signed in, back on the protected URL ({page.url})")
        check("the protected page" in page.content(), "nginx serves the protected page")
        page.screenshot(path=f"{SHOTS}/sso-protected.png")
        names = [c["name"] for c in page.context.cookies(PROTECTED)]
        check(any(n.endswith("login-token") for n in names), f"a login cookie ({names})")
        check(not any(n.endswith("sso-state") for n in names), f"sso-state is gone ({names})")
    finally:
        browser.close()

sys.exit(1 if failures else 0)
