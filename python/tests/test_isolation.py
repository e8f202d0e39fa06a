"""Each framework module imports without the other frameworks installed:
they are hidden from a fresh interpreter (sys.modules entries of None)."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMEWORKS = {"starlette": ["starlette", "fastapi"], "django": ["django"], "flask": ["flask"]}


@pytest.mark.parametrize("module", sorted(FRAMEWORKS))
def test_importable_without_the_other_frameworks(module: str) -> None:
    hidden = [name for other, names in FRAMEWORKS.items() if other != module for name in names]
    code = "\n".join(
        ["import sys"]
        + [f"sys.modules[{name!r}] = None" for name in hidden]
        + [
            f"import encapsulated_token.{module}",
            f"for name in {hidden!r}:",
            "    assert sys.modules[name] is None",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_core_imports_no_framework() -> None:
    code = (
        "import sys, encapsulated_token\n"
        "assert not {'starlette', 'fastapi', 'django', 'flask'} & set(sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
