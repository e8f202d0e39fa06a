#!/usr/bin/env python3
"""Seeds the fuzz corpora from tests/vectors/*.json (standard library only).

Each vector's "token" becomes a seed of every target, in the input form that
target reads (see fuzz/README.md):
  verify     the token text
  decode     the token body (base64url-decoded: key id, payload, tag)
  roundtrip  a zero flag byte, then the payload (the roundtrip layout)
  key_dir    key files and ring.json for the vectors' keys
  base64_simd  a buffer-size byte (0: ample room), then the token's base64url

Seeds are named by their SHA-1, as libFuzzer names corpus files, so running
this again adds nothing twice. Usage: fuzz/seed.py [corpus-dir]
"""

import base64
import hashlib
import json
import pathlib
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
VECTORS = FUZZ.parent / "tests" / "vectors"


def add(corpus: pathlib.Path, target: str, data: bytes, counts: dict) -> None:
    directory = corpus / target
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / hashlib.sha1(data).hexdigest()
    if not path.exists():
        path.write_bytes(data)
        counts[target] = counts.get(target, 0) + 1


def body_of(token: str):
    """The body of a token, leniently (padding and stray bits tolerated)."""
    if not token.startswith("et2."):
        return None
    text = token[4:]
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None


def key_file(key: dict, created: str = "1970-01-01T00:00:00Z") -> bytes:
    secret = base64.urlsafe_b64encode(bytes.fromhex(key["secret_hex"])).rstrip(b"=")
    return (
        '{"format":"encapsulated-token-key/1","id":"%s","created":"%s","secret":"%s"}\n'
        % (key["id"], created, secret.decode())
    ).encode()


def main() -> int:
    corpus = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else FUZZ / "corpus"
    counts: dict = {}
    vectors = sorted(VECTORS.glob("*.json"))
    keys = {}
    for path in vectors:
        vector = json.loads(path.read_text())
        token = vector["token"]
        add(corpus, "verify", token.encode(), counts)
        add(corpus, "base64_simd", b"\x00" + token.removeprefix("et1.").encode(), counts)
        body = body_of(token)
        if body is not None and len(body) >= 36:
            add(corpus, "decode", body, counts)
            add(corpus, "roundtrip", b"\x00" + body[4:-32], counts)
        for key in vector.get("keys", []):
            keys[key["id"]] = key
    for key in keys.values():
        add(corpus, "key_dir", key_file(key), counts)
        add(corpus, "key_dir", key_file(key, "2026-05-17T10:20:30+02:00"), counts)
        ring = '{"format":"encapsulated-token-ring/1","active":"%s"}\n' % key["id"]
        add(corpus, "key_dir", ring.encode(), counts)
    added = ", ".join(f"{t} +{n}" for t, n in sorted(counts.items())) or "nothing new"
    print(f"seeded from {len(vectors)} vectors in {VECTORS}: {added}")
    return 0 if vectors else 1


if __name__ == "__main__":
    sys.exit(main())
