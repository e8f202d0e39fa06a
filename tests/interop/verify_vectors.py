#!/usr/bin/env python3
"""A second verifier for the et2 token format, written from docs/FORMAT.md
alone with the Python standard library, run against every test vector.

Exits 0 when it agrees with every vector in tests/vectors/, 1 otherwise.
Usage: python3 tests/interop/verify_vectors.py [VECTOR_DIR]
"""

import base64
import hashlib
import hmac
import json
import pathlib
import re
import sys

PREFIX = b"et2."
MAX_TOKEN_LEN = 1024
MIN_BODY_LEN = 80
MAX_TIME = 253402300799
ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
NAME_BYTES = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


class Refused(Exception):
    def __init__(self, kind, position=None):
        super().__init__(kind, position)
        self.kind = kind
        self.position = position


class PayloadError(Exception):
    def __init__(self, offset):
        super().__init__(offset)
        self.offset = offset


def decode_base64url(token):
    """Step 3: canonical base64url without padding."""
    encoded = token[len(PREFIX):]
    for i, c in enumerate(encoded):
        if c not in ALPHABET:
            raise Refused("malformed", len(PREFIX) + i)
    if len(encoded) % 4 == 1:
        raise Refused("malformed", len(token))
    if encoded:
        unused_bits = {0: 0, 2: 4, 3: 2}[len(encoded) % 4]
        last = ALPHABET.index(encoded[-1])
        if last & ((1 << unused_bits) - 1):
            raise Refused("malformed", len(token) - 1)
    padded = encoded + b"=" * (-len(encoded) % 4)
    return base64.urlsafe_b64decode(padded)


def check_text(field, start, bound):
    if len(field) > bound:
        raise PayloadError(start + bound)
    try:
        field.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PayloadError(start + e.start)
    for i, b in enumerate(field):
        if b < 0x20 or b == 0x7F:
            raise PayloadError(start + i)


def check_name(field, start):
    if not field:
        raise PayloadError(start)
    if len(field) > 32:
        raise PayloadError(start + 32)
    for i, b in enumerate(field):
        if b not in NAME_BYTES:
            raise PayloadError(start + i)


def parse_payload(p):
    """Step 6: every rule of section 2, in order."""
    at = 0

    def take(n):
        nonlocal at
        if at + n > len(p):
            raise PayloadError(len(p))
        start, at = at, at + n
        return start, p[start:at]

    def prefixed():
        _, (n,) = take(1)
        return take(n)

    _, raw = take(8)
    iat = int.from_bytes(raw, "big")
    if iat > MAX_TIME:
        raise PayloadError(0)
    _, raw = take(8)
    exp = int.from_bytes(raw, "big")
    if exp > MAX_TIME or exp <= iat:
        raise PayloadError(8)
    _, raw = take(8)
    session = int.from_bytes(raw, "big")
    if session > iat:
        raise PayloadError(16)
    _, token_id = take(16)

    start, subject = prefixed()
    if not subject:
        raise PayloadError(start)
    check_text(subject, start, 255)

    start, audience = prefixed()
    if audience:
        check_text(audience, start, 64)

    count_at, (count,) = take(1)
    if count > 8:
        raise PayloadError(count_at)
    attributes = {}
    previous = None
    for _ in range(count):
        record_at = at
        start, name = prefixed()
        check_name(name, start)
        if previous is not None and previous >= name:
            raise PayloadError(record_at)
        start, value = prefixed()
        check_text(value, start, 128)
        attributes[name.decode()] = value.decode()
        previous = name
    if at != len(p):
        raise PayloadError(at)

    return {
        "subject": subject.decode(),
        "issued_at": iat,
        "expires_at": exp,
        "session_started_at": session,
        "token_id": token_id.hex(),
        "audience": audience.decode() or None,
        "attributes": attributes,
    }


def verify(token, keys, audience, leeway, max_length, now):
    """Section 4, steps 1 to 8. Returns (key_id, claims) or raises Refused."""
    # 1. Length.
    if len(token) > max_length:
        raise Refused("too_long")
    # 2. Version.
    if not token.startswith(PREFIX):
        if re.fullmatch(rb"et[0-9]{1,8}\..*", token, re.DOTALL):
            raise Refused("unsupported_version")
        for i, (a, b) in enumerate(zip(token, PREFIX)):
            if a != b:
                raise Refused("malformed", i)
        raise Refused("malformed", len(token))
    # 3. Encoding.
    body = decode_base64url(token)
    if len(body) < MIN_BODY_LEN:
        raise Refused("malformed", len(token))
    # 4. Key id.
    key_id = body[:4].hex()
    if key_id not in keys:
        raise Refused("unknown_key_id")
    # 5. Tag, in constant time, before the payload is read.
    payload, tag = body[4:-32], body[-32:]
    expected = hmac.new(keys[key_id], PREFIX + body[:-32], hashlib.sha256).digest()
    if not hmac.compare_digest(expected, tag):
        raise Refused("bad_tag")
    # 6. Payload.
    try:
        claims = parse_payload(payload)
    except PayloadError as e:
        raise Refused("malformed", len(PREFIX) + (4 * (4 + e.offset)) // 3)
    # 7. Times.
    if now + leeway < claims["issued_at"]:
        raise Refused("not_yet_valid")
    if now >= claims["expires_at"] + leeway:
        raise Refused("expired")
    # 8. Audience.
    if claims["audience"] != audience:
        raise Refused("wrong_audience")
    return key_id, claims


def run(vector):
    keys = {k["id"]: bytes.fromhex(k["secret_hex"]) for k in vector["keys"]}
    token = vector["token"].encode("utf-8")
    try:
        key_id, claims = verify(
            token,
            keys,
            vector["audience"],
            vector["leeway_seconds"],
            vector["max_length"],
            vector["now"],
        )
        return {"valid": {"key_id": key_id, "claims": claims}}
    except Refused as r:
        return {"error": {"kind": r.kind, "position": r.position}}


def main():
    root = pathlib.Path(__file__).resolve().parents[1] / "vectors"
    directory = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root
    paths = sorted(directory.glob("*.json"))
    if not paths:
        print(f"no vectors in {directory}", file=sys.stderr)
        return 1
    failed = 0
    for path in paths:
        vector = json.loads(path.read_text(encoding="utf-8"))
        got = run(vector)
        if got != vector["expect"]:
            failed += 1
            print(f"FAIL {path.name}: expected {vector['expect']}, got {got}")
    print(f"interop: {len(paths) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
