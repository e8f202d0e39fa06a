"""Flask through its test_client: cookie, bearer, missing, expired and
tampered tokens, `g.user` and `g.etoken_claims`, and the refreshed cookie."""

from __future__ import annotations

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

import encapsulated_token as et
from encapsulated_token.flask import init_app, login_required
from frameworks import REFUSED, Tokens, refreshed_token, tokens


@pytest.fixture
def app(authenticator: et.Authenticator) -> Flask:
    app = Flask(__name__)
    init_app(app, authenticator)

    @app.get("/whoami")
    @login_required
    def whoami() -> dict[str, object]:
        return {"user": g.user.username, "subject": g.etoken_claims.subject}

    @app.get("/public")
    def public() -> dict[str, object]:
        return {"authenticated": g.user.is_authenticated}

    return app


@pytest.fixture
def sent(minter: et.Minter) -> Tokens:
    return tokens(minter)


def with_cookie(app: Flask, token: str) -> FlaskClient:
    """A test client whose cookie jar holds the login cookie (Werkzeug
    sends the jar's cookies, not a Cookie header given by hand)."""
    client = app.test_client()
    client.set_cookie("login-token", token)
    return client


def test_cookie_and_bearer_are_accepted(app: Flask, sent: Tokens) -> None:
    by_cookie = with_cookie(app, sent.fresh).get("/whoami")
    assert by_cookie.status_code == 200
    assert by_cookie.json == {"user": "alice", "subject": "alice"}
    assert "Set-Cookie" not in by_cookie.headers
    by_bearer = app.test_client().get("/whoami", headers={"Authorization": f"Bearer {sent.fresh}"})
    assert by_bearer.status_code == 200 and by_bearer.json == {"user": "alice", "subject": "alice"}


@pytest.mark.parametrize("which", REFUSED)
def test_refused_tokens_get_a_uniform_401(app: Flask, sent: Tokens, which: str) -> None:
    cookie = {"expired": sent.expired, "tampered": sent.tampered}.get(which)
    client = with_cookie(app, cookie) if cookie else app.test_client()
    headers = {"Authorization": f"Bearer {sent.tampered}"} if which == "bearer-tampered" else {}
    response = client.get("/whoami", headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert response.data == b""
    assert client.get("/public", headers=headers).json == {"authenticated": False}


def test_a_cookie_due_for_refresh_comes_back_renewed(
    app: Flask, sent: Tokens, verifier: et.Verifier
) -> None:
    response = with_cookie(app, sent.due).get("/whoami")
    assert response.status_code == 200
    renewed = verifier.verify(refreshed_token(response.headers.getlist("Set-Cookie")))
    assert renewed.subject == "alice" and renewed.session_started_at == sent.login


def test_init_app_with_a_verifier_and_a_minter(
    verifier: et.Verifier, minter: et.Minter, sent: Tokens
) -> None:
    app = Flask(__name__)
    authenticator = init_app(app, verifier, minter, secure=False, lifetime=600)
    assert authenticator.refreshes and app.extensions["encapsulated_token"] is authenticator

    @app.get("/")
    def index() -> str:
        return g.user.username

    response = with_cookie(app, sent.due).get("/")
    assert response.text == "alice"
    assert refreshed_token(response.headers.getlist("Set-Cookie"))
