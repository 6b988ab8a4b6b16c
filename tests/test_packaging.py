"""The package installs the normal way: a wheel built from this tree, installed into a fresh
venv outside the checkout, runs every command, finds the bundled sample and serves HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from service.launch import SETTINGS_PREFIX, ServerProcess, free_port
from tests.livesrv import live_server

# slow: wheels, real servers and proxies, left out of the quick subset
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# Left behind by builds, venvs and runs; never part of a source tree to build from.
UNTRACKED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
    ".ruff_cache", ".mypy_cache", "models", "reports", "bench-results", "test-artifacts",
    "state.db*",
)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that could reach back into the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(SETTINGS_PREFIX) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def build_wheel(source: Path, out: Path) -> Path:
    """``pip wheel`` of a copy of *source* (a stale build/ of the checkout cannot leak in)."""
    tree = out / "src"
    shutil.copytree(source, tree, ignore=UNTRACKED)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(tree)], check=True, capture_output=True, env=clean_env())
    (wheel,) = out.glob("*.whl")
    return wheel


def fresh_venv(path: Path, *requirements: str) -> Path:
    """A new venv (no system site-packages) with *requirements* installed by this
    interpreter's pip (its cache is warm); returns the venv's bin/ directory."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    # --no-compile: byte-compiling every dependency would double the install time
    subprocess.run([sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"),
                    "install", "-q", "--no-compile", *requirements],
                   check=True, capture_output=True, env=clean_env())
    return path / "bin"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("venv") / "venv", str(wheel))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory outside the checkout, where ``models/`` is created."""
    return tmp_path_factory.mktemp("newsroom")


def run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "alsosee"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=clean_env())


def test_wheel_carries_every_package_the_sample_and_the_service_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("*/**/__init__.py")
                if p.parent.parts[len(ROOT.parts)] in ("recommender", "service")}
    assert "recommender/evaluation" in packages
    for package in packages:
        assert f"{package}/__init__.py" in names, package
    for name in ("recommender/_sample/globalvoices-2012-05.jsonl", "recommender/_sample/NOTICE",
                 "alsosee_client/__init__.py",
                 "recommender/py.typed", "service/openapi.yaml", "service/static/widget.js",
                 "service/templates/related.html"):
        assert name in names, name
    assert any(n.startswith("service/static/swagger-ui/") for n in names)
    assert (ROOT / "data" / "globalvoices-2012-05.jsonl").read_bytes() == zipfile.ZipFile(
        wheel).read("recommender/_sample/globalvoices-2012-05.jsonl")
    assert not any(n.startswith(("tests/", "data/", "scripts/")) for n in names)


# Imports every module of the installed packages (a missing sub-package, data file or
# dependency fails here) and prints each command's help, in one process.
IMPORT_ALL = """
import importlib, pkgutil, click, recommender, service
from recommender.cli import cli
# the one module of an extra a plain install lacks (postgres: psycopg); the library reaches
# it only for a postgresql:// state database, with a clear error when the extra is missing
EXTRA_ONLY = {"recommender.state.pg": "psycopg"}
for package in (recommender, service):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith(("__main__", ".wsgi")):  # these run on import
            try:
                importlib.import_module(info.name)
            except ModuleNotFoundError as exc:
                if EXTRA_ONLY.get(info.name) != (exc.name or "").split(".")[0]:
                    raise
for name in cli.list_commands(click.Context(cli)):
    try:
        cli.main([name, "--help"], prog_name="alsosee", standalone_mode=False)
    except click.exceptions.Exit:
        pass
"""


def test_every_module_imports_and_every_command_runs(installed: Path, workdir: Path) -> None:
    done = subprocess.run([str(installed / "python"), "-c", IMPORT_ALL], cwd=workdir,
                          capture_output=True, text=True, timeout=300, env=clean_env())
    assert done.returncode == 0, done.stderr
    usages = re.findall(r"^Usage: alsosee (\S+)", done.stdout, re.M)
    assert {"train", "related", "serve", "evaluate", "mine-links", "takedown", "pin", "block",
            "publish", "unpublish", "models", "sync", "bench"} <= set(usages)
    # A PostgreSQL state without the extra: one line naming the extra, never the password.
    pg = subprocess.run([str(installed / "alsosee"), "state", "status", "--state-db",
                         "postgresql://desk:s3cret@127.0.0.1:1/news"], cwd=workdir,
                        capture_output=True, text=True, timeout=120, env=clean_env())
    assert pg.returncode == 1, pg.stdout + pg.stderr
    assert "alsosee[postgres]" in pg.stderr and "s3cret" not in pg.stderr, pg.stderr
    assert "Traceback" not in pg.stderr

    taken = run(installed, workdir, "takedown", "gv-1", "--force", "--reason", "legal")
    assert taken.returncode == 0, taken.stderr
    listed = run(installed, workdir, "takedown", "--list")
    assert listed.returncode == 0 and "gv-1" in listed.stdout, listed.stderr
    assert run(installed, workdir, "takedown", "gv-1", "--undo").returncode == 0
    wxr = ROOT / "data" / "globalvoices-2012-05.wxr.xml"
    mined = run(installed, workdir, "mine-links", str(wxr), "--id-prefix", "gv-",
                "--out", str(workdir / "mined.json"))
    assert mined.returncode == 0, mined.stderr
    assert json.loads((workdir / "mined.json").read_text())


@pytest.mark.server
def test_train_related_and_serve_from_the_wheel(installed: Path, workdir: Path) -> None:
    trained = run(installed, workdir, "train")
    assert trained.returncode == 0, trained.stderr
    # the sample was found inside the installed package, not in a checkout
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    assert f"corpus: {site / 'recommender' / '_sample' / 'globalvoices-2012-05.jsonl'}" \
        in trained.stdout
    assert "kept 378" in trained.stdout

    related = run(installed, workdir, "related", "gv-316447", "-k", "3", "--format", "json")
    assert related.returncode == 0, related.stderr
    assert len(json.loads(related.stdout)["related"]) == 3

    port = free_port()
    server = ServerProcess(
        command=[str(installed / "alsosee"), "serve", "--port", str(port), "--workers", "1",
                 "--graceful-timeout", "3"],
        port=port, cwd=workdir, log_path=workdir / "serve.log", base_env=clean_env(),
        metrics_dir=workdir / "metrics", startup_timeout=60)
    with server:
        base = server.base
        answer = requests.get(f"{base}/v1/articles/gv-316447/related?k=3", timeout=10)
        assert answer.status_code == 200, answer.text
        assert [r["id"] for r in answer.json()["related"]] == [
            r["id"] for r in json.loads(related.stdout)["related"]]
        # the package's static files and API description came along
        assert requests.get(f"{base}/widget.js", timeout=10).status_code == 200
        assert requests.get(f"{base}/openapi.json", timeout=10).json()["paths"]


def test_a_plain_install_evaluates_and_the_report_names_its_extra(installed: Path,
                                                                  workdir: Path) -> None:
    """matplotlib is in the ``evaluate`` extra, which a plain (server) install lacks."""
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    assert not (site / "matplotlib").exists()
    truth = workdir / "mined.json"
    if not truth.exists():
        mined = run(installed, workdir, "mine-links", str(ROOT / "data" /
                    "globalvoices-2012-05.wxr.xml"), "--id-prefix", "gv-", "--out", str(truth))
        assert mined.returncode == 0, mined.stderr
    corpus = str(ROOT / "data" / "globalvoices-2012-05.jsonl")
    evaluated = run(installed, workdir, "evaluate", "--corpus", corpus, "--truth", str(truth))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "nDCG@10" in evaluated.stdout
    report = workdir / "report"
    refused = run(installed, workdir, "evaluate", "--corpus", corpus, "--truth", str(truth),
                  "--report", str(report))
    assert refused.returncode == 1
    assert "pip install 'alsosee[evaluate]'" in refused.stderr, refused.stderr
    assert "matplotlib" in refused.stderr and "Traceback" not in refused.stderr
    assert not report.exists()  # refused before the evaluation ran



# ------------------------------------------------------------------ the light client
# Run inside the client's venv: what a CMS back end does, and what got imported for it.
CLIENT_SCRIPT = """
import json, sys
from alsosee_client import AlsoSeeClient, NotFoundError
with AlsoSeeClient(sys.argv[1], api_key=sys.argv[2], timeout=10) as alsosee:
    related = alsosee.related("gv-316447", k=3)
    written = alsosee.publish({"id": "cms-1", "title": "Colombia: journalist kidnapped",
                               "body": "Rebels in Colombia kidnapped a French journalist."})
    draft = alsosee.related_to_text("Colombia kidnapping", "French journalist", k=5)
    try:
        alsosee.related("no-such-id")
        missing = None
    except NotFoundError as exc:
        missing = exc.status
heavy = sorted({m.split(".")[0] for m in sys.modules} & {
    "flask", "werkzeug", "sklearn", "pandas", "numpy", "scipy", "pyarrow", "service",
    "recommender", "gunicorn"})
print(json.dumps({"related": [r.id for r in related.related], "written": written.ids,
                  "draft": [r.id for r in draft.related], "missing": missing, "heavy": heavy}))
"""
CLIENT_DISTRIBUTIONS = {"alsosee-client", "requests", "certifi", "charset-normalizer", "idna",
                        "urllib3"}


@pytest.mark.server
def test_the_client_installs_alone_and_calls_a_real_server(
        trained_model_dir: Path, tmp_path: Path) -> None:
    wheel = build_wheel(ROOT / "client", tmp_path / "wheel")
    assert wheel.name.startswith("alsosee_client-")
    assert {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()} == {
        "alsosee_client", wheel.name.split("-py3")[0] + ".dist-info"}
    bin_dir = fresh_venv(tmp_path / "venv", str(wheel))
    listed = subprocess.run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"),
                             "list", "--format", "json"], capture_output=True, text=True,
                            check=True, env=clean_env())
    assert {d["name"].lower() for d in json.loads(listed.stdout)} == CLIENT_DISTRIBUTIONS

    key = "cms-key-0123456789"
    env = {"ALSOSEE_API_KEYS": key, "ALSOSEE_STATE_DB": str(tmp_path / "state.db")}
    with live_server(trained_model_dir, tmp_path / "server.log", env=env) as server:
        # (before the client publishes an article that joins this list)
        expected = requests.get(f"{server.base}/v1/articles/gv-316447/related?k=3",
                                timeout=10).json()
        done = subprocess.run([str(bin_dir / "python"), "-c", CLIENT_SCRIPT, server.base, key],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              env=clean_env())
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
    assert seen["related"] == [r["id"] for r in expected["related"]]
    assert seen["written"] == ["cms-1"] and "cms-1" in seen["draft"]
    assert seen["missing"] == 404
    assert seen["heavy"] == []
