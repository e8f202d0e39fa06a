"""The core handler's rules through the binding's Authenticator: where the
token is read from, the absolute session lifetime, and the sliding refresh
of the tower layer (share of life, session start kept, never past the
session's end, cookie attributes, skip header and paths, rotation)."""

from __future__ import annotations

import pathlib
import time
from http.cookies import SimpleCookie

import pytest

import encapsulated_token as et
from conftest import etoken


def cookie(set_cookie: str) -> tuple[str, dict[str, str]]:
    """The token and the attributes of a Set-Cookie value."""
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    (morsel,) = jar.values()
    assert morsel.key == "login-token"
    return morsel.value, {k: str(v) for k, v in morsel.items() if v}


def headers(token: str) -> list[tuple[str, str]]:
    return [("Cookie", f"theme=dark; login-token={token}")]


def test_a_fresh_cookie_is_not_refreshed(
    authenticator: et.Authenticator, minter: et.Minter
) -> None:
    token = minter.mint("alice", 600, audience="publish")
    auth = authenticator.authenticate(headers(token))
    assert auth.claims.subject == "alice" and auth.source == "cookie"
    assert auth.set_cookie is None


def test_a_cookie_past_half_its_life_comes_back_renewed(
    authenticator: et.Authenticator, minter: et.Minter, verifier: et.Verifier
) -> None:
    now = int(time.time())
    login = now - 1000
    token = minter.mint(
        "alice", 600, audience="publish", attributes={"role": "editor"},
        issued_at=now - 400, session_started_at=login,
    )
    auth = authenticator.authenticate(headers(token), "/page")
    assert auth.set_cookie is not None
    renewed, attributes = cookie(auth.set_cookie)
    assert attributes["httponly"] is not None and attributes["samesite"] == "Lax"
    assert attributes["path"] == "/" and "secure" not in attributes
    assert 599 <= int(attributes["max-age"]) <= 600
    claims = verifier.verify(renewed)
    old = auth.claims
    assert (claims.subject, claims.audience, claims.attributes) == (
        "alice", "publish", {"role": "editor"},
    )
    assert claims.session_started_at == login, "a refresh keeps the login's time"
    assert claims.token_id != old.token_id
    assert now <= claims.issued_at <= now + 2 and claims.expires_at == claims.issued_at + 600


def test_a_refresh_never_outlives_the_session(
    authenticator: et.Authenticator, minter: et.Minter, verifier: et.Verifier
) -> None:
    now = int(time.time())
    login = now - 3300  # the session (3600 s) ends in 300 s, the token in 200 s
    token = minter.mint(
        "alice", 600, audience="publish", issued_at=now - 400, session_started_at=login
    )
    auth = authenticator.authenticate(headers(token))
    assert auth.set_cookie is not None
    claims = verifier.verify(cookie(auth.set_cookie)[0])
    assert claims.expires_at == login + 3600
    # A token that already lasts to the session's end is not renewed.
    last = minter.mint(
        "alice", 600, audience="publish", issued_at=now - 500, session_started_at=now - 3500
    )
    assert authenticator.authenticate(headers(last)).set_cookie is None


def test_a_session_past_its_absolute_lifetime_is_refused(
    authenticator: et.Authenticator, minter: et.Minter
) -> None:
    now = int(time.time())
    token = minter.mint(
        "alice", 600, audience="publish", issued_at=now - 10, session_started_at=now - 3601
    )
    with pytest.raises(et.AuthError) as raised:
        authenticator.authenticate(headers(token))
    assert raised.value.reason == "session_too_old"
    assert not isinstance(raised.value, et.TokenError)


def test_bearer_tokens_skip_requests_and_paths_are_never_refreshed(
    verifier: et.Verifier, minter: et.Minter
) -> None:
    authenticator = et.Authenticator(
        verifier, minter, lifetime=600, max_session=3600, no_refresh_paths=["/api/poll"]
    )
    now = int(time.time())
    token = minter.mint("alice", 600, audience="publish", issued_at=now - 400)
    bearer = authenticator.authenticate([("Authorization", f"Bearer {token}")])
    assert bearer.source == "bearer" and bearer.set_cookie is None
    skip = headers(token) + [("X-Token-Refresh", "SKIP")]
    assert authenticator.authenticate(skip).set_cookie is None
    assert authenticator.authenticate(headers(token), "/api/poll/7").set_cookie is None
    assert authenticator.authenticate(headers(token), "/api/polling").set_cookie is not None
    # With both, the bearer token decides, even when it is refused.
    with pytest.raises(et.BadTag):
        authenticator.authenticate(
            headers(token) + [("authorization", f"Bearer {token[:-2]}AA")]
        )


def test_without_a_minter_nothing_is_minted(verifier: et.Verifier, minter: et.Minter) -> None:
    authenticator = et.Authenticator(verifier)
    assert not authenticator.refreshes
    now = int(time.time())
    token = minter.mint("alice", 600, audience="publish", issued_at=now - 500)
    assert authenticator.authenticate(headers(token)).set_cookie is None
    with pytest.raises(ValueError, match="Minter"):
        authenticator.login_cookie("alice")


def test_missing_ambiguous_and_refused_credentials(
    authenticator: et.Authenticator, minter: et.Minter
) -> None:
    with pytest.raises(et.AuthError) as missing:
        authenticator.authenticate([("Cookie", "theme=dark"), ("Accept", "*/*")])
    assert missing.value.reason == "missing"
    alice = minter.mint("alice", 600, audience="publish")
    mallory = minter.mint("mallory", 600, audience="publish")
    with pytest.raises(et.AuthError) as ambiguous:
        authenticator.authenticate(
            [("Cookie", f"login-token={alice}"), ("Cookie", f"login-token={mallory}")]
        )
    assert ambiguous.value.reason == "ambiguous_cookies"
    value, attributes = cookie(ambiguous.value.clear_cookie)
    assert value == "" and attributes["max-age"] == "0"
    with pytest.raises(et.Expired):
        expired = minter.mint("alice", 60, audience="publish", issued_at=time.time() - 120)
        authenticator.authenticate(headers(expired))
    with pytest.raises(et.AuthError) as control:
        authenticator.authenticate([("Cookie", "login-token=\x01")])
    assert control.value.reason == "bad_cookies"


def test_login_and_logout_cookies_carry_the_same_attributes(
    authenticator: et.Authenticator, verifier: et.Verifier
) -> None:
    token, login = cookie(authenticator.login_cookie("alice", {"role": "editor"}))
    claims = verifier.verify(token)
    assert claims.session_started_at == claims.issued_at
    assert claims.audience == "publish" and claims.attributes == {"role": "editor"}
    value, logout = cookie(authenticator.logout_cookie())
    assert value == "" and logout.pop("max-age") == "0"
    login.pop("max-age")
    assert login == logout


def test_a_minter_of_another_directory_is_refused(
    verifier: et.Verifier, tmp_path: pathlib.Path
) -> None:
    other = tmp_path / "other"
    etoken("key", "init", "--dir", str(other))
    with pytest.raises(ValueError, match="same key directory"):
        et.Authenticator(verifier, et.Minter.from_key_dir(other))
    with pytest.raises(ValueError, match="same_site"):
        et.Authenticator(verifier, same_site="sometimes")


def test_a_token_of_a_key_no_longer_active_is_renewed_with_the_new_one(
    key_dir: pathlib.Path, authenticator: et.Authenticator, minter: et.Minter,
    verifier: et.Verifier,
) -> None:
    token = minter.mint("alice", 600, audience="publish")
    etoken("key", "add", "--dir", str(key_dir))
    new = next(p.stem for p in key_dir.glob("*.key") if p.stem != minter.active_key_id)
    etoken("key", "promote", "--dir", str(key_dir), new)
    verifier.check_keys()
    auth = authenticator.authenticate(headers(token))
    assert auth.set_cookie is not None
    assert verifier.verify(cookie(auth.set_cookie)[0]).key_id == new
