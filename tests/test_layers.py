"""The import layers hold: import-linter's contracts ([tool.importlinter] in pyproject.toml)
are kept by the code, and each one is broken by a copy of the code with one bad import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "importlinter"]
CONTRACTS = {c["id"]: c for c in CONFIG["contracts"]}


def lint_imports(tree: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages under *tree* (its pyproject.toml's contracts)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # first on the path: the copy's packages, not the installed (editable) checkout
    env["PYTHONPATH"] = os.pathsep.join([str(tree), str(tree / "client")])
    args = [str(LINT_IMPORTS), "--no-cache", "--no-logo"]
    for contract in contracts:
        args += ["--contract", contract]
    return subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_import_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout, done.stdout
    assert {"acyclic", "library-below-service", "client-alone", "library-below-cli"} <= set(
        CONTRACTS)


def test_the_cli_contract_names_every_module_of_the_package() -> None:
    """A new module must be put on one side: library (source) or command line (forbidden)."""
    contract = CONTRACTS["library-below-cli"]
    named = set(contract["source_modules"]) | set(contract["forbidden_modules"])
    modules = set()
    for path in (ROOT / "recommender").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert modules - named == set(), "add these to [tool.importlinter] library-below-cli"
    assert {m for m in named if m.startswith("recommender")} - modules == set()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break."""
    ignore = shutil.ignore_patterns("__pycache__", "static", "templates")
    for package in ("recommender", "service", "client/alsosee_client"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("contract", "module", "line", "reported"),
    [
        # errors <- cluster already; the reverse import closes a cycle
        ("acyclic", "recommender/errors.py", "from . import cluster",
         "No cycles are allowed in recommender."),
        ("acyclic", "service/metrics.py", "from service.state import get_state",
         "No cycles are allowed in service."),
        ("library-below-service", "recommender/model.py", "import service.metrics",
         "recommender.model -> service.metrics"),
        ("library-below-service", "recommender/text.py", "import flask", "-> flask"),
        ("client-alone", "client/alsosee_client/__init__.py", "import recommender.errors",
         "alsosee_client -> recommender.errors"),
        ("library-below-cli", "recommender/urls.py", "from .cli_common import fail",
         "recommender.urls -> recommender.cli_common"),
        ("library-below-cli", "service/state.py", "import recommender.cli",
         "service.state -> recommender.cli"),
    ],
)
def test_each_contract_fails_on_a_new_bad_import(tree: Path, contract: str, module: str,
                                                 line: str, reported: str) -> None:
    assert lint_imports(tree, contract).returncode == 0  # the unchanged copy passes
    with open(tree / module, "a", encoding="utf-8") as f:
        f.write(f"\n{line}  # noqa: E402\n")
    done = lint_imports(tree, contract)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 kept, 1 broken" in done.stdout, done.stdout
    assert reported in done.stdout, done.stdout
