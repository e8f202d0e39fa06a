"""encapsulated-token for Python: the Rust core's verifier, minter and key
directory, called in process.

>>> from encapsulated_token import Verifier, Expired
>>> verifier = Verifier.from_key_dir("/etc/etoken/keys", audience="publish")
>>> claims = verifier.verify(token)          # raises a TokenError subclass

Framework glue: ``encapsulated_token.starlette`` (FastAPI too),
``encapsulated_token.django``, ``encapsulated_token.flask``; each imports
only its own framework.
"""

from ._native import (
    DEFAULT_COOKIE_NAME,
    MAX_TOKEN_LEN,
    AuthError,
    Authentication,
    Authenticator,
    BadTag,
    Claims,
    Expired,
    KeyDirError,
    Malformed,
    Minter,
    NotYetValid,
    TokenError,
    TooLong,
    UnknownKeyId,
    UnsupportedVersion,
    Verifier,
    WrongAudience,
)

__all__ = [
    "DEFAULT_COOKIE_NAME",
    "MAX_TOKEN_LEN",
    "AuthError",
    "Authentication",
    "Authenticator",
    "BadTag",
    "Claims",
    "Expired",
    "KeyDirError",
    "Malformed",
    "Minter",
    "NotYetValid",
    "TokenError",
    "TooLong",
    "UnknownKeyId",
    "UnsupportedVersion",
    "Verifier",
    "WrongAudience",
]
