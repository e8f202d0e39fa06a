"""Starlette and FastAPI: an `AuthenticationMiddleware` backend, a
middleware that adds the refreshed cookie, and a FastAPI dependency that
answers 401.

    app.add_middleware(EncapsulatedTokenMiddleware, verifier=verifier, minter=minter)

    @app.get("/whoami")
    def whoami(claims: Claims = Depends(require_claims)) -> str:
        return claims.subject

`request.user` is a `TokenUser` (`is_authenticated`, `username`,
`display_name`) or Starlette's `UnauthenticatedUser`; `request.auth` holds
the claims (`request.auth.claims`, and their fields: `request.auth.subject`).
"""

from __future__ import annotations

from typing import Any, Optional, Union

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
)
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _glue
from ._native import Authenticator, Claims, Minter, Verifier

#: Where the backend leaves the Set-Cookie value for the middleware.
SET_COOKIE_KEY = "encapsulated_token.set_cookie"

__all__ = [
    "ClaimsCredentials",
    "EncapsulatedTokenBackend",
    "EncapsulatedTokenMiddleware",
    "TokenUser",
    "require_claims",
]


class TokenUser(_glue.TokenUser, BaseUser):
    """The token's subject, as a Starlette user."""


class ClaimsCredentials(AuthCredentials):
    """`request.auth`: the scope `authenticated` and the token's claims,
    whose fields it also answers (`request.auth.subject`)."""

    def __init__(self, claims: Claims) -> None:
        super().__init__(["authenticated"])
        self.claims = claims

    def __getattr__(self, name: str) -> Any:
        return getattr(self.claims, name)


class EncapsulatedTokenBackend(AuthenticationBackend):
    """The `login-token` cookie or `Authorization: Bearer`, checked by the
    core. A refused token makes the request anonymous (its reason is
    logged); endpoints refuse it with `require_claims` or `requires`."""

    def __init__(
        self,
        verifier: Union[Verifier, Authenticator],
        minter: Optional[Minter] = None,
        **settings: Any,
    ) -> None:
        self.authenticator = _glue.authenticator_for(verifier, minter, **settings)

    async def authenticate(
        self, conn: HTTPConnection
    ) -> Optional[tuple[AuthCredentials, BaseUser]]:
        auth, set_cookie = _glue.authenticate(
            self.authenticator, conn.headers.items(), conn.url.path
        )
        if set_cookie is not None:
            conn.scope[SET_COOKIE_KEY] = set_cookie
        if auth is None:
            return None
        return ClaimsCredentials(auth.claims), TokenUser(auth.claims)


class EncapsulatedTokenMiddleware:
    """`AuthenticationMiddleware` with the backend above, and the refreshed
    (or cleared) cookie on the response, unless the application set that
    cookie itself."""

    def __init__(
        self,
        app: ASGIApp,
        /,
        verifier: Union[Verifier, Authenticator],
        minter: Optional[Minter] = None,
        **settings: Any,
    ) -> None:
        self.backend = EncapsulatedTokenBackend(verifier, minter, **settings)
        self.cookie_name = self.backend.authenticator.cookie_name
        self.app = AuthenticationMiddleware(app, backend=self.backend)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            value = scope.get(SET_COOKIE_KEY)
            if message["type"] == "http.response.start" and value is not None:
                headers = MutableHeaders(scope=message)
                if not _glue.sets_cookie(headers.getlist("set-cookie"), self.cookie_name):
                    headers.append("set-cookie", value)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def require_claims(conn: HTTPConnection) -> Claims:
    """A FastAPI dependency: the claims, or a 401 (`WWW-Authenticate:
    Bearer`) that never says why."""
    auth = conn.scope.get("auth")
    if isinstance(auth, ClaimsCredentials):
        return auth.claims
    raise HTTPException(status_code=401, headers={"WWW-Authenticate": "Bearer"})
