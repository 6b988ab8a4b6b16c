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
    assert {"layers", "acyclic", "library-below-service", "client-alone",
            "service-below-cli"} <= set(CONTRACTS)


def test_the_layers_name_every_module_and_package_of_the_library() -> None:
    """A new module or sub-package of recommender must be put in a layer."""
    contract = CONTRACTS["layers"]
    assert contract["exhaustive"] is True
    named = {name.strip() for layer in contract["layers"] for name in layer.split("|")}
    children = {path.stem for path in (ROOT / "recommender").glob("*.py")} - {"__init__"}
    children |= {path.parent.name for path in (ROOT / "recommender").glob("*/__init__.py")}
    assert children == named


def test_a_new_module_outside_every_layer_breaks_the_layers(tree: Path) -> None:
    (tree / "recommender" / "newthing.py").write_text('"""Not placed in a layer."""\n')
    done = lint_imports(tree, "layers")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "recommender.newthing" in done.stdout + done.stderr, done.stdout + done.stderr


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
        ("library-below-service", "recommender/model/estimator.py", "import service.metrics",
         "recommender.model.estimator -> service.metrics"),
        ("library-below-service", "recommender/text/plain.py", "import flask", "-> flask"),
        ("client-alone", "client/alsosee_client/__init__.py", "import recommender.errors",
         "alsosee_client -> recommender.errors"),
        # a cycle inside a layer's package (known -> db already)
        ("acyclic", "recommender/state/db.py", "from . import known",
         "No cycles are allowed in recommender.state."),
        # upward imports: foundation -> command line, state -> engine, model -> state
        ("layers", "recommender/urls.py", "from .cli.common import fail",
         "recommender.urls -> recommender.cli.common"),
        ("layers", "recommender/state/db.py", "from ..engine import recommender",
         "recommender.state.db -> recommender.engine.recommender"),
        ("layers", "recommender/model/artifact.py", "from ..state import live",
         "recommender.model.artifact -> recommender.state.live"),
        ("service-below-cli", "service/state.py", "import recommender.cli",
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
