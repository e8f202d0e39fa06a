"""Flask: `init_app` authenticates every request; `g.etoken_claims` and
`g.user` hold the outcome, `login_required` answers 401.

    verifier = Verifier.from_key_dir("/etc/etoken/keys")
    init_app(app, verifier, Minter.from_key_dir("/etc/etoken/keys"))

    @app.get("/whoami")
    @login_required
    def whoami() -> str:
        return g.user.username
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar, Union, cast

from flask import Flask, Response, g, request

from . import _glue
from ._native import Authenticator, Minter, Verifier

__all__ = ["init_app", "login_required", "TokenUser", "AnonymousUser"]

TokenUser = _glue.TokenUser
AnonymousUser = _glue.AnonymousUser

F = TypeVar("F", bound=Callable[..., Any])


def init_app(
    app: Flask,
    verifier: Union[Verifier, Authenticator],
    minter: Optional[Minter] = None,
    **settings: Any,
) -> Authenticator:
    """Authenticates every request of `app`; with `minter` (or an
    `Authenticator` holding one), refreshes cookies past their share of
    life. Returns the `Authenticator` (for `login_cookie`, `logout_cookie`)."""
    authenticator = _glue.authenticator_for(verifier, minter, **settings)
    app.extensions["encapsulated_token"] = authenticator

    @app.before_request
    def authenticate() -> None:
        auth, set_cookie = _glue.authenticate(
            authenticator, request.headers.items(), request.path
        )
        g.etoken_claims = auth.claims if auth is not None else None
        g.user = TokenUser(auth.claims) if auth is not None else AnonymousUser()
        g.etoken_set_cookie = set_cookie

    @app.after_request
    def refresh(response: Response) -> Response:
        value = g.pop("etoken_set_cookie", None)
        if value is not None and not _glue.sets_cookie(
            response.headers.getlist("Set-Cookie"), authenticator.cookie_name
        ):
            response.headers.add("Set-Cookie", value)
        return response

    return authenticator


def login_required(view: F) -> F:
    """A view decorator: 401 (`WWW-Authenticate: Bearer`) unless the
    request carried a valid token."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("etoken_claims") is None:
            return Response(
                status=401, headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"}
            )
        return view(*args, **kwargs)

    return cast(F, wrapped)
