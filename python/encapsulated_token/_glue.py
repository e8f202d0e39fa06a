"""What the framework modules share: the user objects, the headers the core
reads, and the one response rule the glue applies itself (a response that
sets the cookie already is not given a refreshed one, as in the tower layer).
No framework is imported here."""

from __future__ import annotations

import logging
from http.cookies import CookieError, SimpleCookie
from typing import Any, Iterable, Optional, Tuple, Union

from ._native import AuthError, Authentication, Authenticator, Claims, Minter, Verifier

log = logging.getLogger("encapsulated_token")

#: The request headers the core reads (lower case).
READ_HEADERS = frozenset({"cookie", "authorization", "x-token-refresh"})


class TokenUser:
    """The user of an authenticated request: the token's subject."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, claims: Claims) -> None:
        self.claims = claims
        self.username = claims.subject

    @property
    def display_name(self) -> str:
        """The `name` attribute when the token carries one, else the subject."""
        return self.claims.attributes.get("name", self.username)

    @property
    def identity(self) -> str:
        return self.username

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"TokenUser({self.username!r})"


class AnonymousUser:
    """No valid token: not authenticated."""

    is_authenticated = False
    is_anonymous = True
    username = ""
    display_name = ""
    identity = ""
    claims: Optional[Claims] = None

    def get_username(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "AnonymousUser()"


def authenticator_for(
    verifier: Union[Verifier, Authenticator],
    minter: Optional[Minter] = None,
    **settings: Any,
) -> Authenticator:
    """An `Authenticator` as given, or one over `verifier` (refreshing when
    `minter` is given) with `settings` (`cookie_name`, `lifetime`, ...)."""
    if isinstance(verifier, Authenticator):
        if minter is not None or settings:
            raise TypeError("give the minter and settings to the Authenticator itself")
        return verifier
    return Authenticator(verifier, minter, **settings)


def read_headers(pairs: Iterable[Tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs the core reads, in order."""
    return [(name, value) for name, value in pairs if name.lower() in READ_HEADERS]


def authenticate(
    authenticator: Authenticator, pairs: Iterable[Tuple[str, str]], path: str
) -> tuple[Optional[Authentication], Optional[str]]:
    """The authentication (None when refused) and the Set-Cookie value to
    send: a refreshed token, or the clearing of ambiguous cookies. The
    reason of a refusal is logged, never answered."""
    try:
        auth = authenticator.authenticate(read_headers(pairs), path)
    except AuthError as e:
        if e.reason == "missing":
            log.debug("not authenticated: %s", e)
        else:
            log.info("authentication refused (%s): %s", e.reason, e)
        return None, getattr(e, "clear_cookie", None)
    return auth, auth.set_cookie


def cookie_name_of(set_cookie: str) -> Optional[str]:
    """The name a Set-Cookie value sets, or None when it does not parse."""
    name, equals, _ = set_cookie.partition("=")
    return name.strip() if equals else None


def sets_cookie(set_cookies: Iterable[str], name: str) -> bool:
    """Whether one of these Set-Cookie values sets `name` (a login or logout
    answered by the application itself: no refresh then)."""
    return any(cookie_name_of(value) == name for value in set_cookies)


def morsel(set_cookie: str) -> Optional["SimpleCookie"]:
    """A Set-Cookie value as a `SimpleCookie`, for frameworks that keep
    cookies as morsels (Django), attributes unchanged."""
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(set_cookie)
    except CookieError:
        return None
    return cookie if len(cookie) == 1 else None
