"""A key directory rotated with `etoken key add / promote / retire` under
a running Verifier and Minter: they follow it within 2 seconds, with no
thread, and keep the ring they hold while the directory does not load."""

from __future__ import annotations

import pathlib
import shutil
import time

import encapsulated_token as et
from conftest import etoken

FOLLOW = 2.2  # the 2 s check, and a margin


def key_ids(key_dir: pathlib.Path) -> list[str]:
    return sorted(p.stem for p in key_dir.glob("*.key"))


def test_rotation_under_a_running_verifier(key_dir: pathlib.Path) -> None:
    verifier = et.Verifier.from_key_dir(key_dir)
    minter = et.Minter.from_key_dir(key_dir)
    (old,) = key_ids(key_dir)
    old_token = minter.mint("alice", 3600)
    assert verifier.key_ids == [old] and str(verifier.key_dir) == str(key_dir)

    # Phase 1: a new verify-only key. The old one still mints.
    etoken("key", "add", "--dir", str(key_dir))
    (new,) = set(key_ids(key_dir)) - {old}
    time.sleep(FOLLOW)
    assert verifier.key_ids == [old, new]
    assert minter.active_key_id == old

    # Phase 2: promote it. Python mints with it; both tokens verify.
    etoken("key", "promote", "--dir", str(key_dir), new)
    time.sleep(FOLLOW)
    new_token = minter.mint("alice", 3600)
    assert verifier.verify(new_token).key_id == new
    assert verifier.verify(old_token).key_id == old
    assert verifier.key_ids == [new, old]
    # etoken, reading the same directory, verifies the new Python token.
    assert '"verified": true' in etoken("verify", "--keys", str(key_dir), new_token).stdout

    # Phase 3: retire the old key. Its tokens stop verifying.
    etoken("key", "retire", "--dir", str(key_dir), old)
    time.sleep(FOLLOW)
    try:
        verifier.verify(old_token)
    except et.UnknownKeyId as e:
        assert old in str(e)
    else:
        raise AssertionError("a token of a retired key verified")
    assert verifier.verify(new_token).subject == "alice"


def test_a_change_is_not_seen_before_the_check_unless_asked(key_dir: pathlib.Path) -> None:
    verifier = et.Verifier.from_key_dir(key_dir)
    etoken("key", "add", "--dir", str(key_dir))
    assert len(verifier.key_ids) == 1, "looked again within 2 seconds"
    verifier.check_keys()
    assert len(verifier.key_ids) == 2


def test_a_directory_that_stops_loading_keeps_the_ring(key_dir: pathlib.Path) -> None:
    verifier = et.Verifier.from_key_dir(key_dir)
    token = etoken("mint", "--keys", str(key_dir), "--user", "alice").stdout.strip()
    saved = key_dir.parent / "saved"
    shutil.copytree(key_dir, saved)
    (key_dir / "ring.json").unlink()  # a copy half done
    verifier.check_keys()
    assert verifier.verify(token).subject == "alice"
    assert verifier.reload_error is not None and "ring.json" in verifier.reload_error
    shutil.copy2(saved / "ring.json", key_dir / "ring.json")
    verifier.check_keys()
    assert verifier.reload_error is None
    assert verifier.verify(token).subject == "alice"
