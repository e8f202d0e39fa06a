"""Verify a token from the command line with a key directory:
python examples/verify.py KEY_DIR TOKEN [AUDIENCE]"""

from __future__ import annotations

import sys

from encapsulated_token import Expired, TokenError, Verifier


def main(argv: list[str]) -> int:
    key_dir, token, *audience = argv
    verifier = Verifier.from_key_dir(key_dir, audience=audience[0] if audience else None)
    try:
        claims = verifier.verify(token)
    except Expired as e:
        print(f"expired: {e}", file=sys.stderr)
        return 2
    except TokenError as e:
        print(f"refused ({e.reason}): {e}", file=sys.stderr)
        return 1
    print(claims.subject, claims.expires_at, claims.attributes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
