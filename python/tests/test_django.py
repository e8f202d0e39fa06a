"""Django through its test Client: the middleware from settings, cookie,
bearer, missing, expired and tampered tokens, the refreshed cookie, and
`request.user` as the Django user of that name when configured."""

from __future__ import annotations

import pathlib
from typing import Any, Iterator

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.urls import path

import encapsulated_token as et
from encapsulated_token.django import token_required
from frameworks import REFUSED, Tokens, refreshed_token, refused_headers, tokens


@token_required
def whoami(request: HttpRequest) -> HttpResponse:
    claims: et.Claims = request.etoken_claims  # type: ignore[attr-defined]
    return JsonResponse(
        {"user": request.user.get_username(), "subject": claims.subject,
         "model": type(request.user).__name__}
    )


def public(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"authenticated": request.user.is_authenticated})


urlpatterns = [path("whoami", whoami), path("public", public)]


def setup_module() -> None:
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__,
            SECRET_KEY="only-for-tests",
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            MIDDLEWARE=["encapsulated_token.django.EncapsulatedTokenMiddleware"],
        )
        django.setup()


@pytest.fixture
def client(key_dir: pathlib.Path) -> Iterator[Client]:
    with override_settings(
        ETOKEN_KEY_DIR=str(key_dir), ETOKEN_AUDIENCE="publish", ETOKEN_COOKIE_SECURE=False,
        ETOKEN_LIFETIME=600, ETOKEN_MAX_SESSION=3600,
    ):
        yield Client()


@pytest.fixture
def sent(minter: et.Minter) -> Tokens:
    return tokens(minter)


def get(client: Client, url: str, **headers: str) -> Any:
    return client.get(url, headers=headers)


def test_cookie_and_bearer_are_accepted(client: Client, sent: Tokens) -> None:
    by_cookie = get(client, "/whoami", Cookie=f"login-token={sent.fresh}")
    assert by_cookie.status_code == 200
    assert by_cookie.json() == {"user": "alice", "subject": "alice", "model": "TokenUser"}
    assert "login-token" not in by_cookie.cookies
    by_bearer = get(client, "/whoami", Authorization=f"Bearer {sent.fresh}")
    assert by_bearer.status_code == 200 and by_bearer.json()["subject"] == "alice"


@pytest.mark.parametrize("which", REFUSED)
def test_refused_tokens_get_a_uniform_401(client: Client, sent: Tokens, which: str) -> None:
    headers = refused_headers(sent, which)
    response = get(client, "/whoami", **headers)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert response.content == b""
    assert get(client, "/public", **headers).json() == {"authenticated": False}


def test_a_cookie_due_for_refresh_comes_back_renewed(
    client: Client, sent: Tokens, verifier: et.Verifier
) -> None:
    response = get(client, "/whoami", Cookie=f"login-token={sent.due}")
    assert response.status_code == 200
    morsel = response.cookies["login-token"]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"
    assert not morsel["secure"] and 599 <= int(morsel["max-age"]) <= 600
    renewed = verifier.verify(refreshed_token([morsel.OutputString()]))
    assert renewed.subject == "alice" and renewed.session_started_at == sent.login


def test_the_django_user_of_that_name(key_dir: pathlib.Path, sent: Tokens) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with override_settings(
        ETOKEN_KEY_DIR=str(key_dir), ETOKEN_AUDIENCE="publish", ETOKEN_DJANGO_USERS=True,
    ):
        client = Client()
        assert get(client, "/whoami", Cookie=f"login-token={sent.fresh}").status_code == 401
        User.objects.create_user("alice")
        ok = get(client, "/whoami", Cookie=f"login-token={sent.fresh}")
        assert ok.status_code == 200 and ok.json()["model"] == "User"
        assert get(client, "/public").json() == {"authenticated": False}
