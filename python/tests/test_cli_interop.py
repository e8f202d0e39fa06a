"""One format with the farm: tokens from `etoken mint` verify in Python, and
tokens minted in Python verify with `etoken verify`, claims for claims."""

from __future__ import annotations

import json
import pathlib

import pytest

import encapsulated_token as et
from conftest import etoken


def test_a_token_from_etoken_mint_verifies_in_python(key_dir: pathlib.Path) -> None:
    token = etoken(
        "mint", "--keys", str(key_dir), "--user", "alice", "--ttl", "1h",
        "--aud", "publish", "--attr", "role=editor", "--attr", "tenant=acme",
    ).stdout.strip()
    claims = et.Verifier.from_key_dir(key_dir, audience="publish").verify(token)
    assert claims.subject == "alice"
    assert claims.audience == "publish"
    assert claims.attributes == {"role": "editor", "tenant": "acme"}
    assert claims.expires_at - claims.issued_at == 3600
    assert claims.session_started_at == claims.issued_at
    assert len(claims.token_id) == 32 and len(claims.key_id) == 8
    # etoken's own view of the same token agrees field for field.
    shown = json.loads(etoken("verify", "--keys", str(key_dir), "--aud", "publish", token).stdout)
    assert shown.pop("verified") is True
    assert shown == claims.to_dict()


def test_a_token_minted_in_python_verifies_with_etoken(key_dir: pathlib.Path) -> None:
    minter = et.Minter.from_key_dir(key_dir)
    token = minter.mint(
        "bob@example.com", 600, audience="publish", attributes={"name": "Bob Example"}
    )
    shown = json.loads(etoken("verify", "--keys", str(key_dir), "--aud", "publish", token).stdout)
    assert shown["verified"] is True
    assert shown["subject"] == "bob@example.com"
    assert shown["attributes"] == {"name": "Bob Example"}
    assert shown["expires_at"] - shown["issued_at"] == 600
    assert shown["key_id"] == minter.active_key_id


def test_etoken_refuses_a_python_token_for_another_audience(key_dir: pathlib.Path) -> None:
    token = et.Minter.from_key_dir(key_dir).mint("bob", 600, audience="author")
    done = etoken("verify", "--keys", str(key_dir), "--aud", "publish", token, check=False)
    assert done.returncode != 0
    assert "wrong_audience" in done.stderr


def test_a_ring_exported_by_etoken_verifies_what_the_directory_mints(
    key_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    exported = tmp_path / "ring.json"
    etoken("key", "export", "--dir", str(key_dir), "--out", str(exported))
    token = etoken("mint", "--keys", str(key_dir), "--user", "carol").stdout.strip()
    verifier = et.Verifier.from_ring_json(exported.read_text())
    assert verifier.verify(token).subject == "carol"
    assert et.Minter.from_ring_json(exported.read_bytes()).active_key_id == verifier.key_ids[0]


def test_a_broken_key_directory_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(et.KeyDirError) as raised:
        et.Verifier.from_key_dir(tmp_path / "absent")
    assert "absent" in str(raised.value)
    with pytest.raises(et.KeyDirError):
        et.Verifier.from_ring_json('{"format":"encapsulated-token-ring-json/1"}')
