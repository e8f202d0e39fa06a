"""A FastAPI service behind the farm: `ETOKEN_KEYS=DIR uvicorn fastapi_app:app`.
GET /whoami answers the subject, or 401; cookies are refreshed."""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI

from encapsulated_token import Authenticator, Claims, Minter, Verifier
from encapsulated_token.starlette import EncapsulatedTokenMiddleware, require_claims

KEYS = os.environ.get("ETOKEN_KEYS", "/etc/etoken/keys")
authenticator = Authenticator(
    Verifier.from_key_dir(KEYS, audience="publish"), Minter.from_key_dir(KEYS), lifetime=8 * 3600
)

app = FastAPI()
app.add_middleware(EncapsulatedTokenMiddleware, verifier=authenticator)


@app.get("/whoami")
def whoami(claims: Claims = Depends(require_claims)) -> str:
    return claims.subject


@app.post("/login")
def login(user: str) -> dict[str, str]:
    # After your own password check: the cookie every instance accepts.
    return {"set_cookie": authenticator.login_cookie(user, {"role": "reader"})}
