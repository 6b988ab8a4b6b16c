"""The type checker passes on the checked packages (mypy, configured in pyproject.toml's
[tool.mypy]), and it does fail on a wrong type under that configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The packages mypy checks (every package of the project but the separately built client).
PACKAGES = ("recommender", "service")


def mypy(*targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--no-error-summary", "--show-error-codes", *targets],
        cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_checked_packages_pass_mypy() -> None:
    done = mypy(*(f"{package}/" for package in PACKAGES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "", done.stdout


def test_mypy_reports_a_wrong_type_under_the_project_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from service.settings import read\n\n"
                   "def port() -> int:\n"
                   "    return 'eight thousand'\n\n"
                   "def value() -> None:\n"
                   "    read(8000)\n")
    done = mypy(str(bad))
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Incompatible return value type (got "str", expected "int")' in done.stdout
    assert 'Argument 1 to "read" has incompatible type "int"; expected "str"' in done.stdout
