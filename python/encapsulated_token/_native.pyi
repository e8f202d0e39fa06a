"""Type stubs of the native extension (the Rust core)."""

from os import PathLike
from typing import Optional, Sequence, Union

DEFAULT_COOKIE_NAME: str
MAX_TOKEN_LEN: int

class AuthError(Exception):
    """A request was not authenticated; ``reason`` says why."""

    reason: Optional[str]
    #: With reason ``ambiguous_cookies``: the Set-Cookie value that clears the cookie.
    clear_cookie: str

class TokenError(AuthError):
    """A token was refused; ``reason`` is the core's reason string."""

    reason: str
    #: With reason ``malformed``: the character the token goes wrong at.
    position: Optional[int]

class TooLong(TokenError): ...

class Malformed(TokenError): ...

class UnsupportedVersion(TokenError): ...

class UnknownKeyId(TokenError): ...

class BadTag(TokenError): ...

class Expired(TokenError): ...

class NotYetValid(TokenError): ...

class WrongAudience(TokenError): ...

class KeyDirError(ValueError):
    """A key directory or ring document could not be loaded."""

class Claims:
    """The claims of a verified token. Times are Unix seconds."""

    @property
    def subject(self) -> str: ...
    @property
    def issued_at(self) -> int: ...
    @property
    def expires_at(self) -> int: ...
    @property
    def session_started_at(self) -> int: ...
    @property
    def token_id(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def audience(self) -> Optional[str]: ...
    @property
    def attributes(self) -> dict[str, str]: ...
    def to_dict(self) -> dict[str, object]: ...

class Verifier:
    @staticmethod
    def from_key_dir(
        path: Union[str, PathLike[str]],
        *,
        audience: Optional[str] = None,
        leeway: float = 0.0,
        max_length: Optional[int] = None,
    ) -> Verifier: ...
    @staticmethod
    def from_ring_json(
        text: Union[str, bytes],
        *,
        audience: Optional[str] = None,
        leeway: float = 0.0,
        max_length: Optional[int] = None,
    ) -> Verifier: ...
    def verify(self, token: str, now: Optional[float] = None) -> Claims: ...
    def check_keys(self) -> None: ...
    @property
    def audience(self) -> Optional[str]: ...
    @property
    def leeway(self) -> float: ...
    @property
    def key_dir(self) -> Optional[str]: ...
    @property
    def key_ids(self) -> list[str]: ...
    @property
    def reload_error(self) -> Optional[str]: ...

class Minter:
    @staticmethod
    def from_key_dir(path: Union[str, PathLike[str]]) -> Minter: ...
    @staticmethod
    def from_ring_json(text: Union[str, bytes]) -> Minter: ...
    def mint(
        self,
        subject: str,
        ttl_seconds: int,
        *,
        audience: Optional[str] = None,
        attributes: Optional[dict[str, str]] = None,
        issued_at: Optional[float] = None,
        session_started_at: Optional[float] = None,
    ) -> str: ...
    def check_keys(self) -> None: ...
    @property
    def key_dir(self) -> Optional[str]: ...
    @property
    def active_key_id(self) -> str: ...
    @property
    def key_ids(self) -> list[str]: ...
    @property
    def reload_error(self) -> Optional[str]: ...

class Authentication:
    @property
    def claims(self) -> Claims: ...
    @property
    def source(self) -> str: ...
    @property
    def set_cookie(self) -> Optional[str]: ...

class Authenticator:
    def __init__(
        self,
        verifier: Verifier,
        minter: Optional[Minter] = None,
        *,
        cookie_name: str = "login-token",
        lifetime: float = 43200.0,
        refresh_after: Optional[float] = 0.5,
        max_session: float = 604800.0,
        no_refresh_paths: Sequence[str] = (),
        secure: bool = True,
        same_site: str = "lax",
    ) -> None: ...
    def authenticate(
        self, headers: Sequence[tuple[str, str]], path: str = "/"
    ) -> Authentication: ...
    def login_cookie(
        self, subject: str, attributes: Optional[dict[str, str]] = None
    ) -> str: ...
    def logout_cookie(self) -> str: ...
    @property
    def cookie_name(self) -> str: ...
    @property
    def refreshes(self) -> bool: ...
    @property
    def verifier(self) -> Verifier: ...
