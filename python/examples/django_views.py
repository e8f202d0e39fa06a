"""Django: in settings.py

    MIDDLEWARE = [..., "encapsulated_token.django.EncapsulatedTokenMiddleware"]
    ETOKEN_KEY_DIR = "/etc/etoken/keys"
    ETOKEN_AUDIENCE = "publish"

and a view that needs a token:"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from encapsulated_token.django import token_required


@token_required
def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.get_username())
