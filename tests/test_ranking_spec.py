"""The ranking options are declared once (recommender/ranking/spec.py) and every surface
(library validator, HTTP grammar and OpenAPI, CLI flags) is generated from that declaration."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from recommender.ranking.options import RankingOptions
from recommender.ranking.spec import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
#: A literal naming at least this many options is a table of options...
TABLE = 3
#: ...not counting these, which are also article fields (corpus columns, live records).
ARTICLE_FIELDS = frozenset({"section", "tags", "language", "status"})


def _option_tables(tree: ast.AST, names: set[str]) -> list[tuple[int, set[str]]]:
    """Literal tables naming options: dict keys, set/tuple/list items (strings, or calls whose
    first argument is the name, e.g. ``OptionSpec("k", ...)``), and class bodies declaring
    option-named fields; each with its line and the options it names."""

    def named(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and node.value in names:
            return node.value
        if isinstance(node, ast.Call) and node.args:
            return named(node.args[0])
        return None

    tables = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            items = [named(k) for k in node.keys if k is not None]
        elif isinstance(node, (ast.Set, ast.Tuple, ast.List)):
            items = [named(e) for e in node.elts]
        elif isinstance(node, ast.ClassDef):
            items = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign)
                     and isinstance(s.target, ast.Name) and s.target.id in names]
        else:
            continue
        found = {item for item in items if item}
        if len(found - ARTICLE_FIELDS) >= TABLE:
            tables.append((node.lineno, found))
    return tables


def definitions(root: Path) -> Counter[str]:
    """How many tables in the library and the service name each ranking option."""
    names = {spec.name for spec in OPTIONS}
    counts: Counter[str] = Counter({name: 0 for name in names})
    for path in sorted([*root.glob("recommender/**/*.py"), *root.glob("service/**/*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for _, found in _option_tables(tree, names):
            counts.update(found)
    return counts


def test_each_option_is_declared_once():
    counts = definitions(ROOT)
    assert set(counts) == set(RankingOptions.names())
    assert {name: n for name, n in counts.items() if n != 1} == {}, \
        "a ranking option is listed outside recommender/ranking/spec.py"
    assert [spec.name for spec in OPTIONS] == list(RankingOptions.names())


def test_the_counter_finds_a_second_table():
    """The declaration count can fail: a hand-written table of options is found."""
    names = {spec.name for spec in OPTIONS}
    copy = "_HELP = {'half_life': 'a', 'pool': 'b', 'k': 'c'}\n" \
           "class Opts:\n    half_life: float = 1.0\n    pool: int = 5\n    k: int = 5\n"
    assert [found for _, found in _option_tables(ast.parse(copy), names)] == [
        {"half_life", "pool", "k"}, {"half_life", "pool", "k"}]


# A new option added to the declaration only (one more field), then every surface is observed.
_NEW_OPTION = textwrap.dedent("""
    import importlib.util, json, pathlib, sys, tempfile
    import recommender.ranking

    # The declaration with one more field, loaded as recommender.ranking.spec before any
    # module reads it.
    path = pathlib.Path(recommender.ranking.__file__).with_name("spec.py")
    source = path.read_text(encoding="utf-8")
    last = "    pool: int = option("
    assert source.count(last) == 1
    source = source.replace(last, (
        '    story_boost: float | None = option(0.25, "Extra weight of a `story` (0-1).", '
        'lo=0, hi=1)\\n') + last)
    loader = importlib.util.spec_from_loader("recommender.ranking.spec", loader=None)
    rs = importlib.util.module_from_spec(loader)
    rs.__file__ = str(path)
    sys.modules[rs.__name__] = rs
    exec(compile(source, str(path), "exec"), rs.__dict__)
    assert rs.BY_NAME["story_boost"].nullable

    from click.testing import CliRunner
    from recommender.cli import cli
    from recommender.cli.editorial import _FLAGS, options_from_flags
    from recommender.errors import InvalidParameterError
    from recommender.ranking.options import RankingOptions
    from service import create_app, ranking_params

    out = {"default": RankingOptions().story_boost,
           "parsed": RankingOptions.from_mapping({"story_boost": "0.5"}).story_boost,
           "off": RankingOptions.from_mapping({"story_boost": None}, json_types=True)
                  .story_boost}
    try:
        RankingOptions(story_boost=2)
    except InvalidParameterError as exc:
        out["library_error"] = [exc.field, exc.message]
    app = create_app({"TESTING": True, "MODEL_DIR": tempfile.mkdtemp()})
    spec = app.test_client().get("/openapi.json").get_json()
    out["openapi_parameter"] = spec["components"]["parameters"].get("RankingStoryBoost")
    out["openapi_json"] = spec["components"]["schemas"]["RankingOptions"]["properties"].get(
        "story_boost")
    out["openapi_get"] = any(p.get("$ref", "").endswith("/RankingStoryBoost") for p in
                             spec["paths"]["/v1/articles/{article_id}/related"]["get"]
                             ["parameters"])
    from flask import request
    for raw in ("0.5", "none", "2"):
        with app.test_request_context("/?story_boost=" + raw):
            try:
                out["http " + raw] = ranking_params.from_query(request)
            except Exception as exc:
                out["http " + raw] = [exc.status, exc.detail, exc.field]
    with app.test_request_context("/"):
        out["json"] = ranking_params.from_json({"options": {"story_boost": 0.75}})
    out["flag"] = list(_FLAGS["story_boost"])
    out["help"] = CliRunner().invoke(cli, ["related", "--help"], terminal_width=200).output
    out["from_flags"] = options_from_flags({"story_boost": "0.5"})
    print(json.dumps(out))
""")


def test_a_new_declared_option_appears_everywhere():
    run = subprocess.run([sys.executable, "-c", _NEW_OPTION], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    # The library: a field with its default, parsed, nullable, bounded.
    assert (out["default"], out["parsed"], out["off"]) == (0.25, 0.5, None)
    assert out["library_error"] == ["story_boost", "must be <= 1, got 2"]
    # HTTP: the strict grammar, its OpenAPI parameter and JSON schema.
    assert out["openapi_parameter"] == {
        "name": "story_boost", "in": "query", "required": False,
        "description": "Extra weight of a `story` (0-1).",
        "schema": {"anyOf": [{"type": "number", "maximum": 1, "minimum": 0},
                             {"type": "string", "enum": ["none"]}]}}
    assert out["openapi_json"]["anyOf"][1] == {"type": "null"}
    assert out["openapi_get"]
    assert out["http 0.5"] == {"story_boost": 0.5}
    assert out["http none"] == {"story_boost": None}
    assert out["http 2"] == [400, "story_boost must be a number >= 0 and <= 1 or 'none', "
                                  "got '2'", "story_boost"]
    assert out["json"] == {"story_boost": 0.75}
    # The CLI: a flag with the help text.
    assert out["flag"] == ["--story-boost", False, False, "Extra weight of a 'story' (0-1)."]
    assert "--story-boost VALUE" in out["help"]
    assert "Extra weight of a 'story' (0-1)." in out["help"]
    assert out["from_flags"] == {"story_boost": "0.5"}
