"""The requests every framework test sends: a cookie, a bearer token, none,
an expired one, a tampered one, and one due for refresh."""

from __future__ import annotations

import time
from dataclasses import dataclass

import encapsulated_token as et


@dataclass
class Tokens:
    fresh: str
    expired: str
    tampered: str
    due: str  # past half its life: refreshed when sent as the cookie
    login: int  # the session start of `due`


def tokens(minter: et.Minter, audience: str | None = "publish") -> Tokens:
    now = int(time.time())
    fresh = minter.mint("alice", 600, audience=audience, attributes={"name": "Alice A."})
    # One character of the tag changed: the tag no longer matches.
    last = "A" if fresh[-2] != "A" else "B"
    return Tokens(
        fresh=fresh,
        expired=minter.mint("alice", 60, audience=audience, issued_at=now - 120),
        tampered=fresh[:-2] + last + fresh[-1],
        due=minter.mint(
            "alice", 600, audience=audience, issued_at=now - 400, session_started_at=now - 900
        ),
        login=now - 900,
    )


def refreshed_token(set_cookies: list[str]) -> str:
    """The token of the one login-token Set-Cookie value."""
    (value,) = [v for v in set_cookies if v.startswith("login-token=")]
    return value.split(";", 1)[0].split("=", 1)[1]


#: The refused requests: no token, an expired cookie, a tampered cookie, a
#: tampered bearer token.
REFUSED = ["missing", "expired", "tampered", "bearer-tampered"]


def refused_headers(sent: Tokens, which: str) -> dict[str, str]:
    """The headers of one of the REFUSED requests."""
    return {
        "missing": {},
        "expired": {"Cookie": f"login-token={sent.expired}"},
        "tampered": {"Cookie": f"login-token={sent.tampered}"},
        "bearer-tampered": {"Authorization": f"Bearer {sent.tampered}"},
    }[which]
