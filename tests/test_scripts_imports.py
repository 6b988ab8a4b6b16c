"""The scripts import the installed package (and scripts/serverutil.py beside them), never the
test suite, and never edit ``sys.path`` to find the checkout."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
#: Modules of the test suite (tests/ is a package; its helpers are also imported bare).
TEST_MODULES = {"tests", "conftest", *(p.stem for p in (ROOT / "tests").glob("*.py"))}


def offences(source: str) -> list[str]:
    """``line: what`` for each import of the test suite and each use of ``sys.path``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in TEST_MODULES:
                found.append((node.lineno, f"imports {name}"))
        if (isinstance(node, ast.Attribute) and node.attr == "path"
                and isinstance(node.value, ast.Name) and node.value.id == "sys"):
            found.append((node.lineno, "uses sys.path"))
    return [f"{line}: {what}" for line, what in sorted(found)]


def test_the_check_finds_what_it_forbids() -> None:
    source = ("import sys\nsys.path.insert(0, '.')\nfrom tests import pgserver\n"
              "from livesrv import live_server\nimport tests.conftest\n")
    assert offences(source) == ["2: uses sys.path", "3: imports tests",
                                "4: imports livesrv", "5: imports tests.conftest"]
    assert offences("from recommender.bench import pgserver\nimport serverutil\n") == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_script_imports_the_tests_or_edits_sys_path(script: Path) -> None:
    assert offences(script.read_text(encoding="utf-8")) == [], script


@pytest.mark.parametrize("name", ["state_propagation.py", "two_hosts.py"])
def test_a_script_runs_from_any_directory(name: str, tmp_path: Path) -> None:
    """Run from elsewhere, a script finds the package it imports (installed) all the same."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / name), "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: "), done.stdout


def package_imports(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` for each import of this project's packages, at any depth (scripts
    import heavy modules inside functions, where running ``--help`` never reaches them)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in ("recommender", "service")]
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_package_module_a_script_imports_exists(script: Path) -> None:
    import importlib.util

    def exists(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a parent package is missing
            return False

    missing = [f"{line}: {name}" for line, name in package_imports(script.read_text("utf-8"))
               if not exists(name)]
    assert missing == [], script
