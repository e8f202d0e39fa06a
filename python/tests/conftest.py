"""Shared fixtures: the repository's test vectors, the `etoken` binary
(built by scripts/test; ETOKEN_BIN overrides), and key directories made by
`etoken key init`."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
from typing import Any, Iterator

import pytest

from encapsulated_token import Authenticator, Minter, Verifier

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"


def etoken_path() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("ETOKEN_BIN", ROOT / "target" / "debug" / "etoken"))
    assert path.is_file(), f"{path} is missing: build it with `cargo build -p etoken`"
    return path


def etoken(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs `etoken ARGS`, its output as text."""
    done = subprocess.run(
        [str(etoken_path()), *args], capture_output=True, text=True, timeout=60
    )
    if check:
        assert done.returncode == 0, f"etoken {' '.join(args)}: {done.stderr}"
    return done


def ring_json(keys: list[dict[str, Any]]) -> str:
    """A vector's keys as the ring document of docs/FORMAT.md."""
    return json.dumps(
        {
            "format": "encapsulated-token-ring-json/1",
            "active": next(k["id"] for k in keys if k["active"]),
            "keys": [
                {
                    "id": k["id"],
                    "created": "1970-01-01T00:00:00Z",
                    "secret": base64.urlsafe_b64encode(bytes.fromhex(k["secret_hex"]))
                    .rstrip(b"=")
                    .decode(),
                }
                for k in keys
            ],
        }
    )


def vectors() -> list[pathlib.Path]:
    return sorted(VECTORS.glob("*.json"))


def load(path: pathlib.Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture
def key_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A key directory of one active key, made by `etoken key init`."""
    path = tmp_path / "keys"
    etoken("key", "init", "--dir", str(path))
    return path


@pytest.fixture
def verifier(key_dir: pathlib.Path) -> Verifier:
    return Verifier.from_key_dir(key_dir, audience="publish")


@pytest.fixture
def minter(key_dir: pathlib.Path) -> Minter:
    return Minter.from_key_dir(key_dir)


@pytest.fixture
def authenticator(verifier: Verifier, minter: Minter) -> Iterator[Authenticator]:
    """Cookies of 600 s, renewed past half their life, sessions of an hour,
    `Secure` off (the test clients speak plain http)."""
    yield Authenticator(
        verifier, minter, lifetime=600, max_session=3600, secure=False
    )
