"""Every vector in tests/vectors through the binding, with the outcome
tests/vectors.rs expects of the Rust verifier: the claims of a valid token,
or the reason, its subclass and, for `malformed`, the position."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import encapsulated_token as et
from conftest import VECTORS, load, ring_json, vectors

SUBCLASS = {
    "too_long": et.TooLong,
    "malformed": et.Malformed,
    "unsupported_version": et.UnsupportedVersion,
    "unknown_key_id": et.UnknownKeyId,
    "bad_tag": et.BadTag,
    "expired": et.Expired,
    "not_yet_valid": et.NotYetValid,
    "wrong_audience": et.WrongAudience,
}


def outcome(vector: dict[str, Any]) -> dict[str, Any]:
    verifier = et.Verifier.from_ring_json(
        ring_json(vector["keys"]),
        audience=vector["audience"],
        leeway=vector["leeway_seconds"],
        max_length=vector["max_length"],
    )
    try:
        claims = verifier.verify(vector["token"], now=vector["now"])
    except et.TokenError as e:
        assert type(e) is SUBCLASS[e.reason], f"{e.reason} raised as {type(e).__name__}"
        assert str(e), "the Rust error text is the message"
        return {"error": {"kind": e.reason, "position": e.position}}
    fields = claims.to_dict()
    key_id = fields.pop("key_id")
    assert key_id == claims.key_id
    return {"valid": {"key_id": key_id, "claims": fields}}


def test_the_vectors_are_there_every_reason_among_them() -> None:
    paths = vectors()
    assert len(paths) >= 29
    kinds = {
        "valid" if "valid" in v["expect"] else v["expect"]["error"]["kind"]
        for v in map(load, paths)
    }
    assert kinds == {"valid", *SUBCLASS}


@pytest.mark.parametrize("path", vectors(), ids=lambda p: p.stem)
def test_vector(path: pathlib.Path) -> None:
    vector = load(path)
    assert outcome(vector) == vector["expect"]


def test_a_valid_vector_checked_as_bytes_of_the_ring_document() -> None:
    vector = load(VECTORS / "valid_typical.json")
    verifier = et.Verifier.from_ring_json(
        ring_json(vector["keys"]).encode(), audience="publish", leeway=30
    )
    claims = verifier.verify(vector["token"], now=vector["now"])
    assert claims.subject == "alice.smith@example.com"
    assert claims.attributes == {"role": "editor", "tenant": "acme"}
    assert claims.session_started_at < claims.issued_at < claims.expires_at
