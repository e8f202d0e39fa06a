"""A Flask service behind the farm: `ETOKEN_KEYS=DIR flask --app flask_app run`."""

from __future__ import annotations

import os

from flask import Flask, g

from encapsulated_token import Minter, Verifier
from encapsulated_token.flask import init_app, login_required

KEYS = os.environ.get("ETOKEN_KEYS", "/etc/etoken/keys")
app = Flask(__name__)
init_app(app, Verifier.from_key_dir(KEYS), Minter.from_key_dir(KEYS))


@app.get("/whoami")
@login_required
def whoami() -> str:
    subject: str = g.etoken_claims.subject
    return subject
