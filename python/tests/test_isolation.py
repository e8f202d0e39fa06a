"""Each framework module imports without the other frameworks installed:
they are hidden from a fresh interpreter (sys.modules entries of None)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

FRAMEWORKS = {"starlette": ["starlette", "fastapi"], "django": ["django"], "flask": ["flask"]}


@pytest.mark.parametrize("module", sorted(FRAMEWORKS))
def test_importable_without_the_other_frameworks(module: str, tmp_path: pathlib.Path) -> None:
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
    done = run(code, tmp_path)
    assert done.returncode == 0, done.stderr


def run(code: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """`python -c code` away from the sources, so the installed package is
    the one imported."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


def test_the_core_imports_no_framework(tmp_path: pathlib.Path) -> None:
    code = (
        "import sys, encapsulated_token\n"
        "assert not {'starlette', 'fastapi', 'django', 'flask'} & set(sys.modules)"
    )
    done = run(code, tmp_path)
    assert done.returncode == 0, done.stderr
