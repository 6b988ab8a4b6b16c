"""The `alsosee` command line, end to end on the bundled sample."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from recommender.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m recommender` as a user would (a real process, real exit code)."""
    return subprocess.run(
        [sys.executable, "-m", "recommender", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd or ROOT,
    )


def test_train_related_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "models"
    proc = run_cli("train", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "rows read 378, kept 378" in proc.stdout
    assert "now current" in proc.stdout
    assert (out / "current").is_file()

    proc = run_cli("related", "gv-316447", "--model", str(out), "-k", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Colombia: French Journalist Roméo Langlois Kidnapped"
    assert "ALSO SEE:" in lines
    assert sum(1 for line in lines if line.startswith("  * ")) == 3

    proc = run_cli("related", "gv-316447", "--model", str(out), "-k", "4", "--format", "json")
    payload = json.loads(proc.stdout)
    assert payload["article"]["id"] == "gv-316447"
    assert len(payload["related"]) == 4
    assert all(r["id"] != "gv-316447" for r in payload["related"])
    assert payload["model"]["articles"] == 378

    proc = run_cli("related", "--model", str(out), "--title", "Elections in Egypt",
                   "--body", "Egyptians vote for a president", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    related = json.loads(proc.stdout)["related"]
    assert related and any("Egypt" in r["title"] for r in related)


def invoke(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process (fast) and return exit code, stdout, stderr."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["related", "no-such-id"], "unknown article id: 'no-such-id'"),
        (["related", "gv-316447", "-k", "500"], "k: must be between 1 and 100"),
        (["related", "--title", " ", "--body", ""], "a draft needs a title or a body"),
    ],
)
def test_query_errors_are_one_line(trained_model_dir: Path, args: list[str], message: str) -> None:
    code, _, err = invoke(*args, "--model", str(trained_model_dir))
    assert code == 1
    assert err.strip().count("\n") == 0, err
    assert message in err
    assert "Traceback" not in err


def test_missing_model_and_bad_corpus(tmp_path: Path) -> None:
    code, _, err = invoke("related", "x", "--model", str(tmp_path / "none"))
    assert code == 1 and "does not exist" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "title": "ok"}\n{not json}\n')
    code, _, err = invoke("train", str(bad), "--out", str(tmp_path / "m"))
    assert code == 1
    assert "bad.jsonl" in err and "line 2" in err
    assert "Traceback" not in err
    assert not (tmp_path / "m" / "current").exists()


def test_usage_errors_exit_2(trained_model_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["related", "--model", str(trained_model_dir)])
    assert result.exit_code == 2
    assert "give an ARTICLE_ID" in result.output
    result = runner.invoke(cli, ["related", "x", "--title", "t", "--model",
                                 str(trained_model_dir)])
    assert result.exit_code == 2


def test_column_mapping_and_report(tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    src.write_text(
        "post_id,headline,content,pub_date\n"
        "1,Flood in Dhaka,River flood forces evacuation,2024-05-01T10:00:00Z\n"
        "2,Dhaka flood aftermath,Evacuation continues after the flood,2024-05-02T10:00:00Z\n"
        "3,Chess final,A draw after forty moves,not-a-date\n"
        "4,,,2024-05-03T10:00:00Z\n"
    )
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, [
        "train", str(src), "--out", str(tmp_path / "m"), "--column", "post_id=id",
        "--column", "headline=title", "--column", "content=body",
        "--column", "pub_date=published_at", "--report", str(report), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["corpus"]["rows_read"] == 4
    assert data["corpus"]["rows_kept"] == 3
    assert data["corpus"]["skipped"] == {"empty": 1}
    assert data["corpus"]["bad_dates"] == 1
    result = CliRunner().invoke(cli, ["related", "1", "--model", str(tmp_path / "m"),
                                      "--format", "json"])
    assert json.loads(result.output)["related"][0]["id"] == "2"


@pytest.mark.server
def test_serve_trains_the_sample_first_then_serves(tmp_path: Path) -> None:
    """The README's main command: `alsosee serve` with no model in the default ./models trains
    the sample there, then serves it."""
    import signal

    import requests

    from service.launch import ServerProcess, free_port

    log_path = tmp_path / "serve.log"
    port = free_port()
    server = ServerProcess(
        command=[sys.executable, "-m", "recommender", "serve", "--port", str(port),
                 "--workers", "1"], port=port, cwd=tmp_path, log_path=log_path,
        startup_timeout=90,
        env={"TMPDIR": str(tmp_path)})  # the server's own metrics directory lands here
    with server:
        proc = server.proc
        assert proc is not None
        body = requests.get(f"http://127.0.0.1:{port}/v1/articles/gv-316447/related",
                            timeout=5).json()
        assert len(body["related"]) == 5
        assert "training the bundled sample first" in log_path.read_text()
        metrics_dirs = re.findall(r"multi-process directory (\S+) ", log_path.read_text())
        assert len(metrics_dirs) == 1 and Path(metrics_dirs[0]).is_dir(), metrics_dirs
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        # A graceful stop removes the directory the server made (no /tmp leftovers).
        assert not Path(metrics_dirs[0]).exists()


# ------------------------------------------------------------ operator errors
def serve_env(**extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("ALSOSEE_")}
    return {**env, **extra}


def run_serve(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recommender", "serve", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=serve_env(**env))


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("alsosee: error: "), proc.stderr
    return lines[0]


def test_serve_refuses_a_missing_model_dir_it_was_given(tmp_path: Path) -> None:
    typo = tmp_path / "srv" / "typo-modles"
    line = one_error_line(run_serve("--model", str(typo), cwd=tmp_path))
    assert f"no model in {typo}" in line and "--train-sample" in line
    line = one_error_line(run_serve(cwd=tmp_path, ALSOSEE_MODEL_DIR=str(typo)))
    assert f"no model in {typo}" in line
    assert not typo.exists() and not (tmp_path / "models").exists()


def busy_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_serve_train_sample_then_a_busy_port_is_one_line(tmp_path: Path) -> None:
    models = tmp_path / "chosen"
    sock, port = busy_port()
    with sock:
        proc = run_serve("--model", str(models), "--train-sample", "--port", str(port),
                         cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert "training the bundled sample first" in proc.stderr  # --train-sample did
        assert (models / "current").is_file()
        # with the model there, the busy port is all it says
        line = one_error_line(run_serve("--model", str(models), "--port", str(port),
                                        cwd=tmp_path))
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line


@pytest.mark.parametrize(("toml", "expected"), [
    ("workerz = 3\n", "unknown key 'workerz'"),
    ('cache_max_age = "soon"\n', "cache_max_age (config file): expected an integer >= 0"),
    ("port = -1\n", "port (config file): expected an integer >= 0"),
    ("workers = [\n", "invalid TOML"),
    ('api_keys = ["desk:short"]\n', "API key 'desk' has a 5-character secret"),
])
def test_serve_bad_config_is_one_line(trained_model_dir: Path, tmp_path: Path, toml: str,
                                      expected: str) -> None:
    config = tmp_path / "alsosee.toml"
    config.write_text(toml)
    line = one_error_line(run_serve("--model", str(trained_model_dir), cwd=tmp_path,
                                    ALSOSEE_CONFIG=str(config)))
    assert expected in line


def test_missing_column_hint_names_the_flag_on_the_cli(tmp_path: Path) -> None:
    from recommender.corpus.load import load_corpus
    from recommender.errors import CorpusError

    src = tmp_path / "export.csv"
    src.write_text("post_id,headline\n1,Flood in Dhaka\n")
    proc = run_cli("train", str(src), "--out", str(tmp_path / "m"), "--quiet")
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(
        "missing required column 'id' (columns found: post_id, headline); "
        "map yours with --column YOUR_COLUMN=id"), proc.stderr
    with pytest.raises(CorpusError, match=r"map yours with columns=\{'YOUR_COLUMN': 'id'\}$"):
        load_corpus(src)


@pytest.mark.parametrize(("args", "expected"), [
    (["related", "gv-316447", "--half-life", "abc"], "alsosee: error: --half-life: must be a "),
    (["related", "gv-316447", "-k", "500"], "alsosee: error: -k: must be between 1 and 100"),
    (["train", "--title-weight", "-1", "--quiet"], "alsosee: error: --title-weight: must be "),
])
def test_errors_name_the_flag_not_the_python_name(trained_model_dir: Path, tmp_path: Path,
                                                  args: list[str], expected: str) -> None:
    where = ["--model", str(trained_model_dir)] if args[0] == "related" else \
        ["--out", str(tmp_path / "m")]
    result = CliRunner().invoke(cli, [*args, *where])
    assert result.exit_code == 1 and result.output.startswith(expected), result.output


def test_an_unparseable_date_keeps_the_article_undated(tmp_path: Path) -> None:
    src = tmp_path / "archive.jsonl"
    rows = [{"id": "a", "title": "Flood in Dhaka", "body": "River flood forces evacuation",
             "published_at": "1998-24-06T01:53:00"},
            {"id": "b", "title": "Dhaka flood aftermath", "body": "Evacuation after the flood",
             "published_at": "1998-06-24T01:53:00Z"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run_cli("train", str(src), "--out", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    assert "rows read 2, kept 2, skipped 0" in proc.stdout
    assert (f"1 article(s) kept without a date: unparseable published_at (first: {src}:1 "
            "id 'a', value '1998-24-06T01:53:00')") in proc.stdout
    proc = run_cli("related", "b", "--model", str(tmp_path / "m"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (linked,) = json.loads(proc.stdout)["related"]
    assert linked["id"] == "a" and linked["published_at"] is None


# ------------------------------------------------------------------ start-up cost
HEAVY = ("sklearn", "pandas", "numpy", "scipy", "flask", "pyarrow", "joblib",
         "recommender.model.estimator")


def imported_after(code: str, cwd: Path) -> set[str]:
    """The heavy modules a fresh interpreter has imported after running *code*."""
    probe = (f"{code}\nimport sys\nprint(' '.join(sorted(m for m in sys.modules "
             f"if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_cli_and_its_help_import_nothing_heavy(tmp_path: Path) -> None:
    assert imported_after("import recommender.cli", tmp_path) == set()
    help_run = ("import contextlib, io\nfrom recommender.cli import main\n"
                "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):"
                "\n    main(['--help'])")
    assert imported_after(help_run, tmp_path) == set()


def test_cron_commands_do_not_import_the_model(tmp_path: Path) -> None:
    """takedown/pin with --force or --list and publish need no scikit-learn."""
    article = tmp_path / "a.jsonl"
    article.write_text(json.dumps({"id": "cron-1", "title": "Floods in Dhaka"}) + "\n")
    models = str(tmp_path / "models")
    for argv in (["takedown", "x-1", "--force", "--reason", "test", "--model", models],
                 ["pin", "--list", "--model", models],
                 ["publish", str(article), "--model", models]):
        code = ("import contextlib\nfrom recommender.cli import main\n"
                f"with contextlib.suppress(SystemExit):\n    main({argv!r})")
        heavy = imported_after(code, tmp_path)
        assert not heavy & {"sklearn", "recommender.model.estimator", "flask", "joblib"}, (
            argv, heavy)


def test_editorial_checks_against_a_model_do_not_import_it(trained_model_dir: Path,
                                                           tmp_path: Path) -> None:
    """takedown/pin/block check ids and URLs against a trained model without unpickling
    it: no scikit-learn, joblib or pandas."""
    models = ["--model", str(trained_model_dir), "--state-db", str(tmp_path / "state.db")]
    url = "https://globalvoicesonline.org/2012/05/15/colombia-5-dead-19-injured-after-bomb-" \
          "blast-in-bogota?utm_source=rss"
    for argv in (["takedown", "gv-316447", "--reason", "test", *models],
                 ["takedown", url, "--reason", "test", *models],
                 ["pin", "gv-316447", "gv-321626", *models],
                 ["block", "gv-316447", "gv-316371", *models]):
        code = ("import contextlib, io\nfrom recommender.cli import main\n"
                "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):"
                f"\n    main({argv!r})")
        heavy = imported_after(code, tmp_path)
        assert not heavy & {"sklearn", "recommender.model.estimator", "joblib", "pandas",
                            "scipy"}, (argv, heavy)
    listed = run_cli("takedown", "--list", "--format", "json", *models)
    assert {t["id"] for t in json.loads(listed.stdout)} == {
        "gv-316447", "https://globalvoicesonline.org/2012/05/15/colombia-5-dead-19-injured-"
                     "after-bomb-blast-in-bogota"}  # the runs above did store them


def test_lazy_commands_are_listed_with_their_own_help() -> None:
    from recommender.cli import DEFAULT_KEEP, LAZY_COMMANDS, cli
    from recommender.cli.editorial import _FLAGS
    from recommender.model import artifact
    from recommender.ranking.options import RankingOptions

    listing = CliRunner().invoke(cli, ["--help"]).output
    for name, (_, short_help) in LAZY_COMMANDS.items():
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name
        assert command.get_short_help_str(1000) == short_help, name
        assert re.search(rf"^  {re.escape(name)}\s+\S", listing, re.M), name
    assert DEFAULT_KEEP == artifact.DEFAULT_KEEP
    assert set(_FLAGS) == set(RankingOptions.names()) - {"k"}, "every option needs a CLI flag"
