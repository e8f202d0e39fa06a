"""Django: a middleware that sets `request.user` and `request.etoken_claims`.

    MIDDLEWARE = [..., "encapsulated_token.django.EncapsulatedTokenMiddleware"]
    ETOKEN_KEY_DIR = "/etc/etoken/keys"
    ETOKEN_AUDIENCE = "publish"          # optional

Optional settings: `ETOKEN_LEEWAY` (seconds, 0), `ETOKEN_REFRESH` (True:
a `Minter` of the same directory renews cookies past half their life),
`ETOKEN_COOKIE_NAME`, `ETOKEN_COOKIE_SECURE` (True), `ETOKEN_LIFETIME`
(seconds, 12 h), `ETOKEN_MAX_SESSION` (seconds, 7 days),
`ETOKEN_NO_REFRESH_PATHS`, and `ETOKEN_DJANGO_USERS` (False): when True,
`request.user` is the Django user named by the token's subject, and a
subject with no such user is refused like a bad token.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from . import _glue
from ._native import Authenticator, Claims, Minter, Verifier

__all__ = ["EncapsulatedTokenMiddleware", "TokenUser", "AnonymousUser", "token_required"]

TokenUser = _glue.TokenUser
AnonymousUser = _glue.AnonymousUser

View = TypeVar("View", bound=Callable[..., HttpResponse])


def authenticator_from_settings() -> Authenticator:
    """The `Authenticator` the settings describe."""
    key_dir = getattr(settings, "ETOKEN_KEY_DIR", None)
    if not key_dir:
        raise ImproperlyConfigured("ETOKEN_KEY_DIR: set it to the key directory")
    verifier = Verifier.from_key_dir(
        key_dir,
        audience=getattr(settings, "ETOKEN_AUDIENCE", None),
        leeway=float(getattr(settings, "ETOKEN_LEEWAY", 0.0)),
    )
    minter = Minter.from_key_dir(key_dir) if getattr(settings, "ETOKEN_REFRESH", True) else None
    return Authenticator(
        verifier,
        minter,
        cookie_name=getattr(settings, "ETOKEN_COOKIE_NAME", "login-token"),
        secure=bool(getattr(settings, "ETOKEN_COOKIE_SECURE", True)),
        lifetime=float(getattr(settings, "ETOKEN_LIFETIME", 12 * 3600)),
        max_session=float(getattr(settings, "ETOKEN_MAX_SESSION", 7 * 24 * 3600)),
        no_refresh_paths=list(getattr(settings, "ETOKEN_NO_REFRESH_PATHS", ())),
    )


class EncapsulatedTokenMiddleware:
    """Authenticates every request from the cookie or a bearer token. A
    refused request goes on as anonymous (`request.etoken_claims` is None);
    views that need a user use `token_required`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.authenticator = authenticator_from_settings()
        self.django_users = bool(getattr(settings, "ETOKEN_DJANGO_USERS", False))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        auth, set_cookie = _glue.authenticate(
            self.authenticator, request.headers.items(), request.path
        )
        claims = auth.claims if auth is not None else None
        user = self.user_for(claims)
        if user is None:
            claims, set_cookie = None, None
        setattr(request, "etoken_claims", claims)
        request.user = user if user is not None else self.anonymous()
        response = self.get_response(request)
        if set_cookie is not None and self.authenticator.cookie_name not in response.cookies:
            cookie = _glue.morsel(set_cookie)
            if cookie is not None:
                response.cookies.update(cookie)
        return response

    def user_for(self, claims: Optional[Claims]) -> Optional[Any]:
        """The user of `claims`, or None when there is none to give."""
        if claims is None:
            return None
        if not self.django_users:
            return TokenUser(claims)
        from django.contrib.auth import get_user_model

        model = get_user_model()
        try:
            field = getattr(model, "USERNAME_FIELD", "username")
            user = model._default_manager.get(**{field: claims.subject})
        except model.DoesNotExist:
            _glue.log.info("authentication refused (unknown_user): %r", claims.subject[:64])
            return None
        if not getattr(user, "is_active", True):
            _glue.log.info("authentication refused (inactive_user): %r", claims.subject[:64])
            return None
        return user

    def anonymous(self) -> Any:
        if self.django_users:
            from django.contrib.auth.models import AnonymousUser as DjangoAnonymous

            return DjangoAnonymous()
        return AnonymousUser()


def token_required(view: View) -> View:
    """A view decorator: 401 (`WWW-Authenticate: Bearer`) unless the
    request carried a valid token."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "etoken_claims", None) is None:
            response = HttpResponse(status=401)
            response["WWW-Authenticate"] = "Bearer"
            response["Cache-Control"] = "no-store"
            return response
        return view(request, *args, **kwargs)

    return cast(View, wrapped)
