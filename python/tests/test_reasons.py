"""Each reason the core gives, raised by the binding as its subclass of
TokenError (itself an AuthError), with `.reason` the core's string."""

from __future__ import annotations

import time

import pytest

import encapsulated_token as et
from conftest import ring_json

KEY = {"id": "0a1b2c3d", "secret_hex": "00" * 32, "active": True}
OTHER = {"id": "5e6f7081", "secret_hex": "11" * 32, "active": True}


def test_every_subclass_is_a_token_error_with_its_reason() -> None:
    expected = {
        et.TooLong: "too_long",
        et.Malformed: "malformed",
        et.UnsupportedVersion: "unsupported_version",
        et.UnknownKeyId: "unknown_key_id",
        et.BadTag: "bad_tag",
        et.Expired: "expired",
        et.NotYetValid: "not_yet_valid",
        et.WrongAudience: "wrong_audience",
    }
    for cls, reason in expected.items():
        assert issubclass(cls, et.TokenError) and issubclass(cls, et.AuthError)
        assert cls.reason == reason
        assert cls.__module__ == "encapsulated_token"
    assert issubclass(et.TokenError, Exception)


@pytest.fixture
def minted() -> tuple[et.Verifier, str]:
    minter = et.Minter.from_ring_json(ring_json([KEY]))
    verifier = et.Verifier.from_ring_json(ring_json([KEY]), audience="publish")
    return verifier, minter.mint("alice", 600, audience="publish")


def raised(verifier: et.Verifier, token: str, now: float | None = None) -> et.TokenError:
    with pytest.raises(et.TokenError) as info:
        verifier.verify(token, now)
    return info.value


def test_each_reason_with_its_subclass(minted: tuple[et.Verifier, str]) -> None:
    verifier, token = minted
    now = time.time()
    other_key = et.Verifier.from_ring_json(ring_json([OTHER]), audience="publish")
    same_id = et.Verifier.from_ring_json(
        ring_json([{**KEY, "secret_hex": "22" * 32}]), audience="publish"
    )
    cases: list[tuple[type[et.TokenError], et.Verifier, str, float | None]] = [
        (et.TooLong, verifier, "et2." + "A" * 1100, None),
        (et.Malformed, verifier, token[:-1] + "!", None),
        (et.UnsupportedVersion, verifier, "et1." + token[4:], None),
        (et.UnknownKeyId, other_key, token, None),
        (et.BadTag, same_id, token, None),
        (et.Expired, verifier, token, now + 601),
        (et.NotYetValid, verifier, token, now - 60),
        (et.WrongAudience, et.Verifier.from_ring_json(ring_json([KEY])), token, None),
    ]
    for cls, checker, text, at in cases:
        error = raised(checker, text, at)
        assert type(error) is cls, f"{cls.__name__}: got {type(error).__name__}: {error}"
        assert error.reason == cls.reason
        assert str(error)


def test_except_expired_works_and_says_when(minted: tuple[et.Verifier, str]) -> None:
    verifier, token = minted
    try:
        verifier.verify(token, now=time.time() + 3600)
    except et.Expired as e:
        assert e.reason == "expired"
        assert "expired at" in str(e)
        assert e.position is None
    else:
        pytest.fail("an expired token verified")


def test_a_malformed_token_says_where(minted: tuple[et.Verifier, str]) -> None:
    verifier, token = minted
    error = raised(verifier, token[:10] + " " + token[11:])
    assert isinstance(error, et.Malformed) and error.position == 10


def test_the_leeway_is_applied_at_both_ends() -> None:
    minter = et.Minter.from_ring_json(ring_json([KEY]))
    token = minter.mint("alice", 60, issued_at=1_800_000_000)
    lenient = et.Verifier.from_ring_json(ring_json([KEY]), leeway=30)
    assert lenient.verify(token, now=1_800_000_089).subject == "alice"
    assert isinstance(raised(lenient, token, 1_800_000_090), et.Expired)
    assert lenient.verify(token, now=1_799_999_970).subject == "alice"
    assert isinstance(raised(lenient, token, 1_799_999_969), et.NotYetValid)


def test_bad_arguments_are_value_errors() -> None:
    text = ring_json([KEY])
    for bad in (-1.0, float("nan"), float("inf"), 3601.0):
        with pytest.raises(ValueError):
            et.Verifier.from_ring_json(text, leeway=bad)
    with pytest.raises(ValueError, match="audience"):
        et.Verifier.from_ring_json(text, audience="")
    verifier = et.Verifier.from_ring_json(text)
    with pytest.raises(ValueError, match="Unix time"):
        verifier.verify("et2.x", now=float("nan"))
    minter = et.Minter.from_ring_json(text)
    with pytest.raises(ValueError, match="ttl_seconds"):
        minter.mint("alice", 0)
    with pytest.raises(ValueError, match="subject"):
        minter.mint("", 60)
    with pytest.raises(ValueError, match="session_started_at"):
        minter.mint("alice", 60, issued_at=1_800_000_000, session_started_at=1_800_000_001)
    with pytest.raises(TypeError):
        verifier.verify(b"et2.x")  # type: ignore[arg-type]
