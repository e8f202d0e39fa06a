"""A real browser (Debian's Chromium, driven by Playwright) signs in through
nginx in front of the farm: it opens a protected URL, is sent to the login
page, is told a wrong password on the page, signs in, and lands on the URL
it asked for. Once with JavaScript and once without. Run by
etoken/tests/farm.rs:

    python signin.py PROTECTED_URL USER PASSWORD SCREENSHOT_DIR

Prints one line per check ("ok   ..." or "FAIL ..."); exits 0 when all hold.
"""

import sys
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

PROTECTED, USER, PASSWORD, SHOTS = sys.argv[1:5]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def sign_in(browser, javascript):
    mode = "with JavaScript" if javascript else "without JavaScript"
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(PROTECTED)
    url = urlsplit(page.url)
    check(url.path == "/login", f"{mode}: the protected URL sends to the login page ({page.url})")
    check(urlsplit(PROTECTED).path in url.query, f"{mode}: the login page keeps the URL to return to")
    # Accessible names: each field is found by its label, the button by its role.
    user = page.get_by_label("User name")
    password = page.get_by_label("Password")
    check(user.count() == 1 and password.count() == 1, f"{mode}: both fields have labels")
    if javascript:
        focused = page.evaluate("document.activeElement && document.activeElement.name")
        check(focused == "j_username", f"{mode}: the user name field has the focus ({focused})")
    page.screenshot(path=f"{SHOTS}/login-{'js' if javascript else 'nojs'}.png")

    user.fill(USER)
    password.fill("not-" + PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    check(alert.count() == 1 and "Wrong user name or password" in alert.inner_text(),
          f"{mode}: a wrong password is announced on the page")
    check(page.get_by_label("Password").get_attribute("aria-invalid") == "true",
          f"{mode}: the fields are marked invalid")
    page.screenshot(path=f"{SHOTS}/wrong-password-{'js' if javascript else 'nojs'}.png")

    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_label("Password").press("Enter")
    check(page.url == PROTECTED, f"{mode}: signed in, back on the protected URL ({page.url})")
    check("the protected page" in page.content(), f"{mode}: nginx serves the protected page")
    page.screenshot(path=f"{SHOTS}/protected-{'js' if javascript else 'nojs'}.png")
    context.close()


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    try:
        sign_in(browser, javascript=True)
        sign_in(browser, javascript=False)
    finally:
        browser.close()

sys.exit(1 if failures else 0)
