#!/usr/bin/env python3
"""The Python binding's verify against what Python services use today, in
one run on one machine: PyJWT HS256 decode (exp and aud checked),
itsdangerous URLSafeTimedSerializer.loads, the standard library's hmac +
compare_digest over the same signed bytes (no parsing at all), and the
pure-Python reference verifier of tests/interop.

Each candidate checks equivalent claims of a typical token (the claims of
tests/vectors/valid_typical.json). Times are the median of 7 timeit
repeats, in CPU time of this process. Usage: python bench.py [--check] (--check: exit 1 when the binding
is under 50x PyJWT or 20x itsdangerous)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
from importlib.metadata import version
import json
import pathlib
import platform
import statistics
import sys
import time
import timeit
from typing import Any, Callable

import itsdangerous
import jwt

import encapsulated_token as et

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = bytes(range(32))
KEY_ID = "0a1b2c3d"
AUDIENCE = "publish"
SUBJECT = "alice.smith@example.com"
ATTRIBUTES = {"role": "editor", "tenant": "acme"}
TARGETS = {"PyJWT HS256 decode": 50.0, "itsdangerous loads": 20.0}


def reference_verifier() -> Any:
    path = ROOT / "tests" / "interop" / "verify_vectors.py"
    spec = importlib.util.spec_from_file_location("verify_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ring_json() -> str:
    secret = base64.urlsafe_b64encode(SECRET).rstrip(b"=").decode()
    return json.dumps(
        {
            "format": "encapsulated-token-ring-json/1",
            "active": KEY_ID,
            "keys": [{"id": KEY_ID, "created": "2026-01-01T00:00:00Z", "secret": secret}],
        }
    )


def candidates() -> dict[str, Callable[[], object]]:
    now = int(time.time())
    token = et.Minter.from_ring_json(ring_json()).mint(
        SUBJECT, 24 * 3600, audience=AUDIENCE, attributes=ATTRIBUTES
    )
    verifier = et.Verifier.from_ring_json(ring_json(), audience=AUDIENCE, leeway=30)
    claims = verifier.verify(token)

    payload = {
        "sub": SUBJECT, "iat": now, "exp": now + 24 * 3600, "aud": AUDIENCE,
        "jti": claims.token_id, "sst": now, **ATTRIBUTES,
    }
    jwt_token = jwt.encode(payload, SECRET, algorithm="HS256", headers={"kid": KEY_ID})
    serializer = itsdangerous.URLSafeTimedSerializer(SECRET, salt="login-token")
    signed = serializer.dumps(payload)

    # The bytes the tag covers, and the tag: the floor of any HMAC check.
    body = base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4))
    covered, tag = b"et2." + body[:-32], body[-32:]

    reference = reference_verifier()
    keys = {KEY_ID: SECRET}
    token_bytes = token.encode()

    # Every candidate must accept its token before it is timed.
    assert jwt.decode(jwt_token, SECRET, algorithms=["HS256"], audience=AUDIENCE)["sub"] == SUBJECT
    assert serializer.loads(signed, max_age=24 * 3600)["sub"] == SUBJECT
    assert hmac.compare_digest(hmac.new(SECRET, covered, hashlib.sha256).digest(), tag)
    assert reference.verify(token_bytes, keys, AUDIENCE, 30, 1024, now)[1]["subject"] == SUBJECT

    return {
        "encapsulated_token (this binding)": lambda: verifier.verify(token),
        "hmac + compare_digest (no parsing)": lambda: hmac.compare_digest(
            hmac.new(SECRET, covered, hashlib.sha256).digest(), tag
        ),
        "itsdangerous loads": lambda: serializer.loads(signed, max_age=24 * 3600),
        "PyJWT HS256 decode": lambda: jwt.decode(
            jwt_token, SECRET, algorithms=["HS256"], audience=AUDIENCE
        ),
        "pure-Python reference verifier": lambda: reference.verify(
            token_bytes, keys, AUDIENCE, 30, 1024, int(time.time())
        ),
    }


def median_seconds(function: Callable[[], object]) -> float:
    # CPU time of this process, not the wall clock: on a shared machine a
    # wall-clock timer also counts the time other processes held the CPU.
    timer = timeit.Timer(function, timer=time.process_time)
    number, _ = timer.autorange()
    number = max(number, 1) * 2
    return statistics.median(t / number for t in timer.repeat(repeat=7, number=number))


def main(argv: list[str]) -> int:
    results = {name: median_seconds(f) for name, f in candidates().items()}
    ours = results["encapsulated_token (this binding)"]
    print(f"Python {platform.python_version()}, {platform.machine()}, "
          f"PyJWT {version('PyJWT')}, itsdangerous {version('itsdangerous')}")
    print()
    print("| candidate | median per call | binding is faster by |")
    print("|---|---:|---:|")
    for name, seconds in results.items():
        speedup = "1x" if seconds is ours else f"{seconds / ours:.1f}x"
        print(f"| {name} | {seconds * 1e9:,.0f} ns | {speedup} |")
    missed = [
        f"{name}: {results[name] / ours:.1f}x, target {target:.0f}x"
        for name, target in TARGETS.items()
        if results[name] / ours < target
    ]
    print()
    print("targets met" if not missed else "targets MISSED: " + "; ".join(missed))
    return 1 if missed and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
