"""Starlette and FastAPI through Starlette's TestClient: cookie, bearer,
missing, expired and tampered tokens, and the refreshed cookie."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import encapsulated_token as et
from encapsulated_token.starlette import (
    EncapsulatedTokenBackend,
    EncapsulatedTokenMiddleware,
    TokenUser,
    require_claims,
)
from frameworks import REFUSED, Tokens, refreshed_token, refused_headers, tokens


def fastapi_app(authenticator: et.Authenticator) -> FastAPI:
    app = FastAPI()
    app.add_middleware(EncapsulatedTokenMiddleware, verifier=authenticator)

    @app.get("/whoami")
    def whoami(claims: et.Claims = Depends(require_claims)) -> dict[str, object]:
        return {"subject": claims.subject, "attributes": claims.attributes}

    @app.get("/public")
    def public(request: Request) -> dict[str, object]:
        user = request.user
        return {"authenticated": user.is_authenticated, "name": user.display_name}

    @app.post("/logout")
    def logout() -> PlainTextResponse:
        response = PlainTextResponse("bye")
        response.headers.append("set-cookie", authenticator.logout_cookie())
        return response

    return app


@pytest.fixture
def client(authenticator: et.Authenticator) -> TestClient:
    return TestClient(fastapi_app(authenticator))


@pytest.fixture
def sent(minter: et.Minter) -> Tokens:
    return tokens(minter)


def test_cookie_and_bearer_are_accepted(client: TestClient, sent: Tokens) -> None:
    by_cookie = client.get("/whoami", headers={"Cookie": f"login-token={sent.fresh}"})
    assert by_cookie.status_code == 200
    assert by_cookie.json() == {"subject": "alice", "attributes": {"name": "Alice A."}}
    assert "set-cookie" not in by_cookie.headers
    by_bearer = client.get("/whoami", headers={"Authorization": f"Bearer {sent.fresh}"})
    assert by_bearer.status_code == 200 and by_bearer.json()["subject"] == "alice"
    public = client.get("/public", headers={"Cookie": f"login-token={sent.fresh}"})
    assert public.json() == {"authenticated": True, "name": "Alice A."}


@pytest.mark.parametrize("which", REFUSED)
def test_refused_tokens_get_a_uniform_401(client: TestClient, sent: Tokens, which: str) -> None:
    headers = refused_headers(sent, which)
    response = client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "expired" not in response.text and "tag" not in response.text
    assert client.get("/public", headers=headers).json()["authenticated"] is False


def test_a_cookie_due_for_refresh_comes_back_renewed(
    client: TestClient, sent: Tokens, verifier: et.Verifier
) -> None:
    response = client.get("/whoami", headers={"Cookie": f"login-token={sent.due}"})
    assert response.status_code == 200
    renewed = verifier.verify(refreshed_token(response.headers.get_list("set-cookie")))
    assert renewed.subject == "alice" and renewed.session_started_at == sent.login
    bearer = client.get("/whoami", headers={"Authorization": f"Bearer {sent.due}"})
    assert "set-cookie" not in bearer.headers


def test_a_response_that_sets_the_cookie_itself_is_left_alone(
    client: TestClient, sent: Tokens
) -> None:
    response = client.post("/logout", headers={"Cookie": f"login-token={sent.due}"})
    (only,) = response.headers.get_list("set-cookie")
    assert only.startswith("login-token=;")


def test_the_backend_in_starlettes_own_authentication_middleware(
    verifier: et.Verifier, sent: Tokens
) -> None:
    @requires("authenticated")
    async def me(request: Request) -> JSONResponse:
        assert isinstance(request.user, TokenUser)
        return JSONResponse(
            {"user": request.user.username, "subject": request.auth.subject,
             "claims": request.auth.claims.subject}
        )

    app = Starlette(
        routes=[Route("/me", me)],
        middleware=[Middleware(AuthenticationMiddleware, backend=EncapsulatedTokenBackend(verifier))],
    )
    client = TestClient(app)
    ok = client.get("/me", headers={"Cookie": f"login-token={sent.fresh}"})
    assert ok.json() == {"user": "alice", "subject": "alice", "claims": "alice"}
    assert client.get("/me", headers={"Cookie": f"login-token={sent.tampered}"}).status_code == 403
    assert client.get("/me").status_code == 403
